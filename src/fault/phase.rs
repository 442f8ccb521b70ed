//! Checkpoint-protocol phases, from the environment's side: where a subtask is in the protocol
//! when an `at-phase` fault fires (`ProtocolPhase`, what `sweep` crashes at), and which phase the
//! whole job is in when any fault fires (`JobPhase`, what `explore`'s coverage counts). The engine
//! learns both from probes the processes' code passes to it (`Ctx::probe`) — the way a fault
//! injector hooks into running code; no process reads them.

use crate::job::graph::SubtaskId;

/// A point in the checkpoint protocol of one subtask where an `at-phase` fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolPhase {
    /// The first barrier of a checkpoint arrived on one input of a task with several input
    /// channels: alignment started, the other inputs' barriers are still on their way.
    BarrierOnSomeInputs,
    /// The synchronous part of the snapshot is done and the barrier went downstream; the upload
    /// (and a two-phase-commit sink's pre-commit) is in flight, nothing acknowledged yet.
    SnapshotTaken,
    /// The subtask sent its acknowledgement; the checkpoint is not complete yet.
    Acknowledged,
    /// The JobManager completed the checkpoint; `notifyCheckpointComplete` is on its way to the
    /// subtask (not delivered).
    CompletedNotNotified,
    /// A two-phase-commit sink's transaction of the checkpoint is prepared (the store confirmed
    /// the pre-commit); it is not committed.
    PreCommitted,
    /// A restarted attempt is loading the checkpoint's state (download or local copy).
    Restoring,
    /// A restarted attempt arrived at its TaskManager and is being deployed.
    Deploying,
}

impl ProtocolPhase {
    pub const ALL: [ProtocolPhase; 7] = [
        ProtocolPhase::BarrierOnSomeInputs,
        ProtocolPhase::SnapshotTaken,
        ProtocolPhase::Acknowledged,
        ProtocolPhase::CompletedNotNotified,
        ProtocolPhase::PreCommitted,
        ProtocolPhase::Restoring,
        ProtocolPhase::Deploying,
    ];
    pub const NAMES: [&'static str; 7] = [
        "barrier-on-some-inputs",
        "snapshot-taken",
        "acknowledged",
        "completed-not-notified",
        "pre-committed",
        "restoring",
        "deploying",
    ];
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
    pub fn parse(s: &str) -> Option<ProtocolPhase> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
    /// Phases of a checkpoint (the rest are phases of a restart after a failure).
    pub fn is_checkpoint_phase(self) -> bool {
        !matches!(self, ProtocolPhase::Restoring | ProtocolPhase::Deploying)
    }
}

/// What the processes' code tells the environment (never another process).
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// A subtask attempt reached `phase`. `cp` is the checkpoint (for `restoring` and
    /// `deploying`, the checkpoint the attempt restores from; 0 for none).
    Subtask { phase: ProtocolPhase, st: SubtaskId, cp: u64 },
    /// The JobManager completed checkpoint `cp` and sends the notifications now.
    Completed { cp: u64 },
    /// A subtask attempt received `notifyCheckpointComplete`.
    Notified { st: SubtaskId },
}

/// The phase the job is in at an instant, as the environment sees it: the first that applies,
/// in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobPhase {
    /// No JobManager leader, the job is not RUNNING, or some subtask is failed, cancelling or
    /// waiting for a slot (a failover in progress).
    Restarting,
    /// Some subtask is DEPLOYING.
    Deploying,
    /// Some subtask is INITIALIZING (restoring state, initializing its sink).
    Restoring,
    /// A checkpoint is pending and a barrier is on the wire or queued, or a task is aligning.
    BarriersInFlight,
    /// A checkpoint is pending and some task has snapshotted it but not acknowledged yet
    /// (upload or pre-commit in flight).
    Snapshotting,
    /// A checkpoint is pending, no barrier and no snapshot work is left at the tasks: the
    /// trigger or the acknowledgements are on their way.
    WaitingForAcks,
    /// A checkpoint completed and some subtask has not received its notification yet.
    NotifyPending,
    /// Transactions are pre-committed in the sink store and not committed (nothing pending).
    PreCommitted,
    /// Every subtask running, no checkpoint in flight, nothing uncommitted.
    Running,
}

impl JobPhase {
    pub const ALL: [JobPhase; 9] = [
        JobPhase::Restarting,
        JobPhase::Deploying,
        JobPhase::Restoring,
        JobPhase::BarriersInFlight,
        JobPhase::Snapshotting,
        JobPhase::WaitingForAcks,
        JobPhase::NotifyPending,
        JobPhase::PreCommitted,
        JobPhase::Running,
    ];
    pub const NAMES: [&'static str; 9] = [
        "restarting",
        "deploying",
        "restoring",
        "barriers-in-flight",
        "snapshotting",
        "waiting-for-acks",
        "notify-pending",
        "pre-committed",
        "running",
    ];
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
    pub fn parse(s: &str) -> Option<JobPhase> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
    /// Whether a job can be in this phase: checkpoint phases need checkpointing, `pre-committed`
    /// a two-phase-commit sink too.
    pub fn possible(self, checkpointing: bool, two_phase_sink: bool) -> bool {
        match self {
            JobPhase::BarriersInFlight
            | JobPhase::Snapshotting
            | JobPhase::WaitingForAcks
            | JobPhase::NotifyPending => checkpointing,
            JobPhase::PreCommitted => checkpointing && two_phase_sink,
            _ => true,
        }
    }
}

/// One fired fault, classified: its kind (the scenario file's action name), the job's phase at
/// that instant, and the operator kinds on the tasks it hit (sorted; empty when it hit none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultCoverage {
    pub fault: usize,
    pub kind: &'static str,
    pub phase: JobPhase,
    pub operators: Vec<&'static str>,
}

/// What the environment keeps from the probes for classifying: which subtasks still wait for
/// the notification of the latest completed checkpoint.
#[derive(Clone, Debug, Default)]
pub struct ProbeState {
    pub notify_pending: Vec<bool>,
}

impl ProbeState {
    pub fn observe(&mut self, n_subtasks: usize, p: Probe) {
        if self.notify_pending.len() != n_subtasks {
            self.notify_pending = vec![false; n_subtasks];
        }
        match p {
            Probe::Completed { .. } => self.notify_pending.iter_mut().for_each(|b| *b = true),
            Probe::Notified { st } => self.notify_pending[st.0 as usize] = false,
            // A new attempt never gets the notification of a checkpoint completed before it.
            Probe::Subtask { phase: ProtocolPhase::Deploying, st, .. } => self.notify_pending[st.0 as usize] = false,
            Probe::Subtask { .. } => {}
        }
    }
    pub fn any_notify_pending(&self) -> bool {
        self.notify_pending.iter().any(|b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in ProtocolPhase::ALL {
            assert_eq!(ProtocolPhase::parse(p.name()), Some(p));
        }
        for p in JobPhase::ALL {
            assert_eq!(JobPhase::parse(p.name()), Some(p));
        }
        assert_eq!(ProtocolPhase::parse("snapshot"), None);
    }

    #[test]
    fn notifications_pending_until_each_subtask_is_told() {
        let mut s = ProbeState::default();
        s.observe(2, Probe::Completed { cp: 3 });
        assert!(s.any_notify_pending());
        s.observe(2, Probe::Notified { st: SubtaskId(0) });
        assert!(s.any_notify_pending());
        s.observe(2, Probe::Subtask { phase: ProtocolPhase::Deploying, st: SubtaskId(1), cp: 3 });
        assert!(!s.any_notify_pending());
    }
}
