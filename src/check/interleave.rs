//! The absolute check of order-dependent results: could some fault-free execution have committed
//! exactly this sequence of results per key?
//!
//! Each source record yields at most one output at every operator, and every output carries its
//! source record (`origin`). Before the first keyed operator a key's records keep the order of
//! their partition (forward and hash edges are FIFO channels); the keyed operator sees some merge
//! of those per-partition chains, and after it (forward and hash edges again) the key stays on
//! one subtask, in that order, down to one sink subtask. So the results a fault-free execution
//! commits for a key are what the operators after the first keyed one emit along one monotone
//! path through the partition chains, and a restart from a consistent checkpoint continues the
//! same path. The check searches those paths, pinned by the committed records' origins: a key is
//! accepted iff some path emits exactly its committed sequence (for a finished run, and then
//! consumes the rest of its records without emitting). Rebalance edges break the per-key order;
//! such sinks are not searched.

use crate::cluster::external::CommittedRecord;
use crate::job::graph::JobGraph;
use crate::job::record::{Record, RecordId, SourceLog, apply_keyed, apply_stateless};
use crate::job::spec::{OperatorId, OperatorKind};
use crate::sim::TimeUs;
use std::collections::BTreeSet;

/// Search states one key may visit before the check gives up on it (and says so).
pub const STATE_BUDGET: usize = 200_000;

/// Search states all keys of a run may visit together (about a second of work): past it, keys
/// the direct path does not prove are given up on, and said so. Some jobs (a filter after a
/// keyed count over many partitions) make every key's search exponential in the partitions.
pub const RUN_BUDGET: usize = 2_000_000;

/// A key whose committed results no fault-free execution produces, at the first result that
/// cannot follow the ones before it.
#[derive(Clone, Debug, PartialEq)]
pub struct BadResult {
    pub sink: String,
    pub key: u32,
    /// Position of the result in the key's committed sequence (0-based); equal to the number of
    /// committed results when the sequence ends too early for a finished run.
    pub index: usize,
    /// The committed result that cannot come next, if the sequence did not just end.
    pub record: Option<RecordId>,
    pub value: Option<i64>,
    pub committed_at_us: Option<TimeUs>,
    /// What a fault-free execution could emit at this point instead (origin, value), a few.
    pub possible: Vec<(RecordId, i64)>,
}

impl std::fmt::Display for BadResult {
    /// `sink key 7: result #3 = 5 from record …, committed at …; a fault-free execution commits
    /// 8 from … there`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let possible = if self.possible.is_empty() {
            "nothing".to_string()
        } else {
            self.possible.iter().map(|(id, v)| format!("{v} from {id}")).collect::<Vec<_>>().join(", ")
        };
        let what = match (self.record, self.value, self.committed_at_us) {
            (Some(id), Some(v), Some(t)) => format!(
                "result #{} = {} from record {}, committed at {}",
                self.index + 1,
                v,
                id,
                crate::sim::fmt_time(t)
            ),
            _ => format!("the results stop after {} although the job finished", self.index),
        };
        write!(f, "{} key {}: {}; a fault-free execution commits {} there", self.sink, self.key, what, possible)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequenceReport {
    /// Sinks whose per-key sequences were searched.
    pub searched: Vec<OperatorId>,
    pub keys_checked: u64,
    /// Keys skipped: an origin committed twice (a duplicate, reported as such) or the search
    /// exceeded `STATE_BUDGET`.
    pub keys_skipped: u64,
    pub keys_over_budget: u64,
    /// Sinks with at least one key over budget (not fully verified by the search).
    pub over_budget_sinks: Vec<OperatorId>,
    /// Keys whose committed sequence no fault-free execution produces.
    pub bad_keys: u64,
    pub first_bad: Option<BadResult>,
}

/// The operators of a sink's path after its first keyed operator, as a per-key transducer.
struct Pipeline<'a> {
    /// From the first keyed operator (inclusive) to the sink (exclusive).
    ops: Vec<&'a OperatorKind>,
    keyed: usize,
}

impl Pipeline<'_> {
    /// Feeds one record (its value as it reaches the first keyed operator) through; `state` holds
    /// one slot per keyed operator. Returns the value that reaches the sink, if any.
    fn step(&self, state: &mut [i64], rec: Record) -> Option<i64> {
        let mut rec = rec;
        let mut k = 0;
        for kind in &self.ops {
            if kind.is_keyed() {
                state[k] = apply_keyed(kind, state[k], &rec);
                rec.value = state[k];
                k += 1;
            } else {
                rec = apply_stateless(kind, rec)?;
            }
        }
        Some(rec.value)
    }
}

/// What a restart may make a sink commit again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restarts {
    /// No faults: the job ran once.
    None,
    /// Faults with checkpointing: an appending sink writes again from the restored checkpoint.
    FromCheckpoint,
    /// Faults without checkpointing: a restart begins from the empty state, and every sink
    /// (a two-phase-commit one that committed at its end of input too) may commit again.
    FromStart,
}

impl Restarts {
    pub fn of(faults: bool, checkpointing: bool) -> Restarts {
        match (faults, checkpointing) {
            (false, _) => Restarts::None,
            (true, true) => Restarts::FromCheckpoint,
            (true, false) => Restarts::FromStart,
        }
    }
}

/// Searches every sink fed through a keyed operator. `finished`: the run consumed its whole log.
/// `restarts`: what a restart of the job may make a sink write again.
pub fn check(
    graph: &JobGraph,
    logs: &[SourceLog],
    log_of: &[Option<usize>],
    actual: &[CommittedRecord],
    finished: bool,
    restarts: Restarts,
) -> SequenceReport {
    check_with_budget(graph, logs, log_of, actual, finished, restarts, STATE_BUDGET)
}

/// `check` with a search budget per key other than `STATE_BUDGET`.
pub fn check_with_budget(
    graph: &JobGraph,
    logs: &[SourceLog],
    log_of: &[Option<usize>],
    actual: &[CommittedRecord],
    finished: bool,
    restarts: Restarts,
    budget: usize,
) -> SequenceReport {
    check_keys(graph, logs, log_of, actual, finished, restarts, budget, true)
}

/// `check_with_budget`, with or without `direct_pass` first (the tests compare both ways).
#[allow(clippy::too_many_arguments)]
fn check_keys(
    graph: &JobGraph,
    logs: &[SourceLog],
    log_of: &[Option<usize>],
    actual: &[CommittedRecord],
    finished: bool,
    restarts: Restarts,
    budget: usize,
    direct: bool,
) -> SequenceReport {
    let ops = &graph.spec.operators;
    let mut report = SequenceReport::default();
    let mut left = RUN_BUDGET;
    for (i, op) in ops.iter().enumerate() {
        let sink = OperatorId(i as u32);
        if !matches!(op.kind, OperatorKind::Sink(_)) {
            continue;
        }
        let mut path = vec![sink];
        let mut cur = op.input.map(|(x, _)| x);
        while let Some(c) = cur {
            path.push(c);
            cur = ops[c.0 as usize].input.map(|(x, _)| x);
        }
        path.reverse();
        let Some(k1) = path.iter().position(|x| ops[x.0 as usize].kind.is_keyed()) else { continue };
        // Every edge must be a FIFO channel for one key: no rebalance or rescale anywhere on the
        // path (they spread a key's records over channels), no broadcast (it copies them).
        if path[1..].iter().any(|x| ops[x.0 as usize].input.is_some_and(|(_, e)| !e.keeps_key_order())) {
            continue;
        }
        let Some(log) = log_of[path[0].0 as usize].map(|l| &logs[l]) else { continue };
        let pipeline = Pipeline {
            ops: path[k1..path.len() - 1].iter().map(|x| &ops[x.0 as usize].kind).collect(),
            keyed: path[k1..].iter().filter(|x| ops[x.0 as usize].kind.is_keyed()).count(),
        };
        let may_restart = match restarts {
            Restarts::None => false,
            Restarts::FromCheckpoint => matches!(op.kind, OperatorKind::Sink(s) if s.writes_at_once()),
            Restarts::FromStart => true,
        };
        // The common case first: every key follows its direct path, checked in one pass.
        let prefix: Vec<&OperatorKind> = path[1..k1].iter().map(|x| &ops[x.0 as usize].kind).collect();
        if direct
            && !may_restart
            && let Some(d) = direct_pass(&prefix, &pipeline, log, sink, actual, finished, budget.min(left))
        {
            report.searched.push(sink);
            report.keys_checked += d.checked;
            report.keys_skipped += d.over_budget;
            report.keys_over_budget += d.over_budget;
            if d.over_budget > 0 {
                report.over_budget_sinks.push(sink);
            }
            continue;
        }
        // The records that reach the first keyed operator, grouped by key, then partition, in
        // log order (a stable sort of the log order).
        let mut reaching: Vec<Record> = Vec::new();
        for p in 0..log.partitions {
            'records: for o in 0..log.len(p) {
                let mut rec = log.record(p, o);
                for x in &path[1..k1] {
                    match apply_stateless(&ops[x.0 as usize].kind, rec) {
                        Some(r) => rec = r,
                        None => continue 'records,
                    }
                }
                reaching.push(rec);
            }
        }
        let keys = log.keys.max(1) as usize;
        let reaching = stable_by_key(reaching, keys, |r| r.key);
        // The sink's committed results by key, in commit order (copies, not references: the
        // search then reads each key's results in one place rather than all over `actual`).
        let committed: Vec<CommittedRecord> = actual.iter().filter(|c| c.sink == sink).copied().collect();
        let committed = stable_by_key(committed, keys, |c| c.record.key);
        report.searched.push(sink);
        let (mut ri, mut ci) = (0, 0);
        let mut key_chains: Vec<&[Record]> = Vec::new();
        let mut origins: Vec<RecordId> = Vec::new();
        while ri < reaching.len() || ci < committed.len() {
            // The next key of either list, in key order.
            let key = match (reaching.get(ri), committed.get(ci)) {
                (Some(r), Some(c)) => r.key.min(c.record.key),
                (Some(r), None) => r.key,
                (None, Some(c)) => c.record.key,
                (None, None) => break,
            };
            // Each key's run is short and read next anyway: a scan, not a binary search over
            // the whole rest of the list.
            let r_end = ri + reaching[ri..].iter().position(|r| r.key != key).unwrap_or(reaching.len() - ri);
            let c_end = ci + committed[ci..].iter().position(|c| c.record.key != key).unwrap_or(committed.len() - ci);
            let records = &reaching[ri..r_end];
            let obs = &committed[ci..c_end];
            (ri, ci) = (r_end, c_end);
            // One chain per partition, in partition order.
            key_chains.clear();
            let mut rest = records;
            while let Some(first) = rest.first() {
                let n = rest.partition_point(|r| r.origin.partition == first.origin.partition);
                key_chains.push(&rest[..n]);
                rest = &rest[n..];
            }
            // A direct path consumes each record once, so only a key without one can have a
            // result committed twice: that is a duplicate, counted as such, not searched.
            let direct = follows_directly(&pipeline, &key_chains, obs, finished);
            if !direct {
                origins.clear();
                origins.extend(obs.iter().map(|c| c.record.origin));
                origins.sort_unstable();
                if origins.windows(2).any(|w| w[0] == w[1]) {
                    report.keys_skipped += 1;
                    continue;
                }
            }
            report.keys_checked += 1;
            let (found, visited) = if direct && !may_restart {
                // The direct path visits one state per result and the final one, as the search
                // would (not counted against the run's budget: it costs nothing).
                (if obs.len() < budget.min(left) { Search::Producible } else { Search::OverBudget }, 0)
            } else {
                general_search(&pipeline, &key_chains, obs, finished, budget.min(left), may_restart)
            };
            left = left.saturating_sub(visited);
            match found {
                Search::Producible => {}
                Search::OverBudget => {
                    report.keys_skipped += 1;
                    report.keys_over_budget += 1;
                    if report.over_budget_sinks.last() != Some(&sink) {
                        report.over_budget_sinks.push(sink);
                    }
                }
                Search::Bad { index, possible } => {
                    report.bad_keys += 1;
                    if report.first_bad.is_none() {
                        let at = obs.get(index);
                        report.first_bad = Some(BadResult {
                            sink: graph.operator_name(sink).to_string(),
                            key,
                            index,
                            record: at.map(|c| c.record.origin),
                            value: at.map(|c| c.record.value),
                            committed_at_us: at.map(|c| c.committed_at_us),
                            possible,
                        });
                    }
                }
            }
        }
    }
    report
}

/// Keys counted by `direct_pass`.
struct DirectKeys {
    checked: u64,
    over_budget: u64,
}

/// Largest keys × partitions table `direct_pass` builds (8 bytes an entry); past it the keys
/// are grouped and checked one by one.
const DIRECT_TABLE_LIMIT: usize = 1 << 22;

/// `follows_directly` for every key of one sink at once, without grouping records or results
/// by key: one pass over the log links each record that reaches the keyed operator to the
/// previous one of its key in its partition, and one pass over the committed results in commit
/// order checks that each is the next unconsumed record of its key's chain and carries the
/// value the pipeline computes. `Some` when every key follows directly (the common case, with
/// the keys checked and those over `limit` results); `None` when some key does not, and the
/// caller checks key by key.
fn direct_pass(
    prefix: &[&OperatorKind],
    pipeline: &Pipeline,
    log: &SourceLog,
    sink: OperatorId,
    actual: &[CommittedRecord],
    finished: bool,
    limit: usize,
) -> Option<DirectKeys> {
    const NONE: u64 = u64::MAX;
    const DROPPED: u64 = u64::MAX - 1;
    let keys = log.keys.max(1) as usize;
    let parts = log.partitions as usize;
    if keys.saturating_mul(parts.max(pipeline.keyed)) > DIRECT_TABLE_LIMIT {
        return None;
    }
    let reach = |p: u32, o: u64| -> Option<Record> {
        let mut rec = log.record(p, o);
        for kind in prefix {
            rec = apply_stateless(kind, rec)?;
        }
        Some(rec)
    };
    // Per partition and offset: the previous offset of the same key that reaches the keyed
    // operator (NONE for a key's first), or DROPPED for a record that does not reach it.
    let mut prev: Vec<Vec<u64>> = Vec::with_capacity(parts);
    let mut reaching = vec![0u64; keys];
    let mut last = vec![NONE; keys];
    for p in 0..log.partitions {
        last.fill(NONE);
        let n = log.len(p);
        let mut links = Vec::with_capacity(usize::try_from(n).ok()?);
        for o in 0..n {
            match reach(p, o) {
                None => links.push(DROPPED),
                Some(rec) => {
                    let k = rec.key as usize;
                    links.push(last[k]);
                    last[k] = o;
                    reaching[k] += 1;
                }
            }
        }
        prev.push(links);
    }
    // Per key and partition, the last offset consumed; per key, the keyed states and results.
    let mut consumed = vec![NONE; keys * parts];
    let mut state = vec![0i64; keys * pipeline.keyed];
    let mut results = vec![0u64; keys];
    for c in actual.iter().filter(|c| c.sink == sink) {
        let k = c.record.key as usize;
        let id = c.record.origin;
        if k >= keys || id.log != log.log || id.partition >= log.partitions || id.offset >= log.len(id.partition) {
            return None;
        }
        let p = id.partition as usize;
        let link = prev[p][id.offset as usize];
        if link == DROPPED || link != consumed[k * parts + p] {
            return None;
        }
        let rec = reach(id.partition, id.offset)?;
        if rec.key as usize != k
            || pipeline.step(&mut state[k * pipeline.keyed..(k + 1) * pipeline.keyed], rec) != Some(c.record.value)
        {
            return None;
        }
        consumed[k * parts + p] = id.offset;
        results[k] += 1;
    }
    // A finished run consumed every record of every key (each one consumed was committed).
    if finished && results != reaching {
        return None;
    }
    let mut d = DirectKeys { checked: 0, over_budget: 0 };
    for (&n, &r) in results.iter().zip(&reaching) {
        if n > 0 || r > 0 {
            d.checked += 1;
            if n as usize >= limit {
                d.over_budget += 1;
            }
        }
    }
    Some(d)
}

/// `items` sorted by key, stably: a counting sort when every key is below `keys` (a log's keys
/// are), a comparison sort otherwise.
pub(crate) fn stable_by_key<T: Copy>(items: Vec<T>, keys: usize, key: impl Fn(&T) -> u32) -> Vec<T> {
    if items.iter().any(|x| key(x) as usize >= keys) {
        let mut items = items;
        items.sort_by_key(|x| key(x));
        return items;
    }
    // Where each key's run starts, then every item placed at its key's next position.
    let mut start = vec![0usize; keys + 1];
    for x in &items {
        start[key(x) as usize + 1] += 1;
    }
    for k in 0..keys {
        start[k + 1] += start[k];
    }
    let mut out: Vec<T> = items.clone();
    for x in items {
        let at = &mut start[key(&x) as usize];
        out[*at] = x;
        *at += 1;
    }
    out
}

enum Search {
    Producible,
    OverBudget,
    /// The result at `index` cannot follow; `possible` is what could.
    Bad {
        index: usize,
        possible: Vec<(RecordId, i64)>,
    },
}

/// How many alternatives a `BadResult` lists.
const POSSIBLE_SHOWN: usize = 4;

/// A search state: records consumed per chain, and the keyed states after them.
type State = (Vec<u32>, Vec<i64>);

/// The common case without a search: every result's origin is the next record of its chain and
/// every record emits, so the path is pinned by the origins alone. `true` proves the sequence
/// producible (the path is a witness); `false` proves nothing (a record the pipeline drops
/// makes several paths possible), and the general search decides.
fn follows_directly(pipeline: &Pipeline, chains: &[&[Record]], obs: &[CommittedRecord], finished: bool) -> bool {
    let mut next = vec![0usize; chains.len()];
    let mut state = vec![0i64; pipeline.keyed];
    for want in obs {
        let Some(c) = chains
            .iter()
            .zip(&next)
            .position(|(chain, &n)| chain.get(n).is_some_and(|r| r.origin == want.record.origin))
        else {
            return false;
        };
        if pipeline.step(&mut state, chains[c][next[c]]) != Some(want.record.value) {
            return false;
        }
        next[c] += 1;
    }
    !finished || chains.iter().zip(&next).all(|(chain, &n)| n == chain.len())
}

/// Searches the paths that emit `obs`. `may_restart`: the sink appends without transactions and
/// the job restarted, so a new attempt writes again from the restored checkpoint: its results
/// continue from a state the earlier attempts' path went through (a consistent cut of it), not
/// from where they stopped, and the replay may merge the partitions in another order. Such a
/// jump is taken only where the sequence cannot go on otherwise, at most once per result.
fn general_search(
    pipeline: &Pipeline,
    chains: &[&[Record]],
    obs: &[CommittedRecord],
    finished: bool,
    budget: usize,
    may_restart: bool,
) -> (Search, usize) {
    // A committed record is emitted when its turn in `obs` comes, so no step may consume it
    // earlier (a record is consumed once): before `obs[m]`, chain `c` may advance only up to the
    // first record of `obs[m..]` on it. Per chain, the positions of its committed records in
    // `obs` order and their suffix minima give that bound as `m` grows.
    let mut on_chain: Vec<Vec<(usize, u32)>> = vec![Vec::new(); chains.len()];
    for (m, want) in obs.iter().enumerate() {
        let id = want.record.origin;
        for (c, chain) in chains.iter().enumerate() {
            if chain.first().is_some_and(|r| r.origin.partition == id.partition && r.origin.log == id.log) {
                if let Ok(i) = chain.binary_search_by_key(&id.offset, |r| r.origin.offset) {
                    on_chain[c].push((m, i as u32));
                }
                break;
            }
        }
    }
    for list in &mut on_chain {
        for k in (0..list.len().saturating_sub(1)).rev() {
            list[k].1 = list[k].1.min(list[k + 1].1);
        }
    }
    let mut next_on_chain = vec![0usize; chains.len()];
    let mut frontier: BTreeSet<State> = BTreeSet::new();
    frontier.insert((vec![0; chains.len()], vec![0; pipeline.keyed]));
    let mut visited = 0usize;
    // Every state some path matching the results so far went through (kept for restarts only).
    let mut history: BTreeSet<State> = BTreeSet::new();
    let mut restarted_at = None;
    let mut m = 0;
    loop {
        // How far each chain may be consumed before `obs[m]` is emitted (no bound where a
        // restart may write a record again).
        let limit: Vec<u32> = (0..chains.len())
            .map(|c| {
                if may_restart {
                    return chains[c].len() as u32;
                }
                while on_chain[c].get(next_on_chain[c]).is_some_and(|&(at, _)| at < m) {
                    next_on_chain[c] += 1;
                }
                on_chain[c].get(next_on_chain[c]).map_or(chains[c].len() as u32, |&(_, i)| i)
            })
            .collect();
        // All states reachable from the frontier by steps whose output the pipeline drops; from
        // each, the emitting steps: the one that commits `obs[m]` continues the search.
        let mut seen: BTreeSet<State> = frontier.clone();
        let mut stack: Vec<State> = std::mem::take(&mut frontier).into_iter().collect();
        let mut possible: BTreeSet<(RecordId, i64)> = BTreeSet::new();
        let mut full = false;
        while let Some((v, t)) = stack.pop() {
            visited += 1;
            if visited > budget {
                return (Search::OverBudget, visited);
            }
            full |= v.iter().zip(chains).all(|(&n, c)| n as usize == c.len());
            for (c, chain) in chains.iter().enumerate() {
                let Some(&rec) = chain.get(v[c] as usize) else { continue };
                let mut t2 = t.clone();
                let out = pipeline.step(&mut t2, rec);
                let mut v2 = v.clone();
                v2[c] += 1;
                match out {
                    // Consuming a record committed later cannot lead to the committed sequence.
                    None if v[c] >= limit[c] => {}
                    None => {
                        if seen.insert((v2.clone(), t2.clone())) {
                            stack.push((v2, t2));
                        }
                    }
                    Some(value) => {
                        possible.insert((rec.origin, value));
                        if let Some(want) = obs.get(m)
                            && want.record.origin == rec.origin
                            && want.record.value == value
                        {
                            frontier.insert((v2, t2));
                        }
                    }
                }
            }
        }
        let jump = may_restart && restarted_at != Some(m);
        if may_restart {
            history.extend(seen);
        }
        if m == obs.len() {
            // The committed sequence is matched. A finished run consumed every record: the rest
            // must be droppable; an unfinished one may stop anywhere.
            if !finished || full {
                return (Search::Producible, visited);
            }
            if jump {
                restarted_at = Some(m);
                frontier = history.clone();
                continue;
            }
            let possible = possible.into_iter().take(POSSIBLE_SHOWN).collect();
            return (Search::Bad { index: m, possible }, visited);
        }
        if frontier.is_empty() {
            if jump {
                restarted_at = Some(m);
                frontier = history.clone();
                continue;
            }
            // Prefer alternatives for the same source record (a wrong value) over other records.
            let want = obs[m].record.origin;
            let mut alts: Vec<(RecordId, i64)> = possible.iter().filter(|p| p.0 == want).copied().collect();
            if alts.is_empty() {
                alts = possible.into_iter().collect();
            }
            alts.truncate(POSSIBLE_SHOWN);
            return (Search::Bad { index: m, possible: alts }, visited);
        }
        m += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::spec::EdgeKind;
    use crate::scenario::testing::keyed_job;
    use std::collections::BTreeMap;

    /// keyed_job(1, 1): source → keyed-count → sink, one partition.
    fn setup() -> (JobGraph, Vec<SourceLog>, Vec<Option<usize>>) {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let (logs, log_of) = crate::cluster::engine::build_logs(&sc);
        (graph, logs, log_of)
    }

    /// The counts a correct run commits over the first `n` records of partition 0, as
    /// (offset, count), and the positions in it of the results for the key of record 0.
    fn correct(logs: &[SourceLog], n: u64) -> (Vec<(u64, i64)>, Vec<usize>) {
        let mut counts: BTreeMap<u32, i64> = BTreeMap::new();
        let key0 = logs[0].record(0, 0).key;
        let mut mine = Vec::new();
        let out = (0..n)
            .map(|o| {
                let key = logs[0].record(0, o).key;
                if key == key0 {
                    mine.push(o as usize);
                }
                let c = counts.entry(key).or_insert(0);
                *c += 1;
                (o, *c)
            })
            .collect();
        (out, mine)
    }

    fn commit(graph: &JobGraph, logs: &[SourceLog], results: &[(u64, i64)]) -> Vec<CommittedRecord> {
        let sink = OperatorId(graph.spec.operators.len() as u32 - 1);
        results
            .iter()
            .map(|&(o, value)| CommittedRecord {
                sink,
                record: Record { value, ..logs[0].record(0, o) },
                committed_at_us: o,
            })
            .collect()
    }

    #[test]
    fn a_correct_prefix_is_producible_and_a_wrong_count_is_named() {
        let (graph, logs, log_of) = setup();
        let run = |results: &[(u64, i64)], finished: bool| {
            check(&graph, &logs, &log_of, &commit(&graph, &logs, results), finished, Restarts::None)
        };
        let (all, _) = correct(&logs, logs[0].len(0));
        let r = run(&all, true);
        assert_eq!((r.bad_keys, r.searched.len()), (0, 1), "{r:?}");
        assert!(r.keys_checked > 1);
        let (good, mine) = correct(&logs, 200);
        assert!(mine.len() > 3, "the key has several records");
        assert_eq!(run(&good, false).bad_keys, 0, "an unfinished run may stop anywhere");
        // The same prefix from a run that claims to have finished: later records would have been
        // counted too.
        let r = run(&good, true);
        assert_eq!(r.bad_keys, r.keys_checked);
        let b = r.first_bad.expect("the sequence ends too early");
        assert_eq!(b.record, None);
        assert_eq!(b.possible.first().map(|p| p.1), Some(b.index as i64 + 1));
        // A count restarted from empty state.
        let mut bad = good.clone();
        bad[mine[2]].1 = 1;
        let r = run(&bad, false);
        assert_eq!(r.bad_keys, 1);
        let b = r.first_bad.expect("named");
        let at = logs[0].record(0, mine[2] as u64).origin;
        assert_eq!((b.index, b.record, b.value), (2, Some(at), Some(1)));
        assert_eq!(b.possible, vec![(at, 3)], "the value it should have had");
        // A record skipped: the one before it must come first.
        let mut skipped = good.clone();
        skipped.remove(mine[1]);
        let b = run(&skipped, false).first_bad.expect("named");
        assert_eq!(b.index, 1);
        assert_eq!(b.possible, vec![(logs[0].record(0, mine[1] as u64).origin, 2)]);
        // A duplicate is left to the duplicate count.
        let mut dup = good.clone();
        dup.insert(mine[2], good[mine[1]]);
        let r = run(&dup, false);
        assert_eq!((r.bad_keys, r.keys_skipped), (0, 1));
    }

    #[test]
    fn results_a_filter_thinned_are_searched_without_consuming_committed_records_early() {
        // source (4 partitions) → count → filter (every 3rd count) → sink: most records emit
        // nothing, so the direct path does not apply and the search runs.
        let mut sc = keyed_job(4, 1);
        let ops = &mut sc.job.operators;
        let filter = OperatorKind::Filter { modulo: 3, remainder: 0 };
        ops.insert(2, crate::job::spec::OperatorSpec { name: "every-third".into(), kind: filter, ..ops[1].clone() });
        ops[2].input = Some((OperatorId(1), EdgeKind::Forward));
        ops[3].input = Some((OperatorId(2), EdgeKind::Forward));
        let graph = JobGraph::build(&sc.job);
        let (logs, log_of) = crate::cluster::engine::build_logs(&sc);
        let all = crate::check::oracle::fault_free_output(&graph, &logs, &log_of);
        assert!(all.len() > 1000, "{}", all.len());
        let r = check(&graph, &logs, &log_of, &all, true, Restarts::None);
        assert_eq!((r.bad_keys, r.keys_over_budget), (0, 0), "{r:?}");
        assert!(r.keys_checked >= 90);
        // Two results of one key from one partition swapped: the later record cannot come first
        // (from two partitions it could: another interleaving).
        let key = all[0].record.key;
        let p = all[0].record.origin.partition;
        let of_key: Vec<usize> =
            (0..all.len()).filter(|&i| all[i].record.key == key && all[i].record.origin.partition == p).collect();
        let mut swapped = all.clone();
        let (a, b) = (of_key[0], of_key[1]);
        (swapped[a].record.origin, swapped[b].record.origin) = (all[b].record.origin, all[a].record.origin);
        let r = check(&graph, &logs, &log_of, &swapped, true, Restarts::None);
        assert_eq!((r.bad_keys, r.keys_over_budget), (1, 0), "{r:?}");
        let first = (0..all.len()).filter(|&i| all[i].record.key == key).position(|i| i == a);
        assert_eq!(r.first_bad.map(|b| (b.key, Some(b.index))), Some((key, first)));
    }

    #[test]
    fn the_one_pass_direct_check_agrees_with_the_check_key_by_key() {
        // source (3 partitions) → [filter] → count → sink, and results perturbed every way the
        // oracle must tell apart: both ways give the same report, field for field.
        for filtered in [false, true] {
            let mut sc = keyed_job(3, 1);
            if filtered {
                let ops = &mut sc.job.operators;
                let filter = OperatorKind::Filter { modulo: 2, remainder: 0 };
                ops.insert(1, crate::job::spec::OperatorSpec { name: "even".into(), kind: filter, ..ops[1].clone() });
                ops[1].input = Some((OperatorId(0), EdgeKind::Forward));
                ops[2].input = Some((OperatorId(1), EdgeKind::Hash));
                ops[3].input = Some((OperatorId(2), EdgeKind::Forward));
            }
            let graph = JobGraph::build(&sc.job);
            let (logs, log_of) = crate::cluster::engine::build_logs(&sc);
            let all = crate::check::oracle::fault_free_output(&graph, &logs, &log_of);
            assert!(all.len() > 100, "{}", all.len());
            let n = all.len();
            let mut cases: Vec<Vec<CommittedRecord>> = vec![all.clone(), all[..n / 2].to_vec(), Vec::new()];
            let mut swapped = all.clone();
            swapped.swap(3, 40);
            cases.push(swapped);
            let mut dropped = all.clone();
            dropped.remove(n / 3);
            cases.push(dropped);
            let mut dup = all.clone();
            dup.insert(n / 2, all[n / 4]);
            cases.push(dup);
            let mut wrong = all.clone();
            wrong[n / 5].record.value += 1;
            cases.push(wrong);
            let mut alien = all.clone();
            alien[7].record.origin.offset = u64::MAX / 2;
            cases.push(alien);
            let mut rekeyed = all.clone();
            rekeyed[9].record.key += 1;
            cases.push(rekeyed);
            for (i, actual) in cases.iter().enumerate() {
                for finished in [false, true] {
                    for restarts in [Restarts::None, Restarts::FromCheckpoint] {
                        for budget in [STATE_BUDGET, 3] {
                            let fast = check_keys(&graph, &logs, &log_of, actual, finished, restarts, budget, true);
                            let slow = check_keys(&graph, &logs, &log_of, actual, finished, restarts, budget, false);
                            assert_eq!(fast, slow, "case {i}, filtered {filtered}, finished {finished}, {budget}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn grouping_by_key_is_a_stable_sort_either_way() {
        let items: Vec<(u32, usize)> = [5u32, 1, 5, 0, 3, 1, 5].iter().enumerate().map(|(i, &k)| (k, i)).collect();
        let mut want = items.clone();
        want.sort_by_key(|x| x.0);
        assert_eq!(stable_by_key(items.clone(), 6, |x| x.0), want, "counting sort");
        assert_eq!(stable_by_key(items, 3, |x| x.0), want, "a key past the bound: comparison sort");
    }

    #[test]
    fn a_search_over_its_budget_gives_up_on_the_key_and_says_so() {
        let (graph, logs, log_of) = setup();
        let (all, _) = correct(&logs, logs[0].len(0));
        let committed = commit(&graph, &logs, &all);
        let full = check(&graph, &logs, &log_of, &committed, true, Restarts::None);
        assert_eq!((full.keys_over_budget, full.keys_skipped, full.bad_keys), (0, 0, 0));
        // One partition and no filter: the search visits one state per record of a key and the
        // final state once more. The longest key needs exactly that many.
        let mut per_key: BTreeMap<u32, usize> = BTreeMap::new();
        for c in &committed {
            *per_key.entry(c.record.key).or_insert(0) += 1;
        }
        assert_eq!(full.keys_checked, per_key.len() as u64);
        let longest = per_key.values().copied().max().expect("keys") + 1;
        let at_most = per_key.values().filter(|&&n| n + 1 == longest).count() as u64;
        let within = check_with_budget(&graph, &logs, &log_of, &committed, true, Restarts::None, longest);
        assert_eq!((within.keys_over_budget, within.bad_keys), (0, 0), "a budget of exactly what is needed");
        let short = check_with_budget(&graph, &logs, &log_of, &committed, true, Restarts::None, longest - 1);
        assert_eq!(short.keys_over_budget, at_most, "only the longest keys run out");
        assert_eq!(short.keys_skipped, at_most);
        assert_eq!(short.keys_checked, full.keys_checked);
        let none = check_with_budget(&graph, &logs, &log_of, &committed, true, Restarts::None, 0);
        assert_eq!(none.keys_over_budget, full.keys_checked, "every key needs at least one state");
        assert_eq!(none.over_budget_sinks, vec![OperatorId(2)], "the sink is named once");
    }
}
