//! Seed sweeps (`run FILE --seeds A..B`): what varies with the seed, as a distribution.

use crate::cli::recoverysim;
use recoverysim::report::sweep;
use recoverysim::run::{SeedSummary, Stats, distribution, seed_summary, simulate};
use recoverysim::scenario::load_file;
use std::path::Path;

const DEAD_TM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/restart-onto-dead-tm.toml");

fn sweep(file: &str, seeds: std::ops::RangeInclusive<u64>) -> (recoverysim::scenario::Scenario, Vec<SeedSummary>) {
    let mut sc = load_file(Path::new(file)).unwrap_or_else(|e| panic!("{e}"));
    let summaries = seeds
        .map(|seed| {
            sc.seed = seed;
            seed_summary(&simulate(&sc))
        })
        .collect();
    (sc, summaries)
}

/// Whether the restart lands on the dead TaskManager depends on where the JobManager's
/// heartbeat loop is when the TaskManager dies (its phase is seeded): across seeds both one and
/// two restart cycles happen, and the disconnect comes anywhere within a heartbeat interval
/// (after the `heartbeat.rpc-failure-threshold` refused RPCs).
#[test]
fn restart_onto_dead_tm_takes_one_or_two_cycles_depending_on_the_seed() {
    let (sc, summaries) = sweep(DEAD_TM, 0..=199);
    let d = distribution(&summaries);
    println!("{}", sweep::distribution(&sc.name, &(0..=199), &d));
    assert_eq!(d.n_seeds, 200);
    let cycles = |n: usize| d.restart_cycles.iter().find(|c| c.key == n).map_or(0, |c| c.n_seeds);
    assert!(cycles(1) >= 1, "no seed recovered in one restart cycle: {:?}", d.restart_cycles);
    assert!(cycles(2) >= 1, "no seed needed a second restart cycle: {:?}", d.restart_cycles);
    let disconnect = d.tm_disconnect_after_fault.expect("the JobManager disconnects the dead TaskManager");
    assert_eq!(disconnect.n_values, 200, "every seed disconnects the TaskManager after the fault");
    assert!(
        2 * (disconnect.max - disconnect.min) >= sc.flink.heartbeat_interval_us,
        "disconnect times {disconnect:?} spread over less than half a heartbeat interval ({} µs)",
        sc.flink.heartbeat_interval_us
    );
    // Every seed recovers and stays exactly-once.
    assert_eq!(d.all_running_after_fault.map(|s| s.n_values), Some(200));
    assert!(summaries.iter().all(|s| s.verdict == "exactly_once" && s.job_status == "FINISHED"));
    // A seed's summary is the one `run --seed` gives: the scenario's own seed is in the sweep.
    let own = &summaries[7];
    assert_eq!(own.seed, 7);
    assert_eq!(own.restart_cycles, 2, "scenario file expects 2 failovers with seed 7");
}

#[test]
fn stats_are_nearest_rank() {
    assert_eq!(Stats::of(vec![]), None);
    assert_eq!(Stats::of(vec![5]), Some(Stats { n_values: 1, min: 5, median: 5, p90: 5, max: 5 }));
    let s = Stats::of((1..=10).rev().collect()).expect("values");
    assert_eq!((s.min, s.median, s.p90, s.max), (1, 5, 9, 10));
    let s = Stats::of((1..=200).collect()).expect("values");
    assert_eq!((s.median, s.p90), (100, 180));
}

fn code_and_output(args: &[&str]) -> (Option<i32>, String, String) {
    let out = recoverysim(args);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn run_seeds_prints_the_distribution() {
    let (code, stdout, stderr) = code_and_output(&["run", "scenarios/restart-onto-dead-tm.toml", "--seeds", "0-19"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("seeds 0-19 (20 runs)"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("restart cycles: ")), "{stdout}");
    assert!(!stdout.contains("seed 3:"), "per-seed lines only with --verbose: {stdout}");

    // --verbose adds one line per seed, in seed order.
    let (code, verbose, stderr) =
        code_and_output(&["run", "scenarios/restart-onto-dead-tm.toml", "--seeds", "6-7", "--verbose"]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = verbose.lines().collect();
    assert!(lines[0].starts_with("seed 6: ") && lines[1].starts_with("seed 7: 2 cycles, "), "{verbose}");
    assert!(verbose.contains("seeds 6-7 (2 runs)"), "{verbose}");
}

/// Seeds run in parallel give exactly the output of seeds run one after another.
#[test]
fn run_seeds_on_several_threads_prints_what_one_thread_prints() {
    let args = |jobs: &'static str| {
        ["run", "scenarios/restart-onto-dead-tm.toml", "--seeds", "0-11", "--verbose", "--jobs", jobs]
    };
    let (code, one, stderr) = code_and_output(&args("1"));
    assert_eq!(code, Some(0), "{stderr}");
    let (code, three, stderr) = code_and_output(&args("3"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(one, three);
    assert!(one.lines().next().is_some_and(|l| l.starts_with("seed 0: ")), "{one}");
}

#[test]
fn run_seeds_usage_errors_exit_2() {
    let file = "scenarios/restart-onto-dead-tm.toml";
    for (args, says) in [
        (&["--seeds", "5-2"][..], "5 is greater than 2"),
        (&["--seeds", "0-3", "--json"][..], "--json"),
        (&["--seeds", "0-3", "--seed", "1"][..], "--seed"),
        (&["--seeds", "0-3", "--trace", "t.jsonl"][..], "--trace"),
        (&["--seeds", "0-100000"][..], "at most 100000"),
        (&["--seeds", "7"][..], "A-B"),
        (&["--seeds", "a-3"][..], "not a seed"),
        (&["--seeds", "0..3"][..], "both ends included"),
        (&["--verbose"][..], "--seeds"),
        (&["--jobs", "2"][..], "--seeds"),
        (&["--seeds", "0-3", "--jobs", "0"][..], "--jobs"),
    ] {
        let mut all = vec!["run", file];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = code_and_output(&all);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: expected `{says}` in {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
}

/// Off a terminal (standard error a pipe, here with `CI` unset too) `run --seeds` draws no
/// progress bar: standard error stays empty and standard output is exactly the per-seed lines
/// and the distribution, as the library renders them.
#[test]
fn run_seeds_off_a_terminal_prints_no_progress() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(["run", "scenarios/restart-onto-dead-tm.toml", "--seeds", "6-8", "--verbose"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CI")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "nothing on standard error");
    let (sc, summaries) = sweep(DEAD_TM, 6..=8);
    let mut want: String = summaries.iter().map(|s| format!("{}\n", sweep::seed_line(s))).collect();
    want.push('\n');
    want.push_str(&sweep::distribution(&sc.name, &(6..=8), &distribution(&summaries)));
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}
