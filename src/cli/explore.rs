//! `explore`: seeds in parallel (each simulation stays single threaded), a progress bar on a
//! terminal outside CI, plain lines otherwise, the summary, the results file, and for failing seeds the
//! scenario file as drawn and shrunk. Files are written atomically (`super::files`), never over
//! the scenario and never over an existing one unless asked.

use super::files::{self, Inputs};
use super::{Done, Out, OutError};
use crate::explore::report::{self, Results};
use crate::explore::shrink::shrink;
use crate::explore::{Base, BaseError, Judgement, SeedResult, draw, in_shard, run_seed};
use std::io::IsTerminal;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// `explore FILE --seeds A-B …` (clap; `explore merge` is the other form).
#[derive(clap::Args)]
pub struct ExploreArgs {
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Seeds to explore (`0-999`: both ends included).
    #[arg(long, value_name = "A-B", value_parser = super::parse_seed_range, required = true)]
    pub seeds: Option<RangeInclusive<u64>>,
    /// Seeds run in parallel (each simulation is single threaded).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: usize,
    /// Also draw the job and its configuration per seed: topology, parallelism, chaining,
    /// keys, checkpointing on/off, interval, mode, unaligned checkpoints, state backend, timeouts,
    /// concurrent checkpoints, sinks, restart and failover strategies, heartbeats, HA, cluster
    /// size and network.
    #[arg(long)]
    pub vary: bool,
    /// Also draw a user's operation in half the seeds: stop-with-savepoint then a submission
    /// from the savepoint, cancel then a submission from the retained checkpoint or from nothing,
    /// or a task failure that suppresses restarts.
    #[arg(long)]
    pub operations: bool,
    /// Only these fault kinds (comma-separated; default every kind): kill-taskmanager,
    /// stop-taskmanager, lose-taskmanager-host, freeze-taskmanager, partition, lose-messages,
    /// delay-messages, rolling-update, kill-jobmanager, fail-task, storage-outage, storage-slow.
    #[arg(long, value_delimiter = ',', value_parser = super::parse_kind)]
    pub kinds: Vec<draw::Kind>,
    /// Most faults drawn per seed.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_faults: u32,
    /// Plant a protocol bug in every seed, as in `run`; repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Run only the k-th of n disjoint slices of the seeds (seed mod n = k-1); also read
    /// from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX and JOB_COMPLETIONS.
    #[arg(long, value_name = "k/n", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Write every seed's result to this JSON file (for `explore merge`).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Where failing seeds' scenario files go.
    #[arg(long, value_name = "DIR", default_value = "explore-out")]
    pub out: PathBuf,
    /// Do not shrink failing seeds.
    #[arg(long)]
    pub no_shrink: bool,
    /// Time allowed to shrink each failing class, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub shrink_budget: u64,
    /// Run every n-th seed twice and compare trace hashes (0: never).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub recheck_every: u64,
    /// Overwrite scenario files already in --out.
    #[arg(long)]
    pub force: bool,
    /// After the summary, print the coverage: for every fault that fired, the job's
    /// checkpoint-protocol phase at that instant (restart, deploy, restore, barriers in flight,
    /// snapshot taken, acknowledgements on the way, notification pending, pre-committed,
    /// running), as fault kind × phase and operator kind × phase (the operator kinds on the
    /// tasks the fault hit).
    #[arg(long)]
    pub coverage: bool,
    /// Print the coverage and exit 1 naming every cell that stayed at zero: each explored fault
    /// kind × each phase the job can be in, and each operator kind of the job × each such phase
    /// (checkpoint phases need checkpointing, pre-committed a two-phase-commit sink; with
    /// --vary every operator kind and phase).
    #[arg(long)]
    pub require_coverage: bool,
    /// Also run each drawn scenario with the other failover strategy (region ↔ full) and with
    /// a delay that cannot change the result (+5 ms on every message to and from the sink store
    /// and checkpoint storage, +1 ms on every data message; in order, far below every timeout),
    /// and fail the seed ("metamorphic: …") when a variant ends differently, gets another
    /// verdict, or — if the job finished and the log fixes its output — commits other final
    /// results. Not compared: a run whose restart strategy gave up or whose JobManager died
    /// without HA (timing decides that, as in Flink). Where Flink promises at-least-once (append
    /// sink, AT_LEAST_ONCE, no checkpoints) duplicates may differ, loss may not. Three times the
    /// work per seed.
    #[arg(long)]
    pub metamorphic: bool,
    /// Also write the drawn scenario of every seed that did not fail to --out
    /// (`NAME-seed-N.toml`, with how it was judged): to look at what a seed ran. At most
    /// 1000 seeds.
    #[arg(long)]
    pub write_all: bool,
}

/// Prints the coverage if asked; `false` when `--require-coverage` finds empty cells.
pub fn print_coverage(out: &mut Out, res: &Results, show: bool, require: bool) -> Result<bool, OutError> {
    if !show && !require {
        return Ok(true);
    }
    write!(out, "{}", crate::explore::coverage::render(res))?;
    if !require {
        return Ok(true);
    }
    let missing = crate::explore::coverage::missing(res);
    if missing.is_empty() {
        writeln!(out, "coverage: every required cell reached")?;
        return Ok(true);
    }
    writeln!(out, "coverage: {} required cells stayed at zero: {}", missing.len(), missing.join(", "))?;
    Ok(false)
}

/// The shard from `--shard k/n`, or from a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, 0-based,
/// with the completion count in `JOB_COMPLETIONS`).
pub fn shard_from_env() -> Result<Option<(u64, u64)>, String> {
    let Ok(index) = std::env::var("JOB_COMPLETION_INDEX") else { return Ok(None) };
    let n = std::env::var("JOB_COMPLETIONS").map_err(|_| {
        "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not: set it to the Job's completions".to_string()
    })?;
    let k: u64 = index.trim().parse().map_err(|_| format!("JOB_COMPLETION_INDEX={index} is not a number"))?;
    let n: u64 = n.trim().parse().map_err(|_| format!("JOB_COMPLETIONS={n} is not a number"))?;
    if n == 0 || k >= n {
        return Err(format!("JOB_COMPLETION_INDEX={k} is not below JOB_COMPLETIONS={n}"));
    }
    Ok(Some((k + 1, n)))
}

pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}`: a shard is k/n with 1 ≤ k ≤ n, e.g. 2/8");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn file_stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "scenario".into())
}

// Wall time per seed and for the whole exploration is what the user asks for; threads run
// independent simulations outside the single-threaded core.
#[allow(clippy::disallowed_methods)]
pub fn cmd_explore(out: &mut Out, a: ExploreArgs) -> Done {
    let (Some(path), Some(seed_range)) = (a.file.clone(), a.seeds.clone()) else {
        errln!("error: explore needs a scenario FILE and --seeds A-B");
        return Ok(ExitCode::from(2));
    };
    let kinds = if a.kinds.is_empty() { draw::Kind::ALL.to_vec() } else { a.kinds.clone() };
    let text = match super::scenario_text(&path) {
        Ok(t) => t,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Err(e) = super::default_budget_only("explore", &path, &text) {
        errln!("{e}");
        return Ok(ExitCode::from(2));
    }
    // Refused now rather than after the seeds ran: a results file that is the scenario.
    let inputs = Inputs::of([&path]);
    if let Some(results) = &a.results
        && let Err(e) = files::check_output(results, &inputs, true)
    {
        errln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let file = path.display().to_string();
    let opts = draw::DrawOptions {
        kinds: kinds.clone(),
        max_faults: a.max_faults,
        vary: a.vary,
        recoverable: true,
        operations: a.operations,
    };
    let mut base = match Base::new(&file, &text, opts, a.bugs.clone()) {
        Ok(b) => b,
        Err(BaseError::Scenario(e)) => {
            errln!("{e}");
            return Ok(ExitCode::from(2));
        }
        Err(BaseError::UnknownBug(b)) => {
            errln!(
                "error: unknown planted bug `{b}`\n  hint: one of {}",
                crate::cluster::bugs::PlantedBugs::NAMES.join(", ")
            );
            return Ok(ExitCode::from(2));
        }
    };
    base.metamorphic = a.metamorphic;
    let shard = match a.shard {
        Some(s) => Some(s),
        None => match shard_from_env() {
            Ok(s) => s,
            Err(e) => {
                errln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let seeds: Vec<u64> = seed_range.clone().filter(|&s| shard.is_none_or(|(k, n)| in_shard(s, k, n))).collect();
    if a.write_all && seeds.len() > 1000 {
        errln!("error: --write-all writes a file per seed: at most 1000 seeds, not {}", seeds.len());
        return Ok(ExitCode::from(2));
    }
    let total = seeds.len() as u64;
    let jobs = a.jobs.max(1).min(seeds.len().max(1));
    let started = std::time::Instant::now();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let rechecked = AtomicU64::new(0);
    let results: Mutex<Vec<(SeedResult, Option<String>)>> = Mutex::new(Vec::with_capacity(seeds.len()));
    // A bar only for a person watching (standard error a terminal, `CI` unset), as `check`'s;
    // elsewhere a plain line every tenth of the seeds.
    let bar = if super::progress_wanted(std::io::stderr().is_terminal(), std::env::var_os("CI").as_deref()) {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} seeds, {msg} ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_message("0 failures");
        Some(b)
    } else {
        None
    };
    let step = (total / 10).max(1);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(i) else { break };
                    let t0 = std::time::Instant::now();
                    let (mut r, text) = run_seed(&base, seed);
                    // The determinism self-check: a fraction of seeds run twice.
                    if a.recheck_every > 0 && seed % a.recheck_every == 0 && text.is_some() {
                        rechecked.fetch_add(1, Ordering::Relaxed);
                        let (again, _) = run_seed(&base, seed);
                        if again.trace_hash != r.trace_hash {
                            r.judgement = Judgement::Fail {
                                class: "nondeterministic: a second run gave another trace hash".into(),
                                detail: format!("{} then {}", r.trace_hash, again.trace_hash),
                            };
                        }
                    }
                    r.wall_ms = t0.elapsed().as_millis() as u64;
                    let failed = r.judgement.is_fail();
                    let nf = failures.fetch_add(u64::from(failed), Ordering::Relaxed) + u64::from(failed);
                    let nd = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(b) = &bar {
                        b.set_message(format!("{nf} failures"));
                        b.inc(1);
                    } else if (nd.is_multiple_of(step) || nd == total) && !super::quiet() {
                        errln!("explored {nd}/{total} seeds, {nf} failures, {:.0} s", started.elapsed().as_secs_f64());
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((r, text));
                }
            });
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    let mut all = results.into_inner().unwrap_or_else(|p| p.into_inner());
    all.sort_by_key(|(r, _)| r.seed);
    let res = Results {
        schema: report::SCHEMA.into(),
        scenario: file.clone(),
        first_seed: *seed_range.start(),
        last_seed: *seed_range.end(),
        vary: a.vary,
        operations: a.operations,
        kinds: kinds.iter().map(|k| k.name().to_string()).collect(),
        max_faults: a.max_faults,
        bugs: a.bugs.clone(),
        metamorphic: a.metamorphic,
        shard: shard.map(|(k, n)| [k, n]),
        rechecked: rechecked.load(Ordering::Relaxed),
        results: all.iter().map(|(r, _)| r.clone()).collect(),
        operators: base.coverage_axes().0,
        phases: base.coverage_axes().1,
    };
    write!(out, "{}", report::summary(&res))?;
    let covered = print_coverage(out, &res, a.coverage, a.require_coverage)?;
    write!(out, "{}", report::timing(&res, wall_ms, jobs))?;
    if let Some(path) = &a.results {
        let json = serde_json::to_string_pretty(&res).expect("results serialize: plain data");
        if let Err(e) = files::write_atomic(path, (json + "\n").as_bytes(), &inputs, true) {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        writeln!(out, "results: {}", path.display())?;
    }
    // Failing seeds: the first of each class, written as drawn and shrunk.
    let mut shown: Vec<&str> = Vec::new();
    let mut write_failed = false;
    for (r, text) in &all {
        let (Judgement::Fail { class, .. }, Some(text)) = (&r.judgement, text) else { continue };
        if shown.contains(&class.as_str()) {
            continue;
        }
        shown.push(class);
        let stem = format!("{}-seed-{}", file_stem(&path), r.seed);
        let header = format!(
            "# Found by: recoverysim explore {file} --seeds {s}-{s}{vary}{meta}{bugs}\n# Failure: {class}\n",
            s = r.seed,
            vary = if a.vary { " --vary" } else { "" },
            meta = if a.metamorphic { " --metamorphic" } else { "" },
            bugs = a.bugs.iter().map(|b| format!(" --bug {b}")).collect::<String>(),
        );
        let drawn = a.out.join(format!("{stem}.toml"));
        if let Err(e) = files::write_atomic(&drawn, format!("{header}{text}").as_bytes(), &inputs, a.force) {
            errln!("error: {e}");
            write_failed = true;
            continue;
        }
        writeln!(out, "\nseed {} ({class}): the drawn scenario is {}", r.seed, drawn.display())?;
        if class.starts_with(crate::explore::metamorphic::CLASS_PREFIX) {
            // The variants as scenario files, to run, replay or `diff` against the drawn one.
            for v in crate::explore::metamorphic::Variant::ALL {
                let Ok(sc) = crate::scenario::parse_str(&file, text) else { continue };
                let Ok(vtext) = v.apply(text, &sc) else { continue };
                let vpath = a.out.join(format!("{stem}-{}.toml", v.name()));
                if let Err(e) = files::write_atomic(
                    &vpath,
                    format!("{header}# Variant: {}\n{vtext}", v.label()).as_bytes(),
                    &inputs,
                    a.force,
                ) {
                    errln!("error: {e}");
                    write_failed = true;
                    continue;
                }
                writeln!(out, "  variant ({}): {}", v.label(), vpath.display())?;
                writeln!(out, "  compare:   recoverysim diff {} {}", drawn.display(), vpath.display())?;
            }
        }
        if a.no_shrink {
            writeln!(out, "  reproduce: recoverysim run {}", drawn.display())?;
            continue;
        }
        let t0 = std::time::Instant::now();
        let budget = std::time::Duration::from_secs(a.shrink_budget);
        let s = shrink(&file, text, class, || t0.elapsed() < budget);
        let min = a.out.join(format!("{stem}-min.toml"));
        let header =
            format!("{header}# Shrunk from {} ({} → {} faults)\n", drawn.display(), s.faults_before, s.faults_after);
        if let Err(e) = files::write_atomic(&min, format!("{header}{}", s.text).as_bytes(), &inputs, a.force) {
            errln!("error: {e}");
            write_failed = true;
            continue;
        }
        writeln!(
            out,
            "  shrunk in {:.1} s ({} runs, {} steps): {} → {} faults; still: {}",
            t0.elapsed().as_secs_f64(),
            s.tries,
            s.steps,
            s.faults_before,
            s.faults_after,
            match &s.judgement {
                Judgement::Fail { detail, .. } => detail.chars().take(200).collect::<String>(),
                j => format!("{j:?}"),
            }
        )?;
        writeln!(out, "  reproduce: recoverysim run {}", min.display())?;
        writeln!(out, "  watch:     recoverysim replay {}", min.display())?;
    }
    if a.write_all {
        for (r, text) in &all {
            let (false, Some(text)) = (r.judgement.is_fail(), text) else { continue };
            let judged = match &r.judgement {
                Judgement::Expected { why } => format!("{}/{}: as Flink behaves: {why}", r.verdict, r.job_status),
                _ => format!("{}/{}", r.verdict, r.job_status),
            };
            let header = format!(
                "# Drawn by: recoverysim explore {file} --seeds {s}-{s}{vary}{bugs}\n# Judged: {judged}\n",
                s = r.seed,
                vary = if a.vary { " --vary" } else { "" },
                bugs = a.bugs.iter().map(|b| format!(" --bug {b}")).collect::<String>(),
            );
            let drawn = a.out.join(format!("{}-seed-{}.toml", file_stem(&path), r.seed));
            if let Err(e) = files::write_atomic(&drawn, format!("{header}{text}").as_bytes(), &inputs, a.force) {
                errln!("error: {e}");
                write_failed = true;
            }
        }
        writeln!(out, "drawn scenarios of the other seeds: {}", a.out.display())?;
    }
    if write_failed {
        return Ok(ExitCode::from(2));
    }
    Ok(if res.results.iter().any(|r| r.judgement.is_fail()) || !covered {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn cmd_merge(
    out: &mut Out,
    files: &[PathBuf],
    results: Option<&Path>,
    coverage: bool,
    require_coverage: bool,
) -> Done {
    let inputs = Inputs::of(files);
    if let Some(path) = results
        && let Err(e) = files::check_output(path, &inputs, true)
    {
        errln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let mut parts = Vec::new();
    for f in files {
        let text = match files::read_input(f) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        match serde_json::from_str::<Results>(&text) {
            Ok(r) if r.schema == report::SCHEMA => parts.push(r),
            Ok(r) => {
                errln!("error: {}: schema {:?}, expected {:?}", f.display(), r.schema, report::SCHEMA);
                return Ok(ExitCode::from(2));
            }
            Err(e) => {
                errln!("error: {}: not an explore results file: {e}", f.display());
                return Ok(ExitCode::from(2));
            }
        }
    }
    let merged = match report::merge(parts) {
        Ok(m) => m,
        Err(e) => {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    write!(out, "{}", report::summary(&merged))?;
    let covered = print_coverage(out, &merged, coverage, require_coverage)?;
    if let Some(path) = results {
        let json = serde_json::to_string_pretty(&merged).expect("results serialize: plain data");
        if let Err(e) = files::write_atomic(path, (json + "\n").as_bytes(), &inputs, true) {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(if merged.results.iter().any(|r| r.judgement.is_fail()) || !covered {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
