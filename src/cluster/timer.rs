//! The processes' own timers, below both the processes that set them and the engine that fires
//! them (`ctx::Timer` carries one of these): a timer goes back to the process incarnation that
//! set it, never to another.

use super::msg::AttemptId;
use super::state::ExecutionState;

/// The JobManager process's own timers.
#[derive(Clone, Copy, Debug, Hash)]
pub enum JmTimer {
    /// The JobMaster's heartbeat loop (one loop over all TaskManagers, as
    /// HeartbeatManagerSenderImpl does).
    HeartbeatTick,
    /// The ResourceManager's heartbeat loop, with its own phase.
    RmHeartbeatTick,
    /// A heartbeat monitor looks at its deadline.
    HeartbeatCheck {
        te: u32,
        rm: bool,
    },
    AskTimeout {
        ask: u64,
    },
    RestartTimer {
        failover: u32,
    },
    CheckpointTick,
    CheckpointExpired,
    SlotRequestTimeout {
        group: u32,
        generation: u64,
    },
    /// `resourcemanager.standalone.start-up-time` is over.
    StartUpOver,
    /// This JobManager becomes the leader (HA: after the old leader's lease/session expired).
    Leadership,
    /// The user submits the job (generation 0 only).
    Submit,
    /// A submission that waited for the previous job's end goes ahead.
    DeferredSubmit,
}

/// A TaskExecutor's own timers.
#[derive(Clone, Copy, Debug, Hash)]
pub enum TeTimer {
    /// Registration at the JobManager process: try (again).
    Register {
        attempt: u32,
    },
    /// The JobManager heartbeat monitor looks at its deadline.
    JmHeartbeatCheck,
    /// A job's slots held inactive since the JobManager was lost are freed.
    FreeSlots {
        since_us: u64,
    },
    SourceEmit {
        id: AttemptId,
    },
    Drain {
        id: AttemptId,
        input: u32,
    },
    DeployDone {
        id: AttemptId,
    },
    RestoredLocally {
        id: AttemptId,
    },
    /// An updateTaskExecutionState ask for a non-terminal state got no answer in time.
    StateUpdateTimeout {
        id: AttemptId,
        state: ExecutionState,
    },
    /// `aligned-checkpoint-timeout` since the barrier of checkpoint `cp` left its source: a
    /// task still aligning it (or holding its barrier in a queue) turns it unaligned.
    AlignmentTimeout {
        id: AttemptId,
        cp: u64,
    },
}
