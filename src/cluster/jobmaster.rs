//! The JobManager side: job and execution state machines, slot allocation with slot sharing,
//! deployment and restore, failure handling (region or full failover, restart strategy),
//! heartbeats with TaskManagers, the checkpoint coordinator, and the resource manager's
//! reaction to lost TaskManagers.

use super::config::{FailoverStrategy, LoadBalanceMode, ResourceManagerKind};
use super::engine::{Event, Executor, FailoverReport, FailoverRt, PendingCheckpoint, World};
use super::external::CompletedCheckpoint;
use super::restart::RestartDecision;
use super::state::{ExecutionState, JobStatus};
use crate::job::graph::SubtaskId;
use crate::job::keygroup::subtask_for_key;
use crate::trace::{AbortReason, Detection, FailureCause, Note};
use std::collections::BTreeMap;

impl World<'_> {
    /// t = 0: TaskManagers register, the job is submitted and scheduled.
    pub fn start(&mut self) {
        for host in 0..self.sc.cluster.taskmanagers {
            let e = self.new_executor(host);
            self.register_executor(e);
        }
        self.set_job_status(JobStatus::Running);
        let all: Vec<SubtaskId> = (0..self.subtasks.len() as u32).map(SubtaskId).collect();
        for &st in &all {
            self.set_state(st, ExecutionState::Scheduled);
        }
        self.allocate_and_deploy(&all);
        let interval = self.sc.flink.heartbeat_interval_us;
        self.q.schedule(interval, Event::HeartbeatTick);
        if let Some(iv) = self.sc.flink.checkpoint_interval_us {
            // CheckpointCoordinator: first trigger after a random delay in [min-pause, interval).
            let lo = self.sc.flink.checkpoint_min_pause_us.min(iv);
            let mut rng = crate::sim::Rng::new(self.sc.seed, crate::sim::Stream::Checkpoint);
            let first = lo + rng.below_inclusive((iv - lo).saturating_sub(1));
            self.q.schedule(first, Event::CheckpointTick);
        }
    }

    fn new_executor(&mut self, host: u32) -> u32 {
        let e = self.executors.len() as u32;
        self.executors.push(Executor {
            host,
            alive: true,
            registered: false,
            slots: vec![None; self.sc.cluster.slots_per_taskmanager as usize],
            hb_failures: 0,
            hb_last_ok_us: 0,
            local_copies: BTreeMap::new(),
            starting: false,
        });
        if self.host_executor.len() <= host as usize {
            self.host_executor.resize(host as usize + 1, u32::MAX);
        }
        self.host_executor[host as usize] = e;
        e
    }

    fn register_executor(&mut self, e: u32) {
        let ex = &mut self.executors[e as usize];
        ex.registered = true;
        let (host, slots) = (ex.host, ex.slots.len() as u32);
        ex.hb_last_ok_us = self.q.now_us();
        self.q.schedule_in(self.sc.flink.heartbeat_timeout_us, Event::HeartbeatTimeout { executor: e });
        if self.now() > 0 {
            self.note(Note::TaskManagerRegistered { tm: host, slots });
        }
        // Regions that waited for slots try again.
        self.slot_waiters.clear();
        let subtasks: Vec<SubtaskId> = (0..self.subtasks.len() as u32)
            .map(SubtaskId)
            .filter(|st| self.subtasks[st.0 as usize].state == ExecutionState::Scheduled)
            .collect();
        if !subtasks.is_empty() {
            self.allocate_and_deploy(&subtasks);
        }
    }

    pub fn set_state(&mut self, st: SubtaskId, to: ExecutionState) {
        let from = self.subtasks[st.0 as usize].state;
        if !from.can_become(to) {
            let name = self.graph.subtask_name(st);
            self.violation(format!("illegal transition {} → {} of {name}", from.name(), to.name()));
        }
        let s = &mut self.subtasks[st.0 as usize];
        s.state = to;
        let attempt = s.attempt;
        self.note(Note::TaskState { st, attempt, from, to });
        if to == ExecutionState::Running
            && let Some(f) = self.subtasks[st.0 as usize].created_by_failover
        {
            let rt = &mut self.failover_rt[f];
            rt.waiting_running = rt.waiting_running.saturating_sub(1);
            if rt.waiting_running == 0 && self.failovers[f].running_again_at_us.is_none() {
                self.failovers[f].running_again_at_us = Some(self.now());
            }
        }
        if to.is_terminal() {
            self.on_terminal(st);
        }
    }

    pub fn set_job_status(&mut self, to: JobStatus) {
        let from = self.job_status;
        if from == to {
            return;
        }
        self.job_status = to;
        self.note(Note::JobStatus { from, to });
        if matches!(to, JobStatus::Failed | JobStatus::Finished) {
            self.stopped = true;
        }
    }

    pub fn check_job_finished(&mut self) {
        if self.subtasks.iter().all(|s| s.state == ExecutionState::Finished) {
            self.set_job_status(JobStatus::Finished);
        }
    }

    /// Slot sharing: subtask i of every task goes into execution slot sharing group i, which
    /// occupies one slot. A group keeps its slot while that TaskManager is registered.
    fn slot_for_group(&mut self, group: u32) -> Option<(u32, u32)> {
        if let Some((e, s)) = self.group_slot[group as usize] {
            if self.executors[e as usize].registered {
                return Some((e, s));
            }
            self.group_slot[group as usize] = None;
        }
        let free = |ex: &Executor| ex.slots.iter().filter(|x| x.is_none()).count();
        let candidates =
            (0..self.executors.len()).filter(|&e| self.executors[e].registered && free(&self.executors[e]) > 0);
        let chosen = match self.sc.flink.load_balance {
            LoadBalanceMode::None => candidates.min(),
            // Most free slots first; ties go to the earlier TaskManager.
            LoadBalanceMode::Slots => candidates.max_by_key(|&e| (free(&self.executors[e]), std::cmp::Reverse(e))),
        }?;
        let ex = &mut self.executors[chosen];
        let s = ex.slots.iter().position(|x| x.is_none()).expect("the chosen TaskManager has a free slot");
        ex.slots[s] = Some(group);
        self.group_slot[group as usize] = Some((chosen as u32, s as u32));
        Some((chosen as u32, s as u32))
    }

    /// Subtasks in SCHEDULED get slots and are deployed, a pipelined region at a time: like
    /// Flink's bulk slot allocation, a region is deployed only once every one of its subtasks
    /// has a slot; otherwise the region waits (holding what it got) up to `slot.request.timeout`.
    pub fn allocate_and_deploy(&mut self, subtasks: &[SubtaskId]) {
        let mut regions: Vec<(u32, Vec<SubtaskId>)> = Vec::new();
        for &st in subtasks {
            let r = self.region_of[st.0 as usize];
            match regions.iter_mut().find(|(x, _)| *x == r) {
                Some((_, v)) => v.push(st),
                None => regions.push((r, vec![st])),
            }
        }
        let mut missing = 0;
        for (_, members) in regions {
            let mut lacking: Vec<u32> = Vec::new();
            for &st in &members {
                let group = self.graph.subtasks[st.0 as usize].index;
                if self.slot_for_group(group).is_none() && !lacking.contains(&group) {
                    lacking.push(group);
                }
            }
            if !lacking.is_empty() {
                missing += members.len() as u32;
                for group in lacking {
                    if self.slot_waiters.insert(group) {
                        self.slot_generation[group as usize] += 1;
                        let generation = self.slot_generation[group as usize];
                        let timeout = self.sc.flink.slot_request_timeout_us;
                        self.q.schedule_in(timeout, Event::SlotRequestTimeout { group, generation });
                    }
                }
                continue;
            }
            for st in members {
                let group = self.graph.subtasks[st.0 as usize].index;
                let (e, _) = self.group_slot[group as usize].expect("every group of the region got a slot above");
                self.subtasks[st.0 as usize].executor = Some(e);
                self.set_state(st, ExecutionState::Deploying);
                let tm = self.executors[e as usize].host;
                self.note(Note::Deployed { st, tm });
                let attempt = self.subtasks[st.0 as usize].attempt;
                self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::DeployArrived { st, attempt });
            }
        }
        if missing > 0 {
            self.note(Note::SlotsMissing { subtasks: missing });
        }
    }

    pub fn on_slot_request_timeout(&mut self, group: u32, generation: u64) {
        if self.slot_generation[group as usize] != generation || !self.slot_waiters.remove(&group) {
            return;
        }
        let now = self.now();
        for i in 0..self.subtasks.len() {
            let st = SubtaskId(i as u32);
            if self.graph.subtasks[i].index == group && self.subtasks[i].state == ExecutionState::Scheduled {
                let attempt = self.subtasks[i].attempt;
                self.on_failure_reported(st, attempt, FailureCause::NoResourceAvailable, now);
            }
        }
    }

    pub fn on_deploy_arrived(&mut self, st: SubtaskId, attempt: u32) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || s.state != ExecutionState::Deploying {
            return;
        }
        let e = s.executor.expect("a deploying subtask has an executor");
        let ex = &self.executors[e as usize];
        if ex.alive {
            self.q.schedule_in(self.sc.cluster.deploy_us, Event::Initializing { st, attempt });
        } else {
            // Connection refused: the RPC fails back to the JobManager.
            let host = ex.host;
            self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::DeployRpcFailed { st, attempt, host });
        }
    }

    /// The task starts on its TaskManager and loads its state: INITIALIZING until restored.
    pub fn on_initializing(&mut self, st: SubtaskId, attempt: u32) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || s.state != ExecutionState::Deploying {
            return;
        }
        let e = s.executor.expect("a deployed subtask has an executor");
        if !self.executors[e as usize].alive {
            return;
        }
        self.reset_runtime(st);
        let s = &mut self.subtasks[st.0 as usize];
        s.live = true;
        s.failure_sent = false;
        self.set_state(st, ExecutionState::Initializing);
        let restore = self.subtasks[st.0 as usize].restore_from;
        let mut duration_us = 0;
        if let Some(cp) = restore {
            let bytes = self.install_state(st, cp);
            let c = &self.sc.cluster;
            let local = self.sc.flink.local_recovery
                && self.executors[e as usize].local_copies.get(&st).is_some_and(|&(lcp, _)| lcp == cp);
            duration_us = if local {
                bytes.saturating_mul(1_000_000) / c.local_bytes_per_s.max(1)
            } else {
                c.storage_latency_us + bytes.saturating_mul(1_000_000) / c.storage_bytes_per_s.max(1)
            };
            self.note(Note::Restored { st, cp: Some(cp), bytes, local, duration_us });
        }
        self.q.schedule_in(duration_us, Event::Restored { st, attempt });
    }

    /// Assigns the subtask's share of checkpoint `cp`: source offsets, keyed state by key group,
    /// sink committables. Returns the bytes it reads.
    fn install_state(&mut self, st: SubtaskId, cp: u64) -> u64 {
        let Some(chk) = self.completed.iter().find(|c| c.id == cp) else {
            self.violation(format!("restore from checkpoint {cp}, which is not a retained completed checkpoint"));
            return 0;
        };
        let snap = &chk.subtasks[st.0 as usize];
        let mut bytes = snap.bytes;
        let positions = snap.source_positions.clone();
        let committables = snap.committables.clone();
        // Keyed state: every key whose key group this subtask owns, from whichever subtask of the
        // same operator snapshotted it (StateAssignmentOperation; identity when p is unchanged).
        let mut keyed = None;
        if let Some((op, _)) = &self.subtasks[st.0 as usize].keyed {
            let op = *op;
            let index = self.graph.subtasks[st.0 as usize].index;
            let p = self.graph.task_of(st).parallelism;
            let mut state = BTreeMap::new();
            if !self.bugs.restore_empty_state {
                for other in &chk.subtasks {
                    for (o, m) in &other.keyed {
                        if *o == op {
                            state.extend(
                                m.iter().filter(|(k, _)| subtask_for_key(**k, self.graph.max_parallelism, p) == index),
                            );
                        }
                    }
                }
            }
            bytes = bytes.max(state.len() as u64 * 32);
            keyed = Some((op, state));
        }
        let s = &mut self.subtasks[st.0 as usize];
        if let Some(k) = keyed {
            s.keyed = Some(k);
        }
        if let Some(src) = &mut s.source {
            let from = if self.bugs.no_source_rewind { &s.high_water } else { &positions };
            for c in &mut src.cursors {
                if let Some(&(_, off)) = from.iter().find(|(p, _)| *p == c.0) {
                    c.1 = off;
                }
            }
        }
        for sink in &mut s.sinks {
            sink.committables = committables.iter().copied().filter(|t| t.sink == sink.op).collect();
            sink.next_checkpoint = cp + 1;
        }
        bytes
    }

    /// State is loaded: sinks recover their transactions, sources resume, the task runs.
    pub fn on_restored(&mut self, st: SubtaskId, attempt: u32) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || !s.live || s.state != ExecutionState::Initializing {
            return;
        }
        let index = self.graph.subtasks[st.0 as usize].index;
        let restore = s.restore_from;
        // Sink writer/committer recovery: fence older writers, commit the checkpoint's
        // committables again (idempotent), abort transactions opened after it.
        for k in 0..self.subtasks[st.0 as usize].sinks.len() {
            let (op, keep) = {
                let sink = &self.subtasks[st.0 as usize].sinks[k];
                (sink.op, sink.committables.clone())
            };
            self.store.init_producer(op, index, attempt);
            let (txns, records) = self.store.abort_lingering(op, index, &keep);
            if txns > 0 {
                self.note(Note::SinkAborted { st, transactions: txns, records });
            }
        }
        if let Some(cp) = restore {
            self.commit_up_to(st, cp, true);
        }
        if let Some(src) = &self.subtasks[st.0 as usize].source
            && restore.is_some()
        {
            let positions = src.cursors.clone();
            self.note(Note::SourceRewound { st, positions });
        }
        self.set_state(st, ExecutionState::Running);
        self.wake(st);
    }

    pub fn on_task_failed_local(&mut self, st: SubtaskId, attempt: u32, cause: FailureCause) {
        let s = &mut self.subtasks[st.0 as usize];
        if s.attempt != attempt || !s.live || s.failure_sent {
            return;
        }
        s.failure_sent = true;
        s.live = false;
        self.reset_channels_of(st);
        self.note(Note::TaskFailed { st, attempt, cause });
        let failed_at_us = self.now();
        self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::FailureReported { st, attempt, cause, failed_at_us });
    }

    /// The JobManager learns that an attempt failed (Execution.markFailed →
    /// DefaultScheduler.handleTaskFailure).
    pub fn on_failure_reported(&mut self, st: SubtaskId, attempt: u32, cause: FailureCause, failed_at_us: u64) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || s.state.is_terminal() {
            return;
        }
        if s.state == ExecutionState::Canceling {
            // Execution.processFail while CANCELING completes the cancellation instead.
            self.stop_attempt(st);
            self.set_state(st, ExecutionState::Canceled);
            return;
        }
        self.stop_attempt(st);
        self.set_state(st, ExecutionState::Failed);
        if !matches!(self.job_status, JobStatus::Running | JobStatus::Restarting) {
            return;
        }
        let to_restart: Vec<SubtaskId> = match self.sc.flink.failover_strategy {
            FailoverStrategy::Full => (0..self.subtasks.len() as u32).map(SubtaskId).collect(),
            FailoverStrategy::Region => self.regions[self.region_of[st.0 as usize] as usize].clone(),
        };
        self.start_failover(st, cause, failed_at_us, to_restart);
    }

    fn start_failover(&mut self, st: SubtaskId, cause: FailureCause, failed_at_us: u64, to_restart: Vec<SubtaskId>) {
        let f = self.failovers.len();
        let now = self.now();
        self.abort_pending(AbortReason::JobFailover);
        let decision = self.restart.notify_failure(now, &mut self.rng_restart);
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
        self.note(Note::FailoverStarted { failover: f });
        match decision {
            RestartDecision::Exhausted => {
                self.note(Note::NoRestart {
                    failover: f,
                    reason: format!("restart strategy {} exhausted", self.restart.describe()),
                });
                self.set_job_status(JobStatus::Failing);
                self.failover_rt[f].done = true;
                for i in 0..self.subtasks.len() {
                    self.cancel(SubtaskId(i as u32));
                }
                self.check_job_failed();
            }
            RestartDecision::Restart { delay_us } => {
                self.set_job_status(JobStatus::Restarting);
                let versions: Vec<(SubtaskId, u32)> =
                    to_restart.iter().map(|&s| (s, self.subtasks[s.0 as usize].attempt)).collect();
                self.failover_rt[f].to_restart = versions;
                for &s in &to_restart {
                    self.cancel(s);
                }
                self.note(Note::RestartScheduled { failover: f, delay_us });
                self.q.schedule_in(delay_us, Event::RestartTimer { failover: f as u32 });
            }
        }
    }

    fn check_job_failed(&mut self) {
        if self.job_status == JobStatus::Failing && self.subtasks.iter().all(|s| s.state.is_terminal()) {
            self.set_job_status(JobStatus::Failed);
        }
    }

    /// The attempt stops doing anything (its TaskManager dropped it or it died).
    /// Its channels are emptied even when its process died earlier (not live any more): data
    /// a dead attempt left in a channel must never reach the next attempt.
    fn stop_attempt(&mut self, st: SubtaskId) {
        self.subtasks[st.0 as usize].live = false;
        self.reset_channels_of(st);
    }

    /// Cancels the current attempt (Execution.cancel).
    fn cancel(&mut self, st: SubtaskId) {
        let state = self.subtasks[st.0 as usize].state;
        match state {
            ExecutionState::Created | ExecutionState::Scheduled => self.set_state(st, ExecutionState::Canceled),
            ExecutionState::Deploying | ExecutionState::Initializing | ExecutionState::Running => {
                self.set_state(st, ExecutionState::Canceling);
                // The TaskManager stops the task when the cancel RPC arrives; the JobManager
                // sees CANCELED when the answer (or, for a dead process, the RPC error) is back.
                self.stop_attempt(st);
                let attempt = self.subtasks[st.0 as usize].attempt;
                self.q.schedule_in(2 * self.sc.cluster.rpc_latency_us, Event::CancelDone { st, attempt });
            }
            _ => {}
        }
    }

    pub fn on_cancel_done(&mut self, st: SubtaskId, attempt: u32) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt == attempt && s.state == ExecutionState::Canceling {
            self.set_state(st, ExecutionState::Canceled);
        }
    }

    fn on_terminal(&mut self, st: SubtaskId) {
        self.check_job_failed();
        for f in 0..self.failover_rt.len() {
            let rt = &self.failover_rt[f];
            if rt.timer_fired && !rt.done && rt.to_restart.iter().any(|&(s, _)| s == st) {
                self.try_restart(f);
            }
        }
    }

    pub fn on_restart_timer(&mut self, f: usize) {
        self.failover_rt[f].timer_fired = true;
        self.try_restart(f);
    }

    /// DefaultScheduler.restartTasks: once the delay has passed and every attempt to replace is
    /// terminal, new attempts of the vertices not restarted meanwhile by another failover.
    fn try_restart(&mut self, f: usize) {
        if self.failover_rt[f].done || !matches!(self.job_status, JobStatus::Restarting | JobStatus::Running) {
            return;
        }
        let pending = std::mem::take(&mut self.failover_rt[f].to_restart);
        let still_running = pending.iter().any(|&(s, v)| {
            self.subtasks[s.0 as usize].attempt == v && !self.subtasks[s.0 as usize].state.is_terminal()
        });
        if still_running {
            self.failover_rt[f].to_restart = pending;
            return;
        }
        self.failover_rt[f].done = true;
        let restart: Vec<SubtaskId> =
            pending.iter().filter(|&&(s, v)| self.subtasks[s.0 as usize].attempt == v).map(|&(s, _)| s).collect();
        let latest = self.completed.back().map(|c| c.id);
        self.set_job_status(JobStatus::Running);
        let now = self.now();
        let report = &mut self.failovers[f];
        report.restart_at_us = Some(now);
        report.restored_checkpoint = latest;
        report.restarted = restart.clone();
        self.failover_rt[f].waiting_running = restart.len() as u32;
        if restart.is_empty() {
            report.running_again_at_us = Some(now);
        }
        for &st in &restart {
            let s = &mut self.subtasks[st.0 as usize];
            s.attempt += 1;
            let from = s.state;
            s.state = ExecutionState::Created;
            s.restore_from = latest;
            s.created_by_failover = Some(f);
            s.failure_sent = false;
            s.executor = None;
            let attempt = s.attempt;
            self.final_snapshots[st.0 as usize] = None;
            self.note(Note::TaskState { st, attempt, from, to: ExecutionState::Created });
            self.set_state(st, ExecutionState::Scheduled);
        }
        self.allocate_and_deploy(&restart);
    }

    // ---- TaskManagers, heartbeats, resource manager ----

    /// kill -9 of a TaskManager process: tasks and memory gone; peers' connections reset.
    pub fn kill_host(&mut self, host: u32) {
        let e = self.host_executor[host as usize];
        if !self.executors[e as usize].alive {
            // A process still starting dies before it registers; a dead one stays dead.
            self.executors[e as usize].starting = false;
            return;
        }
        self.executors[e as usize].alive = false;
        self.executors[e as usize].local_copies.clear();
        let now = self.now();
        let reset = self.sc.cluster.connection_reset_us;
        let mut on_dead = vec![false; self.subtasks.len()];
        for (i, s) in self.subtasks.iter_mut().enumerate() {
            if s.executor == Some(e) && s.live {
                s.live = false;
                on_dead[i] = true;
            }
        }
        // Tasks elsewhere with a data connection to a task of this process fail on the reset.
        let mut hit = vec![false; self.subtasks.len()];
        for ch in &self.graph.channels {
            for (dead, peer) in [(ch.from, ch.to), (ch.to, ch.from)] {
                let p = &self.subtasks[peer.0 as usize];
                if on_dead[dead.0 as usize] && p.live && p.state == ExecutionState::Running && !hit[peer.0 as usize] {
                    hit[peer.0 as usize] = true;
                    let attempt = p.attempt;
                    self.q.schedule(
                        now + reset,
                        Event::TaskFailedLocal {
                            st: peer,
                            attempt,
                            cause: FailureCause::ConnectionLost { remote_tm: host },
                        },
                    );
                }
            }
        }
        if self.sc.cluster.resource_manager == ResourceManagerKind::Active {
            // The active ResourceManager sees the pod/container terminate and asks for a new one.
            self.start_host_after(host, reset + self.sc.cluster.taskmanager_start_delay_us);
        }
    }

    pub fn restart_host(&mut self, host: u32) {
        let e = self.host_executor[host as usize];
        let ex = &self.executors[e as usize];
        if ex.alive || ex.starting {
            return;
        }
        self.start_host_after(host, self.sc.cluster.taskmanager_start_delay_us);
    }

    fn start_host_after(&mut self, host: u32, delay_us: u64) {
        let e = self.new_executor(host);
        self.executors[e as usize].alive = false;
        self.executors[e as usize].starting = true;
        self.q.schedule_in(delay_us, Event::ExecutorStarted { executor: e });
    }

    pub fn on_executor_started(&mut self, e: u32) {
        let ex = &mut self.executors[e as usize];
        if self.host_executor[ex.host as usize] != e || !ex.starting {
            return;
        }
        ex.starting = false;
        self.executors[e as usize].alive = true;
        self.register_executor(e);
    }

    pub fn on_heartbeat_tick(&mut self) {
        let rtt = 2 * self.sc.cluster.rpc_latency_us;
        for e in 0..self.executors.len() {
            let ex = &self.executors[e];
            if ex.registered {
                let ok = ex.alive;
                self.q.schedule_in(rtt, Event::HeartbeatAnswer { executor: e as u32, ok });
            }
        }
        self.q.schedule_in(self.sc.flink.heartbeat_interval_us, Event::HeartbeatTick);
    }

    pub fn on_heartbeat_answer(&mut self, e: u32, ok: bool) {
        let threshold = self.sc.flink.heartbeat_rpc_failure_threshold;
        let ex = &mut self.executors[e as usize];
        if !ex.registered {
            return;
        }
        if ok {
            ex.hb_failures = 0;
            ex.hb_last_ok_us = self.q.now_us();
        } else {
            ex.hb_failures += 1;
            if let Some(t) = threshold
                && ex.hb_failures >= t
            {
                let n = ex.hb_failures;
                self.executor_lost(e, Detection::HeartbeatRpcFailures(n));
            }
        }
    }

    /// HeartbeatMonitor: no answer for `heartbeat.timeout` disconnects the TaskManager;
    /// otherwise check again when the last answer would time out.
    pub fn on_heartbeat_timeout(&mut self, e: u32) {
        let ex = &self.executors[e as usize];
        if !ex.registered {
            return;
        }
        let due = ex.hb_last_ok_us + self.sc.flink.heartbeat_timeout_us;
        if self.now() >= due {
            self.executor_lost(e, Detection::HeartbeatTimeout);
        } else {
            self.q.schedule(due, Event::HeartbeatTimeout { executor: e });
        }
    }

    /// JobMaster.disconnectTaskManager: its slots are released and every attempt in them fails.
    fn executor_lost(&mut self, e: u32, detection: Detection) {
        let ex = &mut self.executors[e as usize];
        ex.registered = false;
        ex.slots.iter_mut().for_each(|s| *s = None);
        let tm = ex.host;
        self.note(Note::TaskManagerLost { tm, detection });
        for g in 0..self.group_slot.len() {
            if self.group_slot[g].is_some_and(|(ge, _)| ge == e) {
                self.group_slot[g] = None;
            }
        }
        let now = self.now();
        for i in 0..self.subtasks.len() {
            let s = &self.subtasks[i];
            if s.executor == Some(e) && !s.state.is_terminal() {
                let attempt = s.attempt;
                self.on_failure_reported(
                    SubtaskId(i as u32),
                    attempt,
                    FailureCause::TaskManagerLost { tm, detection },
                    now,
                );
            }
        }
    }

    // ---- checkpoint coordinator ----

    pub fn on_checkpoint_tick(&mut self) {
        let Some(interval) = self.sc.flink.checkpoint_interval_us else { return };
        self.q.schedule_in(interval, Event::CheckpointTick);
        let now = self.now();
        // FLIP-147: finished tasks take no part; every other task must be running.
        let ready = self.subtasks.iter().all(|s| matches!(s.state, ExecutionState::Running | ExecutionState::Finished))
            && self.subtasks.iter().any(|s| s.state == ExecutionState::Running);
        if self.job_status != JobStatus::Running
            || self.pending.is_some()
            || !ready
            || (self.checkpoints_completed > 0
                && now < self.last_checkpoint_done_us + self.sc.flink.checkpoint_min_pause_us)
        {
            return;
        }
        let id = self.next_checkpoint_id;
        self.next_checkpoint_id += 1;
        let n = self.subtasks.len();
        let acked: Vec<bool> = self.subtasks.iter().map(|s| s.state == ExecutionState::Finished).collect();
        let missing = acked.iter().filter(|a| !**a).count() as u32;
        let deadline_us = now + self.sc.flink.checkpoint_timeout_us;
        self.pending =
            Some(PendingCheckpoint { id, triggered_at_us: now, deadline_us, acked, missing, max_alignment_us: 0 });
        self.note(Note::CheckpointTriggered { cp: id });
        for i in 0..n {
            let st = SubtaskId(i as u32);
            // CheckpointPlanCalculator: trigger the running tasks whose inputs all come from
            // finished tasks (at first: the sources).
            let producers_finished = self.graph.subtasks[i].inputs.iter().all(|ch| {
                self.subtasks[self.graph.channels[ch.0 as usize].from.0 as usize].state == ExecutionState::Finished
            });
            if self.subtasks[i].state == ExecutionState::Running && producers_finished {
                let attempt = self.subtasks[i].attempt;
                self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::Trigger { st, attempt, cp: id });
            }
        }
        if !self.expiry_check_scheduled {
            self.expiry_check_scheduled = true;
            self.q.schedule(deadline_us, Event::CheckpointExpired);
        }
    }

    pub fn on_ack(&mut self, st: SubtaskId, cp: u64) {
        let Some(p) = &mut self.pending else { return };
        if p.id != cp || p.acked[st.0 as usize] {
            return;
        }
        p.acked[st.0 as usize] = true;
        p.missing -= 1;
        if p.missing > 0 {
            return;
        }
        let p = self.pending.take().expect("checked above");
        let now = self.now();
        let subtasks: Vec<_> = (0..self.subtasks.len() as u32)
            .map(|i| match self.uploaded.remove(&(cp, i)) {
                Some(s) => s,
                None => self.final_snapshots[i as usize]
                    .clone()
                    .expect("a subtask that did not upload had finished before the trigger"),
            })
            .collect();
        let bytes = subtasks.iter().map(|s| s.bytes).sum();
        let chk = CompletedCheckpoint { id: cp, completed_at_us: now, subtasks, bytes };
        self.completed.push_back(chk.clone());
        self.keep_cut_sample(chk);
        while self.completed.len() > self.sc.flink.checkpoints_retained as usize {
            self.completed.pop_front();
        }
        self.checkpoints_completed += 1;
        self.last_checkpoint_done_us = now;
        self.note(Note::CheckpointCompleted {
            cp,
            bytes,
            duration_us: now - p.triggered_at_us,
            alignment_us: p.max_alignment_us,
        });
        for i in 0..self.subtasks.len() {
            let s = &self.subtasks[i];
            if s.live {
                let attempt = s.attempt;
                self.q.schedule_in(
                    self.sc.cluster.rpc_latency_us,
                    Event::NotifyComplete { st: SubtaskId(i as u32), attempt, cp },
                );
            }
        }
    }

    /// The pending checkpoint expires at its deadline; an earlier check (left from a checkpoint
    /// that completed) re-arms for the current one.
    pub fn on_checkpoint_expired(&mut self) {
        self.expiry_check_scheduled = false;
        let Some(deadline) = self.pending.as_ref().map(|p| p.deadline_us) else { return };
        if self.now() >= deadline {
            self.abort_pending(AbortReason::Expired);
        } else {
            self.expiry_check_scheduled = true;
            self.q.schedule(deadline, Event::CheckpointExpired);
        }
    }

    fn abort_pending(&mut self, reason: AbortReason) {
        let Some(p) = self.pending.take() else { return };
        self.checkpoints_aborted += 1;
        let lo = (p.id, 0);
        let hi = (p.id, u32::MAX);
        let keys: Vec<_> = self.uploaded.range(lo..=hi).map(|(k, _)| *k).collect();
        for k in keys {
            self.uploaded.remove(&k);
        }
        self.note(Note::CheckpointAborted { cp: p.id, reason });
        self.abort_alignments(p.id);
    }
}
