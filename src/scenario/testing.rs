//! A ready-made scenario for unit tests of the core (Flink defaults, small cluster).

use super::model::{Expect, Scenario};
use crate::cluster::bugs::PlantedBugs;
use crate::cluster::config::*;
use crate::job::spec::*;

/// source(p) → keyed-count(p, hash) → 2PC sink(p, forward), `taskmanagers` × 2 slots, 1 s
/// checkpoints, fixed-delay restarts, heartbeat 1 s / 5 s, 20 s of records at 1000/s.
pub fn keyed_job(parallelism: u32, taskmanagers: u32) -> Scenario {
    let op = |name: &str, kind, input: Option<(u32, EdgeKind)>| OperatorSpec {
        name: name.into(),
        kind,
        parallelism,
        input: input.map(|(i, e)| (OperatorId(i), e)),
        state_bytes_per_key: crate::job::spec::DEFAULT_STATE_BYTES_PER_KEY,
        slot_sharing_group: None,
    };
    Scenario {
        name: "test".into(),
        about: String::new(),
        seed: 1,
        duration_us: 20_000_000,
        drain_us: 600_000_000,
        flink: FlinkConfig {
            checkpoint_interval_us: Some(1_000_000),
            checkpointing_mode: CheckpointingMode::ExactlyOnce,
            checkpoint_timeout_us: 600_000_000,
            checkpoint_min_pause_us: 0,
            checkpoints_retained: 1,
            max_concurrent_checkpoints: 1,
            failover_strategy: FailoverStrategy::Region,
            restart_strategy: RestartStrategy::FixedDelay { attempts: 3, delay_us: 1_000_000 },
            heartbeat_interval_us: 1_000_000,
            heartbeat_timeout_us: 5_000_000,
            heartbeat_rpc_failure_threshold: Some(2),
            slot_request_timeout_us: 300_000_000,
            unaligned: false,
            aligned_checkpoint_timeout_us: 0,
            state_backend: crate::cluster::config::StateBackendKind::Heap,
            incremental: false,
            local_recovery: false,
            load_balance: LoadBalanceMode::None,
            ask_timeout_us: 10_000_000,
            slot_timeout_us: 10_000_000,
            standalone_start_up_us: 300_000_000,
            tolerable_failed_checkpoints: 0,
            ha: crate::cluster::config::HaKind::None,
            zk_session_timeout_us: 60_000_000,
            k8s_lease_duration_us: 15_000_000,
            checkpoint_retention: crate::cluster::config::CheckpointRetention::NoExternalizedCheckpoints,
            checkpoint_dir: None,
            savepoint_dir: None,
            ha_storage_dir: None,
            not_modelled: Vec::new(),
        },
        cluster: ClusterSpec {
            taskmanagers,
            slots_per_taskmanager: 2,
            resource_manager: ResourceManagerKind::Standalone,
            taskmanager_start_delay_us: 5_000_000,
            rpc_latency_us: 1_000,
            network_latency_us: 1_000,
            network_jitter_us: 100,
            channel_capacity: 64,
            connection_reset_us: 50_000,
            storage_bytes_per_s: 100_000_000,
            storage_latency_us: 20_000,
            local_bytes_per_s: 1_000_000_000,
            deploy_us: 5_000,
            jobmanager_restart_delay_us: 5_000_000,
        },
        job: JobSpec {
            operators: vec![
                op(
                    "source",
                    OperatorKind::Source(SourceSpec {
                        partitions: parallelism,
                        rate_per_s: 1000,
                        keys: 100,
                        catch_up_rate_per_s: 10_000,
                        records: None,
                    }),
                    None,
                ),
                op("count", OperatorKind::KeyedCount, Some((0, EdgeKind::Hash))),
                op("sink", OperatorKind::Sink(SinkSemantic::TwoPhaseCommit), Some((1, EdgeKind::Forward))),
            ],
            max_parallelism: None,
            chaining: false,
        },
        faults: Vec::new(),
        bugs: PlantedBugs::default(),
        expect: Expect::default(),
        budget: Default::default(),
        flink_conf: None,
        flink_plan: None,
    }
}
