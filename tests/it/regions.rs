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
