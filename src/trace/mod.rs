//! The structured trace: notable moments of a run (state transitions, faults, detection,
//! checkpoints, restores, commits) kept as data for the timeline, the JSON output and the TUI.
//! Every processed event also goes into the running trace hash (`sim::TraceHasher`); this log
//! is the readable subset.

use crate::cluster::state::{ExecutionState, JobStatus};
use crate::job::graph::SubtaskId;
use crate::sim::TimeUs;
use serde::Serialize;

/// How the JobManager learned that a TaskManager is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detection {
    /// `heartbeat.rpc-failure-threshold` consecutive heartbeat RPCs failed (connection refused).
    HeartbeatRpcFailures(u32),
    /// No heartbeat answer for `heartbeat.timeout`.
    HeartbeatTimeout,
}

/// Why a subtask attempt failed, in Flink's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCause {
    /// The user code threw (a fault of the scenario).
    TaskException,
    /// A data connection to a task on this TaskManager closed (the remote process died).
    ConnectionLost { remote_tm: u32 },
    /// The JobManager disconnected the TaskManager the attempt ran on.
    TaskManagerLost { tm: u32, detection: Detection },
    /// The deploy RPC could not reach the TaskManager.
    DeployFailed { tm: u32 },
    /// No slot within `slot.request.timeout`.
    NoResourceAvailable,
}

impl FailureCause {
    pub fn describe(&self) -> String {
        match *self {
            FailureCause::TaskException => "java.lang.RuntimeException: injected failure".into(),
            FailureCause::ConnectionLost { remote_tm } => {
                format!(
                    "RemoteTransportException: Connection unexpectedly closed by remote task manager tm-{remote_tm}"
                )
            }
            FailureCause::TaskManagerLost { tm, detection: Detection::HeartbeatRpcFailures(n) } => {
                format!("TaskManager tm-{tm} is no longer reachable ({n} heartbeat RPCs failed)")
            }
            FailureCause::TaskManagerLost { tm, detection: Detection::HeartbeatTimeout } => {
                format!("TimeoutException: Heartbeat of TaskManager tm-{tm} timed out")
            }
            FailureCause::DeployFailed { tm } => {
                format!("RecipientUnreachableException: could not deploy to TaskManager tm-{tm}")
            }
            FailureCause::NoResourceAvailable => {
                "NoResourceAvailableException: slot request timed out (slot.request.timeout)".into()
            }
        }
    }
    /// A short tag for JSON and summaries.
    pub fn tag(&self) -> &'static str {
        match self {
            FailureCause::TaskException => "task-exception",
            FailureCause::ConnectionLost { .. } => "connection-lost",
            FailureCause::TaskManagerLost { detection: Detection::HeartbeatRpcFailures(_), .. } => {
                "heartbeat-rpc-failures"
            }
            FailureCause::TaskManagerLost { detection: Detection::HeartbeatTimeout, .. } => "heartbeat-timeout",
            FailureCause::DeployFailed { .. } => "deploy-failed",
            FailureCause::NoResourceAvailable => "no-resource-available",
        }
    }
}

/// Why a checkpoint was aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbortReason {
    JobFailover,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Note {
    JobStatus {
        from: JobStatus,
        to: JobStatus,
    },
    TaskState {
        st: SubtaskId,
        attempt: u32,
        from: ExecutionState,
        to: ExecutionState,
    },
    FaultInjected {
        fault: usize,
        text: String,
    },
    /// A task failed on its TaskManager (before the JobManager knows).
    TaskFailed {
        st: SubtaskId,
        attempt: u32,
        cause: FailureCause,
    },
    /// The scheduler deploys an attempt into a slot of TaskManager `tm`.
    Deployed {
        st: SubtaskId,
        tm: u32,
    },
    /// The JobManager handles a failure: failover `failover` (index into the run's failovers).
    FailoverStarted {
        failover: usize,
    },
    /// The JobManager gave up on a TaskManager.
    TaskManagerLost {
        tm: u32,
        detection: Detection,
    },
    TaskManagerRegistered {
        tm: u32,
        slots: u32,
    },
    RestartScheduled {
        failover: usize,
        delay_us: u64,
    },
    NoRestart {
        failover: usize,
        reason: String,
    },
    SlotsMissing {
        subtasks: u32,
    },
    CheckpointTriggered {
        cp: u64,
    },
    CheckpointCompleted {
        cp: u64,
        bytes: u64,
        duration_us: u64,
        alignment_us: u64,
    },
    CheckpointAborted {
        cp: u64,
        reason: AbortReason,
    },
    /// A restarted subtask loaded its state.
    Restored {
        st: SubtaskId,
        cp: Option<u64>,
        bytes: u64,
        local: bool,
        duration_us: u64,
    },
    /// A restarted source subtask's read positions (partition, next offset).
    SourceRewound {
        st: SubtaskId,
        positions: Vec<(u32, u64)>,
    },
    SinkCommitted {
        st: SubtaskId,
        checkpoint: u64,
        records: u64,
        recovered: bool,
    },
    SinkAborted {
        st: SubtaskId,
        transactions: u32,
        records: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEntry {
    pub at_us: TimeUs,
    #[serde(flatten)]
    pub note: Note,
}
