//! Faults injected by the scenario. A fault is data; the cluster engine carries it out, each as a
//! change to one process or to the network (`cluster::net`), never by telling anybody directly.

pub mod phase;

use crate::job::graph::SubtaskRef;
pub use phase::ProtocolPhase;

/// A host of the simulated cluster, as a scenario names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostRef {
    /// The JobManager's host (JobMaster, ResourceManager, Dispatcher): `jobmanager`.
    JobManager,
    /// The host of TaskManager `n`: `tm-n`.
    TaskManager(u32),
    /// The checkpoint storage (DFS / object store): `checkpoint-storage`.
    CheckpointStorage,
    /// The transactional system the sinks write to (Kafka-like): `sink-store`.
    SinkStore,
    /// The high-availability store (ZooKeeper / Kubernetes ConfigMaps): `ha-store`.
    HaStore,
}

impl HostRef {
    pub fn name(self) -> String {
        match self {
            HostRef::JobManager => "jobmanager".into(),
            HostRef::TaskManager(n) => format!("tm-{n}"),
            HostRef::CheckpointStorage => "checkpoint-storage".into(),
            HostRef::SinkStore => "sink-store".into(),
            HostRef::HaStore => "ha-store".into(),
        }
    }
    /// Parses a host name as `name` writes it.
    pub fn parse(s: &str) -> Option<HostRef> {
        match s {
            "jobmanager" => Some(HostRef::JobManager),
            "checkpoint-storage" => Some(HostRef::CheckpointStorage),
            "sink-store" => Some(HostRef::SinkStore),
            "ha-store" => Some(HostRef::HaStore),
            _ => s.strip_prefix("tm-").and_then(|n| n.parse().ok()).map(HostRef::TaskManager),
        }
    }
}

/// Kinds of messages a `lose-messages` / `delay-messages` fault can pick, in Flink's RPC names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// Every message, RPC or data.
    Any,
    /// Heartbeat requests and answers (JobMaster↔TaskExecutor, ResourceManager↔TaskExecutor).
    Heartbeat,
    /// `submitTask`.
    SubmitTask,
    /// `cancelTask`.
    CancelTask,
    /// `updateTaskExecutionState`.
    TaskStateUpdate,
    /// `triggerCheckpoint`.
    TriggerCheckpoint,
    /// `acknowledgeCheckpoint` (a tell: the JobManager never learns that one was lost).
    AcknowledgeCheckpoint,
    /// `notifyCheckpointComplete` (`confirmCheckpoint`).
    NotifyCheckpointComplete,
    /// Registration and slot offers.
    Registration,
    /// Records, barriers and credit on data connections between TaskManagers.
    Data,
}

impl MessageKind {
    pub const NAMES: [&'static str; 10] = [
        "any",
        "heartbeat",
        "submit-task",
        "cancel-task",
        "task-state-update",
        "trigger-checkpoint",
        "acknowledge-checkpoint",
        "notify-checkpoint-complete",
        "registration",
        "data",
    ];
    const ALL: [MessageKind; 10] = [
        MessageKind::Any,
        MessageKind::Heartbeat,
        MessageKind::SubmitTask,
        MessageKind::CancelTask,
        MessageKind::TaskStateUpdate,
        MessageKind::TriggerCheckpoint,
        MessageKind::AcknowledgeCheckpoint,
        MessageKind::NotifyCheckpointComplete,
        MessageKind::Registration,
        MessageKind::Data,
    ];
    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|k| *k == self).expect("ALL lists every kind")]
    }
    pub fn parse(s: &str) -> Option<MessageKind> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
    /// Whether a message of kind `self` is picked by a rule for `rule`.
    pub fn matches(self, rule: MessageKind) -> bool {
        rule == MessageKind::Any || rule == self
    }
}

/// Which messages a `lose-messages` / `delay-messages` fault applies to.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRule {
    pub kind: MessageKind,
    /// Only messages sent from one of these hosts (empty: any).
    pub from: Vec<HostRef>,
    /// Only messages sent to one of these hosts (empty: any).
    pub to: Vec<HostRef>,
    /// Chance that a matching message is hit, drawn from the network random stream.
    pub probability: f64,
    /// The rule ends at this time (`until`); `None`: to the end of the run.
    pub until_us: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// The TaskManager process dies (kill -9): its tasks and memory are gone; its host stays up,
    /// so the kernel resets its connections and refuses new ones (peers fail fast, heartbeat
    /// RPCs fail with RecipientUnreachableException).
    KillTaskManager(u32),
    /// Start a TaskManager again (standalone: the operator restarts the process). A fresh
    /// process: no local state. An error at load time if the TaskManager is running then.
    RestartTaskManager(u32),
    /// The subtask's current attempt throws an exception (once).
    FailTask(SubtaskRef),
    /// The subtask's current attempt throws a `SuppressRestartsException` (a non-recoverable
    /// error): the job fails at once, whatever the restart strategy.
    FailTaskUnrecoverable(SubtaskRef),
    /// The TaskManager's host is gone (power loss, kernel panic): nothing is reset, messages to
    /// it vanish; only timeouts notice.
    LoseTaskManagerHost(u32),
    /// The TaskManager process stops (SIGSTOP, a long GC pause) for `duration_us`: it handles
    /// nothing, the kernel keeps its connections open, then it wakes and works off its backlog.
    FreezeTaskManager { tm: u32, duration_us: u64 },
    /// Messages between the two sets of hosts are held (no reset: TCP keeps trying) until the
    /// partition heals; `one_way` cuts only messages from `a` to `b`.
    Partition { a: Vec<HostRef>, b: Vec<HostRef>, one_way: bool, heal_at_us: Option<u64> },
    /// Matching messages are dropped.
    LoseMessages(MessageRule),
    /// Matching messages arrive `delay_us` later than they would.
    DelayMessages { rule: MessageRule, delay_us: u64 },
    /// Graceful stop (SIGTERM, pod deletion): the TaskManager fails its own tasks ("The
    /// TaskExecutor is shutting down"), closes its connections and deregisters.
    StopTaskManager(u32),
    /// Kubernetes rolling update of every TaskManager: start a new one, wait until it has
    /// registered, stop an old one, wait `interval_us`, next.
    RollingUpdate { interval_us: u64 },
    /// The JobManager process dies (kill -9 of its pod/process).
    KillJobManager,
    /// The user cancels the job (`flink cancel`).
    CancelJob,
    /// The user stops the job with a savepoint (`flink stop`).
    StopWithSavepoint,
    /// The user submits the job again (`flink run`), once the current one has ended.
    SubmitJob(RestoreFrom),
    /// Checkpoint storage (S3, HDFS) fails every state upload and read for `duration_us`: a
    /// checkpoint's asynchronous part fails (the task declines it, which counts toward
    /// `tolerable-failed-checkpoints`), a restore cannot read its state (the task fails).
    StorageOutage { duration_us: u64 },
    /// Checkpoint storage is slow (throttled, overloaded) for `duration_us`: every upload and
    /// download that starts then takes `factor` times as long, its latency too. Checkpoints
    /// take longer and may expire; restores take longer.
    StorageSlow { duration_us: u64, factor: u32 },
    /// The TaskManager process running the subtask's attempt dies (kill -9): the default action
    /// of an `at-phase` fault, resolved when the phase is reached (the attempt that reached it;
    /// for `completed-not-notified`, the subtask's newest attempt).
    KillTaskManagerOf(SubtaskRef),
}

/// What a new submission of the job restores (`execution.state-recovery.path`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreFrom {
    /// The savepoint the previous job's stop-with-savepoint took.
    Savepoint,
    /// The previous job's latest completed checkpoint (there only if retention kept it).
    RetainedCheckpoint,
    /// Nothing: empty state, the sources start from the beginning of the log.
    Nothing,
}

impl RestoreFrom {
    pub fn name(self) -> &'static str {
        match self {
            RestoreFrom::Savepoint => "savepoint",
            RestoreFrom::RetainedCheckpoint => "retained-checkpoint",
            RestoreFrom::Nothing => "nothing",
        }
    }
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTrigger {
    /// At a virtual time.
    At { at_us: u64 },
    /// When the named subtask processes its n-th record (1-based, counted over all attempts).
    /// With `poison`, that record fails the subtask again every time it is replayed.
    AtRecord { n: u64, poison: bool },
    /// When the subtask reaches a checkpoint-protocol phase: of checkpoint `checkpoint` if set
    /// (for `restoring` and `deploying`, the checkpoint restored from), the first time at or
    /// after `after_us`.
    AtPhase { phase: ProtocolPhase, subtask: SubtaskRef, checkpoint: Option<u64>, after_us: u64 },
    /// Right after the `nth` message that fault `of` (a `delay-messages`, `lose-messages` or
    /// `partition` fault, by its index) made late — delayed, held, or resent by its client — is
    /// delivered to a live process: a late message is where a protocol goes wrong.
    AtLateDelivery { of: usize, nth: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub trigger: FaultTrigger,
    pub action: FaultAction,
}

fn hosts(v: &[HostRef]) -> String {
    v.iter().map(|h| h.name()).collect::<Vec<_>>().join(", ")
}

impl MessageRule {
    fn describe(&self) -> String {
        let mut s = self.kind.name().to_string();
        if !self.from.is_empty() {
            s += &format!(" from {}", hosts(&self.from));
        }
        if !self.to.is_empty() {
            s += &format!(" to {}", hosts(&self.to));
        }
        if self.probability < 1.0 {
            s += &format!(" with probability {}", self.probability);
        }
        if let Some(u) = self.until_us {
            s += &format!(" until {}", crate::sim::fmt_time(u));
        }
        s
    }
}

impl FaultAction {
    /// Short human form, as in a scenario file: `kill-taskmanager 1`.
    pub fn describe(&self, names: &dyn Fn(SubtaskRef) -> String) -> String {
        match self {
            FaultAction::KillTaskManager(tm) => format!("kill-taskmanager {tm}"),
            FaultAction::RestartTaskManager(tm) => format!("restart-taskmanager {tm}"),
            FaultAction::FailTask(st) => format!("fail-task {}", names(*st)),
            FaultAction::FailTaskUnrecoverable(st) => {
                format!("fail-task {} with SuppressRestartsException", names(*st))
            }
            FaultAction::LoseTaskManagerHost(tm) => format!("lose-taskmanager-host {tm}"),
            FaultAction::FreezeTaskManager { tm, duration_us } => {
                format!("freeze-taskmanager {tm} for {}", crate::sim::fmt_duration(*duration_us))
            }
            FaultAction::Partition { a, b, one_way, heal_at_us } => {
                let arrow = if *one_way { "->" } else { "<->" };
                let heal = heal_at_us.map(|h| format!(", heals at {}", crate::sim::fmt_time(h))).unwrap_or_default();
                format!("partition [{}] {arrow} [{}]{heal}", hosts(a), hosts(b))
            }
            FaultAction::LoseMessages(rule) => format!("lose-messages {}", rule.describe()),
            FaultAction::DelayMessages { rule, delay_us } => {
                format!("delay-messages {} by {}", rule.describe(), crate::sim::fmt_duration(*delay_us))
            }
            FaultAction::StopTaskManager(tm) => format!("stop-taskmanager {tm}"),
            FaultAction::RollingUpdate { interval_us } => {
                format!("rolling-update of every TaskManager, {} apart", crate::sim::fmt_duration(*interval_us))
            }
            FaultAction::KillJobManager => "kill-jobmanager".into(),
            FaultAction::CancelJob => "cancel-job (flink cancel)".into(),
            FaultAction::StopWithSavepoint => "stop-with-savepoint (flink stop)".into(),
            FaultAction::SubmitJob(from) => format!("submit-job from {}", from.name()),
            FaultAction::StorageOutage { duration_us } => {
                format!(
                    "storage-outage: checkpoint storage fails uploads and reads for {}",
                    crate::sim::fmt_duration(*duration_us)
                )
            }
            FaultAction::StorageSlow { duration_us, factor } => format!(
                "storage-slow: checkpoint storage transfers take {factor}× as long for {}",
                crate::sim::fmt_duration(*duration_us)
            ),
            FaultAction::KillTaskManagerOf(st) => format!("kill-taskmanager running {}", names(*st)),
        }
    }
    /// The scenario file's name of the action (`explore`'s fault kinds; coverage rows).
    pub fn kind_name(&self) -> &'static str {
        match self {
            FaultAction::KillTaskManager(_) | FaultAction::KillTaskManagerOf(_) => "kill-taskmanager",
            FaultAction::RestartTaskManager(_) => "restart-taskmanager",
            FaultAction::FailTask(_) | FaultAction::FailTaskUnrecoverable(_) => "fail-task",
            FaultAction::LoseTaskManagerHost(_) => "lose-taskmanager-host",
            FaultAction::FreezeTaskManager { .. } => "freeze-taskmanager",
            FaultAction::Partition { .. } => "partition",
            FaultAction::LoseMessages(_) => "lose-messages",
            FaultAction::DelayMessages { .. } => "delay-messages",
            FaultAction::StopTaskManager(_) => "stop-taskmanager",
            FaultAction::RollingUpdate { .. } => "rolling-update",
            FaultAction::KillJobManager => "kill-jobmanager",
            FaultAction::CancelJob => "cancel-job",
            FaultAction::StopWithSavepoint => "stop-with-savepoint",
            FaultAction::SubmitJob(_) => "submit-job",
            FaultAction::StorageOutage { .. } => "storage-outage",
            FaultAction::StorageSlow { .. } => "storage-slow",
        }
    }
}
