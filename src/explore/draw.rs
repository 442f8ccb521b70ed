//! What `explore` draws for one seed, written into the scenario document itself: a random fault
//! schedule (swarm style: per seed, which fault kinds are on and how often), and with `--vary`
//! the job and its configuration too. Working on the TOML document (not on the validated
//! `Scenario`) means the file `explore` writes for a failing seed is exactly what ran, and the
//! loader validates every draw like a hand-written file.

use crate::cluster::config::{HaKind, ResourceManagerKind};
use crate::fault::MessageKind;
use crate::job::spec::OperatorKind;
use crate::scenario::Scenario;
use crate::sim::{Rng, Stream};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

/// The fault kinds `explore` draws from: every kind the engine has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    KillTaskManager,
    StopTaskManager,
    LoseTaskManagerHost,
    FreezeTaskManager,
    Partition,
    LoseMessages,
    DelayMessages,
    RollingUpdate,
    KillJobManager,
    FailTask,
    /// Checkpoint storage down for a while: drawn from its own stream, in a sixth of the seeds.
    StorageOutage,
    /// Checkpoint storage slow for a while: drawn from the same stream, after the outage.
    StorageSlow,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::KillTaskManager,
        Kind::StopTaskManager,
        Kind::LoseTaskManagerHost,
        Kind::FreezeTaskManager,
        Kind::Partition,
        Kind::LoseMessages,
        Kind::DelayMessages,
        Kind::RollingUpdate,
        Kind::KillJobManager,
        Kind::FailTask,
        Kind::StorageOutage,
        Kind::StorageSlow,
    ];
    /// The scenario file's name of the fault.
    pub fn name(self) -> &'static str {
        match self {
            Kind::KillTaskManager => "kill-taskmanager",
            Kind::StopTaskManager => "stop-taskmanager",
            Kind::LoseTaskManagerHost => "lose-taskmanager-host",
            Kind::FreezeTaskManager => "freeze-taskmanager",
            Kind::Partition => "partition",
            Kind::LoseMessages => "lose-messages",
            Kind::DelayMessages => "delay-messages",
            Kind::RollingUpdate => "rolling-update",
            Kind::KillJobManager => "kill-jobmanager",
            Kind::FailTask => "fail-task",
            Kind::StorageOutage => "storage-outage",
            Kind::StorageSlow => "storage-slow",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// What may be drawn.
#[derive(Clone, Debug)]
pub struct DrawOptions {
    /// Fault kinds that may be drawn (all by default).
    pub kinds: Vec<Kind>,
    /// Most faults per seed (restarts that bring a killed TaskManager back are not counted).
    pub max_faults: u32,
    /// Also draw the job and its configuration (`--vary`).
    pub vary: bool,
    /// Keep the cluster able to recover: killed TaskManagers of a standalone cluster are
    /// restarted, partitions heal, message rules end, the JobManager is killed only with HA,
    /// a host is lost only while the others have slots enough, no poison records.
    pub recoverable: bool,
    /// Also draw a user's operation per seed, half the time (`--operations`): stop with a
    /// savepoint and submit from it, cancel and submit from the retained checkpoint or from
    /// nothing, or a task failure that suppresses restarts.
    pub operations: bool,
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions { kinds: Kind::ALL.to_vec(), max_faults: 4, vary: false, recoverable: true, operations: false }
    }
}

/// Millisecond text for a duration key: "1234ms".
fn ms(us: u64) -> String {
    format!("{}ms", us / 1_000)
}

fn between(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    if hi <= lo { lo } else { lo + rng.below_inclusive(hi - lo) }
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below_inclusive(items.len() as u64 - 1) as usize]
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.unit_f64() < p
}

fn table<'a>(doc: &'a mut DocumentMut, name: &str) -> &'a mut Table {
    if !doc.as_table().contains_key(name) || !doc[name].is_table() {
        doc[name] = Item::Table(Table::new());
    }
    doc[name].as_table_mut().expect("just made a table")
}

/// Sets `[flink] key = value`.
pub fn set_flink(doc: &mut DocumentMut, key: &str, value: impl Into<Value>) {
    table(doc, "flink")[key] = Item::Value(value.into());
}

/// Sets `[cluster] key = value`.
pub fn set_cluster(doc: &mut DocumentMut, key: &str, value: impl Into<Value>) {
    table(doc, "cluster")[key] = Item::Value(value.into());
}

/// Every (phase, subtask) an `at-phase` fault of the job can name: without checkpointing only
/// `deploying` (there is nothing to restore either), each where it can happen.
fn phase_targets(sc: &Scenario) -> Vec<(crate::fault::phase::ProtocolPhase, String)> {
    use crate::fault::phase::ProtocolPhase;
    let graph = crate::job::graph::JobGraph::build(&sc.job);
    let mut out = Vec::new();
    for phase in ProtocolPhase::ALL {
        if phase != ProtocolPhase::Deploying && sc.flink.checkpoint_interval_us.is_none() {
            continue;
        }
        for i in 0..graph.subtask_count() {
            let st = crate::job::graph::SubtaskId(i as u32);
            if crate::explore::sweep::applies(&graph, phase, st) {
                out.push((phase, crate::explore::sweep::subtask_ref(&graph, st)));
            }
        }
    }
    out
}

/// `--operations`: half the seeds get one of a user's operations, from their own stream (the
/// fault schedule stays as drawn): stop-with-savepoint then a submission from the savepoint;
/// cancel then a submission from the retained checkpoint (retention set to
/// RETAIN_ON_CANCELLATION) or from nothing; or a task failure that suppresses restarts.
fn operations(doc: &mut DocumentMut, sc: &Scenario, seed: u64, out: &mut ArrayOfTables) -> u32 {
    let mut r = Rng::new(seed, Stream::ExploreOps);
    if !chance(&mut r, 0.5) {
        return 0;
    }
    let end_ms = (sc.duration_us / 1_000).max(2_000);
    let at = between(&mut r, end_ms / 5, end_ms * 3 / 5) * 1_000;
    let later = at + between(&mut r, 500, 5_000) * 1_000;
    let step = |key: &str, value: Value, when: u64| {
        let mut t = Table::new();
        t["at"] = toml_edit::value(ms(when));
        t[key] = toml_edit::Item::Value(value);
        t
    };
    let checkpointing = sc.flink.checkpoint_interval_us.is_some();
    match between(&mut r, 0, 3) {
        0 if checkpointing => {
            out.push(step("stop-with-savepoint", true.into(), at));
            out.push(step("submit-job", "savepoint".into(), later));
            2
        }
        1 if checkpointing => {
            set_flink(doc, "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
            out.push(step("cancel-job", true.into(), at));
            out.push(step("submit-job", "retained-checkpoint".into(), later));
            2
        }
        2 => {
            out.push(step("cancel-job", true.into(), at));
            out.push(step("submit-job", "nothing".into(), later));
            2
        }
        _ => {
            let graph = crate::job::graph::JobGraph::build(&sc.job);
            let st = crate::job::graph::SubtaskId(r.below_inclusive(graph.subtask_count() as u64 - 1) as u32);
            let mut t = step("fail-task", crate::explore::sweep::subtask_ref(&graph, st).into(), at);
            t["suppress-restarts"] = toml_edit::value(true);
            out.push(t);
            1
        }
    }
}

/// The document with its faults and `[expect]` table removed: what a seed's schedule is added to.
pub fn strip(doc: &mut DocumentMut) {
    doc.remove("fault");
    doc.remove("expect");
}

/// Draws the job and configuration of one seed (`--vary`) into `doc`: topology, parallelism,
/// chaining, keys, rate, sink kinds, checkpointing (on or off, interval, mode, timeout,
/// concurrent checkpoints, tolerable failures, retained), restart strategy, failover strategy,
/// heartbeats, local recovery, load balancing, resource manager, cluster size and network.
pub fn vary(doc: &mut DocumentMut, seed: u64) {
    let mut rng = Rng::new(seed, Stream::Vary);
    let r = &mut rng;
    // Which exchange a non-forward edge is, from its own stream (the rest of the draw stays as it
    // was): rebalance, rescale, or — where no keyed operator follows — broadcast.
    let mut edges = Rng::new(seed, Stream::VaryEdges);
    let mut exchange = move |keyed_may_follow: bool| -> &'static str {
        match edges.below_inclusive(9) {
            0..=4 => "rebalance",
            5..=7 => "rescale",
            _ if keyed_may_follow => "rescale",
            _ => "broadcast",
        }
    };
    doc.remove("flink");
    doc.remove("cluster");
    doc["duration"] = toml_edit::value(ms(between(r, 3, 20) * 1_000_000));
    doc["drain"] = toml_edit::value("5min");
    // The job.
    let p = between(r, 1, 4) as i64;
    let partitions = p + between(r, 0, 3) as i64;
    let keys = pick(r, &[1i64, 3, 20, 100, 500]);
    let rate = pick(r, &[200i64, 1_000, 2_000, 4_000]);
    let mut ops: Vec<InlineTable> = Vec::new();
    let src = push_op(&mut ops, "source", "source", p, None);
    let mut last = "source".to_string();
    let mut last_p = p;
    // Stateless steps before the keyBy.
    for i in 0..between(r, 0, 2) {
        let name = format!("pre{i}");
        let (edge, par) = if chance(r, 0.7) { ("forward", last_p) } else { (exchange(true), between(r, 1, 4) as i64) };
        let kind = if chance(r, 0.5) { "map" } else { "filter" };
        push_op(&mut ops, &name, kind, par, Some((&last, edge)));
        last = name;
        last_p = par;
    }
    let keyed = chance(r, 0.75);
    if keyed {
        for i in 0..between(r, 1, 2) {
            let name = format!("keyed{i}");
            let kind = if chance(r, 0.5) { "keyed-count" } else { "keyed-sum" };
            let par = between(r, 1, 4) as i64;
            let idx = push_op(&mut ops, &name, kind, par, Some((&last, "hash")));
            // Keyed state sizes from their own stream, so the rest of the draw stays as it was.
            let mut sizes = Rng::new(seed ^ i, Stream::VaryState);
            if chance(&mut sizes, 0.3) {
                ops[idx].insert("state-per-key", pick(&mut sizes, &["1KB", "16KB", "256KB"]).into());
            }
            last = name;
            last_p = par;
        }
        // A stateless step after the keyed operator.
        if chance(r, 0.4) {
            let kind = if chance(r, 0.5) { "map" } else { "filter" };
            push_op(&mut ops, "post", kind, last_p, Some((&last, "forward")));
            last = "post".into();
        }
    }
    let sinks = if chance(r, 0.2) { 2 } else { 1 };
    let mut any_append = false;
    for i in 0..sinks {
        let name = if i == 0 { "sink".to_string() } else { format!("sink{i}") };
        let append = chance(r, 0.2);
        any_append |= append;
        let (edge, par) =
            if chance(r, 0.85) { ("forward", last_p) } else { (exchange(false), between(r, 1, 4) as i64) };
        let idx = push_op(&mut ops, &name, "sink", par, Some((&last, edge)));
        // Behind a keyed aggregation (through forward maps), a transactional sink may be an
        // upsert sink instead, drawn from its own stream so the rest of the draw stays.
        let mut sink_rng = Rng::new(seed ^ (i as u64), Stream::VarySinks);
        let upsert = !append && chance(&mut sink_rng, 0.25) && fed_by_keyed(&ops, idx);
        ops[idx].insert(
            "semantic",
            if upsert {
                "upsert"
            } else if append {
                "append"
            } else {
                "two-phase-commit"
            }
            .into(),
        );
    }
    ops[src].insert("partitions", partitions.into());
    ops[src].insert("rate", format!("{rate}/s").into());
    ops[src].insert("keys", keys.into());
    for t in ops.iter_mut() {
        match t.get("kind").and_then(Value::as_str) {
            Some("map") => {
                t.insert("multiply", (between(r, 1, 3) as i64).into());
                t.insert("add", (between(r, 0, 5) as i64).into());
            }
            Some("filter") => {
                let m = between(r, 1, 4) as i64;
                t.insert("modulo", m.into());
                t.insert("remainder", (between(r, 0, m as u64 - 1) as i64).into());
            }
            _ => {}
        }
    }
    // Sometimes operators in slot sharing groups of their own (their own stream): the job then
    // needs, per group, its widest operator's parallelism in slots.
    let mut slot_rng = Rng::new(seed, Stream::VarySlots);
    let mut extra_slots = 0u64;
    if chance(&mut slot_rng, 0.2) {
        let mut widest: Vec<(&str, u64)> = vec![("default", 0)];
        for t in ops.iter_mut() {
            let group = pick(&mut slot_rng, &["default", "default", "a", "b"]);
            if group != "default" {
                t.insert("slot-sharing-group", group.into());
            }
            let p = t.get("parallelism").and_then(Value::as_integer).unwrap_or(1).max(1) as u64;
            match widest.iter_mut().find(|(g, _)| *g == group) {
                Some((_, w)) => *w = (*w).max(p),
                None => widest.push((group, p)),
            }
        }
        let needed: u64 = widest.iter().map(|(_, w)| w).sum();
        extra_slots = needed.saturating_sub(4);
    }
    let mut arr = Array::new();
    for t in ops {
        arr.push(Value::InlineTable(t));
    }
    let mut job = Table::new();
    job["operators"] = Item::Value(Value::Array(arr));
    doc["job"] = Item::Table(job);
    let max_p: u64 = 4; // at most 4 subtasks per operator
    // Checkpointing and Flink's keys.
    let checkpointing = chance(r, 0.85);
    if checkpointing {
        set_flink(doc, "execution.checkpointing.interval", ms(pick(r, &[100u64, 300, 1_000, 3_000]) * 1_000));
        if chance(r, 0.2) || any_append {
            let mode = if chance(r, 0.5) { "AT_LEAST_ONCE" } else { "EXACTLY_ONCE" };
            set_flink(doc, "execution.checkpointing.mode", mode);
        }
        // RocksDB in a third of the seeds, half of those with incremental checkpoints.
        let mut b = Rng::new(seed, Stream::VaryBackend);
        if chance(&mut b, 1.0 / 3.0) {
            set_flink(doc, "state.backend.type", "rocksdb");
            if chance(&mut b, 0.5) {
                set_flink(doc, "execution.checkpointing.incremental", true);
            }
        }
        // Unaligned checkpoints in a quarter of the seeds, half of them starting aligned.
        let mut u = Rng::new(seed, Stream::VaryUnaligned);
        if chance(&mut u, 0.25) {
            set_flink(doc, "execution.checkpointing.unaligned.enabled", true);
            if chance(&mut u, 0.5) {
                let timeout = ms(pick(&mut u, &[1u64, 20, 100, 1_000]) * 1_000);
                set_flink(doc, "execution.checkpointing.aligned-checkpoint-timeout", timeout);
            }
        }
        if chance(r, 0.3) {
            set_flink(doc, "execution.checkpointing.timeout", ms(pick(r, &[2u64, 5, 10, 60]) * 1_000_000));
        }
        if chance(r, 0.3) {
            set_flink(doc, "execution.checkpointing.max-concurrent-checkpoints", between(r, 1, 3) as i64);
        }
        if chance(r, 0.2) {
            set_flink(doc, "execution.checkpointing.tolerable-failed-checkpoints", between(r, 0, 3) as i64);
        }
        if chance(r, 0.2) {
            set_flink(doc, "execution.checkpointing.num-retained", between(r, 1, 3) as i64);
        }
        if chance(r, 0.2) {
            set_flink(doc, "execution.checkpointing.min-pause", ms(pick(r, &[0u64, 100, 500]) * 1_000));
        }
    }
    match between(r, 0, 2) {
        0 => {}
        1 => {
            set_flink(doc, "restart-strategy.type", "fixed-delay");
            set_flink(doc, "restart-strategy.fixed-delay.attempts", pick(r, &[3i64, 1_000]));
            set_flink(doc, "restart-strategy.fixed-delay.delay", ms(pick(r, &[100u64, 1_000, 3_000]) * 1_000));
        }
        _ => {
            set_flink(doc, "restart-strategy.type", "exponential-delay");
            set_flink(doc, "restart-strategy.exponential-delay.initial-backoff", ms(pick(r, &[100u64, 1_000]) * 1_000));
            set_flink(doc, "restart-strategy.exponential-delay.max-backoff", "10s");
        }
    }
    // Sometimes failure-rate instead, from its own stream (the rest of the draw stays as it was).
    let mut rate = Rng::new(seed, Stream::VaryRestart);
    if chance(&mut rate, 0.2) {
        set_flink(doc, "restart-strategy.type", "failure-rate");
        set_flink(doc, "restart-strategy.failure-rate.max-failures-per-interval", between(&mut rate, 1, 4) as i64);
        set_flink(
            doc,
            "restart-strategy.failure-rate.failure-rate-interval",
            ms(pick(&mut rate, &[1u64, 10, 60]) * 1_000_000),
        );
        set_flink(doc, "restart-strategy.failure-rate.delay", ms(pick(&mut rate, &[100u64, 1_000]) * 1_000));
    }
    if chance(r, 0.3) {
        set_flink(doc, "jobmanager.execution.failover-strategy", "full");
    }
    if chance(r, 0.5) {
        let (i, t) = pick(r, &[(1u64, 5u64), (500, 2_000), (2, 10)]);
        let unit = if i >= 100 { 1_000 } else { 1_000_000 };
        set_flink(doc, "heartbeat.interval", ms(i * unit));
        set_flink(doc, "heartbeat.timeout", ms(t * unit));
    }
    if chance(r, 0.2) {
        set_flink(doc, "heartbeat.rpc-failure-threshold", pick(r, &[-1i64, 1, 5]));
    }
    if chance(r, 0.3) {
        set_flink(doc, "execution.state-recovery.from-local", true);
    }
    if chance(r, 0.5) {
        set_flink(doc, "taskmanager.load-balance.mode", "SLOTS");
    }
    if chance(r, 0.3) {
        set_flink(doc, "pipeline.operator-chaining.enabled", false);
    }
    if chance(r, 0.3) {
        set_flink(doc, "high-availability.type", if chance(r, 0.5) { "zookeeper" } else { "kubernetes" });
        set_flink(doc, "high-availability.zookeeper.client.session-timeout", "5s");
        set_flink(doc, "high-availability.kubernetes.leader-election.lease-duration", "5s");
    }
    if chance(r, 0.2) {
        set_flink(doc, "pekko.ask.timeout", ms(pick(r, &[1u64, 3, 10]) * 1_000_000));
    }
    // The cluster: slots enough for the widest operator (slot sharing), sometimes a spare TaskManager.
    let slots = between(r, 1, 4);
    let tms = max_p.div_ceil(slots) + between(r, 0, 2) + extra_slots.div_ceil(slots);
    set_cluster(doc, "taskmanagers", tms as i64);
    set_cluster(doc, "slots-per-taskmanager", slots as i64);
    if chance(r, 0.5) {
        set_cluster(doc, "resource-manager", "active");
        set_cluster(doc, "taskmanager-start-delay", ms(pick(r, &[500u64, 2_000, 5_000]) * 1_000));
    }
    if chance(r, 0.3) {
        set_cluster(doc, "channel-capacity", pick(r, &[1i64, 2, 8]));
    }
    if chance(r, 0.3) {
        set_cluster(doc, "network-latency", ms(pick(r, &[1u64, 5, 20]) * 1_000));
        set_cluster(doc, "network-jitter", ms(pick(r, &[0u64, 1, 10]) * 1_000));
    }
    if chance(r, 0.2) {
        set_cluster(doc, "storage-bandwidth", pick(r, &["1MB/s", "100MB/s"]));
    }
}

/// Whether `ops[at]` reads from a keyed aggregation through forward edges and maps only.
fn fed_by_keyed(ops: &[InlineTable], at: usize) -> bool {
    let text = |t: &InlineTable, k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
    let mut cur = at;
    for _ in 0..ops.len() {
        if text(&ops[cur], "edge").as_deref() != Some("forward") {
            return false;
        }
        let Some(input) = text(&ops[cur], "input") else { return false };
        let Some(i) = ops.iter().position(|t| text(t, "name").as_deref() == Some(input.as_str())) else { return false };
        match text(&ops[i], "kind").as_deref() {
            Some("keyed-count" | "keyed-sum") => return true,
            Some("map") => cur = i,
            _ => return false,
        }
    }
    false
}

fn push_op(ops: &mut Vec<InlineTable>, name: &str, kind: &str, parallelism: i64, input: Option<(&str, &str)>) -> usize {
    let mut t = InlineTable::new();
    t.insert("name", name.into());
    t.insert("kind", kind.into());
    t.insert("parallelism", parallelism.into());
    if let Some((i, e)) = input {
        t.insert("input", i.into());
        t.insert("edge", e.into());
    }
    ops.push(t);
    ops.len() - 1
}

/// A TaskManager's slot count and whether the scenario can bring it back.
struct Cluster {
    tms: u32,
    slots: u32,
    needed: u32,
    standalone: bool,
    ha: bool,
    operators: Vec<(String, u32)>,
    records_per_subtask: u64,
}

impl Cluster {
    fn of(sc: &Scenario) -> Cluster {
        // Slots the job needs: one per execution slot sharing group.
        let needed = crate::job::graph::JobGraph::build(&sc.job).slot_groups.max(1);
        let records: u64 = sc
            .job
            .operators
            .iter()
            .filter_map(|o| match &o.kind {
                OperatorKind::Source(s) => Some(s.records.unwrap_or(s.rate_per_s * sc.duration_us / 1_000_000)),
                _ => None,
            })
            .sum();
        Cluster {
            tms: sc.cluster.taskmanagers,
            slots: sc.cluster.slots_per_taskmanager,
            needed,
            standalone: sc.cluster.resource_manager == ResourceManagerKind::Standalone,
            ha: sc.flink.ha != HaKind::None,
            operators: sc.job.operators.iter().map(|o| (o.name.clone(), o.parallelism)).collect(),
            records_per_subtask: (records / u64::from(needed.max(1))).max(1),
        }
    }
}

fn host_names(c: &Cluster, ha: bool) -> Vec<String> {
    let mut v = vec!["jobmanager".to_string()];
    v.extend((0..c.tms).map(|i| format!("tm-{i}")));
    v.push("checkpoint-storage".into());
    v.push("sink-store".into());
    if ha {
        v.push("ha-store".into());
    }
    v
}

fn strings(items: &[String]) -> Value {
    let mut a = Array::new();
    for s in items {
        a.push(s.as_str());
    }
    Value::Array(a)
}

/// Draws a fault schedule for `seed` into `doc` (whose faults were stripped) for the scenario
/// `sc` it loads as. Returns how many faults were drawn (restarts not counted).
/// With some chance, `t` fires right after a message that one of the faults at `sources` (their
/// positions in the file) made late arrives, instead of at its time: the first such message, or
/// a later one.
fn at_late_delivery(t: &mut Table, sources: &[usize], timing: &mut Rng) -> bool {
    if sources.is_empty() || !chance(timing, 0.35) {
        return false;
    }
    let of = sources[timing.below_inclusive(sources.len() as u64 - 1) as usize];
    t.remove("at");
    t["at-late-delivery"] = toml_edit::value(of as i64 + 1);
    let nth = pick(timing, &[1i64, 1, 2, 5]);
    if nth > 1 {
        t["nth"] = toml_edit::value(nth);
    }
    true
}

pub fn faults(doc: &mut DocumentMut, sc: &Scenario, seed: u64, opts: &DrawOptions) -> u32 {
    let mut rng = Rng::new(seed, Stream::Explore);
    let r = &mut rng;
    let c = Cluster::of(sc);
    // Swarm: each kind is on with probability 1/2 (at least one), with a weight of its own.
    // A storage outage is drawn from its own stream (below), so the swarm's draws are what they
    // were before it existed.
    let swarm: Vec<Kind> =
        opts.kinds.iter().copied().filter(|k| !matches!(k, Kind::StorageOutage | Kind::StorageSlow)).collect();
    let mut enabled: Vec<(Kind, u64)> = Vec::new();
    for &k in &swarm {
        if chance(r, 0.5) {
            enabled.push((k, between(r, 1, 4)));
        }
    }
    if enabled.is_empty() && !swarm.is_empty() {
        enabled.push((pick(r, &swarm), 1));
    }
    let storage = opts.kinds.contains(&Kind::StorageOutage);
    let slow_storage = opts.kinds.contains(&Kind::StorageSlow);
    if enabled.is_empty() && !storage && !slow_storage {
        return 0;
    }
    let total: u64 = enabled.iter().map(|(_, w)| w).sum::<u64>().max(1);
    let n = between(r, 1, u64::from(opts.max_faults.max(1)));
    let end = sc.duration_us.max(2_000);
    let mut times: Vec<u64> = (0..n).map(|_| between(r, 100, end / 1_000 - 1) * 1_000).collect();
    times.sort_unstable();
    // Faults in bursts: half of the faults after the first follow the one before within 1.5 s
    // (a crash while messages are held, a second failure during the restart), which
    // independently drawn times over the whole run almost never give.
    let mut timing = Rng::new(seed, Stream::ExploreTiming);
    for i in 1..times.len() {
        if chance(&mut timing, 0.5) {
            times[i] = (times[i - 1] + between(&mut timing, 0, 1_500) * 1_000).min(end - 1_000);
        }
    }
    times.sort_unstable();
    // Message delays around the checkpoint interval reorder the protocol's messages across
    // checkpoints (an acknowledgement overtaken by the next checkpoint's).
    let interval_ms = sc.flink.checkpoint_interval_us.map_or(200, |i| (i / 1_000).max(1));
    let near_interval = [interval_ms / 2 + 1, interval_ms + interval_ms / 2, 2 * interval_ms + 1];
    let mut out = ArrayOfTables::new();
    // Per TaskManager: down until (u64::MAX = for good).
    let mut down_until = vec![0u64; c.tms as usize];
    let mut lost_for_good = 0u32;
    let mut rolling_at: Option<u64> = None;
    let mut jm_killed = false;
    let mut ha_needed = false;
    let limit = sc.duration_us + sc.drain_us;
    // Some crashes and task failures fire when a subtask reaches a checkpoint-protocol phase
    // (at or after their drawn time) instead of at it: random times almost always hit a job
    // that is just running, the phases are where recovery goes wrong.
    let mut phase_rng = Rng::new(seed, Stream::ExplorePhase);
    let targets = phase_targets(sc);
    // `Some(first)`: `t` now fires at a phase; a restart's phases (restoring, deploying) follow a
    // failure of the subtask at the drawn time, `first`.
    let mut at_phase = |t: &mut Table, at: u64| -> Option<Option<Table>> {
        if targets.is_empty() || !chance(&mut phase_rng, 0.4) {
            return None;
        }
        let (phase, subtask) = &targets[phase_rng.below_inclusive(targets.len() as u64 - 1) as usize];
        t.remove("at");
        t["at-phase"] = toml_edit::value(phase.name());
        t["subtask"] = toml_edit::value(subtask.as_str());
        t["after"] = toml_edit::value(ms(at));
        Some((!phase.is_checkpoint_phase()).then(|| {
            let mut first = Table::new();
            first["at"] = toml_edit::value(ms(at));
            first["fail-task"] = toml_edit::value(subtask.as_str());
            first
        }))
    };
    // Faults that make messages late (delays, partitions, lost messages a client resends), by
    // their position in the file: a later failure may fire when one of their messages arrives.
    let mut late_sources: Vec<usize> = Vec::new();
    let mut drawn = 0;
    for at in times.into_iter().filter(|_| !enabled.is_empty()) {
        let mut w = r.below_inclusive(total - 1);
        let mut kind = enabled[0].0;
        for &(k, wk) in &enabled {
            if w < wk {
                kind = k;
                break;
            }
            w -= wk;
        }
        let mut t = Table::new();
        t["at"] = toml_edit::value(ms(at));
        // TaskManagers up now that a fault may name (none after a rolling update started: the
        // scenario cannot name the new pods).
        let up: Vec<u32> = if rolling_at.is_some() {
            Vec::new()
        } else {
            (0..c.tms).filter(|&i| down_until[i as usize] <= at).collect()
        };
        let hosts = host_names(&c, c.ha || ha_needed);
        let ok = match kind {
            // Drawn from its own stream after the loop, never by the swarm.
            Kind::StorageOutage | Kind::StorageSlow => false,
            Kind::KillTaskManager | Kind::StopTaskManager | Kind::LoseTaskManagerHost => {
                if up.is_empty() {
                    false
                } else {
                    let tm = pick(r, &up);
                    let lose = kind == Kind::LoseTaskManagerHost;
                    // Without a way back, the others must still hold the job.
                    let spare = (c.tms - lost_for_good - 1) * c.slots >= c.needed;
                    if lose && opts.recoverable && c.standalone && !spare {
                        false
                    } else if kind == Kind::KillTaskManager
                        && !c.standalone
                        && let Some(first) = at_phase(&mut t, at)
                    {
                        // The TaskManager running the subtask then, whichever it is; an active
                        // resource manager starts a new one.
                        out.extend(first);
                        true
                    } else if kind == Kind::KillTaskManager
                        && !c.standalone
                        && at_late_delivery(&mut t, &late_sources, &mut timing)
                    {
                        t[kind.name()] = toml_edit::value(i64::from(tm));
                        down_until[tm as usize] = u64::MAX;
                        lost_for_good += 1;
                        true
                    } else {
                        t[kind.name()] = toml_edit::value(i64::from(tm));
                        if c.standalone && !lose && opts.recoverable {
                            let back = at + between(r, 500, 15_000) * 1_000;
                            if back < limit {
                                let mut restart = Table::new();
                                restart["at"] = toml_edit::value(ms(back));
                                restart["restart-taskmanager"] = toml_edit::value(i64::from(tm));
                                down_until[tm as usize] = back + 1_000;
                                out.push(t.clone());
                                drawn += 1;
                                out.push(restart);
                                continue;
                            }
                        }
                        down_until[tm as usize] = u64::MAX;
                        lost_for_good += 1;
                        true
                    }
                }
            }
            Kind::FreezeTaskManager => {
                if up.is_empty() {
                    false
                } else {
                    let tm = pick(r, &up);
                    let d = pick(r, &[200u64, 2_000, 8_000, 30_000, 70_000]) * 1_000;
                    t["freeze-taskmanager"] = toml_edit::value(i64::from(tm));
                    t["duration"] = toml_edit::value(ms(d));
                    down_until[tm as usize] = at + d + 1_000;
                    true
                }
            }
            Kind::Partition => {
                let mut a: Vec<String> = Vec::new();
                let mut b: Vec<String> = Vec::new();
                for h in &hosts {
                    match r.below_inclusive(3) {
                        0 => a.push(h.clone()),
                        1 => b.push(h.clone()),
                        _ => {}
                    }
                }
                if a.is_empty() || b.is_empty() {
                    false
                } else {
                    t["partition"] = Item::Value(Value::Array(Array::from_iter([strings(&a), strings(&b)])));
                    if chance(r, 0.25) {
                        t["one-way"] = toml_edit::value(true);
                    }
                    let heal = at + pick(r, &[100u64, 1_000, 5_000, 20_000, 60_000]) * 1_000;
                    if heal < limit {
                        t["heal-at"] = toml_edit::value(ms(heal));
                    }
                    heal < limit || !opts.recoverable
                }
            }
            Kind::LoseMessages | Kind::DelayMessages => {
                let kinds = MessageKind::NAMES;
                t[kind.name()] = toml_edit::value(pick(r, &kinds));
                if chance(r, 0.5) {
                    t["from"] =
                        Item::Value(strings(&[hosts[r.below_inclusive(hosts.len() as u64 - 1) as usize].clone()]));
                }
                if chance(r, 0.5) {
                    t["to"] =
                        Item::Value(strings(&[hosts[r.below_inclusive(hosts.len() as u64 - 1) as usize].clone()]));
                }
                let p = pick(r, &[1.0, 1.0, 0.5, 0.1]);
                if p < 1.0 {
                    t["probability"] = toml_edit::value(p);
                }
                let until = at + pick(r, &[10u64, 300, 2_000, 10_000]) * 1_000;
                if until < limit {
                    t["until"] = toml_edit::value(ms(until));
                }
                if kind == Kind::DelayMessages {
                    let mut delay = pick(r, &[1u64, 50, 500, 3_000]);
                    if chance(&mut timing, 0.5) {
                        delay = pick(&mut timing, &near_interval);
                    }
                    t["delay"] = toml_edit::value(ms(delay * 1_000));
                }
                until < limit || !opts.recoverable
            }
            Kind::RollingUpdate => {
                if rolling_at.is_some() || up.len() < c.tms as usize {
                    false
                } else {
                    t["rolling-update"] = toml_edit::value(ms(pick(r, &[0u64, 1_000, 5_000]) * 1_000));
                    rolling_at = Some(at);
                    true
                }
            }
            Kind::KillJobManager => {
                if jm_killed {
                    false
                } else {
                    t["kill-jobmanager"] = toml_edit::value(true);
                    jm_killed = true;
                    if opts.recoverable && !c.ha {
                        ha_needed = true;
                    }
                    true
                }
            }
            Kind::FailTask => {
                let (name, par) = pick(r, &c.operators.iter().map(|(n, p)| (n.as_str(), *p)).collect::<Vec<_>>());
                let i = r.below_inclusive(u64::from(par) - 1);
                t["fail-task"] = toml_edit::value(format!("{name}[{i}]"));
                if let Some(first) = at_phase(&mut t, at) {
                    // The subtask that reached the phase fails then.
                    let target = t["subtask"].clone();
                    t["fail-task"] = target;
                    out.extend(first);
                } else if at_late_delivery(&mut t, &late_sources, &mut timing) {
                    // The subtask fails when a message made late arrives.
                } else if chance(r, 0.3) {
                    t.remove("at");
                    t["at-record"] = toml_edit::value(between(r, 1, c.records_per_subtask) as i64);
                    if !opts.recoverable && chance(r, 0.3) {
                        t["poison"] = toml_edit::value(true);
                    }
                }
                true
            }
        };
        if ok {
            if matches!(kind, Kind::DelayMessages | Kind::LoseMessages | Kind::Partition) {
                late_sources.push(out.len());
            }
            out.push(t);
            drawn += 1;
        }
    }
    if ha_needed {
        set_flink(doc, "high-availability.type", "zookeeper");
    }
    // Checkpoint storage down for 1-15 s in a sixth of the seeds (its own stream).
    let mut st = Rng::new(seed, Stream::ExploreStorage);
    if storage && chance(&mut st, 1.0 / 6.0) {
        let mut t = Table::new();
        t["at"] = toml_edit::value(ms(between(&mut st, 100, end / 1_000 - 1) * 1_000));
        t["storage-outage"] = toml_edit::value(ms(between(&mut st, 1, 15) * 1_000_000));
        out.push(t);
        drawn += 1;
    }
    // Checkpoint storage slow for 1-30 s, 2-50 times as slow, in another sixth (the same
    // stream, after the outage's draws, which stay what they were).
    if slow_storage && chance(&mut st, 1.0 / 6.0) {
        let mut t = Table::new();
        t["at"] = toml_edit::value(ms(between(&mut st, 100, end / 1_000 - 1) * 1_000));
        t["storage-slow"] = toml_edit::value(ms(between(&mut st, 1, 30) * 1_000_000));
        t["slowdown"] = toml_edit::value(between(&mut st, 2, 50) as i64);
        out.push(t);
        drawn += 1;
    }
    if opts.operations {
        drawn += operations(doc, sc, seed, &mut out);
    }
    if !out.is_empty() {
        doc["fault"] = Item::ArrayOfTables(out);
    }
    drawn
}
