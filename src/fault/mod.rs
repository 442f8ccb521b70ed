//! Faults injected by the scenario. A fault is data; the cluster engine carries it out.

use crate::job::graph::SubtaskRef;

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// The TaskManager process dies (kill -9): its tasks and memory are gone; peers see their
    /// connections to it reset; its host still answers, so heartbeat RPCs fail fast.
    KillTaskManager(u32),
    /// Start a TaskManager again (standalone: the operator restarts the process). A fresh
    /// process: no local state.
    RestartTaskManager(u32),
    /// The subtask's current attempt throws an exception (once).
    FailTask(SubtaskRef),
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTrigger {
    /// At a virtual time.
    At { at_us: u64 },
    /// When the named subtask processes its n-th record (1-based, counted over all attempts).
    /// With `poison`, that record fails the subtask again every time it is replayed.
    AtRecord { n: u64, poison: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub trigger: FaultTrigger,
    pub action: FaultAction,
}

impl FaultAction {
    /// Short human form, as in a scenario file: `kill-taskmanager 1`.
    pub fn describe(&self, names: &dyn Fn(SubtaskRef) -> String) -> String {
        match self {
            FaultAction::KillTaskManager(tm) => format!("kill-taskmanager {tm}"),
            FaultAction::RestartTaskManager(tm) => format!("restart-taskmanager {tm}"),
            FaultAction::FailTask(st) => format!("fail-task {}", names(*st)),
        }
    }
}
