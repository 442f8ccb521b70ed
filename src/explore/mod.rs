//! `explore`: search for failures instead of scripting them. Per seed, a random fault schedule
//! (and with `--vary` a random job and configuration) is drawn into the scenario document, the
//! document is loaded like any file, run with its reference and oracle, and judged: a run is a
//! failure when the verdict or the job's end is something Flink's protocol must not produce;
//! what Flink itself does (an at-least-once sink duplicating, a job whose restart strategy gives
//! up, a job lost with its JobManager without HA) is not a failure, and the reason is kept.
//! Pure: no clock, no threads, no files; the CLI runs seeds in parallel and writes files.

pub mod coverage;
pub mod draw;
pub mod metamorphic;
pub mod report;
pub mod shrink;
pub mod sweep;

use crate::check::Verdict;
use crate::cluster::config::CheckpointingMode;
use crate::cluster::state::JobStatus;
use crate::job::spec::{OperatorKind, SinkSemantic};
use crate::run::{Run, simulate};
use crate::scenario::{Scenario, ScenarioError, parse_str};
use draw::DrawOptions;
use serde::{Deserialize, Serialize};
use toml_edit::DocumentMut;

/// The scenario `explore` starts from: its text as a document (faults and `[expect]` removed)
/// and its validated form.
#[derive(Clone)]
pub struct Base {
    /// The file's name, for errors and the files written for failing seeds.
    pub file: String,
    doc: DocumentMut,
    scenario: Scenario,
    pub opts: DrawOptions,
    /// Planted bugs, by name (`--bug`), written into each seed's `[bugs]` table.
    pub bugs: Vec<String>,
    /// `--metamorphic`: each seed also runs its variants (`metamorphic`) and compares them.
    pub metamorphic: bool,
}

/// Why a base cannot be explored.
#[derive(Debug)]
pub enum BaseError {
    /// The file is not a valid scenario (with its position).
    Scenario(ScenarioError),
    /// A planted bug name that does not exist.
    UnknownBug(String),
}

impl Base {
    pub fn new(file: &str, text: &str, opts: DrawOptions, bugs: Vec<String>) -> Result<Base, BaseError> {
        let scenario = parse_str(file, text).map_err(BaseError::Scenario)?;
        let mut doc: DocumentMut = text.parse().expect("the loader parsed this text as TOML already");
        draw::strip(&mut doc);
        let mut probe = crate::cluster::bugs::PlantedBugs::default();
        for b in &bugs {
            if !probe.set(b) {
                return Err(BaseError::UnknownBug(b.clone()));
            }
        }
        if !bugs.is_empty() {
            let mut t = toml_edit::Table::new();
            for b in &bugs {
                t[b.as_str()] = toml_edit::value(true);
            }
            doc["bugs"] = toml_edit::Item::Table(t);
        }
        Ok(Base { file: file.to_string(), doc, scenario, opts, bugs, metamorphic: false })
    }

    /// The scenario text of one seed: the base (or a drawn job with `--vary`) with the seed and
    /// the fault schedule drawn for it.
    pub fn draw(&self, seed: u64) -> Result<(String, Scenario), ScenarioError> {
        let mut doc = self.doc.clone();
        let name = doc.get("name").and_then(|v| v.as_str()).unwrap_or("scenario").to_string();
        doc["seed"] = toml_edit::value(seed as i64);
        let base = if self.opts.vary {
            draw::vary(&mut doc, seed);
            doc["name"] = toml_edit::value(format!("{name}, varied by seed {seed}"));
            parse_str(&self.file, &doc.to_string())?
        } else {
            self.scenario.clone()
        };
        draw::faults(&mut doc, &base, seed, &self.opts);
        // A recoverable schedule needs time to recover after its last fault: a checkpoint whose
        // acknowledgement was lost holds the final checkpoint until it expires
        // (`execution.checkpointing.timeout`, 10 min by default), then exponential backoff (up to
        // 60 s), heartbeat timeouts (50 s), leader election. A scenario written for one fault
        // may drain for 10 s only; every seed gets the checkpoint timeout plus 3 minutes.
        let drain = base.flink.checkpoint_timeout_us + MIN_DRAIN_US;
        if self.opts.recoverable && base.drain_us < drain {
            doc["drain"] = toml_edit::value(format!("{}s", drain.div_ceil(1_000_000)));
        }
        let what = if self.opts.vary { "job, configuration and faults" } else { "faults" };
        doc["about"] = toml_edit::value(format!(
            "Drawn by `recoverysim explore {} --seeds {seed}-{seed}{}`: the {what} are random. The original \
             scenario's description no longer applies.",
            self.file,
            if self.opts.vary { " --vary" } else { "" }
        ));
        if !self.opts.vary {
            doc["name"] = toml_edit::value(format!("{name}, faults drawn by explore seed {seed}"));
        }
        let text = doc.to_string();
        let sc = parse_str(&self.file, &text)?;
        Ok((text, sc))
    }
}

/// The least drain (time after the sources stop) a recoverable seed gets beyond the checkpoint timeout.
pub const MIN_DRAIN_US: u64 = 180_000_000;

/// How `explore` judges one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "judgement", rename_all = "snake_case")]
pub enum Judgement {
    /// Exactly-once and FINISHED, or what the configuration promises.
    Pass,
    /// Not exactly-once or not finished, but that is what Flink does here; `why` says so.
    Expected { why: String },
    /// A verdict or an end Flink's protocol must not produce. `class` groups failures of one
    /// kind; `detail` is the first line that explains this one.
    Fail { class: String, detail: String },
}

impl Judgement {
    pub fn is_fail(&self) -> bool {
        matches!(self, Judgement::Fail { .. })
    }
    pub fn class(&self) -> Option<&str> {
        match self {
            Judgement::Fail { class, .. } => Some(class),
            _ => None,
        }
    }
}

fn fail(class: &str, detail: impl Into<String>) -> Judgement {
    Judgement::Fail { class: class.to_string(), detail: detail.into() }
}

/// Judges a finished simulation: protocol first (invariants, consistent cuts, impossible
/// results), then loss, duplicates, and how the job ended.
pub fn judge(run: &Run) -> Judgement {
    let sc = &run.scenario;
    let out = &run.output;
    let status = run.outcome.job_status;
    if let Some(v) = run.outcome.violations.first() {
        return fail("protocol invariant broken", v.clone());
    }
    if let Some(c) = &run.cut_violation {
        return fail("inconsistent checkpoint", c.to_string());
    }
    let at_least_once_mode = sc.flink.checkpointing_mode == CheckpointingMode::AtLeastOnce;
    // Keyed results no fault-free execution produces are what AT_LEAST_ONCE checkpoints give;
    // how the job ended is still judged below (a submission that fails, a job that never
    // finishes), and only a run that is otherwise right counts as Flink's behaviour.
    let over_counted = out.bad_results > 0 && at_least_once_mode && out.lost == 0;
    if out.bad_results > 0 && !over_counted {
        let d = out.first_bad_result.as_ref().map_or(String::new(), |b| format!("; first: {b}"));
        return fail("results no fault-free execution commits", format!("{} keys{d}", out.bad_results));
    }
    let append = sc.job.operators.iter().any(|o| matches!(o.kind, OperatorKind::Sink(SinkSemantic::Append)));
    let flink_duplicates = append || at_least_once_mode || sc.flink.checkpoint_interval_us.is_none();
    // The oracle explained every duplicate as Flink's own (a resubmission without a savepoint).
    if out.duplicated > 0
        && out.lost == 0
        && let Some(why) = &out.by_design
    {
        return Judgement::Expected { why: why.clone() };
    }
    if out.duplicated > 0 && !flink_duplicates {
        let d = out.first_duplicate.as_ref().map_or(String::new(), |o| {
            format!("; first: {} (key {}) committed {}× to {}", o.record, o.key, o.committed_times, o.sink)
        });
        return fail(
            "duplicates with two-phase-commit sinks in EXACTLY_ONCE mode",
            format!("{} duplicated{d}", out.duplicated),
        );
    }
    // A seed the simulator could not afford is its own class: not a verdict on Flink, but a
    // drawn schedule or configuration that runs away (events or memory), worth a look.
    if let Some(stop) = run.outcome.budget_stop {
        return fail("stopped at its budget", stop.to_string());
    }
    let exhausted = run.outcome.failovers.iter().any(|f| f.exhausted);
    match status {
        JobStatus::Finished => {}
        // A job that stopped for good leaves records uncommitted wherever they were in flight:
        // that is not loss by Flink's recovery (nothing recovers), only the end of the job.
        JobStatus::Failed
            if run.outcome.failovers.iter().any(|f| f.cause == crate::trace::FailureCause::Unrecoverable) =>
        {
            return Judgement::Expected {
                why: "a task threw an error that suppresses restarts and the job FAILED, as Flink does".into(),
            };
        }
        // A submission from a snapshot that is not there (no savepoint taken, or the checkpoint
        // discarded at the previous job's end) fails at once, as `flink run -s` does.
        JobStatus::Failed
            if run.outcome.notes.iter().any(|e| {
                matches!(&e.note, crate::trace::Note::JobOperation { text, .. }
                    if text.contains("cannot be submitted from a snapshot") || text.contains("cannot find checkpoint or savepoint"))
            }) =>
        {
            return Judgement::Expected {
                why: "a submission from a snapshot that does not exist failed at once, as Flink's does".into(),
            };
        }
        // A task failed after the stop's savepoint completed: Flink fails the job
        // (StopWithSavepointStoppingException) rather than restore an older checkpoint.
        JobStatus::Failed if run.outcome.failed_while_stopping.is_some() => {
            return Judgement::Expected {
                why: "a task failed while the job stopped with a savepoint that had completed: Flink fails the job \
                      (StopWithSavepointStoppingException) instead of restoring an older checkpoint"
                    .into(),
            };
        }
        JobStatus::Failed if exhausted => {
            return Judgement::Expected {
                why: "the restart strategy gave up and the job FAILED, as Flink does".into(),
            };
        }
        // The user cancelled the job and no submission followed that a JobManager leader took
        // (none asked for, or the REST call found no leader): the job stays CANCELED.
        JobStatus::Canceled if user_cancel_stands(run) => {
            return Judgement::Expected {
                why: "the user cancelled the job and no later submission reached a JobManager leader: CANCELED, \
                      as in Flink"
                    .into(),
            };
        }
        JobStatus::NotFound if sc.flink.ha == crate::cluster::config::HaKind::None => {
            return Judgement::Expected {
                why: "the JobManager died without high availability: the job is gone, as in Flink".into(),
            };
        }
        _ => {}
    }
    if out.lost > 0 {
        let d = out.first_lost.as_ref().map_or(String::new(), |o| {
            let at = crate::sim::fmt_time(o.appended_at_us);
            format!("; first: {} (key {}, appended at {at}) never reached {}", o.record, o.key, o.sink)
        });
        return fail("records lost", format!("{} lost{d}", out.lost));
    }
    match status {
        // `flink stop` ends the job at its savepoint; no later job read on from it.
        JobStatus::Finished if run.outcome.stopped_with_savepoint && out.verdict == Verdict::Incomplete => {
            return Judgement::Expected {
                why: "the user stopped the job with a savepoint and no later job read on from it: the rest of the \
                      log stays unread, as in Flink"
                    .into(),
            };
        }
        JobStatus::Finished => {}
        // The job does not finish without faults either (a drawn configuration too slow for its
        // run: checkpoints that always expire, say): not something a fault or its recovery did.
        s if s != JobStatus::Failed && run.reference.as_ref().is_some_and(|r| r.job_status != JobStatus::Finished) => {
            return Judgement::Expected {
                why: "even without faults this job does not finish within duration + drain (the fault-free \
                      reference simulation did not finish either)"
                    .into(),
            };
        }
        // Still RUNNING and making progress at the time limit, while the fault-free run finished:
        // slower after the recovery (its subtasks may sit on more TaskManagers, so more channels
        // cross the network and wait for credit), not stuck. Flink promises no throughput.
        JobStatus::Running if run.output.progress.is_some() => {
            return Judgement::Expected {
                why: "the job was still RUNNING and making progress at the time limit (no failover, checkpoints \
                      completing and records committed over its last minute at least), only slower than the \
                      fault-free run, which finished: not stuck"
                    .into(),
            };
        }
        s => {
            let cls = match s {
                JobStatus::Failed => "job FAILED although the restart strategy allowed more restarts",
                _ => "job did not finish",
            };
            return fail(cls, format!("job {} at {}", s.name(), crate::sim::fmt_time(run.outcome.end_us)));
        }
    }
    // Every key whose row is wrong ends with an older result written after a newer one: a
    // zombie's write to an upsert sink, which nothing fences in Flink either.
    let left_older: u64 = out.upserts.iter().map(|u| u.keys_left_older).sum();
    if left_older > 0 && out.keys_below + out.keys_above == left_older && out.lost == 0 && out.duplicated == 0 {
        return Judgement::Expected {
            why: "an upsert sink has no fencing: an older attempt's late write left an older row in the table".into(),
        };
    }
    if over_counted {
        return Judgement::Expected {
            why: "AT_LEAST_ONCE checkpoints: keyed state counts records replayed after a restore again, so \
                  keyed results differ from every fault-free execution"
                .into(),
        };
    }
    match out.verdict {
        Verdict::ExactlyOnce => Judgement::Pass,
        Verdict::AtLeastOnce if flink_duplicates => Judgement::Expected {
            why: if sc.flink.checkpoint_interval_us.is_none() {
                "checkpointing is off: a restart replays the sources from the start (duplicates)".into()
            } else if append {
                "an append sink is at-least-once: output after the last checkpoint is written again".into()
            } else {
                "AT_LEAST_ONCE checkpoints: records behind an early barrier are replayed".into()
            },
        },
        Verdict::Unverified => {
            Judgement::Expected { why: "the oracle cannot check this job's output (see the run's report)".into() }
        }
        v => fail(&format!("verdict {}", v.name()), out.not_clean.clone().unwrap_or_default()),
    }
}

/// One explored seed, as the results file keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    #[serde(flatten)]
    pub judgement: Judgement,
    pub verdict: String,
    pub job_status: String,
    /// Faults in the drawn schedule (restarts of killed TaskManagers included).
    pub faults: u32,
    /// Engine events of the faulty run.
    pub events: u64,
    pub trace_hash: String,
    /// Wall time of the seed (both runs and the oracle), in milliseconds; not part of the report
    /// two shards must agree on.
    pub wall_ms: u64,
    /// Faults by kind, the job's phase when each fired and the operator kinds it hit:
    /// `kind/phase/operator` → count (`none` for a fault that hit no task; a fault on a chain
    /// counts once per operator kind in it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub coverage: std::collections::BTreeMap<String, u64>,
    /// With `--metamorphic`: each variant's run and how it compares with the drawn one (absent
    /// in results files written without it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metamorphic: Vec<metamorphic::VariantResult>,
}

/// Runs one seed: draw, load, simulate, judge. `wall_ms` is left 0 (the caller times it).
pub fn run_seed(base: &Base, seed: u64) -> (SeedResult, Option<String>) {
    match base.draw(seed) {
        Err(e) => (
            SeedResult {
                seed,
                judgement: fail("explore drew an invalid scenario", e.to_string()),
                verdict: "-".into(),
                job_status: "-".into(),
                faults: 0,
                events: 0,
                trace_hash: String::new(),
                wall_ms: 0,
                coverage: Default::default(),
                metamorphic: Vec::new(),
            },
            None,
        ),
        Ok((text, sc)) => {
            let run = simulate(&sc);
            let mut r = SeedResult {
                seed,
                judgement: judge(&run),
                verdict: run.output.verdict.name().into(),
                job_status: run.outcome.job_status.name().into(),
                faults: sc.faults.len() as u32,
                events: run.outcome.events,
                trace_hash: format!("{:016x}", run.outcome.trace_hash),
                wall_ms: 0,
                coverage: coverage_of(&run.outcome.coverage),
                metamorphic: Vec::new(),
            };
            if base.metamorphic {
                let facts = metamorphic::Facts::of(&run);
                drop(run);
                let (variants, difference) = metamorphic::check(&base.file, &text, &sc, &facts);
                r.metamorphic = variants;
                // The drawn run's own failure comes first; a difference is a failure of its own.
                if let (false, Some(j)) = (r.judgement.is_fail(), difference) {
                    r.judgement = j;
                }
            }
            (r, Some(text))
        }
    }
}

/// A run's classified faults as `kind/phase/operator` counts.
pub fn coverage_of(faults: &[crate::fault::phase::FaultCoverage]) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for f in faults {
        let none = ["none"];
        let ops: &[&str] = if f.operators.is_empty() { &none } else { &f.operators };
        for op in ops {
            *m.entry(format!("{}/{}/{op}", f.kind, f.phase.name())).or_insert(0) += 1;
        }
    }
    m
}

impl Base {
    /// The coverage cells that count for this exploration: the operator kinds of the job and
    /// the phases it can be in (checkpoint phases need checkpointing, `pre-committed` a
    /// two-phase-commit sink). With `--vary` the job is drawn per seed: every operator kind and
    /// every phase.
    pub fn coverage_axes(&self) -> (Vec<String>, Vec<String>) {
        use crate::fault::phase::JobPhase;
        if self.opts.vary {
            let ops = ["source", "map", "filter", "keyed-count", "keyed-sum", "sink"];
            return (ops.map(String::from).to_vec(), JobPhase::ALL.iter().map(|p| p.name().to_string()).collect());
        }
        let sc = &self.scenario;
        let mut ops: Vec<&str> = sc.job.operators.iter().map(|o| o.kind.name()).collect();
        ops.sort_unstable();
        ops.dedup();
        let two_phase =
            sc.job.operators.iter().any(|o| matches!(o.kind, OperatorKind::Sink(SinkSemantic::TwoPhaseCommit)));
        let checkpointing = sc.flink.checkpoint_interval_us.is_some();
        let phases = JobPhase::ALL
            .iter()
            .filter(|p| p.possible(checkpointing, two_phase))
            .map(|p| p.name().to_string())
            .collect();
        (ops.into_iter().map(String::from).collect(), phases)
    }
}

/// Whether the seeds of a range belong to shard `k` of `n` (1-based): seed `s` goes to shard
/// `s mod n + 1`, so shards are disjoint, cover the range and balance whatever its bounds.
pub fn in_shard(seed: u64, k: u64, n: u64) -> bool {
    seed % n == k - 1
}

/// Whether the run's end is the user's cancel: the job was cancelled, and every submission of
/// the schedule failed for want of a JobManager leader (or there was none).
fn user_cancel_stands(run: &Run) -> bool {
    use crate::trace::Note;
    let notes = &run.outcome.notes;
    let cancelled = notes
        .iter()
        .any(|e| matches!(&e.note, Note::JobOperation { text, .. } if text.starts_with("the user cancels the job")));
    let submissions =
        run.scenario.faults.iter().filter(|f| matches!(f.action, crate::fault::FaultAction::SubmitJob(_))).count();
    let refused = notes
        .iter()
        .filter(|e| match &e.note {
            Note::Warning { text } => text.starts_with("no JobManager to take the operation"),
            Note::JobOperation { text, .. } => text.starts_with("submission refused: no JobManager leader"),
            _ => false,
        })
        .count();
    cancelled && refused >= submissions
}
