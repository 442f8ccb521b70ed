//! Protocol invariants checked over what happened during the run (the trace and the sink's
//! store), not over the engine's bookkeeping: a transaction is committed only after its
//! checkpoint completed, a restart restores the latest completed checkpoint, a finished job
//! leaves no open or prepared transaction behind, and no two live attempts of a sink subtask
//! both get writes accepted.

use crate::cluster::external::TxnStore;
use crate::cluster::state::JobStatus;
use crate::job::graph::{JobGraph, SubtaskId};
use crate::sim::fmt_time;
use crate::trace::{Note, TraceEntry};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many violation lines from the trace.
const MAX_LINES: usize = 20;

/// Violations of the two-phase-commit protocol, one line each, naming the time, the
/// transaction and the fault that preceded it.
pub fn check(
    graph: &JobGraph,
    notes: &[TraceEntry],
    store: &TxnStore,
    job_status: JobStatus,
    checkpointing: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    // Per job (submission), its completed checkpoints: the latest and every id. Each job counts
    // its checkpoints from 1 again (or from the snapshot it restored), and a TaskManager that
    // froze may still commit or restore for an earlier job after a later one was submitted.
    let mut completed: BTreeMap<u32, (u64, BTreeSet<u64>)> = BTreeMap::new();
    // The job the JobManager runs now: checkpoints complete and attempts deploy for it.
    let mut current = 0u32;
    // Per subtask, the latest completed checkpoint when one of its attempts was deployed: the
    // checkpoint the JobMaster put into that deployment. An attempt whose host froze during its
    // restore finishes it later, after newer checkpoints completed: still the right one.
    let mut deployed_with: BTreeSet<(u32, SubtaskId, u64)> = BTreeSet::new();
    let mut last_fault: Option<(u64, String)> = None;
    for (i, e) in notes.iter().enumerate() {
        let after = |last_fault: &Option<(u64, String)>| match last_fault {
            Some((t, f)) => format!("; last fault before it: {f} at {}", fmt_time(*t)),
            None => String::new(),
        };
        let latest = |completed: &BTreeMap<u32, (u64, BTreeSet<u64>)>, job: u32| completed.get(&job).map_or(0, |c| c.0);
        // Cited as in `--trace`: the n-th line, counted from 1.
        let line = format!("trace line #{} at {}", i + 1, fmt_time(e.at_us));
        match &e.note {
            Note::FaultInjected { text, .. } => last_fault = Some((e.at_us, text.clone())),
            Note::CheckpointCompleted { cp, .. } => {
                let c = completed.entry(current).or_default();
                c.0 = c.0.max(*cp);
                c.1.insert(*cp);
            }
            // A new job: its checkpoints start again from the snapshot it restores.
            Note::JobSubmitted { job, restore } => {
                current = *job;
                completed.insert(*job, (restore.unwrap_or(0), restore.iter().copied().collect()));
            }
            Note::TaskState { st, to: crate::cluster::state::ExecutionState::Deploying, .. } => {
                deployed_with.insert((current, *st, latest(&completed, current)));
            }
            Note::SinkCommitted { st, checkpoint, records, job, .. }
                if checkpointing && *checkpoint > latest(&completed, *job) && out.len() < MAX_LINES =>
            {
                out.push(format!(
                    "{line}: {} committed the transaction of checkpoint {checkpoint} ({records} records) before that checkpoint completed (latest completed: {}){}",
                    graph.subtask_name(*st),
                    latest(&completed, *job),
                    after(&last_fault),
                ));
            }
            // CheckpointCoordinator.restoreLatestCheckpointedState: a restart restores the latest
            // completed checkpoint; an older one replays output a newer one already committed,
            // and one that never completed is not a consistent cut at all.
            Note::Restored { st, cp: Some(cp), job, .. }
                if *cp != latest(&completed, *job)
                    && !deployed_with.contains(&(*job, *st, *cp))
                    && out.len() < MAX_LINES =>
            {
                let newest = latest(&completed, *job);
                let why = if completed.get(job).is_some_and(|c| c.1.contains(cp)) {
                    format!("but checkpoint {newest} had completed: a restore must use the latest completed checkpoint")
                } else {
                    format!("which never completed (latest completed: {newest})")
                };
                out.push(format!(
                    "{line}: {} restored checkpoint {cp}, {why}{}",
                    graph.subtask_name(*st),
                    after(&last_fault)
                ));
            }
            Note::DoubleWriter { st, attempt, newer, records } if out.len() < MAX_LINES => {
                out.push(format!(
                    "{line}: attempt #{attempt} of {} wrote {records} records after attempt #{newer} had written (two live attempts){}",
                    graph.subtask_name(*st),
                    after(&last_fault),
                ));
            }
            Note::CommittedTxnWrittenAgain { st, checkpoint } if out.len() < MAX_LINES => {
                out.push(format!(
                    "{line}: {} wrote into the transaction of checkpoint {checkpoint} after it was committed: a committed transaction must stay final{}",
                    graph.subtask_name(*st),
                    after(&last_fault),
                ));
            }
            Note::CommitOfAborted { st, checkpoint } if out.len() < MAX_LINES => {
                out.push(format!(
                    "{line}: {} committed the transaction of checkpoint {checkpoint}, which the sink store had aborted: its records are gone{}",
                    graph.subtask_name(*st),
                    after(&last_fault),
                ));
            }
            _ => {}
        }
    }
    if job_status == JobStatus::Finished {
        for (txn, records, state) in store.lingering() {
            out.push(format!(
                "the job finished but the transaction of {}[{}] for checkpoint {} is still {state} with {records} records (lingering)",
                graph.operator_name(txn.sink),
                txn.index,
                txn.checkpoint
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::graph::SubtaskId;
    use crate::scenario::testing::keyed_job;

    #[test]
    fn a_commit_before_its_checkpoint_completed_names_the_fault_before_it() {
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let at = |at_us, note| TraceEntry { at_us, note };
        let notes = vec![
            at(1, Note::CheckpointCompleted { cp: 1, bytes: 0, duration_us: 0, alignment_us: 0 }),
            at(2, Note::SinkCommitted { st: SubtaskId(2), checkpoint: 1, records: 5, recovered: false, job: 0 }),
            at(3, Note::FaultInjected { fault: 0, text: "kill-taskmanager 0".into() }),
            at(4, Note::SinkCommitted { st: SubtaskId(2), checkpoint: 2, records: 7, recovered: false, job: 0 }),
        ];
        let store = TxnStore::default();
        let v = check(&graph, &notes, &store, JobStatus::Finished, true);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("checkpoint 2 (7 records)") && v[0].contains("kill-taskmanager 0"), "{v:?}");
        assert!(check(&graph, &notes, &store, JobStatus::Finished, false).is_empty(), "no checkpoints: no rule");
        // Restores: the latest completed checkpoint only; the n-th note is trace line #n.
        let restored = |_t: u64, cp| Note::Restored {
            st: SubtaskId(0),
            cp: Some(cp),
            bytes: 0,
            local: false,
            duration_us: 0,
            job: 0,
        };
        let notes = vec![
            at(1, Note::CheckpointCompleted { cp: 1, bytes: 0, duration_us: 0, alignment_us: 0 }),
            at(2, Note::CheckpointCompleted { cp: 2, bytes: 0, duration_us: 0, alignment_us: 0 }),
            at(3, restored(3, 2)),
            at(4, restored(4, 1)),
            at(5, restored(5, 3)),
            at(6, Note::CommitOfAborted { st: SubtaskId(2), checkpoint: 2 }),
            at(7, Note::CommittedTxnWrittenAgain { st: SubtaskId(2), checkpoint: 2 }),
        ];
        let v = check(&graph, &notes, &store, JobStatus::Finished, true);
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[3].starts_with("trace line #7 at") && v[3].contains("after it was committed"), "{v:?}");
        assert!(v[0].starts_with("trace line #4 at") && v[0].contains("checkpoint 2 had completed"), "{v:?}");
        assert!(v[1].starts_with("trace line #5 at") && v[1].contains("never completed"), "{v:?}");
        assert!(v[2].starts_with("trace line #6 at") && v[2].contains("had aborted"), "{v:?}");
        // Reports are capped at 20 lines.
        let many: Vec<TraceEntry> = (0..30)
            .map(|i| {
                at(i, Note::SinkCommitted { st: SubtaskId(2), checkpoint: 9, records: 1, recovered: false, job: 0 })
            })
            .collect();
        assert_eq!(check(&graph, &many, &store, JobStatus::Finished, true).len(), 20);
    }

    #[test]
    fn an_earlier_jobs_commit_is_judged_by_that_jobs_checkpoints() {
        // A TaskManager frozen across a cancel and a submission from nothing wakes and its
        // earlier job's committer commits that job's completed checkpoint 3 (explore seed 2769).
        let sc = keyed_job(1, 1);
        let graph = JobGraph::build(&sc.job);
        let at = |at_us, note| TraceEntry { at_us, note };
        let commit =
            |job, checkpoint| Note::SinkCommitted { st: SubtaskId(2), checkpoint, records: 1, recovered: false, job };
        let completed = |cp| Note::CheckpointCompleted { cp, bytes: 0, duration_us: 0, alignment_us: 0 };
        let notes = vec![
            at(1, Note::JobSubmitted { job: 0, restore: None }),
            at(2, completed(3)),
            at(3, Note::JobSubmitted { job: 1, restore: None }),
            at(4, commit(0, 3)),
            at(5, commit(1, 1)),
            at(6, completed(1)),
            at(7, commit(1, 1)),
            at(8, commit(0, 4)),
        ];
        let v = check(&graph, &notes, &TxnStore::default(), JobStatus::Finished, true);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].starts_with("trace line #5") && v[0].contains("latest completed: 0"), "{v:?}");
        assert!(v[1].starts_with("trace line #8") && v[1].contains("latest completed: 3"), "{v:?}");
    }
}
