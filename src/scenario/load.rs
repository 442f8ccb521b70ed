//! Scenario files: TOML in, a validated `Scenario` out. Every error carries file:line:column and,
//! where one helps, a hint. Unknown keys are errors everywhere. Sizes are checked against limits
//! before anything is allocated for them.

use super::model::{Expect, Scenario};
use crate::check::Verdict;
use crate::cluster::bugs::PlantedBugs;
use crate::cluster::config::*;
use crate::cluster::state::JobStatus;
use crate::fault::{FaultAction, FaultSpec, FaultTrigger, HostRef, MessageKind, MessageRule};
use crate::job::graph::SubtaskRef;
use crate::job::spec::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

mod phase;

/// A scenario file that cannot be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line and column (in characters); `None` when the file could not be read at all.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub hint: Option<String>,
    /// The offending line and the byte range in it to underline.
    pub source: Option<Box<(String, Range<usize>)>>,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        let (Some((line, _)), Some((text, span))) = (self.position, self.source.as_deref()) else {
            write!(f, "error: {}: {}", self.file, self.message)?;
            if let Some(h) = &self.hint {
                write!(f, "\n  hint: {h}")?;
            }
            return Ok(());
        };
        // The fields are public: whatever span they hold, the renderer gets one on character
        // boundaries (it panics on a span inside a multi-byte character). The line goes with its
        // line end, so that a span at the end of the line (a stray carriage return, an
        // unfinished key) is shown in the column `position` says.
        let span = char_span(text, span.clone());
        let source = format!("{text}\n");
        let snippet = Snippet::source(source.as_str())
            .line_start(line)
            .path(self.file.as_str())
            .annotation(AnnotationKind::Primary.span(span));
        let mut group = Level::ERROR.primary_title(self.message.as_str()).element(snippet);
        if let Some(h) = &self.hint {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        write!(f, "{}", Renderer::plain().render(&[group]))
    }
}

impl std::error::Error for ScenarioError {}

/// `span` inside `text` and on character boundaries: the start moved back to the start of its
/// character, the end forward to the end of its character.
fn char_span(text: &str, span: Range<usize>) -> Range<usize> {
    let start = text.floor_char_boundary(span.start.min(text.len()));
    let end = text.ceil_char_boundary(span.end.clamp(start, text.len()));
    start..end
}

/// Largest scenario file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Largest number of log records a scenario may produce (rate × duration over all sources).
/// Each committed record is kept (twice: the run and its reference) for the oracle.
pub const MAX_RECORDS: u128 = 50_000_000;
/// Keys per source: keyed state is snapshotted at every checkpoint.
pub const MAX_KEYS: u64 = 1_000_000;
/// Periodic events (heartbeats per TaskManager, checkpoints) over the whole run.
pub const MAX_PERIODIC_EVENTS: u128 = 100_000_000;
pub const MAX_SUBTASKS: u32 = 10_000;
pub const MAX_TASKMANAGERS: u64 = 1_000;
pub const MAX_SLOTS_PER_TASKMANAGER: u64 = 256;
pub const MAX_OPERATORS: usize = 64;
pub const MAX_FAULTS: usize = 1_000;
pub const MAX_PARALLELISM: u64 = 1_024;
const DAY_US: u64 = 86_400_000_000;

/// Reads and parses a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = read_text(path)?;
    parse_str(&path.display().to_string(), &text)
}

/// Reads a scenario file's text, refusing files over the size limit (reading at most one byte
/// more than it allows, whatever the file system says the size is) and text that is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let name = path.display().to_string();
    let cannot_read = |e: std::io::Error| ScenarioError {
        file: name.clone(),
        position: None,
        message: format!("cannot read the file: {e}"),
        hint: None,
        source: None,
    };
    let meta = std::fs::metadata(path).map_err(cannot_read)?;
    // Looked at before opening: reading a FIFO blocks until a writer comes, a device may never end.
    if !meta.is_file() {
        return Err(ScenarioError {
            file: name.clone(),
            position: None,
            message: format!("{}, not a regular file: not read", special_file_kind(&meta)),
            hint: Some("a scenario is a TOML file".into()),
            source: None,
        });
    }
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let size = file.metadata().map(|m| m.len()).ok();
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot_read)?;
    decode(&name, &bytes, size).map(str::to_string)
}

/// Reads and parses scenario bytes as a file holds them (see `decode`); `file` only names it in
/// errors.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<Scenario, ScenarioError> {
    parse_str(file, decode(file, bytes, None)?)
}

/// A scenario file's text from its bytes: at most `MAX_FILE_BYTES`, UTF-8, a leading byte-order
/// mark (as Windows editors write one) dropped. The errors are positioned: where the size limit
/// is crossed, or the first byte that is not UTF-8. `size` is the file's size, when known, for
/// the message (`bytes` may stop just past the limit).
pub fn decode<'t>(file: &str, bytes: &'t [u8], size: Option<u64>) -> Result<&'t str, ScenarioError> {
    let limit = MAX_FILE_BYTES as usize;
    if bytes.len() > limit {
        let size = size.filter(|&s| s > MAX_FILE_BYTES).map_or("more than".to_string(), |s| format!("{s} bytes;"));
        let message = format!(
            "the file is too large ({size} scenario files are limited to {MAX_FILE_BYTES} bytes): the limit is \
             crossed here"
        );
        return Err(at_byte(file, bytes, limit, message, None));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let what = match e.error_len() {
            Some(1) => "a byte that is not UTF-8".to_string(),
            Some(n) => format!("{n} bytes that are not UTF-8"),
            None => "a UTF-8 sequence cut short by the end of the file".to_string(),
        };
        let hint = Some("scenario files are UTF-8 text".to_string());
        at_byte(file, bytes, e.valid_up_to(), format!("invalid UTF-8: {what}"), hint)
    })
}

/// An error at byte `offset` of `bytes`, which may hold bytes that are not UTF-8: its line and
/// column, and its line as text (each invalid sequence shown as U+FFFD) to underline it in.
fn at_byte(file: &str, bytes: &[u8], offset: usize, message: String, hint: Option<String>) -> ScenarioError {
    let offset = offset.min(bytes.len());
    let line_start = bytes[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line_end = bytes[offset..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| offset + i);
    let before = String::from_utf8_lossy(&bytes[line_start..offset]);
    let mut line = format!("{before}{}", String::from_utf8_lossy(&bytes[offset..line_end]));
    if line.ends_with('\r') {
        line.pop();
    }
    let from = before.len().min(line.len());
    let to = line.ceil_char_boundary(from + 1);
    let line_number = bytes[..line_start].iter().filter(|&&b| b == b'\n').count() + 1;
    ScenarioError {
        file: file.to_string(),
        position: Some((line_number, line[..from].chars().count() + 1)),
        message,
        hint,
        source: Some(Box::new((line, from..to))),
    }
}

/// What a path that is not a regular file is, in words.
fn special_file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        } else if t.is_socket() {
            return "a socket";
        } else if t.is_char_device() {
            return "a character device";
        } else if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() { "a directory" } else { "not a file" }
}

/// Parses scenario text; `file` only names it in errors. A leading byte-order mark is skipped.
pub fn parse_str(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cx = Cx { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let hint = unknown_field_hint(&message).or_else(|| host_list_hint(text, span.start, &message));
        cx.error_at(span, message, hint)
    })?;
    cx.build(raw)
}

struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

type Res<T> = Result<T, ScenarioError>;

impl Cx<'_> {
    fn error_at(&self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) -> ScenarioError {
        // The whole line the span starts on; the underline stops at its end. A CRLF line's
        // carriage return belongs to its end, not to a column (an error there is at the end of
        // the line); a stray one stays (the renderer shows it as ␍).
        let start = self.text.floor_char_boundary(span.start.min(self.text.len()));
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
        let line_end = if self.text[line_start..line_end].ends_with('\r') { line_end - 1 } else { line_end };
        let start = start.min(line_end);
        let text = self.text[line_start..line_end].to_string();
        let from = start - line_start;
        let position = (line_col(self.text, start).0, text[..from].chars().count() + 1);
        let to = self.text.floor_char_boundary(span.end.clamp(start, line_end)) - line_start;
        // At least one character (on its boundary: the line may hold multi-byte characters).
        let to = if to > from { to } else { text.ceil_char_boundary(from + 1) };
        ScenarioError {
            file: self.file.to_string(),
            position: Some(position),
            message: message.into(),
            hint,
            source: Some(Box::new((text, from..to))),
        }
    }

    fn err<T>(&self, span: Range<usize>, message: impl Into<String>) -> Res<T> {
        Err(self.error_at(span, message, None))
    }

    fn err_hint<T>(&self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) -> Res<T> {
        Err(self.error_at(span, message, Some(hint.into())))
    }

    fn duration(&self, v: &Spanned<String>, what: &str) -> Res<u64> {
        parse_duration_us(v.get_ref()).ok_or_else(|| {
            self.error_at(
                v.span(),
                format!("invalid duration {:?} for `{what}`", v.get_ref()),
                Some("durations look like \"250ms\", \"10s\", \"5min\"".into()),
            )
        })
    }

    fn build(&self, raw: RawScenario) -> Res<Scenario> {
        let duration = match &raw.duration {
            None => None,
            Some(d) => {
                let us = self.duration(d, "duration")?;
                if !(1_000..=DAY_US).contains(&us) {
                    return self.err_hint(
                        d.span(),
                        "`duration` must be between 1ms and 24h",
                        "the virtual time sources append records",
                    );
                }
                Some(us)
            }
        };
        let drain_us = match &raw.drain {
            Some(d) => {
                let v = self.duration(d, "drain")?;
                if v > DAY_US {
                    return self.err(d.span(), "`drain` must be at most 24h");
                }
                v
            }
            None => 600_000_000,
        };
        if raw.name.get_ref().trim().is_empty() {
            return self.err(raw.name.span(), "`name` must not be empty");
        }
        let (flink, chaining, max_parallelism, default_parallelism) = self.flink(&raw.flink)?;
        let cluster = self.cluster(raw.cluster.unwrap_or_default())?;
        let (job, duration_us) = self.job(&raw.job, chaining, max_parallelism, default_parallelism, duration)?;
        let mut faults = Vec::new();
        if raw.fault.len() > MAX_FAULTS {
            return self.err(raw.fault[MAX_FAULTS].span(), format!("at most {MAX_FAULTS} faults per scenario"));
        }
        for f in &raw.fault {
            let fault =
                self.fault(f, &job, &cluster, duration_us + drain_us, flink.checkpoint_interval_us.is_some(), &faults)?;
            faults.push(fault);
        }
        self.restarts_need_a_stopped_taskmanager(&raw.fault, &faults)?;
        let b = raw.bugs;
        let bugs = PlantedBugs {
            commit_on_snapshot: b.commit_on_snapshot,
            no_source_rewind: b.no_source_rewind,
            restore_empty_state: b.restore_empty_state,
            skip_alignment: b.skip_alignment,
            no_fencing: b.no_fencing,
            no_flush_on_pre_commit: b.no_flush_on_pre_commit,
            no_recommit: b.no_recommit,
            no_abort_lingering: b.no_abort_lingering,
            timeout_keeps_attempts: b.timeout_keeps_attempts,
            restore_oldest_checkpoint: b.restore_oldest_checkpoint,
            no_subsume_pending: b.no_subsume_pending,
        };
        // Periodic work must stay bounded too: heartbeats of every TaskManager and checkpoints.
        let run_us = u128::from(duration_us + drain_us);
        let heartbeats = run_us * u128::from(cluster.taskmanagers) / u128::from(flink.heartbeat_interval_us.max(1));
        let checkpoints = flink.checkpoint_interval_us.map_or(0, |iv| run_us / u128::from(iv.max(1)));
        if heartbeats + checkpoints > MAX_PERIODIC_EVENTS {
            let key = if heartbeats >= checkpoints { "heartbeat.interval" } else { "execution.checkpointing.interval" };
            let span = raw.flink.iter().find(|(k, _)| k.get_ref() == key).map_or(0..0, |(_, v)| v.span());
            return Err(self.error_at(
                span,
                format!(
                    "the run would take {heartbeats} heartbeats and {checkpoints} checkpoints over duration + drain; \
                     the limit is {MAX_PERIODIC_EVENTS} together"
                ),
                Some("raise heartbeat.interval or execution.checkpointing.interval, or shorten duration/drain".into()),
            ));
        }
        let expect = match &raw.expect {
            Some(e) => self.expect(e.get_ref(), Some(e.span()), &job)?,
            None => self.expect(&RawExpect::default(), None, &job)?,
        };
        Ok(Scenario {
            name: raw.name.into_inner(),
            about: raw.about.trim().to_string(),
            seed: raw.seed,
            duration_us,
            drain_us,
            flink,
            cluster,
            job,
            faults,
            bugs,
            expect,
            budget: Default::default(),
        })
    }

    /// The `[flink]` table: Flink's keys, Flink's defaults.
    fn flink(
        &self,
        table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Res<(FlinkConfig, bool, Option<u32>, u32)> {
        let mut values: BTreeMap<&str, &Spanned<toml::Value>> = BTreeMap::new();
        for (k, v) in table {
            if !FLINK_KEYS.contains(&k.get_ref().as_str()) {
                // An unquoted dotted key is a nested table to TOML: rebuild the dotted name.
                if let toml::Value::Table(t) = v.get_ref() {
                    let mut path = vec![k.get_ref().clone()];
                    let mut cur = t;
                    let mut leaf = None;
                    while cur.len() == 1 {
                        let (name, value) = cur.iter().next().expect("one entry");
                        path.push(name.clone());
                        match value {
                            toml::Value::Table(inner) => cur = inner,
                            other => {
                                leaf = Some(other.to_string());
                                break;
                            }
                        }
                    }
                    let dotted = path.join(".");
                    if let Some(value) = leaf.filter(|_| FLINK_KEYS.contains(&dotted.as_str()) || path.len() > 1) {
                        return self.err_hint(
                            k.span(),
                            format!("`{dotted}` is read as nested TOML tables, not as the Flink key \"{dotted}\""),
                            format!("quote the key: \"{dotted}\" = {value}"),
                        );
                    }
                }
                let hint = match closest(k.get_ref(), FLINK_KEYS) {
                    Some(c) => format!("did you mean \"{c}\"?"),
                    None => "recoverysim knows these Flink keys: ".to_string() + &FLINK_KEYS.join(", "),
                };
                return self.err_hint(k.span(), format!("unknown Flink configuration key \"{}\"", k.get_ref()), hint);
            }
            values.insert(k.get_ref().as_str(), v);
        }
        let dur = |key: &str, default: u64| -> Res<u64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => self.flink_duration(key, v),
            }
        };
        let int = |key: &str, default: i64, min: i64, max: i64| -> Res<i64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let n = match v.get_ref() {
                        toml::Value::Integer(n) => Some(*n),
                        toml::Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    };
                    match n {
                        Some(n) if (min..=max).contains(&n) => Ok(n),
                        Some(n) => self.err(v.span(), format!("\"{key}\" = {n} is out of range ({min}..={max})")),
                        None => self.err(v.span(), format!("\"{key}\" takes a whole number")),
                    }
                }
            }
        };
        let float = |key: &str, default: f64, min: f64, max: f64| -> Res<f64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let n = match v.get_ref() {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        toml::Value::String(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    match n {
                        Some(n) if n >= min && n <= max => Ok(n),
                        Some(n) => self.err(v.span(), format!("\"{key}\" = {n} is out of range ({min}..={max})")),
                        None => self.err(v.span(), format!("\"{key}\" takes a number")),
                    }
                }
            }
        };
        let boolean = |key: &str, default: bool| -> Res<bool> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => match v.get_ref() {
                    toml::Value::Boolean(b) => Ok(*b),
                    toml::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
                    toml::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
                    _ => self.err(v.span(), format!("\"{key}\" takes true or false")),
                },
            }
        };
        let choice = |key: &str, default: &'static str, options: &[&'static str]| -> Res<&'static str> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let s = match v.get_ref() {
                        toml::Value::String(s) => s.trim().to_ascii_lowercase().replace('_', "-"),
                        _ => String::new(),
                    };
                    match options.iter().find(|o| o.to_ascii_lowercase().replace('_', "-") == s) {
                        Some(o) => Ok(*o),
                        None => self.err_hint(
                            v.span(),
                            format!("invalid value for \"{key}\""),
                            format!("one of {}", options.join(", ")),
                        ),
                    }
                }
            }
        };
        let checkpoint_interval_us = match values.get("execution.checkpointing.interval") {
            None => None,
            Some(v) => {
                let us = self.flink_duration("execution.checkpointing.interval", v)?;
                if us < 1_000 {
                    return self.err(v.span(), "\"execution.checkpointing.interval\" must be at least 1ms");
                }
                Some(us)
            }
        };
        let checkpointing_mode =
            match choice("execution.checkpointing.mode", "EXACTLY_ONCE", &["EXACTLY_ONCE", "AT_LEAST_ONCE"])? {
                "AT_LEAST_ONCE" => CheckpointingMode::AtLeastOnce,
                _ => CheckpointingMode::ExactlyOnce,
            };
        let default_restart = if checkpoint_interval_us.is_some() { "exponential-delay" } else { "none" };
        let span_of = |key: &str| table.iter().find(|(k, _)| k.get_ref() == key).map_or(0..0, |(_, v)| v.span());
        let restart_type = choice(
            "restart-strategy.type",
            default_restart,
            &[
                "none",
                "disable",
                "off",
                "no_restart",
                "fixed-delay",
                "fixeddelay",
                "exponential-delay",
                "exponentialdelay",
            ],
        )?;
        // Relations between keys, not only each key: Flink refuses initial > max at startup.
        let exp_initial = dur("restart-strategy.exponential-delay.initial-backoff", 1_000_000)?;
        let exp_max = dur("restart-strategy.exponential-delay.max-backoff", 60_000_000)?;
        let exponential = matches!(restart_type, "exponential-delay" | "exponentialdelay");
        if exponential && (exp_initial < 1_000 || exp_max < exp_initial) {
            let key = if exp_initial < 1_000 {
                "restart-strategy.exponential-delay.initial-backoff"
            } else {
                "restart-strategy.exponential-delay.max-backoff"
            };
            return Err(self.error_at(
                span_of(key),
                format!(
                    "exponential-delay backoff: initial {} ms, max {} ms; the initial backoff must be at least 1 ms and not above the maximum",
                    exp_initial / 1000,
                    exp_max / 1000
                ),
                Some("Flink refuses this at startup (\"Initial backoff cannot be higher than maximum backoff.\")".into()),
            ));
        }
        let restart_strategy = match restart_type {
            "fixed-delay" | "fixeddelay" => RestartStrategy::FixedDelay {
                attempts: int("restart-strategy.fixed-delay.attempts", 1, 0, i64::from(u32::MAX))? as u32,
                delay_us: dur("restart-strategy.fixed-delay.delay", 1_000_000)?,
            },
            "exponential-delay" | "exponentialdelay" => RestartStrategy::ExponentialDelay {
                initial_backoff_us: exp_initial,
                max_backoff_us: exp_max,
                multiplier: {
                    let m = float("restart-strategy.exponential-delay.backoff-multiplier", 1.5, 1.0, 1000.0)?;
                    if m <= 1.0 {
                        let key = "restart-strategy.exponential-delay.backoff-multiplier";
                        return Err(self.error_at(
                            span_of(key),
                            "`restart-strategy.exponential-delay.backoff-multiplier` must be greater than 1",
                            Some("Flink refuses 1 and below (\"Backoff multiplier must be greater than 1.\")".into()),
                        ));
                    }
                    m
                },
                reset_backoff_threshold_us: dur(
                    "restart-strategy.exponential-delay.reset-backoff-threshold",
                    3_600_000_000,
                )?,
                jitter_factor: float("restart-strategy.exponential-delay.jitter-factor", 0.1, 0.0, 1.0)?,
                // RestartStrategyOptions: Integer.MAX_VALUE by default, an int.
                attempts_before_reset: int(
                    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
                    i64::from(i32::MAX),
                    1,
                    i64::from(i32::MAX),
                )? as u32,
            },
            _ => RestartStrategy::None,
        };
        let heartbeat_interval_us = dur("heartbeat.interval", 10_000_000)?;
        let heartbeat_timeout_us = dur("heartbeat.timeout", 50_000_000)?;
        if heartbeat_interval_us < 1_000 {
            let span = values.get("heartbeat.interval").map_or(0..0, |v| v.span());
            return self.err(span, "\"heartbeat.interval\" must be at least 1ms");
        }
        if heartbeat_timeout_us <= heartbeat_interval_us {
            let span = values.get("heartbeat.timeout").or(values.get("heartbeat.interval")).map_or(0..0, |v| v.span());
            return self.err_hint(
                span,
                "\"heartbeat.timeout\" must be longer than \"heartbeat.interval\"",
                "Flink refuses this too",
            );
        }
        let threshold = int("heartbeat.rpc-failure-threshold", 2, -1, 1_000_000)?;
        if threshold == 0 {
            let span = values.get("heartbeat.rpc-failure-threshold").map_or(0..0, |v| v.span());
            return self.err_hint(
                span,
                "\"heartbeat.rpc-failure-threshold\" must be -1 or at least 1",
                "-1 disables it",
            );
        }
        // A deprecated key Flink still reads: the one set, or the current name if neither is.
        let aliased = |key: &'static str, old: &'static str| -> Res<&'static str> {
            match (values.get(key), values.get(old)) {
                (Some(_), Some(v)) => self.err_hint(
                    v.span(),
                    format!("\"{old}\" is the deprecated name of \"{key}\"; set only one of them"),
                    format!("keep \"{key}\""),
                ),
                (None, Some(_)) => Ok(old),
                _ => Ok(key),
            }
        };
        // A duration that must be at least 1ms (a timeout of 0 would fail everything at once).
        let positive = |key: &str, default: u64| -> Res<u64> {
            let us = dur(key, default)?;
            if us < 1_000 {
                let span = values.get(key).map_or(0..0, |v| v.span());
                return self.err(span, format!("\"{key}\" must be at least 1ms"));
            }
            Ok(us)
        };
        let ask_timeout_us = positive(aliased("pekko.ask.timeout", "akka.ask.timeout")?, 10_000_000)?;
        // Flink's fallback for `taskmanager.slot.timeout` is the key `pekko.ask.timeout` only: the
        // deprecated `akka.ask.timeout` does not carry over (`ConfigOption.withFallbackKeys`).
        let slot_timeout_default = if values.contains_key("pekko.ask.timeout") { ask_timeout_us } else { 10_000_000 };
        let slot_timeout_us = positive("taskmanager.slot.timeout", slot_timeout_default)?;
        let slot_request_timeout_us = dur("slot.request.timeout", 300_000_000)?;
        // A bare number is milliseconds (Flink's type is a long); -1, Flink's default, means
        // "the value of slot.request.timeout".
        let standalone_start_up_us = match values.get("resourcemanager.standalone.start-up-time") {
            Some(v)
                if matches!(v.get_ref(), toml::Value::Integer(-1))
                    || matches!(v.get_ref(), toml::Value::String(s) if s.trim() == "-1") =>
            {
                slot_request_timeout_us
            }
            _ => dur("resourcemanager.standalone.start-up-time", slot_request_timeout_us)?,
        };
        let ha_key = aliased("high-availability.type", "high-availability")?;
        let flink = FlinkConfig {
            checkpoint_interval_us,
            checkpointing_mode,
            checkpoint_timeout_us: dur("execution.checkpointing.timeout", 600_000_000)?.max(1_000),
            checkpoint_min_pause_us: dur("execution.checkpointing.min-pause", 0)?,
            checkpoints_retained: int("execution.checkpointing.num-retained", 1, 1, 1_000)? as u32,
            max_concurrent_checkpoints: int("execution.checkpointing.max-concurrent-checkpoints", 1, 1, 1_000)? as u32,
            failover_strategy: match choice("jobmanager.execution.failover-strategy", "region", &["region", "full"])? {
                "full" => FailoverStrategy::Full,
                _ => FailoverStrategy::Region,
            },
            restart_strategy,
            heartbeat_interval_us,
            heartbeat_timeout_us,
            heartbeat_rpc_failure_threshold: (threshold > 0).then_some(threshold as u32),
            slot_request_timeout_us,
            local_recovery: boolean("execution.state-recovery.from-local", false)?,
            load_balance: match choice("taskmanager.load-balance.mode", "NONE", &["NONE", "SLOTS"])? {
                "SLOTS" => LoadBalanceMode::Slots,
                _ => LoadBalanceMode::None,
            },
            ask_timeout_us,
            slot_timeout_us,
            standalone_start_up_us,
            tolerable_failed_checkpoints: int(
                "execution.checkpointing.tolerable-failed-checkpoints",
                0,
                0,
                i64::from(i32::MAX),
            )? as u32,
            ha: match choice(ha_key, "NONE", &["NONE", "ZOOKEEPER", "KUBERNETES"])? {
                "ZOOKEEPER" => HaKind::Zookeeper,
                "KUBERNETES" => HaKind::Kubernetes,
                _ => HaKind::None,
            },
            zk_session_timeout_us: positive("high-availability.zookeeper.client.session-timeout", 60_000_000)?,
            k8s_lease_duration_us: positive("high-availability.kubernetes.leader-election.lease-duration", 15_000_000)?,
        };
        let chaining = boolean("pipeline.operator-chaining.enabled", true)?;
        let max_parallelism = match values.get("pipeline.max-parallelism") {
            None => None,
            Some(_) => Some(int("pipeline.max-parallelism", 128, 1, 32_768)? as u32),
        };
        let default_parallelism = int("parallelism.default", 1, 1, MAX_PARALLELISM as i64)? as u32;
        Ok((flink, chaining, max_parallelism, default_parallelism))
    }

    fn flink_duration(&self, key: &str, v: &Spanned<toml::Value>) -> Res<u64> {
        let parsed = match v.get_ref() {
            // Flink's default unit for a bare number is milliseconds.
            toml::Value::Integer(ms) if *ms >= 0 => Some(*ms as u64 * 1_000),
            toml::Value::String(s) => parse_duration_us(s),
            _ => None,
        };
        parsed.filter(|us| *us <= 30 * DAY_US).ok_or_else(|| {
            let shown = match v.get_ref() {
                toml::Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            self.error_at(
                v.span(),
                format!("invalid duration {shown} for \"{key}\""),
                Some("durations look like \"250ms\", \"10s\", \"5min\" (a bare number is milliseconds)".into()),
            )
        })
    }

    fn cluster(&self, c: RawCluster) -> Res<ClusterSpec> {
        let ranged = |v: &Option<Spanned<u64>>, default: u64, min: u64, max: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
                Some(s) => self.err(s.span(), format!("`{what}` must be between {min} and {max}")),
            }
        };
        let dur = |v: &Option<Spanned<String>>, default: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) => {
                    let us = self.duration(s, what)?;
                    if us > DAY_US {
                        return self.err(s.span(), format!("`{what}` must be at most 24h"));
                    }
                    Ok(us)
                }
            }
        };
        let bw = |v: &Option<Spanned<String>>, default: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) => parse_bandwidth(s.get_ref()).filter(|b| *b > 0).ok_or_else(|| {
                    self.error_at(
                        s.span(),
                        format!("invalid bandwidth {:?} for `{what}`", s.get_ref()),
                        Some("bandwidths look like \"100MB/s\", \"512KiB/s\", \"1GB/s\"".into()),
                    )
                }),
            }
        };
        let resource_manager = match &c.resource_manager {
            None => ResourceManagerKind::Standalone,
            Some(s) => match s.get_ref().as_str() {
                "standalone" => ResourceManagerKind::Standalone,
                "active" => ResourceManagerKind::Active,
                _ => return self.err_hint(s.span(), "invalid `resource-manager`", "\"standalone\" or \"active\""),
            },
        };
        Ok(ClusterSpec {
            taskmanagers: ranged(&c.taskmanagers, 1, 1, MAX_TASKMANAGERS, "taskmanagers")? as u32,
            slots_per_taskmanager: ranged(
                &c.slots_per_taskmanager,
                1,
                1,
                MAX_SLOTS_PER_TASKMANAGER,
                "slots-per-taskmanager",
            )? as u32,
            resource_manager,
            taskmanager_start_delay_us: dur(&c.taskmanager_start_delay, 5_000_000, "taskmanager-start-delay")?,
            rpc_latency_us: dur(&c.rpc_latency, 1_000, "rpc-latency")?,
            network_latency_us: dur(&c.network_latency, 1_000, "network-latency")?,
            network_jitter_us: dur(&c.network_jitter, 100, "network-jitter")?,
            channel_capacity: ranged(&c.channel_capacity, 64, 1, 1_000_000, "channel-capacity")? as u32,
            connection_reset_us: dur(&c.connection_reset, 50_000, "connection-reset")?,
            storage_bytes_per_s: bw(&c.storage_bandwidth, 100_000_000, "storage-bandwidth")?,
            storage_latency_us: dur(&c.storage_latency, 20_000, "storage-latency")?,
            local_bytes_per_s: bw(&c.local_bandwidth, 1_000_000_000, "local-bandwidth")?,
            deploy_us: dur(&c.deploy_time, 5_000, "deploy-time")?,
            jobmanager_restart_delay_us: dur(&c.jobmanager_restart_delay, 5_000_000, "jobmanager-restart-delay")?,
        })
    }

    fn job(
        &self,
        raw: &Spanned<RawJob>,
        chaining: bool,
        max_p: Option<u32>,
        default_p: u32,
        duration: Option<u64>,
    ) -> Res<(JobSpec, u64)> {
        let ops_raw = &raw.get_ref().operators;
        if ops_raw.is_empty() {
            return self.err(raw.span(), "the job needs at least one operator");
        }
        if ops_raw.len() > MAX_OPERATORS {
            return self.err(ops_raw[MAX_OPERATORS].span(), format!("at most {MAX_OPERATORS} operators per job"));
        }
        let mut operators: Vec<OperatorSpec> = Vec::new();
        let mut records: u128 = 0;
        let mut subtasks: u64 = 0;
        // Without a `duration`, the run lasts until the last bounded source's last record.
        let mut last_append_us: u64 = 0;
        for sop in ops_raw {
            let o = sop.get_ref();
            let name = o.name.get_ref();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return self.err_hint(
                    o.name.span(),
                    format!("invalid operator name {name:?}"),
                    "names use letters, digits, `_` and `-`",
                );
            }
            if operators.iter().any(|x| &x.name == name) {
                return self.err(o.name.span(), format!("operator `{name}` is declared twice"));
            }
            let parallelism = match &o.parallelism {
                None => default_p,
                Some(p) if (1..=MAX_PARALLELISM).contains(p.get_ref()) => *p.get_ref() as u32,
                Some(p) => return self.err(p.span(), format!("`parallelism` must be between 1 and {MAX_PARALLELISM}")),
            };
            subtasks += u64::from(parallelism);
            let kind_name = o.kind.get_ref().as_str();
            let is_source = kind_name == "source";
            let is_keyed = matches!(kind_name, "keyed-count" | "keyed-sum");
            // Fields that belong to one kind only.
            let only = |present: bool, field: &str, owner: &str, ok: bool| -> Res<()> {
                if present && !ok {
                    return self.err(
                        sop.span(),
                        format!("`{field}` is only for {owner} (operator `{name}` is a {kind_name})"),
                    );
                }
                Ok(())
            };
            only(o.partitions.is_some(), "partitions", "sources", is_source)?;
            only(o.rate.is_some(), "rate", "sources", is_source)?;
            only(o.keys.is_some(), "keys", "sources", is_source)?;
            only(o.catch_up_rate.is_some(), "catch-up-rate", "sources", is_source)?;
            only(o.records.is_some(), "records", "sources", is_source)?;
            only(o.multiply.is_some() || o.add.is_some(), "multiply/add", "maps", kind_name == "map")?;
            only(o.modulo.is_some() || o.remainder.is_some(), "modulo/remainder", "filters", kind_name == "filter")?;
            only(o.semantic.is_some(), "semantic", "sinks", kind_name == "sink")?;
            let kind = match kind_name {
                "source" => {
                    let rate = match &o.rate {
                        None => {
                            return self.err_hint(
                                sop.span(),
                                format!("source `{name}` needs a `rate`"),
                                "rate = \"1000/s\"",
                            );
                        }
                        Some(r) => self.rate(r, "rate")?,
                    };
                    let partitions = match &o.partitions {
                        None => parallelism,
                        Some(p) if (1..=10_000).contains(p.get_ref()) => *p.get_ref() as u32,
                        Some(p) => return self.err(p.span(), "`partitions` must be between 1 and 10000"),
                    };
                    let keys = match &o.keys {
                        None => 100,
                        Some(k) if (1..=MAX_KEYS).contains(k.get_ref()) => *k.get_ref() as u32,
                        Some(k) => return self.err(k.span(), format!("`keys` must be between 1 and {MAX_KEYS}")),
                    };
                    let share = rate.div_ceil(u64::from(parallelism));
                    let catch_up = match &o.catch_up_rate {
                        None => share * 10,
                        Some(r) => {
                            let c = self.rate(r, "catch-up-rate")?;
                            if c < share {
                                return self.err_hint(
                                    r.span(),
                                    format!("`catch-up-rate` {c}/s is below this source's share of the rate ({share}/s per subtask)"),
                                    "a source that reads slower than its log grows never catches up",
                                );
                            }
                            c
                        }
                    };
                    let bounded = match &o.records {
                        None => None,
                        Some(n) if (1..=MAX_RECORDS as u64).contains(n.get_ref()) => Some(*n.get_ref()),
                        Some(n) => return self.err(n.span(), format!("`records` must be between 1 and {MAX_RECORDS}")),
                    };
                    let appended = match (bounded, duration) {
                        (Some(n), Some(d)) => u128::from(n).min(u128::from(rate) * u128::from(d) / 1_000_000),
                        (Some(n), None) => u128::from(n),
                        (None, Some(d)) => u128::from(rate) * u128::from(d) / 1_000_000,
                        (None, None) => {
                            return self.err_hint(
                                sop.span(),
                                format!("source `{name}` has no `records` and the scenario no `duration`"),
                                "set duration = \"30s\" (the log grows that long) or records = N (a bounded source)",
                            );
                        }
                    };
                    if let Some(n) = bounded {
                        last_append_us = last_append_us.max((u128::from(n) * 1_000_000 / u128::from(rate)) as u64 + 1);
                    }
                    records += appended;
                    if records > MAX_RECORDS {
                        return self.err_hint(
                            o.rate.as_ref().map_or(sop.span(), |r| r.span()),
                            format!("the sources would append {records} records over the duration; the limit is {MAX_RECORDS}"),
                            "lower the rate or the duration",
                        );
                    }
                    OperatorKind::Source(SourceSpec {
                        partitions,
                        rate_per_s: rate,
                        keys,
                        catch_up_rate_per_s: catch_up,
                        records: bounded,
                    })
                }
                "map" => OperatorKind::Map { multiply: o.multiply.unwrap_or(1), add: o.add.unwrap_or(0) },
                "filter" => {
                    let Some(m) = &o.modulo else {
                        return self.err_hint(
                            sop.span(),
                            format!("filter `{name}` needs a `modulo`"),
                            "modulo = 2, remainder = 0 keeps even values",
                        );
                    };
                    if *m.get_ref() < 1 {
                        return self.err(m.span(), "`modulo` must be at least 1");
                    }
                    let remainder = o.remainder.as_ref().map_or(0, |r| *r.get_ref());
                    if remainder < 0 || remainder >= *m.get_ref() {
                        let span = o.remainder.as_ref().map_or(m.span(), |r| r.span());
                        return self.err(span, "`remainder` must be in 0..modulo");
                    }
                    OperatorKind::Filter { modulo: *m.get_ref(), remainder }
                }
                "keyed-count" => OperatorKind::KeyedCount,
                "keyed-sum" => OperatorKind::KeyedSum,
                "sink" => OperatorKind::Sink(match o.semantic.as_ref().map(|s| s.get_ref().as_str()) {
                    None | Some("two-phase-commit") => SinkSemantic::TwoPhaseCommit,
                    Some("append") => SinkSemantic::Append,
                    Some(_) => {
                        let span = o.semantic.as_ref().map_or(sop.span(), |s| s.span());
                        return self.err_hint(span, "invalid sink `semantic`", "\"two-phase-commit\" or \"append\"");
                    }
                }),
                _ => {
                    return self.err_hint(
                        o.kind.span(),
                        format!("unknown operator kind {kind_name:?}"),
                        "one of source, map, filter, keyed-count, keyed-sum, sink",
                    );
                }
            };
            let input = match (&o.input, is_source) {
                (Some(i), true) => return self.err(i.span(), "a source reads its log; it takes no `input`"),
                (None, false) => {
                    return self.err_hint(
                        sop.span(),
                        format!("operator `{name}` needs an `input`"),
                        "input = \"<an operator declared earlier>\"",
                    );
                }
                (None, true) => {
                    if let Some(e) = &o.edge {
                        return self.err(e.span(), "a source has no input edge");
                    }
                    None
                }
                (Some(i), false) => {
                    let Some(idx) = operators.iter().position(|x| &x.name == i.get_ref()) else {
                        let later = ops_raw.iter().any(|x| x.get_ref().name.get_ref() == i.get_ref());
                        let hint = if later {
                            "inputs must be declared before the operators that read them".to_string()
                        } else {
                            let names: Vec<&str> = operators.iter().map(|x| x.name.as_str()).collect();
                            format!("declared so far: {}", names.join(", "))
                        };
                        return self.err_hint(
                            i.span(),
                            format!("`input` names no earlier operator: {:?}", i.get_ref()),
                            hint,
                        );
                    };
                    if matches!(operators[idx].kind, OperatorKind::Sink(_)) {
                        return self.err(i.span(), "a sink has no output to read from");
                    }
                    let edge = match &o.edge {
                        None if is_keyed => EdgeKind::Hash,
                        // StreamGraph.addEdgeInternal: no partitioner given means forward between
                        // equal parallelisms and rebalance otherwise.
                        None if operators[idx].parallelism == parallelism => EdgeKind::Forward,
                        None => EdgeKind::Rebalance,
                        Some(e) => match e.get_ref().as_str() {
                            "forward" => EdgeKind::Forward,
                            "hash" => EdgeKind::Hash,
                            "rebalance" => EdgeKind::Rebalance,
                            _ => return self.err_hint(e.span(), "invalid `edge`", "one of forward, hash, rebalance"),
                        },
                    };
                    let edge_span = o.edge.as_ref().map_or(sop.span(), |e| e.span());
                    if is_keyed && edge != EdgeKind::Hash {
                        return self.err_hint(
                            edge_span,
                            "keyed state needs a keyBy: the edge into a keyed operator must be \"hash\"",
                            "edge = \"hash\"",
                        );
                    }
                    if edge == EdgeKind::Forward && operators[idx].parallelism != parallelism {
                        return self.err_hint(
                            edge_span,
                            format!(
                                "forward edge between `{}` (parallelism {}) and `{name}` (parallelism {parallelism})",
                                operators[idx].name, operators[idx].parallelism
                            ),
                            "forward needs equal parallelism (Flink refuses it too); use edge = \"rebalance\", or leave `edge` out (Flink then picks rebalance)",
                        );
                    }
                    Some((OperatorId(idx as u32), edge))
                }
            };
            operators.push(OperatorSpec { name: name.clone(), kind, parallelism, input });
        }
        if subtasks > u64::from(MAX_SUBTASKS) {
            return self.err(raw.span(), format!("the job has {subtasks} subtasks; the limit is {MAX_SUBTASKS}"));
        }
        if !operators.iter().any(|o| matches!(o.kind, OperatorKind::Source(_))) {
            return self.err(raw.span(), "the job needs at least one source");
        }
        if let Some(m) = max_p {
            let widest = operators.iter().map(|o| o.parallelism).max().unwrap_or(1);
            if widest > m {
                return self.err(
                    raw.span(),
                    format!("\"pipeline.max-parallelism\" {m} is below the parallelism {widest} of an operator"),
                );
            }
        }
        let duration_us = duration.unwrap_or(last_append_us).min(DAY_US);
        Ok((JobSpec { operators, max_parallelism: max_p, chaining }, duration_us))
    }

    fn rate(&self, r: &Spanned<String>, what: &str) -> Res<u64> {
        let s = r.get_ref().trim();
        let n = s.strip_suffix("/s").and_then(|n| n.trim().replace('_', "").parse::<u64>().ok());
        match n {
            Some(n) if (1..=10_000_000).contains(&n) => Ok(n),
            Some(_) => self.err(r.span(), format!("`{what}` must be between 1/s and 10000000/s")),
            None => self.err_hint(r.span(), format!("invalid `{what}` {s:?}"), "rates look like \"1000/s\""),
        }
    }

    fn subtask_ref(&self, s: &Spanned<String>, job: &JobSpec) -> Res<SubtaskRef> {
        let refs = self.subtask_refs(s, job)?;
        if refs.len() != 1 || !s.get_ref().contains('[') {
            return self.err_hint(
                s.span(),
                format!("{:?} names more than one subtask", s.get_ref()),
                "name one subtask: \"map[2]\"",
            );
        }
        Ok(refs[0])
    }

    /// `op`, `op[i]` or `op[a-b]` (0-based, both ends included).
    fn subtask_refs(&self, s: &Spanned<String>, job: &JobSpec) -> Res<Vec<SubtaskRef>> {
        let text = s.get_ref().trim();
        let (name, range) = match text.split_once('[') {
            None => (text, None),
            Some((n, rest)) => match rest.strip_suffix(']') {
                Some(r) => (n, Some(r)),
                None => {
                    return self.err_hint(
                        s.span(),
                        format!("cannot read subtask {text:?}"),
                        "write \"map[2]\" or \"map[0-3]\" (both ends included)",
                    );
                }
            },
        };
        let Some(op) = job.operators.iter().position(|o| o.name == name) else {
            let names: Vec<&str> = job.operators.iter().map(|o| o.name.as_str()).collect();
            return self.err_hint(
                s.span(),
                format!("no operator named {name:?}"),
                format!("operators: {}", names.join(", ")),
            );
        };
        let p = job.operators[op].parallelism;
        let (a, b) = match range {
            None => (0, p),
            Some(r) => {
                if let Some((a, b)) = r.split_once("..") {
                    // The old half-open notation: refuse it rather than guess which end is meant.
                    let hint = match (a.trim().parse::<u32>(), b.trim_start_matches('=').trim().parse::<u32>()) {
                        (Ok(a), Ok(b)) if b > a && !r.contains("..=") => {
                            format!("ranges are written a-b with both ends included: \"{name}[{a}-{}]\"", b - 1)
                        }
                        _ => "ranges are written a-b with both ends included, e.g. \"map[0-3]\"".to_string(),
                    };
                    return self.err_hint(s.span(), format!("cannot read subtask range {text:?}"), hint);
                }
                let parsed = match r.split_once('-') {
                    Some((a, b)) => a.trim().parse::<u32>().ok().zip(b.trim().parse::<u32>().ok().map(|b| b + 1)),
                    None => r.trim().parse::<u32>().ok().map(|i| (i, i.saturating_add(1))),
                };
                match parsed {
                    Some((a, b)) if a < b && b <= p => (a, b),
                    Some(_) => {
                        return self.err_hint(
                            s.span(),
                            format!("{text:?} is out of range: `{name}` has subtasks 0-{}", p - 1),
                            "indices are 0-based; a-b includes both ends",
                        );
                    }
                    None => {
                        return self.err_hint(
                            s.span(),
                            format!("cannot read subtask {text:?}"),
                            "write \"map[2]\" or \"map[0-3]\" (both ends included)",
                        );
                    }
                }
            }
        };
        Ok((a..b).map(|index| SubtaskRef { operator: OperatorId(op as u32), index }).collect())
    }

    fn fault(
        &self,
        f: &Spanned<RawFault>,
        job: &JobSpec,
        cluster: &ClusterSpec,
        end_us: u64,
        checkpointing: bool,
        earlier: &[FaultSpec],
    ) -> Res<FaultSpec> {
        let r = f.get_ref();
        // The action keys that are set, in file order.
        let mut actions: Vec<(&str, Range<usize>)> = [
            ("kill-taskmanager", r.kill_taskmanager.as_ref().map(Spanned::span)),
            ("restart-taskmanager", r.restart_taskmanager.as_ref().map(Spanned::span)),
            ("fail-task", r.fail_task.as_ref().map(Spanned::span)),
            ("lose-taskmanager-host", r.lose_taskmanager_host.as_ref().map(Spanned::span)),
            ("freeze-taskmanager", r.freeze_taskmanager.as_ref().map(Spanned::span)),
            ("stop-taskmanager", r.stop_taskmanager.as_ref().map(Spanned::span)),
            ("partition", r.partition.as_ref().map(Spanned::span)),
            ("lose-messages", r.lose_messages.as_ref().map(Spanned::span)),
            ("delay-messages", r.delay_messages.as_ref().map(Spanned::span)),
            ("rolling-update", r.rolling_update.as_ref().map(Spanned::span)),
            ("kill-jobmanager", r.kill_jobmanager.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| Some((name, span?)))
        .collect();
        actions.sort_by_key(|(_, span)| span.start);
        let kind = match actions.as_slice() {
            [(kind, _)] => *kind,
            // An `at-phase` fault kills the TaskManager running the subtask unless told otherwise.
            [] if r.at_phase.is_some() => "kill-taskmanager",
            [] => return self.err_hint(f.span(), "a [[fault]] needs exactly one action", FAULT_ACTIONS),
            [(first, _), (second, span), ..] => {
                return self.err_hint(
                    span.clone(),
                    format!("a [[fault]] needs exactly one action; this one has `{first}` and `{second}`"),
                    FAULT_ACTIONS,
                );
            }
        };
        // Options that belong to some actions only.
        // (option, where it is set, the actions it belongs to)
        type Owned<'a> = (&'a str, Option<Range<usize>>, &'a [&'a str]);
        let options: [Owned; 8] = [
            ("duration", r.duration.as_ref().map(Spanned::span), &["freeze-taskmanager"]),
            ("one-way", r.one_way.as_ref().map(Spanned::span), &["partition"]),
            ("heal-at", r.heal_at.as_ref().map(Spanned::span), &["partition"]),
            ("from", r.from.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("to", r.to.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("probability", r.probability.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("until", r.until.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("delay", r.delay.as_ref().map(Spanned::span), &["delay-messages"]),
        ];
        for (option, span, owners) in options {
            if let Some(span) = span
                && !owners.contains(&kind)
            {
                return self
                    .err(span, format!("`{option}` is only for {} faults (this one is {kind})", owners.join(" and ")));
            }
        }
        if let Some(p) = &r.poison
            && r.at_record.is_none()
        {
            return self.err_hint(
                p.span(),
                "`poison` goes with `at-record`",
                "the n-th record becomes a poison record",
            );
        }
        for (key, span) in [
            ("subtask", r.subtask.as_ref().map(Spanned::span)),
            ("checkpoint", r.checkpoint.as_ref().map(Spanned::span)),
            ("after", r.after.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span
                && r.at_phase.is_none()
            {
                return self.err_hint(
                    span,
                    format!("`{key}` goes with `at-phase`"),
                    "at-phase = \"snapshot-taken\", subtask = \"count[0]\"",
                );
            }
        }
        if let Some(n) = &r.nth
            && r.at_late_delivery.is_none()
        {
            return self.err_hint(n.span(), "`nth` goes with `at-late-delivery`", "at-late-delivery = 1, nth = 2");
        }
        let trigger = match (&r.at, &r.at_record, &r.at_phase, &r.at_late_delivery) {
            (None, None, None, Some(of)) => self.at_late_delivery(of, r.nth.as_ref(), earlier)?,
            (Some(at), None, None, None) => {
                let at_us = self.duration(at, "at")?;
                if at_us >= end_us {
                    return self.err(at.span(), "the fault is after the end of the run (duration + drain)");
                }
                FaultTrigger::At { at_us }
            }
            (None, Some(n), None, None) => {
                if kind != "fail-task" {
                    return self.err_hint(
                        n.span(),
                        "`at-record` only works with `fail-task`",
                        "use `at` for every other fault",
                    );
                }
                if *n.get_ref() < 1 {
                    return self.err(n.span(), "`at-record` counts from 1");
                }
                FaultTrigger::AtRecord { n: *n.get_ref(), poison: r.poison.as_ref().is_some_and(|p| *p.get_ref()) }
            }
            (None, None, Some(p), None) => self.at_phase(f, p, job, end_us, checkpointing)?,
            _ => {
                return self.err_hint(
                    f.span(),
                    "a [[fault]] needs exactly one of `at`, `at-record`, `at-phase` and `at-late-delivery`",
                    "at = \"12s\", at-record = 500, at-phase = \"snapshot-taken\" or at-late-delivery = 1",
                );
            }
        };
        // Only `fail-task` may have an `at-record` trigger, and it has no times to check against `at`.
        let at_us = match trigger {
            FaultTrigger::At { at_us } => at_us,
            FaultTrigger::AtRecord { .. } | FaultTrigger::AtLateDelivery { .. } => 0,
            FaultTrigger::AtPhase { after_us, .. } => after_us,
        };
        let tm = |v: &Spanned<u64>| -> Res<u32> {
            if *v.get_ref() < u64::from(cluster.taskmanagers) {
                Ok(*v.get_ref() as u32)
            } else {
                self.err_hint(
                    v.span(),
                    format!("no TaskManager {} (the cluster has {})", v.get_ref(), cluster.taskmanagers),
                    "TaskManagers are numbered from 0",
                )
            }
        };
        // A point in time after `at` and before the end of the run.
        let after_at = |v: &Spanned<String>, what: &str| -> Res<u64> {
            let us = self.duration(v, what)?;
            if us <= at_us {
                return self.err(
                    v.span(),
                    format!(
                        "`{what}` ({}) must be after the fault's `at` ({})",
                        crate::sim::fmt_duration(us),
                        crate::sim::fmt_duration(at_us)
                    ),
                );
            }
            if us >= end_us {
                return self.err_hint(
                    v.span(),
                    format!("`{what}` is after the end of the run (duration + drain)"),
                    format!("leave `{what}` out: the fault then lasts to the end of the run"),
                );
            }
            Ok(us)
        };
        // A length of time, up to 24h; `min_us` is 0 or 1.
        let length = |v: &Spanned<String>, what: &str, min_us: u64| -> Res<u64> {
            let us = self.duration(v, what)?;
            if us < min_us {
                return self.err(v.span(), format!("`{what}` must be longer than 0"));
            }
            if us > DAY_US {
                return self.err(v.span(), format!("`{what}` must be at most 24h"));
            }
            Ok(us)
        };
        let needs = |option: Option<&Spanned<String>>, what: &str, example: &str| -> Res<Spanned<String>> {
            match option {
                Some(v) => Ok(v.clone()),
                None => self.err_hint(f.span(), format!("a `{kind}` fault needs a `{what}`"), example),
            }
        };
        let hosts = |list: &HostList, what: &str| -> Res<Vec<HostRef>> {
            if list.get_ref().is_empty() {
                return self.err_hint(
                    list.span(),
                    format!("`{what}` names no host"),
                    "name at least one host, or leave the list out",
                );
            }
            let mut out: Vec<HostRef> = Vec::new();
            for name in list.get_ref() {
                let host = self.host(name, cluster)?;
                if out.contains(&host) {
                    return self.err(name.span(), format!("`{what}` names {:?} twice", name.get_ref()));
                }
                out.push(host);
            }
            Ok(out)
        };
        let rule = |kind_name: &Spanned<String>| -> Res<MessageRule> {
            let Some(message_kind) = MessageKind::parse(kind_name.get_ref()) else {
                let list = MessageKind::NAMES.join(", ");
                // "acknowledge" for "acknowledge-checkpoint": a unique prefix is as good a guess.
                let word = kind_name.get_ref().as_str();
                let mut prefixed = MessageKind::NAMES.iter().filter(|n| !word.is_empty() && n.starts_with(word));
                let unique_prefix = match (prefixed.next(), prefixed.next()) {
                    (Some(n), None) => Some(*n),
                    _ => None,
                };
                let hint = match closest(word, &MessageKind::NAMES).or(unique_prefix) {
                    Some(c) => format!("did you mean \"{c}\"? message kinds: {list}"),
                    None => format!("message kinds: {list}"),
                };
                return self.err_hint(
                    kind_name.span(),
                    format!("unknown message kind {:?}", kind_name.get_ref()),
                    hint,
                );
            };
            let probability = match &r.probability {
                None => 1.0,
                Some(p) if *p.get_ref() > 0.0 && *p.get_ref() <= 1.0 => *p.get_ref(),
                Some(p) => {
                    return self.err_hint(
                        p.span(),
                        format!("`probability` = {} must be more than 0 and at most 1", p.get_ref()),
                        "1.0 (the default) hits every matching message",
                    );
                }
            };
            Ok(MessageRule {
                kind: message_kind,
                from: r.from.as_ref().map_or(Ok(Vec::new()), |l| hosts(l, "from"))?,
                to: r.to.as_ref().map_or(Ok(Vec::new()), |l| hosts(l, "to"))?,
                probability,
                until_us: r.until.as_ref().map(|u| after_at(u, "until")).transpose()?,
            })
        };
        let action = if let FaultTrigger::AtPhase { subtask, .. } = trigger
            && actions.is_empty()
        {
            FaultAction::KillTaskManagerOf(subtask)
        } else if let Some(v) = &r.kill_taskmanager {
            FaultAction::KillTaskManager(tm(v)?)
        } else if let Some(v) = &r.restart_taskmanager {
            FaultAction::RestartTaskManager(tm(v)?)
        } else if let Some(v) = &r.fail_task {
            FaultAction::FailTask(self.subtask_ref(v, job)?)
        } else if let Some(v) = &r.lose_taskmanager_host {
            FaultAction::LoseTaskManagerHost(tm(v)?)
        } else if let Some(v) = &r.freeze_taskmanager {
            let tm = tm(v)?;
            let d = needs(r.duration.as_ref(), "duration", "duration = \"70s\": how long the process stays stopped")?;
            FaultAction::FreezeTaskManager { tm, duration_us: length(&d, "duration", 1)? }
        } else if let Some(v) = &r.stop_taskmanager {
            FaultAction::StopTaskManager(tm(v)?)
        } else if let Some(p) = &r.partition {
            let [a, b] = p.get_ref().as_slice() else {
                return self.err_hint(
                    p.span(),
                    format!("`partition` takes two lists of hosts, not {}", p.get_ref().len()),
                    "partition = [[\"jobmanager\"], [\"tm-1\"]]",
                );
            };
            let (raw_b, a, b) = (b, hosts(a, "partition")?, hosts(b, "partition")?);
            if let Some(i) = b.iter().position(|h| a.contains(h)) {
                let name = &raw_b.get_ref()[i];
                return self.err(name.span(), format!("{:?} is on both sides of the partition", name.get_ref()));
            }
            FaultAction::Partition {
                a,
                b,
                one_way: r.one_way.as_ref().is_some_and(|w| *w.get_ref()),
                heal_at_us: r.heal_at.as_ref().map(|h| after_at(h, "heal-at")).transpose()?,
            }
        } else if let Some(v) = &r.lose_messages {
            FaultAction::LoseMessages(rule(v)?)
        } else if let Some(v) = &r.delay_messages {
            let rule = rule(v)?;
            let d = needs(r.delay.as_ref(), "delay", "delay = \"3s\": how much later matching messages arrive")?;
            FaultAction::DelayMessages { rule, delay_us: length(&d, "delay", 1)? }
        } else if let Some(v) = &r.rolling_update {
            FaultAction::RollingUpdate { interval_us: length(v, "rolling-update", 0)? }
        } else if let Some(v) = &r.kill_jobmanager {
            if !*v.get_ref() {
                return self.err_hint(
                    v.span(),
                    "`kill-jobmanager` takes `true`",
                    "leave the [[fault]] out to keep the JobManager running",
                );
            }
            FaultAction::KillJobManager
        } else {
            return self.err_hint(f.span(), "a [[fault]] needs exactly one action", FAULT_ACTIONS);
        };
        Ok(FaultSpec { trigger, action })
    }

    /// A host name as a fault names it: `jobmanager`, `tm-N`, `checkpoint-storage`, `sink-store`,
    /// `ha-store`.
    fn host(&self, s: &Spanned<String>, cluster: &ClusterSpec) -> Res<HostRef> {
        let name = s.get_ref().as_str();
        let n = cluster.taskmanagers;
        let tms = match n {
            1 => "tm-0".to_string(),
            2 => "tm-0, tm-1".to_string(),
            _ => format!("tm-0 … tm-{}", n - 1),
        };
        match HostRef::parse(name) {
            // Only the canonical spelling: `tm-01` and `tm-+1` are not host names.
            Some(h) if h.name() == name => match h {
                HostRef::TaskManager(i) if i >= n => self.err_hint(
                    s.span(),
                    format!("no TaskManager host {name:?} (the cluster has {n})"),
                    format!("TaskManagers are numbered from 0: {tms}"),
                ),
                _ => Ok(h),
            },
            _ => {
                let list = format!("jobmanager, {tms}, checkpoint-storage, sink-store, ha-store");
                let mut known: Vec<String> =
                    ["jobmanager", "checkpoint-storage", "sink-store", "ha-store"].map(String::from).to_vec();
                known.extend((0..n).map(|i| HostRef::TaskManager(i).name()));
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = match closest(name, &known) {
                    Some(c) => format!("did you mean \"{c}\"? hosts: {list}"),
                    None => format!("hosts: {list}"),
                };
                self.err_hint(s.span(), format!("unknown host {name:?}"), hint)
            }
        }
    }

    /// `at-late-delivery = N` (the N-th `[[fault]]` of the file, an earlier `delay-messages`,
    /// `lose-messages` or `partition`) with its `nth`.
    fn at_late_delivery(
        &self,
        of: &Spanned<u64>,
        nth: Option<&Spanned<u64>>,
        earlier: &[FaultSpec],
    ) -> Res<FaultTrigger> {
        let n = *of.get_ref();
        let hint =
            "faults are numbered from 1 in file order; name an earlier delay-messages, lose-messages or partition";
        let Some(f) = (n as usize).checked_sub(1).and_then(|i| earlier.get(i)) else {
            return self.err_hint(
                of.span(),
                format!("no earlier fault {n} (this is fault {})", earlier.len() + 1),
                hint,
            );
        };
        if !matches!(
            f.action,
            FaultAction::DelayMessages { .. } | FaultAction::LoseMessages(_) | FaultAction::Partition { .. }
        ) {
            return self.err_hint(of.span(), format!("fault {n} makes no message late"), hint);
        }
        let nth = match nth {
            Some(v) if *v.get_ref() < 1 => return self.err(v.span(), "`nth` counts from 1"),
            Some(v) if *v.get_ref() > 1_000_000 => return self.err(v.span(), "`nth` is at most 1000000"),
            Some(v) => *v.get_ref() as u32,
            None => 1,
        };
        Ok(FaultTrigger::AtLateDelivery { of: n as usize - 1, nth })
    }

    /// `restart-taskmanager = N` starts a TaskManager process that is not running; on one that is
    /// running it would do nothing, so that is refused here, where the fault times tell. With a
    /// rolling update (Kubernetes replaces pods on its own schedule) only the run can tell, and
    /// the timeline shows a warning instead.
    fn restarts_need_a_stopped_taskmanager(&self, raw: &[Spanned<RawFault>], faults: &[FaultSpec]) -> Res<()> {
        if faults.iter().any(|f| matches!(f.action, FaultAction::RollingUpdate { .. })) {
            return Ok(());
        }
        let time = |f: &FaultSpec| match f.trigger {
            FaultTrigger::At { at_us } => at_us,
            FaultTrigger::AtRecord { .. } | FaultTrigger::AtPhase { .. } | FaultTrigger::AtLateDelivery { .. } => {
                u64::MAX
            }
        };
        let mut order: Vec<usize> = (0..faults.len()).collect();
        order.sort_by_key(|&i| (time(&faults[i]), i));
        // Per TaskManager: the fault that last took it down, if it is down.
        let mut down: BTreeMap<u32, &'static str> = BTreeMap::new();
        for i in order {
            match faults[i].action {
                FaultAction::KillTaskManager(tm) => {
                    down.insert(tm, "kill-taskmanager");
                }
                FaultAction::StopTaskManager(tm) => {
                    down.insert(tm, "stop-taskmanager");
                }
                FaultAction::LoseTaskManagerHost(tm) => {
                    down.insert(tm, "lose-taskmanager-host");
                }
                FaultAction::RestartTaskManager(tm) => {
                    let span = raw[i].get_ref().restart_taskmanager.as_ref().map_or(raw[i].span(), |v| v.span());
                    match down.remove(&tm) {
                        Some("lose-taskmanager-host") => {
                            return self.err_hint(
                                span,
                                format!("restart-taskmanager = {tm}: tm-{tm}'s host is lost before it; nothing can start there"),
                                "a lost host stays lost; restart a TaskManager that was killed or stopped",
                            );
                        }
                        Some(_) => {}
                        None => {
                            return self.err_hint(
                                span,
                                format!("restart-taskmanager = {tm}: tm-{tm} is running at that time, so the restart would do nothing"),
                                format!("restart-taskmanager starts a stopped TaskManager: kill it first (a fault with an earlier `at` and kill-taskmanager = {tm}), or use kill-taskmanager"),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The `[expect]` table; `verdict` defaults to exactly_once and `job-status` to FINISHED, so
    /// a scenario without the table still fails when it loses records or does not finish.
    fn expect(&self, e: &RawExpect, table: Option<Range<usize>>, job: &JobSpec) -> Res<Expect> {
        let verdict = match &e.verdict {
            None => Verdict::ExactlyOnce,
            Some(v) => Verdict::parse(v.get_ref()).ok_or_else(|| {
                self.error_at(
                    v.span(),
                    "invalid `verdict`",
                    Some("exactly_once, at_least_once, at_most_once, violated, incomplete or unverified".into()),
                )
            })?,
        };
        let job_status = match &e.job_status {
            None => JobStatus::Finished,
            Some(v) => JobStatus::parse(v.get_ref()).ok_or_else(|| {
                self.error_at(v.span(), "invalid `job-status`", Some("RUNNING, FINISHED, FAILED, RESTARTING, …".into()))
            })?,
        };
        let restarted = match &e.restarted {
            None => None,
            Some(list) => {
                let mut all = Vec::new();
                for s in list.get_ref() {
                    all.extend(self.subtask_refs(s, job)?);
                }
                all.sort();
                all.dedup();
                Some(all)
            }
        };
        // The line each key is on, for annotations that point at the expectation that failed;
        // defaults point at the table (or the top of the file without one).
        let line = |span: Range<usize>| line_col(self.text, span.start).0;
        let table_line = table.map_or(1, |t| line(t).saturating_sub(1).max(1));
        let mut lines = std::collections::BTreeMap::new();
        for (key, span) in [
            ("verdict", e.verdict.as_ref().map(|v| v.span())),
            ("failovers", e.failovers.as_ref().map(|v| v.span())),
            ("job-status", e.job_status.as_ref().map(|v| v.span())),
            ("restarted", e.restarted.as_ref().map(|v| v.span())),
            ("lost", e.lost.as_ref().map(|v| v.span())),
            ("duplicated", e.duplicated.as_ref().map(|v| v.span())),
            ("min-completed-checkpoints", e.min_completed_checkpoints.as_ref().map(|v| v.span())),
        ] {
            lines.insert(key, span.map_or(table_line, line));
        }
        Ok(Expect {
            verdict,
            verdict_defaulted: e.verdict.is_none(),
            failovers: e.failovers.as_ref().map(|v| *v.get_ref()),
            job_status,
            job_status_defaulted: e.job_status.is_none(),
            restarted,
            lost: e.lost.as_ref().map(|v| *v.get_ref()),
            duplicated: e.duplicated.as_ref().map(|v| *v.get_ref()),
            min_completed_checkpoints: e.min_completed_checkpoints.as_ref().map(|v| *v.get_ref()),
            lines,
        })
    }
}

/// The actions of a `[[fault]]`, for the hint when it has none or several.
const FAULT_ACTIONS: &str = "one of kill-taskmanager = N, restart-taskmanager = N, fail-task = \"op[i]\", \
     lose-taskmanager-host = N, freeze-taskmanager = N (with duration = \"70s\"), stop-taskmanager = N, \
     partition = [[\"jobmanager\"], [\"tm-1\"]], lose-messages = \"<message kind>\", \
     delay-messages = \"<message kind>\" (with delay = \"3s\"), rolling-update = \"10s\", kill-jobmanager = true";

/// The Flink configuration keys a scenario may set.
pub const FLINK_KEYS: &[&str] = &[
    "execution.checkpointing.interval",
    "execution.checkpointing.mode",
    "execution.checkpointing.timeout",
    "execution.checkpointing.min-pause",
    "execution.checkpointing.num-retained",
    "execution.checkpointing.max-concurrent-checkpoints",
    "jobmanager.execution.failover-strategy",
    "restart-strategy.type",
    "restart-strategy.fixed-delay.attempts",
    "restart-strategy.fixed-delay.delay",
    "restart-strategy.exponential-delay.initial-backoff",
    "restart-strategy.exponential-delay.max-backoff",
    "restart-strategy.exponential-delay.backoff-multiplier",
    "restart-strategy.exponential-delay.reset-backoff-threshold",
    "restart-strategy.exponential-delay.jitter-factor",
    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    "heartbeat.interval",
    "heartbeat.timeout",
    "heartbeat.rpc-failure-threshold",
    "slot.request.timeout",
    "pekko.ask.timeout",
    "akka.ask.timeout",
    "taskmanager.slot.timeout",
    "resourcemanager.standalone.start-up-time",
    "execution.checkpointing.tolerable-failed-checkpoints",
    "high-availability.type",
    "high-availability",
    "high-availability.zookeeper.client.session-timeout",
    "high-availability.kubernetes.leader-election.lease-duration",
    "execution.state-recovery.from-local",
    "taskmanager.load-balance.mode",
    "pipeline.operator-chaining.enabled",
    "pipeline.max-parallelism",
    "parallelism.default",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    about: String,
    #[serde(default)]
    seed: u64,
    duration: Option<Spanned<String>>,
    drain: Option<Spanned<String>>,
    #[serde(default)]
    flink: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    cluster: Option<RawCluster>,
    job: Spanned<RawJob>,
    #[serde(default)]
    fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    bugs: RawBugs,
    expect: Option<Spanned<RawExpect>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCluster {
    taskmanagers: Option<Spanned<u64>>,
    slots_per_taskmanager: Option<Spanned<u64>>,
    resource_manager: Option<Spanned<String>>,
    taskmanager_start_delay: Option<Spanned<String>>,
    rpc_latency: Option<Spanned<String>>,
    network_latency: Option<Spanned<String>>,
    network_jitter: Option<Spanned<String>>,
    channel_capacity: Option<Spanned<u64>>,
    connection_reset: Option<Spanned<String>>,
    storage_bandwidth: Option<Spanned<String>>,
    storage_latency: Option<Spanned<String>>,
    local_bandwidth: Option<Spanned<String>>,
    deploy_time: Option<Spanned<String>>,
    jobmanager_restart_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawJob {
    operators: Vec<Spanned<RawOperator>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOperator {
    name: Spanned<String>,
    kind: Spanned<String>,
    parallelism: Option<Spanned<u64>>,
    input: Option<Spanned<String>>,
    edge: Option<Spanned<String>>,
    partitions: Option<Spanned<u64>>,
    rate: Option<Spanned<String>>,
    keys: Option<Spanned<u64>>,
    catch_up_rate: Option<Spanned<String>>,
    records: Option<Spanned<u64>>,
    multiply: Option<i64>,
    add: Option<i64>,
    modulo: Option<Spanned<i64>>,
    remainder: Option<Spanned<i64>>,
    semantic: Option<Spanned<String>>,
}

/// `["jobmanager", "tm-1"]` in a fault.
type HostList = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFault {
    at: Option<Spanned<String>>,
    at_record: Option<Spanned<u64>>,
    poison: Option<Spanned<bool>>,
    /// `at-phase`: the checkpoint-protocol phase of `subtask` that fires the fault, of
    /// `checkpoint` (if set), the first time at or after `after`.
    at_phase: Option<Spanned<String>>,
    subtask: Option<Spanned<String>>,
    checkpoint: Option<Spanned<u64>>,
    after: Option<Spanned<String>>,
    /// `at-late-delivery = N`: right after the `nth` (default 1) message the N-th fault of the
    /// file made late (delayed, held, resent) arrives.
    at_late_delivery: Option<Spanned<u64>>,
    nth: Option<Spanned<u64>>,
    kill_taskmanager: Option<Spanned<u64>>,
    restart_taskmanager: Option<Spanned<u64>>,
    fail_task: Option<Spanned<String>>,
    lose_taskmanager_host: Option<Spanned<u64>>,
    freeze_taskmanager: Option<Spanned<u64>>,
    stop_taskmanager: Option<Spanned<u64>>,
    partition: Option<Spanned<Vec<HostList>>>,
    lose_messages: Option<Spanned<String>>,
    delay_messages: Option<Spanned<String>>,
    rolling_update: Option<Spanned<String>>,
    kill_jobmanager: Option<Spanned<bool>>,
    /// `freeze-taskmanager`: how long the process stays stopped.
    duration: Option<Spanned<String>>,
    /// `partition`: cut only messages from the first set of hosts to the second.
    one_way: Option<Spanned<bool>>,
    /// `partition`: when it heals.
    heal_at: Option<Spanned<String>>,
    /// `lose-messages` / `delay-messages`: which messages, and until when.
    from: Option<HostList>,
    to: Option<HostList>,
    probability: Option<Spanned<f64>>,
    until: Option<Spanned<String>>,
    /// `delay-messages`: how much later.
    delay: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBugs {
    #[serde(default)]
    commit_on_snapshot: bool,
    #[serde(default)]
    no_source_rewind: bool,
    #[serde(default)]
    restore_empty_state: bool,
    #[serde(default)]
    skip_alignment: bool,
    #[serde(default)]
    no_fencing: bool,
    #[serde(default)]
    no_flush_on_pre_commit: bool,
    #[serde(default)]
    no_recommit: bool,
    #[serde(default)]
    no_abort_lingering: bool,
    #[serde(default)]
    timeout_keeps_attempts: bool,
    #[serde(default)]
    restore_oldest_checkpoint: bool,
    #[serde(default)]
    no_subsume_pending: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExpect {
    verdict: Option<Spanned<String>>,
    failovers: Option<Spanned<u32>>,
    job_status: Option<Spanned<String>>,
    restarted: Option<Spanned<Vec<Spanned<String>>>>,
    lost: Option<Spanned<u64>>,
    duplicated: Option<Spanned<u64>>,
    min_completed_checkpoints: Option<Spanned<u64>>,
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Flink writes "1 s", "10 min"; humantime wants "1s", "10min".
pub fn parse_duration_us(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut compact = String::with_capacity(s.len());
    let mut prev_digit = false;
    for c in s.chars() {
        if c == ' ' && prev_digit {
            continue;
        }
        prev_digit = c.is_ascii_digit() || c == '.';
        compact.push(c);
    }
    // Fractions ("12.99s") are not humantime's: handle a single decimal number + unit here.
    if let Some(pos) = compact.find(|c: char| c.is_ascii_alphabetic())
        && compact[..pos].contains('.')
    {
        let value: f64 = compact[..pos].parse().ok()?;
        let unit_us = match &compact[pos..] {
            "us" | "µs" => 1.0,
            "ms" => 1e3,
            "s" | "sec" => 1e6,
            "m" | "min" => 6e7,
            "h" => 3.6e9,
            _ => return None,
        };
        let us = value * unit_us;
        return (0.0..1e18).contains(&us).then_some(us.round() as u64);
    }
    let d = humantime::parse_duration(&compact).ok()?;
    u64::try_from(d.as_micros()).ok()
}

/// "100MB/s", "512KiB/s", "1GB/s" → bytes per second.
pub fn parse_bandwidth(s: &str) -> Option<u64> {
    let size: bytesize::ByteSize = s.trim().strip_suffix("/s")?.trim().parse().ok()?;
    (1..1_000_000_000_000_000).contains(&size.0).then_some(size.0)
}

/// The closest known name, for "did you mean" hints (Levenshtein distance ≤ a third).
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .min()
        .filter(|(d, _)| *d <= (word.chars().count() / 3).max(2))
        .map(|(_, k)| k)
}

/// A single host name where a fault wants a list of them: show the list form.
fn host_list_hint(text: &str, offset: usize, message: &str) -> Option<String> {
    if !message.ends_with("expected a sequence") {
        return None;
    }
    let offset = text.floor_char_boundary(offset.min(text.len()));
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let key = text[line_start..].split('=').next()?.trim();
    match key {
        "partition" => Some("partition takes two lists of hosts: partition = [[\"jobmanager\"], [\"tm-1\"]]".into()),
        "from" | "to" => Some(format!("`{key}` takes a list of hosts: {key} = [\"tm-1\"]")),
        _ => None,
    }
}

/// serde says "unknown field `x`, expected one of `a`, `b`": hint at the closest.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(field, &names).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "m"
duration = "2s"
[job]
operators = [
  { name = "src", kind = "source", parallelism = 2, rate = "100/s" },
  { name = "count", kind = "keyed-count", input = "src", parallelism = 2 },
  { name = "out", kind = "sink", input = "count", parallelism = 2 },
]
"#;

    #[test]
    fn defaults_are_flinks() {
        let sc = parse_str("m.toml", MINIMAL).expect("valid");
        let f = &sc.flink;
        assert_eq!(f.checkpoint_interval_us, None);
        assert_eq!(f.max_concurrent_checkpoints, 1);
        assert_eq!(f.restart_strategy, RestartStrategy::None, "no checkpointing: no restarts");
        assert_eq!(f.heartbeat_interval_us, 10_000_000);
        assert_eq!(f.heartbeat_timeout_us, 50_000_000);
        assert_eq!(f.heartbeat_rpc_failure_threshold, Some(2));
        assert_eq!(f.slot_request_timeout_us, 300_000_000);
        assert_eq!(f.failover_strategy, FailoverStrategy::Region);
        assert_eq!(f.checkpoints_retained, 1);
        assert!(sc.job.chaining);
        assert_eq!(sc.job.operators[1].input, Some((OperatorId(0), EdgeKind::Hash)));
        assert_eq!(sc.job.operators[2].input, Some((OperatorId(1), EdgeKind::Forward)));
        assert_eq!(sc.job.operators[2].kind, OperatorKind::Sink(SinkSemantic::TwoPhaseCommit));
        // StreamGraph: without a partitioner, unequal parallelisms get rebalance.
        let wider = MINIMAL.replace(
            "{ name = \"out\", kind = \"sink\", input = \"count\", parallelism = 2 }",
            "{ name = \"out\", kind = \"sink\", input = \"count\", parallelism = 3 }",
        );
        assert_ne!(wider, MINIMAL);
        let sc3 = parse_str("m.toml", &wider).expect("valid");
        assert_eq!(sc3.job.operators[2].input, Some((OperatorId(1), EdgeKind::Rebalance)));
        assert_eq!(sc.cluster.taskmanagers, 1);
        assert_eq!(sc.drain_us, 600_000_000);
        let with_cp = MINIMAL.replace("[job]", "[flink]\n\"execution.checkpointing.interval\" = \"1 s\"\n[job]");
        let sc = parse_str("m.toml", &with_cp).expect("valid");
        assert_eq!(sc.flink.checkpoint_interval_us, Some(1_000_000));
        assert!(matches!(
            sc.flink.restart_strategy,
            RestartStrategy::ExponentialDelay { initial_backoff_us: 1_000_000, max_backoff_us: 60_000_000, .. }
        ));
    }

    #[test]
    fn errors_point_at_the_offending_value() {
        let bad = MINIMAL.replace("parallelism = 2, rate", "parallelism = 2000, rate");
        let e = parse_str("m.toml", &bad).expect_err("parallelism too large");
        assert_eq!(e.position, Some((6, 50)));
        assert!(e.message.contains("parallelism"));
        let bad = MINIMAL.replace("input = \"count\"", "input = \"out\"");
        let e = parse_str("m.toml", &bad).expect_err("input is itself / later");
        assert_eq!(e.position.map(|p| p.0), Some(8));
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("declared before")), "{e}");
        let bad = format!("{MINIMAL}\n[[fault]]\nat = \"1s\"\nkill-taskmanager = 0\nfail-task = \"src[0]\"\n");
        let e = parse_str("m.toml", &bad).expect_err("two actions");
        assert!(e.message.contains("exactly one action"), "{e}");
        let bad = format!("{MINIMAL}\n[[fault]]\nat-record = 5\nkill-taskmanager = 0\n");
        let e = parse_str("m.toml", &bad).expect_err("at-record needs fail-task");
        assert!(e.message.contains("at-record"), "{e}");
    }

    /// MINIMAL with three TaskManagers and `extra` appended.
    fn three_tms(extra: &str) -> String {
        format!("{}\n[cluster]\ntaskmanagers = 3\n{extra}", MINIMAL.replace("[job]", "[flink]\n[job]"))
    }

    fn flink_with(keys: &str) -> Res<FlinkConfig> {
        parse_str("m.toml", &MINIMAL.replace("[job]", &format!("[flink]\n{keys}\n[job]"))).map(|sc| sc.flink)
    }

    /// 1-based line and column of the last `needle` in `part`, a part of `text`.
    fn position_of(text: &str, part: &str, needle: &str) -> (usize, usize) {
        let start = text.find(part).expect("part of the text");
        line_col(text, start + part.rfind(needle).unwrap_or_else(|| panic!("{needle:?} not in {part:?}")))
    }

    #[test]
    fn new_fault_kinds_parse_into_their_actions() {
        let text = three_tms(
            r#"
[[fault]]
at = "12s"
lose-taskmanager-host = 1

[[fault]]
at = "12s"
freeze-taskmanager = 2
duration = "70s"

[[fault]]
at = "10s"
partition = [["jobmanager", "ha-store"], ["tm-1", "checkpoint-storage", "sink-store"]]
one-way = true
heal-at = "40s"

[[fault]]
at = "10s"
partition = [["tm-0"], ["tm-2"]]

[[fault]]
at = "10s"
lose-messages = "acknowledge-checkpoint"
from = ["tm-1"]
to = ["jobmanager"]
probability = 0.5
until = "20s"

[[fault]]
at = "10s"
lose-messages = "heartbeat"

[[fault]]
at = "10s"
delay-messages = "notify-checkpoint-complete"
delay = "3s"
probability = 1

[[fault]]
at = "20s"
stop-taskmanager = 0

[[fault]]
at = "20s"
rolling-update = "10s"

[[fault]]
at = "20s"
kill-jobmanager = true

[[fault]]
at = "1s"
kill-taskmanager = 2

[[fault]]
at = "5s"
restart-taskmanager = 2
"#,
        );
        let sc = parse_str("m.toml", &text).expect("valid");
        let at = |s: u64| FaultTrigger::At { at_us: s * 1_000_000 };
        let rule = |kind, from, to, probability, until_us| MessageRule { kind, from, to, probability, until_us };
        let want = vec![
            (at(12), FaultAction::LoseTaskManagerHost(1)),
            (at(12), FaultAction::FreezeTaskManager { tm: 2, duration_us: 70_000_000 }),
            (
                at(10),
                FaultAction::Partition {
                    a: vec![HostRef::JobManager, HostRef::HaStore],
                    b: vec![HostRef::TaskManager(1), HostRef::CheckpointStorage, HostRef::SinkStore],
                    one_way: true,
                    heal_at_us: Some(40_000_000),
                },
            ),
            (
                at(10),
                FaultAction::Partition {
                    a: vec![HostRef::TaskManager(0)],
                    b: vec![HostRef::TaskManager(2)],
                    one_way: false,
                    heal_at_us: None,
                },
            ),
            (
                at(10),
                FaultAction::LoseMessages(rule(
                    MessageKind::AcknowledgeCheckpoint,
                    vec![HostRef::TaskManager(1)],
                    vec![HostRef::JobManager],
                    0.5,
                    Some(20_000_000),
                )),
            ),
            (at(10), FaultAction::LoseMessages(rule(MessageKind::Heartbeat, vec![], vec![], 1.0, None))),
            (
                at(10),
                FaultAction::DelayMessages {
                    rule: rule(MessageKind::NotifyCheckpointComplete, vec![], vec![], 1.0, None),
                    delay_us: 3_000_000,
                },
            ),
            (at(20), FaultAction::StopTaskManager(0)),
            (at(20), FaultAction::RollingUpdate { interval_us: 10_000_000 }),
            (at(20), FaultAction::KillJobManager),
            (at(1), FaultAction::KillTaskManager(2)),
            (at(5), FaultAction::RestartTaskManager(2)),
        ];
        let got: Vec<_> = sc.faults.iter().map(|f| (f.trigger, f.action.clone())).collect();
        assert_eq!(got, want);
        // Every message kind name parses.
        for name in MessageKind::NAMES {
            let text = three_tms(&format!("[[fault]]\nat = \"1s\"\nlose-messages = \"{name}\"\n"));
            let sc = parse_str("m.toml", &text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(matches!(&sc.faults[0].action, FaultAction::LoseMessages(r) if r.kind.name() == name));
        }
        // fail-task with at-record still works.
        let text = three_tms("[[fault]]\nat-record = 10\npoison = true\nfail-task = \"count[1]\"\n");
        let sc = parse_str("m.toml", &text).expect("valid");
        assert_eq!(sc.faults[0].trigger, FaultTrigger::AtRecord { n: 10, poison: true });
    }

    #[test]
    fn new_flink_keys_and_their_defaults() {
        let f = flink_with("").expect("valid");
        assert_eq!(f.ask_timeout_us, 10_000_000);
        assert_eq!(f.slot_timeout_us, 10_000_000);
        assert_eq!(f.standalone_start_up_us, 300_000_000);
        assert_eq!(f.tolerable_failed_checkpoints, 0);
        assert_eq!(f.ha, HaKind::None);
        assert_eq!(f.zk_session_timeout_us, 60_000_000);
        assert_eq!(f.k8s_lease_duration_us, 15_000_000);
        assert_eq!(f.leader_election_us(), None);
        let sc = parse_str("m.toml", MINIMAL).expect("valid");
        assert_eq!(sc.cluster.jobmanager_restart_delay_us, 5_000_000);

        let f = flink_with(
            r#""pekko.ask.timeout" = "30 s"
"taskmanager.slot.timeout" = "45s"
"resourcemanager.standalone.start-up-time" = 20000
"execution.checkpointing.tolerable-failed-checkpoints" = 3
"high-availability.type" = "zookeeper"
"high-availability.zookeeper.client.session-timeout" = "40s"
"high-availability.kubernetes.leader-election.lease-duration" = "20s""#,
        )
        .expect("valid");
        assert_eq!(f.ask_timeout_us, 30_000_000);
        assert_eq!(f.slot_timeout_us, 45_000_000);
        assert_eq!(f.standalone_start_up_us, 20_000_000, "a bare number is milliseconds");
        assert_eq!(f.tolerable_failed_checkpoints, 3);
        assert_eq!(f.ha, HaKind::Zookeeper);
        assert_eq!(f.zk_session_timeout_us, 40_000_000);
        assert_eq!(f.k8s_lease_duration_us, 20_000_000);
        assert_eq!(f.leader_election_us(), Some(40_000_000));

        // Fallbacks: slot timeout → pekko.ask.timeout, start-up time → slot.request.timeout.
        let f = flink_with("\"pekko.ask.timeout\" = \"25s\"\n\"slot.request.timeout\" = \"2min\"").expect("valid");
        assert_eq!((f.ask_timeout_us, f.slot_timeout_us), (25_000_000, 25_000_000));
        assert_eq!((f.slot_request_timeout_us, f.standalone_start_up_us), (120_000_000, 120_000_000));
        for minus_one in ["-1", "\"-1\""] {
            let keys = format!(
                "\"resourcemanager.standalone.start-up-time\" = {minus_one}\n\"slot.request.timeout\" = \"1min\""
            );
            let f = flink_with(&keys).expect("-1 is Flink's default");
            assert_eq!(f.standalone_start_up_us, 60_000_000);
        }
        // The deprecated alias sets the ask timeout; like Flink, the slot timeout falls back to the
        // key `pekko.ask.timeout` only.
        let f = flink_with("\"akka.ask.timeout\" = \"25s\"").expect("valid");
        assert_eq!((f.ask_timeout_us, f.slot_timeout_us), (25_000_000, 10_000_000));

        // HA kinds, case-insensitive, under the current and the older key.
        for (keys, want) in [
            ("\"high-availability.type\" = \"NONE\"", HaKind::None),
            ("\"high-availability.type\" = \"KUBERNETES\"", HaKind::Kubernetes),
            ("\"high-availability\" = \"ZooKeeper\"", HaKind::Zookeeper),
            ("\"high-availability\" = \"kubernetes\"", HaKind::Kubernetes),
        ] {
            assert_eq!(flink_with(keys).expect(keys).ha, want, "{keys}");
        }
        let f = flink_with("\"high-availability.type\" = \"KUBERNETES\"").expect("valid");
        assert_eq!(f.leader_election_us(), Some(15_000_000));

        let sc =
            parse_str("m.toml", &format!("{MINIMAL}\n[cluster]\njobmanager-restart-delay = \"30s\"\n")).expect("valid");
        assert_eq!(sc.cluster.jobmanager_restart_delay_us, 30_000_000);
    }

    #[test]
    fn bad_new_flink_keys_point_at_the_value() {
        let cases: &[(&str, &str, &str)] = &[
            ("\"taskmanager.slot.timeout\" = \"0s\"", "\"0s\"", "at least 1ms"),
            ("\"pekko.ask.timeout\" = 0", "0", "at least 1ms"),
            ("\"high-availability.type\" = \"etcd\"", "\"etcd\"", "invalid value for \"high-availability.type\""),
            ("\"execution.checkpointing.tolerable-failed-checkpoints\" = -1", "-1", "out of range"),
            (
                "\"pekko.ask.timeout\" = \"10s\"\n\"akka.ask.timeout\" = \"20s\"",
                "\"20s\"",
                "deprecated name of \"pekko.ask.timeout\"",
            ),
            (
                "\"high-availability\" = \"NONE\"\n\"high-availability.type\" = \"ZOOKEEPER\"",
                "\"NONE\"",
                "deprecated name of \"high-availability.type\"",
            ),
            ("\"high-availability.zookeeper.client.session-timeout\" = \"soon\"", "\"soon\"", "invalid duration"),
        ];
        for (keys, at, message) in cases {
            let text = MINIMAL.replace("[job]", &format!("[flink]\n{keys}\n[job]"));
            let e = parse_str("m.toml", &text).expect_err(keys);
            assert!(e.message.contains(message), "{keys}: {e}");
            assert_eq!(e.position, Some(position_of(&text, keys, at)), "{keys}: {e}");
        }
        let e = flink_with("\"high-availability.typ\" = \"NONE\"").expect_err("unknown key");
        assert_eq!(e.hint.as_deref(), Some("did you mean \"high-availability.type\"?"));
        let e = flink_with("\"pekko.ask.timout\" = \"1s\"").expect_err("unknown key");
        assert_eq!(e.hint.as_deref(), Some("did you mean \"pekko.ask.timeout\"?"));
        let text = format!("{MINIMAL}\n[cluster]\njobmanager-restart-delay = \"2 days\"\n");
        let e = parse_str("m.toml", &text).expect_err("too long");
        assert!(e.message.contains("jobmanager-restart-delay"), "{e}");
    }

    #[test]
    fn bad_faults_point_at_the_offending_value() {
        // (the [[fault]] body, where the error points, what the message says, what the hint says)
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "at = \"10s\"\npartition = [[\"jobmanagr\"], [\"tm-1\"]]",
                "\"jobmanagr\"",
                "unknown host \"jobmanagr\"",
                "did you mean \"jobmanager\"? hosts: jobmanager, tm-0 … tm-2, checkpoint-storage, sink-store, ha-store",
            ),
            (
                "at = \"10s\"\nlose-messages = \"any\"\nfrom = [\"tm-3\"]",
                "\"tm-3\"",
                "no TaskManager host \"tm-3\"",
                "tm-0 … tm-2",
            ),
            (
                "at = \"10s\"\nlose-messages = \"any\"\nto = [\"tm-01\"]",
                "\"tm-01\"",
                "unknown host",
                "did you mean \"tm-0\"?",
            ),
            (
                "at = \"10s\"\nfreeze-taskmanager = 3\nduration = \"1s\"",
                "3",
                "no TaskManager 3 (the cluster has 3)",
                "",
            ),
            ("at = \"10s\"\nstop-taskmanager = 7", "7", "no TaskManager 7", ""),
            ("at = \"10s\"\nlose-taskmanager-host = 3", "3", "no TaskManager 3", ""),
            (
                "at = \"10s\"\nfreeze-taskmanager = 1",
                "[[fault]]",
                "a `freeze-taskmanager` fault needs a `duration`",
                "70s",
            ),
            (
                "at = \"10s\"\nfreeze-taskmanager = 1\nduration = \"0s\"",
                "\"0s\"",
                "`duration` must be longer than 0",
                "",
            ),
            ("at = \"10s\"\ndelay-messages = \"data\"", "[[fault]]", "a `delay-messages` fault needs a `delay`", ""),
            (
                "at = \"10s\"\nlose-messages = \"data\"\ndelay = \"1s\"",
                "\"1s\"",
                "`delay` is only for delay-messages faults (this one is lose-messages)",
                "",
            ),
            (
                "at = \"10s\"\nkill-taskmanager = 1\nduration = \"1s\"",
                "\"1s\"",
                "`duration` is only for freeze-taskmanager faults",
                "",
            ),
            (
                "at = \"10s\"\nstop-taskmanager = 1\nfrom = [\"jobmanager\"]",
                "[\"jobmanager\"]",
                "`from` is only for lose-messages and delay-messages faults (this one is stop-taskmanager)",
                "",
            ),
            (
                "at = \"10s\"\nlose-messages = \"data\"\none-way = true",
                "true",
                "`one-way` is only for partition faults",
                "",
            ),
            (
                "at = \"10s\"\npartition = [[\"tm-0\"], [\"tm-1\"]]\nheal-at = \"5s\"",
                "\"5s\"",
                "`heal-at` (5s) must be after the fault's `at` (10s)",
                "",
            ),
            (
                "at = \"10s\"\npartition = [[\"tm-0\"], [\"tm-1\"]]\nheal-at = \"10s\"",
                "\"10s\"",
                "must be after the fault's `at`",
                "",
            ),
            (
                "at = \"10s\"\nlose-messages = \"data\"\nuntil = \"1h\"",
                "\"1h\"",
                "`until` is after the end of the run (duration + drain)",
                "leave `until` out",
            ),
            (
                "at = \"10s\"\nlose-messages = \"data\"\nprobability = 0",
                "0",
                "`probability` = 0 must be more than 0",
                "",
            ),
            ("at = \"10s\"\nlose-messages = \"data\"\nprobability = 1.5", "1.5", "`probability` = 1.5", ""),
            ("at = \"10s\"\nlose-messages = \"data\"\nprobability = nan", "nan", "`probability` = NaN", ""),
            (
                "at = \"10s\"\nlose-messages = \"ack\"",
                "\"ack\"",
                "unknown message kind \"ack\"",
                "message kinds: any, heartbeat, submit-task",
            ),
            (
                "at = \"10s\"\ndelay-messages = \"heartbeats\"\ndelay = \"1s\"",
                "\"heartbeats\"",
                "unknown message kind",
                "did you mean \"heartbeat\"?",
            ),
            (
                "at = \"10s\"\npartition = [[\"tm-0\"]]",
                "[[\"tm-0\"]]",
                "`partition` takes two lists of hosts, not 1",
                "",
            ),
            ("at = \"10s\"\npartition = [[\"tm-0\"], []]", "[]", "`partition` names no host", ""),
            (
                "at = \"10s\"\npartition = [[\"tm-0\", \"tm-1\"], [\"tm-2\", \"tm-1\"]]",
                "\"tm-1\"]]",
                "\"tm-1\" is on both sides of the partition",
                "",
            ),
            (
                "at = \"10s\"\nlose-messages = \"any\"\nto = [\"tm-0\", \"tm-0\"]",
                "\"tm-0\"]",
                "`to` names \"tm-0\" twice",
                "",
            ),
            ("at = \"10s\"\nlose-messages = \"any\"\nfrom = []", "[]", "`from` names no host", ""),
            ("at-record = 3\nkill-jobmanager = true", "3", "`at-record` only works with `fail-task`", ""),
            ("at = \"10s\"\nkill-jobmanager = false", "false", "`kill-jobmanager` takes `true`", ""),
            ("at = \"10s\"\nrolling-update = \"2 days\"", "\"2 days\"", "`rolling-update` must be at most 24h", ""),
            (
                "at = \"10s\"\nstop-taskmanager = 1\nkill-jobmanager = true",
                "true",
                "a [[fault]] needs exactly one action; this one has `stop-taskmanager` and `kill-jobmanager`",
                "rolling-update = \"10s\", kill-jobmanager = true",
            ),
            ("at = \"10s\"", "[[fault]]", "a [[fault]] needs exactly one action", "lose-taskmanager-host = N"),
            ("at = \"1h\"\nkill-jobmanager = true", "\"1h\"", "the fault is after the end of the run", ""),
        ];
        let text = three_tms("[[fault]]\nat = \"1s\"\npartition = [\"jobmanager\", \"tm-1\"]\n");
        let e = parse_str("m.toml", &text).expect_err("not lists");
        assert_eq!(e.position, Some(position_of(&text, "partition = [\"jobmanager\"", "\"jobmanager\"")), "{e}");
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("[[\"jobmanager\"], [\"tm-1\"]]")), "{e}");
        let text = three_tms("[[fault]]\nat = \"1s\"\nlose-messages = \"any\"\nto = \"tm-1\"\n");
        let e = parse_str("m.toml", &text).expect_err("not a list");
        assert_eq!(e.hint.as_deref(), Some("`to` takes a list of hosts: to = [\"tm-1\"]"), "{e}");
        for (body, at, message, hint) in cases {
            let text = three_tms(&format!("[[fault]]\n{body}\n"));
            let e = parse_str("m.toml", &text).expect_err(body);
            assert!(e.message.contains(message), "{body}:\n{e}");
            assert!(e.hint.as_deref().unwrap_or("").contains(hint), "{body}:\n{e}");
            assert_eq!(e.position, Some(position_of(&text, &format!("[[fault]]\n{body}"), at)), "{body}:\n{e}");
        }
    }

    #[test]
    fn durations_in_flink_and_humantime_forms() {
        assert_eq!(parse_duration_us("250ms"), Some(250_000));
        assert_eq!(parse_duration_us("1 s"), Some(1_000_000));
        assert_eq!(parse_duration_us("10 min"), Some(600_000_000));
        assert_eq!(parse_duration_us("12.99s"), Some(12_990_000));
        assert_eq!(parse_duration_us("1h"), Some(3_600_000_000));
        assert_eq!(parse_duration_us("5 parsecs"), None);
        assert_eq!(parse_duration_us(""), None);
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("100MB/s"), Some(100_000_000));
        assert_eq!(parse_bandwidth("1 KiB/s"), Some(1024));
        assert_eq!(parse_bandwidth("100MB"), None);
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn closest_name() {
        assert_eq!(closest("heartbeat.timout", FLINK_KEYS), Some("heartbeat.timeout"));
        assert_eq!(closest("zzz", FLINK_KEYS), None);
    }
}
