//! Checkpoints in a task: barriers and their alignment, unaligned checkpoints and their channel
//! state, the snapshot (synchronous part, barrier downstream, asynchronous upload, the sinks' pre-commit),
//! the coordinator's trigger, and installing a restored checkpoint.

use super::*;

impl Task {
    pub(super) fn on_barrier(&mut self, ctx: &mut Ctx, k: usize, b: Barrier) {
        let cp = b.cp;
        if cp <= self.last_cp {
            return;
        }
        let n = self.inputs.len();
        let now = ctx.now();
        let mut abandoned = false;
        match &self.align {
            Some(a) if a.cp > cp => return, // a barrier of a checkpoint already given up
            Some(a) if a.cp == cp => {}
            other => {
                // First barrier of a newer checkpoint: an older alignment is abandoned and the
                // channels it blocked flow again.
                abandoned = other.is_some();
                self.align = Some(Alignment { cp, received: vec![false; n], started_us: now });
                self.barrier = Some(b);
            }
        }
        let a = self.align.as_mut().expect("set above");
        if a.received[k] {
            return;
        }
        a.received[k] = true;
        // Alignment started: a barrier on one input of several, the others still to come.
        if n > 1
            && a.received.iter().filter(|r| **r).count() == 1
            && a.received.iter().zip(&self.inputs).any(|(r, i)| !r && !i.ended)
        {
            ctx.probe(Probe::Subtask { phase: ProtocolPhase::BarrierOnSomeInputs, st: self.id.st, cp });
        }
        self.complete_alignment_if_done(ctx);
        if abandoned {
            self.wake(ctx);
        }
    }

    /// Snapshots once every input delivered the barrier or has ended.
    pub(super) fn complete_alignment_if_done(&mut self, ctx: &mut Ctx) {
        let Some(a) = &self.align else { return };
        if a.received.iter().zip(&self.inputs).any(|(r, i)| !r && !i.ended) {
            return;
        }
        let (cp, alignment_us) = (a.cp, ctx.now() - a.started_us);
        self.align = None;
        self.snapshot(ctx, cp, alignment_us);
        self.wake(ctx);
    }

    /// Whether barrier `b` is handled unaligned, ahead of the records queued before it:
    /// unaligned checkpoints on (`execution.checkpointing.unaligned.enabled`), EXACTLY_ONCE,
    /// not a savepoint's barrier (savepoints are always aligned), and, with an
    /// `aligned-checkpoint-timeout`, that long since the barrier left its source (or its
    /// checkpoint already turned unaligned here).
    pub(super) fn overtakes(&self, ctx: &Ctx, b: &Barrier) -> bool {
        let f = &ctx.sc().flink;
        if !f.unaligned || !aligned(ctx) || b.savepoint || !self.all_to_all_inputs || self.phase != Phase::Running {
            return false;
        }
        self.unaligned.as_ref().is_some_and(|u| u.cp == b.cp)
            || ctx.now().saturating_sub(b.at_us) >= f.aligned_checkpoint_timeout_us
    }

    /// An unaligned barrier on input `k`. The first of its checkpoint snapshots the task at
    /// once — the records queued on every input before their barrier become channel state —
    /// and goes downstream; the others close their input's channel state. `queued_before`: the
    /// barrier arrived and every record queued on `k` came before it (else it was taken from
    /// the head of the queue and what is queued came after it).
    pub(super) fn on_priority_barrier(&mut self, ctx: &mut Ctx, k: usize, b: Barrier, queued_before: bool) {
        if let Some(u) = self.unaligned.as_mut().filter(|u| u.cp == b.cp) {
            u.pending[k] = false;
            self.finish_unaligned_if_done(ctx);
            return;
        }
        if b.cp <= self.last_cp
            || self.align.as_ref().is_some_and(|a| a.cp > b.cp)
            || self.unaligned.as_ref().is_some_and(|u| u.cp > b.cp)
        {
            return;
        }
        // An alignment of this checkpoint so far continues unaligned; an older one is abandoned
        // (its channels flow again), as is an older unaligned snapshot.
        let so_far = self.align.take().filter(|a| a.cp == b.cp);
        let mut done = so_far.as_ref().map_or_else(|| vec![false; self.inputs.len()], |a| a.received.clone());
        if queued_before {
            // Every record queued on `k` precedes the barrier: channel state, collected below.
            self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, Some(k));
        } else {
            done[k] = true;
            self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, None);
        }
    }

    /// Turns checkpoint `b` unaligned here: the snapshot now, with channel state per input —
    /// nothing for an input whose barrier came already (`done`: what is queued came after it),
    /// else the records queued before its barrier (the barrier then leaves the queue) or, with
    /// no barrier there yet, every record queued and every one that arrives until it does.
    pub(super) fn start_unaligned(
        &mut self,
        ctx: &mut Ctx,
        b: Barrier,
        aligning_since: Option<u64>,
        done: &[bool],
        k: Option<usize>,
    ) {
        let n = self.inputs.len();
        let mut pending = vec![false; n];
        let mut channel = vec![Vec::new(); n];
        for j in 0..n {
            if done[j] {
                continue;
            }
            let mut closed = Some(j) == k || self.inputs[j].ended;
            let q = &mut self.inputs[j].queue;
            let mut before = Vec::new();
            let mut barrier_at = None;
            for (i, item) in q.iter().enumerate() {
                match item {
                    Item::Record(r) => before.push(*r),
                    Item::Barrier(x) if x.cp == b.cp => {
                        barrier_at = Some(i);
                        break;
                    }
                    Item::Barrier(_) => {}
                    Item::EndOfPartition => {
                        closed = true;
                        break;
                    }
                }
            }
            if let Some(i) = barrier_at {
                q.remove(i);
                closed = true;
            }
            pending[j] = !closed;
            channel[j] = before;
        }
        self.unaligned = Some(UnalignedSnap { cp: b.cp, pending, channel, snap: None });
        self.barrier = Some(b);
        let alignment_us = aligning_since.map_or(0, |s| ctx.now() - s);
        self.snapshot(ctx, b.cp, alignment_us);
        self.finish_unaligned_if_done(ctx);
        self.wake(ctx);
    }

    /// A record or the end of input `k` arrived: while an unaligned snapshot waits for that
    /// input's barrier, the record is channel state too (it is also processed as usual).
    pub(super) fn collect_channel_state(&mut self, ctx: &mut Ctx, k: usize, item: &Item) {
        let Some(u) = self.unaligned.as_mut() else { return };
        if !u.pending[k] {
            return;
        }
        match item {
            Item::Record(r) => u.channel[k].push(*r),
            Item::EndOfPartition => {
                u.pending[k] = false;
                self.finish_unaligned_if_done(ctx);
            }
            Item::Barrier(_) => {}
        }
    }

    /// Every input's channel state is complete: the unaligned snapshot is uploaded.
    pub(super) fn finish_unaligned_if_done(&mut self, ctx: &mut Ctx) {
        if self.unaligned.as_ref().is_none_or(|u| u.pending.iter().any(|p| *p) || u.snap.is_none()) {
            return;
        }
        let Some(UnalignedSnap { cp, channel, snap: Some(mut snap), .. }) = self.unaligned.take() else { return };
        snap.channel_state = channel;
        let before = snap.bytes;
        snap.bytes = snapshot_bytes(&snap, &ctx.graph().spec.operators);
        if let Some(u) = &mut snap.uploaded_bytes {
            *u += snap.bytes - before;
        }
        let Some(pending) = self.snaps.iter_mut().find(|s| s.cp == cp) else { return };
        pending.bytes = snap.bytes;
        pending.uploaded_bytes = snap.uploaded_bytes.unwrap_or(snap.bytes);
        pending.persisted_bytes = snap.channel_state.iter().map(|c| c.len() as u64).sum::<u64>()
            * crate::cluster::msg::BYTES_PER_IN_FLIGHT_RECORD;
        pending.local = ctx.sc().flink.local_recovery.then(|| snap.clone());
        let head_start_us = ctx.now() - pending.taken_at_us;
        let file = FileKey { job: self.job, cp, st: self.id.st };
        ctx.send(HostId::STORAGE, Msg::Upload { id: self.id, cp, file, snapshot: Box::new(snap), head_start_us });
    }

    /// `aligned-checkpoint-timeout` ran out for checkpoint `cp`: if this task is aligning it,
    /// or holds one of its barriers in a queue, it turns unaligned.
    pub(super) fn on_alignment_timeout(&mut self, ctx: &mut Ctx, cp: u64) {
        if cp <= self.last_cp || self.phase != Phase::Running || self.unaligned.as_ref().is_some_and(|u| u.cp >= cp) {
            return;
        }
        let aligning = self.align.as_ref().filter(|a| a.cp == cp).cloned();
        let queued = self.inputs.iter().flat_map(|i| i.queue.iter()).find_map(|x| match x {
            Item::Barrier(b) if b.cp == cp => Some(*b),
            _ => None,
        });
        let b = match (&aligning, queued) {
            (Some(_), _) => self.barrier.filter(|b| b.cp == cp),
            (None, q) => q,
        };
        let Some(b) = b else { return };
        if !self.overtakes(ctx, &b) {
            return;
        }
        let so_far = aligning.inspect(|_| self.align = None);
        let done = so_far.as_ref().map_or_else(|| vec![false; self.inputs.len()], |a| a.received.clone());
        self.start_unaligned(ctx, b, so_far.map(|a| a.started_us), &done, None);
    }

    /// The task's state as a snapshot holds it: read positions, keyed state, committables.
    pub(super) fn capture_state(&self, ctx: &Ctx) -> SubtaskSnapshot {
        let mut snap = SubtaskSnapshot::default();
        if let Some(src) = &self.source {
            snap.source_positions = src.cursors.clone();
            let log = &ctx.logs()[src.log];
            snap.source_at_end = src.cursors.iter().all(|&(p, off)| off >= log.len(p));
        }
        if let Some((op, state)) = &self.keyed {
            snap.keyed.push((*op, state.to_map()));
        }
        for sink in &self.sinks {
            snap.committables.extend(sink.committables.iter().copied());
        }
        snap
    }

    /// Synchronous snapshot of the whole task, barrier downstream, then the asynchronous upload
    /// and the sinks' pre-commit; the acknowledgement goes out when both are done.
    pub(super) fn snapshot(&mut self, ctx: &mut Ctx, cp: u64, alignment_us: u64) {
        if cp <= self.last_cp {
            return;
        }
        self.last_cp = cp;
        let index = ctx.graph().subtasks[self.id.st.0 as usize].index;
        let id = self.id;
        let mut snap = self.capture_state(ctx);
        if let Some(src) = &mut self.source
            && snap.source_at_end
            && src.end_snapshot_cp.is_none()
        {
            src.end_snapshot_cp = Some(cp);
        }
        let mut prepares = 0;
        // A flush of an earlier checkpoint the store has not confirmed yet (that checkpoint may
        // have been aborted meanwhile): in Flink the task thread is still blocked in it, so no
        // later checkpoint is acknowledged before those records are written.
        let earlier_flush_pending = self.snaps.iter().any(|s| s.prepares > 0);
        for sink in &mut self.sinks {
            let records = std::mem::take(&mut sink.buffer);
            match sink.semantic {
                SinkSemantic::Append | SinkSemantic::Upsert => {
                    // SinkWriterOperator.prepareSnapshotPreBarrier → flush(false): an
                    // at-least-once writer's flush waits until the store has every record sent
                    // so far (KafkaWriter: producer.flush()), so the checkpoint is acknowledged
                    // only once what precedes its barrier is written. The link to the store is
                    // FIFO, so this flush is confirmed only after every earlier one.
                    if !records.is_empty() || sink.unconfirmed || earlier_flush_pending {
                        ctx.send(HostId::STORE, Msg::Append { sink: sink.op, records, ack: Some(id), cp });
                        sink.unconfirmed = false;
                        prepares += 1;
                    }
                }
                SinkSemantic::TwoPhaseCommit => {
                    // Pre-commit: flush and prepare the open transaction; it becomes a
                    // committable of this checkpoint.
                    let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint };
                    if sink.open_has_records {
                        let records = if ctx.bugs().no_flush_on_pre_commit { Vec::new() } else { records };
                        ctx.send(HostId::STORE, Msg::Prepare { id, txn, epoch: sink.epoch, records, cp });
                        prepares += 1;
                        sink.committables.push(txn);
                        if ctx.bugs().commit_on_snapshot {
                            ctx.send(
                                HostId::STORE,
                                Msg::Commit { id, txn, epoch: sink.epoch, recovered: false, ack: false },
                            );
                        }
                    }
                }
            }
            sink.open_has_records = false;
            sink.next_checkpoint = cp + 1;
        }
        snap.committables = self.sinks.iter().flat_map(|k| k.committables.iter().copied()).collect();
        snap.bytes = snapshot_bytes(&snap, &ctx.graph().spec.operators);
        // A savepoint is self-contained: it uploads everything and is no base for later ones.
        let savepoint = self.barrier.is_some_and(|b| b.cp == cp && b.savepoint);
        if let (Some(c), Some((op, _)), false) = (&mut self.changes, &self.keyed, savepoint) {
            // The keys changed since the last completed checkpoint; everything else is in
            // files that checkpoint already has.
            let mut changed = c.current.clone();
            for (_, keys) in &c.unconfirmed {
                changed.extend(keys.iter().copied());
            }
            let per_key = ctx.graph().spec.operators[op.0 as usize].state_bytes_per_key;
            let full_keyed = snap.keyed.iter().map(|(_, m)| m.len() as u64).sum::<u64>().saturating_mul(per_key);
            let increment = (changed.len() as u64).saturating_mul(per_key);
            snap.uploaded_bytes = Some(snap.bytes.saturating_sub(full_keyed).saturating_add(increment));
            let seen = std::mem::take(&mut c.current);
            c.unconfirmed.push((cp, seen));
        }
        let bytes = snap.bytes;
        let uploaded_bytes = snap.uploaded_bytes.unwrap_or(bytes);
        let barrier = self.barrier.filter(|b| b.cp == cp).unwrap_or(Barrier { cp, at_us: ctx.now(), savepoint: false });
        for k in 0..self.outputs.len() {
            self.send_item(ctx, k, Item::Barrier(barrier));
        }
        // An unaligned snapshot is uploaded once its channel state is complete.
        let local = match self.unaligned.as_mut().filter(|u| u.cp == cp) {
            Some(u) => {
                u.snap = Some(snap);
                None
            }
            None => {
                let local = ctx.sc().flink.local_recovery.then(|| snap.clone());
                let file = FileKey { job: self.job, cp, st: id.st };
                ctx.send(HostId::STORAGE, Msg::Upload { id, cp, file, snapshot: Box::new(snap), head_start_us: 0 });
                local
            }
        };
        self.snaps.push(PendingSnap {
            cp,
            upload_done: false,
            prepares,
            bytes,
            alignment_us,
            taken_at_us: ctx.now(),
            records_in_at: self.records_in,
            local,
            persisted_bytes: 0,
            uploaded_bytes,
        });
        ctx.probe(Probe::Subtask { phase: ProtocolPhase::SnapshotTaken, st: id.st, cp });
    }

    /// The coordinator's trigger: a source snapshots and emits the barrier at once; a task whose
    /// upstream finished does so once the last EndOfPartition (after all data) has arrived. A
    /// task past its end (its final checkpoint done, EndOfPartition sent: the JobMaster had not
    /// heard FINISHED yet when it triggered) or not yet running declines, as
    /// `Task.triggerCheckpointBarrier` does (mailbox closed: CHECKPOINT_DECLINED_TASK_CLOSING;
    /// not RUNNING: CHECKPOINT_DECLINED_TASK_NOT_READY). It cannot stand in with its final
    /// state: the tasks it fed got their EndOfPartition before any barrier of this checkpoint
    /// and were not triggered themselves, so they would never acknowledge it.
    pub(super) fn on_trigger(&mut self, ctx: &mut Ctx, cp: u64, stop: bool) {
        if cp <= self.last_cp {
            return;
        }
        match self.phase {
            Phase::Running => {
                if self.inputs.iter().all(|i| i.ended) {
                    self.barrier = Some(Barrier { cp, at_us: ctx.now(), savepoint: stop });
                    self.snapshot(ctx, cp, 0);
                    if stop && let Some(src) = self.source.as_mut() {
                        // Stop-with-savepoint: the source stops after the savepoint's barrier
                        // and finishes once the savepoint completes (its end, as at end of input).
                        src.stopped_at = Some(cp);
                        src.end_snapshot_cp.get_or_insert(cp);
                    }
                } else {
                    self.deferred_trigger = Some((cp, stop));
                }
            }
            Phase::Deploying | Phase::Initializing | Phase::Finished | Phase::Done => {
                ctx.send(HostId::JOBMANAGER, Msg::DeclineCheckpoint { id: self.id, cp, async_failed: false });
            }
        }
    }

    /// Installs the subtask's share of a checkpoint: source offsets, keyed state by key group,
    /// sink committables.
    pub(super) fn install(&mut self, ctx: &mut Ctx, cp: u64, snapshots: &[SubtaskSnapshot]) {
        let graph = ctx.graph();
        let st = self.id.st;
        let index = graph.subtasks[st.0 as usize].index;
        let p = graph.task_of(st).parallelism;
        let own = snapshots.first();
        if self.changes.is_some() {
            // The restored checkpoint's files are the base of the next increment.
            self.changes = Some(Changes::default());
        }
        if let Some((op, state)) = &mut self.keyed
            && !ctx.bugs().restore_empty_state
        {
            // StateAssignmentOperation: every key whose key group this subtask owns.
            for s in snapshots {
                for (o, m) in &s.keyed {
                    if o == op {
                        state.extend(
                            m.iter().filter(|(k, _)| {
                                subtask_for_key(**k, graph.max_parallelism[op.0 as usize], p) == index
                            }),
                        );
                    }
                }
            }
        }
        if let Some(src) = &mut self.source {
            let planted = ctx.planted_rewind_positions(st);
            let from = planted.as_deref().or(own.map(|s| s.source_positions.as_slice())).unwrap_or(&[]);
            for c in &mut src.cursors {
                if let Some(&(_, off)) = from.iter().find(|(p, _)| *p == c.0) {
                    c.1 = off;
                }
            }
            let log = &ctx.logs()[src.log];
            src.refresh_all(log);
        }
        if let Some(own) = own {
            // Unaligned: the records that were in flight into this subtask are taken first,
            // before anything its producers send now.
            let channel_state = if ctx.bugs().drop_channel_state { &[][..] } else { &own.channel_state[..] };
            for (k, records) in channel_state.iter().enumerate() {
                let Some(input) = self.inputs.get_mut(k) else { continue };
                for r in records.iter().rev() {
                    input.queue.push_front(Item::Record(*r));
                }
                input.recovered += records.len() as u32;
            }
            for sink in &mut self.sinks {
                sink.committables = own.committables.iter().copied().filter(|t| t.sink == sink.op).collect();
                sink.next_checkpoint = cp + 1;
            }
        }
    }
}
