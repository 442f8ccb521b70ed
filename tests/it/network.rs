//! Processes that learn only from messages: lost and frozen hosts, partitions, lost messages,
//! graceful stops, zombies and fencing, JobManager failure with and without HA. Each test runs a
//! shipped scenario and checks what the timeline must show.

use recoverysim::check::Verdict;
use recoverysim::cluster::state::JobStatus;
use recoverysim::run::{Run, simulate};
use recoverysim::scenario::{Scenario, load_file};
use recoverysim::trace::{AbortReason, Detection, FailureCause, Note};

fn scenario(name: &str) -> Scenario {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn first_tm_lost(run: &Run, tm: u32) -> Option<(u64, Detection)> {
    run.outcome.notes.iter().find_map(|e| match e.note {
        Note::TaskManagerLost { tm: t, detection } if t == tm => Some((e.at_us, detection)),
        _ => None,
    })
}

#[test]
fn the_jobmanager_believes_a_frozen_taskmanager_alive_until_its_heartbeat_timeout() {
    let sc = scenario("tm-frozen-zombie.toml");
    let run = simulate(&sc);
    let freeze = 20_050_000;
    let (at, detection) = first_tm_lost(&run, 1).expect("the JobManager gives tm-1 up");
    // Nothing but the heartbeat monitors can notice a frozen process: no reset, no refusal.
    assert!(matches!(detection, Detection::HeartbeatTimeout | Detection::RmHeartbeatTimeout), "{detection:?}");
    let (timeout, interval) = (sc.flink.heartbeat_timeout_us, sc.flink.heartbeat_interval_us);
    assert!(at >= freeze + timeout - interval && at <= freeze + timeout, "lost at {at}");
    // Until then the JobManager saw nothing wrong: no failover started earlier.
    assert!(run.outcome.failovers.iter().all(|f| f.detected_at_us >= at));
    assert_eq!(run.outcome.failovers.len(), 1);
    assert!(!run.outcome.failovers.iter().any(|f| matches!(f.cause, FailureCause::ConnectionLost { .. })));
}

#[test]
fn a_zombie_is_fenced_and_nothing_it_wrote_is_committed_and_without_fencing_duplicates_appear() {
    let mut sc = scenario("tm-frozen-zombie.toml");
    let run = simulate(&sc);
    let zombies = run.outcome.store.zombies();
    assert!(!zombies.is_empty(), "the woken zombie's writes reach the store");
    assert!(zombies.iter().all(|z| z.records > 0 && z.attempt == 0));
    assert!(run.outcome.notes.iter().any(|e| matches!(e.note, Note::ZombieFenced { .. })));
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    sc.bugs.no_fencing = true;
    let bad = simulate(&sc);
    assert!(bad.outcome.store.zombies().is_empty(), "nothing is refused without fencing");
    assert!(bad.output.duplicated > 0, "{:?}", bad.output);
    assert!(
        bad.outcome.violations.iter().any(|v| v.contains("two live attempts")),
        "the store saw two live attempts write: {:?}",
        bad.outcome.violations
    );
    assert_ne!(bad.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn a_lost_host_is_noticed_only_by_heartbeat_timeouts() {
    let sc = scenario("tm-host-lost.toml");
    let run = simulate(&sc);
    let (at, detection) = first_tm_lost(&run, 1).expect("the JobManager gives tm-1 up");
    assert!(matches!(detection, Detection::HeartbeatTimeout | Detection::RmHeartbeatTimeout), "{detection:?}");
    assert!(at >= 20_000_000 + sc.flink.heartbeat_timeout_us - sc.flink.heartbeat_interval_us);
    assert!(!run.outcome.failovers.iter().any(|f| matches!(f.cause, FailureCause::ConnectionLost { .. })));
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn a_partition_between_jobmanager_and_taskmanager_times_out_on_both_sides_and_heals() {
    let sc = scenario("partition-jm-tm.toml");
    let run = simulate(&sc);
    assert!(first_tm_lost(&run, 1).is_some());
    // tm-1 finds out by itself, from its own JobManager heartbeat monitor.
    let own = run.outcome.notes.iter().find(
        |e| matches!(&e.note, Note::JobManagerLostByTaskManager { tm: 1, reason } if reason.contains("timed out")),
    );
    assert!(own.is_some(), "tm-1's own heartbeat monitor times out");
    let healed = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::PartitionHealed { released, .. } => Some((e.at_us, released)),
        _ => None,
    });
    let (heal_at, released) = healed.expect("the partition heals");
    assert!(released > 0, "held messages are delivered late");
    let back = run
        .outcome
        .notes
        .iter()
        .any(|e| e.at_us >= heal_at && matches!(e.note, Note::TaskManagerRegistered { tm: 1, .. }));
    assert!(back, "tm-1 registers again after the partition heals");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn a_stalled_data_connection_is_found_only_by_the_checkpoint_timeout() {
    let sc = scenario("partition-tm-tm.toml");
    let run = simulate(&sc);
    let f = &run.outcome.failovers[0];
    assert_eq!(f.cause, FailureCause::CheckpointExpired);
    assert!(
        f.detected_at_us >= 20_000_000 + sc.flink.checkpoint_timeout_us - sc.flink.checkpoint_interval_us.unwrap_or(0)
    );
    assert!(first_tm_lost(&run, 0).is_none() && first_tm_lost(&run, 1).is_none(), "heartbeats see nothing");
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
}

#[test]
fn lost_acknowledgements_expire_the_checkpoint_and_lost_notifications_only_delay_commits() {
    let run = simulate(&scenario("lost-checkpoint-acks.toml"));
    assert!(run.outcome.notes.iter().any(|e| matches!(e.note, Note::MessageLost { .. })));
    assert!(
        run.outcome
            .notes
            .iter()
            .any(|e| matches!(e.note, Note::CheckpointAborted { reason: AbortReason::Expired, .. }))
    );
    assert!(run.outcome.failovers.is_empty());
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    let run = simulate(&scenario("lost-notify-complete.toml"));
    assert!(run.outcome.notes.iter().any(|e| matches!(e.note, Note::MessageLost { .. })));
    assert!(run.outcome.failovers.is_empty());
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    assert_eq!(run.output.lost, 0);
}

#[test]
fn a_graceful_stop_is_noticed_in_milliseconds() {
    let run = simulate(&scenario("graceful-stop.toml"));
    let f = &run.outcome.failovers[0];
    assert!(matches!(f.cause, FailureCause::TaskExecutorShuttingDown { tm: 1 }), "{:?}", f.cause);
    let after = f.detected_at_us - 15_000_000;
    assert!((5_000..=25_000).contains(&after), "measured on Flink: 18 ms; here {after} µs");
    let run = simulate(&scenario("rolling-update.toml"));
    assert_eq!(run.outcome.failovers.len(), 2);
    assert!(run.outcome.failovers.iter().all(|f| matches!(f.cause, FailureCause::TaskExecutorShuttingDown { .. })));
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
    // Each pod deleted is a step of the fault: every failover's recovery time counts from the
    // step that caused it (about a second: the restart delay), not from the update's start.
    let steps = run
        .outcome
        .notes
        .iter()
        .filter(|e| matches!(&e.note, Note::FaultInjected { text, .. } if text.starts_with("rolling-update step")))
        .count();
    assert_eq!(steps, 2);
    for f in &run.outcome.failovers {
        let p = recoverysim::report::human::recovery_phases(&run, f).expect("recovered");
        assert!(p.recovery_us() < 2_000_000, "recovery {} µs from {:?}", p.recovery_us(), p.fault_at_us);
    }
}

#[test]
fn a_jobmanager_crash_loses_the_job_without_ha_and_is_recovered_with_ha() {
    let run = simulate(&scenario("jm-kill-no-ha.toml"));
    assert_eq!(run.outcome.job_status, JobStatus::NotFound);
    assert!(run.output.pending > 0, "what was not committed stays uncommitted");
    let sc = scenario("jm-kill-ha.toml");
    let run = simulate(&sc);
    let elected = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::LeaderElected { checkpoint, .. } => Some((e.at_us, checkpoint)),
        _ => None,
    });
    let (at, cp) = elected.expect("a new leader");
    assert!(at >= 20_000_000 + sc.flink.k8s_lease_duration_us, "not before the old lease expired");
    assert!(cp.is_some(), "it restores the latest completed checkpoint");
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn a_partition_request_that_arrives_before_its_producer_is_deployed_waits_for_it() {
    use recoverysim::fault::{FaultAction, FaultSpec, FaultTrigger, HostRef, MessageKind, MessageRule};
    let mut sc = recoverysim::scenario::testing::keyed_job(2, 2);
    sc.flink.load_balance = recoverysim::cluster::config::LoadBalanceMode::Slots;
    // Deployments to tm-0 arrive 200 ms late: consumers elsewhere are RUNNING and ask tm-0 for
    // their inputs before the producers there exist.
    let rule = MessageRule {
        kind: MessageKind::SubmitTask,
        from: vec![],
        to: vec![HostRef::TaskManager(0)],
        probability: 1.0,
        until_us: Some(1_000_000),
    };
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: 0 },
        action: FaultAction::DelayMessages { rule, delay_us: 200_000 },
    });
    let run = simulate(&sc);
    assert_eq!(run.outcome.job_status, JobStatus::Finished);
    assert!(run.outcome.failovers.is_empty());
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce);
}

/// Regression (found by random exploration): a `lose-messages` rule that hit a data buffer
/// dropped records silently (loss, inconsistent checkpoints) and one that hit a credit
/// announcement stalled the channel forever. TCP loses nothing on a live connection: a lost
/// data-plane message breaks the connection, the consumer fails at once and the job recovers.
#[test]
fn a_lost_data_message_breaks_the_connection_and_the_job_recovers_exactly_once() {
    for (seed, kind) in [(1, "data"), (2, "data"), (3, "any")] {
        let text = format!(
            r#"name = "lost data"
seed = {seed}
[flink]
"execution.checkpointing.interval" = "500ms"
"pipeline.operator-chaining.enabled" = false
"restart-strategy.type" = "fixed-delay"
"restart-strategy.fixed-delay.attempts" = 100
[cluster]
taskmanagers = 2
slots-per-taskmanager = 1
channel-capacity = 3
[job]
operators = [
  {{ name = "s", kind = "source", parallelism = 2, partitions = 2, rate = "1000/s", keys = 20, records = 8000 }},
  {{ name = "c", kind = "keyed-count", input = "s", edge = "hash", parallelism = 2 }},
  {{ name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 2 }},
]
[[fault]]
at = "2s"
lose-messages = "{kind}"
from = ["tm-0"]
to = ["tm-1"]
probability = 0.5
until = "2100ms"
"#
        );
        let sc = recoverysim::scenario::parse_str("lost-data.toml", &text).expect("valid scenario");
        let run = simulate(&sc);
        let what = format!("seed {seed}, {kind}");
        assert_eq!(run.outcome.job_status, JobStatus::Finished, "{what}");
        assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{what}: {:?}", run.output);
        assert!(run.cut_violation.is_none(), "{what}: {:?}", run.cut_violation);
        let f = run.outcome.failovers.first().unwrap_or_else(|| panic!("{what}: the broken connection fails a task"));
        assert!(matches!(f.cause, FailureCause::ConnectionLost { .. }), "{what}: {:?}", f.cause);
        assert!(f.failed_at_us < 2_200_000, "{what}: noticed at once, not by a timeout");
    }
}

/// Regression (found by random exploration): a lost or delayed request to the sink store
/// (a producer batch, a commit) lost records — a batch that arrived after its transaction's
/// commit, or never, was simply missing from it. A Kafka client waits `request.timeout.ms` for
/// an answer and sends the request again, and its requests stay in order (commitTransaction
/// flushes what was sent before it); the same holds for checkpoint storage's client.
#[test]
fn lost_or_delayed_requests_to_the_sink_store_and_storage_are_retried_in_order() {
    for (seed, verb, extra) in [
        (1, "lose-messages", ""),
        (2, "lose-messages", ""),
        (3, "delay-messages", "delay = \"5s\"\n"),
        (4, "delay-messages", "delay = \"13s\"\n"),
    ] {
        for host in ["sink-store", "checkpoint-storage"] {
            let text = format!(
                r#"name = "lost store requests"
seed = {seed}
[flink]
"execution.checkpointing.interval" = "500ms"
[cluster]
taskmanagers = 2
slots-per-taskmanager = 1
[job]
operators = [
  {{ name = "s", kind = "source", parallelism = 2, partitions = 2, rate = "1000/s", keys = 20, records = 10000 }},
  {{ name = "c", kind = "keyed-count", input = "s", edge = "hash", parallelism = 2 }},
  {{ name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 2 }},
]
[[fault]]
at = "2s"
{verb} = "any"
to = ["{host}"]
probability = 0.5
until = "3s"
{extra}"#
            );
            let sc = recoverysim::scenario::parse_str("lost-store.toml", &text).expect("valid scenario");
            let run = simulate(&sc);
            let what = format!("seed {seed}, {verb} to {host}");
            assert!(run.outcome.rule_hits.iter().any(|&(_, n)| n > 0), "{what}: the rule hit nothing");
            assert_eq!(run.outcome.job_status, JobStatus::Finished, "{what}");
            assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{what}: {:?}", run.output);
            assert!(run.outcome.violations.is_empty(), "{what}: {:?}", run.outcome.violations);
            // Retried after the client's timeout (30 s or 60 s), not after the checkpoint
            // timeout (10 min).
            assert!(run.outcome.end_us < 120_000_000, "{what}: finished at {} µs", run.outcome.end_us);
        }
    }
}

/// A keyed job over two TaskManagers without chaining, with `faults` appended.
fn small_keyed_job(name: &str, faults: &str) -> Scenario {
    let text = format!(
        r#"name = "{name}"
seed = 1
[flink]
"execution.checkpointing.interval" = "500ms"
"restart-strategy.type" = "fixed-delay"
"restart-strategy.fixed-delay.attempts" = 100
"pipeline.operator-chaining.enabled" = false
[cluster]
taskmanagers = 2
slots-per-taskmanager = 1
[job]
operators = [
  {{ name = "s", kind = "source", parallelism = 2, partitions = 2, rate = "1000/s", keys = 20, records = 6000 }},
  {{ name = "c", kind = "keyed-count", input = "s", edge = "hash", parallelism = 2 }},
  {{ name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 2 }},
]
{faults}"#
    );
    recoverysim::scenario::parse_str("rpc.toml", &text).expect("valid scenario")
}

fn assert_recovers(run: &Run, what: &str) {
    assert_eq!(run.outcome.job_status, JobStatus::Finished, "{what}");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{what}: {:?}", run.output);
    assert!(run.outcome.violations.is_empty(), "{what}: {:?}", run.outcome.violations);
}

/// Regressions (found by random exploration): lost RPCs that Flink recovers from left the
/// simulated job stuck. A lost triggerCheckpoint held the checkpoint until its 10-minute timeout
/// (and then failed the job over); in Flink the trigger is an ask whose timeout aborts the
/// checkpoint, uncounted. A lost INITIALIZING/RUNNING update left the JobMaster waiting forever
/// (no checkpoint could start); in Flink the update is an ask whose failure fails the task. A
/// lost terminal update (CANCELED, FINISHED) left the attempt CANCELING or RUNNING forever; in
/// Flink the JobMaster's deployment reconciliation on the next heartbeat fails it. An update
/// overtaken by the next one left the attempt DEPLOYING forever; Flink fails it.
#[test]
fn lost_rpcs_are_recovered_as_flink_does() {
    let lose = |kind: &str, from: &str, at: &str, until: &str| {
        format!("[[fault]]\nat = \"{at}\"\nlose-messages = \"{kind}\"\n{from}until = \"{until}\"\n")
    };
    // A lost trigger: aborted after pekko.ask.timeout, not counted, no failover.
    let run = simulate(&small_keyed_job("trigger", &lose("trigger-checkpoint", "", "1s", "1600ms")));
    assert_recovers(&run, "lost trigger");
    assert!(run.outcome.failovers.is_empty());
    let aborted = run.outcome.notes.iter().find_map(|e| match e.note {
        Note::CheckpointAborted { reason, .. } => Some((e.at_us, reason)),
        _ => None,
    });
    let (at, reason) = aborted.expect("the checkpoint is aborted");
    assert_eq!(reason, AbortReason::TriggerFailed);
    assert!(at <= 1_600_000 + 10_000_000 + 10_000, "aborted at {at} µs, after pekko.ask.timeout");
    // Lost RUNNING updates of restarted attempts: the TaskExecutor fails them after the timeout.
    let faults = format!(
        "[[fault]]\nat = \"1s\"\nfail-task = \"c[0]\"\n{}",
        lose("task-state-update", "from = [\"tm-0\"]\n", "2s", "2100ms")
    );
    let run = simulate(&small_keyed_job("running", &faults));
    assert_recovers(&run, "lost RUNNING update");
    assert!(run.outcome.failovers.iter().any(|f| matches!(f.cause, FailureCause::StateUpdateFailed { tm: 0 })));
    // Lost CANCELED updates: reconciliation ends the cancellation, the restart goes on.
    let faults = format!(
        "[[fault]]\nat = \"1s\"\nfail-task = \"c[0]\"\n{}",
        lose("task-state-update", "from = [\"tm-0\"]\n", "1s", "3s")
    );
    let run = simulate(&small_keyed_job("canceled", &faults));
    assert_recovers(&run, "lost CANCELED update");
    assert_eq!(run.outcome.failovers.len(), 1);
    assert!(run.outcome.failovers[0].restart_at_us.is_some_and(|t| t < 12_000_000), "{:?}", run.outcome.failovers[0]);
    // Lost FINISHED updates: reconciliation fails the attempts the TaskManagers no longer run.
    let run = simulate(&small_keyed_job("finished", &lose("task-state-update", "", "6050ms", "6300ms")));
    assert_recovers(&run, "lost FINISHED update");
    assert!(run.outcome.failovers.iter().any(|f| matches!(f.cause, FailureCause::NotRunningOnTaskExecutor { .. })));
    // A RUNNING update that overtakes the delayed INITIALIZING one: the JobMaster fails the
    // attempt (Execution.switchTo), it used to wait in DEPLOYING forever.
    let faults = "[[fault]]\nat = \"1s\"\nfail-task = \"c[0]\"\n[[fault]]\nat = \"2s\"\ndelay-messages = \"task-state-update\"\ndelay = \"1s\"\nuntil = \"2015ms\"\n";
    let run = simulate(&small_keyed_job("overtaken", faults));
    assert_recovers(&run, "RUNNING overtakes INITIALIZING");
    assert!(run.outcome.failovers.iter().any(|f| matches!(f.cause, FailureCause::UnexpectedTransition { .. })));
}

/// Regression (found by random exploration): after a JobManager failover with HA the new
/// leader handed out again the id of a checkpoint the old leader had triggered but not
/// completed (the id counter came only from completed checkpoints). A TaskManager still held
/// its local copy of that never-completed checkpoint, and a later restore with local recovery
/// took it for the new checkpoint of the same id: records lost, an inconsistent cut. Flink's
/// CheckpointIDCounter lives in the HA store and is incremented at every trigger.
#[test]
fn a_new_leader_never_reuses_a_checkpoint_id_the_old_one_triggered() {
    let text = r#"name = "checkpoint id reused after a JobManager failover"
seed = 5021
[flink]
"execution.checkpointing.interval" = "200ms"
"restart-strategy.type" = "fixed-delay"
"restart-strategy.fixed-delay.attempts" = 1000
"restart-strategy.fixed-delay.delay" = "1641ms"
"execution.state-recovery.from-local" = true
"high-availability.type" = "KUBERNETES"
[cluster]
taskmanagers = 3
slots-per-taskmanager = 2
resource-manager = "active"
[job]
operators = [
  { name = "s", kind = "source", parallelism = 2, partitions = 4, rate = "1559/s", keys = 40, records = 37416 },
  { name = "f", kind = "filter", modulo = 3, remainder = 1, input = "s", edge = "forward", parallelism = 2 },
  { name = "c", kind = "keyed-sum", input = "f", edge = "hash", parallelism = 3 },
  { name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 3 },
]
[[fault]]
at = "6822ms"
kill-jobmanager = true
[[fault]]
at = "21953ms"
kill-taskmanager = 1
"#;
    let sc = recoverysim::scenario::parse_str("ha-ids.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_recovers(&run, "JobManager failover, then a TaskManager kill with local recovery");
    assert!(run.cut_violation.is_none(), "{:?}", run.cut_violation);
    // The new leader restores checkpoint n and continues after every id the old one triggered.
    let mut triggered = Vec::new();
    for e in &run.outcome.notes {
        if let Note::CheckpointTriggered { cp } = e.note {
            assert!(!triggered.contains(&cp), "checkpoint id {cp} triggered twice");
            triggered.push(cp);
        }
    }
}

/// Regression (found by random exploration): a triggerCheckpoint delayed past its ask timeout
/// (so its checkpoint was aborted) reached the source after the trigger of the next checkpoint.
/// The source snapshotted the older checkpoint after the newer one, pre-committed the sink's
/// open transaction under it and moved its checkpoint counter backwards: that transaction was
/// never committed (lingering, records lost). Flink ignores a trigger or barrier of a checkpoint
/// older than the last one it took or heard was aborted.
#[test]
fn a_trigger_overtaken_by_a_newer_one_is_ignored() {
    let text = r#"name = "out-of-order triggers"
seed = 3460
[flink]
"execution.checkpointing.interval" = "200ms"
"execution.checkpointing.tolerable-failed-checkpoints" = 3
"high-availability.type" = "KUBERNETES"
[cluster]
taskmanagers = 2
slots-per-taskmanager = 2
resource-manager = "active"
[job]
operators = [
  { name = "s", kind = "source", parallelism = 1, partitions = 3, rate = "1378/s", keys = 40, records = 17914 },
  { name = "m", kind = "map", input = "s", edge = "forward", parallelism = 1 },
  { name = "k", kind = "sink", input = "m", edge = "forward", parallelism = 1 },
]
[[fault]]
at = "1214ms"
delay-messages = "any"
probability = 0.5
until = "6179ms"
delay = "13443ms"
"#;
    let sc = recoverysim::scenario::parse_str("out-of-order.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_recovers(&run, "a delayed trigger");
    assert!(
        run.outcome
            .notes
            .iter()
            .any(|e| matches!(e.note, Note::CheckpointAborted { reason: AbortReason::TriggerFailed, .. })),
        "the delayed trigger's checkpoint is aborted"
    );
}

/// Regression (found by random exploration): an initTransactions of an old attempt, held by a
/// partition between its TaskManager and the sink store until long after that attempt was
/// replaced, arrived after the current attempt's and bumped the producer epoch: the current
/// attempt was fenced, none of its pre-commits was answered, and the job never finished. In
/// Kafka that late request only touches the transactional id of a checkpoint the current attempt
/// has moved past; it fences no one the job still uses.
#[test]
fn a_late_init_transactions_of_a_replaced_attempt_fences_no_one() {
    let text = r#"name = "late initTransactions"
seed = 8710
[flink]
"execution.checkpointing.interval" = "200ms"
"heartbeat.interval" = "1s"
"heartbeat.timeout" = "5s"
"jobmanager.execution.failover-strategy" = "full"
"taskmanager.load-balance.mode" = "SLOTS"
"pipeline.operator-chaining.enabled" = false
[cluster]
taskmanagers = 2
slots-per-taskmanager = 2
channel-capacity = 1
[job]
operators = [
  { name = "s", kind = "source", parallelism = 1, partitions = 1, rate = "1184/s", keys = 40, records = 24864 },
  { name = "c", kind = "keyed-count", input = "s", edge = "hash", parallelism = 2 },
  { name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 2 },
]
[[fault]]
at = "11414ms"
partition = [["tm-0"], ["sink-store"]]
heal-at = "34639ms"
[[fault]]
at = "13852ms"
rolling-update = "6238ms"
[[fault]]
at = "17329ms"
fail-task = "c[0]"
"#;
    let sc = recoverysim::scenario::parse_str("late-init.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_recovers(&run, "a late initTransactions");
    assert!(run.outcome.end_us < 60_000_000, "finished at {} µs", run.outcome.end_us);
}

/// Regression (found by random exploration): a state download held by a partition between a
/// TaskManager and checkpoint storage reached storage after the checkpoint had been discarded
/// (its attempt replaced long before); the engine called that a broken protocol. In Flink the
/// reader gets FileNotFoundException and its task fails; nobody else cares.
#[test]
fn a_late_download_of_a_discarded_checkpoint_is_no_violation() {
    let text = r#"name = "late download"
seed = 11497
[flink]
"execution.checkpointing.interval" = "1s"
"restart-strategy.type" = "fixed-delay"
"restart-strategy.fixed-delay.attempts" = 1000
"restart-strategy.fixed-delay.delay" = "504ms"
"taskmanager.load-balance.mode" = "SLOTS"
[cluster]
taskmanagers = 2
slots-per-taskmanager = 2
channel-capacity = 1
[job]
operators = [
  { name = "s", kind = "source", parallelism = 1, partitions = 3, rate = "1662/s", keys = 40, records = 41550 },
  { name = "m", kind = "map", input = "s", edge = "rebalance", parallelism = 2 },
  { name = "c", kind = "keyed-count", input = "m", edge = "hash", parallelism = 1 },
  { name = "k", kind = "sink", input = "c", edge = "forward", parallelism = 1 },
]
[[fault]]
at = "16446ms"
partition = [["tm-1"], ["checkpoint-storage"]]
heal-at = "42082ms"
[[fault]]
at = "21878ms"
rolling-update = "4125ms"
"#;
    let sc = recoverysim::scenario::parse_str("late-download.toml", text).expect("valid scenario");
    let run = simulate(&sc);
    assert_recovers(&run, "a late download");
}

/// `concurrent-checkpoints.toml` with its task failure fired by the arrival of the first
/// acknowledgement its delay made late, instead of at 5.6 s.
fn late_delivery_scenario() -> Scenario {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/concurrent-checkpoints.toml");
    let text = std::fs::read_to_string(path).expect("shipped");
    assert!(text.contains("at = \"5.6s\"\nfail-task"), "the scenario's task failure");
    let text = text.replace("at = \"5.6s\"\nfail-task", "at-late-delivery = 1\nfail-task");
    recoverysim::scenario::parse_str("late.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_fault_fires_when_a_late_message_arrives_and_catches_an_overtaken_checkpoint_completing() {
    let mut sc = late_delivery_scenario();
    let run = simulate(&sc);
    let fired = run.outcome.notes.iter().find_map(|e| match &e.note {
        Note::FaultInjected { fault: 1, text } => Some((e.at_us, text.clone())),
        _ => None,
    });
    let (at, text) = fired.expect("the late acknowledgement arrives and the fault fires");
    assert_eq!(text, "fail-task count[0] (late message 1 of fault 1 arrived)");
    // Delayed by 500 ms from [5.0 s, 5.15 s]: the first one arrives after 5.5 s.
    assert!((5_500_000..5_700_000).contains(&at), "fired at {at}");
    assert_eq!(run.output.verdict, Verdict::ExactlyOnce, "{:?}", run.output);
    // With the planted bug the overtaken checkpoint completes on that acknowledgement, is the
    // latest when the task fails, and the restart replays committed output.
    sc.bugs.no_subsume_pending = true;
    let bad = simulate(&sc);
    assert!(bad.output.duplicated > 0, "{:?}", bad.output);
    assert_ne!(bad.output.verdict, Verdict::ExactlyOnce);
}

#[test]
fn a_late_delivery_trigger_names_an_earlier_fault_that_makes_messages_late() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/keyed-tm-kill.toml");
    let text = std::fs::read_to_string(path).expect("shipped");
    let cut = text.find("[[fault]]").expect("a fault");
    let err = |faults: &str| match recoverysim::scenario::parse_str("t.toml", &format!("{}{faults}", &text[..cut])) {
        Ok(_) => panic!("accepted: {faults}"),
        Err(e) => e.to_string(),
    };
    let kill = "[[fault]]\nat = \"5s\"\nkill-taskmanager = 1\n\n";
    let e = err(&format!("{kill}[[fault]]\nat-late-delivery = 2\nkill-taskmanager = 0\n"));
    assert!(e.contains("no earlier fault 2 (this is fault 2)") && e.contains("t.toml:"), "{e}");
    let e = err(&format!("{kill}[[fault]]\nat-late-delivery = 1\nkill-taskmanager = 0\n"));
    assert!(e.contains("fault 1 makes no message late"), "{e}");
    let delay = "[[fault]]\nat = \"5s\"\ndelay-messages = \"any\"\ndelay = \"50ms\"\n\n";
    let e = err(&format!("{delay}[[fault]]\nat-late-delivery = 1\nnth = 0\nkill-taskmanager = 0\n"));
    assert!(e.contains("`nth` counts from 1"), "{e}");
    let e = err("[[fault]]\nat = \"5s\"\nnth = 2\nkill-taskmanager = 0\n");
    assert!(e.contains("`nth` goes with `at-late-delivery`"), "{e}");
    let ok = format!("{}{delay}[[fault]]\nat-late-delivery = 1\nnth = 3\nkill-taskmanager = 0\n", &text[..cut]);
    let sc = recoverysim::scenario::parse_str("t.toml", &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.faults[1].trigger, recoverysim::fault::FaultTrigger::AtLateDelivery { of: 0, nth: 3 });
}
