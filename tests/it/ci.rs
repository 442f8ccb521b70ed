//! What a CI pipeline relies on: exit codes, the default expectation, and `check --format`
//! output that CI servers read (JUnit XML held to Jenkins' junit-10.xsd, GitHub annotations).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn recoverysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// A fresh temporary directory holding the given scenario files.
fn folder(name: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recoverysim-ci-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write scenario");
    }
    dir
}

fn shipped(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file)).expect("shipped")
}

/// keyed-task-failure.toml with its [expect] table cut off.
fn without_expect(text: &str) -> String {
    text[..text.find("[expect]").expect("has [expect]")].to_string()
}

/// Three files: one passes, one fails its [expect], one does not load.
fn mixed() -> PathBuf {
    let good = shipped("keyed-task-failure.toml");
    let wrong = good.replace("failovers = 1", "failovers = 2");
    assert_ne!(wrong, good);
    let broken = good.replace("[job]", "[jobs]");
    folder("mixed", &[("a-good.toml", good), ("b-wrong.toml", wrong), ("c-broken.toml", broken)])
}

#[test]
fn check_of_a_folder_without_scenarios_is_an_error() {
    let dir = folder("empty", &[]);
    let out = recoverysim(&["check", dir.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files"), "{out:?}");
}

#[test]
fn a_scenario_without_expect_must_be_exactly_once_and_finish() {
    let text = without_expect(&shipped("keyed-task-failure.toml"));
    let lossy = text.clone() + "\n[bugs]\nno-source-rewind = true\n";
    let dir = folder("defaults", &[("clean.toml", text), ("lossy.toml", lossy)]);
    let clean = recoverysim(&["check", dir.join("clean.toml").to_str().expect("utf-8")]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stdout));
    let out = recoverysim(&["check", dir.join("lossy.toml").to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verdict: expected exactly_once (the default without this key in [expect]), got at_most_once"),
        "{stdout}"
    );
}

#[test]
fn run_check_gates_a_build_on_the_expect_table() {
    let ok = recoverysim(&["run", "scenarios/keyed-task-failure.toml", "--check"]);
    assert_eq!(ok.status.code(), Some(0));
    let bad = recoverysim(&["run", "scenarios/keyed-task-failure.toml", "--check", "--bug", "no-source-rewind"]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("verdict: expected exactly_once, got at_most_once"), "{stderr}");
    // Without --check the verdict does not decide the exit code.
    let plain = recoverysim(&["run", "scenarios/keyed-task-failure.toml", "--bug", "no-source-rewind"]);
    assert_eq!(plain.status.code(), Some(0));
}

#[test]
fn check_formats_for_ci_servers() {
    let dir = mixed();
    let path = dir.to_str().expect("utf-8");
    let run = |format: &str| recoverysim(&["check", path, "--format", format]);

    // JSON: one object, one entry per file.
    let out = run("json");
    assert_eq!(out.status.code(), Some(2), "a file that does not load wins over a failure");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64(), v["errors"].as_u64()), (Some(1), Some(1), Some(1)));
    let wrong = &v["scenarios"][1];
    assert_eq!(wrong["status"], "fail");
    assert_eq!(wrong["mismatches"][0]["key"], "failovers");
    assert_eq!(v["scenarios"][2]["status"], "error");

    // GitHub Actions: an error annotation on the line of the failed expectation.
    let out = run("github");
    let text = String::from_utf8_lossy(&out.stdout);
    let wrong_text = std::fs::read_to_string(dir.join("b-wrong.toml")).expect("written");
    let line = wrong_text.lines().position(|l| l.starts_with("failovers = ")).expect("failovers line") + 1;
    assert!(
        text.contains(&format!("b-wrong.toml,line={line},title=recoverysim check::failovers: expected 2, got 1")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("::error file=") && l.contains("c-broken.toml,line=")), "{text}");
    assert!(text.ends_with("::notice title=recoverysim check::1 passed, 2 failed\n"), "{text}");

    // JUnit XML, held to the rules of Jenkins' junit-10.xsd (tests/data/junit-10.xsd).
    let out = run("junit");
    let xml = String::from_utf8(out.stdout).expect("UTF-8");
    let _ = std::fs::remove_dir_all(&dir);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    junit_10_xsd(&doc);
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 3);
    // Every test case and the suite have their wall time in seconds (junit-10.xsd's
    // SUREFIRE_TIME: at most three decimals); the suite's is the sum of its cases'.
    let time = |n: &roxmltree::Node| -> f64 {
        let t = n.attribute("time").unwrap_or_else(|| panic!("{} has a time: {xml}", n.tag_name().name()));
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        assert!(whole.bytes().all(|b| b.is_ascii_digit()) && !whole.is_empty(), "{t}");
        assert!(frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit()), "{t}");
        t.parse().expect("a number")
    };
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("a suite");
    let sum: f64 = cases.iter().map(time).sum();
    assert!((time(&suite) - sum).abs() < 0.002 && time(&doc.root_element()) == time(&suite), "{xml}");
    assert!(time(&cases[0]) > 0.0, "a simulated scenario takes some time: {xml}");
    assert!(cases[1].children().any(|c| c.has_tag_name("failure")), "{xml}");
    assert!(cases[2].children().any(|c| c.has_tag_name("error")), "{xml}");
}

/// The element and attribute rules of junit-10.xsd (Jenkins' schema, in tests/data): which
/// elements may appear where, and the required attributes.
fn junit_10_xsd(doc: &roxmltree::Document) {
    let root = doc.root_element();
    assert!(root.has_tag_name("testsuites"));
    let allowed_attrs = |n: &roxmltree::Node, allowed: &[&str], required: &[&str]| {
        for a in n.attributes() {
            assert!(allowed.contains(&a.name()), "attribute {} not allowed on {}", a.name(), n.tag_name().name());
        }
        for r in required {
            assert!(n.attribute(*r).is_some(), "{} needs {r}", n.tag_name().name());
        }
    };
    allowed_attrs(&root, &["name", "time", "tests", "failures", "errors"], &[]);
    for suite in root.children().filter(|n| n.is_element()) {
        assert!(suite.has_tag_name("testsuite"));
        allowed_attrs(
            &suite,
            &[
                "name",
                "tests",
                "failures",
                "errors",
                "group",
                "time",
                "skipped",
                "timestamp",
                "hostname",
                "id",
                "package",
                "file",
                "log",
                "url",
                "version",
            ],
            &["name", "tests", "failures", "errors"],
        );
        for case in suite.children().filter(|n| n.is_element()) {
            assert!(
                ["testcase", "properties", "system-out", "system-err", "testsuite"].contains(&case.tag_name().name())
            );
            if !case.has_tag_name("testcase") {
                continue;
            }
            allowed_attrs(&case, &["name", "time", "classname", "group"], &["name"]);
            for c in case.children().filter(|n| n.is_element()) {
                let tag = c.tag_name().name();
                assert!(["skipped", "error", "failure", "system-out", "system-err"].contains(&tag), "{tag}");
                if ["skipped", "error", "failure"].contains(&tag) {
                    allowed_attrs(&c, &["type", "message"], &[]);
                }
            }
        }
    }
}

#[test]
fn trace_to_standard_output_and_a_missing_file_without_a_made_up_position() {
    let out = recoverysim(&["run", "scenarios/keyed-task-failure.toml", "--trace", "-"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() > 100);
    let mut lines = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("only JSON Lines"));
    let header = lines.next().expect("a header line");
    assert_eq!(header["schema"], "recoverysim-trace/1");
    for (i, v) in lines.enumerate() {
        assert_eq!(v["n"].as_u64(), Some(i as u64 + 1), "trace lines are numbered from 1");
    }
    let missing = recoverysim(&["run", "no/such/file.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.starts_with("error: no/such/file.toml: cannot read the file"), "{stderr}");
}

#[test]
fn check_snapshots_pins_each_report_and_fails_when_a_timing_changes() {
    let text = shipped("keyed-task-failure.toml");
    let dir = folder("snapshots", &[("job.toml", text.clone())]);
    let (path, snaps) = (dir.join("job.toml"), dir.join("snaps"));
    let check =
        || recoverysim(&["check", path.to_str().expect("utf-8"), "--snapshots", snaps.to_str().expect("utf-8")]);
    let first = check();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stdout));
    // insta itself reads the file (as `cargo insta review` does), and it holds the report.
    let snap = insta::Snapshot::from_file(&snaps.join("job.snap")).expect("an insta snapshot");
    let report = recoverysim::report(&recoverysim::run_file(&path).expect("runs"));
    assert_eq!(snap.contents().as_text().expect("text").to_string().trim_end(), report.trim_end());
    assert_eq!(check().status.code(), Some(0), "unchanged: still passes");
    assert!(!snaps.join("job.snap.new").exists());

    // A timing in the scenario changes: the restart delay.
    let slower = text
        .replace("\"restart-strategy.fixed-delay.delay\" = \"1s\"", "\"restart-strategy.fixed-delay.delay\" = \"2s\"");
    assert_ne!(slower, text, "the scenario sets the restart delay");
    std::fs::write(&path, slower).expect("rewrite");
    let changed = check();
    let stdout = String::from_utf8_lossy(&changed.stdout).to_string();
    assert_eq!(changed.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the report differs from its snapshot (first difference at line"), "{stdout}");
    let pending = insta::Snapshot::from_file(&snaps.join("job.snap.new")).expect("a pending insta snapshot");
    let new_text = pending.contents().as_text().expect("text").to_string();
    assert!(new_text.contains("restart in 2000 ms"), "{new_text}");
    // The line named is the line of the `.snap` file, header included: it holds the old text
    // the message quotes, and the same line of the `.snap.new` the new text.
    let line: usize = stdout
        .split("first difference at line ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a line number");
    let was = stdout.split(": was \"").nth(1).and_then(|r| r.split('"').next()).expect("the old text");
    let now = stdout.split(", now \"").nth(1).and_then(|r| r.split('"').next()).expect("the new text");
    let nth = |file: &str| {
        let text = std::fs::read_to_string(snaps.join(file)).expect("readable");
        text.lines().nth(line - 1).map(|l| l.trim().to_string()).expect("that line exists")
    };
    assert_eq!((nth("job.snap"), nth("job.snap.new")), (was.to_string(), now.to_string()), "{stdout}");

    // Accepted without cargo-insta: the new report replaces the snapshot, the pending file goes,
    // and the check passes from then on.
    let accepted = recoverysim(&[
        "check",
        path.to_str().expect("utf-8"),
        "--snapshots",
        snaps.to_str().expect("utf-8"),
        "--accept",
    ]);
    let stderr = String::from_utf8_lossy(&accepted.stderr).to_string();
    assert_eq!(accepted.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("job.snap accepted (first difference at line"), "{stderr}");
    assert!(!snaps.join("job.snap.new").exists(), "the pending snapshot is gone");
    let snap = insta::Snapshot::from_file(&snaps.join("job.snap")).expect("still an insta snapshot");
    assert!(snap.contents().as_text().expect("text").to_string().contains("restart in 2000 ms"));
    assert_eq!(check().status.code(), Some(0), "the accepted snapshot holds");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Off a terminal (standard error a pipe, `CI` unset) `check` of a folder draws no progress
/// bar: standard error stays empty, standard output holds the lines alone.
#[test]
fn check_off_a_terminal_prints_no_progress() {
    let out = Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(["check", "scenarios/keyed-task-failure.toml", "scenarios/forward-task-failure.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CI")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "nothing on standard error");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("ok    scenarios/keyed-task-failure.toml  (exactly_once, 1 failover, "), "{stdout}");
    assert!(lines[1].starts_with("ok    scenarios/forward-task-failure.toml  ("), "{stdout}");
    assert_eq!(lines[2], "2 passed, 0 failed");
    assert!(!stdout.contains(['\r', '\x1b']), "no terminal control: {stdout:?}");
}

#[test]
fn the_library_api_gives_the_run_and_the_report_the_command_prints() {
    let run = recoverysim::run_file("scenarios/keyed-task-failure.toml").expect("a valid scenario");
    assert_eq!(run.output.verdict, recoverysim::check::Verdict::ExactlyOnce);
    let out = recoverysim(&["run", "scenarios/keyed-task-failure.toml"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), recoverysim::report(&run));
    let Err(e) = recoverysim::run_file("no/such/file.toml") else { panic!("a missing file is an error") };
    assert_eq!(e.position, None);
}
