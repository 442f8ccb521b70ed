//! The oracle on jobs whose output legitimately depends on how source partitions interleave:
//! a restart changes the interleaving, which must not look like loss or duplication, while a
//! real duplicate in the same job must still be caught.

use recoverysim::check::Verdict;
use recoverysim::fault::{FaultAction, FaultSpec, FaultTrigger};
use recoverysim::job::graph::SubtaskRef;
use recoverysim::job::spec::{EdgeKind, OperatorId, OperatorKind, OperatorSpec, SinkSemantic};
use recoverysim::run::simulate;
use recoverysim::scenario::Scenario;
use recoverysim::scenario::testing::keyed_job;
use recoverysim::sim::{Rng, Stream};

/// A scenario shipped in scenarios/.
fn shipped(file: &str) -> Scenario {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
    recoverysim::scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn op(name: &str, kind: OperatorKind, input: u32, edge: EdgeKind) -> OperatorSpec {
    OperatorSpec {
        name: name.into(),
        kind,
        parallelism: 2,
        input: Some((OperatorId(input), edge)),
        state_bytes_per_key: recoverysim::job::spec::DEFAULT_STATE_BYTES_PER_KEY,
        slot_sharing_group: None,
    }
}

/// source (p=2) → keyed-count → filter (even counts) → sink, or → keyed-sum → keyed-sum → sink;
/// one task of the keyed operator fails at a time drawn from the seed.
fn shape(count_filter: bool, seed: u64) -> Scenario {
    let mut sc = keyed_job(2, 2);
    sc.seed = seed;
    sc.duration_us = 8_000_000;
    let source = sc.job.operators[0].clone();
    let sink = OperatorKind::Sink(SinkSemantic::TwoPhaseCommit);
    sc.job.operators = if count_filter {
        vec![
            source,
            op("count", OperatorKind::KeyedCount, 0, EdgeKind::Hash),
            op("even", OperatorKind::Filter { modulo: 2, remainder: 0 }, 1, EdgeKind::Forward),
            op("sink", sink, 2, EdgeKind::Forward),
        ]
    } else {
        vec![
            source,
            op("sum", OperatorKind::KeyedSum, 0, EdgeKind::Hash),
            op("sum2", OperatorKind::KeyedSum, 1, EdgeKind::Hash),
            op("sink", sink, 2, EdgeKind::Forward),
        ]
    };
    let mut rng = Rng::new(seed, Stream::Faults);
    let at_us = 1_000_000 + rng.below_inclusive(5_000_000);
    let victim = SubtaskRef { operator: OperatorId(1), index: rng.below_inclusive(1) as u32 };
    sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action: FaultAction::FailTask(victim) });
    sc
}

fn sweep(count_filter: bool) {
    let n: u64 = std::env::var("RECOVERYSIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let mut caught = 0;
    for seed in 0..n {
        let sc = shape(count_filter, seed);
        let run = simulate(&sc);
        assert_eq!(run.outcome.failovers.len(), 1, "seed {seed}");
        assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "seed {seed}: {:?}", run.output);
        // The same job with genuine duplicates: a plain appending sink keeps what the failed
        // attempt wrote after the last checkpoint, and the restarted attempt writes it again.
        let mut bad = sc.clone();
        bad.job.operators[3].kind = OperatorKind::Sink(SinkSemantic::Append);
        let b = simulate(&bad);
        if b.output.verdict != Verdict::ExactlyOnce {
            caught += 1;
            assert!(b.output.duplicated > 0, "seed {seed}: {:?}", b.output);
        }
    }
    assert!(caught * 2 > n, "the planted duplicate is caught in most seeds ({caught} of {n})");
}

#[test]
fn a_count_then_a_filter_on_its_values_is_exactly_once_after_a_restart() {
    sweep(true);
}

#[test]
fn a_sum_of_sums_is_exactly_once_after_a_restart() {
    sweep(false);
}

#[test]
fn a_bug_that_loses_the_same_records_in_every_run_is_reported() {
    // No fault at all: the reference run has the same bug and loses the same records, so only
    // the check against the source log can see it.
    let mut sc = keyed_job(2, 2);
    sc.bugs.no_flush_on_pre_commit = true;
    let run = simulate(&sc);
    assert!(run.outcome.failovers.is_empty());
    assert!(run.output.lost > 0, "{:?}", run.output);
    assert_eq!(run.output.lost_in_reference_too, run.output.lost, "the reference lost them all too");
    assert_eq!(run.output.verdict, Verdict::AtMostOnce);
    assert!(run.output.first_lost.is_some());
    // Without the bug the same check finds nothing missing.
    sc.bugs.no_flush_on_pre_commit = false;
    let clean = simulate(&sc);
    assert_eq!((clean.output.lost, clean.output.lost_in_reference_too), (0, 0));
    assert_eq!(clean.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn commits_before_the_checkpoint_completed_are_protocol_violations() {
    // commit-on-snapshot commits at the snapshot: even where no failure turns that into a
    // duplicate, the commit came before its checkpoint completed, and the verdict says so.
    let mut sc = keyed_job(2, 2);
    sc.bugs.commit_on_snapshot = true;
    let run = simulate(&sc);
    assert_eq!(run.output.duplicated, 0, "no failure, no duplicate");
    assert_eq!(run.output.verdict, Verdict::Violated);
    let v = run.outcome.violations.first().expect("a protocol violation");
    assert!(v.contains("before that checkpoint completed"), "{v}");
    sc.bugs.commit_on_snapshot = false;
    let clean = simulate(&sc);
    assert!(clean.outcome.violations.is_empty(), "{:?}", clean.outcome.violations);
}

#[test]
fn skipping_the_recommit_on_restore_loses_output_only_when_a_notification_was_lost() {
    let mut sc = shipped("lost-notify-then-failure.toml");
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
    sc.bugs.no_recommit = true;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::AtMostOnce, "{:?}", run.output);
    let first = run.output.first_lost.as_ref().expect("names the first lost record");
    let (fault, _) = first.fault.expect("names the fault");
    assert!(
        matches!(sc.faults[fault].action, FaultAction::LoseMessages(_)),
        "the lost notifications, not the task failure"
    );
    // With every notification delivered, the same bug and failure lose nothing.
    sc.faults.remove(0);
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
}

/// source (p=2) → keyed-sum → filter (odd sums) → sink, one keyed task failing: which records
/// pass depends on the interleaving, and neither their values nor their number is fixed.
fn prefix_sum_filter(seed: u64) -> Scenario {
    let mut sc = shape(false, seed);
    sc.job.operators[2] = op("odd", OperatorKind::Filter { modulo: 2, remainder: 1 }, 1, EdgeKind::Forward);
    sc
}

#[test]
fn a_filter_on_prefix_sums_is_checked_by_searching_the_interleavings() {
    let n: u64 = std::env::var("RECOVERYSIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    for seed in 0..n {
        let run = simulate(&prefix_sum_filter(seed));
        assert_eq!(run.outcome.failovers.len(), 1, "seed {seed}");
        assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "seed {seed}: {:?}", run.output);
        assert!(run.output.unverified_sinks.is_empty(), "seed {seed}");
        assert!(run.output.keys_searched > 0 && run.output.keys_over_budget == 0, "seed {seed}");
    }
    // Keyed state restored empty: every sum after the restart is too small, and the search
    // finds the first result no interleaving gives.
    let mut sc = prefix_sum_filter(3);
    sc.bugs.restore_empty_state = true;
    let run = simulate(&sc);
    assert_ne!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert!(run.output.bad_results > 0);
    let b = run.output.first_bad_result.as_ref().expect("names the first result no fault-free run commits");
    assert!(b.record.is_some() && !b.possible.is_empty(), "{b:?}");
    let text = recoverysim::report(&run);
    assert!(text.contains("with results no fault-free execution commits"), "{text}");
}

#[test]
fn a_sink_whose_output_cannot_be_checked_is_said_so_and_never_clean() {
    // A rebalance after the keyed sum spreads each key over both filter subtasks: the per-key
    // order reaching the sink is lost, and nothing about the filtered sums is fixed.
    let mut sc = prefix_sum_filter(3);
    sc.job.operators[2].input = Some((OperatorId(1), EdgeKind::Rebalance));
    let run = simulate(&sc);
    assert_eq!(run.output.unverified_sinks, vec!["sink".to_string()]);
    assert_eq!(run.output.keys_searched, 0);
    assert_eq!(run.output.verdict, Verdict::Unverified, "{:?}", run.output);
}

#[test]
fn not_aborting_lingering_transactions_commits_the_failed_attempts_writes_again() {
    let mut sc = shipped("keyed-task-failure.toml");
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
    sc.bugs.no_abort_lingering = true;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::AtLeastOnce, "{:?}", run.output);
    let d = run.output.first_duplicate.as_ref().expect("names the first duplicate");
    assert!(d.fault.is_some(), "and the failure after which it happened");
}

#[test]
fn a_bug_hidden_by_the_rpc_failure_threshold_shows_when_it_is_disabled() {
    let mut sc = shipped("tm-kill-no-rpc-threshold.toml");
    sc.bugs.timeout_keeps_attempts = true;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::Incomplete, "{:?}", run.output);
    assert!(run.output.not_clean.as_deref().is_some_and(|w| w.contains("still RUNNING")), "{:?}", run.output.not_clean);
    // With the default threshold, refused heartbeats detect the kill and the bug stays hidden.
    sc.flink.heartbeat_rpc_failure_threshold = Some(2);
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn restoring_an_older_retained_checkpoint_duplicates_what_newer_ones_committed() {
    let mut sc = shipped("retained-checkpoints.toml");
    sc.bugs.restore_oldest_checkpoint = true;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::AtLeastOnce, "{:?}", run.output);
    assert!(run.output.duplicated > 0);
    // With the default num-retained (1) the oldest retained checkpoint is the latest: harmless.
    sc.flink.checkpoints_retained = 1;
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
}

/// Each planted bug and the shipped scenario that shows it (README, "Would this sink bug lose or
/// duplicate data?").
pub(crate) const BUG_SCENARIOS: [(&str, &str); 12] = [
    ("commit-on-snapshot", "keyed-tm-kill.toml"),
    ("no-source-rewind", "keyed-task-failure.toml"),
    ("restore-empty-state", "keyed-tm-kill.toml"),
    ("skip-alignment", "reference.toml"),
    ("no-fencing", "tm-frozen-zombie.toml"),
    ("no-flush-on-pre-commit", "baseline.toml"),
    ("no-recommit", "lost-notify-then-failure.toml"),
    ("no-abort-lingering", "keyed-task-failure.toml"),
    ("timeout-keeps-attempts", "tm-kill-no-rpc-threshold.toml"),
    ("restore-oldest-checkpoint", "retained-checkpoints.toml"),
    ("no-subsume-pending", "concurrent-checkpoints.toml"),
    ("drop-channel-state", "unaligned-checkpoints.toml"),
];

#[test]
fn a_checkpoint_overtaken_by_a_newer_one_must_not_complete_later() {
    let mut sc = shipped("concurrent-checkpoints.toml");
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert_eq!(run.cuts_checked, run.outcome.completed.len() as u64, "every completed checkpoint's cut is checked");
    assert!(run.cuts_checked > 50);
    assert!(
        run.outcome.notes.iter().any(|e| matches!(
            e.note,
            recoverysim::trace::Note::CheckpointAborted { reason: recoverysim::trace::AbortReason::Subsumed, .. }
        )),
        "the overtaken checkpoint is subsumed"
    );
    // Without dropSubsumedCheckpoints it completes late, is taken for the latest, and the
    // restart replays what the newer checkpoint already committed.
    sc.bugs.no_subsume_pending = true;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::AtLeastOnce, "{:?}", run.output);
    let v = run.outcome.violations.first().expect("the restore of an older checkpoint is a protocol violation");
    assert!(v.contains("restored checkpoint 26, but checkpoint 28 had completed") && v.contains("trace line #"), "{v}");
    // With one checkpoint in flight at a time (the default) the bug cannot show.
    sc.flink.max_concurrent_checkpoints = 1;
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn every_planted_bug_is_caught_by_its_shipped_scenario() {
    use recoverysim::cluster::bugs::PlantedBugs;
    assert_eq!(BUG_SCENARIOS.len(), PlantedBugs::NAMES.len(), "every bug has a scenario");
    for (bug, file) in BUG_SCENARIOS {
        let mut sc = shipped(file);
        assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce, "{file} without {bug}");
        assert!(sc.bugs.set(bug), "{bug} is a planted bug");
        let run = simulate(&sc);
        assert_ne!(run.output.verdict, Verdict::ExactlyOnce, "{bug} in {file}: {:?}", run.output);
        let explained = run.output.first_lost.is_some()
            || run.output.first_duplicate.is_some()
            || run.output.not_clean.is_some()
            || run.output.first_state_diff.is_some();
        assert!(explained, "{bug} in {file}: the verdict comes with an explanation");
    }
}

#[test]
fn no_count_depends_on_the_reference_run() {
    // no-flush-on-pre-commit prepares transactions without the records the producer buffered;
    // without a fault every transaction of forward-task-failure.toml's sinks is empty, so the
    // fault-free reference run commits nothing. The faulty run's restart flushes some buffers on
    // close: it gets further than the reference. Those records are committed once, which is
    // right, not a duplicate; the rest are lost — the log says what must be committed.
    let mut sc = shipped("forward-task-failure.toml");
    sc.bugs.no_flush_on_pre_commit = true;
    let run = simulate(&sc);
    let reference = run.reference.as_ref().expect("records were lost: the report needs the reference run");
    assert_eq!(reference.committed.len(), 0, "the reference commits nothing");
    let o = &run.output;
    assert!(o.committed > 0, "{o:?}");
    assert_eq!((o.expected, o.duplicated, o.lost), (18_000, 0, 18_000 - o.committed), "{o:?}");
    assert_eq!(o.verdict, Verdict::AtMostOnce);
    assert_eq!(o.lost_in_reference_too, o.lost, "the reference lost every one of them too");
    let text = recoverysim::report(&run);
    assert!(text.contains("18000 expected") && text.contains("a bug every run shares"), "{text}");
}

#[test]
fn a_reference_that_does_not_finish_only_explains() {
    // Without drain the run ends when the last records are appended, before anything can read
    // them: neither run finishes. What was committed is judged by the log all the same.
    let mut sc = keyed_job(2, 2);
    sc.drain_us = 1;
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: 19_000_000 },
        action: FaultAction::FailTask(SubtaskRef { operator: OperatorId(1), index: 0 }),
    });
    let run = simulate(&sc);
    assert_ne!(run.outcome.job_status, recoverysim::cluster::state::JobStatus::Finished);
    let reference = run.reference.as_ref().expect("the job did not finish: the report needs the reference run");
    assert_ne!(reference.job_status, recoverysim::cluster::state::JobStatus::Finished);
    let o = &run.output;
    assert_eq!(o.verdict, Verdict::Incomplete, "{o:?}");
    let (logs, _) = recoverysim::cluster::engine::build_logs(&sc);
    assert_eq!(o.expected, logs[0].total, "every record of the log, however far the reference got");
    assert_eq!((o.lost, o.duplicated, o.pending), (0, 0, o.expected - o.committed));
    let why = o.not_clean.as_deref().unwrap_or_default();
    assert!(why.contains("did not finish either"), "{why}");
    // explore does not call it a failure of recovery: without faults it does not finish either.
    let j = recoverysim::explore::judge(&run);
    assert!(
        matches!(&j, recoverysim::explore::Judgement::Expected { why } if why.contains("even without faults")),
        "{j:?}"
    );
}

#[test]
fn a_job_still_making_progress_at_the_time_limit_is_slow_not_stuck() {
    // After the rolling update two of the three channels cross the network: the job is slower
    // than the fault-free run and does not finish in time, but it is not stuck.
    let run = simulate(&shipped("slower-after-rolling-update.toml"));
    assert_eq!(run.outcome.job_status, recoverysim::cluster::state::JobStatus::Running);
    let o = &run.output;
    let p = o.progress.expect("checkpoints completed and records were committed to the end");
    assert!(p.checkpoints >= 2 && p.records > 0 && p.reference_end_us < run.outcome.end_us, "{p:?}");
    let why = o.not_clean.as_deref().unwrap_or_default();
    assert!(why.contains("still making progress"), "{why}");
    let j = recoverysim::explore::judge(&run);
    assert!(
        matches!(&j, recoverysim::explore::Judgement::Expected { why } if why.contains("making progress")),
        "{j:?}"
    );
    // A task failure in its last minute: a failover there is no evidence of progress.
    let mut sc = shipped("slower-after-rolling-update.toml");
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: 770_000_000 },
        action: FaultAction::FailTask(SubtaskRef { operator: OperatorId(1), index: 0 }),
    });
    let run = simulate(&sc);
    assert_eq!(run.output.progress, None, "{:?}", run.output.not_clean);
    assert!(recoverysim::explore::judge(&run).is_fail());
}

#[test]
fn what_flink_itself_does_is_said_in_words() {
    // An appending sink after a restart from empty state, and a zombie whose late writes nobody
    // fences: duplicates by design; every key's final count is there, some followed by older ones.
    let run = simulate(&shipped("append-zombie-before-checkpoint.toml"));
    let o = &run.output;
    assert_eq!((o.verdict, o.lost, o.keys_below), (Verdict::AtLeastOnce, 0, 0), "{o:?}");
    assert!(o.duplicated > 0 && o.keys_stale_last > 0, "{o:?}");
    assert!(o.by_design.as_deref().is_some_and(|w| w.contains("appends without transactions")), "{o:?}");
    // The same job with a two-phase-commit sink duplicates nothing, so nothing to excuse.
    let mut sc = shipped("append-zombie-before-checkpoint.toml");
    sc.job.operators[2].kind = OperatorKind::Sink(SinkSemantic::TwoPhaseCommit);
    let run = simulate(&sc);
    assert_eq!((run.output.verdict, run.output.by_design.as_deref()), (Verdict::ExactlyOnce, None), "{:?}", run.output);
    // A job that fails for good: pre-committed records of one sink subtask are no hole, although
    // the other subtask committed later records of the same partitions.
    let run = simulate(&shipped("failed-with-precommitted-transactions.toml"));
    let o = &run.output;
    assert_eq!((o.verdict, o.lost, o.duplicated), (Verdict::Incomplete, 0, 0), "{o:?}");
    let why = o.not_clean.as_deref().unwrap_or_default();
    assert!(why.contains("gave up after 1 failover") && why.contains("wait in pre-committed transactions"), "{why}");
    // With a restart left, the restored sink commits them and the job finishes exactly-once.
    let mut sc = shipped("failed-with-precommitted-transactions.toml");
    sc.flink.restart_strategy =
        recoverysim::cluster::config::RestartStrategy::FixedDelay { attempts: 1, delay_us: 1_000_000 };
    assert_eq!(simulate(&sc).output.verdict, Verdict::ExactlyOnce);
}

/// Unaligned checkpoints: no alignment, the records in flight persisted and replayed first
/// after the TaskManager kill (the consistent-cut check applies them); with an
/// aligned-checkpoint-timeout of 100 ms, checkpoints start aligned and only those whose barriers
/// are held up on the slow link (checkpoints 5 and 6) turn unaligned after 100 ms.
#[test]
fn unaligned_checkpoints_persist_what_is_in_flight_and_the_timeout_switches_late_ones() {
    let mut sc = shipped("unaligned-checkpoints.toml");
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert!(run.cut_violation.is_none() && run.cuts_checked > 20);
    let hist = &run.outcome.checkpoint_history;
    assert!(hist.iter().all(|c| c.max_alignment_us == 0), "never aligned");
    assert!(hist.iter().map(|c| c.persisted_bytes).sum::<u64>() > 0, "something was in flight");
    // Checkpoints while the link is slow end as fast as the others: the slow barrier no longer
    // holds up the fast input.
    let slow: Vec<_> = hist.iter().filter(|c| (4..=6).contains(&c.id)).collect();
    assert!(slow.iter().all(|c| c.ended_at_us.zip(Some(c.triggered_at_us)).is_some_and(|(e, t)| e - t < 600_000)));
    sc.flink.aligned_checkpoint_timeout_us = 100_000;
    let run = simulate(&sc);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    let hist = &run.outcome.checkpoint_history;
    let alignment = |id: u64| hist.iter().find(|c| c.id == id).map(|c| c.max_alignment_us);
    let aligned_only = |id: u64| alignment(id).is_some_and(|a| a > 0 && a < 100_000);
    assert!(aligned_only(4) && aligned_only(8), "{hist:?}");
    assert_eq!((alignment(5), alignment(6)), (Some(100_000), Some(100_000)), "switched after 100 ms");
    // AT_LEAST_ONCE: no unaligned checkpoints (Flink turns them off).
    sc.flink.aligned_checkpoint_timeout_us = 0;
    sc.flink.checkpointing_mode = recoverysim::cluster::config::CheckpointingMode::AtLeastOnce;
    let run = simulate(&sc);
    assert!(run.outcome.checkpoint_history.iter().all(|c| c.persisted_bytes == 0));
}

/// RocksDB incremental checkpoints upload what changed since the last completed checkpoint;
/// the heap backend uploads everything; a restore downloads the full state either way.
#[test]
fn incremental_checkpoints_upload_the_changes_and_restores_download_everything() {
    let sc = shipped("rocksdb-incremental.toml");
    let mut heap = sc.clone();
    heap.flink.state_backend = recoverysim::cluster::config::StateBackendKind::Heap;
    let restored = |run: &recoverysim::run::Run| -> u64 {
        run.outcome
            .notes
            .iter()
            .filter_map(|e| match e.note {
                recoverysim::trace::Note::Restored { bytes, .. } => Some(bytes),
                _ => None,
            })
            .sum()
    };
    let (inc, full) = (simulate(&sc), simulate(&heap));
    for run in [&inc, &full] {
        assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
        assert!(run.cut_violation.is_none());
    }
    let done = |run: &recoverysim::run::Run, id: u64| {
        run.outcome.checkpoint_history.iter().find(|c| c.id == id && c.uploaded_bytes > 0).cloned()
    };
    // Checkpoint 12: the incremental one uploads under a sixth of its state, the heap one all.
    let (i, h) = (done(&inc, 12).expect("completed"), done(&full, 12).expect("completed"));
    assert!(i.uploaded_bytes * 6 < i.bytes, "{} of {}", i.uploaded_bytes, i.bytes);
    assert!(h.uploaded_bytes >= h.bytes - 4096 && i.max_async_us * 4 < h.max_async_us);
    // The restores download the whole state of the checkpoint they restore (in both above 100 MB).
    assert!(restored(&inc) > 100_000_000 && restored(&full) > 100_000_000);
}
