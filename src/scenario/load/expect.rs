//! The `[expect]` table, and the line of each of its keys.

use super::schema::RawExpect;
use super::{Cx, Res, line_col};
use crate::check::Verdict;
use crate::cluster::state::JobStatus;
use crate::job::spec::JobSpec;
use crate::scenario::model::Expect;
use std::ops::Range;

impl Cx<'_> {
    /// The `[expect]` table; `verdict` defaults to exactly_once and `job-status` to FINISHED, so
    /// a scenario without the table still fails when it loses records or does not finish.
    pub(super) fn expect(&self, e: &RawExpect, table: Option<Range<usize>>, job: &JobSpec) -> Res<Expect> {
        let verdict = match &e.verdict {
            None => Verdict::ExactlyOnce,
            Some(v) => Verdict::parse(v.get_ref()).ok_or_else(|| {
                self.error_at(
                    v.span(),
                    "invalid `verdict`",
                    Some("exactly_once, at_least_once, at_most_once, violated, incomplete or unverified".into()),
                )
            })?,
        };
        let job_status = match &e.job_status {
            None => JobStatus::Finished,
            Some(v) => JobStatus::parse(v.get_ref()).ok_or_else(|| {
                self.error_at(v.span(), "invalid `job-status`", Some("RUNNING, FINISHED, FAILED, RESTARTING, …".into()))
            })?,
        };
        let restarted = match &e.restarted {
            None => None,
            Some(list) => {
                let mut all = Vec::new();
                for s in list.get_ref() {
                    all.extend(self.subtask_refs(s, job)?);
                }
                all.sort();
                all.dedup();
                Some(all)
            }
        };
        // The line each key is on, for annotations that point at the expectation that failed;
        // defaults point at the table (or the top of the file without one).
        let line = |span: Range<usize>| line_col(self.text, span.start).0;
        let table_line = table.map_or(1, |t| line(t).saturating_sub(1).max(1));
        let mut lines = std::collections::BTreeMap::new();
        for (key, span) in [
            ("verdict", e.verdict.as_ref().map(|v| v.span())),
            ("failovers", e.failovers.as_ref().map(|v| v.span())),
            ("job-status", e.job_status.as_ref().map(|v| v.span())),
            ("restarted", e.restarted.as_ref().map(|v| v.span())),
            ("lost", e.lost.as_ref().map(|v| v.span())),
            ("duplicated", e.duplicated.as_ref().map(|v| v.span())),
            ("min-completed-checkpoints", e.min_completed_checkpoints.as_ref().map(|v| v.span())),
        ] {
            lines.insert(key, span.map_or(table_line, line));
        }
        Ok(Expect {
            verdict,
            verdict_defaulted: e.verdict.is_none(),
            failovers: e.failovers.as_ref().map(|v| *v.get_ref()),
            job_status,
            job_status_defaulted: e.job_status.is_none(),
            restarted,
            lost: e.lost.as_ref().map(|v| *v.get_ref()),
            duplicated: e.duplicated.as_ref().map(|v| *v.get_ref()),
            min_completed_checkpoints: e.min_completed_checkpoints.as_ref().map(|v| *v.get_ref()),
            lines,
        })
    }
}
