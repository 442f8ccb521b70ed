//! The engine: one `World` holding the whole simulated cluster, one `Event` enum, one loop that
//! pops the next event and dispatches it. The data plane (records, channels, barriers) lives in
//! `dataplane.rs`, the JobManager (scheduling, failover, heartbeats, checkpoint coordinator) in
//! `jobmaster.rs`; both are `impl World` blocks over the state defined here.
//!
//! Invariants: the loop is the only place that advances time; every processed event is folded
//! into the trace hash; nothing here reads a clock, does I/O or iterates a hash map.

use super::bugs::PlantedBugs;
use super::config::CheckpointingMode;
use super::external::{CompletedCheckpoint, SubtaskSnapshot, TxnId, TxnStore};
use super::restart::RestartBackoff;
use super::state::{ExecutionState, JobStatus};
use crate::fault::{FaultAction, FaultTrigger};
use crate::job::graph::{ChannelId, JobGraph, SubtaskId};
use crate::job::record::{Record, SourceLog};
use crate::job::spec::{OperatorId, OperatorKind, SinkSemantic};
use crate::scenario::Scenario;
use crate::sim::{EventQueue, Rng, Stream, TimeUs, TraceHasher};
use crate::trace::{FailureCause, Note, TraceEntry};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};

/// Everything that can happen. Attempt numbers guard events of attempts that have since been
/// cancelled; channel epochs guard deliveries into channels that have since been reset.
#[derive(Clone, Copy, Debug, Hash)]
pub enum Event {
    Fault {
        index: u32,
    },
    SourceEmit {
        st: SubtaskId,
        attempt: u32,
    },
    Deliver {
        ch: ChannelId,
        epoch: u32,
    },
    /// A back-pressured producer got credit back (or should look again).
    Resume {
        st: SubtaskId,
        attempt: u32,
    },
    DeployArrived {
        st: SubtaskId,
        attempt: u32,
    },
    DeployRpcFailed {
        st: SubtaskId,
        attempt: u32,
        host: u32,
    },
    Initializing {
        st: SubtaskId,
        attempt: u32,
    },
    Restored {
        st: SubtaskId,
        attempt: u32,
    },
    TaskFailedLocal {
        st: SubtaskId,
        attempt: u32,
        cause: FailureCause,
    },
    FailureReported {
        st: SubtaskId,
        attempt: u32,
        cause: FailureCause,
        failed_at_us: TimeUs,
    },
    CancelDone {
        st: SubtaskId,
        attempt: u32,
    },
    RestartTimer {
        failover: u32,
    },
    CheckpointTick,
    Trigger {
        st: SubtaskId,
        attempt: u32,
        cp: u64,
    },
    UploadDone {
        st: SubtaskId,
        attempt: u32,
        cp: u64,
    },
    AckArrived {
        st: SubtaskId,
        cp: u64,
    },
    /// The coordinator's timeout check: at most one is pending at a time (see
    /// `World::expiry_check_at`); it aborts the pending checkpoint if its deadline has passed.
    CheckpointExpired,
    NotifyComplete {
        st: SubtaskId,
        attempt: u32,
        cp: u64,
    },
    HeartbeatTick,
    HeartbeatAnswer {
        executor: u32,
        ok: bool,
    },
    /// A heartbeat timeout check of one TaskManager: at most one pending per TaskManager; fires
    /// at the earliest possible timeout and looks at the last answer.
    HeartbeatTimeout {
        executor: u32,
    },
    ExecutorStarted {
        executor: u32,
    },
    SlotRequestTimeout {
        group: u32,
        generation: u64,
    },
    RunEnd,
}

/// What travels in a channel.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    Record(Record),
    Barrier(u64),
    EndOfPartition,
}

#[derive(Debug, Default)]
pub struct ChannelRt {
    pub queue: VecDeque<(TimeUs, Item)>,
    pub epoch: u32,
    pub deliver_scheduled: bool,
    /// The producer is back-pressured on this channel and waits for credit.
    pub producer_waiting: bool,
    pub last_arrival_us: TimeUs,
}

/// One TaskManager process (a TaskExecutor with its own ResourceID). A restarted TaskManager is
/// a new executor on the same host.
#[derive(Debug)]
pub struct Executor {
    pub host: u32,
    pub alive: bool,
    /// The JobManager's view: registered and its slots usable.
    pub registered: bool,
    /// Slot → execution slot sharing group using it.
    pub slots: Vec<Option<u32>>,
    pub hb_failures: u32,
    /// When the last heartbeat answer arrived (or the TaskManager registered).
    pub hb_last_ok_us: u64,
    /// Local recovery copies: subtask → (checkpoint, bytes).
    pub local_copies: BTreeMap<SubtaskId, (u64, u64)>,
    /// Started (scenario restart or active resource manager) and not registered yet.
    pub starting: bool,
}

#[derive(Debug)]
pub struct Alignment {
    pub cp: u64,
    pub received: Vec<bool>,
    pub started_us: TimeUs,
}

#[derive(Debug)]
pub struct SourceRt {
    pub log: usize,
    /// (partition, next offset to read).
    pub cursors: Vec<(u32, u64)>,
    pub rr: usize,
    /// Checkpoint taken after the whole log was read; the source finishes when it completes.
    pub end_snapshot_cp: Option<u64>,
}

#[derive(Debug)]
pub struct SinkRt {
    pub op: OperatorId,
    pub semantic: SinkSemantic,
    /// The checkpoint the open transaction will be pre-committed at.
    pub next_checkpoint: u64,
    pub open_has_records: bool,
    pub committables: Vec<TxnId>,
}

/// A subtask (ExecutionVertex) with its current attempt.
#[derive(Debug)]
pub struct SubtaskRt {
    pub attempt: u32,
    pub state: ExecutionState,
    /// Executor of the current attempt, once it has a slot.
    pub executor: Option<u32>,
    /// The attempt's code runs on a live process: only then do its events act.
    pub live: bool,
    pub failure_sent: bool,
    pub restore_from: Option<u64>,
    pub created_by_failover: Option<usize>,
    pub blocked_output: bool,
    pub emit_scheduled: bool,
    pub align: Option<Alignment>,
    /// Inputs that delivered EndOfPartition: they count as having every later barrier.
    pub ended: Vec<bool>,
    /// A trigger that reached a task whose inputs have all finished upstream, waiting for the
    /// last EndOfPartition (its data) to arrive before the snapshot.
    pub deferred_trigger: Option<u64>,
    pub finishing: bool,
    pub source: Option<SourceRt>,
    pub keyed: Option<(OperatorId, BTreeMap<u32, i64>)>,
    pub sinks: Vec<SinkRt>,
    /// Round-robin position per network edge (rebalance).
    pub rr: Vec<u32>,
    pub uploading: Vec<(u64, SubtaskSnapshot)>,
    /// Highest read positions of any attempt (what a source that does not rewind would use).
    pub high_water: Vec<(u32, u64)>,
}

#[derive(Debug)]
pub struct PendingCheckpoint {
    pub id: u64,
    pub triggered_at_us: TimeUs,
    /// `execution.checkpointing.timeout` after the trigger.
    pub deadline_us: TimeUs,
    pub acked: Vec<bool>,
    pub missing: u32,
    pub max_alignment_us: u64,
}

/// One failover as reported: when, why, what restarted, from which checkpoint, when all ran.
#[derive(Clone, Debug, PartialEq)]
pub struct FailoverReport {
    /// When the first failure happened at a task.
    pub failed_at_us: TimeUs,
    /// When the JobManager handled it.
    pub detected_at_us: TimeUs,
    pub failed_subtask: SubtaskId,
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

#[derive(Debug)]
pub struct FailoverRt {
    pub to_restart: Vec<(SubtaskId, u32)>,
    pub timer_fired: bool,
    pub done: bool,
    pub waiting_running: u32,
}

/// What a finished engine run hands to the oracle and the reports.
#[derive(Debug)]
pub struct EngineOutcome {
    pub trace_hash: u64,
    pub events: u64,
    pub end_us: TimeUs,
    pub job_status: JobStatus,
    pub notes: Vec<TraceEntry>,
    pub failovers: Vec<FailoverReport>,
    pub checkpoints_completed: u64,
    pub checkpoints_aborted: u64,
    /// A sample of the completed checkpoints (all of them unless the run is long; see
    /// `World::cut_samples`), in order.
    pub completed: Vec<CompletedCheckpoint>,
    pub store: TxnStore,
    pub fault_times: Vec<Option<TimeUs>>,
    pub violations: Vec<String>,
    pub records_read: u64,
}

pub struct World<'a> {
    pub sc: &'a Scenario,
    pub graph: JobGraph,
    pub bugs: PlantedBugs,
    pub aligned: bool,
    pub q: EventQueue<Event>,
    pub hash: TraceHasher,
    pub events: u64,
    pub rng_net: Rng,
    pub rng_restart: Rng,
    pub logs: Vec<SourceLog>,
    pub source_log_of_op: Vec<Option<usize>>,
    pub executors: Vec<Executor>,
    pub host_executor: Vec<u32>,
    pub group_slot: Vec<Option<(u32, u32)>>,
    pub slot_waiters: BTreeSet<u32>,
    pub slot_generation: Vec<u64>,
    pub subtasks: Vec<SubtaskRt>,
    pub channels: Vec<ChannelRt>,
    pub out_channels: Vec<Vec<ChannelId>>,
    /// Pipelined region of each subtask (fixed for the job).
    pub region_of: Vec<u32>,
    pub regions: Vec<Vec<SubtaskId>>,
    pub job_status: JobStatus,
    pub restart: RestartBackoff,
    pub failovers: Vec<FailoverReport>,
    pub failover_rt: Vec<FailoverRt>,
    pub next_checkpoint_id: u64,
    pub pending: Option<PendingCheckpoint>,
    /// Whether a `CheckpointExpired` check is in the queue.
    pub expiry_check_scheduled: bool,
    pub completed: VecDeque<CompletedCheckpoint>,
    /// Completed checkpoints kept for the oracle's consistent-cut check, thinned (every other
    /// one dropped) whenever their keyed entries exceed `CUT_SAMPLE_ENTRIES`, so memory stays
    /// bounded in run length while the samples still span the whole run.
    pub cut_samples: Vec<CompletedCheckpoint>,
    pub cut_sample_entries: u64,
    pub last_checkpoint_done_us: TimeUs,
    pub uploaded: BTreeMap<(u64, u32), SubtaskSnapshot>,
    /// State of subtasks that finished (FLIP-147): stands in for them in later checkpoints.
    pub final_snapshots: Vec<Option<SubtaskSnapshot>>,
    pub checkpoints_completed: u64,
    pub checkpoints_aborted: u64,
    pub store: TxnStore,
    pub notes: Vec<TraceEntry>,
    pub violations: Vec<String>,
    pub fault_times: Vec<Option<TimeUs>>,
    /// Faults armed to fire at the n-th record of an operator subtask.
    pub record_faults: Vec<RecordFault>,
    pub has_record_fault: Vec<bool>,
    pub records_seen: BTreeMap<(u32, u32), u64>,
    pub records_read: u64,
    pub stopped: bool,
}

/// The source logs of a scenario's job (one per source operator, in operator order) and, per
/// operator, the index of its log.
pub fn build_logs(sc: &Scenario) -> (Vec<SourceLog>, Vec<Option<usize>>) {
    let data_key = Rng::new(sc.seed, Stream::Data).next_u64();
    let mut logs = Vec::new();
    let mut log_of = vec![None; sc.job.operators.len()];
    for (i, op) in sc.job.operators.iter().enumerate() {
        if let OperatorKind::Source(s) = &op.kind {
            log_of[i] = Some(logs.len());
            logs.push(SourceLog::new(logs.len() as u16, s, sc.duration_us, data_key));
        }
    }
    (logs, log_of)
}

/// Bytes a snapshot takes in storage: fixed metadata plus entries (heap backend, roughly).
const SNAPSHOT_BASE_BYTES: u64 = 1024;
/// Keyed-state entries kept over all cut samples (about 100 MB).
const CUT_SAMPLE_ENTRIES: u64 = 2_000_000;
const BYTES_PER_KEYED_ENTRY: u64 = 32;
const BYTES_PER_OFFSET: u64 = 16;
const BYTES_PER_COMMITTABLE: u64 = 128;

impl<'a> World<'a> {
    pub fn new(sc: &'a Scenario, with_faults: bool) -> World<'a> {
        let graph = JobGraph::build(&sc.job);
        let (logs, source_log_of_op) = build_logs(sc);
        let n = graph.subtask_count();
        let mut out_channels = vec![Vec::new(); n];
        for (i, ch) in graph.channels.iter().enumerate() {
            out_channels[ch.from.0 as usize].push(ChannelId(i as u32));
        }
        let subtasks =
            (0..n).map(|i| Self::fresh_runtime(&graph, &source_log_of_op, &logs, SubtaskId(i as u32))).collect();
        let channels = (0..graph.channels.len()).map(|_| ChannelRt::default()).collect();
        let groups = graph.tasks.iter().map(|t| t.parallelism).max().unwrap_or(1) as usize;
        let mut has_record_fault = vec![false; graph.spec.operators.len()];
        let mut record_faults = Vec::new();
        let faults: &[crate::fault::FaultSpec] = if with_faults { &sc.faults } else { &[] };
        for (i, f) in faults.iter().enumerate() {
            if let (FaultTrigger::AtRecord { n, poison }, FaultAction::FailTask(r)) = (f.trigger, &f.action) {
                has_record_fault[r.operator.0 as usize] = true;
                record_faults.push(RecordFault { op: r.operator, index: r.index, n, fault: i, poison, poisoned: None });
            }
        }
        let bugs = if with_faults { sc.bugs } else { PlantedBugs::default() };
        let aligned = sc.flink.checkpointing_mode == CheckpointingMode::ExactlyOnce && !bugs.skip_alignment;
        let (regions, region_of) = graph.pipelined_regions();
        let mut w = World {
            region_of,
            regions,
            sc,
            bugs,
            aligned,
            q: EventQueue::new(),
            hash: TraceHasher::default(),
            events: 0,
            rng_net: Rng::new(sc.seed, Stream::Network),
            rng_restart: Rng::new(sc.seed, Stream::Restart),
            logs,
            source_log_of_op,
            executors: Vec::new(),
            host_executor: Vec::new(),
            group_slot: vec![None; groups],
            slot_waiters: BTreeSet::new(),
            slot_generation: vec![0; groups],
            subtasks,
            channels,
            out_channels,
            job_status: JobStatus::Created,
            restart: RestartBackoff::new(sc.flink.restart_strategy.clone()),
            failovers: Vec::new(),
            failover_rt: Vec::new(),
            next_checkpoint_id: 1,
            pending: None,
            expiry_check_scheduled: false,
            completed: VecDeque::new(),
            cut_samples: Vec::new(),
            cut_sample_entries: 0,
            last_checkpoint_done_us: 0,
            uploaded: BTreeMap::new(),
            final_snapshots: vec![None; n],
            checkpoints_completed: 0,
            checkpoints_aborted: 0,
            store: TxnStore::default(),
            notes: Vec::new(),
            violations: Vec::new(),
            fault_times: vec![None; sc.faults.len()],
            record_faults,
            has_record_fault,
            records_seen: BTreeMap::new(),
            records_read: 0,
            stopped: false,
            graph,
        };
        for (i, f) in faults.iter().enumerate() {
            if let FaultTrigger::At { at_us } = f.trigger {
                w.q.schedule(at_us, Event::Fault { index: i as u32 });
            }
        }
        w
    }

    /// Runtime state of a subtask before any attempt has run (or after a restart, before
    /// restore fills it in).
    fn fresh_runtime(graph: &JobGraph, log_of: &[Option<usize>], logs: &[SourceLog], st: SubtaskId) -> SubtaskRt {
        let index = graph.subtasks[st.0 as usize].index;
        let task = graph.task_of(st);
        let mut source = None;
        let mut keyed = None;
        let mut sinks = Vec::new();
        for &op in &task.operators {
            let spec = &graph.spec.operators[op.0 as usize];
            match &spec.kind {
                OperatorKind::Source(_) => {
                    let log = log_of[op.0 as usize].expect("every source operator has a log");
                    // KafkaSource-style static assignment: partition p → reader p mod parallelism.
                    let cursors =
                        (0..logs[log].partitions).filter(|p| p % task.parallelism == index).map(|p| (p, 0)).collect();
                    source = Some(SourceRt { log, cursors, rr: 0, end_snapshot_cp: None });
                }
                k if k.is_keyed() => keyed = Some((op, BTreeMap::new())),
                OperatorKind::Sink(semantic) => sinks.push(SinkRt {
                    op,
                    semantic: *semantic,
                    next_checkpoint: 1,
                    open_has_records: false,
                    committables: Vec::new(),
                }),
                _ => {}
            }
        }
        let high_water = source.as_ref().map(|s| s.cursors.clone()).unwrap_or_default();
        SubtaskRt {
            attempt: 0,
            state: ExecutionState::Created,
            executor: None,
            live: false,
            failure_sent: false,
            restore_from: None,
            created_by_failover: None,
            blocked_output: false,
            emit_scheduled: false,
            align: None,
            ended: vec![false; graph.subtasks[st.0 as usize].inputs.len()],
            deferred_trigger: None,
            finishing: false,
            source,
            keyed,
            sinks,
            rr: vec![0; graph.edges.len()],
            uploading: Vec::new(),
            high_water,
        }
    }

    /// Resets the data-plane state of a subtask for a new attempt (state comes from restore).
    pub fn reset_runtime(&mut self, st: SubtaskId) {
        let fresh = Self::fresh_runtime(&self.graph, &self.source_log_of_op, &self.logs, st);
        let s = &mut self.subtasks[st.0 as usize];
        let keep_high_water = std::mem::take(&mut s.high_water);
        let SubtaskRt { attempt, state, executor, restore_from, created_by_failover, .. } = *s;
        *s = SubtaskRt {
            attempt,
            state,
            executor,
            restore_from,
            created_by_failover,
            high_water: keep_high_water,
            ..fresh
        };
    }

    pub fn now(&self) -> TimeUs {
        self.q.now_us()
    }

    pub fn note(&mut self, note: Note) {
        let at_us = self.now();
        note.hash(&mut self.hash);
        self.notes.push(TraceEntry { at_us, note });
    }

    pub fn violation(&mut self, what: String) {
        if self.violations.len() < 100 {
            self.violations.push(format!("{}: {what}", crate::sim::fmt_time(self.now())));
        }
    }

    /// Keeps a completed checkpoint for the consistent-cut check, within the memory budget.
    pub fn keep_cut_sample(&mut self, chk: CompletedCheckpoint) {
        let entries = |c: &CompletedCheckpoint| -> u64 {
            c.subtasks.iter().flat_map(|s| s.keyed.iter()).map(|(_, m)| m.len() as u64 + 1).sum()
        };
        self.cut_sample_entries += entries(&chk);
        self.cut_samples.push(chk);
        while self.cut_sample_entries > CUT_SAMPLE_ENTRIES && self.cut_samples.len() > 2 {
            let mut i = 0;
            self.cut_samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.cut_sample_entries = self.cut_samples.iter().map(entries).sum();
        }
    }

    pub fn snapshot_bytes(s: &SubtaskSnapshot) -> u64 {
        let keyed: u64 = s.keyed.iter().map(|(_, m)| m.len() as u64).sum();
        SNAPSHOT_BASE_BYTES
            + keyed * BYTES_PER_KEYED_ENTRY
            + s.source_positions.len() as u64 * BYTES_PER_OFFSET
            + s.committables.len() as u64 * BYTES_PER_COMMITTABLE
    }

    /// Runs until the job is terminal or the time limit; returns what the oracle needs.
    pub fn run(mut self) -> EngineOutcome {
        let end_us = self.sc.duration_us + self.sc.drain_us;
        self.q.schedule(end_us, Event::RunEnd);
        self.start();
        while let Some((at, ev)) = self.q.pop() {
            self.events += 1;
            at.hash(&mut self.hash);
            ev.hash(&mut self.hash);
            self.dispatch(ev);
            if self.stopped {
                break;
            }
        }
        let completed_all = std::mem::take(&mut self.cut_samples);
        if self.store.commits_of_aborted > 0 {
            let n = self.store.commits_of_aborted;
            self.violation(format!("{n} commits of transactions that had been aborted"));
        }
        // What readers of the sink saw is part of the run: fold it in.
        self.store.committed().hash(&mut self.hash);
        EngineOutcome {
            trace_hash: self.hash.finish(),
            events: self.events,
            end_us: self.now(),
            job_status: self.job_status,
            notes: self.notes,
            failovers: self.failovers,
            checkpoints_completed: self.checkpoints_completed,
            checkpoints_aborted: self.checkpoints_aborted,
            completed: completed_all,
            store: self.store,
            fault_times: self.fault_times,
            violations: self.violations,
            records_read: self.records_read,
        }
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Fault { index } => self.on_fault(index as usize),
            Event::SourceEmit { st, attempt } => self.on_source_emit(st, attempt),
            Event::Deliver { ch, epoch } => self.on_deliver(ch, epoch),
            Event::Resume { st, attempt } => self.on_resume(st, attempt),
            Event::DeployArrived { st, attempt } => self.on_deploy_arrived(st, attempt),
            Event::DeployRpcFailed { st, attempt, host } => {
                self.on_failure_reported(st, attempt, FailureCause::DeployFailed { tm: host }, self.now())
            }
            Event::Initializing { st, attempt } => self.on_initializing(st, attempt),
            Event::Restored { st, attempt } => self.on_restored(st, attempt),
            Event::TaskFailedLocal { st, attempt, cause } => self.on_task_failed_local(st, attempt, cause),
            Event::FailureReported { st, attempt, cause, failed_at_us } => {
                self.on_failure_reported(st, attempt, cause, failed_at_us)
            }
            Event::CancelDone { st, attempt } => self.on_cancel_done(st, attempt),
            Event::RestartTimer { failover } => self.on_restart_timer(failover as usize),
            Event::CheckpointTick => self.on_checkpoint_tick(),
            Event::Trigger { st, attempt, cp } => self.on_trigger(st, attempt, cp),
            Event::UploadDone { st, attempt, cp } => self.on_upload_done(st, attempt, cp),
            Event::AckArrived { st, cp } => self.on_ack(st, cp),
            Event::CheckpointExpired => self.on_checkpoint_expired(),
            Event::NotifyComplete { st, attempt, cp } => self.on_notify_complete(st, attempt, cp),
            Event::HeartbeatTick => self.on_heartbeat_tick(),
            Event::HeartbeatAnswer { executor, ok } => self.on_heartbeat_answer(executor, ok),
            Event::HeartbeatTimeout { executor } => self.on_heartbeat_timeout(executor),
            Event::ExecutorStarted { executor } => self.on_executor_started(executor),
            Event::SlotRequestTimeout { group, generation } => self.on_slot_request_timeout(group, generation),
            Event::RunEnd => self.stopped = true,
        }
    }

    fn on_fault(&mut self, index: usize) {
        self.fault_times[index] = Some(self.now());
        let action = self.sc.faults[index].action.clone();
        let text = action.describe(&|r| self.graph.subtask_ref_name(r));
        self.note(Note::FaultInjected { fault: index, text });
        match action {
            FaultAction::KillTaskManager(host) => self.kill_host(host),
            FaultAction::RestartTaskManager(host) => self.restart_host(host),
            FaultAction::FailTask(r) => {
                let st = self.graph.subtask_id(r);
                self.fail_locally_now(st, FailureCause::TaskException);
            }
            // Network and process faults arrive with the process/network engine (issue 6).
            _ => {}
        }
    }

    /// The current attempt of `st` throws now (if it runs).
    pub fn fail_locally_now(&mut self, st: SubtaskId, cause: FailureCause) {
        let s = &self.subtasks[st.0 as usize];
        if s.live && !s.failure_sent {
            let attempt = s.attempt;
            self.on_task_failed_local(st, attempt, cause);
        }
    }

    /// A record reached operator `op` of subtask `st`: fires an at-record fault if one is armed
    /// (or if this is a poison record coming round again). Returns true when the task throws.
    pub fn record_fault_fires(&mut self, st: SubtaskId, op: OperatorId, rec: &Record) -> bool {
        let index = self.graph.subtasks[st.0 as usize].index;
        let seen = self.records_seen.entry((op.0, index)).or_insert(0);
        *seen += 1;
        let seen = *seen;
        let hit = self.record_faults.iter().position(|f| {
            f.op == op
                && f.index == index
                && (f.poisoned == Some(rec.origin) || (f.n == seen && self.fault_times[f.fault].is_none()))
        });
        let Some(k) = hit else { return false };
        let f = &mut self.record_faults[k];
        let fault = f.fault;
        let again = f.poisoned.is_some();
        if f.poison {
            f.poisoned = Some(rec.origin);
        }
        if !again {
            self.fault_times[fault] = Some(self.now());
        }
        let text = self.sc.faults[fault].action.describe(&|r| self.graph.subtask_ref_name(r));
        let text = if again {
            format!("{text}: poison record {} again", rec.origin)
        } else {
            format!("{text} at its record {seen} ({})", rec.origin)
        };
        self.note(Note::FaultInjected { fault, text });
        self.fail_locally_now(st, FailureCause::TaskException);
        true
    }
}

/// A fault that fires when an operator subtask processes its n-th record.
#[derive(Clone, Copy, Debug)]
pub struct RecordFault {
    pub op: OperatorId,
    pub index: u32,
    pub n: u64,
    pub fault: usize,
    pub poison: bool,
    /// The record that failed, once a poison fault fired: it fails again whenever replayed.
    pub poisoned: Option<crate::job::record::RecordId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testing::keyed_job;

    #[test]
    fn cut_samples_stay_within_budget_and_span_the_run() {
        let sc = keyed_job(1, 1);
        let mut w = World::new(&sc, false);
        let keyed: BTreeMap<u32, i64> = (0..100_000).map(|k| (k, 1)).collect();
        for id in 1..=200 {
            let snap = SubtaskSnapshot { keyed: vec![(OperatorId(1), keyed.clone())], ..SubtaskSnapshot::default() };
            w.keep_cut_sample(CompletedCheckpoint { id, completed_at_us: id, subtasks: vec![snap], bytes: 0 });
        }
        assert!(w.cut_sample_entries <= CUT_SAMPLE_ENTRIES);
        assert!(w.cut_samples.len() >= 10);
        assert_eq!(w.cut_samples[0].id, 1, "the first checkpoint stays");
        assert!(w.cut_samples.last().is_some_and(|c| c.id > 150), "recent checkpoints are kept");
        assert!(w.cut_samples.windows(2).all(|p| p[0].id < p[1].id));
    }
}
