//! `explore --coverage`: how often faults hit each checkpoint-protocol phase of the job and each
//! operator kind, summed over the seeds of a results file (so merged shards give the unsharded
//! matrix), and the cells `--require-coverage` wants above zero: every explored fault kind ×
//! every phase the job can be in, and every operator kind of the job × every such phase.

use super::report::Results;
use crate::fault::phase::JobPhase;
use std::collections::BTreeMap;

/// Counts summed over seeds: `kind/phase/operator` → faults.
pub fn totals(r: &Results) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for x in &r.results {
        for (k, n) in &x.coverage {
            *m.entry(k.clone()).or_insert(0) += n;
        }
    }
    m
}

fn split(key: &str) -> Option<(&str, &str, &str)> {
    let mut it = key.splitn(3, '/');
    Some((it.next()?, it.next()?, it.next()?))
}

/// The short column header of a phase.
fn short(phase: &str) -> &str {
    match JobPhase::parse(phase) {
        Some(JobPhase::Restarting) => "restart",
        Some(JobPhase::Deploying) => "deploy",
        Some(JobPhase::Restoring) => "restore",
        Some(JobPhase::BarriersInFlight) => "barriers",
        Some(JobPhase::Snapshotting) => "snapshot",
        Some(JobPhase::WaitingForAcks) => "acks",
        Some(JobPhase::NotifyPending) => "notify",
        Some(JobPhase::PreCommitted) => "precommit",
        Some(JobPhase::Running) => "running",
        None => phase,
    }
}

/// One matrix: `rows` × every phase, each cell the sum of `pick(kind, operator)` counts.
fn matrix(
    title: &str,
    rows: &[String],
    t: &BTreeMap<String, u64>,
    row_of: impl Fn(&str, &str) -> String,
    required: &[String],
) -> String {
    let phases: Vec<&str> = JobPhase::NAMES.to_vec();
    let mut cells: BTreeMap<(String, &str), u64> = BTreeMap::new();
    for (k, n) in t {
        if let Some((kind, phase, op)) = split(k)
            && let Some(p) = phases.iter().find(|p| **p == phase)
        {
            *cells.entry((row_of(kind, op), p)).or_insert(0) += n;
        }
    }
    let w = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(title.len());
    let mut s = format!("{title:<w$}");
    for p in &phases {
        s += &format!("  {:>9}", short(p));
    }
    s += "\n";
    for r in rows {
        s += &format!("{r:<w$}");
        for p in &phases {
            let n = cells.get(&(r.clone(), *p)).copied().unwrap_or(0);
            let cell = if n > 0 {
                n.to_string()
            } else if required.iter().any(|q| q == p) {
                "0".into()
            } else {
                "·".into()
            };
            s += &format!("  {cell:>9}");
        }
        s += "\n";
    }
    s
}

/// Fault kinds shown: the explored kinds, then any other kind that fired (restarts).
fn kind_rows(r: &Results, t: &BTreeMap<String, u64>) -> Vec<String> {
    let mut rows = r.kinds.clone();
    for k in t.keys().filter_map(|k| split(k)).map(|(kind, _, _)| kind.to_string()) {
        if !rows.contains(&k) {
            rows.push(k);
        }
    }
    rows
}

fn op_rows(r: &Results, t: &BTreeMap<String, u64>) -> Vec<String> {
    let mut rows = r.operators.clone();
    for k in t.keys().filter_map(|k| split(k)).map(|(_, _, op)| op.to_string()) {
        if !rows.contains(&k) {
            rows.push(k);
        }
    }
    rows
}

/// The two matrices (fault kind × phase, operator kind × phase) with a legend.
pub fn render(r: &Results) -> String {
    let t = totals(r);
    let faults: u64 = t.values().sum::<u64>();
    let mut s =
        String::from("\ncoverage: the job's phase when each fault fired (faults on a chain count per operator kind)\n");
    s += &matrix("fault kind", &kind_rows(r, &t), &t, |k, _| k.to_string(), &r.phases);
    s += "\n";
    s += &matrix("operator kind", &op_rows(r, &t), &t, |_, o| o.to_string(), &r.phases);
    s += &format!(
        "\n{faults} fault-operator hits; 0: a cell --require-coverage wants, · a phase this job cannot be in\n\
         phases: restart = failover or JobManager recovery, deploy = DEPLOYING, restore = INITIALIZING, barriers = barriers in \
         flight or aligning, snapshot = snapshot taken, not acknowledged, acks = trigger or acknowledgements on the way, \
         notify = completed, notification not delivered, precommit = prepared transactions, nothing pending, running = \
         all running, nothing in flight\n"
    );
    s
}

/// The cells `--require-coverage` wants and no seed reached: `fault-kind × phase` and
/// `operator × phase`, in matrix order.
pub fn missing(r: &Results) -> Vec<String> {
    let t = totals(r);
    let mut kind_phase: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut op_phase: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (k, n) in &t {
        if let Some((kind, phase, op)) = split(k) {
            *kind_phase.entry((kind, phase)).or_insert(0) += n;
            *op_phase.entry((op, phase)).or_insert(0) += n;
        }
    }
    let mut out = Vec::new();
    for (rows, m) in [(&r.kinds, &kind_phase), (&r.operators, &op_phase)] {
        for row in rows {
            for p in &r.phases {
                if m.get(&(row.as_str(), p.as_str())).copied().unwrap_or(0) == 0 {
                    out.push(format!("{row} × {p}"));
                }
            }
        }
    }
    out
}
