//! `--flink-conf`: a Flink `config.yaml` merged into the scenario's `[flink]` table, the
//! scenario's keys winning; what it ignored listed; errors shown in the YAML file.

use crate::cli::recoverysim;
use std::path::PathBuf;

/// A scenario with no `[flink]` keys but an explicit cluster, written to a temporary file.
fn scenario(name: &str, text: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("recoverysim-conf-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write scenario");
    let s = path.display().to_string();
    (dir, s)
}

const PLAIN: &str = r#"name = "plain"
duration = "2s"

[cluster]
taskmanagers = 2
slots-per-taskmanager = 2

[job]
operators = [
  { name = "source", kind = "source", parallelism = 2, rate = "100/s" },
  { name = "count", kind = "keyed-count", input = "source", parallelism = 2 },
  { name = "sink", kind = "sink", input = "count", parallelism = 2 },
]
"#;

#[test]
fn the_distributions_config_yaml_loads_and_every_key_is_accounted_for() {
    let (dir, file) = scenario("distribution", PLAIN);
    let out = recoverysim(&["run", &file, "--flink-conf", "docs/flink-conf/distribution.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("flink-conf docs/flink-conf/distribution.yaml: 13 keys merged into [flink], 0 set by the scenario itself, 0 ignored"), "{stdout}");
    for key in [
        "env.java.opts.all",
        "jobmanager.bind-host",
        "jobmanager.rpc.address",
        "jobmanager.rpc.port",
        "jobmanager.memory.process.size",
        "taskmanager.bind-host",
        "taskmanager.host",
        "taskmanager.numberOfTaskSlots",
        "taskmanager.memory.process.size",
        "rest.address",
        "rest.bind-address",
    ] {
        assert!(stdout.contains(&format!("NOT MODELLED (accepted, no effect): \"{key}\"")), "{key}: {stdout}");
    }
    // The two it models act (their values are Flink's defaults, so the header is as without).
    assert!(stdout.contains("failover-strategy region"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_production_config_acts_where_the_scenario_is_silent_and_the_scenario_wins() {
    let (dir, file) = scenario("production", PLAIN);
    let out = recoverysim(&["run", &file, "--flink-conf", "docs/flink-conf/production.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Nested keys, Flink's duration syntax ("500 ms", "2 min"), deprecated-free current names.
    assert!(stdout.contains("checkpoints every 500 ms (EXACTLY_ONCE)"), "{stdout}");
    assert!(stdout.contains("restart-strategy exponential-delay (initial 1000 ms, ×2, max 60000 ms)"), "{stdout}");
    assert!(stdout.contains("heartbeat 5000 ms / 30000 ms"), "{stdout}");
    assert!(stdout.contains("local recovery on"), "{stdout}");
    assert!(stdout.contains("s3://flink-prod/checkpoints/"), "the checkpoint dir shows in paths: {stdout}");
    assert!(stdout.contains("IGNORED (not a Flink key): \"acme.team.owner\""), "{stdout}");
    assert!(stdout.contains("RocksDB, incremental checkpoints"), "state.backend.type and incremental act: {stdout}");
    assert!(stdout.contains("NOT MODELLED (accepted, no effect): \"state.backend.rocksdb.localdir\""), "{stdout}");
    assert!(stdout.contains(", 0 set by the scenario itself, 1 ignored"), "{stdout}");
    // The scenario's own [flink] keys win, under their current or deprecated names.
    let own = PLAIN.replacen(
        "[cluster]",
        "[flink]\n\"execution.checkpointing.interval\" = \"1s\"\n\"state.backend.local-recovery\" = false\n\n[cluster]",
        1,
    );
    let (dir2, file2) = scenario("production-own", &own);
    let out = recoverysim(&["run", &file2, "--flink-conf", "docs/flink-conf/production.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("checkpoints every 1000 ms"), "{stdout}");
    assert!(!stdout.contains("local recovery on"), "{stdout}");
    assert!(stdout.contains("OVERRIDDEN by the scenario's [flink]: \"execution.checkpointing.interval\""), "{stdout}");
    assert!(
        stdout.contains("OVERRIDDEN by the scenario's [flink]: \"execution.state-recovery.from-local\""),
        "{stdout}"
    );
    // check and explore take it too; a file explore writes holds the conf's keys.
    let out = recoverysim(&["check", &file, "--flink-conf", "docs/flink-conf/production.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let written = std::path::Path::new(&dir).join("explored");
    let w = written.display().to_string();
    let out = recoverysim(&[
        "explore",
        &file,
        "--seeds",
        "0-1",
        "--write-all",
        "--out",
        &w,
        "--flink-conf",
        "docs/flink-conf/production.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let drawn = std::fs::read_to_string(written.join("production-seed-0.toml")).expect("written");
    assert!(drawn.contains("\"execution.checkpointing.interval\" = \"500 ms\""), "{drawn}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn errors_are_shown_in_the_yaml_file_and_scenario_lines_keep_their_numbers() {
    let (dir, file) = scenario("errors", &PLAIN.replacen("[cluster]", "[flink]\n\n[cluster]", 1));
    let conf = std::path::Path::new(&dir).join("config.yaml");
    let c = conf.display().to_string();
    for (yaml, message, at, hint) in [
        (
            "execution:\n  checkpointing:\n    mode: EXACTLY_TWICE\n",
            "invalid value for \"execution.checkpointing.mode\"",
            ":3:11",
            "one of EXACTLY_ONCE, AT_LEAST_ONCE",
        ),
        (
            "heartbeat:\n  intervall: 5 s\n",
            "unknown Flink configuration key \"heartbeat.intervall\"",
            ":2:3",
            "did you mean \"heartbeat.interval\"?",
        ),
        ("a: [1, 2\n", "not valid YAML", ":2:1", ""),
        (
            "heartbeat.interval: 2s\nheartbeat:\n  interval: 3s\n",
            "\"heartbeat.interval\" is set twice (first on line 1)",
            ":3:3",
            "keep one",
        ),
        (
            "restart-strategy.type: fixed-delay\nrestart-strategy.fixed-delay.attempts: lots\n",
            "takes a whole number",
            ":2:40",
            "",
        ),
    ] {
        std::fs::write(&conf, yaml).expect("write conf");
        let out = recoverysim(&["run", &file, "--flink-conf", &c]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(message), "{yaml}: {stderr}");
        assert!(stderr.contains(&format!("{c}{at}")), "{yaml}: {stderr}");
        assert!(stderr.contains(hint), "{yaml}: {stderr}");
    }
    // An error in the scenario after the inserted lines keeps the scenario's own line number.
    std::fs::write(&conf, "heartbeat.interval: 2s\nheartbeat.timeout: 9s\n").expect("write conf");
    let bad = PLAIN.replacen("[cluster]", "[flink]\n\n[cluster]", 1).replacen(
        "taskmanagers = 2",
        "taskmanagers = \"two\"",
        1,
    );
    std::fs::write(&file, &bad).expect("write scenario");
    let line = bad.lines().position(|l| l.contains("\"two\"")).expect("the bad line") + 1;
    let out = recoverysim(&["run", &file, "--flink-conf", &c]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{file}:{line}:")), "line {line}: {stderr}");
    // A conf file that is not there.
    let out = recoverysim(&["run", &file, "--flink-conf", "no/such/config.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/config.yaml"));
    let _ = std::fs::remove_dir_all(&dir);
}
