//! recoverysim: a deterministic simulator of Apache Flink's failure recovery.

pub mod check;
pub mod cluster;
pub mod fault;
pub mod job;
pub mod scenario;
pub mod sim;
