//! Integration tests: one test binary, one module per concern.

mod bugs;
mod ci;
mod cli;
mod engine;
mod network;
mod oracle;
mod property;
mod readme;
mod regions;
mod replay;
mod scenarios;
mod seeds;

/// Pins `text` as the insta snapshot `snapshots/NAME.snap`.
pub(crate) fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
}
