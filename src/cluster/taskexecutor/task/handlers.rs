//! The TaskExecutor's side of its tasks: deploying and removing attempts, the messages and
//! timers addressed to a task (data, credit, partition requests, triggers, notifications,
//! storage and sink-store answers), acknowledgements, and the steps of a restore.

use super::*;

fn ack(ctx: &mut Ctx, id: AttemptId, cp: u64, file: FileKey, bytes: u64, metrics: CheckpointMetrics) {
    ctx.send(HostId::JOBMANAGER, Msg::AckCheckpoint { id, cp, file, bytes, metrics });
}

impl TaskExecutor {
    pub(in crate::cluster::taskexecutor) fn find(&self, id: AttemptId) -> Option<usize> {
        let i = self.by_st[id.st.0 as usize]? as usize;
        match &self.tasks[i] {
            Some(t) if t.id == id => Some(i),
            _ => self.tasks.iter().position(|t| t.as_ref().is_some_and(|t| t.id == id)),
        }
    }

    pub(in crate::cluster::taskexecutor) fn deploy(&mut self, ctx: &mut Ctx, d: Deployment) {
        if let Some(old) = self.by_st[d.id.st.0 as usize]
            && let Some(t) = &self.tasks[old as usize]
            && t.phase != Phase::Done
        {
            // A newer attempt of the same subtask in this slot: the old one is gone.
            let id = t.id;
            self.remove_task(ctx, id);
        }
        let mut task = Task::new(ctx.graph(), ctx.logs(), &d);
        if ctx.sc().flink.incremental_checkpoints() && task.keyed.is_some() {
            task.changes = Some(Changes::default());
        }
        let i = match self.tasks.iter().position(|t| t.is_none()) {
            Some(i) => {
                self.tasks[i] = Some(task);
                i
            }
            None => {
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        };
        self.by_st[d.id.st.0 as usize] = Some(i as u32);
        let cp = d.restore.as_ref().map_or(0, |r| r.cp);
        ctx.probe(Probe::Subtask { phase: ProtocolPhase::Deploying, st: d.id.st, cp });
        let deploy = ctx.sc().cluster.deploy_us;
        let delay = deploy + ctx.draw(deploy);
        ctx.timer(delay, Timer::Te(TeTimer::DeployDone { id: d.id }));
        // Partition requests that came early.
        let parked = std::mem::take(&mut self.parked);
        for (from, m) in parked {
            match m {
                // Requests for an older attempt of this subtask will never be served.
                Msg::PartitionRequest { producer, .. } if producer.st == d.id.st && producer < d.id => {}
                Msg::PartitionRequest { producer, .. } if producer == d.id => self.handle_task_msg(ctx, from, m),
                other => self.parked.push((from, other)),
            }
        }
    }

    pub(in crate::cluster::taskexecutor) fn remove_task(&mut self, ctx: &mut Ctx, id: AttemptId) {
        if let Some(i) = self.find(id) {
            if let Some(t) = self.tasks[i].as_ref()
                && t.phase == Phase::Running
            {
                let buffered = t
                    .inputs
                    .iter()
                    .map(|i| i.queue.iter().filter(|x| matches!(x, Item::Record(_))).count() as u64)
                    .sum();
                let read = t.source.as_ref().map(|s| s.cursors.clone()).unwrap_or_default();
                // Sources always (what they had read); other tasks when they held records.
                if buffered > 0 || t.source.is_some() {
                    ctx.note(Note::AttemptDiscarded { st: id.st, buffered, read });
                }
            }
            if let Some(t) = self.tasks[i].as_mut()
                && matches!(t.phase, Phase::Running | Phase::Finished)
            {
                t.close_sinks(ctx);
            }
            self.tasks[i] = None;
            if self.by_st[id.st.0 as usize] == Some(i as u32) {
                self.by_st[id.st.0 as usize] = None;
            }
        }
    }

    fn task_mut(&mut self, id: AttemptId) -> Option<&mut Task> {
        let i = self.find(id)?;
        self.tasks[i].as_mut()
    }

    /// Runs `f` on the task; if it fails, the task fails here.
    fn with_task(&mut self, ctx: &mut Ctx, id: AttemptId, f: impl FnOnce(&mut Task, &mut Ctx) -> Res) {
        let Some(t) = self.task_mut(id) else { return };
        if let Err(cause) = f(t, ctx) {
            self.fail_task(ctx, id, cause);
        }
    }

    pub(in crate::cluster::taskexecutor) fn handle_task_msg(&mut self, ctx: &mut Ctx, from: HostId, msg: Msg) {
        match msg {
            Msg::Data { ch, producer, consumer, item } => {
                let k = ctx.graph().channels[ch.0 as usize].input_index as usize;
                let Some(t) = self.task_mut(consumer) else { return };
                if t.inputs[k].producer != producer || !matches!(t.phase, Phase::Running | Phase::Initializing) {
                    return;
                }
                match item {
                    // Unaligned: ahead of every record queued before it.
                    Item::Barrier(b) if t.overtakes(ctx, &b) => {
                        self.with_task(ctx, consumer, |t, ctx| {
                            t.on_priority_barrier(ctx, k, b, true);
                            Ok(())
                        });
                        return;
                    }
                    Item::Barrier(b) => {
                        let f = &ctx.sc().flink;
                        let timeout = f.aligned_checkpoint_timeout_us;
                        if f.unaligned && timeout > 0 && !b.savepoint && b.cp > t.timeout_armed && b.cp > t.last_cp {
                            t.timeout_armed = b.cp;
                            let timer = Timer::Te(TeTimer::AlignmentTimeout { id: consumer, cp: b.cp });
                            ctx.timer_at(b.at_us + timeout, timer);
                        }
                    }
                    _ => t.collect_channel_state(ctx, k, &item),
                }
                let Some(t) = self.task_mut(consumer) else { return };
                let can_now = t.active()
                    && t.inputs[k].queue.is_empty()
                    && !t.inputs[k].drain_scheduled
                    && !t.blocked_output
                    && !t.input_blocked(ctx, k);
                t.inputs[k].queue.push_back(item);
                if can_now {
                    self.with_task(ctx, consumer, |t, ctx| t.deliver_one(ctx, k));
                } else {
                    t.schedule_drain(ctx, k);
                }
            }
            Msg::PartitionRequest { ch, producer, consumer, credit } => {
                let Some(t) = self.task_mut(producer) else {
                    // The producer's deployment has not arrived yet: the request waits for it.
                    self.parked.push((from, Msg::PartitionRequest { ch, producer, consumer, credit }));
                    return;
                };
                let k = ctx.graph().output_index[ch.0 as usize] as usize;
                let o = &mut t.outputs[k];
                o.consumer = Some((from, consumer));
                o.credit += credit;
                while let Some(item) = o.waiting.pop_front() {
                    ctx.send(from, Msg::Data { ch, producer: producer.attempt, consumer, item });
                }
                if t.blocked_output && t.outputs_available() {
                    t.blocked_output = false;
                    t.wake(ctx);
                }
            }
            Msg::Credit { ch, producer, credit } => {
                let Some(t) = self.task_mut(producer) else { return };
                let k = ctx.graph().output_index[ch.0 as usize] as usize;
                t.outputs[k].credit += credit;
                if t.blocked_output && t.outputs_available() {
                    t.blocked_output = false;
                    t.wake(ctx);
                }
            }
            Msg::TriggerCheckpoint { ask, id, cp, stop } => {
                // Task.triggerCheckpointBarrier; an unknown attempt answers with an error.
                let found = self.task_mut(id).is_some();
                ctx.send(from, Msg::AskReply { ask: AskRef::Jm(ask), ok: found });
                if let Some(t) = self.task_mut(id) {
                    t.on_trigger(ctx, cp, stop);
                }
            }
            Msg::NotifyComplete { id, cp } => {
                // TaskLocalStateStoreImpl.confirmCheckpoint: older local copies are discarded.
                let job = self.task_mut(id).map(|t| t.job);
                if let Some(copies) = self.local_copies.get_mut(&id.st) {
                    copies.retain(|c| Some(c.0.0) != job || c.0.1 >= cp);
                }
                if let Some(t) = self.task_mut(id) {
                    ctx.probe(Probe::Notified { st: id.st });
                    t.on_notify_complete(ctx, cp);
                }
            }
            Msg::AbortCheckpoint { jm, cp } => {
                // TaskLocalStateStoreImpl.abortCheckpoint: the aborted checkpoint's local copies go.
                for t in self.tasks.iter().flatten().filter(|t| t.id.jm == jm) {
                    if let Some(copies) = self.local_copies.get_mut(&t.id.st) {
                        copies.retain(|c| c.0 != (t.job, cp));
                    }
                }
                for t in self.tasks.iter_mut().flatten() {
                    if t.id.jm == jm {
                        // notifyCheckpointAborted: a trigger or barrier of it that comes later is
                        // not acted on.
                        t.last_cp = t.last_cp.max(cp);
                    }
                    if t.id.jm == jm
                        && let Some(src) = t.source.as_mut()
                        && src.stopped_at == Some(cp)
                    {
                        // The stop-with-savepoint failed: the source reads on.
                        src.stopped_at = None;
                        if src.end_snapshot_cp == Some(cp) {
                            src.end_snapshot_cp = None;
                        }
                        let now = ctx.now();
                        t.schedule_emit(ctx, now);
                    }
                    if t.id.jm == jm && t.unaligned.as_ref().is_some_and(|u| u.cp == cp) {
                        t.unaligned = None;
                        t.snaps.retain(|s| s.cp != cp);
                    }
                    if t.id.jm == jm && t.align.as_ref().is_some_and(|a| a.cp == cp) {
                        t.align = None;
                        t.snaps.retain(|s| s.cp != cp);
                        t.wake(ctx);
                    }
                }
            }
            Msg::UploadFailed { id, cp } => {
                // The asynchronous part failed: the task declines the checkpoint and drops its
                // snapshot (AsyncCheckpointRunnable → declineCheckpoint with
                // CHECKPOINT_ASYNC_EXCEPTION); a sink's pre-committed transaction stays, for the
                // next checkpoint to commit.
                let Some(t) = self.task_mut(id) else { return };
                t.snaps.retain(|s| s.cp != cp);
                ctx.send(HostId::JOBMANAGER, Msg::DeclineCheckpoint { id, cp, async_failed: true });
            }
            Msg::UploadDone { id, cp } => {
                let local_recovery = ctx.sc().flink.local_recovery;
                let Some(t) = self.task_mut(id) else { return };
                if cp == 0 {
                    let bytes = t.final_state.map(|f| f.0).unwrap_or(0);
                    t.final_state = Some((bytes, true));
                    let file = FileKey { job: t.job, cp: 0, st: id.st };
                    ctx.send(HostId::JOBMANAGER, Msg::TaskFinished { id, file, bytes });
                    return;
                }
                let t_job = t.job;
                let Some(s) = t.snaps.iter_mut().find(|s| s.cp == cp) else { return };
                s.upload_done = true;
                let local = s.local.take();
                self.maybe_ack(ctx, id);
                if local_recovery && let Some(snap) = local {
                    let job = t_job;
                    // Local state is kept per job: another job's copies go.
                    let copies = self.local_copies.entry(id.st).or_default();
                    copies.retain(|c| c.0.0 == job && c.0.1 != cp);
                    copies.push(((job, cp), snap));
                    copies.sort_by_key(|c| c.0);
                }
            }
            Msg::Prepared { id, cp } => {
                let Some(t) = self.task_mut(id) else { return };
                if let Some(s) = t.snaps.iter_mut().find(|s| s.cp == cp) {
                    s.prepares = s.prepares.saturating_sub(1);
                    ctx.probe(Probe::Subtask { phase: ProtocolPhase::PreCommitted, st: id.st, cp });
                }
                self.maybe_ack(ctx, id);
            }
            Msg::Downloaded { id, snapshots, missing, unavailable } => {
                let Some(t) = self.task_mut(id) else { return };
                if t.phase != Phase::Initializing {
                    return;
                }
                if unavailable {
                    self.fail_task(ctx, id, FailureCause::StorageUnavailable);
                    return;
                }
                if missing > 0 {
                    self.fail_task(ctx, id, FailureCause::RestoreFailed);
                    return;
                }
                let r = t.restore.clone().expect("a download is for a restore");
                t.install(ctx, r.cp, &snapshots);
                let duration_us = ctx.now() - t.restore_started_us;
                let job = t.job;
                ctx.note(Note::Restored { st: id.st, cp: Some(r.cp), bytes: r.bytes, local: false, duration_us, job });
                self.init_step_done(ctx, id);
            }
            Msg::SinkAck { id, ok, .. } => self.with_task(ctx, id, |t, ctx| t.on_sink_ack(ctx, ok)),
            Msg::SinkReady { id, sink, epoch } => {
                let Some(t) = self.task_mut(id) else { return };
                if let Some(s) = t.sinks.iter_mut().find(|s| s.op == sink) {
                    s.epoch = epoch;
                    s.initialized = true;
                }
                self.init_step_done(ctx, id);
            }
            // Nothing else is for a TaskExecutor: a message for the JobManager or an external
            // system, or an answer to an ask it never makes.
            other => ctx.unhandled(from, &other),
        }
    }

    /// Acknowledges every snapshot whose upload and pre-commits are done, but none past an
    /// earlier checkpoint whose sink flush or pre-commit the store has not confirmed: in Flink
    /// that flush (`prepareSnapshotPreBarrier`, `producer.flush()`) blocks the task thread, so no
    /// later checkpoint is even taken before it returns. (Acknowledging a later, empty
    /// transaction first let it complete and be restored while the earlier pre-commit was still
    /// held by a partition: its records were lost.) Uploads may finish in any order.
    fn maybe_ack(&mut self, ctx: &mut Ctx, id: AttemptId) {
        loop {
            let Some(t) = self.task_mut(id) else { return };
            let blocked_from = t.snaps.iter().filter(|s| s.prepares > 0).map(|s| s.cp).min();
            let Some(pos) =
                t.snaps.iter().position(|s| s.upload_done && s.prepares == 0 && blocked_from.is_none_or(|b| s.cp < b))
            else {
                return;
            };
            let s = t.snaps.remove(pos);
            let cp = s.cp;
            let metrics = CheckpointMetrics {
                alignment_us: s.alignment_us,
                async_us: ctx.now() - s.taken_at_us,
                processed_during_async: t.records_in - s.records_in_at,
                persisted_bytes: s.persisted_bytes,
                uploaded_bytes: s.uploaded_bytes,
            };
            ack(ctx, id, cp, FileKey { job: t.job, cp, st: id.st }, s.bytes, metrics);
            ctx.probe(Probe::Subtask { phase: ProtocolPhase::Acknowledged, st: id.st, cp });
        }
    }

    pub(in crate::cluster::taskexecutor) fn on_task_timer(&mut self, ctx: &mut Ctx, t: TeTimer) {
        match t {
            TeTimer::SourceEmit { id } => {
                let Some(t) = self.task_mut(id) else { return };
                t.emit_scheduled = false;
                self.with_task(ctx, id, |t, ctx| t.source_emit(ctx));
            }
            TeTimer::Drain { id, input } => {
                let Some(t) = self.task_mut(id) else { return };
                t.inputs[input as usize].drain_scheduled = false;
                self.with_task(ctx, id, |t, ctx| t.deliver_one(ctx, input as usize));
            }
            TeTimer::DeployDone { id } => self.on_deployed(ctx, id),
            TeTimer::AlignmentTimeout { id, cp } => self.with_task(ctx, id, |t, ctx| {
                t.on_alignment_timeout(ctx, cp);
                Ok(())
            }),
            TeTimer::RestoredLocally { id } => {
                let Some(t) = self.task_mut(id) else { return };
                let Some(cp) = t.restore.as_ref().map(|r| r.cp) else { return };
                let job = t.job;
                let copies = self.local_copies.get(&id.st).map(Vec::as_slice).unwrap_or_default();
                let Some((_, snap)) = copies.iter().find(|c| c.0 == (job, cp)).cloned() else { return };
                let Some(t) = self.task_mut(id) else { return };
                if t.phase != Phase::Initializing {
                    return;
                }
                t.install(ctx, cp, std::slice::from_ref(&snap));
                let bytes = t.restore.as_ref().map(|r| r.bytes).unwrap_or(0);
                let duration_us = ctx.now() - t.restore_started_us;
                ctx.note(Note::Restored { st: id.st, cp: Some(cp), bytes, local: true, duration_us, job });
                self.init_step_done(ctx, id);
            }
            // `TaskExecutor::on_timer` handles these itself and passes only the task timers here.
            TeTimer::Register { .. }
            | TeTimer::JmHeartbeatCheck
            | TeTimer::FreeSlots { .. }
            | TeTimer::StateUpdateTimeout { .. } => {
                ctx.violation(format!("unhandled timer: {t:?} reached the task timers"))
            }
        }
    }

    /// DEPLOYING → INITIALIZING: load state (local copy or download), then the sinks'
    /// initTransactions, then RUNNING.
    fn on_deployed(&mut self, ctx: &mut Ctx, id: AttemptId) {
        let local_copies: Vec<(u32, u64)> =
            self.local_copies.get(&id.st).map(|c| c.iter().map(|c| c.0).collect()).unwrap_or_default();
        let Some(t) = self.task_mut(id) else { return };
        if t.phase != Phase::Deploying {
            return;
        }
        t.phase = Phase::Initializing;
        self.report(ctx, id, ExecutionState::Initializing, None, 0);
        let Some(t) = self.task_mut(id) else { return };
        t.restore_started_us = ctx.now();
        match t.restore.clone() {
            Some(r) => {
                t.init_pending = 1;
                ctx.probe(Probe::Subtask { phase: ProtocolPhase::Restoring, st: id.st, cp: r.cp });
                let own_job = r.files.first().is_some_and(|f| f.job == t.job);
                if ctx.sc().flink.local_recovery && own_job && local_copies.contains(&(t.job, r.cp)) {
                    let c = &ctx.sc().cluster;
                    let d = r.bytes.saturating_mul(1_000_000) / c.local_bytes_per_s.max(1);
                    ctx.timer(d, Timer::Te(TeTimer::RestoredLocally { id }));
                } else {
                    ctx.send(HostId::STORAGE, Msg::Download { id, files: r.files.clone() });
                }
            }
            None => {
                t.init_pending = 1;
                self.init_step_done(ctx, id);
            }
        }
    }

    /// One initialization step finished (state loaded, or a sink's producer initialized).
    fn init_step_done(&mut self, ctx: &mut Ctx, id: AttemptId) {
        let index = ctx.graph().subtasks[id.st.0 as usize].index;
        let Some(t) = self.task_mut(id) else { return };
        t.init_pending = t.init_pending.saturating_sub(1);
        if t.init_pending > 0 {
            return;
        }
        let state_loaded = t.sinks.iter().all(|s| s.initialized || s.semantic.writes_at_once());
        if !state_loaded {
            // Sink writer/committer recovery: fence older writers, commit the checkpoint's
            // committables again (idempotent), abort transactions opened after it.
            let restored_cp = t.restore.as_ref().map(|r| r.cp);
            let mut n = 0;
            for s in &t.sinks {
                if s.semantic == SinkSemantic::TwoPhaseCommit {
                    let recommit = if ctx.bugs().no_recommit { Vec::new() } else { s.committables.clone() };
                    let abort_lingering = !ctx.bugs().no_abort_lingering;
                    let job = t.job;
                    let init = Msg::InitSink { id, job, sink: s.op, index, recommit, restored_cp, abort_lingering };
                    ctx.send(HostId::STORE, init);
                    n += 1;
                }
            }
            if let Some(cp) = restored_cp {
                for s in &mut t.sinks {
                    s.committables.retain(|c| c.checkpoint > cp);
                }
            }
            t.init_pending = n;
            return;
        }
        t.phase = Phase::Running;
        self.report(ctx, id, ExecutionState::Running, None, 0);
        let Some(t) = self.task_mut(id) else { return };
        if let Some(src) = &t.source
            && t.restore.is_some()
        {
            ctx.note(Note::SourceRewound { st: id.st, positions: src.cursors.clone() });
        }
        // Request every input subpartition from its producer, with the initial credit.
        let cap = ctx.sc().cluster.channel_capacity;
        for k in 0..t.inputs.len() {
            let ch = ctx.graph().subtasks[id.st.0 as usize].inputs[k];
            let producer =
                AttemptId { st: ctx.graph().channels[ch.0 as usize].from, attempt: t.inputs[k].producer, jm: id.jm };
            ctx.send(t.inputs[k].from, Msg::PartitionRequest { ch, producer, consumer: id, credit: cap });
        }
        t.wake(ctx);
    }
}
