//! Users' own regression snapshots: a scenario's report pinned in a file of insta's `.snap`
//! format, so `cargo insta review` can show and accept a change (`check --snapshots DIR`), or
//! `check --snapshots DIR --accept` without cargo-insta.
//! This is I/O at the edge of the program, never part of a simulation; files are written through
//! `cli::files` (atomically, never over a scenario of the check).

use crate::cli::files::{self, FileError, Inputs};
use std::path::{Component, Path, PathBuf};

/// What `pin` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pinned {
    /// The snapshot existed and holds the same report.
    Same,
    /// There was no snapshot: it is written now.
    Written,
    /// The report changed: the new one is written next to the old as `NAME.snap.new`.
    Differs { new_file: PathBuf, first_difference: String },
    /// The report changed and `accept` was asked: the new one replaced the old (and a pending
    /// `NAME.snap.new` is gone).
    Accepted { first_difference: String },
}

/// The text of a `.snap` file: insta's metadata header, then the report.
pub fn snap_file_text(scenario: &Path, report: &str) -> String {
    // A JSON string is a valid YAML scalar, whatever the path holds.
    let expression = serde_json::Value::String(scenario.display().to_string());
    format!("---\nsource: recoverysim check\nexpression: {expression}\n---\n{}\n", report.trim_end())
}

/// The report part of a `.snap` file (everything after the second `---` line), and the number
/// of lines before it (the header), so a line of the report can be named as in the file.
fn report_of(snap: &str) -> Option<(&str, usize)> {
    let rest = snap.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    let header = &snap[..4 + end + 5];
    Some((&rest[end + 5..], header.lines().count()))
}

/// Where `pin` keeps the snapshot of `scenario`, relative to the snapshot folder `dir`: the
/// scenario's path relative to the folder that holds `dir` (so it does not depend on the current
/// directory or on how the path is spelled), `.toml` replaced by `.snap`. Two scenario files never
/// share one: the path is kept as a tree, a scenario outside that folder goes under `@root/` with
/// its absolute path, a file not named `*.toml` is `@=NAME.snap`, and a real name that starts
/// with `@` gets one more (`@x` → `@@x`), so no real name can be taken for a marker.
pub fn snapshot_name(dir: &Path, scenario: &Path) -> Result<PathBuf, FileError> {
    let io = |path: &Path, source| FileError::Io { path: path.to_path_buf(), action: "resolve", source };
    let dir = std::fs::canonicalize(dir).map_err(|e| io(dir, e))?;
    let base = dir.parent().unwrap_or(&dir);
    // The folder canonical, the file's own name kept (a symbolic link gets its own snapshot).
    let parent = scenario.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = std::fs::canonicalize(parent).map_err(|e| io(parent, e))?;
    let name = scenario.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "scenario".into());
    let escape = |c: &str| if c.starts_with('@') { format!("@{c}") } else { c.to_string() };
    let mut out = PathBuf::new();
    let relative = match folder.strip_prefix(base) {
        Ok(r) => r,
        Err(_) => {
            out.push("@root");
            &folder
        }
    };
    for c in relative.components() {
        match c {
            Component::Normal(c) => out.push(escape(&c.to_string_lossy())),
            Component::ParentDir => out.push("@up"),
            Component::Prefix(p) => {
                out.push(format!("@{}", p.as_os_str().to_string_lossy().replace(|c: char| !c.is_alphanumeric(), "")))
            }
            Component::RootDir | Component::CurDir => {}
        }
    }
    match name.strip_suffix(".toml") {
        Some(stem) if !stem.is_empty() => out.push(format!("{}.snap", escape(stem))),
        _ => out.push(format!("@={name}.snap")),
    }
    Ok(out)
}

/// The scenario a `.snap` file was written for: its `expression` header.
fn expression_of(snap: &str) -> Option<String> {
    let rest = snap.strip_prefix("---\n")?;
    let header = &rest[..rest.find("\n---\n")?];
    let line = header.lines().find_map(|l| l.strip_prefix("expression: "))?;
    serde_json::from_str(line).ok()
}

/// Before snapshots were named by their scenario's path, `DIR/STEM.snap`: moved to its new name
/// when it was written for this very scenario (its `expression` header names it); its pending
/// `.snap.new` goes (the comparison that follows writes a new one if still needed).
fn migrate(dir: &Path, scenario: &Path, file: &Path) -> Result<Option<PathBuf>, FileError> {
    let Some(stem) = scenario.file_stem().and_then(|s| s.to_str()) else { return Ok(None) };
    let legacy = dir.join(format!("{stem}.snap"));
    if file.exists() || !legacy.is_file() || std::fs::canonicalize(&legacy).ok() == std::fs::canonicalize(file).ok() {
        return Ok(None);
    }
    let Some(expression) = std::fs::read_to_string(&legacy).ok().as_deref().and_then(expression_of) else {
        return Ok(None);
    };
    if Inputs::of([Path::new(&expression)]).same_as(scenario).is_none() {
        return Ok(None);
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|source| FileError::Io {
            path: parent.to_path_buf(),
            action: "create",
            source,
        })?;
    }
    std::fs::rename(&legacy, file).map_err(|source| FileError::Io { path: legacy.clone(), action: "move", source })?;
    let _ = std::fs::remove_file(dir.join(format!("{stem}.snap.new")));
    Ok(Some(legacy))
}

/// What `pin` did: the outcome, the snapshot file, and the old-style file it was moved from.
#[derive(Debug)]
pub struct Pinning {
    pub outcome: Pinned,
    pub file: PathBuf,
    pub moved_from: Option<PathBuf>,
}

/// Pins `report` of `scenario` in `dir` under `snapshot_name`. Files are written atomically and
/// never over one of `inputs` (the scenario files of the check). With `accept`, a report that
/// differs replaces the snapshot (as `cargo insta accept` would the pending `.snap.new`).
pub fn pin(dir: &Path, scenario: &Path, report: &str, inputs: &Inputs, accept: bool) -> Result<Pinning, FileError> {
    std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
        path: dir.to_path_buf(),
        action: "create",
        source,
    })?;
    let file = dir.join(snapshot_name(dir, scenario)?);
    let mut new_name = file.clone().into_os_string();
    new_name.push(".new");
    let new_file = PathBuf::from(new_name);
    let moved_from = migrate(dir, scenario, &file)?;
    let text = snap_file_text(scenario, report);
    let write = |path: &Path| files::write_atomic(path, text.as_bytes(), inputs, true);
    let done = |outcome| Ok(Pinning { outcome, file: file.clone(), moved_from: moved_from.clone() });
    let old = match files::read_input(&file) {
        Ok(old) => old,
        Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            write(&file)?;
            return done(Pinned::Written);
        }
        Err(e) => return Err(e),
    };
    let (old_report, header_lines) = report_of(&old).unwrap_or((&old, 0));
    let (old_report, new_report) = (old_report.trim_end(), report.trim_end());
    if old_report == new_report {
        // A stale pending file from an earlier difference no longer applies.
        let _ = std::fs::remove_file(&new_file);
        return done(Pinned::Same);
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (old_report.lines().collect(), new_report.lines().collect());
    let line = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    // Numbered as in the `.snap` file, its header included (what an editor shows).
    let first_difference = format!(
        "first difference at line {} of {}: was {:?}, now {:?}",
        header_lines + line + 1,
        file.display(),
        a.get(line).map_or("(end)", |l| l.trim()),
        b.get(line).map_or("(end)", |l| l.trim())
    );
    if accept {
        write(&file)?;
        let _ = std::fs::remove_file(&new_file);
        return done(Pinned::Accepted { first_difference });
    }
    write(&new_file)?;
    done(Pinned::Differs { new_file, first_difference })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_starts_after_the_header_and_its_lines_are_counted_as_in_the_file() {
        let text = snap_file_text(Path::new("a/job.toml"), "line one\nline two\n");
        let (report, header) = report_of(&text).expect("a snap file");
        assert_eq!(report.trim_end(), "line one\nline two");
        assert_eq!(text.lines().nth(header), Some("line one"), "{text}");
        // insta adds metadata lines when it writes a file itself: still counted.
        let reviewed = text.replacen("source:", "assertion_line: 7\nsource:", 1);
        let (_, header) = report_of(&reviewed).expect("a snap file");
        assert_eq!(reviewed.lines().nth(header), Some("line one"), "{reviewed}");
    }
}
