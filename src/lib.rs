//! recoverysim: a deterministic simulator of Apache Flink's failure recovery.

pub mod check;
pub mod cli;
pub mod cluster;
pub mod fault;
pub mod job;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod trace;
