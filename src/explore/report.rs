//! What `explore` keeps and prints: the results file of a (sharded) run, merging shards, and the
//! summary of failing seeds grouped by class. The summary depends only on the results, never on
//! wall time, so two shards merged give the unsharded run's summary byte for byte.

use super::{Judgement, SeedResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "recoverysim-explore/1";

/// A results file: what was explored and each seed's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    /// The scenario file explored, as given.
    pub scenario: String,
    pub first_seed: u64,
    pub last_seed: u64,
    pub vary: bool,
    /// `--operations` (false in older files).
    #[serde(default)]
    pub operations: bool,
    pub kinds: Vec<String>,
    pub max_faults: u32,
    pub bugs: Vec<String>,
    /// `--metamorphic`: every seed's variants were run and compared (false in older files).
    #[serde(default)]
    pub metamorphic: bool,
    /// `[k, n]`: this file holds shard k of n; absent when whole or merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<[u64; 2]>,
    /// Seeds re-run to check determinism, and those whose trace hash differed.
    pub rechecked: u64,
    pub results: Vec<SeedResult>,
    /// The coverage cells that count (`--require-coverage`): the job's operator kinds and the
    /// phases it can be in (`Base::coverage_axes`). Absent in files written before coverage.
    #[serde(default)]
    pub operators: Vec<String>,
    #[serde(default)]
    pub phases: Vec<String>,
}

/// Why shards cannot be merged.
#[derive(Debug, PartialEq)]
pub enum MergeError {
    NoFiles,
    /// Two files explored different things (scenario, range, options).
    Different {
        what: &'static str,
        a: String,
        b: String,
    },
    /// A seed appears in two files.
    Overlap(u64),
    /// Seeds of the range no file has.
    Missing {
        count: u64,
        first: u64,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::NoFiles => write!(f, "no results files to merge"),
            MergeError::Different { what, a, b } => {
                write!(f, "the files explored different {what}: {a} and {b}")
            }
            MergeError::Overlap(s) => write!(f, "seed {s} is in two files (shards must be disjoint)"),
            MergeError::Missing { count, first } => {
                write!(f, "{count} seeds of the range are in no file (the first: {first}); a shard is missing")
            }
        }
    }
}

/// Merges shards of one exploration into the whole: same scenario, range and options,
/// disjoint, and together covering the range.
pub fn merge(parts: Vec<Results>) -> Result<Results, MergeError> {
    let mut it = parts.into_iter();
    let mut all = it.next().ok_or(MergeError::NoFiles)?;
    for p in it {
        let same = |what: &'static str, a: String, b: String| {
            if a == b { Ok(()) } else { Err(MergeError::Different { what, a, b }) }
        };
        same("scenarios", all.scenario.clone(), p.scenario.clone())?;
        same(
            "seed ranges",
            format!("{}-{}", all.first_seed, all.last_seed),
            format!("{}-{}", p.first_seed, p.last_seed),
        )?;
        same(
            "options",
            format!(
                "vary {} operations {} kinds {:?} max-faults {} bugs {:?} metamorphic {}",
                all.vary, all.operations, all.kinds, all.max_faults, all.bugs, all.metamorphic
            ),
            format!(
                "vary {} operations {} kinds {:?} max-faults {} bugs {:?} metamorphic {}",
                p.vary, p.operations, p.kinds, p.max_faults, p.bugs, p.metamorphic
            ),
        )?;
        same(
            "coverage cells",
            format!("operators {:?} phases {:?}", all.operators, all.phases),
            format!("operators {:?} phases {:?}", p.operators, p.phases),
        )?;
        all.rechecked += p.rechecked;
        all.results.extend(p.results);
    }
    all.results.sort_by_key(|r| r.seed);
    if let Some(w) = all.results.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(MergeError::Overlap(w[0].seed));
    }
    let want = all.last_seed - all.first_seed + 1;
    if all.results.len() as u64 != want {
        let have: std::collections::BTreeSet<u64> = all.results.iter().map(|r| r.seed).collect();
        let first = (all.first_seed..=all.last_seed).find(|s| !have.contains(s)).unwrap_or(all.first_seed);
        return Err(MergeError::Missing { count: want - all.results.len() as u64, first });
    }
    all.shard = None;
    Ok(all)
}

fn seeds_list(seeds: &[u64]) -> String {
    let shown: Vec<String> = seeds.iter().take(8).map(u64::to_string).collect();
    let more = if seeds.len() > 8 { format!(", … ({} more)", seeds.len() - 8) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// The summary: counts, expected outcomes with their reasons, failures grouped by class (with
/// the seeds and the first one's explanation). Deterministic for the results.
pub fn summary(r: &Results) -> String {
    let mut s = String::new();
    let n = r.results.len();
    let what = if r.vary { "random jobs and configurations, " } else { "" };
    let kinds =
        if r.kinds.len() == super::draw::Kind::ALL.len() { "every fault kind".to_string() } else { r.kinds.join(", ") };
    let bugs = if r.bugs.is_empty() { String::new() } else { format!(", planted bugs: {}", r.bugs.join(", ")) };
    let shard = r.shard.map(|[k, n]| format!(" (shard {k}/{n})")).unwrap_or_default();
    s += &format!(
        "explore {}: seeds {}-{}{shard}, {n} runs — {what}{kinds}, up to {} faults each{bugs}\n",
        r.scenario, r.first_seed, r.last_seed, r.max_faults
    );
    let mut pass = 0;
    let mut expected: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut failed: BTreeMap<&str, Vec<&SeedResult>> = BTreeMap::new();
    for x in &r.results {
        match &x.judgement {
            Judgement::Pass => pass += 1,
            Judgement::Expected { why } => expected.entry(why).or_default().push(x.seed),
            Judgement::Fail { class, .. } => failed.entry(class).or_default().push(x),
        }
    }
    let n_exp: usize = expected.values().map(Vec::len).sum();
    let n_fail: usize = failed.values().map(Vec::len).sum();
    s += &format!("  {pass} exactly-once and finished, {n_exp} as Flink behaves (not failures), {n_fail} FAILED\n");
    let mut verdicts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for x in &r.results {
        *verdicts.entry((&x.verdict, &x.job_status)).or_default() += 1;
    }
    let v: Vec<String> = verdicts.iter().map(|((v, j), c)| format!("{c} {v}/{j}")).collect();
    s += &format!("  verdicts: {}\n", v.join(", "));
    let faults: u64 = r.results.iter().map(|x| u64::from(x.faults)).sum();
    let events: u64 = r.results.iter().map(|x| x.events).sum();
    s += &format!("  {faults} faults injected, {events} engine events simulated\n");
    if r.metamorphic {
        s += &metamorphic_line(r);
    }
    if !expected.is_empty() {
        s += "\nnot failures — Flink itself does this:\n";
        for (why, seeds) in &expected {
            s += &format!("  {:>5}  {why} (seeds {})\n", seeds.len(), seeds_list(seeds));
        }
    }
    if !failed.is_empty() {
        s += "\nFAILURES by class:\n";
        let mut classes: Vec<_> = failed.iter().collect();
        classes.sort_by_key(|(c, v)| (std::cmp::Reverse(v.len()), **c));
        for (class, xs) in classes {
            let seeds: Vec<u64> = xs.iter().map(|x| x.seed).collect();
            s += &format!("  {:>5}  {class} (seeds {})\n", xs.len(), seeds_list(&seeds));
            if let Judgement::Fail { detail, .. } = &xs[0].judgement {
                let d: String = detail.chars().take(300).collect();
                s += &format!("         seed {}: {d}\n", xs[0].seed);
            }
        }
    }
    s += &format!(
        "\ndeterminism: {} seeds run twice, {}\n",
        r.rechecked,
        match failed.get("nondeterministic: a second run gave another trace hash") {
            None => "the same trace hash each time".to_string(),
            Some(v) => format!("{} gave another trace hash", v.len()),
        }
    );
    s
}

/// `--metamorphic`: how the variants' runs compared with the drawn ones.
fn metamorphic_line(r: &Results) -> String {
    let variants: Vec<&super::metamorphic::VariantResult> = r.results.iter().flat_map(|x| &x.metamorphic).collect();
    let same = variants.iter().filter(|v| v.agrees()).count();
    let differ = variants.iter().filter(|v| v.differs()).count();
    let mut why: BTreeMap<&str, usize> = BTreeMap::new();
    for v in variants.iter().filter(|v| !v.agrees() && !v.differs()) {
        let reason = v.agreement.strip_prefix("not compared: ").unwrap_or(&v.agreement);
        // Which run it was is in the results file; the summary counts by reason.
        let reason = reason.split(" in the ").next().unwrap_or(reason);
        *why.entry(reason).or_default() += 1;
    }
    let not: Vec<String> = why.iter().map(|(w, n)| format!("{n} {w}")).collect();
    format!(
        "  metamorphic: {} variant runs (the other failover strategy; +{} ms on the sink store and checkpoint \
         storage links, +{} ms on data): {same} same, {differ} differ, {} not compared{}\n",
        variants.len(),
        super::metamorphic::EXTERNAL_DELAY_US / 1_000,
        super::metamorphic::DATA_DELAY_US / 1_000,
        variants.len() - same - differ,
        if not.is_empty() { String::new() } else { format!(" ({})", not.join(", ")) }
    )
}

/// Wall-time figures (not part of the summary shards agree on).
pub fn timing(r: &Results, wall_ms: u64, jobs: usize) -> String {
    let n = r.results.len().max(1) as f64;
    let per_min = n / (wall_ms.max(1) as f64 / 60_000.0);
    let slow: Vec<u64> = r.results.iter().filter(|x| x.wall_ms > 20_000).map(|x| x.seed).collect();
    let slowest = r.results.iter().max_by_key(|x| x.wall_ms);
    let mut s = format!(
        "wall time: {} runs in {:.1} s on {jobs} jobs: {:.0} seeds per minute",
        r.results.len(),
        wall_ms as f64 / 1000.0,
        per_min
    );
    if let Some(x) = slowest {
        s += &format!("; slowest seed {} ({:.1} s)", x.seed, x.wall_ms as f64 / 1000.0);
    }
    if slow.is_empty() {
        s += "; none over 20 s\n";
    } else {
        s += &format!("; {} over 20 s: seeds {}\n", slow.len(), seeds_list(&slow));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::metamorphic::VariantResult;

    #[test]
    fn the_summary_counts_variants_by_agreement_and_old_files_still_read() {
        let v = |agreement: &str| VariantResult {
            variant: "delayed".into(),
            verdict: "exactly_once".into(),
            job_status: "FINISHED".into(),
            trace_hash: String::new(),
            agreement: agreement.into(),
        };
        let seed = SeedResult {
            seed: 3,
            judgement: Judgement::Pass,
            verdict: "exactly_once".into(),
            job_status: "FINISHED".into(),
            faults: 1,
            events: 10,
            trace_hash: String::new(),
            wall_ms: 0,
            coverage: Default::default(),
            metamorphic: vec![
                v("same"),
                v("not compared: the restart strategy gave up (FAILED) in the full failover run"),
                v("differs: exactly_once/FINISHED (region failover) vs at_most_once/FINISHED (full failover)"),
            ],
        };
        let r = Results {
            schema: SCHEMA.into(),
            scenario: "x.toml".into(),
            first_seed: 3,
            last_seed: 3,
            vary: false,
            operations: false,
            kinds: vec![],
            max_faults: 1,
            bugs: vec![],
            metamorphic: true,
            operators: Vec::new(),
            phases: Vec::new(),
            shard: None,
            rechecked: 0,
            results: vec![seed],
        };
        let s = summary(&r);
        assert!(s.contains("1 same, 1 differ, 1 not compared (1 the restart strategy gave up (FAILED))"), "{s}");
        // A results file written before --metamorphic existed reads as without it.
        let mut json = serde_json::to_value(&r).expect("plain data");
        json.as_object_mut().expect("an object").remove("metamorphic");
        json["results"][0].as_object_mut().expect("an object").remove("metamorphic");
        let old: Results = serde_json::from_value(json).expect("reads");
        assert!(!old.metamorphic && old.results[0].metamorphic.is_empty());
    }
}
