//! Users' own regression snapshots: a scenario's report pinned in a file of insta's `.snap`
//! format, so `cargo insta review` can show and accept a change (`check --snapshots DIR`).
//! This is I/O at the edge of the program, never part of a simulation.

use std::path::{Path, PathBuf};

/// What `pin` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pinned {
    /// The snapshot existed and holds the same report.
    Same,
    /// There was no snapshot: it is written now.
    Written,
    /// The report changed: the new one is written next to the old as `NAME.snap.new`.
    Differs { new_file: PathBuf, first_difference: String },
}

/// The text of a `.snap` file: insta's metadata header, then the report.
pub fn snap_file_text(scenario: &Path, report: &str) -> String {
    // A JSON string is a valid YAML scalar, whatever the path holds.
    let expression = serde_json::Value::String(scenario.display().to_string());
    format!("---\nsource: recoverysim check\nexpression: {expression}\n---\n{}\n", report.trim_end())
}

/// The report part of a `.snap` file (everything after the second `---` line).
fn report_of(snap: &str) -> Option<&str> {
    let rest = snap.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(&rest[end + 5..])
}

/// Pins `report` of `scenario` in `dir/NAME.snap` (NAME: the scenario file's stem).
pub fn pin(dir: &Path, scenario: &Path, report: &str) -> Result<Pinned, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stem = scenario.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
    let file = dir.join(format!("{stem}.snap"));
    let new_file = dir.join(format!("{stem}.snap.new"));
    let text = snap_file_text(scenario, report);
    let write = |path: &Path| std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()));
    let old = match std::fs::read_to_string(&file) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write(&file)?;
            return Ok(Pinned::Written);
        }
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let (old_report, new_report) = (report_of(&old).unwrap_or(&old).trim_end(), report.trim_end());
    if old_report == new_report {
        // A stale pending file from an earlier difference no longer applies.
        let _ = std::fs::remove_file(&new_file);
        return Ok(Pinned::Same);
    }
    write(&new_file)?;
    let (a, b): (Vec<&str>, Vec<&str>) = (old_report.lines().collect(), new_report.lines().collect());
    let line = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let first_difference = format!(
        "first difference at line {}: was {:?}, now {:?}",
        line + 1,
        a.get(line).map_or("(end)", |l| l.trim()),
        b.get(line).map_or("(end)", |l| l.trim())
    );
    Ok(Pinned::Differs { new_file, first_difference })
}
