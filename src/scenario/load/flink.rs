//! The `[flink]` table: the Flink configuration keys a scenario may set, Flink's defaults, the
//! deprecated names Flink still reads and its fallbacks between keys, and the relations between
//! keys Flink checks at startup (exponential backoff, heartbeat timeout above the interval).

use super::{Cx, DAY_US, MAX_PARALLELISM, Res, closest, parse_duration_us};
use crate::cluster::config::{
    CheckpointRetention, CheckpointingMode, FailoverStrategy, FlinkConfig, HaKind, LoadBalanceMode, RestartStrategy,
    StateBackendKind,
};
use std::collections::BTreeMap;
use toml::Spanned;

impl Cx<'_> {
    /// The `[flink]` table: Flink's keys, Flink's defaults.
    pub(super) fn flink(
        &self,
        table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Res<(FlinkConfig, bool, Option<u32>, u32)> {
        let mut values: BTreeMap<&str, &Spanned<toml::Value>> = BTreeMap::new();
        let mut not_modelled = Vec::new();
        for (k, v) in table {
            let key = k.get_ref().as_str();
            let typo = match classify_key(key) {
                KeyClass::Read => {
                    values.insert(key, v);
                    continue;
                }
                KeyClass::NotModelled if !matches!(v.get_ref(), toml::Value::Table(_)) => {
                    not_modelled.push((k.get_ref().clone(), v.get_ref().to_string()));
                    continue;
                }
                KeyClass::Typo(c) => Some(c),
                KeyClass::NotModelled | KeyClass::Unknown => None,
            };
            // An unquoted dotted key is a nested table to TOML: rebuild the dotted name.
            if let toml::Value::Table(t) = v.get_ref() {
                let mut path = vec![k.get_ref().clone()];
                let mut cur = t;
                let mut leaf = None;
                while cur.len() == 1 {
                    // Cannot fail: the loop runs while `cur` holds exactly one entry.
                    let (name, value) = cur.iter().next().expect("one entry");
                    path.push(name.clone());
                    match value {
                        toml::Value::Table(inner) => cur = inner,
                        other => {
                            leaf = Some(other.to_string());
                            break;
                        }
                    }
                }
                let dotted = path.join(".");
                if let Some(value) = leaf.filter(|_| FLINK_KEYS.contains(&dotted.as_str()) || path.len() > 1) {
                    return self.err_hint(
                        k.span(),
                        format!("`{dotted}` is read as nested TOML tables, not as the Flink key \"{dotted}\""),
                        format!("quote the key: \"{dotted}\" = {value}"),
                    );
                }
            }
            let hint = match typo {
                Some(c) => format!("did you mean \"{c}\"?"),
                None => format!(
                    "not one of Flink's configuration keys; recoverysim models these: {} (and accepts Flink's other keys, listed as not modelled)",
                    FLINK_KEYS.join(", ")
                ),
            };
            return self.err_hint(k.span(), format!("unknown Flink configuration key \"{key}\""), hint);
        }
        let dur = |key: &str, default: u64| -> Res<u64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => self.flink_duration(key, v),
            }
        };
        let int = |key: &str, default: i64, min: i64, max: i64| -> Res<i64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let n = match v.get_ref() {
                        toml::Value::Integer(n) => Some(*n),
                        toml::Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    };
                    match n {
                        Some(n) if (min..=max).contains(&n) => Ok(n),
                        Some(n) => self.err(v.span(), format!("\"{key}\" = {n} is out of range ({min}..={max})")),
                        None => self.err(v.span(), format!("\"{key}\" takes a whole number")),
                    }
                }
            }
        };
        let float = |key: &str, default: f64, min: f64, max: f64| -> Res<f64> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let n = match v.get_ref() {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        toml::Value::String(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    match n {
                        Some(n) if n >= min && n <= max => Ok(n),
                        Some(n) => self.err(v.span(), format!("\"{key}\" = {n} is out of range ({min}..={max})")),
                        None => self.err(v.span(), format!("\"{key}\" takes a number")),
                    }
                }
            }
        };
        let boolean = |key: &str, default: bool| -> Res<bool> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => match v.get_ref() {
                    toml::Value::Boolean(b) => Ok(*b),
                    toml::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
                    toml::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
                    _ => self.err(v.span(), format!("\"{key}\" takes true or false")),
                },
            }
        };
        let choice = |key: &str, default: &'static str, options: &[&'static str]| -> Res<&'static str> {
            match values.get(key) {
                None => Ok(default),
                Some(v) => {
                    let s = match v.get_ref() {
                        toml::Value::String(s) => s.trim().to_ascii_lowercase().replace('_', "-"),
                        _ => String::new(),
                    };
                    match options.iter().find(|o| o.to_ascii_lowercase().replace('_', "-") == s) {
                        Some(o) => Ok(*o),
                        None => self.err_hint(
                            v.span(),
                            format!("invalid value for \"{key}\""),
                            format!("one of {}", options.join(", ")),
                        ),
                    }
                }
            }
        };
        let text = |key: &str| -> Res<Option<String>> {
            match values.get(key) {
                None => Ok(None),
                Some(v) => match v.get_ref() {
                    toml::Value::String(s) if !s.trim().is_empty() && s.len() <= 4096 => {
                        Ok(Some(s.trim().trim_end_matches('/').to_string()))
                    }
                    _ => self.err(v.span(), format!("\"{key}\" takes a directory (a non-empty string)")),
                },
            }
        };
        let checkpoint_interval_us = match values.get("execution.checkpointing.interval") {
            None => None,
            Some(v) => {
                let us = self.flink_duration("execution.checkpointing.interval", v)?;
                if us < 1_000 {
                    return self.err(v.span(), "\"execution.checkpointing.interval\" must be at least 1ms");
                }
                Some(us)
            }
        };
        let checkpointing_mode =
            match choice("execution.checkpointing.mode", "EXACTLY_ONCE", &["EXACTLY_ONCE", "AT_LEAST_ONCE"])? {
                "AT_LEAST_ONCE" => CheckpointingMode::AtLeastOnce,
                _ => CheckpointingMode::ExactlyOnce,
            };
        let default_restart = if checkpoint_interval_us.is_some() { "exponential-delay" } else { "none" };
        let span_of = |key: &str| table.iter().find(|(k, _)| k.get_ref() == key).map_or(0..0, |(_, v)| v.span());
        let restart_type = choice(
            "restart-strategy.type",
            default_restart,
            &[
                "none",
                "disable",
                "off",
                "no_restart",
                "fixed-delay",
                "fixeddelay",
                "exponential-delay",
                "exponentialdelay",
                "failure-rate",
                "failurerate",
            ],
        )?;
        // Relations between keys, not only each key: Flink refuses initial > max at startup.
        let exp_initial = dur("restart-strategy.exponential-delay.initial-backoff", 1_000_000)?;
        let exp_max = dur("restart-strategy.exponential-delay.max-backoff", 60_000_000)?;
        let exponential = matches!(restart_type, "exponential-delay" | "exponentialdelay");
        if exponential && (exp_initial < 1_000 || exp_max < exp_initial) {
            let key = if exp_initial < 1_000 {
                "restart-strategy.exponential-delay.initial-backoff"
            } else {
                "restart-strategy.exponential-delay.max-backoff"
            };
            return Err(self.error_at(
                span_of(key),
                format!(
                    "exponential-delay backoff: initial {} ms, max {} ms; the initial backoff must be at least 1 ms and not above the maximum",
                    exp_initial / 1000,
                    exp_max / 1000
                ),
                Some("Flink refuses this at startup (\"Initial backoff cannot be higher than maximum backoff.\")".into()),
            ));
        }
        let restart_strategy = match restart_type {
            "fixed-delay" | "fixeddelay" => RestartStrategy::FixedDelay {
                attempts: int("restart-strategy.fixed-delay.attempts", 1, 0, i64::from(u32::MAX))? as u32,
                delay_us: dur("restart-strategy.fixed-delay.delay", 1_000_000)?,
            },
            // RestartStrategyOptions: max-failures-per-interval 1, failure-rate-interval 1 min,
            // delay 1 s.
            "failure-rate" | "failurerate" => RestartStrategy::FailureRate {
                max_failures: int("restart-strategy.failure-rate.max-failures-per-interval", 1, 1, i64::from(i32::MAX))?
                    as u32,
                interval_us: {
                    let us = dur("restart-strategy.failure-rate.failure-rate-interval", 60_000_000)?;
                    if us < 1_000 {
                        let key = "restart-strategy.failure-rate.failure-rate-interval";
                        return Err(self.error_at(
                            span_of(key),
                            format!("`{key}` must be at least 1 ms"),
                            Some("Flink refuses it (\"Failures interval must be greater than 0 ms.\")".into()),
                        ));
                    }
                    us
                },
                delay_us: dur("restart-strategy.failure-rate.delay", 1_000_000)?,
            },
            "exponential-delay" | "exponentialdelay" => RestartStrategy::ExponentialDelay {
                initial_backoff_us: exp_initial,
                max_backoff_us: exp_max,
                multiplier: {
                    let m = float("restart-strategy.exponential-delay.backoff-multiplier", 1.5, 1.0, 1000.0)?;
                    if m <= 1.0 {
                        let key = "restart-strategy.exponential-delay.backoff-multiplier";
                        return Err(self.error_at(
                            span_of(key),
                            "`restart-strategy.exponential-delay.backoff-multiplier` must be greater than 1",
                            Some("Flink refuses 1 and below (\"Backoff multiplier must be greater than 1.\")".into()),
                        ));
                    }
                    m
                },
                reset_backoff_threshold_us: dur(
                    "restart-strategy.exponential-delay.reset-backoff-threshold",
                    3_600_000_000,
                )?,
                jitter_factor: float("restart-strategy.exponential-delay.jitter-factor", 0.1, 0.0, 1.0)?,
                // RestartStrategyOptions: Integer.MAX_VALUE by default, an int.
                attempts_before_reset: int(
                    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
                    i64::from(i32::MAX),
                    1,
                    i64::from(i32::MAX),
                )? as u32,
            },
            _ => RestartStrategy::None,
        };
        let heartbeat_interval_us = dur("heartbeat.interval", 10_000_000)?;
        let heartbeat_timeout_us = dur("heartbeat.timeout", 50_000_000)?;
        if heartbeat_interval_us < 1_000 {
            let span = values.get("heartbeat.interval").map_or(0..0, |v| v.span());
            return self.err(span, "\"heartbeat.interval\" must be at least 1ms");
        }
        if heartbeat_timeout_us <= heartbeat_interval_us {
            let span = values.get("heartbeat.timeout").or(values.get("heartbeat.interval")).map_or(0..0, |v| v.span());
            return self.err_hint(
                span,
                "\"heartbeat.timeout\" must be longer than \"heartbeat.interval\"",
                "Flink refuses this too",
            );
        }
        let threshold = int("heartbeat.rpc-failure-threshold", 2, -1, 1_000_000)?;
        if threshold == 0 {
            let span = values.get("heartbeat.rpc-failure-threshold").map_or(0..0, |v| v.span());
            return self.err_hint(
                span,
                "\"heartbeat.rpc-failure-threshold\" must be -1 or at least 1",
                "-1 disables it",
            );
        }
        // A deprecated key Flink still reads: the one set, or the current name if neither is.
        let aliased_any = |key: &'static str, olds: &[&'static str]| -> Res<&'static str> {
            let set: Vec<&'static str> =
                std::iter::once(key).chain(olds.iter().copied()).filter(|k| values.contains_key(k)).collect();
            match set.as_slice() {
                [] => Ok(key),
                [one] => Ok(one),
                [first, second, ..] => self.err_hint(
                    values[second].span(),
                    if *first == key {
                        format!("\"{second}\" is the deprecated name of \"{key}\"; set only one of them")
                    } else {
                        format!("\"{second}\" and \"{first}\" are deprecated names of \"{key}\"; set only one of them")
                    },
                    format!("keep \"{key}\""),
                ),
            }
        };
        let aliased = |key: &'static str, old: &'static str| aliased_any(key, &[old]);
        // A duration that must be at least 1ms (a timeout of 0 would fail everything at once).
        let positive = |key: &str, default: u64| -> Res<u64> {
            let us = dur(key, default)?;
            if us < 1_000 {
                let span = values.get(key).map_or(0..0, |v| v.span());
                return self.err(span, format!("\"{key}\" must be at least 1ms"));
            }
            Ok(us)
        };
        let ask_timeout_us = positive(aliased("pekko.ask.timeout", "akka.ask.timeout")?, 10_000_000)?;
        // Flink's fallback for `taskmanager.slot.timeout` is the key `pekko.ask.timeout` only: the
        // deprecated `akka.ask.timeout` does not carry over (`ConfigOption.withFallbackKeys`).
        let slot_timeout_default = if values.contains_key("pekko.ask.timeout") { ask_timeout_us } else { 10_000_000 };
        let slot_timeout_us = positive("taskmanager.slot.timeout", slot_timeout_default)?;
        let slot_request_timeout_us = dur("slot.request.timeout", 300_000_000)?;
        // A bare number is milliseconds (Flink's type is a long); -1, Flink's default, means
        // "the value of slot.request.timeout".
        let standalone_start_up_us = match values.get("resourcemanager.standalone.start-up-time") {
            Some(v)
                if matches!(v.get_ref(), toml::Value::Integer(-1))
                    || matches!(v.get_ref(), toml::Value::String(s) if s.trim() == "-1") =>
            {
                slot_request_timeout_us
            }
            _ => dur("resourcemanager.standalone.start-up-time", slot_request_timeout_us)?,
        };
        let ha_key = aliased("high-availability.type", "high-availability")?;
        let flink = FlinkConfig {
            checkpoint_interval_us,
            checkpointing_mode,
            checkpoint_timeout_us: dur("execution.checkpointing.timeout", 600_000_000)?.max(1_000),
            checkpoint_min_pause_us: dur("execution.checkpointing.min-pause", 0)?,
            checkpoints_retained: int("execution.checkpointing.num-retained", 1, 1, 1_000)? as u32,
            max_concurrent_checkpoints: int("execution.checkpointing.max-concurrent-checkpoints", 1, 1, 1_000)? as u32,
            failover_strategy: match choice("jobmanager.execution.failover-strategy", "region", &["region", "full"])? {
                "full" => FailoverStrategy::Full,
                _ => FailoverStrategy::Region,
            },
            restart_strategy,
            heartbeat_interval_us,
            heartbeat_timeout_us,
            heartbeat_rpc_failure_threshold: (threshold > 0).then_some(threshold as u32),
            slot_request_timeout_us,
            unaligned: boolean(
                aliased("execution.checkpointing.unaligned.enabled", "execution.checkpointing.unaligned")?,
                false,
            )?,
            aligned_checkpoint_timeout_us: dur(
                aliased(
                    "execution.checkpointing.aligned-checkpoint-timeout",
                    "execution.checkpointing.alignment-timeout",
                )?,
                0,
            )?,
            state_backend: match choice(
                aliased("state.backend.type", "state.backend")?,
                "hashmap",
                &["hashmap", "rocksdb"],
            )? {
                "rocksdb" => StateBackendKind::RocksDb,
                _ => StateBackendKind::Heap,
            },
            incremental: boolean(aliased("execution.checkpointing.incremental", "state.backend.incremental")?, false)?,
            local_recovery: boolean(
                aliased("execution.state-recovery.from-local", "state.backend.local-recovery")?,
                false,
            )?,
            load_balance: match choice("taskmanager.load-balance.mode", "NONE", &["NONE", "SLOTS"])? {
                "SLOTS" => LoadBalanceMode::Slots,
                _ => LoadBalanceMode::None,
            },
            ask_timeout_us,
            slot_timeout_us,
            standalone_start_up_us,
            tolerable_failed_checkpoints: int(
                "execution.checkpointing.tolerable-failed-checkpoints",
                0,
                0,
                i64::from(i32::MAX),
            )? as u32,
            ha: match choice(ha_key, "NONE", &["NONE", "ZOOKEEPER", "KUBERNETES"])? {
                "ZOOKEEPER" => HaKind::Zookeeper,
                "KUBERNETES" => HaKind::Kubernetes,
                _ => HaKind::None,
            },
            zk_session_timeout_us: positive("high-availability.zookeeper.client.session-timeout", 60_000_000)?,
            k8s_lease_duration_us: positive("high-availability.kubernetes.leader-election.lease-duration", 15_000_000)?,
            checkpoint_retention: match choice(
                "execution.checkpointing.externalized-checkpoint-retention",
                "NO_EXTERNALIZED_CHECKPOINTS",
                &["NO_EXTERNALIZED_CHECKPOINTS", "DELETE_ON_CANCELLATION", "RETAIN_ON_CANCELLATION"],
            )? {
                "DELETE_ON_CANCELLATION" => CheckpointRetention::DeleteOnCancellation,
                "RETAIN_ON_CANCELLATION" => CheckpointRetention::RetainOnCancellation,
                _ => CheckpointRetention::NoExternalizedCheckpoints,
            },
            checkpoint_dir: text(aliased_any(
                "execution.checkpointing.dir",
                &["state.checkpoints.dir", "state.backend.fs.checkpointdir"],
            )?)?,
            savepoint_dir: text(aliased("execution.checkpointing.savepoint-dir", "state.savepoints.dir")?)?,
            ha_storage_dir: text(aliased("high-availability.storageDir", "high-availability.zookeeper.storageDir")?)?,
            not_modelled,
        };
        let chaining = boolean("pipeline.operator-chaining.enabled", true)?;
        let max_parallelism = match values.get("pipeline.max-parallelism") {
            None => None,
            Some(_) => Some(int("pipeline.max-parallelism", 128, 1, 32_768)? as u32),
        };
        let default_parallelism = int("parallelism.default", 1, 1, MAX_PARALLELISM as i64)? as u32;
        Ok((flink, chaining, max_parallelism, default_parallelism))
    }

    fn flink_duration(&self, key: &str, v: &Spanned<toml::Value>) -> Res<u64> {
        let parsed = match v.get_ref() {
            // Flink's default unit for a bare number is milliseconds.
            toml::Value::Integer(ms) if *ms >= 0 => Some(*ms as u64 * 1_000),
            toml::Value::String(s) => parse_duration_us(s),
            _ => None,
        };
        parsed.filter(|us| *us <= 30 * DAY_US).ok_or_else(|| {
            let shown = match v.get_ref() {
                toml::Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            self.error_at(
                v.span(),
                format!("invalid duration {shown} for \"{key}\""),
                Some("durations look like \"250ms\", \"10s\", \"5min\" (a bare number is milliseconds)".into()),
            )
        })
    }
}

/// Real Flink keys the simulator accepts without modelling them, with what each would change in
/// Flink. A scenario written for a real cluster loads; the report lists these so nobody takes
/// their effect for granted.
pub const NOT_MODELLED: &[(&str, &str)] = &[
    (
        "execution.state-recovery.path",
        "a savepoint or retained checkpoint to start the job from; here the first job starts without state (a `submit-job` step with `from` restores a later one)",
    ),
    ("taskmanager.numberOfTaskSlots", "slots per TaskManager; here `[cluster] slots-per-taskmanager`"),
    ("jobmanager.rpc.address", "where the JobManager listens; here it is the host `jobmanager`"),
    ("jobmanager.rpc.port", "the JobManager's RPC port; the simulated network has no ports"),
    ("jobmanager.bind-host", "the JobManager's bind address; the simulated network has no addresses"),
    ("taskmanager.bind-host", "the TaskManager's bind address; the simulated network has no addresses"),
    ("taskmanager.host", "the TaskManager's address; the simulated network has no addresses"),
    ("rest.address", "the REST endpoint's address; nothing in the simulation talks to it"),
    ("rest.port", "the REST endpoint's port; nothing in the simulation talks to it"),
    ("rest.bind-address", "the REST endpoint's bind address; nothing in the simulation talks to it"),
    (
        "taskmanager.memory.process.size",
        "the TaskManager process's total memory; here memory is not a resource (only state sizes are modelled)",
    ),
    ("jobmanager.memory.process.size", "the JobManager process's total memory; here memory is not a resource"),
    (
        "execution.checkpointing.storage",
        "where checkpoints are stored (jobmanager or filesystem); here always the checkpoint directory's storage service",
    ),
    ("state.checkpoint-storage", "deprecated name of execution.checkpointing.storage: not modelled"),
    ("execution.buffer-timeout.interval", "how often output buffers are flushed; here each record is sent at once"),
    (
        "execution.checkpointing.unaligned.max-subtasks-per-channel-state-file",
        "how unaligned channel state is packed into files; here checkpoints are aligned",
    ),
    ("high-availability.cluster-id", "the HA namespace of this cluster; one cluster is simulated"),
    ("high-availability.zookeeper.quorum", "the ZooKeeper servers; here the HA store is a simulated service"),
    ("jobmanager.scheduler", "the scheduler (default or adaptive); here Flink's default scheduler"),
    ("env.java.opts.all", "JVM options; no JVM is started"),
    ("execution.savepoint.path", "deprecated name of execution.state-recovery.path: not modelled"),
];

/// Families of Flink's keys (by prefix) the simulator does not model, with what they change in
/// Flink. A key of Flink's that neither `FLINK_KEYS` nor `NOT_MODELLED` names falls into one of
/// these (Flink's option classes: `TaskManagerOptions`, `NettyShuffleEnvironmentOptions`,
/// `RocksDBOptions`, `MetricOptions`, `SecurityOptions`, `RestOptions`, …), so a configuration
/// written for a real cluster loads.
pub const NOT_MODELLED_FAMILIES: &[(&str, &str)] = &[
    ("taskmanager.memory.", "TaskManager memory sizes; here memory is not a resource (only state sizes are modelled)"),
    ("jobmanager.memory.", "JobManager memory sizes; here memory is not a resource"),
    (
        "taskmanager.network.",
        "network buffers and flow-control tuning; here a channel holds `[cluster] channel-capacity` records",
    ),
    ("taskmanager.", "a TaskManager setting recoverysim does not model (slots and start-up come from `[cluster]`)"),
    ("jobmanager.", "a JobManager setting recoverysim does not model"),
    (
        "state.backend.rocksdb.",
        "RocksDB tuning (memory, compaction, threads); the modelled RocksDB has none of these to tune",
    ),
    (
        "state.",
        "a state backend setting recoverysim does not model; of the state backend only its type and incremental checkpoints act",
    ),
    ("execution.checkpointing.", "a checkpointing setting recoverysim does not model"),
    ("execution.", "an execution setting recoverysim does not model"),
    ("pipeline.", "a pipeline setting recoverysim does not model (the job comes from `[job]`)"),
    ("restart-strategy.", "a restart-strategy setting recoverysim does not model"),
    (
        "high-availability.",
        "a high-availability setting recoverysim does not model (only the leader hand-over timing is)",
    ),
    ("heartbeat.", "a heartbeat setting recoverysim does not model"),
    ("cluster.", "cluster-wide tuning (evenly-spread-out slots, thread pools, shutdown) recoverysim does not model"),
    ("slot.", "a slot setting recoverysim does not model"),
    ("resourcemanager.", "a ResourceManager setting recoverysim does not model"),
    ("pekko.", "RPC framework tuning; here RPCs are messages over the simulated network"),
    ("akka.", "RPC framework tuning (deprecated name); here RPCs are messages over the simulated network"),
    ("rest.", "the REST endpoint; nothing in the simulation talks to it"),
    ("web.", "the Web UI; nothing in the simulation uses it"),
    ("metrics.", "metric reporters; the simulation reports its own figures"),
    ("security.", "security (Kerberos, SSL); the simulated network has no security layer"),
    ("kubernetes.", "Kubernetes deployment settings; here TaskManager pods are `[cluster]` hosts"),
    ("yarn.", "YARN deployment settings; here TaskManagers are `[cluster]` hosts"),
    ("blob.", "the BLOB server (jars and large RPC payloads); not modelled"),
    ("io.", "local I/O directories; not modelled"),
    ("env.", "the start scripts' environment (Java options, log directory); no process is started"),
    ("classloader.", "user-code class loading; the simulated job has no user code"),
    ("fs.", "file-system plugins; checkpoint storage is a simulated service"),
    ("s3.", "S3 file-system settings; checkpoint storage is a simulated service"),
    ("table.", "Table API / SQL settings; the simulated job is a DataStream job"),
    ("python.", "PyFlink settings; the simulated job is a DataStream job"),
    ("historyserver.", "the HistoryServer; not modelled"),
    ("sql-gateway.", "the SQL Gateway; not modelled"),
    ("parallelism.", "a parallelism setting recoverysim does not model"),
    ("scheduler-mode", "the reactive scheduler mode; here the default scheduler"),
    ("jobstore.", "the Dispatcher's archive of finished jobs; not modelled"),
    ("historyserver", "the HistoryServer; not modelled"),
    ("client.", "the command-line client; not modelled"),
    ("deployment.", "deployment settings; not modelled"),
    ("queryable-state.", "queryable state; not modelled"),
    ("process.", "working directories; not modelled"),
    ("local.", "local execution; not modelled"),
    ("plugin.", "plugin loading; not modelled"),
    ("execution.target", "where the job is deployed; here the simulated cluster"),
];

/// What a Flink key the simulator does not model would change: its own entry in
/// What the loader makes of a key in `[flink]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    /// A key the simulator reads (`FLINK_KEYS`).
    Read,
    /// One of Flink's keys the simulator accepts and lists as not modelled.
    NotModelled,
    /// A near miss of a key the simulator reads or lists: a typo, refused with "did you mean".
    /// Flink would ignore it silently, and the scenario would not test what its author meant.
    Typo(&'static str),
    /// Not one of Flink's keys.
    Unknown,
}

pub fn classify_key(key: &str) -> KeyClass {
    if FLINK_KEYS.contains(&key) {
        return KeyClass::Read;
    }
    if not_modelled_effect_exact(key).is_none() {
        let known: Vec<&'static str> = FLINK_KEYS.iter().chain(NOT_MODELLED.iter().map(|(k, _)| k)).copied().collect();
        if let Some(c) = closest(key, &known) {
            return KeyClass::Typo(c);
        }
    }
    if not_modelled_effect(key).is_some() { KeyClass::NotModelled } else { KeyClass::Unknown }
}

/// Deprecated names Flink still reads, each with its current key (`withDeprecatedKeys` in
/// Flink's option classes).
pub const DEPRECATED_KEYS: &[(&str, &str)] = &[
    ("akka.ask.timeout", "pekko.ask.timeout"),
    ("high-availability", "high-availability.type"),
    ("state.backend.local-recovery", "execution.state-recovery.from-local"),
    ("state.checkpoints.dir", "execution.checkpointing.dir"),
    ("state.backend.fs.checkpointdir", "execution.checkpointing.dir"),
    ("state.savepoints.dir", "execution.checkpointing.savepoint-dir"),
    ("execution.checkpointing.unaligned", "execution.checkpointing.unaligned.enabled"),
    ("execution.checkpointing.alignment-timeout", "execution.checkpointing.aligned-checkpoint-timeout"),
    ("state.backend.incremental", "execution.checkpointing.incremental"),
    ("state.backend", "state.backend.type"),
    ("high-availability.zookeeper.storageDir", "high-availability.storageDir"),
];

/// The current name of `key` if it is a deprecated one, else `key` itself.
pub fn canonical_key(key: &str) -> &str {
    DEPRECATED_KEYS.iter().find(|(old, _)| *old == key).map_or(key, |(_, new)| new)
}

/// `NOT_MODELLED`, else its family's in `NOT_MODELLED_FAMILIES`; `None` for a key that is not
/// one of Flink's.
pub fn not_modelled_effect(key: &str) -> Option<&'static str> {
    not_modelled_effect_exact(key)
        .or_else(|| NOT_MODELLED_FAMILIES.iter().find(|(prefix, _)| key.starts_with(prefix)).map(|(_, why)| *why))
}

/// The entry of `NOT_MODELLED` for exactly this key.
fn not_modelled_effect_exact(key: &str) -> Option<&'static str> {
    NOT_MODELLED.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

/// The Flink configuration keys a scenario may set.
pub const FLINK_KEYS: &[&str] = &[
    "execution.checkpointing.interval",
    "execution.checkpointing.mode",
    "execution.checkpointing.timeout",
    "execution.checkpointing.min-pause",
    "execution.checkpointing.num-retained",
    "execution.checkpointing.externalized-checkpoint-retention",
    "execution.checkpointing.dir",
    "execution.checkpointing.savepoint-dir",
    "execution.checkpointing.max-concurrent-checkpoints",
    "execution.checkpointing.unaligned.enabled",
    "execution.checkpointing.aligned-checkpoint-timeout",
    "execution.checkpointing.incremental",
    "state.backend.type",
    "execution.checkpointing.unaligned",
    "execution.checkpointing.alignment-timeout",
    "state.backend.incremental",
    "state.backend",
    "jobmanager.execution.failover-strategy",
    "restart-strategy.type",
    "restart-strategy.fixed-delay.attempts",
    "restart-strategy.fixed-delay.delay",
    "restart-strategy.failure-rate.max-failures-per-interval",
    "restart-strategy.failure-rate.failure-rate-interval",
    "restart-strategy.failure-rate.delay",
    "restart-strategy.exponential-delay.initial-backoff",
    "restart-strategy.exponential-delay.max-backoff",
    "restart-strategy.exponential-delay.backoff-multiplier",
    "restart-strategy.exponential-delay.reset-backoff-threshold",
    "restart-strategy.exponential-delay.jitter-factor",
    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    "heartbeat.interval",
    "heartbeat.timeout",
    "heartbeat.rpc-failure-threshold",
    "slot.request.timeout",
    "pekko.ask.timeout",
    "akka.ask.timeout",
    "taskmanager.slot.timeout",
    "resourcemanager.standalone.start-up-time",
    "execution.checkpointing.tolerable-failed-checkpoints",
    "high-availability.type",
    "high-availability",
    "high-availability.zookeeper.client.session-timeout",
    "high-availability.kubernetes.leader-election.lease-duration",
    "execution.state-recovery.from-local",
    "state.backend.local-recovery",
    "state.checkpoints.dir",
    "state.backend.fs.checkpointdir",
    "state.savepoints.dir",
    "high-availability.storageDir",
    "high-availability.zookeeper.storageDir",
    "taskmanager.load-balance.mode",
    "pipeline.operator-chaining.enabled",
    "pipeline.max-parallelism",
    "parallelism.default",
];
