//! Each planted protocol bug must flip the oracle's verdict, and the explanation must name the
//! first offending record. The same scenario without the bug stays exactly-once, so the test
//! proves the oracle reacts to the bug, not to the fault.

use recoverysim::check::Verdict;
use recoverysim::fault::{FaultAction, FaultSpec, FaultTrigger};
use recoverysim::job::graph::SubtaskRef;
use recoverysim::job::spec::{OperatorId, OperatorKind, SourceSpec};
use recoverysim::run::{Run, simulate};
use recoverysim::scenario::Scenario;
use recoverysim::scenario::testing::keyed_job;
use recoverysim::trace::Note;

/// Keyed job with slow checkpoint storage (300 ms per upload), so that a failure can land
/// between the sink's pre-commit and the checkpoint's completion; count[2] throws 100 ms after
/// checkpoint 6 is triggered, so the job restores checkpoint 5.
fn scenario_with_failure_inside_checkpoint_6() -> Scenario {
    let mut sc = keyed_job(4, 3);
    sc.cluster.storage_latency_us = 300_000;
    let fault_free = simulate(&sc);
    let t6 = fault_free
        .outcome
        .notes
        .iter()
        .find_map(|e| matches!(e.note, Note::CheckpointTriggered { cp: 6 }).then_some(e.at_us))
        .expect("checkpoint 6 is triggered in a 20 s run with 1 s checkpoints");
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: t6 + 100_000 },
        action: FaultAction::FailTask(SubtaskRef { operator: OperatorId(1), index: 2 }),
    });
    sc
}

fn with_bug(sc: &Scenario, bug: &str) -> Run {
    let mut sc = sc.clone();
    assert!(sc.bugs.set(bug), "{bug} is a planted bug");
    simulate(&sc)
}

#[test]
fn without_bugs_the_failure_is_exactly_once() {
    let run = simulate(&scenario_with_failure_inside_checkpoint_6());
    assert_eq!(run.outcome.failovers.len(), 1);
    assert_eq!(run.outcome.failovers[0].restored_checkpoint, Some(5));
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert_eq!((run.output.lost, run.output.duplicated, run.output.bad_results), (0, 0, 0));
    assert!(run.output.final_state_compared);
    assert_eq!(run.output.keys_below + run.output.keys_above, 0);
}

#[test]
fn commit_on_snapshot_duplicates_output_and_names_the_record() {
    let sc = scenario_with_failure_inside_checkpoint_6();
    let run = with_bug(&sc, "commit-on-snapshot");
    assert_eq!(run.output.verdict, Verdict::AtLeastOnce);
    assert!(run.output.duplicated > 0);
    let d = run.output.first_duplicate.as_ref().expect("a duplicate is named");
    assert_eq!(d.committed_times, 2);
    // The record was read after checkpoint 5 and before the failure.
    let fault_at = run.outcome.fault_times[0].expect("the fault fired");
    assert!(d.appended_at_us < fault_at);
    assert_eq!(d.fault.map(|(i, _)| i), Some(0));
    let text = recoverysim::report(&run);
    assert!(text.contains(&format!("first duplicate: {}", d.record)), "{text}");
}

#[test]
fn no_source_rewind_loses_records_and_names_the_first() {
    let sc = scenario_with_failure_inside_checkpoint_6();
    let run = with_bug(&sc, "no-source-rewind");
    assert_eq!(run.output.verdict, Verdict::AtMostOnce);
    assert!(run.output.lost > 0);
    assert_eq!(run.output.duplicated, 0);
    let l = run.output.first_lost.as_ref().expect("a lost record is named");
    assert_eq!((l.expected_times, l.committed_times), (1, 0));
    let text = recoverysim::report(&run);
    assert!(text.contains(&format!("first lost record: {}", l.record)), "{text}");
}

#[test]
fn restore_empty_state_breaks_results_and_names_the_first_bad_one() {
    let sc = scenario_with_failure_inside_checkpoint_6();
    let run = with_bug(&sc, "restore-empty-state");
    // Every record is still committed once; the results are wrong.
    assert_eq!((run.output.lost, run.output.duplicated), (0, 0));
    assert_eq!(run.output.verdict, Verdict::AtMostOnce);
    assert!(run.output.keys_below > 0);
    let b = run.output.first_bad_result.as_ref().expect("a bad result is named");
    assert_eq!(b.value, Some(1), "the count restarted from empty state");
    assert!(b.possible.iter().any(|&(id, v)| Some(id) == b.record && v > 1), "and the count it should have had: {b:?}");
    let text = recoverysim::report(&run);
    assert!(text.contains(&format!("from record {}", b.record.expect("a committed result"))), "{text}");
}

#[test]
fn skip_alignment_counts_records_twice() {
    // Alignment matters when barriers reach a task's inputs at different times: many records
    // per millisecond and 5 ms of network jitter.
    let mut sc = scenario_with_failure_inside_checkpoint_6();
    sc.cluster.network_jitter_us = 5_000;
    sc.job.operators[0].kind = OperatorKind::Source(SourceSpec {
        partitions: 4,
        rate_per_s: 20_000,
        keys: 100,
        catch_up_rate_per_s: 100_000,
        records: None,
    });
    let clean = simulate(&sc);
    assert_eq!(clean.output.verdict, Verdict::ExactlyOnce, "aligned checkpoints stay exactly-once");
    let run = with_bug(&sc, "skip-alignment");
    assert_ne!(run.output.verdict, Verdict::ExactlyOnce);
    assert!(run.output.duplicated > 0);
    assert!(run.output.keys_above > 0, "state counted records twice");
    assert!(run.output.first_duplicate.is_some());
    assert!(clean.cut_violation.is_none() && clean.cuts_checked > 0);
    let v = run.cut_violation.as_ref().expect("a checkpoint of unaligned state is not a consistent cut");
    assert!(v.in_checkpoint > v.from_offsets, "records after the barrier were counted in the snapshot");
}

#[test]
fn skip_alignment_is_caught_by_the_consistent_cut_check_even_without_a_failure() {
    let mut sc = keyed_job(4, 3);
    sc.cluster.network_jitter_us = 5_000;
    sc.job.operators[0].kind = OperatorKind::Source(SourceSpec {
        partitions: 4,
        rate_per_s: 20_000,
        keys: 100,
        catch_up_rate_per_s: 100_000,
        records: None,
    });
    let run = with_bug(&sc, "skip-alignment");
    assert!(run.outcome.failovers.is_empty());
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "no restore used the bad checkpoints");
    assert!(run.cut_violation.is_some());
    assert!(!run.mismatches().is_empty(), "check fails on an inconsistent cut");
}

#[test]
fn planted_bugs_are_off_in_the_reference_run() {
    let sc = scenario_with_failure_inside_checkpoint_6();
    let mut sc = sc;
    assert!(sc.bugs.set("commit-on-snapshot"));
    let run = recoverysim::run::simulate_with(&sc, recoverysim::run::Reference::Always);
    let reference = run.reference.as_ref().expect("asked for");
    assert!(reference.failovers.is_empty());
    assert_eq!(reference.committed.len() as u64, run.output.expected);
}
