//! One simulation run end to end: the faulty run, the fault-free reference run, the oracle.
//! Pure: takes a scenario, returns data.

use crate::check::cut::CutViolation;
use crate::check::oracle::{OutputReport, compare};
use crate::cluster::config::CheckpointingMode;
use crate::cluster::engine::{EngineOutcome, World, build_logs};
use crate::cluster::state::JobStatus;
use crate::job::graph::JobGraph;
use crate::scenario::Scenario;

pub struct Run {
    pub scenario: Scenario,
    pub graph: JobGraph,
    pub outcome: EngineOutcome,
    pub reference: EngineOutcome,
    pub output: OutputReport,
    /// Completed checkpoints whose keyed state was checked against the log (EXACTLY_ONCE only).
    pub cuts_checked: u64,
    /// The first checkpoint whose state is not a consistent cut.
    pub cut_violation: Option<CutViolation>,
}

/// Runs `scenario` (with its faults and planted bugs) and a fault-free, bug-free reference run,
/// and judges the committed output.
pub fn simulate(scenario: &Scenario) -> Run {
    let outcome = World::new(scenario, true).run();
    let reference = World::new(scenario, false).run();
    let graph = JobGraph::build(&scenario.job);
    let (logs, log_of) = build_logs(scenario);
    let both_finished = outcome.job_status == JobStatus::Finished && reference.job_status == JobStatus::Finished;
    let output = compare(
        &graph,
        &logs,
        reference.store.committed(),
        outcome.store.committed(),
        both_finished,
        &outcome.fault_times,
    );
    let (cuts_checked, cut_violation) = if scenario.flink.checkpointing_mode == CheckpointingMode::ExactlyOnce {
        crate::check::cut::check(&graph, &logs, &log_of, &outcome.completed)
    } else {
        (0, None)
    };
    Run { scenario: scenario.clone(), graph, outcome, reference, output, cuts_checked, cut_violation }
}

impl Run {
    /// Subtasks restarted by any failover, as operator subtasks (`count[2]`), sorted.
    pub fn restarted_refs(&self) -> Vec<crate::job::graph::SubtaskRef> {
        let mut v: Vec<_> = self
            .outcome
            .failovers
            .iter()
            .flat_map(|f| f.restarted.iter())
            .flat_map(|&st| self.graph.operator_refs(st).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Run {
    /// Differences between the run and the scenario's `[expect]` table, one line each.
    pub fn mismatches(&self) -> Vec<String> {
        let e = &self.scenario.expect;
        let mut out = Vec::new();
        let mut check = |what: &str, want: String, got: String| {
            if want != got {
                out.push(format!("{what}: expected {want}, got {got}"));
            }
        };
        if let Some(v) = e.verdict {
            check("verdict", v.name().into(), self.output.verdict.name().into());
        }
        if let Some(n) = e.failovers {
            check("failovers", n.to_string(), self.outcome.failovers.len().to_string());
        }
        if let Some(s) = e.job_status {
            check("job-status", s.name().into(), self.outcome.job_status.name().into());
        }
        if let Some(r) = &e.restarted {
            let got = self.restarted_refs();
            check(
                "restarted",
                format!("[{}]", crate::job::graph::format_refs(&self.graph, r)),
                format!("[{}]", crate::job::graph::format_refs(&self.graph, &got)),
            );
        }
        if let Some(n) = e.lost {
            check("lost", n.to_string(), self.output.lost.to_string());
        }
        if let Some(n) = e.duplicated {
            check("duplicated", n.to_string(), self.output.duplicated.to_string());
        }
        if let Some(n) = e.min_completed_checkpoints
            && self.outcome.checkpoints_completed < n
        {
            out.push(format!(
                "min-completed-checkpoints: expected at least {n}, got {}",
                self.outcome.checkpoints_completed
            ));
        }
        if let Some(v) = &self.cut_violation {
            out.push(format!(
                "checkpoint {} is not a consistent cut: {} key {} = {} in the checkpoint, {} from its offsets",
                v.checkpoint, v.operator, v.key, v.in_checkpoint, v.from_offsets
            ));
        }
        if !self.outcome.violations.is_empty() {
            out.push(format!("invariant violations: {}", self.outcome.violations.join("; ")));
        }
        out
    }
}
