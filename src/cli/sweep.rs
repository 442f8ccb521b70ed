//! `sweep FILE`: the cases of `explore::sweep` run in parallel (each simulation single
//! threaded), the table, and with `-o DIR` each case's scenario file (written atomically, never
//! over the scenario).

use crate::explore::sweep::{Cell, SweepError, case_file_name, plan, render, run_case};
use std::path::PathBuf;
use std::process::ExitCode;

/// `sweep FILE [--jobs N] [-o DIR]`.
#[derive(clap::Args)]
pub struct SweepArgs {
    pub file: PathBuf,
    /// Cases run in parallel (each simulation is single threaded).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: usize,
    /// Write each case's scenario file here (`sweep-PHASE-SUBTASK.toml`), so `run` reproduces
    /// any cell.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite case files already in DIR.
    #[arg(long)]
    pub force: bool,
    /// Plant a protocol bug in every case, as in `run`; repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
}

// Threads run independent simulations outside the single-threaded core; the wall time is
// what the user asks for.
#[allow(clippy::disallowed_methods)]
pub fn cmd_sweep(out: &mut super::Out, a: SweepArgs) -> super::Done {
    let text = match super::scenario_text(&a.file) {
        Ok(t) => t,
        Err(e) => {
            errln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Err(e) = super::default_budget_only("sweep", &a.file, &text) {
        errln!("{e}");
        return Ok(ExitCode::from(2));
    }
    let file = a.file.display().to_string();
    let started = std::time::Instant::now();
    let plan = match plan(&file, &text, &a.bugs) {
        Ok(p) => p,
        Err(e @ (SweepError::Scenario(_) | SweepError::NoCheckpoint(_) | SweepError::UnknownBug(_))) => {
            errln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(dir) = &a.out {
        let inputs = super::files::Inputs::of([&a.file]);
        for case in &plan.cases {
            let path = dir.join(case_file_name(&plan, case));
            if let Err(e) = super::files::write_atomic(&path, case.text.as_bytes(), &inputs, a.force) {
                errln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let jobs = a.jobs.max(1).min(plan.cases.len().max(1));
    let cells: Vec<Cell> = super::in_parallel(&plan.cases, jobs, |case| run_case(&file, case));
    write!(out, "{}", render(&plan, &cells))?;
    if let Some(dir) = &a.out {
        writeln!(
            out,
            "case files: {} (reproduce a cell: recoverysim run {}/sweep-PHASE-SUBTASK.toml)",
            dir.display(),
            dir.display()
        )?;
    }
    errln!("wall time: {} cases in {:.1} s on {jobs} jobs", cells.len(), started.elapsed().as_secs_f64());
    Ok(if cells.iter().any(|c| c.judgement.is_fail()) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
