//! The simulated cluster: Flink's processes (the JobManager process with JobMaster and
//! ResourceManager, one TaskExecutor per TaskManager), the external systems (checkpoint storage,
//! the sink's transactional store, the HA store), the network between their hosts, and the
//! engine that runs them.

pub mod bugs;
pub mod config;
pub mod engine;
pub mod external;
pub mod jobmanager;
pub mod msg;
pub mod net;
pub mod restart;
pub mod state;
pub mod taskexecutor;
