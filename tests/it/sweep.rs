//! `sweep` and the `at-phase` trigger: a crash at each checkpoint-protocol phase leaves the
//! two-phase-commit sink exactly-once and shows where an append sink duplicates; the trigger
//! fires at the phase it names; a phase never reached says so; the README's tables are what
//! `sweep` prints.

use recoverysim::explore::sweep::{Cell, Plan, plan, render, run_case};
use recoverysim::fault::ProtocolPhase;
use recoverysim::fault::phase::JobPhase;
use recoverysim::trace::Note;
use std::sync::OnceLock;

fn swept(file: &str) -> (Plan, Vec<Cell>) {
    let text = std::fs::read_to_string(file).expect("a shipped scenario");
    let p = plan(file, &text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let cells = p.cases.iter().map(|c| run_case(file, c)).collect();
    (p, cells)
}

fn two_phase() -> &'static (Plan, Vec<Cell>) {
    static S: OnceLock<(Plan, Vec<Cell>)> = OnceLock::new();
    S.get_or_init(|| swept("scenarios/keyed-tm-kill.toml"))
}

fn append() -> &'static (Plan, Vec<Cell>) {
    static S: OnceLock<(Plan, Vec<Cell>)> = OnceLock::new();
    S.get_or_init(|| swept("scenarios/keyed-append-tm-kill.toml"))
}

fn cell<'a>(s: &'a (Plan, Vec<Cell>), phase: ProtocolPhase, subtask: &str) -> &'a Cell {
    let i = s.0.subtasks.iter().position(|n| n == subtask).unwrap_or_else(|| panic!("{subtask}"));
    s.1.iter().find(|c| c.phase == phase && c.subtask.0 as usize == i).unwrap_or_else(|| panic!("{phase:?} {subtask}"))
}

#[test]
fn the_two_phase_commit_sink_is_exactly_once_at_every_phase() {
    let s = two_phase();
    // Phases only where they can happen: a barrier on some inputs at the keyed tasks (two input
    // channels each), a pre-commit at the sinks.
    let at = |phase: ProtocolPhase| -> Vec<String> {
        s.1.iter().filter(|c| c.phase == phase).map(|c| s.0.subtasks[c.subtask.0 as usize].clone()).collect()
    };
    assert_eq!(at(ProtocolPhase::BarrierOnSomeInputs), ["count[0]", "count[1]"]);
    assert_eq!(at(ProtocolPhase::PreCommitted), ["sink[0]", "sink[1]"]);
    assert_eq!(s.1.len(), 2 + 2 + 5 * 8);
    for c in &s.1 {
        let what = format!("{:?} of {}", c.phase, s.0.subtasks[c.subtask.0 as usize]);
        assert!(c.reached, "{what}");
        assert_eq!(c.verdict, "exactly_once", "{what}: {c:?}");
        assert_eq!((c.lost, c.duplicated), (0, 0), "{what}");
        assert!(!c.judgement.is_fail(), "{what}");
        assert!(c.failovers >= 1, "{what}: the crash causes a failover");
    }
    // Restoring and deploying crash a second time: two failovers at least.
    assert!(cell(s, ProtocolPhase::Restoring, "sink[1]").failovers >= 2);
    assert!(cell(s, ProtocolPhase::Deploying, "count[0]").failovers >= 2);
}

#[test]
fn the_append_sink_duplicates_at_every_phase_and_more_before_the_checkpoint_completes() {
    let s = append();
    assert_eq!(s.1.iter().filter(|c| c.phase == ProtocolPhase::PreCommitted).count(), 0, "no pre-commit to crash at");
    for c in &s.1 {
        let what = format!("{:?} of {}", c.phase, s.0.subtasks[c.subtask.0 as usize]);
        assert!(c.reached, "{what}");
        assert_eq!(c.verdict, "at_least_once", "{what}");
        assert_eq!(c.lost, 0, "{what}");
        assert!(c.duplicated > 0, "{what}");
        assert!(!c.judgement.is_fail(), "an append sink duplicating is what Flink does: {what}");
    }
    // A crash before the checkpoint completes restarts from the one before: everything the
    // sinks appended since that one's barrier (200 ms more) is written again.
    for st in &s.0.subtasks {
        let before = cell(s, ProtocolPhase::SnapshotTaken, st).duplicated;
        let after = cell(s, ProtocolPhase::CompletedNotNotified, st).duplicated;
        assert!(before > after + 100, "{st}: {before} duplicated before completion, {after} after");
    }
    // sink[1]'s acknowledgement is the last of checkpoint 50: it completes; count[0]'s is not.
    assert!(cell(s, ProtocolPhase::Acknowledged, "sink[1]").duplicated < 100);
    assert!(cell(s, ProtocolPhase::Acknowledged, "sink[0]").duplicated > 200);
}

#[test]
fn a_phase_never_reached_says_not_reached() {
    let s = two_phase();
    let file = "scenarios/keyed-tm-kill.toml";
    let mut p = s.0.clone();
    let k = p.cases.iter().position(|c| c.phase == ProtocolPhase::SnapshotTaken).expect("a case");
    let want = format!("checkpoint = {}", p.checkpoint);
    assert!(p.cases[k].text.contains(&want), "{}", p.cases[k].text);
    p.cases[k].text = p.cases[k].text.replace(&want, "checkpoint = 99999");
    let mut cells = s.1.clone();
    let i = cells.iter().position(|c| c.phase == ProtocolPhase::SnapshotTaken).expect("a cell");
    cells[i] = run_case(file, &p.cases[k]);
    assert!(!cells[i].reached);
    let table = render(&p, &cells);
    let row = table.lines().find(|l| l.starts_with("snapshot-taken")).expect("a row");
    assert!(row.contains("not reached") && row.ends_with("7/8"), "{row}");
    assert!(table.contains("43 of 44 cases reached their phase"), "{table}");
}

/// The README's capture after `marker` (a ```text block).
fn capture(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let at = readme.find(marker).unwrap_or_else(|| panic!("the README shows {marker}"));
    let block = &readme[at..];
    let start = block.find("```text\n").expect("a text block") + "```text\n".len();
    let end = block[start..].find("\n```").expect("the block ends") + start;
    block[start..end].to_string()
}

#[test]
fn the_readme_tables_are_what_sweep_prints() {
    for (marker, s) in [
        ("<!-- sweep capture: scenarios/keyed-tm-kill.toml -->", two_phase()),
        ("<!-- sweep capture: scenarios/keyed-append-tm-kill.toml -->", append()),
    ] {
        assert_eq!(capture(marker), render(&s.0, &s.1).trim_end(), "the README's capture is stale: {marker}");
    }
    // And the command prints it (exit 0: no case fails).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(["sweep", "scenarios/keyed-append-tm-kill.toml", "--jobs", "2"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim_end(), render(&append().0, &append().1).trim_end());
}

/// keyed-tm-kill with one `at-phase` fault instead of its own.
fn with_phase_fault(fault: &str) -> recoverysim::run::Run {
    let text = std::fs::read_to_string("scenarios/keyed-tm-kill.toml").expect("shipped");
    let cut = text.find("[[fault]]").expect("a fault");
    let text = format!("{}{fault}", &text[..cut]);
    let sc = recoverysim::scenario::parse_str("test.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    recoverysim::run::simulate(&sc)
}

fn restored_from(run: &recoverysim::run::Run) -> Vec<u64> {
    let mut v: Vec<u64> = run
        .outcome
        .notes
        .iter()
        .filter_map(|e| match e.note {
            Note::Restored { cp: Some(cp), .. } => Some(cp),
            _ => None,
        })
        .collect();
    v.dedup();
    v
}

#[test]
fn the_phase_trigger_fires_where_it_says_and_the_fault_is_classified_there() {
    // Killed after its snapshot and before its acknowledgement: checkpoint 30 cannot complete,
    // the job restores checkpoint 29.
    let r = with_phase_fault("[[fault]]\nat-phase = \"snapshot-taken\"\nsubtask = \"sink[0]\"\ncheckpoint = 30\n");
    assert_eq!(restored_from(&r), [29]);
    assert!(matches!(r.outcome.coverage[0].phase, JobPhase::Snapshotting | JobPhase::BarriersInFlight));
    assert_eq!(r.outcome.coverage[0].kind, "kill-taskmanager");
    // Killed once the JobManager completed checkpoint 30, before the notification arrives: the
    // job restores checkpoint 30, and its pre-committed transactions are committed on recovery.
    let r =
        with_phase_fault("[[fault]]\nat-phase = \"completed-not-notified\"\nsubtask = \"sink[0]\"\ncheckpoint = 30\n");
    assert_eq!(restored_from(&r), [30]);
    assert_eq!(r.outcome.coverage[0].phase, JobPhase::NotifyPending);
    assert_eq!(r.output.verdict.name(), "exactly_once");
    assert!(
        r.outcome.notes.iter().any(|e| matches!(e.note, Note::SinkCommitted { checkpoint: 30, recovered: true, .. }))
    );
    // The TaskManager killed is the one running the subtask (load balancing puts lane 1 on tm-1).
    let r = with_phase_fault("[[fault]]\nat-phase = \"acknowledged\"\nsubtask = \"count[1]\"\ncheckpoint = 12\n");
    let text = r.outcome.notes.iter().find_map(|e| match &e.note {
        Note::FaultInjected { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(text.as_deref(), Some("kill-taskmanager running count[1] (acknowledged, checkpoint 12) on tm-1"));
    assert_eq!(r.outcome.coverage[0].operators, ["keyed-count", "map", "sink", "source"]);
    // A restarted attempt killed while deploying: classified as deploying.
    let r = with_phase_fault(
        "[[fault]]\nat = \"10s\"\nfail-task = \"map[0]\"\n\n[[fault]]\nat-phase = \"deploying\"\nsubtask = \"map[0]\"\nafter = \"10s\"\n",
    );
    assert!(r.outcome.fault_times[1].is_some());
    assert_eq!(r.outcome.coverage[1].phase, JobPhase::Deploying);
    assert_eq!(r.output.verdict.name(), "exactly_once");
}

#[test]
fn phase_faults_are_checked_with_positioned_errors() {
    let text = std::fs::read_to_string("scenarios/keyed-tm-kill.toml").expect("shipped");
    let cut = text.find("[[fault]]").expect("a fault");
    let err = |fault: &str| {
        let t = format!("{}{fault}", &text[..cut]);
        match recoverysim::scenario::parse_str("t.toml", &t) {
            Ok(_) => panic!("accepted: {fault}"),
            Err(e) => e.to_string(),
        }
    };
    let e = err("[[fault]]\nat-phase = \"snapshot\"\nsubtask = \"count[0]\"\n");
    assert!(e.contains("unknown protocol phase \"snapshot\"") && e.contains("did you mean \"snapshot-taken\""), "{e}");
    assert!(e.contains("t.toml:"), "positioned: {e}");
    let e = err("[[fault]]\nat-phase = \"acknowledged\"\n");
    assert!(e.contains("needs the `subtask`"), "{e}");
    let e = err("[[fault]]\nat-phase = \"barrier-on-some-inputs\"\nsubtask = \"sink[0]\"\n");
    assert!(e.contains("sink[0] has 1 input channel(s)"), "{e}");
    let e = err("[[fault]]\nat-phase = \"pre-committed\"\nsubtask = \"count[0]\"\n");
    assert!(e.contains("runs no two-phase-commit sink"), "{e}");
    let e = err("[[fault]]\nat = \"1s\"\ncheckpoint = 3\nkill-taskmanager = 0\n");
    assert!(e.contains("`checkpoint` goes with `at-phase`"), "{e}");
    let e = err("[[fault]]\nat = \"1s\"\nat-phase = \"acknowledged\"\nsubtask = \"count[0]\"\n");
    assert!(e.contains("exactly one of `at`, `at-record`, `at-phase` and `at-late-delivery`"), "{e}");
    let e = err("[[fault]]\nat-phase = \"acknowledged\"\nsubtask = \"count[0]\"\ncheckpoint = 0\n");
    assert!(e.contains("numbered from 1"), "{e}");
    // An explicit action replaces the default kill.
    let t = format!(
        "{}[[fault]]\nat-phase = \"acknowledged\"\nsubtask = \"count[0]\"\nfail-task = \"map[1]\"\n",
        &text[..cut]
    );
    let sc = recoverysim::scenario::parse_str("t.toml", &t).expect("valid");
    assert!(matches!(sc.faults[0].action, recoverysim::fault::FaultAction::FailTask(_)));
}

#[test]
fn a_planted_bug_shows_at_the_phases_where_it_bites() {
    // no-recommit: a restarted sink does not commit the restored checkpoint's transactions
    // again. Only a crash after the checkpoint completed and before the notification reached the
    // sinks leaves them uncommitted: those records are lost. A crash before completion restarts
    // from the checkpoint before, whose transactions were committed: nothing lost.
    let file = "scenarios/keyed-tm-kill.toml";
    let text = std::fs::read_to_string(file).expect("shipped");
    let p = plan(file, &text, &["no-recommit".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.cases.iter().all(|c| c.text.contains("no-recommit = true")));
    for c in &p.cases {
        if !matches!(c.phase, ProtocolPhase::SnapshotTaken | ProtocolPhase::CompletedNotNotified) {
            continue;
        }
        let cell = run_case(file, c);
        let what = format!("{:?} of {}", c.phase, p.subtasks[c.subtask.0 as usize]);
        if c.phase == ProtocolPhase::CompletedNotNotified {
            assert_eq!(cell.verdict, "at_most_once", "{what}");
            assert!(cell.lost > 50 && cell.judgement.is_fail(), "{what}: {cell:?}");
        } else {
            assert_eq!(cell.verdict, "exactly_once", "{what}");
        }
    }
    assert!(matches!(
        plan(file, &text, &["no-such-bug".to_string()]),
        Err(recoverysim::explore::sweep::SweepError::UnknownBug(_))
    ));
}
