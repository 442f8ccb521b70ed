//! The replay's state: a cursor over the run's trace, and what the cluster looked like after the
//! event under it. Stepping back or jumping recomputes the view by folding the trace from the
//! start (the trace is data; the simulation is not re-run).

use crate::cluster::state::ExecutionState;
use crate::job::graph::SubtaskId;
use crate::run::Run;
use crate::trace::Note;

/// What the cluster looked like right after the event at the cursor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// Per subtask: (attempt, state, TaskManager it was deployed to).
    pub subtasks: Vec<(u32, ExecutionState, Option<u32>)>,
    /// Per TaskManager index: `None` not registered yet, `Some(true)` registered,
    /// `Some(false)` given up on by the JobManager.
    pub taskmanagers: Vec<Option<bool>>,
    /// Completed checkpoints so far: (id, at, duration, bytes).
    pub completed: Vec<(u64, u64, u64, u64)>,
    /// Aborted checkpoints so far: (id, at, reason).
    pub aborted: Vec<(u64, u64, &'static str)>,
    pub committed_records: u64,
    pub faults_fired: usize,
    pub failovers_started: usize,
    pub job_status: &'static str,
}

impl View {
    /// The view after the first `upto` trace events.
    pub fn at(run: &Run, upto: usize) -> View {
        let n = run.graph.subtask_count();
        let tms = run.scenario.cluster.taskmanagers as usize;
        let mut v = View {
            subtasks: vec![(0, ExecutionState::Created, None); n],
            taskmanagers: vec![None; tms],
            job_status: "CREATED",
            ..View::default()
        };
        for e in &run.outcome.notes[..upto.min(run.outcome.notes.len())] {
            match &e.note {
                Note::TaskState { st, attempt, to, .. } => {
                    let s = &mut v.subtasks[st.0 as usize];
                    if *attempt != s.0 {
                        s.2 = None;
                    }
                    (s.0, s.1) = (*attempt, *to);
                }
                Note::Deployed { st, tm } => v.subtasks[st.0 as usize].2 = Some(*tm),
                Note::TaskManagerRegistered { tm, .. } => set(&mut v.taskmanagers, *tm as usize, true),
                Note::TaskManagerLost { tm, .. } => set(&mut v.taskmanagers, *tm as usize, false),
                Note::CheckpointCompleted { cp, bytes, duration_us, .. } => {
                    v.completed.push((*cp, e.at_us, *duration_us, *bytes))
                }
                Note::CheckpointAborted { cp, reason } => v.aborted.push((
                    *cp,
                    e.at_us,
                    match reason {
                        crate::trace::AbortReason::JobFailover => "job failover",
                        crate::trace::AbortReason::Expired => "expired",
                        crate::trace::AbortReason::Subsumed => "subsumed",
                    },
                )),
                Note::SinkCommitted { records, .. } => v.committed_records += records,
                Note::FaultInjected { .. } => v.faults_fired += 1,
                Note::FailoverStarted { .. } => v.failovers_started += 1,
                Note::JobStatus { to, .. } => v.job_status = to.name(),
                _ => {}
            }
        }
        v
    }
}

fn set(v: &mut Vec<Option<bool>>, i: usize, on: bool) {
    if v.len() <= i {
        v.resize(i + 1, None);
    }
    v[i] = Some(on);
}

/// Which kind of event a jump looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Fault,
    Failover,
    Checkpoint,
    Restore,
}

impl Mark {
    fn matches(self, note: &Note) -> bool {
        match self {
            Mark::Fault => matches!(note, Note::FaultInjected { .. }),
            Mark::Failover => matches!(note, Note::FailoverStarted { .. }),
            Mark::Checkpoint => matches!(note, Note::CheckpointCompleted { .. } | Note::CheckpointAborted { .. }),
            Mark::Restore => matches!(note, Note::Restored { .. }),
        }
    }
}

/// The replay application: the run, the cursor, and what is shown.
pub struct App {
    pub run: Run,
    /// Number of trace events applied: 0 is before the first, `len` after the last.
    pub cursor: usize,
    pub view: View,
    pub help: bool,
    pub quit: bool,
}

impl App {
    pub fn new(run: Run) -> App {
        let view = View::at(&run, 0);
        App { run, cursor: 0, view, help: false, quit: false }
    }

    pub fn len(&self) -> usize {
        self.run.outcome.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the cursor (clamped) and recomputes the view.
    pub fn seek(&mut self, cursor: usize) {
        self.cursor = cursor.min(self.len());
        self.view = View::at(&self.run, self.cursor);
    }

    pub fn step(&mut self, forward: bool) {
        let c = if forward { self.cursor + 1 } else { self.cursor.saturating_sub(1) };
        self.seek(c);
    }

    /// Jumps to just after the next (or previous) event of a kind; stays if there is none.
    pub fn jump(&mut self, mark: Mark, forward: bool) {
        let notes = &self.run.outcome.notes;
        let found = if forward {
            (self.cursor..notes.len()).find(|&i| mark.matches(&notes[i].note))
        } else {
            (0..self.cursor.saturating_sub(1)).rev().find(|&i| mark.matches(&notes[i].note))
        };
        if let Some(i) = found {
            self.seek(i + 1);
        }
    }

    /// Virtual time of the last applied event.
    pub fn now_us(&self) -> u64 {
        self.cursor.checked_sub(1).map_or(0, |i| self.run.outcome.notes[i].at_us)
    }

    pub fn subtask_name(&self, i: usize) -> String {
        self.run.graph.subtask_name(SubtaskId(i as u32))
    }
}
