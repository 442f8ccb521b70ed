//! Restart strategies: Flink's `RestartBackoffTimeStrategy` implementations for fixed-delay,
//! exponential-delay and none. Each failure the JobManager handles is one `notify_failure`.

use super::config::RestartStrategy;
use crate::sim::{Rng, TimeUs};

#[derive(Clone, Debug)]
pub struct RestartBackoff {
    strategy: RestartStrategy,
    /// Failures that asked for a restart so far (fixed-delay counts against `attempts`).
    failures: u32,
    /// exponential-delay: the attempt counter n and the time the last restart was scheduled for.
    exp_attempt: u32,
    last_restart_at_us: Option<TimeUs>,
    /// failure-rate: when the latest restarts (at most `max_failures` of them) were decided.
    restarts_at_us: std::collections::VecDeque<TimeUs>,
}

/// What the strategy says about one failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart after this delay.
    Restart { delay_us: u64 },
    /// No more restarts: the job fails.
    Exhausted,
}

impl RestartBackoff {
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartBackoff {
            strategy,
            failures: 0,
            exp_attempt: 0,
            last_restart_at_us: None,
            restarts_at_us: std::collections::VecDeque::new(),
        }
    }

    pub fn describe(&self) -> String {
        match &self.strategy {
            RestartStrategy::None => "none".into(),
            RestartStrategy::FixedDelay { attempts, delay_us } => {
                format!("fixed-delay (attempts {attempts}, delay {} ms)", delay_us / 1000)
            }
            RestartStrategy::FailureRate { max_failures, interval_us, delay_us } => format!(
                "failure-rate (at most {max_failures} per {}, delay {} ms)",
                crate::sim::fmt_duration(*interval_us),
                delay_us / 1000
            ),
            RestartStrategy::ExponentialDelay { initial_backoff_us, max_backoff_us, multiplier, .. } => format!(
                "exponential-delay (initial {} ms, ×{multiplier}, max {} ms)",
                initial_backoff_us / 1000,
                max_backoff_us / 1000
            ),
        }
    }

    /// Why the strategy gave up (after `notify_failure` said `Exhausted`), in Flink's terms.
    pub fn exhausted_reason(&self) -> String {
        match &self.strategy {
            RestartStrategy::FailureRate { max_failures, interval_us, .. } => format!(
                "the failure rate is exceeded: {} restart{} within {} before this failure ({})",
                max_failures,
                if *max_failures == 1 { "" } else { "s" },
                crate::sim::fmt_duration(*interval_us),
                self.describe()
            ),
            _ => format!("restart strategy {} exhausted", self.describe()),
        }
    }

    /// A failure happened at `now_us`. Mirrors `notifyFailure` + `canRestart` +
    /// `getBackoffTime` of the Flink strategy.
    pub fn notify_failure(&mut self, now_us: TimeUs, rng: &mut Rng) -> RestartDecision {
        self.failures += 1;
        match self.strategy {
            RestartStrategy::None => RestartDecision::Exhausted,
            RestartStrategy::FixedDelay { attempts, delay_us } => {
                if self.failures <= attempts {
                    RestartDecision::Restart { delay_us }
                } else {
                    RestartDecision::Exhausted
                }
            }
            RestartStrategy::FailureRate { max_failures, interval_us, delay_us } => {
                // canRestart: with `max_failures` restarts on record, the earliest must be more
                // than the interval ago; the new one then takes the place of the earliest.
                let full = self.restarts_at_us.len() >= max_failures as usize;
                if full && self.restarts_at_us.front().is_some_and(|&first| now_us - first <= interval_us) {
                    return RestartDecision::Exhausted;
                }
                if full {
                    self.restarts_at_us.pop_front();
                }
                self.restarts_at_us.push_back(now_us);
                RestartDecision::Restart { delay_us }
            }
            RestartStrategy::ExponentialDelay {
                initial_backoff_us,
                max_backoff_us,
                multiplier,
                reset_backoff_threshold_us,
                jitter_factor,
                attempts_before_reset,
            } => {
                // A failure before the already scheduled restart merges into it. (Flink merges
                // `now <= next restart` in wall-clock milliseconds; here a failure of the restarted
                // attempts themselves can happen at the very instant of the restart, and is a new
                // attempt, or virtual time would never move on.)
                if let Some(at) = self.last_restart_at_us {
                    if now_us < at {
                        return RestartDecision::Restart { delay_us: at - now_us };
                    }
                    if now_us - at >= reset_backoff_threshold_us {
                        self.exp_attempt = 0;
                    }
                }
                // calculateActualBackoffTime, in whole milliseconds as Flink computes it: the
                // backoff truncated to a long, a jitter drawn from [-offset, offset] with both ends
                // included (nextLong(-offset, offset + 1)), clamped to [initial, max].
                let (initial_ms, max_ms) = ((initial_backoff_us / 1000) as i64, (max_backoff_us / 1000) as i64);
                let base = (initial_ms as f64 * multiplier.powi(self.exp_attempt as i32)) as i64;
                let jitter = if jitter_factor == 0.0 {
                    0
                } else {
                    let offset = (base as f64 * jitter_factor) as i64;
                    rng.below_inclusive(2 * offset.max(0) as u64) as i64 - offset.max(0)
                };
                let delay = (base.saturating_add(jitter).min(max_ms).max(initial_ms) as u64) * 1000;
                self.exp_attempt = self.exp_attempt.saturating_add(1);
                if self.exp_attempt > attempts_before_reset {
                    return RestartDecision::Exhausted;
                }
                self.last_restart_at_us = Some(now_us + delay);
                RestartDecision::Restart { delay_us: delay }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Stream;

    #[test]
    fn fixed_delay_allows_exactly_attempts_restarts() {
        let mut r = RestartBackoff::new(RestartStrategy::FixedDelay { attempts: 2, delay_us: 1_000_000 });
        let mut rng = Rng::new(1, Stream::Restart);
        assert_eq!(r.notify_failure(0, &mut rng), RestartDecision::Restart { delay_us: 1_000_000 });
        assert_eq!(r.notify_failure(5, &mut rng), RestartDecision::Restart { delay_us: 1_000_000 });
        assert_eq!(r.notify_failure(9, &mut rng), RestartDecision::Exhausted);
    }

    /// FailureRateRestartBackoffTimeStrategyTest: `max` failures within the interval restart,
    /// the next one within it fails the job; failures spread wider than the interval never do.
    #[test]
    fn failure_rate_allows_max_failures_per_interval() {
        let mut rng = Rng::new(1, Stream::Restart);
        let rate = |max_failures, interval_us| {
            RestartBackoff::new(RestartStrategy::FailureRate { max_failures, interval_us, delay_us: 0 })
        };
        let mut r = rate(3, 10_000_000);
        for t in [0, 1, 2] {
            assert_eq!(r.notify_failure(t, &mut rng), RestartDecision::Restart { delay_us: 0 });
        }
        assert_eq!(r.notify_failure(3, &mut rng), RestartDecision::Exhausted);
        let mut r = rate(1, 1_000);
        for t in [0, 2_000, 4_000, 6_000] {
            assert_eq!(r.notify_failure(t, &mut rng), RestartDecision::Restart { delay_us: 0 });
        }
        // Exactly the interval after the earliest is still within it (`now - earliest > interval`).
        let mut r = rate(2, 1_000);
        r.notify_failure(0, &mut rng);
        r.notify_failure(500, &mut rng);
        assert_eq!(r.notify_failure(1_000, &mut rng), RestartDecision::Exhausted);
        assert_eq!(r.notify_failure(1_001, &mut rng), RestartDecision::Restart { delay_us: 0 });
    }

    #[test]
    fn exponential_delay_grows_merges_and_clamps() {
        let mut r = RestartBackoff::new(RestartStrategy::ExponentialDelay {
            initial_backoff_us: 1_000_000,
            max_backoff_us: 3_000_000,
            multiplier: 2.0,
            reset_backoff_threshold_us: 3_600_000_000,
            jitter_factor: 0.0,
            attempts_before_reset: u32::MAX,
        });
        let mut rng = Rng::new(1, Stream::Restart);
        assert_eq!(r.notify_failure(0, &mut rng), RestartDecision::Restart { delay_us: 1_000_000 });
        // Merged into the restart pending at 1 s.
        assert_eq!(r.notify_failure(400_000, &mut rng), RestartDecision::Restart { delay_us: 600_000 });
        assert_eq!(r.notify_failure(2_000_000, &mut rng), RestartDecision::Restart { delay_us: 2_000_000 });
        assert_eq!(r.notify_failure(10_000_000, &mut rng), RestartDecision::Restart { delay_us: 3_000_000 });
    }

    /// ExponentialDelayRestartBackoffTimeStrategyTest: with jitter 0.25 a backoff of 8 ms is
    /// 6..=10 ms, both ends reachable; every delay is whole milliseconds and within [initial, max].
    #[test]
    fn exponential_delay_jitter_is_whole_milliseconds_including_both_ends() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial_backoff_us: 8_000,
            max_backoff_us: 1_000_000,
            multiplier: 2.0,
            reset_backoff_threshold_us: 3_600_000_000,
            jitter_factor: 0.25,
            attempts_before_reset: i32::MAX as u32,
        };
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut r = RestartBackoff::new(strategy.clone());
            let mut rng = Rng::new(seed, Stream::Restart);
            let RestartDecision::Restart { delay_us } = r.notify_failure(0, &mut rng) else { panic!("restarts") };
            assert_eq!(delay_us % 1000, 0, "whole milliseconds");
            seen.insert(delay_us / 1000);
        }
        // 8 ± 2, clamped below at the initial 8 ms: 8, 9, 10.
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![8, 9, 10]);
    }

    #[test]
    fn none_never_restarts() {
        let mut r = RestartBackoff::new(RestartStrategy::None);
        assert_eq!(r.notify_failure(0, &mut Rng::new(1, Stream::Restart)), RestartDecision::Exhausted);
    }
}
