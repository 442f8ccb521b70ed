//! The report's set-up lines: the scenario, the job graph in one line, the cluster, the Flink
//! configuration that acts and the state and its recovery settings (`run`, `check`, replay).

use super::human::{bytes_h, ms};
use crate::cluster::config::{CheckpointingMode, FailoverStrategy, ResourceManagerKind};
use crate::cluster::restart::RestartBackoff;
use crate::job::graph::JobGraph;
use crate::run::Run;
use std::fmt::Write;

/// One line describing the job graph: tasks in order, each with its parallelism (`×2`) and,
/// after the first, the kind of exchange it reads from: `source ×2 =hash=> (count+sink) ×2`. A
/// task that does not read from the task before it starts a new segment after ` | `, naming
/// its producer: `… | map ×2 =forward=> sink1 ×2`.
pub fn job_line(graph: &JobGraph) -> String {
    let mut line = String::new();
    let task_of = |op: crate::job::spec::OperatorId| graph.tasks.iter().position(|t| t.operators.contains(&op));
    for t in 0..graph.tasks.len() {
        let task = &graph.tasks[t];
        if let Some((from, edge)) = task.operators.first().and_then(|&o| graph.spec.operators[o.0 as usize].input) {
            match task_of(from) {
                Some(p) if p + 1 != t => {
                    let name = graph.task_name(crate::job::graph::TaskId(p as u32));
                    let _ = write!(line, " | {name} ={}=> ", edge.name());
                }
                _ => {
                    let _ = write!(line, " ={}=> ", edge.name());
                }
            }
        } else if t > 0 {
            line.push_str(" | ");
        }
        let _ = write!(line, "{} ×{}", graph.task_name(crate::job::graph::TaskId(t as u32)), task.parallelism);
    }
    let (regions, _) = graph.pipelined_regions();
    format!(
        "{}  ({} tasks, {} subtasks, {} pipelined region{})",
        line,
        graph.tasks.len(),
        graph.subtask_count(),
        regions.len(),
        if regions.len() == 1 { "" } else { "s" }
    )
}

fn setup_lines(run: &Run, out: &mut String) {
    let sc = &run.scenario;
    let f = &sc.flink;
    let c = &sc.cluster;
    let _ = writeln!(out, "job:      {}", job_line(&run.graph));
    let _ = writeln!(
        out,
        "cluster:  {} TaskManager{} × {} slot{}, {} resource manager",
        c.taskmanagers,
        if c.taskmanagers == 1 { "" } else { "s" },
        c.slots_per_taskmanager,
        if c.slots_per_taskmanager == 1 { "" } else { "s" },
        match c.resource_manager {
            ResourceManagerKind::Standalone => "standalone",
            ResourceManagerKind::Active => "active",
        }
    );
    let cp = match f.checkpoint_interval_us {
        Some(iv) => format!(
            "every {} ({})",
            ms(iv),
            match f.checkpointing_mode {
                CheckpointingMode::ExactlyOnce if f.unaligned && f.aligned_checkpoint_timeout_us > 0 => format!(
                    "EXACTLY_ONCE, unaligned after an aligned-checkpoint-timeout of {}",
                    ms(f.aligned_checkpoint_timeout_us)
                ),
                CheckpointingMode::ExactlyOnce if f.unaligned => "EXACTLY_ONCE, unaligned".to_string(),
                CheckpointingMode::ExactlyOnce => "EXACTLY_ONCE".to_string(),
                // Flink turns unaligned checkpoints off outside EXACTLY_ONCE.
                CheckpointingMode::AtLeastOnce => "AT_LEAST_ONCE".to_string(),
            }
        ),
        None => "off".into(),
    };
    let _ = writeln!(
        out,
        "flink:    checkpoints {cp}; failover-strategy {}; restart-strategy {}; heartbeat {} / {}",
        match f.failover_strategy {
            FailoverStrategy::Region => "region",
            FailoverStrategy::Full => "full",
        },
        RestartBackoff::new(f.restart_strategy.clone()).describe(),
        ms(f.heartbeat_interval_us),
        ms(f.heartbeat_timeout_us),
    );
    // Keyed state sizes and local recovery, when the scenario sets either.
    let sized: Vec<String> = run
        .graph
        .spec
        .operators
        .iter()
        .filter(|o| o.kind.is_keyed() && o.state_bytes_per_key != crate::job::spec::DEFAULT_STATE_BYTES_PER_KEY)
        .map(|o| format!("{} {} per key", o.name, bytes_h(o.state_bytes_per_key)))
        .collect();
    let rocksdb = f.state_backend == crate::cluster::config::StateBackendKind::RocksDb;
    if f.local_recovery || !sized.is_empty() || rocksdb {
        let mut parts = Vec::new();
        if !sized.is_empty() {
            parts.push(format!("keyed state {}", sized.join(", ")));
        }
        if rocksdb {
            parts.push(if f.incremental_checkpoints() {
                "RocksDB, incremental checkpoints: each uploads what changed since the last completed one, a restore downloads every file it references".to_string()
            } else {
                "RocksDB, full checkpoints".to_string()
            });
        }
        parts.push(if f.local_recovery {
            format!(
                "local recovery on: a restore on the TaskManager that took the checkpoint reads its local copy ({}/s), any other downloads ({}/s)",
                bytes_h(c.local_bytes_per_s),
                bytes_h(c.storage_bytes_per_s)
            )
        } else {
            format!("local recovery off: every restore downloads from checkpoint storage ({}/s)", bytes_h(c.storage_bytes_per_s))
        });
        let _ = writeln!(out, "state:    {}", parts.join("; "));
    }
    let bugs = sc.bugs.enabled();
    if !bugs.is_empty() {
        let _ = writeln!(out, "PLANTED BUGS: {}", bugs.join(", "));
    }
}

/// The report's head: the scenario, its job, cluster and settings.
pub fn header(run: &Run) -> String {
    let mut out = String::new();
    let sc = &run.scenario;
    let _ = writeln!(out, "scenario: {} (seed {})", sc.name, sc.seed);
    for line in sc.about.lines() {
        let _ = writeln!(out, "          {}", line.trim());
    }
    setup_lines(run, &mut out);
    if let Some(p) = &sc.flink_plan {
        let ops: Vec<String> = p.operators.iter().map(|(name, label)| format!("{name} ({label})")).collect();
        let _ = writeln!(out, "flink-plan {}: {} nodes → operators {}", p.file, p.nodes, ops.join(", "));
        for a in &p.approximated {
            let _ = writeln!(out, "APPROXIMATED: {a}");
        }
    }
    if let Some(c) = &sc.flink_conf {
        let _ = writeln!(
            out,
            "flink-conf {}: {} keys merged into [flink], {} set by the scenario itself, {} ignored",
            c.file,
            c.merged.len(),
            c.overridden.len(),
            c.ignored.len()
        );
        for key in &c.overridden {
            let _ = writeln!(out, "OVERRIDDEN by the scenario's [flink]: \"{key}\"");
        }
        for (key, why) in &c.ignored {
            let _ = writeln!(out, "IGNORED ({why}): \"{key}\"");
        }
    }
    for (key, value) in &sc.flink.not_modelled {
        let why = crate::scenario::load::not_modelled_effect(key).unwrap_or("");
        let _ = writeln!(out, "NOT MODELLED (accepted, no effect): \"{key}\" = {value}: {why}");
    }
    out
}
