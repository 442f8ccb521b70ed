//! The command line (clap): run, check, regions, bench. The edge of the program: it reads files,
//! prints, times and sets exit codes (0 ok, 1 a check failed, 2 bad input or usage).

pub mod render;

use crate::cluster::engine::World;
use crate::run::{distribution, seed_summary, simulate};
use crate::scenario::{Scenario, load_file};
use clap::{Parser, Subcommand};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "recoverysim", version, about = "Deterministic simulator of Apache Flink failure recovery")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: timeline of what happened and the oracle's verdict.
    Run {
        file: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run every seed of an inclusive range (`0..199`, or `0..=199`) and print the
        /// distribution of restart cycles, recovery times, detection paths and verdicts.
        #[arg(long, value_name = "A..B", value_parser = parse_seed_range, conflicts_with_all = ["seed", "json", "trace"])]
        seeds: Option<RangeInclusive<u64>>,
        /// With --seeds: also print one line per seed.
        #[arg(long, requires = "seeds")]
        verbose: bool,
        /// Print one JSON object instead of the timeline.
        #[arg(long)]
        json: bool,
        /// Plant a protocol bug (commit-on-snapshot, no-source-rewind, restore-empty-state,
        /// skip-alignment); repeatable.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<String>,
        /// Also write the trace (state transitions, failures, checkpoints, restores, commits) to
        /// this file as JSON Lines.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Run scenario files (default: scenarios/) and compare each with its [expect] table.
    Check { paths: Vec<PathBuf> },
    /// Print the pipelined regions of a scenario's job.
    Regions { file: PathBuf },
    /// Measure simulation speed (use a release build).
    Bench {
        file: PathBuf,
        /// How many runs to time.
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Run { file, seeds: Some(seeds), verbose, bugs, .. } => cmd_run_seeds(&file, seeds, verbose, &bugs),
        Command::Run { file, seed, json, bugs, trace, .. } => cmd_run(&file, seed, json, &bugs, trace.as_deref()),
        Command::Check { paths } => cmd_check(&paths),
        Command::Regions { file } => {
            let Some(sc) = load(&file) else { return ExitCode::from(2) };
            print!("{}", render::regions(&crate::job::graph::JobGraph::build(&sc.job)));
            ExitCode::SUCCESS
        }
        Command::Bench { file, runs } => cmd_bench(&file, runs),
    }
}

fn load(file: &Path) -> Option<Scenario> {
    match load_file(file) {
        Ok(sc) => Some(sc),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Most seeds one `run --seeds` sweeps: a bound on its time (each seed is two full runs).
const MAX_SEEDS: u64 = 100_000;

/// `A..B` or `A..=B`: an inclusive range of seeds, `A ≤ B`, at most `MAX_SEEDS` of them.
fn parse_seed_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    let Some((a, b)) = s.split_once("..") else {
        return Err("expected an inclusive range of seeds A..B, e.g. 0..199".into());
    };
    let b = b.strip_prefix('=').unwrap_or(b);
    let num = |x: &str| {
        x.trim().parse::<u64>().map_err(|_| format!("`{x}` is not a seed (a whole number from 0 to {})", u64::MAX))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(format!("empty range: {a} is greater than {b} (the range is inclusive, A..B with A ≤ B)"));
    }
    if b - a >= MAX_SEEDS {
        return Err(format!("{} seeds is too many; at most {MAX_SEEDS} per run", u128::from(b - a) + 1));
    }
    Ok(a..=b)
}

/// Loads `file` and plants `bugs`; reports a bad file or bug name on stderr.
fn load_with_bugs(file: &Path, bugs: &[String]) -> Option<Scenario> {
    let mut sc = load(file)?;
    for b in bugs {
        if !sc.bugs.set(b) {
            eprintln!(
                "error: unknown planted bug `{b}`\n  hint: one of {}",
                crate::cluster::bugs::PlantedBugs::NAMES.join(", ")
            );
            return None;
        }
    }
    Some(sc)
}

fn cmd_run(file: &Path, seed: Option<u64>, json: bool, bugs: &[String], trace: Option<&Path>) -> ExitCode {
    let Some(mut sc) = load_with_bugs(file, bugs) else { return ExitCode::from(2) };
    if let Some(s) = seed {
        sc.seed = s;
    }
    let run = simulate(&sc);
    if let Some(path) = trace
        && let Err(e) = std::fs::write(path, render::trace_jsonl(&run))
    {
        eprintln!("error: cannot write the trace to {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if json {
        println!("{}", render::json(&run));
    } else {
        print!("{}", render::human(&run));
    }
    ExitCode::SUCCESS
}

/// `run --seeds`: the scenario once per seed, one after the other (each run is single
/// threaded and independent), then the distribution.
fn cmd_run_seeds(file: &Path, seeds: RangeInclusive<u64>, verbose: bool, bugs: &[String]) -> ExitCode {
    let Some(mut sc) = load_with_bugs(file, bugs) else { return ExitCode::from(2) };
    let mut summaries = Vec::new();
    for seed in seeds.clone() {
        sc.seed = seed;
        let s = seed_summary(&simulate(&sc));
        if verbose {
            println!("{}", render::seed_line(&s));
        }
        summaries.push(s);
    }
    if verbose {
        println!();
    }
    print!("{}", render::sweep(&sc.name, &seeds, &distribution(&summaries)));
    ExitCode::SUCCESS
}

/// Scenario files under the given paths (directories are walked, sorted by name).
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let roots = if paths.is_empty() { vec![PathBuf::from("scenarios")] } else { paths.to_vec() };
    let mut files = Vec::new();
    for root in roots {
        if root.is_dir() {
            let entries = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if root.exists() {
            files.push(root);
        } else {
            return Err(format!("{}: no such file or directory", root.display()));
        }
    }
    Ok(files)
}

fn cmd_check(paths: &[PathBuf]) -> ExitCode {
    let files = match scenario_files(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut failed, mut bad) = (0, 0);
    for f in &files {
        let Some(sc) = load(f) else {
            bad += 1;
            continue;
        };
        let run = simulate(&sc);
        let m = run.mismatches();
        if m.is_empty() {
            println!(
                "ok    {}  ({}, {} failover{}, {} events)",
                f.display(),
                run.output.verdict.name(),
                run.outcome.failovers.len(),
                if run.outcome.failovers.len() == 1 { "" } else { "s" },
                run.outcome.events
            );
        } else {
            failed += 1;
            println!("FAIL  {}", f.display());
            for line in m {
                println!("      {line}");
            }
        }
    }
    println!("{} passed, {} failed", files.len() - failed - bad, failed + bad);
    if bad > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

// The benchmark measures wall time by definition; it is outside the simulation core.
#[allow(clippy::disallowed_methods)]
fn cmd_bench(file: &Path, runs: u32) -> ExitCode {
    let Some(sc) = load(file) else { return ExitCode::from(2) };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; measure with `cargo run --release -- bench ...`");
    }
    let mut best: Option<(f64, u64, u64)> = None;
    for i in 0..runs.max(1) {
        let start = std::time::Instant::now();
        let out = World::new(&sc, true).run();
        let wall = start.elapsed().as_secs_f64();
        println!(
            "run {}: {} events ({} records read) in {:.3} s wall = {:.0} events/s; {:.1} s simulated = {:.0}× real time",
            i + 1,
            out.events,
            out.records_read,
            wall,
            out.events as f64 / wall,
            out.end_us as f64 / 1e6,
            out.end_us as f64 / 1e6 / wall
        );
        if best.is_none_or(|b| wall < b.0) {
            best = Some((wall, out.events, out.end_us));
        }
    }
    if let Some((wall, events, end_us)) = best {
        println!(
            "best: {events} events, {:.3} s wall, {:.0} events/s, simulated ÷ wall = {:.0}",
            wall,
            events as f64 / wall,
            end_us as f64 / 1e6 / wall
        );
    }
    ExitCode::SUCCESS
}
