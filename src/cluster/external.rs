//! Systems outside Flink that survive any Flink failure, each a process on a host of its own:
//! the transactional sink store (Kafka-like transactions with producer fencing by epoch),
//! checkpoint storage (a DFS holding uploaded snapshots), and the HA store (ZooKeeper or
//! Kubernetes ConfigMaps: job graph, completed-checkpoint pointers, leader).

use super::ctx::Ctx;
pub use super::inspect::TxnState;
use super::msg::{AttemptId, EndedJob, FileKey, Msg, SubtaskSnapshot, TxnId};
use super::net::HostId;
use crate::job::graph::SubtaskId;
use crate::job::record::Record;
use crate::job::spec::OperatorId;
use crate::sim::TimeUs;
use crate::trace::Note;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub struct Txn {
    pub state: TxnState,
    /// Shared by clones of the store chunk by chunk (the replay's snapshots).
    pub records: crate::sim::AppendLog<Record>,
    /// Records it made visible when it committed.
    pub committed: u64,
    /// Records thrown away when it was aborted.
    pub dropped: u64,
    /// The producer epoch that committed it (0 while not committed).
    pub committed_epoch: u64,
    /// The job (submission) whose producer committed it.
    pub committed_job: u32,
}

/// A record as a reader of the sink's store sees it, once committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommittedRecord {
    pub sink: OperatorId,
    pub record: Record,
    pub committed_at_us: TimeUs,
}

/// Writes refused because a newer producer of the same sink subtask had initialized (a zombie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZombieRefusal {
    pub st: SubtaskId,
    pub attempt: u32,
    pub records: u64,
    pub operations: u64,
}

#[derive(Clone, Debug, Default)]
pub struct TxnStore {
    txns: BTreeMap<TxnId, Txn>,
    /// Producer epoch per sink subtask (bumped by every initTransactions).
    epochs: BTreeMap<(OperatorId, u32), u64>,
    committed: crate::sim::AppendLog<CommittedRecord>,
    /// Record lists are chunked, so clones of the store share them (the replay's snapshots).
    chunked: bool,
    /// Planted bug: the store accepts writes and commits from any epoch.
    no_fencing: bool,
    zombies: Vec<ZombieRefusal>,
    /// Per sink subtask, the newest attempt (JobManager generation, attempt) whose writes were
    /// accepted: an accepted write of an older one means two live attempts both wrote.
    newest_writer: BTreeMap<(OperatorId, u32), (u32, u32)>,
    /// Attempts already noted as a second live writer.
    double_writers: BTreeSet<(SubtaskId, u32, u32)>,
    /// Per sink subtask, the checkpoint the newest producer (the last initTransactions)
    /// restored, `None` for a writer that started without state.
    restored: BTreeMap<(OperatorId, u32), Option<u64>>,
    /// Per sink subtask, the newest attempt (JobManager generation, attempt) that initialized
    /// its producer.
    newest_init: BTreeMap<(OperatorId, u32), (u32, u32)>,
    /// Per sink subtask, the job (submission) of the producer that initialized last: a later
    /// submission of the job starts its checkpoint ids again and reuses the transactional ids.
    job_of: BTreeMap<(OperatorId, u32), u32>,
}

impl TxnStore {
    /// `committed_hint`: about how many records will be committed (room is made for them).
    pub fn new(no_fencing: bool, committed_hint: usize) -> TxnStore {
        let mut committed = crate::sim::AppendLog::default();
        committed.reserve(committed_hint);
        TxnStore { no_fencing, committed, ..TxnStore::default() }
    }

    /// The transactions, by sink subtask and checkpoint, for an observer.
    pub fn inspect(&self) -> Vec<crate::cluster::inspect::TxnView> {
        self.txns
            .iter()
            .map(|(id, t)| crate::cluster::inspect::TxnView {
                sink: id.sink,
                subtask: id.index,
                checkpoint: id.checkpoint,
                state: t.state,
                records: match t.state {
                    TxnState::Committed => t.committed,
                    TxnState::Aborted => t.dropped,
                    TxnState::Open | TxnState::Prepared => t.records.len() as u64,
                },
            })
            .collect()
    }

    /// From now on keep records in chunks that clones share (for a world that is snapshotted).
    pub fn share_chunks(&mut self) {
        self.chunked = true;
        let mut committed = crate::sim::AppendLog::chunked();
        committed.extend(self.committed.take().into_vec());
        self.committed = committed;
    }

    /// Hands over what was committed (the store keeps none of it).
    pub fn take_committed(&mut self) -> crate::sim::AppendLog<CommittedRecord> {
        std::mem::take(&mut self.committed)
    }

    /// Everything committed so far, in commit order.
    pub fn committed(&self) -> &crate::sim::AppendLog<CommittedRecord> {
        &self.committed
    }
    /// Records which attempt wrote; an accepted write from an attempt older than one that
    /// already wrote to the same sink subtask means two live attempts both wrote (noted for the
    /// oracle's invariants).
    fn note_writer(&mut self, ctx: &mut Ctx, id: AttemptId, txn: TxnId, records: usize) {
        if records == 0 {
            return;
        }
        let me = (id.jm, id.attempt);
        let newest = self.newest_writer.entry((txn.sink, txn.index)).or_insert(me);
        if me < *newest {
            // Noted once per attempt: the first accepted write is the violation.
            let newer = newest.1;
            if self.double_writers.insert((id.st, id.jm, id.attempt)) {
                ctx.note(Note::DoubleWriter { st: id.st, attempt: id.attempt, newer, records: records as u64 });
            }
        } else {
            *newest = me;
        }
    }

    /// Transactions still open or prepared with records in them: (id, records, state name).
    pub fn lingering(&self) -> Vec<(TxnId, u64, &'static str)> {
        self.txns
            .iter()
            .filter(|(_, t)| matches!(t.state, TxnState::Open | TxnState::Prepared) && !t.records.is_empty())
            .map(|(id, t)| (*id, t.records.len() as u64, if t.state == TxnState::Open { "open" } else { "prepared" }))
            .collect()
    }

    /// Zombie writers the store refused, per attempt.
    pub fn zombies(&self) -> &[ZombieRefusal] {
        &self.zombies
    }

    /// Whether an operation with `epoch` is fenced; records the refusal.
    fn fenced(&mut self, ctx: &mut Ctx, id: AttemptId, sink: OperatorId, index: u32, epoch: u64, records: u64) -> bool {
        let newest = self.epochs.get(&(sink, index)).copied().unwrap_or(0);
        if epoch >= newest || self.no_fencing {
            return false;
        }
        match self.zombies.iter_mut().find(|z| z.st == id.st && z.attempt == id.attempt) {
            Some(z) => {
                z.records += records;
                z.operations += 1;
            }
            None => {
                self.zombies.push(ZombieRefusal { st: id.st, attempt: id.attempt, records, operations: 1 });
                ctx.note(Note::ZombieFenced { st: id.st, attempt: id.attempt, epoch, newest });
            }
        }
        true
    }

    fn write(&mut self, ctx: &mut Ctx, st: SubtaskId, txn: TxnId, epoch: u64, records: Vec<Record>) {
        let chunked = self.chunked;
        // A producer that started without state (a restart from no checkpoint replays the
        // sources from the start) names its transactions from checkpoint 1 again, as Flink's
        // writer does (`prefix-subtask-1`, ...): Kafka reuses the transactional id with the new
        // producer epoch, and each is a new transaction (at-least-once: duplicates).
        let fresh = self.restored.get(&(txn.sink, txn.index)) == Some(&None);
        let t = self.txns.entry(txn).or_insert_with(|| Txn {
            state: TxnState::Open,
            records: if chunked { crate::sim::AppendLog::chunked() } else { Default::default() },
            committed: 0,
            dropped: 0,
            committed_epoch: 0,
            committed_job: 0,
        });
        // Another job's committed transaction under this id: the new job's producer (a newer
        // epoch) starts a new transaction under the reused transactional id, as Kafka allows.
        let other_job = self.job_of.get(&(txn.sink, txn.index)).is_some_and(|&j| j != t.committed_job);
        if t.state == TxnState::Committed && !records.is_empty() && !((fresh || other_job) && epoch > t.committed_epoch)
        {
            // A committed transaction is final: the same producer writing under its id again,
            // or a restored one whose checkpoint is older than that commit, means the protocol
            // lost track of what was committed (the oracle's invariants report it).
            ctx.note(Note::CommittedTxnWrittenAgain { st, checkpoint: txn.checkpoint });
        }
        if matches!(t.state, TxnState::Aborted | TxnState::Committed) {
            // A new transaction under the same transactional id.
            t.state = TxnState::Open;
            t.records.take();
            t.committed = 0;
            t.dropped = 0;
            t.committed_epoch = 0;
            t.committed_job = 0;
        }
        t.records.extend(records);
    }

    /// Commits; idempotent (already committed is success, as Flink requires of committers).
    /// Returns the records made visible. A commit of an aborted transaction is noted: the
    /// oracle's invariants report it.
    fn commit(&mut self, ctx: &mut Ctx, st: SubtaskId, txn: TxnId, epoch: u64) -> u64 {
        let Some(t) = self.txns.get_mut(&txn) else { return 0 };
        match t.state {
            TxnState::Committed => 0,
            TxnState::Aborted => {
                ctx.note(Note::CommitOfAborted { st, checkpoint: txn.checkpoint });
                0
            }
            TxnState::Open | TxnState::Prepared => {
                t.state = TxnState::Committed;
                t.committed_epoch = epoch;
                t.committed_job = self.job_of.get(&(txn.sink, txn.index)).copied().unwrap_or(0);
                let n = t.records.len() as u64;
                t.committed = n;
                let sink = txn.sink;
                let now_us = ctx.now();
                self.committed.extend(t.records.take().iter().map(|&record| CommittedRecord {
                    sink,
                    record,
                    committed_at_us: now_us,
                }));
                n
            }
        }
    }

    // Each arm is one message handler; guards would hide the handler's condition in the pattern.
    #[allow(clippy::collapsible_match)]
    pub fn handle(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        let now = ctx.now();
        match msg {
            Msg::InitSink { id, job, sink, index, recommit, restored_cp, abort_lingering } => {
                let me = (id.jm, id.attempt);
                if self.newest_init.get(&(sink, index)).is_some_and(|&newest| me < newest) {
                    // A late initTransactions of an attempt older than one that already
                    // initialized (held by a partition, its task long cancelled): it can only
                    // touch the transactional ids of checkpoints the newer attempt has moved
                    // past, and its prober dies with its task. It fences no one and aborts
                    // nothing; the zombie itself gets a stale epoch, so all it writes is fenced.
                    ctx.send(from, Msg::SinkReady { id, sink, epoch: 0 });
                    return;
                }
                self.newest_init.insert((sink, index), me);
                self.job_of.insert((sink, index), job);
                // initTransactions: a new epoch fences every older producer of this subtask.
                let e = self.epochs.entry((sink, index)).or_insert(0);
                *e += 1;
                let epoch = *e;
                self.restored.insert((sink, index), restored_cp);
                if restored_cp.is_some() {
                    for &txn in &recommit {
                        let records = self.commit(ctx, id.st, txn, epoch);
                        if records > 0 {
                            ctx.note(Note::SinkCommitted {
                                st: id.st,
                                checkpoint: txn.checkpoint,
                                records,
                                recovered: true,
                                job,
                            });
                        }
                    }
                }
                // Abort every transaction of this subtask still open or prepared (lingering).
                let lo = TxnId { sink, index, checkpoint: 0 };
                let hi = TxnId { sink, index, checkpoint: u64::MAX };
                let (mut txns, mut records) = (0, 0);
                for (tid, t) in self.txns.range_mut(lo..=hi) {
                    if abort_lingering
                        && matches!(t.state, TxnState::Open | TxnState::Prepared)
                        && !recommit.contains(tid)
                    {
                        t.state = TxnState::Aborted;
                        txns += 1;
                        records += t.records.len() as u64;
                        t.dropped = t.records.len() as u64;
                        t.records.take();
                    }
                }
                if txns > 0 {
                    ctx.note(Note::SinkAborted { st: id.st, transactions: txns, records });
                }
                ctx.send(from, Msg::SinkReady { id, sink, epoch });
            }
            Msg::Produce { id, txn, epoch, records } => {
                if !self.fenced(ctx, id, txn.sink, txn.index, epoch, records.len() as u64) {
                    self.note_writer(ctx, id, txn, records.len());
                    self.write(ctx, id.st, txn, epoch, records);
                }
            }
            Msg::Prepare { id, txn, epoch, records, cp } => {
                // A fenced producer gets ProducerFencedException: no answer, no acknowledgement.
                if self.fenced(ctx, id, txn.sink, txn.index, epoch, records.len() as u64) {
                    return;
                }
                self.note_writer(ctx, id, txn, records.len());
                self.write(ctx, id.st, txn, epoch, records);
                if let Some(t) = self.txns.get_mut(&txn)
                    && t.state == TxnState::Open
                {
                    t.state = TxnState::Prepared;
                }
                if cp > 0 {
                    ctx.send(from, Msg::Prepared { id, cp });
                }
            }
            Msg::Commit { id, txn, epoch, recovered, ack } => {
                if self.fenced(ctx, id, txn.sink, txn.index, epoch, 0) {
                    // ProducerFencedException: a caller that waits hears it.
                    if ack {
                        ctx.send(from, Msg::SinkAck { id, sink: txn.sink, ok: false });
                    }
                    return;
                }
                let records = self.commit(ctx, id.st, txn, epoch);
                if records > 0 {
                    // Not fenced: the producer is the newest to initialize, of the job noted there.
                    let job = self.job_of.get(&(txn.sink, txn.index)).copied().unwrap_or(0);
                    let (st, checkpoint) = (id.st, txn.checkpoint);
                    ctx.note(Note::SinkCommitted { st, checkpoint, records, recovered, job });
                }
                if ack {
                    ctx.send(from, Msg::SinkAck { id, sink: txn.sink, ok: true });
                }
            }
            Msg::Append { sink, records, ack, cp } => {
                self.committed.extend(records.into_iter().map(|record| CommittedRecord {
                    sink,
                    record,
                    committed_at_us: now,
                }));
                match ack {
                    Some(id) if cp > 0 => ctx.send(from, Msg::Prepared { id, cp }),
                    Some(id) => ctx.send(from, Msg::SinkAck { id, sink, ok: true }),
                    None => {}
                }
            }
            // Only TaskExecutors' producers talk to the sink store.
            other => ctx.unhandled(from, &other),
        }
    }
}

/// A completed checkpoint: `<checkpoint dir>/<job id>/chk-<id>`.
#[derive(Clone, Debug)]
pub struct CompletedCheckpoint {
    pub id: u64,
    pub completed_at_us: TimeUs,
    /// Indexed by subtask.
    pub subtasks: Vec<SubtaskSnapshot>,
    pub bytes: u64,
}

/// A snapshot's `_metadata`: its files, their sizes, whether it is a savepoint.
type Metadata = (Vec<FileKey>, Vec<u64>, bool);

/// Keyed-state entries kept over all cut samples (about 100 MB).
const CUT_SAMPLE_ENTRIES: u64 = 2_000_000;

fn keyed_entries(s: &SubtaskSnapshot) -> u64 {
    s.keyed.iter().map(|(_, m)| m.len() as u64).sum()
}

/// Checkpoint storage: files by (checkpoint, subtask); uploads and downloads take latency plus
/// size over bandwidth. Completed checkpoints (their _metadata written by the JobManager) are
/// also kept, thinned within a memory budget, for the oracle's consistent-cut check.
#[derive(Clone, Default)]
pub struct CheckpointStorage {
    files: BTreeMap<FileKey, SubtaskSnapshot>,
    /// The `_metadata` of each completed checkpoint and savepoint, by (job, id): its files and
    /// their sizes, and whether it is a savepoint.
    metadata: BTreeMap<(u32, u64), Metadata>,
    cut_samples: Vec<CompletedCheckpoint>,
    cut_sample_entries: u64,
    /// Keyed-state entries in `files` (the memory budget's footprint).
    file_entries: u64,
    /// Keep no cut samples (a world that is only looked at, not judged).
    no_cut_samples: bool,
    /// Until when the service fails every upload and read (`storage-outage`).
    pub outage_until_us: TimeUs,
    /// Until when, and how many times as long, every transfer that starts takes (`storage-slow`).
    pub slow: Option<(TimeUs, u32)>,
}

impl CheckpointStorage {
    /// How long a transfer of `bytes` that starts now takes: latency plus size over bandwidth,
    /// times the slowdown while storage is slow.
    fn transfer_us(&self, ctx: &Ctx, bytes: u64) -> u64 {
        let c = &ctx.sc().cluster;
        let us = c.storage_latency_us + bytes.saturating_mul(1_000_000) / c.storage_bytes_per_s.max(1);
        match self.slow {
            Some((until, factor)) if ctx.now() < until => us.saturating_mul(u64::from(factor)),
            _ => us,
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            // A task's final state (cp 0) is not failed: it is uploaded again until it lands,
            // which this model shortens to landing.
            Msg::Upload { id, cp, .. } if cp > 0 && ctx.now() < self.outage_until_us => {
                let latency = ctx.sc().cluster.storage_latency_us;
                ctx.send_in(latency, from, Msg::UploadFailed { id, cp });
            }
            Msg::Download { id, .. } if ctx.now() < self.outage_until_us => {
                let latency = ctx.sc().cluster.storage_latency_us;
                ctx.send_in(
                    latency,
                    from,
                    Msg::Downloaded { id, snapshots: Vec::new(), missing: 0, unavailable: true },
                );
            }
            Msg::Upload { id, cp, file, snapshot, head_start_us } => {
                let latency = ctx.sc().cluster.storage_latency_us;
                let upload = snapshot.uploaded_bytes.unwrap_or(snapshot.bytes);
                let d = self.transfer_us(ctx, upload).saturating_sub(head_start_us).max(latency);
                self.file_entries += keyed_entries(&snapshot);
                if let Some(old) = self.files.insert(file, *snapshot) {
                    self.file_entries -= keyed_entries(&old);
                }
                ctx.send_in(d, from, Msg::UploadDone { id, cp });
            }
            Msg::Download { id, files } => {
                let mut snapshots = Vec::with_capacity(files.len());
                let mut bytes = 0;
                let mut missing = 0;
                for f in &files {
                    match self.files.get(f) {
                        Some(s) => {
                            bytes += s.bytes;
                            snapshots.push(s.clone());
                        }
                        // Discarded since the restore was planned (a request that waited out a
                        // partition, from an attempt long replaced): the reader fails. The
                        // JobMaster never plans a restore from a checkpoint it no longer
                        // retains (it checks when it deploys).
                        None => missing += 1,
                    }
                }
                let d = self.transfer_us(ctx, bytes);
                ctx.send_in(d, from, Msg::Downloaded { id, snapshots, missing, unavailable: false });
            }
            Msg::FinalizeCheckpoint { job, cp, files, bytes, completed_at_us, savepoint } => {
                self.metadata.insert((job, cp), (files.clone(), bytes, savepoint));
                if self.no_cut_samples {
                    return;
                }
                let subtasks: Vec<SubtaskSnapshot> =
                    files.iter().map(|f| self.files.get(f).cloned().unwrap_or_default()).collect();
                let bytes = subtasks.iter().map(|s| s.bytes).sum();
                self.keep_cut_sample(CompletedCheckpoint { id: cp, completed_at_us, subtasks, bytes });
            }
            Msg::ReadMetadata { job, cp } => {
                let meta = self.metadata.get(&(job, cp)).map(|(f, b, _)| (f.clone(), b.clone()));
                ctx.send(from, Msg::MetadataRead { job, cp, meta });
            }
            Msg::DiscardCheckpoint { job, cp } => {
                self.metadata.remove(&(job, cp));
                let keys: Vec<FileKey> = self.files.keys().filter(|k| k.job == job && k.cp == cp).copied().collect();
                for k in keys {
                    if let Some(old) = self.files.remove(&k) {
                        self.file_entries -= keyed_entries(&old);
                    }
                }
            }
            // Only uploads, downloads and the JobManager's _metadata, reads and discards come here.
            other => ctx.unhandled(from, &other),
        }
    }

    /// Keyed-state entries held: the files and the cut samples.
    pub fn entries(&self) -> u64 {
        self.file_entries + self.cut_sample_entries
    }

    /// Keep no cut samples from now on (a world that is only looked at, not judged).
    pub fn drop_cut_samples(&mut self) {
        self.no_cut_samples = true;
        self.cut_samples = Vec::new();
        self.cut_sample_entries = 0;
    }

    /// Keeps a completed checkpoint for the consistent-cut check, within the memory budget:
    /// every other sample is dropped whenever their keyed entries exceed the budget, so memory
    /// stays bounded in run length while the samples still span the whole run.
    pub fn keep_cut_sample(&mut self, chk: CompletedCheckpoint) {
        let entries = |c: &CompletedCheckpoint| -> u64 {
            c.subtasks.iter().flat_map(|s| s.keyed.iter()).map(|(_, m)| m.len() as u64 + 1).sum()
        };
        self.cut_sample_entries += entries(&chk);
        self.cut_samples.push(chk);
        while self.cut_sample_entries > CUT_SAMPLE_ENTRIES && self.cut_samples.len() > 2 {
            let mut i = 0;
            self.cut_samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.cut_sample_entries = self.cut_samples.iter().map(entries).sum();
        }
    }

    pub fn take_cut_samples(&mut self) -> Vec<CompletedCheckpoint> {
        std::mem::take(&mut self.cut_samples)
    }
}

/// The HA store: the latest completed checkpoint pointer and the checkpoint id counter of the
/// job, and the leader. A new leader reads them; every TaskManager watching the leader hears of
/// the change.
#[derive(Clone, Default)]
pub struct HaStore {
    job: u32,
    latest: Option<(u64, Vec<FileKey>, Vec<u64>)>,
    next_cp: u64,
    leaders: BTreeSet<u32>,
    /// The JobResultStore's entry for the job, once it ended.
    ended: Option<EndedJob>,
}

impl HaStore {
    pub fn handle(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            Msg::HaCheckpointId { cp } => self.next_cp = self.next_cp.max(cp + 1),
            Msg::HaPutCheckpoint { jm: _, cp, files, bytes } => {
                self.latest = Some((cp, files, bytes));
                self.next_cp = self.next_cp.max(cp + 1);
            }
            Msg::HaPutJob { job, latest } => {
                self.job = job;
                self.ended = None;
                self.next_cp = latest.as_ref().map_or(1, |l| l.0 + 1);
                self.latest = latest;
            }
            Msg::HaJobEnded { ended } => {
                if ended.job == self.job {
                    self.ended = Some(ended);
                    self.latest = None;
                }
            }
            Msg::HaRecover { jm } => {
                self.leaders.insert(jm);
                let next_cp = self.next_cp.max(1);
                let (job, latest, ended) = (self.job, self.latest.clone(), self.ended);
                ctx.send(from, Msg::HaRecovered { jm, job, latest, next_cp, ended });
                // Leader retrieval: every TaskManager watching the leader node hears of it.
                for h in 0..ctx.n_hosts() {
                    let host = HostId(h as u16);
                    if host.tm_index().is_some() {
                        ctx.send(host, Msg::LeaderChanged { jm });
                    }
                }
            }
            // Only the JobManager talks to the HA store.
            other => ctx.unhandled(from, &other),
        }
    }
}
