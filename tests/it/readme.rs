//! Every command the README shows is run, and shows what the README says it shows: the tour's
//! commands, the questions table (each scenario meets its [expect], and each `--bug` it names
//! changes the verdict), and the planted-bug table (each bug changes the verdict the way the row
//! says, in the scenario it names).

use recoverysim::check::Verdict;
use std::path::Path;
use std::process::{Command, Output};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md")
}

fn recoverysim(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The `cargo run --release -- …` lines of the README's shell blocks: (arguments, comment).
fn tour() -> Vec<(Vec<String>, String)> {
    readme()
        .lines()
        .filter_map(|l| l.strip_prefix("cargo run --release -- "))
        .map(|l| {
            let (cmd, comment) = l.split_once(" # ").unwrap_or((l, ""));
            (cmd.split_whitespace().map(String::from).collect(), comment.trim().to_string())
        })
        .collect()
}

#[test]
fn the_tour_commands_do_what_their_comments_say() {
    let dir = std::env::temp_dir().join(format!("recoverysim-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let commands = tour();
    assert!(commands.len() >= 8, "the README has its tour: {commands:?}");
    for (mut args, comment) in commands {
        // Files the commands write go to a temporary directory; `> file` is the shell's.
        let mut redirect = None;
        if let Some(i) = args.iter().position(|a| a == ">") {
            redirect = args.get(i + 1).cloned();
            args.truncate(i);
        }
        if let Some(i) = args.iter().position(|a| a == "--trace" || a == "--svg") {
            args[i + 1] = dir.join(&args[i + 1]).display().to_string();
        }
        if args[0] == "bench" && !args.iter().any(|a| a == "--seek") {
            args.extend(["--runs".into(), "1".into()]);
        }
        if let Some(i) = args.iter().position(|a| a == "--seek") {
            // Fewer seeks than the README's: the same command, quicker.
            args[i + 1] = "20".into();
        }
        if args[0] == "diff" {
            // The trace an earlier command wrote is in the temporary directory.
            for a in args.iter_mut().skip(1).filter(|a| a.ends_with(".jsonl")) {
                *a = dir.join(&*a).display().to_string();
            }
            let out = recoverysim(&args);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert_eq!(out.status.code(), Some(1), "`{}` ({comment}) differs:\n{}", args.join(" "), text(&out));
            assert!(stdout.contains("first divergence: trace line #"), "{stdout}");
            continue;
        }
        if args[0] == "explore" {
            // Its files go to a temporary directory; the next commands read them there.
            args.extend(["--out".into(), dir.join("explore-out").display().to_string()]);
        }
        for a in args.iter_mut().skip(1) {
            if let Some(rest) = a.strip_prefix("explore-out/") {
                *a = dir.join("explore-out").join(rest).display().to_string();
            }
        }
        if args[0] == "replay" {
            // The replay needs a terminal (tests/it/replay.rs drives it in tmux); here: the file
            // it opens exists and loads.
            assert!(recoverysim::scenario::load_file(Path::new(&args[1])).is_ok(), "{}", args[1]);
            continue;
        }
        let out = recoverysim(&args);
        let shown = text(&out);
        if args[0] == "explore" {
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert_eq!(out.status.code(), Some(1), "a planted bug fails seeds: {shown}");
            assert!(stdout.contains("FAILURES by class") && stdout.contains("shrunk in"), "{shown}");
            continue;
        }
        let what = format!("`{}` ({comment}):\n{shown}", args.join(" "));
        assert_eq!(out.status.code(), Some(0), "{what}");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let has = |s: &str| assert!(stdout.contains(s), "{what}\nmissing: {s}");
        match args[0].as_str() {
            "regions" => has("pipelined regions"),
            "completions" => has("_recoverysim()"),
            "man" => has(".TH recoverysim 1"),
            "sweep" if comment.contains("exactly-once at every phase") => {
                has("44 of 44 cases reached their phase; 0 failed");
                assert!(!stdout.contains("ALO+") && !stdout.contains("not reached"), "{what}");
            }
            "sweep" => {
                has("42 of 42 cases reached their phase; 0 failed");
                assert!(!stdout.contains(" EO "), "{what}");
            }
            "check" if redirect.is_some() => {
                assert!(stdout.starts_with("<?xml") && stdout.contains("<testsuites"), "{what}");
            }
            "check" => has(" 0 failed"),
            "bench" if args.iter().any(|a| a == "--seek") => {
                has("snapshots: ");
                has("memory: ");
                has("seek (clone the nearest snapshot, simulate forward, inspect): 20 seeks");
            }
            "bench" => has("events/s"),
            "run" if args.iter().any(|a| a == "--json") => {
                let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
                assert_eq!(v["schema"], "recoverysim-run/1");
                assert!(v["timeline"].as_array().is_some_and(|t| !t.is_empty()), "{what}");
            }
            "run" if args.iter().any(|a| a == "--svg") => {
                let i = args.iter().position(|a| a == "--svg").expect("found") + 1;
                let chart = std::fs::read_to_string(&args[i]).expect("the chart was written");
                assert!(chart.starts_with("<svg ") && chart.contains("</svg>"), "{what}");
                has("timeline (virtual time):");
            }
            "run" if args.iter().any(|a| a == "perfetto") => {
                let i = args.iter().position(|a| a == "--trace").expect("found") + 1;
                let trace = std::fs::read_to_string(&args[i]).expect("the trace was written");
                let v: serde_json::Value = serde_json::from_str(&trace).expect("one JSON object");
                assert!(v["traceEvents"].as_array().is_some_and(|e| e.len() > 100), "{what}");
                has("timeline (virtual time):");
            }
            "run" if args.iter().any(|a| a == "--trace") => {
                let i = args.iter().position(|a| a == "--trace").expect("found") + 1;
                let trace = std::fs::read_to_string(&args[i]).expect("the trace was written");
                assert!(trace.lines().count() > 100 && trace.starts_with("{\"events\""), "{}", &trace[..200]);
                has("timeline (virtual time):");
            }
            "run" if args.iter().any(|a| a == "--seeds") => has("restart cycles: "),
            "run" if args.iter().any(|a| a == "--checkpoints") => {
                has("checkpoint history");
                has("does a checkpoint block processing?");
                has("processing went on");
            }
            "run" if args.iter().any(|a| a == "--exceptions") => {
                has("exception history");
                has("concurrent: FlinkException: The TaskExecutor is shutting down (tm-0)");
                assert!(!stdout.contains("timeline (virtual time)"), "{what}");
            }
            "run" if args.iter().any(|a| a == "--bug") => {
                assert!(!stdout.contains("output: exactly_once"), "a planted bug changes the verdict: {what}");
            }
            "run" if args.iter().any(|a| a == "--flink-plan") => {
                has("flink-plan tests/plans/wordcount.json: 4 nodes → operators");
                has("APPROXIMATED: \"counter\" (keyed) is a keyed count");
                has("output: exactly_once");
            }
            "run" if args.iter().any(|a| a == "--flink-conf") => {
                has("flink-conf docs/flink-conf/production.yaml: ");
                has("checkpoints every 200 ms");
                has("IGNORED (not a Flink key): \"acme.team.owner\"");
                has("OVERRIDDEN by the scenario's [flink]: \"execution.checkpointing.interval\"");
                has("NOT MODELLED (accepted, no effect): \"state.backend.rocksdb.localdir\"");
                has("RocksDB, incremental checkpoints");
                has("output: exactly_once");
            }
            "run" if args[1].contains("explore-out") => has("INCONSISTENT CUT"),
            "run" => {
                has("timeline (virtual time):");
                has("output: exactly_once");
            }
            other => panic!("a README command this test does not know: {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_question_is_answered_by_a_scenario_that_meets_its_expectations() {
    let text_all = readme();
    let start = text_all.find("| question | command |").expect("the questions table");
    let table: Vec<&str> = text_all[start..].lines().skip(2).take_while(|l| l.starts_with('|')).collect();
    assert!(table.len() >= 20, "{table:?}");
    let mut checked = 0;
    for row in table {
        // Every `run scenarios/X.toml` in the row meets its [expect] (which pins the row's claim).
        let files: Vec<&str> = row
            .split('`')
            .filter_map(|part| part.strip_prefix("run scenarios/"))
            .map(|rest| rest.split_whitespace().next().expect("a file"))
            .collect();
        // And each `--bug NAME` the row mentions changes the verdict of the row's scenario.
        let bugs: Vec<&str> =
            row.split('`').filter_map(|part| part.strip_prefix("--bug ")).filter(|name| *name != "NAME").collect();
        for f in &files {
            let args = vec!["run".to_string(), format!("scenarios/{f}"), "--check".into()];
            let out = recoverysim(&args);
            assert_eq!(out.status.code(), Some(0), "{row}\n{}", text(&out));
            checked += 1;
        }
        for bug in bugs {
            let file = files.first().unwrap_or_else(|| panic!("a --bug in a row without a scenario: {row}"));
            let mut sc = recoverysim::scenario::load_file(&Path::new("scenarios").join(file)).expect("loads");
            assert!(sc.bugs.set(bug), "{bug} is a planted bug");
            let run = recoverysim::run::simulate(&sc);
            assert_ne!(run.output.verdict, Verdict::ExactlyOnce, "{row}: --bug {bug}");
        }
    }
    assert!(checked >= 20);
}

#[test]
fn the_planted_bug_table_names_each_bug_with_the_scenario_and_effect_it_has() {
    let text_all = readme();
    let start = text_all.find("| bug | what it breaks | scenario |").expect("the bug table");
    let rows: Vec<&str> = text_all[start..].lines().skip(2).take_while(|l| l.starts_with('|')).collect();
    let mut listed: Vec<(String, String)> = Vec::new();
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let bug = cells[1].trim_matches('`').to_string();
        let file = cells[3].split('`').nth(1).expect("a scenario file").to_string();
        let effect = cells[3];
        let mut sc =
            recoverysim::scenario::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(&file))
                .expect("loads");
        assert!(sc.bugs.set(&bug), "{bug}");
        let o = recoverysim::run::simulate(&sc).output;
        assert_ne!(o.verdict, Verdict::ExactlyOnce, "{row}");
        if effect.contains("duplicates") {
            assert!(o.duplicated > 0, "{row}: {o:?}");
        }
        if effect.contains("(loss)") || effect.contains("(loss,") || effect.contains("loss the reference run shares") {
            assert!(o.lost > 0, "{row}: {o:?}");
        }
        if effect.contains("final per-key results") {
            assert!(o.keys_below > 0, "{row}: {o:?}");
        }
        if effect.contains("reference run shares") {
            assert!(o.lost_in_reference_too > 0, "{row}: {o:?}");
        }
        if effect.contains("never finishes") {
            assert_eq!(o.verdict, Verdict::Incomplete, "{row}");
        }
        listed.push((bug, file));
    }
    let mut want: Vec<(String, String)> =
        crate::oracle::BUG_SCENARIOS.iter().map(|(b, f)| (b.to_string(), f.to_string())).collect();
    want.sort();
    listed.sort();
    assert_eq!(listed, want, "the README's bug table and the tested bug scenarios agree");
    assert_eq!(
        listed.len(),
        recoverysim::cluster::bugs::PlantedBugs::NAMES.len(),
        "every planted bug is in the README"
    );
}

/// The README's text capture of the replay is what the replay draws at that moment.
#[test]
fn the_replay_capture_is_what_the_replay_shows() {
    let text = readme();
    let marker = "<!-- replay capture: scenarios/keyed-tm-kill.toml, key f, 80x24";
    let at = text.find(marker).expect("the README shows the replay");
    let block = &text[at..];
    let start = block.find("```text\n").expect("a text block after the marker") + "```text\n".len();
    let end = block[start..].find("\n```").expect("the block ends") + start;
    let capture = &block[start..end];
    let run = recoverysim::run_file("scenarios/keyed-tm-kill.toml").expect("shipped scenario");
    let mut app = recoverysim::tui::app::App::new(&run);
    recoverysim::tui::input(&mut app, crossterm::event::KeyCode::Char('f'));
    let screen = crate::replay_screen(&app, 80, 24);
    assert_eq!(capture, screen, "the README's capture is stale");
}

/// The README's `diff` capture is what the two commands before it print (the trace file's
/// temporary path shown as the README names it).
#[test]
fn the_diff_capture_is_what_diff_prints() {
    let readme_text = readme();
    let marker = "<!-- diff capture: the first two commands above";
    let at = readme_text.find(marker).expect("the README shows a diff");
    let block = &readme_text[at..];
    let start = block.find("```text\n").expect("a text block after the marker") + "```text\n".len();
    let end = block[start..].find("\n```").expect("the block ends") + start;
    let capture = &block[start..end];
    let dir = std::env::temp_dir().join(format!("recoverysim-readme-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let trace = dir.join("before.jsonl").display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let out = recoverysim(&s(&["run", "scenarios/keyed-task-failure.toml", "--trace", &trace]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = recoverysim(&s(&[
        "diff",
        &trace,
        "scenarios/keyed-task-failure.toml",
        "--bug",
        "no-source-rewind",
        "--context",
        "3",
    ]));
    assert_eq!(out.status.code(), Some(1), "the runs differ: {}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).replace(&trace, "before.jsonl");
    assert_eq!(capture, shown.trim_end(), "the README's diff capture is stale");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file a README command writes into the working tree (`--trace F`, `> F`, explore's
/// default `explore-out/`) is git-ignored: following the README leaves `git status` clean.
#[test]
fn the_files_the_readme_commands_write_are_git_ignored() {
    let text = readme();
    let ignore = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".gitignore")).expect(".gitignore");
    let ignored: Vec<&str> = ignore.lines().map(|l| l.trim().trim_start_matches('/').trim_end_matches('/')).collect();
    let mut written = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cargo run")) {
        let words: Vec<&str> = line.split('#').next().unwrap_or("").split_whitespace().collect();
        for w in words.windows(2) {
            if (w[0] == "--trace" || w[0] == "--svg" || w[0] == ">") && w[1] != "-" {
                written.push(w[1].to_string());
            }
        }
        if words.contains(&"explore") && !words.contains(&"--out") {
            written.push("explore-out".to_string());
        }
    }
    assert!(written.len() >= 3, "the README's commands write files: {written:?}");
    for f in &written {
        let top = f.split('/').next().unwrap_or(f);
        assert!(ignored.contains(&top), "{f} (written by a README command) is not in .gitignore");
    }
}

/// A newcomer learns before the first command that the first build needs the network once and
/// how long the two set-up commands take, and how to get cargo-insta for snapshot review.
#[test]
fn the_readme_says_what_the_first_build_needs_and_how_long_it_takes() {
    let r = readme();
    let setup = &r[..r.find("## A tour").expect("the README has a tour")];
    assert!(setup.contains("downloads the crates") && setup.contains("crates.io"), "{setup}");
    assert!(setup.contains("2-core machine") && setup.contains("`cargo test --release` after it about"), "{setup}");
    assert!(r.contains("`cargo install\ncargo-insta`") || r.contains("`cargo install cargo-insta`"));
    assert!(r.contains("--snapshots my-snapshots/ --accept"));
}

/// The README's budget refusal is what `run` prints (its first lines), and the defaults it
/// states are the program's.
#[test]
fn the_budget_capture_and_defaults_are_what_the_program_has() {
    let text = readme();
    let marker = "$ recoverysim run benches/ten-million-events.toml --max-events 1000000\n";
    let at = text.find(marker).expect("the README shows a budget refusal") + marker.len();
    let capture: Vec<&str> = text[at..].lines().take_while(|l| !l.starts_with("```")).collect();
    let out = recoverysim(&["run", "benches/ten-million-events.toml", "--max-events", "1000000"].map(String::from));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let shown: Vec<&str> = capture.iter().copied().filter(|l| l.trim() != "…").collect();
    let printed: Vec<&str> = err.lines().take(shown.len()).collect();
    assert_eq!(shown, printed, "the README's budget capture is stale");
    let defaults = format!("The defaults are `--max-events {}`", recoverysim::scenario::budget::DEFAULT_MAX_EVENTS);
    assert!(text.contains(&defaults), "README states {defaults}");
    assert_eq!(recoverysim::scenario::budget::DEFAULT_MAX_MEMORY, 1 << 30, "README says --max-memory 1GiB");
    assert!(text.contains("and `--max-memory 1GiB`"));
}
