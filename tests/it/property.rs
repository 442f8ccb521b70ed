//! Properties over many seeds: whatever TaskManager kills and task failures the seed draws,
//! Flink's protocol (as simulated) stays exactly-once, every checkpoint is a consistent cut,
//! every state transition is legal, and the same seed replays the same run.

use recoverysim::check::Verdict;
use recoverysim::cluster::config::{ResourceManagerKind, RestartStrategy};
use recoverysim::cluster::state::JobStatus;
use recoverysim::fault::{FaultAction, FaultSpec, FaultTrigger};
use recoverysim::job::graph::SubtaskRef;
use recoverysim::job::spec::OperatorId;
use recoverysim::run::simulate;
use recoverysim::scenario::testing::keyed_job;
use recoverysim::sim::{Rng, Stream};

#[test]
fn random_faults_never_break_exactly_once() {
    for seed in 0..40 {
        let mut sc = keyed_job(4, 3);
        sc.seed = seed;
        sc.cluster.resource_manager = ResourceManagerKind::Active;
        sc.flink.restart_strategy = RestartStrategy::FixedDelay { attempts: 100, delay_us: 500_000 };
        let mut rng = Rng::new(seed, Stream::Faults);
        // Some seeds back-pressure hard: one record per channel, slow links.
        sc.cluster.channel_capacity = [1, 2, 64][rng.below_inclusive(2) as usize];
        sc.cluster.network_latency_us = 500 + rng.below_inclusive(9_500);
        for _ in 0..1 + rng.below_inclusive(3) {
            let at_us = 500_000 + rng.below_inclusive(18_000_000);
            let action = if rng.below_inclusive(1) == 0 {
                FaultAction::KillTaskManager(rng.below_inclusive(2) as u32)
            } else {
                let op = OperatorId(rng.below_inclusive(2) as u32);
                FaultAction::FailTask(SubtaskRef { operator: op, index: rng.below_inclusive(3) as u32 })
            };
            sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action });
        }
        let run = simulate(&sc);
        let what = format!("seed {seed}, capacity {}, faults {:?}", sc.cluster.channel_capacity, sc.faults);
        assert_eq!(run.outcome.job_status, JobStatus::Finished, "{what}");
        assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{what}: {:?}", run.output);
        assert_eq!(run.output.bad_results, 0, "{what}");
        assert!(run.cut_violation.is_none(), "{what}: {:?}", run.cut_violation);
        assert!(run.outcome.violations.is_empty(), "{what}: {:?}", run.outcome.violations);
        assert_eq!(simulate(&sc).outcome.trace_hash, run.outcome.trace_hash, "{what}: replay differs");
    }
}

#[test]
fn append_sink_never_loses_but_duplicates_after_failures() {
    use recoverysim::cluster::config::CheckpointingMode;
    use recoverysim::job::spec::{OperatorKind, SinkSemantic};
    let mut duplicated_somewhere = false;
    for seed in 0..20 {
        let mut sc = keyed_job(4, 3);
        sc.seed = seed;
        sc.flink.checkpointing_mode = CheckpointingMode::AtLeastOnce;
        sc.job.operators[2].kind = OperatorKind::Sink(SinkSemantic::Append);
        sc.cluster.resource_manager = ResourceManagerKind::Active;
        let mut rng = Rng::new(seed, Stream::Faults);
        let at_us = 2_000_000 + rng.below_inclusive(15_000_000);
        sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action: FaultAction::KillTaskManager(1) });
        let run = simulate(&sc);
        assert_eq!(run.output.lost, 0, "seed {seed}");
        assert!(matches!(run.output.verdict, Verdict::AtLeastOnce | Verdict::ExactlyOnce), "seed {seed}");
        duplicated_somewhere |= run.output.duplicated > 0;
    }
    assert!(duplicated_somewhere, "a plain append sink duplicates what is replayed after a failover");
}
