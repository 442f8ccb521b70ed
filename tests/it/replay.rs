//! The replay: rendering at key moments pinned as snapshots (ratatui's TestBackend), every key,
//! the prompts, playing, the mouse, sizes and NO_COLOR, time travel against a straight run, and
//! the real binary in tmux.

use crate::snapshot;
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use recoverysim::run::Run;
use recoverysim::tui::app::{App, Tab};
use recoverysim::tui::{click, input, mouse, ui};

/// The newcomer's scenario, simulated (each test has its own: a run is not `Sync`).
fn run() -> &'static Run {
    Box::leak(Box::new(recoverysim::run_file("scenarios/keyed-tm-kill.toml").expect("shipped scenario")))
}

fn app() -> App<'static> {
    App::new(run())
}

fn terminal(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    crate::replay_terminal(app, w, h)
}

fn screen_at(app: &App, w: u16, h: u16) -> String {
    crate::replay_screen(app, w, h)
}

fn screen(app: &App) -> String {
    screen_at(app, 80, 24)
}

fn key(a: &mut App, c: char) {
    input(a, KeyCode::Char(c));
}

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        key(a, c);
    }
    input(a, KeyCode::Enter);
}

/// The log line of the note at the cursor.
fn current(a: &App) -> String {
    a.current_note().map(|i| ui::log_line(a, i)).unwrap_or_default()
}

#[test]
fn the_next_failover_shows_what_restarts_and_stepping_back_returns_before_the_crash() {
    let mut a = app();
    snapshot("replay-start", &screen(&a));
    key(&mut a, 'n');
    let fault = screen(&a);
    assert!(fault.contains("FAULT kill-taskmanager 1"), "{fault}");
    assert!(fault.contains("tm-1 process DEAD"), "the cluster shows the dead process: {fault}");
    snapshot("replay-fault", &fault);
    key(&mut a, 'f');
    let failover = screen(&a);
    assert!(failover.contains("failover #1: count[0] lost connection to tm-1, restart 8/8"), "{failover}");
    assert!(failover.contains("CANCELING"), "the subtasks being cancelled: {failover}");
    snapshot("replay-failover", &failover);
    // Who noticed, and how: the failed task's connection to the dead TaskManager.
    key(&mut a, '4');
    let exceptions = screen(&a);
    assert!(exceptions.contains("RemoteTransportException") && exceptions.contains("count[0]"), "{exceptions}");
    assert!(!exceptions.contains("chk-64"), "which checkpoint comes back is not decided yet: {exceptions}");
    snapshot("replay-exceptions", &exceptions);
    key(&mut a, '1');
    key(&mut a, 'r');
    let restore = screen(&a);
    assert!(restore.contains("restores checkpoint 64"), "{restore}");
    assert!(restore.contains("#1 INITIALIZING") || restore.contains("#1 RUNNING"), "the new attempts: {restore}");
    snapshot("replay-restore", &restore);
    a.tab = Tab::Exceptions;
    assert!(screen(&a).contains("restored chk-64"), "once restored, the exception history says from what");
    a.tab = Tab::Cluster;
    // The sink transactions: the one pre-committed after checkpoint 64 is aborted on restore,
    // then new transactions commit again.
    a.tab = Tab::Transactions;
    key(&mut a, '/');
    typed(&mut a, "aborts");
    let aborted = screen(&a);
    assert!(
        aborted.contains("sink[1] aborts 1 lingering transaction (97 records)") && aborted.contains("65:aborted 97"),
        "{aborted}"
    );
    snapshot("replay-transactions-abort", &aborted);
    key(&mut a, '/');
    typed(&mut a, "commits the transaction");
    let txns = screen(&a);
    assert!(txns.contains("commits the transaction of checkpoint"), "{txns}");
    assert!(
        a.seen
            .txns
            .iter()
            .any(|t| t.checkpoint >= 65 && t.state == recoverysim::cluster::external::TxnState::Committed),
        "{txns}"
    );
    snapshot("replay-transactions-commit", &txns);
    // Back to before the crash: the fault has not fired, every first attempt runs.
    a.tab = Tab::Cluster;
    key(&mut a, 'N');
    input(&mut a, KeyCode::Left);
    let before = screen(&a);
    assert!(before.contains("faults 0") && !before.contains("#1 "), "{before}");
    assert!(before.contains("tm-1 2 slots"), "tm-1 is alive again: {before}");
}

#[test]
fn the_views_at_a_checkpoint_and_during_recovery() {
    let mut a = app();
    // The first checkpoint in flight: the barrier on the wire or aligning.
    key(&mut a, '2');
    let triggered = (0..a.notes().len())
        .find(|&i| matches!(a.notes()[i].note, recoverysim::trace::Note::CheckpointTriggered { .. }))
        .expect("a checkpoint is triggered");
    a.goto_note(triggered + 1);
    for _ in 0..50 {
        let e = &a.seen.edges;
        if e.iter().any(|f| f.barriers_on_wire + f.barriers_queued > 0) {
            break;
        }
        key(&mut a, '.');
    }
    let graph = screen(&a);
    assert!(a.seen.edges.iter().any(|f| f.barriers_on_wire + f.barriers_queued > 0), "{graph}");
    assert!(graph.contains("source =forward=> map"), "{graph}");
    snapshot("replay-graph-barrier", &graph);
    key(&mut a, '3');
    let cps = screen(&a);
    assert!(cps.contains("IN_PROGRESS"), "the checkpoint in flight, with its acknowledgements: {cps}");
    snapshot("replay-checkpoints-in-progress", &cps);
    key(&mut a, 'f');
    key(&mut a, 'c');
    let cps = screen(&a);
    assert!(cps.contains("FAILED") && cps.contains("COMPLETED"), "{cps}");
    key(&mut a, '6');
    let oracle = screen_at(&a, 100, 40);
    assert!(oracle.contains("fault-free run") && oracle.contains("exactly_once"), "{oracle}");
    snapshot("replay-oracle", &oracle);
}

#[test]
fn every_key_does_what_the_help_says() {
    let mut a = app();
    let total = a.total_events();
    input(&mut a, KeyCode::Right);
    assert_eq!(a.notes_seen, a.notes().len().min(a.notes_seen), "moved to a note");
    let first = a.event;
    assert!(first > 0 && a.notes_seen >= 1);
    key(&mut a, 'l');
    assert!(a.event > first);
    key(&mut a, 'h');
    assert_eq!(a.event, first, "back to the previous note's event");
    for (fwd, back) in [(KeyCode::Down, KeyCode::Up), (KeyCode::Char('j'), KeyCode::Char('k'))] {
        input(&mut a, fwd);
        assert!(a.event > first, "{fwd:?} moves to the next event");
        input(&mut a, back);
        assert_eq!(a.event, first, "{back:?} moves back");
    }
    input(&mut a, KeyCode::Left);
    input(&mut a, KeyCode::Left);
    assert_eq!(a.event, 0, "never before the start");
    key(&mut a, '.');
    assert_eq!(a.event, 1, "one engine event");
    key(&mut a, '.');
    key(&mut a, ',');
    assert_eq!(a.event, 1, "one engine event back");
    key(&mut a, 'G');
    assert_eq!(a.event, total);
    input(&mut a, KeyCode::Right);
    key(&mut a, '.');
    assert_eq!(a.event, total, "never past the end");
    key(&mut a, 'g');
    assert_eq!(a.event, 0);
    input(&mut a, KeyCode::End);
    input(&mut a, KeyCode::Home);
    assert_eq!(a.event, 0);
    let kind = |a: &App| a.current_note().map(|i| format!("{:?}", a.notes()[i].note)).unwrap_or_default();
    // The event a jump lands on wrote the note it looked for (maybe with others).
    let wrote = |a: &App, what: &str| {
        (0..a.notes_seen)
            .rev()
            .take_while(|&i| a.is_current(i))
            .any(|i| format!("{:?}", a.notes()[i].note).starts_with(what))
    };
    for (k, back, what) in
        [('n', 'N', "FaultInjected"), ('f', 'F', "FailoverStarted"), ('r', 'R', "Restored"), ('c', 'C', "Checkpoint")]
    {
        a.seek_event(0);
        key(&mut a, k);
        assert!(wrote(&a, what), "{k}: {}", kind(&a));
        let first = a.event;
        key(&mut a, k);
        let second = a.event;
        if second != first {
            assert!(wrote(&a, what) && second > first, "{k} twice");
            key(&mut a, back);
            assert_eq!(a.event, first, "{back} goes back to the previous one");
        } else {
            assert!(a.message.as_deref().is_some_and(|m| m.starts_with("no later")), "{:?}", a.message);
        }
    }
    // From the end, each capital goes back to the last event of its kind.
    for (back, what) in [('N', "FaultInjected"), ('F', "FailoverStarted"), ('R', "Restored"), ('C', "Checkpoint")] {
        key(&mut a, 'G');
        key(&mut a, back);
        assert!(a.event < total && wrote(&a, what), "{back} from the end: {}", kind(&a));
    }
    // Backward from an event that wrote nothing: the nearest earlier fault, not the one before.
    a.seek_event(0);
    key(&mut a, 'n');
    let fault = a.event;
    key(&mut a, '.');
    assert!(!a.is_current(a.notes_seen - 1), "this engine event wrote no note");
    key(&mut a, 'N');
    assert_eq!(a.event, fault, "N from just after the fault goes back to it");
    key(&mut a, '.');
    input(&mut a, KeyCode::Left);
    assert_eq!(a.event, fault, "← from an event that wrote nothing: back to the event of the last note");
    // No violation in a clean run: v says so and stays.
    let here = a.event;
    key(&mut a, 'v');
    assert_eq!(a.event, here);
    assert_eq!(a.message.as_deref(), Some("no later violation"));
    key(&mut a, 'V');
    assert_eq!(a.message.as_deref(), Some("no earlier violation"));
    // Views.
    for (d, tab) in ('1'..='6').zip(Tab::ALL) {
        key(&mut a, d);
        assert_eq!(a.tab, tab);
    }
    input(&mut a, KeyCode::Tab);
    assert_eq!(a.tab, Tab::Cluster, "Tab cycles");
    input(&mut a, KeyCode::BackTab);
    assert_eq!(a.tab, Tab::Oracle, "Shift-Tab cycles back");
    // Speed.
    let speed = a.speed;
    key(&mut a, '+');
    assert_eq!(a.speed, speed + 1);
    for _ in 0..20 {
        key(&mut a, '+');
    }
    assert_eq!(a.speed, recoverysim::tui::app::SPEEDS.len() - 1, "the fastest speed is the limit");
    let _ = screen(&a);
    a.speed = speed + 1;
    key(&mut a, '-');
    key(&mut a, '-');
    assert_eq!(a.speed, speed - 1);
    key(&mut a, '?');
    assert!(a.help);
    let help = screen(&a);
    for (k, what) in ui::KEYS {
        assert!(help.contains(what), "help lists {k}: {help}");
    }
    snapshot("replay-help", &help);
    let here = a.event;
    key(&mut a, 'l');
    assert!(!a.help && !a.quit && a.event == here, "any key closes the help, and only that");
    // q and Esc close the help like any other key; only then do they quit.
    for k in [KeyCode::Char('q'), KeyCode::Esc] {
        key(&mut a, '?');
        input(&mut a, k);
        assert!(!a.help && !a.quit, "{k:?} closes the help only");
    }
    key(&mut a, 'q');
    assert!(a.quit);
    let mut b = app();
    input(&mut b, KeyCode::Esc);
    assert!(b.quit);
}

#[test]
fn violations_are_a_jump_away_in_a_broken_run() {
    let mut sc =
        recoverysim::scenario::load_file("scenarios/retained-checkpoints.toml".as_ref()).expect("shipped scenario");
    assert!(sc.bugs.set("restore-oldest-checkpoint"), "a known bug");
    let run = recoverysim::run::simulate(&sc);
    assert!(!run.outcome.violations.is_empty(), "the planted bug breaks an invariant");
    let mut a = App::new(&run);
    key(&mut a, 'v');
    assert!(a.event > 0, "{:?}", a.message);
    let cited: usize = run.outcome.violations[0]
        .split("trace line #")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a violation cites its trace line");
    assert!(a.is_current(cited - 1), "v lands on the event the violation cites: {}", current(&a));
    // v moves on through every violation, in order, until there is none; V from the end
    // walks them back.
    let mut marks = vec![a.event];
    loop {
        key(&mut a, 'v');
        if a.message.as_deref() == Some("no later violation") {
            break;
        }
        assert!(a.event > *marks.last().expect("not empty"), "v moves forward");
        marks.push(a.event);
    }
    key(&mut a, 'G');
    for &m in marks.iter().rev() {
        key(&mut a, 'V');
        assert_eq!(a.event, m, "V walks the violations back");
    }
    key(&mut a, 'V');
    assert_eq!(a.message.as_deref(), Some("no earlier violation"));
}

#[test]
fn go_to_search_and_filter() {
    let mut a = app();
    key(&mut a, ':');
    typed(&mut a, "170");
    assert_eq!(a.notes_seen, 170.max(a.notes_seen), "at or just past note 170");
    assert!(a.is_current(169), "trace line #170 was written by this event");
    key(&mut a, ':');
    typed(&mut a, "#5");
    assert!(a.is_current(4));
    key(&mut a, ':');
    typed(&mut a, "12.5s");
    assert!(a.now_us() <= 12_500_000 && a.now_us() > 12_400_000, "{}", a.now_us());
    key(&mut a, ':');
    typed(&mut a, "@1000");
    assert_eq!(a.event, 1000);
    key(&mut a, ':');
    typed(&mut a, "soon");
    assert_eq!(a.event, 1000, "a bad go-to stays");
    assert!(a.message.as_deref().is_some_and(|m| m.contains("not \"soon\"")), "{:?}", a.message);
    // Esc leaves a prompt; Backspace edits it.
    key(&mut a, ':');
    key(&mut a, '9');
    input(&mut a, KeyCode::Backspace);
    assert_eq!(a.prompt.as_ref().map(|p| p.1.as_str()), Some(""));
    input(&mut a, KeyCode::Esc);
    assert!(a.prompt.is_none() && !a.quit, "Esc closes the prompt, not the replay");
    // Search: the next line that mentions it, then the next, then back.
    a.seek_event(0);
    key(&mut a, '/');
    typed(&mut a, "restores checkpoint");
    let first = a.event;
    assert!(first > 0, "{:?}", a.message);
    let event_wrote = |a: &App, what: &str| {
        (0..a.notes_seen).rev().take_while(|&i| a.is_current(i)).any(|i| ui::log_line(a, i).contains(what))
    };
    assert!(event_wrote(&a, "restores checkpoint"), "the search lands on a match: {}", current(&a));
    key(&mut a, ']');
    assert!(a.event > first && event_wrote(&a, "restores checkpoint"), "] the next match");
    let second = a.event;
    key(&mut a, '[');
    assert!(a.event < second && event_wrote(&a, "restores checkpoint"), "[ the previous match");
    key(&mut a, ']');
    // Filter: only matching lines in the log.
    key(&mut a, '=');
    assert!(a.filter && a.message.is_none(), "filtering by the search");
    let filtered = screen(&a);
    assert!(filtered.contains("trace lines matching"), "{filtered}");
    let log: Vec<&str> = filtered.lines().skip_while(|l| !l.contains("trace lines matching")).skip(1).take(6).collect();
    assert!(log.len() == 6 && log[0].contains("restores checkpoint"), "{filtered}");
    assert!(log.iter().all(|l| l.contains("restores checkpoint") || l.starts_with('└')), "{filtered}");
    key(&mut a, '=');
    assert!(!a.filter, "= again shows every line");
    // Without a search, = says what it needs.
    let mut b = app();
    key(&mut b, '=');
    assert_eq!(b.message.as_deref(), Some("= filters the log by the search: press / first"));
    key(&mut a, '/');
    typed(&mut a, "no such words anywhere");
    assert!(a.message.as_deref().is_some_and(|m| m.contains("not found")), "{:?}", a.message);
}

#[test]
fn playing_moves_virtual_time_at_the_chosen_speed() {
    let mut a = app();
    key(&mut a, ' ');
    assert!(a.playing);
    a.tick(100);
    assert_eq!(a.play_us, 100_000, "100 ms at 1×");
    let t1 = a.now_us();
    assert!(t1 > 0 && t1 <= 100_000, "at the last event by then: {t1}");
    key(&mut a, '+');
    a.tick(100);
    assert_eq!(a.play_us, 300_000, "100 ms more at 2×");
    assert!(a.now_us() <= 300_000 && a.now_us() > t1, "2×: {}", a.now_us());
    key(&mut a, ' ');
    let paused = a.event;
    a.tick(100);
    assert_eq!(a.event, paused, "paused: a tick does nothing");
    // Through a stretch without events (the restart delay after the failover) the clock runs on.
    key(&mut a, 'f');
    let from = a.now_us();
    key(&mut a, ' ');
    for _ in 0..30 {
        a.tick(100);
    }
    assert!(a.play_us >= from + 2_900_000, "3 s of wall time at 1× play 3 s: {} → {}", from, a.play_us);
    assert!(a.now_us() > from + 1_000_000, "past the 1 s restart delay: {}", a.now_us());
    key(&mut a, ' ');
    key(&mut a, 'G');
    key(&mut a, ' ');
    assert!(!a.playing, "at the end there is nothing to play");
}

#[test]
fn the_mouse_selects_views_subtasks_and_log_lines() {
    let mut a = app();
    key(&mut a, 'f');
    let _ = terminal(&a, 80, 24);
    // The tab bar is line 3 (row 2); "4 Exceptions" starts after the first three labels.
    let tabs = screen(&a).lines().nth(2).expect("tab bar").to_string();
    let col = tabs.find("4 Exceptions").expect("tab shown") as u16;
    click(&mut a, col, 2);
    assert_eq!(a.tab, Tab::Exceptions);
    click(&mut a, tabs.find("1 Cluster").expect("tab shown") as u16, 2);
    assert_eq!(a.tab, Tab::Cluster);
    // A subtask line of the cluster view.
    let _ = terminal(&a, 80, 24);
    let text = screen(&a);
    let row = text.lines().position(|l| l.contains("  source[0] #0")).expect("source[0] shown") as u16;
    click(&mut a, 10, row);
    assert_eq!(a.selected.map(|s| a.subtask_name(s)), Some("source[0]".to_string()));
    let details = screen_at(&a, 100, 40);
    assert!(details.contains("source[0]:") && details.contains("inputs:"), "{details}");
    let _ = terminal(&a, 80, 24);
    click(&mut a, 10, row);
    assert_eq!(a.selected, None, "a second click clears");
    // A log line: the cursor moves to that note.
    let _ = terminal(&a, 80, 24);
    let text = screen(&a);
    // A log line whose time differs from the line above: its note is the first of its event.
    let lines: Vec<&str> = text.lines().collect();
    let time = |l: &str| l.split_whitespace().nth(1).map(str::to_string);
    let row = (1..lines.len())
        .rev()
        .find(|&r| lines[r].starts_with("│#") && lines[r - 1].starts_with("│#") && time(lines[r]) != time(lines[r - 1]))
        .expect("a log line") as u16;
    let n: usize =
        lines[row as usize][4..].split_whitespace().next().and_then(|s| s.parse().ok()).expect("the note number");
    click(&mut a, 5, row);
    assert!(a.is_current(n - 1), "clicked #{n}: {}", current(&a));
    // The wheel steps through the log; a press of the left button is a click.
    let here = a.event;
    mouse(&mut a, crossterm::event::MouseEventKind::ScrollDown, 0, 0);
    assert!(a.event > here, "wheel down: the next event");
    mouse(&mut a, crossterm::event::MouseEventKind::ScrollUp, 0, 0);
    assert_eq!(a.event, here, "wheel up: back");
    let _ = terminal(&a, 80, 24);
    mouse(&mut a, crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left), col, 2);
    assert_eq!(a.tab, Tab::Exceptions, "a left press on a tab selects it");
}

#[test]
fn every_size_draws_and_the_wide_screen_shows_the_cluster_beside_the_view() {
    let mut a = app();
    key(&mut a, 'f');
    key(&mut a, '2');
    for (w, h) in [(80, 24), (60, 16), (20, 8), (1, 1), (120, 40)] {
        let _ = screen_at(&a, w, h);
    }
    let wide = screen_at(&a, 160, 48);
    assert!(wide.contains("cluster:") && wide.contains("job graph:"), "{wide}");
    snapshot("replay-wide", &wide);
    // Resizing one terminal: the next draw fills the new size.
    let mut t = terminal(&a, 80, 24);
    t.backend_mut().resize(160, 48);
    t.draw(|f| ui::draw(f, &a)).expect("draws after a resize");
    assert_eq!(t.backend().buffer().area.width, 160);
}

#[test]
fn no_color_draws_without_colour() {
    let mut a = app();
    key(&mut a, 'f');
    let coloured = terminal(&a, 80, 24);
    let any_colour = |t: &Terminal<TestBackend>| t.backend().buffer().content.iter().any(|c| c.fg != Color::Reset);
    assert!(any_colour(&coloured), "states are coloured by default");
    a.color = false;
    for tab in Tab::ALL {
        a.tab = tab;
        assert!(!any_colour(&terminal(&a, 80, 24)), "{tab:?} has colour with NO_COLOR");
    }
}

#[test]
fn time_travel_lands_on_the_same_world_as_stepping_forward() {
    let mut a = app();
    let total = a.total_events();
    // Forward event by event to a point, then away and back: the same world.
    let target = total / 3;
    a.seek_event(target);
    let there = format!("{:?}", a.seen);
    a.seek_event(total);
    a.seek_event(10);
    a.seek_event(target);
    assert_eq!(format!("{:?}", a.seen), there);
    let mut b = app();
    while b.event < target {
        let s = b.event;
        b.seek_event(s + 1 + (s % 7));
    }
    b.seek_event(target);
    assert_eq!(format!("{:?}", b.seen), there, "stepping forward in small steps arrives at the same world");
}

/// The real binary in a real terminal: tmux runs it, the test sends keys and reads the pane.
#[test]
fn replay_in_tmux() {
    if !tmux_available() {
        return;
    }
    let session = format!("recoverysim-replay-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_recoverysim");
    // After the replay, the shell reports whether the terminal is back in canonical (cooked)
    // mode and on the main screen.
    let cmd = format!(
        "cd {} && {bin} replay scenarios/keyed-tm-kill.toml; echo \"exit $?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon; sleep 30",
        env!("CARGO_MANIFEST_DIR")
    );
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
    pane("#0/");
    // Colours on by default: the pane's escape sequences set foreground colours.
    tmux(&["send-keys", "-t", &session, "f"]);
    pane("lost connection to tm-1, restart 8/8");
    let styled = String::from_utf8_lossy(&tmux(&["capture-pane", "-e", "-t", &session, "-p"]).stdout).to_string();
    assert!(has_foreground_colour(&styled), "states are coloured");
    tmux(&["send-keys", "-t", &session, "g"]);
    pane("#0/");
    tmux(&["send-keys", "-t", &session, "f"]);
    pane("lost connection to tm-1, restart 8/8");
    tmux(&["send-keys", "-t", &session, "4"]);
    pane("RemoteTransportException");
    tmux(&["send-keys", "-t", &session, ":", "5s", "Enter"]);
    pane("t=5.000s");
    tmux(&["send-keys", "-t", &session, "g"]);
    pane("#0/");
    // A resize redraws at the new size.
    tmux(&["resize-window", "-t", &session, "-x", "160", "-y", "40"]);
    tmux(&["send-keys", "-t", &session, "2"]);
    pane("cluster: JobManager");
    tmux(&["send-keys", "-t", &session, "q"]);
    pane("exit 0");
    let after = pane("icanon");
    tmux(&["kill-session", "-t", &session]);
    assert!(after.lines().any(|l| l.trim() == "icanon"), "q quits and the terminal is restored: {after}");
    assert!(!after.contains("cluster: JobManager"), "back on the main screen: {after}");
}

/// Every fault kind shows on the cluster view: a frozen host, a partition, a lost host, a
/// TaskManager shutting down, the pipelined regions of a job with more than one, and with the
/// JobManager dead, the tasks as their TaskManagers still run them.
#[test]
fn every_fault_kind_is_visible_on_the_cluster_view() {
    for (file, want) in [
        ("tm-frozen-zombie.toml", "tm-1 host FROZEN"),
        ("partition-jm-tm.toml", "PARTITIONED"),
        ("tm-host-lost.toml", "tm-1 host LOST"),
        ("graceful-stop.toml", "SHUTTING DOWN"),
        ("forward-task-failure.toml", " R2"),
        ("jm-kill-ha.toml", "RUNNING (as its TaskManager has it)"),
    ] {
        let run: &'static Run =
            Box::leak(Box::new(recoverysim::run_file(format!("scenarios/{file}")).expect("shipped scenario")));
        let mut a = App::new(run);
        key(&mut a, 'n');
        let mut seen = false;
        for _ in 0..300 {
            if screen_at(&a, 100, 40).contains(want) {
                seen = true;
                break;
            }
            key(&mut a, '.');
        }
        assert!(seen, "{file}: {want:?} not shown after the fault:\n{}", screen_at(&a, 100, 40));
    }
}

/// NO_COLOR set: the real binary draws without a foreground colour.
#[test]
fn no_color_in_tmux() {
    if !tmux_available() {
        return;
    }
    let session = format!("recoverysim-nocolor-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_recoverysim");
    let cmd = format!("cd {} && NO_COLOR=1 {bin} replay scenarios/keyed-tm-kill.toml", env!("CARGO_MANIFEST_DIR"));
    assert!(tmux(&["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &cmd]).status.success());
    let mut seen = String::new();
    for _ in 0..100 {
        tmux(&["send-keys", "-t", &session, "f"]);
        seen = String::from_utf8_lossy(&tmux(&["capture-pane", "-e", "-t", &session, "-p"]).stdout).to_string();
        if seen.contains("CANCELING") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(seen.contains("CANCELING"), "{seen}");
    assert!(!has_foreground_colour(&seen), "no foreground colour with NO_COLOR: {seen:?}");
}

/// Does terminal output set a foreground colour (SGR 30-37, 38;…, 90-97; 39 is the default)?
fn has_foreground_colour(text: &str) -> bool {
    text.split("\u{1b}[").skip(1).any(|seq| {
        let params = seq.split('m').next().unwrap_or("");
        params.split(';').any(|p| matches!(p.parse::<u32>(), Ok(30..=38 | 90..=97)))
    })
}

/// Whether tmux can be run here; says why a test is skipped when not.
fn tmux_available() -> bool {
    let ok = std::process::Command::new("tmux").arg("-V").output().is_ok();
    if !ok {
        println!("skipped: tmux is not installed (apt-get install tmux)");
    }
    ok
}

/// Runs tmux with these arguments.
fn tmux(args: &[&str]) -> std::process::Output {
    std::process::Command::new("tmux").args(args).output().expect("tmux runs")
}
