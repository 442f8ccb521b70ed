//! `explore --metamorphic`: each drawn scenario is run twice more, changed in a way that must not
//! change what Flink's protocol guarantees, and the runs are compared with the drawn one.
//!
//! - **The other failover strategy** (`jobmanager.execution.failover-strategy` region ↔ full):
//!   full failover restarts more subtasks, but every restart goes back to a consistent
//!   checkpoint, so what the sinks commit is what the log fixes either way.
//! - **A delay that cannot change the result**: every request to and answer from the sink store
//!   and the checkpoint storage arrives `EXTERNAL_DELAY_US` later, and every data-plane message
//!   (records, barriers, credit) `DATA_DELAY_US` later, from the start of the run. Those links
//!   stay in order (a delay holds up what follows, it never reorders), and both delays are far
//!   below every timeout (Kafka's request timeout 30 s, the storage client's 60 s, the checkpoint
//!   timeout): only when things happen moves, relative to the scheduled faults too.
//!
//! What counts as a difference (`compare`), for two runs of the same job:
//! 1. A run that ended in a way Flink allows a job to end without finishing (the restart
//!    strategy gave up: FAILED; the JobManager died without HA: NOT_FOUND) is not compared: the number
//!    of failovers a schedule causes depends on the strategy and on timing, and so does whether a
//!    restart strategy runs out.
//! 2. Otherwise the job status at the end must be the same.
//! 3. The verdict must be the same. Where Flink promises only at-least-once for the job (an
//!    appending sink, AT_LEAST_ONCE checkpoints, checkpointing off) the number of duplicates
//!    depends on when failures hit, so `exactly_once` and `at_least_once` (and, with AT_LEAST_ONCE
//!    checkpoints, keyed results counted twice) are one class there: "no loss"; a loss or a broken
//!    protocol invariant must still be the same in both.
//! 4. If both finished, the final results the source log fixes (`oracle::determinacy`) must be
//!    the same: per sink with fixed record identities, which records were committed (and how
//!    often, where exactly-once is promised); per sink with a fixed per-key multiset of values,
//!    that multiset (its set where duplicates are allowed); per two-phase-commit sink fed by a
//!    keyed aggregate with a fixed final value, each key's last committed result (exactly-once
//!    only: an appending sink's last result can be an older one a replayed attempt wrote late).
//!    A job with none of these (every sink depends on the interleaving) has no fixed final results
//!    and only rules 1–3 apply.
//!
//! Pure: the caller runs seeds on threads.

use super::{Judgement, judge};
use crate::check::Verdict;
use crate::check::oracle::{determinacy, fed_by_keyed};
use crate::cluster::config::{CheckpointingMode, FailoverStrategy, HaKind};
use crate::cluster::state::JobStatus;
use crate::job::record::RecordId;
use crate::job::spec::{OperatorId, OperatorKind, SinkSemantic};
use crate::run::{Run, simulate};
use crate::scenario::{Scenario, parse_str};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml_edit::{Array, DocumentMut, Item, Table};

/// Extra latency of every message to and from the sink store and the checkpoint storage.
pub const EXTERNAL_DELAY_US: u64 = 5_000;
/// Extra latency of every data-plane message between TaskManagers.
pub const DATA_DELAY_US: u64 = 1_000;
/// Every failure class this check reports starts so.
pub const CLASS_PREFIX: &str = "metamorphic: ";

/// A change of the scenario that must not change the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    OtherFailover,
    Delayed,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::OtherFailover, Variant::Delayed];

    /// Short name: the results file and the variant's scenario file name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::OtherFailover => "other-failover",
            Variant::Delayed => "delayed",
        }
    }

    /// In a failure class: what was changed.
    pub fn label(self) -> &'static str {
        match self {
            Variant::OtherFailover => "the other failover strategy",
            Variant::Delayed => "a delay that cannot change the result",
        }
    }

    /// The scenario text of the variant of `text` (whose validated form is `sc`).
    pub fn apply(self, text: &str, sc: &Scenario) -> Result<String, String> {
        let mut doc: DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        let name = doc.get("name").and_then(Item::as_str).unwrap_or("scenario").to_string();
        match self {
            Variant::OtherFailover => {
                let other = match sc.flink.failover_strategy {
                    FailoverStrategy::Region => "full",
                    FailoverStrategy::Full => "region",
                };
                super::draw::set_flink(&mut doc, "jobmanager.execution.failover-strategy", other);
                doc["name"] = toml_edit::value(format!("{name} ({other} failover)"));
            }
            Variant::Delayed => {
                let external = || {
                    let mut a = Array::new();
                    a.push("sink-store");
                    a.push("checkpoint-storage");
                    Item::Value(a.into())
                };
                let delay = |kind: &str, dir: Option<&str>, us: u64| {
                    let mut t = Table::new();
                    t["at"] = toml_edit::value("0s");
                    t["delay-messages"] = toml_edit::value(kind);
                    if let Some(d) = dir {
                        t[d] = external();
                    }
                    t["delay"] = toml_edit::value(format!("{}ms", us / 1_000));
                    t
                };
                if doc.get("fault").is_none() {
                    doc["fault"] = Item::ArrayOfTables(Default::default());
                }
                let faults = doc
                    .get_mut("fault")
                    .and_then(Item::as_array_of_tables_mut)
                    .ok_or("the scenario's `fault` is not an array of tables ([[fault]])")?;
                faults.push(delay("any", Some("to"), EXTERNAL_DELAY_US));
                faults.push(delay("any", Some("from"), EXTERNAL_DELAY_US));
                faults.push(delay("data", None, DATA_DELAY_US));
                doc["name"] = toml_edit::value(format!("{name} (delayed)"));
            }
        }
        Ok(doc.to_string())
    }
}

/// What Flink promises for a job's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promise {
    ExactlyOnce,
    /// Duplicates allowed; `state_exact`: keyed state is still exactly-once (EXACTLY_ONCE
    /// checkpoints or none), so replayed records repeat the same results.
    AtLeastOnce {
        state_exact: bool,
    },
}

/// The final results the source log fixes for a finished run (rule 4 of the module comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalResults {
    /// (sink, origin) → commits (1 for "committed" where duplicates are allowed).
    pub records: BTreeMap<(u32, RecordId), u32>,
    /// (sink, key, value) → commits (1 for "committed" where duplicates are allowed).
    pub values: BTreeMap<(u32, u32, i64), u32>,
    /// (sink, key) → last committed result.
    pub aggregates: BTreeMap<(u32, u32), i64>,
}

/// What the comparison needs of one run (the run itself can be dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub verdict: Verdict,
    pub job_status: JobStatus,
    /// Why the run may end without finishing, as Flink allows; such a run is not compared.
    pub allowed_end: Option<&'static str>,
    pub lost: u64,
    pub invariant_violations: usize,
    /// Keyed results no fault-free execution commits are what the job promises (AT_LEAST_ONCE
    /// checkpoints count replayed records again).
    pub over_count_allowed: bool,
    pub promise: Promise,
    /// `None`: the job did not finish, or the log fixes nothing of its output.
    pub results: Option<FinalResults>,
    /// Operator names, to say which sink differs.
    pub names: Vec<String>,
    pub trace_hash: u64,
}

impl Facts {
    pub fn of(run: &Run) -> Facts {
        let sc = &run.scenario;
        let ops = &sc.job.operators;
        let at_least_once_mode = sc.flink.checkpointing_mode == CheckpointingMode::AtLeastOnce;
        let append = ops.iter().any(|o| matches!(o.kind, OperatorKind::Sink(SinkSemantic::Append)));
        let promise = if append || at_least_once_mode || sc.flink.checkpoint_interval_us.is_none() {
            Promise::AtLeastOnce { state_exact: !at_least_once_mode }
        } else {
            Promise::ExactlyOnce
        };
        let status = run.outcome.job_status;
        let allowed_end = match status {
            JobStatus::Failed if run.outcome.failovers.iter().any(|f| f.exhausted) => {
                Some("the restart strategy gave up (FAILED)")
            }
            JobStatus::NotFound if sc.flink.ha == HaKind::None => Some("the JobManager died without HA (NOT_FOUND)"),
            _ => None,
        };
        let results = (status == JobStatus::Finished).then(|| final_results(run, promise)).flatten();
        Facts {
            verdict: run.output.verdict,
            job_status: status,
            allowed_end,
            lost: run.output.lost,
            invariant_violations: run.outcome.violations.len(),
            over_count_allowed: at_least_once_mode,
            promise,
            results,
            names: ops.iter().map(|o| o.name.clone()).collect(),
            trace_hash: run.outcome.trace_hash,
        }
    }

    /// The verdict as compared: where duplicates are allowed, every verdict without loss or a
    /// broken invariant is one class.
    fn verdict_class(&self) -> &'static str {
        let no_loss = self.lost == 0 && self.invariant_violations == 0;
        match (self.promise, self.verdict) {
            (Promise::ExactlyOnce, v) => v.name(),
            (Promise::AtLeastOnce { .. }, Verdict::ExactlyOnce | Verdict::AtLeastOnce) if no_loss => {
                "exactly_once or at_least_once"
            }
            (Promise::AtLeastOnce { .. }, Verdict::Violated) if no_loss && self.over_count_allowed => {
                "exactly_once or at_least_once"
            }
            (_, v) => v.name(),
        }
    }
}

fn final_results(run: &Run, promise: Promise) -> Option<FinalResults> {
    let graph = &run.graph;
    let det = determinacy(graph);
    let ops = &graph.spec.operators;
    let exactly = promise == Promise::ExactlyOnce;
    let values_fixed = match promise {
        Promise::ExactlyOnce => true,
        Promise::AtLeastOnce { state_exact } => state_exact,
    };
    let mut r = FinalResults::default();
    let mut any = false;
    for (i, op) in ops.iter().enumerate() {
        let OperatorKind::Sink(semantic) = op.kind else { continue };
        let sink = OperatorId(i as u32);
        let d = det[i];
        let mine = run.outcome.committed.iter().filter(|c| c.sink == sink);
        let count = |n: &mut u32| *n = if exactly { *n + 1 } else { 1 };
        if d.identities {
            any = true;
            for c in mine.clone() {
                count(r.records.entry((sink.0, c.record.origin)).or_insert(0));
            }
        } else if d.value_multiset && values_fixed {
            any = true;
            for c in mine.clone() {
                count(r.values.entry((sink.0, c.record.key, c.record.value)).or_insert(0));
            }
        }
        let aggregate_fixed = fed_by_keyed(graph, sink).is_some_and(|k| det[k.0 as usize].final_value);
        if exactly && aggregate_fixed && semantic == SinkSemantic::TwoPhaseCommit {
            any = true;
            for c in mine {
                r.aggregates.insert((sink.0, c.record.key), c.record.value);
            }
        }
    }
    any.then_some(r)
}

/// The first key whose value differs between two maps (in key order), with both values.
fn first_difference<'a, K: Ord, V: PartialEq>(
    a: &'a BTreeMap<K, V>,
    b: &'a BTreeMap<K, V>,
) -> Option<(&'a K, Option<&'a V>, Option<&'a V>)> {
    let mut ia = a.iter().peekable();
    let mut ib = b.iter().peekable();
    loop {
        match (ia.peek(), ib.peek()) {
            (None, None) => return None,
            (Some(&(ka, va)), Some(&(kb, vb))) if ka == kb => {
                if va != vb {
                    return Some((ka, Some(va), Some(vb)));
                }
                ia.next();
                ib.next();
            }
            (Some(&(ka, va)), Some(&(kb, _))) if ka < kb => return Some((ka, Some(va), None)),
            (Some(&(ka, va)), None) => return Some((ka, Some(va), None)),
            (_, Some(&(kb, vb))) => return Some((kb, None, Some(vb))),
        }
    }
}

/// How two runs of the same job compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agreement {
    Same,
    /// One run ended as Flink allows; why.
    NotCompared(String),
    Differs {
        what: Difference,
        detail: String,
    },
}

/// Which rule of the module comment a difference breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difference {
    End,
    Verdict,
    Results,
}

impl Difference {
    fn words(self) -> &'static str {
        match self {
            Difference::End => "changes how the job ends",
            Difference::Verdict => "changes the verdict",
            Difference::Results => "changes the final results",
        }
    }
}

/// Compares run `a` (called `la`) with run `b` (`lb`) of the same job (the module comment's rules).
pub fn compare(a: &Facts, la: &str, b: &Facts, lb: &str) -> Agreement {
    if let Some(why) = a.allowed_end {
        return Agreement::NotCompared(format!("{why} in the {la} run"));
    }
    if let Some(why) = b.allowed_end {
        return Agreement::NotCompared(format!("{why} in the {lb} run"));
    }
    let both = format!(
        "{}/{} ({la}) vs {}/{} ({lb})",
        a.verdict.name(),
        a.job_status.name(),
        b.verdict.name(),
        b.job_status.name()
    );
    if a.job_status != b.job_status {
        return Agreement::Differs { what: Difference::End, detail: both };
    }
    if a.verdict_class() != b.verdict_class() {
        return Agreement::Differs { what: Difference::Verdict, detail: both };
    }
    let (Some(ra), Some(rb)) = (&a.results, &b.results) else { return Agreement::Same };
    let name = |sink: &u32| a.names.get(*sink as usize).map_or("?", String::as_str).to_string();
    let times = |n: Option<&u32>| format!("{}×", n.copied().unwrap_or(0));
    let detail = if let Some(((sink, id), x, y)) = first_difference(&ra.records, &rb.records) {
        format!("sink {}: record {id} committed {} ({la}), {} ({lb})", name(sink), times(x), times(y))
    } else if let Some(((sink, key, value), x, y)) = first_difference(&ra.values, &rb.values) {
        format!("sink {} key {key}: value {value} committed {} ({la}), {} ({lb})", name(sink), times(x), times(y))
    } else if let Some(((sink, key), x, y)) = first_difference(&ra.aggregates, &rb.aggregates) {
        let v = |v: Option<&i64>| v.map_or("no result".to_string(), i64::to_string);
        format!("sink {} key {key}: last result {} ({la}), {} ({lb})", name(sink), v(x), v(y))
    } else {
        return Agreement::Same;
    };
    Agreement::Differs { what: Difference::Results, detail: format!("{both}; {detail}") }
}

/// One variant's run of a seed, as the results file keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantResult {
    /// `other-failover` or `delayed`.
    pub variant: String,
    pub verdict: String,
    pub job_status: String,
    pub trace_hash: String,
    /// `same`, `not compared: …` or `differs: …`.
    pub agreement: String,
}

impl VariantResult {
    pub fn agrees(&self) -> bool {
        self.agreement == "same"
    }
    pub fn differs(&self) -> bool {
        self.agreement.starts_with("differs")
    }
}

/// A run's label in the comparison: its failover strategy, and whether it was delayed.
fn label(sc: &Scenario, delayed: bool) -> String {
    let s = match sc.flink.failover_strategy {
        FailoverStrategy::Region => "region failover",
        FailoverStrategy::Full => "full failover",
    };
    if delayed { format!("{s}, delayed") } else { s.to_string() }
}

/// Runs the variants of the drawn scenario `text` (`sc`, whose run gave `base`) and compares
/// each with it; the judgement is the first difference as a failure, if any.
pub fn check(file: &str, text: &str, sc: &Scenario, base: &Facts) -> (Vec<VariantResult>, Option<Judgement>) {
    let mut out = Vec::new();
    let mut failure = None;
    let base_label = label(sc, false);
    for v in Variant::ALL {
        let loaded = v.apply(text, sc).and_then(|t| parse_str(file, &t).map_err(|e| e.to_string()));
        let vsc = match loaded {
            Ok(s) => s,
            Err(e) => {
                out.push(VariantResult {
                    variant: v.name().into(),
                    verdict: "-".into(),
                    job_status: "-".into(),
                    trace_hash: String::new(),
                    agreement: format!("differs: the variant does not load: {e}"),
                });
                failure.get_or_insert(Judgement::Fail {
                    class: format!("{CLASS_PREFIX}{} does not load", v.label()),
                    detail: e,
                });
                continue;
            }
        };
        let facts = Facts::of(&simulate(&vsc));
        let agreement = compare(base, &base_label, &facts, &label(&vsc, v == Variant::Delayed));
        let words = match &agreement {
            Agreement::Same => "same".to_string(),
            Agreement::NotCompared(why) => format!("not compared: {why}"),
            Agreement::Differs { detail, .. } => format!("differs: {detail}"),
        };
        if let Agreement::Differs { what, detail } = agreement {
            failure.get_or_insert(Judgement::Fail {
                class: format!("{CLASS_PREFIX}{} {}", v.label(), what.words()),
                detail,
            });
        }
        out.push(VariantResult {
            variant: v.name().into(),
            verdict: facts.verdict.name().into(),
            job_status: facts.job_status.name().into(),
            trace_hash: format!("{:016x}", facts.trace_hash),
            agreement: words,
        });
    }
    (out, failure)
}

/// The judgement of a scenario text with its variants (what `shrink` keeps for a metamorphic
/// class): the drawn run's own failure first, else the first difference, else its judgement.
pub fn judge_text(file: &str, text: &str) -> Judgement {
    let sc = match parse_str(file, text) {
        Ok(sc) => sc,
        Err(e) => return super::fail("explore drew an invalid scenario", e.to_string()),
    };
    let run = simulate(&sc);
    let j = judge(&run);
    if j.is_fail() {
        return j;
    }
    let facts = Facts::of(&run);
    drop(run);
    check(file, text, &sc, &facts).1.unwrap_or(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(verdict: Verdict, status: JobStatus, promise: Promise) -> Facts {
        Facts {
            verdict,
            job_status: status,
            allowed_end: None,
            lost: 0,
            invariant_violations: 0,
            over_count_allowed: false,
            promise,
            results: None,
            names: vec!["source".into(), "count".into(), "sink".into()],
            trace_hash: 0,
        }
    }

    fn id(offset: u64) -> RecordId {
        RecordId { log: 0, partition: 1, offset }
    }

    #[test]
    fn the_same_verdict_and_results_agree_and_a_different_verdict_or_end_differs() {
        let eo = Promise::ExactlyOnce;
        let a = facts(Verdict::ExactlyOnce, JobStatus::Finished, eo);
        assert_eq!(compare(&a, "region", &a.clone(), "full"), Agreement::Same);
        let b = Facts { lost: 3, ..facts(Verdict::AtMostOnce, JobStatus::Finished, eo) };
        let Agreement::Differs { what, detail } = compare(&a, "region", &b, "full") else { panic!("differs") };
        assert_eq!(what, Difference::Verdict);
        assert_eq!(detail, "exactly_once/FINISHED (region) vs at_most_once/FINISHED (full)");
        let c = facts(Verdict::Incomplete, JobStatus::Running, eo);
        assert!(matches!(compare(&a, "x", &c, "y"), Agreement::Differs { what: Difference::End, .. }));
    }

    #[test]
    fn an_end_flink_allows_is_not_compared() {
        let eo = Promise::ExactlyOnce;
        let a = facts(Verdict::ExactlyOnce, JobStatus::Finished, eo);
        let b = Facts {
            allowed_end: Some("the restart strategy gave up (FAILED)"),
            ..facts(Verdict::Incomplete, JobStatus::Failed, eo)
        };
        assert_eq!(
            compare(&a, "region failover", &b, "full failover"),
            Agreement::NotCompared("the restart strategy gave up (FAILED) in the full failover run".into())
        );
    }

    #[test]
    fn where_duplicates_are_allowed_only_loss_counts() {
        let alo = Promise::AtLeastOnce { state_exact: true };
        let a = facts(Verdict::ExactlyOnce, JobStatus::Finished, alo);
        let b = facts(Verdict::AtLeastOnce, JobStatus::Finished, alo);
        assert_eq!(compare(&a, "a", &b, "b"), Agreement::Same, "duplicates depend on timing");
        let lost = Facts { lost: 1, ..facts(Verdict::Violated, JobStatus::Finished, alo) };
        assert!(matches!(compare(&a, "a", &lost, "b"), Agreement::Differs { what: Difference::Verdict, .. }));
        // AT_LEAST_ONCE checkpoints: keyed results counted twice are what the job promises.
        let over = Facts {
            over_count_allowed: true,
            ..facts(Verdict::Violated, JobStatus::Finished, Promise::AtLeastOnce { state_exact: false })
        };
        let plain = Facts { over_count_allowed: true, ..a.clone() };
        assert_eq!(compare(&plain, "a", &over, "b"), Agreement::Same);
        // In an exactly-once job the same two verdicts differ.
        let eo = |v| facts(v, JobStatus::Finished, Promise::ExactlyOnce);
        assert!(matches!(
            compare(&eo(Verdict::ExactlyOnce), "a", &eo(Verdict::AtLeastOnce), "b"),
            Agreement::Differs { .. }
        ));
    }

    #[test]
    fn final_results_differ_by_the_first_record_value_or_aggregate() {
        let eo = Promise::ExactlyOnce;
        let mut ra = FinalResults::default();
        ra.records.insert((2, id(5)), 1);
        ra.records.insert((2, id(6)), 1);
        let mut rb = ra.clone();
        let a = Facts { results: Some(ra.clone()), ..facts(Verdict::ExactlyOnce, JobStatus::Finished, eo) };
        let b = |r: FinalResults| Facts { results: Some(r), ..a.clone() };
        assert_eq!(compare(&a, "x", &b(rb.clone()), "y"), Agreement::Same);
        rb.records.remove(&(2, id(5)));
        let Agreement::Differs { what, detail } = compare(&a, "region", &b(rb.clone()), "full") else {
            panic!("a record committed in one run only")
        };
        assert_eq!(what, Difference::Results);
        assert!(detail.ends_with("sink sink: record log0/p1@5 committed 1× (region), 0× (full)"), "{detail}");
        let mut rc = ra.clone();
        rc.aggregates.insert((2, 4), 17);
        let Agreement::Differs { detail, .. } = compare(&a, "region", &b(rc), "full") else { panic!("aggregate") };
        assert!(detail.ends_with("sink sink key 4: last result no result (region), 17 (full)"), "{detail}");
        let mut rd = ra.clone();
        rd.values.insert((2, 9, 3), 2);
        let Agreement::Differs { detail, .. } = compare(&a, "a", &b(rd), "b") else { panic!("values") };
        assert!(detail.ends_with("sink sink key 9: value 3 committed 0× (a), 2× (b)"), "{detail}");
    }

    #[test]
    fn the_variants_load_and_change_only_what_they_say() {
        let text = include_str!("../../scenarios/keyed-tm-kill.toml");
        let sc = parse_str("keyed-tm-kill.toml", text).expect("loads");
        let full = parse_str("x", &Variant::OtherFailover.apply(text, &sc).expect("applies")).expect("loads");
        assert_eq!(full.flink.failover_strategy, FailoverStrategy::Full);
        assert_eq!(full.faults, sc.faults);
        let delayed = parse_str("x", &Variant::Delayed.apply(text, &sc).expect("applies")).expect("loads");
        assert_eq!(delayed.faults.len(), sc.faults.len() + 3);
        assert_eq!(delayed.faults[..sc.faults.len()], sc.faults[..]);
        assert_eq!(delayed.flink.failover_strategy, sc.flink.failover_strategy);
    }
}
