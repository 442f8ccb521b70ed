//! The loader's tests: defaults, values and errors of every table, each error at its position.

use super::*;
use crate::cluster::config::{CheckpointRetention, FailoverStrategy, FlinkConfig, HaKind, RestartStrategy};
use crate::fault::{FaultAction, FaultTrigger, HostRef, MessageKind, MessageRule};
use crate::job::spec::{EdgeKind, OperatorId, OperatorKind, SinkSemantic};

const MINIMAL: &str = r#"
name = "m"
duration = "2s"
[job]
operators = [
  { name = "src", kind = "source", parallelism = 2, rate = "100/s" },
  { name = "count", kind = "keyed-count", input = "src", parallelism = 2 },
  { name = "out", kind = "sink", input = "count", parallelism = 2 },
]
"#;

#[test]
fn defaults_are_flinks() {
    let sc = parse_str("m.toml", MINIMAL).expect("valid");
    let f = &sc.flink;
    assert_eq!(f.checkpoint_interval_us, None);
    assert_eq!(f.max_concurrent_checkpoints, 1);
    assert_eq!(f.restart_strategy, RestartStrategy::None, "no checkpointing: no restarts");
    assert_eq!(f.heartbeat_interval_us, 10_000_000);
    assert_eq!(f.heartbeat_timeout_us, 50_000_000);
    assert_eq!(f.heartbeat_rpc_failure_threshold, Some(2));
    assert_eq!(f.slot_request_timeout_us, 300_000_000);
    assert_eq!(f.failover_strategy, FailoverStrategy::Region);
    assert_eq!(f.checkpoints_retained, 1);
    assert!(sc.job.chaining);
    assert_eq!(sc.job.operators[1].input, Some((OperatorId(0), EdgeKind::Hash)));
    assert_eq!(sc.job.operators[2].input, Some((OperatorId(1), EdgeKind::Forward)));
    assert_eq!(sc.job.operators[2].kind, OperatorKind::Sink(SinkSemantic::TwoPhaseCommit));
    // StreamGraph: without a partitioner, unequal parallelisms get rebalance.
    let wider = MINIMAL.replace(
        "{ name = \"out\", kind = \"sink\", input = \"count\", parallelism = 2 }",
        "{ name = \"out\", kind = \"sink\", input = \"count\", parallelism = 3 }",
    );
    assert_ne!(wider, MINIMAL);
    let sc3 = parse_str("m.toml", &wider).expect("valid");
    assert_eq!(sc3.job.operators[2].input, Some((OperatorId(1), EdgeKind::Rebalance)));
    assert_eq!(sc.cluster.taskmanagers, 1);
    assert_eq!(sc.drain_us, 600_000_000);
    let with_cp = MINIMAL.replace("[job]", "[flink]\n\"execution.checkpointing.interval\" = \"1 s\"\n[job]");
    let sc = parse_str("m.toml", &with_cp).expect("valid");
    assert_eq!(sc.flink.checkpoint_interval_us, Some(1_000_000));
    assert!(matches!(
        sc.flink.restart_strategy,
        RestartStrategy::ExponentialDelay { initial_backoff_us: 1_000_000, max_backoff_us: 60_000_000, .. }
    ));
}

#[test]
fn errors_point_at_the_offending_value() {
    let bad = MINIMAL.replace("parallelism = 2, rate", "parallelism = 2000, rate");
    let e = parse_str("m.toml", &bad).expect_err("parallelism too large");
    assert_eq!(e.position, Some((6, 50)));
    assert!(e.message.contains("parallelism"));
    let bad = MINIMAL.replace("input = \"count\"", "input = \"out\"");
    let e = parse_str("m.toml", &bad).expect_err("input is itself / later");
    assert_eq!(e.position.map(|p| p.0), Some(8));
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("declared before")), "{e}");
    let bad = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nkill-taskmanager = 0\nfail-task = \"src[0]\"\n");
    let e = parse_str("m.toml", &bad).expect_err("two actions");
    assert!(e.message.contains("exactly one action"), "{e}");
    let bad = format!("{MINIMAL}\n[[fault]]\nat-record = 5\nkill-taskmanager = 0\n");
    let e = parse_str("m.toml", &bad).expect_err("at-record needs fail-task");
    assert!(e.message.contains("at-record"), "{e}");
}

/// MINIMAL with three TaskManagers and `extra` appended.
fn three_tms(extra: &str) -> String {
    format!("{}\n[cluster]\ntaskmanagers = 3\n{extra}", MINIMAL.replace("[job]", "[flink]\n[job]"))
}

fn flink_with(keys: &str) -> Res<FlinkConfig> {
    parse_str("m.toml", &MINIMAL.replace("[job]", &format!("[flink]\n{keys}\n[job]"))).map(|sc| sc.flink)
}

/// 1-based line and column of the last `needle` in `part`, a part of `text`.
fn position_of(text: &str, part: &str, needle: &str) -> (usize, usize) {
    let start = text.find(part).expect("part of the text");
    line_col(text, start + part.rfind(needle).unwrap_or_else(|| panic!("{needle:?} not in {part:?}")))
}

#[test]
fn new_fault_kinds_parse_into_their_actions() {
    let text = three_tms(
        r#"
[[fault]]
at = "12s"
lose-taskmanager-host = 1

[[fault]]
at = "12s"
freeze-taskmanager = 2
duration = "70s"

[[fault]]
at = "10s"
partition = [["jobmanager", "ha-store"], ["tm-1", "checkpoint-storage", "sink-store"]]
one-way = true
heal-at = "40s"

[[fault]]
at = "10s"
partition = [["tm-0"], ["tm-2"]]

[[fault]]
at = "10s"
lose-messages = "acknowledge-checkpoint"
from = ["tm-1"]
to = ["jobmanager"]
probability = 0.5
until = "20s"

[[fault]]
at = "10s"
lose-messages = "heartbeat"

[[fault]]
at = "10s"
delay-messages = "notify-checkpoint-complete"
delay = "3s"
probability = 1

[[fault]]
at = "20s"
stop-taskmanager = 0

[[fault]]
at = "20s"
rolling-update = "10s"

[[fault]]
at = "20s"
kill-jobmanager = true

[[fault]]
at = "1s"
kill-taskmanager = 2

[[fault]]
at = "5s"
restart-taskmanager = 2
"#,
    );
    let sc = parse_str("m.toml", &text).expect("valid");
    let at = |s: u64| FaultTrigger::At { at_us: s * 1_000_000 };
    let rule = |kind, from, to, probability, until_us| MessageRule { kind, from, to, probability, until_us };
    let want = vec![
        (at(12), FaultAction::LoseTaskManagerHost(1)),
        (at(12), FaultAction::FreezeTaskManager { tm: 2, duration_us: 70_000_000 }),
        (
            at(10),
            FaultAction::Partition {
                a: vec![HostRef::JobManager, HostRef::HaStore],
                b: vec![HostRef::TaskManager(1), HostRef::CheckpointStorage, HostRef::SinkStore],
                one_way: true,
                heal_at_us: Some(40_000_000),
            },
        ),
        (
            at(10),
            FaultAction::Partition {
                a: vec![HostRef::TaskManager(0)],
                b: vec![HostRef::TaskManager(2)],
                one_way: false,
                heal_at_us: None,
            },
        ),
        (
            at(10),
            FaultAction::LoseMessages(rule(
                MessageKind::AcknowledgeCheckpoint,
                vec![HostRef::TaskManager(1)],
                vec![HostRef::JobManager],
                0.5,
                Some(20_000_000),
            )),
        ),
        (at(10), FaultAction::LoseMessages(rule(MessageKind::Heartbeat, vec![], vec![], 1.0, None))),
        (
            at(10),
            FaultAction::DelayMessages {
                rule: rule(MessageKind::NotifyCheckpointComplete, vec![], vec![], 1.0, None),
                delay_us: 3_000_000,
            },
        ),
        (at(20), FaultAction::StopTaskManager(0)),
        (at(20), FaultAction::RollingUpdate { interval_us: 10_000_000 }),
        (at(20), FaultAction::KillJobManager),
        (at(1), FaultAction::KillTaskManager(2)),
        (at(5), FaultAction::RestartTaskManager(2)),
    ];
    let got: Vec<_> = sc.faults.iter().map(|f| (f.trigger, f.action.clone())).collect();
    assert_eq!(got, want);
    // Every message kind name parses.
    for name in MessageKind::NAMES {
        let text = three_tms(&format!("[[fault]]\nat = \"1s\"\nlose-messages = \"{name}\"\n"));
        let sc = parse_str("m.toml", &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(&sc.faults[0].action, FaultAction::LoseMessages(r) if r.kind.name() == name));
    }
    // fail-task with at-record still works.
    let text = three_tms("[[fault]]\nat-record = 10\npoison = true\nfail-task = \"count[1]\"\n");
    let sc = parse_str("m.toml", &text).expect("valid");
    assert_eq!(sc.faults[0].trigger, FaultTrigger::AtRecord { n: 10, poison: true });
}

#[test]
fn new_flink_keys_and_their_defaults() {
    let f = flink_with("").expect("valid");
    assert_eq!(f.ask_timeout_us, 10_000_000);
    assert_eq!(f.slot_timeout_us, 10_000_000);
    assert_eq!(f.standalone_start_up_us, 300_000_000);
    assert_eq!(f.tolerable_failed_checkpoints, 0);
    assert_eq!(f.ha, HaKind::None);
    assert_eq!(f.zk_session_timeout_us, 60_000_000);
    assert_eq!(f.k8s_lease_duration_us, 15_000_000);
    assert_eq!(f.leader_election_us(), None);
    let sc = parse_str("m.toml", MINIMAL).expect("valid");
    assert_eq!(sc.cluster.jobmanager_restart_delay_us, 5_000_000);

    let f = flink_with(
        r#""pekko.ask.timeout" = "30 s"
"taskmanager.slot.timeout" = "45s"
"resourcemanager.standalone.start-up-time" = 20000
"execution.checkpointing.tolerable-failed-checkpoints" = 3
"high-availability.type" = "zookeeper"
"high-availability.zookeeper.client.session-timeout" = "40s"
"high-availability.kubernetes.leader-election.lease-duration" = "20s""#,
    )
    .expect("valid");
    assert_eq!(f.ask_timeout_us, 30_000_000);
    assert_eq!(f.slot_timeout_us, 45_000_000);
    assert_eq!(f.standalone_start_up_us, 20_000_000, "a bare number is milliseconds");
    assert_eq!(f.tolerable_failed_checkpoints, 3);
    assert_eq!(f.ha, HaKind::Zookeeper);
    assert_eq!(f.zk_session_timeout_us, 40_000_000);
    assert_eq!(f.k8s_lease_duration_us, 20_000_000);
    assert_eq!(f.leader_election_us(), Some(40_000_000));

    // Fallbacks: slot timeout → pekko.ask.timeout, start-up time → slot.request.timeout.
    let f = flink_with("\"pekko.ask.timeout\" = \"25s\"\n\"slot.request.timeout\" = \"2min\"").expect("valid");
    assert_eq!((f.ask_timeout_us, f.slot_timeout_us), (25_000_000, 25_000_000));
    assert_eq!((f.slot_request_timeout_us, f.standalone_start_up_us), (120_000_000, 120_000_000));
    for minus_one in ["-1", "\"-1\""] {
        let keys =
            format!("\"resourcemanager.standalone.start-up-time\" = {minus_one}\n\"slot.request.timeout\" = \"1min\"");
        let f = flink_with(&keys).expect("-1 is Flink's default");
        assert_eq!(f.standalone_start_up_us, 60_000_000);
    }
    // The deprecated alias sets the ask timeout; like Flink, the slot timeout falls back to the
    // key `pekko.ask.timeout` only.
    let f = flink_with("\"akka.ask.timeout\" = \"25s\"").expect("valid");
    assert_eq!((f.ask_timeout_us, f.slot_timeout_us), (25_000_000, 10_000_000));

    // HA kinds, case-insensitive, under the current and the older key.
    for (keys, want) in [
        ("\"high-availability.type\" = \"NONE\"", HaKind::None),
        ("\"high-availability.type\" = \"KUBERNETES\"", HaKind::Kubernetes),
        ("\"high-availability\" = \"ZooKeeper\"", HaKind::Zookeeper),
        ("\"high-availability\" = \"kubernetes\"", HaKind::Kubernetes),
    ] {
        assert_eq!(flink_with(keys).expect(keys).ha, want, "{keys}");
    }
    let f = flink_with("\"high-availability.type\" = \"KUBERNETES\"").expect("valid");
    assert_eq!(f.leader_election_us(), Some(15_000_000));

    let sc =
        parse_str("m.toml", &format!("{MINIMAL}\n[cluster]\njobmanager-restart-delay = \"30s\"\n")).expect("valid");
    assert_eq!(sc.cluster.jobmanager_restart_delay_us, 30_000_000);
}

#[test]
fn bad_new_flink_keys_point_at_the_value() {
    let cases: &[(&str, &str, &str)] = &[
        ("\"taskmanager.slot.timeout\" = \"0s\"", "\"0s\"", "at least 1ms"),
        ("\"pekko.ask.timeout\" = 0", "0", "at least 1ms"),
        ("\"high-availability.type\" = \"etcd\"", "\"etcd\"", "invalid value for \"high-availability.type\""),
        ("\"execution.checkpointing.tolerable-failed-checkpoints\" = -1", "-1", "out of range"),
        (
            "\"pekko.ask.timeout\" = \"10s\"\n\"akka.ask.timeout\" = \"20s\"",
            "\"20s\"",
            "deprecated name of \"pekko.ask.timeout\"",
        ),
        (
            "\"high-availability\" = \"NONE\"\n\"high-availability.type\" = \"ZOOKEEPER\"",
            "\"NONE\"",
            "deprecated name of \"high-availability.type\"",
        ),
        ("\"high-availability.zookeeper.client.session-timeout\" = \"soon\"", "\"soon\"", "invalid duration"),
    ];
    for (keys, at, message) in cases {
        let text = MINIMAL.replace("[job]", &format!("[flink]\n{keys}\n[job]"));
        let e = parse_str("m.toml", &text).expect_err(keys);
        assert!(e.message.contains(message), "{keys}: {e}");
        assert_eq!(e.position, Some(position_of(&text, keys, at)), "{keys}: {e}");
    }
    let e = flink_with("\"high-availability.typ\" = \"NONE\"").expect_err("unknown key");
    assert_eq!(e.hint.as_deref(), Some("did you mean \"high-availability.type\"?"));
    let e = flink_with("\"pekko.ask.timout\" = \"1s\"").expect_err("unknown key");
    assert_eq!(e.hint.as_deref(), Some("did you mean \"pekko.ask.timeout\"?"));
    let text = format!("{MINIMAL}\n[cluster]\njobmanager-restart-delay = \"2 days\"\n");
    let e = parse_str("m.toml", &text).expect_err("too long");
    assert!(e.message.contains("jobmanager-restart-delay"), "{e}");
}

#[test]
fn bad_faults_point_at_the_offending_value() {
    // (the [[fault]] body, where the error points, what the message says, what the hint says)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "at = \"10s\"\npartition = [[\"jobmanagr\"], [\"tm-1\"]]",
            "\"jobmanagr\"",
            "unknown host \"jobmanagr\"",
            "did you mean \"jobmanager\"? hosts: jobmanager, tm-0 … tm-2, checkpoint-storage, sink-store, ha-store",
        ),
        (
            "at = \"10s\"\nlose-messages = \"any\"\nfrom = [\"tm-3\"]",
            "\"tm-3\"",
            "no TaskManager host \"tm-3\"",
            "tm-0 … tm-2",
        ),
        (
            "at = \"10s\"\nlose-messages = \"any\"\nto = [\"tm-01\"]",
            "\"tm-01\"",
            "unknown host",
            "did you mean \"tm-0\"?",
        ),
        ("at = \"10s\"\nfreeze-taskmanager = 3\nduration = \"1s\"", "3", "no TaskManager 3 (the cluster has 3)", ""),
        ("at = \"10s\"\nstop-taskmanager = 7", "7", "no TaskManager 7", ""),
        ("at = \"10s\"\nlose-taskmanager-host = 3", "3", "no TaskManager 3", ""),
        ("at = \"10s\"\nfreeze-taskmanager = 1", "[[fault]]", "a `freeze-taskmanager` fault needs a `duration`", "70s"),
        ("at = \"10s\"\nfreeze-taskmanager = 1\nduration = \"0s\"", "\"0s\"", "`duration` must be longer than 0", ""),
        ("at = \"10s\"\ndelay-messages = \"data\"", "[[fault]]", "a `delay-messages` fault needs a `delay`", ""),
        (
            "at = \"10s\"\nlose-messages = \"data\"\ndelay = \"1s\"",
            "\"1s\"",
            "`delay` is only for delay-messages faults (this one is lose-messages)",
            "",
        ),
        (
            "at = \"10s\"\nkill-taskmanager = 1\nduration = \"1s\"",
            "\"1s\"",
            "`duration` is only for freeze-taskmanager faults",
            "",
        ),
        (
            "at = \"10s\"\nstop-taskmanager = 1\nfrom = [\"jobmanager\"]",
            "[\"jobmanager\"]",
            "`from` is only for lose-messages and delay-messages faults (this one is stop-taskmanager)",
            "",
        ),
        (
            "at = \"10s\"\nlose-messages = \"data\"\none-way = true",
            "true",
            "`one-way` is only for partition faults",
            "",
        ),
        (
            "at = \"10s\"\npartition = [[\"tm-0\"], [\"tm-1\"]]\nheal-at = \"5s\"",
            "\"5s\"",
            "`heal-at` (5s) must be after the fault's `at` (10s)",
            "",
        ),
        (
            "at = \"10s\"\npartition = [[\"tm-0\"], [\"tm-1\"]]\nheal-at = \"10s\"",
            "\"10s\"",
            "must be after the fault's `at`",
            "",
        ),
        (
            "at = \"10s\"\nlose-messages = \"data\"\nuntil = \"1h\"",
            "\"1h\"",
            "`until` is after the end of the run (duration + drain)",
            "leave `until` out",
        ),
        ("at = \"10s\"\nlose-messages = \"data\"\nprobability = 0", "0", "`probability` = 0 must be more than 0", ""),
        ("at = \"10s\"\nlose-messages = \"data\"\nprobability = 1.5", "1.5", "`probability` = 1.5", ""),
        ("at = \"10s\"\nlose-messages = \"data\"\nprobability = nan", "nan", "`probability` = NaN", ""),
        (
            "at = \"10s\"\nlose-messages = \"ack\"",
            "\"ack\"",
            "unknown message kind \"ack\"",
            "message kinds: any, heartbeat, submit-task",
        ),
        (
            "at = \"10s\"\ndelay-messages = \"heartbeats\"\ndelay = \"1s\"",
            "\"heartbeats\"",
            "unknown message kind",
            "did you mean \"heartbeat\"?",
        ),
        ("at = \"10s\"\npartition = [[\"tm-0\"]]", "[[\"tm-0\"]]", "`partition` takes two lists of hosts, not 1", ""),
        ("at = \"10s\"\npartition = [[\"tm-0\"], []]", "[]", "`partition` names no host", ""),
        (
            "at = \"10s\"\npartition = [[\"tm-0\", \"tm-1\"], [\"tm-2\", \"tm-1\"]]",
            "\"tm-1\"]]",
            "\"tm-1\" is on both sides of the partition",
            "",
        ),
        (
            "at = \"10s\"\nlose-messages = \"any\"\nto = [\"tm-0\", \"tm-0\"]",
            "\"tm-0\"]",
            "`to` names \"tm-0\" twice",
            "",
        ),
        ("at = \"10s\"\nlose-messages = \"any\"\nfrom = []", "[]", "`from` names no host", ""),
        ("at-record = 3\nkill-jobmanager = true", "3", "`at-record` only works with `fail-task`", ""),
        ("at = \"10s\"\nkill-jobmanager = false", "false", "`kill-jobmanager` takes `true`", ""),
        ("at = \"10s\"\nrolling-update = \"2 days\"", "\"2 days\"", "`rolling-update` must be at most 24h", ""),
        (
            "at = \"10s\"\nstop-taskmanager = 1\nkill-jobmanager = true",
            "true",
            "a [[fault]] needs exactly one action; this one has `stop-taskmanager` and `kill-jobmanager`",
            "rolling-update = \"10s\", kill-jobmanager = true",
        ),
        ("at = \"10s\"", "[[fault]]", "a [[fault]] needs exactly one action", "lose-taskmanager-host = N"),
        ("at = \"1h\"\nkill-jobmanager = true", "\"1h\"", "the fault is after the end of the run", ""),
    ];
    let text = three_tms("[[fault]]\nat = \"1s\"\npartition = [\"jobmanager\", \"tm-1\"]\n");
    let e = parse_str("m.toml", &text).expect_err("not lists");
    assert_eq!(e.position, Some(position_of(&text, "partition = [\"jobmanager\"", "\"jobmanager\"")), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("[[\"jobmanager\"], [\"tm-1\"]]")), "{e}");
    let text = three_tms("[[fault]]\nat = \"1s\"\nlose-messages = \"any\"\nto = \"tm-1\"\n");
    let e = parse_str("m.toml", &text).expect_err("not a list");
    assert_eq!(e.hint.as_deref(), Some("`to` takes a list of hosts: to = [\"tm-1\"]"), "{e}");
    for (body, at, message, hint) in cases {
        let text = three_tms(&format!("[[fault]]\n{body}\n"));
        let e = parse_str("m.toml", &text).expect_err(body);
        assert!(e.message.contains(message), "{body}:\n{e}");
        assert!(e.hint.as_deref().unwrap_or("").contains(hint), "{body}:\n{e}");
        assert_eq!(e.position, Some(position_of(&text, &format!("[[fault]]\n{body}"), at)), "{body}:\n{e}");
    }
}

#[test]
fn durations_in_flink_and_humantime_forms() {
    assert_eq!(parse_duration_us("250ms"), Some(250_000));
    assert_eq!(parse_duration_us("1 s"), Some(1_000_000));
    assert_eq!(parse_duration_us("10 min"), Some(600_000_000));
    assert_eq!(parse_duration_us("12.99s"), Some(12_990_000));
    assert_eq!(parse_duration_us("1h"), Some(3_600_000_000));
    assert_eq!(parse_duration_us("5 parsecs"), None);
    assert_eq!(parse_duration_us(""), None);
}

#[test]
fn bandwidths() {
    assert_eq!(parse_bandwidth("100MB/s"), Some(100_000_000));
    assert_eq!(parse_bandwidth("1 KiB/s"), Some(1024));
    assert_eq!(parse_bandwidth("100MB"), None);
}

#[test]
fn line_and_column_are_one_based() {
    assert_eq!(line_col("ab\ncd", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
}

#[test]
fn closest_name() {
    assert_eq!(closest("heartbeat.timout", FLINK_KEYS), Some("heartbeat.timeout"));
    assert_eq!(closest("zzz", FLINK_KEYS), None);
}

#[test]
fn keyed_state_size_per_key() {
    let sc = parse_str("m.toml", MINIMAL).expect("valid");
    assert_eq!(sc.job.operators[1].state_bytes_per_key, crate::job::spec::DEFAULT_STATE_BYTES_PER_KEY);
    let sized = MINIMAL
        .replace("input = \"src\", parallelism = 2", "input = \"src\", parallelism = 2, state-per-key = \"4KiB\"");
    assert_ne!(sized, MINIMAL);
    assert_eq!(parse_str("m.toml", &sized).expect("valid").job.operators[1].state_bytes_per_key, 4096);
    let bad = sized.replace("4KiB", "4 parsecs");
    let e = parse_str("m.toml", &bad).expect_err("not a size");
    assert_eq!(e.position, Some(position_of(&bad, "state-per-key = \"4 parsecs\"", "\"4 parsecs\"")));
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("1GiB")), "{e}");
    let e = parse_str("m.toml", &sized.replace("4KiB", "2GiB")).expect_err("absurd");
    assert!(e.message.contains("state-per-key"), "{e}");
    let on_sink = MINIMAL
        .replace("input = \"count\", parallelism = 2", "input = \"count\", parallelism = 2, state-per-key = \"1KB\"");
    let e = parse_str("m.toml", &on_sink).expect_err("a sink has no keyed state");
    assert!(e.message.contains("only for keyed operators"), "{e}");
}

#[test]
fn failure_rate_restart_strategy_with_flinks_defaults() {
    let f = flink_with("\"restart-strategy.type\" = \"failure-rate\"").expect("valid");
    assert_eq!(
        f.restart_strategy,
        RestartStrategy::FailureRate { max_failures: 1, interval_us: 60_000_000, delay_us: 1_000_000 }
    );
    let f = flink_with(
        "\"restart-strategy.type\" = \"failurerate\"\n\"restart-strategy.failure-rate.max-failures-per-interval\" = 3\n\"restart-strategy.failure-rate.failure-rate-interval\" = \"10 s\"\n\"restart-strategy.failure-rate.delay\" = \"250ms\"",
    )
    .expect("valid");
    assert_eq!(
        f.restart_strategy,
        RestartStrategy::FailureRate { max_failures: 3, interval_us: 10_000_000, delay_us: 250_000 }
    );
    let e = flink_with(
        "\"restart-strategy.type\" = \"failure-rate\"\n\"restart-strategy.failure-rate.max-failures-per-interval\" = 0",
    )
    .expect_err("at least one");
    assert!(e.message.contains("max-failures-per-interval"), "{e}");
}

#[test]
fn operations_and_checkpoint_retention() {
    let f = flink_with("").expect("valid");
    assert_eq!(f.checkpoint_retention, CheckpointRetention::NoExternalizedCheckpoints);
    assert_eq!((f.checkpoint_dir.as_deref(), f.savepoint_dir.as_deref()), (None, None));
    let f = flink_with(
        "\"execution.checkpointing.externalized-checkpoint-retention\" = \"RETAIN_ON_CANCELLATION\"\n\"execution.checkpointing.dir\" = \"s3://b/c/\"",
    )
    .expect("valid");
    assert_eq!(f.checkpoint_retention, CheckpointRetention::RetainOnCancellation);
    assert_eq!(f.checkpoint_dir.as_deref(), Some("s3://b/c"));
    assert!(flink_with("\"execution.checkpointing.externalized-checkpoint-retention\" = \"KEEP\"").is_err());
    let sc = parse_str(
        "m.toml",
        &three_tms(
            "[[fault]]\nat = \"5s\"\ncancel-job = true\n[[fault]]\nat = \"6s\"\nstop-with-savepoint = true\n[[fault]]\nat = \"7s\"\nsubmit-job = \"retained-checkpoint\"",
        ),
    )
    .expect("valid");
    let actions: Vec<FaultAction> = sc.faults.iter().map(|f| f.action.clone()).collect();
    assert_eq!(
        actions,
        [
            FaultAction::CancelJob,
            FaultAction::StopWithSavepoint,
            FaultAction::SubmitJob(crate::fault::RestoreFrom::RetainedCheckpoint)
        ]
    );
    let sc =
        parse_str("m.toml", &three_tms("[[fault]]\nat = \"1s\"\nfail-task = \"count[0]\"\nsuppress-restarts = true"))
            .expect("valid");
    assert!(matches!(sc.faults[0].action, FaultAction::FailTaskUnrecoverable(_)));
    let e = parse_str("m.toml", &three_tms("[[fault]]\nat = \"7s\"\nkill-taskmanager = 1\nsuppress-restarts = true"))
        .expect_err("fail-task only");
    assert!(e.message.contains("`suppress-restarts` is only for fail-task"), "{e}");
    let e = parse_str("m.toml", &three_tms("[[fault]]\nat = \"7s\"\nsubmit-job = \"latest\"")).expect_err("unknown");
    assert!(e.message.contains("unknown snapshot to submit from \"latest\""), "{e}");
    let e = parse_str("m.toml", &three_tms("[[fault]]\nat-record = 3\ncancel-job = true")).expect_err("only at a time");
    assert!(e.message.contains("`cancel-job` is an operation of the user"), "{e}");
}

#[test]
fn rescale_and_broadcast_edges_load_and_keyed_state_behind_a_broadcast_is_refused() {
    let text = MINIMAL.replace(
        r#"{ name = "out", kind = "sink", input = "count", parallelism = 2 },"#,
        r#"{ name = "out", kind = "sink", input = "count", edge = "broadcast", parallelism = 3 },
  { name = "less", kind = "sink", input = "count", edge = "rescale", parallelism = 1 },"#,
    );
    let sc = parse_str("m.toml", &text).expect("rescale and broadcast edges load");
    assert_eq!(sc.job.operators[2].input, Some((OperatorId(1), EdgeKind::Broadcast)));
    assert_eq!(sc.job.operators[3].input, Some((OperatorId(1), EdgeKind::Rescale)));
    let text = MINIMAL.replace(
        r#"{ name = "count", kind = "keyed-count", input = "src", parallelism = 2 },"#,
        r#"{ name = "wide", kind = "map", input = "src", edge = "broadcast", parallelism = 2 },
  { name = "count", kind = "keyed-count", input = "wide", parallelism = 2 },"#,
    );
    let e = parse_str("m.toml", &text).expect_err("keyed behind a broadcast");
    assert!(e.message.contains("keyed operator `count` downstream of a broadcast edge"), "{e}");
    let e = parse_str("m.toml", &MINIMAL.replace(r#"input = "count","#, r#"input = "count", edge = "shuffle","#))
        .expect_err("unknown edge");
    assert_eq!(e.hint.as_deref(), Some("one of forward, hash, rebalance, rescale, broadcast"));
}

#[test]
fn an_upsert_sink_follows_a_keyed_aggregation() {
    let ok = MINIMAL
        .replace(r#"input = "count", parallelism = 2 }"#, r#"input = "count", parallelism = 2, semantic = "upsert" }"#);
    let sc = parse_str("m.toml", &ok).expect("after a keyed count through a forward edge");
    assert_eq!(sc.job.operators[2].kind, OperatorKind::Sink(SinkSemantic::Upsert));
    let bad =
        ok.replace(r#"input = "count", parallelism = 2, semantic"#, r#"input = "src", parallelism = 2, semantic"#);
    let e = parse_str("m.toml", &bad).expect_err("straight after the source");
    assert!(e.message.contains("upsert sink `out` is not fed by a keyed aggregation"), "{e}");
    assert_eq!(e.position.map(|p| p.0), Some(8), "{e}");
    let bad = ok.replace(r#"semantic = "upsert""#, r#"semantic = "upsrt""#);
    let e = parse_str("m.toml", &bad).expect_err("a misspelt semantic");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("\"upsert\"")), "{e}");
}

#[test]
fn a_storage_outage_has_a_duration() {
    let ok = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-outage = \"8s\"\n");
    let sc = parse_str("m.toml", &ok).expect("valid");
    assert_eq!(sc.faults[0].action, FaultAction::StorageOutage { duration_us: 8_000_000 });
    let bad = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-outage = \"soon\"\n");
    let e = parse_str("m.toml", &bad).expect_err("not a duration");
    assert!(e.message.contains("storage-outage"), "{e}");
}

#[test]
fn a_slow_storage_has_a_duration_and_a_slowdown() {
    let ok = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-slow = \"20s\"\nslowdown = 50\n");
    let sc = parse_str("m.toml", &ok).expect("valid");
    assert_eq!(sc.faults[0].action, FaultAction::StorageSlow { duration_us: 20_000_000, factor: 50 });
    let default = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-slow = \"20s\"\n");
    let sc = parse_str("m.toml", &default).expect("valid");
    assert_eq!(sc.faults[0].action, FaultAction::StorageSlow { duration_us: 20_000_000, factor: 10 });
    let bad = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-slow = \"20s\"\nslowdown = 1\n");
    let e = parse_str("m.toml", &bad).expect_err("no slowdown");
    assert!(e.message.contains("from 2 to 1000") && e.position == Some((14, 12)), "{e}");
    let stray = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nstorage-outage = \"8s\"\nslowdown = 5\n");
    let e = parse_str("m.toml", &stray).expect_err("slowdown belongs to storage-slow");
    assert!(e.message.contains("only for storage-slow"), "{e}");
}

#[test]
fn every_deprecated_key_is_read_under_both_names() {
    use super::flink::{DEPRECATED_KEYS, FLINK_KEYS};
    for (old, new) in DEPRECATED_KEYS {
        assert!(FLINK_KEYS.contains(old) && FLINK_KEYS.contains(new), "{old} → {new}");
    }
    // The state backend under its old names acts as under its new ones.
    let old = format!(
        "{MINIMAL}\n[flink]\n\"execution.checkpointing.interval\" = \"1s\"\n\"state.backend\" = \"rocksdb\"\n\"state.backend.incremental\" = true\n\"execution.checkpointing.unaligned\" = true\n\"execution.checkpointing.alignment-timeout\" = \"50ms\"\n"
    );
    let sc = parse_str("m.toml", &old).expect("valid");
    assert!(sc.flink.incremental_checkpoints() && sc.flink.unaligned);
    assert_eq!(sc.flink.aligned_checkpoint_timeout_us, 50_000);
    let both = format!("{old}\"state.backend.type\" = \"hashmap\"\n");
    let e = parse_str("m.toml", &both).expect_err("one key under two names");
    assert!(e.message.contains("deprecated name"), "{e}");
}
