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
    /// The limits a simulation of it stops at (the command line's `--max-events`,
    /// `--max-memory`); not part of the file.
    pub budget: crate::scenario::budget::Budget,
    /// What `--flink-conf` did with its keys; not part of the file.
    pub flink_conf: Option<crate::scenario::conf::ConfReport>,
    /// What `--flink-plan` made of the plan's nodes; not part of the file.
    pub flink_plan: Option<crate::scenario::plan::PlanReport>,
}

/// The `[expect]` table: every field that is set must match the run. Without `verdict` the run
/// must be exactly_once, without `job-status` FINISHED.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    pub verdict: Verdict,
    /// `verdict` was not written: exactly_once by default.
    pub verdict_defaulted: bool,
    pub failovers: Option<u32>,
    pub job_status: JobStatus,
    pub job_status_defaulted: bool,
    /// Union of the operator subtasks restarted by all failovers, expanded from `map[0-3]`.
    pub restarted: Option<Vec<SubtaskRef>>,
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub min_completed_checkpoints: Option<u64>,
    /// 1-based line of each key in the scenario file (of the table, or 1, where a default
    /// applies): `check --format github` points its annotations there.
    pub lines: std::collections::BTreeMap<&'static str, usize>,
}

impl Default for Expect {
    fn default() -> Expect {
        Expect {
            verdict: Verdict::ExactlyOnce,
            verdict_defaulted: true,
            failovers: None,
            job_status: JobStatus::Finished,
            job_status_defaulted: true,
            restarted: None,
            lost: None,
            duplicated: None,
            min_completed_checkpoints: None,
            lines: std::collections::BTreeMap::new(),
        }
    }
}
