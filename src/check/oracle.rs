//! Provenance and final-state checks of a run's committed output against a fault-free reference
//! run of the same scenario.

use super::Verdict;
use super::interleave::{BadResult, SequenceReport};
use crate::cluster::external::CommittedRecord;
use crate::cluster::state::JobStatus;
use crate::job::graph::JobGraph;
use crate::job::record::{RecordId, SourceLog, apply_stateless};
use crate::job::spec::{EdgeKind, OperatorId, OperatorKind};
use crate::sim::TimeUs;
use std::collections::BTreeMap;

/// A record the oracle points at: lost, or committed more than once.
#[derive(Clone, Debug, PartialEq)]
pub struct Offender {
    pub sink: String,
    pub record: RecordId,
    pub key: u32,
    pub appended_at_us: TimeUs,
    pub expected_times: u32,
    pub committed_times: u32,
    /// The first fault that fired at or after the record was appended (the one whose recovery
    /// mishandled it), as (fault index, time).
    pub fault: Option<(usize, TimeUs)>,
}

/// A key whose final committed result differs from the reference.
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
    /// Records the reference run committed (over all sinks).
    pub expected: u64,
    /// Records this run committed.
    pub committed: u64,
    /// Records missing although later records of their partition were committed.
    pub lost: u64,
    /// Extra commits of records (a record committed 3 times where once was right counts 2).
    pub duplicated: u64,
    /// Records not committed yet because the run ended first (the job failed or did not finish).
    pub pending: u64,
    pub first_lost: Option<Offender>,
    pub first_duplicate: Option<Offender>,
    /// Whether per-key final results were compared (both runs finished, keyed results).
    pub final_state_compared: bool,
    pub keys_compared: u64,
    pub keys_below: u64,
    pub keys_above: u64,
    pub first_state_diff: Option<StateDiff>,
    /// Keys whose committed results no fault-free execution produces (`check::interleave`:
    /// state lost, counted twice, a record skipped or a wrong value).
    pub bad_results: u64,
    pub first_bad_result: Option<BadResult>,
    /// Keys whose committed sequence the interleaving search checked, and those it gave up on.
    pub keys_searched: u64,
    pub keys_over_budget: u64,
    /// Why the verdict is not clean although nothing was lost or duplicated (see `judge`).
    pub not_clean: Option<String>,
    /// Records the source log says must be committed that the fault-free reference run did not
    /// commit either (a bug every run shares; found by `missing_from_log`).
    pub lost_in_reference_too: u64,
    /// Sinks whose output depends on the interleaving in a way the oracle cannot check (a filter
    /// on prefix sums, say): not compared at all, and said so.
    pub unverified_sinks: Vec<String>,
    /// Sinks in the job.
    pub sinks: usize,
}

impl OutputReport {
    /// Folds in the absolute check (`missing_from_log`) of a finished run: records missing
    /// beyond what the comparison with the reference found are lost too — the reference run
    /// lost them as well.
    pub fn absolute(
        &mut self,
        missing: u64,
        first: Option<(OperatorId, RecordId)>,
        graph: &JobGraph,
        logs: &[SourceLog],
    ) {
        if missing <= self.lost {
            return;
        }
        self.lost_in_reference_too = missing - self.lost;
        self.pending = self.pending.saturating_sub(self.lost_in_reference_too);
        self.lost = missing;
        if self.first_lost.is_none()
            && let Some((sink, id)) = first
        {
            let rec = logs[id.log as usize].record(id.partition, id.offset);
            self.first_lost = Some(Offender {
                sink: graph.operator_name(sink).to_string(),
                record: id,
                key: rec.key,
                appended_at_us: logs[id.log as usize].append_time_us(id.partition, id.offset),
                expected_times: 1,
                committed_times: 0,
                fault: None,
            });
        }
        self.verdict = Verdict::from_counts(self.lost, self.duplicated + self.keys_above);
    }

    /// Folds in the interleaving search (`check::interleave`): its bad keys, and the sinks it
    /// verified that the comparison with the reference could not.
    pub fn sequences(&mut self, rep: SequenceReport, graph: &JobGraph) {
        self.bad_results = rep.bad_keys;
        self.first_bad_result = rep.first_bad;
        self.keys_searched = rep.keys_checked;
        self.keys_over_budget = rep.keys_over_budget;
        self.unverified_sinks.retain(|name| {
            !rep.searched.iter().any(|&s| graph.operator_name(s) == name && !rep.over_budget_sinks.contains(&s))
        });
    }

    /// Folds liveness and protocol into the verdict: out-of-sequence results and broken
    /// invariants make a clean delivery `violated`; a job that did not finish, or committed
    /// nothing although its sources read records, makes it `incomplete`.
    pub fn judge(&mut self, job_status: JobStatus, records_read: u64, invariant_violations: usize) {
        if self.verdict != Verdict::ExactlyOnce {
            return;
        }
        if self.bad_results > 0 {
            self.verdict = Verdict::Violated;
            self.not_clean =
                Some(format!("{} keys with committed results no fault-free execution produces", self.bad_results));
        } else if invariant_violations > 0 {
            self.verdict = Verdict::Violated;
            self.not_clean = Some(format!("{invariant_violations} protocol invariant violations"));
        } else if job_status != JobStatus::Finished {
            self.verdict = Verdict::Incomplete;
            let why = match job_status {
                JobStatus::Failed => "the job ended FAILED".to_string(),
                JobStatus::Lost => "the JobManager died without high availability: the job is LOST".to_string(),
                JobStatus::Suspended => "the job was SUSPENDED waiting for a new JobManager leader".to_string(),
                other => format!("the job was still {} when the run ended", other.name()),
            };
            self.not_clean = Some(format!("{why}; {} records never committed", self.pending));
        } else if !self.unverified_sinks.is_empty() && self.unverified_sinks.len() == self.sinks {
            self.verdict = Verdict::Unverified;
            self.not_clean = Some("no sink's output can be checked: it depends on how partitions interleave".into());
        } else if self.committed == 0 && records_read > 0 {
            self.verdict = Verdict::Incomplete;
            self.not_clean = Some(format!("nothing was committed although the sources read {records_read} records"));
        }
    }
}

/// Compares committed outputs. `fault_times` are the times each scenario fault fired.
pub fn compare(
    graph: &JobGraph,
    logs: &[SourceLog],
    reference: &[CommittedRecord],
    actual: &[CommittedRecord],
    both_finished: bool,
    fault_times: &[Option<TimeUs>],
) -> OutputReport {
    let det = determinacy(graph);
    let by_identity = |c: &&CommittedRecord| det[c.sink.0 as usize].identities;
    let key = |c: &CommittedRecord| (c.sink, c.record.origin);
    let mut r: Vec<(OperatorId, RecordId)> = reference.iter().filter(by_identity).map(key).collect();
    let mut a: Vec<(OperatorId, RecordId)> = actual.iter().filter(by_identity).map(key).collect();
    r.sort_unstable();
    a.sort_unstable();
    // Highest committed offset per (sink, log, partition) in this run: a missing record below
    // it is a hole (lost), above it is progress not made yet (pending).
    let mut high: BTreeMap<(OperatorId, u16, u32), u64> = BTreeMap::new();
    for &(s, id) in &a {
        let h = high.entry((s, id.log, id.partition)).or_insert(0);
        *h = (*h).max(id.offset + 1);
    }
    let count_runs = |v: &[(OperatorId, RecordId)]| -> Vec<((OperatorId, RecordId), u32)> {
        let mut out: Vec<((OperatorId, RecordId), u32)> = Vec::new();
        for &x in v {
            match out.last_mut() {
                Some((y, n)) if *y == x => *n += 1,
                _ => out.push((x, 1)),
            }
        }
        out
    };
    let (rc, ac) = (count_runs(&r), count_runs(&a));
    let (mut lost, mut dup, mut pending) = (0u64, 0u64, 0u64);
    let mut first_lost: Option<(TimeUs, (OperatorId, RecordId), u32, u32)> = None;
    let mut first_dup: Option<(TimeUs, (OperatorId, RecordId), u32, u32)> = None;
    let appended = |id: RecordId| logs[id.log as usize].append_time_us(id.partition, id.offset);
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
            (None, None) => unreachable!("loop condition"),
        };
        if got < want {
            let hole = high.get(&(k.0, k.1.log, k.1.partition)).is_some_and(|&h| k.1.offset < h);
            if hole {
                lost += u64::from(want - got);
                let t = appended(k.1);
                if first_lost.is_none_or(|f| t < f.0) {
                    first_lost = Some((t, k, want, got));
                }
            } else {
                pending += u64::from(want - got);
            }
        } else if got > want {
            dup += u64::from(got - want);
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
    for (sink, d) in det.iter().enumerate() {
        let sink = OperatorId(sink as u32);
        if d.identities || !matches!(graph.spec.operators[sink.0 as usize].kind, OperatorKind::Sink(_)) {
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
        let (want, got) = (per_key(reference), per_key(actual));
        let keys: std::collections::BTreeSet<(u32, i64)> = want.keys().chain(got.keys()).copied().collect();
        for k in keys {
            let (w, g) = (want.get(&k).copied().unwrap_or(0), got.get(&k).copied().unwrap_or(0));
            if g > w {
                dup += u64::from(g - w);
                // The first commit beyond what the reference has of this key (and value).
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
                if both_finished {
                    lost += u64::from(w - g);
                } else {
                    pending += u64::from(w - g);
                }
            }
        }
    }

    // Final per-key results, for sinks fed by a keyed aggregation through maps only.
    let mut keys_compared = 0;
    let (mut below, mut above) = (0, 0);
    let mut first_state_diff = None;
    let comparable: Vec<OperatorId> = (0..graph.spec.operators.len() as u32)
        .map(OperatorId)
        .filter(|&op| {
            matches!(graph.spec.operators[op.0 as usize].kind, OperatorKind::Sink(_))
                && fed_by_keyed(graph, op).is_some_and(|k| det[k.0 as usize].final_value)
        })
        .collect();
    if both_finished {
        let last = |v: &[CommittedRecord]| -> BTreeMap<(OperatorId, u32), i64> {
            let mut m = BTreeMap::new();
            for c in v.iter().filter(|c| comparable.contains(&c.sink)) {
                m.insert((c.sink, c.record.key), c.record.value);
            }
            m
        };
        let (lr, la) = (last(reference), last(actual));
        for (&(sink, key), &want) in &lr {
            keys_compared += 1;
            let got = la.get(&(sink, key)).copied().unwrap_or(0);
            if got != want {
                if got < want {
                    below += 1
                } else {
                    above += 1
                }
                if first_state_diff.is_none() {
                    first_state_diff = Some(StateDiff {
                        sink: graph.operator_name(sink).to_string(),
                        key,
                        expected: want,
                        committed: got,
                    });
                }
            }
        }
    }
    OutputReport {
        bad_results: 0,
        first_bad_result: None,
        keys_searched: 0,
        keys_over_budget: 0,
        not_clean: None,
        lost_in_reference_too: 0,
        unverified_sinks,
        sinks: graph.spec.operators.iter().filter(|o| matches!(o.kind, OperatorKind::Sink(_))).count(),
        verdict: Verdict::from_counts(lost + below, dup + above),
        expected: reference.len() as u64,
        committed: actual.len() as u64,
        lost,
        duplicated: dup,
        pending,
        first_lost: offender(first_lost),
        first_duplicate: offender(first_dup),
        final_state_compared: both_finished && !comparable.is_empty(),
        keys_compared,
        keys_below: below,
        keys_above: above,
        first_state_diff,
    }
}

/// The keyed aggregation a sink's input comes from through forward maps only, if any: then each
/// key reaches one sink subtask in order, and its last committed value is the aggregate.
fn fed_by_keyed(graph: &JobGraph, sink: OperatorId) -> Option<OperatorId> {
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

/// The absolute check: what every fault-free execution commits to each sink whose record
/// identities are fixed, computed from the source log alone — independent of any simulated run,
/// so a bug that loses the same records in every run (the reference too) is still seen.
/// Returns how many of those records `actual` never committed, and the earliest appended one.
/// Only meaningful for a run that finished.
pub fn missing_from_log(
    graph: &JobGraph,
    logs: &[SourceLog],
    log_of: &[Option<usize>],
    actual: &[CommittedRecord],
) -> (u64, Option<(OperatorId, RecordId)>) {
    let det = determinacy(graph);
    let ops = &graph.spec.operators;
    let mut missing = 0;
    let mut first: Option<(TimeUs, OperatorId, RecordId)> = None;
    for (i, op) in ops.iter().enumerate() {
        let sink = OperatorId(i as u32);
        if !matches!(op.kind, OperatorKind::Sink(_)) || !det[i].identities {
            continue;
        }
        // The path from the source to the sink, source first.
        let mut path = Vec::new();
        let mut cur = op.input.map(|(x, _)| x);
        while let Some(c) = cur {
            path.push(c);
            cur = ops[c.0 as usize].input.map(|(x, _)| x);
        }
        path.reverse();
        let Some(&source) = path.first() else { continue };
        let Some(log) = log_of[source.0 as usize].map(|l| &logs[l]) else { continue };
        let mut committed: Vec<RecordId> = actual.iter().filter(|c| c.sink == sink).map(|c| c.record.origin).collect();
        committed.sort_unstable();
        committed.dedup();
        for p in 0..log.partitions {
            for o in 0..log.len(p) {
                let mut rec = log.record(p, o);
                let mut passes = true;
                for &x in &path[1..] {
                    let kind = &ops[x.0 as usize].kind;
                    if kind.is_keyed() {
                        // From here on values depend on order, but no filter follows (the
                        // identities are fixed): the record reaches the sink.
                        break;
                    }
                    match apply_stateless(kind, rec) {
                        Some(r) => rec = r,
                        None => {
                            passes = false;
                            break;
                        }
                    }
                }
                if passes && committed.binary_search(&rec.origin).is_err() {
                    missing += 1;
                    let t = log.append_time_us(p, o);
                    if first.is_none_or(|f| t < f.0) {
                        first = Some((t, sink, rec.origin));
                    }
                }
            }
        }
    }
    (missing, first.map(|(_, s, r)| (s, r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::record::Record;
    use crate::scenario::testing::keyed_job;

    fn committed(graph: &JobGraph, logs: &[SourceLog], offsets: &[(u32, u64)]) -> Vec<CommittedRecord> {
        let sink = OperatorId(graph.spec.operators.len() as u32 - 1);
        offsets
            .iter()
            .map(|&(p, o)| {
                let r = logs[0].record(p, o);
                CommittedRecord { sink, record: Record { value: 0, ..r }, committed_at_us: o }
            })
            .collect()
    }

    #[test]
    fn a_clean_delivery_is_incomplete_or_violated_when_the_run_says_so() {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = crate::cluster::engine::build_logs(&sc);
        let reference = committed(&graph, &logs, &[(0, 0), (0, 1), (0, 2)]);
        let actual = committed(&graph, &logs, &[(0, 0)]);
        let clean = compare(&graph, &logs, &reference, &actual, false, &[]);
        assert_eq!(clean.verdict, Verdict::ExactlyOnce, "nothing lost or duplicated so far");
        // A result no fault-free execution produces (found by `check::interleave`) alone makes
        // the verdict `violated`.
        let mut r = clean.clone();
        r.bad_results = 1;
        r.judge(JobStatus::Finished, 3, 0);
        assert_eq!(r.verdict, Verdict::Violated);
        assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("no fault-free execution produces")));
        let mut r = clean.clone();
        r.judge(JobStatus::Failed, 3, 0);
        assert_eq!(r.verdict, Verdict::Incomplete);
        assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("FAILED") && w.contains("2 records")), "{r:?}");
        let mut r = clean.clone();
        r.judge(JobStatus::Running, 3, 0);
        assert_eq!(r.verdict, Verdict::Incomplete, "stalled until the time limit");
        let mut r = clean.clone();
        r.judge(JobStatus::Finished, 3, 1);
        assert_eq!(r.verdict, Verdict::Violated, "a broken invariant is part of the verdict");
        let mut r = compare(&graph, &logs, &[], &[], true, &[]);
        r.judge(JobStatus::Finished, 100, 0);
        assert_eq!(r.verdict, Verdict::Incomplete, "committed nothing although the sources read records");
        let mut r = clean.clone();
        r.pending = 0;
        r.judge(JobStatus::Finished, 3, 0);
        assert_eq!(r.verdict, Verdict::ExactlyOnce);
    }

    #[test]
    fn holes_are_lost_tails_are_pending_extras_are_duplicates() {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = crate::cluster::engine::build_logs(&sc);
        let reference = committed(&graph, &logs, &[(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]);
        // 1 is a hole below the committed 2; 3 and 4 were never reached; 0 is committed twice.
        let actual = committed(&graph, &logs, &[(0, 0), (0, 0), (0, 2)]);
        let r = compare(&graph, &logs, &reference, &actual, false, &[Some(5)]);
        assert_eq!((r.lost, r.duplicated, r.pending), (1, 1, 2));
        assert_eq!(r.verdict, Verdict::Violated);
        assert_eq!(r.first_lost.as_ref().map(|o| o.record.offset), Some(1));
        assert_eq!(r.first_duplicate.as_ref().map(|o| (o.record.offset, o.committed_times)), Some((0, 2)));
        assert_eq!(r.first_lost.as_ref().and_then(|o| o.fault), Some((0, 5)));
        let same = compare(&graph, &logs, &reference, &reference, true, &[]);
        assert_eq!(same.verdict, Verdict::ExactlyOnce);
        assert_eq!((same.lost, same.duplicated, same.pending), (0, 0, 0));
    }

    #[test]
    fn a_lower_final_count_is_a_key_below() {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = crate::cluster::engine::build_logs(&sc);
        let sink = OperatorId(2);
        let rec = |o: u64, value: i64| {
            let r = logs[0].record(0, o);
            CommittedRecord { sink, record: Record { key: 7, value, ..r }, committed_at_us: o }
        };
        let reference = vec![rec(0, 1), rec(1, 2), rec(2, 3)];
        let actual = vec![rec(0, 1), rec(1, 2), rec(2, 1)];
        let r = compare(&graph, &logs, &reference, &actual, true, &[]);
        assert_eq!((r.keys_below, r.verdict), (1, Verdict::AtMostOnce));
    }

    /// keyed_job(2, 1) with the operators replaced: source (2 partitions) then `ops`.
    fn job_with(ops: Vec<(OperatorKind, EdgeKind)>) -> (JobGraph, Vec<SourceLog>) {
        use crate::job::spec::OperatorSpec;
        let mut sc = keyed_job(2, 1);
        let source = sc.job.operators[0].clone();
        sc.job.operators = vec![source];
        for (i, (kind, edge)) in ops.into_iter().enumerate() {
            let name = if matches!(kind, OperatorKind::Sink(_)) { "sink".to_string() } else { format!("op{}", i + 1) };
            sc.job.operators.push(OperatorSpec {
                name,
                kind,
                parallelism: 2,
                input: Some((OperatorId(i as u32), edge)),
            });
        }
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = crate::cluster::engine::build_logs(&sc);
        (graph, logs)
    }

    fn rec(graph: &JobGraph, logs: &[SourceLog], p: u32, o: u64, key: u32, value: i64) -> CommittedRecord {
        let sink = OperatorId(graph.spec.operators.len() as u32 - 1);
        CommittedRecord { sink, record: Record { key, value, ..logs[0].record(p, o) }, committed_at_us: 0 }
    }

    #[test]
    fn identity_comparison_counts_exactly_and_names_the_earliest_appended_offender() {
        let (graph, logs) =
            job_with(vec![(OperatorKind::Sink(crate::job::spec::SinkSemantic::TwoPhaseCommit), EdgeKind::Forward)]);
        let r = |p, o| rec(&graph, &logs, p, o, 0, 0);
        let reference: Vec<CommittedRecord> = (0..8).flat_map(|o| [r(0, o), r(1, o)]).collect();
        // p0: 5 missing below 7 (lost), 0 committed three times; p1: 1 missing below 3 (lost),
        // 2 committed twice, 4..8 not reached (pending).
        let mut actual: Vec<CommittedRecord> = [0, 0, 0, 1, 2, 3, 4, 6, 7].iter().map(|&o| r(0, o)).collect();
        actual.extend([0, 2, 2, 3].iter().map(|&o| r(1, o)));
        // Faults at 0.5 ms and at 10 s; one never fired.
        let faults = [Some(500), None, Some(10_000_000)];
        let out = compare(&graph, &logs, &reference, &actual, false, &faults);
        assert_eq!((out.lost, out.duplicated, out.pending), (2, 3, 4));
        assert_eq!((out.expected, out.committed), (16, 13));
        assert_eq!(out.verdict, Verdict::Violated);
        // p1@1 is appended before p0@5 although p0 sorts first.
        let l = out.first_lost.expect("lost");
        assert_eq!((l.record.partition, l.record.offset, l.expected_times, l.committed_times), (1, 1, 1, 0));
        let d = out.first_duplicate.expect("duplicated");
        assert_eq!((d.record.partition, d.record.offset, d.expected_times, d.committed_times), (0, 0, 1, 3));
        // The first fault at or after the record was appended: p0@0 is appended at 0, so the
        // fault at 0.5 ms; p1@1 at 1.5 ms, so the one at 10 s.
        assert_eq!(d.fault, Some((0, 500)));
        assert_eq!(l.fault, Some((2, 10_000_000)));
        // A record the reference never committed is a duplicate too.
        let mut more = reference.clone();
        more.push(rec(&graph, &logs, 1, 9, 0, 0));
        let extra = compare(&graph, &logs, &reference, &more, true, &[]);
        assert_eq!((extra.lost, extra.duplicated, extra.pending, extra.verdict), (0, 1, 0, Verdict::AtLeastOnce));
        assert_eq!(extra.first_duplicate.map(|d| (d.record.offset, d.expected_times)), Some((9, 0)));
        // A record the reference committed twice (an appending sink replays) and this run once:
        // one lost, not two.
        let twice_ref = vec![r(0, 0), r(0, 0), r(0, 1)];
        let once = vec![r(0, 0), r(0, 1)];
        let short = compare(&graph, &logs, &twice_ref, &once, true, &[]);
        assert_eq!((short.lost, short.duplicated, short.pending), (1, 0, 0));
        // ... also where it sorts before records both committed.
        let fewer: Vec<CommittedRecord> = reference.iter().filter(|c| c.record.origin.offset != 3).cloned().collect();
        let early = compare(&graph, &logs, &fewer, &reference, true, &[]);
        assert_eq!((early.lost, early.duplicated, early.pending), (0, 2, 0));
    }

    #[test]
    fn without_identities_results_are_compared_per_key_by_value_or_by_count() {
        use crate::job::spec::SinkSemantic::TwoPhaseCommit;
        // count → filter(even) → sink: which records pass depends on the interleaving, the
        // multiset of values per key does not.
        let (graph, logs) = job_with(vec![
            (OperatorKind::KeyedCount, EdgeKind::Hash),
            (OperatorKind::Filter { modulo: 2, remainder: 0 }, EdgeKind::Forward),
            (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
        ]);
        let r = |o, key, value| rec(&graph, &logs, 0, o, key, value);
        let reference = vec![r(0, 1, 2), r(1, 1, 4), r(2, 2, 2)];
        // Key 1: 2 twice and 4 once (one duplicate, the second 2, from offset 5); key 2: nothing.
        let actual = vec![r(3, 1, 2), r(4, 1, 4), r(5, 1, 2)];
        let unfinished = compare(&graph, &logs, &reference, &actual, false, &[]);
        assert_eq!((unfinished.lost, unfinished.duplicated, unfinished.pending), (0, 1, 1));
        let d = unfinished.first_duplicate.expect("named");
        assert_eq!((d.record.offset, d.expected_times, d.committed_times), (5, 1, 2));
        let finished = compare(&graph, &logs, &reference, &actual, true, &[]);
        assert_eq!(
            (finished.lost, finished.duplicated, finished.pending, finished.verdict),
            (1, 1, 0, Verdict::Violated)
        );
        assert!(finished.unverified_sinks.is_empty());
        // Two keys, each short and each with an extra: key 3's extra (offset 1) was appended
        // before key 1's (offset 9), so it is named although key 1 sorts first; key 4 has two
        // of three results: one lost, not three.
        let reference = vec![r(0, 1, 2), r(1, 3, 2), r(2, 4, 2), r(3, 4, 4), r(4, 4, 6)];
        let actual = vec![r(8, 1, 2), r(9, 1, 2), r(0, 3, 2), r(1, 3, 2), r(5, 4, 2), r(6, 4, 4)];
        let out = compare(&graph, &logs, &reference, &actual, true, &[]);
        assert_eq!((out.lost, out.duplicated), (1, 2));
        assert_eq!(out.first_duplicate.map(|d| d.record.offset), Some(1));
        let out = compare(&graph, &logs, &reference, &actual, false, &[]);
        assert_eq!((out.lost, out.pending), (0, 1));

        // count → filter → sum → sink: the sums depend on the order, the number of results per
        // key does not.
        let (graph, logs) = job_with(vec![
            (OperatorKind::KeyedCount, EdgeKind::Hash),
            (OperatorKind::Filter { modulo: 2, remainder: 0 }, EdgeKind::Forward),
            (OperatorKind::KeyedSum, EdgeKind::Hash),
            (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
        ]);
        let r = |o, key, value| rec(&graph, &logs, 0, o, key, value);
        let reference = vec![r(0, 1, 10), r(1, 1, 30)];
        let same_count = vec![r(2, 1, 20), r(3, 1, 30)];
        let out = compare(&graph, &logs, &reference, &same_count, true, &[]);
        assert_eq!(
            (out.lost, out.duplicated, out.verdict),
            (0, 0, Verdict::ExactlyOnce),
            "values on the way may differ; the final sum (fixed) is equal"
        );
        let one_more = vec![r(2, 1, 20), r(3, 1, 25), r(4, 1, 30)];
        assert_eq!(compare(&graph, &logs, &reference, &one_more, true, &[]).duplicated, 1);
        // A filter on sums fixes nothing: not verified.
        let (graph, logs) = job_with(vec![
            (OperatorKind::KeyedSum, EdgeKind::Hash),
            (OperatorKind::Filter { modulo: 2, remainder: 0 }, EdgeKind::Forward),
            (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
        ]);
        let out = compare(&graph, &logs, &[], &[], true, &[]);
        assert_eq!(out.unverified_sinks, vec!["sink".to_string()]);
    }

    #[test]
    fn final_results_are_compared_through_maps_above_and_below() {
        let (graph, logs) = job_with(vec![
            (OperatorKind::KeyedCount, EdgeKind::Hash),
            (OperatorKind::Map { multiply: 1, add: 0 }, EdgeKind::Forward),
            (OperatorKind::Sink(crate::job::spec::SinkSemantic::TwoPhaseCommit), EdgeKind::Forward),
        ]);
        let r = |o, key, value| rec(&graph, &logs, 0, o, key, value);
        let reference = vec![r(0, 1, 1), r(1, 1, 2), r(2, 2, 1)];
        let above = vec![r(0, 1, 1), r(1, 1, 3), r(2, 2, 1)];
        let out = compare(&graph, &logs, &reference, &above, true, &[]);
        assert!(out.final_state_compared);
        assert_eq!((out.keys_compared, out.keys_above, out.keys_below), (2, 1, 0));
        assert_eq!(out.verdict, Verdict::AtLeastOnce);
        let d = out.first_state_diff.expect("named");
        assert_eq!((d.key, d.expected, d.committed), (1, 2, 3));
        let below = vec![r(0, 1, 1), r(1, 1, 2)];
        let out = compare(&graph, &logs, &reference, &below, true, &[]);
        assert_eq!((out.keys_above, out.keys_below, out.verdict), (0, 1, Verdict::AtMostOnce));
        let same = compare(&graph, &logs, &reference, &reference, true, &[]);
        assert_eq!((same.keys_compared, same.first_state_diff), (2, None));
        assert!(
            !compare(&graph, &logs, &reference, &above, false, &[]).final_state_compared,
            "only when both finished"
        );
    }

    #[test]
    fn absolute_loss_sequences_and_judgement_fold_in_exactly() {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let (logs, _) = crate::cluster::engine::build_logs(&sc);
        let reference = committed(&graph, &logs, &[(0, 0), (0, 1), (0, 2), (0, 3)]);
        let actual = committed(&graph, &logs, &[(0, 0), (0, 2)]);
        let base = compare(&graph, &logs, &reference, &actual, false, &[]);
        assert_eq!((base.lost, base.pending), (1, 1));
        // The log says 3 are missing: 1 known lost, so 2 the reference lost too.
        let mut r = base.clone();
        let sink = OperatorId(2);
        r.absolute(3, Some((sink, logs[0].record(0, 3).origin)), &graph, &logs);
        assert_eq!((r.lost, r.lost_in_reference_too, r.pending, r.verdict), (3, 2, 0, Verdict::AtMostOnce));
        assert_eq!(r.first_lost.as_ref().map(|l| l.record.offset), Some(1), "the comparison's first stays");
        let mut r = base.clone();
        r.absolute(1, None, &graph, &logs);
        assert_eq!(r, base, "nothing beyond what was known");
        let mut r = base.clone();
        r.first_lost = None;
        r.keys_above = 1;
        r.absolute(2, Some((sink, logs[0].record(0, 3).origin)), &graph, &logs);
        assert_eq!(r.first_lost.as_ref().map(|l| (l.record.offset, l.committed_times)), Some((3, 0)));
        assert_eq!(r.verdict, Verdict::Violated, "lost, and a key above its reference");
        let mut r = base.clone();
        (r.duplicated, r.keys_above) = (1, 1);
        r.absolute(2, None, &graph, &logs);
        assert_eq!(r.verdict, Verdict::Violated, "duplicates and keys above both count");

        // The search's findings: sinks it verified leave the unverified list, unless a key of
        // theirs ran over the budget.
        let mut r = base.clone();
        r.unverified_sinks = vec!["sink".into()];
        let rep = SequenceReport { searched: vec![sink], keys_checked: 7, ..SequenceReport::default() };
        r.sequences(rep.clone(), &graph);
        assert!(r.unverified_sinks.is_empty());
        assert_eq!(r.keys_searched, 7);
        let mut r2 = base.clone();
        r2.unverified_sinks = vec!["sink".into()];
        r2.sequences(SequenceReport { over_budget_sinks: vec![sink], keys_over_budget: 1, ..rep }, &graph);
        assert_eq!((r2.unverified_sinks.len(), r2.keys_over_budget), (1, 1));
        let mut r3 = base.clone();
        r3.unverified_sinks = vec!["other".into()];
        r3.sequences(SequenceReport { searched: vec![sink], ..SequenceReport::default() }, &graph);
        assert_eq!(r3.unverified_sinks, vec!["other".to_string()]);

        // Judgement: one unverified sink of two is not `unverified`; no records, nothing to commit.
        let mut clean = compare(&graph, &logs, &reference, &reference, true, &[]);
        clean.unverified_sinks = vec!["a".into()];
        clean.sinks = 2;
        let mut j = clean.clone();
        j.judge(JobStatus::Finished, 4, 0);
        assert_eq!(j.verdict, Verdict::ExactlyOnce);
        j.sinks = 1;
        j.judge(JobStatus::Finished, 4, 0);
        assert_eq!(j.verdict, Verdict::Unverified);
        let mut empty = compare(&graph, &logs, &[], &[], true, &[]);
        empty.judge(JobStatus::Finished, 0, 0);
        assert_eq!(empty.verdict, Verdict::ExactlyOnce, "no records read, none to commit");
    }

    #[test]
    fn the_log_says_exactly_which_records_are_missing_and_which_was_appended_first() {
        use crate::job::spec::SinkSemantic::TwoPhaseCommit;
        // source → filter(odd values) → count → sink: the filter decides from the log which
        // records reach the sink; after the keyed count every record does.
        let (graph, logs) = job_with(vec![
            (OperatorKind::Filter { modulo: 2, remainder: 1 }, EdgeKind::Forward),
            (OperatorKind::KeyedCount, EdgeKind::Hash),
            (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
        ]);
        let log_of = vec![Some(0), None, None, None];
        let passing: Vec<(u32, u64)> = (0..2u32)
            .flat_map(|p| (0..logs[0].len(p)).map(move |o| (p, o)))
            .filter(|&(p, o)| logs[0].record(p, o).value % 2 == 1)
            .collect();
        let all: Vec<CommittedRecord> =
            passing.iter().map(|&(p, o)| rec(&graph, &logs, p, o, logs[0].record(p, o).key, 1)).collect();
        assert_eq!(missing_from_log(&graph, &logs, &log_of, &all), (0, None));
        // Drop the 5th passing record of partition 0 and the 2nd of partition 1: the one of
        // partition 1 was appended first.
        let p0: Vec<_> = passing.iter().filter(|x| x.0 == 0).copied().collect();
        let p1: Vec<_> = passing.iter().filter(|x| x.0 == 1).copied().collect();
        let (gone0, gone1) = (p0[4], p1[1]);
        assert!(logs[0].append_time_us(gone1.0, gone1.1) < logs[0].append_time_us(gone0.0, gone0.1));
        let mut some = all.clone();
        some.retain(|c| {
            let at = (c.record.origin.partition, c.record.origin.offset);
            at != gone0 && at != gone1
        });
        let (n, first) = missing_from_log(&graph, &logs, &log_of, &some);
        assert_eq!(n, 2);
        let (sink, id) = first.expect("named");
        assert_eq!((sink, id.partition, id.offset), (OperatorId(3), gone1.0, gone1.1));
        // Committed twice is not missing.
        let mut twice = all.clone();
        twice.extend(all.iter().take(3).cloned());
        assert_eq!(missing_from_log(&graph, &logs, &log_of, &twice).0, 0);
    }
}
