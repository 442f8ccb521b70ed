//! The scenario file as TOML has it: one plain serde struct per table, each value with its place in
//! the file (`toml::Spanned`) for the errors; unknown keys are refused by serde. What the values
//! mean is for the other files of the loader.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) about: String,
    #[serde(default)]
    pub(super) seed: u64,
    pub(super) duration: Option<Spanned<String>>,
    pub(super) drain: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) flink: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    pub(super) cluster: Option<RawCluster>,
    pub(super) job: Spanned<RawJob>,
    #[serde(default)]
    pub(super) fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    pub(super) bugs: RawBugs,
    pub(super) expect: Option<Spanned<RawExpect>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCluster {
    pub(super) taskmanagers: Option<Spanned<u64>>,
    pub(super) slots_per_taskmanager: Option<Spanned<u64>>,
    pub(super) resource_manager: Option<Spanned<String>>,
    pub(super) taskmanager_start_delay: Option<Spanned<String>>,
    pub(super) rpc_latency: Option<Spanned<String>>,
    pub(super) network_latency: Option<Spanned<String>>,
    pub(super) network_jitter: Option<Spanned<String>>,
    pub(super) channel_capacity: Option<Spanned<u64>>,
    pub(super) connection_reset: Option<Spanned<String>>,
    pub(super) storage_bandwidth: Option<Spanned<String>>,
    pub(super) storage_latency: Option<Spanned<String>>,
    pub(super) local_bandwidth: Option<Spanned<String>>,
    pub(super) deploy_time: Option<Spanned<String>>,
    pub(super) jobmanager_restart_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawJob {
    pub(super) operators: Vec<Spanned<RawOperator>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawOperator {
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<String>,
    pub(super) parallelism: Option<Spanned<u64>>,
    pub(super) input: Option<Spanned<String>>,
    pub(super) edge: Option<Spanned<String>>,
    pub(super) partitions: Option<Spanned<u64>>,
    pub(super) rate: Option<Spanned<String>>,
    pub(super) keys: Option<Spanned<u64>>,
    pub(super) catch_up_rate: Option<Spanned<String>>,
    pub(super) records: Option<Spanned<u64>>,
    pub(super) multiply: Option<i64>,
    pub(super) add: Option<i64>,
    pub(super) modulo: Option<Spanned<i64>>,
    pub(super) remainder: Option<Spanned<i64>>,
    pub(super) semantic: Option<Spanned<String>>,
    pub(super) state_per_key: Option<Spanned<String>>,
    pub(super) slot_sharing_group: Option<Spanned<String>>,
}

/// `["jobmanager", "tm-1"]` in a fault.
pub(super) type HostList = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFault {
    pub(super) at: Option<Spanned<String>>,
    pub(super) at_record: Option<Spanned<u64>>,
    pub(super) poison: Option<Spanned<bool>>,
    /// `fail-task`: the exception is a `SuppressRestartsException` (no restart).
    pub(super) suppress_restarts: Option<Spanned<bool>>,
    /// `at-phase`: the checkpoint-protocol phase of `subtask` that fires the fault, of
    /// `checkpoint` (if set), the first time at or after `after`.
    pub(super) at_phase: Option<Spanned<String>>,
    pub(super) subtask: Option<Spanned<String>>,
    pub(super) checkpoint: Option<Spanned<u64>>,
    pub(super) after: Option<Spanned<String>>,
    /// `at-late-delivery = N`: right after the `nth` (default 1) message the N-th fault of the
    /// file made late (delayed, held, resent) arrives.
    pub(super) at_late_delivery: Option<Spanned<u64>>,
    pub(super) nth: Option<Spanned<u64>>,
    pub(super) kill_taskmanager: Option<Spanned<u64>>,
    pub(super) restart_taskmanager: Option<Spanned<u64>>,
    pub(super) fail_task: Option<Spanned<String>>,
    pub(super) lose_taskmanager_host: Option<Spanned<u64>>,
    pub(super) freeze_taskmanager: Option<Spanned<u64>>,
    pub(super) stop_taskmanager: Option<Spanned<u64>>,
    pub(super) partition: Option<Spanned<Vec<HostList>>>,
    pub(super) lose_messages: Option<Spanned<String>>,
    pub(super) delay_messages: Option<Spanned<String>>,
    pub(super) rolling_update: Option<Spanned<String>>,
    pub(super) kill_jobmanager: Option<Spanned<bool>>,
    /// An operation of the user: `flink cancel`.
    pub(super) cancel_job: Option<Spanned<bool>>,
    /// An operation of the user: `flink stop` (stop-with-savepoint).
    pub(super) stop_with_savepoint: Option<Spanned<bool>>,
    /// An operation of the user: `flink run` of the same job again, restoring the previous job's
    /// savepoint, its latest retained checkpoint, or nothing.
    pub(super) submit_job: Option<Spanned<String>>,
    /// Checkpoint storage fails every upload and read for this long.
    pub(super) storage_outage: Option<Spanned<String>>,
    /// Checkpoint storage is slow for this long: every transfer that starts then takes
    /// `slowdown` times as long.
    pub(super) storage_slow: Option<Spanned<String>>,
    /// `storage-slow`: how many times as long (default 10).
    pub(super) slowdown: Option<Spanned<u64>>,
    /// `freeze-taskmanager`: how long the process stays stopped.
    pub(super) duration: Option<Spanned<String>>,
    /// `partition`: cut only messages from the first set of hosts to the second.
    pub(super) one_way: Option<Spanned<bool>>,
    /// `partition`: when it heals.
    pub(super) heal_at: Option<Spanned<String>>,
    /// `lose-messages` / `delay-messages`: which messages, and until when.
    pub(super) from: Option<HostList>,
    pub(super) to: Option<HostList>,
    pub(super) probability: Option<Spanned<f64>>,
    pub(super) until: Option<Spanned<String>>,
    /// `delay-messages`: how much later.
    pub(super) delay: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawBugs {
    #[serde(default)]
    pub(super) commit_on_snapshot: bool,
    #[serde(default)]
    pub(super) no_source_rewind: bool,
    #[serde(default)]
    pub(super) restore_empty_state: bool,
    #[serde(default)]
    pub(super) skip_alignment: bool,
    #[serde(default)]
    pub(super) no_fencing: bool,
    #[serde(default)]
    pub(super) no_flush_on_pre_commit: bool,
    #[serde(default)]
    pub(super) no_recommit: bool,
    #[serde(default)]
    pub(super) no_abort_lingering: bool,
    #[serde(default)]
    pub(super) timeout_keeps_attempts: bool,
    #[serde(default)]
    pub(super) restore_oldest_checkpoint: bool,
    #[serde(default)]
    pub(super) no_subsume_pending: bool,
    #[serde(default)]
    pub(super) drop_channel_state: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawExpect {
    pub(super) verdict: Option<Spanned<String>>,
    pub(super) failovers: Option<Spanned<u32>>,
    pub(super) job_status: Option<Spanned<String>>,
    pub(super) restarted: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) lost: Option<Spanned<u64>>,
    pub(super) duplicated: Option<Spanned<u64>>,
    pub(super) min_completed_checkpoints: Option<Spanned<u64>>,
}
