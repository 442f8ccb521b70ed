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

    fn on_barrier(&mut self, ctx: &mut Ctx, k: usize, b: Barrier) {
        let cp = b.cp;
        if cp <= self.last_cp {
            return;
        }
        let n = self.inputs.len();
        let now = ctx.now();
        let mut abandoned = false;
        match &self.align {
            Some(a) if a.cp > cp => return, // a barrier of a checkpoint already given up
            Some(a) if a.cp == cp => {}
            other => {
                // First barrier of a newer checkpoint: an older alignment is abandoned and the
                // channels it blocked flow again.
                abandoned = other.is_some();
                self.align = Some(Alignment { cp, received: vec![false; n], started_us: now });
                self.barrier = Some(b);
            }
        }
        let a = self.align.as_mut().expect("set above");
        if a.received[k] {
            return;
        }
        a.received[k] = true;
        // Alignment started: a barrier on one input of several, the others still to come.
        if n > 1
            && a.received.iter().filter(|r| **r).count() == 1
            && a.received.iter().zip(&self.inputs).any(|(r, i)| !r && !i.ended)
        {
            ctx.probe(Probe::Subtask { phase: ProtocolPhase::BarrierOnSomeInputs, st: self.id.st, cp });
        }
        self.complete_alignment_if_done(ctx);
        if abandoned {
            self.wake(ctx);
        }
    }

    /// Snapshots once every input delivered the barrier or has ended.
    fn complete_alignment_if_done(&mut self, ctx: &mut Ctx) {
        let Some(a) = &self.align else { return };
        if a.received.iter().zip(&self.inputs).any(|(r, i)| !r && !i.ended) {
            return;
        }
        let (cp, alignment_us) = (a.cp, ctx.now() - a.started_us);
        self.align = None;
        self.snapshot(ctx, cp, alignment_us);
        self.wake(ctx);
    }

    /// Whether barrier `b` is handled unaligned, ahead of the records queued before it:
    /// unaligned checkpoints on (`execution.checkpointing.unaligned.enabled`), EXACTLY_ONCE,
    /// not a savepoint's barrier (savepoints are always aligned), and, with an
    /// `aligned-checkpoint-timeout`, that long since the barrier left its source (or its
    /// checkpoint already turned unaligned here).
    pub(super) fn overtakes(&self, ctx: &Ctx, b: &Barrier) -> bool {
        let f = &ctx.sc().flink;
        if !f.unaligned || !aligned(ctx) || b.savepoint || !self.all_to_all_inputs || self.phase != Phase::Running {
            return false;
        }
        self.unaligned.as_ref().is_some_and(|u| u.cp == b.cp)
            || ctx.now().saturating_sub(b.at_us) >= f.aligned_checkpoint_timeout_us
    }

    /// An unaligned barrier on input `k`. The first of its checkpoint snapshots the task at
    /// once — the records queued on every input before their barrier become channel state —
    /// and goes downstream; the others close their input's channel state. `queued_before`: the
    /// barrier arrived and every record queued on `k` came before it (else it was taken from
    /// the head of the queue and what is queued came after it).
    pub(super) fn on_priority_barrier(&mut self, ctx: &mut Ctx, k: usize, b: Barrier, queued_before: bool) {
        if let Some(u) = self.unaligned.as_mut().filter(|u| u.cp == b.cp) {
            u.pending[k] = false;
            self.finish_unaligned_if_done(ctx);
            return;
        }
        if b.cp <= self.last_cp
            || self.align.as_ref().is_some_and(|a| a.cp > b.cp)
            || self.unaligned.as_ref().is_some_and(|u| u.cp > b.cp)
        {
            return;
        }
        // An alignment of this checkpoint so far continues unaligned; an older one is abandoned
        // (its channels flow again), as is an older unaligned snapshot.
        let so_far = self.align.take().filter(|a| a.cp == b.cp);
        let mut done = so_far.as_ref().map_or_else(|| vec![false; self.inputs.len()], |a| a.received.clone());
        if queued_before {
            // Every record queued on `k` precedes the barrier: channel state, collected below.
            self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, Some(k));
        } else {
            done[k] = true;
            self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, None);
        }
    }

    /// Turns checkpoint `b` unaligned here: the snapshot now, with channel state per input —
    /// nothing for an input whose barrier came already (`done`: what is queued came after it),
    /// else the records queued before its barrier (the barrier then leaves the queue) or, with
    /// no barrier there yet, every record queued and every one that arrives until it does.
    fn start_unaligned(
        &mut self,
        ctx: &mut Ctx,
        b: Barrier,
        aligning_since: Option<u64>,
        done: &[bool],
        k: Option<usize>,
    ) {
        let n = self.inputs.len();
        let mut pending = vec![false; n];
        let mut channel = vec![Vec::new(); n];
        for j in 0..n {
            if done[j] {
                continue;
            }
            let mut closed = Some(j) == k || self.inputs[j].ended;
            let q = &mut self.inputs[j].queue;
            let mut before = Vec::new();
            let mut barrier_at = None;
            for (i, item) in q.iter().enumerate() {
                match item {
                    Item::Record(r) => before.push(*r),
                    Item::Barrier(x) if x.cp == b.cp => {
                        barrier_at = Some(i);
                        break;
                    }
                    Item::Barrier(_) => {}
                    Item::EndOfPartition => {
                        closed = true;
                        break;
                    }
                }
            }
            if let Some(i) = barrier_at {
                q.remove(i);
                closed = true;
            }
            pending[j] = !closed;
            channel[j] = before;
        }
        self.unaligned = Some(UnalignedSnap { cp: b.cp, pending, channel, snap: None });
        self.barrier = Some(b);
        let alignment_us = aligning_since.map_or(0, |s| ctx.now() - s);
        self.snapshot(ctx, b.cp, alignment_us);
        self.finish_unaligned_if_done(ctx);
        self.wake(ctx);
    }

    /// A record or the end of input `k` arrived: while an unaligned snapshot waits for that
    /// input's barrier, the record is channel state too (it is also processed as usual).
    pub(super) fn collect_channel_state(&mut self, ctx: &mut Ctx, k: usize, item: &Item) {
        let Some(u) = self.unaligned.as_mut() else { return };
        if !u.pending[k] {
            return;
        }
        match item {
            Item::Record(r) => u.channel[k].push(*r),
            Item::EndOfPartition => {
                u.pending[k] = false;
                self.finish_unaligned_if_done(ctx);
            }
            Item::Barrier(_) => {}
        }
    }

    /// Every input's channel state is complete: the unaligned snapshot is uploaded.
    fn finish_unaligned_if_done(&mut self, ctx: &mut Ctx) {
        if self.unaligned.as_ref().is_none_or(|u| u.pending.iter().any(|p| *p) || u.snap.is_none()) {
            return;
        }
        let Some(UnalignedSnap { cp, channel, snap: Some(mut snap), .. }) = self.unaligned.take() else { return };
        snap.channel_state = channel;
        let before = snap.bytes;
        snap.bytes = snapshot_bytes(&snap, &ctx.graph().spec.operators);
        if let Some(u) = &mut snap.uploaded_bytes {
            *u += snap.bytes - before;
        }
        let Some(pending) = self.snaps.iter_mut().find(|s| s.cp == cp) else { return };
        pending.bytes = snap.bytes;
        pending.uploaded_bytes = snap.uploaded_bytes.unwrap_or(snap.bytes);
        pending.persisted_bytes = snap.channel_state.iter().map(|c| c.len() as u64).sum::<u64>()
            * crate::cluster::msg::BYTES_PER_IN_FLIGHT_RECORD;
        pending.local = ctx.sc().flink.local_recovery.then(|| snap.clone());
        let head_start_us = ctx.now() - pending.taken_at_us;
        let file = FileKey { job: self.job, cp, st: self.id.st };
        ctx.send(HostId::STORAGE, Msg::Upload { id: self.id, cp, file, snapshot: Box::new(snap), head_start_us });
    }

    /// `aligned-checkpoint-timeout` ran out for checkpoint `cp`: if this task is aligning it,
    /// or holds one of its barriers in a queue, it turns unaligned.
    pub(super) fn on_alignment_timeout(&mut self, ctx: &mut Ctx, cp: u64) {
        if cp <= self.last_cp || self.phase != Phase::Running || self.unaligned.as_ref().is_some_and(|u| u.cp >= cp) {
            return;
        }
        let aligning = self.align.as_ref().filter(|a| a.cp == cp).cloned();
        let queued = self.inputs.iter().flat_map(|i| i.queue.iter()).find_map(|x| match x {
            Item::Barrier(b) if b.cp == cp => Some(*b),
            _ => None,
        });
        let b = match (&aligning, queued) {
            (Some(_), _) => self.barrier.filter(|b| b.cp == cp),
            (None, q) => q,
        };
        let Some(b) = b else { return };
        if !self.overtakes(ctx, &b) {
            return;
        }
        let so_far = aligning.inspect(|_| self.align = None);
        let done = so_far.as_ref().map_or_else(|| vec![false; self.inputs.len()], |a| a.received.clone());
        self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, None);
    }

    /// The task's state as a snapshot holds it: read positions, keyed state, committables.
    fn capture_state(&self, ctx: &Ctx) -> SubtaskSnapshot {
        let mut snap = SubtaskSnapshot::default();
        if let Some(src) = &self.source {
            snap.source_positions = src.cursors.clone();
            let log = &ctx.logs()[src.log];
            snap.source_at_end = src.cursors.iter().all(|&(p, off)| off >= log.len(p));
        }
        if let Some((op, state)) = &self.keyed {
            snap.keyed.push((*op, state.to_map()));
        }
        for sink in &self.sinks {
            snap.committables.extend(sink.committables.iter().copied());
        }
        snap
    }

    /// Synchronous snapshot of the whole task, barrier downstream, then the asynchronous upload
    /// and the sinks' pre-commit; the acknowledgement goes out when both are done.
    fn snapshot(&mut self, ctx: &mut Ctx, cp: u64, alignment_us: u64) {
        if cp <= self.last_cp {
            return;
        }
        self.last_cp = cp;
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        let id = self.id;
        let mut snap = self.capture_state(ctx);
        if let Some(src) = &mut self.source
            && snap.source_at_end
            && src.end_snapshot_cp.is_none()
        {
            src.end_snapshot_cp = Some(cp);
        }
        let mut prepares = 0;
        // A flush of an earlier checkpoint the store has not confirmed yet (that checkpoint may
        // have been aborted meanwhile): in Flink the task thread is still blocked in it, so no
        // later checkpoint is acknowledged before those records are written.
        let earlier_flush_pending = self.snaps.iter().any(|s| s.prepares > 0);
        for sink in &mut self.sinks {
            let records = std::mem::take(&mut sink.buffer);
            match sink.semantic {
                SinkSemantic::Append | SinkSemantic::Upsert => {
                    // SinkWriterOperator.prepareSnapshotPreBarrier → flush(false): an
                    // at-least-once writer's flush waits until the store has every record sent
                    // so far (KafkaWriter: producer.flush()), so the checkpoint is acknowledged
                    // only once what precedes its barrier is written. The link to the store is
                    // FIFO, so this flush is confirmed only after every earlier one.
                    if !records.is_empty() || sink.unconfirmed || earlier_flush_pending {
                        ctx.send(HostId::STORE, Msg::Append { sink: sink.op, records, ack: Some(id), cp });
                        sink.unconfirmed = false;
                        prepares += 1;
                    }
                }
                SinkSemantic::TwoPhaseCommit => {
                    // Pre-commit: flush and prepare the open transaction; it becomes a
                    // committable of this checkpoint.
                    let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint };
                    if sink.open_has_records {
                        let records = if ctx.bugs().no_flush_on_pre_commit { Vec::new() } else { records };
                        ctx.send(HostId::STORE, Msg::Prepare { id, txn, epoch: sink.epoch, records, cp });
                        prepares += 1;
                        sink.committables.push(txn);
                        if ctx.bugs().commit_on_snapshot {
                            ctx.send(
                                HostId::STORE,
                                Msg::Commit { id, txn, epoch: sink.epoch, recovered: false, ack: false },
                            );
                        }
                    }
                }
            }
            sink.open_has_records = false;
            sink.next_checkpoint = cp + 1;
        }
        snap.committables = self.sinks.iter().flat_map(|k| k.committables.iter().copied()).collect();
        snap.bytes = snapshot_bytes(&snap, &ctx.graph().spec.operators);
        // A savepoint is self-contained: it uploads everything and is no base for later ones.
        let savepoint = self.barrier.is_some_and(|b| b.cp == cp && b.savepoint);
        if let (Some(c), Some((op, _)), false) = (&mut self.changes, &self.keyed, savepoint) {
            // The keys changed since the last completed checkpoint; everything else is in
            // files that checkpoint already has.
            let mut changed = c.current.clone();
            for (_, keys) in &c.unconfirmed {
                changed.extend(keys.iter().copied());
            }
            let per_key = ctx.graph().spec.operators[op.0 as usize].state_bytes_per_key;
            let full_keyed = snap.keyed.iter().map(|(_, m)| m.len() as u64).sum::<u64>().saturating_mul(per_key);
            let increment = (changed.len() as u64).saturating_mul(per_key);
            snap.uploaded_bytes = Some(snap.bytes.saturating_sub(full_keyed).saturating_add(increment));
            let seen = std::mem::take(&mut c.current);
            c.unconfirmed.push((cp, seen));
        }
        let bytes = snap.bytes;
        let uploaded_bytes = snap.uploaded_bytes.unwrap_or(bytes);
        let barrier = self.barrier.filter(|b| b.cp == cp).unwrap_or(Barrier { cp, at_us: ctx.now(), savepoint: false });
        for k in 0..self.outputs.len() {
            self.send_item(ctx, k, Item::Barrier(barrier));
        }
        // An unaligned snapshot is uploaded once its channel state is complete.
        let local = match self.unaligned.as_mut().filter(|u| u.cp == cp) {
            Some(u) => {
                u.snap = Some(snap);
                None
            }
            None => {
                let local = ctx.sc().flink.local_recovery.then(|| snap.clone());
                let file = FileKey { job: self.job, cp, st: id.st };
                ctx.send(HostId::STORAGE, Msg::Upload { id, cp, file, snapshot: Box::new(snap), head_start_us: 0 });
                local
            }
        };
        self.snaps.push(PendingSnap {
            cp,
            upload_done: false,
            prepares,
            bytes,
            alignment_us,
            taken_at_us: ctx.now(),
            records_in_at: self.records_in,
            local,
            persisted_bytes: 0,
            uploaded_bytes,
        });
        ctx.probe(Probe::Subtask { phase: ProtocolPhase::SnapshotTaken, st: id.st, cp });
    }

    /// The coordinator's trigger: a source snapshots and emits the barrier at once; a task whose
    /// upstream finished does so once the last EndOfPartition (after all data) has arrived. A
    /// task past its end (its final checkpoint done, EndOfPartition sent: the JobMaster had not
    /// heard FINISHED yet when it triggered) or not yet running declines, as
    /// `Task.triggerCheckpointBarrier` does (mailbox closed: CHECKPOINT_DECLINED_TASK_CLOSING;
    /// not RUNNING: CHECKPOINT_DECLINED_TASK_NOT_READY). It cannot stand in with its final
    /// state: the tasks it fed got their EndOfPartition before any barrier of this checkpoint
    /// and were not triggered themselves, so they would never acknowledge it.
    fn on_trigger(&mut self, ctx: &mut Ctx, cp: u64, stop: bool) {
        if cp <= self.last_cp {
            return;
        }
        match self.phase {
            Phase::Running => {
                if self.inputs.iter().all(|i| i.ended) {
                    self.barrier = Some(Barrier { cp, at_us: ctx.now(), savepoint: stop });
                    self.snapshot(ctx, cp, 0);
                    if stop && let Some(src) = self.source.as_mut() {
                        // Stop-with-savepoint: the source stops after the savepoint's barrier
                        // and finishes once the savepoint completes (its end, as at end of input).
                        src.stopped_at = Some(cp);
                        src.end_snapshot_cp.get_or_insert(cp);
                    }
                } else {
                    self.deferred_trigger = Some((cp, stop));
                }
            }
            Phase::Deploying | Phase::Initializing | Phase::Finished | Phase::Done => {
                ctx.send(HostId::JOBMANAGER, Msg::DeclineCheckpoint { id: self.id, cp, async_failed: false });
            }
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

    /// Installs the subtask's share of a checkpoint: source offsets, keyed state by key group,
    /// sink committables.
    fn install(&mut self, ctx: &mut Ctx, cp: u64, snapshots: &[SubtaskSnapshot]) {
        let graph = ctx.graph();
        let st = self.id.st;
        let index = graph.subtasks[st.0 as usize].index;
        let p = graph.task_of(st).parallelism;
        let own = snapshots.first();
        if self.changes.is_some() {
            // The restored checkpoint's files are the base of the next increment.
            self.changes = Some(Changes::default());
        }
        if let Some((op, state)) = &mut self.keyed
            && !ctx.bugs().restore_empty_state
        {
            // StateAssignmentOperation: every key whose key group this subtask owns.
            for s in snapshots {
                for (o, m) in &s.keyed {
                    if o == op {
                        state.extend(
                            m.iter().filter(|(k, _)| {
                                subtask_for_key(**k, graph.max_parallelism[op.0 as usize], p) == index
                            }),
                        );
                    }
                }
            }
        }
        if let Some(src) = &mut self.source {
            let planted = ctx.planted_rewind_positions(st);
            let from = planted.as_deref().or(own.map(|s| s.source_positions.as_slice())).unwrap_or(&[]);
            for c in &mut src.cursors {
                if let Some(&(_, off)) = from.iter().find(|(p, _)| *p == c.0) {
                    c.1 = off;
                }
            }
            let log = &ctx.logs()[src.log];
            src.refresh_all(log);
        }
        if let Some(own) = own {
            // Unaligned: the records that were in flight into this subtask are taken first,
            // before anything its producers send now.
            let channel_state = if ctx.bugs().drop_channel_state { &[][..] } else { &own.channel_state[..] };
            for (k, records) in channel_state.iter().enumerate() {
                let Some(input) = self.inputs.get_mut(k) else { continue };
                for r in records.iter().rev() {
                    input.queue.push_front(Item::Record(*r));
                }
                input.recovered += records.len() as u32;
            }
            for sink in &mut self.sinks {
                sink.committables = own.committables.iter().copied().filter(|t| t.sink == sink.op).collect();
                sink.next_checkpoint = cp + 1;
            }
        }
    }
}

fn ack(ctx: &mut Ctx, id: AttemptId, cp: u64, file: FileKey, bytes: u64, metrics: CheckpointMetrics) {
    ctx.send(HostId::JOBMANAGER, Msg::AckCheckpoint { id, cp, file, bytes, metrics });
}

impl TaskExecutor {
    pub(super) fn find(&self, id: AttemptId) -> Option<usize> {
        let i = self.by_st[id.st.0 as usize]? as usize;
        match &self.tasks[i] {
            Some(t) if t.id == id => Some(i),
            _ => self.tasks.iter().position(|t| t.as_ref().is_some_and(|t| t.id == id)),
        }
    }

    pub(super) fn deploy(&mut self, ctx: &mut Ctx, d: Deployment) {
        if let Some(old) = self.by_st[d.id.st.0 as usize]
            && let Some(t) = &self.tasks[old as usize]
            && t.phase != Phase::Done
        {
            // A newer attempt of the same subtask in this slot: the old one is gone.
            let id = t.id;
            self.remove_task(ctx, id);
        }
        let mut task = Task::new(ctx.graph(), ctx.logs(), &d);
        if ctx.sc().flink.incremental_checkpoints() && task.keyed.is_some() {
            task.changes = Some(Changes::default());
        }
        let i = match self.tasks.iter().position(|t| t.is_none()) {
            Some(i) => {
                self.tasks[i] = Some(task);
                i
            }
            None => {
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        };
        self.by_st[d.id.st.0 as usize] = Some(i as u32);
        let cp = d.restore.as_ref().map_or(0, |r| r.cp);
        ctx.probe(Probe::Subtask { phase: ProtocolPhase::Deploying, st: d.id.st, cp });
        let deploy = ctx.sc().cluster.deploy_us;
        let delay = deploy + ctx.draw(deploy);
        ctx.timer(delay, Timer::Te(TeTimer::DeployDone { id: d.id }));
        // Partition requests that came early.
        let parked = std::mem::take(&mut self.parked);
        for (from, m) in parked {
            match m {
                // Requests for an older attempt of this subtask will never be served.
                Msg::PartitionRequest { producer, .. } if producer.st == d.id.st && producer < d.id => {}
                Msg::PartitionRequest { producer, .. } if producer == d.id => self.handle_task_msg(ctx, from, m),
                other => self.parked.push((from, other)),
            }
        }
    }

    pub(super) fn remove_task(&mut self, ctx: &mut Ctx, id: AttemptId) {
        if let Some(i) = self.find(id) {
            if let Some(t) = self.tasks[i].as_ref()
                && t.phase == Phase::Running
            {
                let buffered = t
                    .inputs
                    .iter()
                    .map(|i| i.queue.iter().filter(|x| matches!(x, Item::Record(_))).count() as u64)
                    .sum();
                let read = t.source.as_ref().map(|s| s.cursors.clone()).unwrap_or_default();
                // Sources always (what they had read); other tasks when they held records.
                if buffered > 0 || t.source.is_some() {
                    ctx.note(Note::AttemptDiscarded { st: id.st, buffered, read });
                }
            }
            if let Some(t) = self.tasks[i].as_mut()
                && matches!(t.phase, Phase::Running | Phase::Finished)
            {
                t.close_sinks(ctx);
            }
            self.tasks[i] = None;
            if self.by_st[id.st.0 as usize] == Some(i as u32) {
                self.by_st[id.st.0 as usize] = None;
            }
        }
    }

    fn task_mut(&mut self, id: AttemptId) -> Option<&mut Task> {
        let i = self.find(id)?;
        self.tasks[i].as_mut()
    }

    /// Runs `f` on the task; if it fails, the task fails here.
    fn with_task(&mut self, ctx: &mut Ctx, id: AttemptId, f: impl FnOnce(&mut Task, &mut Ctx) -> Res) {
        let Some(t) = self.task_mut(id) else { return };
        if let Err(cause) = f(t, ctx) {
            self.fail_task(ctx, id, cause);
        }
    }

    pub(super) fn handle_task_msg(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            Msg::Data { ch, producer, consumer, item } => {
                let k = ctx.graph().channels[ch.0 as usize].input_index as usize;
                let Some(t) = self.task_mut(consumer) else { return };
                if t.inputs[k].producer != producer || !matches!(t.phase, Phase::Running | Phase::Initializing) {
                    return;
                }
                match item {
                    // Unaligned: ahead of every record queued before it.
                    Item::Barrier(b) if t.overtakes(ctx, &b) => {
                        self.with_task(ctx, consumer, |t, ctx| {
                            t.on_priority_barrier(ctx, k, b, true);
                            Ok(())
                        });
                        return;
                    }
                    Item::Barrier(b) => {
                        let f = &ctx.sc().flink;
                        let timeout = f.aligned_checkpoint_timeout_us;
                        if f.unaligned && timeout > 0 && !b.savepoint && b.cp > t.timeout_armed && b.cp > t.last_cp {
                            t.timeout_armed = b.cp;
                            let timer = Timer::Te(TeTimer::AlignmentTimeout { id: consumer, cp: b.cp });
                            ctx.timer_at(b.at_us + timeout, timer);
                        }
                    }
                    _ => t.collect_channel_state(ctx, k, &item),
                }
                let Some(t) = self.task_mut(consumer) else { return };
                let can_now = t.active()
                    && t.inputs[k].queue.is_empty()
                    && !t.inputs[k].drain_scheduled
                    && !t.blocked_output
                    && !t.input_blocked(ctx, k);
                t.inputs[k].queue.push_back(item);
                if can_now {
                    self.with_task(ctx, consumer, |t, ctx| t.deliver_one(ctx, k));
                } else {
                    t.schedule_drain(ctx, k);
                }
            }
            Msg::PartitionRequest { ch, producer, consumer, credit } => {
                let Some(t) = self.task_mut(producer) else {
                    // The producer's deployment has not arrived yet: the request waits for it.
                    self.parked.push((from, Msg::PartitionRequest { ch, producer, consumer, credit }));
                    return;
                };
                let k = ctx.graph().output_index[ch.0 as usize] as usize;
                let o = &mut t.outputs[k];
                o.consumer = Some((from, consumer));
                o.credit += credit;
                while let Some(item) = o.waiting.pop_front() {
                    ctx.send(from, Msg::Data { ch, producer: producer.attempt, consumer, item });
                }
                if t.blocked_output && t.outputs_available() {
                    t.blocked_output = false;
                    t.wake(ctx);
                }
            }
            Msg::Credit { ch, producer, credit } => {
                let Some(t) = self.task_mut(producer) else { return };
                let k = ctx.graph().output_index[ch.0 as usize] as usize;
                t.outputs[k].credit += credit;
                if t.blocked_output && t.outputs_available() {
                    t.blocked_output = false;
                    t.wake(ctx);
                }
            }
            Msg::TriggerCheckpoint { ask, id, cp, stop } => {
                // Task.triggerCheckpointBarrier; an unknown attempt answers with an error.
                let found = self.task_mut(id).is_some();
                ctx.send(from, Msg::AskReply { ask: AskRef::Jm(ask), ok: found });
                if let Some(t) = self.task_mut(id) {
                    t.on_trigger(ctx, cp, stop);
                }
            }
            Msg::NotifyComplete { id, cp } => {
                // TaskLocalStateStoreImpl.confirmCheckpoint: older local copies are discarded.
                let job = self.task_mut(id).map(|t| t.job);
                if let Some(copies) = self.local_copies.get_mut(&id.st) {
                    copies.retain(|c| Some(c.0.0) != job || c.0.1 >= cp);
                }
                if let Some(t) = self.task_mut(id) {
                    ctx.probe(Probe::Notified { st: id.st });
                    t.on_notify_complete(ctx, cp);
                }
            }
            Msg::AbortCheckpoint { jm, cp } => {
                // TaskLocalStateStoreImpl.abortCheckpoint: the aborted checkpoint's local copies go.
                for t in self.tasks.iter().flatten().filter(|t| t.id.jm == jm) {
                    if let Some(copies) = self.local_copies.get_mut(&t.id.st) {
                        copies.retain(|c| c.0 != (t.job, cp));
                    }
                }
                for t in self.tasks.iter_mut().flatten() {
                    if t.id.jm == jm {
                        // notifyCheckpointAborted: a trigger or barrier of it that comes later is
                        // not acted on.
                        t.last_cp = t.last_cp.max(cp);
                    }
                    if t.id.jm == jm
                        && let Some(src) = t.source.as_mut()
                        && src.stopped_at == Some(cp)
                    {
                        // The stop-with-savepoint failed: the source reads on.
                        src.stopped_at = None;
                        if src.end_snapshot_cp == Some(cp) {
                            src.end_snapshot_cp = None;
                        }
                        let now = ctx.now();
                        t.schedule_emit(ctx, now);
                    }
                    if t.id.jm == jm && t.unaligned.as_ref().is_some_and(|u| u.cp == cp) {
                        t.unaligned = None;
                        t.snaps.retain(|s| s.cp != cp);
                    }
                    if t.id.jm == jm && t.align.as_ref().is_some_and(|a| a.cp == cp) {
                        t.align = None;
                        t.snaps.retain(|s| s.cp != cp);
                        t.wake(ctx);
                    }
                }
            }
            Msg::UploadFailed { id, cp } => {
                // The asynchronous part failed: the task declines the checkpoint and drops its
                // snapshot (AsyncCheckpointRunnable → declineCheckpoint with
                // CHECKPOINT_ASYNC_EXCEPTION); a sink's pre-committed transaction stays, for the
                // next checkpoint to commit.
                let Some(t) = self.task_mut(id) else { return };
                t.snaps.retain(|s| s.cp != cp);
                ctx.send(HostId::JOBMANAGER, Msg::DeclineCheckpoint { id, cp, async_failed: true });
            }
            Msg::UploadDone { id, cp } => {
                let local_recovery = ctx.sc().flink.local_recovery;
                let Some(t) = self.task_mut(id) else { return };
                if cp == 0 {
                    let bytes = t.final_state.map(|f| f.0).unwrap_or(0);
                    t.final_state = Some((bytes, true));
                    let file = FileKey { job: t.job, cp: 0, st: id.st };
                    ctx.send(HostId::JOBMANAGER, Msg::TaskFinished { id, file, bytes });
                    return;
                }
                let t_job = t.job;
                let Some(s) = t.snaps.iter_mut().find(|s| s.cp == cp) else { return };
                s.upload_done = true;
                let local = s.local.take();
                self.maybe_ack(ctx, id);
                if local_recovery && let Some(snap) = local {
                    let job = t_job;
                    // Local state is kept per job: another job's copies go.
                    let copies = self.local_copies.entry(id.st).or_default();
                    copies.retain(|c| c.0.0 == job && c.0.1 != cp);
                    copies.push(((job, cp), snap));
                    copies.sort_by_key(|c| c.0);
                }
            }
            Msg::Prepared { id, cp } => {
                let Some(t) = self.task_mut(id) else { return };
                if let Some(s) = t.snaps.iter_mut().find(|s| s.cp == cp) {
                    s.prepares = s.prepares.saturating_sub(1);
                    ctx.probe(Probe::Subtask { phase: ProtocolPhase::PreCommitted, st: id.st, cp });
                }
                self.maybe_ack(ctx, id);
            }
            Msg::Downloaded { id, snapshots, missing, unavailable } => {
                let Some(t) = self.task_mut(id) else { return };
                if t.phase != Phase::Initializing {
                    return;
                }
                if unavailable {
                    self.fail_task(ctx, id, FailureCause::StorageUnavailable);
                    return;
                }
                if missing > 0 {
                    self.fail_task(ctx, id, FailureCause::RestoreFailed);
                    return;
                }
                let r = t.restore.clone().expect("a download is for a restore");
                t.install(ctx, r.cp, &snapshots);
                let duration_us = ctx.now() - t.restore_started_us;
                let job = t.job;
                ctx.note(Note::Restored { st: id.st, cp: Some(r.cp), bytes: r.bytes, local: false, duration_us, job });
                self.init_step_done(ctx, id);
            }
            Msg::SinkAck { id, ok, .. } => self.with_task(ctx, id, |t, ctx| t.on_sink_ack(ctx, ok)),
            Msg::SinkReady { id, sink, epoch } => {
                let Some(t) = self.task_mut(id) else { return };
                if let Some(s) = t.sinks.iter_mut().find(|s| s.op == sink) {
                    s.epoch = epoch;
                    s.initialized = true;
                }
                self.init_step_done(ctx, id);
            }
            // Nothing else is for a TaskExecutor: a message for the JobManager or an external
            // system, or an answer to an ask it never makes.
            other => ctx.unhandled(from, &other),
        }
    }

    /// Acknowledges every snapshot whose upload and pre-commits are done, but none past an
    /// earlier checkpoint whose sink flush or pre-commit the store has not confirmed: in Flink
    /// that flush (`prepareSnapshotPreBarrier`, `producer.flush()`) blocks the task thread, so no
    /// later checkpoint is even taken before it returns. (Acknowledging a later, empty
    /// transaction first let it complete and be restored while the earlier pre-commit was still
    /// held by a partition: its records were lost.) Uploads may finish in any order.
    fn maybe_ack(&mut self, ctx: &mut Ctx, id: AttemptId) {
        loop {
            let Some(t) = self.task_mut(id) else { return };
            let blocked_from = t.snaps.iter().filter(|s| s.prepares > 0).map(|s| s.cp).min();
            let Some(pos) =
                t.snaps.iter().position(|s| s.upload_done && s.prepares == 0 && blocked_from.is_none_or(|b| s.cp < b))
            else {
                return;
            };
            let s = t.snaps.remove(pos);
            let cp = s.cp;
            let metrics = CheckpointMetrics {
                alignment_us: s.alignment_us,
                async_us: ctx.now() - s.taken_at_us,
                processed_during_async: t.records_in - s.records_in_at,
                persisted_bytes: s.persisted_bytes,
                uploaded_bytes: s.uploaded_bytes,
            };
            ack(ctx, id, cp, FileKey { job: t.job, cp, st: id.st }, s.bytes, metrics);
            ctx.probe(Probe::Subtask { phase: ProtocolPhase::Acknowledged, st: id.st, cp });
        }
    }

    pub(super) fn on_task_timer(&mut self, ctx: &mut Ctx, t: TeTimer) {
        match t {
            TeTimer::SourceEmit { id } => {
                let Some(t) = self.task_mut(id) else { return };
                t.emit_scheduled = false;
                self.with_task(ctx, id, |t, ctx| t.source_emit(ctx));
            }
            TeTimer::Drain { id, input } => {
                let Some(t) = self.task_mut(id) else { return };
                t.inputs[input as usize].drain_scheduled = false;
                self.with_task(ctx, id, |t, ctx| t.deliver_one(ctx, input as usize));
            }
            TeTimer::DeployDone { id } => self.on_deployed(ctx, id),
            TeTimer::AlignmentTimeout { id, cp } => self.with_task(ctx, id, |t, ctx| {
                t.on_alignment_timeout(ctx, cp);
                Ok(())
            }),
            TeTimer::RestoredLocally { id } => {
                let Some(t) = self.task_mut(id) else { return };
                let Some(cp) = t.restore.as_ref().map(|r| r.cp) else { return };
                let job = t.job;
                let copies = self.local_copies.get(&id.st).map(Vec::as_slice).unwrap_or_default();
                let Some((_, snap)) = copies.iter().find(|c| c.0 == (job, cp)).cloned() else { return };
                let Some(t) = self.task_mut(id) else { return };
                if t.phase != Phase::Initializing {
                    return;
                }
                t.install(ctx, cp, std::slice::from_ref(&snap));
                let bytes = t.restore.as_ref().map(|r| r.bytes).unwrap_or(0);
                let duration_us = ctx.now() - t.restore_started_us;
                ctx.note(Note::Restored { st: id.st, cp: Some(cp), bytes, local: true, duration_us, job });
                self.init_step_done(ctx, id);
            }
            // `TaskExecutor::on_timer` handles these itself and passes only the task timers here.
            TeTimer::Register { .. }
            | TeTimer::JmHeartbeatCheck
            | TeTimer::FreeSlots { .. }
            | TeTimer::StateUpdateTimeout { .. } => {
                ctx.violation(format!("unhandled timer: {t:?} reached the task timers"))
            }
        }
    }

    /// DEPLOYING → INITIALIZING: load state (local copy or download), then the sinks'
    /// initTransactions, then RUNNING.
    fn on_deployed(&mut self, ctx: &mut Ctx, id: AttemptId) {
        let local_copies: Vec<(u32, u64)> =
            self.local_copies.get(&id.st).map(|c| c.iter().map(|c| c.0).collect()).unwrap_or_default();
        let Some(t) = self.task_mut(id) else { return };
        if t.phase != Phase::Deploying {
            return;
        }
        t.phase = Phase::Initializing;
        self.report(ctx, id, ExecutionState::Initializing, None, 0);
        let Some(t) = self.task_mut(id) else { return };
        t.restore_started_us = ctx.now();
        match t.restore.clone() {
            Some(r) => {
                t.init_pending = 1;
                ctx.probe(Probe::Subtask { phase: ProtocolPhase::Restoring, st: id.st, cp: r.cp });
                let own_job = r.files.first().is_some_and(|f| f.job == t.job);
                if ctx.sc().flink.local_recovery && own_job && local_copies.contains(&(t.job, r.cp)) {
                    let c = &ctx.sc().cluster;
                    let d = r.bytes.saturating_mul(1_000_000) / c.local_bytes_per_s.max(1);
                    ctx.timer(d, Timer::Te(TeTimer::RestoredLocally { id }));
                } else {
                    ctx.send(HostId::STORAGE, Msg::Download { id, files: r.files.clone() });
                }
            }
            None => {
                t.init_pending = 1;
                self.init_step_done(ctx, id);
            }
        }
    }

    /// One initialization step finished (state loaded, or a sink's producer initialized).
    fn init_step_done(&mut self, ctx: &mut Ctx, id: AttemptId) {
        let index = ctx.graph().subtasks[id.st.0 as usize].index;
        let Some(t) = self.task_mut(id) else { return };
        t.init_pending = t.init_pending.saturating_sub(1);
        if t.init_pending > 0 {
            return;
        }
        let state_loaded = t.sinks.iter().all(|s| s.initialized || s.semantic.writes_at_once());
        if !state_loaded {
            // Sink writer/committer recovery: fence older writers, commit the checkpoint's
            // committables again (idempotent), abort transactions opened after it.
            let restored_cp = t.restore.as_ref().map(|r| r.cp);
            let mut n = 0;
            for s in &t.sinks {
                if s.semantic == SinkSemantic::TwoPhaseCommit {
                    let recommit = if ctx.bugs().no_recommit { Vec::new() } else { s.committables.clone() };
                    let abort_lingering = !ctx.bugs().no_abort_lingering;
                    let job = t.job;
                    let init = Msg::InitSink { id, job, sink: s.op, index, recommit, restored_cp, abort_lingering };
                    ctx.send(HostId::STORE, init);
                    n += 1;
                }
            }
            if let Some(cp) = restored_cp {
                for s in &mut t.sinks {
                    s.committables.retain(|c| c.checkpoint > cp);
                }
            }
            t.init_pending = n;
            return;
        }
        t.phase = Phase::Running;
        self.report(ctx, id, ExecutionState::Running, None, 0);
        let Some(t) = self.task_mut(id) else { return };
        if let Some(src) = &t.source
            && t.restore.is_some()
        {
            ctx.note(Note::SourceRewound { st: id.st, positions: src.cursors.clone() });
        }
        // Request every input subpartition from its producer, with the initial credit.
        let cap = ctx.sc().cluster.channel_capacity;
        for k in 0..t.inputs.len() {
            let ch = ctx.graph().subtasks[id.st.0 as usize].inputs[k];
            let producer =
                AttemptId { st: ctx.graph().channels[ch.0 as usize].from, attempt: t.inputs[k].producer, jm: id.jm };
            ctx.send(t.inputs[k].from, Msg::PartitionRequest { ch, producer, consumer: id, credit: cap });
        }
        t.wake(ctx);
    }
}

impl Task {
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
