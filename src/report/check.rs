//! `recoverysim check`'s reports of scenario files checked: a line per file for people, and for
//! tools one JSON object (`recoverysim-check/1`), JUnit XML, or GitHub Actions workflow commands.

use std::path::{Path, PathBuf};

/// What `check` found for one scenario file.
pub enum Checked {
    Ok { verdict: &'static str, failovers: usize, events: u64 },
    Fail { mismatches: Vec<crate::run::Mismatch>, lines: std::collections::BTreeMap<&'static str, usize> },
    Error(crate::scenario::ScenarioError),
}

/// The line (or lines) `check` prints for a file as it goes.
pub fn human_line(f: &Path, c: &Checked) -> String {
    match c {
        Checked::Ok { verdict, failovers, events } => format!(
            "ok    {}  ({verdict}, {failovers} failover{}, {events} events)\n",
            f.display(),
            if *failovers == 1 { "" } else { "s" },
        ),
        Checked::Fail { mismatches, .. } => {
            let mut s = format!("FAIL  {}\n", f.display());
            for m in mismatches {
                s.push_str(&format!("      {m}\n"));
            }
            s
        }
        Checked::Error(e) => format!("ERROR {}\n{e}\n", f.display()),
    }
}

/// `check --format json`.
pub fn json(results: &[(PathBuf, Checked)]) -> String {
    let items: Vec<serde_json::Value> = results
        .iter()
        .map(|(f, c)| match c {
            Checked::Ok { verdict, failovers, events } => serde_json::json!({
                "file": f.display().to_string(), "status": "ok", "verdict": verdict,
                "failovers": failovers, "events": events,
            }),
            Checked::Fail { mismatches, lines } => serde_json::json!({
                "file": f.display().to_string(), "status": "fail",
                "mismatches": mismatches.iter().map(|m| serde_json::json!({
                    "key": m.key, "line": lines.get(m.key), "message": m.message,
                })).collect::<Vec<_>>(),
            }),
            Checked::Error(e) => serde_json::json!({
                "file": f.display().to_string(), "status": "error", "line": e.position.map(|p| p.0),
                "column": e.position.map(|p| p.1), "message": e.message, "hint": e.hint,
            }),
        })
        .collect();
    let count = |s: &str| items.iter().filter(|i| i["status"] == s).count();
    serde_json::json!({
        "schema": "recoverysim-check/1",
        "passed": count("ok"),
        "failed": count("fail"),
        "errors": count("error"),
        "scenarios": items,
    })
    .to_string()
}

/// JUnit XML as Jenkins, GitLab and most CI servers read it (Jenkins' junit-10.xsd): one test
/// suite, one test case per scenario file; a mismatch is a failure, a file that does not load
/// an error. `times`: each file's wall time in seconds (`time`, the suite's their sum).
pub fn junit(results: &[(PathBuf, Checked)], times: &[f64]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
    };
    let failed = results.iter().filter(|(_, c)| matches!(c, Checked::Fail { .. })).count();
    let bad = results.iter().filter(|(_, c)| matches!(c, Checked::Error(_))).count();
    // Seconds with three decimals: junit-10.xsd's SUREFIRE_TIME.
    let secs = |t: f64| format!("{t:.3}");
    let total: f64 = times.iter().sum();
    let counts = format!("tests=\"{}\" failures=\"{failed}\" errors=\"{bad}\" time=\"{}\"", results.len(), secs(total));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<testsuites name=\"recoverysim check\" {counts}>\n"));
    out.push_str(&format!("  <testsuite name=\"recoverysim\" {counts} skipped=\"0\">\n"));
    for (i, (f, c)) in results.iter().enumerate() {
        let name = esc(&f.display().to_string());
        let case = format!(
            "    <testcase name=\"{name}\" classname=\"recoverysim.check\" time=\"{}\">\n",
            secs(times.get(i).copied().unwrap_or(0.0))
        );
        match c {
            Checked::Ok { verdict, .. } => {
                out.push_str(&case);
                out.push_str(&format!("      <system-out>{}</system-out>\n", esc(verdict)));
                out.push_str("    </testcase>\n");
            }
            Checked::Fail { mismatches, .. } => {
                out.push_str(&case);
                let first = mismatches.first().map_or(String::new(), |m| m.message.clone());
                let all: Vec<String> = mismatches.iter().map(|m| m.message.clone()).collect();
                out.push_str(&format!(
                    "      <failure type=\"expect-mismatch\" message=\"{}\">{}</failure>\n",
                    esc(&first),
                    esc(&all.join("\n"))
                ));
                out.push_str("    </testcase>\n");
            }
            Checked::Error(e) => {
                out.push_str(&case);
                out.push_str(&format!(
                    "      <error type=\"invalid-scenario\" message=\"{}\">{}</error>\n",
                    esc(&e.message),
                    esc(&e.to_string())
                ));
                out.push_str("    </testcase>\n");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// GitHub Actions workflow commands: an `::error` annotation on the scenario file's line of
/// each expectation that failed (or of the load error), then a summary notice.
pub fn github(results: &[(PathBuf, Checked)]) -> String {
    // Workflow command escaping: data escapes %, CR, LF; properties also : and ,.
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for (f, c) in results {
        let file = prop(&f.display().to_string());
        match c {
            Checked::Ok { .. } => {}
            Checked::Fail { mismatches, lines } => {
                for m in mismatches {
                    let line = lines.get(m.key).copied().unwrap_or(1);
                    out.push_str(&format!(
                        "::error file={file},line={line},title=recoverysim check::{}\n",
                        data(&m.message)
                    ));
                }
            }
            Checked::Error(e) => {
                let pos = e.position.map_or(String::new(), |(l, col)| format!(",line={l},col={col}"));
                out.push_str(&format!(
                    "::error file={file}{pos},title=invalid scenario::{}\n",
                    data(&format!(
                        "{}{}",
                        e.message,
                        e.hint.as_ref().map_or(String::new(), |h| format!(" (hint: {h})"))
                    ))
                ));
            }
        }
    }
    let failed = results.iter().filter(|(_, c)| !matches!(c, Checked::Ok { .. })).count();
    out.push_str(&format!("::notice title=recoverysim check::{} passed, {failed} failed\n", results.len() - failed));
    out
}
