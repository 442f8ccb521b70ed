//! What a user does to a job through the REST API or the CLI, and how a job's end treats its
//! checkpoints: cancel (`flink cancel`), stop-with-savepoint (`flink stop`), a new submission
//! (`flink run`, optionally with `execution.state-recovery.path`), and the retention of
//! checkpoints when a job reaches a globally terminal state
//! (`execution.checkpointing.externalized-checkpoint-retention`, as `CheckpointProperties`).
//!
//! Each submission is a job of its own (a new job id, its checkpoints under
//! `<execution.checkpointing.dir>/<job-id>/chk-<n>`); the JobManager process (its Dispatcher)
//! remembers the jobs that ended, as the Web UI's completed-jobs list does, so a user can name a
//! snapshot of an earlier job. The snapshot itself is read from checkpoint storage by message:
//! if its `_metadata` is gone (discarded when its job ended), the new job fails at once.

use super::{CompletedMeta, JobManager};
use crate::cluster::config::CheckpointRetention;
use crate::cluster::ctx::{Ctx, Timer};
use crate::cluster::msg::{EndedJob, FileKey, Msg};
use crate::cluster::net::HostId;
use crate::cluster::restart::RestartBackoff;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::cluster::timer::JmTimer;
use crate::fault::RestoreFrom;
use crate::job::graph::SubtaskId;
use crate::scenario::Scenario;
use crate::trace::{AbortReason, Note};

/// The job id Flink would show: 32 hex digits, fixed by the scenario's seed and the submission.
pub fn job_id(seed: u64, job: u32) -> String {
    let a = crate::job::record::splitmix64(seed ^ 0x6a6f_6269_6400_0000 ^ u64::from(job));
    let b = crate::job::record::splitmix64(a ^ u64::from(job).wrapping_mul(0x9e37_79b9));
    format!("{a:016x}{b:016x}")
}

/// The directory of `job`'s checkpoints: `<execution.checkpointing.dir>/<job-id>`.
fn checkpoint_dir(sc: &Scenario, job: u32) -> String {
    let dir = sc.flink.checkpoint_dir.as_deref().unwrap_or("<execution.checkpointing.dir>");
    format!("{dir}/{}", job_id(sc.seed, job))
}

/// Where a snapshot of `job` lives, as a path under the configured directories.
pub fn snapshot_path(ctx: &Ctx, job: u32, cp: u64, savepoint: bool) -> String {
    snapshot_path_of(ctx.sc(), job, cp, savepoint)
}

/// `snapshot_path` for readers of a finished run (the report).
pub fn snapshot_path_of(sc: &Scenario, job: u32, cp: u64, savepoint: bool) -> String {
    if savepoint {
        let dir = sc.flink.savepoint_dir.as_deref().unwrap_or("<execution.checkpointing.savepoint-dir>");
        format!("{dir}/savepoint-{}-{cp:012x}", &job_id(sc.seed, job)[..6])
    } else {
        format!("{}/chk-{cp}", checkpoint_dir(sc, job))
    }
}

impl JobManager {
    /// `flink cancel`: every task is cancelled, checkpoints in flight are aborted; CANCELED once
    /// every task is terminal.
    pub fn cancel_job(&mut self, ctx: &mut Ctx) {
        if !self.leader || self.job_status.is_globally_terminal() || self.job_status == JobStatus::Cancelling {
            let text = format!("cancel refused: the job is {}", self.job_status.name());
            ctx.note(Note::JobOperation { job: self.job, text });
            return;
        }
        ctx.note(Note::JobOperation { job: self.job, text: "the user cancels the job (flink cancel)".into() });
        self.stop_savepoint = None;
        self.abort_pending(ctx, AbortReason::JobCancelled);
        // Restarts not yet carried out are dropped: the job is going away.
        for rt in &mut self.failover_rt {
            rt.done = true;
        }
        self.set_job_status(ctx, JobStatus::Cancelling);
        for i in 0..self.vertices.len() {
            self.cancel(ctx, SubtaskId(i as u32));
        }
        self.check_job_cancelled(ctx);
    }

    pub(super) fn check_job_cancelled(&mut self, ctx: &mut Ctx) {
        if self.job_status == JobStatus::Cancelling && self.vertices.iter().all(|v| v.state.is_terminal()) {
            self.set_job_status(ctx, JobStatus::Canceled);
        }
    }

    /// `flink stop`: a synchronous savepoint, triggered at once (a savepoint is not held back by
    /// the minimum pause or the concurrency limit); the sources stop after it, the sinks commit
    /// it, and the tasks finish: FINISHED. If it fails, the job keeps running.
    pub fn stop_with_savepoint(&mut self, ctx: &mut Ctx) {
        if !self.leader || self.job_status != JobStatus::Running || self.stop_savepoint.is_some() {
            let text = format!("stop-with-savepoint refused: the job is {}", self.job_status.name());
            ctx.note(Note::JobOperation { job: self.job, text });
            return;
        }
        if ctx.sc().flink.checkpoint_interval_us.is_none() {
            // Without checkpointing the coordinator still takes savepoints (their barriers flow
            // the same way); this model's tasks only take part in checkpoints when it is on.
            let text = "stop-with-savepoint refused: checkpointing is off in this scenario (not modelled)".into();
            ctx.note(Note::JobOperation { job: self.job, text });
            return;
        }
        match self.trigger(ctx, true) {
            Some(cp) => {
                self.stop_savepoint = Some(cp);
                let path = snapshot_path(ctx, self.job, cp, true);
                let text = format!(
                    "the user stops the job with a savepoint (flink stop): synchronous savepoint {cp} to {path}; periodic checkpoints pause"
                );
                ctx.note(Note::JobOperation { job: self.job, text });
            }
            None => {
                // CheckpointFailureReason.NOT_ALL_REQUIRED_TASKS_RUNNING
                let text =
                    "stop-with-savepoint failed: not all required tasks are running; the job keeps running".into();
                ctx.note(Note::JobOperation { job: self.job, text });
            }
        }
    }

    /// The savepoint of a stop-with-savepoint did not complete: the job goes on, with periodic
    /// checkpoints again (StopWithSavepointTerminationHandlerImpl on a savepoint failure).
    pub(super) fn stop_savepoint_failed(&mut self, ctx: &mut Ctx, cp: u64) {
        if self.stop_savepoint == Some(cp) {
            self.stop_savepoint = None;
            let text = format!("stop-with-savepoint failed: savepoint {cp} was aborted; the job keeps running");
            ctx.note(Note::JobOperation { job: self.job, text });
        }
    }

    /// `flink run`: a new job (a new job id) with the same job graph, once the current one has
    /// ended (one job at a time in this model: a submission while it runs waits for its end).
    pub fn submit_new_job(&mut self, ctx: &mut Ctx, from: RestoreFrom) {
        if !self.leader {
            let text = "submission refused: no JobManager leader".into();
            ctx.note(Note::JobOperation { job: self.job, text });
            return;
        }
        if !self.job_status.is_globally_terminal() {
            let text = format!(
                "a new submission waits until this job has ended (it is {}; one job at a time is modelled)",
                self.job_status.name()
            );
            ctx.note(Note::JobOperation { job: self.job, text });
            self.deferred_submit = Some(from);
            return;
        }
        let previous = self.ended.last().cloned();
        self.reset_for_new_job(ctx);
        let job = self.job;
        let snapshot = previous.as_ref().and_then(|p| match from {
            RestoreFrom::Savepoint => p.savepoint.map(|cp| (p.job, cp, true)),
            RestoreFrom::RetainedCheckpoint => p.latest_checkpoint.map(|cp| (p.job, cp, false)),
            RestoreFrom::Nothing => None,
        });
        let id = job_id(ctx.sc().seed, job);
        match (from, snapshot) {
            (RestoreFrom::Nothing, _) => {
                let text = format!(
                    "job {id} submitted without a snapshot: empty state, the sources start from the beginning of the log"
                );
                ctx.note(Note::JobOperation { job, text });
                self.put_job_in_ha(ctx, None);
                ctx.note(Note::JobSubmitted { job, restore: None });
                self.submit_job(ctx, None);
            }
            (_, Some((of, cp, savepoint))) => {
                let path = snapshot_path(ctx, of, cp, savepoint);
                let text = format!("job {id} submitted with execution.state-recovery.path = {path}");
                ctx.note(Note::JobOperation { job, text });
                self.restore_path = Some((of, cp, savepoint));
                ctx.send(HostId::STORAGE, Msg::ReadMetadata { job: of, cp });
            }
            (_, None) => {
                let status = previous.as_ref().map_or("none", |p| p.status.name());
                let what = if from == RestoreFrom::Savepoint {
                    format!("the previous job ({status}) took no savepoint")
                } else {
                    format!("the previous job ({status}) completed no checkpoint")
                };
                let text = format!("job {id} cannot be submitted from a snapshot: {what}; it fails at once");
                ctx.note(Note::JobOperation { job, text });
                self.set_job_status(ctx, JobStatus::Failed);
            }
        }
    }

    /// The `_metadata` of the snapshot a new job was submitted with.
    pub(super) fn on_metadata_read(&mut self, ctx: &mut Ctx, of: u32, cp: u64, meta: Option<(Vec<FileKey>, Vec<u64>)>) {
        let Some((want_job, want_cp, savepoint)) = self.restore_path else { return };
        if (want_job, want_cp) != (of, cp) || self.job_status != JobStatus::Created {
            return;
        }
        self.restore_path = None;
        match meta {
            Some((files, bytes)) => {
                let latest = CompletedMeta { id: cp, files, bytes };
                self.put_job_in_ha(ctx, Some(&latest));
                self.next_checkpoint_id = cp + 1;
                ctx.note(Note::JobSubmitted { job: self.job, restore: Some(cp) });
                self.submit_job(ctx, Some(latest));
            }
            None => {
                // The JobMaster cannot be created: "Cannot find checkpoint or savepoint
                // file/directory" (JobInitializationException): the job is FAILED.
                let path = snapshot_path(ctx, of, cp, savepoint);
                let text = format!("job fails at once: cannot find checkpoint or savepoint {path} (it was discarded)");
                ctx.note(Note::JobOperation { job: self.job, text });
                self.set_job_status(ctx, JobStatus::Failed);
            }
        }
    }

    fn put_job_in_ha(&mut self, ctx: &mut Ctx, latest: Option<&CompletedMeta>) {
        if ctx.sc().flink.leader_election_us().is_some() {
            let latest = latest.map(|c| (c.id, c.files.clone(), c.bytes.clone()));
            ctx.send(HostId::HA, Msg::HaPutJob { job: self.job, latest });
        }
    }

    /// Everything that belongs to one job starts anew; the process (ResourceManager, registered
    /// TaskManagers, their slots) stays. Attempt numbers go on, so no message of the old job's
    /// attempts is taken for the new one's.
    fn reset_for_new_job(&mut self, ctx: &mut Ctx) {
        self.job += 1;
        self.job_status = JobStatus::Created;
        for (i, v) in self.vertices.iter_mut().enumerate() {
            v.attempt += 1;
            v.state = ExecutionState::Created;
            v.te = None;
            v.restore_from = None;
            v.created_by_failover = None;
            self.final_files[i] = None;
        }
        self.slot_waiters.clear();
        self.restart = RestartBackoff::new(ctx.sc().flink.restart_strategy.clone());
        self.next_checkpoint_id = 1;
        self.pending.clear();
        self.completed.clear();
        self.consecutive_failed_checkpoints = 0;
        self.stop_savepoint = None;
        self.archived_stats.push(std::mem::take(&mut self.checkpoint_stats));
    }

    /// The job reached a globally terminal state: the Dispatcher archives it, its checkpoints
    /// are kept or discarded as `externalized-checkpoint-retention` says (a savepoint is the
    /// user's and stays), and a submission that waited for the end goes ahead.
    pub(super) fn on_job_ended(&mut self, ctx: &mut Ctx, status: JobStatus) {
        let retention = ctx.sc().flink.checkpoint_retention;
        let keep = match status {
            JobStatus::Finished => false,
            JobStatus::Canceled => retention == CheckpointRetention::RetainOnCancellation,
            _ => retention != CheckpointRetention::NoExternalizedCheckpoints,
        };
        let ids: Vec<u64> = self.completed.iter().map(|c| c.id).collect();
        if !ids.is_empty() {
            let list = ids.iter().map(|c| format!("chk-{c}")).collect::<Vec<_>>().join(", ");
            let dir = checkpoint_dir(ctx.sc(), self.job);
            let text = if keep {
                format!(
                    "the job is {}: {list} in {dir} retained (externalized-checkpoint-retention {})",
                    status.name(),
                    retention.name()
                )
            } else {
                for &cp in &ids {
                    ctx.send(HostId::STORAGE, Msg::DiscardCheckpoint { job: self.job, cp });
                }
                format!(
                    "the job is {}: {list} in {dir} discarded (externalized-checkpoint-retention {})",
                    status.name(),
                    retention.name()
                )
            };
            ctx.note(Note::JobOperation { job: self.job, text });
        }
        let ended = EndedJob {
            job: self.job,
            status,
            latest_checkpoint: ids.last().copied(),
            savepoint: self.completed_savepoint,
        };
        self.ended.push(ended);
        if ctx.sc().flink.leader_election_us().is_some() {
            ctx.send(HostId::HA, Msg::HaJobEnded { ended });
        }
        self.completed_savepoint = None;
        if self.deferred_submit.is_some() {
            // Not from inside the status change: the submission runs as the next event.
            ctx.timer(0, Timer::Jm(JmTimer::DeferredSubmit));
        }
    }

    /// A submission waits for the current job's end: the run is not over when it ends.
    pub fn awaits_submission(&self) -> bool {
        self.deferred_submit.is_some()
    }

    pub(super) fn on_deferred_submit(&mut self, ctx: &mut Ctx) {
        if let Some(from) = self.deferred_submit.take() {
            self.submit_new_job(ctx, from);
        }
    }
}
