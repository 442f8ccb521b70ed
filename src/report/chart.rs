//! `run --svg FILE`: a static timeline chart of a run for a CI page or a README — one lane per
//! subtask coloured by its ExecutionState as the JobManager saw it, the checkpoints (completed
//! and aborted), the faults, the failovers, and the verdict in the title. Built with the `svg`
//! crate's element tree; pure (a string out).

use crate::cluster::jobmanager::stats::CheckpointStatus;
use crate::cluster::state::ExecutionState;
use crate::run::Run;
use crate::sim::{TimeUs, fmt_time};
use crate::trace::Note;
use svg::Document;
use svg::node::element::{Group, Line, Rectangle, Text, Title};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 56.0;
const LANE: f64 = 14.0;
const GAP: f64 = 4.0;
/// Faults and failovers listed under the chart at most.
const MARKS_LISTED: usize = 12;

/// The colour of a state (the legend lists them).
fn color(s: ExecutionState) -> &'static str {
    match s {
        ExecutionState::Created | ExecutionState::Scheduled => "#d9d9d9",
        ExecutionState::Deploying | ExecutionState::Initializing => "#f2c744",
        ExecutionState::Running => "#5cb85c",
        ExecutionState::Finished => "#4a7fd4",
        ExecutionState::Canceling | ExecutionState::Canceled => "#9a9a9a",
        ExecutionState::Failed => "#d9534f",
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn text(x: f64, y: f64, size: u32, content: impl Into<String>) -> Text {
    Text::new(content).set("x", x).set("y", y).set("font-size", size).set("font-family", "Helvetica, Arial, sans-serif")
}

/// The chart as an SVG document.
pub fn svg(run: &Run) -> String {
    let g = &run.graph;
    let o = &run.outcome;
    let end = o.end_us.max(1);
    // Positions rounded to a tenth of a pixel: a smaller file and the same drawing.
    let x = |t: TimeUs| round(LEFT + (WIDTH - LEFT - RIGHT) * (t.min(end) as f64 / end as f64));
    let n = g.subtask_count();
    let lanes_bottom = TOP + n as f64 * (LANE + GAP);
    // The marks' list needs its lines; computed below, so the document is sized at the end.
    let mut doc = Document::new()
        .set("width", WIDTH)
        .add(Rectangle::new().set("width", "100%").set("height", "100%").set("fill", "white"));
    let verdict = run.output.verdict.name();
    doc = doc.add(
        text(10.0, 20.0, 14, format!("{} (seed {})", run.scenario.name, run.scenario.seed)).set("font-weight", "bold"),
    );
    doc = doc.add(text(
        10.0,
        38.0,
        11,
        format!(
            "job {} at {}; {} failover{}; checkpoints {} completed, {} aborted; verdict {verdict}",
            o.job_status.name(),
            fmt_time(o.end_us),
            o.failovers.len(),
            if o.failovers.len() == 1 { "" } else { "s" },
            o.checkpoints_completed,
            o.checkpoints_aborted
        ),
    ));
    // One lane per subtask: its states as the JobManager set them.
    let mut lanes = Group::new().set("id", "lanes");
    for i in 0..n {
        let st = crate::job::graph::SubtaskId(i as u32);
        let y = TOP + i as f64 * (LANE + GAP);
        lanes = lanes.add(text(10.0, y + LANE - 3.0, 10, g.subtask_name(st)));
        let mut state = ExecutionState::Created;
        let mut since: TimeUs = 0;
        let mut spans: Vec<(TimeUs, TimeUs, ExecutionState)> = Vec::new();
        for e in &o.notes {
            if let Note::TaskState { st: s, to, .. } = &e.note
                && *s == st
            {
                spans.push((since, e.at_us, state));
                state = *to;
                since = e.at_us;
            }
        }
        spans.push((since, end, state));
        for (from, to, s) in spans.into_iter().filter(|(f, t, _)| t > f) {
            let w = round((x(to) - x(from)).max(0.5));
            lanes = lanes.add(
                Rectangle::new()
                    .set("x", x(from))
                    .set("y", y)
                    .set("width", w)
                    .set("height", LANE)
                    .set("fill", color(s))
                    .add(Title::new(format!(
                        "{} {} {}–{}",
                        g.subtask_name(st),
                        s.name(),
                        fmt_time(from),
                        fmt_time(to)
                    ))),
            );
        }
    }
    doc = doc.add(lanes);
    // Checkpoints: a tick above the lanes when each ended, green completed, red aborted.
    let mut cps = Group::new().set("id", "checkpoints");
    for c in &o.checkpoint_history {
        let Some(t) = c.ended_at_us else { continue };
        let ok = c.status == CheckpointStatus::Completed;
        cps = cps.add(
            Line::new()
                .set("x1", x(t))
                .set("x2", x(t))
                .set("y1", TOP - 10.0)
                .set("y2", TOP - 3.0)
                .set("stroke", if ok { "#2e7d32" } else { "#c62828" })
                .set("stroke-width", 1)
                .add(Title::new(format!(
                    "checkpoint {} {} at {}",
                    c.id,
                    if ok { "completed" } else { "aborted" },
                    fmt_time(t)
                ))),
        );
    }
    doc = doc.add(cps);
    // Faults and failovers: vertical marks over every lane, tagged F1, F2, … and #1, #2, …;
    // what each is, is listed under the legend.
    let mut marks = Group::new().set("id", "marks");
    let mut listed: Vec<(String, &'static str)> = Vec::new();
    let mut faults = 0;
    for e in &o.notes {
        let (tag, what, stroke, dash) = match &e.note {
            Note::FaultInjected { text: t, .. } => {
                faults += 1;
                (format!("F{faults}"), format!("FAULT {t}"), "#c62828", "4,3")
            }
            Note::FailoverStarted { failover } => {
                let f = &o.failovers[*failover];
                let how = match f.restored_checkpoint {
                    Some(cp) => format!("restarts {} subtasks from checkpoint {cp}", f.to_restart.len()),
                    None => format!("restarts {} subtasks", f.to_restart.len()),
                };
                (format!("#{}", failover + 1), format!("failover #{}: {how}", failover + 1), "#e08a00", "1,2")
            }
            _ => continue,
        };
        let xx = x(e.at_us);
        let row = (listed.len() % 2) as f64;
        marks = marks.add(
            Line::new()
                .set("x1", xx)
                .set("x2", xx)
                .set("y1", TOP - 12.0)
                .set("y2", lanes_bottom)
                .set("stroke", stroke)
                .set("stroke-dasharray", dash)
                .add(Title::new(format!("{what} at {}", fmt_time(e.at_us)))),
        );
        marks = marks.add(text(xx + 2.0, lanes_bottom + 11.0 + 10.0 * row, 9, tag.clone()).set("fill", stroke));
        listed.push((format!("{tag}  {}  {what}", fmt_time(e.at_us)), stroke));
    }
    doc = doc.add(marks);
    // The time axis and the legend.
    let axis_y = lanes_bottom + 36.0;
    let shown = listed.len().min(MARKS_LISTED);
    let mut axis = Group::new().set("id", "axis");
    for k in 0..=4u64 {
        let t = end * k / 4;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        axis = axis.add(text(x(t), axis_y, 9, fmt_time(t)).set("text-anchor", anchor));
    }
    doc = doc.add(axis);
    let mut legend = Group::new().set("id", "legend");
    let items = [
        ("created/scheduled", ExecutionState::Created),
        ("deploying/initializing", ExecutionState::Deploying),
        ("running", ExecutionState::Running),
        ("finished", ExecutionState::Finished),
        ("canceling/canceled", ExecutionState::Canceled),
        ("failed", ExecutionState::Failed),
    ];
    let mut lx = 10.0;
    for (label, s) in items {
        legend = legend.add(
            Rectangle::new()
                .set("x", lx)
                .set("y", axis_y + 10.0)
                .set("width", 10)
                .set("height", 10)
                .set("fill", color(s)),
        );
        legend = legend.add(text(lx + 14.0, axis_y + 19.0, 9, label));
        lx += 24.0 + 5.5 * label.len() as f64;
    }
    legend = legend.add(text(
        10.0,
        axis_y + 34.0,
        9,
        "ticks above: checkpoints (green completed, red aborted); red dashed: faults; orange dotted: failovers",
    ));
    doc = doc.add(legend);
    let mut list = Group::new().set("id", "marks-list");
    for (i, (line, stroke)) in listed.iter().take(shown).enumerate() {
        list = list.add(text(10.0, axis_y + 50.0 + 12.0 * i as f64, 9, line.clone()).set("fill", *stroke));
    }
    if listed.len() > shown {
        let more = format!("… {} more faults and failovers (the timeline has every one)", listed.len() - shown);
        list = list.add(text(10.0, axis_y + 50.0 + 12.0 * shown as f64, 9, more));
    }
    doc = doc.add(list);
    let extra = if listed.len() > shown { 1 } else { 0 };
    let height = axis_y + 44.0 + 12.0 * (shown + extra) as f64;
    doc.set("viewBox", (0, 0, WIDTH, height)).set("height", height).to_string()
}
