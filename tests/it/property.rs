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

/// A random job (forward lanes, filter + keyed sum with rescaling, rebalance + keyed count, two
/// sinks, a filter on prefix sums, or a sum of filtered counts), random cluster settings and up to three random faults; killed TaskManagers come
/// back 2 s later so a standalone cluster can always recover.
fn random_scenario(seed: u64) -> recoverysim::scenario::Scenario {
    use recoverysim::cluster::config::{FailoverStrategy, LoadBalanceMode};
    use recoverysim::job::spec::{EdgeKind, OperatorKind, OperatorSpec, SinkSemantic, SourceSpec};
    let mut rng = Rng::new(seed, Stream::Faults);
    let mut sc = keyed_job(1, 3);
    sc.seed = seed;
    let p = 1 + rng.below_inclusive(2) as u32;
    let src = OperatorKind::Source(SourceSpec {
        partitions: p + rng.below_inclusive(1) as u32,
        rate_per_s: 500 + rng.below_inclusive(3000),
        keys: 50,
        catch_up_rate_per_s: 20_000,
        records: None,
    });
    let op = |name: &str, kind, parallelism, input: Option<(u32, EdgeKind)>| OperatorSpec {
        name: name.into(),
        kind,
        parallelism,
        input: input.map(|(i, e)| (OperatorId(i), e)),
        state_bytes_per_key: recoverysim::job::spec::DEFAULT_STATE_BYTES_PER_KEY,
        slot_sharing_group: None,
    };
    let sink = || OperatorKind::Sink(SinkSemantic::TwoPhaseCommit);
    sc.job.chaining = rng.below_inclusive(1) == 0;
    sc.job.operators = match rng.below_inclusive(3) {
        0 => vec![
            op("s", src, p, None),
            op("m", OperatorKind::Map { multiply: 2, add: 1 }, p, Some((0, EdgeKind::Forward))),
            op("k", sink(), p, Some((1, EdgeKind::Forward))),
        ],
        1 => vec![
            op("s", src, p, None),
            op("f", OperatorKind::Filter { modulo: 3, remainder: 1 }, p, Some((0, EdgeKind::Forward))),
            op("c", OperatorKind::KeyedSum, p + 1, Some((1, EdgeKind::Hash))),
            op("k", sink(), p + 1, Some((2, EdgeKind::Forward))),
        ],
        2 => vec![
            op("s", src, p, None),
            op("m", OperatorKind::Map { multiply: 1, add: 0 }, p + 1, Some((0, EdgeKind::Rebalance))),
            op("c", OperatorKind::KeyedCount, p, Some((1, EdgeKind::Hash))),
            op("k", sink(), p, Some((2, EdgeKind::Forward))),
        ],
        _ => vec![
            op("s", src, p, None),
            op("c", OperatorKind::KeyedCount, p, Some((0, EdgeKind::Hash))),
            op("k", sink(), p, Some((1, EdgeKind::Forward))),
            op("k2", sink(), p, Some((1, EdgeKind::Forward))),
        ],
    };
    sc.cluster.slots_per_taskmanager = 2;
    sc.cluster.resource_manager =
        if rng.below_inclusive(1) == 0 { ResourceManagerKind::Active } else { ResourceManagerKind::Standalone };
    sc.cluster.channel_capacity = [1, 3, 64][rng.below_inclusive(2) as usize];
    sc.flink.failover_strategy =
        if rng.below_inclusive(3) == 0 { FailoverStrategy::Full } else { FailoverStrategy::Region };
    sc.flink.load_balance = if rng.below_inclusive(1) == 0 { LoadBalanceMode::Slots } else { LoadBalanceMode::None };
    sc.flink.local_recovery = rng.below_inclusive(1) == 0;
    sc.flink.checkpoint_interval_us = Some([200_000, 1_000_000, 3_000_000][rng.below_inclusive(2) as usize]);
    sc.flink.restart_strategy =
        RestartStrategy::FixedDelay { attempts: 1000, delay_us: 300_000 + rng.below_inclusive(2_000_000) };
    let mut kills = Vec::new();
    for _ in 0..rng.below_inclusive(3) {
        let at_us = rng.below_inclusive(19_000_000);
        let tm = rng.below_inclusive(2) as u32;
        let action = match rng.below_inclusive(3) {
            0 => {
                kills.push((tm, at_us));
                FaultAction::KillTaskManager(tm)
            }
            1 => FaultAction::RestartTaskManager(tm),
            _ => {
                let o = rng.below_inclusive(sc.job.operators.len() as u64 - 1) as usize;
                let index = rng.below_inclusive(u64::from(sc.job.operators[o].parallelism) - 1) as u32;
                FaultAction::FailTask(SubtaskRef { operator: OperatorId(o as u32), index })
            }
        };
        sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action });
    }
    for (tm, at_us) in kills {
        let action = FaultAction::RestartTaskManager(tm);
        sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us: at_us + 2_000_000 }, action });
    }
    // Drawn last so earlier seeds keep their jobs and faults: checkpoints in flight at once, and
    // jobs whose results depend on the interleaving (checked by the interleaving search). Every
    // non-source operator has parallelism p + 1, so the faults drawn above still fit.
    sc.flink.max_concurrent_checkpoints = 1 + rng.below_inclusive(2) as u32;
    let q = p + 1;
    match rng.below_inclusive(3) {
        0 => {
            sc.job.operators = vec![
                sc.job.operators[0].clone(),
                op("c", OperatorKind::KeyedSum, q, Some((0, EdgeKind::Hash))),
                op("f", OperatorKind::Filter { modulo: 2, remainder: 1 }, q, Some((1, EdgeKind::Forward))),
                op("k", sink(), q, Some((2, EdgeKind::Forward))),
            ]
        }
        1 => {
            sc.job.operators = vec![
                sc.job.operators[0].clone(),
                op("c", OperatorKind::KeyedCount, q, Some((0, EdgeKind::Hash))),
                op("f", OperatorKind::Filter { modulo: 3, remainder: 0 }, q, Some((1, EdgeKind::Forward))),
                op("m", OperatorKind::KeyedSum, q, Some((2, EdgeKind::Hash))),
                op("k", sink(), q, Some((3, EdgeKind::Forward))),
            ]
        }
        _ => {}
    }
    sc
}

#[test]
fn random_topologies_and_faults_stay_exactly_once_with_consistent_cuts() {
    let n: u64 = std::env::var("RECOVERYSIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    for seed in 0..n {
        let sc = random_scenario(seed);
        assert_clean_finish(&sc, seed);
    }
}

/// Network and process faults drawn from the seed on a random job: frozen TaskManagers,
/// partitions (healed), lost or delayed RPCs, graceful stops, lost hosts with an active resource
/// manager, JobManager crashes with HA. Every fault heals or is replaced in time, so the job
/// must finish exactly-once. `RECOVERYSIM_SEEDS=N` widens the sweep when exploring.
#[test]
fn random_network_and_process_faults_stay_exactly_once() {
    use recoverysim::cluster::config::HaKind;
    use recoverysim::fault::{HostRef, MessageKind, MessageRule};
    let n: u64 = std::env::var("RECOVERYSIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    for seed in 0..n {
        let mut sc = random_scenario(seed);
        sc.faults.clear();
        let mut rng = Rng::new(seed ^ 0x5eed, Stream::Faults);
        sc.flink.checkpoint_timeout_us = 5_000_000;
        sc.flink.tolerable_failed_checkpoints = rng.below_inclusive(2) as u32;
        sc.flink.ha = HaKind::Kubernetes;
        sc.cluster.resource_manager = ResourceManagerKind::Active;
        let tm = |rng: &mut Rng| rng.below_inclusive(2) as u32;
        for _ in 0..1 + rng.below_inclusive(2) {
            let at_us = 1_000_000 + rng.below_inclusive(12_000_000);
            let action = match rng.below_inclusive(6) {
                0 => FaultAction::FreezeTaskManager {
                    tm: tm(&mut rng),
                    duration_us: 1_000_000 + rng.below_inclusive(9_000_000),
                },
                1 => FaultAction::Partition {
                    a: vec![HostRef::JobManager],
                    b: vec![HostRef::TaskManager(tm(&mut rng))],
                    one_way: rng.below_inclusive(1) == 0,
                    heal_at_us: Some(at_us + 1_000_000 + rng.below_inclusive(8_000_000)),
                },
                2 => FaultAction::Partition {
                    a: vec![HostRef::TaskManager(0)],
                    b: vec![HostRef::TaskManager(1 + rng.below_inclusive(1) as u32)],
                    one_way: false,
                    heal_at_us: Some(at_us + 1_000_000 + rng.below_inclusive(4_000_000)),
                },
                3 => {
                    let kinds = [
                        MessageKind::AcknowledgeCheckpoint,
                        MessageKind::NotifyCheckpointComplete,
                        MessageKind::Heartbeat,
                        MessageKind::TriggerCheckpoint,
                    ];
                    let rule = MessageRule {
                        kind: kinds[rng.below_inclusive(3) as usize],
                        from: vec![],
                        to: vec![],
                        probability: [0.1, 0.5, 1.0][rng.below_inclusive(2) as usize],
                        until_us: Some(at_us + rng.below_inclusive(3_000_000)),
                    };
                    if rng.below_inclusive(1) == 0 {
                        FaultAction::LoseMessages(rule)
                    } else {
                        FaultAction::DelayMessages { rule, delay_us: 1_000 + rng.below_inclusive(2_000_000) }
                    }
                }
                4 => FaultAction::StopTaskManager(tm(&mut rng)),
                5 => FaultAction::LoseTaskManagerHost(tm(&mut rng)),
                _ => FaultAction::KillJobManager,
            };
            sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action });
        }
        assert_clean_finish(&sc, seed);
    }
}

/// The run finishes exactly-once, with consistent cuts and no invariant violation.
fn assert_clean_finish(sc: &recoverysim::scenario::Scenario, seed: u64) {
    let run = simulate(sc);
    let what = format!("seed {seed}: {:?}", sc.faults);
    assert_eq!(run.outcome.job_status, JobStatus::Finished, "{what}");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{what}: {:?}", run.output);
    assert!(run.cut_violation.is_none(), "{what}: {:?}", run.cut_violation);
    assert!(run.outcome.violations.is_empty(), "{what}: {:?}", run.outcome.violations);
    assert!(run.output.unverified_sinks.is_empty() && run.output.keys_over_budget == 0, "{what}: {:?}", run.output);
}
