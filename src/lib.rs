//! recoverysim: a deterministic simulator of Apache Flink's failure recovery.
//!
//! The library behind the `recoverysim` command. For your own regression tests, run a scenario
//! file and pin its report with insta:
//!
//! ```no_run
//! let run = recoverysim::run_file("scenarios/keyed-tm-kill.toml").expect("a valid scenario");
//! assert_eq!(run.output.verdict, recoverysim::check::Verdict::ExactlyOnce);
//! // The timeline and verdict as `recoverysim run` prints them:
//! let report = recoverysim::report(&run);
//! assert!(report.contains("output: exactly_once"));
//! // insta::assert_snapshot!("keyed-tm-kill", report);
//! // and everything as one JSON value (docs/run.schema.json):
//! let json = recoverysim::report::json::run(&run);
//! assert_eq!(json["schema"], "recoverysim-run/1");
//! ```

pub mod check;
pub mod cli;
pub mod cluster;
pub mod explore;
pub mod fault;
pub mod job;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod snapshot;
pub mod timeline;
pub mod trace;
pub mod tui;

/// Loads a scenario file and runs it (with its fault-free reference run and the oracle): the
/// same as `recoverysim run FILE`, at the default budget. A file that cannot be used gives its
/// error, with position; one over the budget its estimate (`scenario::budget`).
pub fn run_file(path: impl AsRef<std::path::Path>) -> Result<run::Run, scenario::ScenarioError> {
    let path = path.as_ref();
    let sc = scenario::load_file(path)?;
    scenario::budget::Budget::default().admit(&path.display().to_string(), &sc).map_err(|e| e.into_error())?;
    Ok(run::simulate(&sc))
}

/// The human report of a run (timeline and summary with the verdict), as `recoverysim run`
/// prints it; deterministic for a scenario and seed, so it can be pinned in a snapshot.
pub fn report(run: &run::Run) -> String {
    report::human::report(run)
}
