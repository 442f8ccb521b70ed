//! Shrinking a failing scenario: fewer faults, shorter duration, fewer records and keys, lower
//! parallelism, fewer TaskManagers, while the same class of failure remains. Greedy: each
//! candidate is one change to the current smallest document; a candidate the loader refuses
//! (a restart of a TaskManager no fault stopped, a fault after the end) is skipped; one that
//! still fails the same way becomes the new smallest, and the passes repeat until none helps.

use super::{Judgement, judge};
use crate::run::simulate;
use crate::scenario::parse_str;
use toml_edit::{DocumentMut, Item, Value};

/// The outcome of a shrink.
pub struct Shrunk {
    pub text: String,
    /// Candidates simulated.
    pub tries: u32,
    /// Candidates that kept the failure (steps taken).
    pub steps: u32,
    pub faults_before: usize,
    pub faults_after: usize,
    pub judgement: Judgement,
}

fn faults(doc: &DocumentMut) -> usize {
    doc.get("fault").and_then(Item::as_array_of_tables).map_or(0, |a| a.len())
}

fn operators(doc: &mut DocumentMut) -> Option<&mut toml_edit::Array> {
    doc.get_mut("job")?.get_mut("operators")?.as_array_mut()
}

fn int_field(doc: &mut DocumentMut, op: usize, key: &str) -> Option<i64> {
    operators(doc)?.get(op)?.as_inline_table()?.get(key)?.as_integer()
}

fn set_field(doc: &mut DocumentMut, op: usize, key: &str, v: Value) {
    if let Some(t) = operators(doc).and_then(|a| a.get_mut(op)).and_then(Value::as_inline_table_mut) {
        t.insert(key, v);
    }
}

fn duration_of(doc: &DocumentMut, key: &str) -> Option<u64> {
    doc.get(key).and_then(Item::as_str).and_then(crate::scenario::load::parse_duration_us)
}

fn rate_of(doc: &mut DocumentMut, op: usize) -> Option<u64> {
    let s = operators(doc)?.get(op)?.as_inline_table()?.get("rate")?.as_str()?.to_string();
    s.strip_suffix("/s")?.trim().replace('_', "").parse().ok()
}

/// `doc` without the faults at `remove` (0-based), and without the faults whose
/// `at-late-delivery` names a removed one; the other `at-late-delivery` numbers follow the
/// renumbering.
fn without_faults(doc: &DocumentMut, remove: &[usize]) -> DocumentMut {
    let mut d = doc.clone();
    let Some(a) = d.get_mut("fault").and_then(Item::as_array_of_tables_mut) else { return d };
    let late_of = |t: &toml_edit::Table| t.get("at-late-delivery").and_then(Item::as_integer).map(|k| k - 1);
    let mut removed: Vec<bool> = (0..a.len()).map(|i| remove.contains(&i)).collect();
    for (j, t) in a.iter().enumerate() {
        if let Some(k) = late_of(t)
            && usize::try_from(k).ok().and_then(|k| removed.get(k).copied()).unwrap_or(false)
        {
            removed[j] = true;
        }
    }
    let mut kept = toml_edit::ArrayOfTables::new();
    for (j, t) in a.iter().enumerate() {
        if removed[j] {
            continue;
        }
        let mut t = t.clone();
        if let Some(k) = late_of(&t) {
            let before = removed.iter().take(k.max(0) as usize).filter(|r| **r).count() as i64;
            t["at-late-delivery"] = toml_edit::value(k + 1 - before);
        }
        kept.push(t);
    }
    if kept.is_empty() {
        d.remove("fault");
    } else {
        *a = kept;
    }
    d
}

/// Every one-step simplification of `doc`, most promising first.
fn candidates(doc: &DocumentMut, class: &str) -> Vec<DocumentMut> {
    let mut out = Vec::new();
    let n = faults(doc);
    // Fewer faults: each alone, then each with the fault after it (a kill and its restart).
    for i in (0..n).rev() {
        out.push(without_faults(doc, &[i]));
    }
    for i in (0..n.saturating_sub(1)).rev() {
        out.push(without_faults(doc, &[i, i + 1]));
    }
    // Fewer Flink settings: each key back to Flink's default.
    if let Some(flink) = doc.get("flink").and_then(Item::as_table_like) {
        for (key, _) in flink.iter() {
            let mut d = doc.clone();
            if let Some(t) = d.get_mut("flink").and_then(Item::as_table_like_mut) {
                t.remove(key);
            }
            out.push(d);
        }
    }
    // Shorter: the sources stop earlier; a stall needs its drain, other failures may lose it.
    if let Some(us) = duration_of(doc, "duration") {
        for new in [us / 2, us * 3 / 4] {
            if new >= 500_000 && new < us {
                let mut d = doc.clone();
                d["duration"] = toml_edit::value(format!("{}ms", new / 1_000));
                out.push(d);
            }
        }
    }
    if class != "job did not finish" {
        let drain = duration_of(doc, "drain").unwrap_or(600_000_000);
        if drain > 20_000_000 {
            let mut d = doc.clone();
            d["drain"] = toml_edit::value(format!("{}ms", (drain / 2 / 1_000).max(20_000)));
            out.push(d);
        }
    }
    let n_ops = doc.get("job").and_then(|j| j.get("operators")).and_then(Item::as_array).map_or(0, |a| a.len());
    for op in 0..n_ops {
        let mut probe = doc.clone();
        if let Some(rate) = rate_of(&mut probe, op)
            && rate > 20
        {
            let mut d = doc.clone();
            set_field(&mut d, op, "rate", format!("{}/s", rate / 2).into());
            out.push(d);
        }
        for key in ["keys", "records"] {
            if let Some(k) = int_field(&mut probe, op, key)
                && k > 1
            {
                let mut d = doc.clone();
                set_field(&mut d, op, key, (k / 2).into());
                out.push(d);
            }
        }
        if let Some(p) = int_field(&mut probe, op, "parallelism")
            && p > 1
        {
            for new in [1, p - 1] {
                let mut d = doc.clone();
                set_field(&mut d, op, "parallelism", new.into());
                out.push(d);
            }
        }
        if let (Some(parts), Some(p)) =
            (int_field(&mut probe, op, "partitions"), int_field(&mut probe, op, "parallelism"))
            && parts > p
        {
            let mut d = doc.clone();
            set_field(&mut d, op, "partitions", p.into());
            out.push(d);
        }
    }
    // Every operator's parallelism down by one at once (keeps keyed rescaling relations).
    if n_ops > 1 {
        let mut d = doc.clone();
        let mut changed = false;
        for op in 0..n_ops {
            if let Some(p) = int_field(&mut d, op, "parallelism")
                && p > 1
            {
                set_field(&mut d, op, "parallelism", (p - 1).into());
                changed = true;
            }
        }
        if changed {
            out.push(d);
        }
    }
    if let Some(tms) = doc.get("cluster").and_then(|c| c.get("taskmanagers")).and_then(Item::as_integer)
        && tms > 1
    {
        let mut d = doc.clone();
        d["cluster"]["taskmanagers"] = toml_edit::value(tms - 1);
        out.push(d);
    }
    out
}

/// The judgement a candidate is kept by: a metamorphic class needs the variants run too.
fn judged(file: &str, text: &str, sc: &crate::scenario::Scenario, class: &str) -> Judgement {
    if class.starts_with(super::metamorphic::CLASS_PREFIX) {
        super::metamorphic::judge_text(file, text)
    } else {
        judge(&simulate(sc))
    }
}

/// Shrinks `text` (a scenario that fails with `class`) while it keeps failing that way;
/// `keep_going` is asked before each candidate (the caller's time budget).
pub fn shrink(file: &str, text: &str, class: &str, mut keep_going: impl FnMut() -> bool) -> Shrunk {
    let mut best: DocumentMut = text.parse().expect("a scenario text explore wrote and loaded");
    let faults_before = faults(&best);
    let mut judgement = Judgement::Fail { class: class.into(), detail: String::new() };
    let (mut tries, mut steps) = (0, 0);
    'outer: loop {
        for cand in candidates(&best, class) {
            if !keep_going() {
                break 'outer;
            }
            let cand_text = cand.to_string();
            let Ok(sc) = parse_str(file, &cand_text) else { continue };
            tries += 1;
            let j = judged(file, &cand_text, &sc, class);
            if j.class() == Some(class) {
                best = cand;
                judgement = j;
                steps += 1;
                continue 'outer;
            }
        }
        break;
    }
    if steps == 0 {
        // Nothing smaller fails: the judgement of the original.
        if let Ok(sc) = parse_str(file, text) {
            judgement = judged(file, text, &sc, class);
        }
    }
    Shrunk { faults_after: faults(&best), text: best.to_string(), tries, steps, faults_before, judgement }
}

#[cfg(test)]
mod tests {
    use super::without_faults;
    use toml_edit::DocumentMut;

    #[test]
    fn removing_a_fault_drops_the_faults_that_name_it_and_renumbers_the_rest() {
        let text = "[[fault]]\nat = \"1s\"\nkill-taskmanager = 0\n\n[[fault]]\nat = \"2s\"\ndelay-messages = \"any\"\n\n\
                    [[fault]]\nat-late-delivery = 2\nkill-taskmanager = 1\n\n[[fault]]\nat = \"3s\"\ndelay-messages = \"data\"\n\n\
                    [[fault]]\nat-late-delivery = 4\nnth = 2\nfail-task = \"map[0]\"\n";
        let doc: DocumentMut = text.parse().expect("toml");
        let d = without_faults(&doc, &[0]);
        let a = d["fault"].as_array_of_tables().expect("faults");
        assert_eq!(a.len(), 4);
        assert_eq!(a.get(1).and_then(|t| t["at-late-delivery"].as_integer()), Some(1));
        assert_eq!(a.get(3).and_then(|t| t["at-late-delivery"].as_integer()), Some(3));
        let d = without_faults(&doc, &[1]);
        let a = d["fault"].as_array_of_tables().expect("faults");
        assert_eq!(a.len(), 3, "the fault naming the removed one goes too");
        assert_eq!(a.get(2).and_then(|t| t["at-late-delivery"].as_integer()), Some(2));
        let d = without_faults(&doc, &[0, 1, 2, 3]);
        assert!(d.get("fault").is_none(), "the last one named a removed fault: {d}");
    }
}
