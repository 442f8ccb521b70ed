//! The `[cluster]` table: sizes, latencies, bandwidths, start delays.

use super::schema::RawCluster;
use super::{Cx, DAY_US, MAX_SLOTS_PER_TASKMANAGER, MAX_TASKMANAGERS, Res, parse_bandwidth};
use crate::cluster::config::{ClusterSpec, ResourceManagerKind};
use toml::Spanned;

impl Cx<'_> {
    pub(super) fn cluster(&self, c: RawCluster) -> Res<ClusterSpec> {
        let ranged = |v: &Option<Spanned<u64>>, default: u64, min: u64, max: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
                Some(s) => self.err(s.span(), format!("`{what}` must be between {min} and {max}")),
            }
        };
        let dur = |v: &Option<Spanned<String>>, default: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) => {
                    let us = self.duration(s, what)?;
                    if us > DAY_US {
                        return self.err(s.span(), format!("`{what}` must be at most 24h"));
                    }
                    Ok(us)
                }
            }
        };
        let bw = |v: &Option<Spanned<String>>, default: u64, what: &str| -> Res<u64> {
            match v {
                None => Ok(default),
                Some(s) => parse_bandwidth(s.get_ref()).filter(|b| *b > 0).ok_or_else(|| {
                    self.error_at(
                        s.span(),
                        format!("invalid bandwidth {:?} for `{what}`", s.get_ref()),
                        Some("bandwidths look like \"100MB/s\", \"512KiB/s\", \"1GB/s\"".into()),
                    )
                }),
            }
        };
        let resource_manager = match &c.resource_manager {
            None => ResourceManagerKind::Standalone,
            Some(s) => match s.get_ref().as_str() {
                "standalone" => ResourceManagerKind::Standalone,
                "active" => ResourceManagerKind::Active,
                _ => return self.err_hint(s.span(), "invalid `resource-manager`", "\"standalone\" or \"active\""),
            },
        };
        Ok(ClusterSpec {
            taskmanagers: ranged(&c.taskmanagers, 1, 1, MAX_TASKMANAGERS, "taskmanagers")? as u32,
            slots_per_taskmanager: ranged(
                &c.slots_per_taskmanager,
                1,
                1,
                MAX_SLOTS_PER_TASKMANAGER,
                "slots-per-taskmanager",
            )? as u32,
            resource_manager,
            taskmanager_start_delay_us: dur(&c.taskmanager_start_delay, 5_000_000, "taskmanager-start-delay")?,
            rpc_latency_us: dur(&c.rpc_latency, 1_000, "rpc-latency")?,
            network_latency_us: dur(&c.network_latency, 1_000, "network-latency")?,
            network_jitter_us: dur(&c.network_jitter, 100, "network-jitter")?,
            channel_capacity: ranged(&c.channel_capacity, 64, 1, 1_000_000, "channel-capacity")? as u32,
            connection_reset_us: dur(&c.connection_reset, 50_000, "connection-reset")?,
            storage_bytes_per_s: bw(&c.storage_bandwidth, 100_000_000, "storage-bandwidth")?,
            storage_latency_us: dur(&c.storage_latency, 20_000, "storage-latency")?,
            local_bytes_per_s: bw(&c.local_bandwidth, 1_000_000_000, "local-bandwidth")?,
            deploy_us: dur(&c.deploy_time, 5_000, "deploy-time")?,
            jobmanager_restart_delay_us: dur(&c.jobmanager_restart_delay, 5_000_000, "jobmanager-restart-delay")?,
        })
    }
}
