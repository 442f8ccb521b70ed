//! The readable trace as JSON Lines (`run --trace FILE`, read back by `diff`): a header line,
//! then one object per trace line, numbered `n` from 1; docs/trace-format.md is the contract.

use crate::job::graph::JobGraph;
use crate::run::Run;
use crate::trace::{Note, TraceEntry};

/// Version of the `--trace` JSON Lines format (its header line says it).
pub const TRACE_SCHEMA: &str = "recoverysim-trace/1";

/// The trace as JSON Lines: a header line (`schema`, scenario, seed, trace hash), then one
/// object per trace line, numbered by `n` from 1, with virtual time in µs and subtasks by name
/// (docs/trace-format.md lists the kinds).
pub fn jsonl(run: &Run) -> String {
    let mut out = Vec::new();
    // Writing to a vector cannot fail.
    let _ = write_jsonl(run, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `jsonl`, a line at a time into `w` (`run --trace FILE` streams it into the file).
pub fn write_jsonl(run: &Run, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(w, "{}", header(run))?;
    for (n, e) in run.outcome.notes.iter().enumerate() {
        writeln!(w, "{}", entry(&run.graph, e, n as u64 + 1))?;
    }
    Ok(())
}

/// The trace's header line: schema, scenario, seed, trace hash, number of trace lines (`events`,
/// its name since format version 1), and the run's verdict and final job status.
pub fn header(run: &Run) -> serde_json::Value {
    serde_json::json!({
        "schema": TRACE_SCHEMA,
        "scenario": run.scenario.name,
        "seed": run.scenario.seed,
        "trace_hash": format!("{:016x}", run.outcome.trace_hash),
        "events": run.outcome.notes.len(),
        "verdict": run.output.verdict.name(),
        "job_status": run.outcome.job_status.name(),
    })
}

/// One trace line as a JSON object: its number `n` (from 1), `at_us`, `kind` and fields, with
/// subtasks and hosts by name.
pub fn entry(graph: &JobGraph, e: &TraceEntry, n: u64) -> serde_json::Value {
    let mut v = serde_json::to_value(e).expect("trace notes are plain data: numbers, strings, enums");
    if let Some(note) = v.as_object_mut() {
        // The trace line number protocol violations cite ("trace line #n").
        note.insert("n".into(), serde_json::Value::from(n));
        // Hosts by name, as scenario files write them.
        let is_host = matches!(e.note, Note::MessageLost { .. } | Note::HostThawed { .. });
        for key in ["from", "to", "host"] {
            if let Some(h) = note.get(key).and_then(|x| x.as_u64()).filter(|_| is_host) {
                note.insert(key.into(), crate::cluster::net::HostId(h as u16).name().into());
            }
        }
        if let Some(st) = note.get("st").and_then(|x| x.as_u64()) {
            note.insert(
                "st".into(),
                serde_json::Value::String(graph.subtask_name(crate::job::graph::SubtaskId(st as u32))),
            );
        }
    }
    v
}
