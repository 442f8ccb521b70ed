//! The JobMaster's checkpoint statistics (Flink's `CheckpointStatsTracker`, what the Web UI's
//! Checkpoints tab shows): per checkpoint its trigger time, status, acknowledgements, size, and
//! the metrics each task sent with its acknowledgement (`CheckpointMetrics`). It lives in the
//! JobMaster's memory: a new JobManager process starts an empty history, as Flink's does.

use crate::cluster::msg::CheckpointMetrics;
use crate::job::graph::SubtaskId;
use crate::sim::TimeUs;
use crate::trace::AbortReason;
use serde::Serialize;
use std::collections::VecDeque;

/// Checkpoints whose per-subtask details are kept (`web.checkpoints.history`, default 10).
pub const DETAILED_HISTORY: usize = 10;

/// Checkpoints kept at all; older ones are dropped (and counted), so memory stays bounded
/// however long the run.
pub const MAX_HISTORY: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointStatus {
    InProgress,
    Completed,
    Failed,
}

/// One subtask's acknowledgement of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubtaskCheckpointStats {
    pub subtask: SubtaskId,
    pub acknowledged_at_us: TimeUs,
    pub bytes: u64,
    #[serde(flatten)]
    pub metrics: CheckpointMetrics,
}

/// One checkpoint as the JobMaster saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckpointStats {
    pub id: u64,
    /// The JobManager generation that triggered it.
    pub jobmanager: u32,
    pub status: CheckpointStatus,
    pub failure: Option<AbortReason>,
    pub triggered_at_us: TimeUs,
    /// Completed or failed at.
    pub ended_at_us: Option<TimeUs>,
    pub latest_ack_at_us: Option<TimeUs>,
    /// Subtasks that acknowledged (finished ones count from the trigger on) of all.
    pub acknowledged: u32,
    pub subtasks: u32,
    /// Bytes acknowledged so far (the checkpoint's size once complete).
    pub bytes: u64,
    pub max_alignment_us: u64,
    pub max_async_us: u64,
    /// Records all tasks took in during their asynchronous parts.
    pub processed_during_async: u64,
    /// In-flight data persisted by all tasks (unaligned checkpoints).
    pub persisted_bytes: u64,
    /// Bytes the tasks uploaded (less than the size with incremental checkpoints).
    pub uploaded_bytes: u64,
    /// Per subtask, in acknowledgement order: only for the latest `DETAILED_HISTORY`
    /// checkpoints (emptied for older ones).
    pub tasks: Vec<SubtaskCheckpointStats>,
}

#[derive(Clone, Debug, Default)]
pub struct CheckpointStatsTracker {
    history: VecDeque<CheckpointStats>,
    /// Checkpoints dropped from the front of the history (`MAX_HISTORY`).
    dropped: u64,
}

impl CheckpointStatsTracker {
    pub fn report_pending(&mut self, id: u64, jobmanager: u32, at_us: TimeUs, subtasks: u32, finished: u32) {
        if self.history.len() == MAX_HISTORY {
            self.history.pop_front();
            self.dropped += 1;
        }
        self.history.push_back(CheckpointStats {
            id,
            jobmanager,
            status: CheckpointStatus::InProgress,
            failure: None,
            triggered_at_us: at_us,
            ended_at_us: None,
            latest_ack_at_us: None,
            acknowledged: finished,
            subtasks,
            bytes: 0,
            max_alignment_us: 0,
            max_async_us: 0,
            processed_during_async: 0,
            persisted_bytes: 0,
            uploaded_bytes: 0,
            tasks: Vec::new(),
        });
    }

    fn find(&mut self, id: u64) -> Option<&mut CheckpointStats> {
        // The checkpoints in flight are the newest: search from the back.
        self.history.iter_mut().rev().find(|c| c.id == id)
    }

    pub fn report_ack(&mut self, id: u64, st: SubtaskId, at_us: TimeUs, bytes: u64, metrics: CheckpointMetrics) {
        let Some(c) = self.find(id) else { return };
        c.acknowledged += 1;
        c.latest_ack_at_us = Some(at_us);
        c.bytes = c.bytes.saturating_add(bytes);
        c.max_alignment_us = c.max_alignment_us.max(metrics.alignment_us);
        c.max_async_us = c.max_async_us.max(metrics.async_us);
        c.processed_during_async = c.processed_during_async.saturating_add(metrics.processed_during_async);
        c.persisted_bytes = c.persisted_bytes.saturating_add(metrics.persisted_bytes);
        c.uploaded_bytes = c.uploaded_bytes.saturating_add(metrics.uploaded_bytes);
        c.tasks.push(SubtaskCheckpointStats { subtask: st, acknowledged_at_us: at_us, bytes, metrics });
    }

    /// Completed (with its size, finished tasks' final state included) or failed.
    pub fn report_end(&mut self, id: u64, at_us: TimeUs, completed: Option<u64>, failure: Option<AbortReason>) {
        let Some(c) = self.find(id) else { return };
        c.ended_at_us = Some(at_us);
        match completed {
            Some(bytes) => {
                c.status = CheckpointStatus::Completed;
                c.bytes = bytes;
            }
            None => {
                c.status = CheckpointStatus::Failed;
                c.failure = failure;
            }
        }
        // Per-subtask details only for the latest few: drop them from the newest older one
        // backwards, up to one already without (amortized constant work).
        let n = self.history.len();
        for old in self.history.iter_mut().take(n.saturating_sub(DETAILED_HISTORY)).rev() {
            if old.tasks.is_empty() {
                break;
            }
            old.tasks = Vec::new();
        }
    }

    pub fn history(&self) -> impl Iterator<Item = &CheckpointStats> {
        self.history.iter()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(alignment_us: u64, async_us: u64, processed: u64) -> CheckpointMetrics {
        CheckpointMetrics {
            alignment_us,
            async_us,
            processed_during_async: processed,
            persisted_bytes: 0,
            uploaded_bytes: 0,
        }
    }

    #[test]
    fn a_checkpoint_collects_its_acknowledgements_and_ends() {
        let mut t = CheckpointStatsTracker::default();
        t.report_pending(1, 0, 1_000, 3, 1);
        t.report_ack(1, SubtaskId(0), 1_500, 100, m(0, 400, 7));
        t.report_ack(1, SubtaskId(2), 1_900, 200, m(30, 800, 9));
        t.report_ack(9, SubtaskId(1), 1_900, 200, m(0, 0, 0));
        t.report_end(1, 1_900, Some(350), None);
        let c = t.history().next().expect("one");
        assert_eq!((c.acknowledged, c.subtasks, c.bytes, c.status), (3, 3, 350, CheckpointStatus::Completed));
        assert_eq!((c.max_alignment_us, c.max_async_us, c.processed_during_async), (30, 800, 16));
        assert_eq!(c.latest_ack_at_us, Some(1_900));
        assert_eq!(c.tasks.len(), 2);
    }

    #[test]
    fn details_are_kept_for_the_latest_and_the_history_is_bounded() {
        let mut t = CheckpointStatsTracker::default();
        for id in 1..=(MAX_HISTORY as u64 + 5) {
            t.report_pending(id, 0, id, 1, 0);
            t.report_ack(id, SubtaskId(0), id, 1, m(0, 1, 1));
            t.report_end(id, id, None, Some(AbortReason::Expired));
        }
        assert_eq!(t.history().count(), MAX_HISTORY);
        assert_eq!(t.dropped(), 5);
        assert_eq!(t.history().filter(|c| !c.tasks.is_empty()).count(), DETAILED_HISTORY);
        assert!(t.history().all(|c| c.status == CheckpointStatus::Failed && c.failure == Some(AbortReason::Expired)));
    }
}
