//! `sweep`: crash once at each checkpoint-protocol phase of each subtask where that phase can
//! happen, one run per case, each judged like an explored seed. A case is a plain scenario (the
//! file's job and configuration, its faults replaced by one `at-phase` fault), so `run` of the
//! written case file reproduces a cell. The checkpoint crashed at is the first one a fault-free
//! run completes after a third of the duration; `restoring` and `deploying` cases first fail
//! the subtask's task when that checkpoint has completed, then crash its TaskManager while the
//! restarted attempt restores or deploys. Pure: the CLI runs cases in parallel and writes files.

use super::{Judgement, MIN_DRAIN_US, draw, judge};
use crate::cluster::engine::World;
use crate::fault::ProtocolPhase;
use crate::job::graph::{JobGraph, SubtaskId};
use crate::job::spec::{OperatorKind, SinkSemantic};
use crate::run::simulate;
use crate::scenario::{ScenarioError, parse_str};
use crate::trace::Note;
use toml_edit::{ArrayOfTables, DocumentMut, Table};

/// One case: a phase of a subtask, and the scenario text that crashes there.
#[derive(Clone, Debug)]
pub struct Case {
    pub phase: ProtocolPhase,
    pub subtask: SubtaskId,
    /// The scenario of this case (the file's job with the one crash).
    pub text: String,
}

/// What `sweep` runs: every applicable (phase, subtask) and the checkpoint they crash at.
#[derive(Clone, Debug)]
pub struct Plan {
    pub file: String,
    /// Subtask names, in the job graph's order (`source[0]`, `(count+sink)[1]`).
    pub subtasks: Vec<String>,
    /// The checkpoint crashed at and when a fault-free run completed it.
    pub checkpoint: u64,
    pub completed_at_us: u64,
    pub cases: Vec<Case>,
    /// Planted bugs added by `--bug`.
    pub bugs: Vec<String>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct Cell {
    pub phase: ProtocolPhase,
    pub subtask: SubtaskId,
    /// The crash fired: the subtask reached the phase.
    pub reached: bool,
    pub verdict: String,
    pub lost: u64,
    pub duplicated: u64,
    pub failovers: usize,
    pub job_status: String,
    pub judgement: Judgement,
}

/// Why a file cannot be swept.
#[derive(Debug)]
pub enum SweepError {
    Scenario(ScenarioError),
    /// The job has no checkpointing, or no checkpoint completes after a third of the run.
    NoCheckpoint(String),
    /// A planted bug name that does not exist.
    UnknownBug(String),
}

impl std::fmt::Display for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepError::Scenario(e) => write!(f, "{e}"),
            SweepError::NoCheckpoint(s) => write!(f, "error: {s}"),
            SweepError::UnknownBug(b) => write!(
                f,
                "error: unknown planted bug `{b}`\n  hint: one of {}",
                crate::cluster::bugs::PlantedBugs::NAMES.join(", ")
            ),
        }
    }
}

/// Whether `phase` can happen at subtask `st` of the job: a barrier on some inputs needs two
/// input channels or more, a pre-commit a two-phase-commit sink in the task.
pub fn applies(graph: &JobGraph, phase: ProtocolPhase, st: SubtaskId) -> bool {
    match phase {
        ProtocolPhase::BarrierOnSomeInputs => graph.subtasks[st.0 as usize].inputs.len() > 1,
        ProtocolPhase::PreCommitted => graph.task_of(st).operators.iter().any(|o| {
            matches!(graph.spec.operators[o.0 as usize].kind, OperatorKind::Sink(SinkSemantic::TwoPhaseCommit))
        }),
        _ => true,
    }
}

/// A subtask as a scenario file names it: its task's head operator, `count[1]`.
pub(crate) fn subtask_ref(graph: &JobGraph, st: SubtaskId) -> String {
    let s = &graph.subtasks[st.0 as usize];
    format!("{}[{}]", graph.operator_name(graph.task_of(st).operators[0]), s.index)
}

/// Plans the sweep of one scenario file, with planted bugs (`--bug`) added to its `[bugs]`: a
/// fault-free run finds the checkpoint to crash at.
pub fn plan(file: &str, text: &str, bugs: &[String]) -> Result<Plan, SweepError> {
    parse_str(file, text).map_err(SweepError::Scenario)?;
    let mut doc: DocumentMut = text.parse().expect("the loader parsed this text as TOML already");
    draw::strip(&mut doc);
    let mut probe = crate::cluster::bugs::PlantedBugs::default();
    for b in bugs {
        if !probe.set(b) {
            return Err(SweepError::UnknownBug(b.clone()));
        }
        if doc.get("bugs").and_then(|t| t.as_table()).is_none() {
            doc["bugs"] = toml_edit::Item::Table(Table::new());
        }
        doc["bugs"][b.as_str()] = toml_edit::value(true);
    }
    let sc = parse_str(file, &doc.to_string()).map_err(SweepError::Scenario)?;
    if sc.flink.checkpoint_interval_us.is_none() {
        return Err(SweepError::NoCheckpoint(format!(
            "{file}: checkpointing is off (execution.checkpointing.interval): there are no protocol phases to crash at"
        )));
    }
    let graph = JobGraph::build(&sc.job);
    let mut free = sc.clone();
    free.faults.clear();
    let outcome = World::new(&free, false).run();
    let third = sc.duration_us / 3;
    let Some((checkpoint, completed_at_us)) = outcome.notes.iter().find_map(|e| match e.note {
        Note::CheckpointCompleted { cp, .. } if e.at_us >= third => Some((cp, e.at_us)),
        _ => None,
    }) else {
        return Err(SweepError::NoCheckpoint(format!(
            "{file}: no checkpoint completes after a third of the duration ({}) in a fault-free run",
            crate::sim::fmt_time(third)
        )));
    };
    let name = doc.get("name").and_then(|v| v.as_str()).unwrap_or("scenario").to_string();
    let drain = sc.flink.checkpoint_timeout_us + MIN_DRAIN_US;
    if sc.drain_us < drain {
        doc["drain"] = toml_edit::value(format!("{}s", drain.div_ceil(1_000_000)));
    }
    // Just after the checkpoint completed, in whole milliseconds (a file's time).
    let fail_at_ms = completed_at_us / 1000 + 1;
    let mut cases = Vec::new();
    for phase in ProtocolPhase::ALL {
        for i in 0..graph.subtask_count() {
            let st = SubtaskId(i as u32);
            if !applies(&graph, phase, st) {
                continue;
            }
            let target = subtask_ref(&graph, st);
            let mut d = doc.clone();
            d["name"] = toml_edit::value(format!("{name}, sweep: crash at {} of {target}", phase.name()));
            let mut faults = ArrayOfTables::new();
            let mut crash = Table::new();
            crash["at-phase"] = toml_edit::value(phase.name());
            crash["subtask"] = toml_edit::value(target.as_str());
            if phase.is_checkpoint_phase() {
                crash["checkpoint"] = toml_edit::value(checkpoint as i64);
                d["about"] = toml_edit::value(format!(
                    "Written by `recoverysim sweep {file}`: the TaskManager running {target} is killed when it \
                     reaches {} of checkpoint {checkpoint}.",
                    phase.name()
                ));
            } else {
                let mut fail = Table::new();
                fail["at"] = toml_edit::value(format!("{fail_at_ms}ms"));
                fail["fail-task"] = toml_edit::value(target.as_str());
                faults.push(fail);
                crash["after"] = toml_edit::value(format!("{fail_at_ms}ms"));
                d["about"] = toml_edit::value(format!(
                    "Written by `recoverysim sweep {file}`: {target} fails after checkpoint {checkpoint} \
                     completed; the TaskManager running its restarted attempt is killed while it is {}.",
                    phase.name()
                ));
            }
            faults.push(crash);
            d["fault"] = toml_edit::Item::ArrayOfTables(faults);
            cases.push(Case { phase, subtask: st, text: d.to_string() });
        }
    }
    let subtasks = (0..graph.subtask_count()).map(|i| graph.subtask_name(SubtaskId(i as u32))).collect();
    Ok(Plan { file: file.to_string(), subtasks, checkpoint, completed_at_us, cases, bugs: bugs.to_vec() })
}

/// Runs one case and judges it like an explored seed.
pub fn run_case(file: &str, case: &Case) -> Cell {
    let (phase, subtask) = (case.phase, case.subtask);
    let sc = match parse_str(file, &case.text) {
        Ok(sc) => sc,
        Err(e) => {
            return Cell {
                phase,
                subtask,
                reached: false,
                verdict: "-".into(),
                lost: 0,
                duplicated: 0,
                failovers: 0,
                job_status: "-".into(),
                judgement: Judgement::Fail { class: "sweep wrote an invalid scenario".into(), detail: e.to_string() },
            };
        }
    };
    let run = simulate(&sc);
    let crash = sc.faults.len() - 1;
    Cell {
        phase,
        subtask,
        reached: run.outcome.fault_times.get(crash).is_some_and(Option::is_some),
        verdict: run.output.verdict.name().into(),
        lost: run.output.lost,
        duplicated: run.output.duplicated,
        failovers: run.outcome.failovers.len(),
        job_status: run.outcome.job_status.name().into(),
        judgement: judge(&run),
    }
}

/// A cell as the table shows it: `EO 1f`, `ALO+37 1f`, `AMO-5 2f !`, `not reached`, `-`.
fn cell_text(c: &Cell) -> String {
    if !c.reached {
        return "not reached".into();
    }
    let v = match c.verdict.as_str() {
        "exactly_once" => "EO",
        "at_least_once" => "ALO",
        "at_most_once" => "AMO",
        "violated" => "VIOL",
        "incomplete" => "INC",
        "unverified" => "UNV",
        other => other,
    };
    let mut s = v.to_string();
    if c.duplicated > 0 {
        s += &format!("+{}", c.duplicated);
    }
    if c.lost > 0 {
        s += &format!("-{}", c.lost);
    }
    s += &format!(" {}f", c.failovers);
    if c.judgement.is_fail() {
        s += " !";
    }
    s
}

/// The table: a row per phase, a column per subtask, and how many subtasks reached the phase.
/// Deterministic for the plan and the cells.
pub fn render(plan: &Plan, cells: &[Cell]) -> String {
    let n = plan.subtasks.len();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["phase".to_string()];
    header.extend(plan.subtasks.iter().cloned());
    header.push("reached".into());
    rows.push(header);
    for phase in ProtocolPhase::ALL {
        let mut row = vec![phase.name().to_string()];
        let (mut applicable, mut reached) = (0, 0);
        for i in 0..n {
            match cells.iter().find(|c| c.phase == phase && c.subtask.0 as usize == i) {
                Some(c) => {
                    applicable += 1;
                    reached += usize::from(c.reached);
                    row.push(cell_text(c));
                }
                None => row.push("-".into()),
            }
        }
        row.push(if applicable == 0 { "n/a".into() } else { format!("{reached}/{applicable}") });
        rows.push(row);
    }
    let widths: Vec<usize> = (0..n + 2).map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0)).collect();
    let bugs = if plan.bugs.is_empty() { String::new() } else { format!(", planted bugs: {}", plan.bugs.join(", ")) };
    let mut s = format!(
        "sweep {}: crash (kill -9 of the TaskManager) at each protocol phase of each subtask — checkpoint {} \
         (completed at {} without faults); {} cases{bugs}\n\n",
        plan.file,
        plan.checkpoint,
        crate::sim::fmt_time(plan.completed_at_us),
        cells.len()
    );
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        s += line.join("  ").trim_end();
        s += "\n";
    }
    s += "\nEO exactly_once, ALO at_least_once, AMO at_most_once, VIOL violated, INC incomplete, UNV unverified; \
          +N duplicated, -N lost, Nf failovers, ! a failure by explore's judgement; - the phase cannot happen there\n";
    let reached = cells.iter().filter(|c| c.reached).count();
    let failed: Vec<&Cell> = cells.iter().filter(|c| c.reached && c.judgement.is_fail()).collect();
    let invalid: Vec<&Cell> = cells.iter().filter(|c| !c.reached && c.judgement.is_fail()).collect();
    s += &format!("{reached} of {} cases reached their phase; {} failed\n", cells.len(), failed.len() + invalid.len());
    for c in failed.iter().chain(&invalid) {
        if let Judgement::Fail { class, detail } = &c.judgement {
            let d: String = detail.chars().take(200).collect();
            s += &format!("  {} of {}: {class}: {d}\n", c.phase.name(), plan.subtasks[c.subtask.0 as usize]);
        }
    }
    s
}

/// The file name of a case: `sweep-snapshot-taken-count-1.toml`.
pub fn case_file_name(plan: &Plan, case: &Case) -> String {
    let st: String = plan.subtasks[case.subtask.0 as usize]
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let st = st.trim_matches('-').replace("--", "-");
    format!("sweep-{}-{st}.toml", case.phase.name())
}
