//! `recoverysim run --json`: one object per run, the contract docs/run.schema.json describes; its
//! `schema` field names the version (`RUN_SCHEMA`).

use super::human::{recovery_phases, timeline_lines};
use crate::run::Run;
use crate::trace::{AbortReason, Note};

/// Version of the `run --json` object (docs/run.schema.json describes it).
pub const RUN_SCHEMA: &str = "recoverysim-run/1";

/// `recoverysim run --json`: one object (the contract in README.md).
pub fn run(run: &Run) -> serde_json::Value {
    use serde_json::json;
    let o = &run.outcome;
    let r = &run.output;
    let g = &run.graph;
    let offender = |x: &Option<crate::check::oracle::Offender>| {
        x.as_ref().map(|x| {
            json!({
                "sink": x.sink, "log": x.record.log, "partition": x.record.partition, "offset": x.record.offset,
                "key": x.key, "appended_at_ms": x.appended_at_us / 1000,
                "expected_times": x.expected_times, "committed_times": x.committed_times,
                "fault": x.fault.map(|(i, t)| json!({"index": i, "at_ms": t / 1000})),
            })
        })
    };
    let names = |sts: &[crate::job::graph::SubtaskId]| -> Vec<String> {
        let mut v = sts.to_vec();
        v.sort();
        v.dedup();
        v.into_iter().map(|st| g.subtask_name(st)).collect()
    };
    let mut completed = Vec::new();
    let mut aborted = Vec::new();
    for e in &o.notes {
        match &e.note {
            Note::CheckpointCompleted { cp, bytes, duration_us, alignment_us } => completed.push(json!({
                "id": cp, "completed_at_us": e.at_us, "duration_us": duration_us, "bytes": bytes,
                "alignment_us": alignment_us,
            })),
            Note::CheckpointAborted { cp, reason } => aborted.push(json!({
                "id": cp, "aborted_at_us": e.at_us,
                "reason": match reason {
                    AbortReason::JobFailover => "job-failover",
                    AbortReason::Expired => "expired",
                    AbortReason::Subsumed => "subsumed",
                    AbortReason::TriggerFailed => "trigger-failed",
                    AbortReason::Declined => "declined",
                    AbortReason::JobCancelled => "job-cancelled",
                    AbortReason::AsyncFailed => "async-failed",
                },
            })),
            _ => {}
        }
    }
    json!({
        "schema": RUN_SCHEMA,
        "scenario": run.scenario.name,
        "seed": run.scenario.seed,
        "trace_hash": format!("{:016x}", o.trace_hash),
        "events": o.events,
        "subtasks": g.subtask_count(),
        "virtual_time_ms": o.end_us / 1000,
        "job_status": o.job_status.name(),
        "budget_stop": o.budget_stop.map(|b| match b {
            crate::scenario::budget::BudgetStop::Events { limit } => json!({ "budget": "events", "limit": limit }),
            crate::scenario::budget::BudgetStop::Memory { footprint, limit } => {
                json!({ "budget": "memory", "limit": limit, "footprint": footprint })
            }
        }),
        "zombies_fenced": o.store.zombies().iter().map(|z| json!({
            "subtask": run.graph.subtask_name(z.st),
            "attempt": z.attempt,
            "records": z.records,
        })).collect::<Vec<_>>(),
        "output": {
            "not_clean": r.not_clean,
            "lost_in_reference_too": r.lost_in_reference_too,
            "by_design": r.by_design,
            "uncounted_sinks": r.uncounted_sinks,
            "unverified_sinks": r.unverified_sinks,
            "verdict": r.verdict.name(),
            "expected": r.expected,
            "committed": r.committed,
            "lost": r.lost,
            "duplicated": r.duplicated,
            "pending": r.pending,
            "first_lost": offender(&r.first_lost),
            "first_duplicate": offender(&r.first_duplicate),
            "final_state": {
                "compared": r.final_state_compared,
                "keys": r.keys_compared,
                "keys_below": r.keys_below,
                "keys_above": r.keys_above,
                "keys_stale_last": r.keys_stale_last,
            },
            "upserts": r.upserts,
            "keys_not_producible": r.bad_results,
            "keys_searched": r.keys_searched,
            "keys_over_budget": r.keys_over_budget,
            "first_not_producible": r.first_bad_result.as_ref().map(|b| json!({
                "sink": b.sink,
                "key": b.key,
                "index": b.index,
                "record": b.record.map(|id| id.to_string()),
                "value": b.value,
                "committed_at_ms": b.committed_at_us.map(|t| t as f64 / 1000.0),
                "possible": b.possible.iter().map(|(id, v)| json!({"record": id.to_string(), "value": v})).collect::<Vec<_>>(),
            })),
        },
        "checkpoints": {
            "completed": o.checkpoints_completed,
            "aborted": o.checkpoints_aborted,
            "completed_list": completed,
            "aborted_list": aborted,
            "history": o.checkpoint_history.iter().map(|c| checkpoint_stats(g, c)).collect::<Vec<_>>(),
            "history_dropped": o.checkpoint_history_dropped,
        },
        "exception_history": super::exceptions::history(run),
        "timeline": timeline_lines(run).into_iter().map(|l| json!({
            "from_us": l.from_us, "to_us": l.to_us, "text": l.text,
        })).collect::<Vec<_>>(),
        "message_rules": o.rule_hits.iter().map(|&(fault, hits)| json!({
            "fault": fault,
            "what": run.scenario.faults[fault].action.describe(&|x| run.graph.subtask_ref_name(x)),
            "messages": hits,
        })).collect::<Vec<_>>(),
        "failovers": o.failovers.iter().map(|f| json!({
            "at_ms": f.failed_at_us / 1000,
            "cause": f.cause.tag(),
            "cause_message": f.cause.describe(),
            "failed_task": f.failed_subtask.map(|st| g.subtask_name(st)),
            "detected_at_ms": f.detected_at_us / 1000,
            "restarted_tasks": f.restarted.len(),
            "restarted": names(&f.restarted),
            "restored_checkpoint": f.restored_checkpoint,
            "running_again_at_ms": f.running_again_at_us.map(|t| t / 1000),
            "exhausted": f.exhausted,
            "phases": recovery_phases(run, f).map(|p| json!({
                "recovery_time_us": p.recovery_us(),
                "fault_at_us": p.fault_at_us,
                "failed_at_us": p.failed_at_us,
                "detected_at_us": p.detected_at_us,
                "canceled_at_us": p.canceled_at_us,
                "restart_at_us": p.restart_at_us,
                "deploying_at_us": p.deploying_at_us,
                "initializing_at_us": p.initializing_at_us,
                "running_at_us": p.running_at_us,
            })),
        })).collect::<Vec<_>>(),
        "violations": o.violations,
        "consistent_cuts": {
            "checked": run.cuts_checked,
            "first_violation": run.cut_violation.as_ref().map(|v| json!({
                "checkpoint": v.checkpoint, "operator": v.operator, "key": v.key,
                "in_checkpoint": v.in_checkpoint, "from_offsets": v.from_offsets,
            })),
        },
        "planted_bugs": run.scenario.bugs.enabled(),
    })
}

/// One checkpoint of the JobManager's history, with its subtasks' details when kept.
fn checkpoint_stats(
    g: &crate::job::graph::JobGraph,
    c: &crate::cluster::jobmanager::stats::CheckpointStats,
) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = c
        .tasks
        .iter()
        .map(|s| {
            serde_json::json!({
                "subtask": g.subtask_name(s.subtask), "acknowledged_at_us": s.acknowledged_at_us,
                "bytes": s.bytes, "alignment_us": s.metrics.alignment_us, "async_us": s.metrics.async_us,
                "processed_during_async": s.metrics.processed_during_async,
                "persisted_bytes": s.metrics.persisted_bytes,
                "uploaded_bytes": s.metrics.uploaded_bytes,
            })
        })
        .collect();
    serde_json::json!({
        "id": c.id, "jobmanager": c.jobmanager, "status": c.status,
        "failure": c.failure.map(super::human::abort_reason_short),
        "triggered_at_us": c.triggered_at_us, "ended_at_us": c.ended_at_us,
        "latest_ack_at_us": c.latest_ack_at_us, "acknowledged": c.acknowledged, "subtasks": c.subtasks,
        "bytes": c.bytes, "max_alignment_us": c.max_alignment_us, "max_async_us": c.max_async_us,
        "processed_during_async": c.processed_during_async,
        "persisted_bytes": c.persisted_bytes,
        "uploaded_bytes": c.uploaded_bytes,
        "tasks": tasks,
    })
}
