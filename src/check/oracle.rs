//! Provenance and final-state checks of a run's committed output against what the source log says
//! a fault-free execution commits (`fault_free_output`). No simulated run is the yardstick: the
//! log is a pure function, so no verdict depends on how far a reference simulation got.

use super::Verdict;
use super::interleave::{BadResult, SequenceReport};
use crate::cluster::config::CheckpointingMode;
use crate::cluster::external::CommittedRecord;
use crate::cluster::state::JobStatus;
use crate::job::graph::JobGraph;
use crate::job::keygroup::subtask_for_key;
use crate::job::record::{RecordId, SourceLog, apply_keyed, apply_stateless};
use crate::job::spec::{EdgeKind, OperatorId, OperatorKind, SinkSemantic};
use crate::sim::TimeUs;
use std::collections::BTreeMap;

/// A record the oracle points at: lost, or committed more than once.
#[derive(Clone, Debug, PartialEq)]
pub struct Offender {
    pub sink: String,
    pub record: RecordId,
    pub key: u32,
    pub appended_at_us: TimeUs,
    /// How often a fault-free execution commits it (from the source log).
    pub expected_times: u32,
    pub committed_times: u32,
    /// The first fault that fired at or after the record was appended (the one whose recovery
    /// mishandled it), as (fault index, time).
    pub fault: Option<(usize, TimeUs)>,
}

/// A key whose final committed result differs from the final aggregate the source log gives.
#[derive(Clone, Debug, PartialEq)]
pub struct StateDiff {
    pub sink: String,
    pub key: u32,
    pub expected: i64,
    pub committed: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputReport {
    pub verdict: Verdict,
    /// Records a fault-free execution commits, from the source log, over the sinks whose number
    /// of results the log fixes (all but `uncounted_sinks`).
    pub expected: u64,
    /// Records this run committed.
    pub committed: u64,
    /// Records missing for good: every missing record of a finished job; in a job that did not
    /// finish, a missing record with a later one of its lane committed (a hole: see `Lanes`).
    pub lost: u64,
    /// Extra commits of records (a record committed 3 times where once was right counts 2).
    pub duplicated: u64,
    /// Records not committed because the run ended first (a job that did not finish: FAILED,
    /// NOT_FOUND, or still running or restarting at the time limit).
    pub pending: u64,
    pub first_lost: Option<Offender>,
    pub first_duplicate: Option<Offender>,
    /// The lost records of sinks checked by identity, as (sink, origin), sorted.
    pub lost_records: Vec<(OperatorId, RecordId)>,
    /// Sinks with duplicates, in operator order.
    pub duplicated_sinks: Vec<String>,
    /// Whether per-key final results were compared (a finished run, keyed results).
    pub final_state_compared: bool,
    pub keys_compared: u64,
    pub keys_below: u64,
    pub keys_above: u64,
    /// Keys of an appending sink whose final aggregate was committed but an older result came
    /// after it (a replayed attempt's late write): right, though a reader keeping the latest
    /// result per key sees the older one.
    pub keys_stale_last: u64,
    pub first_state_diff: Option<StateDiff>,
    /// Per upsert sink: its writes, judged by the table they leave (last write per key), not
    /// by record identities.
    pub upserts: Vec<UpsertReport>,
    /// Keys whose committed results no fault-free execution produces (`check::interleave`:
    /// state lost, counted twice, a record skipped or a wrong value).
    pub bad_results: u64,
    pub first_bad_result: Option<BadResult>,
    /// Keys whose committed sequence the interleaving search checked, and those it gave up on.
    pub keys_searched: u64,
    pub keys_over_budget: u64,
    /// Why the verdict is not clean beyond what the counts say: results out of sequence, broken
    /// invariants, or a job that did not finish (and why, as far as the run tells).
    pub not_clean: Option<String>,
    /// Why Flink itself duplicates here, when it does (an appending sink, AT_LEAST_ONCE
    /// checkpoints): the verdict is what Flink promises for this job, not a bug.
    pub by_design: Option<String>,
    /// Of the lost records, those the fault-free reference simulation (the same code, planted bugs
    /// included) did not commit either although it finished: a bug every run shares, not a
    /// recovery problem. An explanation only; no count or verdict depends on it.
    pub lost_in_reference_too: u64,
    /// Sinks whose output depends on the interleaving in a way the oracle cannot check (a filter
    /// on prefix sums, say): not compared at all, and said so.
    pub unverified_sinks: Vec<String>,
    /// Sinks whose number of results depends on the interleaving: not counted in `expected`.
    pub uncounted_sinks: Vec<String>,
    /// Sinks in the job.
    pub sinks: usize,
    /// A job still RUNNING at the time limit that was still making progress (from `RunFacts`).
    pub progress: Option<Progress>,
}

/// A job that did not finish but was still making progress when the run ended: for the last
/// `window_us` no failover, at least two checkpoints completed and records were committed. Slower
/// than the fault-free run (after a recovery the subtasks may sit on more TaskManagers, so more
/// channels cross the network), not stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub window_us: TimeUs,
    pub checkpoints: u64,
    pub records: u64,
    /// When the fault-free reference simulation finished.
    pub reference_end_us: TimeUs,
}

/// What the run says about liveness and protocol, for `OutputReport::judge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunFacts {
    pub job_status: JobStatus,
    pub invariant_violations: usize,
    pub failovers: usize,
    /// Whether the last failover exhausted the restart strategy.
    pub restarts_exhausted: bool,
    /// What the last failover was for (`FailureCause::tag`).
    pub last_failure: Option<&'static str>,
    /// Records the sink store holds in pre-committed transactions when the run ends: a restart
    /// from the latest checkpoint would commit them.
    pub prepared_records: u64,
    /// Whether the fault-free reference simulation finished; `None` if there was none. Only
    /// explains a job that did not finish.
    pub reference_finished: Option<bool>,
    /// The job was still RUNNING and making progress when the run ended (the reference finished).
    pub progress: Option<Progress>,
    /// The run stopped at its budget (`--max-events`, `--max-memory`), not at the time limit.
    pub budget_stop: Option<crate::scenario::budget::BudgetStop>,
    /// The job is FINISHED by the user's stop-with-savepoint: its sources stopped at the
    /// savepoint, so it did not read the whole log.
    pub stopped_with_savepoint: bool,
    /// The job FAILED after its stop-with-savepoint's savepoint completed (that savepoint).
    pub failed_while_stopping: Option<u64>,
}

impl OutputReport {
    /// Folds in the interleaving search (`check::interleave`): its bad keys, and the sinks it
    /// verified that the comparison could not.
    pub fn sequences(&mut self, rep: SequenceReport, graph: &JobGraph) {
        self.bad_results = rep.bad_keys;
        self.first_bad_result = rep.first_bad;
        self.keys_searched = rep.keys_checked;
        self.keys_over_budget = rep.keys_over_budget;
        self.unverified_sinks.retain(|name| {
            !rep.searched.iter().any(|&s| graph.operator_name(s) == name && !rep.over_budget_sinks.contains(&s))
        });
    }

    /// Counts the lost records the fault-free reference simulation did not commit either.
    /// `reference` is its committed output; call it only if it finished.
    pub fn attribute_to_reference(&mut self, reference: &[CommittedRecord]) {
        let mut committed: Vec<(OperatorId, RecordId)> = reference.iter().map(|c| (c.sink, c.record.origin)).collect();
        committed.sort_unstable();
        self.lost_in_reference_too =
            self.lost_records.iter().filter(|id| committed.binary_search(id).is_err()).count() as u64;
    }

    /// Folds liveness and protocol into the verdict: out-of-sequence results and broken
    /// invariants make a clean delivery `violated`; a job that did not finish makes it
    /// `incomplete`, and is said to have stopped whatever the verdict (lost and duplicated
    /// records stay what they are: a hole or an extra commit is final).
    pub fn judge(&mut self, facts: &RunFacts) {
        self.progress = facts.progress;
        let unfinished = (facts.job_status != JobStatus::Finished || facts.stopped_with_savepoint)
            .then(|| self.why_unfinished(facts));
        if self.verdict != Verdict::ExactlyOnce {
            self.not_clean = unfinished;
            return;
        }
        if self.bad_results > 0 {
            self.verdict = Verdict::Violated;
            self.not_clean =
                Some(format!("{} keys with committed results no fault-free execution produces", self.bad_results));
        } else if facts.invariant_violations > 0 {
            self.verdict = Verdict::Violated;
            self.not_clean = Some(format!("{} protocol invariant violations", facts.invariant_violations));
        } else if let Some(why) = unfinished {
            self.verdict = Verdict::Incomplete;
            self.not_clean = Some(why);
        } else if !self.unverified_sinks.is_empty() && self.unverified_sinks.len() == self.sinks {
            self.verdict = Verdict::Unverified;
            self.not_clean = Some("no sink's output can be checked: it depends on how partitions interleave".into());
        }
    }

    fn why_unfinished(&self, facts: &RunFacts) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut why = match facts.job_status {
            JobStatus::Failed if let Some(sp) = facts.failed_while_stopping => format!(
                "the job ended FAILED: a task failed after the stop-with-savepoint's savepoint {sp} completed, and Flink fails the job then (StopWithSavepointStoppingException) instead of restarting it; the sources had stopped at the savepoint, and a job submitted from it would read on from there"
            ),
            JobStatus::Failed if facts.restarts_exhausted && facts.last_failure == Some("unrecoverable") => {
                "the job ended FAILED: a task threw a non-recoverable error (SuppressRestartsException), so no restart was tried".to_string()
            }
            JobStatus::Failed if facts.restarts_exhausted => format!(
                "the job ended FAILED: the restart strategy gave up after {} failover{}{}",
                facts.failovers,
                plural(facts.failovers),
                facts.last_failure.map(|c| format!(" (the last for {c})")).unwrap_or_default()
            ),
            JobStatus::Failed => "the job ended FAILED".to_string(),
            JobStatus::Canceled => "the user cancelled the job (CANCELED)".to_string(),
            JobStatus::Finished if facts.stopped_with_savepoint => "the user stopped the job with a savepoint (flink stop): its sources stopped there, and no later job read on from it".to_string(),
            JobStatus::NotFound => "the JobManager died without high availability: no process knows the job any more (NOT_FOUND)".to_string(),
            JobStatus::Suspended => "the job was SUSPENDED waiting for a new JobManager leader".to_string(),
            other => match facts.budget_stop {
                Some(stop) => format!("{stop}, with the job still {}", other.name()),
                None => format!("the job was still {} when the run ended", other.name()),
            },
        };
        why += &format!("; {} records not committed because the job stopped", self.pending);
        if facts.prepared_records > 0 {
            why += &format!(
                " ({} records wait in pre-committed transactions, which a restart from the latest checkpoint would commit)",
                facts.prepared_records
            );
        }
        match facts.reference_finished {
            Some(false) => {
                why += "; the fault-free reference simulation did not finish either: even without faults this job does not finish within duration + drain"
            }
            Some(true) if let Some(p) = facts.progress => {
                why += &format!(
                    "; still making progress, only slower than the fault-free reference simulation (which finished at {}): in the run's last {} no failover, {} checkpoints completed and {} records committed",
                    crate::sim::fmt_time(p.reference_end_us),
                    crate::sim::fmt_time(p.window_us),
                    p.checkpoints,
                    p.records
                )
            }
            Some(true)
                if !matches!(
                    facts.job_status,
                    JobStatus::Failed | JobStatus::NotFound | JobStatus::Canceled | JobStatus::Finished
                ) =>
            {
                why += "; the fault-free reference simulation finished: the faults and their recovery took longer than the run's time limit"
            }
            _ => {}
        }
        why
    }

    /// Says why Flink itself duplicates, where every sink with duplicates explains them: a sink
    /// that appends without transactions writes again after a restart what it wrote since the
    /// restored checkpoint, and AT_LEAST_ONCE checkpoints hold records after their barrier that
    /// a restore replays. Without a failover nothing is replayed, so nothing is by design.
    /// `fresh_submission`: a later submission of the job started from nothing (no savepoint or
    /// checkpoint), so it read the sources again from the start.
    pub fn explain_by_design(
        &mut self,
        graph: &JobGraph,
        mode: CheckpointingMode,
        failovers: usize,
        fresh_submission: bool,
    ) {
        if (self.duplicated == 0 && self.keys_above == 0) || (failovers == 0 && !fresh_submission) {
            return;
        }
        let mut reasons: Vec<String> = Vec::new();
        let mut all_explained = !self.duplicated_sinks.is_empty() || self.keys_above > 0;
        if fresh_submission {
            reasons.push(
                "the job was submitted again without a savepoint or retained checkpoint (`submit-job = \"nothing\"`): the new job started with empty state and its sources read the log again from the beginning, so what the earlier job had committed is committed again"
                    .to_string(),
            );
        }
        for name in &self.duplicated_sinks {
            let semantic = graph.spec.operators.iter().find_map(|o| match o.kind {
                OperatorKind::Sink(s) if o.name == *name => Some(s),
                _ => None,
            });
            if semantic == Some(SinkSemantic::Append) {
                reasons.push(format!(
                    "`{name}` appends without transactions (semantic = \"append\"), so a restart writes again what it had written since the restored checkpoint (since the start, without one)"
                ));
            } else if mode != CheckpointingMode::AtLeastOnce && !fresh_submission {
                all_explained = false;
            }
        }
        if self.keys_above > 0 && mode != CheckpointingMode::AtLeastOnce && !fresh_submission {
            all_explained = false;
        }
        if mode == CheckpointingMode::AtLeastOnce {
            reasons.push(
                "checkpoints are AT_LEAST_ONCE (barriers not aligned), so a checkpoint can hold effects of records after its barrier, which a restore from it replays"
                    .to_string(),
            );
        }
        if all_explained && !reasons.is_empty() {
            self.by_design = Some(format!("Flink itself duplicates here: {}", reasons.join("; ")));
        }
    }
}

/// What an upsert sink wrote: rows are overwritten by key, so a result written again after a
/// failover is not a duplicate in the table — only the last write per key stays.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct UpsertReport {
    pub sink: String,
    /// Writes made (each result, and every result written again).
    pub writes: u64,
    /// Results a fault-free execution writes.
    pub results: u64,
    /// Writes beyond those (a replay after a failover writing rows again).
    pub rewritten: u64,
    /// Keys whose row went back to an earlier value at some point (a replay from a checkpoint
    /// rewriting older results): what a reader could see meanwhile.
    pub keys_went_back: u64,
    /// Keys whose last write is older than a result written before it: the table keeps a
    /// zombie's late write (what fencing would have refused).
    pub keys_left_older: u64,
}

/// The operators from a sink's source to the sink, source first.
pub fn sink_path(graph: &JobGraph, sink: OperatorId) -> Vec<OperatorId> {
    let ops = &graph.spec.operators;
    let mut path = vec![sink];
    let mut cur = ops[sink.0 as usize].input.map(|(x, _)| x);
    while let Some(c) = cur {
        path.push(c);
        cur = ops[c.0 as usize].input.map(|(x, _)| x);
    }
    path.reverse();
    path
}

/// The committed output of one fault-free execution, from the source log alone: each sink's
/// records in the order the log appended their origins (one merge of the partitions; network
/// timing can produce each), every record through every operator on the sink's path. Whatever
/// `determinacy` fixes is the same in every fault-free execution, so this one stands for all
/// of them wherever the oracle compares. A log is bounded (by `records`, or by what is appended
/// within the scenario's duration), so this is what a finished job has committed.
pub fn fault_free_output(graph: &JobGraph, logs: &[SourceLog], log_of: &[Option<usize>]) -> Vec<CommittedRecord> {
    let ops = &graph.spec.operators;
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let sink = OperatorId(i as u32);
        if !matches!(op.kind, OperatorKind::Sink(_)) {
            continue;
        }
        let path = sink_path(graph, sink);
        let Some(log) = log_of[path[0].0 as usize].map(|l| &logs[l]) else { continue };
        // A broadcast edge hands each record to every consumer subtask: the sink commits it
        // once per copy (the loader keeps keyed operators out from behind a broadcast).
        let copies: usize = path[1..]
            .iter()
            .map(|x| &ops[x.0 as usize])
            .filter(|o| matches!(o.input, Some((_, EdgeKind::Broadcast))))
            .map(|o| o.parallelism.max(1) as usize)
            .product();
        // Keyed state per position on the path, indexed by key (a source draws keys below
        // `log.keys`, at most `MAX_KEYS`, and no operator changes a key).
        let mut state: Vec<Vec<i64>> = vec![Vec::new(); path.len()];
        for (at, x) in path[1..path.len() - 1].iter().enumerate() {
            if ops[x.0 as usize].kind.is_keyed() {
                state[at] = vec![0; log.keys.max(1) as usize];
            }
        }
        let partitions = u64::from(log.partitions.max(1));
        out.reserve(usize::try_from(log.total).unwrap_or(0));
        'records: for slot in 0..log.total {
            // Slot s holds partition s mod partitions at offset s / partitions: append order.
            let (p, o) = ((slot % partitions) as u32, slot / partitions);
            let mut rec = log.record(p, o);
            for (at, x) in path[1..path.len() - 1].iter().enumerate() {
                let kind = &ops[x.0 as usize].kind;
                if kind.is_keyed() {
                    let Some(s) = state[at].get_mut(rec.key as usize) else {
                        unreachable!("a record's key is below its log's key count")
                    };
                    *s = apply_keyed(kind, *s, &rec);
                    rec.value = *s;
                } else {
                    match apply_stateless(kind, rec) {
                        Some(r) => rec = r,
                        None => continue 'records,
                    }
                }
            }
            let c = CommittedRecord { sink, record: rec, committed_at_us: log.append_time_us(p, o) };
            out.extend(std::iter::repeat_n(c, copies));
        }
    }
    out
}

/// Which records of a sink a fault-free execution commits in the order of their source offsets,
/// even when it stops early: the records of one lane. Channels are FIFO, a subtask processes
/// one channel's records in order and emits at most one result per record, and a sink subtask
/// commits in order (its transactions in checkpoint order). So in a job that did not finish, a
/// missing record with a later record of its lane committed is a hole — lost — and one without
/// is not committed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lanes {
    /// A rebalance or rescale edge on the path: which sink subtask a record reaches depends on
    /// round-robin counters at run time (a broadcast edge: it reaches all of them). No lane is
    /// known: before the job finishes nothing counts as lost.
    Unknown,
    /// At most one hash edge: all records of a partition that reach one sink subtask come over
    /// one channel. Lane: (sink subtask, partition).
    SubtaskPartition,
    /// Two or more hash edges: the records of a partition reach a sink subtask over several
    /// channels, which can reorder them, but those of one key take the same channels. Lane:
    /// (partition, key).
    PartitionKey,
}

fn lanes_of(graph: &JobGraph, path: &[OperatorId]) -> Lanes {
    let ops = &graph.spec.operators;
    let edges: Vec<EdgeKind> = path[1..].iter().filter_map(|x| ops[x.0 as usize].input.map(|(_, e)| e)).collect();
    if edges.iter().any(|e| matches!(e, EdgeKind::Rebalance | EdgeKind::Rescale | EdgeKind::Broadcast)) {
        Lanes::Unknown
    } else if edges.iter().filter(|&&e| e == EdgeKind::Hash).count() <= 1 {
        Lanes::SubtaskPartition
    } else {
        Lanes::PartitionKey
    }
}

/// The lane of a record with origin partition `p` and key `key` on `path` (see `Lanes`).
fn lane(graph: &JobGraph, path: &[OperatorId], lanes: Lanes, p: u32, key: u32) -> Option<(u32, u32)> {
    let ops = &graph.spec.operators;
    match lanes {
        Lanes::Unknown => None,
        Lanes::PartitionKey => Some((p, key)),
        Lanes::SubtaskPartition => {
            // KafkaSource-style static assignment: partition p → reader p mod parallelism; a
            // forward edge keeps the subtask index, a hash edge picks the key's subtask.
            let mut index = p % ops[path[0].0 as usize].parallelism.max(1);
            for x in &path[1..] {
                let op = &ops[x.0 as usize];
                if let Some((_, EdgeKind::Hash)) = op.input {
                    index = subtask_for_key(key, graph.max_parallelism[x.0 as usize], op.parallelism);
                }
            }
            Some((index, p))
        }
    }
}

/// Per (sink, origin) of the sinks checked by identity, how often a fault-free execution
/// commits it and how often the run did, where the two differ, in (sink, origin) order.
fn identity_differences(
    logs: &[SourceLog],
    sinks: &[OperatorId],
    expected: &[CommittedRecord],
    actual: &[CommittedRecord],
    dense_limit: usize,
) -> Vec<((OperatorId, RecordId), u32, u32)> {
    // A dense table per sink over its log's append slots (offset × partitions + partition)
    // counts without sorting; it needs every origin to be a record of the sink's one log.
    let log_of_sink = |sink: OperatorId| expected.iter().find(|c| c.sink == sink).map(|c| c.record.origin.log);
    let mut base: Vec<(OperatorId, u16, usize)> = Vec::new();
    let mut size = 0usize;
    for &s in sinks {
        if let Some(l) = log_of_sink(s) {
            base.push((s, l, size));
            size = size.saturating_add(logs[l as usize].total as usize);
        }
    }
    let slot = |c: &CommittedRecord| -> Option<usize> {
        let &(_, l, b) = base.iter().find(|(s, _, _)| *s == c.sink)?;
        let (id, log) = (c.record.origin, &logs[l as usize]);
        (id.log == l && id.partition < log.partitions && id.offset < log.len(id.partition))
            .then(|| b + (id.offset * u64::from(log.partitions) + u64::from(id.partition)) as usize)
    };
    let of_sinks = |c: &&CommittedRecord| sinks.contains(&c.sink);
    let dense = size <= dense_limit && actual.iter().filter(of_sinks).all(|c| slot(c).is_some());
    let mut out = Vec::new();
    if dense {
        let (mut want, mut got) = (vec![0u32; size], vec![0u32; size]);
        for (v, list) in [(&mut want, expected), (&mut got, actual)] {
            for c in list.iter().filter(of_sinks) {
                if let Some(i) = slot(c) {
                    v[i] = v[i].saturating_add(1);
                }
            }
        }
        for &(sink, l, b) in &base {
            let log = &logs[l as usize];
            for p in 0..log.partitions {
                for offset in 0..log.len(p) {
                    let i = b + (offset * u64::from(log.partitions) + u64::from(p)) as usize;
                    if want[i] != got[i] {
                        out.push(((sink, RecordId { log: l, partition: p, offset }), want[i], got[i]));
                    }
                }
            }
        }
        return out;
    }
    let sorted = |list: &[CommittedRecord]| {
        let mut v: Vec<(OperatorId, RecordId)> =
            list.iter().filter(of_sinks).map(|c| (c.sink, c.record.origin)).collect();
        v.sort_unstable();
        let mut runs: Vec<((OperatorId, RecordId), u32)> = Vec::new();
        for x in v {
            match runs.last_mut() {
                Some((y, n)) if *y == x => *n += 1,
                _ => runs.push((x, 1)),
            }
        }
        runs
    };
    let (rc, ac) = (sorted(expected), sorted(actual));
    let (mut i, mut j) = (0, 0);
    while i < rc.len() || j < ac.len() {
        let (k, want, got) = match (rc.get(i), ac.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
                (x.0, x.1, y.1)
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                i += 1;
                (x.0, x.1, 0)
            }
            (Some(x), None) => {
                i += 1;
                (x.0, x.1, 0)
            }
            (_, Some(y)) => {
                j += 1;
                (y.0, 0, y.1)
            }
            (None, None) => break,
        };
        if want != got {
            out.push((k, want, got));
        }
    }
    out
}

/// Most slots `identity_differences` counts in dense tables (two `u32` each); past it, it sorts.
const DENSE_LIMIT: usize = 1 << 25;

/// Compares committed outputs with what a fault-free execution commits (`expected`, from
/// `fault_free_output`). `finished`: the job finished, so nothing more would be committed.
/// `fault_times` are the times each scenario fault fired.
pub fn compare(
    graph: &JobGraph,
    logs: &[SourceLog],
    expected: &[CommittedRecord],
    actual: &[CommittedRecord],
    finished: bool,
    fault_times: &[Option<TimeUs>],
) -> OutputReport {
    let det = determinacy(graph);
    let ops = &graph.spec.operators;
    let is_sink = |op: OperatorId| matches!(ops[op.0 as usize].kind, OperatorKind::Sink(_));
    let sinks: Vec<OperatorId> = (0..ops.len() as u32).map(OperatorId).filter(|&op| is_sink(op)).collect();
    // Per sink checked by identity: its path and lanes.
    let mut lanes: BTreeMap<OperatorId, (Vec<OperatorId>, Lanes)> = BTreeMap::new();
    for &s in sinks.iter().filter(|s| det[s.0 as usize].identities) {
        let path = sink_path(graph, s);
        let l = lanes_of(graph, &path);
        lanes.insert(s, (path, l));
    }
    let lane_of = |sink: OperatorId, id: RecordId, key: u32| -> Option<(u32, u32)> {
        lanes.get(&sink).and_then(|(path, l)| lane(graph, path, *l, id.partition, key))
    };
    let upsert = |op: OperatorId| matches!(ops[op.0 as usize].kind, OperatorKind::Sink(SinkSemantic::Upsert));
    let by_identity = |c: &&CommittedRecord| det[c.sink.0 as usize].identities && !upsert(c.sink);
    // Highest committed offset + 1 per (sink, lane) in this run: a missing record below it is a
    // hole (lost), above it progress not made yet (pending).
    let mut high: BTreeMap<(OperatorId, (u32, u32)), u64> = BTreeMap::new();
    if !finished {
        for c in actual.iter().filter(by_identity) {
            if let Some(l) = lane_of(c.sink, c.record.origin, c.record.key) {
                let h = high.entry((c.sink, l)).or_insert(0);
                *h = (*h).max(c.record.origin.offset + 1);
            }
        }
    }
    let (mut lost, mut dup, mut pending) = (0u64, 0u64, 0u64);
    let mut lost_records = Vec::new();
    let mut dup_at: Vec<OperatorId> = Vec::new();
    let mut first_lost: Option<(TimeUs, (OperatorId, RecordId), u32, u32)> = None;
    let mut first_dup: Option<(TimeUs, (OperatorId, RecordId), u32, u32)> = None;
    let appended = |id: RecordId| logs[id.log as usize].append_time_us(id.partition, id.offset);
    let identity_sinks: Vec<OperatorId> =
        sinks.iter().copied().filter(|s| det[s.0 as usize].identities && !upsert(*s)).collect();
    for (k, want, got) in identity_differences(logs, &identity_sinks, expected, actual, DENSE_LIMIT) {
        if got < want {
            let (sink, id) = k;
            let hole = finished || {
                let key = logs[id.log as usize].record(id.partition, id.offset).key;
                lane_of(sink, id, key).and_then(|l| high.get(&(sink, l))).is_some_and(|&h| id.offset < h)
            };
            if hole {
                lost += u64::from(want - got);
                lost_records.push(k);
                let t = appended(id);
                if first_lost.is_none_or(|f| t < f.0) {
                    first_lost = Some((t, k, want, got));
                }
            } else {
                pending += u64::from(want - got);
            }
        } else if got > want {
            dup += u64::from(got - want);
            dup_at.push(k.0);
            let t = appended(k.1);
            if first_dup.is_none_or(|f| t < f.0) {
                first_dup = Some((t, k, want, got));
            }
        }
    }
    let fault_after = |t: TimeUs| -> Option<(usize, TimeUs)> {
        let mut fired: Vec<(TimeUs, usize)> =
            fault_times.iter().enumerate().filter_map(|(i, ft)| ft.map(|x| (x, i))).collect();
        fired.sort_unstable();
        fired.iter().find(|(x, _)| *x >= t).or(fired.last()).map(|&(x, i)| (i, x))
    };
    let offender = |f: Option<(TimeUs, (OperatorId, RecordId), u32, u32)>| {
        f.map(|(t, (sink, id), want, got)| Offender {
            sink: graph.operator_name(sink).to_string(),
            record: id,
            key: logs[id.log as usize].record(id.partition, id.offset).key,
            appended_at_us: t,
            expected_times: want,
            committed_times: got,
            fault: fault_after(t),
        })
    };

    let mut unverified_sinks = Vec::new();
    // Sinks whose record identities depend on how partitions interleave (a filter on a keyed
    // count's values, say): what some fault-free execution commits is fixed only per key, as a
    // multiset of values or as a number of records. Compare that instead.
    for &sink in &sinks {
        let d = det[sink.0 as usize];
        if d.identities || upsert(sink) {
            continue;
        }
        if !d.value_multiset && !d.per_key_count {
            unverified_sinks.push(graph.operator_name(sink).to_string());
            continue;
        }
        let per_key = |v: &[CommittedRecord]| -> BTreeMap<(u32, i64), u32> {
            let mut m = BTreeMap::new();
            for c in v.iter().filter(|c| c.sink == sink) {
                let value = if d.value_multiset { c.record.value } else { 0 };
                *m.entry((c.record.key, value)).or_insert(0) += 1;
            }
            m
        };
        let (want, got) = (per_key(expected), per_key(actual));
        let keys: std::collections::BTreeSet<(u32, i64)> = want.keys().chain(got.keys()).copied().collect();
        for k in keys {
            let (w, g) = (want.get(&k).copied().unwrap_or(0), got.get(&k).copied().unwrap_or(0));
            if g > w {
                dup += u64::from(g - w);
                dup_at.push(sink);
                // The first commit beyond what a fault-free execution has of this key (and value).
                let extra = actual
                    .iter()
                    .filter(|c| c.sink == sink && c.record.key == k.0 && (!d.value_multiset || c.record.value == k.1))
                    .nth(w as usize);
                if let Some(c) = extra {
                    let t = appended(c.record.origin);
                    if first_dup.is_none_or(|f| t < f.0) {
                        first_dup = Some((t, (sink, c.record.origin), w, g));
                    }
                }
            } else if w > g {
                // Without identities a hole cannot be told from progress not made yet: only a
                // finished job's missing results are lost.
                if finished {
                    lost += u64::from(w - g);
                } else {
                    pending += u64::from(w - g);
                }
            }
        }
    }

    // Final per-key results, for sinks fed by a keyed aggregation through maps only.
    let mut keys_compared = 0;
    let (mut below, mut above, mut stale) = (0, 0, 0);
    let mut first_state_diff = None;
    let comparable: Vec<OperatorId> = sinks
        .iter()
        .copied()
        .filter(|&op| fed_by_keyed(graph, op).is_some_and(|k| det[k.0 as usize].final_value))
        .collect();
    if finished {
        let append_sinks: Vec<OperatorId> = sinks
            .iter()
            .copied()
            .filter(|s| matches!(ops[s.0 as usize].kind, OperatorKind::Sink(SinkSemantic::Append)))
            .collect();
        // The final aggregate per (sink, key): a fault-free execution's last result of the key.
        let mut want: Vec<(OperatorId, u32, i64)> = Vec::new();
        for &sink in &comparable {
            let mut last: Vec<Option<i64>> = Vec::new();
            for c in expected.iter().filter(|c| c.sink == sink) {
                let k = c.record.key as usize;
                if last.len() <= k {
                    last.resize(k + 1, None);
                }
                last[k] = Some(c.record.value);
            }
            want.extend(last.iter().enumerate().filter_map(|(k, v)| v.map(|v| (sink, k as u32, v))));
        }
        // Per key, the committed results in commit order (a stable sort of the commit order).
        let mut got: Vec<&CommittedRecord> = actual.iter().filter(|c| comparable.contains(&c.sink)).collect();
        if comparable.len() == 1 {
            let keys = want.iter().map(|w| w.1 as usize + 1).max().unwrap_or(0);
            got = crate::check::interleave::stable_by_key(got, keys, |c| c.record.key);
        } else {
            got.sort_by_key(|c| (c.sink, c.record.key));
        }
        let mut origins: Vec<RecordId> = Vec::new();
        for &(sink, key, want) in &want {
            keys_compared += 1;
            let from = got.partition_point(|c| (c.sink, c.record.key) < (sink, key));
            let to = got.partition_point(|c| (c.sink, c.record.key) <= (sink, key));
            let results = &got[from..to];
            let last = results.last().map_or(0, |r| r.record.value);
            // An appending sink's key with a result committed twice was replayed, and nothing
            // orders the writes of the attempts: a zombie's late write can put an older result
            // last. The duplicate is counted already; the aggregate is right if it was committed
            // at all. (A two-phase-commit sink fences older attempts: its last result is the
            // newest attempt's.)
            // An upsert sink's table holds the last write, whoever made it: a zombie's late
            // write of an older result stays in the table.
            let replayed = append_sinks.contains(&sink) && {
                origins.clear();
                origins.extend(results.iter().map(|r| r.record.origin));
                origins.sort_unstable();
                origins.windows(2).any(|w| w[0] == w[1])
            };
            let right = if replayed { results.iter().any(|r| r.record.value == want) } else { last == want };
            if right && last != want {
                stale += 1;
            }
            if !right {
                if last < want {
                    below += 1
                } else {
                    above += 1
                }
                if first_state_diff.is_none() {
                    first_state_diff = Some(StateDiff {
                        sink: graph.operator_name(sink).to_string(),
                        key,
                        expected: want,
                        committed: last,
                    });
                }
            }
        }
    }
    let mut upserts = Vec::new();
    for &sink in sinks.iter().filter(|s| upsert(**s)) {
        let writes = actual.iter().filter(|c| c.sink == sink).count() as u64;
        let results = expected.iter().filter(|c| c.sink == sink).count() as u64;
        // A key's row went back when a write's result is older than one written before it: a
        // result's age is its place in the key's fault-free sequence of results (a keyed
        // aggregate's results follow the key's records).
        let mut age: BTreeMap<RecordId, u32> = BTreeMap::new();
        let mut per_key: BTreeMap<u32, u32> = BTreeMap::new();
        for c in expected.iter().filter(|c| c.sink == sink) {
            let n = per_key.entry(c.record.key).or_insert(0);
            age.insert(c.record.origin, *n);
            *n += 1;
        }
        let mut newest: BTreeMap<u32, u32> = BTreeMap::new();
        let mut back: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
        // Per key, whether its last write went back: the row ends older than a result written
        // before it — a write no replay followed, an older attempt's (a zombie's; nothing fences
        // an upsert sink).
        let mut ends_back: BTreeMap<u32, bool> = BTreeMap::new();
        for c in actual.iter().filter(|c| c.sink == sink) {
            let Some(&a) = age.get(&c.record.origin) else { continue };
            let n = newest.entry(c.record.key).or_insert(a);
            let went_back = a < *n;
            if went_back {
                back.insert(c.record.key);
            } else {
                *n = a;
            }
            ends_back.insert(c.record.key, went_back);
        }
        upserts.push(UpsertReport {
            sink: graph.operator_name(sink).to_string(),
            writes,
            results,
            rewritten: writes.saturating_sub(results),
            keys_went_back: back.len() as u64,
            keys_left_older: ends_back.values().filter(|b| **b).count() as u64,
        });
    }
    let counted = |s: &OperatorId| det[s.0 as usize].per_key_count && !upsert(*s);
    let uncounted_sinks =
        sinks.iter().filter(|s| !counted(s) && !upsert(**s)).map(|&s| graph.operator_name(s).to_string()).collect();
    dup_at.sort_unstable();
    dup_at.dedup();
    OutputReport {
        bad_results: 0,
        first_bad_result: None,
        keys_searched: 0,
        keys_over_budget: 0,
        not_clean: None,
        by_design: None,
        lost_in_reference_too: 0,
        unverified_sinks,
        uncounted_sinks,
        sinks: sinks.len(),
        progress: None,
        verdict: Verdict::from_counts(lost + below, dup + above),
        expected: expected.iter().filter(|c| counted(&c.sink)).count() as u64,
        committed: actual.iter().filter(|c| !upsert(c.sink)).count() as u64,
        lost,
        duplicated: dup,
        pending,
        first_lost: offender(first_lost),
        first_duplicate: offender(first_dup),
        lost_records,
        duplicated_sinks: dup_at.iter().map(|&s| graph.operator_name(s).to_string()).collect(),
        final_state_compared: finished && !comparable.is_empty(),
        keys_compared,
        keys_below: below,
        keys_above: above,
        keys_stale_last: stale,
        first_state_diff,
        upserts,
    }
}

/// The keyed aggregation a sink's input comes from through forward maps only, if any: then each
/// key reaches one sink subtask in order, and its last committed value is the aggregate.
pub(crate) fn fed_by_keyed(graph: &JobGraph, sink: OperatorId) -> Option<OperatorId> {
    let mut op = sink;
    while let Some((input, EdgeKind::Forward)) = graph.spec.operators[op.0 as usize].input {
        match graph.spec.operators[input.0 as usize].kind {
            OperatorKind::KeyedCount | OperatorKind::KeyedSum => return Some(input),
            OperatorKind::Map { .. } => op = input,
            _ => return None,
        }
    }
    None
}
/// What does not depend on how source partitions interleave, per operator output. A restart
/// legitimately changes the interleaving, so the oracle may only compare these with a reference
/// run (ARCHITECTURE.md, "What the oracle proves").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Determinacy {
    /// Which source records come out (by origin).
    pub identities: bool,
    /// Each record's value.
    pub values: bool,
    /// Per key, the multiset of values.
    pub value_multiset: bool,
    /// Per key, the number of records.
    pub per_key_count: bool,
    /// Per key, the final aggregate (keyed operators).
    pub final_value: bool,
}

/// `Determinacy` of every operator's output, in operator order (inputs come first).
pub fn determinacy(graph: &JobGraph) -> Vec<Determinacy> {
    let ops = &graph.spec.operators;
    let mut out: Vec<Determinacy> = Vec::with_capacity(ops.len());
    for op in ops {
        let d = op.input.map(|(i, _)| out[i.0 as usize]).unwrap_or_default();
        out.push(match op.kind {
            OperatorKind::Source(_) => Determinacy {
                identities: true,
                values: true,
                value_multiset: true,
                per_key_count: true,
                final_value: false,
            },
            // A map changes each value by a fixed function: nothing order-dependent appears.
            OperatorKind::Map { .. } | OperatorKind::Sink(_) => d,
            // A filter keeps records by value: which ones pass is fixed only if each value is.
            OperatorKind::Filter { .. } => Determinacy {
                identities: d.identities && d.values,
                per_key_count: d.value_multiset,
                final_value: false,
                ..d
            },
            // One output per input, carrying its origin; the value is the running aggregate.
            OperatorKind::KeyedCount => Determinacy {
                identities: d.identities,
                values: false,
                value_multiset: d.per_key_count,
                per_key_count: d.per_key_count,
                final_value: d.per_key_count,
            },
            OperatorKind::KeyedSum => Determinacy {
                identities: d.identities,
                values: false,
                value_multiset: false,
                per_key_count: d.per_key_count,
                final_value: d.value_multiset,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests;
