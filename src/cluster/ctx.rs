//! What a process gets besides itself while it handles one event: `Ctx` — the clock, `send` /
//! `send_in`, its own timers, the trace, seeded draws, the facts every process knows, and a few
//! narrow reports to the environment (`probe`, `record_fault_fires`, `request_workers`,
//! `count_read`, `unhandled`). And the plumbing `Ctx` borrows from the engine: the one `Event`
//! enum, messages in flight (`Slab`), pending timers (`TimerPool`), the `Trace`, `route` (the one
//! way a message enters the network) and, in `faults`, the engine's fault bookkeeping.
//!
//! This module sits below both the processes (`jobmanager`, `taskexecutor`, `external`) and the
//! engine that owns them: it imports neither. Every field of `Ctx` is private to this module, so a
//! process can neither read nor change the engine's state — its fault bookkeeping least of all —
//! except through the methods below.

mod faults;

pub(crate) use faults::FaultRt;

use super::bugs::PlantedBugs;
use super::msg::Msg;
use super::net::{HostId, Network, Route};
use super::timer::{JmTimer, TeTimer};
use crate::job::graph::JobGraph;
use crate::job::record::SourceLog;
use crate::scenario::Scenario;
use crate::sim::{EventQueue, TimeUs, TraceHasher};
use crate::trace::{Note, TraceEntry};
use std::hash::Hash;

/// A process's own timer.
#[derive(Clone, Copy, Debug, Hash)]
pub enum Timer {
    Jm(JmTimer),
    Te(TeTimer),
    /// Send a prepared message (in the slab) now: work that took time, then an answer. Only
    /// `Ctx::send_in` makes one (a `Slot` cannot be made outside this module).
    Send {
        slot: Slot,
    },
}

/// A slot of the message slab a `Timer::Send` will send from. Hashes as its number.
#[derive(Clone, Copy, Debug, Hash)]
pub struct Slot(u32);

impl Slot {
    pub(crate) fn index(self) -> u32 {
        self.0
    }
}

/// Everything that can happen.
#[derive(Clone, Copy, Debug, Hash)]
pub(crate) enum Event {
    Fault {
        index: u32,
    },
    /// A message reaches its destination host (payload in the slab).
    Arrive {
        slot: u32,
    },
    /// A timer of a process incarnation (in the timer pool: host, incarnation, timer).
    Timer {
        slot: u32,
    },
    /// A message the environment sends (a kernel's connection reset, Kubernetes' pod event).
    EnvSend {
        slot: u32,
    },
    Heal {
        fault: u32,
    },
    Thaw {
        host: HostId,
    },
    /// A TaskManager process finished starting on `host`.
    TaskManagerUp {
        host: HostId,
    },
    /// A JobManager process (generation `jm`) starts on its host.
    JobManagerUp {
        jm: u32,
    },
    /// The next step of a rolling update.
    RollingStep,
    /// SIGTERM reaches the TaskManager process on `host`.
    Sigterm {
        host: HostId,
    },
    /// A TaskManager process that shut down exits (its connections close).
    ProcessExit {
        te: u32,
    },
    RunEnd,
}

/// A message with its route, waiting in the slab while it travels.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub from: HostId,
    pub to: HostId,
    pub msg: Msg,
    /// The fault that made this message late (delayed, held by a partition, resent by its
    /// client), for `at-late-delivery` faults.
    pub late: Option<u32>,
}

/// Messages in flight, addressed by slot so events stay small and `Copy`. Freed slots are
/// reused in LIFO order: deterministic.
pub(crate) type Slab = Pool<Envelope>;

/// Pending timers: (host, process incarnation, timer).
pub(crate) type TimerPool = Pool<(HostId, u32, Timer)>;

/// Values addressed by a slot number, so the events that own them stay 8 bytes (cheap to move
/// through the event heap).
#[derive(Clone)]
pub(crate) struct Pool<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    /// Messages held by a partition, in the order they were sent (message pool only).
    held: Vec<u32>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool { items: Vec::new(), free: Vec::new(), held: Vec::new() }
    }
}

impl<T> Pool<T> {
    /// Slots allocated: the pool's high-water mark (it never shrinks), for the memory budget.
    pub(crate) fn slots(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn put(&mut self, e: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(e);
                i
            }
            None => {
                self.items.push(Some(e));
                (self.items.len() - 1) as u32
            }
        }
    }
    pub(crate) fn take(&mut self, slot: u32) -> T {
        let e = self.items[slot as usize].take().expect("a slot is taken once, by the event that owns it");
        self.free.push(slot);
        e
    }
    pub(crate) fn get(&self, slot: u32) -> &T {
        self.items[slot as usize].as_ref().expect("the event owns a filled slot")
    }
    /// Everything in the pool now, in slot order (for an observer).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }
    /// The slots held by a partition, in the order they were sent; none are held after this.
    pub(crate) fn take_held(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.held)
    }
    /// How many slots a partition holds.
    pub(crate) fn held_len(&self) -> usize {
        self.held.len()
    }
}

/// The readable trace, the running hash, and invariant violations.
#[derive(Clone, Default)]
pub(crate) struct Trace {
    pub(crate) notes: Vec<TraceEntry>,
    /// Per note, the number of the engine event (counted from 1) that wrote it.
    pub(crate) note_events: Vec<u64>,
    /// The engine event being processed.
    event: u64,
    /// Notes are kept (false for the replay's re-simulations: they only need the state, and
    /// the run's trace is already known; notes are still hashed).
    drop_notes: bool,
    pub(crate) hash: TraceHasher,
    pub(crate) violations: Vec<String>,
    /// Notes of lost messages written per fault (the rest are only counted).
    lost_noted: Vec<(usize, u32)>,
}

const LOST_NOTES_PER_FAULT: u32 = 20;

impl Trace {
    /// The engine event being processed from now on (counted from 1).
    pub(crate) fn set_event(&mut self, event: u64) {
        self.event = event;
    }
    /// Keep no notes from now on (they are still hashed).
    pub(crate) fn drop_notes(&mut self) {
        self.drop_notes = true;
        self.notes = Vec::new();
        self.note_events = Vec::new();
    }
    pub(crate) fn note(&mut self, at_us: TimeUs, note: Note) {
        note.hash(&mut self.hash);
        if !self.drop_notes {
            self.notes.push(TraceEntry { at_us, note });
            self.note_events.push(self.event);
        }
    }
    pub(crate) fn violation(&mut self, at_us: TimeUs, what: String) {
        if self.violations.len() < 100 {
            self.violations.push(format!("{}: {what}", crate::sim::fmt_time(at_us)));
        }
    }
}

/// What a process may use while it handles one event: the clock, the network, its timers, the
/// trace, and the facts every process knows (the scenario's configuration, the job graph — the
/// job's jar —, the source logs it reads). Nothing here holds another process, and every field
/// is private: the engine's network, queue and fault bookkeeping are reached only through the
/// methods.
pub struct Ctx<'a> {
    now: TimeUs,
    host: HostId,
    inc: u32,
    sc: &'a Scenario,
    graph: &'a JobGraph,
    logs: &'a [SourceLog],
    bugs: PlantedBugs,
    q: &'a mut EventQueue<Event>,
    net: &'a mut Network,
    slab: &'a mut Slab,
    timers: &'a mut TimerPool,
    trace: &'a mut Trace,
    faults: &'a mut FaultRt,
}

impl<'a> Ctx<'a> {
    /// The engine's borrow of its parts for the process on `host` (incarnation `inc`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn new(
        now: TimeUs,
        host: HostId,
        inc: u32,
        sc: &'a Scenario,
        graph: &'a JobGraph,
        logs: &'a [SourceLog],
        bugs: PlantedBugs,
        q: &'a mut EventQueue<Event>,
        net: &'a mut Network,
        slab: &'a mut Slab,
        timers: &'a mut TimerPool,
        trace: &'a mut Trace,
        faults: &'a mut FaultRt,
    ) -> Ctx<'a> {
        Ctx { now, host, inc, sc, graph, logs, bugs, q, net, slab, timers, trace, faults }
    }

    /// The current instant.
    #[inline]
    pub fn now(&self) -> TimeUs {
        self.now
    }
    /// The scenario (its configuration: every process reads its own keys from it).
    #[inline]
    pub fn sc(&self) -> &'a Scenario {
        self.sc
    }
    /// The job graph (the job's jar, which every process has).
    #[inline]
    pub fn graph(&self) -> &'a JobGraph {
        self.graph
    }
    /// The source logs the job's sources read.
    #[inline]
    pub fn logs(&self) -> &'a [SourceLog] {
        self.logs
    }
    /// The planted bugs: the code every process runs has them.
    #[inline]
    pub fn bugs(&self) -> PlantedBugs {
        self.bugs
    }

    /// Sends `msg` to the process on `to`.
    pub fn send(&mut self, to: HostId, msg: Msg) {
        route(self.now, self.host, to, msg, self.q, self.net, self.slab, self.trace, None);
    }
    /// Sends `msg` after `delay_us` of work, if this process still lives then.
    pub fn send_in(&mut self, delay_us: u64, to: HostId, msg: Msg) {
        if delay_us == 0 {
            return self.send(to, msg);
        }
        let slot = self.slab.put(Envelope { from: self.host, to, msg, late: None });
        self.timer(delay_us, Timer::Send { slot: Slot(slot) });
    }
    pub fn timer(&mut self, delay_us: u64, timer: Timer) {
        let slot = self.timers.put((self.host, self.inc, timer));
        self.q.schedule(self.now + delay_us, Event::Timer { slot });
    }
    pub fn timer_at(&mut self, at_us: TimeUs, timer: Timer) {
        let slot = self.timers.put((self.host, self.inc, timer));
        self.q.schedule(at_us.max(self.now), Event::Timer { slot });
    }
    pub fn note(&mut self, note: Note) {
        self.trace.note(self.now, note);
    }
    /// A protocol rule broken inside a process (an illegal state transition): the run's
    /// outcome lists it, and a run with one is `violated`.
    pub fn violation(&mut self, what: String) {
        self.trace.violation(self.now, what);
    }
    /// The one path for a message a process's handler does not handle: a misrouted message or
    /// a handler that forgot a case. It is recorded as a violation (so every scenario test, which
    /// requires none, fails), not dropped silently. Messages a process ignores on purpose (late
    /// answers for replaced attempts, a refusal for its host's previous incarnation) are named
    /// in its handler instead.
    pub fn unhandled(&mut self, from: HostId, msg: &Msg) {
        let what = format!(
            "unhandled message: {} on {} does not handle {} from {}",
            process_on(self.host),
            self.host.name(),
            msg.name(),
            from.name()
        );
        self.trace.violation(self.now, what);
    }
    /// Hosts on the network (the HA store's watchers are every TaskManager host).
    pub fn n_hosts(&self) -> usize {
        self.net.n_hosts()
    }
    /// A seeded draw in 0..=max for a timing that decides races (handling time, phases).
    pub fn draw(&mut self, max: u64) -> u64 {
        self.net.draw_below(max)
    }
}

/// The kind of process that runs on `host`, for messages about it.
fn process_on(host: HostId) -> &'static str {
    match host {
        HostId::JOBMANAGER => "the JobManager",
        HostId::STORAGE => "checkpoint storage",
        HostId::STORE => "the sink store",
        HostId::HA => "the HA store",
        _ => "the TaskExecutor",
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn route(
    now: TimeUs,
    from: HostId,
    to: HostId,
    msg: Msg,
    q: &mut EventQueue<Event>,
    net: &mut Network,
    slab: &mut Slab,
    trace: &mut Trace,
    late: Option<u32>,
) {
    let verdict = match msg {
        Msg::ConnectionReset { .. } => net.route_reset(now, from, to),
        _ => net.route(now, from, to, msg.kind(), msg.is_data()),
    };
    match verdict {
        Route::Deliver(at) => {
            let late = net.last_late.map(|f| f as u32).or(late);
            let slot = slab.put(Envelope { from, to, msg, late });
            q.schedule(at, Event::Arrive { slot });
        }
        Route::Hold => {
            let slot = slab.put(Envelope { from, to, msg, late });
            slab.held.push(slot);
        }
        Route::Reset { fault, to_at, from_at } => {
            // The data connection broke: the kernel tells both ends (each sees the other's end
            // closed); the message itself is gone.
            let slot = slab.put(Envelope { from, to, msg: Msg::ConnectionReset { remote: from }, late: None });
            q.schedule(to_at, Event::Arrive { slot });
            let slot = slab.put(Envelope { from: to, to: from, msg: Msg::ConnectionReset { remote: to }, late: None });
            q.schedule(from_at, Event::Arrive { slot });
            note_lost(now, fault, &msg, from, to, trace);
        }
        Route::Resent { fault, at } => {
            note_lost(now, fault, &msg, from, to, trace);
            let slot = slab.put(Envelope { from, to, msg, late: Some(fault as u32) });
            q.schedule(at, Event::Arrive { slot });
        }
        Route::Drop { fault } => note_lost(now, fault, &msg, from, to, trace),
    }
}

/// A message a rule dropped, noted up to `LOST_NOTES_PER_FAULT` times per fault.
fn note_lost(now: TimeUs, fault: usize, msg: &Msg, from: HostId, to: HostId, trace: &mut Trace) {
    let i = match trace.lost_noted.iter().position(|(f, _)| *f == fault) {
        Some(i) => i,
        None => {
            trace.lost_noted.push((fault, 0));
            trace.lost_noted.len() - 1
        }
    };
    if trace.lost_noted[i].1 < LOST_NOTES_PER_FAULT {
        trace.lost_noted[i].1 += 1;
        trace.note(now, Note::MessageLost { fault, message: msg.name().into(), from, to });
    }
}
