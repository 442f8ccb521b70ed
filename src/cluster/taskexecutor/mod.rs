//! A TaskManager process (Flink's TaskExecutor): its slots, the tasks running in them, the
//! local copies of their state, and its own view of its JobManager connection. It learns
//! everything from messages (deployments, cancels, triggers, heartbeat requests, records) and
//! from its own timers; it never reads another process.
//!
//! Messages it accepts: `RegisterReply`, `HeartbeatRequest`, `SubmitTask`, `CancelTask`,
//! `TriggerCheckpoint`, `NotifyComplete`, `AbortCheckpoint`, `DisconnectJobManager`,
//! `LeaderChanged`, the data plane (`Data`, `PartitionRequest`, `Credit`, `ConnectionReset`),
//! storage answers (`UploadDone`, `Downloaded`) and sink-store answers (`SinkReady`, `Prepared`),
//! and `Refused` for its asks.

mod task;

use super::ctx::{Ctx, Timer};
use super::msg::{AskRef, AttemptId, HbSender, Msg, SubtaskSnapshot};
use super::net::HostId;
use super::state::ExecutionState;
use super::timer::TeTimer;
use crate::job::graph::{JobGraph, SubtaskId};
use crate::trace::{FailureCause, Note};
use std::collections::BTreeMap;
use task::{Phase, Task};

/// A local copy of a subtask's state: (job, checkpoint) and the snapshot.
type LocalCopy = ((u32, u64), SubtaskSnapshot);

#[derive(Clone)]
pub struct TaskExecutor {
    id: u32,
    host: HostId,
    tm: u32,
    slots: u32,
    /// The JobManager leader (generation) this TaskExecutor is connected to.
    jm: Option<u32>,
    /// Last heartbeat request from the connected JobMaster.
    jm_last_heartbeat_us: u64,
    jm_check_scheduled: bool,
    /// Registration attempts so far (the backoff doubles).
    register_attempt: u32,
    registered: bool,
    shutting_down: bool,
    /// Slots still allocated to a job whose JobManager was lost (freed after
    /// `taskmanager.slot.timeout`).
    inactive_slots_since: Option<u64>,
    tasks: Vec<Option<Task>>,
    /// Index into `tasks` of the newest task per subtask.
    by_st: Vec<Option<u32>>,
    /// Partition requests that reached this TaskExecutor before their producer was deployed.
    parked: Vec<(HostId, Msg)>,
    /// Local recovery copies (Flink's TaskLocalStateStoreImpl): per subtask, one per checkpoint
    /// whose upload finished, oldest first. Confirming checkpoint n (its completion
    /// notification) discards the copies before n, aborting n discards n's: a newer checkpoint
    /// still pending does not displace the latest completed one, which a restore needs.
    /// Per subtask, its local copies by (job, checkpoint).
    local_copies: BTreeMap<SubtaskId, Vec<LocalCopy>>,
    /// updateTaskExecutionState asks for non-terminal states not answered yet.
    pending_updates: Vec<(AttemptId, ExecutionState)>,
}

impl TaskExecutor {
    pub fn new(id: u32, host: HostId, tm: u32, slots: u32, graph: &JobGraph) -> TaskExecutor {
        TaskExecutor {
            id,
            host,
            tm,
            slots,
            jm: None,
            jm_last_heartbeat_us: 0,
            jm_check_scheduled: false,
            register_attempt: 0,
            registered: false,
            shutting_down: false,
            inactive_slots_since: None,
            tasks: Vec::new(),
            by_st: vec![None; graph.subtask_count()],
            parked: Vec::new(),
            local_copies: BTreeMap::new(),
            pending_updates: Vec::new(),
        }
    }

    /// This process's state, for an observer.
    pub fn inspect(&self) -> crate::cluster::inspect::TaskExecutorView {
        crate::cluster::inspect::TaskExecutorView {
            registered: self.registered,
            shutting_down: self.shutting_down,
            slots: self.slots,
            tasks: self.tasks.iter().flatten().map(|t| t.inspect()).collect(),
            local_copies: self
                .local_copies
                .iter()
                .flat_map(|(st, copies)| copies.iter().map(|((_, cp), _)| (*st, *cp)))
                .collect(),
        }
    }

    /// The TaskManager index (`tm-N`) of this process.
    pub fn tm(&self) -> u32 {
        self.tm
    }

    pub fn host(&self) -> HostId {
        self.host
    }
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// For the fault injector only: the attempt of `st` running here, if any.
    pub fn running_attempt(&self, st: SubtaskId) -> Option<AttemptId> {
        let i = self.by_st[st.0 as usize]?;
        let t = self.tasks[i as usize].as_ref()?;
        (t.phase == Phase::Running).then_some(t.id)
    }

    /// For the fault injector only: the newest attempt of `st` here, in any phase.
    pub fn attempt_of(&self, st: SubtaskId) -> Option<AttemptId> {
        let i = self.by_st[st.0 as usize]?;
        self.tasks[i as usize].as_ref().map(|t| t.id)
    }

    /// The process has started: register at the JobManager process (ResourceManager and
    /// JobMaster; `cluster.registration.*` backoff).
    pub fn start(&mut self, ctx: &mut Ctx) {
        self.register(ctx);
    }

    fn register(&mut self, ctx: &mut Ctx) {
        if self.shutting_down {
            return;
        }
        ctx.send(HostId::JOBMANAGER, Msg::Register { te: self.id, tm: self.tm, slots: self.slots });
        // cluster.registration.initial-timeout 100 ms, doubling up to max-timeout 30 s.
        let timeout = (100_000u64 << self.register_attempt.min(9)).min(30_000_000);
        self.register_attempt += 1;
        ctx.timer(timeout, Timer::Te(TeTimer::Register { attempt: self.register_attempt }));
    }

    /// Reconnects to the job leader: registration starts over from the initial timeout (and
    /// offers the slots again).
    fn reconnect(&mut self, ctx: &mut Ctx) {
        self.register_attempt = 0;
        self.register(ctx);
    }

    pub fn handle(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            Msg::RegisterReply { te, jm } => {
                if te != self.id || self.shutting_down {
                    return;
                }
                if self.jm.is_some_and(|cur| cur > jm) {
                    return;
                }
                let first = !self.registered || self.jm != Some(jm);
                self.registered = true;
                self.jm = Some(jm);
                self.inactive_slots_since = None;
                self.jm_last_heartbeat_us = ctx.now();
                if first && !self.jm_check_scheduled {
                    self.jm_check_scheduled = true;
                    ctx.timer(ctx.sc().flink.heartbeat_timeout_us, Timer::Te(TeTimer::JmHeartbeatCheck));
                }
            }
            Msg::HeartbeatRequest { te, from: sender, jm } => {
                // A request from a sender this TaskExecutor does not monitor is ignored.
                if te != self.id || !self.registered || self.jm != Some(jm) {
                    return;
                }
                let mut deployed = Vec::new();
                if sender == HbSender::JobMaster {
                    self.jm_last_heartbeat_us = ctx.now();
                    deployed = self.deployed(jm);
                }
                ctx.send(from, Msg::HeartbeatAnswer { te: self.id, from: sender, jm, deployed });
            }
            Msg::DisconnectJobManager { te, jm } => {
                if te == self.id && self.jm == Some(jm) {
                    self.lose_jobmanager(ctx, "the JobManager disconnected it");
                    self.reconnect(ctx);
                }
            }
            Msg::LeaderChanged { jm } => {
                if self.jm.is_some_and(|cur| cur >= jm) {
                    return;
                }
                if self.jm.is_some() {
                    self.lose_jobmanager(ctx, "the JobManager lost its leadership");
                }
                self.reconnect(ctx);
            }
            Msg::SubmitTask { ask, jm, deployment } => {
                let ok = !self.shutting_down && deployment.te == self.id && self.jm == Some(jm);
                ctx.send(from, Msg::AskReply { ask: AskRef::Jm(ask), ok });
                if ok {
                    self.deploy(ctx, *deployment);
                }
            }
            Msg::CancelTask { ask, id } => {
                let found = self.find(id).is_some();
                ctx.send(from, Msg::AskReply { ask: AskRef::Jm(ask), ok: found });
                if found {
                    self.remove_task(ctx, id);
                    self.report(ctx, id, ExecutionState::Canceled, None, ctx.now());
                }
            }
            Msg::Refused { ask: AskRef::Register { te } } if te == self.id => {
                // cluster.registration.error-delay: try again after 10 s.
                ctx.timer(10_000_000, Timer::Te(TeTimer::Register { attempt: self.register_attempt }));
            }
            // The refused registration of the TaskExecutor that ran on this host before this one
            // (a restarted TaskManager): its process is gone, and this one registers on its own.
            Msg::Refused { ask: AskRef::Register { .. } } => {}
            Msg::Refused { ask: AskRef::PartitionRequest { consumer, .. } } => {
                let remote = from.tm_index().unwrap_or(u32::MAX);
                self.fail_task(ctx, consumer, FailureCause::PartitionConnection { remote_tm: remote });
            }
            Msg::ConnectionReset { remote } => self.on_connection_reset(ctx, remote),
            Msg::AskReply { ask: AskRef::TaskState { id, state }, ok } => self.on_update_answer(ctx, id, state, ok),
            Msg::Refused { ask: AskRef::TaskState { id, state } } => self.on_update_answer(ctx, id, state, false),
            other => self.handle_task_msg(ctx, from, other),
        }
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx, t: TeTimer) {
        match t {
            TeTimer::Register { attempt } => {
                if !self.registered && attempt == self.register_attempt {
                    self.register(ctx);
                }
            }
            TeTimer::JmHeartbeatCheck => {
                self.jm_check_scheduled = false;
                if self.jm.is_none() {
                    return;
                }
                let due = self.jm_last_heartbeat_us + ctx.sc().flink.heartbeat_timeout_us;
                if ctx.now() >= due {
                    self.lose_jobmanager(
                        ctx,
                        "TimeoutException: The heartbeat of JobManager with id jobmanager timed out.",
                    );
                    self.reconnect(ctx);
                } else {
                    self.jm_check_scheduled = true;
                    ctx.timer_at(due, Timer::Te(TeTimer::JmHeartbeatCheck));
                }
            }
            TeTimer::StateUpdateTimeout { id, state } => {
                if self.pending_updates.contains(&(id, state)) {
                    self.on_update_answer(ctx, id, state, false);
                }
            }
            TeTimer::FreeSlots { since_us } => {
                if self.inactive_slots_since == Some(since_us) {
                    self.inactive_slots_since = None;
                    ctx.note(Note::SlotsFreed { tm: self.tm, slots: self.slots });
                }
            }
            other => self.on_task_timer(ctx, other),
        }
    }

    /// JobManager lost (heartbeat timeout, disconnect, leader change): every task of the job
    /// fails, the job's slots become inactive and are freed after `taskmanager.slot.timeout`.
    fn lose_jobmanager(&mut self, ctx: &mut Ctx, why: &str) {
        ctx.note(Note::JobManagerLostByTaskManager { tm: self.tm, reason: why.into() });
        // A task that finished and reported FINISHED has left the slot table (its thread
        // ended): nothing of it is failed.
        let ids: Vec<AttemptId> =
            self.tasks.iter().flatten().filter(|t| t.reported_as_deployed()).map(|t| t.id).collect();
        for id in ids {
            self.fail_task(ctx, id, FailureCause::JobManagerLost { tm: self.tm });
        }
        self.jm = None;
        self.registered = false;
        self.inactive_slots_since = Some(ctx.now());
        ctx.timer(ctx.sc().flink.slot_timeout_us, Timer::Te(TeTimer::FreeSlots { since_us: ctx.now() }));
    }

    /// SIGTERM / pod deletion: fail every task ("The TaskExecutor is shutting down"), tell the
    /// JobManager, deregister. The process exits right after (the engine closes its
    /// connections).
    pub fn shutdown(&mut self, ctx: &mut Ctx) {
        self.shutting_down = true;
        let ids: Vec<AttemptId> =
            self.tasks.iter().flatten().filter(|t| t.reported_as_deployed()).map(|t| t.id).collect();
        for id in ids {
            self.fail_task(ctx, id, FailureCause::TaskExecutorShuttingDown { tm: self.tm });
        }
        if self.registered {
            ctx.send(HostId::JOBMANAGER, Msg::Unregister { te: self.id });
        }
        self.registered = false;
    }

    /// Sends updateTaskExecutionState to the JobManager. For a terminal state the task is gone
    /// already and a failed update is only logged (the JobMaster learns through deployment
    /// reconciliation); for INITIALIZING and RUNNING the update is an ask whose failure or
    /// timeout (`pekko.ask.timeout`) fails the task (TaskExecutor.updateTaskExecutionState).
    fn report(&mut self, ctx: &mut Ctx, id: AttemptId, state: ExecutionState, cause: Option<FailureCause>, at: u64) {
        ctx.send(HostId::JOBMANAGER, Msg::TaskState { id, te: self.id, state, cause, failed_at_us: at });
        if !state.is_terminal() {
            self.pending_updates.push((id, state));
            ctx.timer(ctx.sc().flink.ask_timeout_us, Timer::Te(TeTimer::StateUpdateTimeout { id, state }));
        }
    }

    /// The answer to a non-terminal updateTaskExecutionState (or its refusal, or its timeout).
    fn on_update_answer(&mut self, ctx: &mut Ctx, id: AttemptId, state: ExecutionState, ok: bool) {
        let Some(pos) = self.pending_updates.iter().position(|u| *u == (id, state)) else { return };
        self.pending_updates.remove(pos);
        if !ok {
            self.fail_task(ctx, id, FailureCause::StateUpdateFailed { tm: self.tm });
        }
    }

    /// The attempts of JobManager generation `jm` deployed here, for the heartbeat answer: every
    /// task not yet gone, except one whose FINISHED update is already on its way.
    fn deployed(&self, jm: u32) -> Vec<AttemptId> {
        self.tasks.iter().flatten().filter(|t| t.id.jm == jm && t.reported_as_deployed()).map(|t| t.id).collect()
    }

    /// The task fails here (user exception, broken connection, lost JobManager): it stops, and
    /// the JobManager is told.
    pub fn fail_task(&mut self, ctx: &mut Ctx, id: AttemptId, cause: FailureCause) {
        if !self.find(id).is_some_and(|i| self.tasks[i].as_ref().is_some_and(|t| t.phase != Phase::Done)) {
            return;
        }
        ctx.note(Note::TaskFailed { st: id.st, attempt: id.attempt, cause });
        self.remove_task(ctx, id);
        self.report(ctx, id, ExecutionState::Failed, Some(cause), ctx.now());
    }

    fn on_connection_reset(&mut self, ctx: &mut Ctx, remote: HostId) {
        let remote_tm = remote.tm_index().unwrap_or(u32::MAX);
        // Consumers of a producer over there fail (RemoteTransportException); producers only
        // lose the consumer (no credit any more) and run on until cancelled.
        let mut failing = Vec::new();
        for t in self.tasks.iter_mut().flatten() {
            if t.phase == Phase::Done {
                continue;
            }
            for o in &mut t.outputs {
                if o.consumer.is_some_and(|(h, _)| h == remote) {
                    o.consumer = None;
                    o.credit = 0;
                }
            }
            if t.inputs.iter().any(|i| i.from == remote) {
                failing.push(t.id);
            }
        }
        for id in failing {
            self.fail_task(ctx, id, FailureCause::ConnectionLost { remote_tm });
        }
    }
}
