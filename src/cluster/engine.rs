//! The engine: hosts running Flink's processes, the network between them, one event queue and
//! one loop. The loop pops an event and hands it to exactly one process: a message that arrived
//! (`Event::Arrive`) or a timer the process set itself (`Event::Timer`). A process only gets
//! `&mut self` and a `Ctx` (send, set a timer, note) — never another process — so reading
//! another process's state is a compile error, not a review comment.
//!
//! The engine is also the environment: it carries out the scenario's faults (a killed process,
//! a lost or frozen host, a partition, a rolling update, Kubernetes restarting a pod), which is
//! the only place that acts on processes from outside.
//!
//! Invariants: the loop is the only place that advances time; every processed event is folded
//! into the trace hash; nothing here reads a clock, does I/O or iterates a hash map.

use super::bugs::PlantedBugs;
use super::ctx::{Ctx, Envelope, Event, FaultRt, Slab, Timer, TimerPool, Trace, route};
use super::external::{CheckpointStorage, CompletedCheckpoint, HaStore, TxnStore};
use super::jobmanager::{FailoverReport, JobManager};
use super::msg::Msg;
use super::net::{HostCondition, HostId, Latencies, Network};
use super::state::JobStatus;
use super::taskexecutor::TaskExecutor;
use crate::fault::{FaultAction, FaultTrigger};
use crate::job::graph::JobGraph;
use crate::job::record::SourceLog;
use crate::job::spec::OperatorKind;
use crate::scenario::Scenario;
use crate::scenario::budget::BudgetStop;
use crate::sim::{EventQueue, Rng, Stream, TimeUs};
use crate::trace::{Note, TraceEntry};
use std::hash::{Hash, Hasher};

mod phase;

/// How often (in events) a run compares its modelled footprint with its memory budget.
const FOOTPRINT_EVERY: u64 = 1 << 16;
/// What a finished engine run hands to the oracle and the reports.
#[derive(Debug)]
pub struct EngineOutcome {
    pub trace_hash: u64,
    pub events: u64,
    pub end_us: TimeUs,
    pub job_status: JobStatus,
    pub notes: Vec<TraceEntry>,
    /// Per note, the engine event (counted from 1) that wrote it.
    pub note_events: Vec<u64>,
    pub failovers: Vec<FailoverReport>,
    pub checkpoints_completed: u64,
    pub checkpoints_aborted: u64,
    /// A sample of the completed checkpoints (all of them unless the run is long), in order.
    pub completed: Vec<CompletedCheckpoint>,
    /// The sink's store at the end (its transactions; what it committed is in `committed`).
    pub store: TxnStore,
    /// What the store committed, in commit order (the oracle's input).
    pub committed: Vec<crate::cluster::external::CommittedRecord>,
    pub fault_times: Vec<Option<TimeUs>>,
    pub violations: Vec<String>,
    pub records_read: u64,
    /// Messages each `lose-messages` / `delay-messages` fault hit: (fault index, messages).
    pub rule_hits: Vec<(usize, u64)>,
    /// Every fired fault classified (`explore`'s coverage), in firing order.
    pub coverage: Vec<crate::fault::phase::FaultCoverage>,
    /// The budget that ended the run before the job or the time limit did.
    pub budget_stop: Option<BudgetStop>,
    /// The job is FINISHED because the user stopped it with a savepoint (`flink stop`): its
    /// sources stopped at the savepoint, so what the log holds after it was never read.
    pub stopped_with_savepoint: bool,
    /// The job FAILED while stopping with a savepoint that had completed: that savepoint.
    pub failed_while_stopping: Option<u64>,
    /// Every JobManager process's checkpoint history, oldest process first (Flink's
    /// CheckpointStatsTracker; a new JobManager starts an empty one).
    pub checkpoint_history: Vec<crate::cluster::jobmanager::stats::CheckpointStats>,
    /// Checkpoints older ones dropped from those histories (they are bounded).
    pub checkpoint_history_dropped: u64,
}

/// Slot state of a rolling update (Kubernetes' Deployment controller, maxSurge 1,
/// maxUnavailable 0).
#[derive(Clone)]
struct Rolling {
    /// The `rolling-update` fault.
    fault: usize,
    old: Vec<HostId>,
    next: usize,
    interval_us: u64,
    /// The new pod whose readiness (registration) the controller waits for.
    waiting_for: Option<HostId>,
}

/// Builds a `Ctx` for the process on `$host` (incarnation `$inc`) from the world's fields, so
/// the process itself can be borrowed mutably alongside it.
macro_rules! ctx {
    ($w:ident, $host:expr, $inc:expr) => {
        Ctx::new(
            $w.q.now_us(),
            $host,
            $inc,
            $w.sc,
            &$w.graph,
            &$w.logs,
            $w.bugs,
            &mut $w.q,
            &mut $w.net,
            &mut $w.slab,
            &mut $w.timers,
            &mut $w.trace,
            &mut $w.faults,
        )
    };
}

#[derive(Clone)]
pub struct World<'a> {
    sc: &'a Scenario,
    graph: JobGraph,
    logs: Vec<SourceLog>,
    bugs: PlantedBugs,
    q: EventQueue<Event>,
    net: Network,
    slab: Slab,
    timers: TimerPool,
    trace: Trace,
    faults: FaultRt,
    events: u64,
    stopped: bool,
    /// The budget that ended the run, if one did (`Scenario::budget`).
    budget_stop: Option<BudgetStop>,
    jm: Option<JobManager>,
    jm_gen: u32,
    /// `submit-job` operations not carried out yet: a job that ended before them is not the
    /// end of the run.
    submissions_left: u32,
    /// JobManagers that died: kept for their reports (failovers, checkpoint counts).
    old_jms: Vec<JobManager>,
    /// Every TaskExecutor incarnation by ResourceID; `None` once its process is gone.
    tes: Vec<Option<TaskExecutor>>,
    /// The TaskExecutor incarnation on each host (by host index).
    host_te: Vec<Option<u32>>,
    /// A TaskManager process is starting on the host.
    starting: Vec<bool>,
    storage: CheckpointStorage,
    store: TxnStore,
    ha: HaStore,
    /// Events for a frozen host, in order, replayed when it wakes.
    backlog: Vec<Vec<Event>>,
    rolling: Option<Rolling>,
}

/// The source logs of a scenario's job (one per source operator, in operator order) and, per
/// operator, the index of its log.
pub fn build_logs(sc: &Scenario) -> (Vec<SourceLog>, Vec<Option<usize>>) {
    let data_key = Rng::new(sc.seed, Stream::Data).next_u64();
    let mut logs = Vec::new();
    let mut log_of = vec![None; sc.job.operators.len()];
    for (i, op) in sc.job.operators.iter().enumerate() {
        if let OperatorKind::Source(s) = &op.kind {
            log_of[i] = Some(logs.len());
            logs.push(SourceLog::new(logs.len() as u16, s, sc.duration_us, data_key));
        }
    }
    (logs, log_of)
}

/// Most records a run's sink store is given room for up front (48 bytes each): what a
/// fault-free run commits, so the list of committed records does not grow by copying, up to
/// this many.
const COMMITTED_HINT_MAX: u64 = 1 << 20;

/// What a fault-free run of `sc` commits at most: every source record at every sink.
fn committed_hint(sc: &Scenario, logs: &[SourceLog]) -> usize {
    let sinks = sc.job.operators.iter().filter(|o| matches!(o.kind, crate::job::spec::OperatorKind::Sink(_))).count();
    let records: u64 = logs.iter().map(|l| l.total).sum();
    records.saturating_mul(sinks as u64).min(COMMITTED_HINT_MAX) as usize
}

impl<'a> World<'a> {
    pub fn new(sc: &'a Scenario, with_faults: bool) -> World<'a> {
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = build_logs(sc);
        let committed_hint = committed_hint(sc, &logs);
        let faults: &[crate::fault::FaultSpec] = if with_faults { &sc.faults } else { &[] };
        // A planted bug is in the code every run shares: the reference run has it too (most
        // only matter after a failure; those that hurt every run are what the oracle's absolute
        // check against the log is for).
        let bugs = sc.bugs;
        let c = &sc.cluster;
        let lat = Latencies {
            rpc_us: c.rpc_latency_us,
            data_us: c.network_latency_us,
            jitter_us: c.network_jitter_us,
            ha_client_timeout_us: super::net::ha_client_timeout_us(&sc.flink),
        };
        let net = Network::new(c.taskmanagers, lat, Rng::new(sc.seed, Stream::Network));
        let n_hosts = net.n_hosts();
        let mut w = World {
            sc,
            logs,
            bugs,
            q: EventQueue::new(),
            net,
            slab: Slab::default(),
            timers: TimerPool::default(),
            trace: Trace::default(),
            faults: FaultRt::new(sc, &graph, faults),
            events: 0,
            stopped: false,
            budget_stop: None,
            jm: None,
            jm_gen: 0,
            submissions_left: faults.iter().filter(|f| matches!(f.action, FaultAction::SubmitJob(_))).count() as u32,
            old_jms: Vec::new(),
            tes: Vec::new(),
            host_te: vec![None; n_hosts],
            starting: vec![false; n_hosts],
            storage: CheckpointStorage::default(),
            store: TxnStore::new(bugs.no_fencing, committed_hint),
            ha: HaStore::default(),
            backlog: vec![Vec::new(); n_hosts],
            rolling: None,
            graph,
        };
        // The cluster's processes start first: a fault at 0 s finds them up (a JobManager killed
        // at 0 s is killed, not skipped because it had not started yet).
        w.q.schedule(0, Event::JobManagerUp { jm: 0 });
        for tm in 0..sc.cluster.taskmanagers {
            w.starting[HostId::tm(tm).0 as usize] = true;
            w.q.schedule(0, Event::TaskManagerUp { host: HostId::tm(tm) });
        }
        for (i, f) in faults.iter().enumerate() {
            if let FaultTrigger::At { at_us } = f.trigger {
                w.q.schedule(at_us, Event::Fault { index: i as u32 });
            }
        }
        let end_us = sc.duration_us + sc.drain_us;
        w.q.schedule(end_us, Event::RunEnd);
        w
    }

    pub fn now(&self) -> TimeUs {
        self.q.now_us()
    }

    /// Runs until the job is terminal or the time limit; returns what the oracle needs.
    pub fn run(mut self) -> EngineOutcome {
        while self.step() {}
        self.finish()
    }

    /// Processes the next event; `false` once the run is over (the job is globally terminal,
    /// the time limit passed, or nothing is left to happen), and then forever after.
    pub fn step(&mut self) -> bool {
        if self.is_over() {
            return false;
        }
        if let Some(stop) = self.over_budget() {
            self.budget_stop = Some(stop);
            self.stopped = true;
            return false;
        }
        let Some((at, ev)) = self.q.pop() else {
            self.stopped = true;
            return false;
        };
        self.events += 1;
        self.trace.set_event(self.events);
        at.hash(&mut self.trace.hash);
        ev.hash(&mut self.trace.hash);
        self.dispatch(ev);
        if self.faults.has_unclassified() {
            for f in self.faults.take_unclassified() {
                self.classify(f);
            }
        }
        true
    }

    /// The budget the run has reached (`Scenario::budget`): its events, or — looked at every
    /// `FOOTPRINT_EVERY` events — its modelled memory footprint.
    fn over_budget(&self) -> Option<BudgetStop> {
        let budget = &self.sc.budget;
        if self.events >= budget.max_events {
            return Some(BudgetStop::Events { limit: budget.max_events });
        }
        if self.events.is_multiple_of(FOOTPRINT_EVERY) && self.events > 0 {
            let footprint = self.footprint();
            if footprint > budget.max_memory {
                return Some(BudgetStop::Memory { footprint, limit: budget.max_memory });
            }
        }
        None
    }

    /// The memory this run will need, modelled from what grows with it: the records the sink
    /// store committed (with what the oracle keeps per record after the run), the keyed state in
    /// checkpoint storage and its cut samples, the trace notes, the messages in flight and the
    /// events queued. Deterministic (no allocator is asked), so a run stops at the same event
    /// on every machine.
    pub fn footprint(&self) -> u64 {
        let records = self.store.committed().len() as u64 * crate::scenario::budget::BYTES_PER_COMMITTED_RECORD as u64;
        let state = self.storage.entries() * crate::scenario::budget::BYTES_PER_STATE_ENTRY as u64;
        let notes = self.trace.notes.len() as u64 * (std::mem::size_of::<TraceEntry>() as u64 + 8);
        // The pools keep their high-water mark of slots.
        let wire = self.slab.slots() as u64 * std::mem::size_of::<Option<Envelope>>() as u64;
        let queued = self.q.len() as u64 * std::mem::size_of::<(TimeUs, Event)>() as u64;
        records + state + notes + wire + queued
    }

    /// The run is over: the job is globally terminal or the time limit passed.
    pub fn is_over(&self) -> bool {
        self.stopped
            || (self.submissions_left == 0
                && self.jm.as_ref().is_some_and(|j| j.job_status().is_globally_terminal() && !j.awaits_submission()))
    }

    /// What an observer sees of the world now (the replay's views). Reads every process;
    /// changes nothing.
    pub fn inspect(&self) -> crate::cluster::inspect::Inspection {
        use crate::cluster::inspect::{EdgeFlow, HostView, Inspection};
        let mut edges = vec![EdgeFlow::default(); self.graph.edges.len()];
        for env in self.slab.iter() {
            if let Msg::Data { ch, item, .. } = &env.msg {
                let e = &mut edges[self.graph.channels[ch.0 as usize].edge as usize];
                match item {
                    crate::cluster::msg::Item::Record(_) => e.records_on_wire += 1,
                    crate::cluster::msg::Item::Barrier(_) => e.barriers_on_wire += 1,
                    crate::cluster::msg::Item::EndOfPartition => {}
                }
            }
        }
        let mut hosts = Vec::new();
        for h in HostId::FIRST_TM as usize..self.net.n_hosts() {
            let host = HostId(h as u16);
            let process = self.alive_te(host).and_then(|id| self.tes[id as usize].as_ref());
            let process = process.map(|te| {
                let v = te.inspect();
                for t in &v.tasks {
                    for (&ch, &(records, barriers)) in self.graph.subtasks[t.st.0 as usize].inputs.iter().zip(&t.inputs)
                    {
                        let e = &mut edges[self.graph.channels[ch.0 as usize].edge as usize];
                        e.records_queued += records;
                        e.barriers_queued += barriers;
                    }
                }
                v
            });
            hosts.push(HostView {
                tm: host.tm_index().expect("hosts from FIRST_TM on are TaskManager hosts"),
                condition: self.net.condition(host),
                partitioned: self.net.is_partitioned(host),
                starting: self.starting[h],
                process,
            });
        }
        let mut failovers = 0;
        for j in self.old_jms.iter().chain(self.jm.iter()) {
            failovers += j.failovers().len();
        }
        Inspection {
            now_us: self.now(),
            events: self.events,
            jobmanager: self.jm.as_ref().map(|j| j.inspect()),
            hosts,
            edges,
            txns: self.store.inspect(),
            committed: self.store.committed().len() as u64,
            faults_fired: self.faults.fired_count(),
            failovers,
        }
    }

    /// Keep nothing that is only for judging the run — trace notes (still hashed) and the
    /// oracle's cut samples — and keep the sink store's records in chunks that clones share:
    /// for worlds that are only looked at and snapshotted (the replay's). Call before the
    /// first step.
    pub fn observe_only(&mut self) {
        self.storage.drop_cut_samples();
        self.store.share_chunks();
        self.trace.drop_notes();
    }

    /// The running trace hash: equal hashes after equal event counts mean the same run.
    pub fn hash_so_far(&self) -> u64 {
        self.trace.hash.finish()
    }

    /// When the next event happens, if any.
    pub fn next_event_at(&self) -> Option<TimeUs> {
        if self.is_over() { None } else { self.q.peek_time() }
    }

    /// Heap bytes of what the sink committed that clones of this world share (full chunks).
    pub fn shared_bytes(&self) -> usize {
        self.store.committed().bytes().1
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn finish(mut self) -> EngineOutcome {
        let now = self.now();
        // What readers of the sink saw is part of the run: fold it in.
        self.store.committed().hash(&mut self.trace.hash);
        let job_status = match &self.jm {
            Some(j) => j.job_status(),
            None if self.sc.flink.leader_election_us().is_some() => JobStatus::Suspended,
            None => JobStatus::NotFound,
        };
        let mut failovers = Vec::new();
        let (mut completed, mut aborted) = (0, 0);
        let (mut checkpoint_history, mut checkpoint_history_dropped) = (Vec::new(), 0);
        for j in self.old_jms.iter().chain(self.jm.iter()) {
            for stats in j.checkpoint_stats() {
                checkpoint_history.extend(stats.history().cloned());
                checkpoint_history_dropped += stats.dropped();
            }
            failovers.extend(j.failovers().iter().cloned());
            completed += j.checkpoints_completed();
            aborted += j.checkpoints_aborted();
        }
        let (fault_times, records_read, coverage) = self.faults.into_report();
        EngineOutcome {
            trace_hash: self.trace.hash.finish(),
            events: self.events,
            end_us: now,
            job_status,
            notes: self.trace.notes,
            note_events: self.trace.note_events,
            failovers,
            checkpoints_completed: completed,
            checkpoints_aborted: aborted,
            completed: self.storage.take_cut_samples(),
            committed: self.store.take_committed().into_vec(),
            store: self.store,
            fault_times,
            violations: self.trace.violations,
            records_read,
            rule_hits: self.net.rule_hits(),
            coverage,
            budget_stop: self.budget_stop,
            stopped_with_savepoint: self.jm.as_ref().is_some_and(|j| j.stopped_with_savepoint()),
            failed_while_stopping: self.jm.as_ref().and_then(|j| j.failed_while_stopping()),
            checkpoint_history,
            checkpoint_history_dropped,
        }
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Fault { index } => self.on_fault(index as usize),
            Event::Arrive { slot } => {
                let to = self.slab.get(slot).to;
                match self.net.condition(to) {
                    HostCondition::Lost => drop(self.slab.take(slot)),
                    HostCondition::Frozen => self.backlog[to.0 as usize].push(ev),
                    HostCondition::Up => {
                        let env = self.slab.take(slot);
                        let late = env.late;
                        self.deliver(env);
                        if let Some(fault) = late
                            && self.faults.counts_late()
                        {
                            self.late_delivered(fault as usize);
                        }
                    }
                }
            }
            Event::Timer { slot } => {
                let host = self.timers.get(slot).0;
                match self.net.condition(host) {
                    HostCondition::Lost => {
                        if let (_, _, Timer::Send { slot }) = self.timers.take(slot) {
                            drop(self.slab.take(slot.index()));
                        }
                    }
                    HostCondition::Frozen => self.backlog[host.0 as usize].push(ev),
                    HostCondition::Up => {
                        let (host, inc, timer) = self.timers.take(slot);
                        // The timer's content is part of the run: fold it into the hash.
                        timer.hash(&mut self.trace.hash);
                        self.on_timer(host, inc, timer);
                    }
                }
            }
            Event::EnvSend { slot } => {
                let env = self.slab.take(slot);
                self.route_env(env);
            }
            Event::Heal { fault } => self.on_heal(fault as usize),
            Event::Thaw { host } => self.on_thaw(host),
            Event::TaskManagerUp { host } => self.on_taskmanager_up(host),
            Event::JobManagerUp { jm } => self.on_jobmanager_up(jm),
            Event::RollingStep => self.rolling_step(),
            Event::Sigterm { host } => self.on_sigterm(host),
            Event::ProcessExit { te } => {
                if let Some(Some(t)) = self.tes.get(te as usize) {
                    let host = t.host();
                    self.te_process_gone(host, te, true);
                }
            }
            Event::RunEnd => self.stopped = true,
        }
    }

    fn alive_te(&self, host: HostId) -> Option<u32> {
        let id = (*self.host_te.get(host.0 as usize)?)?;
        self.tes[id as usize].as_ref().map(|_| id)
    }

    /// Hands an arrived message to the process on its host; a host whose process is gone
    /// refuses the connection (an ask fails with RecipientUnreachableException).
    fn deliver(&mut self, env: Envelope) {
        let Envelope { from, to, msg, .. } = env;
        match to {
            HostId::JOBMANAGER => {
                let inc = self.jm_gen;
                if let Some(jm) = self.jm.as_mut() {
                    let notes = self.trace.notes.len();
                    let mut c = ctx!(self, to, inc);
                    jm.handle(&mut c, from, msg);
                    self.number_failovers_from(notes);
                    self.start_requested_workers();
                } else {
                    self.refuse(from, to, &msg);
                }
            }
            HostId::STORAGE => {
                let mut c = ctx!(self, to, 0);
                self.storage.handle(&mut c, from, msg);
            }
            HostId::STORE => {
                let mut c = ctx!(self, to, 0);
                self.store.handle(&mut c, from, msg);
            }
            HostId::HA => {
                let mut c = ctx!(self, to, 0);
                self.ha.handle(&mut c, from, msg);
            }
            _ => match self.alive_te(to) {
                // A restarted TaskManager is a new TaskExecutor (new ResourceID, and by default
                // a new random RPC port, taskmanager.rpc.port = 0): an RPC for the one before it
                // finds no endpoint and its connection is refused, as for a dead process.
                Some(id) if msg.for_te().is_some_and(|te| te != id) => self.refuse(from, to, &msg),
                Some(id) => {
                    let te = self.tes[id as usize].as_mut().expect("alive_te checked it");
                    let mut c = ctx!(self, to, id);
                    te.handle(&mut c, from, msg);
                    self.after_te_event(to, id);
                }
                None => self.refuse(from, to, &msg),
            },
        }
    }

    fn refuse(&mut self, from: HostId, to: HostId, msg: &Msg) {
        if let Some(ask) = msg.ask() {
            let now = self.now();
            route(
                now,
                to,
                from,
                Msg::Refused { ask },
                &mut self.q,
                &mut self.net,
                &mut self.slab,
                &mut self.trace,
                None,
            );
        }
    }

    fn on_timer(&mut self, host: HostId, inc: u32, timer: Timer) {
        let alive = match host {
            HostId::JOBMANAGER => self.jm.is_some() && self.jm_gen == inc,
            HostId::STORAGE | HostId::STORE | HostId::HA => true,
            _ => self.alive_te(host) == Some(inc),
        };
        if let Timer::Send { slot } = timer {
            let env = self.slab.take(slot.index());
            if alive {
                self.route_env(env);
            }
            return;
        }
        if !alive {
            return;
        }
        match timer {
            Timer::Jm(t) => {
                let jm = self.jm.as_mut().expect("checked alive");
                let notes = self.trace.notes.len();
                let mut c = ctx!(self, host, inc);
                jm.on_timer(&mut c, t);
                self.number_failovers_from(notes);
                self.start_requested_workers();
            }
            Timer::Te(t) => {
                let te = self.tes[inc as usize].as_mut().expect("checked alive");
                let mut c = ctx!(self, host, inc);
                te.on_timer(&mut c, t);
                self.after_te_event(host, inc);
            }
            Timer::Send { .. } => unreachable!("handled above"),
        }
    }

    /// Kubernetes' readiness check for a rolling update: a new pod counts once it registered.
    fn after_te_event(&mut self, host: HostId, id: u32) {
        if let Some(r) = &mut self.rolling
            && r.waiting_for == Some(host)
            && self.tes[id as usize].as_ref().is_some_and(|t| t.is_registered())
        {
            r.waiting_for = None;
            let old = r.old.get(r.next).copied();
            r.next += 1;
            let (interval, fault) = (r.interval_us, r.fault);
            if let Some(old) = old {
                // Each pod deleted is a step of the fault: a failover it causes counts its
                // recovery time from here, not from the start of the update.
                self.note(Note::FaultInjected {
                    fault,
                    text: format!(
                        "rolling-update step: {} is ready, Kubernetes deletes the pod of {} (SIGTERM)",
                        host.name(),
                        old.name()
                    ),
                });
                self.stop_te(old);
            }
            self.q.schedule_in(interval, Event::RollingStep);
        }
    }

    /// Kubernetes/YARN start the workers an active ResourceManager asked for: new pods on new
    /// hosts, registered after the start delay.
    fn start_requested_workers(&mut self) {
        for _ in 0..self.faults.take_worker_requests() {
            let host = self.new_tm_host();
            self.start_taskmanager(host, self.sc.cluster.taskmanager_start_delay_us);
        }
    }

    fn env_send(&mut self, delay_us: u64, from: HostId, to: HostId, msg: Msg) {
        let slot = self.slab.put(Envelope { from, to, msg, late: None });
        self.q.schedule_in(delay_us, Event::EnvSend { slot });
    }

    fn note(&mut self, note: Note) {
        let now = self.now();
        self.trace.note(now, note);
    }

    // ---- the environment: processes starting and dying, hosts, faults ----

    fn on_jobmanager_up(&mut self, generation: u32) {
        self.jm_gen = generation;
        let leader_at = if generation == 0 {
            0
        } else {
            let lease = self.sc.flink.leader_election_us().unwrap_or(0);
            let died = self.old_jms.last().map(|j| j.died_at_us()).unwrap_or(0);
            (died + lease).max(self.now())
        };
        let mut jm = JobManager::new(self.sc, &self.graph, generation);
        let notes = self.trace.notes.len();
        let mut c = ctx!(self, HostId::JOBMANAGER, generation);
        jm.start(&mut c, leader_at);
        self.jm = Some(jm);
        self.number_failovers_from(notes);
    }

    /// A JobManager numbers its failovers from 0 (a new leader starts a new history, as
    /// Flink's does); the run's report lists every JobManager's failovers in one list. Notes
    /// the current JobManager wrote from note `from` on get the run-wide number. (The trace
    /// hash keeps the JobManager's own numbers, so it does not depend on kept notes.)
    fn number_failovers_from(&mut self, from: usize) {
        let base: usize = self.old_jms.iter().map(|j| j.failovers().len()).sum();
        if base == 0 {
            return;
        }
        for e in self.trace.notes.iter_mut().skip(from) {
            if let Note::FailoverStarted { failover }
            | Note::RestartScheduled { failover, .. }
            | Note::NoRestart { failover, .. } = &mut e.note
            {
                *failover += base;
            }
        }
    }

    fn on_taskmanager_up(&mut self, host: HostId) {
        let h = host.0 as usize;
        if !std::mem::take(&mut self.starting[h]) || self.net.condition(host) == HostCondition::Lost {
            return;
        }
        let id = self.tes.len() as u32;
        let tm = host.tm_index().expect("TaskManagers run on TaskManager hosts");
        let mut te = TaskExecutor::new(id, host, tm, self.sc.cluster.slots_per_taskmanager, &self.graph);
        self.host_te[h] = Some(id);
        let mut c = ctx!(self, host, id);
        te.start(&mut c);
        self.tes.push(Some(te));
    }

    fn start_taskmanager(&mut self, host: HostId, delay_us: u64) {
        self.starting[host.0 as usize] = true;
        self.q.schedule_in(delay_us, Event::TaskManagerUp { host });
    }

    fn new_tm_host(&mut self) -> HostId {
        let h = self.net.add_host();
        self.host_te.push(None);
        self.starting.push(false);
        self.backlog.push(Vec::new());
        h
    }

    /// The process on `host` is gone and its host is up: the kernel resets its connections
    /// (peers see it after a drawn delay, like the measured 64–106 ms), and Kubernetes tells
    /// an active ResourceManager that the pod terminated.
    fn te_process_gone(&mut self, host: HostId, id: u32, graceful: bool) {
        self.tes[id as usize] = None;
        let base = if graceful { self.sc.cluster.rpc_latency_us } else { self.sc.cluster.connection_reset_us };
        for peer in self.net.take_connections(host) {
            let delay = base + self.net.draw_below(base);
            self.env_send(delay, host, peer, Msg::ConnectionReset { remote: host });
        }
        if self.sc.cluster.resource_manager == super::config::ResourceManagerKind::Active {
            let delay = base + self.net.draw_below(base);
            self.env_send(delay, HostId::HA, HostId::JOBMANAGER, Msg::WorkerTerminated { te: id });
        }
    }

    fn kill_te(&mut self, host: HostId) {
        self.starting[host.0 as usize] = false;
        if let Some(id) = self.alive_te(host) {
            self.te_process_gone(host, id, false);
        }
    }

    /// SIGTERM (kubectl delete pod, systemctl stop): it reaches the process and its shutdown hook
    /// starts a few milliseconds later (measured on Flink 2.3: the loss noticed 18 ms after it).
    fn stop_te(&mut self, host: HostId) {
        let delay = 5_000 + self.net.draw_below(15_000);
        self.q.schedule_in(delay, Event::Sigterm { host });
    }

    /// The TaskExecutor fails its tasks and says goodbye, then exits.
    fn on_sigterm(&mut self, host: HostId) {
        let Some(id) = self.alive_te(host) else { return };
        if self.net.condition(host) != HostCondition::Up {
            return;
        }
        let te = self.tes[id as usize].as_mut().expect("alive");
        let mut c = ctx!(self, host, id);
        te.shutdown(&mut c);
        // The process exits once its goodbyes are out (a few milliseconds).
        let exit_us = 5_000 + self.net.draw_below(5_000);
        self.q.schedule_in(exit_us, Event::ProcessExit { te: id });
    }

    fn on_fault(&mut self, index: usize) {
        let now = self.now();
        self.classify(index);
        self.faults.fired(index, now);
        let action = self.sc.faults[index].action.clone();
        let graph = &self.graph;
        let mut text = action.describe(&|r| graph.subtask_ref_name(r)) + &self.phase_text(index);
        if let FaultTrigger::AtLateDelivery { of, nth } = self.sc.faults[index].trigger {
            text += &format!(" (late message {nth} of fault {} arrived)", of + 1);
        }
        self.note(Note::FaultInjected { fault: index, text });
        match action {
            FaultAction::KillTaskManager(tm) => self.kill_te(HostId::tm(tm)),
            FaultAction::KillTaskManagerOf(r) => match self.phase_victim(index, self.graph.subtask_id(r)) {
                Some(host) => self.kill_te(host),
                None => self.note(Note::Warning {
                    text: format!("no TaskManager runs {}: nothing to kill", self.graph.subtask_ref_name(r)),
                }),
            },
            FaultAction::RestartTaskManager(tm) => {
                let host = HostId::tm(tm);
                if self.alive_te(host).is_some() || self.starting[host.0 as usize] {
                    self.note(Note::Warning { text: format!("tm-{tm} is running: restart-taskmanager does nothing") });
                } else if self.net.condition(host) == HostCondition::Lost {
                    self.note(Note::Warning { text: format!("tm-{tm}'s host is lost: nothing can start there") });
                } else {
                    self.start_taskmanager(host, self.sc.cluster.taskmanager_start_delay_us);
                }
            }
            FaultAction::FailTask(r) | FaultAction::FailTaskUnrecoverable(r) => {
                let cause = if matches!(action, FaultAction::FailTaskUnrecoverable(_)) {
                    crate::trace::FailureCause::Unrecoverable
                } else {
                    crate::trace::FailureCause::TaskException
                };
                let st = self.graph.subtask_id(r);
                // The fault lives in user code: it hits the newest running attempt of the subtask.
                let victim = (0..self.tes.len())
                    .filter_map(|i| self.tes[i].as_ref().and_then(|t| t.running_attempt(st)).map(|a| (a, i)))
                    .max();
                if let Some((a, i)) = victim {
                    let te = self.tes[i].as_mut().expect("found above");
                    let host = te.host();
                    if self.net.condition(host) == HostCondition::Up {
                        let mut c = ctx!(self, host, i as u32);
                        te.fail_task(&mut c, a, cause);
                    }
                }
            }
            FaultAction::LoseTaskManagerHost(tm) => {
                let host = HostId::tm(tm);
                self.net.lose_host(host);
                self.starting[host.0 as usize] = false;
                if let Some(id) = self.alive_te(host) {
                    // Its memory is gone with it; nobody is told anything.
                    self.tes[id as usize] = None;
                }
                self.backlog[host.0 as usize].clear();
            }
            FaultAction::FreezeTaskManager { tm, duration_us } => {
                let host = HostId::tm(tm);
                if self.net.condition(host) == HostCondition::Up {
                    self.net.freeze(host);
                    self.q.schedule_in(duration_us, Event::Thaw { host });
                }
            }
            FaultAction::Partition { a, b, one_way, heal_at_us } => {
                self.net.partition(index, &a, &b, one_way);
                if let Some(h) = heal_at_us {
                    self.q.schedule(h, Event::Heal { fault: index as u32 });
                }
            }
            FaultAction::LoseMessages(rule) => self.net.lose(index, &rule),
            FaultAction::DelayMessages { rule, delay_us } => self.net.delay(index, &rule, delay_us),
            FaultAction::StopTaskManager(tm) => self.stop_te(HostId::tm(tm)),
            FaultAction::RollingUpdate { interval_us } => {
                let old: Vec<HostId> =
                    (0..self.host_te.len()).map(|h| HostId(h as u16)).filter(|h| self.alive_te(*h).is_some()).collect();
                self.rolling = Some(Rolling { fault: index, old, next: 0, interval_us, waiting_for: None });
                self.rolling_step();
            }
            FaultAction::StorageOutage { duration_us } => {
                self.storage.outage_until_us = self.now() + duration_us;
            }
            FaultAction::StorageSlow { duration_us, factor } => {
                self.storage.slow = Some((self.now() + duration_us, factor));
            }
            FaultAction::CancelJob | FaultAction::StopWithSavepoint | FaultAction::SubmitJob(_) => {
                if let FaultAction::SubmitJob(_) = action {
                    self.submissions_left = self.submissions_left.saturating_sub(1);
                }
                let inc = self.jm_gen;
                // The user's REST call reaches the JobManager, if one is there to take it.
                let Some(jm) = self.jm.as_mut() else {
                    self.note(Note::Warning { text: "no JobManager to take the operation: it fails".into() });
                    return;
                };
                let notes = self.trace.notes.len();
                let mut c = ctx!(self, HostId::JOBMANAGER, inc);
                match action {
                    FaultAction::CancelJob => jm.cancel_job(&mut c),
                    FaultAction::StopWithSavepoint => jm.stop_with_savepoint(&mut c),
                    FaultAction::SubmitJob(from) => jm.submit_new_job(&mut c, from),
                    _ => {}
                }
                self.number_failovers_from(notes);
            }
            FaultAction::KillJobManager => {
                if let Some(mut jm) = self.jm.take() {
                    jm.died(now);
                    self.old_jms.push(jm);
                    match self.sc.flink.leader_election_us() {
                        Some(_) => {
                            let generation = self.jm_gen + 1;
                            self.q.schedule_in(self.sc.cluster.jobmanager_restart_delay_us, Event::JobManagerUp { jm: generation });
                        }
                        None => self.note(Note::Warning {
                            text: "high-availability.type is NONE: the job graph and its checkpoint pointers were only in the JobManager's memory: no process knows the job any more (a client asking for it gets FlinkJobNotFoundException: Could not find Flink job)".into(),
                        }),
                    }
                }
            }
        }
    }

    fn rolling_step(&mut self) {
        let Some(r) = &self.rolling else { return };
        if r.next >= r.old.len() {
            self.rolling = None;
            self.note(Note::Warning { text: "rolling update done".into() });
            return;
        }
        let host = self.new_tm_host();
        if let Some(r) = &mut self.rolling {
            r.waiting_for = Some(host);
        }
        self.note(Note::Warning {
            text: format!("rolling update: starting {}, then stopping the next old TaskManager", host.name()),
        });
        self.start_taskmanager(host, self.sc.cluster.taskmanager_start_delay_us);
    }

    /// A message fault `of` made late arrived at its host: an `at-late-delivery` fault counting
    /// them fires once its n-th has (right after, at the same instant).
    fn late_delivered(&mut self, of: usize) {
        let now = self.now();
        self.faults.late_delivered(of, now, &mut self.q);
    }

    /// Sends a message now that waited (a delayed send, a held one after a heal).
    fn route_env(&mut self, env: Envelope) {
        let now = self.now();
        route(now, env.from, env.to, env.msg, &mut self.q, &mut self.net, &mut self.slab, &mut self.trace, env.late);
    }

    fn on_heal(&mut self, fault: usize) {
        if !self.net.heal(fault) {
            return;
        }
        // Held messages go out again in the order they were sent (TCP retransmits).
        let held = self.slab.take_held();
        let n = held.len() as u64;
        for slot in held {
            let mut env = self.slab.take(slot);
            env.late = env.late.or(Some(fault as u32));
            self.route_env(env);
        }
        let still = self.slab.held_len() as u64;
        self.note(Note::PartitionHealed { fault, released: n - still });
    }

    fn on_thaw(&mut self, host: HostId) {
        if self.net.condition(host) != HostCondition::Frozen {
            return;
        }
        self.net.thaw(host);
        let backlog = std::mem::take(&mut self.backlog[host.0 as usize]);
        self.note(Note::HostThawed { host, backlog: backlog.len() as u64 });
        // Worked off in order before anything else due now: a message that arrives at this
        // very instant queues behind those that waited (the kernel's socket buffers keep order).
        self.q.schedule_first(backlog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::msg::AttemptId;
    use crate::job::graph::SubtaskId;
    use crate::scenario::testing::keyed_job;

    /// A message its receiver does not handle is a violation of the run (so a scenario test,
    /// which requires none, fails), on every kind of process — not dropped silently.
    #[test]
    fn an_unhandled_message_is_a_violation_of_the_run() {
        let sc = keyed_job(2, 2);
        let mut w = World::new(&sc, false);
        // Instant 0: the JobManager and the TaskManagers start.
        while w.now() == 0 && w.step() {}
        assert!(w.alive_te(HostId::tm(0)).is_some() && w.jm.is_some(), "the processes are up");
        assert!(w.trace.violations.is_empty(), "{:?}", w.trace.violations);
        let tm = HostId::tm(0);
        let id = AttemptId { st: SubtaskId(0), attempt: 0, jm: 0 };
        let misrouted = [
            (tm, HostId::JOBMANAGER, Msg::LeaderChanged { jm: 0 }),
            (HostId::JOBMANAGER, tm, Msg::Register { te: 0, tm: 0, slots: 1 }),
            (tm, HostId::STORAGE, Msg::HaRecover { jm: 0 }),
            (tm, HostId::STORE, Msg::DiscardCheckpoint { job: 0, cp: 1 }),
            (HostId::JOBMANAGER, HostId::HA, Msg::UploadDone { id, cp: 1 }),
        ];
        let hash = w.hash_so_far();
        for (i, (from, to, msg)) in misrouted.into_iter().enumerate() {
            let name = msg.name();
            w.deliver(Envelope { from, to, msg, late: None });
            assert_eq!(w.trace.violations.len(), i + 1, "{name} to {}: {:?}", to.name(), w.trace.violations);
            let v = &w.trace.violations[i];
            assert!(v.contains("unhandled message") && v.contains(name) && v.contains(&to.name()), "{v}");
        }
        // Recording it changes nothing the process does: the trace hash is the same.
        assert_eq!(w.hash_so_far(), hash);
        let outcome = w.finish();
        assert_eq!(outcome.violations.len(), 5, "{:?}", outcome.violations);
    }
}
