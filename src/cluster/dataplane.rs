//! The data plane: sources reading the log, records through chained operators, channels with
//! latency and bounded capacity (credit-based back-pressure), barriers and their alignment,
//! snapshots (synchronous part, then an asynchronous upload), and the sinks' transactions.

use super::engine::{Alignment, Event, Item, World};
use super::external::{StoreResult, SubtaskSnapshot, TxnId};
use super::state::ExecutionState;
use crate::job::graph::{ChannelId, SubtaskId};
use crate::job::keygroup::subtask_for_key;
use crate::job::record::{Record, apply_keyed, apply_stateless};
use crate::job::spec::{EdgeKind, OperatorId, OperatorKind, SinkSemantic};

impl World<'_> {
    fn is_active(&self, st: SubtaskId, attempt: u32) -> bool {
        let s = &self.subtasks[st.0 as usize];
        s.attempt == attempt && s.live && s.state == ExecutionState::Running
    }

    /// Can the subtask emit one more record on every output channel?
    fn outputs_available(&mut self, st: SubtaskId) -> bool {
        let cap = self.sc.cluster.channel_capacity as usize;
        let mut ok = true;
        for &ch in &self.out_channels[st.0 as usize] {
            let c = &mut self.channels[ch.0 as usize];
            if c.queue.len() >= cap {
                c.producer_waiting = true;
                ok = false;
            }
        }
        ok
    }

    pub fn schedule_emit(&mut self, st: SubtaskId, at_us: u64) {
        let s = &mut self.subtasks[st.0 as usize];
        if !s.emit_scheduled {
            s.emit_scheduled = true;
            let attempt = s.attempt;
            self.q.schedule(at_us, Event::SourceEmit { st, attempt });
        }
    }

    pub fn on_source_emit(&mut self, st: SubtaskId, attempt: u32) {
        if self.subtasks[st.0 as usize].attempt != attempt {
            return;
        }
        self.subtasks[st.0 as usize].emit_scheduled = false;
        if !self.is_active(st, attempt) || self.subtasks[st.0 as usize].finishing {
            return;
        }
        if !self.outputs_available(st) {
            self.subtasks[st.0 as usize].blocked_output = true;
            return;
        }
        let now = self.now();
        let src = self.subtasks[st.0 as usize].source.as_ref().expect("SourceEmit only for sources");
        let log = &self.logs[src.log];
        let n = src.cursors.len();
        // Round robin over this reader's partitions: the first one with a record already appended.
        let mut pick = None;
        let mut next_append = u64::MAX;
        for k in 0..n {
            let i = (src.rr + k) % n;
            let (p, off) = src.cursors[i];
            if off >= log.len(p) {
                continue;
            }
            let t = log.append_time_us(p, off);
            if t <= now {
                pick = Some(i);
                break;
            }
            next_append = next_append.min(t);
        }
        let Some(i) = pick else {
            if next_append != u64::MAX {
                self.schedule_emit(st, next_append);
            }
            // Otherwise the whole log is read: the source waits for a checkpoint to finish.
            return;
        };
        let (p, off) = src.cursors[i];
        let rec = log.record(p, off);
        let catch_up = self.source_catch_up_us(st);
        let s = &mut self.subtasks[st.0 as usize];
        let src = s.source.as_mut().expect("checked above");
        src.cursors[i].1 = off + 1;
        src.rr = (i + 1) % n;
        if let Some(h) = s.high_water.iter_mut().find(|h| h.0 == p) {
            h.1 = h.1.max(off + 1);
        }
        self.records_read += 1;
        let head = self.graph.task_of(st).operators[0];
        if self.has_record_fault[head.0 as usize] && self.record_fault_fires(st, head, &rec) {
            return;
        }
        self.emit(st, head, rec);
        if self.subtasks[st.0 as usize].live {
            // Next read: not before the catch-up pace allows, nor before a record is there.
            let src = self.subtasks[st.0 as usize].source.as_ref().expect("checked above");
            let log = &self.logs[src.log];
            let next_append = src
                .cursors
                .iter()
                .filter(|&&(p, off)| off < log.len(p))
                .map(|&(p, off)| log.append_time_us(p, off))
                .min();
            if let Some(t) = next_append {
                self.schedule_emit(st, t.max(now + catch_up));
            }
        }
    }

    fn source_catch_up_us(&self, st: SubtaskId) -> u64 {
        let head = self.graph.task_of(st).operators[0];
        match &self.graph.spec.operators[head.0 as usize].kind {
            OperatorKind::Source(s) => (1_000_000 / s.catch_up_rate_per_s.max(1)).max(1),
            _ => 1,
        }
    }

    /// Operator `op` of `st` produced `rec`: hand it to chained successors and network edges.
    fn emit(&mut self, st: SubtaskId, op: OperatorId, rec: Record) {
        let o = op.0 as usize;
        for k in 0..self.graph.outputs[o].chained.len() {
            let next = self.graph.outputs[o].chained[k];
            self.process(st, next, rec);
            if !self.subtasks[st.0 as usize].live {
                return;
            }
        }
        let index = self.graph.subtasks[st.0 as usize].index as usize;
        for k in 0..self.graph.outputs[o].network.len() {
            let e = self.graph.outputs[o].network[k] as usize;
            let edge = &self.graph.edges[e];
            let targets = &edge.channels[index];
            let ch = match edge.kind {
                EdgeKind::Forward => targets[0],
                EdgeKind::Hash => {
                    let pd = targets.len() as u32;
                    targets[subtask_for_key(rec.key, self.graph.max_parallelism, pd) as usize]
                }
                EdgeKind::Rebalance => {
                    let rr = &mut self.subtasks[st.0 as usize].rr[e];
                    let ch = targets[*rr as usize % targets.len()];
                    *rr = rr.wrapping_add(1);
                    ch
                }
            };
            self.send(ch, Item::Record(rec));
        }
    }

    /// Runs operator `op` of `st` on `rec`.
    fn process(&mut self, st: SubtaskId, op: OperatorId, rec: Record) {
        if self.has_record_fault[op.0 as usize] && self.record_fault_fires(st, op, &rec) {
            return;
        }
        let kind = &self.graph.spec.operators[op.0 as usize].kind;
        match kind {
            OperatorKind::Source(_) => {}
            OperatorKind::Map { .. } | OperatorKind::Filter { .. } => {
                if let Some(out) = apply_stateless(kind, rec) {
                    self.emit(st, op, out);
                }
            }
            OperatorKind::KeyedCount | OperatorKind::KeyedSum => {
                let is_count = matches!(kind, OperatorKind::KeyedCount);
                let (_, state) = self.subtasks[st.0 as usize].keyed.as_mut().expect("keyed operators have keyed state");
                let v = state.entry(rec.key).or_insert(0);
                *v = if is_count {
                    apply_keyed(&OperatorKind::KeyedCount, *v, &rec)
                } else {
                    apply_keyed(&OperatorKind::KeyedSum, *v, &rec)
                };
                let out = Record { value: *v, ..rec };
                self.emit(st, op, out);
            }
            OperatorKind::Sink(_) => self.sink_write(st, op, rec),
        }
    }

    fn sink_write(&mut self, st: SubtaskId, op: OperatorId, rec: Record) {
        let now = self.now();
        let index = self.graph.subtasks[st.0 as usize].index;
        let s = &mut self.subtasks[st.0 as usize];
        let attempt = s.attempt;
        let sink = s.sinks.iter_mut().find(|k| k.op == op).expect("sink operator has a sink runtime");
        match sink.semantic {
            SinkSemantic::Append => self.store.append(op, rec, now),
            SinkSemantic::TwoPhaseCommit => {
                sink.open_has_records = true;
                let txn = TxnId { sink: op, index, checkpoint: sink.next_checkpoint, attempt };
                if self.store.write(txn, rec) == StoreResult::Fenced {
                    self.violation(format!("fenced write from {}", self.graph.subtask_name(st)));
                }
            }
        }
    }

    /// Puts an item into a channel; arrival respects latency and FIFO order.
    pub fn send(&mut self, ch: ChannelId, item: Item) {
        let now = self.now();
        let meta = self.graph.channels[ch.0 as usize];
        let same_process = self.subtasks[meta.from.0 as usize].executor == self.subtasks[meta.to.0 as usize].executor;
        let latency = if same_process {
            0
        } else {
            self.sc.cluster.network_latency_us + self.rng_net.below_inclusive(self.sc.cluster.network_jitter_us)
        };
        let c = &mut self.channels[ch.0 as usize];
        let arrival = (now + latency).max(c.last_arrival_us);
        c.last_arrival_us = arrival;
        c.queue.push_back((arrival, item));
        self.schedule_delivery(ch);
    }

    /// Schedules the next delivery on a channel if the consumer can take its head item.
    pub fn schedule_delivery(&mut self, ch: ChannelId) {
        let meta = self.graph.channels[ch.0 as usize];
        let consumer = &self.subtasks[meta.to.0 as usize];
        if !consumer.live || consumer.state != ExecutionState::Running || consumer.blocked_output {
            return;
        }
        if self.aligned
            && let Some(a) = &consumer.align
            && a.received[meta.input_index as usize]
        {
            return;
        }
        let c = &mut self.channels[ch.0 as usize];
        if c.deliver_scheduled {
            return;
        }
        let Some(&(arrival, _)) = c.queue.front() else { return };
        c.deliver_scheduled = true;
        let epoch = c.epoch;
        let at = arrival.max(self.q.now_us());
        self.q.schedule(at, Event::Deliver { ch, epoch });
    }

    pub fn on_deliver(&mut self, ch: ChannelId, epoch: u32) {
        let c = &mut self.channels[ch.0 as usize];
        if c.epoch != epoch {
            return;
        }
        c.deliver_scheduled = false;
        let meta = self.graph.channels[ch.0 as usize];
        let to = meta.to;
        let consumer = &self.subtasks[to.0 as usize];
        if !consumer.live || consumer.state != ExecutionState::Running || consumer.blocked_output {
            return;
        }
        if self.aligned && consumer.align.as_ref().is_some_and(|a| a.received[meta.input_index as usize]) {
            return;
        }
        // Processing a record may emit one record per output channel: look before taking it.
        if !self.outputs_available(to) {
            self.subtasks[to.0 as usize].blocked_output = true;
            return;
        }
        let c = &mut self.channels[ch.0 as usize];
        let Some((_, item)) = c.queue.pop_front() else { return };
        if std::mem::take(&mut c.producer_waiting) {
            let from = meta.from;
            let attempt = self.subtasks[from.0 as usize].attempt;
            let delay = if self.subtasks[from.0 as usize].executor == self.subtasks[to.0 as usize].executor {
                0
            } else {
                self.sc.cluster.network_latency_us
            };
            self.q.schedule_in(delay, Event::Resume { st: from, attempt });
        }
        match item {
            Item::Record(rec) => {
                let head = self.graph.task_of(to).operators[0];
                self.process(to, head, rec);
            }
            Item::Barrier(cp) => self.on_barrier(to, meta.input_index, cp),
            Item::EndOfPartition => self.on_end_of_partition(to, meta.input_index),
        }
        self.schedule_delivery(ch);
    }

    /// Credit came back: a blocked producer looks at its outputs again.
    pub fn on_resume(&mut self, st: SubtaskId, attempt: u32) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || !s.live || !s.blocked_output {
            return;
        }
        if !self.outputs_available(st) {
            return;
        }
        self.subtasks[st.0 as usize].blocked_output = false;
        self.wake(st);
    }

    /// Lets a running subtask make progress: sources emit, others pull from their inputs.
    pub fn wake(&mut self, st: SubtaskId) {
        if self.subtasks[st.0 as usize].source.is_some() {
            let now = self.now();
            self.schedule_emit(st, now);
        }
        for k in 0..self.graph.subtasks[st.0 as usize].inputs.len() {
            let ch = self.graph.subtasks[st.0 as usize].inputs[k];
            self.schedule_delivery(ch);
        }
    }

    fn on_barrier(&mut self, st: SubtaskId, input: u32, cp: u64) {
        let n = self.graph.subtasks[st.0 as usize].inputs.len();
        let now = self.now();
        let s = &mut self.subtasks[st.0 as usize];
        let mut abandoned = false;
        match &s.align {
            Some(a) if a.cp > cp => return, // a barrier of a checkpoint already given up
            Some(a) if a.cp == cp => {}
            other => {
                // First barrier of a newer checkpoint: an older alignment is abandoned and the
                // channels it blocked flow again.
                abandoned = other.is_some();
                s.align = Some(Alignment { cp, received: vec![false; n], started_us: now });
            }
        }
        let a = s.align.as_mut().expect("set above");
        if a.received[input as usize] {
            return;
        }
        a.received[input as usize] = true;
        self.complete_alignment_if_done(st);
        if abandoned {
            self.wake(st);
        }
    }

    /// Snapshots once every input delivered the barrier or has ended.
    fn complete_alignment_if_done(&mut self, st: SubtaskId) {
        let now = self.now();
        let s = &mut self.subtasks[st.0 as usize];
        let Some(a) = &s.align else { return };
        if a.received.iter().zip(&s.ended).any(|(r, e)| !r && !e) {
            return;
        }
        let (cp, alignment_us) = (a.cp, now - a.started_us);
        s.align = None;
        self.snapshot(st, cp, alignment_us);
        self.wake(st);
    }

    /// The coordinator's trigger: a source snapshots and emits the barrier at once; a task whose
    /// upstream finished does so once the last EndOfPartition (after all data) has arrived.
    pub fn on_trigger(&mut self, st: SubtaskId, attempt: u32, cp: u64) {
        if !self.is_active(st, attempt) {
            return;
        }
        if self.subtasks[st.0 as usize].ended.iter().all(|e| *e) {
            self.snapshot(st, cp, 0);
        } else {
            self.subtasks[st.0 as usize].deferred_trigger = Some(cp);
        }
    }

    /// The task's state as a snapshot holds it: read positions, keyed state, committables.
    fn capture_state(&self, st: SubtaskId) -> SubtaskSnapshot {
        let s = &self.subtasks[st.0 as usize];
        let mut snap = SubtaskSnapshot::default();
        if let Some(src) = &s.source {
            snap.source_positions = src.cursors.clone();
            let log = &self.logs[src.log];
            snap.source_at_end = src.cursors.iter().all(|&(p, off)| off >= log.len(p));
        }
        if let Some((op, state)) = &s.keyed {
            snap.keyed.push((*op, state.clone()));
        }
        for sink in &s.sinks {
            snap.committables.extend(sink.committables.iter().copied());
        }
        snap
    }

    /// Synchronous snapshot of the whole task, barrier downstream, then the asynchronous upload.
    fn snapshot(&mut self, st: SubtaskId, cp: u64, alignment_us: u64) {
        let now = self.now();
        let index = self.graph.subtasks[st.0 as usize].index;
        let commit_on_snapshot = self.bugs.commit_on_snapshot;
        let mut snap = self.capture_state(st);
        let s = &mut self.subtasks[st.0 as usize];
        let attempt = s.attempt;
        if let Some(src) = &mut s.source
            && snap.source_at_end
            && src.end_snapshot_cp.is_none()
        {
            src.end_snapshot_cp = Some(cp);
        }
        let mut commits = Vec::new();
        for sink in &mut s.sinks {
            if sink.semantic != SinkSemantic::TwoPhaseCommit {
                continue;
            }
            // Pre-commit: the open transaction becomes a committable of this checkpoint.
            let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint, attempt };
            if sink.open_has_records && self.store.prepare(txn) {
                sink.committables.push(txn);
                if commit_on_snapshot {
                    commits.push(txn);
                }
            }
            sink.open_has_records = false;
            sink.next_checkpoint = cp + 1;
        }
        snap.committables = s.sinks.iter().flat_map(|k| k.committables.iter().copied()).collect();
        snap.bytes = Self::snapshot_bytes(&snap);
        let bytes = snap.bytes;
        s.uploading.push((cp, snap));
        for txn in commits {
            self.store.commit(txn, attempt, now);
        }
        if let Some(p) = &mut self.pending
            && p.id == cp
        {
            p.max_alignment_us = p.max_alignment_us.max(alignment_us);
        }
        for k in 0..self.out_channels[st.0 as usize].len() {
            let ch = self.out_channels[st.0 as usize][k];
            self.send(ch, Item::Barrier(cp));
        }
        let c = &self.sc.cluster;
        let upload_us = c.storage_latency_us + bytes.saturating_mul(1_000_000) / c.storage_bytes_per_s.max(1);
        self.q.schedule_in(upload_us, Event::UploadDone { st, attempt, cp });
    }

    pub fn on_upload_done(&mut self, st: SubtaskId, attempt: u32, cp: u64) {
        let s = &mut self.subtasks[st.0 as usize];
        if s.attempt != attempt || !s.live {
            return;
        }
        let Some(pos) = s.uploading.iter().position(|(c, _)| *c == cp) else { return };
        let (_, snap) = s.uploading.remove(pos);
        let bytes = snap.bytes;
        if self.sc.flink.local_recovery
            && let Some(e) = s.executor
        {
            self.executors[e as usize].local_copies.insert(st, (cp, bytes));
        }
        self.uploaded.insert((cp, st.0), snap);
        self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::AckArrived { st, cp });
    }

    /// notifyCheckpointComplete: sinks commit, finished sources end their partitions.
    pub fn on_notify_complete(&mut self, st: SubtaskId, attempt: u32, cp: u64) {
        let s = &self.subtasks[st.0 as usize];
        if s.attempt != attempt || !s.live || s.state != ExecutionState::Running {
            return;
        }
        self.commit_up_to(st, cp, false);
        let s = &self.subtasks[st.0 as usize];
        let source_done = s.source.as_ref().and_then(|src| src.end_snapshot_cp).is_some_and(|end| end <= cp);
        if source_done || (s.finishing && s.sinks.iter().all(|k| k.committables.is_empty())) {
            self.finish(st);
        }
    }

    /// Commits every committable of the subtask's sinks pre-committed at or before `cp`.
    pub fn commit_up_to(&mut self, st: SubtaskId, cp: u64, recovered: bool) {
        let now = self.now();
        let attempt = self.subtasks[st.0 as usize].attempt;
        for k in 0..self.subtasks[st.0 as usize].sinks.len() {
            let sink = &mut self.subtasks[st.0 as usize].sinks[k];
            let (ready, rest): (Vec<TxnId>, Vec<TxnId>) = sink.committables.iter().partition(|t| t.checkpoint <= cp);
            sink.committables = rest;
            for txn in ready {
                let (result, records) = self.store.commit(txn, attempt, now);
                if result == StoreResult::Fenced {
                    self.violation(format!("fenced commit from {}", self.graph.subtask_name(st)));
                }
                if records > 0 {
                    self.note(crate::trace::Note::SinkCommitted { st, checkpoint: txn.checkpoint, records, recovered });
                }
            }
        }
    }

    /// The subtask has no more input: sources end their partitions, others wait for all inputs.
    /// Its state at the end stands in for it in later checkpoints; a checkpoint it has not
    /// acknowledged yet gets its last snapshot (or this final state) now.
    pub fn finish(&mut self, st: SubtaskId) {
        for k in 0..self.out_channels[st.0 as usize].len() {
            let ch = self.out_channels[st.0 as usize][k];
            self.send(ch, Item::EndOfPartition);
        }
        let mut last = self.capture_state(st);
        last.bytes = Self::snapshot_bytes(&last);
        if let Some(p) = &self.pending
            && !p.acked[st.0 as usize]
            && !self.uploaded.contains_key(&(p.id, st.0))
        {
            let cp = p.id;
            let s = &mut self.subtasks[st.0 as usize];
            let snap = match s.uploading.iter().position(|(c, _)| *c == cp) {
                Some(i) => s.uploading.remove(i).1,
                None => last.clone(),
            };
            self.uploaded.insert((cp, st.0), snap);
            self.q.schedule_in(self.sc.cluster.rpc_latency_us, Event::AckArrived { st, cp });
        }
        self.final_snapshots[st.0 as usize] = Some(last);
        self.set_state(st, ExecutionState::Finished);
        self.subtasks[st.0 as usize].live = false;
        self.check_job_finished();
    }

    fn on_end_of_partition(&mut self, st: SubtaskId, input: u32) {
        let checkpointing = self.sc.flink.checkpoint_interval_us.is_some();
        let now = self.now();
        let index = self.graph.subtasks[st.0 as usize].index;
        self.subtasks[st.0 as usize].ended[input as usize] = true;
        self.complete_alignment_if_done(st);
        let s = &mut self.subtasks[st.0 as usize];
        if !s.ended.iter().all(|e| *e) {
            return;
        }
        if let Some(cp) = s.deferred_trigger.take()
            && self.pending.as_ref().is_some_and(|p| p.id == cp)
        {
            self.snapshot(st, cp, 0);
        }
        let s = &mut self.subtasks[st.0 as usize];
        if !checkpointing {
            // Without checkpoints the committer commits what is left at end of input.
            let attempt = s.attempt;
            let mut txns = Vec::new();
            for sink in &mut s.sinks {
                let txn = TxnId { sink: sink.op, index, checkpoint: sink.next_checkpoint, attempt };
                if sink.open_has_records && self.store.prepare(txn) {
                    txns.push(txn);
                }
                sink.open_has_records = false;
            }
            for txn in txns {
                self.store.commit(txn, attempt, now);
            }
        }
        let s = &mut self.subtasks[st.0 as usize];
        if s.sinks.iter().all(|k| k.committables.is_empty() && !k.open_has_records) {
            self.finish(st);
        } else {
            s.finishing = true;
        }
    }

    /// Empties every channel touching `st` (its attempt is gone; peers restart with it).
    pub fn reset_channels_of(&mut self, st: SubtaskId) {
        let inputs = self.graph.subtasks[st.0 as usize].inputs.len();
        for k in 0..inputs + self.out_channels[st.0 as usize].len() {
            let ch = if k < inputs {
                self.graph.subtasks[st.0 as usize].inputs[k]
            } else {
                self.out_channels[st.0 as usize][k - inputs]
            };
            let c = &mut self.channels[ch.0 as usize];
            c.queue.clear();
            c.epoch += 1;
            c.deliver_scheduled = false;
            c.producer_waiting = false;
            c.last_arrival_us = 0;
        }
    }

    /// Aborts the alignment of an aborted checkpoint so its blocked channels flow again.
    pub fn abort_alignments(&mut self, cp: u64) {
        for i in 0..self.subtasks.len() {
            if self.subtasks[i].align.as_ref().is_some_and(|a| a.cp == cp) {
                self.subtasks[i].align = None;
                self.subtasks[i].uploading.retain(|(c, _)| *c != cp);
                if self.subtasks[i].live {
                    self.wake(SubtaskId(i as u32));
                }
            }
        }
    }
}
