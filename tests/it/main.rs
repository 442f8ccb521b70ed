//! Integration tests: one test binary, one module per concern.

mod bugs;
mod engine;
mod regions;
