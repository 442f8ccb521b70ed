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
//!
//! Nor can a process reach the engine through its `Ctx`: it reports (`probe`, `request_workers`,
//! …) and reads the facts every process knows, but the engine's fault bookkeeping, queue and
//! network are private fields of `Ctx`. This compiles:
//!
//! ```no_run
//! fn report(ctx: &mut recoverysim::cluster::ctx::Ctx) -> u64 {
//!     ctx.request_workers(1);
//!     ctx.now()
//! }
//! ```
//!
//! and this does not:
//!
//! ```compile_fail
//! fn arm(ctx: &mut recoverysim::cluster::ctx::Ctx) {
//!     let _ = &mut ctx.faults; // the engine's fault bookkeeping is not a process's
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
