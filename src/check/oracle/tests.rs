//! The oracle's unit tests: counts, verdicts and explanations on hand-built committed outputs.

use super::*;
use crate::job::record::Record;
use crate::scenario::testing::keyed_job;

#[test]
fn counting_in_dense_tables_finds_what_sorting_finds() {
    let sc = keyed_job(2, 2);
    let graph = JobGraph::build(&sc.job);
    let (logs, log_of) = crate::cluster::engine::build_logs(&sc);
    let expected = fault_free_output(&graph, &logs, &log_of);
    let sink = OperatorId(graph.spec.operators.len() as u32 - 1);
    assert!(expected.len() > 100);
    let mut actual: Vec<CommittedRecord> = expected.iter().skip(7).copied().collect();
    actual.remove(40);
    actual.extend(expected[50..60].iter().copied());
    actual.push(actual[3]);
    let sorted = identity_differences(&logs, &[sink], &expected, &actual, 0);
    let dense = identity_differences(&logs, &[sink], &expected, &actual, DENSE_LIMIT);
    // 7 + 1 missing, 10 + 1 committed twice.
    assert_eq!(sorted.len(), 19);
    assert_eq!(sorted.iter().filter(|d| d.1 > d.2).count(), 8);
    assert!(sorted.windows(2).all(|w| w[0].0 < w[1].0), "in (sink, origin) order");
    assert_eq!(dense, sorted);
    // An origin that is no record of the log: counted by sorting, as committed once.
    let mut beyond = actual.clone();
    beyond[0].record.origin.offset = logs[0].total + 5;
    let d = identity_differences(&logs, &[sink], &expected, &beyond, DENSE_LIMIT);
    assert_eq!(d, identity_differences(&logs, &[sink], &expected, &beyond, 0));
    assert!(d.iter().any(|x| x.0.1 == beyond[0].record.origin && (x.1, x.2) == (0, 1)));
}

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

fn facts(job_status: JobStatus, invariant_violations: usize) -> RunFacts {
    RunFacts {
        job_status,
        invariant_violations,
        failovers: 0,
        restarts_exhausted: false,
        last_failure: None,
        prepared_records: 0,
        reference_finished: None,
        progress: None,
        budget_stop: None,
        stopped_with_savepoint: false,
        failed_while_stopping: None,
    }
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
    r.judge(&facts(JobStatus::Finished, 0));
    assert_eq!(r.verdict, Verdict::Violated);
    assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("no fault-free execution produces")));
    let mut r = clean.clone();
    r.judge(&facts(JobStatus::Failed, 0));
    assert_eq!(r.verdict, Verdict::Incomplete);
    assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("FAILED") && w.contains("2 records")), "{r:?}");
    // Why it stopped, as far as the run tells: the restart strategy, the store's
    // pre-committed transactions, and whether a fault-free simulation finishes at all.
    let mut r = clean.clone();
    r.judge(&RunFacts {
        failovers: 3,
        restarts_exhausted: true,
        last_failure: Some("task-exception"),
        prepared_records: 7,
        reference_finished: Some(true),
        ..facts(JobStatus::Failed, 0)
    });
    let why = r.not_clean.clone().unwrap_or_default();
    assert!(why.contains("gave up after 3 failovers (the last for task-exception)"), "{why}");
    assert!(why.contains("7 records wait in pre-committed"), "{why}");
    assert!(!why.contains("reference"), "a FAILED job is not a matter of time: {why}");
    let mut r = clean.clone();
    r.judge(&facts(JobStatus::Running, 0));
    assert_eq!(r.verdict, Verdict::Incomplete, "stalled until the time limit");
    // A run its budget stopped says which budget and how to raise it.
    let mut r = clean.clone();
    let stop = crate::scenario::budget::BudgetStop::Events { limit: 1000 };
    r.judge(&RunFacts { budget_stop: Some(stop), ..facts(JobStatus::Running, 0) });
    assert_eq!(r.verdict, Verdict::Incomplete);
    assert!(
        r.not_clean.as_deref().is_some_and(
            |w| w.contains("budget of 1,000 events (--max-events raises it)") && w.contains("still RUNNING")
        ),
        "{r:?}"
    );
    let mut r = clean.clone();
    r.judge(&RunFacts { reference_finished: Some(false), ..facts(JobStatus::Running, 0) });
    assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("did not finish either")), "{r:?}");
    let mut r = clean.clone();
    r.judge(&RunFacts { reference_finished: Some(true), ..facts(JobStatus::Restarting, 0) });
    assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("took longer than the run's time limit")), "{r:?}");
    let mut r = clean.clone();
    r.judge(&facts(JobStatus::Finished, 1));
    assert_eq!(r.verdict, Verdict::Violated, "a broken invariant is part of the verdict");
    // Nothing to commit and nothing committed: a finished job that did exactly that.
    let mut r = compare(&graph, &logs, &[], &[], true, &[]);
    r.judge(&facts(JobStatus::Finished, 0));
    assert_eq!((r.verdict, r.not_clean), (Verdict::ExactlyOnce, None));
    let mut r = clean.clone();
    r.pending = 0;
    r.judge(&facts(JobStatus::Finished, 0));
    assert_eq!(r.verdict, Verdict::ExactlyOnce);
    // A verdict with losses or duplicates stays, and says the job did not finish.
    let mut r = compare(&graph, &logs, &reference, &committed(&graph, &logs, &[(0, 0), (0, 0)]), false, &[]);
    r.judge(&facts(JobStatus::Failed, 0));
    assert_eq!(r.verdict, Verdict::AtLeastOnce);
    assert!(r.not_clean.as_deref().is_some_and(|w| w.contains("FAILED")), "{r:?}");
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
    assert_eq!(r.lost_records, vec![(OperatorId(2), logs[0].record(0, 1).origin)]);
    assert_eq!(r.duplicated_sinks, vec!["sink".to_string()]);
    // The same output from a finished job: it will never commit 3 and 4.
    let done = compare(&graph, &logs, &reference, &actual, true, &[Some(5)]);
    assert_eq!((done.lost, done.duplicated, done.pending), (3, 1, 0));
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
            state_bytes_per_key: crate::job::spec::DEFAULT_STATE_BYTES_PER_KEY,
            slot_sharing_group: None,
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
    // A record a fault-free execution never commits is a duplicate too.
    let mut more = reference.clone();
    more.push(rec(&graph, &logs, 1, 9, 0, 0));
    let extra = compare(&graph, &logs, &reference, &more, true, &[]);
    assert_eq!((extra.lost, extra.duplicated, extra.pending, extra.verdict), (0, 1, 0, Verdict::AtLeastOnce));
    assert_eq!(extra.first_duplicate.map(|d| (d.record.offset, d.expected_times)), Some((9, 0)));
    // A record missing where it sorts before records both committed.
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
    assert_eq!((finished.lost, finished.duplicated, finished.pending, finished.verdict), (1, 1, 0, Verdict::Violated));
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
    assert!(!compare(&graph, &logs, &reference, &above, false, &[]).final_state_compared, "only when both finished");
}

#[test]
fn sequences_reference_attribution_and_judgement_fold_in_exactly() {
    let sc = keyed_job(1, 1);
    let graph = JobGraph::build(&sc.job);
    let (logs, _) = crate::cluster::engine::build_logs(&sc);
    let sink = OperatorId(2);
    let reference = committed(&graph, &logs, &[(0, 0), (0, 1), (0, 2), (0, 3)]);
    let actual = committed(&graph, &logs, &[(0, 0), (0, 2)]);
    let base = compare(&graph, &logs, &reference, &actual, true, &[]);
    assert_eq!((base.lost, base.pending), (2, 0));
    // Of the two lost records the reference simulation committed offset 1, not offset 3: one
    // lost by every run. An explanation only: the counts stay.
    let mut r = base.clone();
    r.attribute_to_reference(&committed(&graph, &logs, &[(0, 0), (0, 1), (0, 2)]));
    assert_eq!((r.lost, r.lost_in_reference_too, r.verdict), (2, 1, Verdict::AtMostOnce));

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

    // Judgement: one unverified sink of two is not `unverified`.
    let mut clean = compare(&graph, &logs, &reference, &reference, true, &[]);
    clean.unverified_sinks = vec!["a".into()];
    clean.sinks = 2;
    let mut j = clean.clone();
    j.judge(&facts(JobStatus::Finished, 0));
    assert_eq!(j.verdict, Verdict::ExactlyOnce);
    j.sinks = 1;
    j.judge(&facts(JobStatus::Finished, 0));
    assert_eq!(j.verdict, Verdict::Unverified);
}

#[test]
fn the_log_gives_what_a_fault_free_execution_commits() {
    use crate::job::spec::SinkSemantic::TwoPhaseCommit;
    // source → filter(odd values) → count → sink: the filter decides from the log which
    // records reach the sink; after the keyed count every record does, with its count.
    let (graph, logs) = job_with(vec![
        (OperatorKind::Filter { modulo: 2, remainder: 1 }, EdgeKind::Forward),
        (OperatorKind::KeyedCount, EdgeKind::Hash),
        (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let log_of = vec![Some(0), None, None, None];
    let out = fault_free_output(&graph, &logs, &log_of);
    let passing: Vec<RecordId> = (0..2u32)
        .flat_map(|p| (0..logs[0].len(p)).map(move |o| (p, o)))
        .filter(|&(p, o)| logs[0].record(p, o).value % 2 == 1)
        .map(|(p, o)| logs[0].record(p, o).origin)
        .collect();
    let mut origins: Vec<RecordId> = out.iter().map(|c| c.record.origin).collect();
    origins.sort_unstable();
    let mut want = passing.clone();
    want.sort_unstable();
    assert_eq!(origins, want, "exactly the records that pass the filter, once each");
    assert!(out.windows(2).all(|w| w[0].committed_at_us <= w[1].committed_at_us), "in append order");
    // Each key's results count 1, 2, 3…
    let mut counts: BTreeMap<u32, i64> = BTreeMap::new();
    for c in &out {
        let n = counts.entry(c.record.key).or_insert(0);
        *n += 1;
        assert_eq!(c.record.value, *n);
    }
    // A finished run missing the 5th passing record of partition 0 and the 2nd of partition 1:
    // both lost, and the one of partition 1 was appended first.
    let p0: Vec<_> = passing.iter().filter(|x| x.partition == 0).copied().collect();
    let p1: Vec<_> = passing.iter().filter(|x| x.partition == 1).copied().collect();
    let (gone0, gone1) = (p0[4], p1[1]);
    let some: Vec<CommittedRecord> =
        out.iter().filter(|c| c.record.origin != gone0 && c.record.origin != gone1).cloned().collect();
    let r = compare(&graph, &logs, &out, &some, true, &[]);
    assert_eq!((r.lost, r.duplicated, r.expected, r.committed), (2, 0, out.len() as u64, out.len() as u64 - 2));
    assert_eq!(r.first_lost.map(|l| l.record), Some(gone1));
    // A filter no record passes: nothing to commit.
    let (graph, logs) = job_with(vec![
        (OperatorKind::Filter { modulo: 1000, remainder: 999 }, EdgeKind::Forward),
        (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let none = fault_free_output(&graph, &logs, &[Some(0), None, None]);
    assert!(none.is_empty());
    let r = compare(&graph, &logs, &none, &[], true, &[]);
    assert_eq!((r.expected, r.committed, r.verdict), (0, 0, Verdict::ExactlyOnce));
}

#[test]
fn before_the_job_finishes_only_a_hole_in_a_lane_is_lost() {
    use crate::job::spec::SinkSemantic::TwoPhaseCommit;
    // source (2 partitions, 2 subtasks) → count (hash) → sink: the records of one partition
    // reach a sink subtask over one channel, in offset order; the two sink subtasks commit
    // independently.
    let (graph, logs) = job_with(vec![
        (OperatorKind::KeyedCount, EdgeKind::Hash),
        (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let log_of = vec![Some(0), None, None];
    let all = fault_free_output(&graph, &logs, &log_of);
    let subtask = |c: &CommittedRecord| subtask_for_key(c.record.key, graph.max_parallelism[1], 2);
    // Sink subtask 1 committed everything of partition 0; subtask 0 only what came before
    // offset 100 (its later transactions wait for a notification when the job stops).
    let stopped: Vec<CommittedRecord> = all
        .iter()
        .filter(|c| c.record.origin.partition == 0 && (subtask(c) == 1 || c.record.origin.offset < 100))
        .cloned()
        .collect();
    let waiting = all.iter().filter(|c| c.record.origin.partition == 0 && subtask(c) == 0).count() as u64;
    let waiting = waiting - stopped.iter().filter(|c| subtask(c) == 0).count() as u64;
    assert!(waiting > 0);
    let r = compare(&graph, &logs, &all, &stopped, false, &[]);
    assert_eq!(r.lost, 0, "later records of partition 0 at the other sink subtask are no hole: {r:?}");
    assert_eq!(r.pending, all.len() as u64 - stopped.len() as u64);
    // A record of subtask 0 missing below what subtask 0 committed is a hole.
    let first0 = stopped.iter().position(|c| subtask(c) == 0).expect("subtask 0 committed something");
    let mut holed = stopped.clone();
    let gone = holed.remove(first0).record.origin;
    let r = compare(&graph, &logs, &all, &holed, false, &[]);
    assert_eq!((r.lost, r.lost_records.clone()), (1, vec![(OperatorId(2), gone)]));
    assert_eq!(r.verdict, Verdict::AtMostOnce);
    // Behind a rebalance edge the sink subtask of a record is decided at run time: before the
    // job finishes nothing missing counts as lost.
    let (graph, logs) = job_with(vec![
        (OperatorKind::Map { multiply: 1, add: 0 }, EdgeKind::Rebalance),
        (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let all = fault_free_output(&graph, &logs, &log_of);
    let r = compare(&graph, &logs, &all, &all[1..], false, &[]);
    assert_eq!((r.lost, r.pending), (0, 1));
    assert_eq!(compare(&graph, &logs, &all, &all[1..], true, &[]).lost, 1, "a finished job lost it");
    // Two hash edges: the lane is (partition, key).
    let (graph, logs) = job_with(vec![
        (OperatorKind::KeyedCount, EdgeKind::Hash),
        (OperatorKind::KeyedSum, EdgeKind::Hash),
        (OperatorKind::Sink(TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let all = fault_free_output(&graph, &logs, &[Some(0), None, None, None]);
    let key = all[0].record.key;
    let later_same_key = all
        .iter()
        .skip(1)
        .position(|c| c.record.key == key && c.record.origin.partition == all[0].record.origin.partition);
    assert!(later_same_key.is_some());
    let r = compare(&graph, &logs, &all, &all[1..], false, &[]);
    assert_eq!(r.lost, 1, "a later record of the same partition and key was committed");
    let other_keys: Vec<CommittedRecord> = all.iter().skip(1).filter(|c| c.record.key != key).cloned().collect();
    let r = compare(&graph, &logs, &all, &other_keys, false, &[]);
    assert_eq!(r.lost, 0, "other keys may overtake it on other channels");
}

#[test]
fn a_replayed_key_is_right_if_its_final_aggregate_was_committed() {
    let (graph, logs) = job_with(vec![
        (OperatorKind::KeyedCount, EdgeKind::Hash),
        (OperatorKind::Sink(SinkSemantic::Append), EdgeKind::Forward),
    ]);
    let r = |o, key, value| rec(&graph, &logs, 0, o, key, value);
    let expected = vec![r(0, 1, 1), r(1, 1, 2), r(2, 1, 3)];
    // A zombie's late write of an old result comes last: the key was replayed (offset 1 twice),
    // its aggregate 3 was committed.
    let late = vec![r(0, 1, 1), r(1, 1, 2), r(2, 1, 3), r(1, 1, 2)];
    let out = compare(&graph, &logs, &expected, &late, true, &[]);
    assert_eq!((out.duplicated, out.keys_below, out.verdict), (1, 0, Verdict::AtLeastOnce));
    assert_eq!(out.keys_stale_last, 1, "an older result came last");
    // Without the aggregate anywhere the key is below.
    let short = vec![r(0, 1, 1), r(1, 1, 2), r(1, 1, 2), r(2, 1, 2)];
    let out = compare(&graph, &logs, &expected, &short, true, &[]);
    assert_eq!((out.keys_below, out.verdict), (1, Verdict::Violated));
    // Flink duplicates here by design: an appending sink after a failover.
    let mut out = compare(&graph, &logs, &expected, &late, true, &[]);
    out.explain_by_design(&graph, CheckpointingMode::ExactlyOnce, 0, false);
    assert_eq!(out.by_design, None, "nothing is replayed without a failover");
    out.explain_by_design(&graph, CheckpointingMode::ExactlyOnce, 1, false);
    assert!(out.by_design.as_deref().is_some_and(|w| w.contains("appends without transactions")), "{out:?}");
    // A two-phase-commit sink duplicates by design only with AT_LEAST_ONCE checkpoints.
    let (graph, logs) = job_with(vec![
        (OperatorKind::KeyedCount, EdgeKind::Hash),
        (OperatorKind::Sink(SinkSemantic::TwoPhaseCommit), EdgeKind::Forward),
    ]);
    let r = |o, key, value| rec(&graph, &logs, 0, o, key, value);
    let late = vec![r(0, 1, 1), r(1, 1, 2), r(2, 1, 3), r(1, 1, 2)];
    let mut out = compare(&graph, &logs, &expected, &late, true, &[]);
    out.explain_by_design(&graph, CheckpointingMode::ExactlyOnce, 1, false);
    assert_eq!(out.by_design, None);
    out.explain_by_design(&graph, CheckpointingMode::AtLeastOnce, 1, false);
    assert!(out.by_design.as_deref().is_some_and(|w| w.contains("AT_LEAST_ONCE")), "{out:?}");
}
