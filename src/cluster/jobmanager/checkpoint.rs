//! The JobMaster's checkpoint coordinator: periodic triggers (only when every task runs),
//! acknowledgements, completion (the _metadata written to storage, the pointer to the HA
//! store), retention, notifications, expiry and `tolerable-failed-checkpoints`.

use super::{CompletedMeta, JmAsk, JobManager, PendingCheckpoint};
use crate::cluster::ctx::{Ctx, Timer};
use crate::cluster::msg::{AttemptId, CheckpointMetrics, FileKey, Msg};
use crate::cluster::net::HostId;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::cluster::timer::JmTimer;
use crate::job::graph::SubtaskId;
use crate::trace::{AbortReason, FailureCause, Note};

impl JobManager {
    fn host_of(&self, st: SubtaskId) -> Option<HostId> {
        let te = self.vertices[st.0 as usize].te?;
        self.tms.get(&te).map(|r| r.host)
    }

    pub(super) fn on_checkpoint_tick(&mut self, ctx: &mut Ctx) {
        let Some(interval) = ctx.sc().flink.checkpoint_interval_us else { return };
        ctx.timer(interval, Timer::Jm(JmTimer::CheckpointTick));
        let now = ctx.now();
        // A stop-with-savepoint pauses the periodic checkpoints (stopCheckpointScheduler); once
        // its savepoint completed the job only finishes, and they do not start again.
        if self.job_status != JobStatus::Running
            || self.stop_savepoint.is_some()
            || self.completed_savepoint.is_some()
            || self.pending.len() >= ctx.sc().flink.max_concurrent_checkpoints as usize
            || (self.checkpoints_completed > 0
                && now < self.last_checkpoint_done_us + ctx.sc().flink.checkpoint_min_pause_us)
        {
            return;
        }
        self.trigger(ctx, false);
    }

    /// Triggers a checkpoint now, or with `stop` the synchronous savepoint of a
    /// stop-with-savepoint; `None` if not every task that must take part is running.
    pub(super) fn trigger(&mut self, ctx: &mut Ctx, stop: bool) -> Option<u64> {
        let now = ctx.now();
        // FLIP-147: finished tasks take no part; every other task must be running.
        let ready = self.vertices.iter().all(|v| matches!(v.state, ExecutionState::Running | ExecutionState::Finished))
            && self.vertices.iter().any(|v| v.state == ExecutionState::Running);
        if !ready {
            return None;
        }
        let id = self.next_checkpoint_id;
        self.next_checkpoint_id += 1;
        if ctx.sc().flink.leader_election_us().is_some() {
            // With HA the id counter lives in ZooKeeper / a ConfigMap (CheckpointIDCounter): a
            // new leader never reuses the id of a checkpoint the old one triggered, so a local
            // copy or a lingering transaction of that attempt is never taken for a new one.
            ctx.send(HostId::HA, Msg::HaCheckpointId { cp: id });
        }
        let n = self.vertices.len();
        let acked: Vec<bool> = self.vertices.iter().map(|v| v.state == ExecutionState::Finished).collect();
        let files: Vec<Option<(FileKey, u64)>> =
            (0..n).map(|i| if acked[i] { self.final_files[i] } else { None }).collect();
        let missing = acked.iter().filter(|a| !**a).count() as u32;
        let deadline_us = now + ctx.sc().flink.checkpoint_timeout_us;
        self.pending.push(PendingCheckpoint {
            id,
            triggered_at_us: now,
            deadline_us,
            files,
            acked,
            missing,
            max_alignment_us: 0,
        });
        ctx.note(Note::CheckpointTriggered { cp: id });
        self.checkpoint_stats.report_pending(id, self.generation, now, n as u32, n as u32 - missing);
        for i in 0..n {
            let st = SubtaskId(i as u32);
            // CheckpointPlanCalculator: trigger the running tasks whose inputs all come from
            // finished tasks (at first: the sources).
            let producers_finished = ctx.graph().subtasks[i].inputs.iter().all(|ch| {
                self.vertices[ctx.graph().channels[ch.0 as usize].from.0 as usize].state == ExecutionState::Finished
            });
            if self.vertices[i].state == ExecutionState::Running
                && producers_finished
                && let Some(host) = self.host_of(st)
            {
                let aid = AttemptId { st, attempt: self.vertices[i].attempt, jm: self.generation };
                let ask = self.new_ask(ctx, JmAsk::Trigger { cp: id });
                ctx.send(host, Msg::TriggerCheckpoint { ask, id: aid, cp: id, stop });
            }
        }
        if !self.expiry_check_scheduled {
            self.expiry_check_scheduled = true;
            ctx.timer_at(deadline_us, Timer::Jm(JmTimer::CheckpointExpired));
        }
        Some(id)
    }

    pub(super) fn on_ack(
        &mut self,
        ctx: &mut Ctx,
        st: SubtaskId,
        cp: u64,
        file: FileKey,
        bytes: u64,
        metrics: CheckpointMetrics,
    ) {
        // An acknowledgement for a checkpoint no longer pending (completed, subsumed, expired)
        // comes too late and is ignored, as in CheckpointCoordinator.receiveAcknowledgeMessage.
        let Some(pos) = self.pending.iter().position(|p| p.id == cp) else { return };
        let p = &mut self.pending[pos];
        if p.acked[st.0 as usize] {
            return;
        }
        p.acked[st.0 as usize] = true;
        p.files[st.0 as usize] = Some((file, bytes));
        p.max_alignment_us = p.max_alignment_us.max(metrics.alignment_us);
        p.missing -= 1;
        self.checkpoint_stats.report_ack(cp, st, ctx.now(), bytes, metrics);
        if p.missing > 0 {
            return;
        }
        let p = self.pending.remove(pos);
        let now = ctx.now();
        let (files, sizes): (Vec<FileKey>, Vec<u64>) =
            p.files.iter().map(|f| f.expect("every subtask acknowledged or had finished")).unzip();
        let total: u64 = sizes.iter().sum();
        let savepoint = self.stop_savepoint == Some(cp);
        ctx.send(
            HostId::STORAGE,
            Msg::FinalizeCheckpoint {
                job: self.job,
                cp,
                files: files.clone(),
                bytes: sizes.clone(),
                completed_at_us: now,
                savepoint,
            },
        );
        if savepoint {
            // A savepoint is the user's: not a checkpoint to recover from, never discarded by
            // Flink. Its completion lets the stopped tasks commit it and finish.
            self.stop_savepoint = None;
            self.completed_savepoint = Some(cp);
            self.count_completed(ctx, &p, total);
            let path = super::operations::snapshot_path(ctx, self.job, cp, true);
            let text = format!("savepoint {cp} completed ({}): {path}", bytesize::ByteSize(total).display().si());
            ctx.note(Note::JobOperation { job: self.job, text });
            while self.pending.first().is_some_and(|o| o.id < cp) {
                self.abort_oldest(ctx, AbortReason::Subsumed);
            }
            self.notify_complete(ctx, cp);
            return;
        }
        if ctx.sc().flink.leader_election_us().is_some() {
            ctx.send(
                HostId::HA,
                Msg::HaPutCheckpoint { jm: self.generation, cp, files: files.clone(), bytes: sizes.clone() },
            );
        }
        self.completed.push_back(CompletedMeta { id: cp, files, bytes: sizes });
        while self.completed.len() > ctx.sc().flink.checkpoints_retained as usize {
            let old = self.completed.pop_front().expect("longer than retained");
            ctx.send(HostId::STORAGE, Msg::DiscardCheckpoint { job: self.job, cp: old.id });
        }
        self.consecutive_failed_checkpoints = 0;
        // dropSubsumedCheckpoints: older checkpoints still in flight can no longer complete.
        if !ctx.bugs().no_subsume_pending {
            while self.pending.first().is_some_and(|o| o.id < cp) {
                self.abort_oldest(ctx, AbortReason::Subsumed);
            }
        }
        self.count_completed(ctx, &p, total);
        ctx.probe(crate::fault::phase::Probe::Completed { cp });
        self.notify_complete(ctx, cp);
    }

    /// A checkpoint or savepoint completed: counted, in the history and in the trace.
    fn count_completed(&mut self, ctx: &mut Ctx, p: &PendingCheckpoint, total: u64) {
        let now = ctx.now();
        self.checkpoints_completed += 1;
        self.last_checkpoint_done_us = now;
        self.checkpoint_stats.report_end(p.id, now, Some(total), None);
        ctx.note(Note::CheckpointCompleted {
            cp: p.id,
            bytes: total,
            duration_us: now - p.triggered_at_us,
            alignment_us: p.max_alignment_us,
        });
    }

    /// notifyCheckpointComplete to every running task.
    fn notify_complete(&mut self, ctx: &mut Ctx, cp: u64) {
        for i in 0..self.vertices.len() {
            let v = &self.vertices[i];
            if v.state == ExecutionState::Running
                && let Some(host) = self.host_of(SubtaskId(i as u32))
            {
                let id = AttemptId { st: SubtaskId(i as u32), attempt: v.attempt, jm: self.generation };
                ctx.send(host, Msg::NotifyComplete { id, cp });
            }
        }
    }

    /// The pending checkpoint expires at its deadline; an earlier check (left from a checkpoint
    /// that completed) re-arms for the current one. Expiries beyond
    /// `tolerable-failed-checkpoints` in a row fail the job (a global failover).
    pub(super) fn on_checkpoint_expired(&mut self, ctx: &mut Ctx) {
        self.expiry_check_scheduled = false;
        while let Some(first) = self.pending.iter().map(|p| p.deadline_us).min() {
            if ctx.now() < first {
                self.expiry_check_scheduled = true;
                ctx.timer_at(first, Timer::Jm(JmTimer::CheckpointExpired));
                return;
            }
            let pos = self.pending.iter().position(|p| p.deadline_us == first).expect("the minimum is in the list");
            let p = self.pending.remove(pos);
            let savepoint = self.stop_savepoint == Some(p.id);
            self.aborted(ctx, p, AbortReason::Expired);
            if savepoint {
                // A savepoint's failure never counts toward tolerable-failed-checkpoints.
                continue;
            }
            self.count_failed_checkpoint(ctx, FailureCause::CheckpointExpired);
        }
    }

    /// A checkpoint failed for a reason CheckpointFailureManager counts (expired, an
    /// asynchronous part that failed): past `tolerable-failed-checkpoints` in a row, the job
    /// fails over.
    fn count_failed_checkpoint(&mut self, ctx: &mut Ctx, cause: FailureCause) {
        self.consecutive_failed_checkpoints += 1;
        if self.consecutive_failed_checkpoints > ctx.sc().flink.tolerable_failed_checkpoints {
            self.consecutive_failed_checkpoints = 0;
            // CheckpointFailureManager → a global failure (`failJob` → the scheduler's
            // `handleGlobalFailure`): no task failed, every task is cancelled and restarted
            // whatever the failover strategy (which aborts the other pending checkpoints too).
            if matches!(self.job_status, JobStatus::Running | JobStatus::Restarting) {
                let all: Vec<SubtaskId> = (0..self.vertices.len() as u32).map(SubtaskId).collect();
                let now = ctx.now();
                self.start_failover(ctx, None, cause, now, all);
            }
        }
    }

    /// A triggerCheckpoint ask failed (refused, an error answer, or no answer within
    /// `pekko.ask.timeout`): CheckpointCoordinator.onTriggerFailure aborts the checkpoint with
    /// TRIGGER_CHECKPOINT_FAILURE, which does not count toward the tolerable failures.
    pub(super) fn on_trigger_failed(&mut self, ctx: &mut Ctx, cp: u64) {
        if let Some(pos) = self.pending.iter().position(|p| p.id == cp) {
            let p = self.pending.remove(pos);
            self.aborted(ctx, p, AbortReason::TriggerFailed);
        }
    }

    /// A task declined the checkpoint (CheckpointCoordinator.receiveDeclineMessage): it is
    /// aborted; CheckpointFailureManager does not count CHECKPOINT_DECLINED_TASK_NOT_READY or
    /// TASK_CLOSING toward `tolerable-failed-checkpoints`.
    pub(super) fn on_decline(&mut self, ctx: &mut Ctx, cp: u64, async_failed: bool) {
        if let Some(pos) = self.pending.iter().position(|p| p.id == cp) {
            let p = self.pending.remove(pos);
            let savepoint = self.stop_savepoint == Some(p.id);
            self.aborted(ctx, p, if async_failed { AbortReason::AsyncFailed } else { AbortReason::Declined });
            if async_failed && !savepoint {
                self.count_failed_checkpoint(ctx, FailureCause::CheckpointUploadsFailed);
            }
        }
    }

    /// Aborts every checkpoint in flight (a failover).
    pub(super) fn abort_pending(&mut self, ctx: &mut Ctx, reason: AbortReason) {
        while !self.pending.is_empty() {
            self.abort_oldest(ctx, reason);
        }
    }

    fn abort_oldest(&mut self, ctx: &mut Ctx, reason: AbortReason) {
        let p = self.pending.remove(0);
        self.aborted(ctx, p, reason);
    }

    fn aborted(&mut self, ctx: &mut Ctx, p: PendingCheckpoint, reason: AbortReason) {
        self.checkpoints_aborted += 1;
        self.checkpoint_stats.report_end(p.id, ctx.now(), None, Some(reason));
        ctx.note(Note::CheckpointAborted { cp: p.id, reason });
        ctx.send(HostId::STORAGE, Msg::DiscardCheckpoint { job: self.job, cp: p.id });
        self.stop_savepoint_failed(ctx, p.id);
        // notifyCheckpointAborted to every TaskManager running a task of the job.
        let hosts: std::collections::BTreeSet<HostId> =
            (0..self.vertices.len()).filter_map(|i| self.host_of(SubtaskId(i as u32))).collect();
        for h in hosts {
            ctx.send(h, Msg::AbortCheckpoint { jm: self.generation, cp: p.id });
        }
    }
}
