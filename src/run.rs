//! One simulation run end to end: the faulty run, the fault-free reference run, the oracle.
//! Pure: takes a scenario, returns data.

use crate::check::cut::CutViolation;
use crate::check::oracle::{OutputReport, Progress, RunFacts, compare};
use crate::cluster::config::CheckpointingMode;
use crate::cluster::engine::{EngineOutcome, World, build_logs};
use crate::cluster::state::JobStatus;
use crate::job::graph::JobGraph;
use crate::scenario::Scenario;
use crate::sim::TimeUs;
use crate::trace::{Detection, Note};
use std::collections::BTreeMap;

pub struct Run {
    pub scenario: Scenario,
    pub graph: JobGraph,
    pub outcome: EngineOutcome,
    /// The fault-free reference run, when it was simulated (`Reference`).
    pub reference: Option<EngineOutcome>,
    pub output: OutputReport,
    /// Completed checkpoints whose keyed state was checked against the log (EXACTLY_ONCE only).
    pub cuts_checked: u64,
    /// The first checkpoint whose state is not a consistent cut.
    pub cut_violation: Option<CutViolation>,
}

/// When `simulate_with` runs the fault-free reference simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Only when the report uses it: the job did not finish, or records were lost.
    WhenNeeded,
    /// Always (the replay shows how far a fault-free execution gets by each moment).
    Always,
}

/// Runs `scenario` (with its faults and planted bugs) and judges the committed output against
/// what the source log says a fault-free execution commits. A fault-free reference run of the
/// same code (planted bugs included) is simulated when the report needs what only a simulation
/// can tell: whether the job finishes without faults at all (for a job that did not finish),
/// and which lost records it lost as well. No count or verdict depends on it.
pub fn simulate(scenario: &Scenario) -> Run {
    simulate_with(scenario, Reference::WhenNeeded)
}

/// `simulate`, choosing when the reference run is simulated.
pub fn simulate_with(scenario: &Scenario, reference: Reference) -> Run {
    let outcome = World::new(scenario, true).run();
    let graph = JobGraph::build(&scenario.job);
    let (logs, log_of) = build_logs(scenario);
    // A job the user stopped with a savepoint FINISHED without reading the whole log: what it
    // did not read is not lost, only not read yet (as for a job that is still running).
    let finished = outcome.job_status == JobStatus::Finished && !outcome.stopped_with_savepoint;
    let expected = crate::check::oracle::fault_free_output(&graph, &logs, &log_of);
    let mut output = compare(&graph, &logs, &expected, &outcome.committed, finished, &outcome.fault_times);
    drop(expected);
    let sequences = crate::check::interleave::check(
        &graph,
        &logs,
        &log_of,
        &outcome.committed,
        finished,
        crate::check::interleave::Restarts::of(
            !scenario.faults.is_empty(),
            scenario.flink.checkpoint_interval_us.is_some() && !fresh_submission(scenario),
        ),
    );
    output.sequences(sequences, &graph);
    // A run its budget stopped gets no reference run: it would only spend the same budget again.
    let needed = (reference == Reference::Always || !finished || output.lost > 0) && outcome.budget_stop.is_none();
    let reference = needed.then(|| World::new(scenario, false).run());
    let reference_finished = reference.as_ref().map(|r| r.job_status == JobStatus::Finished);
    if let Some(r) = reference.as_ref().filter(|r| r.job_status == JobStatus::Finished) {
        output.attribute_to_reference(&r.committed);
    }
    let protocol = crate::check::invariants::check(
        &graph,
        &outcome.notes,
        &outcome.store,
        outcome.job_status,
        scenario.flink.checkpoint_interval_us.is_some(),
    );
    let mut outcome = outcome;
    outcome.violations.extend(protocol);
    let prepared_records = outcome
        .store
        .lingering()
        .iter()
        .filter(|(_, _, state)| *state == "prepared")
        .map(|(_, records, _)| records)
        .sum();
    output.judge(&RunFacts {
        job_status: outcome.job_status,
        invariant_violations: outcome.violations.len(),
        failovers: outcome.failovers.len(),
        restarts_exhausted: outcome.failovers.last().is_some_and(|f| f.exhausted),
        last_failure: outcome.failovers.last().map(|f| f.cause.tag()),
        prepared_records,
        reference_finished,
        progress: progress(scenario, &outcome, reference.as_ref()),
        budget_stop: outcome.budget_stop,
        stopped_with_savepoint: outcome.stopped_with_savepoint,
        failed_while_stopping: outcome.failed_while_stopping,
    });
    output.explain_by_design(
        &graph,
        scenario.flink.checkpointing_mode,
        outcome.failovers.len(),
        fresh_submission(scenario),
    );
    let (cuts_checked, cut_violation) = if scenario.flink.checkpointing_mode == CheckpointingMode::ExactlyOnce {
        crate::check::cut::check(&graph, &logs, &log_of, &outcome.completed)
    } else {
        (0, None)
    };
    Run { scenario: scenario.clone(), graph, outcome, reference, output, cuts_checked, cut_violation }
}

/// Whether the scenario submits the job again from nothing (`submit-job = "nothing"`): the new
/// job starts with empty state and reads the sources from the start, as a restart without
/// checkpoints does.
fn fresh_submission(scenario: &Scenario) -> bool {
    scenario.faults.iter().any(|f| f.action == crate::fault::FaultAction::SubmitJob(crate::fault::RestoreFrom::Nothing))
}

/// The least window over which a job still RUNNING at the time limit must have made progress.
const PROGRESS_WINDOW_US: TimeUs = 60_000_000;

/// Whether a job that did not finish was still making progress when the run ended, while the
/// fault-free reference simulation finished: over the run's last minute (or four checkpoint
/// intervals, if longer) the job was RUNNING without a failover, at least two checkpoints
/// completed and records were committed. A job stuck in a failover loop, or one whose
/// checkpoints all expire, is not.
fn progress(scenario: &Scenario, outcome: &EngineOutcome, reference: Option<&EngineOutcome>) -> Option<Progress> {
    let reference = reference.filter(|r| r.job_status == JobStatus::Finished)?;
    let interval = scenario.flink.checkpoint_interval_us?;
    if outcome.job_status != JobStatus::Running {
        return None;
    }
    let window_us = PROGRESS_WINDOW_US.max(interval.saturating_mul(4));
    let from = outcome.end_us.checked_sub(window_us)?;
    if outcome.failovers.iter().any(|f| f.failed_at_us >= from || f.detected_at_us >= from) {
        return None;
    }
    let checkpoints =
        outcome.notes.iter().filter(|e| e.at_us >= from && matches!(e.note, Note::CheckpointCompleted { .. })).count()
            as u64;
    let records = outcome.committed.iter().filter(|c| c.committed_at_us >= from).count() as u64;
    (checkpoints >= 2 && records > 0).then_some(Progress {
        window_us,
        checkpoints,
        records,
        reference_end_us: reference.end_us,
    })
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
    pub fn mismatches(&self) -> Vec<Mismatch> {
        let e = &self.scenario.expect;
        let mut out = Vec::new();
        // Verdict and job status always apply: a key left out means its default.
        for (key, want, defaulted, got) in [
            ("verdict", e.verdict.name(), e.verdict_defaulted, self.output.verdict.name()),
            ("job-status", e.job_status.name(), e.job_status_defaulted, self.outcome.job_status.name()),
        ] {
            if want != got {
                let default = if defaulted { " (the default without this key in [expect])" } else { "" };
                out.push(Mismatch { key, message: format!("{key}: expected {want}{default}, got {got}") });
            }
        }
        let mut check = |key: &'static str, want: String, got: String| {
            if want != got {
                out.push(Mismatch { key, message: format!("{key}: expected {want}, got {got}") });
            }
        };
        if let Some(n) = e.failovers {
            check("failovers", n.to_string(), self.outcome.failovers.len().to_string());
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
            out.push(Mismatch {
                key: "min-completed-checkpoints",
                message: format!(
                    "min-completed-checkpoints: expected at least {n}, got {}",
                    self.outcome.checkpoints_completed
                ),
            });
        }
        if let Some(v) = &self.cut_violation {
            out.push(Mismatch {
                key: "verdict",
                message: format!(
                    "checkpoint {} is not a consistent cut: {} key {} = {} in the checkpoint, {} from its offsets",
                    v.checkpoint, v.operator, v.key, v.in_checkpoint, v.from_offsets
                ),
            });
        }
        if !self.outcome.violations.is_empty() {
            out.push(Mismatch {
                key: "verdict",
                message: format!("invariant violations: {}", self.outcome.violations.join("; ")),
            });
        }
        out
    }
}

/// One way a run differs from its scenario's `[expect]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The `[expect]` key it is about (the line `check --format github` points at).
    pub key: &'static str,
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What one seed of a scenario did to recovery, in the numbers a seed sweep compares
/// (`run FILE --seeds A..B`). Times are virtual µs; "after the fault" is after the first fault
/// that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedSummary {
    pub seed: u64,
    /// Failovers the JobManager handled (each one is a restart cycle).
    pub restart_cycles: usize,
    /// When the first fault fired; `None` if none did.
    pub first_fault_us: Option<TimeUs>,
    /// From the first fault until the last failover had all its subtasks RUNNING again; `None`
    /// without a failover, without a fault, or if the last failover never got there.
    pub all_running_after_fault_us: Option<u64>,
    /// How the first failover began; `None` without a failover.
    pub first_detection: Option<FirstDetection>,
    /// The first time the JobManager gave a TaskManager up; `None` if it never did.
    pub tm_disconnect: Option<TmDisconnect>,
    pub verdict: &'static str,
    pub job_status: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstDetection {
    /// `FailureCause::tag` of the failure that started it: `connection-lost`, `deploy-failed`…
    pub path: &'static str,
    /// From the first fault to the task failure; `None` without a fault or if the failure came
    /// first.
    pub failure_after_fault_us: Option<u64>,
    /// From the task failure until the JobManager handled it.
    pub jobmanager_after_failure_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmDisconnect {
    pub tm: u32,
    pub detection: Detection,
    /// From the first fault until the JobManager gave the TaskManager up; `None` without a
    /// fault or if the disconnect came first.
    pub after_fault_us: Option<u64>,
}

/// The numbers of one seed's run (see `SeedSummary`).
pub fn seed_summary(run: &Run) -> SeedSummary {
    let o = &run.outcome;
    let first_fault_us = o.fault_times.iter().flatten().copied().min();
    let after_fault = |t: TimeUs| first_fault_us.and_then(|f| t.checked_sub(f));
    let all_running_after_fault_us = o.failovers.last().and_then(|f| f.running_again_at_us).and_then(after_fault);
    let first_detection = o.failovers.first().map(|f| FirstDetection {
        path: f.cause.tag(),
        failure_after_fault_us: after_fault(f.failed_at_us),
        jobmanager_after_failure_us: f.detected_at_us.saturating_sub(f.failed_at_us),
    });
    let tm_disconnect = o.notes.iter().find_map(|e| match e.note {
        Note::TaskManagerLost { tm, detection } => {
            Some(TmDisconnect { tm, detection, after_fault_us: after_fault(e.at_us) })
        }
        _ => None,
    });
    SeedSummary {
        seed: run.scenario.seed,
        restart_cycles: o.failovers.len(),
        first_fault_us,
        all_running_after_fault_us,
        first_detection,
        tm_disconnect,
        verdict: run.output.verdict.name(),
        job_status: o.job_status.name(),
    }
}

/// Order statistics of a set of durations (µs), nearest-rank: the median of an even count is
/// the lower middle value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    pub n_values: usize,
    pub min: u64,
    pub median: u64,
    pub p90: u64,
    pub max: u64,
}

impl Stats {
    /// `None` for no values.
    pub fn of(mut values: Vec<u64>) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let n = values.len();
        // Nearest rank: the smallest value with at least p·n values at or below it.
        let rank = |pct: usize| values[(pct * n).div_ceil(100).clamp(1, n) - 1];
        Some(Stats { n_values: n, min: values[0], median: rank(50), p90: rank(90), max: values[n - 1] })
    }
}

/// How many seeds had one value of something, with the duration statistics that go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count<K> {
    pub key: K,
    pub n_seeds: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectionPath {
    pub path: &'static str,
    pub n_seeds: usize,
    /// From the first fault to the task failure.
    pub failure_after_fault: Option<Stats>,
    /// From the task failure until the JobManager handled it.
    pub jobmanager_after_failure: Option<Stats>,
}

/// A seed sweep summed up. Counts are sorted by count, largest first (ties by key), except
/// `restart_cycles`, which is sorted by the number of cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Distribution {
    pub n_seeds: usize,
    pub restart_cycles: Vec<Count<usize>>,
    /// Over the seeds that got all RUNNING again after a fault.
    pub all_running_after_fault: Option<Stats>,
    pub first_detection: Vec<DetectionPath>,
    /// Over the seeds where the JobManager gave a TaskManager up after a fault.
    pub tm_disconnect_after_fault: Option<Stats>,
    /// `Detection::describe` of the first disconnect.
    pub tm_disconnect_detection: Vec<Count<String>>,
    pub verdicts: Vec<Count<&'static str>>,
    pub job_status: Vec<Count<&'static str>>,
}

fn counts<K: Ord + Clone>(keys: impl Iterator<Item = K>) -> Vec<Count<K>> {
    let mut m: BTreeMap<K, usize> = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_default() += 1;
    }
    let mut v: Vec<Count<K>> = m.into_iter().map(|(key, n_seeds)| Count { key, n_seeds }).collect();
    // Stable: equal counts stay in key order.
    v.sort_by_key(|c| std::cmp::Reverse(c.n_seeds));
    v
}

/// Sums up the seeds of a sweep.
pub fn distribution(summaries: &[SeedSummary]) -> Distribution {
    let mut restart_cycles = counts(summaries.iter().map(|s| s.restart_cycles));
    restart_cycles.sort_by_key(|c| c.key);
    let first_detection = counts(summaries.iter().filter_map(|s| s.first_detection.as_ref()).map(|d| d.path))
        .into_iter()
        .map(|c| {
            let of_path = || summaries.iter().filter_map(|s| s.first_detection.as_ref()).filter(|d| d.path == c.key);
            DetectionPath {
                path: c.key,
                n_seeds: c.n_seeds,
                failure_after_fault: Stats::of(of_path().filter_map(|d| d.failure_after_fault_us).collect()),
                jobmanager_after_failure: Stats::of(of_path().map(|d| d.jobmanager_after_failure_us).collect()),
            }
        })
        .collect();
    let disconnects = || summaries.iter().filter_map(|s| s.tm_disconnect.as_ref());
    Distribution {
        n_seeds: summaries.len(),
        restart_cycles,
        all_running_after_fault: Stats::of(summaries.iter().filter_map(|s| s.all_running_after_fault_us).collect()),
        first_detection,
        tm_disconnect_after_fault: Stats::of(disconnects().filter_map(|d| d.after_fault_us).collect()),
        tm_disconnect_detection: counts(disconnects().map(|d| d.detection.describe())),
        verdicts: counts(summaries.iter().map(|s| s.verdict)),
        job_status: counts(summaries.iter().map(|s| s.job_status)),
    }
}
