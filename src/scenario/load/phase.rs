//! The `at-phase` trigger of a `[[fault]]`: the phase, the subtask that must be able to reach it,
//! and the optional `checkpoint` and `after` (docs/fault-phases.md).

use super::schema::RawFault;
use super::{Cx, Res, closest};
use crate::fault::{FaultTrigger, ProtocolPhase};
use crate::job::spec::{JobSpec, OperatorKind, SinkSemantic};
use toml::Spanned;

impl Cx<'_> {
    /// `at-phase = "…"` with its `subtask`, `checkpoint` and `after`.
    pub(super) fn at_phase(
        &self,
        f: &Spanned<RawFault>,
        p: &Spanned<String>,
        job: &JobSpec,
        end_us: u64,
        checkpointing: bool,
    ) -> Res<FaultTrigger> {
        let r = f.get_ref();
        let Some(phase) = ProtocolPhase::parse(p.get_ref()) else {
            let list = ProtocolPhase::NAMES.join(", ");
            // "snapshot" for "snapshot-taken": a unique prefix is as good a guess.
            let word = p.get_ref().as_str();
            let mut prefixed = ProtocolPhase::NAMES.iter().filter(|n| !word.is_empty() && n.starts_with(word));
            let unique_prefix = match (prefixed.next(), prefixed.next()) {
                (Some(n), None) => Some(*n),
                _ => None,
            };
            let hint = match closest(word, &ProtocolPhase::NAMES).or(unique_prefix) {
                Some(c) => format!("did you mean \"{c}\"? phases: {list}"),
                None => format!("phases: {list}"),
            };
            return self.err_hint(p.span(), format!("unknown protocol phase {:?}", p.get_ref()), hint);
        };
        let Some(st) = &r.subtask else {
            return self.err_hint(
                f.span(),
                "an `at-phase` fault needs the `subtask` whose phase it waits for",
                "subtask = \"count[0]\"",
            );
        };
        let subtask = self.subtask_ref(st, job)?;
        if !checkpointing && phase != ProtocolPhase::Deploying {
            return self.err_hint(
                p.span(),
                format!("`{}` needs checkpointing: execution.checkpointing.interval is not set", phase.name()),
                "set \"execution.checkpointing.interval\" in [flink], or use at-phase = \"deploying\"",
            );
        }
        let graph = crate::job::graph::JobGraph::build(job);
        let id = graph.subtask_id(subtask);
        let task = graph.task_of(id);
        if phase == ProtocolPhase::BarrierOnSomeInputs && graph.subtasks[id.0 as usize].inputs.len() < 2 {
            return self.err_hint(
                st.span(),
                format!(
                    "{} has {} input channel(s): a barrier cannot arrive on some inputs only",
                    graph.subtask_name(id),
                    graph.subtasks[id.0 as usize].inputs.len()
                ),
                "name a subtask behind a hash or rebalance edge from a parallel operator",
            );
        }
        let two_phase = |o: &crate::job::spec::OperatorId| {
            matches!(job.operators[o.0 as usize].kind, OperatorKind::Sink(SinkSemantic::TwoPhaseCommit))
        };
        if phase == ProtocolPhase::PreCommitted && !task.operators.iter().any(two_phase) {
            return self.err_hint(
                st.span(),
                format!("{} runs no two-phase-commit sink: nothing is pre-committed there", graph.subtask_name(id)),
                "name a subtask of a sink with semantic = \"two-phase-commit\"",
            );
        }
        let checkpoint = match &r.checkpoint {
            Some(c) if *c.get_ref() < 1 => return self.err(c.span(), "checkpoints are numbered from 1"),
            Some(c) => Some(*c.get_ref()),
            None => None,
        };
        let after_us = match &r.after {
            Some(a) => {
                let us = self.duration(a, "after")?;
                if us >= end_us {
                    return self.err(a.span(), "`after` is after the end of the run (duration + drain)");
                }
                us
            }
            None => 0,
        };
        Ok(FaultTrigger::AtPhase { phase, subtask, checkpoint, after_us })
    }
}
