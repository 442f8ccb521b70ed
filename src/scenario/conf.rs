//! `--flink-conf`: a Flink 2.x `config.yaml`, read as Flink reads it, merged into a scenario's
//! `[flink]` table with the scenario's own keys winning.
//!
//! Flink 2.x reads `config.yaml` as standard YAML and flattens nested mappings into dotted keys
//! (`GlobalConfiguration.loadYAMLResource`, `YamlParserUtils`): `execution: {checkpointing:
//! {interval: 10s}}` is `execution.checkpointing.interval`, and both forms may be mixed. Values
//! keep their text; Flink's own parsers read durations ("10 s", "1 min", a bare number of
//! milliseconds) and sizes later, as the `[flink]` table does here.
//!
//! The merge works on text: each key the conf sets and the scenario does not (under its current
//! or a deprecated name) becomes a line `"key" = value` at the top of the scenario's `[flink]`
//! table, and the loader validates the whole as one scenario. So every command that takes a
//! scenario text (`explore`, `sweep`) takes the merged one, and a file `explore` writes holds the
//! conf's keys itself. An error on an inserted line is shown at the key or value in the YAML file
//! that set it (`Merged::remap`); lines after the insertion keep their own line numbers.
//!
//! Keys: one the simulator reads, or one of Flink's it lists as not modelled, is merged (so the
//! report lists the latter as `NOT MODELLED`); a near miss of a key it reads is merged too, and
//! refused as a typo at its place in the YAML file; a key that is not Flink's (a plugin's, a
//! user's) is not merged and is listed as ignored. Flink itself ignores unknown keys silently.

use super::load::{KeyClass, ScenarioError, canonical_key, classify_key, read_text};
use std::ops::Range;
use std::path::Path;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most keys a conf file may set (Flink has about 1,500 options).
pub const MAX_CONF_KEYS: usize = 10_000;

/// A YAML value, typed as YAML 1.2's core schema types a plain scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl ConfValue {
    /// The value as TOML writes it.
    fn to_toml(&self) -> String {
        match self {
            ConfValue::Text(s) => toml::Value::String(s.clone()).to_string(),
            ConfValue::Integer(n) => n.to_string(),
            ConfValue::Float(f) => toml::Value::Float(*f).to_string(),
            ConfValue::Bool(b) => b.to_string(),
            ConfValue::List(items) => {
                toml::Value::Array(items.iter().map(|s| toml::Value::String(s.clone())).collect()).to_string()
            }
        }
    }
}

/// One key of the conf file, flattened, with where its key and value are in the file.
#[derive(Clone, Debug)]
pub struct ConfEntry {
    pub key: String,
    /// `None` for a key without a value (`key:` or `key: ~`): Flink leaves such a key unset.
    pub value: Option<ConfValue>,
    key_span: Range<usize>,
    value_span: Range<usize>,
}

/// A parsed `config.yaml`.
#[derive(Clone, Debug)]
pub struct FlinkConf {
    pub file: String,
    text: String,
    pub entries: Vec<ConfEntry>,
}

/// What the merge did with each key of the conf file, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfReport {
    pub file: String,
    /// Keys merged into `[flink]` (read by the simulator, or listed as not modelled).
    pub merged: Vec<String>,
    /// Keys the scenario's `[flink]` sets itself (under this or another name of the key).
    pub overridden: Vec<String>,
    /// Keys not merged, with why (not a Flink key, no value).
    pub ignored: Vec<(String, &'static str)>,
}

/// A scenario text with a conf merged in.
#[derive(Clone, Debug)]
pub struct Merged {
    pub text: String,
    pub report: ConfReport,
    /// The first inserted line (1-based) and, per inserted line, the conf entry it holds and the
    /// byte where its value starts in that line.
    first_line: usize,
    lines: Vec<(usize, usize)>,
}

/// Reads and parses a `config.yaml`.
pub fn read(path: &Path) -> Result<FlinkConf, ScenarioError> {
    let text = read_text(path)?;
    parse(&path.display().to_string(), &text)
}

/// Parses a `config.yaml`'s text.
pub fn parse(file: &str, text: &str) -> Result<FlinkConf, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut flat = Flattener::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut flat, true) {
        let at = e.marker().index();
        return Err(error_at(file, text, at..at + 1, format!("not valid YAML: {}", e.info()), None));
    }
    if let Some((at, message)) = flat.error {
        return Err(error_at(file, text, at.clone(), message, None));
    }
    if flat.documents > 1 {
        return Err(error_at(
            file,
            text,
            0..1,
            "a Flink configuration is one YAML document; this file has several",
            None,
        ));
    }
    // A key set twice (in the flat and the nested form, say) is refused: which one wins would
    // depend on the order of the file.
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for e in &flat.entries {
        if let Some(first) = seen.insert(e.key.as_str(), e.key_span.start) {
            let (line, _) = line_col(text, first);
            return Err(error_at(
                file,
                text,
                e.key_span.clone(),
                format!("\"{}\" is set twice (first on line {line})", e.key),
                Some("keep one of them".into()),
            ));
        }
    }
    Ok(FlinkConf { file: file.to_string(), text: text.to_string(), entries: flat.entries })
}

/// Flattens the event stream of one YAML document into dotted keys.
#[derive(Default)]
struct Flattener {
    /// The open mappings and sequences, outermost first.
    stack: Vec<Frame>,
    entries: Vec<ConfEntry>,
    documents: usize,
    error: Option<(Range<usize>, String)>,
}

enum Frame {
    /// A mapping under `prefix`; `key` is the key waiting for its value.
    Map { prefix: String, key: Option<(String, Range<usize>)> },
    /// A list, the value of `key`.
    List { key: (String, Range<usize>), start: usize, items: Vec<String> },
}

impl Flattener {
    fn fail(&mut self, at: Range<usize>, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some((at, message.into()));
        }
    }

    /// A scalar at `at` (its source span) arrived.
    fn scalar(&mut self, value: String, style: TScalarStyle, at: Range<usize>) {
        match self.stack.last_mut() {
            None => {
                // A document that is only a scalar: empty files are fine, text is not.
                if !value.is_empty() {
                    self.fail(at, "a Flink configuration is a mapping of keys to values");
                }
            }
            Some(Frame::List { items, .. }) => items.push(value),
            Some(Frame::Map { prefix, key }) => match key.take() {
                None => {
                    let full = if prefix.is_empty() { value } else { format!("{prefix}.{value}") };
                    *key = Some((full, at));
                }
                Some((k, key_span)) => {
                    let value = typed(value, style);
                    if self.entries.len() >= MAX_CONF_KEYS {
                        self.fail(at, format!("more than {MAX_CONF_KEYS} keys"));
                        return;
                    }
                    self.entries.push(ConfEntry { key: k, value, key_span, value_span: at });
                }
            },
        }
    }
}

impl MarkedEventReceiver for Flattener {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let at = mark.index();
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, _, _) => {
                let len = match style {
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.len() + 2,
                    _ => value.len().max(1),
                };
                self.scalar(value, style, at..at + len);
            }
            Event::MappingStart(..) => match self.stack.last_mut() {
                None => self.stack.push(Frame::Map { prefix: String::new(), key: None }),
                Some(Frame::Map { key, .. }) => match key.take() {
                    Some((k, _)) => self.stack.push(Frame::Map { prefix: k, key: None }),
                    None => self.fail(at..at + 1, "a mapping as a key is not a Flink key"),
                },
                Some(Frame::List { .. }) => self.fail(at..at + 1, "a list of mappings is not a Flink value"),
            },
            Event::MappingEnd => {
                self.stack.pop();
            }
            Event::SequenceStart(..) => match self.stack.last_mut() {
                Some(Frame::Map { key, .. }) => match key.take() {
                    Some(k) => self.stack.push(Frame::List { key: k, start: at, items: Vec::new() }),
                    None => self.fail(at..at + 1, "a list as a key is not a Flink key"),
                },
                _ => self.fail(at..at + 1, "a Flink configuration is a mapping of keys to values, not a list"),
            },
            Event::SequenceEnd => {
                if let Some(Frame::List { key: (k, key_span), start, items }) = self.stack.pop() {
                    let value = Some(ConfValue::List(items));
                    self.entries.push(ConfEntry { key: k, value, key_span, value_span: start..at.max(start + 1) });
                }
            }
            Event::Alias(_) => self.fail(at..at + 1, "YAML aliases (*name) are not read here; write the value out"),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// A scalar's value as YAML 1.2's core schema types it: quoted text stays text.
fn typed(value: String, style: TScalarStyle) -> Option<ConfValue> {
    if style != TScalarStyle::Plain {
        return Some(ConfValue::Text(value));
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => None,
        "true" | "True" | "TRUE" => Some(ConfValue::Bool(true)),
        "false" | "False" | "FALSE" => Some(ConfValue::Bool(false)),
        v => {
            if let Ok(n) = v.parse::<i64>() {
                Some(ConfValue::Integer(n))
            } else if v.contains('.')
                && v.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
                && let Ok(f) = v.parse::<f64>()
            {
                Some(ConfValue::Float(f))
            } else {
                Some(ConfValue::Text(value))
            }
        }
    }
}

/// Merges `conf` into the scenario `text`'s `[flink]` table. A text that is not valid TOML is
/// returned as it is (its own error is what the loader reports).
pub fn merge(text: &str, conf: &FlinkConf) -> Merged {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut report = ConfReport { file: conf.file.clone(), ..ConfReport::default() };
    let unchanged = |report| Merged { text: text.to_string(), report, first_line: 0, lines: Vec::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return unchanged(report) };
    let own: Vec<&str> = match doc.get("flink") {
        Some(toml::Value::Table(t)) => t.keys().map(|k| canonical_key(k)).collect(),
        _ => Vec::new(),
    };
    let mut lines = Vec::new();
    let mut inserted = String::new();
    for (i, e) in conf.entries.iter().enumerate() {
        let Some(value) = &e.value else {
            report.ignored.push((e.key.clone(), "no value (Flink leaves the key unset)"));
            continue;
        };
        if matches!(classify_key(&e.key), KeyClass::Unknown) {
            report.ignored.push((e.key.clone(), "not a Flink key"));
            continue;
        }
        if own.contains(&canonical_key(&e.key)) {
            report.overridden.push(e.key.clone());
            continue;
        }
        let key = toml::Value::String(e.key.clone()).to_string();
        lines.push((i, key.len() + 3));
        inserted += &format!("{key} = {}\n", value.to_toml());
        report.merged.push(e.key.clone());
    }
    if lines.is_empty() {
        return unchanged(report);
    }
    // After the `[flink]` header if there is one (later lines move down; `remap` moves them
    // back), else a new table at the end.
    let header = text.lines().scan(0usize, |at, l| {
        let start = *at;
        *at += l.len() + 1;
        Some((start, l))
    });
    let found = header.enumerate().find(|(_, (_, l))| {
        l.trim() == "[flink]"
            || l.trim_start().starts_with("[flink]") && l.trim_start()[7..].trim_start().starts_with('#')
    });
    let (merged, first_line) = match found {
        Some((n, (start, l))) => {
            let end = (start + l.len() + 1).min(text.len());
            let mut t = text[..end].to_string();
            if !t.ends_with('\n') {
                t.push('\n');
            }
            (t + &inserted + &text[end..], n + 2)
        }
        None => {
            let mut t = text.to_string();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            let first = t.lines().count() + 3;
            (t + "\n[flink]\n" + &inserted, first)
        }
    };
    Merged { text: merged, report, first_line, lines }
}

impl Merged {
    /// An error of the merged text, shown where its cause is: on an inserted line, at the key or
    /// value of the conf file that set it; on a line of the scenario, at its own line number.
    pub fn remap(&self, err: ScenarioError, conf: &FlinkConf) -> ScenarioError {
        let Some((line, col)) = err.position else { return err };
        if self.lines.is_empty() || line < self.first_line {
            return err;
        }
        let n = self.lines.len();
        if line >= self.first_line + n {
            return ScenarioError { position: Some((line - n, col)), ..err };
        }
        let (entry, value_at) = self.lines[line - self.first_line];
        let e = &conf.entries[entry];
        let on_value = err.source.as_deref().is_some_and(|(_, r)| r.start >= value_at);
        let span = if on_value { e.value_span.clone() } else { e.key_span.clone() };
        let mut out = error_at(&conf.file, &conf.text, span, err.message, err.hint);
        if !on_value && !out.message.contains(&e.key) {
            out.message = format!("{} (\"{}\")", out.message, e.key);
        }
        out
    }
}

/// An error at `span` of a conf file's `text`.
fn error_at(
    file: &str,
    text: &str,
    span: Range<usize>,
    message: impl Into<String>,
    hint: Option<String>,
) -> ScenarioError {
    let start = text.floor_char_boundary(span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_end = if text[line_start..line_end].ends_with('\r') { line_end - 1 } else { line_end };
    let start = start.min(line_end);
    let shown = text[line_start..line_end].to_string();
    let from = start - line_start;
    let to = (text.floor_char_boundary(span.end.clamp(start, line_end)) - line_start).max(from);
    let to = if to > from { to } else { shown.ceil_char_boundary(from + 1) };
    ScenarioError {
        file: file.to_string(),
        position: Some((line_col(text, start).0, shown[..from].chars().count() + 1)),
        message: message.into(),
        hint,
        source: Some(Box::new((shown, from..to))),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    (before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = "\
# Flink's conf/config.yaml, abridged
env:
  java:
    opts:
      all: --add-exports=java.base/sun.net.util=ALL-UNNAMED
jobmanager:
  bind-host: localhost
  rpc:
    address: localhost
    port: 6123
  memory:
    process:
      size: 1600m
  execution:
    failover-strategy: region
taskmanager:
  numberOfTaskSlots: 1
parallelism:
  default: 1
execution.checkpointing.interval: 10 s
pipeline.jars: [a.jar, b.jar]
my.own.key: 3
empty.key:
";

    #[test]
    fn nested_and_flat_keys_flatten_with_their_places() {
        let c = parse("config.yaml", SHIPPED).expect("parses");
        let keys: Vec<&str> = c.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "env.java.opts.all",
                "jobmanager.bind-host",
                "jobmanager.rpc.address",
                "jobmanager.rpc.port",
                "jobmanager.memory.process.size",
                "jobmanager.execution.failover-strategy",
                "taskmanager.numberOfTaskSlots",
                "parallelism.default",
                "execution.checkpointing.interval",
                "pipeline.jars",
                "my.own.key",
                "empty.key",
            ]
        );
        let port = &c.entries[3];
        assert_eq!(port.value, Some(ConfValue::Integer(6123)));
        assert_eq!(&c.text[port.key_span.clone()], "port");
        assert_eq!(&c.text[port.value_span.clone()], "6123");
        assert_eq!(c.entries[8].value, Some(ConfValue::Text("10 s".into())));
        assert_eq!(c.entries[9].value, Some(ConfValue::List(vec!["a.jar".into(), "b.jar".into()])));
        assert_eq!(c.entries[11].value, None);
    }

    #[test]
    fn the_scenario_wins_and_unknown_keys_are_ignored() {
        let c = parse("config.yaml", SHIPPED).expect("parses");
        let scenario = "name = \"x\"\n\n[flink]\n\"jobmanager.execution.failover-strategy\" = \"full\"\n\n[cluster]\ntaskmanagers = 1\n";
        let m = merge(scenario, &c);
        assert_eq!(m.report.overridden, ["jobmanager.execution.failover-strategy"]);
        assert_eq!(
            m.report.ignored,
            [
                ("my.own.key".to_string(), "not a Flink key"),
                ("empty.key".to_string(), "no value (Flink leaves the key unset)")
            ]
        );
        assert!(m.text.contains("[flink]\n\"env.java.opts.all\" = \"--add-exports"), "{}", m.text);
        assert!(m.text.contains("\"execution.checkpointing.interval\" = \"10 s\"\n"), "{}", m.text);
        assert!(m.text.contains("\"pipeline.jars\" = [\"a.jar\", \"b.jar\"]\n"), "{}", m.text);
        assert_eq!(m.text.matches("failover-strategy").count(), 1, "{}", m.text);
        // A scenario without a [flink] table gets one at its end.
        let m = merge("name = \"x\"\n", &c);
        assert!(m.text.starts_with("name = \"x\"\n\n[flink]\n\"env.java.opts.all\""), "{}", m.text);
    }

    #[test]
    fn bad_yaml_and_twice_set_keys_are_refused_with_their_place() {
        let e = parse("c.yaml", "a: [1, 2\nb: 3\n").expect_err("unclosed list");
        assert_eq!(e.file, "c.yaml");
        assert!(e.message.starts_with("not valid YAML"), "{e}");
        let e = parse("c.yaml", "heartbeat:\n  interval: 1s\nheartbeat.interval: 2s\n").expect_err("twice");
        assert_eq!(e.position, Some((3, 1)));
        assert!(e.message.contains("\"heartbeat.interval\" is set twice (first on line 2)"), "{e}");
        let e = parse("c.yaml", "- a\n- b\n").expect_err("a list");
        assert!(e.message.contains("mapping of keys to values"), "{e}");
        assert!(parse("c.yaml", "").expect("empty").entries.is_empty());
        assert!(parse("c.yaml", "# only a comment\n").expect("comment").entries.is_empty());
    }
}
