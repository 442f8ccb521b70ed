//! Pipelined regions on Flink's textbook topologies (docs/flink-behaviour.md): pointwise edges keep
//! lanes apart, any all-to-all edge joins everything it touches, chaining never splits a region.

use recoverysim::job::graph::{JobGraph, format_subtasks};
use recoverysim::job::spec::*;

fn op(name: &str, kind: OperatorKind, parallelism: u32, input: Option<(u32, EdgeKind)>) -> OperatorSpec {
    OperatorSpec {
        name: name.into(),
        kind,
        parallelism,
        input: input.map(|(i, e)| (OperatorId(i), e)),
        state_bytes_per_key: recoverysim::job::spec::DEFAULT_STATE_BYTES_PER_KEY,
        slot_sharing_group: None,
    }
}

fn source(p: u32) -> OperatorKind {
    OperatorKind::Source(SourceSpec {
        partitions: p,
        rate_per_s: 100,
        keys: 10,
        catch_up_rate_per_s: 1000,
        records: None,
    })
}

fn sink() -> OperatorKind {
    OperatorKind::Sink(SinkSemantic::TwoPhaseCommit)
}

fn map() -> OperatorKind {
    OperatorKind::Map { multiply: 1, add: 0 }
}

fn regions(operators: Vec<OperatorSpec>, chaining: bool) -> Vec<String> {
    let g = JobGraph::build(&JobSpec { operators, max_parallelism: None, chaining });
    let (regions, region_of) = g.pipelined_regions();
    for (i, r) in regions.iter().enumerate() {
        for st in r {
            assert_eq!(region_of[st.0 as usize], i as u32);
        }
    }
    regions.iter().map(|r| format_subtasks(&g, r)).collect()
}

#[test]
fn forward_only_job_has_one_region_per_lane() {
    let r = regions(
        vec![
            op("source", source(3), 3, None),
            op("map", map(), 3, Some((0, EdgeKind::Forward))),
            op("sink", sink(), 3, Some((1, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(r, vec!["source[0], map[0], sink[0]", "source[1], map[1], sink[1]", "source[2], map[2], sink[2]"]);
}

#[test]
fn key_by_joins_everything_into_one_region() {
    let r = regions(
        vec![
            op("source", source(2), 2, None),
            op("map", map(), 2, Some((0, EdgeKind::Forward))),
            op("count", OperatorKind::KeyedCount, 2, Some((1, EdgeKind::Hash))),
            op("sink", sink(), 2, Some((2, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(r, vec!["source[0-1], map[0-1], count[0-1], sink[0-1]"]);
}

#[test]
fn rebalance_is_all_to_all() {
    let r = regions(
        vec![
            op("source", source(3), 3, None),
            op("map", map(), 3, Some((0, EdgeKind::Forward))),
            op("sink", sink(), 3, Some((1, EdgeKind::Rebalance))),
        ],
        false,
    );
    assert_eq!(r.len(), 1);
}

#[test]
fn chaining_makes_one_task_per_lane_and_keeps_lanes_apart() {
    let ops = vec![
        op("source", source(3), 3, None),
        op("map", map(), 3, Some((0, EdgeKind::Forward))),
        op("sink", sink(), 3, Some((1, EdgeKind::Forward))),
    ];
    let g = JobGraph::build(&JobSpec { operators: ops.clone(), max_parallelism: None, chaining: true });
    assert_eq!(g.tasks.len(), 1, "source -> map -> sink chain into one task");
    assert_eq!(g.subtask_count(), 3);
    assert_eq!(regions(ops, true), vec!["(source+map+sink)[0]", "(source+map+sink)[1]", "(source+map+sink)[2]"]);
}

#[test]
fn different_parallelism_does_not_chain_and_needs_an_all_to_all_edge() {
    let g = JobGraph::build(&JobSpec {
        operators: vec![
            op("source", source(2), 2, None),
            op("count", OperatorKind::KeyedCount, 3, Some((0, EdgeKind::Hash))),
            op("sink", sink(), 3, Some((1, EdgeKind::Forward))),
        ],
        max_parallelism: None,
        chaining: true,
    });
    // count -> sink chain (forward, equal parallelism); source stays apart (hash edge).
    assert_eq!(g.tasks.len(), 2);
    assert_eq!(g.channels.len(), 6, "2 producers × 3 consumers");
    assert_eq!(g.pipelined_regions().0.len(), 1);
}

#[test]
fn independent_pipelines_are_separate_regions() {
    let r = regions(
        vec![
            op("a", source(2), 2, None),
            op("a-sink", sink(), 2, Some((0, EdgeKind::Forward))),
            op("b", source(2), 2, None),
            op("b-count", OperatorKind::KeyedCount, 2, Some((2, EdgeKind::Hash))),
            op("b-sink", sink(), 2, Some((3, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(r, vec!["a[0], a-sink[0]", "a[1], a-sink[1]", "b[0-1], b-count[0-1], b-sink[0-1]"]);
}

#[test]
fn fan_out_of_a_forward_lane_stays_in_the_lane() {
    let r = regions(
        vec![
            op("source", source(2), 2, None),
            op("left", sink(), 2, Some((0, EdgeKind::Forward))),
            op("right", sink(), 2, Some((0, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(r, vec!["source[0], left[0], right[0]", "source[1], left[1], right[1]"]);
}

/// Rescale is pointwise (Flink's `DistributionPattern.POINTWISE`): 4 sources into 2 maps wire
/// source[0-1] → map[0] and source[2-3] → map[1] (`EdgeManagerBuildUtil.connectPointwise`), two
/// regions; the reverse, 2 into 4, wires source[0] → map[0-1] and source[1] → map[2-3].
#[test]
fn rescale_joins_only_the_subtasks_it_wires_together() {
    let down = regions(
        vec![
            op("source", source(4), 4, None),
            op("map", map(), 2, Some((0, EdgeKind::Rescale))),
            op("sink", sink(), 2, Some((1, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(down, vec!["source[0-1], map[0], sink[0]", "source[2-3], map[1], sink[1]"]);
    let up = regions(
        vec![
            op("source", source(2), 2, None),
            op("map", map(), 4, Some((0, EdgeKind::Rescale))),
            op("sink", sink(), 4, Some((1, EdgeKind::Forward))),
        ],
        false,
    );
    assert_eq!(up, vec!["source[0], map[0-1], sink[0-1]", "source[1], map[2-3], sink[2-3]"]);
    // Uneven: 3 → 2 gives consumer 0 producer 0 and consumer 1 producers 1-2; 2 → 3 gives
    // producer 0 consumers 0-1 and producer 1 consumer 2 (worked by hand from Flink's formulas).
    let three_two =
        regions(vec![op("source", source(3), 3, None), op("sink", sink(), 2, Some((0, EdgeKind::Rescale)))], false);
    assert_eq!(three_two, vec!["source[0], sink[0]", "source[1-2], sink[1]"]);
    let two_three =
        regions(vec![op("source", source(2), 2, None), op("sink", sink(), 3, Some((0, EdgeKind::Rescale)))], false);
    assert_eq!(two_three, vec!["source[0], sink[0-1]", "source[1], sink[2]"]);
    // Equal parallelism: i → i, one region per lane (but no chaining: the partitioner is not
    // forward, `StreamingJobGraphGenerator.isChainable`).
    let ops = vec![op("source", source(3), 3, None), op("sink", sink(), 3, Some((0, EdgeKind::Rescale)))];
    let g = JobGraph::build(&JobSpec { operators: ops.clone(), max_parallelism: None, chaining: true });
    assert_eq!(g.tasks.len(), 2, "a rescale edge does not chain");
    assert_eq!(regions(ops, true).len(), 3);
}

/// The properties Flink's `PointwisePatternTest` checks, for every pair of parallelisms up to
/// 12: every subtask on both sides is connected, each consumer reads a contiguous range of
/// producers, and the fan-in (fan-out) of consumers (producers) differs by at most one.
#[test]
fn pointwise_wiring_has_the_properties_flinks_pointwise_pattern_test_checks() {
    use recoverysim::job::graph::pointwise_targets;
    for pu in 1..=12u32 {
        for pd in 1..=12u32 {
            let mut fan_in = vec![Vec::new(); pd as usize];
            let mut fan_out = Vec::new();
            for i in 0..pu {
                let t = pointwise_targets(i, pu, pd);
                assert!(!t.is_empty(), "{pu}→{pd}: producer {i} feeds nobody");
                assert!(t.windows(2).all(|w| w[1] == w[0] + 1), "{pu}→{pd}: {t:?} not contiguous");
                fan_out.push(t.len());
                for c in t {
                    fan_in[c as usize].push(i);
                }
            }
            for (c, f) in fan_in.iter().enumerate() {
                assert!(!f.is_empty(), "{pu}→{pd}: consumer {c} reads nobody");
                assert!(f.windows(2).all(|w| w[1] == w[0] + 1), "{pu}→{pd}: {f:?} not contiguous");
            }
            if pu >= pd {
                assert!(fan_out.iter().all(|&n| n == 1), "{pu}→{pd}: a producer feeds one consumer");
                let (lo, hi) = (fan_in.iter().map(Vec::len).min(), fan_in.iter().map(Vec::len).max());
                assert!(hi.unwrap_or(0) - lo.unwrap_or(0) <= 1, "{pu}→{pd}: fan-in {fan_in:?}");
            } else {
                assert!(fan_in.iter().all(|f| f.len() == 1), "{pu}→{pd}: a consumer reads one producer");
                let (lo, hi) = (fan_out.iter().min(), fan_out.iter().max());
                assert!(hi.unwrap_or(&0) - lo.unwrap_or(&0) <= 1, "{pu}→{pd}: fan-out {fan_out:?}");
            }
        }
    }
}

#[test]
fn broadcast_is_all_to_all() {
    let ops = vec![
        op("source", source(2), 2, None),
        op("map", map(), 2, Some((0, EdgeKind::Forward))),
        op("sink", sink(), 3, Some((1, EdgeKind::Broadcast))),
    ];
    let g = JobGraph::build(&JobSpec { operators: ops.clone(), max_parallelism: None, chaining: false });
    assert_eq!(g.channels.len(), 2 + 6, "2 forward channels, then 2 producers × 3 consumers");
    assert_eq!(regions(ops, false), vec!["source[0-1], map[0-1], sink[0-2]"]);
}

/// Slot sharing groups: subtask i of each task of one group shares a slot; the job needs, per
/// group, its widest task's parallelism (summed); operators of different groups do not chain.
#[test]
fn slot_sharing_groups_add_slots_and_break_chains() {
    let mut ops = vec![
        op("source", source(2), 2, None),
        op("map", map(), 2, Some((0, EdgeKind::Forward))),
        op("count", OperatorKind::KeyedCount, 3, Some((1, EdgeKind::Hash))),
        op("sink", sink(), 3, Some((2, EdgeKind::Forward))),
    ];
    let g = JobGraph::build(&JobSpec { operators: ops.clone(), max_parallelism: None, chaining: true });
    assert_eq!(g.slot_groups, 3, "one default group: the widest task's parallelism");
    assert_eq!(g.tasks.len(), 2, "(source+map), (count+sink)");
    ops[1].slot_sharing_group = Some("maps".into());
    ops[3].slot_sharing_group = Some("sinks".into());
    let g = JobGraph::build(&JobSpec { operators: ops, max_parallelism: None, chaining: true });
    assert_eq!(g.tasks.len(), 4, "a change of group breaks both chains");
    assert_eq!(g.slot_groups, 3 + 2 + 3, "default (source 2, count 3) + maps 2 + sinks 3");
    let group = |name: &str, i: u32| {
        let t = g.tasks.iter().position(|t| g.operator_name(t.operators[0]) == name).expect("task");
        g.slot_group[(g.tasks[t].first_subtask + i) as usize]
    };
    assert_eq!(group("source", 1), group("count", 1), "same group, same index: one slot");
    assert_ne!(group("source", 1), group("map", 1));
    assert_ne!(group("count", 2), group("sink", 2));
}

/// `regions --format dot`: a Graphviz digraph with one node per subtask inside its region's
/// cluster, one arrow per channel between declared nodes, and the first failover's restarted
/// subtasks filled (read and pinned).
#[test]
fn regions_as_dot_draw_every_subtask_channel_and_region_and_the_failed_region() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(["regions", "scenarios/rescale-task-failure.toml", "--format", "dot"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dot = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(dot.starts_with("digraph job {\n") && dot.ends_with("}\n"));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "balanced braces");
    let sc =
        recoverysim::scenario::load_file(std::path::Path::new("scenarios/rescale-task-failure.toml")).expect("loads");
    let g = JobGraph::build(&sc.job);
    let declared: Vec<&str> =
        dot.lines().filter(|l| l.trim_start().starts_with("st") && l.contains("[label=")).collect();
    assert_eq!(declared.len(), g.subtask_count(), "one node per subtask");
    let arrows: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(arrows.len(), g.channels.len(), "one arrow per channel");
    for a in &arrows {
        let ends: Vec<&str> = a.trim().split(" -> ").collect();
        let to = ends[1].split_whitespace().next().unwrap_or("");
        for end in [ends[0], to] {
            assert!(dot.contains(&format!("    {end} [label=")), "{end} is declared: {a}");
        }
    }
    assert_eq!(dot.matches("subgraph cluster_region_").count(), g.pipelined_regions().0.len());
    assert_eq!(dot.matches("fillcolor=\"#f4b6b6\"").count(), 3, "source[2-3] and (map+sink)[1] restarted");
    crate::snapshot("regions-dot-rescale-task-failure", &dot);
    // Where Graphviz is installed, `dot -Tsvg` draws it (it refuses DOT it cannot parse).
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        child.stdin.take().expect("piped").write_all(dot.as_bytes()).expect("dot reads its input");
        let drawn = child.wait_with_output().expect("dot runs");
        assert!(drawn.status.success(), "dot -Tsvg: {}", String::from_utf8_lossy(&drawn.stderr));
        let svg = String::from_utf8_lossy(&drawn.stdout);
        assert!(svg.contains("<svg") && svg.contains("region 2"), "{svg}");
    }
}
