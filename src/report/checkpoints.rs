//! `run --checkpoints`: the JobManager's checkpoint history shaped like Flink's Web UI
//! Checkpoints tab (one row per checkpoint; per subtask for the latest completed one), and what
//! it says about the question "does taking a checkpoint block processing?".

use super::human::{bytes_h, ms};
use crate::cluster::config::CheckpointingMode;
use crate::cluster::jobmanager::stats::{CheckpointStats, CheckpointStatus};
use crate::run::Run;
use crate::sim::fmt_time;
use comfy_table::{CellAlignment, Table, presets::NOTHING};
use std::fmt::Write;

/// Rows the history table shows at most (the latest ones); `--json` has every one.
pub const ROWS_SHOWN: usize = 30;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(header.iter().copied());
    t
}

fn right(t: &mut Table, from: usize) {
    for i in from..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn status(c: &CheckpointStats) -> String {
    match (c.status, c.failure) {
        (CheckpointStatus::Failed, Some(reason)) => format!("FAILED ({})", super::human::abort_reason_short(reason)),
        (s, _) => serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
    }
}

/// The checkpoint history and the answer it gives.
pub fn report(run: &Run) -> String {
    let mut out = String::new();
    body(run, &mut out);
    // Tables pad their last column; lines end without spaces.
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

fn body(run: &Run, out: &mut String) {
    let hist = &run.outcome.checkpoint_history;
    let _ =
        writeln!(out, "checkpoint history (the JobManager's CheckpointStatsTracker, as the Web UI's Checkpoints tab):");
    if hist.is_empty() {
        let why = if run.scenario.flink.checkpoint_interval_us.is_none() {
            "checkpointing is off (execution.checkpointing.interval unset)"
        } else {
            "no checkpoint was triggered"
        };
        let _ = writeln!(out, "  none: {why}");
        return;
    }
    let several_jms = hist.iter().any(|c| c.jobmanager != hist[0].jobmanager);
    let mut header = vec![
        "ID",
        "Status",
        "Acknowledged",
        "Trigger Time",
        "Latest Ack",
        "End to End",
        "Checkpointed Size",
        "Alignment (max)",
        "Async (max)",
        "Records during async",
    ];
    // Unaligned checkpoints: the in-flight data they persisted (the Web UI's "Persisted Data").
    let persisted = hist.iter().any(|c| c.persisted_bytes > 0);
    if persisted {
        header.push("Persisted Data");
    }
    // Incremental checkpoints: the full state (what a restore downloads) and what each uploaded.
    let incremental = run.scenario.flink.incremental_checkpoints();
    if incremental {
        header[6] = "Full Checkpoint Data Size";
        header.insert(7, "Checkpointed Data Size");
    }
    if several_jms {
        header.insert(1, "JobManager");
    }
    let mut t = table(&header);
    let skipped = hist.len().saturating_sub(ROWS_SHOWN);
    for c in &hist[skipped..] {
        let mut row = vec![
            c.id.to_string(),
            status(c),
            format!("{}/{}", c.acknowledged, c.subtasks),
            fmt_time(c.triggered_at_us),
            c.latest_ack_at_us.map_or("-".into(), fmt_time),
            c.ended_at_us.map_or("-".into(), |e| ms(e - c.triggered_at_us)),
            bytes_h(c.bytes),
            ms(c.max_alignment_us),
            ms(c.max_async_us),
            c.processed_during_async.to_string(),
        ];
        if persisted {
            row.push(bytes_h(c.persisted_bytes));
        }
        if incremental {
            row.insert(7, bytes_h(c.uploaded_bytes));
        }
        if several_jms {
            row.insert(1, format!("#{}", c.jobmanager));
        }
        t.add_row(row);
    }
    right(&mut t, 2);
    let _ = writeln!(out, "{t}");
    let dropped = run.outcome.checkpoint_history_dropped;
    if skipped > 0 || dropped > 0 {
        let _ = writeln!(
            out,
            "  ({} older checkpoints not shown{})",
            skipped as u64 + dropped,
            if dropped > 0 { "; the oldest were dropped from the history, as the JobManager bounds it" } else { "" }
        );
    }
    // Per subtask: the latest completed checkpoint (its details are kept).
    if let Some(c) = hist.iter().rev().find(|c| c.status == CheckpointStatus::Completed && !c.tasks.is_empty()) {
        let _ = writeln!(out);
        let _ = writeln!(out, "checkpoint {} per subtask (in acknowledgement order):", c.id);
        let mut header = vec!["Subtask", "Acknowledged", "Size", "Alignment", "Async", "Records during async"];
        if persisted {
            header.push("Persisted Data");
        }
        if incremental {
            header.insert(3, "Uploaded");
        }
        let mut t = table(&header);
        for s in &c.tasks {
            let mut row = vec![
                run.graph.subtask_name(s.subtask),
                fmt_time(s.acknowledged_at_us),
                bytes_h(s.bytes),
                ms(s.metrics.alignment_us),
                ms(s.metrics.async_us),
                s.metrics.processed_during_async.to_string(),
            ];
            if persisted {
                row.push(bytes_h(s.metrics.persisted_bytes));
            }
            if incremental {
                row.insert(3, bytes_h(s.metrics.uploaded_bytes));
            }
            t.add_row(row);
        }
        right(&mut t, 1);
        let _ = writeln!(out, "{t}");
        let finished = c.subtasks as usize - c.tasks.len();
        if finished > 0 {
            let _ = writeln!(out, "  ({finished} finished subtasks count as acknowledged with their final state)");
        }
    }
    let _ = writeln!(out);
    blocking(run, out);
}

/// "Does taking a checkpoint block processing?", answered from the history.
fn blocking(run: &Run, out: &mut String) {
    let hist = &run.outcome.checkpoint_history;
    let done: Vec<&CheckpointStats> = hist.iter().filter(|c| c.status == CheckpointStatus::Completed).collect();
    let _ = writeln!(out, "does a checkpoint block processing?");
    let f = &run.scenario.flink;
    let unaligned = f.unaligned && f.checkpointing_mode == CheckpointingMode::ExactlyOnce;
    let when = if !unaligned {
        "when the checkpoint's barrier has arrived on all its inputs"
    } else if f.aligned_checkpoint_timeout_us == 0 {
        "as soon as the first barrier arrives on any input (unaligned: it overtakes the records queued before it)"
    } else {
        "when the barrier has arrived on all its inputs, or, once aligned-checkpoint-timeout has passed since the barrier left its source, at once (unaligned)"
    };
    let _ = writeln!(
        out,
        "  synchronous part: each task snapshots its state {when}, and sends the barrier on; the model takes no time for it (Flink: a copy-on-write snapshot of the heap backend, a memtable flush for RocksDB, usually milliseconds)."
    );
    let Some(worst_align) = done.iter().max_by_key(|c| (c.max_alignment_us, std::cmp::Reverse(c.id))) else {
        let _ = writeln!(out, "  no checkpoint completed: nothing measured.");
        return;
    };
    let persisted: u64 = done.iter().map(|c| c.persisted_bytes).sum();
    if unaligned {
        let _ = writeln!(
            out,
            "  unaligned checkpoints: no input waits for the others' barriers; the records in flight before them ({} over {} checkpoints) are part of the checkpoint and are processed first after a restore. Savepoints, and tasks with a forward, rescale or broadcast input, stay aligned.",
            bytes_h(persisted),
            done.len()
        );
    }
    if worst_align.max_alignment_us == 0 {
        if !unaligned {
            let _ = writeln!(
                out,
                "  barrier alignment: no task waited (every task has one input channel, or the barriers arrived together)."
            );
        }
    } else {
        let who = worst_align
            .tasks
            .iter()
            .max_by_key(|s| s.metrics.alignment_us)
            .map(|s| format!(" ({})", run.graph.subtask_name(s.subtask)))
            .unwrap_or_default();
        let mean = done.iter().map(|c| c.max_alignment_us).sum::<u64>() / done.len() as u64;
        let how = match run.scenario.flink.checkpointing_mode {
            CheckpointingMode::ExactlyOnce => {
                "barrier alignment (EXACTLY_ONCE, aligned): a task with several inputs stops reading each input that delivered the barrier until all have"
            }
            CheckpointingMode::AtLeastOnce => {
                "barriers (AT_LEAST_ONCE): no input is blocked; a task with several inputs snapshots when the last barrier arrives, the records it reads meanwhile from inputs past their barrier are in this snapshot's state and are read again after a restore from it"
            }
        };
        let _ = writeln!(
            out,
            "  {how}; from first to last barrier: longest {} at checkpoint {}{who}, {} on average (each checkpoint's slowest task).",
            ms(worst_align.max_alignment_us),
            worst_align.id,
            ms(mean)
        );
    }
    let worst_async = done.iter().max_by_key(|c| (c.max_async_us, std::cmp::Reverse(c.id))).expect("one completed");
    let during: u64 = done.iter().map(|c| c.processed_during_async).sum();
    let size = if f.incremental_checkpoints() {
        format!(
            "{} uploaded of {} (RocksDB incremental: only what changed since the last completed checkpoint)",
            bytes_h(worst_async.uploaded_bytes),
            bytes_h(worst_async.bytes)
        )
    } else {
        bytes_h(worst_async.bytes)
    };
    let _ = writeln!(
        out,
        "  asynchronous part: uploading the state (and a sink's pre-commit) took up to {} (checkpoint {}, {size}); meanwhile the tasks took in {} records over {} checkpoints: processing went on.",
        ms(worst_async.max_async_us),
        worst_async.id,
        during,
        done.len()
    );
}
