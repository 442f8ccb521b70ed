//! Budgets instead of runaways: scenarios that would run for minutes or take gigabytes are refused
//! at load time with the estimate, the limit and the flag that raises it; a run that gets past
//! its estimate stops at its budget with a verdict that says so; every size the command line
//! takes is bounded.

use crate::cli::recoverysim;
use recoverysim::check::Verdict;
use recoverysim::scenario::budget::{Budget, BudgetStop, estimate};
use std::path::PathBuf;
use std::process::{Command, Output};

const REFERENCE: &str = include_str!("../../scenarios/reference.toml");

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recoverysim-budget-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn run_in(d: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverysim")).args(args).current_dir(d).output().expect("the binary runs")
}

/// The reference scenario with `edits` (pairs of text to replace) applied.
fn reference_with(edits: &[(&str, &str)]) -> String {
    let mut text = REFERENCE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "reference.toml has {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// The issue's runaways, each valid for the loader.
fn runaways() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "a 24-hour duration",
            reference_with(&[("duration = \"60s\"", "duration = \"24h\""), ("rate = \"4000/s\"", "rate = \"100/s\"")]),
            "--max-events",
        ),
        (
            "50 M records at a high rate",
            reference_with(&[
                ("duration = \"60s\"", "duration = \"10000s\""),
                ("rate = \"4000/s\"", "rate = \"5000/s\""),
            ]),
            "--max-memory",
        ),
        (
            "1 M keys with 1,000 retained checkpoints",
            reference_with(&[
                ("keys = 1000", "keys = 1000000"),
                ("rate = \"4000/s\"", "rate = \"40000/s\""),
                (
                    "\"heartbeat.interval\" = \"1s\"",
                    "\"heartbeat.interval\" = \"1s\"\n\"execution.checkpointing.num-retained\" = 1000",
                ),
            ]),
            "--max-memory",
        ),
        (
            "a rolling update of 1,000 TaskManagers at parallelism 1,000",
            r#"name = "a rolling update of 1000 TaskManagers"
duration = "120s"
[flink]
"execution.checkpointing.interval" = "1s"
[cluster]
taskmanagers = 1000
slots-per-taskmanager = 1
resource-manager = "active"
[job]
operators = [
  { name = "source", kind = "source", parallelism = 1000, partitions = 1000, rate = "10000/s", keys = 1000 },
  { name = "count", kind = "keyed-count", input = "source", edge = "hash", parallelism = 1000 },
  { name = "sink", kind = "sink", input = "count", edge = "forward", parallelism = 1000 },
]
[[fault]]
at = "10s"
rolling-update = "10s"
"#
            .to_string(),
            "--max-events",
        ),
    ]
}

#[test]
fn every_runaway_is_refused_at_load_time_naming_the_estimate_the_limit_and_the_flag() {
    let d = dir("runaways");
    for (i, (what, text, flag)) in runaways().into_iter().enumerate() {
        let file = format!("runaway-{i}.toml");
        std::fs::write(d.join(&file), &text).expect("write");
        // The library refuses it too.
        let Err(e) = recoverysim::run_file(d.join(&file)) else { panic!("{what}: run_file refuses it") };
        assert!(e.to_string().contains("too large for its budget"), "{what}: {e}");
        for command in [
            vec!["run", file.as_str()],
            vec!["check", file.as_str()],
            vec!["bench", file.as_str()],
            vec!["replay", file.as_str()],
            vec!["diff", file.as_str(), "--seeds", "1,2"],
        ] {
            let out = run_in(&d, &command);
            let err = String::from_utf8_lossy(&out.stderr);
            let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
            assert_eq!(out.status.code(), Some(2), "{what}: {command:?} exits 2\n{all}");
            assert!(all.contains("too large for its budget") && all.contains(flag), "{what}: {command:?}\n{all}");
            assert!(all.contains("estimated") && all.contains("the limit is"), "{what}\n{all}");
            // Refused from the estimate, before anything is simulated.
            assert!(!all.contains("summary:") && !all.contains("best:"), "{what}: nothing ran\n{all}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_limit_the_refusal_names_admits_the_scenario() {
    let d = dir("raise");
    std::fs::write(d.join("s.toml"), REFERENCE).expect("write");
    let out = run_in(&d, &["run", "--max-events", "100000", "s.toml"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let flag = err.split("raise it with --max-events ").nth(1).and_then(|r| r.split(')').next()).expect(&err);
    let out = run_in(&d, &["run", "--max-events", flag, "s.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("output: exactly_once"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_run_past_its_event_budget_stops_with_a_verdict_that_says_which_budget_and_how_to_raise_it() {
    let mut sc = recoverysim::scenario::parse_str("reference.toml", REFERENCE).expect("loads");
    sc.budget = Budget { max_events: 200_000, ..Budget::default() };
    let run = recoverysim::run::simulate(&sc);
    assert_eq!(run.outcome.budget_stop, Some(BudgetStop::Events { limit: 200_000 }));
    assert_eq!(run.outcome.events, 200_000, "stops at the budget exactly");
    assert!(run.reference.is_none(), "no reference run spends the budget again");
    assert_eq!(run.output.verdict, Verdict::Incomplete);
    let why = run.output.not_clean.clone().unwrap_or_default();
    assert!(why.contains("stopped at its budget of 200,000 events (--max-events raises it)"), "{why}");
    // Deterministic: the same event, the same hash.
    let again = recoverysim::run::simulate(&sc);
    assert_eq!(again.outcome.trace_hash, run.outcome.trace_hash);
}

#[test]
fn a_run_past_its_memory_budget_stops_with_the_footprint_and_the_flag() {
    let mut sc = recoverysim::scenario::parse_str("reference.toml", REFERENCE).expect("loads");
    sc.budget = Budget { max_memory: 4 << 20, ..Budget::default() };
    let run = recoverysim::run::simulate(&sc);
    let Some(BudgetStop::Memory { footprint, limit }) = run.outcome.budget_stop else {
        panic!("stopped by memory: {:?}", run.outcome.budget_stop)
    };
    assert!(footprint > limit && limit == 4 << 20);
    assert!(run.outcome.events < 515_061, "stopped before the end: {}", run.outcome.events);
    let why = run.output.not_clean.clone().unwrap_or_default();
    assert!(why.contains("memory budget") && why.contains("--max-memory raises it"), "{why}");
}

#[test]
fn the_estimate_stays_near_the_real_event_count_of_every_bundled_scenario() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&root).expect("scenarios/").flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let sc = recoverysim::scenario::load_file(&f).expect("loads");
        let est = estimate(&sc);
        assert!(Budget::default().admit("f", &sc).is_ok(), "{} is within the default budget", f.display());
        let actual = u128::from(recoverysim::run::simulate(&sc).outcome.events);
        assert!(
            est.events * 2 >= actual && est.events <= 5 * actual + 1_000,
            "{}: estimated {} events, ran {actual}",
            f.display(),
            est.events
        );
    }
}

#[test]
fn explore_and_sweep_refuse_budget_flags_so_their_files_reproduce_with_run() {
    for args in [
        vec!["explore", "scenarios/baseline.toml", "--seeds", "0-0", "--max-events", "1000000"],
        vec!["sweep", "scenarios/baseline.toml", "--max-memory", "2GiB"],
    ] {
        let out = recoverysim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("default budget"), "{args:?}");
    }
}

#[test]
fn every_size_the_command_line_takes_is_bounded() {
    for args in [
        vec!["bench", "scenarios/baseline.toml", "--seek", "4294967295"],
        vec!["bench", "scenarios/baseline.toml", "--runs", "4294967295"],
        vec!["bench", "scenarios/baseline.toml", "--runs", "0"],
        vec!["explore", "scenarios/baseline.toml", "--seeds", "0-9", "--jobs", "100000"],
        vec!["sweep", "scenarios/baseline.toml", "--jobs", "0"],
        vec!["explore", "scenarios/baseline.toml", "--seeds", "0-9", "--shrink-budget", "99999999"],
        vec!["diff", "scenarios/baseline.toml", "--seeds", "1,2", "--context", "18446744073709551615"],
        vec!["run", "scenarios/baseline.toml", "--seeds", "0-99999999"],
        vec!["run", "scenarios/baseline.toml", "--max-events", "0"],
        vec!["run", "scenarios/baseline.toml", "--max-memory", "1KiB"],
        vec!["run", "scenarios/baseline.toml", "--max-memory", "lots"],
    ] {
        let out = recoverysim(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn a_job_that_never_finishes_stops_at_its_budget_on_the_command_line_with_json_that_says_so() {
    // Checkpoint storage at 1 byte/s: no checkpoint ever completes and the job drains for a day.
    // The estimate prices ten seconds of drain; the run stops at its event budget.
    let text = reference_with(&[
        ("duration = \"60s\"", "duration = \"60s\"\ndrain = \"24h\""),
        ("taskmanager-start-delay = \"5s\"", "taskmanager-start-delay = \"5s\"\nstorage-bandwidth = \"1B/s\""),
    ]);
    let d = dir("never");
    std::fs::write(d.join("never.toml"), &text).expect("write");
    let out = run_in(&d, &["run", "--max-events", "2000000", "never.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("the run stopped at its budget (see below)"), "{stdout}");
    assert!(stdout.contains("stopped at its budget of 2,000,000 events (--max-events raises it)"), "{stdout}");
    assert!(stdout.contains("; 2000000 events"), "{stdout}");
    let out = run_in(&d, &["run", "--json", "--max-events", "2000000", "never.toml"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["budget_stop"], serde_json::json!({ "budget": "events", "limit": 2_000_000 }));
    assert_eq!(json["output"]["verdict"], "incomplete");
    let _ = std::fs::remove_dir_all(&d);
}
