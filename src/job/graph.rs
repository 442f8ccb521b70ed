//! From the job as written to what runs: operator chaining (tasks = Flink's JobVertices), the
//! execution graph (one subtask per task and parallel index), its data channels, and the
//! pipelined regions (connected components of the subtask graph, Flink's
//! `SchedulingPipelinedRegionComputeUtil` for an all-pipelined streaming job).

use super::keygroup::default_max_parallelism;
use super::spec::{EdgeKind, JobSpec, OperatorId};

/// A subtask of an operator as a user names it: `map[2]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubtaskRef {
    pub operator: OperatorId,
    pub index: u32,
}

/// A task: a chain of operators that runs as one unit (Flink's JobVertex).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

/// One parallel instance of a task (Flink's ExecutionVertex); dense index over the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SubtaskId(pub u32);

/// A data channel from one producer subtask to one consumer subtask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub u32);

#[derive(Clone, Debug)]
pub struct Task {
    /// Chained operators, head first, in declaration order.
    pub operators: Vec<OperatorId>,
    pub parallelism: u32,
    pub first_subtask: u32,
}

/// An edge that crosses tasks: records leave `from` over the network.
#[derive(Clone, Debug)]
pub struct NetworkEdge {
    pub from_operator: OperatorId,
    pub to_operator: OperatorId,
    pub kind: EdgeKind,
    /// Channels of this edge indexed `[producer index][k]`, each to a distinct consumer.
    pub channels: Vec<Vec<ChannelId>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Channel {
    pub from: SubtaskId,
    pub to: SubtaskId,
    /// Position of this channel among the consumer subtask's input channels.
    pub input_index: u32,
    pub edge: u32,
}

#[derive(Clone, Debug)]
pub struct Subtask {
    pub task: TaskId,
    pub index: u32,
    /// Input channels, in a fixed order (edge, then producer index).
    pub inputs: Vec<ChannelId>,
}

/// Where an operator sends its results.
#[derive(Clone, Debug, Default)]
pub struct OperatorOutputs {
    /// Chained successors (same task), called directly.
    pub chained: Vec<OperatorId>,
    /// Indices into `JobGraph::edges` of network edges leaving this operator.
    pub network: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct JobGraph {
    pub spec: JobSpec,
    /// Max parallelism (number of key groups) per operator: its keyed state is split into that
    /// many groups, and a keyBy into it routes by it (KeyGroupStreamPartitioner).
    pub max_parallelism: Vec<u32>,
    pub tasks: Vec<Task>,
    pub operator_task: Vec<TaskId>,
    pub outputs: Vec<OperatorOutputs>,
    pub edges: Vec<NetworkEdge>,
    pub channels: Vec<Channel>,
    pub subtasks: Vec<Subtask>,
    /// Output channels of each subtask, in channel order.
    pub out_channels: Vec<Vec<ChannelId>>,
    /// Position of each channel among its producer's `out_channels`.
    pub output_index: Vec<u32>,
    /// The execution slot sharing group of each subtask: subtask i of every task in one slot
    /// sharing group shares group `base(group) + i`, which occupies one slot
    /// (`SlotSharingExecutionSlotAllocator`, `LocalInputPreferredSlotSharingStrategy`).
    pub slot_group: Vec<u32>,
    /// How many execution slot sharing groups (slots) the job needs.
    pub slot_groups: u32,
}

impl JobGraph {
    /// Build the graph. `spec` must be valid (inputs precede consumers, forward edges join equal
    /// parallelisms); the scenario loader checks this and reports positions.
    pub fn build(spec: &JobSpec) -> JobGraph {
        let ops = &spec.operators;
        let n = ops.len();
        // Flink's StreamingJobGraphGenerator.isChainable, for single-input operators: forward
        // partitioner, equal parallelism, the same slot sharing group, chaining enabled.
        let chained_to_input = |op: usize| -> bool {
            match ops[op].input {
                Some((input, EdgeKind::Forward)) => {
                    spec.chaining
                        && ops[input.0 as usize].parallelism == ops[op].parallelism
                        && ops[input.0 as usize].slot_sharing_group == ops[op].slot_sharing_group
                }
                _ => false,
            }
        };
        let mut operator_task = vec![TaskId(u32::MAX); n];
        let mut tasks: Vec<Task> = Vec::new();
        for op in 0..n {
            if chained_to_input(op) {
                let (input, _) = ops[op].input.expect("chained operators have an input");
                let t = operator_task[input.0 as usize];
                operator_task[op] = t;
                tasks[t.0 as usize].operators.push(OperatorId(op as u32));
            } else {
                operator_task[op] = TaskId(tasks.len() as u32);
                tasks.push(Task {
                    operators: vec![OperatorId(op as u32)],
                    parallelism: ops[op].parallelism,
                    first_subtask: 0,
                });
            }
        }
        let mut next = 0;
        for t in &mut tasks {
            t.first_subtask = next;
            next += t.parallelism;
        }
        let mut subtasks: Vec<Subtask> = Vec::with_capacity(next as usize);
        for (ti, t) in tasks.iter().enumerate() {
            for index in 0..t.parallelism {
                subtasks.push(Subtask { task: TaskId(ti as u32), index, inputs: Vec::new() });
            }
        }
        let mut outputs = vec![OperatorOutputs::default(); n];
        let mut edges: Vec<NetworkEdge> = Vec::new();
        let mut channels: Vec<Channel> = Vec::new();
        for op in 0..n {
            for c in op + 1..n {
                let consumer = &ops[c];
                if consumer.input.map(|(i, _)| i.0 as usize) != Some(op) {
                    continue;
                }
                if chained_to_input(c) {
                    outputs[op].chained.push(OperatorId(c as u32));
                    continue;
                }
                let (_, kind) = consumer.input.expect("a consumer has an input");
                let edge_index = edges.len() as u32;
                let (pu, pd) = (ops[op].parallelism, consumer.parallelism);
                let (tu, td) = (&tasks[operator_task[op].0 as usize], &tasks[operator_task[c].0 as usize]);
                let mut per_producer = Vec::with_capacity(pu as usize);
                for i in 0..pu {
                    let targets: Vec<u32> =
                        if kind.is_pointwise() { pointwise_targets(i, pu, pd) } else { (0..pd).collect() };
                    let mut list = Vec::with_capacity(targets.len());
                    for j in targets {
                        let id = ChannelId(channels.len() as u32);
                        let to = SubtaskId(td.first_subtask + j);
                        let input_index = subtasks[to.0 as usize].inputs.len() as u32;
                        subtasks[to.0 as usize].inputs.push(id);
                        channels.push(Channel {
                            from: SubtaskId(tu.first_subtask + i),
                            to,
                            input_index,
                            edge: edge_index,
                        });
                        list.push(id);
                    }
                    per_producer.push(list);
                }
                outputs[op].network.push(edge_index);
                edges.push(NetworkEdge {
                    from_operator: OperatorId(op as u32),
                    to_operator: OperatorId(c as u32),
                    kind,
                    channels: per_producer,
                });
            }
        }
        // Per job vertex, as Flink sets it: `pipeline.max-parallelism` if given, else the default
        // from the operator's own parallelism.
        let max_parallelism: Vec<u32> = ops
            .iter()
            .map(|o| spec.max_parallelism.unwrap_or_else(|| default_max_parallelism(o.parallelism)))
            .collect();
        let mut out_channels = vec![Vec::new(); subtasks.len()];
        let mut output_index = vec![0; channels.len()];
        for (i, ch) in channels.iter().enumerate() {
            let outs: &mut Vec<ChannelId> = &mut out_channels[ch.from.0 as usize];
            output_index[i] = outs.len() as u32;
            outs.push(ChannelId(i as u32));
        }
        // Slot sharing groups in order of first appearance; each needs as many slots as its
        // widest task.
        let mut names: Vec<Option<String>> = Vec::new();
        let mut width: Vec<u32> = Vec::new();
        let group_of_task: Vec<usize> = tasks
            .iter()
            .map(|t| {
                let name = &ops[t.operators[0].0 as usize].slot_sharing_group;
                let g = names.iter().position(|n| n == name).unwrap_or_else(|| {
                    names.push(name.clone());
                    width.push(0);
                    names.len() - 1
                });
                width[g] = width[g].max(t.parallelism);
                g
            })
            .collect();
        let base: Vec<u32> = width.iter().scan(0u32, |acc, w| Some(std::mem::replace(acc, *acc + w))).collect();
        let slot_group: Vec<u32> = subtasks.iter().map(|s| base[group_of_task[s.task.0 as usize]] + s.index).collect();
        let slot_groups = width.iter().sum();
        JobGraph {
            spec: spec.clone(),
            max_parallelism,
            tasks,
            operator_task,
            outputs,
            edges,
            channels,
            subtasks,
            out_channels,
            output_index,
            slot_group,
            slot_groups,
        }
    }

    pub fn subtask_count(&self) -> usize {
        self.subtasks.len()
    }

    pub fn subtask_id(&self, r: SubtaskRef) -> SubtaskId {
        let t = &self.tasks[self.operator_task[r.operator.0 as usize].0 as usize];
        SubtaskId(t.first_subtask + r.index)
    }

    pub fn task_of(&self, st: SubtaskId) -> &Task {
        &self.tasks[self.subtasks[st.0 as usize].task.0 as usize]
    }

    pub fn operator_name(&self, op: OperatorId) -> &str {
        &self.spec.operators[op.0 as usize].name
    }

    /// A task is named by its operators: `source`, or a chain in parentheses joined by `+`:
    /// `(count+sink)` (Flink writes "count -> sink", which reads like an edge).
    pub fn task_name(&self, t: TaskId) -> String {
        let names: Vec<&str> = self.tasks[t.0 as usize].operators.iter().map(|o| self.operator_name(*o)).collect();
        if names.len() == 1 { names[0].to_string() } else { format!("({})", names.join("+")) }
    }

    /// `source[2]`, `(count+sink)[2]`: a subtask index in brackets.
    pub fn subtask_name(&self, st: SubtaskId) -> String {
        let s = &self.subtasks[st.0 as usize];
        format!("{}[{}]", self.task_name(s.task), s.index)
    }

    pub fn subtask_ref_name(&self, r: SubtaskRef) -> String {
        format!("{}[{}]", self.operator_name(r.operator), r.index)
    }

    /// Pipelined regions: connected components of the subtask graph over its channels (every
    /// streaming exchange is pipelined). Each region is sorted; regions are ordered by their
    /// smallest subtask. Returns (regions, region index of each subtask).
    pub fn pipelined_regions(&self) -> (Vec<Vec<SubtaskId>>, Vec<u32>) {
        let n = self.subtasks.len();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        fn find(parent: &mut [u32], mut x: u32) -> u32 {
            while parent[x as usize] != x {
                parent[x as usize] = parent[parent[x as usize] as usize];
                x = parent[x as usize];
            }
            x
        }
        for ch in &self.channels {
            let (a, b) = (find(&mut parent, ch.from.0), find(&mut parent, ch.to.0));
            if a != b {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                parent[hi as usize] = lo;
            }
        }
        let mut region_of = vec![u32::MAX; n];
        let mut regions: Vec<Vec<SubtaskId>> = Vec::new();
        for st in 0..n as u32 {
            let root = find(&mut parent, st);
            if region_of[root as usize] == u32::MAX {
                region_of[root as usize] = regions.len() as u32;
                regions.push(Vec::new());
            }
            let r = region_of[root as usize];
            region_of[st as usize] = r;
            regions[r as usize].push(SubtaskId(st));
        }
        (regions, region_of)
    }

    /// Operators of a subtask's chain as user-facing subtask refs.
    pub fn operator_refs(&self, st: SubtaskId) -> impl Iterator<Item = SubtaskRef> + '_ {
        let s = &self.subtasks[st.0 as usize];
        self.tasks[s.task.0 as usize].operators.iter().map(move |&operator| SubtaskRef { operator, index: s.index })
    }
}

/// The consumers producer `i` of `pu` feeds over a pointwise edge into `pd` consumers, as
/// Flink's `EdgeManagerBuildUtil.connectPointwise` connects them: i → i with equal parallelism;
/// with more producers, consumer c reads producers `c·pu/pd .. (c+1)·pu/pd`; with more
/// consumers, producer i feeds consumers `⌈i·pd/pu⌉ .. ⌈(i+1)·pd/pu⌉`.
pub fn pointwise_targets(i: u32, pu: u32, pd: u32) -> Vec<u32> {
    let (i, pu, pd) = (u64::from(i), u64::from(pu.max(1)), u64::from(pd.max(1)));
    if pu == pd {
        vec![i as u32]
    } else if pu > pd {
        (0..pd).filter(|&c| c * pu / pd <= i && i < (c + 1) * pu / pd).map(|c| c as u32).collect()
    } else {
        ((i * pd).div_ceil(pu)..((i + 1) * pd).div_ceil(pu)).map(|c| c as u32).collect()
    }
}

/// Formats a set of operator subtasks compactly: `source[0-3], map[2]` (ranges are inclusive,
/// as in scenario files).
pub fn format_refs(graph: &JobGraph, refs: &[SubtaskRef]) -> String {
    let mut sorted: Vec<(u32, u32)> = refs.iter().map(|r| (r.operator.0, r.index)).collect();
    sorted.sort();
    format_ranges(&sorted, |op| graph.operator_name(OperatorId(op)).to_string())
}

/// Formats subtasks by task, compactly: `(source+map)[0-3], sink[2]`.
pub fn format_subtasks(graph: &JobGraph, subtasks: &[SubtaskId]) -> String {
    let mut sorted: Vec<(u32, u32)> = subtasks
        .iter()
        .map(|st| {
            let s = &graph.subtasks[st.0 as usize];
            (s.task.0, s.index)
        })
        .collect();
    sorted.sort();
    format_ranges(&sorted, |t| graph.task_name(TaskId(t)))
}

/// Sorted (owner, index) pairs as `name[i]` / `name[a-b]` runs (inclusive), comma-separated.
fn format_ranges(sorted: &[(u32, u32)], name: impl Fn(u32) -> String) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let (owner, start) = sorted[i];
        let mut end = start + 1;
        let mut j = i + 1;
        while j < sorted.len() && sorted[j].0 == owner && sorted[j].1 <= end {
            end = end.max(sorted[j].1 + 1);
            j += 1;
        }
        let name = name(owner);
        if end == start + 1 {
            parts.push(format!("{name}[{start}]"));
        } else {
            parts.push(format!("{name}[{start}-{}]", end - 1));
        }
        i = j;
    }
    parts.join(", ")
}
