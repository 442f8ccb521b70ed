//! The engine's side of checkpoint-protocol phases: where an `at-phase` fault (armed on the
//! probes the processes' code passes, `Ctx::probe` in `ctx::faults`) hits and how its note says
//! so, and the classification of every fired fault by the job's phase and the operators it hit
//! (`explore`'s coverage). Read-only towards processes: the classification looks at the world as
//! an observer (`World::inspect`), and neither changes what a process does nor the trace hash.

use super::World;
use crate::cluster::inspect::TxnState;
use crate::cluster::net::HostId;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::fault::phase::{FaultCoverage, JobPhase};
use crate::fault::{FaultAction, HostRef};
use crate::job::graph::SubtaskId;

impl World<'_> {
    /// Where the subtask's newest attempt runs (alive TaskExecutors only).
    fn host_of_attempt(&self, st: SubtaskId) -> Option<HostId> {
        self.tes.iter().flatten().filter_map(|t| t.attempt_of(st).map(|a| (a, t.host()))).max().map(|(_, h)| h)
    }

    /// The TaskManager to kill for `KillTaskManagerOf`: the host of the attempt that reached the
    /// phase, else of the subtask's newest attempt.
    pub(super) fn phase_victim(&self, fault: usize, st: SubtaskId) -> Option<HostId> {
        let recorded = self.faults.phase_fault(fault).and_then(|a| a.fired).and_then(|f| f.0);
        recorded.or_else(|| self.host_of_attempt(st))
    }

    /// How the fault's note says where it fired: ` (snapshot-taken, checkpoint 5) on tm-1`.
    pub(super) fn phase_text(&self, fault: usize) -> String {
        let Some(a) = self.faults.phase_fault(fault) else { return String::new() };
        let cp = a.fired.map_or(0, |f| f.1);
        let what = if a.phase.is_checkpoint_phase() { "checkpoint" } else { "restoring checkpoint" };
        let cp = if cp > 0 { format!(", {what} {cp}") } else { String::new() };
        let host = self.phase_victim(fault, a.st).and_then(|h| h.tm_index()).map(|t| format!(" on tm-{t}"));
        format!(" ({}{cp}){}", a.phase.name(), host.unwrap_or_default())
    }

    /// Classifies fault `fault` now: the job's phase and the operator kinds on the tasks it hits.
    pub(super) fn classify(&mut self, fault: usize) {
        let Some(spec) = self.sc.faults.get(fault) else { return };
        let view = self.inspect();
        let phase = self.job_phase(&view);
        let tms: Vec<u32> = match &spec.action {
            FaultAction::KillTaskManager(tm)
            | FaultAction::StopTaskManager(tm)
            | FaultAction::LoseTaskManagerHost(tm)
            | FaultAction::FreezeTaskManager { tm, .. }
            | FaultAction::RestartTaskManager(tm) => vec![*tm],
            FaultAction::KillTaskManagerOf(r) => {
                let st = self.graph.subtask_id(*r);
                self.phase_victim(fault, st).and_then(|h| h.tm_index()).into_iter().collect()
            }
            FaultAction::Partition { a, b, .. } => named_tms(a.iter().chain(b)),
            FaultAction::LoseMessages(rule) | FaultAction::DelayMessages { rule, .. } => {
                named_tms(rule.from.iter().chain(&rule.to))
            }
            FaultAction::FailTask(_)
            | FaultAction::FailTaskUnrecoverable(_)
            | FaultAction::RollingUpdate { .. }
            | FaultAction::KillJobManager
            | FaultAction::CancelJob
            | FaultAction::StopWithSavepoint
            | FaultAction::SubmitJob(_)
            | FaultAction::StorageOutage { .. }
            | FaultAction::StorageSlow { .. } => Vec::new(),
        };
        let job_wide = tms.is_empty()
            && !matches!(
                spec.action,
                FaultAction::FailTask(_) | FaultAction::FailTaskUnrecoverable(_) | FaultAction::KillTaskManagerOf(_)
            );
        let mut tasks: Vec<SubtaskId> = Vec::new();
        if let FaultAction::FailTask(r) | FaultAction::FailTaskUnrecoverable(r) = &spec.action {
            tasks.push(self.graph.subtask_id(*r));
        }
        for h in &view.hosts {
            if let Some(p) = &h.process
                && (job_wide || tms.contains(&h.tm))
            {
                tasks.extend(p.tasks.iter().map(|t| t.st));
            }
        }
        let mut operators: Vec<&'static str> = tasks
            .iter()
            .flat_map(|st| self.graph.task_of(*st).operators.iter())
            .map(|o| self.graph.spec.operators[o.0 as usize].kind.name())
            .collect();
        operators.sort_unstable();
        operators.dedup();
        self.faults.push_coverage(FaultCoverage { fault, kind: spec.action.kind_name(), phase, operators });
    }

    fn job_phase(&self, v: &crate::cluster::inspect::Inspection) -> JobPhase {
        let Some(jm) = v.jobmanager.as_ref().filter(|j| j.leader && j.job_status == JobStatus::Running) else {
            return JobPhase::Restarting;
        };
        let states = || jm.subtasks.iter().map(|s| s.1);
        let settled = |s: ExecutionState| {
            matches!(
                s,
                ExecutionState::Deploying
                    | ExecutionState::Initializing
                    | ExecutionState::Running
                    | ExecutionState::Finished
            )
        };
        if !states().all(settled) {
            return JobPhase::Restarting;
        }
        if states().any(|s| s == ExecutionState::Deploying) {
            return JobPhase::Deploying;
        }
        if states().any(|s| s == ExecutionState::Initializing) {
            return JobPhase::Restoring;
        }
        let tasks = || v.hosts.iter().filter_map(|h| h.process.as_ref()).flat_map(|p| p.tasks.iter());
        if !jm.pending.is_empty() {
            let barriers = v.edges.iter().any(|e| e.barriers_on_wire + e.barriers_queued > 0);
            if barriers || tasks().any(|t| t.alignment.is_some()) {
                return JobPhase::BarriersInFlight;
            }
            if tasks().any(|t| !t.snapshots_in_progress.is_empty()) {
                return JobPhase::Snapshotting;
            }
            return JobPhase::WaitingForAcks;
        }
        if self.faults.notify_pending() {
            return JobPhase::NotifyPending;
        }
        if v.txns.iter().any(|t| t.state == TxnState::Prepared) {
            return JobPhase::PreCommitted;
        }
        JobPhase::Running
    }
}

fn named_tms<'a>(hosts: impl Iterator<Item = &'a HostRef>) -> Vec<u32> {
    hosts.filter_map(|h| if let HostRef::TaskManager(n) = h { Some(*n) } else { None }).collect()
}
