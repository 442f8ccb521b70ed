//! `recoverysim run`'s human report: the set-up lines (`header.rs`), the timeline (each instant's trace lines
//! merged, quiet checkpoints collapsed), its legend, and the summary with each recovery's phases.
//! Also what the replay shows of a run (`job_line`, `summary`, `describe`).

use crate::cluster::config::{FailoverStrategy, HaKind, RestartStrategy};
use crate::cluster::jobmanager::FailoverReport;
use crate::cluster::net::HostId;
use crate::cluster::state::{ExecutionState, JobStatus};
use crate::job::graph::format_subtasks;
use crate::run::Run;
use crate::sim::fmt_time;
use crate::trace::FailureCause;
use crate::trace::{AbortReason, Detection, Note, TraceEntry};
use std::fmt::Write;

pub use super::failover::{Phases, recovery_phases};
use super::failover::{checkpoint_home, failover_line, in_flight_line};
pub use super::header::{header, job_line};

/// How to read the timeline: `run --help` prints it, and the README carries the same table.
pub const LEGEND: &str = "Reading the timeline:
  source ×2          an operator (or chain of operators) with parallelism 2: two subtasks
  =hash=>            a network exchange and its partitioner: forward, hash (keyBy), rebalance,
                     rescale, broadcast
  (count+sink)       operators chained into one task (Flink names it \"count -> sink\")
  count[1]           subtask 1 of count; subtask indices start at 0
  source[0-1]        subtasks 0 to 1. Every range a-b includes both ends: subtasks, checkpoints
                     (checkpoints 1-25), times (0.207s-4.888s), seeds (--seeds 0-199)
  p0@6392            source partition 0, read again from offset 6392
  attempt #1         the attempt number of a subtask: 0 first, one more per restart
  A → B              a state change of the job or of subtasks
  0.001s             virtual time since the job was submitted
  recovery time      from the fault to every restarted subtask RUNNING again
  event              one engine event: a message delivered or a timer fired (\"N events\")
  trace line #n      line n of the readable trace: `n` in `--trace` output, the replay's log";

pub(super) fn bytes_h(b: u64) -> String {
    bytesize::ByteSize(b).display().si().to_string()
}

pub(super) fn ms(us: u64) -> String {
    if us < 10_000 { format!("{:.1} ms", us as f64 / 1e3) } else { format!("{} ms", us / 1000) }
}

/// Why a checkpoint failed, in a word or two (the checkpoint history's status column).
pub(super) fn abort_reason_short(r: AbortReason) -> &'static str {
    match r {
        AbortReason::JobFailover => "job failover",
        AbortReason::Expired => "expired",
        AbortReason::Subsumed => "subsumed",
        AbortReason::TriggerFailed => "trigger failed",
        AbortReason::Declined => "declined",
        AbortReason::JobCancelled => "job cancelled",
        AbortReason::AsyncFailed => "upload failed",
    }
}

pub fn report(run: &Run) -> String {
    let mut out = header(run);
    let _ = writeln!(out);
    let _ = writeln!(out, "timeline (virtual time):");
    timeline(run, &mut out);
    let _ = writeln!(out);
    summary(run, &mut out);
    out
}

/// A run of uneventful checkpoints, collapsed into one timeline line.
struct Quiet {
    first_cp: u64,
    last_cp: u64,
    t0: u64,
    t1: u64,
    bytes: u64,
    max_duration_us: u64,
    records: u64,
}

impl Quiet {
    fn flush(q: &mut Option<Quiet>, out: &mut Vec<Line>) {
        let Some(q) = q.take() else { return };
        let which = if q.first_cp == q.last_cp {
            format!("checkpoint {}", q.first_cp)
        } else {
            format!("checkpoints {}-{}", q.first_cp, q.last_cp)
        };
        let commits = if q.records > 0 { format!("; sinks committed {} records", q.records) } else { String::new() };
        let size = if q.first_cp == q.last_cp {
            format!("{}, {}", bytes_h(q.bytes), ms(q.max_duration_us))
        } else {
            format!("{} each, ≤ {}", bytes_h(q.bytes), ms(q.max_duration_us))
        };
        out.push(Line { from_us: q.t0, to_us: q.t1, text: format!("{which} completed ({size}){commits}") });
    }
}

/// How notes of one instant are merged into lines: the same transition of many subtasks, the
/// restores, the rewinds, the aborts each become one line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKey {
    Transition(ExecutionState, ExecutionState),
    Restored,
    Rewound,
    Aborted,
    Recommitted,
    Committed,
    Failed(FailureCause),
    Deployed,
    Single(usize),
}

/// One line of the timeline: what happened at a time (or over a span of quiet checkpoints).
pub struct Line {
    pub from_us: u64,
    pub to_us: u64,
    pub text: String,
}

fn timeline(run: &Run, out: &mut String) {
    for l in timeline_lines(run) {
        let when = if l.from_us == l.to_us {
            fmt_time(l.from_us)
        } else {
            format!("{}-{}", fmt_time(l.from_us), fmt_time(l.to_us))
        };
        let _ = writeln!(out, "  {when:>17}  {}", l.text);
    }
}

/// The timeline: each instant's notes merged into lines, uneventful checkpoints collapsed.
pub fn timeline_lines(run: &Run) -> Vec<Line> {
    let mut lines = Vec::new();
    let out = &mut lines;
    let notes = &run.outcome.notes;
    let mut quiet: Option<Quiet> = None;
    // Where each subtask's attempts were deployed (time, TaskManager), to say why a restore
    // with local recovery on downloaded.
    let mut deploys: Vec<Vec<(u64, u32)>> = Vec::new();
    if run.scenario.flink.local_recovery {
        deploys = vec![Vec::new(); run.graph.subtasks.len()];
        for e in notes {
            if let Note::Deployed { st, tm } = e.note
                && let Some(d) = deploys.get_mut(st.0 as usize)
            {
                d.push((e.at_us, tm));
            }
        }
    }
    let mut i = 0;
    while i < notes.len() {
        let at = notes[i].at_us;
        let mut j = i;
        // One instant of the timeline is one millisecond.
        while j < notes.len() && notes[j].at_us / 1000 == at / 1000 {
            j += 1;
        }
        let block = &notes[i..j];
        i = j;
        // An instant with only checkpoint bookkeeping extends the quiet run.
        let only_checkpoints = block.iter().all(|e| {
            matches!(
                e.note,
                Note::CheckpointTriggered { .. }
                    | Note::CheckpointCompleted { .. }
                    | Note::SinkCommitted { recovered: false, .. }
            )
        });
        if only_checkpoints {
            let mut loose = 0;
            for e in block {
                match &e.note {
                    Note::CheckpointCompleted { cp, bytes, duration_us, .. } => {
                        // A run holds consecutive ids; one completing out of order (a late
                        // one, with concurrent checkpoints) gets its own line.
                        if quiet.as_ref().is_some_and(|q| *cp != q.last_cp + 1) {
                            Quiet::flush(&mut quiet, out);
                        }
                        let q = quiet.get_or_insert(Quiet {
                            first_cp: *cp,
                            last_cp: *cp,
                            t0: at,
                            t1: at,
                            bytes: *bytes,
                            max_duration_us: 0,
                            records: 0,
                        });
                        q.last_cp = *cp;
                        q.t1 = at;
                        q.bytes = *bytes;
                        q.max_duration_us = q.max_duration_us.max(*duration_us);
                    }
                    Note::SinkCommitted { records, .. } => match &mut quiet {
                        Some(q) => q.records += records,
                        None => loose += records,
                    },
                    _ => {}
                }
            }
            if loose > 0 {
                out.push(Line { from_us: at, to_us: at, text: format!("sinks committed {loose} records") });
            }
            continue;
        }
        Quiet::flush(&mut quiet, out);
        render_instant(run, at, block, &deploys, out);
    }
    Quiet::flush(&mut quiet, out);
    lines
}

/// Why a restore with local recovery on read from checkpoint storage: the TaskManagers the
/// subtask's attempts were deployed to, this one and the one before.
fn download_reason(deploys: &[Vec<(u64, u32)>], st: crate::job::graph::SubtaskId, at: u64, cp: Option<u64>) -> String {
    let Some(d) = deploys.get(st.0 as usize) else { return String::new() };
    let upto = d.partition_point(|x| x.0 <= at);
    match (upto.checked_sub(1).map(|i| d[i].1), upto.checked_sub(2).map(|i| d[i].1)) {
        (Some(now), Some(before)) if now != before => {
            format!("moved from tm-{before} to tm-{now}, its local copy stayed on tm-{before}")
        }
        (Some(now), _) => {
            format!("no local copy of checkpoint {} on tm-{now}", cp.map_or("-".into(), |c| c.to_string()))
        }
        _ => String::new(),
    }
}

fn render_instant(run: &Run, at: u64, block: &[TraceEntry], deploys: &[Vec<(u64, u32)>], out: &mut Vec<Line>) {
    let g = &run.graph;
    // Lines in the order their first note came; a note joins an earlier line of its kind only
    // if its subtask has nothing on a line after that one, so each subtask's lines keep the
    // order of its notes (DEPLOYING → INITIALIZING before INITIALIZING → RUNNING).
    let mut groups: Vec<(LineKey, Vec<usize>)> = Vec::new();
    for (k, e) in block.iter().enumerate() {
        let key = match &e.note {
            Note::TaskState { from, to, .. } => {
                // A new attempt's CREATED merges across the terminal states it replaces.
                if *to == ExecutionState::Created {
                    LineKey::Transition(ExecutionState::Created, *to)
                } else {
                    LineKey::Transition(*from, *to)
                }
            }
            Note::Restored { .. } => LineKey::Restored,
            Note::SourceRewound { .. } => LineKey::Rewound,
            Note::SinkAborted { .. } => LineKey::Aborted,
            Note::SinkCommitted { recovered: true, .. } => LineKey::Recommitted,
            Note::SinkCommitted { recovered: false, .. } => LineKey::Committed,
            Note::CheckpointTriggered { .. } => continue,
            Note::TaskFailed { cause, .. } => LineKey::Failed(*cause),
            Note::Deployed { .. } => LineKey::Deployed,
            _ => LineKey::Single(k),
        };
        let st = note_subtask(&e.note);
        let joinable = groups.iter().rposition(|(g, _)| *g == key).filter(|&at| {
            st.is_none_or(|st| {
                groups[at + 1..].iter().all(|(_, m)| m.iter().all(|&i| note_subtask(&block[i].note) != Some(st)))
            })
        });
        match joinable {
            Some(at) => groups[at].1.push(k),
            None => groups.push((key, vec![k])),
        }
    }
    for (key, members) in groups {
        let group: Vec<TraceEntry> = members.iter().map(|&i| block[i].clone()).collect();
        let block_all = block;
        let block = &group[..];
        let line = match key {
            LineKey::Transition(from, to) => {
                let mut sts = Vec::new();
                let mut attempt = 0;
                for e in block {
                    if let Note::TaskState { st, attempt: a, from: f, to: t2 } = &e.note
                        && *t2 == to
                        && (*f == from || to == ExecutionState::Created)
                    {
                        sts.push(*st);
                        attempt = attempt.max(*a);
                    }
                }
                if to == ExecutionState::Created {
                    format!("new attempts (#{attempt}) CREATED: {}", format_subtasks(g, &sts))
                } else {
                    format!("{} → {}: {}", from.name(), to.name(), format_subtasks(g, &sts))
                }
            }
            LineKey::Restored => {
                let (mut sts, mut bytes, mut local, mut remote, mut dur, mut cp) = (Vec::new(), 0, 0, 0, 0, None);
                for e in block {
                    if let Note::Restored { st, cp: c, bytes: b, local: l, duration_us, .. } = &e.note {
                        sts.push(*st);
                        bytes += b;
                        if *l {
                            local += 1
                        } else {
                            remote += 1
                        }
                        dur = dur.max(*duration_us);
                        cp = *c;
                    }
                }
                // With local recovery on, each download says why (the reasons, once each).
                let mut why: Vec<String> = Vec::new();
                for e in block {
                    if let Note::Restored { st, cp, local: false, .. } = &e.note {
                        let r = download_reason(deploys, *st, e.at_us, *cp);
                        if !r.is_empty() && !why.contains(&r) {
                            why.push(r);
                        }
                    }
                }
                let download =
                    if why.is_empty() { "download".to_string() } else { format!("download: {}", why.join("; ")) };
                let from = match (local, remote) {
                    (_, 0) => "local copies".to_string(),
                    (0, _) => format!("checkpoint storage ({download})"),
                    (l, r) => format!("local copies ({l}) and checkpoint storage ({r}, {download})"),
                };
                format!(
                    "restore checkpoint {}: {} from {from}, ≤ {}: {}",
                    cp.map_or("-".into(), |c| c.to_string()),
                    bytes_h(bytes),
                    ms(dur),
                    format_subtasks(g, &sts)
                )
            }
            LineKey::Rewound => {
                let mut parts = Vec::new();
                for e in block {
                    if let Note::SourceRewound { st, positions } = &e.note {
                        let p: Vec<String> = positions.iter().map(|(p, o)| format!("p{p}@{o}")).collect();
                        parts.push(format!("{} {}", g.subtask_name(*st), p.join(" ")));
                        // pN@O: partition N, next offset O (the legend in `run --help`).
                    }
                }
                format!("sources rewind to the checkpoint's offsets: {}", parts.join(", "))
            }
            LineKey::Aborted => {
                let (mut sts, mut txns, mut recs) = (Vec::new(), 0, 0);
                for e in block {
                    if let Note::SinkAborted { st, transactions, records } = &e.note {
                        sts.push(*st);
                        txns += transactions;
                        recs += records;
                    }
                }
                format!(
                    "sinks abort {txns} lingering transaction{} ({recs} uncommitted records): {}",
                    if txns == 1 { "" } else { "s" },
                    format_subtasks(g, &sts)
                )
            }
            LineKey::Recommitted | LineKey::Committed => {
                let recovered = key == LineKey::Recommitted;
                let (mut sts, mut recs, mut cps) = (Vec::new(), 0, Vec::new());
                for e in block {
                    if let Note::SinkCommitted { st, checkpoint, records, recovered: r, .. } = &e.note
                        && *r == recovered
                    {
                        sts.push(*st);
                        recs += records;
                        if !cps.contains(checkpoint) {
                            cps.push(*checkpoint);
                        }
                    }
                }
                let cps: Vec<String> = cps.iter().map(|c| c.to_string()).collect();
                if recovered {
                    format!(
                        "sinks commit recovered committables of checkpoint {} ({recs} records): {}",
                        cps.join(", "),
                        format_subtasks(g, &sts)
                    )
                } else if run.scenario.flink.checkpoint_interval_us.is_none() {
                    // CommitterOperator.endInput: no final checkpoint, the committer commits here.
                    format!("sinks commit at end of input ({recs} records): {}", format_subtasks(g, &sts))
                } else {
                    format!("sinks commit checkpoint {} ({recs} records): {}", cps.join(", "), format_subtasks(g, &sts))
                }
            }
            LineKey::Failed(cause) => {
                let sts: Vec<_> = block
                    .iter()
                    .filter_map(|e| match &e.note {
                        Note::TaskFailed { st, cause: c, .. } if *c == cause => Some(*st),
                        _ => None,
                    })
                    .collect();
                format!(
                    "FAILED on {}: {}: {}",
                    if sts.len() == 1 { "its TaskManager" } else { "their TaskManagers" },
                    format_subtasks(g, &sts),
                    cause.describe()
                )
            }
            LineKey::Deployed => {
                let mut per_tm: Vec<(u32, Vec<crate::job::graph::SubtaskId>)> = Vec::new();
                for e in block {
                    if let Note::Deployed { st, tm } = &e.note {
                        match per_tm.iter_mut().find(|(t, _)| t == tm) {
                            Some((_, v)) => v.push(*st),
                            None => per_tm.push((*tm, vec![*st])),
                        }
                    }
                }
                per_tm.sort_by_key(|(t, _)| *t);
                let parts: Vec<String> =
                    per_tm.iter().map(|(t, v)| format!("tm-{t} ← {}", format_subtasks(g, v))).collect();
                format!("slots assigned: {}", parts.join("; "))
            }
            LineKey::Single(k) => match describe(run, &block_all[k].note) {
                Some(l) => l,
                None => continue,
            },
        };
        out.push(Line { from_us: at, to_us: at, text: line });
    }
}

/// The subtask a note is about, for the notes the timeline merges into lines.
fn note_subtask(note: &Note) -> Option<crate::job::graph::SubtaskId> {
    match note {
        Note::TaskState { st, .. }
        | Note::Restored { st, .. }
        | Note::SourceRewound { st, .. }
        | Note::SinkAborted { st, .. }
        | Note::SinkCommitted { st, .. }
        | Note::TaskFailed { st, .. }
        | Note::Deployed { st, .. } => Some(*st),
        _ => None,
    }
}

/// One trace line in words, as the timeline writes a line of its own (and the replay's log
/// shows it); `None` for notes the timeline leaves out.
pub(crate) fn describe(run: &Run, note: &Note) -> Option<String> {
    let g = &run.graph;
    Some(match note {
        Note::JobStatus { from, to } => format!("job {} → {}", from.name(), to.name()),
        Note::FaultInjected { text, .. } => format!("FAULT {text}"),
        Note::FailoverStarted { failover } => {
            let f = &run.outcome.failovers[*failover];
            let strategy = match (f.failed_subtask, run.scenario.flink.failover_strategy) {
                (None, _) => "global failover",
                (Some(_), FailoverStrategy::Region) => "region failover",
                (Some(_), FailoverStrategy::Full) => "full failover",
            };
            // A task's failure reaches the JobManager some time after it happened; a global
            // failure is the JobManager's own decision.
            let failure = match f.failed_subtask {
                Some(_) => {
                    format!("{} ({} after it happened)", failure_of(run, f), ms(f.detected_at_us - f.failed_at_us))
                }
                None => failure_of(run, f),
            };
            let total = g.subtask_count();
            let n = f.to_restart.len();
            if f.exhausted {
                return Some(format!(
                    "JobManager handles {failure}: failover #{} {}",
                    failover + 1,
                    match run.scenario.flink.restart_strategy {
                        _ if f.cause == FailureCause::Unrecoverable => "does not restart (an unrecoverable failure)",
                        RestartStrategy::None => "does not restart (restart strategy none)",
                        RestartStrategy::FailureRate { .. } => "does not restart (failure rate exceeded)",
                        _ => "finds no restart left",
                    }
                ));
            }
            let others = if n == total {
                "all of the job".to_string()
            } else {
                format!("{n} of {total} subtasks; the other {} keep running", total - n)
            };
            format!("JobManager handles {failure}: failover #{} ({strategy}) restarts {others}", failover + 1,)
        }
        Note::TaskManagerLost { tm, detection } => match detection {
            Detection::HeartbeatRpcFailures(n) => {
                format!(
                    "JobManager marks tm-{tm} unreachable: {n} consecutive heartbeat RPCs failed; releases its slots"
                )
            }
            Detection::HeartbeatTimeout => format!("JobManager: heartbeat of tm-{tm} timed out; releases its slots"),
            Detection::RmHeartbeatRpcFailures(n) => format!(
                "ResourceManager marks tm-{tm} unreachable: {n} consecutive heartbeat RPCs failed; the JobMaster releases its slots"
            ),
            Detection::RmHeartbeatTimeout => {
                format!("ResourceManager: heartbeat of tm-{tm} timed out; the JobMaster releases its slots")
            }
            Detection::Deregistered => format!("tm-{tm} deregistered (shutting down); JobManager releases its slots"),
            Detection::PodTerminated => {
                format!("Kubernetes: the pod of tm-{tm} terminated; ResourceManager releases its slots")
            }
        },
        Note::TaskManagerRegistered { tm, slots } => format!("tm-{tm} registered with {slots} free slots"),
        Note::RestartScheduled { delay_us, .. } => format!("restart strategy: restart in {}", ms(*delay_us)),
        Note::NoRestart { reason, .. } => format!("no restart: {reason}"),
        Note::SlotsMissing { subtasks } => {
            format!(
                "{subtasks} subtasks wait for a slot (slot.request.timeout {})",
                ms(run.scenario.flink.slot_request_timeout_us)
            )
        }
        Note::CheckpointCompleted { cp, bytes, duration_us, .. } => {
            format!("checkpoint {cp} completed ({}, {})", bytes_h(*bytes), ms(*duration_us))
        }
        Note::CheckpointAborted { cp, reason } => format!(
            "checkpoint {cp} aborted: {}",
            match reason {
                AbortReason::JobFailover => "job failover",
                AbortReason::Expired => "expired (execution.checkpointing.timeout)",
                AbortReason::Subsumed => "subsumed (a newer checkpoint completed first)",
                AbortReason::TriggerFailed =>
                    "its trigger failed (triggerCheckpoint got no answer or an error; not counted)",
                AbortReason::Declined => "declined by a task that was finishing (not counted)",
                AbortReason::JobCancelled => "the job is cancelled",
                AbortReason::AsyncFailed =>
                    "a task's asynchronous part failed (its upload to checkpoint storage); counted toward tolerable-failed-checkpoints",
            }
        ),
        Note::Restored { st, cp, bytes, local, duration_us, .. } => format!(
            "{} restores checkpoint {} ({} from {}, {})",
            g.subtask_name(*st),
            cp.map_or("-".into(), |c| c.to_string()),
            bytes_h(*bytes),
            if *local { "the local copy" } else { "checkpoint storage" },
            ms(*duration_us)
        ),
        Note::SourceRewound { st, positions } => {
            let p: Vec<String> = positions.iter().map(|(p, o)| format!("p{p}@{o}")).collect();
            format!("{} rewinds to {}", g.subtask_name(*st), p.join(", "))
        }
        Note::SinkCommitted { st, checkpoint, records, recovered: true, .. } => format!(
            "{} commits recovered transaction of checkpoint {checkpoint} ({records} records)",
            g.subtask_name(*st)
        ),
        Note::SinkAborted { st, transactions, records } => format!(
            "{} aborts {transactions} lingering transaction{} ({records} uncommitted records)",
            g.subtask_name(*st),
            if *transactions == 1 { "" } else { "s" }
        ),
        Note::MessageLost { message, from, to, .. } => {
            // A data connection is one TCP stream: losing a message on it means it broke.
            let data = matches!(message.as_str(), "data buffer" | "partition request" | "credit announcement");
            let broke = if data {
                ": the data connection breaks, both ends see it closed".to_string()
            } else if *from == HostId::STORE || *to == HostId::STORE {
                ": the Kafka client hears nothing and sends it again after request.timeout.ms (30 s)".into()
            } else if *from == HostId::STORAGE || *to == HostId::STORAGE {
                ": the storage client hears nothing and retries after its socket timeout (60 s)".into()
            } else if *from == HostId::HA || *to == HostId::HA {
                let after = ms(crate::cluster::net::ha_client_timeout_us(&run.scenario.flink));
                match run.scenario.flink.ha {
                    HaKind::Zookeeper => format!(
                        ": the ZooKeeper connection goes silent; after its read timeout (2/3 of the session timeout, {after}) the client reconnects and Curator retries"
                    ),
                    _ => format!(": the Kubernetes client times out after {after} and retries"),
                }
            } else {
                String::new()
            };
            format!("network: {message} from {} to {} lost{broke}", from.name(), to.name())
        }
        Note::PartitionHealed { released, .. } => {
            format!("network: partition healed; {released} held messages delivered in order")
        }
        Note::HostThawed { host, backlog } => {
            format!("{} wakes up and works off {backlog} events that waited while it was frozen", host.name())
        }
        Note::JobManagerLostByTaskManager { tm, reason } => {
            format!(
                "tm-{tm} closes its JobManager connection ({reason}): fails the job's tasks, keeps their slots for taskmanager.slot.timeout"
            )
        }
        Note::SlotsFreed { tm, slots } => {
            format!("tm-{tm} frees its {slots} inactive slots (taskmanager.slot.timeout)")
        }
        Note::DoubleWriter { st, attempt, newer, records } => format!(
            "sink store accepts {records} records from attempt #{attempt} of {} after attempt #{newer} wrote (two live attempts)",
            g.subtask_name(*st)
        ),
        Note::CommittedTxnWrittenAgain { st, checkpoint } => format!(
            "sink store: {} writes into the transaction of checkpoint {checkpoint}, which was already committed",
            g.subtask_name(*st)
        ),
        Note::CommitOfAborted { st, checkpoint } => format!(
            "sink store: {} commits the transaction of checkpoint {checkpoint}, which was aborted (its records are gone)",
            g.subtask_name(*st)
        ),
        Note::ZombieFenced { st, attempt, epoch, newest } => format!(
            "sink store refuses {} attempt #{attempt}: a zombie writer (producer epoch {epoch} < {newest}, fenced)",
            g.subtask_name(*st)
        ),
        Note::LeaderElected { jm, checkpoint } => {
            let store = match run.scenario.flink.ha {
                HaKind::Zookeeper => "ZooKeeper",
                _ => "a Kubernetes ConfigMap",
            };
            let ha_dir = run.scenario.flink.ha_storage_dir.as_deref().unwrap_or("<high-availability.storageDir>");
            match checkpoint {
                Some(c) => format!(
                    "new JobManager leader #{jm} recovers the job from the HA store: the job graph, and checkpoint {c} ({store} points to a completedCheckpoint file in {ha_dir}, which points to {}): restarts every task from it",
                    checkpoint_home(run, *c)
                ),
                None => format!(
                    "new JobManager leader #{jm} recovers the job graph from the HA store ({store}, files in {ha_dir}); no checkpoint completed: restarts every task from empty state"
                ),
            }
        }
        Note::JobResultFound { jm, job, status } => format!(
            "new JobManager leader #{jm} finds job {} in the JobResultStore ({}): a job that reached a globally terminal state is not recovered (its job graph and checkpoint pointer left the HA store when it ended)",
            crate::cluster::jobmanager::job_id(run.scenario.seed, *job),
            status.name()
        ),
        Note::Warning { text } => text.clone(),
        Note::JobOperation { text, .. } => text.clone(),
        _ => return None,
    })
}

/// What a failover handles: the failure of a task, or a global failure no task caused.
fn failure_of(run: &Run, f: &FailoverReport) -> String {
    match f.failed_subtask {
        Some(st) => format!("the failure of {}", run.graph.subtask_name(st)),
        None => format!("a global failure, no task failed ({})", f.cause.tag()),
    }
}

/// The summary after the timeline: the job's end, each failover with its recovery phases, the
/// verdict and what the oracle found, zombies, violations, the trace hash.
pub fn summary(run: &Run, out: &mut String) {
    let o = &run.outcome;
    let r = &run.output;
    let _ = writeln!(out, "summary:");
    let _ = writeln!(
        out,
        "  job {} at {}{}; {} failover{}; checkpoints {} completed, {} aborted",
        o.job_status.name(),
        fmt_time(o.end_us),
        match o.job_status {
            JobStatus::Finished => "",
            JobStatus::NotFound => {
                " (not a Flink status: its JobManager died without high availability and no process knows the job) — the job did not finish"
            }
            JobStatus::Failed | JobStatus::Canceled => " — the job did not finish",
            _ if o.budget_stop.is_some() => " — the run stopped at its budget (see below)",
            _ => " — the job did not finish before the run's time limit",
        },
        o.failovers.len(),
        if o.failovers.len() == 1 { "" } else { "s" },
        o.checkpoints_completed,
        o.checkpoints_aborted
    );
    for (i, f) in o.failovers.iter().enumerate() {
        let _ = writeln!(out, "  {}", failover_line(run, i, f));
        if let Some(p) = recovery_phases(run, f) {
            let _ = writeln!(out, "      {}", p.describe());
        }
        if let Some(line) = in_flight_line(run, f) {
            let _ = writeln!(out, "      {line}");
        }
    }
    for &(fault, hits) in &o.rule_hits {
        let action = &run.scenario.faults[fault].action;
        let verb = if matches!(action, crate::fault::FaultAction::LoseMessages(_)) { "lost" } else { "delayed" };
        let what = action.describe(&|x| run.graph.subtask_ref_name(x));
        let _ = writeln!(out, "  network: {hits} message{} {verb} by `{what}`", if hits == 1 { "" } else { "s" });
    }
    // Records not committed when the run ended: a job that ended FAILED, CANCELED or NOT_FOUND will never
    // commit them; one still running or restarting at the time limit had not yet.
    let uncommitted = match o.job_status {
        JobStatus::Finished => "not committed".to_string(),
        JobStatus::Failed | JobStatus::NotFound | JobStatus::Canceled => {
            format!("never committed (the job is {})", o.job_status.name())
        }
        other => format!("not committed when the run stopped (the job was still {})", other.name()),
    };
    if !r.upserts.is_empty() && r.upserts.len() == r.sinks {
        let _ = writeln!(
            out,
            "  output: {} — every sink upserts by key: judged by the table each leaves (its last write per key), not by counting records",
            r.verdict.name()
        );
    } else {
        let _ = writeln!(
            out,
            "  output: {} — {} committed of {} expected; {} lost, {} duplicated, {} {uncommitted}",
            r.verdict.name(),
            r.committed,
            r.expected,
            r.lost,
            r.duplicated,
            r.pending
        );
    }
    for u in &r.upserts {
        let back = if u.keys_went_back > 0 {
            format!(
                "; meanwhile {} key{} went back to an earlier value (a reader saw the row roll back until the replay caught up)",
                u.keys_went_back,
                if u.keys_went_back == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  upsert sink `{}`: {} writes for {} results, {} written again after restarts (idempotent: a row is overwritten by key, so the table is judged by each key's last write, under final state){back}",
            u.sink, u.writes, u.results, u.rewritten
        );
        if u.keys_left_older > 0 {
            let _ = writeln!(
                out,
                "  why: {} key{} of `{}` end with an older result written after a newer one: an older attempt (a zombie, e.g. on a frozen TaskManager) wrote after the restarted one, and nothing fences an upsert sink's writes (a transactional sink would have refused them)",
                u.keys_left_older,
                if u.keys_left_older == 1 { "" } else { "s" },
                u.sink
            );
        }
    }
    if !r.unverified_sinks.is_empty() {
        let _ = writeln!(
            out,
            "  not verified: {} (what reaches it depends on how partitions interleave, and no multiset or count of it is fixed)",
            r.unverified_sinks.join(", ")
        );
    }
    if !r.uncounted_sinks.is_empty() {
        let _ = writeln!(
            out,
            "  not in the expected count: {} (how many results reach it depends on how partitions interleave)",
            r.uncounted_sinks.join(", ")
        );
    }
    if r.lost_in_reference_too > 0 {
        let _ = writeln!(
            out,
            "  the fault-free reference simulation did not commit {} of the lost records either: a bug every run shares, not a recovery problem",
            r.lost_in_reference_too
        );
    }
    if let Some(why) = &r.not_clean {
        let _ = writeln!(out, "  not a clean verdict: {why}");
    }
    if let Some(why) = &r.by_design {
        let _ = writeln!(out, "  why: {why}");
    }
    let fault_text = |f: Option<(usize, u64)>| -> String {
        match f {
            Some((i, t)) => format!(
                "{} at {}",
                run.scenario.faults[i].action.describe(&|x| run.graph.subtask_ref_name(x)),
                fmt_time(t)
            ),
            None => "no fault fired".into(),
        }
    };
    if let Some(x) = &r.first_lost {
        let _ = writeln!(
            out,
            "  first lost record: {} (key {}, appended at {}) never reached {}; fault: {}",
            x.record,
            x.key,
            fmt_time(x.appended_at_us),
            x.sink,
            fault_text(x.fault)
        );
    }
    if let Some(x) = &r.first_duplicate {
        let _ = writeln!(
            out,
            "  first duplicate: {} (key {}, appended at {}) committed {}× to {}; fault: {}",
            x.record,
            x.key,
            fmt_time(x.appended_at_us),
            x.committed_times,
            x.sink,
            fault_text(x.fault)
        );
    }
    if r.final_state_compared {
        match &r.first_state_diff {
            None if r.keys_stale_last > 0 => {
                let _ = writeln!(
                    out,
                    "  final state: the final aggregate of all {} keys was committed; for {} of them an older attempt's result was written after it (a reader keeping the latest result per key sees that one)",
                    r.keys_compared, r.keys_stale_last
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  final state: all {} keys equal their final aggregate from the source log",
                    r.keys_compared
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "  final state: {} of {} keys differ ({} below, {} above); first: {} key {} = {}, from the source log {}",
                    r.keys_below + r.keys_above,
                    r.keys_compared,
                    r.keys_below,
                    r.keys_above,
                    d.sink,
                    d.key,
                    d.committed,
                    d.expected
                );
            }
        }
    }
    if let Some(b) = &r.first_bad_result {
        let _ = writeln!(
            out,
            "  {} key{} with results no fault-free execution commits; first: {b}",
            r.bad_results,
            if r.bad_results == 1 { "" } else { "s" },
        );
    }
    if r.keys_over_budget > 0 {
        let _ = writeln!(
            out,
            "  {} keys have too many interleavings to search ({} states a key, {} a run at most): their result sequences are not checked",
            r.keys_over_budget,
            crate::check::interleave::STATE_BUDGET,
            crate::check::interleave::RUN_BUDGET
        );
    }
    match &run.cut_violation {
        None if run.cuts_checked > 0 => {
            let sampled = run.outcome.completed.len() as u64;
            let which = if sampled == run.outcome.checkpoints_completed {
                format!("all {sampled} completed checkpoints")
            } else {
                format!("{sampled} sampled of {} completed checkpoints", run.outcome.checkpoints_completed)
            };
            let _ = writeln!(out, "  consistent cuts: the keyed state of {which} matches their source offsets");
        }
        None => {}
        Some(v) => {
            let _ = writeln!(out, "  INCONSISTENT CUT: {v}");
        }
    }
    let zombies = o.store.zombies();
    if !zombies.is_empty() {
        let parts: Vec<String> = zombies
            .iter()
            .map(|z| format!("{} attempt #{} ({} records)", run.graph.subtask_name(z.st), z.attempt, z.records))
            .collect();
        let _ = writeln!(
            out,
            "  zombies: the sink store fenced writes of {}; none of them was committed",
            parts.join(", ")
        );
    }
    for v in &o.violations {
        let _ = writeln!(out, "  INVARIANT VIOLATED: {v}");
    }
    let _ = writeln!(out, "  trace hash {:016x}; {} events, {} trace lines", o.trace_hash, o.events, o.notes.len());
}
