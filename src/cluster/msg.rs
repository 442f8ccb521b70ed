//! Everything one process can tell another: Flink's RPCs (JobMaster, ResourceManager and
//! TaskExecutor gateways), the data plane between TaskManagers (records, barriers, credit), and
//! the calls to external systems (checkpoint storage, the sink's transactional store, the HA
//! store). A message travels over `net::Network` from one host to another; nothing else crosses
//! a process boundary.

use super::net::HostId;
use super::state::{ExecutionState, JobStatus};
use crate::fault::MessageKind;
use crate::job::graph::{ChannelId, SubtaskId};
use crate::job::record::Record;
use crate::job::spec::OperatorId;
use crate::trace::FailureCause;
use std::collections::BTreeMap;

/// A job that reached a globally terminal state, as the Dispatcher archives it and as the
/// JobResultStore (with HA) keeps it for a later leader.
#[derive(Clone, Copy, Debug)]
pub struct EndedJob {
    pub job: u32,
    pub status: JobStatus,
    /// Its latest completed checkpoint (what its Checkpoints tab shows as the latest).
    pub latest_checkpoint: Option<u64>,
    /// The savepoint a stop-with-savepoint took, if one completed.
    pub savepoint: Option<u64>,
}

/// What travels in a data channel.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    Record(Record),
    Barrier(Barrier),
    EndOfPartition,
}

/// A checkpoint barrier (Flink's `CheckpointBarrier`): the checkpoint, when the source emitted
/// it (the start of the checkpoint, against which `aligned-checkpoint-timeout` is measured), and
/// whether it is a savepoint's (always aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Barrier {
    pub cp: u64,
    pub at_us: u64,
    pub savepoint: bool,
}

/// One execution attempt as every process names it: subtask, attempt number, and the JobMaster
/// generation that created it (Flink's ExecutionAttemptID holds the ExecutionGraphID, so a new
/// JobMaster's attempts never collide with an old one's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId {
    pub st: SubtaskId,
    pub attempt: u32,
    pub jm: u32,
}

/// A file in checkpoint storage: `<job-id>/chk-<cp>/<subtask>` (cp 0: a finished task's final
/// state). `job` is the job's submission (0 the first): each submission is a job of its own,
/// with its own directory, and its checkpoint ids start again unless it restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    pub job: u32,
    pub cp: u64,
    pub st: SubtaskId,
}

/// A transaction's name: sink subtask and the checkpoint that will pre-commit it (Kafka's
/// transactional id `prefix-subtask-checkpoint`). The writer's epoch is not part of the name:
/// a zombie and its replacement write to the same id, and only fencing keeps them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId {
    pub sink: OperatorId,
    pub index: u32,
    pub checkpoint: u64,
}

/// State of one subtask in a checkpoint, as uploaded to checkpoint storage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubtaskSnapshot {
    /// Source read positions: (partition, next offset).
    pub source_positions: Vec<(u32, u64)>,
    /// Whether the source had read its whole log when it snapshotted.
    pub source_at_end: bool,
    /// Keyed state per chained keyed operator: (operator, key → value).
    pub keyed: Vec<(OperatorId, BTreeMap<u32, i64>)>,
    /// Sink committables not yet known to be committed: pre-committed transactions.
    pub committables: Vec<TxnId>,
    /// Unaligned checkpoints: per input channel, the records it had received before its
    /// barrier but not yet processed when the task snapshotted (the channel state, replayed
    /// into that input first on restore). Empty for an aligned checkpoint.
    pub channel_state: Vec<Vec<Record>>,
    pub bytes: u64,
    /// An incremental checkpoint (RocksDB): the bytes it uploads, the files the last completed
    /// checkpoint does not have; `bytes` stays the full state a restore downloads.
    pub uploaded_bytes: Option<u64>,
}

/// Bytes a snapshot takes in storage: fixed metadata plus entries (heap backend, roughly).
const SNAPSHOT_BASE_BYTES: u64 = 1024;
const BYTES_PER_OFFSET: u64 = 16;
const BYTES_PER_COMMITTABLE: u64 = 128;
/// A record persisted as channel state (a key and a value, serialized in a network buffer).
pub const BYTES_PER_IN_FLIGHT_RECORD: u64 = 32;

pub fn snapshot_bytes(s: &SubtaskSnapshot, ops: &[crate::job::spec::OperatorSpec]) -> u64 {
    let keyed: u64 = s
        .keyed
        .iter()
        .map(|(op, m)| (m.len() as u64).saturating_mul(ops.get(op.0 as usize).map_or(0, |o| o.state_bytes_per_key)))
        .fold(0, u64::saturating_add);
    SNAPSHOT_BASE_BYTES
        .saturating_add(keyed)
        .saturating_add(s.source_positions.len() as u64 * BYTES_PER_OFFSET)
        .saturating_add(s.committables.len() as u64 * BYTES_PER_COMMITTABLE)
        .saturating_add(s.channel_state.iter().map(|c| c.len() as u64).sum::<u64>() * BYTES_PER_IN_FLIGHT_RECORD)
}

/// What a task measured of its part of a checkpoint, sent with its acknowledgement (Flink's
/// CheckpointMetrics, shown per subtask in the Web UI's Checkpoints tab).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointMetrics {
    /// From the first barrier of the checkpoint to the last (aligned checkpoints): the inputs
    /// that delivered it are blocked meanwhile. 0 for a source and a one-input task.
    pub alignment_us: u64,
    /// From the snapshot to the acknowledgement: the upload of the state (and a sink's
    /// pre-commit), while the task went on processing.
    pub async_us: u64,
    /// Records the task took in meanwhile: what processing did during the asynchronous part.
    pub processed_during_async: u64,
    /// Unaligned checkpoints: bytes of the records in flight the snapshot persisted (channel
    /// state; Flink's `bytesPersistedDuringAlignment`, the Web UI's "Persisted Data").
    pub persisted_bytes: u64,
    /// Bytes the subtask uploaded for this checkpoint: its full state, or with incremental
    /// checkpoints only what changed (Flink's checkpointed size against the full state size).
    pub uploaded_bytes: u64,
}

/// Where a restarted attempt's state comes from (Flink's JobManagerTaskRestore).
#[derive(Clone, Debug)]
pub struct RestoreDesc {
    pub cp: u64,
    /// Files to read: its own for sources and sinks, every file of its keyed operator (the
    /// key groups it owns are picked out of them).
    pub files: Vec<FileKey>,
    pub bytes: u64,
}

/// `submitTask`'s TaskDeploymentDescriptor: the attempt, its restore, where its inputs come from.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub id: AttemptId,
    /// The job (its submission) the attempt belongs to.
    pub job: u32,
    /// The TaskExecutor (ResourceID) the slot was offered by.
    pub te: u32,
    pub restore: Option<RestoreDesc>,
    /// Per input channel (in the subtask's input order): the producer's host and attempt.
    pub inputs: Vec<(HostId, u32)>,
}

/// Which ask a reply (or a refusal) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AskRef {
    /// One of the JobManager process's asks, by its number.
    Jm(u64),
    /// A TaskExecutor's registration attempt.
    Register { te: u32 },
    /// A consumer's partition request.
    PartitionRequest { consumer: AttemptId, input: u32 },
    /// A TaskExecutor's updateTaskExecutionState for a non-terminal state: it fails the task
    /// when the update fails or gets no answer.
    TaskState { id: AttemptId, state: ExecutionState },
}

/// Which side of the JobManager process sends a heartbeat request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HbSender {
    JobMaster,
    ResourceManager,
}

#[derive(Clone, Debug)]
pub enum Msg {
    // ---- TaskExecutor → JobManager process (ResourceManager + JobMaster) ----
    /// registerTaskExecutor + the JobMaster connection + offerSlots, as one registration.
    Register {
        te: u32,
        tm: u32,
        slots: u32,
    },
    /// The answer to a heartbeat request (heartbeatFromTaskManager), with the deployed attempts.
    HeartbeatAnswer {
        te: u32,
        from: HbSender,
        jm: u32,
        /// To the JobMaster: the attempts of its job deployed on this TaskExecutor (the
        /// ExecutionDeploymentReport the JobMaster reconciles with what it deployed there).
        deployed: Vec<AttemptId>,
    },
    /// updateTaskExecutionState.
    TaskState {
        id: AttemptId,
        te: u32,
        state: ExecutionState,
        cause: Option<FailureCause>,
        failed_at_us: u64,
    },
    /// A finished task's final state, stored for later checkpoints (FLIP-147).
    TaskFinished {
        id: AttemptId,
        file: FileKey,
        bytes: u64,
    },
    /// acknowledgeCheckpoint (a tell).
    AckCheckpoint {
        id: AttemptId,
        cp: u64,
        file: FileKey,
        bytes: u64,
        metrics: CheckpointMetrics,
    },
    /// declineCheckpoint (a tell): the task cannot take part in the checkpoint
    /// (`Task.triggerCheckpointBarrier` on a task no longer running or whose mailbox is closed:
    /// CHECKPOINT_DECLINED_TASK_NOT_READY / TASK_CLOSING); the coordinator aborts it.
    DeclineCheckpoint {
        id: AttemptId,
        cp: u64,
        /// The asynchronous part failed (CHECKPOINT_ASYNC_EXCEPTION, counted), rather than the
        /// task not being ready (not counted).
        async_failed: bool,
    },
    /// disconnectTaskManager: a TaskExecutor that shuts down says goodbye.
    Unregister {
        te: u32,
    },
    /// The answer to submitTask / cancelTask.
    AskReply {
        ask: AskRef,
        ok: bool,
    },

    // ---- JobManager process → TaskExecutor ----
    RegisterReply {
        te: u32,
        jm: u32,
    },
    HeartbeatRequest {
        te: u32,
        from: HbSender,
        jm: u32,
    },
    SubmitTask {
        ask: u64,
        jm: u32,
        deployment: Box<Deployment>,
    },
    CancelTask {
        ask: u64,
        id: AttemptId,
    },
    /// An ask: a failure or timeout aborts the pending checkpoint.
    TriggerCheckpoint {
        ask: u64,
        id: AttemptId,
        cp: u64,
        /// A stop-with-savepoint's synchronous savepoint: a source stops reading after it.
        stop: bool,
    },
    NotifyComplete {
        id: AttemptId,
        cp: u64,
    },
    AbortCheckpoint {
        jm: u32,
        cp: u64,
    },
    /// disconnectJobManager: the JobMaster gave this TaskExecutor up.
    DisconnectJobManager {
        te: u32,
        jm: u32,
    },

    // ---- TaskExecutor ↔ TaskExecutor: the data plane ----
    Data {
        ch: ChannelId,
        producer: u32,
        consumer: AttemptId,
        item: Item,
    },
    PartitionRequest {
        ch: ChannelId,
        producer: AttemptId,
        consumer: AttemptId,
        credit: u32,
    },
    Credit {
        ch: ChannelId,
        producer: AttemptId,
        credit: u32,
    },
    /// The kernel reports that the data connection to `remote` was reset or closed.
    ConnectionReset {
        remote: HostId,
    },

    // ---- TaskExecutor ↔ checkpoint storage ----
    Upload {
        id: AttemptId,
        cp: u64,
        file: FileKey,
        snapshot: Box<SubtaskSnapshot>,
        /// How long the operator state has been uploading already: an unaligned snapshot's
        /// upload starts at its first barrier and its channel state follows, in one file here.
        head_start_us: u64,
    },
    UploadDone {
        id: AttemptId,
        cp: u64,
    },
    /// The upload failed (storage unavailable): the checkpoint's asynchronous part fails.
    UploadFailed {
        id: AttemptId,
        cp: u64,
    },
    Download {
        id: AttemptId,
        files: Vec<FileKey>,
    },
    Downloaded {
        id: AttemptId,
        snapshots: Vec<SubtaskSnapshot>,
        /// Files asked for that are not in storage (discarded since): FileNotFoundException.
        missing: u32,
        /// Storage could not be read at all (an outage): IOException.
        unavailable: bool,
    },
    // ---- JobManager → checkpoint storage ----
    /// The checkpoint's _metadata is written: it is complete.
    FinalizeCheckpoint {
        job: u32,
        cp: u64,
        files: Vec<FileKey>,
        bytes: Vec<u64>,
        completed_at_us: u64,
        /// A savepoint: owned by the user, never discarded by Flink.
        savepoint: bool,
    },
    DiscardCheckpoint {
        job: u32,
        cp: u64,
    },
    /// A new job reads the `_metadata` of the snapshot it was submitted with
    /// (`execution.state-recovery.path`).
    ReadMetadata {
        job: u32,
        cp: u64,
    },
    /// The `_metadata` read: the snapshot's files and sizes, `None` if it is not there.
    MetadataRead {
        job: u32,
        cp: u64,
        meta: Option<(Vec<FileKey>, Vec<u64>)>,
    },

    // ---- TaskExecutor ↔ the sink's transactional store ----
    /// initTransactions for a sink subtask: bump the producer epoch (fencing older writers),
    /// commit the restored committables, abort every other open transaction.
    InitSink {
        id: AttemptId,
        /// The job (submission) the producer writes for.
        job: u32,
        sink: OperatorId,
        index: u32,
        recommit: Vec<TxnId>,
        restored_cp: Option<u64>,
        /// Abort the subtask's other open transactions (false only for a planted bug).
        abort_lingering: bool,
    },
    SinkReady {
        id: AttemptId,
        sink: OperatorId,
        epoch: u64,
    },
    /// Records sent into a transaction (a producer batch).
    Produce {
        id: AttemptId,
        txn: TxnId,
        epoch: u64,
        records: Vec<Record>,
    },
    /// Flush + prepare (pre-commit) at a checkpoint.
    Prepare {
        id: AttemptId,
        txn: TxnId,
        epoch: u64,
        records: Vec<Record>,
        cp: u64,
    },
    Prepared {
        id: AttemptId,
        cp: u64,
    },
    Commit {
        id: AttemptId,
        txn: TxnId,
        epoch: u64,
        recovered: bool,
        /// The caller waits for the outcome (`SinkAck`): the commit at end of input without
        /// checkpoints, which must be done before the task finishes.
        ack: bool,
    },
    /// Plain (non-transactional) appends.
    Append {
        sink: OperatorId,
        records: Vec<Record>,
        /// The attempt waiting for the store's answer (a flush), if any: `SinkAck` at end of
        /// input, `Prepared` at a checkpoint.
        ack: Option<AttemptId>,
        /// The checkpoint whose snapshot waits for this flush (0: none; the answer is `SinkAck`).
        cp: u64,
    },
    /// The store's answer to a `Commit` or `Append` whose caller waits: done, or refused
    /// because a newer producer of the same sink subtask had initialized (fenced).
    SinkAck {
        id: AttemptId,
        sink: OperatorId,
        ok: bool,
    },

    // ---- the HA store ----
    /// CheckpointIDCounter.getAndIncrement: the id a checkpoint is triggered with, persisted
    /// so that a new leader never hands it out again.
    HaCheckpointId {
        cp: u64,
    },
    HaPutCheckpoint {
        jm: u32,
        cp: u64,
        files: Vec<FileKey>,
        bytes: Vec<u64>,
    },
    HaRecover {
        jm: u32,
    },
    /// A job is submitted (ExecutionPlanStore.putExecutionPlan): from now on the pointers and
    /// the id counter are this job's, starting from the snapshot it restores, if any.
    HaPutJob {
        job: u32,
        latest: Option<(u64, Vec<FileKey>, Vec<u64>)>,
    },
    /// The job reached a globally terminal state: the Dispatcher writes its JobResult to the
    /// JobResultStore and removes its job graph and checkpoint pointer from the HA store
    /// (`Dispatcher.jobReachedTerminalState`, `CompletedCheckpointStore.shutdown`).
    HaJobEnded {
        ended: EndedJob,
    },
    HaRecovered {
        jm: u32,
        /// The job the store holds (its submission).
        job: u32,
        latest: Option<(u64, Vec<FileKey>, Vec<u64>)>,
        next_cp: u64,
        /// The job's JobResult if it already ended: a new leader does not recover it.
        ended: Option<EndedJob>,
    },
    /// Leader retrieval: a new JobManager leader (generation `jm`).
    LeaderChanged {
        jm: u32,
    },
    /// Kubernetes tells the active ResourceManager a worker pod terminated.
    WorkerTerminated {
        te: u32,
    },

    /// The destination host refused the connection (its process is gone): the ask fails with
    /// RecipientUnreachableException.
    Refused {
        ask: AskRef,
    },
}

impl Msg {
    /// The kind a `lose-messages` / `delay-messages` rule can pick.
    pub fn kind(&self) -> MessageKind {
        match self {
            Msg::HeartbeatAnswer { .. } | Msg::HeartbeatRequest { .. } => MessageKind::Heartbeat,
            Msg::SubmitTask { .. } => MessageKind::SubmitTask,
            Msg::CancelTask { .. } => MessageKind::CancelTask,
            Msg::TaskState { .. } | Msg::TaskFinished { .. } => MessageKind::TaskStateUpdate,
            Msg::TriggerCheckpoint { .. } => MessageKind::TriggerCheckpoint,
            Msg::AckCheckpoint { .. } => MessageKind::AcknowledgeCheckpoint,
            Msg::NotifyComplete { .. } => MessageKind::NotifyCheckpointComplete,
            Msg::Register { .. } | Msg::RegisterReply { .. } | Msg::Unregister { .. } => MessageKind::Registration,
            Msg::Data { .. } | Msg::PartitionRequest { .. } | Msg::Credit { .. } | Msg::ConnectionReset { .. } => {
                MessageKind::Data
            }
            _ => MessageKind::Any,
        }
    }

    /// Data-plane messages travel on Netty connections, the rest on Pekko RPC connections:
    /// each has its own FIFO order.
    pub fn is_data(&self) -> bool {
        matches!(self, Msg::Data { .. } | Msg::PartitionRequest { .. } | Msg::Credit { .. })
    }

    /// The TaskExecutor (incarnation) an RPC is addressed to, where the message names it.
    pub fn for_te(&self) -> Option<u32> {
        match self {
            Msg::HeartbeatRequest { te, .. } | Msg::DisconnectJobManager { te, .. } => Some(*te),
            Msg::SubmitTask { deployment, .. } => Some(deployment.te),
            _ => None,
        }
    }

    /// For an ask: what the sender must hear if the destination refuses the connection.
    pub fn ask(&self) -> Option<AskRef> {
        match *self {
            Msg::SubmitTask { ask, .. } | Msg::CancelTask { ask, .. } | Msg::TriggerCheckpoint { ask, .. } => {
                Some(AskRef::Jm(ask))
            }
            Msg::HeartbeatRequest { te, from, .. } => Some(AskRef::Jm(heartbeat_ask(te, from))),
            Msg::Register { te, .. } => Some(AskRef::Register { te }),
            Msg::TaskState { id, state, .. } if !state.is_terminal() => Some(AskRef::TaskState { id, state }),
            Msg::PartitionRequest { consumer, ch, .. } => Some(AskRef::PartitionRequest { consumer, input: ch.0 }),
            _ => None,
        }
    }

    /// A short name for the timeline, in Flink's RPC vocabulary.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Register { .. } => "registerTaskExecutor",
            Msg::HeartbeatAnswer { .. } => "heartbeatFromTaskManager",
            Msg::TaskState { .. } => "updateTaskExecutionState",
            Msg::TaskFinished { .. } => "updateTaskExecutionState(FINISHED)",
            Msg::AckCheckpoint { .. } => "acknowledgeCheckpoint",
            Msg::DeclineCheckpoint { .. } => "declineCheckpoint",
            Msg::Unregister { .. } => "disconnectTaskManager",
            Msg::AskReply { .. } => "RPC answer",
            Msg::RegisterReply { .. } => "registration answer",
            Msg::HeartbeatRequest { from: HbSender::JobMaster, .. } => "heartbeatFromJobManager",
            Msg::HeartbeatRequest { from: HbSender::ResourceManager, .. } => "heartbeatFromResourceManager",
            Msg::SubmitTask { .. } => "submitTask",
            Msg::CancelTask { .. } => "cancelTask",
            Msg::TriggerCheckpoint { .. } => "triggerCheckpoint",
            Msg::NotifyComplete { .. } => "notifyCheckpointComplete",
            Msg::AbortCheckpoint { .. } => "notifyCheckpointAborted",
            Msg::DisconnectJobManager { .. } => "disconnectJobManager",
            Msg::Data { .. } => "data buffer",
            Msg::PartitionRequest { .. } => "partition request",
            Msg::Credit { .. } => "credit announcement",
            Msg::ConnectionReset { .. } => "connection reset",
            Msg::Upload { .. } => "snapshot upload",
            Msg::UploadDone { .. } => "upload done",
            Msg::Download { .. } => "state download",
            Msg::Downloaded { .. } => "state downloaded",
            Msg::UploadFailed { .. } => "upload failed",
            Msg::FinalizeCheckpoint { .. } => "checkpoint _metadata",
            Msg::DiscardCheckpoint { .. } => "discard checkpoint",
            Msg::ReadMetadata { .. } => "read _metadata",
            Msg::MetadataRead { .. } => "_metadata",
            Msg::InitSink { .. } => "initTransactions",
            Msg::SinkReady { .. } => "initTransactions answer",
            Msg::Produce { .. } => "produce",
            Msg::Prepare { .. } => "flush + prepare",
            Msg::Prepared { .. } => "prepared",
            Msg::Commit { .. } => "commitTransaction",
            Msg::Append { .. } => "append",
            Msg::SinkAck { .. } => "sink answer",
            Msg::HaPutCheckpoint { .. } => "HA: add checkpoint",
            Msg::HaCheckpointId { .. } => "HA: checkpoint id counter",
            Msg::HaRecover { .. } => "HA: recover job",
            Msg::HaPutJob { .. } => "HA: put job",
            Msg::HaJobEnded { .. } => "HA: job result",
            Msg::HaRecovered { .. } => "HA: job recovered",
            Msg::LeaderChanged { .. } => "leader changed",
            Msg::WorkerTerminated { .. } => "pod terminated",
            Msg::Refused { .. } => "connection refused",
        }
    }
}

/// Heartbeat requests are asks too; their number is derived from the target and the sender so a
/// refusal finds its monitor.
pub fn heartbeat_ask(te: u32, from: HbSender) -> u64 {
    (1 << 62) | (u64::from(te) << 1) | u64::from(from == HbSender::ResourceManager)
}

/// The target and sender of a heartbeat ask number (`heartbeat_ask`), or `None` for other asks.
pub fn heartbeat_target(ask: u64) -> Option<(u32, HbSender)> {
    (ask >> 62 == 1).then(|| {
        let from = if ask & 1 == 1 { HbSender::ResourceManager } else { HbSender::JobMaster };
        (((ask >> 1) & 0xffff_ffff) as u32, from)
    })
}
