//! The JobMaster's scheduler: slot allocation with slot sharing and bulk allocation per
//! pipelined region, deployment, failure handling (region or full failover, restart strategy),
//! cancellation and versioned restarts.

use super::{FailoverReport, FailoverRt, JmAsk, JobManager, TmRec};
use crate::cluster::config::{FailoverStrategy, LoadBalanceMode, ResourceManagerKind, RestartStrategy};
use crate::cluster::ctx::{Ctx, Timer};
use crate::cluster::msg::{AttemptId, Deployment, FileKey, Msg, RestoreDesc};
use crate::cluster::restart::RestartDecision;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::cluster::timer::JmTimer;
use crate::job::graph::SubtaskId;
use crate::trace::{AbortReason, FailureCause, Note};

impl JobManager {
    /// Slot sharing: subtask i of every task of a slot sharing group goes into one execution
    /// slot sharing group (`JobGraph::slot_group`), which occupies one slot. A group keeps its slot while that TaskManager is registered.
    fn slot_for_group(&mut self, ctx: &Ctx, group: u32) -> Option<(u32, u32)> {
        if let Some((te, s)) = self.group_slot[group as usize] {
            if self.tms.contains_key(&te) {
                return Some((te, s));
            }
            self.group_slot[group as usize] = None;
        }
        let free = |r: &TmRec| r.slots.iter().filter(|x| x.is_none()).count();
        let candidates = self.tms.iter().filter(|(_, r)| free(r) > 0).map(|(&te, _)| te);
        let chosen = match ctx.sc().flink.load_balance {
            LoadBalanceMode::None => candidates.min(),
            // Most free slots first; ties go to the earlier TaskManager.
            LoadBalanceMode::Slots => candidates.max_by_key(|te| (free(&self.tms[te]), std::cmp::Reverse(*te))),
        }?;
        let r = self.tms.get_mut(&chosen).expect("chosen among registered TaskManagers");
        let s = r.slots.iter().position(|x| x.is_none()).expect("the chosen TaskManager has a free slot");
        r.slots[s] = Some(group);
        self.group_slot[group as usize] = Some((chosen, s as u32));
        Some((chosen, s as u32))
    }

    /// Every subtask waiting in SCHEDULED tries again (a TaskManager registered, or the
    /// standalone start-up time is over).
    pub(super) fn retry_scheduled(&mut self, ctx: &mut Ctx) {
        let waiting: Vec<SubtaskId> = (0..self.vertices.len() as u32)
            .map(SubtaskId)
            .filter(|st| self.vertices[st.0 as usize].state == ExecutionState::Scheduled)
            .collect();
        if !waiting.is_empty() {
            self.allocate_and_deploy(ctx, &waiting);
        }
    }

    /// Subtasks in SCHEDULED get slots and are deployed, a pipelined region at a time: like
    /// Flink's bulk slot allocation, a region is deployed only once every one of its subtasks
    /// has a slot; otherwise the region waits (holding what it got) up to `slot.request.timeout`
    /// — or, with a standalone ResourceManager past its start-up time, fails at once.
    pub(super) fn allocate_and_deploy(&mut self, ctx: &mut Ctx, subtasks: &[SubtaskId]) {
        let mut regions: Vec<(u32, Vec<SubtaskId>)> = Vec::new();
        for &st in subtasks {
            let r = self.region_of[st.0 as usize];
            match regions.iter_mut().find(|(x, _)| *x == r) {
                Some((_, v)) => v.push(st),
                None => regions.push((r, vec![st])),
            }
        }
        let mut missing = 0;
        let mut missing_groups = 0;
        for (_, members) in regions {
            let mut lacking: Vec<u32> = Vec::new();
            for &st in &members {
                let group = ctx.graph().slot_group[st.0 as usize];
                if self.slot_for_group(ctx, group).is_none() && !lacking.contains(&group) {
                    lacking.push(group);
                }
            }
            if !lacking.is_empty() {
                missing += members.len() as u32;
                missing_groups += lacking.len() as u32;
                for group in lacking {
                    if self.slot_waiters.insert(group) {
                        self.slot_generation[group as usize] += 1;
                        let generation = self.slot_generation[group as usize];
                        let timeout = ctx.sc().flink.slot_request_timeout_us;
                        ctx.timer(timeout, Timer::Jm(JmTimer::SlotRequestTimeout { group, generation }));
                    }
                }
                continue;
            }
            for st in members {
                self.deploy(ctx, st);
            }
        }
        if missing == 0 {
            return;
        }
        ctx.note(Note::SlotsMissing { subtasks: missing });
        match ctx.sc().cluster.resource_manager {
            ResourceManagerKind::Active => {
                let per_tm = ctx.sc().cluster.slots_per_taskmanager.max(1);
                let want = missing_groups.div_ceil(per_tm);
                if want > self.pending_workers {
                    let n = want - self.pending_workers;
                    self.request_workers(ctx, n);
                }
            }
            ResourceManagerKind::Standalone => {
                let over_at = self.rm_started_us + ctx.sc().flink.standalone_start_up_us;
                if ctx.now() >= over_at {
                    // notifyNotEnoughResourcesAvailable: pending slot requests fail at once.
                    self.fail_waiting(ctx, FailureCause::NotEnoughResources);
                } else if !self.start_up_check_scheduled {
                    self.start_up_check_scheduled = true;
                    ctx.timer_at(over_at, Timer::Jm(JmTimer::StartUpOver));
                }
            }
        }
    }

    fn fail_waiting(&mut self, ctx: &mut Ctx, cause: FailureCause) {
        let groups: Vec<u32> = std::mem::take(&mut self.slot_waiters).into_iter().collect();
        let now = ctx.now();
        for i in 0..self.vertices.len() {
            let group = ctx.graph().slot_group[i];
            if groups.contains(&group) && self.vertices[i].state == ExecutionState::Scheduled {
                let attempt = self.vertices[i].attempt;
                self.on_failure(ctx, SubtaskId(i as u32), attempt, cause, now);
            }
        }
    }

    pub(super) fn on_slot_request_timeout(&mut self, ctx: &mut Ctx, group: u32, generation: u64) {
        if self.slot_generation[group as usize] != generation || !self.slot_waiters.contains(&group) {
            return;
        }
        self.slot_waiters.remove(&group);
        let now = ctx.now();
        for i in 0..self.vertices.len() {
            if ctx.graph().slot_group[i] == group && self.vertices[i].state == ExecutionState::Scheduled {
                let attempt = self.vertices[i].attempt;
                self.on_failure(ctx, SubtaskId(i as u32), attempt, FailureCause::NoResourceAvailable, now);
            }
        }
    }

    /// submitTask: the deployment descriptor names the slot's TaskExecutor, the state to restore
    /// and where each input's producer runs.
    fn deploy(&mut self, ctx: &mut Ctx, st: SubtaskId) {
        let group = ctx.graph().slot_group[st.0 as usize];
        let (te, _) = self.group_slot[group as usize].expect("every group of the region got a slot");
        let host = self.tms[&te].host;
        let tm = self.tms[&te].tm;
        self.vertices[st.0 as usize].te = Some(te);
        self.set_state(ctx, st, ExecutionState::Deploying);
        ctx.note(Note::Deployed { st, tm });
        let graph = ctx.graph();
        let inputs = graph.subtasks[st.0 as usize]
            .inputs
            .iter()
            .map(|ch| {
                let p = graph.channels[ch.0 as usize].from;
                let pg = graph.slot_group[p.0 as usize];
                let ph =
                    self.group_slot[pg as usize].and_then(|(t, _)| self.tms.get(&t)).map(|r| r.host).unwrap_or(host);
                (ph, self.vertices[p.0 as usize].attempt)
            })
            .collect();
        let restore = self.vertices[st.0 as usize].restore_from.and_then(|cp| {
            let Some(c) = self.completed.iter().find(|c| c.id == cp) else {
                ctx.violation(format!("restore from checkpoint {cp}, which is not a retained completed checkpoint"));
                return None;
            };
            let file: FileKey = c.files[st.0 as usize];
            Some(RestoreDesc { cp, files: vec![file], bytes: c.bytes[st.0 as usize] })
        });
        let attempt = self.vertices[st.0 as usize].attempt;
        let id = AttemptId { st, attempt, jm: self.generation };
        let ask = self.new_ask(ctx, JmAsk::Submit { id, te });
        let deployment = Box::new(Deployment { id, job: self.job, te, restore, inputs });
        ctx.send(host, Msg::SubmitTask { ask, jm: self.generation, deployment });
    }

    /// The JobMaster learns that an attempt failed (Execution.markFailed →
    /// DefaultScheduler.handleTaskFailure).
    pub(super) fn on_failure(
        &mut self,
        ctx: &mut Ctx,
        st: SubtaskId,
        attempt: u32,
        cause: FailureCause,
        failed_at_us: u64,
    ) {
        let v = &self.vertices[st.0 as usize];
        if v.attempt != attempt || v.state.is_terminal() {
            return;
        }
        if v.state == ExecutionState::Canceling {
            // Execution.processFail while CANCELING completes the cancellation instead.
            self.set_state(ctx, st, ExecutionState::Canceled);
            return;
        }
        self.set_state(ctx, st, ExecutionState::Failed);
        if !matches!(self.job_status, JobStatus::Running | JobStatus::Restarting) {
            return;
        }
        let to_restart: Vec<SubtaskId> = match ctx.sc().flink.failover_strategy {
            FailoverStrategy::Full => (0..self.vertices.len() as u32).map(SubtaskId).collect(),
            FailoverStrategy::Region => self.regions[self.region_of[st.0 as usize] as usize].clone(),
        };
        self.start_failover(ctx, Some(st), cause, failed_at_us, to_restart);
    }

    pub(super) fn start_failover(
        &mut self,
        ctx: &mut Ctx,
        st: Option<SubtaskId>,
        cause: FailureCause,
        failed_at_us: u64,
        to_restart: Vec<SubtaskId>,
    ) {
        let f = self.failovers.len();
        let now = ctx.now();
        self.abort_pending(ctx, AbortReason::JobFailover);
        // ExecutionFailureHandler: a non-recoverable error (ThrowableClassifier: a
        // SuppressRestartsException) fails the job without asking the restart strategy.
        // StopWithSavepointTerminationHandlerImpl: a task that fails after the stop's savepoint
        // completed (its transactions may be committed already) fails the job with a
        // StopWithSavepointStoppingException, a non-recoverable error: a restart from an older
        // checkpoint would commit again what the savepoint committed (FLINK-26783).
        let stopping = self.completed_savepoint;
        let decision = if cause == FailureCause::Unrecoverable || stopping.is_some() {
            RestartDecision::Exhausted
        } else {
            self.restart.notify_failure(now, &mut self.rng_restart)
        };
        self.failovers.push(FailoverReport {
            failed_at_us,
            detected_at_us: now,
            failed_subtask: st,
            cause,
            to_restart: to_restart.clone(),
            restarted: Vec::new(),
            restart_at_us: None,
            restored_checkpoint: None,
            running_again_at_us: None,
            exhausted: decision == RestartDecision::Exhausted,
        });
        self.failover_rt.push(FailoverRt {
            to_restart: Vec::new(),
            timer_fired: false,
            done: false,
            waiting_running: 0,
        });
        ctx.note(Note::FailoverStarted { failover: f });
        match decision {
            RestartDecision::Exhausted => {
                // ExecutionFailureHandler: "Recovery is suppressed by <strategy>".
                let reason = match ctx.sc().flink.restart_strategy {
                    _ if let Some(sp) = stopping => format!(
                        "the job was stopping with savepoint {sp}, which completed: StopWithSavepointStoppingException (\"the savepoint is consistent, but might have uncommitted transactions\"), a non-recoverable error, fails the job instead of restarting it from an older checkpoint; submit the job again from the savepoint"
                    ),
                    _ if cause == FailureCause::Unrecoverable => {
                        "the failure is unrecoverable (SuppressRestartsException): Flink fails the job without asking the restart strategy".to_string()
                    }
                    RestartStrategy::None if ctx.sc().flink.checkpoint_interval_us.is_none() => {
                        "restart strategy none (the default without checkpointing) suppresses recovery".to_string()
                    }
                    RestartStrategy::None => "restart strategy none suppresses recovery".to_string(),
                    _ => self.restart.exhausted_reason(),
                };
                ctx.note(Note::NoRestart { failover: f, reason });
                self.set_job_status(ctx, JobStatus::Failing);
                self.failover_rt[f].done = true;
                for i in 0..self.vertices.len() {
                    self.cancel(ctx, SubtaskId(i as u32));
                }
                self.check_job_failed(ctx);
            }
            RestartDecision::Restart { delay_us } => {
                self.set_job_status(ctx, JobStatus::Restarting);
                let versions: Vec<(SubtaskId, u32)> =
                    to_restart.iter().map(|&s| (s, self.vertices[s.0 as usize].attempt)).collect();
                self.failover_rt[f].to_restart = versions;
                for &s in &to_restart {
                    self.cancel(ctx, s);
                }
                ctx.note(Note::RestartScheduled { failover: f, delay_us });
                ctx.timer(delay_us, Timer::Jm(JmTimer::RestartTimer { failover: f as u32 }));
            }
        }
    }

    fn check_job_failed(&mut self, ctx: &mut Ctx) {
        if self.job_status == JobStatus::Failing && self.vertices.iter().all(|v| v.state.is_terminal()) {
            self.set_job_status(ctx, JobStatus::Failed);
        }
    }

    /// Cancels the current attempt (Execution.cancel): CANCELING until the TaskExecutor reports
    /// CANCELED, or until three cancelTask asks failed.
    pub(super) fn cancel(&mut self, ctx: &mut Ctx, st: SubtaskId) {
        let v = &self.vertices[st.0 as usize];
        match v.state {
            ExecutionState::Created | ExecutionState::Scheduled => self.set_state(ctx, st, ExecutionState::Canceled),
            ExecutionState::Deploying | ExecutionState::Initializing | ExecutionState::Running => {
                let te = v.te.expect("a deployed attempt has a TaskExecutor");
                let id = AttemptId { st, attempt: v.attempt, jm: self.generation };
                self.set_state(ctx, st, ExecutionState::Canceling);
                if self.tms.contains_key(&te) {
                    self.send_cancel(ctx, id, te, 1);
                } else {
                    self.set_state(ctx, st, ExecutionState::Canceled);
                }
            }
            // Already being cancelled, or terminal: nothing to cancel.
            ExecutionState::Canceling
            | ExecutionState::Canceled
            | ExecutionState::Failed
            | ExecutionState::Finished => {}
        }
    }

    pub(super) fn send_cancel(&mut self, ctx: &mut Ctx, id: AttemptId, te: u32, tries: u32) {
        let Some(host) = self.tms.get(&te).map(|r| r.host) else {
            self.set_state(ctx, id.st, ExecutionState::Canceled);
            return;
        };
        let ask = self.new_ask(ctx, JmAsk::Cancel { id, te, tries });
        ctx.send(host, Msg::CancelTask { ask, id });
    }

    pub(super) fn on_terminal(&mut self, ctx: &mut Ctx, st: SubtaskId) {
        self.check_job_failed(ctx);
        self.check_job_cancelled(ctx);
        for f in 0..self.failover_rt.len() {
            let rt = &self.failover_rt[f];
            if rt.timer_fired && !rt.done && rt.to_restart.iter().any(|&(s, _)| s == st) {
                self.try_restart(ctx, f);
            }
        }
    }

    /// DefaultScheduler.restartTasks: once the delay has passed and every attempt to replace is
    /// terminal, new attempts of the vertices not restarted meanwhile by another failover.
    pub(super) fn try_restart(&mut self, ctx: &mut Ctx, f: usize) {
        if self.failover_rt[f].done || !matches!(self.job_status, JobStatus::Restarting | JobStatus::Running) {
            return;
        }
        let pending = std::mem::take(&mut self.failover_rt[f].to_restart);
        let still_running = pending.iter().any(|&(s, v)| {
            self.vertices[s.0 as usize].attempt == v && !self.vertices[s.0 as usize].state.is_terminal()
        });
        if still_running {
            self.failover_rt[f].to_restart = pending;
            return;
        }
        self.failover_rt[f].done = true;
        let restart: Vec<SubtaskId> =
            pending.iter().filter(|&&(s, v)| self.vertices[s.0 as usize].attempt == v).map(|&(s, _)| s).collect();
        let latest = if ctx.bugs().restore_oldest_checkpoint { self.completed.front() } else { self.completed.back() };
        let latest = latest.map(|c| c.id);
        self.set_job_status(ctx, JobStatus::Running);
        let now = ctx.now();
        let report = &mut self.failovers[f];
        report.restart_at_us = Some(now);
        report.restored_checkpoint = latest;
        report.restarted = restart.clone();
        self.failover_rt[f].waiting_running = restart.len() as u32;
        if restart.is_empty() {
            report.running_again_at_us = Some(now);
        }
        for &st in &restart {
            let v = &mut self.vertices[st.0 as usize];
            v.attempt += 1;
            let from = v.state;
            v.state = ExecutionState::Created;
            v.restore_from = latest;
            v.created_by_failover = Some(f);
            v.te = None;
            let attempt = v.attempt;
            self.final_files[st.0 as usize] = None;
            ctx.note(Note::TaskState { st, attempt, from, to: ExecutionState::Created });
            self.set_state(ctx, st, ExecutionState::Scheduled);
        }
        self.allocate_and_deploy(ctx, &restart);
    }
}
