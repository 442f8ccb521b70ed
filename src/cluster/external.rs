//! Systems outside Flink that survive any Flink failure: the transactional sink store (Kafka-like
//! transactions with producer fencing) and checkpoint storage (a DFS holding uploaded snapshots).

use crate::job::record::Record;
use crate::job::spec::OperatorId;
use crate::sim::TimeUs;
use std::collections::BTreeMap;

/// A transaction's name: sink subtask, the checkpoint that will pre-commit it, and the writer
/// attempt that opened it (Kafka: transactional id prefix-subtask-checkpoint, plus the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId {
    pub sink: OperatorId,
    pub index: u32,
    pub checkpoint: u64,
    pub attempt: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnState {
    Open,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Debug)]
pub struct Txn {
    pub state: TxnState,
    pub records: Vec<Record>,
}

/// A record as a reader of the sink's store sees it, once committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommittedRecord {
    pub sink: OperatorId,
    pub record: Record,
    pub committed_at_us: TimeUs,
}

/// Outcome of a write or commit from a writer attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreResult {
    Ok,
    /// A newer attempt of the same sink subtask initialised its producer: this one is a zombie.
    Fenced,
}

#[derive(Debug, Default)]
pub struct TxnStore {
    txns: BTreeMap<TxnId, Txn>,
    /// Producer epoch per sink subtask: the newest writer attempt that initialised.
    epochs: BTreeMap<(OperatorId, u32), u32>,
    committed: Vec<CommittedRecord>,
    /// Commits that found the transaction aborted (a protocol violation the oracle reports).
    pub commits_of_aborted: u64,
    pub fenced_operations: u64,
    /// Per sink subtask, the transaction it writes into and its records, held out of `txns`
    /// for fast appends (see `write`).
    open_writes: Vec<(TxnId, Vec<Record>)>,
}

impl TxnStore {
    /// A writer attempt starts: bumps the epoch, fencing older attempts (initTransactions).
    pub fn init_producer(&mut self, sink: OperatorId, index: u32, attempt: u32) {
        let e = self.epochs.entry((sink, index)).or_insert(0);
        *e = (*e).max(attempt);
    }

    fn fenced(&mut self, sink: OperatorId, index: u32, attempt: u32) -> bool {
        let newest = self.epochs.get(&(sink, index)).copied().unwrap_or(0);
        if attempt < newest {
            self.fenced_operations += 1;
            true
        } else {
            false
        }
    }

    pub fn write(&mut self, txn: TxnId, rec: Record) -> StoreResult {
        if self.fenced(txn.sink, txn.index, txn.attempt) {
            return StoreResult::Fenced;
        }
        // Hot path: a sink subtask keeps writing into its open transaction, held outside
        // `txns` (one slot per sink subtask) until something else looks at it.
        let slot = match self.open_writes.iter().position(|(t, _)| t.sink == txn.sink && t.index == txn.index) {
            Some(i) if self.open_writes[i].0 == txn => i,
            Some(i) => {
                let (old, records) = std::mem::replace(&mut self.open_writes[i], (txn, Vec::new()));
                self.put_back(old, records);
                self.open_writes[i].1 = self.take_records(txn);
                i
            }
            None => {
                let records = self.take_records(txn);
                self.open_writes.push((txn, records));
                self.open_writes.len() - 1
            }
        };
        self.open_writes[slot].1.push(rec);
        StoreResult::Ok
    }

    fn take_records(&mut self, txn: TxnId) -> Vec<Record> {
        match self.txns.get_mut(&txn) {
            Some(t) => std::mem::take(&mut t.records),
            None => {
                self.txns.insert(txn, Txn { state: TxnState::Open, records: Vec::new() });
                Vec::new()
            }
        }
    }

    fn put_back(&mut self, txn: TxnId, records: Vec<Record>) {
        if let Some(t) = self.txns.get_mut(&txn) {
            t.records = records;
        }
    }

    /// Puts all write-cached records back into their transactions before anyone else looks.
    fn flush_open_write(&mut self) {
        for (txn, records) in std::mem::take(&mut self.open_writes) {
            self.put_back(txn, records);
        }
    }

    /// Plain append (no transaction): visible at once.
    pub fn append(&mut self, sink: OperatorId, rec: Record, now_us: TimeUs) {
        self.committed.push(CommittedRecord { sink, record: rec, committed_at_us: now_us });
    }

    /// Pre-commit (flush + prepare). A transaction nobody wrote to does not exist: nothing to do.
    pub fn prepare(&mut self, txn: TxnId) -> bool {
        self.flush_open_write();
        match self.txns.get_mut(&txn) {
            Some(t) if t.state == TxnState::Open => {
                t.state = TxnState::Prepared;
                true
            }
            _ => false,
        }
    }

    /// Commits; idempotent (already committed is success, as Flink requires of committers).
    /// Returns the number of records made visible by this call.
    pub fn commit(&mut self, txn: TxnId, committer_attempt: u32, now_us: TimeUs) -> (StoreResult, u64) {
        if self.fenced(txn.sink, txn.index, committer_attempt) {
            return (StoreResult::Fenced, 0);
        }
        self.flush_open_write();
        let Some(t) = self.txns.get_mut(&txn) else { return (StoreResult::Ok, 0) };
        match t.state {
            TxnState::Committed => (StoreResult::Ok, 0),
            TxnState::Aborted => {
                self.commits_of_aborted += 1;
                (StoreResult::Ok, 0)
            }
            TxnState::Open | TxnState::Prepared => {
                t.state = TxnState::Committed;
                let n = t.records.len() as u64;
                let sink = txn.sink;
                self.committed.extend(t.records.iter().map(|&record| CommittedRecord {
                    sink,
                    record,
                    committed_at_us: now_us,
                }));
                t.records = Vec::new();
                (StoreResult::Ok, n)
            }
        }
    }

    /// Aborts every open or prepared transaction of a sink subtask except `keep` (lingering
    /// transactions after a restore). Returns (transactions, records) aborted.
    pub fn abort_lingering(&mut self, sink: OperatorId, index: u32, keep: &[TxnId]) -> (u32, u64) {
        self.flush_open_write();
        let lo = TxnId { sink, index, checkpoint: 0, attempt: 0 };
        let hi = TxnId { sink, index, checkpoint: u64::MAX, attempt: u32::MAX };
        let mut n = (0, 0);
        for (id, t) in self.txns.range_mut(lo..=hi) {
            if matches!(t.state, TxnState::Open | TxnState::Prepared) && !keep.contains(id) {
                t.state = TxnState::Aborted;
                n.0 += 1;
                n.1 += t.records.len() as u64;
                t.records = Vec::new();
            }
        }
        n
    }

    pub fn committed(&self) -> &[CommittedRecord] {
        &self.committed
    }
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
    pub bytes: u64,
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
