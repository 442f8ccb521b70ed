//! `run --trace FILE --trace-format perfetto`: the run in the Trace Event Format that Perfetto
//! (ui.perfetto.dev) and Chrome's trace viewer open — a process per TaskManager with a thread
//! per subtask (its ExecutionState spans while an attempt of it was deployed there), and a
//! JobManager process with the job status, checkpoints (trigger → end), failovers (failure →
//! all running again), fault instants and, per sink subtask, its two-phase-commit transactions
//! (opened at the previous checkpoint's trigger — as a Kafka transaction is after the previous
//! pre-commit — and committed when the checkpoint's completion reached the sink). Times are
//! virtual microseconds, the format's unit. States and the job status are complete events
//! (`X`, nested per thread); checkpoints, failovers and transactions, which may overlap, are
//! async events (`b`/`e` by id). Inside a subtask's RUNNING span, each checkpoint's phases on
//! it: the barrier alignment (its blocked inputs) and the asynchronous part (the upload, while
//! processing goes on), up to its acknowledgement — for the checkpoints whose per-subtask
//! figures the JobManager's history keeps (the latest ten, as the Web UI's).

use crate::cluster::jobmanager::stats::CheckpointStatus;
use crate::cluster::state::ExecutionState;
use crate::run::Run;
use crate::sim::TimeUs;
use crate::trace::Note;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The JobManager's process id; TaskManager `n` is `TM_PID + n`.
const JM_PID: u32 = 1;
const TM_PID: u32 = 100;
/// Threads of the JobManager process.
const JOB: u32 = 1;
const FAULTS: u32 = 4;
/// Subtask `st` while none of its attempts is deployed: `UNDEPLOYED_TID + st`, in the JobManager
/// process.
const UNDEPLOYED_TID: u32 = 10_000;

fn meta(pid: u32, tid: Option<u32>, name: &str) -> Value {
    match tid {
        None => json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}}),
        Some(t) => json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": t, "args": {"name": name}}),
    }
}

/// An async span (`b`/`e`): spans that may overlap on one track (transactions, concurrent
/// checkpoints, a failover superseded by the next) — complete events (`X`) must nest.
fn async_span(
    events: &mut Vec<Value>,
    name: &str,
    cat: &str,
    id: &str,
    pid: u32,
    (from, to): (TimeUs, TimeUs),
    args: Value,
) {
    events.push(json!({"name": name, "cat": cat, "ph": "b", "id": id, "ts": from, "pid": pid, "tid": 0, "args": args}));
    events.push(json!({"name": name, "cat": cat, "ph": "e", "id": id, "ts": to.max(from), "pid": pid, "tid": 0}));
}

fn span(name: &str, cat: &str, pid: u32, tid: u32, from: TimeUs, to: TimeUs, args: Value) -> Value {
    json!({"name": name, "cat": cat, "ph": "X", "ts": from, "dur": to.saturating_sub(from), "pid": pid, "tid": tid, "args": args})
}

/// The whole trace as one JSON object (`{"traceEvents": [...], "displayTimeUnit": "ms"}`).
pub fn trace(run: &Run) -> Value {
    let g = &run.graph;
    let o = &run.outcome;
    let end = o.end_us;
    let mut events: Vec<Value> = Vec::new();
    events.push(meta(JM_PID, None, "JobManager"));
    for (tid, name) in [(JOB, "job status"), (FAULTS, "faults")] {
        events.push(meta(JM_PID, Some(tid), name));
    }
    // Per subtask: where its current attempt is deployed, and its state since when.
    let n = g.subtask_count();
    let mut host: Vec<Option<u32>> = vec![None; n];
    let mut state: Vec<(ExecutionState, TimeUs, u32)> = vec![(ExecutionState::Created, 0, 0); n];
    let mut tms: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    // Per subtask: (since, TaskManager) of each deployment, for the checkpoint phases.
    let mut deployed_on: Vec<Vec<(TimeUs, u32)>> = vec![Vec::new(); n];
    let mut job_status = (crate::cluster::state::JobStatus::Created, 0u64);
    let checkpoint_trigger: BTreeMap<u64, TimeUs> =
        o.checkpoint_history.iter().map(|c| (c.id, c.triggered_at_us)).collect();
    // States while no attempt is deployed (CREATED, SCHEDULED) go to a thread of the JobManager.
    let mut undeployed = vec![false; n];
    let mut state_span =
        |events: &mut Vec<Value>, st: usize, host: Option<u32>, s: (ExecutionState, TimeUs, u32), to| {
            let pid = host.map_or(JM_PID, |tm| TM_PID + tm);
            let tid = if host.is_some() { st as u32 + 1 } else { UNDEPLOYED_TID + st as u32 };
            undeployed[st] |= host.is_none();
            let name = s.0.name();
            events.push(span(name, "execution-state", pid, tid, s.1, to, json!({"attempt": s.2})));
        };
    for e in &o.notes {
        let t = e.at_us;
        match &e.note {
            Note::Deployed { st, tm } => {
                let i = st.0 as usize;
                host[i] = Some(*tm);
                deployed_on[i].push((t, *tm));
                let known = tms.entry(*tm).or_default();
                if !known.contains(&i) {
                    known.push(i);
                }
            }
            Note::TaskState { st, attempt, to, .. } => {
                let i = st.0 as usize;
                if t > state[i].1 {
                    state_span(&mut events, i, host[i], state[i], t);
                }
                if *to == ExecutionState::Created {
                    host[i] = None;
                }
                state[i] = (*to, t, *attempt);
            }
            Note::JobStatus { to, .. } => {
                events.push(span(job_status.0.name(), "job-status", JM_PID, JOB, job_status.1, t, json!({})));
                job_status = (*to, t);
            }
            Note::FaultInjected { text, .. } => {
                events.push(json!({"name": format!("FAULT {text}"), "cat": "fault", "ph": "i", "s": "g",
                    "ts": t, "pid": JM_PID, "tid": FAULTS}));
            }
            Note::SinkCommitted { st, checkpoint, records, recovered, .. } => {
                let i = st.0;
                let opened = checkpoint.checked_sub(1).and_then(|p| checkpoint_trigger.get(&p)).copied().unwrap_or(0);
                let name = format!("{} txn chk-{checkpoint}", g.subtask_name(*st));
                let id = format!("txn-{i}-{checkpoint}-{t}");
                let args = json!({"records": records, "recovered": recovered});
                async_span(&mut events, &name, "transaction", &id, JM_PID, (opened.min(t), t), args);
            }
            _ => {}
        }
    }
    events.push(span(job_status.0.name(), "job-status", JM_PID, JOB, job_status.1, end, json!({})));
    for (i, s) in state.iter().enumerate() {
        if end > s.1 {
            state_span(&mut events, i, host[i], *s, end);
        }
    }
    for (tm, subtasks) in &tms {
        events.push(meta(TM_PID + tm, None, &format!("tm-{tm}")));
        for &i in subtasks {
            events.push(meta(TM_PID + tm, Some(i as u32 + 1), &g.subtask_name(crate::job::graph::SubtaskId(i as u32))));
        }
    }
    for (i, _) in undeployed.iter().enumerate().filter(|(_, u)| **u) {
        let name = format!("{} (not deployed)", g.subtask_name(crate::job::graph::SubtaskId(i as u32)));
        events.push(meta(JM_PID, Some(UNDEPLOYED_TID + i as u32), &name));
    }
    for c in &o.checkpoint_history {
        let to = c.ended_at_us.unwrap_or(end);
        let status = match c.status {
            CheckpointStatus::Completed => "COMPLETED",
            CheckpointStatus::Failed => "FAILED",
            CheckpointStatus::InProgress => "IN_PROGRESS",
        };
        let args = json!({"status": status, "bytes": c.bytes, "acknowledged": c.acknowledged, "subtasks": c.subtasks,
            "max_alignment_us": c.max_alignment_us, "max_async_us": c.max_async_us});
        let id = format!("chk-{}-{}", c.jobmanager, c.id);
        async_span(
            &mut events,
            &format!("chk-{} {status}", c.id),
            "checkpoint",
            &id,
            JM_PID,
            (c.triggered_at_us, to),
            args,
        );
    }
    // Alignment and asynchronous phase of each acknowledgement, on the subtask's thread where
    // it ran then: [ack - async - alignment, ack - async] and [ack - async, ack].
    for c in &o.checkpoint_history {
        for t in &c.tasks {
            let i = t.subtask.0 as usize;
            let Some(&(_, tm)) =
                deployed_on.get(i).and_then(|d| d.iter().rev().find(|(since, _)| *since <= t.acknowledged_at_us))
            else {
                continue;
            };
            let (pid, tid) = (TM_PID + tm, i as u32 + 1);
            let async_from = t.acknowledged_at_us.saturating_sub(t.metrics.async_us);
            if t.metrics.alignment_us > 0 {
                let from = async_from.saturating_sub(t.metrics.alignment_us);
                let args = json!({"checkpoint": c.id, "alignment_us": t.metrics.alignment_us});
                events.push(span(
                    &format!("chk-{} alignment", c.id),
                    "checkpoint-phase",
                    pid,
                    tid,
                    from,
                    async_from,
                    args,
                ));
            }
            if t.metrics.async_us > 0 {
                let args = json!({"checkpoint": c.id, "async_us": t.metrics.async_us, "bytes": t.bytes,
                    "processed_during_async": t.metrics.processed_during_async});
                let name = format!("chk-{} async", c.id);
                events.push(span(&name, "checkpoint-phase", pid, tid, async_from, t.acknowledged_at_us, args));
            }
        }
    }
    for (i, f) in o.failovers.iter().enumerate() {
        let to = f.running_again_at_us.or(f.restart_at_us).unwrap_or(f.detected_at_us);
        let args = json!({"cause": f.cause.describe(), "restarted": f.restarted.len(),
            "restored_checkpoint": f.restored_checkpoint});
        let id = format!("failover-{i}");
        async_span(&mut events, &format!("failover #{}", i + 1), "failover", &id, JM_PID, (f.failed_at_us, to), args);
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms",
        "otherData": {"scenario": run.scenario.name, "seed": run.scenario.seed, "verdict": run.output.verdict.name()}})
}
