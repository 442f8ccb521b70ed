//! The replay: rendering at key moments pinned as snapshots (80×24, ratatui's TestBackend), every
//! key, stepping back, and the real binary in tmux.

use crate::snapshot;
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use recoverysim::tui::app::App;
use recoverysim::tui::{input, ui};

fn app() -> App {
    App::new(recoverysim::run_file("scenarios/keyed-tm-kill.toml").expect("shipped scenario"))
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    terminal.draw(|f| ui::draw(f, app)).expect("draws");
    let buffer = terminal.backend().buffer().clone();
    (0..24)
        .map(|y| (0..80).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_next_failover_shows_what_restarts_and_stepping_back_returns_before_the_crash() {
    let mut a = app();
    snapshot("replay-start", &screen(&a));
    input(&mut a, KeyCode::Char('n'));
    let fault = screen(&a);
    assert!(fault.contains("FAULT kill-taskmanager 1"), "{fault}");
    snapshot("replay-fault", &fault);
    input(&mut a, KeyCode::Char('f'));
    let failover = screen(&a);
    assert!(failover.contains("failover #1: count[0] failed; restart 8 of 8 subtasks"), "{failover}");
    snapshot("replay-failover", &failover);
    input(&mut a, KeyCode::Char('r'));
    let restore = screen(&a);
    assert!(restore.contains("restores checkpoint 64"), "{restore}");
    assert!(restore.contains("#1 INITIALIZING"), "the new attempts: {restore}");
    snapshot("replay-restore", &restore);
    // Back to before the crash: the fault has not fired, every first attempt runs.
    input(&mut a, KeyCode::Char('N'));
    input(&mut a, KeyCode::Left);
    let before = screen(&a);
    assert!(before.contains("faults 0") && !before.contains("#1 "), "{before}");
    assert_eq!(a.view, recoverysim::tui::app::View::at(&a.run, a.cursor), "the view is the trace folded to the cursor");
}

#[test]
fn every_key_does_what_the_help_says() {
    let mut a = app();
    let len = a.len();
    input(&mut a, KeyCode::Right);
    assert_eq!(a.cursor, 1);
    input(&mut a, KeyCode::Char('l'));
    assert_eq!(a.cursor, 2);
    input(&mut a, KeyCode::Char('h'));
    input(&mut a, KeyCode::Left);
    input(&mut a, KeyCode::Left);
    assert_eq!(a.cursor, 0, "never before the start");
    input(&mut a, KeyCode::Char('G'));
    assert_eq!(a.cursor, len);
    input(&mut a, KeyCode::Right);
    assert_eq!(a.cursor, len, "never past the end");
    input(&mut a, KeyCode::Char('g'));
    assert_eq!(a.cursor, 0);
    let kind = |a: &App| format!("{:?}", a.run.outcome.notes[a.cursor - 1].note);
    for (key, back, what) in
        [('n', 'N', "FaultInjected"), ('f', 'F', "FailoverStarted"), ('r', 'R', "Restored"), ('c', 'C', "Checkpoint")]
    {
        a.seek(0);
        input(&mut a, KeyCode::Char(key));
        assert!(kind(&a).starts_with(what), "{key}: {}", kind(&a));
        let first = a.cursor;
        input(&mut a, KeyCode::Char(key));
        let second = a.cursor;
        if second != first {
            assert!(kind(&a).starts_with(what) && second > first, "{key} twice");
            input(&mut a, KeyCode::Char(back));
            assert_eq!(a.cursor, first, "{back} goes back to the previous one");
        }
    }
    input(&mut a, KeyCode::Char('?'));
    assert!(a.help);
    let help = screen(&a);
    for (k, what) in ui::KEYS {
        assert!(help.contains(what), "help lists {k}: {help}");
    }
    snapshot("replay-help", &help);
    input(&mut a, KeyCode::Char('x'));
    assert!(!a.help && !a.quit, "any key closes the help");
    input(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
    let mut b = app();
    input(&mut b, KeyCode::Esc);
    assert!(b.quit);
}

/// The real binary in a real terminal: tmux runs it, the test sends keys and reads the pane.
#[test]
fn replay_in_tmux() {
    use std::process::Command;
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let session = format!("recoverysim-replay-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux runs");
    let bin = env!("CARGO_BIN_EXE_recoverysim");
    let cmd = format!("cd {} && {bin} replay scenarios/keyed-tm-kill.toml", env!("CARGO_MANIFEST_DIR"));
    let started = tmux(&["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &cmd]);
    assert!(started.status.success(), "{started:?}");
    let pane = |want: &str| {
        for _ in 0..100 {
            let out = tmux(&["capture-pane", "-t", &session, "-p"]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.contains(want) {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = tmux(&["capture-pane", "-t", &session, "-p"]);
        tmux(&["kill-session", "-t", &session]);
        panic!("the pane never showed {want:?}:\n{}", String::from_utf8_lossy(&out.stdout));
    };
    pane("event 0/");
    tmux(&["send-keys", "-t", &session, "f"]);
    pane("restart 8 of 8 subtasks");
    tmux(&["send-keys", "-t", &session, "g"]);
    pane("event 0/");
    tmux(&["send-keys", "-t", &session, "q"]);
    let mut gone = false;
    for _ in 0..50 {
        if !tmux(&["has-session", "-t", &session]).status.success() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !gone {
        tmux(&["kill-session", "-t", &session]);
    }
    assert!(gone, "q quits");
}
