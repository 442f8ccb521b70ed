//! Records, the replayable source log they come from, and what each stateless operator does to
//! them. The log is a pure function of the seed and (partition, offset), which is what makes a
//! rewind replay exactly the same records and lets the oracle recompute any result.

use super::spec::{OperatorKind, SourceSpec};

/// A source record's identity: which log (source operator), partition and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub log: u16,
    pub partition: u32,
    pub offset: u64,
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "log{}/p{}@{}", self.log, self.partition, self.offset)
    }
}

/// A record in flight. `origin` is the provenance the oracle follows to the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub key: u32,
    pub value: i64,
    pub origin: RecordId,
}

/// One source's partitioned log: `partitions` partitions filled at `rate_per_s` in total,
/// for records whose append time is before `end_us`.
#[derive(Clone, Debug)]
pub struct SourceLog {
    pub log: u16,
    pub partitions: u32,
    pub keys: u32,
    pub rate_per_s: u64,
    /// Records in the whole log: slot s = offset × partitions + partition holds a record when
    /// s < total (bounded by `records`, or by what is appended before the scenario's duration).
    pub total: u64,
    data_key: u64,
}

impl SourceLog {
    pub fn new(log: u16, spec: &SourceSpec, end_us: u64, data_key: u64) -> SourceLog {
        let mut l = SourceLog {
            log,
            partitions: spec.partitions,
            keys: spec.keys,
            rate_per_s: spec.rate_per_s,
            total: 0,
            data_key,
        };
        // Partition p's offset o is appended at (o·partitions + p)/rate seconds: partitions
        // take turns, so the log as a whole grows at `rate`.
        let appended = (u128::from(end_us) * u128::from(spec.rate_per_s)).div_ceil(1_000_000);
        l.total = spec.records.unwrap_or(u64::try_from(appended).unwrap_or(u64::MAX));
        l
    }

    /// Number of records in a partition.
    pub fn len(&self, partition: u32) -> u64 {
        let p = u64::from(partition);
        if p < self.total { (self.total - p).div_ceil(u64::from(self.partitions.max(1))) } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Virtual time at which a record is appended to the log (and can first be read).
    pub fn append_time_us(&self, partition: u32, offset: u64) -> u64 {
        let rate = self.rate_per_s.max(1);
        // u64 arithmetic on the hot path; the scenario limits keep it from overflowing, u128
        // takes over if it would.
        match offset
            .checked_mul(u64::from(self.partitions))
            .and_then(|s| (s + u64::from(partition)).checked_mul(1_000_000))
        {
            Some(x) => x / rate,
            None => {
                let slot = u128::from(offset) * u128::from(self.partitions) + u128::from(partition);
                (slot * 1_000_000 / u128::from(rate)) as u64
            }
        }
    }

    pub fn record(&self, partition: u32, offset: u64) -> Record {
        let h = splitmix64(self.data_key ^ (u64::from(partition) << 48) ^ offset ^ (u64::from(self.log) << 40));
        Record {
            key: (h % u64::from(self.keys.max(1))) as u32,
            value: ((h >> 32) % 100 + 1) as i64,
            origin: RecordId { log: self.log, partition, offset },
        }
    }
}

/// SplitMix64 finaliser: spreads a (seed-derived key, position) pair into record contents.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Applies a stateless operator. Returns `None` when a filter drops the record.
pub fn apply_stateless(kind: &OperatorKind, rec: Record) -> Option<Record> {
    match *kind {
        OperatorKind::Map { multiply, add } => {
            Some(Record { value: rec.value.wrapping_mul(multiply).wrapping_add(add), ..rec })
        }
        OperatorKind::Filter { modulo, remainder } => (rec.value.rem_euclid(modulo) == remainder).then_some(rec),
        _ => Some(rec),
    }
}

/// Applies a keyed aggregation to the key's current state; returns the new state, which is also
/// the value emitted downstream.
pub fn apply_keyed(kind: &OperatorKind, state: i64, rec: &Record) -> i64 {
    match kind {
        OperatorKind::KeyedCount => state + 1,
        OperatorKind::KeyedSum => state.wrapping_add(rec.value),
        _ => state,
    }
}
