//! What people and tools read of a run, one file per output: `human` (the timeline, its legend,
//! the summary with recovery phases), `checkpoints` (`run --checkpoints`: the checkpoint
//! history and whether checkpoints blocked processing), `exceptions` (`run --exceptions`: the
//! exception history), `chart` (`run --svg`: the timeline chart), `dot` (`regions --format dot`: the execution graph for Graphviz), `json` (`run --json`), `perfetto` (`run --trace F --trace-format perfetto`: Trace Event Format), `trace` (the JSON Lines trace of
//! `run --trace`), `check` (`check`'s human, JSON, JUnit and GitHub reports), `sweep` (the seed
//! sweep of `run --seeds`, and the pipelined regions).
//!
//! Pure functions from data to strings (or into a caller's `Write`): no file, terminal or clock.
//! Below both `cli` and `tui`, which import it; it imports neither. The outputs are snapshot-tested,
//! and `json` and `trace` are contracts with users (ARCHITECTURE.md, "API boundaries").

pub mod chart;
pub mod check;
pub mod checkpoints;
pub mod dot;
pub mod exceptions;
pub mod failover;
pub mod header;
pub mod human;
pub mod json;
pub mod perfetto;
pub mod sweep;
pub mod trace;
