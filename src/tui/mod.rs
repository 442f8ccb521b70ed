//! `recoverysim replay FILE`: step through a run in the terminal — forward and back one event,
//! jump to the next fault, failover, restore or checkpoint — and see the cluster, the
//! checkpoints and the events as they were at that moment. `App` holds the state, `input` maps
//! keys to it, `ui` draws it; only `replay` touches the terminal.

pub mod app;
pub mod ui;

use app::{App, Mark};
use crossterm::event::{self, Event, KeyCode, KeyEventKind};

/// Applies one key to the app (the help overlay closes on any key).
pub fn input(app: &mut App, key: KeyCode) {
    if app.help {
        app.help = false;
        if !matches!(key, KeyCode::Char('q') | KeyCode::Esc) {
            return;
        }
    }
    match key {
        KeyCode::Right | KeyCode::Char('l') => app.step(true),
        KeyCode::Left | KeyCode::Char('h') => app.step(false),
        KeyCode::Char('n') => app.jump(Mark::Fault, true),
        KeyCode::Char('N') => app.jump(Mark::Fault, false),
        KeyCode::Char('f') => app.jump(Mark::Failover, true),
        KeyCode::Char('F') => app.jump(Mark::Failover, false),
        KeyCode::Char('r') => app.jump(Mark::Restore, true),
        KeyCode::Char('R') => app.jump(Mark::Restore, false),
        KeyCode::Char('c') => app.jump(Mark::Checkpoint, true),
        KeyCode::Char('C') => app.jump(Mark::Checkpoint, false),
        KeyCode::Char('g') | KeyCode::Home => app.seek(0),
        KeyCode::Char('G') | KeyCode::End => app.seek(app.len()),
        KeyCode::Char('?') => app.help = true,
        KeyCode::Char('q') | KeyCode::Esc => app.quit = true,
        _ => {}
    }
}

/// Runs the replay in the terminal until `q`. ratatui's `init` puts the terminal in raw mode on
/// the alternate screen and restores it on exit and on panic.
pub fn replay(app: &mut App) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = (|| {
        while !app.quit {
            terminal.draw(|f| ui::draw(f, app))?;
            if let Event::Key(k) = event::read()?
                && k.kind == KeyEventKind::Press
            {
                input(app, k.code);
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}
