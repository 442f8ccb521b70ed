//! What an observer outside the cluster sees of a world at one instant: every process's own
//! state and what is on the wire, as plain data. For the replay's views only; no process reads
//! this (they learn by messages), and it changes nothing.

use crate::cluster::net::HostCondition;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::job::graph::SubtaskId;
use crate::job::spec::OperatorId;
use crate::sim::TimeUs;

/// A transaction's state in the sink's store (`external::TxnStore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    Open,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, Default)]
pub struct Inspection {
    pub now_us: TimeUs,
    /// Engine events processed so far.
    pub events: u64,
    /// The JobManager process, if one is running.
    pub jobmanager: Option<JobManagerView>,
    /// TaskManager hosts in order (tm-0, tm-1, … then replacements).
    pub hosts: Vec<HostView>,
    /// Per job-graph network edge: what is between its producers and consumers.
    pub edges: Vec<EdgeFlow>,
    /// Transactions in the sink's store, per sink subtask, oldest first.
    pub txns: Vec<TxnView>,
    /// Records committed so far (what a reader of the sink sees).
    pub committed: u64,
    pub faults_fired: usize,
    pub failovers: usize,
}

#[derive(Clone, Debug)]
pub struct JobManagerView {
    pub generation: u32,
    pub leader: bool,
    pub job_status: JobStatus,
    /// Per subtask, as the JobMaster's ExecutionGraph has it: (attempt, state, TaskManager).
    pub subtasks: Vec<(u32, ExecutionState, Option<u32>)>,
    /// Registered TaskManagers (by index).
    pub registered: Vec<u32>,
    pub pending: Vec<PendingView>,
    pub completed: u64,
    pub aborted: u64,
}

/// A checkpoint in progress, as the coordinator tracks it.
#[derive(Clone, Debug)]
pub struct PendingView {
    pub id: u64,
    pub triggered_at_us: TimeUs,
    pub acked: u32,
    pub total: u32,
    pub max_alignment_us: u64,
}

#[derive(Clone, Debug)]
pub struct HostView {
    pub tm: u32,
    pub condition: HostCondition,
    /// Cut off from some host by an active partition.
    pub partitioned: bool,
    /// A TaskManager process is starting there.
    pub starting: bool,
    pub process: Option<TaskExecutorView>,
}

#[derive(Clone, Debug)]
pub struct TaskExecutorView {
    pub registered: bool,
    pub shutting_down: bool,
    pub slots: u32,
    pub tasks: Vec<TaskView>,
    /// Local recovery copies: (subtask, checkpoint).
    pub local_copies: Vec<(SubtaskId, u64)>,
}

/// A task as its TaskExecutor runs it.
#[derive(Clone, Debug)]
pub struct TaskView {
    pub st: SubtaskId,
    pub attempt: u32,
    /// The JobManager generation that deployed it.
    pub jm: u32,
    pub phase: &'static str,
    /// Per input (in the job graph's order of the subtask's inputs): records and barriers
    /// received but not yet processed.
    pub inputs: Vec<(u64, u64)>,
    /// Barrier alignment in progress: (checkpoint, inputs whose barrier arrived, inputs, since).
    pub alignment: Option<(u64, u32, u32, TimeUs)>,
    /// Out of credit on some output: back-pressured.
    pub back_pressured: bool,
    /// Checkpoints snapshotted here and not yet acknowledged (uploading, pre-committing).
    pub snapshots_in_progress: Vec<u64>,
}

/// Between the producers and the consumers of one job-graph edge.
#[derive(Clone, Copy, Debug, Default)]
pub struct EdgeFlow {
    /// On the wire (sent, not yet delivered: travelling, held by a partition, or queued for a
    /// frozen host).
    pub records_on_wire: u64,
    pub barriers_on_wire: u64,
    /// Delivered and queued at the consumer's input.
    pub records_queued: u64,
    pub barriers_queued: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct TxnView {
    pub sink: OperatorId,
    pub subtask: u32,
    pub checkpoint: u64,
    pub state: TxnState,
    /// Records written to it (for a committed one: made visible; an aborted one: thrown away).
    pub records: u64,
}
