//! The command line (clap): run, check, regions, bench. The edge of the program: it reads files,
//! prints, times and sets exit codes (0 ok, 1 a check failed, 2 bad input or usage; 141 when the
//! reader of standard output went away, as a shell reports a program that SIGPIPE ended).
//!
//! Nothing here panics on its environment: standard output is written through `Out`, whose
//! errors end the command (`main` maps them to an exit code), and standard error through
//! `errln!`, which drops its errors (there is nowhere left to report them). clippy.toml forbids
//! `print!`, `println!`, `eprint!` and `eprintln!`, which panic when their stream fails.

/// `eprintln!` that cannot panic: a message to standard error, dropped if standard error cannot
/// be written (closed, a full disk).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bench;
pub mod diff;
pub mod explore;
pub mod files;
mod flagfiles;
pub mod sweep;

use crate::cluster::engine::World;
use crate::report::{self, check, check::Checked};
use crate::run::{distribution, seed_summary, simulate};
use crate::scenario::Scenario;
use crate::scenario::budget::{Budget, DEFAULT_MAX_EVENTS};
use clap::{Parser, Subcommand};
pub(crate) use flagfiles::scenario_text;
use flagfiles::{FLINK_CONF, FLINK_PLAN, load_scenario, read_once};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "recoverysim", version, about = "Deterministic simulator of Apache Flink failure recovery")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Most engine events one simulation may take (each of a run and its fault-free reference):
    /// a scenario estimated above it is refused before it runs, and a run that gets there stops
    /// with a verdict that says so.
    #[arg(long, global = true, value_name = "N", default_value_t = DEFAULT_MAX_EVENTS, value_parser = clap::value_parser!(u64).range(1..))]
    max_events: u64,
    /// Most memory a run may take (`512MiB`, `4GiB`): a scenario estimated above it is refused
    /// before it runs, and a run whose modelled footprint gets there stops and says so.
    #[arg(long, global = true, value_name = "SIZE", default_value = "1GiB", value_parser = crate::scenario::budget::parse_memory)]
    max_memory: u64,
    /// Colours in `replay`: auto uses them unless NO_COLOR is set (clap's own help follows NO_COLOR).
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    /// No progress bars or progress lines on standard error (results and errors still print).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// A Flink 2.x `config.yaml` (nested or flat keys) merged into every scenario's `[flink]`
    /// table; the scenario's own keys win. The report lists what it ignored.
    #[arg(long, global = true, value_name = "PATH")]
    flink_conf: Option<PathBuf>,
    /// A job graph from Flink's execution plan JSON (`getExecutionPlan()` or the REST API's
    /// `/jobs/<id>/plan`) in place of every scenario's `[job]`; the report lists what it
    /// approximated.
    #[arg(long, global = true, value_name = "PATH")]
    flink_plan: Option<PathBuf>,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `--color` and `--quiet` as the command line set them.
static UI: std::sync::OnceLock<(ColorWhen, bool)> = std::sync::OnceLock::new();

/// Whether `--quiet` was given.
pub(crate) fn quiet() -> bool {
    UI.get().is_some_and(|u| u.1)
}

/// Whether to colour, from `--color` and NO_COLOR (any non-empty value turns auto off).
pub(crate) fn color_wanted(when: ColorWhen, no_color: Option<&std::ffi::OsStr>) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => no_color.is_none_or(|v| v.is_empty()),
    }
}

/// The budget the command line set (`--max-events`, `--max-memory`), for every scenario a
/// command loads.
static BUDGET: std::sync::OnceLock<Budget> = std::sync::OnceLock::new();

fn budget() -> Budget {
    BUDGET.get().copied().unwrap_or_default()
}

/// `explore` and `sweep` run each seed or case at the default budget, so that a scenario file
/// they write reproduces with a plain `run`: they refuse the flags, and a base over the budget.
pub(crate) fn default_budget_only(command: &str, file: &Path, text: &str) -> Result<(), String> {
    if budget() != Budget::default() {
        return Err(format!(
            "error: {command} runs every seed at the default budget (--max-events {DEFAULT_MAX_EVENTS}, --max-memory \
             1GiB), so that a scenario file it writes reproduces with a plain `run`\n  hint: drop --max-events and \
             --max-memory"
        ));
    }
    let sc = crate::scenario::parse_str(&file.display().to_string(), text).map_err(|e| e.to_string())?;
    admit(file, sc).map(|_| ()).map_err(|e| e.to_string())
}

/// `sc` with the command line's budget, or refused with its estimate if over it.
fn admit(file: &Path, mut sc: Scenario) -> Result<Scenario, crate::scenario::ScenarioError> {
    let budget = budget();
    budget.admit(&file.display().to_string(), &sc).map_err(|e| e.into_error())?;
    sc.budget = budget;
    Ok(sc)
}

/// `check --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Github,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario: timeline of what happened and the oracle's verdict.
    #[command(after_long_help = crate::report::human::LEGEND)]
    Run {
        file: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run every seed of a range (`0-199`: both ends included) and print the distribution
        /// of restart cycles, recovery times, detection paths and verdicts.
        #[arg(long, value_name = "A-B", value_parser = parse_seed_range, conflicts_with_all = ["seed", "json", "trace", "check"])]
        seeds: Option<RangeInclusive<u64>>,
        /// With --seeds: also print one line per seed.
        #[arg(long, requires = "seeds")]
        verbose: bool,
        /// With --seeds: seeds run in parallel (each simulation is single threaded; the output
        /// is the same for any number). Default: every core.
        #[arg(long, requires = "seeds", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
        jobs: Option<usize>,
        /// Print one JSON object instead of the timeline.
        #[arg(long)]
        json: bool,
        /// Plant a protocol bug (see the README's table: commit-on-snapshot, no-source-rewind,
        /// restore-empty-state, skip-alignment, no-fencing, …); repeatable.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<String>,
        /// Also write the trace (state transitions, failures, checkpoints, restores, commits) to
        /// this file as JSON Lines (`-`: standard output, instead of the timeline).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The trace's format: `jsonl` (docs/trace-format.md) or `perfetto` (the Trace Event
        /// Format: open the file in ui.perfetto.dev or chrome://tracing).
        #[arg(long, value_enum, default_value_t = TraceFormat::Jsonl, requires = "trace")]
        trace_format: TraceFormat,
        /// Also compare the run with the scenario's [expect] table (as `check` does) and exit 1
        /// when it differs, so one command can gate a build.
        #[arg(long)]
        check: bool,
        /// Print the checkpoint history instead of the timeline (as the Web UI's Checkpoints
        /// tab shows it: status, acknowledgements, sizes, alignment and asynchronous times per
        /// checkpoint and per subtask) and whether checkpoints blocked processing. `--json`
        /// always has it (`checkpoint_history`).
        #[arg(long, conflicts_with_all = ["json", "trace"])]
        checkpoints: bool,
        /// Print the exception history instead of the timeline (as the Web UI's Exceptions tab
        /// shows it: each failure the JobManager handled, its task and TaskManager, the failover
        /// it started, and the task failures that came with it). `--json` always has it
        /// (`exception_history`).
        #[arg(long, conflicts_with_all = ["json", "trace", "checkpoints"])]
        exceptions: bool,
        /// Also draw the run as an SVG timeline chart into this file (one lane per subtask
        /// coloured by ExecutionState, checkpoints, faults, failovers, the verdict): for a CI
        /// artifact or a README.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Run scenario files (default: scenarios/) and compare each with its [expect] table
    /// (without `verdict`: exactly_once; without `job-status`: FINISHED). Exit 1 if one fails,
    /// 2 if one cannot be loaded or no scenario file is found.
    Check {
        paths: Vec<PathBuf>,
        /// Output: `human` lines, one `json` object, `junit` XML for CI servers, or `github`
        /// Actions annotations pointing at the scenario file and line.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also pin each scenario's report (timeline and verdict) in DIR/NAME.snap (insta's
        /// format): written when missing, compared when present; a difference fails the check
        /// and leaves the new report in DIR/NAME.snap.new for `cargo insta review` (or --accept).
        #[arg(long, value_name = "DIR")]
        snapshots: Option<PathBuf>,
        /// With --snapshots: a report that differs from its snapshot replaces it (the pending
        /// NAME.snap.new goes) instead of failing: accept the checked scenarios' new reports.
        #[arg(long, requires = "snapshots")]
        accept: bool,
    },
    /// Watch a run in the terminal, forward and back: the cluster, the job graph with what is
    /// in flight, checkpoints, exceptions, sink transactions and the oracle at any moment
    /// (→/← next/previous trace line, ./, one event, space plays, n/f/r/c/v next
    /// fault/failover/restore/checkpoint/violation, : go to, / search, 1-6 views, ? keys, q quits;
    /// NO_COLOR honoured).
    Replay {
        file: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Plant a protocol bug, as in `run`; repeatable.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<String>,
    },
    /// Search for failures: the scenario's job and cluster with a random fault schedule per
    /// seed (swarm: which fault kinds are on and how often varies by seed), judged by the
    /// oracle; failing seeds grouped by class, the first of each written as a scenario file and
    /// shrunk to a minimal one. Exit 1 if a seed fails. `explore merge FILES…` combines shards.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Explore {
        #[command(subcommand)]
        merge: Option<ExploreCommand>,
        #[command(flatten)]
        args: explore::ExploreArgs,
    },
    /// Crash once at each checkpoint-protocol phase of each subtask where it can happen
    /// (barrier on some inputs, snapshot taken, acknowledged, completed not notified,
    /// pre-committed, restoring, deploying): one run per case with an `at-phase` fault that
    /// kills the TaskManager running the subtask, at the first checkpoint a fault-free run
    /// completes after a third of the duration. Prints phases × subtasks with each verdict,
    /// "not reached" where the phase never came. Exit 1 if a case fails by explore's judgement.
    Sweep(sweep::SweepArgs),
    /// Where two runs part: the first line at which their readable traces (the lines `run
    /// --trace` writes, not the engine's events) differ, with the equal lines before it and what
    /// each side did next, then both verdicts, job statuses, trace hashes and numbers of trace
    /// lines. A and B are each a scenario file (`FILE`, or `FILE@SEED`) simulated now, or
    /// a trace file written by `run --trace` (a run of an older build: "before and after a
    /// change"); `--seeds S1,S2` compares two seeds of one scenario. Exit 0 when the traces are
    /// identical, 1 when they differ, 2 on bad input.
    Diff(diff::DiffArgs),
    /// Print a shell completion script (`recoverysim completions bash > /etc/bash_completion.d/recoverysim`;
    /// zsh: into a directory on $fpath as `_recoverysim`; fish: ~/.config/fish/completions/).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `recoverysim man > recoverysim.1; man ./recoverysim.1`.
    Man,
    /// Print the pipelined regions of a scenario's job; `--format dot` draws them for Graphviz
    /// (`| dot -Tsvg > regions.svg`), with what the first failover restarts in red when the
    /// scenario has a failure.
    Regions {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = RegionsFormat::Text)]
        format: RegionsFormat,
    },
    /// Measure simulation speed (use a release build); with --seek, the replay's time travel.
    Bench {
        file: PathBuf,
        /// How many runs to time.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: u32,
        /// Instead: build the replay's snapshots once, then seek to this many events spread
        /// over the run (in a fixed shuffled order, each from the nearest snapshot) and report
        /// the seek times and the memory the snapshots take.
        #[arg(long, value_name = "SEEKS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        seek: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ExploreCommand {
    /// Combine the results files of shards (`explore --shard k/n --results FILE`) into one
    /// report; refuses overlapping shards, different explorations and missing seeds.
    Merge {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the merged results to this file.
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
        /// Print the coverage summed over the shards (as `explore --coverage`).
        #[arg(long)]
        coverage: bool,
        /// Print it and exit 1 naming the required cells that stayed at zero (as `explore`).
        #[arg(long)]
        require_coverage: bool,
    },
}

pub(crate) fn parse_kind(s: &str) -> Result<crate::explore::draw::Kind, String> {
    crate::explore::draw::Kind::parse(s.trim()).ok_or_else(|| {
        let names: Vec<&str> = crate::explore::draw::Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown fault kind `{s}`; one of {}", names.join(", "))
    })
}

/// Bytes live on the heap, when the binary counts them (its global allocator does).
static HEAP_COUNTER: std::sync::OnceLock<fn() -> usize> = std::sync::OnceLock::new();

/// Lets `bench --seek` report heap bytes exactly.
pub fn set_heap_counter(f: fn() -> usize) {
    let _ = HEAP_COUNTER.set(f);
}

fn heap_bytes() -> Option<u64> {
    HEAP_COUNTER.get().map(|f| f() as u64)
}

/// Standard output as the commands write it (`write!`/`writeln!` work on it): every write
/// returns whether it reached the stream, typed so that `?` passes on output errors only.
pub struct Out<'a>(pub &'a mut dyn std::io::Write);

/// Standard output could not be written: its reader went away (a closed pipe: `| head`) or the
/// disk is full.
#[derive(Debug)]
pub struct OutError(pub std::io::Error);

impl Out<'_> {
    pub fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> Result<(), OutError> {
        self.0.write_fmt(args).map_err(OutError)
    }

    pub fn flush(&mut self) -> Result<(), OutError> {
        self.0.flush().map_err(OutError)
    }
}

/// What a command ends with: its exit code, or the output error that cut it short.
pub type Done = Result<ExitCode, OutError>;

/// The exit code for an output error: a closed pipe ends the program quietly with 141 (128 +
/// SIGPIPE, what a shell shows for `cat` in the same place, so `set -o pipefail` still sees the
/// output was cut short); anything else (a full disk) is an error, exit code 2.
pub fn output_failed(e: &OutError) -> ExitCode {
    if e.0.kind() == std::io::ErrorKind::BrokenPipe {
        ExitCode::from(141)
    } else {
        errln!("error: cannot write to standard output: {}", e.0);
        ExitCode::from(2)
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let _ = BUDGET.set(Budget { max_events: cli.max_events, max_memory: cli.max_memory });
    let _ = UI.set((cli.color, cli.quiet));
    let read = [
        read_once(&FLINK_CONF, cli.flink_conf.as_deref(), crate::scenario::conf::read),
        read_once(&FLINK_PLAN, cli.flink_plan.as_deref(), crate::scenario::plan::read),
    ];
    if let Some(Err(e)) = read.into_iter().find(Result::is_err) {
        errln!("{e}");
        return ExitCode::from(2);
    }
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut out = Out(&mut lock);
    match command(cli.command, &mut out).and_then(|code| out.flush().map(|()| code)) {
        Ok(code) => code,
        Err(e) => output_failed(&e),
    }
}

fn command(command: Command, out: &mut Out) -> Done {
    Ok(match command {
        Command::Run { file, seeds: Some(seeds), verbose, bugs, jobs, .. } => {
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            cmd_run_seeds(out, &file, seeds, verbose, &bugs, jobs)?
        }
        Command::Run { file, seed, json, bugs, trace, trace_format, check, checkpoints, exceptions, svg, .. } => {
            let view = if checkpoints {
                RunView::Checkpoints
            } else if exceptions {
                RunView::Exceptions
            } else if json {
                RunView::Json
            } else {
                RunView::Timeline
            };
            let files_out = RunFiles { trace: trace.as_deref(), trace_format, svg: svg.as_deref() };
            cmd_run(out, &file, seed, view, &bugs, files_out, check)?
        }
        Command::Check { paths, format, snapshots, accept } => {
            cmd_check(out, &paths, format, snapshots.as_deref(), accept)?
        }
        Command::Explore {
            merge: Some(ExploreCommand::Merge { files, results, coverage, require_coverage }), ..
        } => explore::cmd_merge(out, &files, results.as_deref(), coverage, require_coverage)?,
        Command::Explore { merge: None, args } => explore::cmd_explore(out, args)?,
        Command::Sweep(args) => sweep::cmd_sweep(out, args)?,
        Command::Diff(args) => diff::cmd_diff(out, args)?,
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "recoverysim", &mut buf);
            write!(out, "{}", String::from_utf8_lossy(&buf))?;
            ExitCode::SUCCESS
        }
        Command::Man => {
            let mut buf = Vec::new();
            // Rendering into memory: a Vec<u8> never fails to take bytes.
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut buf) {
                Ok(()) => {
                    write!(out, "{}", String::from_utf8_lossy(&buf))?;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    errln!("error: the man page: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Regions { file, format } => {
            let Some(sc) = load(&file) else { return Ok(ExitCode::from(2)) };
            let graph = crate::job::graph::JobGraph::build(&sc.job);
            match format {
                RegionsFormat::Text => write!(out, "{}", report::sweep::regions(&graph))?,
                RegionsFormat::Dot => {
                    // With faults, run the scenario to show what its first failover restarted.
                    let run = (!sc.faults.is_empty()).then(|| simulate(&sc));
                    let failed = run.as_ref().and_then(|r| r.outcome.failovers.first()).map(|f| {
                        let what = match f.failed_subtask {
                            Some(st) => format!("the first failover restarted ({} failed)", graph.subtask_name(st)),
                            None => "the first failover restarted (a global failure)".to_string(),
                        };
                        (f.to_restart.clone(), what)
                    });
                    let failed = failed.as_ref().map(|(s, w)| (s.as_slice(), w.as_str()));
                    write!(out, "{}", report::dot::regions_dot(&graph, failed))?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Bench { file, seek: Some(n), .. } => bench::cmd_bench_seek(out, &file, n)?,
        Command::Bench { file, runs, .. } => bench::cmd_bench(out, &file, runs)?,
        Command::Replay { file, seed, bugs } => cmd_replay(&file, seed, &bugs),
    })
}

/// `replay`: refuses to start without an interactive terminal (before the simulation, which
/// takes a while), and never leaves the terminal in raw mode.
fn cmd_replay(file: &Path, seed: Option<u64>, bugs: &[String]) -> ExitCode {
    let Some(mut sc) = load_with_bugs(file, bugs) else { return ExitCode::from(2) };
    if let Some(why) = crate::tui::terminal_missing() {
        errln!(
            "error: replay needs an interactive terminal: {why}\n  hint: run it in a terminal; \
             `recoverysim run {}` prints the timeline instead",
            file.display()
        );
        return ExitCode::from(2);
    }
    if let Some(s) = seed {
        sc.seed = s;
    }
    if !quiet() {
        errln!("simulating {} (the run, its fault-free reference, then its snapshots)…", sc.name);
    }
    let run = simulate(&sc);
    let mut app = crate::tui::app::App::new(&run);
    let when = UI.get().map_or(ColorWhen::Auto, |u| u.0);
    app.color = color_wanted(when, std::env::var_os("NO_COLOR").as_deref());
    match crate::tui::replay(&mut app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: the terminal: {e}");
            ExitCode::from(2)
        }
    }
}

fn load(file: &Path) -> Option<Scenario> {
    match load_scenario(file) {
        Ok(sc) => Some(sc),
        Err(e) => {
            errln!("{e}");
            None
        }
    }
}

/// `load`, then the budget: a scenario to simulate.
fn load_admitted(file: &Path) -> Option<Scenario> {
    match load_scenario(file).and_then(|sc| admit(file, sc)) {
        Ok(sc) => Some(sc),
        Err(e) => {
            errln!("{e}");
            None
        }
    }
}

/// Most seeds one `run --seeds` sweeps: a bound on its time (each seed is two full runs).
const MAX_SEEDS: u64 = 100_000;

/// `A-B`: a range of seeds with both ends included, `A ≤ B`, at most `MAX_SEEDS` of them (the
/// same range rule as subtasks and checkpoints).
pub(crate) fn parse_seed_range(s: &str) -> Result<RangeInclusive<u64>, String> {
    if s.contains("..") {
        return Err("ranges are written A-B with both ends included, e.g. 0-199".into());
    }
    let Some((a, b)) = s.split_once('-') else {
        return Err("expected a range of seeds A-B (both ends included), e.g. 0-199".into());
    };
    let num = |x: &str| {
        x.trim().parse::<u64>().map_err(|_| format!("`{x}` is not a seed (a whole number from 0 to {})", u64::MAX))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(format!("empty range: {a} is greater than {b} (A-B needs A ≤ B)"));
    }
    if b - a >= MAX_SEEDS {
        return Err(format!("{} seeds is too many; at most {MAX_SEEDS} per run", u128::from(b - a) + 1));
    }
    Ok(a..=b)
}

/// Loads `file` and plants `bugs`; reports a bad file or bug name on stderr.
fn load_with_bugs(file: &Path, bugs: &[String]) -> Option<Scenario> {
    let mut sc = load_admitted(file)?;
    for b in bugs {
        if !sc.bugs.set(b) {
            errln!(
                "error: unknown planted bug `{b}`\n  hint: one of {}",
                crate::cluster::bugs::PlantedBugs::NAMES.join(", ")
            );
            return None;
        }
    }
    Some(sc)
}

/// `run --trace-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// One JSON object per trace line (docs/trace-format.md).
    Jsonl,
    /// Perfetto / Chrome trace viewer JSON: tracks per TaskManager and subtask, checkpoints,
    /// failovers, faults, sink transactions.
    Perfetto,
}

/// What `regions` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RegionsFormat {
    /// The regions in words.
    Text,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
}

/// The files `run` writes besides what it prints: `--trace`, `--svg`.
struct RunFiles<'a> {
    trace: Option<&'a Path>,
    trace_format: TraceFormat,
    svg: Option<&'a Path>,
}

/// What `run` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunView {
    Timeline,
    Json,
    Checkpoints,
    Exceptions,
}

fn cmd_run(
    out: &mut Out,
    file: &Path,
    seed: Option<u64>,
    view: RunView,
    bugs: &[String],
    files_out: RunFiles<'_>,
    check: bool,
) -> Done {
    let RunFiles { trace, trace_format, svg } = files_out;
    let Some(mut sc) = load_with_bugs(file, bugs) else { return Ok(ExitCode::from(2)) };
    if let Some(s) = seed {
        sc.seed = s;
    }
    let trace_to_stdout = trace.is_some_and(|p| p == Path::new("-"));
    // Refused before the run: a trace that would replace the scenario, or a special file.
    let inputs = files::Inputs::of([file]);
    if let Some(path) = trace.filter(|_| !trace_to_stdout)
        && let Err(e) = files::check_output(path, &inputs, true)
    {
        let hint = if matches!(e, files::FileError::NotRegular { .. }) {
            "\n  hint: `--trace -` writes the trace to standard output"
        } else {
            ""
        };
        errln!("error: the trace: {e}{hint}");
        return Ok(ExitCode::from(2));
    }
    if let Some(path) = svg
        && let Err(e) = files::check_output(path, &inputs, true)
    {
        errln!("error: the chart: {e}");
        return Ok(ExitCode::from(2));
    }
    let run = simulate(&sc);
    if let Some(path) = svg
        && let Err(e) = files::write_streamed(path, &inputs, true, |w| w.write_all(report::chart::svg(&run).as_bytes()))
    {
        errln!("error: the chart: {e}");
        return Ok(ExitCode::from(2));
    }
    let write_trace = |w: &mut dyn std::io::Write| match trace_format {
        TraceFormat::Jsonl => report::trace::write_jsonl(&run, w),
        TraceFormat::Perfetto => writeln!(w, "{}", report::perfetto::trace(&run)),
    };
    if let Some(path) = trace {
        if trace_to_stdout {
            match trace_format {
                TraceFormat::Jsonl => write!(out, "{}", report::trace::jsonl(&run))?,
                TraceFormat::Perfetto => writeln!(out, "{}", report::perfetto::trace(&run))?,
            }
        } else if let Err(e) = files::write_streamed(path, &inputs, true, write_trace) {
            errln!("error: the trace: {e}");
            return Ok(ExitCode::from(2));
        }
    }
    if trace_to_stdout {
        // Standard output holds the trace alone; the timeline would break its JSON Lines.
    } else {
        match view {
            RunView::Json => writeln!(out, "{}", report::json::run(&run))?,
            RunView::Timeline => write!(out, "{}", report::human::report(&run))?,
            RunView::Checkpoints => {
                write!(out, "{}", report::human::header(&run))?;
                writeln!(out)?;
                write!(out, "{}", report::checkpoints::report(&run))?;
            }
            RunView::Exceptions => {
                write!(out, "{}", report::human::header(&run))?;
                writeln!(out)?;
                write!(out, "{}", report::exceptions::report(&run))?;
            }
        }
    }
    if check {
        let m = run.mismatches();
        if !m.is_empty() {
            errln!("FAIL  {}: the run does not meet its [expect] table", file.display());
            for line in m {
                errln!("      {line}");
            }
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `run --seeds`: the scenario once per seed, one after the other (each run is single
/// threaded and independent), then the distribution.
fn cmd_run_seeds(
    out: &mut Out,
    file: &Path,
    seeds: RangeInclusive<u64>,
    verbose: bool,
    bugs: &[String],
    jobs: usize,
) -> Done {
    let Some(sc) = load_with_bugs(file, bugs) else { return Ok(ExitCode::from(2)) };
    let all: Vec<u64> = seeds.clone().collect();
    let bar = progress_bar(all.len() as u64, "seeds");
    let summaries = in_parallel(&all, jobs, |&seed| {
        let mut sc = sc.clone();
        sc.seed = seed;
        let s = seed_summary(&simulate(&sc));
        if let Some(b) = &bar {
            b.inc(1);
        }
        s
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if verbose {
        for s in &summaries {
            writeln!(out, "{}", report::sweep::seed_line(s))?;
        }
        writeln!(out)?;
    }
    write!(out, "{}", report::sweep::distribution(&sc.name, &seeds, &distribution(&summaries)))?;
    Ok(ExitCode::SUCCESS)
}

/// `f` of every item on up to `jobs` threads (each item's work single threaded), the results in
/// the items' order, whatever the number of threads.
pub(crate) fn in_parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<(usize, R)>> = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    done.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Whether to draw a progress bar: only for a person watching, with standard error a terminal
/// and `CI` unset (a CI log would keep every redraw). Elsewhere nothing extra is written.
pub(crate) fn progress_wanted(stderr_is_terminal: bool, ci: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && ci.is_none_or(|v| v.is_empty()) && !quiet()
}

/// A progress bar on standard error over `total` `unit`s (`run --seeds`, `check`), or none: not
/// for a person watching (`progress_wanted`), or fewer than two items.
fn progress_bar(total: u64, unit: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if total < 2 || !progress_wanted(std::io::stderr().is_terminal(), std::env::var_os("CI").as_deref()) {
        return None;
    }
    let b = indicatif::ProgressBar::new(total);
    let template = format!("[{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    b.set_style(
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}

/// Runs `f` with the progress bar (if any) taken off the terminal, so what `f` prints is not
/// drawn over; the bar comes back after.
fn suspended<R>(bar: &Option<indicatif::ProgressBar>, f: impl FnOnce() -> R) -> R {
    match bar {
        Some(b) => b.suspend(f),
        None => f(),
    }
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

// JUnit's `time` attributes: the wall time of each scenario's check, read here at the edge (the
// simulation itself runs on virtual time).
#[allow(clippy::disallowed_methods)]
fn cmd_check(out: &mut Out, paths: &[PathBuf], format: Format, snapshots: Option<&Path>, accept: bool) -> Done {
    let files = match scenario_files(paths) {
        Ok(f) => f,
        Err(e) => {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        errln!(
            "error: no scenario files (*.toml) in {}",
            if shown.is_empty() { "scenarios/".to_string() } else { shown.join(", ") }
        );
        return Ok(ExitCode::from(2));
    }
    // Snapshots are never written over a scenario file.
    let inputs = files::Inputs::of(&files);
    let mut results = Vec::new();
    // Seconds each file's check took, for JUnit.
    let mut times = Vec::new();
    let bar = progress_bar(files.len() as u64, "scenarios");
    for f in &files {
        let started = std::time::Instant::now();
        let checked = match load_scenario(f).and_then(|sc| admit(f, sc)) {
            Err(e) => Checked::Error(e),
            Ok(sc) => {
                let run = simulate(&sc);
                let mut mismatches = run.mismatches();
                if let Some(dir) = snapshots {
                    let pinned = crate::snapshot::pin(dir, f, &report::human::report(&run), &inputs, accept);
                    if let Ok(crate::snapshot::Pinning { moved_from: Some(old), file, .. }) = &pinned {
                        suspended(&bar, || errln!("note: snapshot {} moved to {}", old.display(), file.display()));
                    }
                    let file = pinned.as_ref().map(|p| p.file.clone()).unwrap_or_default();
                    match pinned.map(|p| p.outcome) {
                        Ok(crate::snapshot::Pinned::Same | crate::snapshot::Pinned::Written) => {}
                        Ok(crate::snapshot::Pinned::Accepted { first_difference }) => suspended(&bar, || {
                            errln!("note: snapshot {} accepted ({first_difference})", file.display())
                        }),
                        Ok(crate::snapshot::Pinned::Differs { new_file, first_difference }) => {
                            mismatches.push(crate::run::Mismatch {
                                key: "snapshot",
                                message: format!(
                                    "the report differs from its snapshot ({first_difference}); the new one is {}",
                                    new_file.display()
                                ),
                            })
                        }
                        Err(e) => {
                            if let Some(b) = &bar {
                                b.finish_and_clear();
                            }
                            errln!("error: {e}");
                            return Ok(ExitCode::from(2));
                        }
                    }
                }
                if mismatches.is_empty() {
                    Checked::Ok {
                        verdict: run.output.verdict.name(),
                        failovers: run.outcome.failovers.len(),
                        events: run.outcome.events,
                    }
                } else {
                    Checked::Fail { mismatches, lines: sc.expect.lines.clone() }
                }
            }
        };
        times.push(started.elapsed().as_secs_f64());
        if format == Format::Human {
            // Printed as it goes: a long check shows progress.
            suspended(&bar, || write!(out, "{}", check::human_line(f, &checked)))?;
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
        results.push((f.clone(), checked));
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let failed = results.iter().filter(|(_, c)| matches!(c, Checked::Fail { .. })).count();
    let bad = results.iter().filter(|(_, c)| matches!(c, Checked::Error(_))).count();
    match format {
        Format::Human => writeln!(out, "{} passed, {} failed", results.len() - failed - bad, failed + bad)?,
        Format::Json => writeln!(out, "{}", check::json(&results))?,
        Format::Junit => write!(out, "{}", check::junit(&results, &times))?,
        Format::Github => write!(out, "{}", check::github(&results))?,
    }
    Ok(if bad > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::{ColorWhen, color_wanted, progress_wanted};
    use std::ffi::OsStr;

    #[test]
    fn color_follows_the_flag_and_no_color() {
        assert!(color_wanted(ColorWhen::Auto, None));
        assert!(color_wanted(ColorWhen::Auto, Some(OsStr::new(""))), "an empty NO_COLOR is unset");
        assert!(!color_wanted(ColorWhen::Auto, Some(OsStr::new("1"))));
        assert!(color_wanted(ColorWhen::Always, Some(OsStr::new("1"))), "--color always wins");
        assert!(!color_wanted(ColorWhen::Never, None));
    }

    #[test]
    fn a_progress_bar_only_on_a_terminal_outside_ci() {
        assert!(progress_wanted(true, None));
        assert!(progress_wanted(true, Some(OsStr::new(""))));
        assert!(!progress_wanted(true, Some(OsStr::new("true"))), "CI set: no bar");
        assert!(!progress_wanted(false, None), "standard error not a terminal: no bar");
    }
}
