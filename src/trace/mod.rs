//! The structured trace: notable moments of a run (state transitions, faults, detection,
//! checkpoints, restores, commits) kept as data for the timeline, the JSON output and the TUI.
//! Every processed event also goes into the running trace hash (`sim::TraceHasher`); this log
//! is the readable subset.

use crate::cluster::net::HostId;
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
    /// The ResourceManager's heartbeat RPCs failed (connection refused); it closed the
    /// TaskManager's connection, which disconnects it from the JobMaster too.
    RmHeartbeatRpcFailures(u32),
    /// The ResourceManager's heartbeat monitor timed out.
    RmHeartbeatTimeout,
    /// The TaskManager said goodbye (graceful shutdown).
    Deregistered,
    /// Kubernetes told the active ResourceManager that the pod terminated.
    PodTerminated,
}

impl Detection {
    pub fn describe(&self) -> String {
        match *self {
            Detection::HeartbeatRpcFailures(n) => format!("{n} JobMaster heartbeat RPCs refused"),
            Detection::HeartbeatTimeout => "JobMaster heartbeat timeout".into(),
            Detection::RmHeartbeatRpcFailures(n) => format!("{n} ResourceManager heartbeat RPCs refused"),
            Detection::RmHeartbeatTimeout => "ResourceManager heartbeat timeout".into(),
            Detection::Deregistered => "the TaskManager deregistered (shutting down)".into(),
            Detection::PodTerminated => "Kubernetes reported the pod terminated".into(),
        }
    }
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
    /// The deploy RPC got no answer within `pekko.ask.timeout`.
    DeployTimeout { tm: u32 },
    /// No slot within `slot.request.timeout`.
    NoResourceAvailable,
    /// A standalone ResourceManager past its start-up time cannot meet the requirements.
    NotEnoughResources,
    /// The TaskManager is shutting down (SIGTERM) and fails its own tasks.
    TaskExecutorShuttingDown { tm: u32 },
    /// The TaskManager lost its JobManager (heartbeat timeout, disconnect, leader change) and
    /// failed the job's tasks.
    JobManagerLost { tm: u32 },
    /// The partition request to a producer's TaskManager was refused.
    PartitionConnection { remote_tm: u32 },
    /// Checkpoints expired beyond `execution.checkpointing.tolerable-failed-checkpoints`.
    CheckpointExpired,
    /// The sink's commit at end of input was refused: a newer attempt of the subtask had
    /// initialized its producer (this attempt is a zombie).
    ProducerFenced,
    /// updateTaskExecutionState for INITIALIZING or RUNNING failed or got no answer within
    /// `pekko.ask.timeout`: the TaskExecutor fails the task.
    StateUpdateFailed { tm: u32 },
    /// Deployment reconciliation: the TaskExecutor no longer reports an attempt the JobMaster
    /// deployed there (its final state update was lost).
    NotRunningOnTaskExecutor { tm: u32 },
    /// A state update that does not follow the state the JobMaster holds (one update overtook
    /// another): the JobMaster cancels and fails the attempt.
    UnexpectedTransition { from: ExecutionState, to: ExecutionState },
    /// A file of the checkpoint to restore was no longer in storage.
    RestoreFailed,
    /// The user code threw an error Flink classifies as non-recoverable
    /// (`SuppressRestartsException`): the job fails without consulting the restart strategy.
    Unrecoverable,
    /// Checkpoint storage could not be read while restoring (an outage of the storage service).
    StorageUnavailable,
    /// Checkpoints failed beyond `tolerable-failed-checkpoints`, the last one because a task's
    /// asynchronous part (its upload) failed.
    CheckpointUploadsFailed,
}

impl FailureCause {
    pub fn describe(&self) -> String {
        match *self {
            FailureCause::TaskException => "java.lang.RuntimeException: injected failure".into(),
            FailureCause::Unrecoverable => {
                "org.apache.flink.runtime.execution.SuppressRestartsException: Unrecoverable failure. This suppresses job restarts.".into()
            }
            FailureCause::ConnectionLost { remote_tm } => {
                format!(
                    "RemoteTransportException: Connection unexpectedly closed by remote task manager tm-{remote_tm}"
                )
            }
            FailureCause::TaskManagerLost { tm, detection } => match detection {
                Detection::HeartbeatRpcFailures(_) | Detection::RmHeartbeatRpcFailures(_) => {
                    format!("TaskManager tm-{tm} is no longer reachable ({})", detection.describe())
                }
                Detection::HeartbeatTimeout | Detection::RmHeartbeatTimeout => {
                    format!("TimeoutException: Heartbeat of TaskManager tm-{tm} timed out ({})", detection.describe())
                }
                Detection::Deregistered | Detection::PodTerminated => {
                    format!("TaskManager tm-{tm} disconnected ({})", detection.describe())
                }
            },
            FailureCause::DeployTimeout { tm } => {
                format!("TimeoutException: Cannot deploy task - TaskManager tm-{tm} not responding (pekko.ask.timeout)")
            }
            FailureCause::NotEnoughResources => {
                "NoResourceAvailableException: Could not acquire the minimum required resources".into()
            }
            FailureCause::TaskExecutorShuttingDown { tm } => {
                format!("FlinkException: The TaskExecutor is shutting down (tm-{tm})")
            }
            FailureCause::JobManagerLost { tm } => {
                format!("FlinkException: Disconnect from JobManager responsible for the job (tm-{tm})")
            }
            FailureCause::PartitionConnection { remote_tm } => {
                format!("PartitionConnectionException: Connecting to remote task manager tm-{remote_tm} has failed")
            }
            FailureCause::CheckpointExpired | FailureCause::CheckpointUploadsFailed => {
                "FlinkRuntimeException: Exceeded checkpoint tolerable failure threshold".into()
            }
            FailureCause::StateUpdateFailed { tm } => {
                format!("updateTaskExecutionState from tm-{tm} failed or timed out: the TaskExecutor fails the task")
            }
            FailureCause::UnexpectedTransition { from, to } => format!(
                "Concurrent unexpected state transition from {} (expected {}) to {}",
                from.name(),
                if to == ExecutionState::Running { "INITIALIZING" } else { "DEPLOYING" },
                to.name()
            ),
            FailureCause::RestoreFailed => {
                "FileNotFoundException: a state file of the checkpoint to restore is gone".into()
            }
            FailureCause::NotRunningOnTaskExecutor { tm } => {
                format!("FlinkException: Execution is unexpectedly no longer running on task executor tm-{tm}")
            }
            FailureCause::ProducerFenced => {
                "ProducerFencedException: a newer producer of this sink subtask initialized".into()
            }
            FailureCause::DeployFailed { tm } => {
                format!("RecipientUnreachableException: could not deploy to TaskManager tm-{tm}")
            }
            FailureCause::NoResourceAvailable => {
                "NoResourceAvailableException: slot request timed out (slot.request.timeout)".into()
            }
            FailureCause::StorageUnavailable => {
                "IOException: checkpoint storage unavailable: the state to restore could not be read".into()
            }
        }
    }
    /// A short tag for JSON and summaries.
    pub fn tag(&self) -> &'static str {
        match self {
            FailureCause::TaskException => "task-exception",
            FailureCause::Unrecoverable => "unrecoverable",
            FailureCause::ConnectionLost { .. } => "connection-lost",
            FailureCause::TaskManagerLost { detection, .. } => match detection {
                Detection::HeartbeatRpcFailures(_) => "heartbeat-rpc-failures",
                Detection::HeartbeatTimeout => "heartbeat-timeout",
                Detection::RmHeartbeatRpcFailures(_) => "rm-heartbeat-rpc-failures",
                Detection::RmHeartbeatTimeout => "rm-heartbeat-timeout",
                Detection::Deregistered => "taskmanager-deregistered",
                Detection::PodTerminated => "pod-terminated",
            },
            FailureCause::DeployFailed { .. } => "deploy-failed",
            FailureCause::DeployTimeout { .. } => "deploy-timeout",
            FailureCause::NoResourceAvailable => "no-resource-available",
            FailureCause::NotEnoughResources => "not-enough-resources",
            FailureCause::TaskExecutorShuttingDown { .. } => "taskexecutor-shutting-down",
            FailureCause::JobManagerLost { .. } => "jobmanager-lost",
            FailureCause::PartitionConnection { .. } => "partition-connection",
            FailureCause::CheckpointExpired => "checkpoint-expired",
            FailureCause::ProducerFenced => "producer-fenced",
            FailureCause::StateUpdateFailed { .. } => "state-update-failed",
            FailureCause::NotRunningOnTaskExecutor { .. } => "not-running-on-taskexecutor",
            FailureCause::UnexpectedTransition { .. } => "unexpected-state-transition",
            FailureCause::RestoreFailed => "restore-failed",
            FailureCause::StorageUnavailable => "storage-unavailable",
            FailureCause::CheckpointUploadsFailed => "checkpoint-uploads-failed",
        }
    }
}

/// Why a checkpoint was aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbortReason {
    JobFailover,
    Expired,
    /// A newer checkpoint completed first (dropSubsumedCheckpoints).
    Subsumed,
    /// A triggerCheckpoint ask failed (TRIGGER_CHECKPOINT_FAILURE; not counted).
    TriggerFailed,
    /// A task declined it (CHECKPOINT_DECLINED_TASK_NOT_READY / TASK_CLOSING: it was finishing
    /// when the trigger came; not counted).
    Declined,
    /// The job was cancelled (CHECKPOINT_COORDINATOR_SHUTDOWN).
    JobCancelled,
    /// A task's asynchronous part failed: its upload to checkpoint storage
    /// (CHECKPOINT_ASYNC_EXCEPTION; counted toward tolerable-failed-checkpoints).
    AsyncFailed,
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
        /// The job (submission, 0 the first) whose attempt restored: a TaskManager that froze
        /// may finish an earlier job's restore after a later job was submitted.
        job: u32,
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
        /// The job (submission, 0 the first) whose producer committed: an earlier job's
        /// committer on a TaskManager that froze may commit after a later job was submitted.
        job: u32,
    },
    SinkAborted {
        st: SubtaskId,
        transactions: u32,
        records: u64,
    },
    /// A `lose-messages` rule dropped a message (the first few per fault are noted).
    MessageLost {
        fault: usize,
        message: String,
        from: HostId,
        to: HostId,
    },
    /// A partition healed; the messages it held were sent on.
    PartitionHealed {
        fault: usize,
        released: u64,
    },
    /// A frozen host woke up with this many events waiting.
    HostThawed {
        host: HostId,
        backlog: u64,
    },
    /// A TaskManager's own view: it lost its JobManager and fails the job's tasks.
    JobManagerLostByTaskManager {
        tm: u32,
        reason: String,
    },
    /// A TaskManager freed the slots of a job whose JobManager it lost (`taskmanager.slot.timeout`).
    SlotsFreed {
        tm: u32,
        slots: u32,
    },
    /// The sink's store refused a zombie writer (an older epoch than the newest producer).
    ZombieFenced {
        st: SubtaskId,
        attempt: u32,
        epoch: u64,
        newest: u64,
    },
    /// The sink store accepted a write from an attempt older than one that had already written
    /// to the same sink subtask: two live attempts both wrote.
    DoubleWriter {
        st: SubtaskId,
        attempt: u32,
        newer: u32,
        records: u64,
    },
    /// The sink store got a commit for a transaction it had aborted: its records are gone.
    CommitOfAborted {
        st: SubtaskId,
        checkpoint: u64,
    },
    /// The sink store got writes for a transaction it had already committed.
    CommittedTxnWrittenAgain {
        st: SubtaskId,
        checkpoint: u64,
    },
    /// A new JobManager leader recovered the job from the HA store.
    LeaderElected {
        jm: u32,
        checkpoint: Option<u64>,
    },
    /// A user's operation on a job (cancel, stop-with-savepoint, submission) and what the
    /// JobManager did with it, or what a job's end did to its checkpoints.
    JobOperation {
        job: u32,
        text: String,
    },
    /// Something the user should know that is not a Flink event.
    Warning {
        text: String,
    },
    /// A new submission of the job starts (a new job id): from the snapshot `restore`, or from
    /// nothing.
    JobSubmitted {
        job: u32,
        restore: Option<u64>,
    },
    /// A RUNNING attempt is torn down by its TaskManager (failed or cancelled): the `buffered`
    /// records waiting in its input queues are dropped, and a source had read its partitions up
    /// to `read` (partition, next offset). Noted for every source and for other tasks that held
    /// records. Nothing is snapshotted at that moment: what it had done
    /// since the last checkpoint is redone from it.
    AttemptDiscarded {
        st: SubtaskId,
        buffered: u64,
        read: Vec<(u32, u64)>,
    },
    /// A new JobManager leader found the job's JobResult in the JobResultStore: the job ended
    /// (`status`) before, so it is not recovered.
    JobResultFound {
        jm: u32,
        job: u32,
        status: JobStatus,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEntry {
    pub at_us: TimeUs,
    #[serde(flatten)]
    pub note: Note,
}
