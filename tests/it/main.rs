//! Integration tests: one test binary, one module per concern.

// A test prints through the harness, which captures it: nothing here can fail to print.
#![allow(clippy::disallowed_macros)]

mod budget;
mod bugs;
mod ci;
mod cli;
mod engine;
mod explore;
mod files;
mod flinkconf;
mod flinkplan;
mod hostile;
mod network;
mod oracle;
mod property;
mod readme;
mod regions;
mod replay;
mod scenarios;
mod schema;
mod seeds;
mod sweep;

/// Pins `text` as the insta snapshot `snapshots/NAME.snap`.
pub(crate) fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
}

/// The replay drawn on a test terminal of `w`×`h`.
pub(crate) fn replay_terminal(
    app: &recoverysim::tui::app::App,
    w: u16,
    h: u16,
) -> ratatui::Terminal<ratatui::backend::TestBackend> {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test backend");
    terminal.draw(|f| recoverysim::tui::ui::draw(f, app)).expect("draws");
    terminal
}

/// The replay's screen as text: `h` lines, trailing blanks trimmed.
pub(crate) fn replay_screen(app: &recoverysim::tui::app::App, w: u16, h: u16) -> String {
    let t = replay_terminal(app, w, h);
    let buffer = t.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>().trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
