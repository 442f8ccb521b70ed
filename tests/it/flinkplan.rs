//! `--flink-plan`: a job graph from Flink's execution plan JSON in place of the scenario's
//! `[job]`, each node mapped to the nearest simulated operator, what was approximated listed.

use crate::cli::recoverysim;

fn run(plan: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["run", "scenarios/keyed-tm-kill.toml", "--flink-plan", plan];
    args.extend_from_slice(extra);
    let out = recoverysim(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Flink's own WordCount example as `flink info examples/streaming/WordCount.jar` prints its
/// plan (getExecutionPlan's stream graph).
#[test]
fn flinks_wordcount_example_plan_imports_and_runs_exactly_once() {
    let (code, stdout, stderr) = run("tests/plans/wordcount.json", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("job:      source-in-memory-input ×1 =forward=> tokenizer ×1 =hash=> counter ×1 =forward=> sink-print-sink ×1"),
        "{stdout}"
    );
    assert!(stdout.contains("APPROXIMATED: \"counter\" (keyed) is a keyed count"), "{stdout}");
    assert!(stdout.contains("APPROXIMATED: \"tokenizer\" is a map that passes records unchanged"), "{stdout}");
    assert!(stdout.contains("APPROXIMATED: the scenario's [expect] table is about its own job"), "{stdout}");
    assert!(stdout.contains("output: exactly_once"), "{stdout}");
}

/// The REST API's /jobs/<id>/plan of Flink's CarTopSpeedWindowingExample: chained operators
/// in one node, listed out of order, wrapped in {"plan": …}.
#[test]
fn a_rest_plan_of_flinks_example_splits_chains_and_orders_nodes() {
    let (code, stdout, stderr) = run("tests/plans/car-top-speed-rest.json", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("flink-plan tests/plans/car-top-speed-rest.json: 4 nodes → operators source-custom-source (Source: Custom Source), timestamps-watermarks (Timestamps/Watermarks), window-"), "{stdout}");
    assert!(
        stdout.contains("=hash=> window-globalwindows-deltatrigger-timeev ×1 =forward=> sink-print-to-std-out ×1"),
        "{stdout}"
    );
    assert!(stdout.contains("output: exactly_once"), "{stdout}");
}

/// A keyed job with a rescale and a broadcast edge and a Sink V2 (writer and committer nodes):
/// every ship strategy becomes its edge, the committer folds into the sink, and the regions
/// are Flink's for that graph.
#[test]
fn a_keyed_plan_with_rescale_and_broadcast_edges_imports_and_runs() {
    let (code, stdout, stderr) = run("tests/plans/keyed-rescale-broadcast.json", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("source-kafka-source ×2 =rebalance=> map ×4 =hash=> keyedprocess ×4 =rescale=> map-2 ×2 =broadcast=> filter ×2 =forward=> sink-writer ×2"),
        "{stdout}"
    );
    assert!(stdout.contains("APPROXIMATED: \"Sink: Committer\" is folded into the sink before it"), "{stdout}");
    // Sixteen subtasks need four slots; after the kill two are left: Flink fails the job when
    // its slot requests time out, and so does the simulation.
    assert!(stdout.contains("output: incomplete") && stdout.contains("not-enough-resources"), "{stdout}");
    let out = recoverysim(&[
        "regions",
        "scenarios/keyed-tm-kill.toml",
        "--flink-plan",
        "tests/plans/keyed-rescale-broadcast.json",
    ]);
    let regions = String::from_utf8_lossy(&out.stdout);
    assert!(regions.contains("edge keyedprocess -> map-2: rescale (pointwise)"), "{regions}");
    assert!(regions.contains("edge map-2 -> filter: broadcast (all-to-all)"), "{regions}");
    assert!(regions.contains("1 pipelined region"), "{regions}");
}

/// A union feeding a keyed aggregate (the Table planner's plan for UNION ALL + GROUP BY): one
/// input is modelled, the other is said to be dropped.
#[test]
fn a_second_input_is_dropped_and_said_so() {
    let (code, stdout, stderr) = run("tests/plans/union-group-aggregate.json", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("APPROXIMATED: \"GroupAggregate[20]\" has 2 inputs (a union or a two-input operator): only its first input is modelled; dropped: node 19 (HASH)"),
        "{stdout}"
    );
    assert!(stdout.contains("| source-mytable2-17 ×1 | calc-16 =hash=> groupaggregate-20 ×1"), "{stdout}");
}

#[test]
fn a_bad_plan_is_refused_with_where_and_why() {
    let dir = std::env::temp_dir().join(format!("recoverysim-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("plan.json");
    let p = path.display().to_string();
    for (json, message) in [
        ("{\"nodes\": [ {\"id\": 1, \"parallelism\": 2,}\n]}", "not valid JSON: trailing comma at line 1 column 40"),
        ("{\"vertices\": []}", "no \"nodes\" list: not a Flink execution plan"),
        ("{\"nodes\": []}", "the plan has no nodes"),
        ("{\"nodes\": [{\"id\": 1}]}", "node 1 (id 1) has no \"parallelism\""),
        (
            "{\"nodes\": [{\"id\": 2, \"parallelism\": 1, \"predecessors\": [{\"id\": 9, \"ship_strategy\": \"HASH\"}]}]}",
            "node 2 reads from node 9, which the plan does not have",
        ),
    ] {
        std::fs::write(&path, json).expect("write");
        let (code, _, stderr) = run(&p, &[]);
        assert_eq!(code, 2, "{json}: {stderr}");
        assert!(stderr.contains(message), "{json}: {stderr}");
        assert!(stderr.contains(&p), "{json}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
