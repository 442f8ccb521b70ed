//! Integration tests: one test binary, one module per concern.

mod bugs;
mod cli;
mod engine;
mod regions;
mod scenarios;
