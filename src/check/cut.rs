//! Consistent-cut check: every completed checkpoint's keyed state must equal what the source
//! records before that checkpoint's offsets produce — for an unaligned checkpoint, once the
//! records in its channel state are applied, as a restore does. This is the invariant
//! checkpoints exist for; it is checked from the log itself, not from anything the engine
//! computed.

use crate::cluster::external::CompletedCheckpoint;
use crate::job::graph::JobGraph;
use crate::job::record::{SourceLog, apply_keyed, apply_stateless};
use crate::job::spec::{OperatorId, OperatorKind};

/// The first checkpoint whose state is not a consistent cut.
#[derive(Clone, Debug, PartialEq)]
pub struct CutViolation {
    pub checkpoint: u64,
    pub operator: String,
    pub key: u32,
    pub in_checkpoint: i64,
    pub from_offsets: i64,
}

impl std::fmt::Display for CutViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checkpoint {}: {} key {} = {} in the checkpoint, but its source offsets give {}",
            self.checkpoint, self.operator, self.key, self.in_checkpoint, self.from_offsets
        )
    }
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
        // Running aggregation by key (a source draws keys below `log.keys`) and how far each
        // partition has been applied; `touched` lists the keys ever aggregated since the last
        // rewind, so a checkpoint is compared on the keys either side has, not on every key.
        let slots = log.keys.max(1) as usize;
        let mut expected: Vec<i64> = vec![0; slots];
        let mut touched: Vec<u32> = Vec::new();
        let mut in_chk: Vec<i64> = vec![0; slots];
        let mut applied: Vec<u64> = vec![0; log.partitions as usize];
        for chk in checkpoints {
            let mut target = applied.clone();
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
                for &k in &touched {
                    expected[k as usize] = 0;
                }
                touched.clear();
                applied.iter_mut().for_each(|a| *a = 0);
            }
            for p in 0..log.partitions {
                'records: for off in applied[p as usize]..target[p as usize] {
                    let mut rec = log.record(p, off);
                    for op in &path {
                        match apply_stateless(&graph.spec.operators[op.0 as usize].kind, rec) {
                            Some(r) => rec = r,
                            None => continue 'records,
                        }
                    }
                    let Some(v) = expected.get_mut(rec.key as usize) else {
                        unreachable!("a record's key is below its log's key count")
                    };
                    if *v == 0 {
                        touched.push(rec.key);
                    }
                    *v = apply_keyed(kind, *v, &rec);
                }
                applied[p as usize] = target[p as usize];
            }
            checked += 1;
            // The checkpoint's state of this operator, and the smallest key where it differs
            // (keys missing on one side count as 0 there).
            let mut chk_keys: Vec<u32> = Vec::new();
            for s in &chk.subtasks {
                for (op, m) in &s.keyed {
                    if *op == keyed {
                        for (&k, &v) in m {
                            match in_chk.get_mut(k as usize) {
                                Some(slot) => *slot = v,
                                // A key no record of the log has: wrong whatever its value.
                                None if v != 0 => {
                                    return (checked, Some(violation(graph, chk.id, keyed, k, v, 0)));
                                }
                                None => continue,
                            }
                            chk_keys.push(k);
                        }
                    }
                }
            }
            // Unaligned checkpoints: the records in flight into the tasks between the source and
            // this operator (channel state) were read before the cut but not yet applied; a
            // restore applies them first, so the cut is the state with them applied.
            for (st, s) in chk.subtasks.iter().enumerate() {
                if s.channel_state.is_empty() {
                    continue;
                }
                let task = graph.task_of(crate::job::graph::SubtaskId(st as u32));
                // The operators a record taken in by this task still passes before `keyed`.
                let Some(from) = task.operators.first() else { continue };
                let rest: Vec<OperatorId> = if *from == keyed {
                    Vec::new()
                } else if let Some(i) = path.iter().position(|o| o == from) {
                    path[i..].to_vec()
                } else {
                    continue;
                };
                'channel: for rec in s.channel_state.iter().flatten() {
                    let mut rec = *rec;
                    for op in &rest {
                        match apply_stateless(&graph.spec.operators[op.0 as usize].kind, rec) {
                            Some(r) => rec = r,
                            None => continue 'channel,
                        }
                    }
                    let Some(slot) = in_chk.get_mut(rec.key as usize) else { continue };
                    *slot = apply_keyed(kind, *slot, &rec);
                    chk_keys.push(rec.key);
                }
            }
            let differs =
                touched.iter().chain(&chk_keys).copied().filter(|&k| expected[k as usize] != in_chk[k as usize]).min();
            let found = differs.map(|k| violation(graph, chk.id, keyed, k, in_chk[k as usize], expected[k as usize]));
            for &k in &chk_keys {
                in_chk[k as usize] = 0;
            }
            if found.is_some() {
                return (checked, found);
            }
        }
    }
    (checked, None)
}

fn violation(graph: &JobGraph, checkpoint: u64, keyed: OperatorId, key: u32, got: i64, want: i64) -> CutViolation {
    CutViolation {
        checkpoint,
        operator: graph.operator_name(keyed).to_string(),
        key,
        in_checkpoint: got,
        from_offsets: want,
    }
}
