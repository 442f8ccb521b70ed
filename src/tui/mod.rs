//! `recoverysim replay FILE`: watch a run in the terminal — step forward and back, play it,
//! jump to the next fault, failover, restore, checkpoint or violation, go to an event or a
//! time, search the log — and see the cluster, the job graph with what is in flight, the
//! checkpoints, the exceptions, the sink's transactions and the oracle as they were then.
//! `App` holds the state, `input`/`click` change it, `ui` draws it; only `replay` touches the
//! terminal.

pub mod app;
pub mod ui;

use app::{App, Hit, Mark, PromptKind, SPEEDS, Tab};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, MouseButton, MouseEventKind};
use std::time::Duration;

/// Applies one key to the app. The help overlay closes on any key; a prompt takes the keys
/// until Enter or Esc.
pub fn input(app: &mut App, key: KeyCode) {
    app.message = None;
    if let Some((kind, mut text)) = app.prompt.take() {
        match key {
            KeyCode::Enter => match kind {
                PromptKind::Goto => app.goto(&text),
                PromptKind::Search => {
                    app.search = (!text.is_empty()).then_some(text);
                    app.find(true, ui::log_line);
                }
            },
            KeyCode::Esc => {}
            KeyCode::Backspace => {
                text.pop();
                app.prompt = Some((kind, text));
            }
            KeyCode::Char(c) => {
                text.push(c);
                app.prompt = Some((kind, text));
            }
            _ => app.prompt = Some((kind, text)),
        }
        return;
    }
    // The help overlay says "any key closes": every key only closes it, Esc and q included.
    if app.help {
        app.help = false;
        return;
    }
    match key {
        KeyCode::Right | KeyCode::Down | KeyCode::Char('l' | 'j') => app.next_note(),
        KeyCode::Left | KeyCode::Up | KeyCode::Char('h' | 'k') => app.prev_note(),
        KeyCode::Char('.') => app.seek_event(app.event + 1),
        KeyCode::Char(',') => app.seek_event(app.event.saturating_sub(1)),
        KeyCode::Char(' ') => {
            app.playing = !app.playing && app.event < app.total_events();
        }
        KeyCode::Char('+') => app.speed = (app.speed + 1).min(SPEEDS.len() - 1),
        KeyCode::Char('-') => app.speed = app.speed.saturating_sub(1),
        KeyCode::Char('n') => app.jump(Mark::Fault, true),
        KeyCode::Char('N') => app.jump(Mark::Fault, false),
        KeyCode::Char('f') => app.jump(Mark::Failover, true),
        KeyCode::Char('F') => app.jump(Mark::Failover, false),
        KeyCode::Char('r') => app.jump(Mark::Restore, true),
        KeyCode::Char('R') => app.jump(Mark::Restore, false),
        KeyCode::Char('c') => app.jump(Mark::Checkpoint, true),
        KeyCode::Char('C') => app.jump(Mark::Checkpoint, false),
        KeyCode::Char('v') => app.jump(Mark::Violation, true),
        KeyCode::Char('V') => app.jump(Mark::Violation, false),
        KeyCode::Char('g') | KeyCode::Home => app.seek_event(0),
        KeyCode::Char('G') | KeyCode::End => app.seek_event(app.total_events()),
        KeyCode::Char(':') => app.prompt = Some((PromptKind::Goto, String::new())),
        KeyCode::Char('/') => app.prompt = Some((PromptKind::Search, String::new())),
        KeyCode::Char(']') => app.find(true, ui::log_line),
        KeyCode::Char('[') => app.find(false, ui::log_line),
        KeyCode::Char('=') => {
            app.filter = !app.filter;
            if app.search.is_none() {
                app.say("= filters the log by the search: press / first".into());
            }
        }
        KeyCode::Tab => app.tab = Tab::ALL[(tab_index(app.tab) + 1) % Tab::ALL.len()],
        KeyCode::BackTab => app.tab = Tab::ALL[(tab_index(app.tab) + Tab::ALL.len() - 1) % Tab::ALL.len()],
        KeyCode::Char(d @ '1'..='6') => app.tab = Tab::ALL[d as usize - '1' as usize],
        KeyCode::Char('?') => app.help = true,
        KeyCode::Char('q') | KeyCode::Esc => app.quit = true,
        _ => {}
    }
}

fn tab_index(t: Tab) -> usize {
    Tab::ALL.iter().position(|x| *x == t).expect("every tab is in Tab::ALL")
}

/// A left click at a screen cell: a tab selects its view, a subtask is selected (its details
/// show in the cluster view; a second click clears it), a log line moves the cursor to it.
pub fn click(app: &mut App, column: u16, row: u16) {
    let hit = app.hits.borrow().iter().find(|(r, _)| r.contains((column, row).into())).map(|(_, h)| *h);
    match hit {
        Some(Hit::Tab(t)) => app.tab = t,
        Some(Hit::Subtask(st)) => app.selected = if app.selected == Some(st) { None } else { Some(st) },
        Some(Hit::Note(i)) => app.goto_note(i + 1),
        None => {}
    }
}

/// Applies one mouse event: a left click selects (`click`), the wheel steps through the log.
pub fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16) {
    match kind {
        MouseEventKind::Down(MouseButton::Left) => click(app, column, row),
        MouseEventKind::ScrollDown => app.next_note(),
        MouseEventKind::ScrollUp => app.prev_note(),
        _ => {}
    }
}

/// How often a playing replay moves on.
const TICK: Duration = Duration::from_millis(100);

/// Why the replay cannot run here, if it cannot: it draws on an interactive terminal, and
/// standard output redirected to a file or a pipe, or a terminal that says it understands no
/// control sequences (`TERM=dumb`), is none.
pub fn terminal_missing() -> Option<&'static str> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        Some("standard output is not a terminal")
    } else if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        Some("TERM=dumb: the terminal cannot be drawn on")
    } else {
        None
    }
}

/// Runs the replay in the terminal until `q`. ratatui's `try_init` puts the terminal in raw mode
/// on the alternate screen and restores it on panic; the terminal is put back on every other
/// way out too — an error while setting it up (raw mode may already be on), drawing or reading
/// — and mouse capture is switched off on every path.
pub fn replay(app: &mut App) -> std::io::Result<()> {
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            restore();
            return Err(e);
        }
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
        hook(info);
    }));
    let result = crossterm::execute!(std::io::stdout(), event::EnableMouseCapture).and_then(|()| {
        while !app.quit {
            terminal.draw(|f| ui::draw(f, app))?;
            if app.playing && !event::poll(TICK)? {
                app.tick(TICK.as_millis() as u64);
                continue;
            }
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => input(app, k.code),
                Event::Mouse(m) => mouse(app, m.kind, m.column, m.row),
                // The next draw uses the new size.
                _ => {}
            }
        }
        Ok(())
    });
    restore();
    result
}

/// Puts the terminal back, each step whatever the others did (ratatui's `try_restore` stops at
/// the first failure): raw mode off, the alternate screen left, mouse capture off.
fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::LeaveAlternateScreen);
    let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
}
