//! `regions --format dot`: the job's execution graph as Graphviz — one node per subtask (chained
//! operators in one node, as one task), one arrow per data channel styled by its partitioner, the
//! pipelined regions as boxes, and, for a scenario with a failure, the subtasks its first
//! failover restarted filled in red. `dot -Tsvg` draws it.

use crate::job::graph::{JobGraph, SubtaskId};
use crate::job::spec::EdgeKind;
use std::fmt::Write;

/// A DOT string literal: quotes and backslashes escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How an arrow of each partitioner looks (the legend says the same).
fn style(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Forward => "style=solid",
        EdgeKind::Hash => "style=bold, color=\"#1f5fbf\"",
        EdgeKind::Rebalance => "style=dashed",
        EdgeKind::Rescale => "style=dotted",
        EdgeKind::Broadcast => "style=bold, color=\"#b06000\"",
    }
}

/// The graph; `failed`: what a failover restarted (drawn filled) and why, for the caption.
pub fn regions_dot(graph: &JobGraph, failed: Option<(&[SubtaskId], &str)>) -> String {
    let (regions, _) = graph.pipelined_regions();
    let mut out = String::new();
    let _ = writeln!(out, "digraph job {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];");
    let mut caption = format!(
        "{} subtasks in {} pipelined region{} (boxes); arrows: forward solid, hash bold blue, rebalance dashed, rescale dotted, broadcast bold orange",
        graph.subtask_count(),
        regions.len(),
        if regions.len() == 1 { "" } else { "s" }
    );
    if let Some((restarted, why)) = failed {
        let _ = write!(caption, "; red: the {} subtasks {why}", restarted.len());
    }
    let _ = writeln!(out, "  label={}; labelloc=b; fontname=\"Helvetica\"; fontsize=10;", quoted(&caption));
    for (i, r) in regions.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_region_{} {{", i + 1);
        let _ = writeln!(out, "    label={}; style=dashed; color=gray40;", quoted(&format!("region {}", i + 1)));
        for &st in r {
            let red = failed.is_some_and(|(f, _)| f.contains(&st));
            let fill = if red { ", fillcolor=\"#f4b6b6\"" } else { "" };
            let _ = writeln!(out, "    st{} [label={}{fill}];", st.0, quoted(&graph.subtask_name(st)));
        }
        let _ = writeln!(out, "  }}");
    }
    for ch in &graph.channels {
        let kind = graph.edges[ch.edge as usize].kind;
        let _ = writeln!(out, "  st{} -> st{} [{}];", ch.from.0, ch.to.0, style(kind));
    }
    let _ = writeln!(out, "}}");
    out
}
