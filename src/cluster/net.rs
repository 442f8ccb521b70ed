//! The simulated network: hosts, links with latency and jitter, partitions, message rules (loss,
//! delay) and TCP-like connections. It decides, for every message a process sends, when it
//! arrives, whether it is held (a partition: TCP keeps retransmitting, so it arrives in order
//! once the partition heals) or dropped (a `lose-messages` rule). It never looks inside a
//! process; processes never look inside it.
//!
//! Short verbs, as a fault reads: `partition`, `heal`, `lose`, `delay`, and the host conditions
//! `freeze`, `thaw`, `lose_host`.

use crate::fault::{HostRef, MessageKind, MessageRule};
use crate::sim::{Rng, TimeUs};

/// A host. Fixed hosts first, then TaskManager hosts in the order they were created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct HostId(pub u16);

impl HostId {
    pub const JOBMANAGER: HostId = HostId(0);
    pub const STORAGE: HostId = HostId(1);
    pub const STORE: HostId = HostId(2);
    pub const HA: HostId = HostId(3);
    pub const FIRST_TM: u16 = 4;

    pub fn tm(n: u32) -> HostId {
        HostId(Self::FIRST_TM + n as u16)
    }
    /// The TaskManager number of a TaskManager host.
    pub fn tm_index(self) -> Option<u32> {
        self.0.checked_sub(Self::FIRST_TM).map(u32::from)
    }
    pub fn of(h: HostRef) -> HostId {
        match h {
            HostRef::JobManager => HostId::JOBMANAGER,
            HostRef::CheckpointStorage => HostId::STORAGE,
            HostRef::SinkStore => HostId::STORE,
            HostRef::HaStore => HostId::HA,
            HostRef::TaskManager(n) => HostId::tm(n),
        }
    }
    pub fn host_ref(self) -> HostRef {
        match self.0 {
            0 => HostRef::JobManager,
            1 => HostRef::CheckpointStorage,
            2 => HostRef::SinkStore,
            3 => HostRef::HaStore,
            n => HostRef::TaskManager(u32::from(n - Self::FIRST_TM)),
        }
    }
    pub fn name(self) -> String {
        self.host_ref().name()
    }
}

/// What a host is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCondition {
    Up,
    /// Gone without a trace (power loss): nothing it was sent arrives, nothing is reset.
    Lost,
    /// Its process is stopped: messages and timers wait until it wakes.
    Frozen,
}

/// The network's verdict on one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Arrives at this time.
    Deliver(TimeUs),
    /// Held by a partition: re-routed when it heals.
    Hold,
    /// Dropped by a `lose-messages` rule (index of the fault that set it).
    Drop { fault: usize },
    /// A `lose-messages` rule hit a message on a data connection. TCP does not lose a message on
    /// a live connection: a lost one means the connection broke, and both ends see it closed
    /// (the receiver at `to_at`, the sender at `from_at`).
    Reset { fault: usize, to_at: TimeUs, from_at: TimeUs },
    /// A `lose-messages` rule hit a request to or an answer from an external system (the sink
    /// store, checkpoint storage, the HA store): its client hears nothing and sends the request again after
    /// its timeout (`client_timeout_us`); it arrives then, in order with what the client sent
    /// after it.
    Resent { fault: usize, at: TimeUs },
}

/// Kafka producer `request.timeout.ms` (default 30 s): how long a client waits for an answer
/// before it sends the request again.
pub const KAFKA_REQUEST_TIMEOUT_US: u64 = 30_000_000;
/// The storage client's socket timeout (HDFS `dfs.client.socket-timeout`, 60 s) before it
/// retries a request that got no answer.
pub const STORAGE_CLIENT_TIMEOUT_US: u64 = 60_000_000;

/// The client timeout after which a request on this link is sent again, for links to external
/// systems whose clients retry (sink store, checkpoint storage, the HA store); `None` for
/// Flink's own RPC.
pub fn client_timeout_us(from: HostId, to: HostId, lat: &Latencies) -> Option<u64> {
    if from == HostId::STORE || to == HostId::STORE {
        Some(KAFKA_REQUEST_TIMEOUT_US)
    } else if from == HostId::STORAGE || to == HostId::STORAGE {
        Some(STORAGE_CLIENT_TIMEOUT_US)
    } else if from == HostId::HA || to == HostId::HA {
        Some(lat.ha_client_timeout_us)
    } else {
        None
    }
}

/// The fabric8 Kubernetes client's request timeout (10 s): Kubernetes HA's ConfigMap calls and
/// the pod watch of an active ResourceManager are sent again (the watch re-established) after it.
pub const KUBERNETES_CLIENT_TIMEOUT_US: u64 = 10_000_000;

/// How long the HA store's client goes without an answer before it sends the request again.
/// ZooKeeper: the client gives a silent connection up after its read timeout, 2/3 of the
/// session timeout (`ClientCnxn`), reconnects within the session, and Curator retries the
/// operation that failed with ConnectionLoss (watches fire again on the new connection);
/// Kubernetes (and the pod watch without HA): the Kubernetes client's request timeout.
pub fn ha_client_timeout_us(flink: &crate::cluster::config::FlinkConfig) -> u64 {
    match flink.ha {
        crate::cluster::config::HaKind::Zookeeper => flink.zk_session_timeout_us * 2 / 3,
        _ => KUBERNETES_CLIENT_TIMEOUT_US,
    }
}

#[derive(Clone, Debug)]
struct Partition {
    fault: usize,
    a: Vec<HostId>,
    b: Vec<HostId>,
    one_way: bool,
    active: bool,
}

#[derive(Clone, Debug)]
struct Rule {
    fault: usize,
    kind: MessageKind,
    from: Vec<HostId>,
    to: Vec<HostId>,
    probability: f64,
    until_us: Option<TimeUs>,
    /// `None`: lose; `Some(d)`: delay by d.
    delay_us: Option<u64>,
    hits: u64,
}

/// Latency settings (from `[cluster]`), and the HA store client's retry timeout (from
/// `[flink]`, `ha_client_timeout_us`).
#[derive(Clone, Copy, Debug)]
pub struct Latencies {
    pub rpc_us: u64,
    pub data_us: u64,
    pub jitter_us: u64,
    pub ha_client_timeout_us: u64,
}

#[derive(Clone)]
pub struct Network {
    conditions: Vec<HostCondition>,
    partitions: Vec<Partition>,
    rules: Vec<Rule>,
    /// Last arrival time per (from, to, data?) link: each link is FIFO, like a TCP connection.
    last_arrival: Vec<TimeUs>,
    n_hosts: usize,
    lat: Latencies,
    rng: Rng,
    /// Data connections ever opened between two hosts (`[from][to]`), for connection resets.
    connected: Vec<bool>,
    /// The fault whose rule delayed the message routed last, or made its client resend it
    /// (for `at-late-delivery` faults).
    pub last_late: Option<usize>,
}

impl Network {
    pub fn new(n_tm_hosts: u32, lat: Latencies, rng: Rng) -> Network {
        let n_hosts = HostId::FIRST_TM as usize + n_tm_hosts as usize;
        Network {
            conditions: vec![HostCondition::Up; n_hosts],
            partitions: Vec::new(),
            rules: Vec::new(),
            last_arrival: vec![0; n_hosts * n_hosts * 2],
            n_hosts,
            lat,
            rng,
            connected: vec![false; n_hosts * n_hosts],
            last_late: None,
        }
    }

    pub fn condition(&self, h: HostId) -> HostCondition {
        self.conditions.get(h.0 as usize).copied().unwrap_or(HostCondition::Lost)
    }
    pub fn n_hosts(&self) -> usize {
        self.n_hosts
    }
    pub fn freeze(&mut self, h: HostId) {
        self.conditions[h.0 as usize] = HostCondition::Frozen;
    }
    pub fn thaw(&mut self, h: HostId) {
        if self.conditions[h.0 as usize] == HostCondition::Frozen {
            self.conditions[h.0 as usize] = HostCondition::Up;
        }
    }
    pub fn lose_host(&mut self, h: HostId) {
        self.conditions[h.0 as usize] = HostCondition::Lost;
    }

    pub fn partition(&mut self, fault: usize, a: &[HostRef], b: &[HostRef], one_way: bool) {
        let ids = |v: &[HostRef]| v.iter().map(|h| HostId::of(*h)).collect();
        self.partitions.push(Partition { fault, a: ids(a), b: ids(b), one_way, active: true });
    }
    /// Heals the partition set by `fault`; true if it was active.
    pub fn heal(&mut self, fault: usize) -> bool {
        let mut any = false;
        for p in self.partitions.iter_mut().filter(|p| p.fault == fault && p.active) {
            p.active = false;
            any = true;
        }
        any
    }
    pub fn lose(&mut self, fault: usize, rule: &MessageRule) {
        self.add_rule(fault, rule, None);
    }
    pub fn delay(&mut self, fault: usize, rule: &MessageRule, delay_us: u64) {
        self.add_rule(fault, rule, Some(delay_us));
    }
    fn add_rule(&mut self, fault: usize, r: &MessageRule, delay_us: Option<u64>) {
        let ids = |v: &[HostRef]| v.iter().map(|h| HostId::of(*h)).collect();
        self.rules.push(Rule {
            fault,
            kind: r.kind,
            from: ids(&r.from),
            to: ids(&r.to),
            probability: r.probability,
            until_us: r.until_us,
            delay_us,
            hits: 0,
        });
    }
    /// Messages hit by each rule so far: (fault, hits).
    pub fn rule_hits(&self) -> Vec<(usize, u64)> {
        self.rules.iter().map(|r| (r.fault, r.hits)).collect()
    }

    /// Whether an active partition cuts `h` off from some host.
    pub fn is_partitioned(&self, h: HostId) -> bool {
        self.partitions.iter().any(|p| p.active && (p.a.contains(&h) || p.b.contains(&h)))
    }

    /// Whether messages from `from` to `to` are cut by an active partition.
    pub fn cut(&self, from: HostId, to: HostId) -> bool {
        self.partitions.iter().any(|p| {
            p.active
                && ((p.a.contains(&from) && p.b.contains(&to))
                    || (!p.one_way && p.b.contains(&from) && p.a.contains(&to)))
        })
    }

    /// Decides the fate of one message sent now. Same-host messages are local calls: no
    /// latency, no faults.
    pub fn route(&mut self, now: TimeUs, from: HostId, to: HostId, kind: MessageKind, data: bool) -> Route {
        self.route_with(now, from, to, kind, data, true)
    }

    /// A connection reset the kernel sends (not a message of a process): no rule drops or
    /// delays it; a partition holds it like anything else.
    pub fn route_reset(&mut self, now: TimeUs, from: HostId, to: HostId) -> Route {
        self.route_with(now, from, to, MessageKind::Data, false, false)
    }

    fn route_with(
        &mut self,
        now: TimeUs,
        from: HostId,
        to: HostId,
        kind: MessageKind,
        data: bool,
        ruled: bool,
    ) -> Route {
        self.last_late = None;
        if from == to {
            return Route::Deliver(now);
        }
        let mut extra = 0;
        let mut delayed = false;
        let mut resent = None;
        // Requests to an external system and its answers travel on one connection in order,
        // and its client retries what got no answer (Kafka's idempotent producer keeps its
        // requests in order through retries, and commitTransaction flushes what was sent before
        // it): a delay or a retry holds up what follows.
        let client_timeout = client_timeout_us(from, to, &self.lat);
        let external = client_timeout.is_some();
        if ruled && !self.rules.is_empty() {
            for i in 0..self.rules.len() {
                let r = &self.rules[i];
                if r.until_us.is_some_and(|u| now > u)
                    || !kind.matches(r.kind)
                    || (!r.from.is_empty() && !r.from.contains(&from))
                    || (!r.to.is_empty() && !r.to.contains(&to))
                {
                    continue;
                }
                if r.probability < 1.0 && self.rng.unit_f64() >= r.probability {
                    continue;
                }
                let r = &mut self.rules[i];
                r.hits += 1;
                match r.delay_us {
                    None if data => {
                        let fault = r.fault;
                        self.connected[from.0 as usize * self.n_hosts + to.0 as usize] = false;
                        self.connected[to.0 as usize * self.n_hosts + from.0 as usize] = false;
                        let to_at = now + self.lat.data_us + self.rng.below_inclusive(self.lat.jitter_us);
                        let from_at = now + self.lat.data_us + self.rng.below_inclusive(self.lat.jitter_us);
                        return Route::Reset { fault, to_at, from_at };
                    }
                    None if let Some(timeout) = client_timeout => {
                        resent = Some(r.fault);
                        self.last_late.get_or_insert(r.fault);
                        extra += timeout;
                        delayed = true;
                    }
                    None => return Route::Drop { fault: r.fault },
                    Some(d) => {
                        self.last_late.get_or_insert(r.fault);
                        extra += d;
                        delayed = true;
                    }
                }
            }
        }
        if self.cut(from, to) {
            return Route::Hold;
        }
        if data {
            self.connected[from.0 as usize * self.n_hosts + to.0 as usize] = true;
        }
        let base = if data { self.lat.data_us } else { self.lat.rpc_us };
        let latency = base + self.rng.below_inclusive(self.lat.jitter_us) + extra;
        let link = (from.0 as usize * self.n_hosts + to.0 as usize) * 2 + usize::from(data);
        let at = now + latency;
        if delayed && !data && !external {
            // A delayed RPC is as if it was sent again later: it does not hold back the messages
            // behind it. A data connection is one TCP stream: a delay holds up everything behind
            // it (head-of-line blocking) and never reorders records, barriers and credit.
            return Route::Deliver(at);
        }
        let at = at.max(self.last_arrival[link]);
        self.last_arrival[link] = at;
        match resent {
            Some(fault) => Route::Resent { fault, at },
            None => Route::Deliver(at),
        }
    }

    /// A new TaskManager host (an active ResourceManager's replacement pod, a rolling update).
    pub fn add_host(&mut self) -> HostId {
        let old = self.n_hosts;
        let n = old + 1;
        let mut last = vec![0; n * n * 2];
        for f in 0..old {
            for t in 0..old {
                for d in 0..2 {
                    last[(f * n + t) * 2 + d] = self.last_arrival[(f * old + t) * 2 + d];
                }
            }
        }
        self.last_arrival = last;
        let mut conn = vec![false; n * n];
        for f in 0..old {
            for t in 0..old {
                conn[f * n + t] = self.connected[f * old + t];
            }
        }
        self.connected = conn;
        self.n_hosts = n;
        self.conditions.push(HostCondition::Up);
        HostId(old as u16)
    }

    /// The hosts with an open data connection to or from `h`; forgets them (the connections are
    /// reset now).
    pub fn take_connections(&mut self, h: HostId) -> Vec<HostId> {
        let n = self.n_hosts;
        let h = h.0 as usize;
        let mut peers = Vec::new();
        for p in 0..n {
            if p != h && (self.connected[h * n + p] || self.connected[p * n + h]) {
                self.connected[h * n + p] = false;
                self.connected[p * n + h] = false;
                peers.push(HostId(p as u16));
            }
        }
        peers
    }

    /// A seeded draw for timings that decide races (heartbeat phases, handling delays).
    pub fn draw_below(&mut self, max: u64) -> u64 {
        self.rng.below_inclusive(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{HostRef, MessageKind, MessageRule};
    use crate::sim::Stream;

    fn net() -> Network {
        let lat =
            Latencies { rpc_us: 100, data_us: 100, jitter_us: 0, ha_client_timeout_us: KUBERNETES_CLIENT_TIMEOUT_US };
        Network::new(2, lat, Rng::new(1, Stream::Network))
    }

    fn delay(net: &mut Network, kind: MessageKind) {
        let rule =
            MessageRule { kind, from: vec![], to: vec![HostRef::TaskManager(1)], probability: 1.0, until_us: Some(10) };
        net.delay(0, &rule, 5_000);
    }

    #[test]
    fn a_delayed_data_message_holds_back_the_data_behind_it() {
        let mut n = net();
        delay(&mut n, MessageKind::Data);
        let (a, b) = (HostId(HostId::FIRST_TM), HostId(HostId::FIRST_TM + 1));
        // Sent at 10 µs (rule active): delayed to 5,110 µs. Sent at 20 µs (rule over): would
        // arrive at 120 µs, but the connection is FIFO.
        assert_eq!(n.route(10, a, b, MessageKind::Data, true), Route::Deliver(5_110));
        assert_eq!(n.route(20, a, b, MessageKind::Data, true), Route::Deliver(5_110));
    }

    #[test]
    fn a_lost_data_message_breaks_its_connection_and_a_lost_rpc_is_dropped() {
        let mut n = net();
        let (a, b) = (HostId(HostId::FIRST_TM), HostId(HostId::FIRST_TM + 1));
        assert_eq!(n.route(1, a, b, MessageKind::Data, true), Route::Deliver(101));
        let rule =
            MessageRule { kind: MessageKind::Any, from: vec![], to: vec![], probability: 1.0, until_us: Some(10) };
        n.lose(0, &rule);
        assert_eq!(n.route(5, a, b, MessageKind::Data, true), Route::Reset { fault: 0, to_at: 105, from_at: 105 });
        assert!(n.take_connections(a).is_empty(), "the broken connection is forgotten");
        assert_eq!(n.route(6, a, b, MessageKind::AcknowledgeCheckpoint, false), Route::Drop { fault: 0 });
        // The kernel's reset itself is not subject to the rules.
        assert_eq!(n.route_reset(7, a, b), Route::Deliver(107));
    }

    #[test]
    fn a_lost_sink_store_request_is_resent_after_the_request_timeout_in_order() {
        let mut n = net();
        let (a, store) = (HostId(HostId::FIRST_TM), HostId::STORE);
        let rule =
            MessageRule { kind: MessageKind::Any, from: vec![], to: vec![], probability: 1.0, until_us: Some(10) };
        n.lose(0, &rule);
        let at = 10 + KAFKA_REQUEST_TIMEOUT_US + 100;
        assert_eq!(n.route(10, a, store, MessageKind::Any, false), Route::Resent { fault: 0, at });
        // The commit sent after it does not overtake it.
        assert_eq!(n.route(20, a, store, MessageKind::Any, false), Route::Deliver(at));
        assert_eq!(n.route(30, store, a, MessageKind::Any, false), Route::Deliver(130));
        // Checkpoint storage: its client retries after its socket timeout.
        let at = 5 + STORAGE_CLIENT_TIMEOUT_US + 100;
        assert_eq!(n.route(5, a, HostId::STORAGE, MessageKind::Any, false), Route::Resent { fault: 0, at });
    }

    #[test]
    fn a_delayed_rpc_does_not_hold_back_the_rpcs_behind_it() {
        let mut n = net();
        delay(&mut n, MessageKind::AcknowledgeCheckpoint);
        let (a, b) = (HostId(HostId::FIRST_TM), HostId(HostId::FIRST_TM + 1));
        assert_eq!(n.route(10, a, b, MessageKind::AcknowledgeCheckpoint, false), Route::Deliver(5_110));
        assert_eq!(n.route(20, a, b, MessageKind::AcknowledgeCheckpoint, false), Route::Deliver(120));
    }
}
