//! A scenario after validation: everything the simulation core needs, nothing it must re-check.

use crate::check::Verdict;
use crate::cluster::bugs::PlantedBugs;
use crate::cluster::config::{ClusterSpec, FlinkConfig};
use crate::cluster::state::JobStatus;
use crate::fault::FaultSpec;
use crate::job::graph::SubtaskRef;
use crate::job::spec::JobSpec;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    pub seed: u64,
    /// Sources append records to their logs for this long (virtual time); for a scenario of
    /// bounded sources only, until the last record is appended.
    pub duration_us: u64,
    /// After `duration_us`, how long the job may take to drain and finish before the run stops.
    pub drain_us: u64,
    pub flink: FlinkConfig,
    pub cluster: ClusterSpec,
    pub job: JobSpec,
    pub faults: Vec<FaultSpec>,
    pub bugs: PlantedBugs,
    pub expect: Expect,
}

/// The `[expect]` table: every field that is set must match the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expect {
    pub verdict: Option<Verdict>,
    pub failovers: Option<u32>,
    pub job_status: Option<JobStatus>,
    /// Union of the operator subtasks restarted by all failovers, expanded from `map[0..4]`.
    pub restarted: Option<Vec<SubtaskRef>>,
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub min_completed_checkpoints: Option<u64>,
}
