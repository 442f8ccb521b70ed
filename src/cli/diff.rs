//! `diff A B`: where two runs part. Each side is a scenario file simulated now (`FILE`, or
//! `FILE@SEED`; `--seeds S1,S2` for two seeds of one file) or a trace file written by
//! `run --trace`. The two readable traces (the trace lines of `docs/trace-format.md`, not the
//! engine's events) are walked in step; only the last `--context` equal lines are kept,
//! so two trace files of any size take bounded memory (a simulated side holds its own notes).

use crate::report::trace::{TRACE_SCHEMA, entry as trace_entry, header as trace_header};
use crate::run::simulate;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `diff A B [--context N]` (clap).
#[derive(clap::Args)]
pub struct DiffArgs {
    /// A scenario file (`FILE` or `FILE@SEED`) or a trace file written by `run --trace`.
    pub a: String,
    /// The other side, as A; left out with --seeds.
    #[arg(required_unless_present = "seeds")]
    pub b: Option<String>,
    /// Two seeds of the scenario file A: `--seeds 7,8` compares A@7 with A@8.
    #[arg(long, value_name = "S1,S2", value_delimiter = ',', num_args = 1, conflicts_with = "b")]
    pub seeds: Vec<u64>,
    /// Equal trace lines shown before the first difference, and lines shown after it from each
    /// side.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10_000))]
    pub context: usize,
    /// Plant a protocol bug in each side that is a scenario (as in `run`); repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
}

/// One trace line: its number and the rest of its fields.
struct Event {
    n: u64,
    fields: Map<String, Value>,
}

/// A side of the comparison: what it is, what it says about its run, and its events in order.
struct Side {
    what: String,
    verdict: Option<String>,
    job_status: Option<String>,
    trace_hash: Option<String>,
    events: Box<dyn Iterator<Item = Result<Event, String>>>,
}

fn event_of(v: Value, index: u64) -> Result<Event, String> {
    let Value::Object(mut fields) = v else { return Err("a trace line is a JSON object".into()) };
    let n = fields.remove("n").and_then(|n| n.as_u64()).unwrap_or(index);
    Ok(Event { n, fields })
}

fn header_str(h: &Value, key: &str) -> Option<String> {
    match h.get(key)? {
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

/// A scenario simulated now; its notes move into the iterator and the rest of the run is dropped.
fn scenario_side(file: &Path, seed: Option<u64>, bugs: &[String]) -> Option<Side> {
    let mut sc = super::load_with_bugs(file, bugs)?;
    if let Some(s) = seed {
        sc.seed = s;
    }
    let mut run = simulate(&sc);
    let h = trace_header(&run);
    let notes = std::mem::take(&mut run.outcome.notes);
    let graph = run.graph.clone();
    drop(run);
    let events = notes.into_iter().enumerate().map(move |(i, e)| event_of(trace_entry(&graph, &e, i as u64 + 1), 0));
    Some(Side {
        what: format!("{} (seed {}, simulated now)", file.display(), sc.seed),
        verdict: header_str(&h, "verdict"),
        job_status: header_str(&h, "job_status"),
        trace_hash: header_str(&h, "trace_hash"),
        events: Box::new(events),
    })
}

/// A trace file, read a line at a time.
fn trace_side(path: &Path) -> Result<Side, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::new(f).lines();
    let shown = path.display().to_string();
    let first = match lines.next() {
        Some(Ok(l)) => l,
        Some(Err(e)) => return Err(format!("cannot read {shown}: {e}")),
        None => return Err(format!("{shown}: empty file")),
    };
    let h: Value =
        serde_json::from_str(&first).map_err(|e| format!("{shown}:1: not a trace header (JSON Lines): {e}"))?;
    let schema = h.get("schema").and_then(Value::as_str).unwrap_or("");
    if schema != TRACE_SCHEMA {
        return Err(format!(
            "{shown}:1: schema {schema:?}, expected {:?} (a trace written by `run --trace`)",
            TRACE_SCHEMA
        ));
    }
    let what = format!(
        "{shown} (trace of \"{}\", seed {})",
        header_str(&h, "scenario").unwrap_or_default(),
        header_str(&h, "seed").unwrap_or_else(|| "?".into())
    );
    let events =
        lines.enumerate().filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty())).map(move |(i, l)| {
            let line = i as u64 + 2;
            let l = l.map_err(|e| format!("cannot read {shown}: {e}"))?;
            let v: Value = serde_json::from_str(&l).map_err(|e| format!("{shown}:{line}: not JSON: {e}"))?;
            event_of(v, line - 1).map_err(|e| format!("{shown}:{line}: {e}"))
        });
    Ok(Side {
        what,
        verdict: header_str(&h, "verdict"),
        job_status: header_str(&h, "job_status"),
        trace_hash: header_str(&h, "trace_hash"),
        events: Box::new(events),
    })
}

/// Whether a file is a trace (its first non-blank character opens a JSON object).
fn is_trace(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    let mut first = String::new();
    let mut r = std::io::BufReader::new(f);
    while r.read_line(&mut first).is_ok_and(|n| n > 0) {
        if !first.trim().is_empty() {
            break;
        }
        first.clear();
    }
    first.trim_start().starts_with('{')
}

/// `FILE` or `FILE@SEED` (the suffix only when FILE itself is not a file of that name).
fn split_seed(spec: &str) -> Result<(PathBuf, Option<u64>), String> {
    if Path::new(spec).exists() {
        return Ok((PathBuf::from(spec), None));
    }
    if let Some((file, seed)) = spec.rsplit_once('@') {
        let seed = seed.parse::<u64>().map_err(|_| format!("{spec}: `{seed}` after @ is not a seed"))?;
        return Ok((PathBuf::from(file), Some(seed)));
    }
    Ok((PathBuf::from(spec), None))
}

fn side(spec: &str, seed: Option<u64>, bugs: &[String]) -> Result<Side, Option<String>> {
    let (path, at) = split_seed(spec).map_err(Some)?;
    if !path.exists() {
        return Err(Some(format!("{}: no such file", path.display())));
    }
    // Before anything opens it: a FIFO or a device would block the read.
    super::files::regular_input(&path).map_err(|e| Some(e.to_string()))?;
    if is_trace(&path) {
        if at.is_some() || seed.is_some() {
            return Err(Some(format!("{}: a trace file has its seed already (FILE@SEED is for scenarios)", spec)));
        }
        return trace_side(&path).map_err(Some);
    }
    // The loader reports a bad scenario itself (positioned, with a hint).
    scenario_side(&path, seed.or(at), bugs).ok_or(None)
}

/// A JSON value as a short readable token: strings bare (quoted when they hold spaces),
/// `tag(fields)` for an enum with fields, `[a, b]` for lists.
fn token(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() || s.contains(char::is_whitespace) => Value::String(s.clone()).to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(token).collect::<Vec<_>>().join(", ")),
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("one entry: checked by len");
            match inner {
                Value::Object(f) => format!("{k}({})", fields(f)),
                x => format!("{k}({})", token(x)),
            }
        }
        Value::Object(m) => format!("{{{}}}", fields(m)),
        x => x.to_string(),
    }
}

fn fields(m: &Map<String, Value>) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", token(v))).collect::<Vec<_>>().join(" ")
}

/// `#n  time  kind  st=… field=…` (the subtask first, the rest by name).
fn line(e: &Event) -> String {
    // Microseconds: two runs can part by less than a millisecond.
    let at = e
        .fields
        .get("at_us")
        .and_then(Value::as_u64)
        .map_or("?".into(), |us| format!("{}.{:06}s", us / 1_000_000, us % 1_000_000));
    let kind = e.fields.get("kind").map_or("?".into(), token);
    let mut rest: Vec<String> = Vec::new();
    if let Some(st) = e.fields.get("st") {
        rest.push(format!("st={}", token(st)));
    }
    for (k, v) in &e.fields {
        if !matches!(k.as_str(), "at_us" | "kind" | "st") {
            rest.push(format!("{k}={}", token(v)));
        }
    }
    format!("#{:<6} {at:>12}  {kind} {}", e.n, rest.join(" ")).trim_end().to_string()
}

/// The fields two events differ in (`at_us` as "time").
fn differing(a: &Event, b: &Event) -> Vec<String> {
    let mut keys: Vec<&String> = a.fields.keys().chain(b.fields.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.fields.get(*k) != b.fields.get(*k))
        .map(|k| if k == "at_us" { "time".to_string() } else { k.clone() })
        .collect()
}

/// What walking two traces found.
pub struct Walk {
    /// The report up to the summary.
    pub text: String,
    pub identical: bool,
    pub events_a: u64,
    pub events_b: u64,
    /// The last job status each trace records (`job-status` events).
    pub status_a: Option<String>,
    pub status_b: Option<String>,
}

fn next(
    it: &mut dyn Iterator<Item = Result<Event, String>>,
    count: &mut u64,
    status: &mut Option<String>,
) -> Result<Option<Event>, String> {
    let e = it.next().transpose()?;
    if let Some(e) = &e {
        *count += 1;
        if e.fields.get("kind").and_then(Value::as_str) == Some("job-status") {
            *status = e.fields.get("to").and_then(Value::as_str).map(String::from);
        }
    }
    Ok(e)
}

/// One side's first differing event (or its end) and up to `context` events after it.
fn after(
    text: &mut String,
    name: &str,
    first: Option<Event>,
    it: &mut dyn Iterator<Item = Result<Event, String>>,
    count: &mut u64,
    status: &mut Option<String>,
    context: usize,
) -> Result<(), String> {
    match first {
        None => {
            let _ = writeln!(text, "{name} ! (end of the trace after {count} lines)");
        }
        Some(e) => {
            let _ = writeln!(text, "{name} ! {}", line(&e));
            for _ in 0..context {
                let Some(e) = next(it, count, status)? else { break };
                let _ = writeln!(text, "{name}   {}", line(&e));
            }
        }
    }
    Ok(())
}

/// Walks two traces in step to the first event that differs (ignoring `n`), shows `context`
/// equal events before it and up to `context` more of each side after it, then reads both to
/// their ends to count them.
fn walk(
    a: &mut dyn Iterator<Item = Result<Event, String>>,
    b: &mut dyn Iterator<Item = Result<Event, String>>,
    context: usize,
) -> Result<Walk, String> {
    let mut w = Walk { text: String::new(), identical: true, events_a: 0, events_b: 0, status_a: None, status_b: None };
    let mut before: VecDeque<Event> = VecDeque::with_capacity(context + 1);
    let mut equal = 0u64;
    loop {
        let x = next(a, &mut w.events_a, &mut w.status_a)?;
        let y = next(b, &mut w.events_b, &mut w.status_b)?;
        match (x, y) {
            (None, None) => break,
            (Some(x), Some(y)) if x.fields == y.fields => {
                equal += 1;
                before.push_back(y);
                if before.len() > context {
                    before.pop_front();
                }
            }
            (x, y) => {
                w.identical = false;
                let at = x.as_ref().or(y.as_ref()).map_or(equal + 1, |e| e.n);
                let what = match (&x, &y) {
                    (Some(x), Some(y)) => format!("differs in: {}", differing(x, y).join(", ")),
                    (None, _) => "A ends here".into(),
                    (_, None) => "B ends here".into(),
                };
                let _ = writeln!(
                    w.text,
                    "first divergence: trace line #{at}, after {equal} equal line{} ({what})",
                    if equal == 1 { "" } else { "s" }
                );
                let _ = writeln!(w.text, "  (= both, ! the first line that differs, then what each side did next)");
                for e in &before {
                    let _ = writeln!(w.text, "  = {}", line(e));
                }
                after(&mut w.text, "A", x, a, &mut w.events_a, &mut w.status_a, context)?;
                after(&mut w.text, "B", y, b, &mut w.events_b, &mut w.status_b, context)?;
                while next(a, &mut w.events_a, &mut w.status_a)?.is_some() {}
                while next(b, &mut w.events_b, &mut w.status_b)?.is_some() {}
                break;
            }
        }
    }
    Ok(w)
}

pub fn cmd_diff(out: &mut super::Out, args: DiffArgs) -> super::Done {
    let (sa, sb) = match (&args.b, args.seeds.as_slice()) {
        (Some(b), []) => (side(&args.a, None, &args.bugs), side(b, None, &args.bugs)),
        (None, [s1, s2]) => (side(&args.a, Some(*s1), &args.bugs), side(&args.a, Some(*s2), &args.bugs)),
        _ => {
            errln!("error: diff needs A and B, or one scenario file and --seeds S1,S2 (two seeds)");
            return Ok(ExitCode::from(2));
        }
    };
    let (mut a, mut b) = match (sa, sb) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            if let Some(e) = e {
                errln!("error: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    writeln!(out, "A: {}", a.what)?;
    writeln!(out, "B: {}", b.what)?;
    writeln!(out)?;
    let w = match walk(&mut a.events, &mut b.events, args.context) {
        Ok(w) => w,
        Err(e) => {
            errln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    write!(out, "{}", w.text)?;
    // A trace file from an older recoverysim has no job status in its header: its last
    // `job-status` event says it.
    let status_a = a.job_status.clone().or(w.status_a.clone());
    let status_b = b.job_status.clone().or(w.status_b.clone());
    let unknown = "(not in the trace file)".to_string();
    let rows = [
        ("verdict", a.verdict.clone().unwrap_or(unknown.clone()), b.verdict.clone().unwrap_or(unknown.clone())),
        ("job status", status_a.clone().unwrap_or(unknown.clone()), status_b.clone().unwrap_or(unknown.clone())),
        ("trace hash", a.trace_hash.clone().unwrap_or(unknown.clone()), b.trace_hash.clone().unwrap_or(unknown)),
        ("trace lines", w.events_a.to_string(), w.events_b.to_string()),
    ];
    if !w.text.is_empty() {
        writeln!(out)?;
    }
    writeln!(out, "  {:<14}{:<26}B", "", "A")?;
    for (k, x, y) in &rows {
        writeln!(out, "  {k:<14}{x:<26}{y}{}", if x == y { "" } else { "   ≠" })?;
    }
    let outcome_differs = matches!((&a.verdict, &b.verdict), (Some(x), Some(y)) if x != y)
        || matches!((&status_a, &status_b), (Some(x), Some(y)) if x != y);
    if w.identical {
        let hashes = match (&a.trace_hash, &b.trace_hash) {
            (Some(x), Some(y)) if x != y => {
                "; the trace hashes differ: the runs differ in engine events the \
                                             readable trace leaves out (messages, timers)"
            }
            _ => "",
        };
        writeln!(out, "\nidentical: the readable traces are equal ({} lines){hashes}", w.events_a)?;
        if outcome_differs {
            writeln!(out, "but the verdicts or job statuses differ")?;
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64, at_us: u64, kind: &str, extra: &[(&str, Value)]) -> Result<Event, String> {
        let mut fields = Map::new();
        fields.insert("at_us".into(), at_us.into());
        fields.insert("kind".into(), kind.into());
        for (k, v) in extra {
            fields.insert((*k).into(), v.clone());
        }
        Ok(Event { n, fields })
    }

    #[test]
    fn the_walk_stops_at_the_first_difference_with_context_from_both() {
        let common = |n| ev(n, n * 1_000, "checkpoint-triggered", &[("cp", n.into())]);
        let mut a: Vec<_> = (1..=4).map(common).collect();
        let mut b: Vec<_> = (1..=4).map(common).collect();
        a.push(ev(5, 9_000, "task-state", &[("st", "count[0]".into()), ("to", "FAILED".into())]));
        b.push(ev(5, 9_500, "task-state", &[("st", "count[0]".into()), ("to", "FAILED".into())]));
        a.push(common(6));
        b.extend([common(6), common(7)]);
        let w = walk(&mut a.into_iter(), &mut b.into_iter(), 2).expect("walks");
        assert!(!w.identical);
        assert_eq!((w.events_a, w.events_b), (6, 7));
        let want = "\
first divergence: trace line #5, after 4 equal lines (differs in: time)
  (= both, ! the first line that differs, then what each side did next)
  = #3         0.003000s  checkpoint-triggered cp=3
  = #4         0.004000s  checkpoint-triggered cp=4
A ! #5         0.009000s  task-state st=count[0] to=FAILED
A   #6         0.006000s  checkpoint-triggered cp=6
B ! #5         0.009500s  task-state st=count[0] to=FAILED
B   #6         0.006000s  checkpoint-triggered cp=6
B   #7         0.007000s  checkpoint-triggered cp=7
";
        assert_eq!(w.text, want);
    }

    #[test]
    fn equal_traces_are_identical_and_a_shorter_one_ends_first() {
        let t = || (1..=3).map(|n| ev(n, n, "job-status", &[("to", "RUNNING".into())]));
        let w = walk(&mut t(), &mut t(), 5).expect("walks");
        assert!(w.identical && w.text.is_empty());
        assert_eq!(w.status_a.as_deref(), Some("RUNNING"));
        let w = walk(&mut t().take(2), &mut t(), 1).expect("walks");
        assert!(w.text.starts_with("first divergence: trace line #3, after 2 equal lines (A ends here)"));
        assert!(w.text.contains("A ! (end of the trace after 2 lines)"), "{}", w.text);
        let bad = || vec![Err::<Event, String>("t.jsonl:4: not JSON".into())].into_iter();
        assert_eq!(walk(&mut bad(), &mut t(), 1).err().as_deref(), Some("t.jsonl:4: not JSON"));
    }

    #[test]
    fn values_read_as_tokens() {
        let cause: Value = serde_json::json!({"connection-lost": {"remote_tm": 1}});
        assert_eq!(token(&cause), "connection-lost(remote_tm=1)");
        assert_eq!(token(&serde_json::json!([[0, 12], [1, 30]])), "[[0, 12], [1, 30]]");
        assert_eq!(token(&serde_json::json!("kill-taskmanager 1")), "\"kill-taskmanager 1\"");
        assert_eq!(token(&Value::Null), "-");
    }
}
