//! Time travel over one run: the world is snapshotted every so many events while the run is
//! simulated once; the world after any event is then a clone of the nearest snapshot at or
//! before it, simulated forward (never a run from the start). The snapshots share what the
//! sink committed (`sim::AppendLog`), so they cost the processes' own state each.

use crate::cluster::engine::World;
use crate::scenario::Scenario;

/// At most this many snapshots are kept: past it every other one is dropped and the interval
/// doubles, so a seek re-simulates at most `interval` events and memory stays bounded.
pub const MAX_SNAPSHOTS: usize = 128;
/// The first interval between snapshots, in events.
pub const FIRST_INTERVAL: u64 = 25_000;

pub struct Timeline<'a> {
    /// `snapshots[i]` is the world after `i * interval` events.
    snapshots: Vec<World<'a>>,
    interval: u64,
    total: u64,
}

impl<'a> Timeline<'a> {
    /// Simulates `sc` (with its faults) once, keeping snapshots.
    pub fn build(sc: &'a Scenario) -> Timeline<'a> {
        Self::with_interval(sc, FIRST_INTERVAL)
    }

    pub fn with_interval(sc: &'a Scenario, first_interval: u64) -> Timeline<'a> {
        let mut w = World::new(sc, true);
        w.observe_only();
        let mut interval = first_interval.max(1);
        let mut snapshots = vec![w.clone()];
        while w.step() {
            if w.events().is_multiple_of(interval) {
                snapshots.push(w.clone());
                if snapshots.len() > MAX_SNAPSHOTS {
                    snapshots = snapshots.into_iter().step_by(2).collect();
                    interval *= 2;
                }
            }
        }
        let total = w.events();
        Timeline { snapshots, interval, total }
    }

    /// Events in the whole run.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Heap bytes all snapshots share: what the sink had committed by the last one.
    pub fn shared_bytes(&self) -> usize {
        self.snapshots.last().map_or(0, |w| w.shared_bytes())
    }

    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
    }

    /// The world after `events` events (clamped to the run). `current`, a world of this run
    /// at or before the target and nearer than the snapshot, is stepped forward instead.
    pub fn world_at(&self, events: u64, current: Option<World<'a>>) -> World<'a> {
        let events = events.min(self.total);
        let start = self.start_for(events, current.as_ref().map(|c| c.events()));
        let mut w = match (start, current) {
            (Some(i), _) => self.snapshots[i].clone(),
            (None, Some(c)) => c,
            (None, None) => unreachable!("start_for steps on the current world only when there is one"),
        };
        while w.events() < events && w.step() {}
        w
    }

    /// Where a seek to `events` starts: `None` to step on the current world (at
    /// `current_events`, not past the target and not behind the nearest snapshot), or the
    /// index of the nearest snapshot at or before the target.
    pub fn start_for(&self, events: u64, current_events: Option<u64>) -> Option<usize> {
        let events = events.min(self.total);
        // The last snapshot is at floor(total / interval) × interval, so this is a snapshot.
        let i = (events / self.interval) as usize;
        let snap_at = i as u64 * self.interval;
        match current_events {
            Some(c) if c <= events && c >= snap_at => None,
            _ => Some(i),
        }
    }

    /// The world after the last event at or before virtual time `at_us`; `current` as in
    /// `world_at`.
    pub fn world_at_time(&self, at_us: u64, current: Option<World<'a>>) -> World<'a> {
        let start = self.start_for_time(at_us, current.as_ref().map(|c| (c.events(), c.now())));
        let mut w = match (start, current) {
            (Some(i), _) => self.snapshots[i].clone(),
            (None, Some(c)) => c,
            (None, None) => unreachable!("start_for_time steps on the current world only when there is one"),
        };
        while w.next_event_at().is_some_and(|t| t <= at_us) && w.step() {}
        w
    }

    /// Where a seek to virtual time `at_us` starts: `None` to step on the current world (at
    /// `current` = (events, time), not past the time and not behind the nearest snapshot), or
    /// the index of the last snapshot taken at or before the time.
    pub fn start_for_time(&self, at_us: u64, current: Option<(u64, u64)>) -> Option<usize> {
        let i = self.snapshots.partition_point(|w| w.now() <= at_us).saturating_sub(1);
        match current {
            Some((events, now)) if now <= at_us && events >= self.snapshots[i].events() => None,
            _ => Some(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{FaultAction, FaultSpec, FaultTrigger};

    /// The unit-test job with a TaskManager killed at 5 s: snapshots hold dead processes,
    /// messages in flight and a failover in progress.
    fn scenario() -> Scenario {
        let mut sc = crate::scenario::testing::keyed_job(2, 2);
        sc.duration_us = 12_000_000;
        sc.faults.push(FaultSpec {
            trigger: FaultTrigger::At { at_us: 5_000_000 },
            action: FaultAction::KillTaskManager(0),
        });
        sc
    }

    #[test]
    fn a_seek_gives_the_world_a_straight_run_reaches() {
        let sc = scenario();
        let t = Timeline::with_interval(&sc, 1000);
        assert!(t.total() > 5000, "the test scenario is long enough to need several snapshots");
        for target in [0, 1, 999, 1000, 1001, 4321, t.total() - 1, t.total(), t.total() + 10] {
            let mut straight = World::new(&sc, true);
            straight.observe_only();
            while straight.events() < target && straight.step() {}
            let seeked = t.world_at(target, None);
            assert_eq!(seeked.events(), straight.events());
            assert_eq!(seeked.hash_so_far(), straight.hash_so_far(), "same state after {target} events");
            // Stepping on from a nearer world gives the same.
            let near = t.world_at(target.saturating_sub(3), None);
            assert_eq!(t.world_at(target, Some(near)).hash_so_far(), straight.hash_so_far());
        }
        let mid = t.world_at(t.total() / 2, None);
        let by_time = t.world_at_time(mid.now(), None);
        assert_eq!(by_time.now(), mid.now());
        assert!(by_time.events() >= mid.events(), "the last event at that time");
        assert!(by_time.next_event_at().is_some_and(|n| n > mid.now()), "and no later one");
        // From a world before the time, or after it: the same world.
        let early = t.world_at(t.total() / 2 - 500, None);
        assert_eq!(t.world_at_time(mid.now(), Some(early)).hash_so_far(), by_time.hash_so_far());
        let late = t.world_at(t.total() / 2 + 2500, None);
        assert_eq!(t.world_at_time(mid.now(), Some(late)).hash_so_far(), by_time.hash_so_far());
    }

    #[test]
    fn snapshots_are_kept_every_interval_and_share_what_was_committed() {
        let sc = scenario();
        let t = Timeline::with_interval(&sc, 1000);
        assert_eq!(t.snapshots() as u64, t.total() / 1000 + 1, "one at 0 and one every 1000 events");
        // What the last snapshot's sink had committed, in full chunks of 4096, is shared.
        let committed = t.world_at((t.snapshots() as u64 - 1) * 1000, None).inspect().committed as usize;
        assert!(committed > 4096, "the test commits enough to fill a chunk: {committed}");
        let record = std::mem::size_of::<crate::cluster::external::CommittedRecord>();
        assert_eq!(t.shared_bytes(), committed / 4096 * 4096 * record);
        // Exactly as many snapshots as the limit allows: no thinning.
        let full = Timeline::with_interval(&sc, t.total() / (MAX_SNAPSHOTS as u64 - 1));
        assert_eq!(full.snapshots(), MAX_SNAPSHOTS);
        assert_eq!(full.interval(), t.total() / (MAX_SNAPSHOTS as u64 - 1));
    }

    #[test]
    fn a_seek_starts_from_the_nearest_snapshot_or_steps_the_current_world_on() {
        let sc = scenario();
        let t = Timeline::with_interval(&sc, 1000);
        let last = t.snapshots() - 1;
        assert_eq!(t.start_for(t.total(), None), Some(last));
        assert_eq!(t.start_for(t.total() - 3, Some(0)), Some(last), "a far-behind world is not stepped on");
        assert_eq!(t.start_for(2500, Some(2100)), None, "a world past the snapshot is stepped on");
        assert_eq!(t.start_for(2500, Some(2500)), None);
        assert_eq!(t.start_for(2500, Some(1999)), Some(2), "behind the snapshot at 2000");
        assert_eq!(t.start_for(2500, Some(2501)), Some(2), "a world past the target cannot go back");
        assert_eq!(t.start_for(1999, None), Some(1));
    }

    #[test]
    fn a_seek_in_time_starts_from_the_last_snapshot_before_it_or_steps_the_current_world_on() {
        let sc = scenario();
        let t = Timeline::with_interval(&sc, 1000);
        let (s2, s3) = (t.world_at(2000, None), t.world_at(3000, None));
        let between = (s2.now() + s3.now()) / 2;
        assert_eq!(t.start_for_time(between, None), Some(2));
        assert_eq!(t.start_for_time(s3.now(), None), Some(3), "a snapshot taken at that very time");
        assert_eq!(t.start_for_time(between, Some((2500, s2.now()))), None, "past the snapshot, before the time");
        assert_eq!(t.start_for_time(between, Some((1500, s2.now() - 1))), Some(2), "behind the snapshot");
        assert_eq!(t.start_for_time(between, Some((2500, between + 1))), Some(2), "past the time");
        assert_eq!(t.start_for_time(u64::MAX, None), Some(t.snapshots() - 1));
    }

    #[test]
    fn snapshots_stay_bounded() {
        let sc = scenario();
        let t = Timeline::with_interval(&sc, 10);
        assert!(t.snapshots() <= MAX_SNAPSHOTS + 1);
        assert!(t.interval() > 10, "thinned: the interval doubled");
        let w = t.world_at(t.total() - 7, None);
        assert_eq!(w.events(), t.total() - 7);
    }
}
