//! The data plane of the tasks on one TaskExecutor: sources reading the log, records through
//! chained operators, input and output channels with credit-based flow control, barriers and
//! alignment, snapshots (synchronous part, then an asynchronous upload), restore, and the
//! sinks' transactions. A task talks to other tasks, to checkpoint storage and to the sink's
//! store only through messages.

use super::TaskExecutor;
use crate::cluster::config::CheckpointingMode;
use crate::cluster::ctx::{Ctx, Timer};
use crate::cluster::msg::{
    AskRef, AttemptId, Barrier, CheckpointMetrics, Deployment, FileKey, Item, Msg, RestoreDesc, SubtaskSnapshot, TxnId,
    snapshot_bytes,
};
use crate::cluster::net::HostId;
use crate::cluster::state::ExecutionState;
use crate::cluster::timer::TeTimer;
use crate::fault::phase::{Probe, ProtocolPhase};
use crate::job::graph::{ChannelId, JobGraph};
use crate::job::keygroup::subtask_for_key;
use crate::job::record::{Record, SourceLog, apply_keyed, apply_stateless};
use crate::job::spec::{EdgeKind, OperatorId, OperatorKind, SinkSemantic};
use crate::sim::TimeUs;
use crate::trace::{FailureCause, Note};
use std::collections::{BTreeMap, VecDeque};

mod checkpoint;
mod handlers;

/// Records a transactional sink batches before it sends them to the store (a producer batch;
/// whatever is left is flushed at pre-commit).
const SINK_BATCH: usize = 128;
/// A plain appending sink writes through in small batches: what it wrote before a crash stays.
const APPEND_BATCH: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Deploying,
    Initializing,
    Running,
    /// End of input reached: final state uploaded (or uploading); declines triggers.
    Finished,
    Done,
}

#[derive(Clone)]
pub(super) struct Input {
    /// The producer's host and attempt, from the deployment descriptor.
    pub from: HostId,
    producer: u32,
    queue: VecDeque<Item>,
    unannounced: u32,
    drain_scheduled: bool,
    ended: bool,
    /// Records at the head of the queue that came from a restored checkpoint's channel state:
    /// no producer sent them, so taking them frees no credit of the producer's.
    recovered: u32,
}

#[derive(Clone)]
pub(super) struct Output {
    ch: ChannelId,
    /// The consumer that requested this subpartition: its host and attempt.
    pub consumer: Option<(HostId, AttemptId)>,
    pub credit: u32,
    /// Events (barriers, end of partition) produced before the consumer connected.
    waiting: VecDeque<Item>,
}

/// Most slots (16 bytes each) the subtasks of a keyed operator keep together when each holds its
/// state in a vector indexed by key: keys × parallelism, 1 MiB. Beyond it, a sparse map each.
const DENSE_SLOTS: u64 = 1 << 16;

/// A keyed operator's state on one subtask, key → value. Keys are below the logs' key count: a
/// vector indexed by key (the per-record lookup on the hot path) while keys × parallelism stays
/// within `DENSE_SLOTS` (every subtask has a slot for every key, its own or not), a map
/// otherwise. Either way a snapshot holds it as a map in key order.
#[derive(Clone)]
enum KeyedState {
    Dense(Vec<Option<i64>>),
    Sparse(BTreeMap<u32, i64>),
}

impl KeyedState {
    fn new(keys: u32, parallelism: u32) -> KeyedState {
        if u64::from(keys) * u64::from(parallelism) <= DENSE_SLOTS {
            KeyedState::Dense(Vec::new())
        } else {
            KeyedState::Sparse(BTreeMap::new())
        }
    }

    /// The key's value, 0 if it has none yet.
    fn slot(&mut self, key: u32) -> &mut i64 {
        match self {
            KeyedState::Dense(v) => {
                let k = key as usize;
                if k >= v.len() {
                    v.resize(k + 1, None);
                }
                v[k].get_or_insert(0)
            }
            KeyedState::Sparse(m) => m.entry(key).or_insert(0),
        }
    }

    fn to_map(&self) -> BTreeMap<u32, i64> {
        match self {
            KeyedState::Dense(v) => v.iter().enumerate().filter_map(|(k, x)| x.map(|x| (k as u32, x))).collect(),
            KeyedState::Sparse(m) => m.clone(),
        }
    }

    fn extend<'a>(&mut self, entries: impl Iterator<Item = (&'a u32, &'a i64)>) {
        for (&k, &x) in entries {
            *self.slot(k) = x;
        }
    }
}

impl SourceRt {
    /// When the record at cursor `i` is appended, or `u64::MAX` at the partition's end.
    fn append_at(log: &SourceLog, (p, off): (u32, u64)) -> TimeUs {
        if off < log.len(p) { log.append_time_us(p, off) } else { TimeUs::MAX }
    }

    fn refresh_all(&mut self, log: &SourceLog) {
        self.next_at = self.cursors.iter().map(|&c| Self::append_at(log, c)).collect();
    }
}

#[derive(Clone)]
struct SourceRt {
    log: usize,
    /// (partition, next offset to read).
    cursors: Vec<(u32, u64)>,
    /// Per cursor, when the record at it is appended (`u64::MAX`: the partition is read to its
    /// end): kept with the cursor, so choosing the next read divides nothing.
    next_at: Vec<TimeUs>,
    rr: usize,
    /// Checkpoint taken after the whole log was read; the source finishes when it completes.
    end_snapshot_cp: Option<u64>,
    /// The synchronous savepoint of a stop-with-savepoint this source stopped reading at: it
    /// finishes when that completes, and reads on if it is aborted.
    stopped_at: Option<u64>,
}

#[derive(Clone)]
struct SinkRt {
    op: OperatorId,
    semantic: SinkSemantic,
    /// The checkpoint the open transaction will be pre-committed at.
    next_checkpoint: u64,
    open_has_records: bool,
    committables: Vec<TxnId>,
    buffer: Vec<Record>,
    /// Producer epoch from initTransactions.
    epoch: u64,
    /// initTransactions answered (the epoch may be a stale one: a zombie's).
    initialized: bool,
    /// An appending sink sent writes the store has not confirmed yet (fire-and-forget batches):
    /// its flush at end of input must wait for them, as a producer's `flush()` does.
    unconfirmed: bool,
}

#[derive(Clone)]
struct Alignment {
    cp: u64,
    received: Vec<bool>,
    started_us: u64,
}

/// An unaligned snapshot whose channel state is still being collected: the operator state was
/// taken at the first barrier; records that arrive on an input before its barrier are added
/// until every input delivered its barrier or ended, and only then is it uploaded.
#[derive(Clone)]
struct UnalignedSnap {
    cp: u64,
    /// Per input: its barrier (or its end) has not arrived yet.
    pending: Vec<bool>,
    channel: Vec<Vec<Record>>,
    snap: Option<SubtaskSnapshot>,
}

#[derive(Clone)]
struct PendingSnap {
    cp: u64,
    upload_done: bool,
    prepares: u32,
    bytes: u64,
    alignment_us: u64,
    /// When the snapshot was taken and how many records the task had taken in by then.
    taken_at_us: u64,
    records_in_at: u64,
    local: Option<SubtaskSnapshot>,
    /// Bytes of channel state (unaligned).
    persisted_bytes: u64,
    /// Bytes uploaded (the increment, with incremental checkpoints).
    uploaded_bytes: u64,
}

/// Incremental checkpoints (RocksDB): the keys changed since the last snapshot, and per
/// snapshot not yet known to be completed, the keys it saw change. A snapshot uploads what
/// changed since the last completed checkpoint (the files that one does not have).
#[derive(Clone, Default)]
struct Changes {
    current: std::collections::BTreeSet<u32>,
    unconfirmed: Vec<(u64, std::collections::BTreeSet<u32>)>,
}

#[derive(Clone)]
pub(super) struct Task {
    pub id: AttemptId,
    /// The job (its submission) this attempt belongs to: its files are under that job's id.
    pub job: u32,
    pub phase: Phase,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    source: Option<SourceRt>,
    keyed: Option<(OperatorId, KeyedState)>,
    sinks: Vec<SinkRt>,
    rr: Vec<u32>,
    blocked_output: bool,
    /// The input whose turn comes first when the task may take records again: the one after
    /// the input last taken from. Flink's input gate queues the channels with data and puts a
    /// channel it polled back at the tail (`SingleInputGate.inputChannelsWithData`), so under
    /// back-pressure every input gets its turn; always starting at input 0 starved the others
    /// (and a barrier queued behind their records never arrived).
    next_input: usize,
    emit_scheduled: bool,
    align: Option<Alignment>,
    /// The barrier of the checkpoint being aligned or snapshotted: what goes downstream.
    barrier: Option<Barrier>,
    unaligned: Option<UnalignedSnap>,
    /// The newest checkpoint whose `aligned-checkpoint-timeout` timer is set.
    timeout_armed: u64,
    /// Incremental checkpoints: what changed (only for a task with keyed state).
    changes: Option<Changes>,
    /// Every input edge is all-to-all (hash, rebalance): only then may its barriers be
    /// unaligned. Flink forces pointwise (forward, rescale) and broadcast edges aligned, and a
    /// task with one such input aligns them all.
    all_to_all_inputs: bool,
    deferred_trigger: Option<(u64, bool)>,
    finishing: bool,
    snaps: Vec<PendingSnap>,
    /// Records this attempt took in (read from its source, or from its inputs).
    records_in: u64,
    restore: Option<RestoreDesc>,
    init_pending: u32,
    restore_started_us: u64,
    /// Final state (bytes) once the task finished, and whether it is in storage yet.
    final_state: Option<(u64, bool)>,
    /// Sink commits and end-of-input flushes the store has not confirmed yet. A commit is
    /// synchronous in Flink (`KafkaCommitter.commit` → `commitTransaction` waits for the broker,
    /// inside `notifyCheckpointComplete` or `endInput`), so the task never reports FINISHED while
    /// one is unanswered.
    acks_in_flight: u32,
    /// The task's last commits and flushes are sent (the final checkpoint's notification, the end
    /// of input without checkpoints, or nothing was left to commit): it finishes once
    /// `acks_in_flight` is zero.
    finish_when_acked: bool,
    /// The newest checkpoint this attempt snapshotted or heard was aborted: a trigger or barrier
    /// of an older one (overtaken on the way) is ignored, as SubtaskCheckpointCoordinatorImpl
    /// does ("Out of order checkpoint barrier (aborted previously?)").
    last_cp: u64,
}

type Res = Result<(), FailureCause>;

fn aligned(ctx: &Ctx) -> bool {
    ctx.sc().flink.checkpointing_mode == CheckpointingMode::ExactlyOnce && !ctx.bugs().skip_alignment
}

impl Task {
    fn new(graph: &JobGraph, logs: &[SourceLog], d: &Deployment) -> Task {
        let st = d.id.st;
        let index = graph.subtasks[st.0 as usize].index;
        let task = graph.task_of(st);
        let mut source = None;
        let mut keyed = None;
        let mut sinks = Vec::new();
        let mut log_index = 0;
        for (i, op) in graph.spec.operators.iter().enumerate() {
            let here = task.operators.contains(&OperatorId(i as u32));
            match &op.kind {
                OperatorKind::Source(_) if here => {
                    // KafkaSource-style static assignment: partition p → reader p mod parallelism.
                    let cursors = (0..logs[log_index].partitions)
                        .filter(|p| p % task.parallelism == index)
                        .map(|p| (p, 0))
                        .collect();
                    let mut src = SourceRt {
                        log: log_index,
                        cursors,
                        next_at: Vec::new(),
                        rr: 0,
                        end_snapshot_cp: None,
                        stopped_at: None,
                    };
                    src.refresh_all(&logs[log_index]);
                    source = Some(src);
                }
                k if k.is_keyed() && here => {
                    let keys = logs.iter().map(|l| l.keys).max().unwrap_or(0);
                    keyed = Some((OperatorId(i as u32), KeyedState::new(keys, task.parallelism)));
                }
                OperatorKind::Sink(semantic) if here => sinks.push(SinkRt {
                    op: OperatorId(i as u32),
                    semantic: *semantic,
                    next_checkpoint: 1,
                    open_has_records: false,
                    committables: Vec::new(),
                    buffer: Vec::new(),
                    epoch: 0,
                    initialized: false,
                    unconfirmed: false,
                }),
                // An operator of another task, or a stateless one: no state of its own here.
                _ => {}
            }
            if matches!(op.kind, OperatorKind::Source(_)) {
                log_index += 1;
            }
        }
        let inputs = d
            .inputs
            .iter()
            .map(|&(from, producer)| Input {
                from,
                producer,
                queue: VecDeque::new(),
                unannounced: 0,
                drain_scheduled: false,
                ended: false,
                recovered: 0,
            })
            .collect();
        let outputs = graph.out_channels[st.0 as usize]
            .iter()
            .map(|&ch| Output { ch, consumer: None, credit: 0, waiting: VecDeque::new() })
            .collect();
        Task {
            id: d.id,
            phase: Phase::Deploying,
            inputs,
            outputs,
            source,
            keyed,
            sinks,
            rr: vec![0; graph.edges.len()],
            blocked_output: false,
            next_input: 0,
            emit_scheduled: false,
            align: None,
            barrier: None,
            unaligned: None,
            timeout_armed: 0,
            changes: None,
            all_to_all_inputs: graph.subtasks[st.0 as usize].inputs.iter().all(|ch| {
                let edge = graph.channels[ch.0 as usize].edge as usize;
                matches!(graph.edges[edge].kind, EdgeKind::Hash | EdgeKind::Rebalance)
            }),
            deferred_trigger: None,
            finishing: false,
            snaps: Vec::new(),
            records_in: 0,
            restore: d.restore.clone(),
            init_pending: 0,
            restore_started_us: 0,
            final_state: None,
            acks_in_flight: 0,
            finish_when_acked: false,
            last_cp: 0,
            job: d.job,
        }
    }

    /// The task stops (failure, cancel, lost JobManager): like a Kafka producer's `close()`,
    /// the sinks send what they buffered — a zombie's last writes, which only fencing stops.
    pub(super) fn close_sinks(&mut self, ctx: &mut Ctx) {
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        let id = self.id;
        for sink in &mut self.sinks {
            let records = std::mem::take(&mut sink.buffer);
            if records.is_empty() {
                continue;
            }
            match sink.semantic {
                SinkSemantic::Append | SinkSemantic::Upsert => {
                    ctx.send(HostId::STORE, Msg::Append { sink: sink.op, records, ack: None, cp: 0 })
                }
                SinkSemantic::TwoPhaseCommit => {
                    let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint };
                    ctx.send(HostId::STORE, Msg::Produce { id, txn, epoch: sink.epoch, records });
                }
            }
        }
    }

    /// Whether the task is still deployed as far as the JobMaster should know: not gone, and
    /// not finished with its FINISHED update sent.
    pub(super) fn reported_as_deployed(&self) -> bool {
        match self.phase {
            Phase::Done => false,
            Phase::Finished => !self.final_state.is_some_and(|f| f.1),
            _ => true,
        }
    }

    fn active(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Can the task emit one more record on every output channel (credit everywhere)?
    fn outputs_available(&self) -> bool {
        self.outputs.iter().all(|o| o.credit > 0)
    }

    fn send_item(&mut self, ctx: &mut Ctx, k: usize, item: Item) {
        let o = &mut self.outputs[k];
        let Some((host, consumer)) = o.consumer else {
            // Not connected yet: events wait for the partition request; records never get here
            // (no credit before it).
            if !matches!(item, Item::Record(_)) {
                o.waiting.push_back(item);
            }
            return;
        };
        if matches!(item, Item::Record(_)) {
            o.credit = o.credit.saturating_sub(1);
        }
        let ch = o.ch;
        ctx.send(host, Msg::Data { ch, producer: self.id.attempt, consumer, item });
    }

    /// Operator `op` produced `rec`: hand it to chained successors and network edges.
    fn emit(&mut self, ctx: &mut Ctx, op: OperatorId, rec: Record) -> Res {
        let graph = ctx.graph();
        let o = op.0 as usize;
        for &next in &graph.outputs[o].chained {
            self.process(ctx, next, rec)?;
        }
        let index = graph.subtasks[self.id.st.0 as usize].index as usize;
        for &e in &graph.outputs[o].network {
            let edge = &graph.edges[e as usize];
            let targets = &edge.channels[index];
            let ch = match edge.kind {
                EdgeKind::Forward => targets[0],
                EdgeKind::Hash => {
                    let pd = targets.len() as u32;
                    targets[subtask_for_key(rec.key, graph.max_parallelism[edge.to_operator.0 as usize], pd) as usize]
                }
                EdgeKind::Rebalance | EdgeKind::Rescale => {
                    let rr = &mut self.rr[e as usize];
                    let ch = targets[*rr as usize % targets.len()];
                    *rr = rr.wrapping_add(1);
                    ch
                }
                EdgeKind::Broadcast => {
                    for &ch in targets {
                        let k = graph.output_index[ch.0 as usize] as usize;
                        self.send_item(ctx, k, Item::Record(rec));
                    }
                    continue;
                }
            };
            let k = graph.output_index[ch.0 as usize] as usize;
            self.send_item(ctx, k, Item::Record(rec));
        }
        Ok(())
    }

    /// Runs operator `op` on `rec`.
    fn process(&mut self, ctx: &mut Ctx, op: OperatorId, rec: Record) -> Res {
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        if ctx.record_fault_fires(index, op, &rec) {
            return Err(FailureCause::TaskException);
        }
        let kind = &ctx.graph().spec.operators[op.0 as usize].kind;
        match kind {
            OperatorKind::Source(_) => Ok(()),
            OperatorKind::Map { .. } | OperatorKind::Filter { .. } => match apply_stateless(kind, rec) {
                Some(out) => self.emit(ctx, op, out),
                None => Ok(()),
            },
            OperatorKind::KeyedCount | OperatorKind::KeyedSum => {
                let (_, state) = self.keyed.as_mut().expect("keyed operators have keyed state");
                let v = state.slot(rec.key);
                *v = apply_keyed(kind, *v, &rec);
                let out = Record { value: *v, ..rec };
                if let Some(c) = &mut self.changes {
                    c.current.insert(rec.key);
                }
                self.emit(ctx, op, out)
            }
            OperatorKind::Sink(_) => {
                self.sink_write(ctx, op, rec);
                Ok(())
            }
        }
    }

    fn sink_write(&mut self, ctx: &mut Ctx, op: OperatorId, rec: Record) {
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        let id = self.id;
        let sink = self.sinks.iter_mut().find(|k| k.op == op).expect("sink operator has a sink runtime");
        sink.buffer.push(rec);
        sink.open_has_records = true;
        let batch = if sink.semantic.writes_at_once() { APPEND_BATCH } else { SINK_BATCH };
        if sink.buffer.len() >= batch {
            let records = std::mem::replace(&mut sink.buffer, Vec::with_capacity(batch));
            match sink.semantic {
                SinkSemantic::Append | SinkSemantic::Upsert => {
                    sink.unconfirmed = true;
                    ctx.send(HostId::STORE, Msg::Append { sink: op, records, ack: None, cp: 0 });
                }
                SinkSemantic::TwoPhaseCommit => {
                    let txn = TxnId { sink: op, index, checkpoint: sink.next_checkpoint };
                    ctx.send(HostId::STORE, Msg::Produce { id, txn, epoch: sink.epoch, records });
                }
            }
        }
    }

    /// Reads the next record of the source, if one is there and the outputs have credit.
    fn source_emit(&mut self, ctx: &mut Ctx) -> Res {
        if self.source.as_ref().is_some_and(|s| s.stopped_at.is_some()) {
            // Stopped by a stop-with-savepoint: nothing more is read.
            return Ok(());
        }
        if !self.active() || self.finishing {
            return Ok(());
        }
        if !self.outputs_available() {
            self.blocked_output = true;
            return Ok(());
        }
        let now = ctx.now();
        let logs = ctx.logs();
        let src = self.source.as_ref().expect("SourceEmit only for sources");
        let log = &logs[src.log];
        let n = src.cursors.len();
        // Round robin over this reader's partitions: the first one with a record already appended.
        let mut pick = None;
        let mut next_append = u64::MAX;
        for k in 0..n {
            let i = (src.rr + k) % n;
            let t = src.next_at[i];
            if t == TimeUs::MAX {
                continue;
            }
            if t <= now {
                pick = Some(i);
                break;
            }
            next_append = next_append.min(t);
        }
        let Some(i) = pick else {
            if next_append != u64::MAX {
                self.schedule_emit(ctx, next_append);
            }
            // Otherwise the whole log is read: the source waits for a checkpoint to finish, or
            // without checkpoints ends its input now.
            if next_append == u64::MAX && ctx.sc().flink.checkpoint_interval_us.is_none() {
                self.end_input_without_checkpoints(ctx);
            }
            return Ok(());
        };
        let (p, off) = src.cursors[i];
        let rec = log.record(p, off);
        let src = self.source.as_mut().expect("checked above");
        src.cursors[i].1 = off + 1;
        src.next_at[i] = SourceRt::append_at(log, src.cursors[i]);
        src.rr = (i + 1) % n;
        self.records_in += 1;
        ctx.count_read(self.id.st, p, off + 1);
        let head = ctx.graph().task_of(self.id.st).operators[0];
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        if ctx.record_fault_fires(index, head, &rec) {
            return Err(FailureCause::TaskException);
        }
        self.emit(ctx, head, rec)?;
        // Next read: not before the catch-up pace allows, nor before a record is there.
        let catch_up = match &ctx.graph().spec.operators[head.0 as usize].kind {
            OperatorKind::Source(s) => (1_000_000 / s.catch_up_rate_per_s.max(1)).max(1),
            _ => 1,
        };
        let src = self.source.as_ref().expect("checked above");
        let next = src.next_at.iter().copied().filter(|&t| t != TimeUs::MAX).min();
        match next {
            Some(t) => self.schedule_emit(ctx, t.max(now + catch_up)),
            None if ctx.sc().flink.checkpoint_interval_us.is_none() => self.end_input_without_checkpoints(ctx),
            None => {}
        }
        Ok(())
    }

    fn schedule_emit(&mut self, ctx: &mut Ctx, at_us: u64) {
        if !self.emit_scheduled {
            self.emit_scheduled = true;
            ctx.timer_at(at_us, Timer::Te(TeTimer::SourceEmit { id: self.id }));
        }
    }

    fn input_blocked(&self, ctx: &Ctx, k: usize) -> bool {
        aligned(ctx) && self.align.as_ref().is_some_and(|a| a.received[k])
    }

    fn schedule_drain(&mut self, ctx: &mut Ctx, k: usize) {
        if !self.active() || self.blocked_output || self.input_blocked(ctx, k) {
            return;
        }
        let i = &mut self.inputs[k];
        if i.drain_scheduled || i.queue.is_empty() {
            return;
        }
        i.drain_scheduled = true;
        ctx.timer(0, Timer::Te(TeTimer::Drain { id: self.id, input: k as u32 }));
    }

    /// Lets a running task make progress: sources emit, others pull from their inputs.
    fn wake(&mut self, ctx: &mut Ctx) {
        if self.source.is_some() {
            self.schedule_emit(ctx, ctx.now());
        }
        let n = self.inputs.len();
        for j in 0..n {
            self.schedule_drain(ctx, (self.next_input + j) % n);
        }
    }

    /// Processes the head item of input `k`.
    fn deliver_one(&mut self, ctx: &mut Ctx, k: usize) -> Res {
        if !self.active() || self.blocked_output || self.input_blocked(ctx, k) {
            return Ok(());
        }
        // Processing a record may emit one record per output channel: look before taking it.
        if !self.outputs_available() {
            self.blocked_output = true;
            return Ok(());
        }
        let Some(item) = self.inputs[k].queue.pop_front() else { return Ok(()) };
        self.next_input = (k + 1) % self.inputs.len();
        match item {
            Item::Record(rec) => {
                self.records_in += 1;
                if self.inputs[k].recovered > 0 {
                    self.inputs[k].recovered -= 1;
                } else {
                    self.announce_credit(ctx, k);
                }
                let head = ctx.graph().task_of(self.id.st).operators[0];
                self.process(ctx, head, rec)?;
            }
            // Taken from the queue: what is queued behind it came after it.
            Item::Barrier(b) if self.overtakes(ctx, &b) => self.on_priority_barrier(ctx, k, b, false),
            Item::Barrier(b) => self.on_barrier(ctx, k, b),
            Item::EndOfPartition => self.on_end_of_partition(ctx, k),
        }
        self.schedule_drain(ctx, k);
        Ok(())
    }

    /// A buffer was freed: credit goes back to the producer in batches of a quarter of the
    /// channel's buffers.
    fn announce_credit(&mut self, ctx: &mut Ctx, k: usize) {
        let cap = ctx.sc().cluster.channel_capacity;
        let i = &mut self.inputs[k];
        i.unannounced += 1;
        if i.unannounced >= (cap / 4).max(1) {
            let credit = std::mem::take(&mut i.unannounced);
            let ch = ctx.graph().subtasks[self.id.st.0 as usize].inputs[k];
            let producer =
                AttemptId { st: ctx.graph().channels[ch.0 as usize].from, attempt: i.producer, jm: self.id.jm };
            ctx.send(i.from, Msg::Credit { ch, producer, credit });
        }
    }

    fn on_end_of_partition(&mut self, ctx: &mut Ctx, k: usize) {
        self.inputs[k].ended = true;
        self.complete_alignment_if_done(ctx);
        if !self.inputs.iter().all(|i| i.ended) {
            return;
        }
        if let Some((cp, stop)) = self.deferred_trigger.take() {
            self.barrier = Some(Barrier { cp, at_us: ctx.now(), savepoint: stop });
            self.snapshot(ctx, cp, 0);
        }
        if ctx.sc().flink.checkpoint_interval_us.is_none() {
            self.end_input_without_checkpoints(ctx);
        } else if self.sinks.iter().all(|k| k.committables.is_empty() && !k.open_has_records && !k.unconfirmed)
            && self.snaps.iter().all(|s| s.prepares == 0)
        {
            // Nothing left for a checkpoint to commit or flush (a flush still unanswered keeps
            // the task until a checkpoint that includes it completes); a commit of an earlier
            // checkpoint still on its way to the store is waited for.
            self.finishing = true;
            self.finish_when_acked = true;
            self.finish_if_acked(ctx);
        } else {
            self.finishing = true;
        }
    }

    /// End of input with checkpointing disabled: no final checkpoint will come, so the sinks
    /// finish their work now. The writer flushes and pre-commits (`SinkWriterOperator.endInput`:
    /// `flush(true)`, `prepareCommit`), the committer commits at once (`CommitterOperator.endInput`
    /// when checkpointing is off), an appending sink flushes; the task finishes once the store
    /// has confirmed each of them (the commit is synchronous in `endInput`).
    fn end_input_without_checkpoints(&mut self, ctx: &mut Ctx) {
        if self.finishing {
            return;
        }
        self.finishing = true;
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        let id = self.id;
        let mut waits = 0;
        for sink in &mut self.sinks {
            let records = std::mem::take(&mut sink.buffer);
            match sink.semantic {
                SinkSemantic::Append | SinkSemantic::Upsert => {
                    // The flush also waits for the batches already sent (the link to the store
                    // is in order, so its answer comes after theirs were written): a batch still
                    // on the wire when the task reported FINISHED would be lost to the job.
                    if !records.is_empty() || sink.unconfirmed {
                        ctx.send(HostId::STORE, Msg::Append { sink: sink.op, records, ack: Some(id), cp: 0 });
                        sink.unconfirmed = false;
                        waits += 1;
                    }
                }
                SinkSemantic::TwoPhaseCommit => {
                    if sink.open_has_records {
                        let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint };
                        let epoch = sink.epoch;
                        ctx.send(HostId::STORE, Msg::Prepare { id, txn, epoch, records, cp: 0 });
                        ctx.send(HostId::STORE, Msg::Commit { id, txn, epoch, recovered: false, ack: true });
                        waits += 1;
                    }
                }
            }
            sink.open_has_records = false;
        }
        self.acks_in_flight += waits;
        self.finish_when_acked = true;
        self.finish_if_acked(ctx);
    }

    /// Reports FINISHED once the last commits and flushes are sent and the store confirmed each.
    fn finish_if_acked(&mut self, ctx: &mut Ctx) {
        if self.finish_when_acked && self.acks_in_flight == 0 && self.phase == Phase::Running {
            self.finish(ctx);
        }
    }

    /// The store confirmed a commit or an end-of-input flush: `false` if it fenced this attempt
    /// (a newer one of the subtask initialized its producer), which fails the task.
    fn on_sink_ack(&mut self, ctx: &mut Ctx, ok: bool) -> Res {
        if !ok {
            return Err(FailureCause::ProducerFenced);
        }
        self.acks_in_flight = self.acks_in_flight.saturating_sub(1);
        self.finish_if_acked(ctx);
        Ok(())
    }

    /// No more input: end the partitions, upload the final state (it stands in for the task in
    /// later checkpoints, FLIP-147) and report FINISHED once it is stored. Without checkpoints
    /// there is nothing to stand in for: FINISHED at once (`StreamTask.afterInvoke` waits for a
    /// final checkpoint only when `areCheckpointsWithFinishedTasksEnabled`).
    fn finish(&mut self, ctx: &mut Ctx) {
        for k in 0..self.outputs.len() {
            self.send_item(ctx, k, Item::EndOfPartition);
        }
        self.phase = Phase::Finished;
        let file = FileKey { job: self.job, cp: 0, st: self.id.st };
        if ctx.sc().flink.checkpoint_interval_us.is_none() {
            self.final_state = Some((0, true));
            ctx.send(HostId::JOBMANAGER, Msg::TaskFinished { id: self.id, file, bytes: 0 });
            return;
        }
        let mut last = self.capture_state(ctx);
        last.bytes = snapshot_bytes(&last, &ctx.graph().spec.operators);
        self.final_state = Some((last.bytes, false));
        ctx.send(HostId::STORAGE, Msg::Upload { id: self.id, cp: 0, file, snapshot: Box::new(last), head_start_us: 0 });
    }

    /// Commits every committable pre-committed at or before `cp`; each commit is answered
    /// (`SinkAck`) and counted in `acks_in_flight` until then.
    fn commit_up_to(&mut self, ctx: &mut Ctx, cp: u64) {
        let id = self.id;
        let mut sent = 0;
        for sink in &mut self.sinks {
            let epoch = sink.epoch;
            sink.committables.retain(|&txn| {
                if txn.checkpoint <= cp {
                    ctx.send(HostId::STORE, Msg::Commit { id, txn, epoch, recovered: false, ack: true });
                    sent += 1;
                    false
                } else {
                    true
                }
            });
        }
        self.acks_in_flight += sent;
    }

    /// A checkpoint completed: commit what it covers. The checkpoint after end of input is the
    /// task's last (FLIP-147): `StreamTask` finishes only once `notifyCheckpointComplete` has
    /// returned, and the committer's commit in it is synchronous (KafkaCommitter:
    /// `commitTransaction` waits for the broker), so the task waits for the store to confirm
    /// those commits before it reports FINISHED.
    fn on_notify_complete(&mut self, ctx: &mut Ctx, cp: u64) {
        if let Some(c) = &mut self.changes {
            // Checkpoint `cp` completed: later snapshots build on its files.
            if c.unconfirmed.iter().any(|(taken, _)| *taken == cp) {
                c.unconfirmed.retain(|(taken, _)| *taken > cp);
            }
        }
        if !matches!(self.phase, Phase::Running) || self.finish_when_acked {
            return;
        }
        let source_done = self.source.as_ref().and_then(|s| s.end_snapshot_cp).is_some_and(|end| end <= cp);
        let last = source_done
            || (self.finishing && self.sinks.iter().all(|k| k.committables.iter().all(|t| t.checkpoint <= cp)));
        self.commit_up_to(ctx, cp);
        if last {
            self.finishing = true;
            self.finish_when_acked = true;
            self.finish_if_acked(ctx);
        }
    }

    /// This task's state, for an observer.
    pub(super) fn inspect(&self) -> crate::cluster::inspect::TaskView {
        let inputs: Vec<(u64, u64)> = self
            .inputs
            .iter()
            .map(|i| {
                let records = i.queue.iter().filter(|x| matches!(x, Item::Record(_))).count() as u64;
                let barriers = i.queue.iter().filter(|x| matches!(x, Item::Barrier(_))).count() as u64;
                (records, barriers)
            })
            .collect();
        crate::cluster::inspect::TaskView {
            st: self.id.st,
            attempt: self.id.attempt,
            jm: self.id.jm,
            phase: match self.phase {
                Phase::Deploying => "DEPLOYING",
                Phase::Initializing => "INITIALIZING",
                Phase::Running => "RUNNING",
                Phase::Finished => "FINISHED (end of input)",
                Phase::Done => "DONE",
            },
            inputs,
            alignment: self.align.as_ref().map(|a| {
                (a.cp, a.received.iter().filter(|r| **r).count() as u32, a.received.len() as u32, a.started_us)
            }),
            back_pressured: self.blocked_output,
            snapshots_in_progress: self.snaps.iter().map(|p| p.cp).collect(),
        }
    }
}
