//! Every file in scenarios/ is a test case: it must meet its own [expect] table, run twice with
//! the same trace hash, and its human report is pinned by an insta snapshot in snapshots/.

use recoverysim::run::simulate;
use recoverysim::scenario::load_file;
use std::path::PathBuf;

fn scenario_files() -> Vec<PathBuf> {
    toml_files("scenarios")
}

/// The `.toml` files of a folder of the repository, sorted.
fn toml_files(folder: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the folder exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// docs/run.schema.json, read by the test's own checker (tests/it/schema.rs), which refuses a
/// keyword it does not implement.
fn run_schema() -> crate::schema::Schema {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/run.schema.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    crate::schema::Schema::new(schema)
}

/// The value at `path` in `v` (object keys, or array indices as numbers).
fn at<'a>(v: &'a mut serde_json::Value, path: &[&str]) -> &'a mut serde_json::Value {
    path.iter().fold(v, |at, p| match p.parse::<usize>() {
        Ok(i) => &mut at[i],
        Err(_) => &mut at[*p],
    })
}

#[test]
fn the_run_schema_rejects_what_it_does_not_describe() {
    let schema = run_schema();
    let sc = load_file(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/keyed-task-failure.toml")))
        .expect("shipped");
    let mut sc = sc;
    sc.bugs.no_source_rewind = true;
    let json = recoverysim::report::json::run(&simulate(&sc));
    assert!(schema.is_valid(&json), "a run with a lost record (first_lost set) is valid");
    let mut extra = json.clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(!schema.is_valid(&extra), "an undocumented field is refused");
    let mut wrong = json.clone();
    wrong["failovers"][0]["restarted"] = serde_json::json!("source[0-1]");
    assert!(!schema.is_valid(&wrong), "subtasks are a list, not a string");
    let mut old = json.clone();
    old["schema"] = serde_json::json!("recoverysim-run/0");
    assert!(!schema.is_valid(&old), "another version (const)");
    // Each keyword the schema uses catches its own kind of breach.
    let breaks = |path: &[&str], value: Option<serde_json::Value>, why: &str| {
        let mut v = json.clone();
        let (last, parents) = path.split_last().expect("a path");
        match value {
            Some(x) => *at(&mut v, path) = x,
            None => {
                at(&mut v, parents).as_object_mut().expect("an object").remove(*last);
            }
        }
        let errors = schema.errors(&v);
        assert!(!errors.is_empty(), "{why}: {path:?} is caught");
    };
    breaks(&["seed"], None, "required");
    breaks(&["seed"], Some(serde_json::json!(-1)), "minimum");
    breaks(&["seed"], Some(serde_json::json!(1.5)), "integer");
    breaks(&["trace_hash"], Some(serde_json::json!("not-a-hash")), "pattern");
    breaks(&["job_status"], Some(serde_json::json!("DONE")), "enum");
    breaks(&["failovers", "0", "restarted", "0"], Some(serde_json::json!("source")), "pattern in $ref'd items");
    breaks(&["failovers", "0", "surprise"], Some(serde_json::json!(1)), "additionalProperties deep down");
    assert!(schema.is_valid(&json), "the untouched run is still valid");
}

#[test]
fn every_scenario_meets_its_expectations_deterministically_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(files.len() >= 6, "the bundled scenarios are there");
    let schema = run_schema();
    let trace_doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/trace-format.md")).expect("trace doc");
    let mut failures = Vec::new();
    for file in &files {
        let sc = load_file(file).unwrap_or_else(|e| panic!("{e}"));
        let first = simulate(&sc);
        let name = file.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_string();
        // Every trace line kind is documented in docs/trace-format.md.
        for line in recoverysim::report::trace::jsonl(&first).lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON Lines");
            let kind = v["kind"].as_str().expect("every event has a kind").to_string();
            if !trace_doc.contains(&format!("| `{kind}` |")) {
                failures.push(format!("{name}: trace kind `{kind}` is not in docs/trace-format.md"));
            }
        }
        // `run --json` of every scenario holds to docs/run.schema.json.
        let json = recoverysim::report::json::run(&first);
        for e in schema.errors(&json) {
            failures.push(format!("{}: --json breaks docs/run.schema.json at {e}", file.display()));
        }
        let second = simulate(&sc);
        if first.outcome.trace_hash != second.outcome.trace_hash || first.outcome.events != second.outcome.events {
            failures.push(format!(
                "{name}: two runs differ (trace hash {:x} vs {:x})",
                first.outcome.trace_hash, second.outcome.trace_hash
            ));
        }
        for m in first.mismatches() {
            failures.push(format!("{name}: {m}"));
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(format!("run-{name}"), recoverysim::report(&first)));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_scenario_has_an_expect_table() {
    for file in scenario_files() {
        let sc = load_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!sc.expect.verdict_defaulted, "{}: [expect] must state a verdict", file.display());
    }
}

#[test]
fn the_readme_example_is_a_valid_scenario_that_meets_its_expectations() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("the example block is closed");
    let sc = recoverysim::scenario::parse_str("README.md", &readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
    let run = simulate(&sc);
    assert!(run.mismatches().is_empty(), "{:?}", run.mismatches());
}

/// The benchmark scenarios (`benches/`) are scenarios too: each meets its [expect].
#[test]
fn every_benchmark_scenario_meets_its_expectations() {
    let files = toml_files("benches");
    assert!(!files.is_empty());
    for f in files {
        let run = recoverysim::run_file(&f).expect("a valid scenario");
        assert!(run.mismatches().is_empty(), "{}: {:?}", f.display(), run.mismatches());
    }
}
