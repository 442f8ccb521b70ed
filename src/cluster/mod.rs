//! The simulated cluster: JobManager (scheduler, checkpoint coordinator, failover), TaskManagers
//! with slots, network channels, checkpoint storage and the external systems.

pub mod bugs;
pub mod config;
mod dataplane;
pub mod engine;
pub mod external;
mod jobmaster;
pub mod restart;
pub mod state;
