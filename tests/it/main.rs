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
