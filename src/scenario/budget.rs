//! Budgets instead of runaways: what a scenario will cost, estimated before it runs, and the
//! limits a run stops at.
//!
//! A valid scenario can still ask for hours of wall time or gigabytes of memory: a day of virtual
//! time, tens of millions of records, a million keys snapshotted into a thousand retained
//! checkpoints, a thousand subtasks all-to-all. `estimate` prices a scenario from its sizes alone
//! (records and the network edges they cross, checkpoints times channels for the barriers, the
//! keyed state every checkpoint copies and storage retains, heartbeats, what the oracle keeps per
//! committed record), and `Budget::admit` refuses one over the limits with the estimate, the
//! limit and the flag that raises it. The estimate is an upper-leaning guess calibrated against
//! measured runs (tests/it/budget.rs holds it near the real event counts of every bundled
//! scenario); what it misses, the engine catches while running: `World::step` stops at
//! `max_events`, and at `max_memory` of the world's modelled footprint, with a verdict that says
//! which budget ended the run and how to raise it.

use crate::job::graph::JobGraph;
use crate::job::spec::OperatorKind;
use crate::scenario::Scenario;
use std::fmt;

/// The default event budget: about 20 s of one run with its oracle and, when needed, its
/// fault-free reference run, at the speeds `bench` measures (5–10 M events/s per simulation).
pub const DEFAULT_MAX_EVENTS: u64 = 40_000_000;
/// The default memory budget: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;

/// Limits of one simulation (the faulty run and its reference run each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Engine events (`World::step`) per simulation.
    pub max_events: u64,
    /// Bytes of memory: the load-time estimate of the whole run (simulation and oracle), and
    /// the world's modelled footprint while it runs.
    pub max_memory: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_events: DEFAULT_MAX_EVENTS, max_memory: DEFAULT_MAX_MEMORY }
    }
}

/// Which budget ended a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BudgetStop {
    /// The run had processed this many events (`--max-events`).
    Events { limit: u64 },
    /// The world's modelled footprint passed the limit (`--max-memory`), in bytes.
    Memory { footprint: u64, limit: u64 },
}

impl fmt::Display for BudgetStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BudgetStop::Events { limit } => write!(
                f,
                "the run stopped at its budget of {} events (--max-events raises it)",
                group(u128::from(limit))
            ),
            BudgetStop::Memory { footprint, limit } => write!(
                f,
                "the run stopped at its memory budget: the simulation held about {} of the {} allowed \
                 (--max-memory raises it)",
                bytes(u128::from(footprint)),
                bytes(u128::from(limit))
            ),
        }
    }
}

/// One line of an estimate: what costs, how many, and the events and bytes it adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub what: String,
    pub events: u128,
    pub bytes: u128,
}

/// What a scenario is expected to cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Engine events of one simulation (state copied at checkpoints counted as events of work).
    pub events: u128,
    /// Peak bytes of a run: the simulation, the oracle and the reference run's output.
    pub memory: u128,
    /// The contributions, largest first.
    pub parts: Vec<Part>,
}

/// A scenario over its budget: the estimate and the limits it exceeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverBudget {
    pub file: String,
    pub estimate: Estimate,
    pub budget: Budget,
}

impl OverBudget {
    /// The refusal as a loader error (no position: it is the scenario as a whole), so every
    /// command reports it as it reports a bad file, with exit code 2.
    pub fn into_error(self) -> crate::scenario::ScenarioError {
        let (e, b) = (&self.estimate, &self.budget);
        let mut message = String::from("this scenario is too large for its budget");
        if e.events > u128::from(b.max_events) {
            message += &format!(
                "\n  estimated {} engine events per simulation; the limit is {} (raise it with --max-events {})",
                group(e.events),
                group(u128::from(b.max_events)),
                round_up(e.events)
            );
        }
        if e.memory > u128::from(b.max_memory) {
            message += &format!(
                "\n  estimated {} of memory; the limit is {} (raise it with --max-memory {})",
                bytes(e.memory),
                bytes(u128::from(b.max_memory)),
                bytes_flag(e.memory)
            );
        }
        message += "\n  where it comes from:";
        for p in e.parts.iter().filter(|p| p.events > 0 || p.bytes > 0).take(4) {
            message += &format!("\n    {}: {} events, {}", p.what, group(p.events), bytes(p.bytes));
        }
        crate::scenario::ScenarioError {
            file: self.file,
            position: None,
            message,
            hint: Some(
                "shorten `duration`, lower a source's `rate` or `keys`, `parallelism` or \
                 `execution.checkpointing.num-retained`, or raise the limit"
                    .into(),
            ),
            source: None,
        }
    }
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.clone().into_error())
    }
}

impl std::error::Error for OverBudget {}

impl Budget {
    /// The scenario's estimate, or why it is refused.
    pub fn admit(&self, file: &str, sc: &Scenario) -> Result<Estimate, Box<OverBudget>> {
        let estimate = estimate(sc);
        if estimate.events > u128::from(self.max_events) || estimate.memory > u128::from(self.max_memory) {
            return Err(Box::new(OverBudget { file: file.to_string(), estimate, budget: *self }));
        }
        Ok(estimate)
    }
}

// Calibration (release build, measured on the bundled scenarios and on the runaways of
// tests/it/budget.rs): events per record read, per network edge it crosses, per barrier on a
// channel, per subtask and checkpoint (trigger, snapshot, upload, acknowledgement,
// notification, sink store calls), per heartbeat; bytes kept per committed record (the store's
// transaction and committed lists, the oracle's copies and, when the reference run is
// simulated, its output), per keyed state entry retained in checkpoint storage (a `BTreeMap`
// entry with its share of the node), per channel.
const EVENTS_PER_RECORD: u128 = 1;
const EVENTS_PER_RECORD_HOP: u128 = 2;
const EVENTS_PER_BARRIER: u128 = 2;
const EVENTS_PER_SUBTASK_CHECKPOINT: u128 = 10;
const EVENTS_PER_HEARTBEAT: u128 = 4;
/// Deploying, initializing and restoring a subtask, with its channels' partition requests.
const EVENTS_PER_SUBTASK_RESTART: u128 = 30;
const EVENTS_PER_TASKMANAGER: u128 = 20;
const EVENTS_BASE: u128 = 200;
/// A state entry copied at a snapshot costs about this fraction of an event's time.
const ENTRIES_PER_EVENT: u128 = 4;
pub(crate) const BYTES_PER_COMMITTED_RECORD: u128 = 128;
pub(crate) const BYTES_PER_STATE_ENTRY: u128 = 32;
const BYTES_PER_CHANNEL: u128 = 400;
/// Trace notes of a checkpoint (trigger, completion, commits per sink subtask) and its share of
/// the kept cut samples, per subtask.
const BYTES_PER_SUBTASK_CHECKPOINT: u128 = 128;
/// The drain priced at load time, at most.
const DRAIN_PRICED_US: u64 = 10_000_000;
const BYTES_BASE: u128 = 8 << 20;

/// What `sc` will cost, from its sizes alone.
pub fn estimate(sc: &Scenario) -> Estimate {
    let graph = JobGraph::build(&sc.job);
    // A job runs about `duration` (its sources end, or the log stops growing, and it drains);
    // one that never finishes runs through the drain too, which the runtime budget catches.
    let run_us = u128::from(sc.duration_us) + u128::from(sc.drain_us.min(DRAIN_PRICED_US));
    let mut records: u128 = 0;
    let mut keys: u128 = 0;
    for op in &sc.job.operators {
        if let OperatorKind::Source(s) = &op.kind {
            let appended = u128::from(s.rate_per_s) * u128::from(sc.duration_us) / 1_000_000;
            records += s.records.map_or(appended, |n| u128::from(n).min(appended));
            keys = keys.max(u128::from(s.keys));
        }
    }
    let hops = graph.edges.len() as u128;
    let sinks = sc.job.operators.iter().filter(|o| matches!(o.kind, OperatorKind::Sink(_))).count() as u128;
    let keyed_ops =
        sc.job.operators.iter().filter(|o| matches!(o.kind, OperatorKind::KeyedCount | OperatorKind::KeyedSum)).count()
            as u128;
    let channels = graph.channels.len() as u128;
    let subtasks = graph.subtasks.len() as u128;
    let checkpoints = sc.flink.checkpoint_interval_us.map_or(0, |iv| run_us / u128::from(iv.max(1)));
    let heartbeats = run_us * u128::from(sc.cluster.taskmanagers) / u128::from(sc.flink.heartbeat_interval_us.max(1));
    // Keyed state: one entry per key seen per keyed operator (a key lives on one subtask);
    // `records` draws over `keys` see about keys × (1 − e^(−records/keys)) of them.
    let seen =
        if keys == 0 { 0 } else { (keys as f64 * (1.0 - (-(records as f64) / keys as f64).exp())).ceil() as u128 };
    let entries = keyed_ops * seen;
    let retained = checkpoints.min(u128::from(sc.flink.checkpoints_retained.max(1)));
    // Local recovery keeps a copy of each subtask's latest snapshot on its TaskManager.
    let copies = retained + u128::from(sc.flink.local_recovery);

    // Each fault may restart the job: redeploy and restore every subtask, and replay from the
    // restored checkpoint (about one interval of records), or from the start without one.
    let faults = sc.faults.len() as u128;
    let rate: u128 = sc
        .job
        .operators
        .iter()
        .filter_map(|o| if let OperatorKind::Source(s) = &o.kind { Some(u128::from(s.rate_per_s)) } else { None })
        .sum();
    let replayed = match sc.flink.checkpoint_interval_us {
        Some(iv) => (rate * u128::from(iv) / 1_000_000).min(records),
        None => records / 2,
    };
    let mut parts = vec![
        Part {
            what: format!("{} records over {} network edge(s) into {} sink(s)", group(records), hops, sinks),
            events: records * (EVENTS_PER_RECORD + EVENTS_PER_RECORD_HOP * hops),
            bytes: records * sinks.max(1) * BYTES_PER_COMMITTED_RECORD,
        },
        Part {
            what: format!("{} checkpoints × ({} channels, {} subtasks)", group(checkpoints), group(channels), subtasks),
            events: checkpoints * (channels * EVENTS_PER_BARRIER + subtasks * EVENTS_PER_SUBTASK_CHECKPOINT),
            bytes: channels * BYTES_PER_CHANNEL + checkpoints * (subtasks + 4) * BYTES_PER_SUBTASK_CHECKPOINT,
        },
        Part {
            what: format!(
                "{} keyed state entries copied at {} checkpoints, {} snapshot(s) kept",
                group(entries),
                group(checkpoints),
                copies
            ),
            events: entries * checkpoints / ENTRIES_PER_EVENT,
            bytes: entries * copies * BYTES_PER_STATE_ENTRY,
        },
        Part {
            what: format!("{} fault(s): a restart each, replaying {} records", sc.faults.len(), group(replayed)),
            events: faults
                * (subtasks * EVENTS_PER_SUBTASK_RESTART
                    + channels * EVENTS_PER_BARRIER
                    + replayed * (EVENTS_PER_RECORD + EVENTS_PER_RECORD_HOP * hops)),
            bytes: faults * replayed * sinks.max(1) * BYTES_PER_COMMITTED_RECORD,
        },
        Part {
            what: format!("start-up of {} TaskManagers and {} subtasks", sc.cluster.taskmanagers, subtasks),
            events: EVENTS_BASE
                + u128::from(sc.cluster.taskmanagers) * EVENTS_PER_TASKMANAGER
                + subtasks * EVENTS_PER_SUBTASK_RESTART,
            bytes: 0,
        },
        Part { what: format!("{} heartbeats", group(heartbeats)), events: heartbeats * EVENTS_PER_HEARTBEAT, bytes: 0 },
    ];
    parts.sort_by_key(|p| std::cmp::Reverse(p.events + p.bytes / 64));
    let events = parts.iter().map(|p| p.events).sum();
    let memory = BYTES_BASE + parts.iter().map(|p| p.bytes).sum::<u128>();
    Estimate { events, memory, parts }
}

/// `12345678` → `12,345,678`.
pub fn group(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes for a person: `1.5 GiB`, `300 MiB`.
pub fn bytes(n: u128) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A limit that admits `n`, as the flag takes it: rounded up to two significant digits.
fn round_up(n: u128) -> u128 {
    let mut scale = 1;
    while n / scale >= 100 {
        scale *= 10;
    }
    n.div_ceil(scale) * scale
}

/// A memory limit that admits `n`, as `--max-memory` takes it: whole MiB or GiB, rounded up.
fn bytes_flag(n: u128) -> String {
    const MIB: u128 = 1 << 20;
    const GIB: u128 = 1 << 30;
    if n > 4 * GIB { format!("{}GiB", n.div_ceil(GIB)) } else { format!("{}MiB", n.div_ceil(MIB)) }
}

/// `--max-memory`: a size as bytesize reads it (`512MiB`, `2GiB`, `1.5GB`, `1000000`), at least 1 MiB.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize =
        s.trim().parse().map_err(|_| format!("`{s}` is not a size; sizes look like 512MiB, 2GiB, 1500000000"))?;
    if size.0 < 1 << 20 {
        return Err(format!("`{s}` is less than the least memory budget, 1MiB"));
    }
    Ok(size.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(round_up(104_567_988), 110_000_000);
        assert_eq!(round_up(99), 99);
        assert_eq!(bytes_flag(9 << 30), "9GiB");
        assert_eq!(bytes_flag((3 << 29) + 1), "1537MiB");
        assert_eq!(parse_memory("2GiB"), Ok(2 << 30));
        assert!(parse_memory("1KiB").is_err());
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn the_test_scenario_is_within_the_default_budget_and_a_long_one_is_not() {
        let mut sc = crate::scenario::testing::keyed_job(2, 2);
        assert!(Budget::default().admit("t", &sc).is_ok());
        sc.duration_us = 86_400_000_000;
        for op in &mut sc.job.operators {
            if let OperatorKind::Source(s) = &mut op.kind {
                s.rate_per_s = 10_000;
                s.records = None;
            }
        }
        let err = Budget::default().admit("t", &sc).expect_err("a day at 10,000 records/s is over budget");
        let text = err.to_string();
        assert!(text.contains("--max-events") && text.contains("--max-memory"), "{text}");
    }
}
