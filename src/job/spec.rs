//! The job as the user wrote it: operators, their parallelism and the edges between them.
//! This is validated input; `job::graph` turns it into tasks (chains) and subtasks.

/// Index of an operator in `JobSpec::operators` (declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorId(pub u32);

/// How records travel from an operator's subtasks to its consumer's subtasks (Flink partitioners).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// Pointwise i → i; needs equal parallelism (Flink's ForwardPartitioner).
    Forward,
    /// keyBy: the record's key group decides the consumer (KeyGroupStreamPartitioner). All-to-all.
    Hash,
    /// Round robin over all consumers (RebalancePartitioner). All-to-all.
    Rebalance,
    /// Round robin over the consumers a producer is connected to pointwise (RescalePartitioner):
    /// with equal parallelism i → i, otherwise each producer feeds a contiguous range of
    /// consumers or several producers feed one (`EdgeManagerBuildUtil.connectPointwise`).
    Rescale,
    /// Every record to every consumer (BroadcastPartitioner). All-to-all.
    Broadcast,
}

impl EdgeKind {
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Forward => "forward",
            EdgeKind::Hash => "hash",
            EdgeKind::Rebalance => "rebalance",
            EdgeKind::Rescale => "rescale",
            EdgeKind::Broadcast => "broadcast",
        }
    }
    /// Whether each key's records reach one consumer subtask over one FIFO channel, once:
    /// forward and hash. Rebalance and rescale spread them over channels; broadcast copies them.
    pub fn keeps_key_order(self) -> bool {
        matches!(self, EdgeKind::Forward | EdgeKind::Hash)
    }
    /// Pointwise edges (Flink's `DistributionPattern.POINTWISE`) connect only matching subtasks;
    /// all others connect every pair.
    pub fn is_pointwise(self) -> bool {
        matches!(self, EdgeKind::Forward | EdgeKind::Rescale)
    }
}

/// What the sink does with its output (DESIGN: two-phase commit, or plain append).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SinkSemantic {
    /// Writes into a transaction per checkpoint interval; pre-commit on snapshot, commit on
    /// notifyCheckpointComplete (Sink V2 with a committer, e.g. Kafka EXACTLY_ONCE).
    TwoPhaseCommit,
    /// Every write is visible at once (at-least-once: duplicates after a failover).
    Append,
    /// Every result is written at once as the row of its key (an idempotent upsert, e.g. a JDBC
    /// or Elasticsearch sink with a primary key): a replay after a failover writes the same rows
    /// again, so the table ends as without the failure — exactly-once in effect, though readers
    /// may see a row go back to an earlier value until the replay catches up.
    Upsert,
}

impl SinkSemantic {
    /// Writes go to the external system as they are made, with no transaction.
    pub fn writes_at_once(self) -> bool {
        matches!(self, SinkSemantic::Append | SinkSemantic::Upsert)
    }
}

/// A replayable partitioned log (Kafka-like) that a source reads.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    pub partitions: u32,
    /// Records per second appended to the log, over all partitions together.
    pub rate_per_s: u64,
    /// Records carry keys 0..keys.
    pub keys: u32,
    /// How fast one source subtask reads when it is behind (after a rewind), records/s.
    pub catch_up_rate_per_s: u64,
    /// Bounded source: the log holds exactly this many records. `None`: the log grows for the
    /// scenario's duration.
    pub records: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OperatorKind {
    Source(SourceSpec),
    /// value → value × multiply + add.
    Map {
        multiply: i64,
        add: i64,
    },
    /// Keeps a record when value % modulo == remainder.
    Filter {
        modulo: i64,
        remainder: i64,
    },
    /// Keyed state: count of records per key; emits (key, new count).
    KeyedCount,
    /// Keyed state: sum of values per key; emits (key, new sum).
    KeyedSum,
    Sink(SinkSemantic),
}

impl OperatorKind {
    pub fn name(&self) -> &'static str {
        match self {
            OperatorKind::Source(_) => "source",
            OperatorKind::Map { .. } => "map",
            OperatorKind::Filter { .. } => "filter",
            OperatorKind::KeyedCount => "keyed-count",
            OperatorKind::KeyedSum => "keyed-sum",
            OperatorKind::Sink(_) => "sink",
        }
    }
    pub fn is_keyed(&self) -> bool {
        matches!(self, OperatorKind::KeyedCount | OperatorKind::KeyedSum)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OperatorSpec {
    pub name: String,
    pub kind: OperatorKind,
    pub parallelism: u32,
    /// The operator this one reads from and how; `None` only for sources.
    pub input: Option<(OperatorId, EdgeKind)>,
    /// Bytes of keyed state per key in a snapshot (`state-per-key`; keyed operators only).
    /// Only sizes and transfer times use it: the state itself stays one value per key.
    pub state_bytes_per_key: u64,
    /// `slotSharingGroup(name)`: subtasks of operators in one group share slots (subtask i of
    /// each task of the group in one slot); `None` is Flink's group "default".
    pub slot_sharing_group: Option<String>,
}

/// A keyed operator's state per key when the scenario does not say (a small value in a heap
/// backend's snapshot, roughly).
pub const DEFAULT_STATE_BYTES_PER_KEY: u64 = 32;

/// The most `state-per-key` a scenario may give (1 GiB per key).
pub const MAX_STATE_BYTES_PER_KEY: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    /// In declaration order; an operator's input always comes earlier in the list.
    pub operators: Vec<OperatorSpec>,
    /// `pipeline.max-parallelism`; `None` means Flink's default (see `keygroup`).
    pub max_parallelism: Option<u32>,
    /// `pipeline.operator-chaining.enabled` (Flink default: true).
    pub chaining: bool,
}
