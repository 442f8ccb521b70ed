//! `run --exceptions`: the JobManager's exception history shaped like Flink's Web UI Exceptions
//! tab (FLIP-71, `ExceptionHistoryEntry` / `RootExceptionHistoryEntry`): one root exception per
//! failure the JobManager handled — the one that started a failover, or a global failure with no
//! task — with the task failures that came with it as its concurrent exceptions, newest first.

use super::human::ms;
use crate::run::Run;
use crate::sim::{TimeUs, fmt_time};
use crate::trace::Note;
use comfy_table::{Table, presets::NOTHING};
use serde::Serialize;
use std::fmt::Write;

/// `web.exception-history-size` (Flink's default): the entries the table shows; `--json` has
/// every one.
pub const HISTORY_SIZE: usize = 16;

/// One failure in the history: where and when, as the Web UI lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub at_us: TimeUs,
    /// The exception as Flink words it (`RemoteTransportException: …`).
    pub exception: String,
    /// The failed subtask (`count[1]`); `None` for a global failure.
    pub task: Option<String>,
    /// The TaskManager the subtask was deployed to (`tm-1`); `None` when it was not deployed.
    pub location: Option<String>,
}

/// A root exception and what came with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub root: Failure,
    /// The failover it started (1 = the first), and what that did.
    pub failover: usize,
    pub restarted: usize,
    pub restored_checkpoint: Option<u64>,
    /// Other task failures handled with it: failures of subtasks of the same failover until its
    /// restart (Flink groups them into the root's `concurrentExceptions`).
    pub concurrent: Vec<Failure>,
}

/// The whole history, oldest first.
pub fn history(run: &Run) -> Vec<Entry> {
    let notes = &run.outcome.notes;
    let g = &run.graph;
    let location = |st, before: TimeUs| {
        notes
            .iter()
            .take_while(|e| e.at_us <= before)
            .filter_map(|e| match &e.note {
                Note::Deployed { st: s, tm } if *s == st => Some(format!("tm-{tm}")),
                _ => None,
            })
            .last()
    };
    run.outcome
        .failovers
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let until = f.restart_at_us.unwrap_or(f.detected_at_us);
            let concurrent = notes
                .iter()
                .filter(|e| e.at_us >= f.failed_at_us && e.at_us <= until)
                .filter_map(|e| match &e.note {
                    Note::TaskFailed { st, cause, .. }
                        if Some(*st) != f.failed_subtask && f.to_restart.contains(st) =>
                    {
                        Some(Failure {
                            at_us: e.at_us,
                            exception: cause.describe(),
                            task: Some(g.subtask_name(*st)),
                            location: location(*st, e.at_us),
                        })
                    }
                    _ => None,
                })
                .collect();
            Entry {
                root: Failure {
                    at_us: f.failed_at_us,
                    exception: f.cause.describe(),
                    task: f.failed_subtask.map(|st| g.subtask_name(st)),
                    location: f.failed_subtask.and_then(|st| location(st, f.failed_at_us)),
                },
                failover: i + 1,
                restarted: f.restarted.len(),
                restored_checkpoint: f.restored_checkpoint,
                concurrent,
            }
        })
        .collect()
}

/// The exception history as the Exceptions tab shows it, newest first.
pub fn report(run: &Run) -> String {
    let mut out = String::new();
    let all = history(run);
    let _ = writeln!(out, "exception history (the JobManager's, as the Web UI's Exceptions tab; newest first):");
    if all.is_empty() {
        let _ = writeln!(out, "  none: no failure reached the JobManager");
        return out;
    }
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(["Time", "Exception", "Task", "Location", "Failover"]);
    for e in all.iter().rev().take(HISTORY_SIZE) {
        let what = match (e.restored_checkpoint, e.restarted) {
            (_, 0) => format!("#{}: no restart", e.failover),
            (Some(cp), n) => format!("#{}: {n} subtasks from chk-{cp}", e.failover),
            (None, n) => format!("#{}: {n} subtasks from empty state", e.failover),
        };
        t.add_row([
            fmt_time(e.root.at_us),
            e.root.exception.clone(),
            e.root.task.clone().unwrap_or_else(|| "(global failure)".into()),
            e.root.location.clone().unwrap_or_else(|| "-".into()),
            what,
        ]);
        for c in &e.concurrent {
            t.add_row([
                format!("  +{}", ms(c.at_us - e.root.at_us)),
                format!("  concurrent: {}", c.exception),
                c.task.clone().unwrap_or_default(),
                c.location.clone().unwrap_or_else(|| "-".into()),
                String::new(),
            ]);
        }
    }
    for line in t.to_string().lines() {
        let _ = writeln!(out, "  {}", line.trim_end());
    }
    if all.len() > HISTORY_SIZE {
        let _ = writeln!(
            out,
            "  … {} older entries (web.exception-history-size {HISTORY_SIZE}; `--json` has every one)",
            all.len() - HISTORY_SIZE
        );
    }
    out
}
