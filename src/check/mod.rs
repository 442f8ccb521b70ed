//! The oracle: proves from the committed output whether a run was exactly-once.

pub mod cut;
pub mod interleave;
pub mod invariants;
pub mod oracle;

/// What the committed output proves about delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    ExactlyOnce,
    /// Duplicates, no loss.
    AtLeastOnce,
    /// Loss, no duplicates.
    AtMostOnce,
    /// Both, or results no exactly-once run can commit (keyed counts out of sequence), or a
    /// protocol invariant broken during the run.
    Violated,
    /// Nothing lost or duplicated so far, but the job did not finish (FAILED, NOT_FOUND, still
    /// running or restarting at the time limit): not a clean verdict. (Losses or duplicates
    /// found in a job that did not finish keep their own verdict.)
    Incomplete,
    /// Nothing could be checked: every sink's output depends on how partitions interleave in a
    /// way no fault-free execution fixes (see ARCHITECTURE.md, "What the oracle proves").
    Unverified,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::ExactlyOnce => "exactly_once",
            Verdict::AtLeastOnce => "at_least_once",
            Verdict::AtMostOnce => "at_most_once",
            Verdict::Violated => "violated",
            Verdict::Incomplete => "incomplete",
            Verdict::Unverified => "unverified",
        }
    }
    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::ExactlyOnce,
            Verdict::AtLeastOnce,
            Verdict::AtMostOnce,
            Verdict::Violated,
            Verdict::Incomplete,
            Verdict::Unverified,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
    pub fn from_counts(lost: u64, duplicated: u64) -> Verdict {
        match (lost > 0, duplicated > 0) {
            (false, false) => Verdict::ExactlyOnce,
            (false, true) => Verdict::AtLeastOnce,
            (true, false) => Verdict::AtMostOnce,
            (true, true) => Verdict::Violated,
        }
    }
}
