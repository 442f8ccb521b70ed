//! What the commands do with files: a special file given as an input is refused, not read (a
//! FIFO would block forever); no output replaces an input, however its path is spelled; an
//! output is complete or the old file is left as it was; snapshots of two scenarios never share
//! a file.

use recoverysim::cli::files::{FileError, Inputs, write_atomic, write_streamed};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A fresh temporary directory for one test.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recoverysim-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn shipped(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file)).expect("shipped")
}

/// The binary run in `dir`, killed (and the test failed) if it has not ended after a minute: a
/// command that blocks on a FIFO fails the test instead of hanging it. Its output goes to files
/// (a full pipe would block it too).
fn recoverysim_in(dir: &Path, args: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outputs = std::env::temp_dir().join(format!("recoverysim-files-{}-output-{n}", std::process::id()));
    std::fs::create_dir_all(&outputs).expect("temp dir");
    let (out, err) = (outputs.join("stdout"), outputs.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("the binary runs");
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if waited > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("recoverysim {args:?} still running after a minute: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
        waited += Duration::from_millis(10);
    };
    let output =
        Output { status, stdout: std::fs::read(&out).expect("stdout"), stderr: std::fs::read(&err).expect("stderr") };
    let _ = std::fs::remove_dir_all(&outputs);
    output
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// `mkfifo f.toml; recoverysim run f.toml` used to block forever in the read. Every command
/// that reads a scenario or a trace refuses the FIFO by its metadata, naming it, exit 2.
#[cfg(unix)]
#[test]
fn a_fifo_given_as_an_input_is_refused_not_read() {
    let dir = temp("fifo");
    mkfifo(&dir.join("f.toml"));
    mkfifo(&dir.join("f.json"));
    std::fs::write(dir.join("good.toml"), shipped("forward-task-failure.toml")).expect("write");
    for args in [
        vec!["run", "f.toml"],
        vec!["run", "f.toml", "--seeds", "0-1"],
        vec!["regions", "f.toml"],
        vec!["bench", "f.toml", "--runs", "1"],
        vec!["replay", "f.toml"],
        vec!["explore", "f.toml", "--seeds", "0-0"],
        vec!["sweep", "f.toml"],
        vec!["diff", "f.toml", "good.toml"],
        vec!["diff", "good.toml", "f.toml"],
        vec!["explore", "merge", "f.json"],
        vec!["check", "f.toml"],
    ] {
        let out = recoverysim_in(&dir, &args);
        // `check` reports a file it cannot use on standard output, with the others.
        let err = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("a FIFO (named pipe), not a regular file"), "{args:?}: {err}");
        assert!(err.contains(args.iter().find(|a| a.starts_with("f.")).expect("names a FIFO")), "{args:?}: {err}");
    }
    // A directory where a file is expected, too.
    std::fs::create_dir(dir.join("d.toml")).expect("mkdir");
    let out = recoverysim_in(&dir, &["run", "d.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("d.toml: a directory, not a regular file"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check DIR` with a FIFO (and a directory) named `*.toml` in it: an error for that file, and
/// the others are still checked.
#[cfg(unix)]
#[test]
fn check_of_a_folder_reports_a_fifo_in_it_and_checks_the_rest() {
    let dir = temp("check-fifo");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(scenarios.join("b-dir.toml")).expect("mkdir");
    mkfifo(&scenarios.join("a-pipe.toml"));
    std::fs::write(scenarios.join("c-good.toml"), shipped("forward-task-failure.toml")).expect("write");
    let out = recoverysim_in(&dir, &["check", "scenarios"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("ERROR scenarios/a-pipe.toml"), "{stdout}");
    assert!(stdout.contains("a-pipe.toml: a FIFO (named pipe), not a regular file"), "{stdout}");
    assert!(stdout.contains("ERROR scenarios/b-dir.toml"), "{stdout}");
    assert!(stdout.contains("b-dir.toml: a directory, not a regular file"), "{stdout}");
    assert!(stdout.contains("ok    scenarios/c-good.toml"), "{stdout}");
    let json = recoverysim_in(&dir, &["check", "scenarios", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!((v["passed"].as_u64(), v["errors"].as_u64()), (Some(1), Some(2)), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run x.toml --trace PATH` where PATH is the scenario itself, spelled every way: refused
/// before the run, exit 2, the scenario untouched.
#[cfg(unix)]
#[test]
fn the_trace_never_replaces_the_scenario_however_it_is_spelled() {
    let dir = temp("clobber-trace");
    let text = shipped("forward-task-failure.toml");
    std::fs::write(dir.join("x.toml"), &text).expect("write");
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink("x.toml", dir.join("link.toml")).expect("symlink");
    std::fs::hard_link(dir.join("x.toml"), dir.join("hard.toml")).expect("hard link");
    let absolute = dir.join("x.toml").display().to_string();
    for trace in ["x.toml", "./x.toml", "link.toml", "hard.toml", "sub/../x.toml", absolute.as_str()] {
        let out = recoverysim_in(&dir, &["run", "x.toml", "--trace", trace]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--trace {trace}: {err}");
        assert!(err.starts_with(&format!("error: the trace: {trace}: is ")), "--trace {trace}: {err}");
        assert!(err.contains("not overwritten"), "--trace {trace}: {err}");
        assert!(out.stdout.is_empty(), "refused before the run");
        assert_eq!(std::fs::read_to_string(dir.join("x.toml")).expect("still there"), text, "--trace {trace}");
    }
    // The other way round: the scenario given through the link, the trace at the real file.
    let out = recoverysim_in(&dir, &["run", "link.toml", "--trace", "x.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(dir.join("link.toml")).expect("kept").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(dir.join("x.toml")).expect("still there"), text);
    // A special file as the trace: refused (`-` is standard output).
    let out = recoverysim_in(&dir, &["run", "x.toml", "--trace", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/dev/null: a character device, not a regular file"), "{}", stderr(&out));
    assert!(stderr(&out).contains("`--trace -`"), "{}", stderr(&out));
    // Any other file is written, through a symbolic link too (the link stays a link).
    std::os::unix::fs::symlink("real.jsonl", dir.join("t.jsonl")).expect("symlink");
    let out = recoverysim_in(&dir, &["run", "x.toml", "--trace", "t.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(dir.join("t.jsonl")).expect("kept").file_type().is_symlink());
    let trace = std::fs::read_to_string(dir.join("real.jsonl")).expect("written through the link");
    assert!(trace.starts_with("{\"") && trace.lines().count() > 10);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `explore --results`, `explore merge --results`, `sweep -o` and `check --snapshots` refuse an
/// output that is one of their inputs.
#[test]
fn no_command_writes_over_its_input() {
    let dir = temp("clobber-all");
    let text = shipped("forward-task-failure.toml");
    std::fs::write(dir.join("x.toml"), &text).expect("write");
    let unchanged = |file: &str, was: &str| {
        assert_eq!(std::fs::read_to_string(dir.join(file)).expect("still there"), was, "{file}");
    };
    let refused = |args: &[&str]| {
        let out = recoverysim_in(&dir, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("not overwritten"), "{args:?}: {err}");
    };

    refused(&["explore", "x.toml", "--seeds", "0-0", "--results", "./x.toml"]);
    unchanged("x.toml", &text);

    let out = recoverysim_in(&dir, &["explore", "x.toml", "--seeds", "0-1", "--results", "r.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = std::fs::read_to_string(dir.join("r.json")).expect("written");
    refused(&["explore", "merge", "r.json", "--results", "r.json"]);
    unchanged("r.json", &results);

    // A sweep whose case file would be the scenario itself (even with --force).
    std::fs::create_dir(dir.join("cases")).expect("mkdir");
    std::fs::write(dir.join("cases/sweep-snapshot-taken-source-0.toml"), &text).expect("write");
    refused(&["sweep", "cases/sweep-snapshot-taken-source-0.toml", "-o", "cases", "--force"]);
    unchanged("cases/sweep-snapshot-taken-source-0.toml", &text);

    // A pending snapshot that is a hard link to the scenario.
    let out = recoverysim_in(&dir, &["check", "x.toml", "--snapshots", "snaps"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(dir.join("snaps/x.snap"), "---\nsource: recoverysim check\n---\nan older report\n").expect("write");
    std::fs::hard_link(dir.join("x.toml"), dir.join("snaps/x.snap.new")).expect("hard link");
    refused(&["check", "x.toml", "--snapshots", "snaps"]);
    unchanged("x.toml", &text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write that fails part-way (here the writer itself fails after half the text) leaves the
/// old file as it was and no temporary file; a complete one replaces it, keeping its mode.
#[test]
fn an_interrupted_write_leaves_the_old_file_intact() {
    let dir = temp("atomic");
    let target = dir.join("out.jsonl");
    std::fs::write(&target, "the old file\n").expect("write");
    let none = Inputs::new();
    let err = write_streamed(&target, &none, true, |w| {
        w.write_all(b"{\"half\": ")?;
        w.flush()?;
        Err(std::io::Error::other("interrupted"))
    })
    .expect_err("the writer failed");
    assert!(matches!(err, FileError::Io { action: "write", .. }), "{err:?}");
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("kept"), "the old file\n");
    let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out.jsonl")], "no temporary file left");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    write_atomic(&target, b"the new file\n", &none, true).expect("written");
    assert_eq!(std::fs::read_to_string(&target).expect("replaced"), "the new file\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).expect("there").permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "the mode carries over");
    }
    let err = write_atomic(&target, b"again\n", &none, false).expect_err("not replaced without overwrite");
    assert!(matches!(err, FileError::Exists { .. }), "{err:?}");
    // Missing folders are created.
    write_atomic(&dir.join("a/b/c.txt"), b"deep\n", &none, false).expect("written");
    assert_eq!(std::fs::read_to_string(dir.join("a/b/c.txt")).expect("there"), "deep\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two scenarios with the same file name in different folders get different snapshot files, so
/// each passes against its own; an old-style `DIR/NAME.snap` of a scenario moves to its new name.
#[test]
fn same_named_scenarios_in_different_folders_keep_separate_snapshots() {
    let dir = temp("snap-names");
    let text = shipped("keyed-task-failure.toml");
    let slower = text
        .replace("\"restart-strategy.fixed-delay.delay\" = \"1s\"", "\"restart-strategy.fixed-delay.delay\" = \"2s\"");
    assert_ne!(slower, text);
    for (folder, t) in [("a", &text), ("b", &slower)] {
        std::fs::create_dir(dir.join(folder)).expect("mkdir");
        std::fs::write(dir.join(folder).join("job.toml"), t).expect("write");
    }
    for round in ["first", "second"] {
        let out = recoverysim_in(&dir, &["check", "a", "b/job.toml", "--snapshots", "snaps"]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(0), "{round}: {stdout}{}", stderr(&out));
    }
    let report = |f: &str| recoverysim::report(&recoverysim::run_file(dir.join(f)).expect("runs"));
    for f in ["a/job", "b/job"] {
        let snap = insta::Snapshot::from_file(&dir.join(format!("snaps/{f}.snap"))).expect("an insta snapshot");
        assert_eq!(
            snap.contents().as_text().expect("text").to_string().trim_end(),
            report(&format!("{f}.toml")).trim_end()
        );
    }
    // The name depends on the folder holding snaps/, not on how the scenario is spelled.
    let absolute = dir.join("a/job.toml").display().to_string();
    let out = recoverysim_in(&dir, &["check", &absolute, "--snapshots", "./snaps/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|f| {
            recoverysim::snapshot::snapshot_name(&dir.join("snaps"), &dir.join(f).join("job.toml")).expect("named")
        })
        .collect();
    assert_eq!(names, [PathBuf::from("a/job.snap"), PathBuf::from("b/job.snap")]);

    // Before: snaps/job.snap for a/job.toml. Moved, and still compared.
    std::fs::create_dir(dir.join("old")).expect("mkdir");
    let legacy = recoverysim::snapshot::snap_file_text(Path::new("a/job.toml"), &report("a/job.toml"));
    std::fs::write(dir.join("old/job.snap"), legacy).expect("write");
    let out = recoverysim_in(&dir, &["check", "a/job.toml", "--snapshots", "old"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("snapshot old/job.snap moved to old/a/job.snap"), "{}", stderr(&out));
    assert!(!dir.join("old/job.snap").exists() && dir.join("old/a/job.snap").exists());
    // An old-style file written for another scenario stays where it is.
    std::fs::write(
        dir.join("old/job.snap"),
        recoverysim::snapshot::snap_file_text(Path::new("elsewhere/job.toml"), "x"),
    )
    .expect("write");
    let out = recoverysim_in(&dir, &["check", "b/job.toml", "--snapshots", "old"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.join("old/job.snap").exists() && dir.join("old/b/job.snap").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names that could be taken for one another are kept apart.
#[test]
fn snapshot_names_cannot_collide() {
    let dir = temp("snap-collide");
    for f in ["x.toml", "x", "@x.toml", "@=x.toml", "sub/x.toml", "@root/x.toml", "@up/x.toml"] {
        let p = dir.join("s").join(f);
        std::fs::create_dir_all(p.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&p, "").expect("write");
    }
    let snaps = dir.join("snaps");
    std::fs::create_dir(&snaps).expect("mkdir");
    let name = |f: &str| recoverysim::snapshot::snapshot_name(&snaps, &dir.join("s").join(f)).expect("named");
    let names: Vec<PathBuf> = ["x.toml", "x", "@x.toml", "@=x.toml", "sub/x.toml", "@root/x.toml", "@up/x.toml"]
        .iter()
        .map(|f| name(f))
        .collect();
    let unique: std::collections::BTreeSet<&PathBuf> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(name("x.toml"), PathBuf::from("s/x.snap"));
    assert_eq!(name("x"), PathBuf::from("s/@=x.snap"));
    assert_eq!(name("@x.toml"), PathBuf::from("s/@@x.snap"));
    // Outside the folder that holds snaps/: under @root/ with the absolute path.
    let outside = recoverysim::snapshot::snapshot_name(&snaps.join("deeper"), &dir.join("s/x.toml"));
    assert!(outside.is_err(), "the snapshot folder must exist");
    std::fs::create_dir(snaps.join("deeper")).expect("mkdir");
    let outside = recoverysim::snapshot::snapshot_name(&snaps.join("deeper"), &dir.join("s/x.toml")).expect("named");
    assert!(outside.starts_with("@root"), "{}", outside.display());
    let _ = std::fs::remove_dir_all(&dir);
}
