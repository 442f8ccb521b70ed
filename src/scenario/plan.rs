//! `--flink-plan`: a user's job graph from Flink's execution plan JSON, in place of a scenario's
//! `[job]` table.
//!
//! Two shapes are read, each as Flink writes it:
//! - `StreamExecutionEnvironment#getExecutionPlan()` (`JSONGenerator`, the stream graph, one node
//!   per operator before chaining): `{"nodes": [{"id", "type", "pact", "contents",
//!   "parallelism", "predecessors": [{"id", "ship_strategy", "side"}]}]}`, `pact` one of
//!   "Data Source", "Operator", "Data Sink";
//! - the REST API's `/jobs/<id>/plan` (`JsonPlanGenerator`, the job graph, one node per chained
//!   task), optionally wrapped in `{"plan": …}`: `{"jid", "name", "nodes": [{"id",
//!   "parallelism", "operator", "description", "inputs": [{"num", "id", "ship_strategy",
//!   "exchange"}]}]}`.
//!
//! Each node becomes the nearest simulated operator: a node without inputs a source, a sink
//! node a sink, a node fed by a HASH edge a keyed count, any other a map that passes records
//! unchanged; ship strategies map to edges (FORWARD, HASH, REBALANCE, RESCALE, BROADCAST; SHUFFLE,
//! GLOBAL and CUSTOM approximated). What the simulation cannot hold — a second input (union or
//! two-input operator), a Sink V2 committer node, user functions — is approximated and said so in
//! `PlanReport::approximated`. Rates, keys and sink semantics come from the scenario's own
//! `[job]` (its first source, keyed operator and sink), which the plan replaces.
//!
//! The replacement is made in the scenario's text, on as many lines as the `[job]` table had, so
//! that every other line keeps its number in errors.

use super::load::ScenarioError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Most nodes a plan may have (the loader's own operator limit applies after).
const MAX_NODES: usize = 1_000;

/// One node of a plan, whatever its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanNode {
    pub id: String,
    /// What Flink calls it (`type`, or the REST node's description's first operator).
    pub label: String,
    pub parallelism: u64,
    /// "Data Source", "Operator", "Data Sink" where the plan says.
    pub pact: Option<String>,
    /// (producer node id, ship strategy), in the plan's order.
    pub inputs: Vec<(String, String)>,
}

/// A parsed plan.
#[derive(Clone, Debug)]
pub struct FlinkPlan {
    pub file: String,
    pub nodes: Vec<PlanNode>,
}

/// What the import did, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanReport {
    pub file: String,
    pub nodes: usize,
    /// (operator name in the scenario, Flink's label), in the plan's order.
    pub operators: Vec<(String, String)>,
    pub approximated: Vec<String>,
}

fn error(file: &str, message: impl Into<String>, hint: Option<&str>) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        position: None,
        message: message.into(),
        hint: hint.map(String::from),
        source: None,
    }
}

/// Reads and parses a plan file.
pub fn read(path: &Path) -> Result<FlinkPlan, ScenarioError> {
    let text = super::read_text(path)?;
    parse(&path.display().to_string(), &text)
}

/// Parses a plan's JSON text (either shape).
pub fn parse(file: &str, text: &str) -> Result<FlinkPlan, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json: Value = serde_json::from_str(text).map_err(|e| {
        let mut err = error(file, format!("not valid JSON: {e}"), None);
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("").to_string();
        if e.line() > 0 && !line.is_empty() {
            let col = e.column().max(1);
            let from = line.char_indices().nth(col - 1).map_or(line.len().saturating_sub(1), |(i, _)| i);
            let to = line.ceil_char_boundary(from + 1);
            err.position = Some((e.line(), col));
            err.source = Some(Box::new((line, from..to)));
        }
        err
    })?;
    let root = json.get("plan").unwrap_or(&json);
    let hint = Some("a plan is what StreamExecutionEnvironment#getExecutionPlan() prints, or /jobs/<id>/plan returns");
    let Some(nodes) = root.get("nodes").and_then(Value::as_array) else {
        return Err(error(file, "no \"nodes\" list: not a Flink execution plan", hint));
    };
    if nodes.is_empty() {
        return Err(error(file, "the plan has no nodes", hint));
    }
    if nodes.len() > MAX_NODES {
        return Err(error(file, format!("{} nodes is too many (at most {MAX_NODES})", nodes.len()), None));
    }
    let mut out: Vec<PlanNode> = Vec::new();
    // A REST node is a chain of operators: its consumers read from the last one.
    let mut last_of: BTreeMap<String, String> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        let what = format!("node {}", i + 1);
        let id = match n.get("id") {
            Some(Value::Number(x)) => x.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => return Err(error(file, format!("{what} has no \"id\""), hint)),
        };
        let parallelism = n.get("parallelism").and_then(Value::as_u64).filter(|p| *p >= 1).ok_or_else(|| {
            error(file, format!("{what} (id {id}) has no \"parallelism\" (a whole number ≥ 1)"), hint)
        })?;
        let text_of = |k: &str| n.get(k).and_then(Value::as_str).map(str::to_string);
        let chain: Vec<String> = match text_of("type") {
            Some(t) if !t.trim().is_empty() => vec![t.trim().to_string()],
            _ => text_of("description").map(|d| chained_operators(&d)).filter(|c| !c.is_empty()).unwrap_or_else(|| {
                vec![text_of("operator").filter(|o| !o.trim().is_empty()).unwrap_or_else(|| format!("node {id}"))]
            }),
        };
        let mut inputs = Vec::new();
        for key in ["predecessors", "inputs"] {
            for p in n.get(key).and_then(Value::as_array).into_iter().flatten() {
                let pid = match p.get("id") {
                    Some(Value::Number(x)) => x.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => return Err(error(file, format!("{what} (id {id}): an input without \"id\""), hint)),
                };
                // "REBALANCE[evolved from FORWARD]" (a corrected strategy) is a rebalance.
                let ship = p.get("ship_strategy").and_then(Value::as_str).unwrap_or("FORWARD");
                let ship = ship.split('[').next().unwrap_or(ship).trim().to_ascii_uppercase();
                inputs.push((pid, ship));
            }
        }
        let k = chain.len();
        for (j, label) in chain.into_iter().enumerate() {
            let this = if k == 1 { id.clone() } else { format!("{id}#{j}") };
            let ins = if j == 0 {
                std::mem::take(&mut inputs)
            } else {
                vec![(format!("{id}#{}", j - 1), "FORWARD".to_string())]
            };
            let pact = if k == 1 { text_of("pact") } else { None };
            out.push(PlanNode { id: this, label, parallelism, pact, inputs: ins });
        }
        if k > 1 {
            last_of.insert(id.clone(), format!("{id}#{}", k - 1));
        }
        if out.len() > MAX_NODES {
            return Err(error(file, format!("more than {MAX_NODES} operators"), None));
        }
    }
    for n in &mut out {
        for (p, _) in &mut n.inputs {
            if let Some(last) = last_of.get(p.as_str()) {
                *p = last.clone();
            }
        }
    }
    for n in &out {
        for (p, _) in &n.inputs {
            if !out.iter().any(|m| &m.id == p) {
                return Err(error(
                    file,
                    format!("node {} reads from node {p}, which the plan does not have", n.id),
                    None,
                ));
            }
        }
    }
    Ok(FlinkPlan { file: file.to_string(), nodes: out })
}

/// The operators of a REST node's description, in chain order: "Source: Kafka -&gt; Map"
/// (cascading) or "[1]:Source: Kafka<br/>+- [2]:Map<br/>" (tree).
fn chained_operators(description: &str) -> Vec<String> {
    let d = description.replace("&gt;", ">").replace("<br/>", "\n");
    d.split('\n')
        .flat_map(|line| line.split(" -> ").map(str::to_string).collect::<Vec<_>>())
        .map(|op| {
            let op = op.trim().trim_start_matches("+-").trim_start_matches(":-").trim();
            // "[3]:Map" → "Map"
            match op.strip_prefix('[').and_then(|r| r.split_once("]:")) {
                Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.trim().to_string(),
                _ => op.to_string(),
            }
        })
        .filter(|op| !op.is_empty())
        .collect()
}

fn is_source(n: &PlanNode) -> bool {
    n.pact.as_deref() == Some("Data Source") || (n.pact.is_none() && n.inputs.is_empty())
}

fn is_sink(n: &PlanNode) -> bool {
    n.pact.as_deref() == Some("Data Sink") || n.label.starts_with("Sink:") || n.label.starts_with("Sink ")
}

/// A Sink V2's committer (or global committer, post-commit topology) node after its writer.
fn is_committer(n: &PlanNode) -> bool {
    let l = n.label.to_ascii_lowercase();
    l.contains("committer") || l.contains("post commit")
}

/// A name the scenario accepts: letters, digits, `-`; unique.
fn name_for(label: &str, taken: &[String]) -> String {
    let mut s: String = label
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    s.truncate(40);
    let s = s.trim_end_matches('-').to_string();
    let base = if s.is_empty() { "op".to_string() } else { s };
    let mut name = base.clone();
    let mut k = 2;
    while taken.contains(&name) {
        name = format!("{base}-{k}");
        k += 1;
    }
    name
}

/// The scenario's own settings the plan's nodes take: source rate and keys, keyed state size,
/// sink semantic (from its first source, keyed operator and sink).
#[derive(Default)]
struct Defaults {
    source: BTreeMap<String, toml::Value>,
    keyed: BTreeMap<String, toml::Value>,
    sink: BTreeMap<String, toml::Value>,
}

fn defaults(scenario: &toml::Table) -> Defaults {
    let mut d = Defaults::default();
    let ops = scenario.get("job").and_then(|j| j.get("operators")).and_then(toml::Value::as_array);
    let pick = |kind: &[&str], keys: &[&str]| -> BTreeMap<String, toml::Value> {
        let op = ops
            .into_iter()
            .flatten()
            .find(|o| o.get("kind").and_then(toml::Value::as_str).is_some_and(|k| kind.contains(&k)));
        keys.iter().filter_map(|k| op.and_then(|o| o.get(*k)).map(|v| (k.to_string(), v.clone()))).collect()
    };
    d.source = pick(&["source"], &["rate", "keys", "records", "catch-up-rate", "partitions"]);
    d.keyed = pick(&["keyed-count", "keyed-sum"], &["state-per-key"]);
    d.sink = pick(&["sink"], &["semantic"]);
    d
}

/// The nodes, each after the nodes it reads from (the REST API lists them in any order); ties
/// and cycles keep the plan's order.
fn topological(nodes: &[PlanNode]) -> Vec<&PlanNode> {
    let mut placed: Vec<&PlanNode> = Vec::with_capacity(nodes.len());
    let mut left: Vec<&PlanNode> = nodes.iter().collect();
    while !left.is_empty() {
        let ready =
            left.iter().position(|n| n.inputs.iter().all(|(p, _)| placed.iter().any(|m| &m.id == p))).unwrap_or(0);
        placed.push(left.remove(ready));
    }
    placed
}

/// The operators the plan becomes, as one TOML line (`operators = [...]`), and the report.
fn operators(plan: &FlinkPlan, d: &Defaults) -> (String, PlanReport) {
    let mut report = PlanReport { file: plan.file.clone(), nodes: plan.nodes.len(), ..PlanReport::default() };
    let note = |r: &mut PlanReport, s: String| {
        if !r.approximated.contains(&s) {
            r.approximated.push(s);
        }
    };
    // Committer nodes fold into the sink (writer) they follow: the simulated sink is both.
    let mut folded: BTreeMap<&str, &str> = BTreeMap::new();
    for n in &plan.nodes {
        if is_committer(n)
            && let Some((from, _)) = n.inputs.first()
        {
            folded.insert(n.id.as_str(), from.as_str());
            note(
                &mut report,
                format!(
                    "\"{}\" is folded into the sink before it: the simulated two-phase-commit sink writes and commits",
                    n.label
                ),
            );
        }
    }
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    let mut taken: Vec<String> = Vec::new();
    let mut keyed_behind_broadcast: Vec<&str> = Vec::new();
    let mut items: Vec<String> = Vec::new();
    for n in topological(&plan.nodes).into_iter().filter(|n| !folded.contains_key(n.id.as_str())) {
        let name = name_for(&n.label, &taken);
        taken.push(name.clone());
        names.insert(n.id.as_str(), name.clone());
        report.operators.push((name.clone(), n.label.clone()));
        let mut fields: Vec<(String, toml::Value)> = vec![("name".into(), toml::Value::String(name.clone()))];
        let input = n.inputs.first();
        if n.inputs.len() > 1 {
            let dropped: Vec<String> = n.inputs[1..].iter().map(|(p, s)| format!("node {p} ({s})")).collect();
            note(
                &mut report,
                format!(
                    "\"{}\" has {} inputs (a union or a two-input operator): only its first input is modelled; dropped: {}",
                    n.label,
                    n.inputs.len(),
                    dropped.join(", ")
                ),
            );
        }
        let ship = input.map(|(_, s)| s.to_ascii_uppercase());
        let kind = if input.is_none() || is_source(n) {
            if input.is_some() {
                note(&mut report, format!("\"{}\" is a source with inputs; its inputs are dropped", n.label));
            }
            "source"
        } else if is_sink(n) {
            "sink"
        } else if ship.as_deref() == Some("HASH") {
            let producer_edge =
                input.and_then(|(p, _)| plan.nodes.iter().find(|m| &m.id == p)).and_then(|m| m.inputs.first());
            if producer_edge.is_some_and(|(_, s)| s.eq_ignore_ascii_case("BROADCAST")) {
                keyed_behind_broadcast.push(n.label.as_str());
                "map"
            } else {
                "keyed-count"
            }
        } else {
            "map"
        };
        fields.push(("kind".into(), toml::Value::String(kind.into())));
        fields.push(("parallelism".into(), toml::Value::Integer(n.parallelism as i64)));
        match kind {
            "source" => {
                for (k, v) in &d.source {
                    if k == "partitions" {
                        continue;
                    }
                    fields.push((k.clone(), v.clone()));
                }
                if !d.source.contains_key("rate") && !d.source.contains_key("records") {
                    fields.push(("rate".into(), toml::Value::String("1000/s".into())));
                }
                let partitions =
                    d.source.get("partitions").and_then(toml::Value::as_integer).unwrap_or(0).max(n.parallelism as i64);
                fields.push(("partitions".into(), toml::Value::Integer(partitions)));
                note(
                    &mut report,
                    format!(
                        "\"{}\" reads a replayable partitioned log ({partitions} partitions; rate and keys from the scenario's first source)",
                        n.label
                    ),
                );
            }
            "keyed-count" => {
                for (k, v) in &d.keyed {
                    fields.push((k.clone(), v.clone()));
                }
                note(
                    &mut report,
                    format!("\"{}\" (keyed) is a keyed count: state per key, one result per record", n.label),
                );
            }
            "sink" => {
                for (k, v) in &d.sink {
                    fields.push((k.clone(), v.clone()));
                }
                let semantic = d.sink.get("semantic").and_then(toml::Value::as_str).unwrap_or("two-phase-commit");
                note(
                    &mut report,
                    format!("\"{}\" is a {semantic} sink (the scenario's first sink's semantic)", n.label),
                );
            }
            _ => note(&mut report, format!("\"{}\" is a map that passes records unchanged", n.label)),
        }
        if let Some((from, s)) = input {
            let from = folded.get(from.as_str()).copied().unwrap_or(from.as_str());
            fields.push(("input".into(), toml::Value::String(names.get(from).cloned().unwrap_or_default())));
            let edge = match s.to_ascii_uppercase().as_str() {
                "FORWARD" => "forward",
                "HASH" => "hash",
                "REBALANCE" => "rebalance",
                "RESCALE" => "rescale",
                "BROADCAST" => "broadcast",
                other => {
                    let why = match other {
                        "SHUFFLE" => "random partitioning",
                        "GLOBAL" => "everything to subtask 0",
                        "CUSTOM" => "a user's partitioner",
                        _ => "a ship strategy the simulation does not have",
                    };
                    note(&mut report, format!("{other} ({why}) into \"{}\" is a rebalance edge", n.label));
                    "rebalance"
                }
            };
            fields.push(("edge".into(), toml::Value::String(edge.into())));
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        items.push(format!("{{ {} }}", body.join(", ")));
    }
    if !keyed_behind_broadcast.is_empty() {
        note(
            &mut report,
            format!(
                "keyed state behind a broadcast edge is not modelled: {} pass records unchanged",
                keyed_behind_broadcast.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    (format!("operators = [{}]", items.join(", ")), report)
}

/// A scenario text with its `[job]` table replaced by the plan's operators.
#[derive(Clone, Debug)]
pub struct Merged {
    pub text: String,
    pub report: PlanReport,
}

/// Replaces the `[job]` table of `text` with `plan`'s operators, on the same number of lines. A
/// text that is not valid TOML, or has no `[job]` header line, is returned as it is with the job
/// appended (the loader reports its own errors).
pub fn merge(text: &str, plan: &FlinkPlan) -> Merged {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let table: toml::Table = text.parse().unwrap_or_default();
    let (ops, mut report) = operators(plan, &defaults(&table));
    let lines: Vec<&str> = text.split('\n').collect();
    let header = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with("[job]") && (t[5..].trim().is_empty() || t[5..].trim_start().starts_with('#'))
    });
    let Some(start) = header else {
        let mut t = text.to_string();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        return Merged { text: t + "\n[job]\n" + &ops + "\n", report };
    };
    // The table runs to the next table header (`[x]` or `[[x]]` at the start of a line).
    let end = (start + 1..lines.len()).find(|&i| lines[i].trim_start().starts_with('[')).unwrap_or(lines.len());
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.push("[job]".into());
    out.push(ops);
    // Blank lines for the rest, so that later lines keep their numbers.
    for _ in start + 2..end {
        out.push(String::new());
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    // The scenario's `[expect]` is about its own job (its operators, counts): left out, blank
    // lines in its place; the run is then held to exactly-once and FINISHED.
    if let Some(e) = out.iter().position(|l| l.trim_start().starts_with("[expect]")) {
        let end = (e + 1..out.len()).find(|&i| out[i].trim_start().starts_with('[')).unwrap_or(out.len());
        for l in &mut out[e..end] {
            l.clear();
        }
        report.approximated.push(
            "the scenario's [expect] table is about its own job: left out (the run is held to exactly_once and FINISHED)".into(),
        );
    }
    Merged { text: out.join("\n"), report }
}
