//! The simulated cluster: Flink's processes (the JobManager process with JobMaster and
//! ResourceManager, one TaskExecutor per TaskManager), the external systems (checkpoint storage,
//! the sink's transactional store, the HA store), the network between their hosts, and the
//! engine that runs them.
//!
//! A process cannot read another's state: each keeps its fields private to its module and is
//! handed only itself and a `Ctx` (send, timers, trace). This does not compile:
//!
//! ```compile_fail
//! fn peek(jm: &recoverysim::cluster::jobmanager::JobManager) -> usize {
//!     jm.tms.len() // the JobManager's view of the TaskManagers is its own
//! }
//! ```
//!
//! ```compile_fail
//! fn peek(te: &recoverysim::cluster::taskexecutor::TaskExecutor) -> usize {
//!     te.tasks.len() // a TaskExecutor's tasks are its own
//! }
//! ```

pub mod bugs;
pub mod config;
pub mod ctx;
pub mod engine;
pub mod external;
pub mod inspect;
pub mod jobmanager;
pub mod msg;
pub mod net;
pub mod restart;
pub mod state;
pub mod taskexecutor;
pub mod timer;
