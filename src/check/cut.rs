//! Consistent-cut check: every completed checkpoint's keyed state must equal what the source
//! records before that checkpoint's offsets produce. This is the invariant aligned checkpoints
//! exist for; it is checked from the log itself, not from anything the engine computed.

use crate::cluster::external::CompletedCheckpoint;
use crate::job::graph::JobGraph;
use crate::job::record::{SourceLog, apply_keyed, apply_stateless};
use crate::job::spec::{OperatorId, OperatorKind};
use std::collections::{BTreeMap, BTreeSet};

/// The first checkpoint whose state is not a consistent cut.
#[derive(Clone, Debug, PartialEq)]
pub struct CutViolation {
    pub checkpoint: u64,
    pub operator: String,
    pub key: u32,
    pub in_checkpoint: i64,
    pub from_offsets: i64,
}

/// Keyed operators fed by one source through stateless operators only: their state is a pure
/// function of the source offsets. Returns (keyed operator, source operator, stateless path).
fn checkable(graph: &JobGraph) -> Vec<(OperatorId, OperatorId, Vec<OperatorId>)> {
    let ops = &graph.spec.operators;
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !op.kind.is_keyed() {
            continue;
        }
        let mut path = Vec::new();
        let mut cur = op.input.map(|(x, _)| x);
        while let Some(c) = cur {
            match ops[c.0 as usize].kind {
                OperatorKind::Source(_) => {
                    path.reverse();
                    out.push((OperatorId(i as u32), c, path));
                    break;
                }
                OperatorKind::Map { .. } | OperatorKind::Filter { .. } => {
                    path.push(c);
                    cur = ops[c.0 as usize].input.map(|(x, _)| x);
                }
                _ => break,
            }
        }
    }
    out
}

/// Checks every completed checkpoint, in order. `log_of` maps a source operator to its log.
pub fn check(
    graph: &JobGraph,
    logs: &[SourceLog],
    log_of: &[Option<usize>],
    checkpoints: &[CompletedCheckpoint],
) -> (u64, Option<CutViolation>) {
    let mut checked = 0;
    for (keyed, source, path) in checkable(graph) {
        let Some(log) = log_of[source.0 as usize].map(|l| &logs[l]) else { continue };
        let kind = &graph.spec.operators[keyed.0 as usize].kind;
        // Running aggregation and how far each partition has been applied.
        let mut expected: BTreeMap<u32, i64> = BTreeMap::new();
        let mut applied: Vec<u64> = vec![0; log.partitions as usize];
        for chk in checkpoints {
            let mut target = applied.clone();
            let mut in_chk: BTreeMap<u32, i64> = BTreeMap::new();
            for s in &chk.subtasks {
                for (op, m) in &s.keyed {
                    if *op == keyed {
                        in_chk.extend(m.iter().map(|(k, v)| (*k, *v)));
                    }
                }
            }
            // Positions of this source's subtasks only: other sources read other logs.
            for (st, s) in chk.subtasks.iter().enumerate() {
                let head = graph.task_of(crate::job::graph::SubtaskId(st as u32)).operators[0];
                if head == source {
                    for &(p, off) in &s.source_positions {
                        target[p as usize] = off;
                    }
                }
            }
            if target.iter().zip(&applied).any(|(t, a)| t < a) {
                // A rewind (restore) between checkpoints: start over from the beginning.
                expected.clear();
                applied.iter_mut().for_each(|a| *a = 0);
            }
            for p in 0..log.partitions {
                for off in applied[p as usize]..target[p as usize] {
                    let mut rec = log.record(p, off);
                    let mut keep = true;
                    for op in &path {
                        match apply_stateless(&graph.spec.operators[op.0 as usize].kind, rec) {
                            Some(r) => rec = r,
                            None => {
                                keep = false;
                                break;
                            }
                        }
                    }
                    if keep {
                        let v = expected.entry(rec.key).or_insert(0);
                        *v = apply_keyed(kind, *v, &rec);
                    }
                }
                applied[p as usize] = target[p as usize];
            }
            checked += 1;
            let keys: BTreeSet<u32> = expected.keys().chain(in_chk.keys()).copied().collect();
            for key in keys {
                let (want, got) = (expected.get(&key).copied().unwrap_or(0), in_chk.get(&key).copied().unwrap_or(0));
                if want != got {
                    return (
                        checked,
                        Some(CutViolation {
                            checkpoint: chk.id,
                            operator: graph.operator_name(keyed).to_string(),
                            key,
                            in_checkpoint: got,
                            from_offsets: want,
                        }),
                    );
                }
            }
        }
    }
    (checked, None)
}
