//! The binary as users and tools meet it: exit codes, bad input, JSON contract, regions.

use crate::snapshot;
use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn recoverysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// Writes `text` to a scenario file in a fresh temporary directory and runs `run` on it.
fn run_text(name: &str, text: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("recoverysim-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(["run", path.file_name().and_then(|n| n.to_str()).expect("utf-8")])
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

const GOOD: &str = r#"name = "ok"
duration = "2s"

[flink]
"execution.checkpointing.interval" = "500ms"

[job]
operators = [
  { name = "source", kind = "source", parallelism = 2, rate = "100/s" },
  { name = "count", kind = "keyed-count", input = "source", parallelism = 2 },
  { name = "sink", kind = "sink", input = "count", parallelism = 2 },
]
"#;

#[test]
fn bad_scenario_files_exit_2_with_file_line_column() {
    let cases: &[(&str, String)] = &[
        ("toml-syntax", GOOD.replace("duration = \"2s\"", "duration = \"2s")),
        ("unknown-top-level-key", GOOD.replace("duration = \"2s\"", "duration = \"2s\"\nsede = 4")),
        (
            "unknown-flink-key",
            GOOD.replace("\"execution.checkpointing.interval\"", "\"execution.checkpointing.intervall\""),
        ),
        ("bad-duration", GOOD.replace("\"500ms\"", "\"5 parsecs\"")),
        ("unknown-input", GOOD.replace("input = \"count\"", "input = \"cnt\"")),
        (
            "forward-unequal-parallelism",
            GOOD.replace(
                "{ name = \"sink\", kind = \"sink\", input = \"count\", parallelism = 2 }",
                "{ name = \"sink\", kind = \"sink\", input = \"count\", edge = \"forward\", parallelism = 3 }",
            ),
        ),
        (
            "keyed-needs-hash",
            GOOD.replace(
                "input = \"source\", parallelism = 2",
                "input = \"source\", edge = \"forward\", parallelism = 2",
            ),
        ),
        ("fault-out-of-range", format!("{GOOD}\n[[fault]]\nat = \"1s\"\nfail-task = \"count[7]\"\n")),
        ("absurd-rate", GOOD.replace("rate = \"100/s\"", "rate = \"9999999/s\"").replace("\"2s\"", "\"24h\"")),
        ("missing-name", GOOD.replace("name = \"ok\"\n", "")),
        (
            "absurd-heartbeats",
            GOOD.replace("[flink]", "[cluster]\ntaskmanagers = 1000\n\n[flink]\n\"heartbeat.interval\" = \"1ms\"\n\"heartbeat.timeout\" = \"1s\""),
        ),
        (
            "unknown-ha-type",
            GOOD.replace("[flink]", "[flink]\n\"high-availability.type\" = \"etcd\""),
        ),
        (
            "fault-unknown-host",
            format!("{GOOD}\n[[fault]]\nat = \"1s\"\npartition = [[\"job-manager\"], [\"tm-0\"]]\n"),
        ),
        (
            "fault-tm-host-out-of-range",
            format!("{GOOD}\n[[fault]]\nat = \"1s\"\nlose-messages = \"heartbeat\"\nto = [\"tm-1\"]\n"),
        ),
        ("fault-tm-index-out-of-range", format!("{GOOD}\n[[fault]]\nat = \"1s\"\nstop-taskmanager = 1\n")),
        ("fault-freeze-without-duration", format!("{GOOD}\n[[fault]]\nat = \"1s\"\nfreeze-taskmanager = 0\n")),
        (
            "fault-delay-on-lose-messages",
            format!("{GOOD}\n[[fault]]\nat = \"1s\"\nlose-messages = \"data\"\ndelay = \"1s\"\n"),
        ),
        (
            "fault-heal-before-at",
            format!(
                "{GOOD}\n[[fault]]\nat = \"10s\"\npartition = [[\"jobmanager\"], [\"tm-0\"]]\nheal-at = \"5s\"\n"
            ),
        ),
        (
            "fault-probability-zero",
            format!("{GOOD}\n[[fault]]\nat = \"1s\"\nlose-messages = \"data\"\nprobability = 0.0\n"),
        ),
        (
            "fault-unknown-message-kind",
            format!("{GOOD}\n[[fault]]\nat = \"1s\"\ndelay-messages = \"acknowledge\"\ndelay = \"1s\"\n"),
        ),
        ("fault-no-action", format!("{GOOD}\n[[fault]]\nat = \"1s\"\n")),
        (
            "unquoted-dotted-key",
            GOOD.replace("[flink]", "[flink]\nexecution.checkpointing.timeout = \"1min\""),
        ),
        ("restart-running-taskmanager", format!("{GOOD}\n[[fault]]\nat = \"1s\"\nrestart-taskmanager = 0\n")),
        (
            "exponential-max-below-initial",
            GOOD.replace(
                "[flink]",
                "[flink]\n\"restart-strategy.type\" = \"exponential-delay\"\n\"restart-strategy.exponential-delay.initial-backoff\" = \"10s\"\n\"restart-strategy.exponential-delay.max-backoff\" = \"1s\"",
            ),
        ),
    ];
    let mut all = String::new();
    for (name, text) in cases {
        let out = run_text(name, text);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        // rustc's layout: ` --> file:line:column`, the source line, a caret under the span.
        let arrow = stderr.lines().find_map(|l| l.trim_start().strip_prefix("--> ")).expect("a --> line");
        let position = arrow.split(':').collect::<Vec<_>>();
        assert_eq!(position[0], format!("{name}.toml"), "{name}: {stderr}");
        assert!(position[1].parse::<u32>().is_ok() && position[2].parse::<u32>().is_ok(), "{name}: {stderr}");
        assert!(stderr.lines().any(|l| l.trim_start().starts_with('|') && l.contains('^')), "{name}: {stderr}");
        all.push_str(&format!("== {name}\n{stderr}"));
    }
    snapshot("bad-scenario-errors", &all);
}

#[test]
fn good_file_runs_and_json_has_the_contract_fields() {
    let out = run_text("good", GOOD);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "scenario",
        "seed",
        "trace_hash",
        "events",
        "subtasks",
        "virtual_time_ms",
        "job_status",
        "output",
        "checkpoints",
        "failovers",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["output"]["verdict"], "exactly_once");
    assert_eq!(v["failovers"][0]["cause"], "connection-lost");
    assert_eq!(v["failovers"][0]["restarted_tasks"], 8);
    for key in ["at_ms", "detected_at_ms", "restored_checkpoint", "running_again_at_ms"] {
        assert!(v["failovers"][0].get(key).is_some(), "missing failovers[0].{key}");
    }
}

#[test]
fn seed_override_changes_the_run_and_bug_flag_flips_the_verdict() {
    let a = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--json"]);
    let b = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--json", "--seed", "9"]);
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&a.stdout).expect("json"), serde_json::from_slice(&b.stdout).expect("json"));
    assert_ne!(a["trace_hash"], b["trace_hash"]);
    assert_eq!(b["seed"], 9);
    let bad = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--bug", "no-source-rewind", "--json"]);
    let bad: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    assert_eq!(bad["output"]["verdict"], "at_most_once");
    let unknown = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--bug", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn check_passes_on_bundled_scenarios_and_fails_on_a_wrong_expectation() {
    let ok = recoverysim(&["check", "scenarios/forward-task-failure.toml"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let dir = std::env::temp_dir().join(format!("recoverysim-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wrong =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/forward-task-failure.toml"))
            .expect("bundled scenario")
            .replace(
                "restarted = [\"source[1]\", \"map[1]\", \"sink[1]\"]",
                "restarted = [\"source\", \"map\", \"sink\"]",
            );
    let path = dir.join("wrong.toml");
    std::fs::write(&path, wrong).expect("write");
    let out = recoverysim(&["check", path.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("restarted: expected [source[0-2], map[0-2], sink[0-2]], got [source[1], map[1], sink[1]]"),
        "{stdout}"
    );
    let missing = recoverysim(&["check", "no/such/file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn regions_command_lists_one_region_per_lane_for_a_forward_job() {
    let out = recoverysim(&["regions", "scenarios/forward-task-failure.toml"]);
    assert_eq!(out.status.code(), Some(0));
    snapshot("regions-forward-task-failure", &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn trace_option_writes_json_lines() {
    let path = std::env::temp_dir().join(format!("recoverysim-trace-{}.jsonl", std::process::id()));
    let out = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--trace", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&path).expect("trace written");
    let _ = std::fs::remove_file(&path);
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON object")).collect();
    assert!(lines.len() > 100);
    assert!(lines.windows(2).all(|w| w[0]["at_us"].as_u64() <= w[1]["at_us"].as_u64()), "in time order");
    let failed = lines.iter().find(|l| l["kind"] == "task-failed").expect("a task failure is traced");
    // tm-1 is killed at 12.990 s; a task on tm-0 that reads from it fails when the kernel's
    // connection reset arrives, 50–100 ms later.
    let at = failed["at_us"].as_u64().expect("a time");
    assert!((13_040_000..=13_100_000).contains(&at), "{at}");
    assert!(failed["st"].as_str().is_some_and(|s| s.ends_with("[0]")), "{}", failed["st"]);
    assert!(lines.iter().any(|l| l["kind"] == "job-status" && l["to"] == "RESTARTING"));
}

/// `diff`: identical runs exit 0, different ones 1 with the first divergence, bad input 2.
#[test]
fn diff_exit_codes_and_the_first_divergence() {
    let dir = std::env::temp_dir().join(format!("recoverysim-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let trace = dir.join("t.jsonl").display().to_string();
    assert_eq!(recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--trace", &trace]).status.code(), Some(0));
    let out = recoverysim(&["diff", &trace, "scenarios/keyed-tm-kill.toml@7"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("identical: the readable traces are equal (719 lines)"), "{stdout}");
    let out = recoverysim(&["diff", "scenarios/keyed-tm-kill.toml", "--seeds", "7,8", "--context", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("first divergence: trace line #1, after 0 equal lines"), "{stdout}");
    assert!(stdout.contains("A ! #1") && stdout.contains("B ! #1") && stdout.contains("≠"), "{stdout}");
    // Not a trace, not a scenario, a seed on a trace file, a missing side: exit 2 with a message.
    let junk = dir.join("junk.jsonl");
    std::fs::write(&junk, "{\"schema\":\"something-else\"}\n").expect("writes");
    for args in [
        vec!["diff", junk.to_str().expect("utf-8"), "scenarios/keyed-tm-kill.toml"],
        vec!["diff", &trace, "scenarios/no-such-file.toml"],
        vec!["diff", "scenarios/keyed-tm-kill.toml@x", &trace],
        vec!["diff", "scenarios/keyed-tm-kill.toml"],
    ] {
        let out = recoverysim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let with_seed = format!("{trace}@3");
    let out = recoverysim(&["diff", &with_seed, "scenarios/keyed-tm-kill.toml"]);
    assert_eq!(out.status.code(), Some(2), "a trace file has its seed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Real Flink keys the simulator does not model are accepted (a scenario written for a real
/// cluster loads) and listed in the report with what they would change, never silently.
#[test]
fn flink_keys_not_modelled_are_accepted_and_listed_with_their_effect() {
    let mut text = GOOD.replacen(
        "[flink]\n",
        "[flink]\n\"execution.state-recovery.path\" = \"s3://flink/checkpoints/abc/chk-3\"\n\"state.backend.rocksdb.memory.managed\" = true\n",
        1,
    );
    let out = run_text("not-modelled", &text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("NOT MODELLED (accepted, no effect): \"execution.state-recovery.path\" = \"s3://flink/checkpoints/abc/chk-3\": a savepoint"),
        "{stdout}"
    );
    assert!(stdout.contains("\"state.backend.rocksdb.memory.managed\" = true: RocksDB tuning"), "{stdout}");
    for (key, _) in recoverysim::scenario::load::NOT_MODELLED {
        assert!(!recoverysim::scenario::load::FLINK_KEYS.contains(key), "{key} is either modelled or not");
    }
    // The keys of the config.yaml Flink's distribution ships load too, each listed (in their
    // flat form; `--flink-conf` is what reads the YAML file itself).
    let shipped = [
        ("jobmanager.rpc.address", "\"localhost\""),
        ("jobmanager.rpc.port", "6123"),
        ("jobmanager.bind-host", "\"localhost\""),
        ("jobmanager.memory.process.size", "\"1600m\""),
        ("taskmanager.bind-host", "\"localhost\""),
        ("taskmanager.host", "\"localhost\""),
        ("taskmanager.memory.process.size", "\"1728m\""),
        ("taskmanager.numberOfTaskSlots", "1"),
        ("rest.address", "\"localhost\""),
        ("rest.bind-address", "\"localhost\""),
        ("env.java.opts.all", "\"--add-exports=java.base/sun.net.util=ALL-UNNAMED\""),
        ("metrics.reporter.prom.factory.class", "\"org.apache.flink.metrics.prometheus.PrometheusReporterFactory\""),
        ("taskmanager.network.memory.fraction", "0.1"),
        ("state.backend.rocksdb.localdir", "\"/tmp/rocksdb\""),
    ];
    let lines: String = shipped.iter().map(|(k, v)| format!("\"{k}\" = {v}\n")).collect();
    text = GOOD.replacen("[flink]\n", &format!("[flink]\n{lines}"), 1);
    let out = run_text("shipped-keys", &text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for (k, _) in shipped {
        assert!(stdout.contains(&format!("NOT MODELLED (accepted, no effect): \"{k}\"")), "{k} not listed: {stdout}");
    }
    // Deprecated names Flink still reads act like the current ones.
    text = GOOD.replacen("[flink]\n", "[flink]\n\"state.checkpoints.dir\" = \"s3://bucket/checkpoints\"\n", 1);
    let out = run_text("deprecated-dir", &text);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NOT MODELLED"));
    // A near miss of a key recoverysim reads (or lists) is a typo, and a key Flink does not have
    // is refused.
    for (bad, hint) in [
        ("state.backend.tpye", "did you mean \"state.backend.type\"?"),
        ("heartbeat.intervall", "did you mean \"heartbeat.interval\"?"),
        ("foo.bar", "not one of Flink's configuration keys"),
    ] {
        text = GOOD.replacen("[flink]\n", &format!("[flink]\n\"{bad}\" = \"1s\"\n"), 1);
        let out = run_text("unknown-key", &text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("unknown Flink configuration key \"{bad}\"")), "{stderr}");
        assert!(stderr.contains(hint), "{bad}: {stderr}");
    }
}

/// `run --checkpoints`: the JobManager's checkpoint history and the answer to "does taking a
/// checkpoint block processing?" for the question scenario (read and pinned).
#[test]
fn the_checkpoint_history_answers_whether_checkpoints_block_processing() {
    let out = recoverysim(&["run", "scenarios/checkpoint-blocking.toml", "--checkpoints"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("timeline (virtual time)"), "the history replaces the timeline");
    assert!(text.lines().all(|l| l == l.trim_end()), "no trailing spaces");
    snapshot("run-checkpoints-checkpoint-blocking", &text);
    // --checkpoints with --json is refused: the JSON has the history already.
    let both = recoverysim(&["run", "scenarios/checkpoint-blocking.toml", "--checkpoints", "--json"]);
    assert_eq!(both.status.code(), Some(2));
}

/// `run --exceptions`: the exception history as the Web UI's Exceptions tab, newest first, each
/// root exception with its failover and the task failures handled with it (read and pinned);
/// `--json` has the same entries, oldest first.
#[test]
fn the_exception_history_lists_each_failure_with_its_failover_and_concurrent_failures() {
    let out = recoverysim(&["run", "scenarios/rolling-update.toml", "--exceptions"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("timeline (virtual time)"), "the history replaces the timeline");
    assert!(text.lines().all(|l| l == l.trim_end()), "no trailing spaces");
    let second = text.find("35.009s").expect("the second pod's failure");
    let first = text.find("20.016s").expect("the first pod's failure");
    assert!(second < first, "newest first");
    assert!(text.contains("#1: 4 subtasks from chk-20"), "{text}");
    snapshot("run-exceptions-rolling-update", &text);
    let json = recoverysim(&["run", "scenarios/rolling-update.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    let h = v["exception_history"].as_array().expect("an array");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["task"], "source[0]");
    assert_eq!(h[0]["location"], "tm-0");
    assert_eq!(h[0]["restored_checkpoint"], 20);
    assert_eq!(h[0]["concurrent"][0]["task"], "(count+sink)[0]");
    // A global failure names no task.
    let json = recoverysim(&["run", "scenarios/partition-tm-tm.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert!(v["exception_history"][0]["task"].is_null());
    assert!(v["exception_history"][0]["exception"].as_str().is_some_and(|e| e.contains("tolerable failure threshold")));
    // Without failures: says so.
    let out = recoverysim(&["run", "scenarios/baseline.toml", "--exceptions"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("none: no failure reached the JobManager"));
}

/// `completions SHELL` and `man` come from the clap definitions: the bash script parses, each
/// shell's script names the subcommands, the man page is roff with every global option; and
/// `--quiet` leaves standard error without progress lines.
#[test]
fn completions_man_page_and_quiet() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = recoverysim(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8_lossy(&out.stdout).to_string();
        for sub in ["run", "check", "explore", "replay", "regions", "completions"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
        if shell == "bash" {
            let dir = std::env::temp_dir().join(format!("recoverysim-completions-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let file = dir.join("recoverysim.bash");
            std::fs::write(&file, &script).expect("written");
            let check = std::process::Command::new("bash").arg("-n").arg(&file).output().expect("bash runs");
            assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert_eq!(recoverysim(&["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");
    let man = recoverysim(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH recoverysim 1"), "{page}");
    for opt in ["max\\-events", "max\\-memory", "color", "quiet"] {
        assert!(page.contains(opt), "the man page has --{opt}");
    }
    // explore prints a progress line every tenth of its seeds when standard error is no terminal.
    let dir = std::env::temp_dir().join(format!("recoverysim-quiet-{}", std::process::id()));
    let out_dir = dir.display().to_string();
    let args = ["explore", "scenarios/baseline.toml", "--seeds", "0-9", "--jobs", "1", "--out", &out_dir];
    let loud = recoverysim(&args);
    assert!(String::from_utf8_lossy(&loud.stderr).contains("explored "), "{}", String::from_utf8_lossy(&loud.stderr));
    let mut quiet_args = args.to_vec();
    quiet_args.push("--quiet");
    let quiet = recoverysim(&quiet_args);
    assert_eq!(quiet.status.code(), loud.status.code());
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("explored "),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    // The results still print (only the wall-time line differs between two runs).
    assert!(String::from_utf8_lossy(&quiet.stdout).contains("10 runs"), "{}", String::from_utf8_lossy(&quiet.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run --svg FILE`: the timeline chart is an SVG document (well-formed XML in SVG's namespace) with
/// a lane per subtask, a mark per fault and failover, a tick per ended checkpoint (pinned); the
/// chart the README embeds is what the tool draws today.
#[test]
fn the_svg_chart_has_a_lane_per_subtask_and_the_readme_chart_is_current() {
    let dir = std::env::temp_dir().join(format!("recoverysim-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("chart.svg");
    let out = recoverysim(&["run", "scenarios/keyed-tm-kill.toml", "--svg", &file.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("timeline (virtual time):"), "the timeline still prints");
    let chart = std::fs::read_to_string(&file).expect("written");
    let doc = roxmltree::Document::parse(&chart).expect("well-formed XML");
    let mut tags = std::collections::BTreeMap::<String, usize>::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        *tags.entry(n.tag_name().name().to_string()).or_insert(0) += 1;
    }
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(doc.root_element().tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    let run = recoverysim::run_file("scenarios/keyed-tm-kill.toml").expect("runs");
    let lanes = chart.matches("</title>\n</rect>").count();
    assert!(lanes >= run.graph.subtask_count(), "at least a span per subtask: {lanes}");
    for st in 0..run.graph.subtask_count() {
        let name = run.graph.subtask_name(recoverysim::job::graph::SubtaskId(st as u32));
        assert!(chart.contains(&format!(">\n{name}\n</text>")), "a lane for {name}");
    }
    assert!(chart.contains("F1  12.990s  FAULT kill-taskmanager 1"), "the fault is listed");
    assert!(chart.contains("failover #1: restarts 8 subtasks from checkpoint 64"));
    let ticks = chart.matches("<title>checkpoint ").count();
    assert_eq!(ticks, run.outcome.checkpoint_history.iter().filter(|c| c.ended_at_us.is_some()).count());
    assert!(tags["svg"] == 1 && tags["g"] >= 5 && tags["rect"] > 10 && tags["line"] > 10, "{tags:?}");
    crate::snapshot("run-svg-keyed-tm-kill", &chart);
    // The README's chart.
    let readme = std::fs::read_to_string("README.md").expect("README");
    assert!(readme.contains("![a run's timeline chart](docs/rolling-update-during-checkpoint.svg)"));
    let file = dir.join("readme.svg");
    let out =
        recoverysim(&["run", "scenarios/rolling-update-during-checkpoint.toml", "--svg", &file.display().to_string()]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        std::fs::read_to_string("docs/rolling-update-during-checkpoint.svg").expect("committed"),
        "docs/rolling-update-during-checkpoint.svg is stale: run the README's command again"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run --trace F --trace-format perfetto`: the Trace Event Format as Perfetto's and Chrome's
/// JSON importers read it — known phases with their fields, complete events nested per thread,
/// async begin/end paired by id, names for every process and thread that has events — with a
/// track per TaskManager and subtask, checkpoints, the failover, the fault and the transactions.
#[test]
fn the_perfetto_trace_is_well_formed_trace_event_json() {
    let dir = std::env::temp_dir().join(format!("recoverysim-perfetto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("p.json");
    let out = recoverysim(&[
        "run",
        "scenarios/keyed-tm-kill.toml",
        "--trace",
        &file.display().to_string(),
        "--trace-format",
        "perfetto",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let mut spans: std::collections::BTreeMap<(u64, u64), Vec<(u64, u64)>> = Default::default();
    let mut open: std::collections::BTreeMap<(String, String), u64> = Default::default();
    let mut named: std::collections::BTreeSet<(u64, u64)> = Default::default();
    let mut used: std::collections::BTreeSet<(u64, u64)> = Default::default();
    let mut cats: std::collections::BTreeSet<String> = Default::default();
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        let (pid, tid) = (e["pid"].as_u64().expect("pid"), e["tid"].as_u64().expect("tid"));
        assert!(e["name"].is_string(), "{e}");
        if let Some(c) = e["cat"].as_str() {
            cats.insert(c.to_string());
        }
        match ph {
            "M" => {
                assert!(matches!(e["name"].as_str(), Some("process_name" | "thread_name")), "{e}");
                assert!(e["args"]["name"].is_string(), "{e}");
                named.insert((pid, if e["name"] == "process_name" { u64::MAX } else { tid }));
            }
            "X" => {
                let (ts, dur) = (e["ts"].as_u64().expect("ts"), e["dur"].as_u64().expect("dur"));
                spans.entry((pid, tid)).or_default().push((ts, ts + dur));
                used.insert((pid, tid));
            }
            "i" => {
                assert!(e["ts"].is_u64() && e["s"].is_string(), "{e}");
            }
            "b" => {
                let key = (e["cat"].as_str().expect("cat").to_string(), e["id"].as_str().expect("id").to_string());
                assert!(open.insert(key, e["ts"].as_u64().expect("ts")).is_none(), "an id begins once: {e}");
            }
            "e" => {
                let key = (e["cat"].as_str().expect("cat").to_string(), e["id"].as_str().expect("id").to_string());
                let began = open.remove(&key).expect("an end has its begin");
                assert!(e["ts"].as_u64().expect("ts") >= began, "{e}");
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert!(open.is_empty(), "every async span ends: {open:?}");
    for ((pid, tid), mut s) in spans {
        assert!(named.contains(&(pid, u64::MAX)), "process {pid} is named");
        assert!(named.contains(&(pid, tid)), "thread {pid}/{tid} is named");
        s.sort();
        for w in s.windows(2) {
            assert!(w[1].0 >= w[0].1 || w[1].1 <= w[0].1, "spans on {pid}/{tid} nest: {w:?}");
        }
    }
    assert!(used.iter().any(|(pid, _)| *pid == 100) && used.iter().any(|(pid, _)| *pid == 101), "both TaskManagers");
    for c in ["execution-state", "job-status", "checkpoint", "checkpoint-phase", "failover", "fault", "transaction"] {
        assert!(cats.contains(c), "{c} events: {cats:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
