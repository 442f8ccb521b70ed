//! The JobManager process: the JobMaster (scheduler, failover, checkpoint coordinator) and the
//! ResourceManager of a session cluster, in one process on the `jobmanager` host. It knows the
//! TaskManagers only through their registration, their heartbeat answers, their task state
//! updates and their checkpoint acknowledgements — and through what it does not hear.
//!
//! Messages it accepts: `Register`, `Unregister`, `HeartbeatAnswer`, `TaskState`,
//! `TaskFinished`, `AckCheckpoint`, `DeclineCheckpoint`, `AskReply`, `Refused`, `HaRecovered`,
//! `WorkerTerminated`, `MetadataRead`. The user's operations (cancel, stop-with-savepoint, a new
//! submission) reach it as calls from the environment, as its REST API would.
//! Messages it sends: `RegisterReply`, `HeartbeatRequest` (JobMaster and ResourceManager loops),
//! `SubmitTask`, `CancelTask`, `TriggerCheckpoint`, `NotifyComplete`, `AbortCheckpoint`,
//! `DisconnectJobManager`, to storage `FinalizeCheckpoint`/`DiscardCheckpoint`, to the HA store
//! `HaCheckpointId`/`HaPutCheckpoint`/`HaRecover`.

mod checkpoint;
mod operations;
mod scheduler;
pub use operations::{job_id, snapshot_path_of};
pub mod stats;

use super::config::ResourceManagerKind;
use super::ctx::{Ctx, Timer};
use super::msg::{AskRef, AttemptId, FileKey, HbSender, Msg, heartbeat_target};
use super::net::HostId;
use super::restart::RestartBackoff;
use super::state::{ExecutionState, JobStatus};
use super::timer::JmTimer;
use crate::job::graph::{JobGraph, SubtaskId};
use crate::scenario::Scenario;
use crate::sim::{Rng, Stream, TimeUs};
use crate::trace::{Detection, FailureCause, Note};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One failover as reported: when, why, what restarted, from which checkpoint, when all ran.
#[derive(Clone, Debug, PartialEq)]
pub struct FailoverReport {
    /// When the first failure happened at a task.
    pub failed_at_us: TimeUs,
    /// When the JobManager handled it.
    pub detected_at_us: TimeUs,
    /// The task whose failure started it; `None` for a global failure, which no task caused
    /// (a checkpoint failure past `tolerable-failed-checkpoints`).
    pub failed_subtask: Option<SubtaskId>,
    pub cause: FailureCause,
    /// What the failover strategy chose to restart when the failure was handled.
    pub to_restart: Vec<SubtaskId>,
    /// What was actually restarted (minus subtasks another failover restarted meanwhile).
    pub restarted: Vec<SubtaskId>,
    pub restart_at_us: Option<TimeUs>,
    pub restored_checkpoint: Option<u64>,
    pub running_again_at_us: Option<TimeUs>,
    /// Whether this failure exhausted the restart strategy.
    pub exhausted: bool,
}

#[derive(Clone)]
struct FailoverRt {
    to_restart: Vec<(SubtaskId, u32)>,
    timer_fired: bool,
    done: bool,
    waiting_running: u32,
}

/// A registered TaskManager as this JobManager sees it.
#[derive(Clone)]
struct TmRec {
    host: HostId,
    tm: u32,
    /// Slot → execution slot sharing group using it.
    slots: Vec<Option<u32>>,
    last_jm_heartbeat_us: u64,
    jm_failures: u32,
    last_rm_heartbeat_us: u64,
    rm_failures: u32,
}

/// The JobMaster's view of one ExecutionVertex and its current attempt.
#[derive(Clone)]
struct Vertex {
    attempt: u32,
    state: ExecutionState,
    te: Option<u32>,
    restore_from: Option<u64>,
    created_by_failover: Option<usize>,
}

#[derive(Clone)]
enum JmAsk {
    Submit { id: AttemptId, te: u32 },
    Trigger { cp: u64 },
    Cancel { id: AttemptId, te: u32, tries: u32 },
}

/// A completed checkpoint as the coordinator keeps it: handles, not contents.
#[derive(Clone, Debug)]
struct CompletedMeta {
    id: u64,
    files: Vec<FileKey>,
    bytes: Vec<u64>,
}

#[derive(Clone)]
struct PendingCheckpoint {
    id: u64,
    triggered_at_us: TimeUs,
    deadline_us: TimeUs,
    files: Vec<Option<(FileKey, u64)>>,
    acked: Vec<bool>,
    missing: u32,
    max_alignment_us: u64,
}

#[derive(Clone)]
pub struct JobManager {
    generation: u32,
    /// The job (its submission, 0 the first) this JobMaster runs now.
    job: u32,
    /// Jobs that ended, oldest first (the Dispatcher's archive).
    ended: Vec<crate::cluster::msg::EndedJob>,
    /// The savepoint of a stop-with-savepoint in flight.
    stop_savepoint: Option<u64>,
    /// The savepoint a stop-with-savepoint completed for the current job.
    completed_savepoint: Option<u64>,
    /// A submission that waits for the current job's end.
    deferred_submit: Option<crate::fault::RestoreFrom>,
    /// The snapshot (job, checkpoint, is a savepoint) whose `_metadata` a new job waits for.
    restore_path: Option<(u32, u64, bool)>,
    /// The checkpoint histories of earlier jobs of this process.
    archived_stats: Vec<stats::CheckpointStatsTracker>,
    leader: bool,
    died_at_us: TimeUs,
    rm_started_us: TimeUs,
    start_up_check_scheduled: bool,
    tms: BTreeMap<u32, TmRec>,
    /// Workers requested from Kubernetes/YARN and not registered yet (active ResourceManager).
    pending_workers: u32,
    job_status: JobStatus,
    vertices: Vec<Vertex>,
    group_slot: Vec<Option<(u32, u32)>>,
    slot_waiters: BTreeSet<u32>,
    slot_generation: Vec<u64>,
    region_of: Vec<u32>,
    regions: Vec<Vec<SubtaskId>>,
    restart: RestartBackoff,
    rng_restart: Rng,
    failovers: Vec<FailoverReport>,
    failover_rt: Vec<FailoverRt>,
    asks: BTreeMap<u64, JmAsk>,
    next_ask: u64,
    // checkpoint coordinator
    next_checkpoint_id: u64,
    /// In flight, oldest first: at most `max-concurrent-checkpoints` of them.
    pending: Vec<PendingCheckpoint>,
    expiry_check_scheduled: bool,
    completed: VecDeque<CompletedMeta>,
    last_checkpoint_done_us: TimeUs,
    final_files: Vec<Option<(FileKey, u64)>>,
    checkpoints_completed: u64,
    checkpoints_aborted: u64,
    consecutive_failed_checkpoints: u32,
    checkpoint_stats: stats::CheckpointStatsTracker,
}

impl JobManager {
    pub fn new(sc: &Scenario, graph: &JobGraph, generation: u32) -> JobManager {
        let n = graph.subtask_count();
        let groups = graph.slot_groups.max(1) as usize;
        let (regions, region_of) = graph.pipelined_regions();
        let vertices = (0..n)
            .map(|_| Vertex {
                attempt: 0,
                state: ExecutionState::Created,
                te: None,
                restore_from: None,
                created_by_failover: None,
            })
            .collect();
        JobManager {
            generation,
            job: 0,
            ended: Vec::new(),
            stop_savepoint: None,
            completed_savepoint: None,
            deferred_submit: None,
            restore_path: None,
            archived_stats: Vec::new(),
            leader: false,
            died_at_us: 0,
            rm_started_us: 0,
            start_up_check_scheduled: false,
            tms: BTreeMap::new(),
            pending_workers: 0,
            job_status: JobStatus::Created,
            vertices,
            group_slot: vec![None; groups],
            slot_waiters: BTreeSet::new(),
            slot_generation: vec![0; groups],
            region_of,
            regions,
            restart: RestartBackoff::new(sc.flink.restart_strategy.clone()),
            rng_restart: Rng::new(sc.seed.wrapping_add(u64::from(generation)), Stream::Restart),
            failovers: Vec::new(),
            failover_rt: Vec::new(),
            asks: BTreeMap::new(),
            next_ask: 1,
            next_checkpoint_id: 1,
            pending: Vec::new(),
            expiry_check_scheduled: false,
            completed: VecDeque::new(),
            last_checkpoint_done_us: 0,
            final_files: vec![None; n],
            checkpoints_completed: 0,
            checkpoints_aborted: 0,
            consecutive_failed_checkpoints: 0,
            checkpoint_stats: stats::CheckpointStatsTracker::default(),
        }
    }

    /// This process's view of the job, for an observer.
    pub fn inspect(&self) -> crate::cluster::inspect::JobManagerView {
        use crate::cluster::inspect::{JobManagerView, PendingView};
        JobManagerView {
            generation: self.generation,
            leader: self.leader,
            job_status: self.job_status,
            subtasks: self
                .vertices
                .iter()
                .map(|v| (v.attempt, v.state, v.te.and_then(|te| self.tms.get(&te)).map(|r| r.tm)))
                .collect(),
            registered: self.tms.values().map(|r| r.tm).collect(),
            pending: self
                .pending
                .iter()
                .map(|p| PendingView {
                    id: p.id,
                    triggered_at_us: p.triggered_at_us,
                    acked: p.acked.iter().filter(|a| **a).count() as u32,
                    total: p.acked.len() as u32,
                    max_alignment_us: p.max_alignment_us,
                })
                .collect(),
            completed: self.checkpoints_completed,
            aborted: self.checkpoints_aborted,
        }
    }

    pub fn job_status(&self) -> JobStatus {
        self.job_status
    }
    /// The current job ended FINISHED by the user's stop-with-savepoint (its savepoint completed).
    pub fn stopped_with_savepoint(&self) -> bool {
        self.job_status == JobStatus::Finished
            && self
                .ended
                .last()
                .is_some_and(|e| e.job == self.job && e.status == JobStatus::Finished && e.savepoint.is_some())
    }
    /// The current job FAILED while stopping with a savepoint that had completed
    /// (StopWithSavepointStoppingException): the savepoint it leaves.
    pub fn failed_while_stopping(&self) -> Option<u64> {
        let e = self.ended.last().filter(|e| e.job == self.job && e.status == JobStatus::Failed)?;
        e.savepoint.filter(|_| self.job_status == JobStatus::Failed)
    }
    pub fn failovers(&self) -> &[FailoverReport] {
        &self.failovers
    }
    /// The checkpoint histories this process kept (the Web UI's Checkpoints tab), one per job,
    /// oldest first.
    pub fn checkpoint_stats(&self) -> impl Iterator<Item = &stats::CheckpointStatsTracker> {
        self.archived_stats.iter().chain(std::iter::once(&self.checkpoint_stats))
    }
    pub fn checkpoints_completed(&self) -> u64 {
        self.checkpoints_completed
    }
    pub fn checkpoints_aborted(&self) -> u64 {
        self.checkpoints_aborted
    }
    pub fn died_at_us(&self) -> TimeUs {
        self.died_at_us
    }
    /// The process died (the engine keeps it only for its reports).
    pub fn died(&mut self, now: TimeUs) {
        self.died_at_us = now;
    }

    /// The process starts: the ResourceManager and the heartbeat loops run at once (each loop
    /// with a phase drawn from the seed: when the process started relative to the scenario's
    /// clock); the JobMaster waits for leadership.
    pub fn start(&mut self, ctx: &mut Ctx, leader_at_us: TimeUs) {
        self.rm_started_us = ctx.now();
        let iv = ctx.sc().flink.heartbeat_interval_us;
        let jm_phase = 1 + ctx.draw(iv - 1);
        let rm_phase = 1 + ctx.draw(iv - 1);
        ctx.timer(jm_phase, Timer::Jm(JmTimer::HeartbeatTick));
        ctx.timer(rm_phase, Timer::Jm(JmTimer::RmHeartbeatTick));
        ctx.timer_at(leader_at_us, Timer::Jm(JmTimer::Leadership));
    }

    fn on_leadership(&mut self, ctx: &mut Ctx) {
        if self.generation == 0 {
            // A session cluster: the job is submitted once the TaskManagers have registered (or
            // after a second, whatever has registered by then).
            self.leader = true;
            ctx.timer(1_000_000, Timer::Jm(JmTimer::Submit));
        } else {
            // Recover the job graph and the latest completed checkpoint from the HA store.
            ctx.send(HostId::HA, Msg::HaRecover { jm: self.generation });
        }
    }

    /// The job starts (submission, or recovery by a new leader from `latest`).
    fn submit_job(&mut self, ctx: &mut Ctx, latest: Option<CompletedMeta>) {
        if let Some(c) = latest {
            self.next_checkpoint_id = self.next_checkpoint_id.max(c.id + 1);
            for v in &mut self.vertices {
                v.restore_from = Some(c.id);
            }
            self.completed.push_back(c);
        }
        self.set_job_status(ctx, JobStatus::Running);
        let all: Vec<SubtaskId> = (0..self.vertices.len() as u32).map(SubtaskId).collect();
        for &st in &all {
            self.set_state(ctx, st, ExecutionState::Scheduled);
        }
        self.allocate_and_deploy(ctx, &all);
        if let Some(iv) = ctx.sc().flink.checkpoint_interval_us {
            // CheckpointCoordinator: first trigger after a random delay in [min-pause, interval).
            let lo = ctx.sc().flink.checkpoint_min_pause_us.min(iv);
            let mut rng = Rng::new(ctx.sc().seed.wrapping_add(u64::from(self.generation)), Stream::Checkpoint);
            let first = lo + rng.below_inclusive((iv - lo).saturating_sub(1));
            ctx.timer(first, Timer::Jm(JmTimer::CheckpointTick));
        }
    }

    // Each arm is one message handler; guards would hide the handler's condition in the pattern.
    #[allow(clippy::collapsible_match)]
    pub fn handle(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            Msg::Register { te, tm, slots } => self.on_register(ctx, from, te, tm, slots),
            Msg::Unregister { te } => {
                if self.tms.contains_key(&te) {
                    self.tm_lost(ctx, te, Detection::Deregistered);
                }
            }
            Msg::WorkerTerminated { te } => {
                if ctx.sc().cluster.resource_manager == ResourceManagerKind::Active && self.tms.contains_key(&te) {
                    self.tm_lost(ctx, te, Detection::PodTerminated);
                }
            }
            Msg::HeartbeatAnswer { te, from: sender, jm, deployed } => {
                if jm != self.generation {
                    return;
                }
                if sender == HbSender::JobMaster && self.tms.contains_key(&te) {
                    self.reconcile(ctx, te, &deployed);
                }
                let now = ctx.now();
                if let Some(t) = self.tms.get_mut(&te) {
                    match sender {
                        HbSender::JobMaster => {
                            t.last_jm_heartbeat_us = now;
                            t.jm_failures = 0;
                        }
                        HbSender::ResourceManager => {
                            t.last_rm_heartbeat_us = now;
                            t.rm_failures = 0;
                        }
                    }
                }
            }
            Msg::Refused { ask: AskRef::Jm(a) } => self.on_ask_failed(ctx, a, true),
            Msg::AskReply { ask: AskRef::Jm(a), ok } => {
                if ok {
                    self.asks.remove(&a);
                } else {
                    self.on_ask_failed(ctx, a, false);
                }
            }
            Msg::TaskState { id, te: _, state, cause, failed_at_us } => {
                // An update for an attempt the JobMaster no longer tracks is answered with an
                // error ("The execution attempt … was not found"); the TaskExecutor fails the
                // task then. Answers to terminal updates are ignored by the TaskExecutor and
                // not sent.
                let known = self.current(id) && !self.vertices[id.st.0 as usize].state.is_terminal();
                if !state.is_terminal() {
                    ctx.send(from, Msg::AskReply { ask: AskRef::TaskState { id, state }, ok: known });
                }
                if !self.current(id) {
                    return;
                }
                let st = id.st;
                let cur = self.vertices[st.0 as usize].state;
                match state {
                    ExecutionState::Initializing if cur == ExecutionState::Deploying => self.set_state(ctx, st, state),
                    ExecutionState::Running if cur == ExecutionState::Initializing => self.set_state(ctx, st, state),
                    // Execution.switchTo: an update that does not follow the expected state (one
                    // overtook the other on the way) undoes the deployment and fails the attempt
                    // ("Concurrent unexpected state transition of task …").
                    ExecutionState::Initializing | ExecutionState::Running
                        if matches!(
                            cur,
                            ExecutionState::Deploying | ExecutionState::Initializing | ExecutionState::Running
                        ) =>
                    {
                        if let Some(host) =
                            self.vertices[st.0 as usize].te.and_then(|te| self.tms.get(&te)).map(|r| r.host)
                        {
                            let ask = self.next_ask;
                            self.next_ask += 1;
                            ctx.send(host, Msg::CancelTask { ask, id });
                        }
                        let cause = FailureCause::UnexpectedTransition { from: cur, to: state };
                        self.on_failure(ctx, st, id.attempt, cause, ctx.now());
                    }
                    ExecutionState::Failed => {
                        let cause = cause.unwrap_or(FailureCause::TaskException);
                        self.on_failure(ctx, st, id.attempt, cause, failed_at_us);
                    }
                    ExecutionState::Canceled if cur == ExecutionState::Canceling => {
                        self.set_state(ctx, st, ExecutionState::Canceled)
                    }
                    // The JobMaster's own decision overtook the update: it is already cancelling
                    // the attempt, or has failed, canceled or finished it.
                    ExecutionState::Initializing | ExecutionState::Running | ExecutionState::Canceled => {}
                    // A TaskExecutor reports no other state with updateTaskExecutionState
                    // (FINISHED comes as `TaskFinished`).
                    ExecutionState::Created
                    | ExecutionState::Scheduled
                    | ExecutionState::Deploying
                    | ExecutionState::Canceling
                    | ExecutionState::Finished => ctx.unhandled(from, &msg),
                }
            }
            Msg::TaskFinished { id, file, bytes } => {
                if self.current(id) && self.vertices[id.st.0 as usize].state == ExecutionState::Running {
                    self.final_files[id.st.0 as usize] = Some((file, bytes));
                    self.set_state(ctx, id.st, ExecutionState::Finished);
                    self.check_job_finished(ctx);
                }
            }
            Msg::AckCheckpoint { id, cp, file, bytes, metrics } => {
                if self.current(id) {
                    self.on_ack(ctx, id.st, cp, file, bytes, metrics);
                }
            }
            Msg::DeclineCheckpoint { id, cp, async_failed } => {
                if id.jm == self.generation {
                    self.on_decline(ctx, cp, async_failed);
                }
            }
            Msg::MetadataRead { job, cp, meta } => self.on_metadata_read(ctx, job, cp, meta),
            Msg::HaRecovered { jm, job, latest, next_cp, ended } => {
                if jm != self.generation || self.leader {
                    return;
                }
                self.leader = true;
                self.job = job;
                if let Some(e) = ended {
                    // A globally terminal job is not recovered (the Dispatcher skips a job with
                    // a JobResult in the JobResultStore); a later submission may name its
                    // snapshots, as the user holds their paths.
                    self.job_status = e.status;
                    self.ended.push(e);
                    ctx.note(Note::JobResultFound { jm: self.generation, job, status: e.status });
                    return;
                }
                self.next_checkpoint_id = next_cp;
                let latest = latest.map(|(id, files, bytes)| CompletedMeta { id, files, bytes });
                ctx.note(Note::LeaderElected { jm: self.generation, checkpoint: latest.as_ref().map(|c| c.id) });
                self.submit_job(ctx, latest);
            }
            // Nothing else is for the JobManager: a refusal or answer of another process's ask,
            // a message for a TaskExecutor or an external system.
            other => ctx.unhandled(from, &other),
        }
    }

    /// Deployment reconciliation (DefaultExecutionDeploymentReconciler) on a heartbeat answer:
    /// an attempt deployed there (submitTask acknowledged) that the TaskExecutor no longer
    /// reports has failed ("Execution … is unexpectedly no longer running on task executor …"),
    /// e.g. its final state update was lost; one it reports that the JobMaster does not track is
    /// cancelled.
    fn reconcile(&mut self, ctx: &mut Ctx, te: u32, deployed: &[AttemptId]) {
        let tm = self.tms[&te].tm;
        let host = self.tms[&te].host;
        let now = ctx.now();
        for i in 0..self.vertices.len() {
            let v = &self.vertices[i];
            let st = SubtaskId(i as u32);
            let id = AttemptId { st, attempt: v.attempt, jm: self.generation };
            let tracked = v.te == Some(te)
                && matches!(
                    v.state,
                    ExecutionState::Deploying
                        | ExecutionState::Initializing
                        | ExecutionState::Running
                        | ExecutionState::Canceling
                )
                && !self.asks.values().any(|a| matches!(a, JmAsk::Submit { id: s, .. } if *s == id));
            if tracked && !deployed.contains(&id) {
                self.on_failure(ctx, st, id.attempt, FailureCause::NotRunningOnTaskExecutor { tm }, now);
            }
        }
        for &id in deployed {
            if !self.current(id) || self.vertices[id.st.0 as usize].state.is_terminal() {
                // Fire and forget: the answer is not waited for.
                let ask = self.next_ask;
                self.next_ask += 1;
                ctx.send(host, Msg::CancelTask { ask, id });
            }
        }
    }

    /// Whether a TaskExecutor's message is about this JobMaster's current attempt.
    fn current(&self, id: AttemptId) -> bool {
        id.jm == self.generation && self.vertices[id.st.0 as usize].attempt == id.attempt
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, t: JmTimer) {
        match t {
            JmTimer::HeartbeatTick | JmTimer::RmHeartbeatTick => {
                let sender =
                    if matches!(t, JmTimer::HeartbeatTick) { HbSender::JobMaster } else { HbSender::ResourceManager };
                let targets: Vec<(u32, HostId)> = self.tms.iter().map(|(&te, r)| (te, r.host)).collect();
                for (te, host) in targets {
                    ctx.send(host, Msg::HeartbeatRequest { te, from: sender, jm: self.generation });
                }
                ctx.timer(ctx.sc().flink.heartbeat_interval_us, Timer::Jm(t));
            }
            JmTimer::HeartbeatCheck { te, rm } => {
                let Some(r) = self.tms.get(&te) else { return };
                let last = if rm { r.last_rm_heartbeat_us } else { r.last_jm_heartbeat_us };
                let due = last + ctx.sc().flink.heartbeat_timeout_us;
                if ctx.now() >= due {
                    let d = if rm { Detection::RmHeartbeatTimeout } else { Detection::HeartbeatTimeout };
                    self.tm_lost(ctx, te, d);
                } else {
                    ctx.timer_at(due, Timer::Jm(JmTimer::HeartbeatCheck { te, rm }));
                }
            }
            JmTimer::AskTimeout { ask } => {
                if self.asks.contains_key(&ask) {
                    self.on_ask_failed(ctx, ask, false);
                }
            }
            JmTimer::RestartTimer { failover } => {
                self.failover_rt[failover as usize].timer_fired = true;
                self.try_restart(ctx, failover as usize);
            }
            JmTimer::CheckpointTick => self.on_checkpoint_tick(ctx),
            JmTimer::CheckpointExpired => self.on_checkpoint_expired(ctx),
            JmTimer::SlotRequestTimeout { group, generation } => self.on_slot_request_timeout(ctx, group, generation),
            JmTimer::StartUpOver => {
                self.start_up_check_scheduled = false;
                self.retry_scheduled(ctx);
            }
            JmTimer::Leadership => self.on_leadership(ctx),
            JmTimer::DeferredSubmit => self.on_deferred_submit(ctx),
            JmTimer::Submit => {
                // Only the cluster's first job: a later submission in CREATED waits for its
                // snapshot's metadata, not for TaskManagers.
                if self.job == 0 && self.job_status == JobStatus::Created {
                    self.submit_job(ctx, None);
                }
            }
        }
    }

    /// A TaskExecutor registers (ResourceManager registration, JobMaster connection and slot
    /// offer in one): from now on both heartbeat monitors watch it.
    fn on_register(&mut self, ctx: &mut Ctx, from: HostId, te: u32, tm: u32, slots: u32) {
        if !self.leader {
            return;
        }
        let new = !self.tms.contains_key(&te);
        if new {
            let now = ctx.now();
            self.tms.insert(
                te,
                TmRec {
                    host: from,
                    tm,
                    slots: vec![None; slots as usize],
                    last_jm_heartbeat_us: now,
                    jm_failures: 0,
                    last_rm_heartbeat_us: now,
                    rm_failures: 0,
                },
            );
            self.pending_workers = self.pending_workers.saturating_sub(1);
            let timeout = ctx.sc().flink.heartbeat_timeout_us;
            ctx.timer(timeout, Timer::Jm(JmTimer::HeartbeatCheck { te, rm: false }));
            ctx.timer(timeout, Timer::Jm(JmTimer::HeartbeatCheck { te, rm: true }));
            if now > 0 {
                ctx.note(Note::TaskManagerRegistered { tm, slots });
            }
        }
        ctx.send(from, Msg::RegisterReply { te, jm: self.generation });
        if self.job_status == JobStatus::Created {
            if self.generation == 0 && self.job == 0 && self.tms.len() >= ctx.sc().cluster.taskmanagers as usize {
                self.submit_job(ctx, None);
            }
            return;
        }
        self.slot_waiters.clear();
        self.retry_scheduled(ctx);
    }

    /// A heartbeat, submitTask or cancelTask ask failed: refused (RecipientUnreachable), a
    /// TimeoutException (`pekko.ask.timeout`), or an error answer.
    fn on_ask_failed(&mut self, ctx: &mut Ctx, a: u64, refused: bool) {
        if let Some((te, sender)) = heartbeat_target(a) {
            // A heartbeat request: only RecipientUnreachableException counts.
            let rm = sender == HbSender::ResourceManager;
            let Some(threshold) = ctx.sc().flink.heartbeat_rpc_failure_threshold else { return };
            let Some(r) = self.tms.get_mut(&te) else { return };
            let n = if rm {
                r.rm_failures += 1;
                r.rm_failures
            } else {
                r.jm_failures += 1;
                r.jm_failures
            };
            if refused && n >= threshold {
                let d = if rm { Detection::RmHeartbeatRpcFailures(n) } else { Detection::HeartbeatRpcFailures(n) };
                self.tm_lost(ctx, te, d);
            }
            return;
        }
        let Some(ask) = self.asks.remove(&a) else { return };
        match ask {
            JmAsk::Submit { id, te } => {
                if self.current(id) && self.vertices[id.st.0 as usize].state == ExecutionState::Deploying {
                    let tm = self.tms.get(&te).map(|r| r.tm).unwrap_or(u32::MAX);
                    let cause =
                        if refused { FailureCause::DeployFailed { tm } } else { FailureCause::DeployTimeout { tm } };
                    self.on_failure(ctx, id.st, id.attempt, cause, ctx.now());
                }
            }
            JmAsk::Trigger { cp } => self.on_trigger_failed(ctx, cp),
            JmAsk::Cancel { id, te, tries } => {
                if !self.current(id) || self.vertices[id.st.0 as usize].state != ExecutionState::Canceling {
                    return;
                }
                if tries < 3 {
                    self.send_cancel(ctx, id, te, tries + 1);
                } else {
                    // "Task could not be canceled": the JobMaster gives up and calls it CANCELED.
                    self.set_state(ctx, id.st, ExecutionState::Canceled);
                }
            }
        }
    }

    fn new_ask(&mut self, ctx: &mut Ctx, ask: JmAsk) -> u64 {
        let a = self.next_ask;
        self.next_ask += 1;
        self.asks.insert(a, ask);
        ctx.timer(ctx.sc().flink.ask_timeout_us, Timer::Jm(JmTimer::AskTimeout { ask: a }));
        a
    }

    /// The JobManager gives a TaskManager up (JobMaster.disconnectTaskManager /
    /// ResourceManager.closeTaskManagerConnection): its slots are released and every attempt in
    /// them fails; the TaskManager is told, if it can hear it.
    fn tm_lost(&mut self, ctx: &mut Ctx, te: u32, detection: Detection) {
        let Some(r) = self.tms.remove(&te) else { return };
        let tm = r.tm;
        ctx.note(Note::TaskManagerLost { tm, detection });
        if !matches!(detection, Detection::Deregistered | Detection::PodTerminated) {
            ctx.send(r.host, Msg::DisconnectJobManager { te, jm: self.generation });
        }
        let used = r.slots.iter().filter(|s| s.is_some()).count() as u32;
        for g in 0..self.group_slot.len() {
            if self.group_slot[g].is_some_and(|(ge, _)| ge == te) {
                self.group_slot[g] = None;
            }
        }
        let now = ctx.now();
        let keep = ctx.bugs().timeout_keeps_attempts
            && matches!(detection, Detection::HeartbeatTimeout | Detection::RmHeartbeatTimeout);
        for i in 0..self.vertices.len() {
            let v = &self.vertices[i];
            if v.te == Some(te) && !v.state.is_terminal() && !keep {
                let attempt = v.attempt;
                self.on_failure(
                    ctx,
                    SubtaskId(i as u32),
                    attempt,
                    FailureCause::TaskManagerLost { tm, detection },
                    now,
                );
            }
        }
        if ctx.sc().cluster.resource_manager == ResourceManagerKind::Active && used > 0 {
            // The slots it held are still required: ask for a replacement worker.
            self.request_workers(ctx, 1);
        }
    }

    fn request_workers(&mut self, ctx: &mut Ctx, n: u32) {
        self.pending_workers += n;
        ctx.request_workers(n);
    }

    fn set_job_status(&mut self, ctx: &mut Ctx, to: JobStatus) {
        let from = self.job_status;
        if from == to {
            return;
        }
        self.job_status = to;
        ctx.note(Note::JobStatus { from, to });
        if to.is_globally_terminal() {
            self.on_job_ended(ctx, to);
        }
    }

    fn check_job_finished(&mut self, ctx: &mut Ctx) {
        if self.vertices.iter().all(|v| v.state == ExecutionState::Finished) {
            self.set_job_status(ctx, JobStatus::Finished);
        }
    }

    fn set_state(&mut self, ctx: &mut Ctx, st: SubtaskId, to: ExecutionState) {
        let from = self.vertices[st.0 as usize].state;
        if !from.can_become(to) {
            let name = ctx.graph().subtask_name(st);
            ctx.violation(format!("illegal transition {} → {} of {name}", from.name(), to.name()));
        }
        let v = &mut self.vertices[st.0 as usize];
        v.state = to;
        let attempt = v.attempt;
        ctx.note(Note::TaskState { st, attempt, from, to });
        if to == ExecutionState::Running
            && let Some(f) = self.vertices[st.0 as usize].created_by_failover
        {
            let rt = &mut self.failover_rt[f];
            rt.waiting_running = rt.waiting_running.saturating_sub(1);
            if rt.waiting_running == 0 && self.failovers[f].running_again_at_us.is_none() {
                self.failovers[f].running_again_at_us = Some(ctx.now());
            }
        }
        if to.is_terminal() {
            self.on_terminal(ctx, st);
        }
    }
}
