//! Flink's state machines: `ExecutionState` of one subtask attempt and `JobStatus` of the job.

/// `org.apache.flink.runtime.execution.ExecutionState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    Created,
    Scheduled,
    Deploying,
    Initializing,
    Running,
    Finished,
    Canceling,
    Canceled,
    Failed,
}

impl ExecutionState {
    pub fn name(self) -> &'static str {
        match self {
            ExecutionState::Created => "CREATED",
            ExecutionState::Scheduled => "SCHEDULED",
            ExecutionState::Deploying => "DEPLOYING",
            ExecutionState::Initializing => "INITIALIZING",
            ExecutionState::Running => "RUNNING",
            ExecutionState::Finished => "FINISHED",
            ExecutionState::Canceling => "CANCELING",
            ExecutionState::Canceled => "CANCELED",
            ExecutionState::Failed => "FAILED",
        }
    }
    pub fn is_terminal(self) -> bool {
        matches!(self, ExecutionState::Finished | ExecutionState::Canceled | ExecutionState::Failed)
    }
    /// Whether Flink allows `self → next` (ExecutionState javadoc; CANCELING/FAILED from any
    /// non-terminal state).
    pub fn can_become(self, next: ExecutionState) -> bool {
        use ExecutionState::*;
        match (self, next) {
            (s, Canceling | Failed) => !s.is_terminal() && s != next,
            (Canceling, Canceled) => true,
            (Created, Scheduled) | (Scheduled, Deploying) | (Deploying, Initializing) => true,
            (Initializing, Running) | (Running, Finished) => true,
            // A task that never got deployed is cancelled without a TaskManager round trip.
            (Created | Scheduled, Canceled) => true,
            _ => false,
        }
    }
}

/// `org.apache.flink.api.common.JobStatus` (the states this simulator reaches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Created,
    Running,
    Restarting,
    Failing,
    Failed,
    Finished,
    /// The user cancelled the job; its tasks are being cancelled.
    Cancelling,
    /// The user cancelled the job and every task is cancelled (globally terminal).
    Canceled,
    /// HA: the JobManager lost leadership; a new leader will recover the job.
    Suspended,
    /// Not a Flink status: the JobManager died without HA, so no process knows the job any more;
    /// a client asking for it gets Flink's `FlinkJobNotFoundException` ("Could not find Flink
    /// job"). Called LOST before; scenario files may still say so.
    NotFound,
}

impl JobStatus {
    /// FINISHED, FAILED or CANCELED: the job is over (a later submission starts a new job).
    pub fn is_globally_terminal(self) -> bool {
        matches!(self, JobStatus::Finished | JobStatus::Failed | JobStatus::Canceled)
    }
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::Restarting => "RESTARTING",
            JobStatus::Failing => "FAILING",
            JobStatus::Failed => "FAILED",
            JobStatus::Finished => "FINISHED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Suspended => "SUSPENDED",
            JobStatus::NotFound => "NOT_FOUND",
        }
    }
    pub fn parse(s: &str) -> Option<JobStatus> {
        [
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Restarting,
            JobStatus::Failing,
            JobStatus::Failed,
            JobStatus::Finished,
            JobStatus::Cancelling,
            JobStatus::Canceled,
            JobStatus::Suspended,
            JobStatus::NotFound,
        ]
        .into_iter()
        .find(|j| j.name().eq_ignore_ascii_case(s))
        .or_else(|| s.eq_ignore_ascii_case("LOST").then_some(JobStatus::NotFound))
    }
}
