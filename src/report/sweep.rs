//! The seed sweep (`run --seeds`: one line per seed, the distribution over seeds) and the
//! pipelined-regions listing (`recoverysim regions`).

use super::human::job_line;
use crate::job::graph::{JobGraph, format_subtasks};
use crate::run::{Count, Distribution, SeedSummary, Stats, TmDisconnect};
use std::fmt::Write;

/// `recoverysim regions FILE`.
pub fn regions(graph: &JobGraph) -> String {
    let (regions, _) = graph.pipelined_regions();
    let mut out = String::new();
    let _ = writeln!(out, "job: {}", job_line(graph));
    for e in &graph.edges {
        let _ = writeln!(
            out,
            "  edge {} -> {}: {} ({})",
            graph.operator_name(e.from_operator),
            graph.operator_name(e.to_operator),
            e.kind.name(),
            if e.kind.is_pointwise() { "pointwise" } else { "all-to-all" }
        );
    }
    for t in 0..graph.tasks.len() {
        if graph.tasks[t].operators.len() > 1 {
            let _ = writeln!(out, "  chained into one task: {}", graph.task_name(crate::job::graph::TaskId(t as u32)));
        }
    }
    let _ = writeln!(out, "{} pipelined region{}:", regions.len(), if regions.len() == 1 { "" } else { "s" });
    for (i, r) in regions.iter().enumerate() {
        let _ = writeln!(out, "  region {}: {} subtasks: {}", i + 1, r.len(), format_subtasks(graph, r));
    }
    let _ = writeln!(
        out,
        "A failure restarts its region (jobmanager.execution.failover-strategy = region) or all {} subtasks (full).",
        graph.subtask_count()
    );
    out
}

/// Milliseconds with one decimal, whatever the size (seed sweeps compare them side by side).
fn ms1(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1e3)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One seed of `run --seeds --verbose`.
pub fn seed_line(s: &SeedSummary) -> String {
    let mut parts = vec![plural(s.restart_cycles, "cycle", "cycles")];
    match (s.all_running_after_fault_us, s.first_fault_us) {
        (Some(t), _) => parts.push(format!("RUNNING {} after the fault", ms1(t))),
        (None, None) => parts.push("no fault fired".into()),
        (None, Some(_)) if s.restart_cycles > 0 => parts.push("not all RUNNING again".into()),
        (None, Some(_)) => {}
    }
    if let Some(d) = &s.first_detection {
        match d.failure_after_fault_us {
            Some(t) => parts.push(format!("first detection {} after {}", d.path, ms1(t))),
            None => parts.push(format!("first detection {}", d.path)),
        }
    }
    match &s.tm_disconnect {
        Some(TmDisconnect { detection, after_fault_us: Some(t), .. }) => {
            parts.push(format!("TM disconnected after {} ({})", ms1(*t), detection.describe()))
        }
        Some(TmDisconnect { detection, after_fault_us: None, .. }) => {
            parts.push(format!("TM disconnected ({})", detection.describe()))
        }
        None => parts.push("no TM disconnected".into()),
    }
    parts.push(s.verdict.into());
    parts.push(s.job_status.into());
    format!("seed {}: {}", s.seed, parts.join(", "))
}

fn min_median_max(s: &Stats) -> String {
    format!("min {}, median {}, max {}", ms1(s.min), ms1(s.median), ms1(s.max))
}

/// `N seeds (P%)`.
fn share(n: usize, of: usize) -> String {
    format!("{} ({:.1}%)", plural(n, "seed", "seeds"), n as f64 * 100.0 / of.max(1) as f64)
}

/// How many seeds a figure covers: `M seeds`, or `N of M seeds` when only some have it.
fn over(s: &Stats, of: usize) -> String {
    if s.n_values == of { format!("{of} seeds") } else { format!("{} of {of} seeds", s.n_values) }
}

fn count_list<K: std::fmt::Display>(counts: &[Count<K>], of: usize) -> String {
    counts.iter().map(|c| format!("{}: {}", c.key, share(c.n_seeds, of))).collect::<Vec<_>>().join("   ")
}

/// The distribution of `run --seeds`.
pub fn distribution(scenario: &str, seeds: &std::ops::RangeInclusive<u64>, d: &Distribution) -> String {
    let n = d.n_seeds;
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {scenario}, seeds {}-{} ({} runs)", seeds.start(), seeds.end(), n);
    let cycles: Vec<String> = d
        .restart_cycles
        .iter()
        .map(|c| format!("{}: {}", plural(c.key, "cycle", "cycles"), share(c.n_seeds, n)))
        .collect();
    let _ = writeln!(out, "restart cycles: {}", cycles.join("   "));
    match &d.all_running_after_fault {
        Some(s) => {
            let _ = writeln!(
                out,
                "time to all RUNNING after the fault: min {}, median {}, p90 {}, max {} ({})",
                ms1(s.min),
                ms1(s.median),
                ms1(s.p90),
                ms1(s.max),
                over(s, n)
            );
        }
        None => {
            let _ = writeln!(out, "time to all RUNNING after the fault: no seed got there");
        }
    }
    if d.first_detection.is_empty() {
        let _ = writeln!(out, "first detection: no failover");
    } else {
        let _ = writeln!(out, "first detection:");
    }
    for p in &d.first_detection {
        let mut line = format!("  {}: {}", p.path, share(p.n_seeds, n));
        if let Some(s) = &p.failure_after_fault {
            let _ = write!(line, "; task failure {} after the fault", min_median_max(s));
        }
        if let Some(s) = &p.jobmanager_after_failure {
            let _ = write!(line, "; JobManager knew {} after the failure", min_median_max(s));
        }
        let _ = writeln!(out, "{line}");
    }
    match &d.tm_disconnect_after_fault {
        Some(s) => {
            let _ = writeln!(
                out,
                "JobManager disconnects the TaskManager: {} after the fault ({})",
                min_median_max(s),
                over(s, n)
            );
        }
        None if d.tm_disconnect_detection.is_empty() => {
            let _ = writeln!(out, "JobManager disconnects the TaskManager: in no seed");
        }
        None => {
            let _ = writeln!(out, "JobManager disconnects the TaskManager:");
        }
    }
    for c in &d.tm_disconnect_detection {
        let _ = writeln!(out, "  {}: {}", c.key, share(c.n_seeds, n));
    }
    let _ = writeln!(out, "verdicts: {}", count_list(&d.verdicts, n));
    let _ = writeln!(out, "job status: {}", count_list(&d.job_status, n));
    out
}
