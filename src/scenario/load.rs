//! Scenario files: TOML in, a validated `Scenario` out. Every error carries file:line:column and,
//! where one helps, a hint. Unknown keys are errors everywhere. Sizes are checked against limits
//! before anything is allocated for them.
//!
//! This file: bytes → text → TOML (`read_text`, `decode`, `parse_str`), the error and its
//! rendering, the size limits, the scenario's top-level keys, and the helpers every table uses.
//! `schema.rs` holds the file as TOML has it (one serde struct per table); one file per table
//! interprets it: `flink.rs`, `cluster.rs`, `job.rs`, `faults.rs` (with `phase.rs` for `at-phase`),
//! `expect.rs`.

use super::model::Scenario;
use crate::cluster::bugs::PlantedBugs;
use schema::{RawExpect, RawScenario};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

mod cluster;
mod expect;
mod faults;
mod flink;
mod job;
mod phase;
mod schema;
#[cfg(test)]
mod tests;

pub use flink::{FLINK_KEYS, KeyClass, NOT_MODELLED, canonical_key, classify_key, not_modelled_effect};

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
            drop_channel_state: b.drop_channel_state,
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
            flink_conf: None,
            flink_plan: None,
        })
    }
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
