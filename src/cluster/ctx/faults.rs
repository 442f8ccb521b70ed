//! The engine's fault bookkeeping (`FaultRt`): faults that fire inside user code (at a record),
//! `at-phase` faults armed on the probes the processes' code passes, `at-late-delivery` counts,
//! what the probes told, when each fault fired and how it is classified, and the workers an
//! active ResourceManager asked for. Its fields are private to this module: a process reaches it
//! only through the narrow reports on `Ctx` below (`probe`, `record_fault_fires`,
//! `request_workers`, `count_read`, `planted_rewind_positions`), the engine only through the
//! `FaultRt` methods.

use super::{Ctx, Event};
use crate::cluster::net::HostId;
use crate::fault::phase::{FaultCoverage, Probe, ProbeState, ProtocolPhase};
use crate::fault::{FaultAction, FaultSpec, FaultTrigger};
use crate::job::graph::{JobGraph, SubtaskId};
use crate::job::record::{Record, RecordId};
use crate::job::spec::OperatorId;
use crate::scenario::Scenario;
use crate::sim::{EventQueue, TimeUs};
use crate::trace::Note;
use std::collections::BTreeMap;

/// A fault that fires when an operator subtask processes its n-th record.
#[derive(Clone, Copy, Debug)]
struct RecordFault {
    op: OperatorId,
    index: u32,
    n: u64,
    fault: usize,
    poison: bool,
    /// The record that failed, once a poison fault fired: it fails again whenever replayed.
    poisoned: Option<RecordId>,
}

/// An armed `at-phase` fault.
#[derive(Clone, Debug)]
pub(crate) struct PhaseFault {
    fault: usize,
    pub(crate) phase: ProtocolPhase,
    pub(crate) st: SubtaskId,
    checkpoint: Option<u64>,
    after_us: u64,
    /// Once reached: the host of the attempt that reached the phase (`None` when the JobManager
    /// reached it) and the checkpoint.
    pub(crate) fired: Option<(Option<HostId>, u64)>,
}

/// The environment's side of injected faults: what fired when, what is armed, what the probes
/// told.
#[derive(Clone)]
pub(crate) struct FaultRt {
    fault_times: Vec<Option<TimeUs>>,
    record_faults: Vec<RecordFault>,
    has_record_fault: Vec<bool>,
    records_seen: BTreeMap<(u32, u32), u64>,
    records_read: u64,
    /// Workers an active ResourceManager asked Kubernetes/YARN for (the engine starts them).
    worker_requests: u32,
    /// Highest read position per source subtask over all attempts (only for the planted
    /// `no-source-rewind` bug).
    high_water: BTreeMap<(u32, u32), u64>,
    /// Armed `at-phase` faults.
    armed: Vec<PhaseFault>,
    /// What the protocol probes told.
    probes: ProbeState,
    /// Faults fired inside a handler (at-record), classified once the handler returns.
    unclassified: Vec<usize>,
    /// Every fired fault classified, in firing order.
    coverage: Vec<FaultCoverage>,
    /// `at-late-delivery` faults: (fault, the fault whose late messages it counts, how many
    /// more to wait for); fired ones leave.
    late: Vec<(usize, usize, u32)>,
}

impl FaultRt {
    /// Arms `faults` (the scenario's, or none for a fault-free run) of scenario `sc`.
    pub(crate) fn new(sc: &Scenario, graph: &JobGraph, faults: &[FaultSpec]) -> FaultRt {
        let mut has_record_fault = vec![false; graph.spec.operators.len()];
        let mut record_faults = Vec::new();
        let mut armed = Vec::new();
        let mut late = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            match (f.trigger, &f.action) {
                (FaultTrigger::AtRecord { n, poison }, FaultAction::FailTask(r)) => {
                    has_record_fault[r.operator.0 as usize] = true;
                    record_faults.push(RecordFault {
                        op: r.operator,
                        index: r.index,
                        n,
                        fault: i,
                        poison,
                        poisoned: None,
                    });
                }
                (FaultTrigger::AtPhase { phase, subtask, checkpoint, after_us }, _) => {
                    let st = graph.subtask_id(subtask);
                    armed.push(PhaseFault { fault: i, phase, st, checkpoint, after_us, fired: None });
                }
                (FaultTrigger::AtLateDelivery { of, nth }, _) => late.push((i, of, nth.max(1))),
                // Timed faults are scheduled by the engine; the loader accepts `at-record` only
                // for `fail-task`.
                _ => {}
            }
        }
        FaultRt {
            fault_times: vec![None; sc.faults.len()],
            record_faults,
            has_record_fault,
            records_seen: BTreeMap::new(),
            records_read: 0,
            worker_requests: 0,
            high_water: BTreeMap::new(),
            armed,
            probes: ProbeState { notify_pending: vec![false; graph.subtask_count()] },
            unclassified: Vec::new(),
            coverage: Vec::new(),
            late,
        }
    }

    /// Fault `index` fires now.
    pub(crate) fn fired(&mut self, index: usize, now: TimeUs) {
        self.fault_times[index] = Some(now);
    }
    /// How many faults have fired.
    pub(crate) fn fired_count(&self) -> usize {
        self.fault_times.iter().filter(|t| t.is_some()).count()
    }
    /// Faults fired inside the handler that just ran, not classified yet.
    #[inline]
    pub(crate) fn has_unclassified(&self) -> bool {
        !self.unclassified.is_empty()
    }
    pub(crate) fn take_unclassified(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.unclassified)
    }
    pub(crate) fn push_coverage(&mut self, c: FaultCoverage) {
        self.coverage.push(c);
    }
    /// The armed `at-phase` fault `fault`, if it is one.
    pub(crate) fn phase_fault(&self, fault: usize) -> Option<&PhaseFault> {
        self.armed.iter().find(|a| a.fault == fault)
    }
    /// Some subtask has not yet been notified of a completed checkpoint (what the probes told).
    pub(crate) fn notify_pending(&self) -> bool {
        self.probes.any_notify_pending()
    }
    /// The workers an active ResourceManager asked for since the last call.
    pub(crate) fn take_worker_requests(&mut self) -> u32 {
        std::mem::take(&mut self.worker_requests)
    }
    /// Some `at-late-delivery` fault still waits.
    #[inline]
    pub(crate) fn counts_late(&self) -> bool {
        !self.late.is_empty()
    }
    /// A message fault `of` made late arrived at its host: an `at-late-delivery` fault counting
    /// them fires once its n-th has (right after, at the same instant).
    pub(crate) fn late_delivered(&mut self, of: usize, now: TimeUs, q: &mut EventQueue<Event>) {
        self.late.retain_mut(|(fault, counts, left)| {
            if *counts != of {
                return true;
            }
            *left -= 1;
            if *left == 0 {
                q.schedule(now, Event::Fault { index: *fault as u32 });
            }
            *left > 0
        });
    }
    /// What the run's outcome reports: when each fault fired, records the sources read, and the
    /// classification of every fired fault.
    pub(crate) fn into_report(self) -> (Vec<Option<TimeUs>>, u64, Vec<FaultCoverage>) {
        (self.fault_times, self.records_read, self.coverage)
    }
}

impl Ctx<'_> {
    /// Environment hook: the process's code reached a point of the checkpoint protocol. The
    /// engine records it for classifying faults and fires an `at-phase` fault waiting for it
    /// (the fault event comes right after the event being handled, at the same instant).
    #[inline]
    pub fn probe(&mut self, p: Probe) {
        let n = self.graph.subtask_count();
        self.faults.probes.observe(n, p);
        if !self.faults.armed.is_empty() {
            self.probe_slow(p);
        }
    }

    fn probe_slow(&mut self, p: Probe) {
        let now = self.now;
        let (phase, st, cp, host) = match p {
            Probe::Subtask { phase, st, cp } => (phase, Some(st), cp, Some(self.host)),
            Probe::Completed { cp } => (ProtocolPhase::CompletedNotNotified, None, cp, None),
            Probe::Notified { .. } => return,
        };
        for a in &mut self.faults.armed {
            let hit = a.fired.is_none()
                && a.phase == phase
                && st.is_none_or(|s| s == a.st)
                && a.checkpoint.is_none_or(|c| c == cp)
                && now >= a.after_us;
            if hit {
                a.fired = Some((host, cp));
                self.q.schedule(now, Event::Fault { index: a.fault as u32 });
            }
        }
    }

    /// Environment hook: does an at-record fault fire for this record? (The fault lives in the
    /// user's code; only the scenario knows about it.)
    #[inline]
    pub fn record_fault_fires(&mut self, st_index: u32, op: OperatorId, rec: &Record) -> bool {
        self.faults.has_record_fault[op.0 as usize] && self.record_fault_slow(st_index, op, rec)
    }

    fn record_fault_slow(&mut self, st_index: u32, op: OperatorId, rec: &Record) -> bool {
        let seen = self.faults.records_seen.entry((op.0, st_index)).or_insert(0);
        *seen += 1;
        let seen = *seen;
        let f = &self.faults;
        let hit = f.record_faults.iter().position(|r| {
            r.op == op
                && r.index == st_index
                && (r.poisoned == Some(rec.origin) || (r.n == seen && f.fault_times[r.fault].is_none()))
        });
        let Some(k) = hit else { return false };
        let r = &mut self.faults.record_faults[k];
        let fault = r.fault;
        let again = r.poisoned.is_some();
        if r.poison {
            r.poisoned = Some(rec.origin);
        }
        if !again {
            self.faults.fault_times[fault] = Some(self.now);
            self.faults.unclassified.push(fault);
        }
        let graph = self.graph;
        let text = self.sc.faults[fault].action.describe(&|r| graph.subtask_ref_name(r));
        let text = if again {
            format!("{text}: poison record {} again", rec.origin)
        } else {
            format!("{text} at its record {seen} ({})", rec.origin)
        };
        self.note(Note::FaultInjected { fault, text });
        true
    }

    /// The active ResourceManager asks Kubernetes/YARN for `n` more workers (the engine starts
    /// them once the handler returns).
    pub fn request_workers(&mut self, n: u32) {
        self.faults.worker_requests += n;
    }

    /// A source subtask read one record; `next` is its partition's next offset. Counted for the
    /// outcome (and, with the planted `no-source-rewind` bug, remembered as a read position).
    #[inline]
    pub fn count_read(&mut self, st: SubtaskId, partition: u32, next: u64) {
        self.faults.records_read += 1;
        if self.bugs.no_source_rewind {
            let e = self.faults.high_water.entry((st.0, partition)).or_insert(0);
            *e = (*e).max(next);
        }
    }

    /// Only with the planted `no-source-rewind` bug (else `None`): the highest read position per
    /// partition any attempt of source subtask `st` reached — where the broken restore resumes.
    pub fn planted_rewind_positions(&self, st: SubtaskId) -> Option<Vec<(u32, u64)>> {
        self.bugs
            .no_source_rewind
            .then(|| self.faults.high_water.range((st.0, 0)..=(st.0, u32::MAX)).map(|(&(_, p), &o)| (p, o)).collect())
    }
}
