//! Cluster and Flink configuration, already validated. Field names carry units; every Flink
//! setting names the Flink 2.x key it comes from and defaults to Flink's default.

/// `jobmanager.execution.failover-strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverStrategy {
    /// Restart the pipelined regions of the failed tasks (Flink default since 1.10).
    Region,
    /// Restart every task of the job.
    Full,
}

/// `execution.checkpointing.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointingMode {
    /// Aligned barriers (Flink default).
    ExactlyOnce,
    /// No alignment: channels whose barrier arrived keep flowing.
    AtLeastOnce,
}

/// `restart-strategy.type` and its options.
#[derive(Clone, Debug, PartialEq)]
pub enum RestartStrategy {
    /// `disable` / `none` / `off`: the first failure fails the job.
    None,
    /// `fixed-delay`: at most `attempts` restarts, each after `delay_us`.
    FixedDelay { attempts: u32, delay_us: u64 },
    /// `failure-rate`: a restart after `delay_us` unless `max_failures` restarts already
    /// happened within `interval_us` before this failure (FailureRateRestartBackoffTimeStrategy).
    FailureRate { max_failures: u32, interval_us: u64, delay_us: u64 },
    /// `exponential-delay` (Flink 2.x default when checkpointing is on, FLIP-364).
    ExponentialDelay {
        initial_backoff_us: u64,
        max_backoff_us: u64,
        multiplier: f64,
        reset_backoff_threshold_us: u64,
        jitter_factor: f64,
        /// `attempts-before-reset-backoff`; `u32::MAX` = unlimited (Flink's default).
        attempts_before_reset: u32,
    },
}

/// `state.backend.type`: where keyed state lives and how it is snapshotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateBackendKind {
    /// `hashmap` (Flink default): objects on the heap; every checkpoint is a full snapshot.
    Heap,
    /// `rocksdb`: an embedded LSM store; with `execution.checkpointing.incremental` a checkpoint
    /// uploads only the SST files the last completed checkpoint does not have.
    RocksDb,
}

/// `taskmanager.load-balance.mode`: how free slots are picked across TaskManagers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalanceMode {
    /// `NONE` (Flink default): any matching free slot. Flink's pick depends on hash-map order;
    /// the simulator takes the first free slot in TaskManager registration order.
    None,
    /// `SLOTS`: spread slots evenly: the TaskManager with the most free slots first.
    Slots,
}

/// `high-availability.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaKind {
    /// `NONE` (default): the job graph and checkpoint pointers live only in JobManager memory.
    None,
    /// `ZOOKEEPER`: a new leader after `high-availability.zookeeper.client.session-timeout`.
    Zookeeper,
    /// `KUBERNETES`: a new leader after `high-availability.kubernetes.leader-election.lease-duration`.
    Kubernetes,
}

/// `execution.checkpointing.externalized-checkpoint-retention` (`CheckpointProperties`): which
/// ends of a job keep its completed checkpoints. A FINISHED job's are always discarded;
/// savepoints are the user's and never are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointRetention {
    /// Discarded when the job is FINISHED, CANCELED or FAILED (Flink's default).
    NoExternalizedCheckpoints,
    /// Kept when the job FAILED, discarded when it is CANCELED.
    DeleteOnCancellation,
    /// Kept when the job is CANCELED or FAILED.
    RetainOnCancellation,
}

impl CheckpointRetention {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointRetention::NoExternalizedCheckpoints => "NO_EXTERNALIZED_CHECKPOINTS",
            CheckpointRetention::DeleteOnCancellation => "DELETE_ON_CANCELLATION",
            CheckpointRetention::RetainOnCancellation => "RETAIN_ON_CANCELLATION",
        }
    }
}

/// `standalone`: a lost TaskManager is back only when the scenario restarts it.
/// `active` (native Kubernetes, YARN): the ResourceManager starts a replacement worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceManagerKind {
    Standalone,
    Active,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FlinkConfig {
    /// `execution.checkpointing.interval`; `None` = checkpointing off (Flink default).
    pub checkpoint_interval_us: Option<u64>,
    /// `execution.checkpointing.mode`.
    pub checkpointing_mode: CheckpointingMode,
    /// `execution.checkpointing.timeout` (default 10 min).
    pub checkpoint_timeout_us: u64,
    /// `execution.checkpointing.min-pause` (default 0).
    pub checkpoint_min_pause_us: u64,
    /// `execution.checkpointing.max-concurrent-checkpoints` (default 1): checkpoints in flight
    /// at once; a newer one completing first subsumes the older ones.
    pub max_concurrent_checkpoints: u32,
    /// `execution.checkpointing.num-retained` (default 1).
    pub checkpoints_retained: u32,
    /// `jobmanager.execution.failover-strategy` (default region).
    pub failover_strategy: FailoverStrategy,
    /// `restart-strategy.type` and its options (default: exponential-delay with checkpointing,
    /// none without).
    pub restart_strategy: RestartStrategy,
    /// `heartbeat.interval` (default 10 s).
    pub heartbeat_interval_us: u64,
    /// `heartbeat.timeout` (default 50 s).
    pub heartbeat_timeout_us: u64,
    /// `heartbeat.rpc-failure-threshold` (default 2; `None` = -1, disabled).
    pub heartbeat_rpc_failure_threshold: Option<u32>,
    /// `slot.request.timeout` (default 5 min).
    pub slot_request_timeout_us: u64,
    /// `execution.checkpointing.unaligned.enabled` (default false): barriers overtake the
    /// records queued before them, which become part of the checkpoint (channel state); only
    /// with EXACTLY_ONCE, never for a savepoint.
    pub unaligned: bool,
    /// `execution.checkpointing.aligned-checkpoint-timeout` (default 0): with unaligned
    /// checkpoints on, a checkpoint starts aligned and turns unaligned at a task once this long
    /// has passed since its barrier left the source; 0 = unaligned from the start.
    pub aligned_checkpoint_timeout_us: u64,
    /// `execution.state-recovery.from-local` (default false).
    pub local_recovery: bool,
    /// `state.backend.type` (default hashmap).
    pub state_backend: StateBackendKind,
    /// `execution.checkpointing.incremental` (default false); acts with rocksdb only.
    pub incremental: bool,
    /// `taskmanager.load-balance.mode` (default NONE).
    pub load_balance: LoadBalanceMode,
    /// `pekko.ask.timeout` (default 10 s): every ask RPC fails with a TimeoutException after it.
    pub ask_timeout_us: u64,
    /// `taskmanager.slot.timeout` (default: `pekko.ask.timeout`): a TaskManager frees the
    /// slots of a job whose JobManager it lost after this.
    pub slot_timeout_us: u64,
    /// `resourcemanager.standalone.start-up-time` (default: `slot.request.timeout`), counted
    /// from the ResourceManager's start: after it, a standalone ResourceManager reports
    /// requirements it cannot meet and slot requests fail at once.
    pub standalone_start_up_us: u64,
    /// `execution.checkpointing.tolerable-failed-checkpoints` (default 0): expired checkpoints
    /// beyond this many in a row fail the job (a global failover).
    pub tolerable_failed_checkpoints: u32,
    /// `high-availability.type` (default NONE).
    pub ha: HaKind,
    /// `high-availability.zookeeper.client.session-timeout` (default 60 s).
    pub zk_session_timeout_us: u64,
    /// `high-availability.kubernetes.leader-election.lease-duration` (default 15 s).
    pub k8s_lease_duration_us: u64,
    /// `execution.checkpointing.externalized-checkpoint-retention` (default
    /// NO_EXTERNALIZED_CHECKPOINTS): whether a job's checkpoints outlive its end.
    pub checkpoint_retention: CheckpointRetention,
    /// `execution.checkpointing.dir` (no default): only shown in paths.
    pub checkpoint_dir: Option<String>,
    /// `execution.checkpointing.savepoint-dir` (no default): only shown in paths.
    pub savepoint_dir: Option<String>,
    /// `high-availability.storageDir`: where the HA services write what ZooKeeper or a ConfigMap
    /// only points to (job graphs, completed-checkpoint handles). Shown in paths.
    pub ha_storage_dir: Option<String>,
    /// Flink keys the scenario set that the simulator accepts but does not model: (key, value
    /// as written), in file order; the report lists them with what they would change.
    pub not_modelled: Vec<(String, String)>,
}

impl FlinkConfig {
    /// Checkpoints upload only what changed since the last completed one (RocksDB incremental).
    pub fn incremental_checkpoints(&self) -> bool {
        self.incremental && self.state_backend == StateBackendKind::RocksDb
    }
}

impl FlinkConfig {
    /// How long after the leader's death a new JobManager leader is elected (HA only).
    pub fn leader_election_us(&self) -> Option<u64> {
        match self.ha {
            HaKind::None => None,
            HaKind::Zookeeper => Some(self.zk_session_timeout_us),
            HaKind::Kubernetes => Some(self.k8s_lease_duration_us),
        }
    }
}

/// The simulated cluster: sizes and the speeds of things Flink does not configure.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    pub taskmanagers: u32,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots_per_taskmanager: u32,
    pub resource_manager: ResourceManagerKind,
    /// Time from "start a TaskManager" (scenario restart, or an active RM's request) to it
    /// registering its slots.
    pub taskmanager_start_delay_us: u64,
    /// One-way latency of an RPC (deploy, cancel, trigger, ack, heartbeat).
    pub rpc_latency_us: u64,
    /// One-way latency of a data channel between two TaskManagers.
    pub network_latency_us: u64,
    /// Uniform extra latency 0..=jitter drawn per record from the network stream.
    pub network_jitter_us: u64,
    /// Records (and events) a channel holds before the producer is back-pressured
    /// (sender + receiver network buffers).
    pub channel_capacity: u32,
    /// Time from a TaskManager process dying to its peers' connections breaking (TCP reset).
    pub connection_reset_us: u64,
    /// Checkpoint storage (DFS / object store) bandwidth for uploads and downloads, bytes/s.
    pub storage_bytes_per_s: u64,
    /// Checkpoint storage latency per request.
    pub storage_latency_us: u64,
    /// Local disk bandwidth for a local-recovery read, bytes/s.
    pub local_bytes_per_s: u64,
    /// Time a task spends deploying (DEPLOYING → INITIALIZING) besides the RPC.
    pub deploy_us: u64,
    /// Time from a JobManager process dying to a new one being started on its host (Kubernetes
    /// restarting the pod, or a standby taking over); leadership still waits for the lease.
    pub jobmanager_restart_delay_us: u64,
}
