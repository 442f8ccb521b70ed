//! Behaviour of the engine on programmatic scenarios: detection paths, resource managers, slot
//! timeouts, restart-strategy exhaustion, determinism.

use recoverysim::check::Verdict;
use recoverysim::cluster::config::{LoadBalanceMode, ResourceManagerKind, RestartStrategy};
use recoverysim::cluster::state::JobStatus;
use recoverysim::fault::{FaultAction, FaultSpec, FaultTrigger};
use recoverysim::run::simulate;
use recoverysim::scenario::testing::keyed_job;
use recoverysim::trace::{Detection, FailureCause, Note};

fn kill(at_us: u64, tm: u32) -> FaultSpec {
    FaultSpec { trigger: FaultTrigger::At { at_us }, action: FaultAction::KillTaskManager(tm) }
}

#[test]
fn same_scenario_same_trace_hash_and_other_seed_other_hash() {
    let mut sc = keyed_job(4, 3);
    sc.faults.push(kill(7_500_000, 1));
    let a = simulate(&sc);
    let b = simulate(&sc);
    assert_eq!(a.outcome.trace_hash, b.outcome.trace_hash);
    assert_eq!(a.outcome.events, b.outcome.events);
    assert_eq!(a.outcome.notes, b.outcome.notes);
    sc.seed += 1;
    let c = simulate(&sc);
    assert_ne!(a.outcome.trace_hash, c.outcome.trace_hash);
}

#[test]
fn killed_taskmanager_is_noticed_first_through_broken_connections() {
    let mut sc = keyed_job(4, 3);
    sc.faults.push(kill(7_500_000, 1));
    let run = simulate(&sc);
    let f = &run.outcome.failovers[0];
    assert!(matches!(f.cause, FailureCause::ConnectionLost { remote_tm: 1 }));
    // The kernel's reset reaches the peer after a drawn delay in [reset, 2 × reset] plus the
    // network's latency (measured on Flink: 64–106 ms from the kill to the first task failure).
    let reset = sc.cluster.connection_reset_us;
    let after = f.failed_at_us - 7_500_000;
    assert!(after >= reset && after <= 2 * reset + sc.cluster.rpc_latency_us + sc.cluster.network_jitter_us, "{after}");
    assert!(f.detected_at_us - f.failed_at_us <= 2 * sc.cluster.rpc_latency_us);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    // The JobManager gives the TaskManager up after rpc-failure-threshold failed heartbeats.
    let lost = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::TaskManagerLost { tm: 1, detection } => Some((e.at_us, detection)),
        _ => None,
    });
    let (at, detection) = lost.expect("the JobManager notices the dead TaskManager");
    assert_eq!(detection, Detection::HeartbeatRpcFailures(2));
    assert!(at > 7_500_000 && at <= 7_500_000 + 2 * sc.flink.heartbeat_interval_us + 10_000);
}

#[test]
fn without_rpc_failure_threshold_only_the_heartbeat_timeout_detects_the_loss() {
    // One TaskManager holds everything: no data connection crosses TaskManagers, so nothing but
    // heartbeats can notice; with the threshold disabled (-1) only heartbeat.timeout does.
    let mut sc = keyed_job(2, 2);
    sc.flink.heartbeat_rpc_failure_threshold = None;
    sc.faults.push(kill(7_500_000, 0));
    sc.faults
        .push(FaultSpec { trigger: FaultTrigger::At { at_us: 9_000_000 }, action: FaultAction::RestartTaskManager(0) });
    let run = simulate(&sc);
    let f = &run.outcome.failovers[0];
    assert!(
        matches!(f.cause, FailureCause::TaskManagerLost { tm: 0, detection: Detection::HeartbeatTimeout }),
        "{:?}",
        f.cause
    );
    let delay = f.detected_at_us - 7_500_000;
    assert!(
        delay >= sc.flink.heartbeat_timeout_us - sc.flink.heartbeat_interval_us
            && delay <= sc.flink.heartbeat_timeout_us + 10_000,
        "{delay}"
    );
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
}

#[test]
fn active_resource_manager_replaces_a_killed_taskmanager() {
    let mut sc = keyed_job(4, 2);
    sc.cluster.resource_manager = ResourceManagerKind::Active;
    sc.faults.push(kill(7_500_000, 1));
    let run = simulate(&sc);
    // The replacement is a new pod on a new host (tm-2 after tm-0 and tm-1).
    let registered = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::TaskManagerRegistered { tm: 2, .. } => Some(e.at_us),
        _ => None,
    });
    let at = registered.expect("a replacement TaskManager registers");
    let earliest = 7_500_000 + sc.cluster.connection_reset_us + sc.cluster.taskmanager_start_delay_us;
    assert!(at >= earliest && at <= earliest + sc.cluster.connection_reset_us + 10_000, "{at}");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
}

#[test]
fn standalone_without_enough_slots_fails_after_slot_request_timeouts() {
    let mut sc = keyed_job(4, 2);
    sc.flink.slot_request_timeout_us = 2_000_000;
    sc.flink.restart_strategy = RestartStrategy::FixedDelay { attempts: 2, delay_us: 1_000_000 };
    sc.faults.push(kill(7_500_000, 1));
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Failed);
    assert!(run.outcome.failovers.iter().any(|f| f.cause == FailureCause::NoResourceAvailable));
    assert!(run.outcome.failovers.last().expect("failovers happened").exhausted);
    // Nothing committed is lost: what is missing was simply never reached.
    assert_eq!((run.output.lost, run.output.duplicated), (0, 0));
    assert!(run.output.pending > 0);
    let statuses: Vec<_> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::JobStatus { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(&statuses[statuses.len() - 2..], &[JobStatus::Failing, JobStatus::Failed]);
}

#[test]
fn spread_slots_put_one_group_per_taskmanager() {
    let mut sc = keyed_job(3, 3);
    sc.flink.load_balance = LoadBalanceMode::Slots;
    let run = simulate(&sc);
    let tms: Vec<u32> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::Deployed { st, tm } if run.graph.subtasks[st.0 as usize].task.0 == 0 => Some(tm),
            _ => None,
        })
        .collect();
    assert_eq!(tms, vec![0, 1, 2]);
}

#[test]
fn every_state_transition_is_legal() {
    let mut sc = keyed_job(4, 3);
    sc.faults.push(kill(5_000_000, 1));
    sc.faults.push(kill(11_000_000, 0));
    sc.cluster.resource_manager = ResourceManagerKind::Active;
    let run = simulate(&sc);
    assert!(run.outcome.violations.is_empty(), "{:?}", run.outcome.violations);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn bounded_source_reads_exactly_its_records_and_the_job_finishes() {
    use recoverysim::job::spec::{OperatorKind, SourceSpec};
    let mut sc = keyed_job(4, 3);
    sc.job.operators[0].kind = OperatorKind::Source(SourceSpec {
        partitions: 3,
        rate_per_s: 500,
        keys: 10,
        catch_up_rate_per_s: 5_000,
        records: Some(1001),
    });
    sc.faults.push(kill(1_200_000, 1));
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert_eq!(run.output.expected, 1001);
    assert_eq!(run.output.committed, 1001);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn back_pressure_slows_sources_without_losing_anything() {
    // One record in flight per channel and 10 ms links: a channel carries at most one record per
    // credit round trip (~20 ms), less than the 62 records/s each one must carry.
    let fast = simulate(&keyed_job(4, 2));
    let mut sc = keyed_job(4, 2);
    sc.cluster.channel_capacity = 1;
    sc.cluster.network_latency_us = 10_000;
    sc.flink.load_balance = LoadBalanceMode::Slots;
    let slow = simulate(&sc);
    assert_eq!(slow.output.verdict, Verdict::ExactlyOnce);
    assert_eq!(slow.outcome.job_status, JobStatus::Finished);
    assert!(
        slow.outcome.end_us > fast.outcome.end_us + 5_000_000,
        "back-pressured run ends at {} µs, free-flowing at {} µs",
        slow.outcome.end_us,
        fast.outcome.end_us
    );
}

#[test]
fn local_recovery_restores_on_the_same_taskmanager_and_downloads_elsewhere() {
    let restores = |run: &recoverysim::run::Run| -> (usize, usize) {
        let mut local = 0;
        let mut remote = 0;
        for e in &run.outcome.notes {
            if let Note::Restored { local: l, .. } = e.note {
                if l { local += 1 } else { remote += 1 }
            }
        }
        (local, remote)
    };
    // A task failure: every subtask comes back in its old slot and reads its local copy.
    let mut sc = keyed_job(4, 3);
    sc.flink.local_recovery = true;
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: 7_500_000 },
        action: FaultAction::FailTask(recoverysim::job::graph::SubtaskRef {
            operator: recoverysim::job::spec::OperatorId(1),
            index: 0,
        }),
    });
    let run = simulate(&sc);
    assert_eq!(restores(&run), (12, 0));
    // Without local recovery the same failure downloads everything.
    sc.flink.local_recovery = false;
    assert_eq!(restores(&simulate(&sc)), (0, 12));
    // A killed TaskManager's local copies die with it: its subtasks download on the spare one,
    // the others read locally.
    let mut sc = keyed_job(4, 3);
    sc.flink.local_recovery = true;
    sc.faults.push(kill(7_500_000, 1));
    let run = simulate(&sc);
    let (local, remote) = restores(&run);
    assert_eq!((local, remote), (6, 6), "tm-0's two slot groups stay, tm-1's move");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

/// Each restore of a run: (subtask name, local, bytes, duration).
fn restores_of(run: &recoverysim::run::Run) -> Vec<(String, bool, u64, u64)> {
    run.outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::Restored { st, local, bytes, duration_us, .. } => {
                Some((run.graph.subtask_name(st), local, bytes, duration_us))
            }
            _ => None,
        })
        .collect()
}

/// Regression: a TaskManager kept one local copy per subtask, the newest uploaded, so a
/// checkpoint still pending at the failure displaced the completed one the restore needs, and
/// every subtask downloaded. Flink's TaskLocalStateStoreImpl keeps a copy per checkpoint and
/// discards only on confirmation (older ones) or abort (that one).
#[test]
fn a_pending_checkpoint_does_not_displace_the_local_copy_a_restore_needs() {
    let mut sc = recoverysim::scenario::load_file("scenarios/keyed-tm-kill.toml".as_ref()).expect("shipped scenario");
    sc.flink.local_recovery = true;
    let run = simulate(&sc);
    let mut local: Vec<String> = restores_of(&run).into_iter().filter(|r| r.1).map(|r| r.0).collect();
    local.sort();
    // tm-0 ran lane 0 before the kill of tm-1 (load-balance SLOTS) and runs both lanes after it.
    assert_eq!(local, ["count[0]", "map[0]", "sink[0]", "source[0]"]);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

/// The question scenarios on local recovery: with it, the count subtask that stays on tm-0
/// reads 100 MB from local disk in about 0.1 s and the one moved from the killed tm-1 downloads
/// for about 1 s; without it both download.
#[test]
fn local_recovery_scenarios_show_the_local_read_and_the_download() {
    let count = |file: &str| -> Vec<(String, bool, u64, u64)> {
        let sc = recoverysim::scenario::load_file(file.as_ref()).expect("shipped scenario");
        restores_of(&simulate(&sc)).into_iter().filter(|r| r.0.starts_with("count")).collect()
    };
    let on = count("scenarios/local-recovery.toml");
    assert_eq!(on.iter().map(|r| (r.0.as_str(), r.1)).collect::<Vec<_>>(), [("count[0]", true), ("count[1]", false)]);
    assert!(on.iter().all(|r| r.2 > 90_000_000), "about 100 MB each: {on:?}");
    assert!(on[0].3 < 150_000 && on[1].3 > 900_000, "local ~0.1 s, download ~1 s: {on:?}");
    let off = count("scenarios/local-recovery-off.toml");
    assert!(off.len() == 2 && off.iter().all(|r| !r.1 && r.3 > 900_000), "{off:?}");
}

/// Regression (found by random exploration): when a TaskManager process dies, records its two
/// tasks left in the channel between them must not reach the next attempts. The subtasks were
/// no longer live when cancelled, so their channels were not emptied, and the restarted filter
/// read the old source attempt's records again: a duplicate and an inconsistent checkpoint.
#[test]
fn records_left_in_a_dead_taskmanagers_channels_never_reach_the_next_attempt() {
    let text = r#"name = "stale channel data after a TaskManager kill"
seed = 242
duration = "20s"
[flink]
"execution.checkpointing.interval" = "1s"
"jobmanager.execution.failover-strategy" = "full"
"restart-strategy.type" = "fixed-delay"
"restart-strategy.fixed-delay.attempts" = 10
"restart-strategy.fixed-delay.delay" = "2045ms"
"heartbeat.interval" = "1s"
"heartbeat.timeout" = "5s"
"pipeline.operator-chaining.enabled" = false
"taskmanager.load-balance.mode" = "SLOTS"
"execution.state-recovery.from-local" = true
[cluster]
taskmanagers = 3
slots-per-taskmanager = 2
channel-capacity = 3
[job]
operators = [
  { name = "s", kind = "source", parallelism = 2, partitions = 2, rate = "1000/s", keys = 50, catch-up-rate = "20000/s" },
  { name = "f", kind = "filter", input = "s", edge = "forward", parallelism = 2, modulo = 3, remainder = 1 },
  { name = "c", kind = "keyed-sum", input = "f", edge = "hash", parallelism = 3 },
  { name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 3 },
]
[[fault]]
at = "6.026s"
fail-task = "k[2]"
[[fault]]
at = "8.119s"
kill-taskmanager = 0
[[fault]]
at = "10.119s"
restart-taskmanager = 0
[expect]
verdict = "exactly_once"
"#;
    let sc = recoverysim::scenario::parse_str("stale.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_eq!(run.outcome.failovers.len(), 2);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert!(run.cut_violation.is_none(), "{:?}", run.cut_violation);
}

#[test]
fn a_taskmanager_killed_while_starting_never_registers_and_restarts_do_not_pile_up() {
    let mut sc = keyed_job(2, 2);
    let at = |at_us, action| FaultSpec { trigger: FaultTrigger::At { at_us }, action };
    // tm-1 holds nothing (slots fill tm-0 first), so none of this disturbs the job.
    sc.faults.push(kill(2_000_000, 1));
    sc.faults.push(at(3_000_000, FaultAction::RestartTaskManager(1)));
    sc.faults.push(at(3_500_000, FaultAction::RestartTaskManager(1)));
    sc.faults.push(kill(4_000_000, 1));
    sc.faults.push(at(12_000_000, FaultAction::RestartTaskManager(1)));
    let run = simulate(&sc);
    let registrations: Vec<u64> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| matches!(e.note, Note::TaskManagerRegistered { tm: 1, .. }).then_some(e.at_us))
        .filter(|&at| at > 1_000_000)
        .collect();
    let expected = 12_000_000 + sc.cluster.taskmanager_start_delay_us;
    assert_eq!(registrations.len(), 1, "{registrations:?}");
    assert!(registrations[0] >= expected && registrations[0] <= expected + 10_000, "{registrations:?}");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    assert!(run.outcome.failovers.is_empty());
}

/// A JobManager numbers its failovers from 0; the trace and the report number them over the
/// whole run, so a failover after a JobManager takeover is not mistaken for an earlier one.
#[test]
fn failovers_are_numbered_over_the_whole_run_across_jobmanagers() {
    let mut sc = recoverysim::scenario::load_file("scenarios/jm-kill-ha.toml".as_ref()).expect("shipped scenario");
    let st = recoverysim::job::graph::SubtaskRef { operator: recoverysim::job::spec::OperatorId(1), index: 0 };
    for at_us in [10_000_000, 45_000_000] {
        sc.faults.push(FaultSpec { trigger: FaultTrigger::At { at_us }, action: FaultAction::FailTask(st) });
    }
    let run = simulate(&sc);
    let failovers = &run.outcome.failovers;
    assert_eq!(failovers.len(), 2, "one failover before the JobManager is killed, one after");
    let started: Vec<(usize, u64)> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::FailoverStarted { failover } => Some((failover, e.at_us)),
            _ => None,
        })
        .collect();
    assert_eq!(started.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 1]);
    for (i, at) in started {
        assert!(
            failovers[i].detected_at_us <= at && at - failovers[i].failed_at_us < 1_000_000,
            "{i}: {:?}",
            failovers[i]
        );
    }
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

/// A job without checkpointing (Flink's default) over `operators`, bounded to `records`.
fn without_checkpoints(name: &str, chaining: bool, operators: &str, faults: &str) -> recoverysim::scenario::Scenario {
    let text = format!(
        r#"name = "{name}"
seed = 11
[flink]
"pipeline.operator-chaining.enabled" = {chaining}
[cluster]
taskmanagers = 2
slots-per-taskmanager = 2
[job]
operators = [
{operators}
]
{faults}"#
    );
    recoverysim::scenario::parse_str("no-checkpoints.toml", &text).expect("valid scenario")
}

/// Regression (found by random testing): with checkpointing disabled a bounded job with a
/// two-phase-commit sink never finished and committed nothing — its sources waited for a final
/// checkpoint that never comes. Flink's sinks commit at end of input instead
/// (CommitterOperator.endInput) and the job is FINISHED.
#[test]
fn without_checkpoints_two_phase_commit_sinks_commit_at_end_of_input_and_the_job_finishes() {
    let topologies: [(&str, u64, &str); 6] = [
        (
            "keyed, parallelism 1",
            1,
            r#"{ name = "source", kind = "source", parallelism = 1, partitions = 3, rate = "1000/s", keys = 20, records = 900 },
  { name = "count", kind = "keyed-count", input = "source", edge = "hash", parallelism = 1 },
  { name = "sink", kind = "sink", input = "count", edge = "forward", parallelism = 1, semantic = "two-phase-commit" },"#,
        ),
        (
            "keyed, parallelism 3",
            1,
            r#"{ name = "source", kind = "source", parallelism = 3, partitions = 4, rate = "1000/s", keys = 20, records = 900 },
  { name = "count", kind = "keyed-count", input = "source", edge = "hash", parallelism = 3 },
  { name = "sink", kind = "sink", input = "count", edge = "forward", parallelism = 3, semantic = "two-phase-commit" },"#,
        ),
        (
            "keyed sum, rebalance to the sink, parallelisms 2/3/2",
            1,
            r#"{ name = "source", kind = "source", parallelism = 2, partitions = 4, rate = "1000/s", keys = 20, records = 900 },
  { name = "sum", kind = "keyed-sum", input = "source", edge = "hash", parallelism = 3 },
  { name = "sink", kind = "sink", input = "sum", edge = "rebalance", parallelism = 2, semantic = "two-phase-commit" },"#,
        ),
        (
            "forward only, parallelism 1",
            1,
            r#"{ name = "source", kind = "source", parallelism = 1, partitions = 2, rate = "1000/s", keys = 20, records = 900 },
  { name = "map", kind = "map", input = "source", edge = "forward", parallelism = 1 },
  { name = "sink", kind = "sink", input = "map", edge = "forward", parallelism = 1, semantic = "two-phase-commit" },"#,
        ),
        (
            "forward only, more readers than partitions",
            1,
            r#"{ name = "source", kind = "source", parallelism = 4, partitions = 2, rate = "1000/s", keys = 20, records = 900 },
  { name = "sink", kind = "sink", input = "source", edge = "forward", parallelism = 4, semantic = "two-phase-commit" },"#,
        ),
        (
            "rebalance, a two-phase-commit and an appending sink",
            2,
            r#"{ name = "source", kind = "source", parallelism = 2, partitions = 5, rate = "1000/s", keys = 20, records = 900 },
  { name = "map", kind = "map", input = "source", edge = "rebalance", parallelism = 3 },
  { name = "sink", kind = "sink", input = "map", edge = "forward", parallelism = 3, semantic = "two-phase-commit" },
  { name = "log", kind = "sink", input = "map", edge = "forward", parallelism = 3, semantic = "append" },"#,
        ),
    ];
    for (what, sinks, operators) in topologies {
        for chaining in [true, false] {
            let sc = without_checkpoints(what, chaining, operators, "");
            assert!(sc.flink.checkpoint_interval_us.is_none());
            let run = simulate(&sc);
            let at = format!("{what}, chaining {chaining}");
            assert_eq!(run.outcome.job_status, JobStatus::Finished, "{at}");
            assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{at}: {:?}", run.output);
            // Every record of the log, once per sink — counted from the scenario, not from the
            // reference run (which runs the same engine).
            assert_eq!(run.outcome.committed.len() as u64, 900 * sinks, "{at}");
            assert_eq!((run.output.lost, run.output.duplicated, run.output.pending), (0, 0, 0), "{at}");
            assert!(run.outcome.store.lingering().is_empty(), "{at}: {:?}", run.outcome.store.lingering());
            assert_eq!(run.outcome.checkpoints_completed, 0, "{at}");
            // The two-phase-commit sink commits nothing before the end of input (the last record
            // is appended at 0.9 s); an appending sink writes through.
            let two_pc = run.graph.spec.operators.iter().position(|o| o.name == "sink").expect("a sink") as u32;
            let early = run.outcome.committed.iter().filter(|c| c.sink.0 == two_pc && c.committed_at_us < 899_000);
            assert_eq!(early.count(), 0, "{at}");
            assert!(run.outcome.end_us < 2_000_000, "{at}: finished at {} µs", run.outcome.end_us);
            assert!(run.outcome.violations.is_empty(), "{at}: {:?}", run.outcome.violations);
        }
    }
}

/// Without checkpointing the restart strategy defaults to none
/// (RestartBackoffTimeStrategyFactoryLoader): the first failure fails the job, and the verdict
/// says so instead of claiming a clean run.
#[test]
fn without_checkpoints_a_failure_fails_the_job_and_the_verdict_is_not_clean() {
    let operators = r#"{ name = "source", kind = "source", parallelism = 3, partitions = 4, rate = "1000/s", keys = 20, records = 900 },
  { name = "count", kind = "keyed-count", input = "source", edge = "hash", parallelism = 3 },
  { name = "sink", kind = "sink", input = "count", edge = "forward", parallelism = 3, semantic = "two-phase-commit" },"#;
    let sc = without_checkpoints("kill", true, operators, "[[fault]]\nat = \"500ms\"\nkill-taskmanager = 1\n");
    assert_eq!(sc.flink.restart_strategy, RestartStrategy::None);
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Failed);
    assert_eq!(run.outcome.failovers.len(), 1);
    assert!(run.outcome.failovers[0].exhausted);
    assert!(run.outcome.failovers[0].restarted.is_empty());
    assert_eq!(run.output.verdict, Verdict::Incomplete, "{:?}", run.output);
    assert!(run.outcome.committed.is_empty(), "nothing commits before end of input");
    let reason = run.outcome.notes.iter().find_map(|e| match &e.note {
        Note::NoRestart { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("restart strategy none (the default without checkpointing) suppresses recovery"),
    );
}

/// Regression (found by `explore`): without checkpointing, a sink that committed at end of input
/// and is then restarted from no checkpoint (here a new JobManager leader recovers the job from
/// the HA store) names its transactions from checkpoint 1 again, as Flink's writer does; Kafka
/// reuses the transactional id with a new producer epoch, each a new transaction. This was
/// reported as "wrote into the transaction of checkpoint 1 after it was committed". The replay
/// from the start duplicates (at-least-once), with no protocol violation.
#[test]
fn without_checkpoints_a_restart_reuses_committed_transactional_ids_as_new_transactions() {
    let text = r#"name = "jm kill, HA, no checkpoints"
seed = 87
duration = "1125ms"
drain = "75000ms"
[job]
operators = [
  { name = "source", kind = "source", parallelism = 1, partitions = 1, rate = "15/s", keys = 1 },
  { name = "pre0", kind = "map", parallelism = 1, input = "source", edge = "rebalance", multiply = 2, add = 0 },
  { name = "keyed0", kind = "keyed-sum", parallelism = 1, input = "pre0", edge = "hash" },
  { name = "sink", kind = "sink", parallelism = 1, input = "keyed0", edge = "forward", semantic = "two-phase-commit" },
]
[flink]
"restart-strategy.type" = "exponential-delay"
"restart-strategy.exponential-delay.initial-backoff" = "1000ms"
"restart-strategy.exponential-delay.max-backoff" = "10s"
"heartbeat.interval" = "2000ms"
"heartbeat.timeout" = "10000ms"
"high-availability.type" = "zookeeper"
[cluster]
taskmanagers = 1
slots-per-taskmanager = 1
resource-manager = "active"
[[fault]]
at = "882ms"
kill-jobmanager = true
"#;
    let sc = recoverysim::scenario::parse_str("no-checkpoints-ha.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert!(run.outcome.violations.is_empty(), "{:?}", run.outcome.violations);
    assert!(
        !run.outcome.notes.iter().any(|e| matches!(e.note, Note::CommittedTxnWrittenAgain { .. })),
        "a fresh producer's transaction is a new one"
    );
    // Both the first attempt's end-of-input commit and the replay's are visible.
    assert_eq!(run.output.verdict, Verdict::AtLeastOnce, "{:?}", run.output);
    assert_eq!(run.output.lost, 0);
    assert!(run.output.duplicated > 0);
    assert!(run.outcome.store.lingering().is_empty());
}

/// Regression (found by `explore`, jm-kill-no-ha seed 3): a killed and restarted standalone
/// TaskManager is a new TaskExecutor; the JobMaster, not yet past the heartbeat timeout, kept
/// deploying into the old one's slot and the new process answered with an error (not counted by
/// heartbeat.rpc-failure-threshold) while silently ignoring heartbeats meant for the old one, so
/// the job restarted over and over until the time limit. An RPC for the old TaskExecutor finds
/// no endpoint (a new random RPC port) and is refused: the old one is lost after the RPC-failure
/// threshold and the job recovers on the new one.
#[test]
fn rpcs_for_a_restarted_taskmanagers_old_incarnation_are_refused_and_the_job_recovers() {
    let text = r#"name = "keyed job: the JobManager is killed, no high availability, faults drawn by explore seed 3"
seed = 3
duration = "90s"
drain = "10s"

[flink]
"execution.checkpointing.interval" = "1s"
"taskmanager.load-balance.mode" = "SLOTS"

[cluster]
taskmanagers = 2
slots-per-taskmanager = 1

[job]
operators = [
  { name = "source", kind = "source", parallelism = 2, partitions = 2, rate = "1000/s", keys = 100 },
  { name = "count", kind = "keyed-count", input = "source", edge = "hash", parallelism = 2 },
  { name = "sink", kind = "sink", input = "count", edge = "forward", parallelism = 2, semantic = "two-phase-commit" },
]

[[fault]]
at = "36675ms"
delay-messages = "any"
from = ["tm-0"]
to = ["jobmanager"]
until = "46675ms"
delay = "50ms"

[[fault]]
at = "57572ms"
kill-taskmanager = 0

[[fault]]
at = "62974ms"
restart-taskmanager = 0

[[fault]]
at = "85006ms"
stop-taskmanager = 1

[[fault]]
at = "92827ms"
restart-taskmanager = 1
"#;
    let sc = recoverysim::scenario::parse_str("restarted-tm-old-slots.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Finished, "{:?}", run.output);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    assert!(run.outcome.violations.is_empty(), "{:?}", run.outcome.violations);
}

/// A JobManager killed at 0 s is killed: the cluster's processes start before the faults of the
/// first instant (it used to be skipped, the process not having started yet, and the job ran to
/// FINISHED). Without high availability the job is NOT_FOUND, which explore judges as Flink's own
/// behaviour; with it a new leader recovers the job.
#[test]
fn a_jobmanager_killed_at_zero_is_killed_and_without_ha_the_job_is_lost() {
    use recoverysim::cluster::config::HaKind;
    let kill_jm = FaultSpec { trigger: FaultTrigger::At { at_us: 0 }, action: FaultAction::KillJobManager };
    let mut sc = keyed_job(2, 2);
    sc.faults.push(kill_jm.clone());
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::NotFound);
    let j = recoverysim::explore::judge(&run);
    assert!(matches!(j, recoverysim::explore::Judgement::Expected { .. }), "{j:?}");
    let mut sc = keyed_job(2, 2);
    sc.flink.ha = HaKind::Kubernetes;
    sc.faults.push(kill_jm);
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

/// An appending sink at end of input with checkpointing off flushes: its task finishes only once
/// the store answered a flush sent after every earlier batch, even when its buffer is empty then.
/// (Found by `explore --metamorphic`, seed 26 with --vary: +5 ms on the sink store's link lost the
/// last batches, which were still in flight when the job FINISHED.)
#[test]
fn an_append_sink_finishes_only_after_its_writes_landed() {
    let text = r#"
name = "append sink, no checkpoints, a slow sink store"
seed = 26
duration = "5s"

[job]
operators = [
  { name = "source", kind = "source", parallelism = 1, partitions = 1, rate = "2000/s", keys = 3 },
  { name = "keyed0", kind = "keyed-sum", parallelism = 4, input = "source", edge = "hash" },
  { name = "keyed1", kind = "keyed-sum", parallelism = 3, input = "keyed0", edge = "hash" },
  { name = "sink", kind = "sink", parallelism = 3, input = "keyed1", edge = "forward", semantic = "append" },
]

[cluster]
taskmanagers = 4
slots-per-taskmanager = 2

[[fault]]
at = "0s"
delay-messages = "any"
to = ["sink-store"]
delay = "5ms"
"#;
    let sc = recoverysim::scenario::parse_str("append-flush.toml", text).expect("valid scenario");
    let run = recoverysim::run::simulate(&sc);
    assert_eq!(run.outcome.job_status, recoverysim::cluster::state::JobStatus::Finished);
    assert_eq!(run.output.lost, 0, "{:?}", run.output.first_lost);
    assert_eq!(run.output.committed, run.output.expected);
}

/// A checkpoint failure past `tolerable-failed-checkpoints` is a global failure
/// (`CheckpointFailureManager` → `handleGlobalFailure`): no task is blamed, the whole job
/// restarts whatever the failover strategy, and the report says so.
#[test]
fn a_checkpoint_expiry_is_a_global_failover_with_no_task_blamed() {
    let run = recoverysim::run_file("scenarios/partition-tm-tm.toml").expect("a valid scenario");
    let f = &run.outcome.failovers[0];
    assert_eq!(f.cause.tag(), "checkpoint-expired");
    assert_eq!(f.failed_subtask, None, "no task failed");
    assert_eq!(f.to_restart.len(), run.graph.subtask_count(), "the whole job");
    let json = recoverysim::report::json::run(&run);
    assert_eq!(json["failovers"][0]["failed_task"], serde_json::Value::Null);
    let report = recoverysim::report(&run);
    assert!(report.contains("a global failure, no task failed (checkpoint-expired): failover #1 (global failover)"));
}

/// The checkpoint history (the JobManager's CheckpointStatsTracker) agrees with the trace, and
/// shows what the question scenario is about: alignment of about the link's latency (20 ms),
/// 300 ms more while the link is slow, and uploads of about 0.5 s during which the count
/// subtasks went on taking in records.
#[test]
fn the_checkpoint_history_shows_alignment_and_processing_during_uploads() {
    use recoverysim::cluster::jobmanager::stats::CheckpointStatus;
    let sc = recoverysim::scenario::load_file("scenarios/checkpoint-blocking.toml".as_ref()).expect("shipped scenario");
    let run = simulate(&sc);
    let h = &run.outcome.checkpoint_history;
    let completed: Vec<_> = h.iter().filter(|c| c.status == CheckpointStatus::Completed).collect();
    assert_eq!(completed.len() as u64, run.outcome.checkpoints_completed);
    let notes: Vec<(u64, u64, u64)> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::CheckpointCompleted { cp, bytes, alignment_us, .. } => Some((cp, bytes, alignment_us)),
            _ => None,
        })
        .collect();
    let rows: Vec<(u64, u64, u64)> = completed.iter().map(|c| (c.id, c.bytes, c.max_alignment_us)).collect();
    assert_eq!(rows, notes, "id, size and alignment as the trace has them");
    assert!(completed.iter().all(|c| c.acknowledged == c.subtasks && c.ended_at_us.is_some()));
    // While the link is slow (8 s to 14 s) a barrier waits 300 ms more.
    let slow = |c: &&&recoverysim::cluster::jobmanager::stats::CheckpointStats| {
        (8_000_000..14_000_000).contains(&c.triggered_at_us)
    };
    assert!(completed.iter().filter(slow).any(|c| c.max_alignment_us >= 300_000), "{rows:?}");
    assert!(completed.iter().filter(|c| !slow(c)).all(|c| c.max_alignment_us <= 25_000), "{rows:?}");
    // Uploads of 50 MB per count subtask at 100 MB/s, while records kept coming in.
    let busy = &completed[completed.len() / 2];
    assert!(busy.max_async_us >= 500_000, "{:?}", busy.max_async_us);
    assert!(busy.processed_during_async > 100, "{}", busy.processed_during_async);
    // Per-subtask details for the latest ten only (web.checkpoints.history).
    assert_eq!(h.iter().filter(|c| !c.tasks.is_empty()).count(), 10.min(h.len()));
}

/// A submission while the job still runs waits for its end (one job at a time), and the run
/// goes on for it: cancelled at 10.5 s, the job submitted at 8 s starts from the retained chk-10.
#[test]
fn a_submission_while_the_job_runs_waits_for_its_end() {
    let text = std::fs::read_to_string("scenarios/resubmit-from-retained-checkpoint.toml")
        .expect("bundled scenario")
        .replace("at = \"15s\"", "at = \"8s\"");
    let sc = recoverysim::scenario::parse_str("deferred.toml", &text).expect("valid scenario");
    let run = simulate(&sc);
    let waited = run.outcome.notes.iter().find_map(|e| match &e.note {
        Note::JobOperation { text, .. } if text.contains("waits until this job has ended") => Some(e.at_us),
        _ => None,
    });
    assert_eq!(waited, Some(8_000_000));
    let submitted = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::JobSubmitted { job: 1, restore } => Some((e.at_us, restore)),
        _ => None,
    });
    let (at, restore) = submitted.expect("the waiting submission went ahead");
    assert!((10_500_000..11_000_000).contains(&at), "right after the cancel: {at}");
    assert_eq!(restore, Some(10));
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}
