//! Drawing the replay from an `App`: a header (where and when), a tab bar, the chosen view
//! (cluster, job graph, checkpoints, exceptions, transactions, oracle), the log of trace lines and a
//! status line. Pure rendering; works at 80×24 and uses the room of a larger terminal (the
//! cluster stays in sight on the left when the terminal is wide). Without colour (NO_COLOR)
//! states are still told by their names.

use super::app::{App, Hit, PromptKind, SPEEDS, Tab};
use crate::cluster::external::TxnState;
use crate::cluster::net::HostCondition;
use crate::cluster::state::ExecutionState;
use crate::job::graph::SubtaskId;
use crate::sim::fmt_time;
use crate::trace::{AbortReason, FailureCause, Note};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Keys, as the help overlay lists them (and `input` handles them).
pub const KEYS: &[(&str, &str)] = &[
    ("→ ↓ l j", "next line of the log"),
    ("← ↑ h k", "previous line of the log"),
    (". / ,", "one event forward / back"),
    ("space", "play / pause"),
    ("+ / -", "faster / slower"),
    ("n / N", "next / previous fault"),
    ("f / F", "next / previous failover"),
    ("r / R", "next / previous restore"),
    ("c / C", "next / previous checkpoint"),
    ("v / V", "next / previous violation"),
    ("g / G", "start / end of the run"),
    (":", "go to a line #, a time or @event"),
    ("/", "search the log; ] [ next / previous"),
    ("=", "show only matching log lines"),
    ("Tab 1-6", "views; click a tab or a subtask"),
    ("?", "this help"),
    ("q Esc", "quit"),
];

/// Wider than this, the cluster stays on the left and the chosen view is on the right.
const SIDE_BY_SIDE: u16 = 150;

pub fn draw(frame: &mut Frame, app: &App) {
    app.hits.borrow_mut().clear();
    let area = frame.area();
    let log_h = if area.height >= 40 { 14 } else { 8 };
    let [header, tabs, body, log, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(log_h),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, header);
    draw_tabs(frame, app, tabs);
    if area.width >= SIDE_BY_SIDE && app.tab != Tab::Cluster {
        let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
        draw_tab(frame, app, Tab::Cluster, left);
        draw_tab(frame, app, app.tab, right);
    } else {
        draw_tab(frame, app, app.tab, body);
    }
    draw_log(frame, app, log);
    draw_status(frame, app, status);
    if app.help {
        draw_help(frame, area);
    }
}

fn fg(app: &App, c: Color) -> Style {
    if app.color { Style::new().fg(c) } else { Style::new() }
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn state_style(app: &App, s: ExecutionState) -> Style {
    fg(
        app,
        match s {
            ExecutionState::Running => Color::Green,
            ExecutionState::Finished => Color::Blue,
            ExecutionState::Failed => Color::Red,
            ExecutionState::Canceling | ExecutionState::Canceled => Color::Yellow,
            _ => Color::Cyan,
        },
    )
}

fn block(title: &str) -> Block<'_> {
    Block::new().borders(Borders::ALL).title(format!(" {title} "))
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.seen;
    let verdict = app.run.output.verdict.name();
    let job = s.jobmanager.as_ref().map_or("no JobManager", |j| j.job_status.name());
    // The verdict stays whole: the scenario's name gives way (with an ellipsis).
    let tail = format!("  (seed {})  verdict: ", app.run.scenario.seed);
    let room = (area.width as usize).saturating_sub(tail.chars().count() + verdict.chars().count());
    let line1 = Line::from(vec![
        Span::styled(truncate(&app.run.scenario.name, room.max(1)), bold()),
        Span::raw(tail),
        Span::styled(verdict, if verdict == "exactly_once" { fg(app, Color::Green) } else { fg(app, Color::Red) }),
    ]);
    let play =
        if app.playing { format!("▶ {}×", SPEEDS[app.speed]) } else { format!("⏸ {}×", SPEEDS[app.speed]) };
    let line2 = Line::from(format!(
        "t={}  #{}/{} (event {})  job {}  faults {}  failovers {}  {}",
        fmt_time(app.play_us),
        app.notes_seen,
        app.notes().len(),
        app.event,
        job,
        s.faults_fired,
        s.failovers,
        play,
    ));
    frame.render_widget(Paragraph::new(vec![line1, line2]), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    let mut x = area.x;
    for (i, t) in Tab::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, t.title());
        let w = label.chars().count() as u16;
        if i > 0 {
            x += 1;
        }
        if x + w <= area.x + area.width {
            app.hits.borrow_mut().push((Rect { x, y: area.y, width: w, height: 1 }, Hit::Tab(*t)));
        }
        x += w;
        let style = if *t == app.tab { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(label, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_tab(frame: &mut Frame, app: &App, tab: Tab, area: Rect) {
    match tab {
        Tab::Cluster => draw_cluster(frame, app, area),
        Tab::Graph => draw_graph(frame, app, area),
        Tab::Checkpoints => draw_checkpoints(frame, app, area),
        Tab::Exceptions => draw_exceptions(frame, app, area),
        Tab::Transactions => draw_transactions(frame, app, area),
        Tab::Oracle => draw_oracle(frame, app, area),
    }
}

/// The pipelined region of each subtask (numbered from 1), as the JobManager fails over.
fn region_of(app: &App) -> Vec<u32> {
    app.run.graph.pipelined_regions().1
}

fn draw_cluster(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.seen;
    let regions = region_of(app);
    let n_regions = regions.iter().max().map_or(0, |m| m + 1);
    let mut lines: Vec<(Line, Option<SubtaskId>)> = Vec::new();
    let jm_line = match &s.jobmanager {
        Some(j) => {
            let pending: Vec<String> =
                j.pending.iter().map(|p| format!("chk-{} acked {}/{}", p.id, p.acked, p.total)).collect();
            Line::from(vec![
                Span::styled("JobManager ", bold()),
                Span::raw(format!(
                    "#{} {}: job {}, {} TaskManager{} registered{}",
                    j.generation,
                    if j.leader { "leader" } else { "not leader" },
                    j.job_status.name(),
                    j.registered.len(),
                    if j.registered.len() == 1 { "" } else { "s" },
                    if pending.is_empty() { String::new() } else { format!("; {}", pending.join(", ")) },
                )),
            ])
        }
        None => Line::from(vec![Span::styled("JobManager ", bold()), Span::styled("down", fg(app, Color::Red))]),
    };
    lines.push((jm_line, None));
    let jm_subtasks = s.jobmanager.as_ref().map(|j| &j.subtasks);
    let mut placed = vec![false; app.run.graph.subtask_count()];
    for h in &s.hosts {
        let (what, style) = match (&h.condition, &h.process) {
            (HostCondition::Lost, _) => ("host LOST (no answers, no resets)".to_string(), fg(app, Color::Red)),
            (HostCondition::Frozen, _) => ("host FROZEN (events queue up)".to_string(), fg(app, Color::Magenta)),
            (_, None) if h.starting => ("process starting".to_string(), fg(app, Color::Cyan)),
            (_, None) => ("process DEAD (connections refused)".to_string(), fg(app, Color::Red)),
            (_, Some(p)) => {
                let mut t = format!(
                    "{} slot{}, {} task{}{}",
                    p.slots,
                    if p.slots == 1 { "" } else { "s" },
                    p.tasks.len(),
                    if p.tasks.len() == 1 { "" } else { "s" },
                    if p.registered { "" } else { ", not registered" }
                );
                if p.shutting_down {
                    t.push_str(", SHUTTING DOWN");
                }
                if !p.local_copies.is_empty() {
                    let cps: Vec<u64> = p.local_copies.iter().map(|c| c.1).collect();
                    t.push_str(&format!(
                        ", local state of chk-{}",
                        cps.iter().max().expect("not empty: checked above")
                    ));
                }
                (t, Style::new())
            }
        };
        let mut spans = vec![Span::styled(format!("tm-{} ", h.tm), bold()), Span::styled(what, style)];
        if h.partitioned {
            spans.push(Span::styled(" PARTITIONED", fg(app, Color::Magenta)));
        }
        lines.push((Line::from(spans), None));
        let Some(p) = &h.process else { continue };
        for t in &p.tasks {
            let mut spans = vec![Span::raw(format!("  {} #{} ", app.subtask_name(t.st), t.attempt))];
            match &s.jobmanager {
                // The JobManager's view of its own current attempt.
                Some(j)
                    if j.generation == t.jm && j.subtasks.get(t.st.0 as usize).is_some_and(|v| v.0 == t.attempt) =>
                {
                    placed[t.st.0 as usize] = true;
                    let st = j.subtasks[t.st.0 as usize].1;
                    spans.push(Span::styled(st.name(), state_style(app, st)))
                }
                Some(_) => spans.push(Span::styled(
                    format!("{} (an attempt the JobManager no longer tracks)", t.phase),
                    fg(app, Color::DarkGray).add_modifier(Modifier::DIM),
                )),
                None => spans.push(Span::raw(format!("{} (as its TaskManager has it)", t.phase))),
            }
            if n_regions > 1 {
                spans.push(Span::raw(format!(" R{}", regions[t.st.0 as usize] + 1)));
            }
            if t.back_pressured {
                spans.push(Span::styled(" back-pressured", fg(app, Color::Yellow)));
            }
            if let Some((cp, got, of, _)) = t.alignment {
                spans.push(Span::styled(format!(" aligning chk-{cp} {got}/{of}"), fg(app, Color::Cyan)));
            }
            let mut line = Line::from(spans);
            if app.selected == Some(t.st) {
                line = line.style(Style::new().add_modifier(Modifier::REVERSED));
            }
            lines.push((line, Some(t.st)));
        }
    }
    if let Some(subs) = jm_subtasks {
        let waiting: Vec<usize> = (0..subs.len()).filter(|&i| !placed[i]).collect();
        if !waiting.is_empty() {
            lines
                .push((Line::styled("not on a live TaskManager process (as the JobManager sees them):", bold()), None));
            for i in waiting {
                let (a, st, tm) = subs[i];
                let at = tm.map_or(String::new(), |tm| format!(" (tm-{tm})"));
                let id = SubtaskId(i as u32);
                let mut line = Line::from(vec![
                    Span::raw(format!("  {} #{a} ", app.subtask_name(id))),
                    Span::styled(st.name(), state_style(app, st)),
                    Span::raw(at),
                ]);
                if app.selected == Some(id) {
                    line = line.style(Style::new().add_modifier(Modifier::REVERSED));
                }
                lines.push((line, Some(id)));
            }
        }
    }
    if let Some(st) = app.selected {
        lines.push((Line::raw(""), None));
        lines.extend(subtask_details(app, st).into_iter().map(|l| (l, None)));
    }
    render_clickable(frame, app, area, " cluster: JobManager, TaskManagers, the subtasks in their slots ", lines);
}

/// Lines for a selected subtask: where it runs, its inputs, its checkpoints, its transactions.
fn subtask_details(app: &App, st: SubtaskId) -> Vec<Line<'static>> {
    let mut out = vec![Line::styled(format!("{}:", app.subtask_name(st)), bold())];
    // The newest attempt anywhere (a zombie of an older one may still run elsewhere).
    let task = app
        .seen
        .hosts
        .iter()
        .flat_map(|h| h.process.iter().flat_map(move |p| p.tasks.iter().map(move |t| (h.tm, t))))
        .filter(|(_, t)| t.st == st)
        .max_by_key(|(_, t)| (t.jm, t.attempt));
    match task {
        Some((tm, t)) => {
            out.push(Line::raw(format!("  attempt #{} on tm-{tm}: {}", t.attempt, t.phase)));
            let queued: (u64, u64) = t.inputs.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            out.push(Line::raw(format!(
                "  {} inputs: {} records and {} barriers queued{}",
                t.inputs.len(),
                queued.0,
                queued.1,
                if t.back_pressured { "; output back-pressured" } else { "" }
            )));
            if let Some((cp, got, of, since)) = t.alignment {
                out.push(Line::raw(format!(
                    "  aligning barriers of chk-{cp}: {got}/{of} inputs, for {}",
                    fmt_ms(app.now_us().saturating_sub(since))
                )));
            }
            if !t.snapshots_in_progress.is_empty() {
                out.push(Line::raw(format!("  snapshots uploading/pre-committing: chk-{:?}", t.snapshots_in_progress)));
            }
        }
        None => out.push(Line::raw("  not running on any TaskManager")),
    }
    out
}

fn render_clickable(frame: &mut Frame, app: &App, area: Rect, title: &str, lines: Vec<(Line<'_>, Option<SubtaskId>)>) {
    let inner_h = area.height.saturating_sub(2) as usize;
    // Keep the selected subtask in sight.
    let sel_row = lines.iter().position(|(_, s)| s.is_some() && *s == app.selected).unwrap_or(0);
    let first = if lines.len() > inner_h && sel_row >= inner_h { sel_row + 1 - inner_h } else { 0 };
    let mut hits = app.hits.borrow_mut();
    for (row, (_, st)) in lines.iter().enumerate().skip(first).take(inner_h) {
        if let Some(st) = st {
            let r = Rect {
                x: area.x + 1,
                y: area.y + 1 + (row - first) as u16,
                width: area.width.saturating_sub(2),
                height: 1,
            };
            hits.push((r, Hit::Subtask(*st)));
        }
    }
    drop(hits);
    let width = area.width.saturating_sub(2) as usize;
    let total = lines.len();
    let mut shown: Vec<Line> = lines.into_iter().skip(first).take(inner_h).map(|(l, _)| fit(l, width)).collect();
    // Rows cut off are never silently gone: the last row counts them (↑/↓ scroll to them).
    if total > first + inner_h && inner_h > 0 {
        shown.pop();
        shown.push(Line::styled(
            format!("… {} more below (↓ selects the next subtask)", total - first - inner_h + 1),
            dim(),
        ));
    }
    if first > 0
        && let Some(top) = shown.first_mut()
    {
        *top = Line::styled(format!("… {} more above", first + 1), dim());
    }
    frame.render_widget(Paragraph::new(shown).block(block(title.trim())), area);
}

fn fmt_ms(us: u64) -> String {
    if us >= 10_000 { format!("{} ms", us / 1000) } else { format!("{:.1} ms", us as f64 / 1000.0) }
}

fn draw_graph(frame: &mut Frame, app: &App, area: Rect) {
    let g = &app.run.graph;
    let mut lines = vec![Line::raw(crate::report::human::job_line(g)), Line::raw("")];
    let names: Vec<String> = g
        .edges
        .iter()
        .map(|e| {
            format!("{} ={}=> {}", g.operator_name(e.from_operator), e.kind.name(), g.operator_name(e.to_operator))
        })
        .collect();
    let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(4).max(4);
    lines.push(Line::styled(format!("{:<w$}  {:>17}  {:>17}", "", "on the wire", "queued at inputs"), bold()));
    lines.push(Line::styled(
        format!("{:<w$}  {:>8} {:>8}  {:>8} {:>8}", "edge", "records", "barriers", "records", "barriers"),
        Style::new().add_modifier(Modifier::UNDERLINED),
    ));
    for (i, name) in names.iter().enumerate() {
        let f = app.seen.edges.get(i).copied().unwrap_or_default();
        let barrier = |n: u64| if n > 0 { fg(app, Color::Cyan) } else { Style::new() };
        lines.push(Line::from(vec![
            Span::raw(format!("{name:<w$}  {:>8} ", f.records_on_wire)),
            Span::styled(format!("{:>8}", f.barriers_on_wire), barrier(f.barriers_on_wire)),
            Span::raw(format!("  {:>8} ", f.records_queued)),
            Span::styled(format!("{:>8}", f.barriers_queued), barrier(f.barriers_queued)),
        ]));
    }
    if g.edges.is_empty() {
        lines.push(Line::raw("one chained task: no network edges"));
    }
    lines.push(Line::raw(""));
    let mut aligning = Vec::new();
    let mut pressured = Vec::new();
    for h in &app.seen.hosts {
        for t in h.process.iter().flat_map(|p| &p.tasks) {
            if let Some((cp, got, of, since)) = t.alignment {
                aligning.push(format!(
                    "{} chk-{cp} {got}/{of} for {}",
                    app.subtask_name(t.st),
                    fmt_ms(app.now_us().saturating_sub(since))
                ));
            }
            if t.back_pressured {
                pressured.push(app.subtask_name(t.st));
            }
        }
    }
    lines.push(Line::raw(format!(
        "barrier alignment: {}",
        if aligning.is_empty() { "none in progress".to_string() } else { aligning.join(", ") }
    )));
    lines.push(Line::raw(format!(
        "back-pressured (out of credit): {}",
        if pressured.is_empty() { "none".to_string() } else { pressured.join(", ") }
    )));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(block("job graph: what is between the operators")),
        area,
    );
}

/// One row of the checkpoint history.
struct CpRow {
    id: u64,
    status: &'static str,
    acked: String,
    trigger_us: Option<u64>,
    duration_us: Option<u64>,
    bytes: Option<u64>,
    alignment_us: Option<u64>,
}

/// Flink's `web.checkpoints.history` default.
const CHECKPOINT_HISTORY: usize = 10;
/// Flink's `web.exception-history-size` default.
const EXCEPTION_HISTORY: usize = 16;

fn draw_checkpoints(frame: &mut Frame, app: &App, area: Rect) {
    let notes = &app.notes()[..app.notes_seen];
    let n_subtasks = app.run.graph.subtask_count();
    let mut rows: Vec<CpRow> = Vec::new();
    if let Some(j) = &app.seen.jobmanager {
        for p in j.pending.iter().rev() {
            rows.push(CpRow {
                id: p.id,
                status: "IN_PROGRESS",
                acked: format!("{}/{}", p.acked, p.total),
                trigger_us: Some(p.triggered_at_us),
                duration_us: Some(app.now_us().saturating_sub(p.triggered_at_us)),
                bytes: None,
                alignment_us: Some(p.max_alignment_us),
            });
        }
    }
    // The newest finished checkpoints, scanning back from the cursor.
    let mut restored: Option<(u64, u64)> = None;
    let (mut completed, mut failed) = (0, 0);
    for e in notes.iter().rev() {
        match &e.note {
            Note::CheckpointCompleted { cp, bytes, duration_us, alignment_us } => {
                completed += 1;
                if rows.len() < CHECKPOINT_HISTORY + 4 {
                    rows.push(CpRow {
                        id: *cp,
                        status: "COMPLETED",
                        acked: format!("{n_subtasks}/{n_subtasks}"),
                        trigger_us: Some(e.at_us.saturating_sub(*duration_us)),
                        duration_us: Some(*duration_us),
                        bytes: Some(*bytes),
                        alignment_us: Some(*alignment_us),
                    });
                }
            }
            Note::CheckpointAborted { cp, reason } => {
                failed += 1;
                if rows.len() < CHECKPOINT_HISTORY + 4 {
                    rows.push(CpRow {
                        id: *cp,
                        status: match reason {
                            AbortReason::Subsumed => "SUBSUMED",
                            _ => "FAILED",
                        },
                        acked: "-".into(),
                        trigger_us: None,
                        duration_us: None,
                        bytes: None,
                        alignment_us: None,
                    });
                }
            }
            Note::Restored { cp: Some(cp), .. } if restored.is_none() => restored = Some((*cp, e.at_us)),
            _ => {}
        }
    }
    let counts = match &app.seen.jobmanager {
        Some(j) => format!("Completed {} · Failed {} · In progress {}", j.completed, j.aborted, j.pending.len()),
        None => format!("Completed {completed} · Failed {failed} (no JobManager now)"),
    };
    let mut lines = vec![
        Line::styled(counts, bold()),
        Line::raw(match restored {
            Some((cp, at)) => format!("Latest restore: chk-{cp} at {}", fmt_time(at)),
            None => "Latest restore: none".into(),
        }),
        Line::styled(
            format!(
                "{:>5} {:<11} {:>7} {:>10} {:>9} {:>9} {:>9}",
                "ID", "Status", "Acked", "Triggered", "E2E", "Size", "Aligned"
            ),
            Style::new().add_modifier(Modifier::UNDERLINED),
        ),
    ];
    let room = area.height.saturating_sub(2 + lines.len() as u16) as usize;
    for r in rows.iter().take(room.min(CHECKPOINT_HISTORY)) {
        let style = match r.status {
            "COMPLETED" => fg(app, Color::Green),
            "IN_PROGRESS" => fg(app, Color::Cyan),
            "SUBSUMED" => fg(app, Color::Yellow),
            _ => fg(app, Color::Red),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("{:>5} ", r.id)),
            Span::styled(format!("{:<11}", r.status), style),
            Span::raw(format!(
                " {:>7} {:>10} {:>9} {:>9} {:>9}",
                r.acked,
                r.trigger_us.map_or("-".into(), fmt_time),
                r.duration_us.map_or("-".into(), fmt_ms),
                r.bytes.map_or("-".into(), |b| bytesize::ByteSize(b).display().si().to_string()),
                r.alignment_us.map_or("-".into(), fmt_ms),
            )),
        ]));
    }
    frame.render_widget(pane(lines, area, "checkpoints (newest first)"), area);
}

fn draw_exceptions(frame: &mut Frame, app: &App, area: Rect) {
    let notes = &app.notes()[..app.notes_seen];
    let mut lines = vec![Line::styled(
        format!("{:>9}  {:<38} {:<14} {}", "Time", "Exception", "Task", "TaskManager"),
        Style::new().add_modifier(Modifier::UNDERLINED),
    )];
    // The task failures handled with each failover (Flink's concurrent exceptions), as
    // `run --exceptions` lists them; only those that happened by the cursor.
    let history = crate::report::exceptions::history(app.run);
    let mut n = 0;
    for (i, e) in notes.iter().enumerate().rev() {
        if n == EXCEPTION_HISTORY {
            break;
        }
        let Note::FailoverStarted { failover } = &e.note else { continue };
        let Some(f) = app.run.outcome.failovers.get(*failover) else { continue };
        // Where the failed subtask was deployed last before the failure.
        let tm = notes[..i].iter().rev().find_map(|x| match &x.note {
            Note::Deployed { st, tm } if Some(*st) == f.failed_subtask => Some(*tm),
            _ => None,
        });
        lines.push(Line::from(vec![
            Span::raw(format!("{:>9}  ", fmt_time(f.failed_at_us))),
            Span::styled(format!("{:<38}", truncate(&f.cause.describe(), 38)), fg(app, Color::Red)),
            Span::raw(format!(
                " {:<14} {}",
                truncate(&f.failed_subtask.map_or("(global)".into(), |st| app.subtask_name(st)), 14),
                tm.map_or("-".into(), |t| format!("tm-{t}"))
            )),
        ]));
        lines.push(Line::raw(format!(
            "           → failover #{}: restart {} of {} subtasks{}",
            failover + 1,
            f.to_restart.len(),
            app.run.graph.subtask_count(),
            f.restored_checkpoint
                .filter(|_| f.restart_at_us.is_some_and(|t| t <= app.now_us()))
                .map_or(String::new(), |c| format!(", restored chk-{c}"))
        )));
        let concurrent = history.get(*failover).map(|h| h.concurrent.as_slice()).unwrap_or_default();
        for c in concurrent.iter().filter(|c| c.at_us <= app.now_us()) {
            lines.push(Line::from(vec![
                Span::raw(format!("{:>9}  ", fmt_time(c.at_us))),
                Span::styled(format!("{:<38}", truncate(&format!("+ {}", c.exception), 38)), fg(app, Color::Red)),
                Span::raw(format!(
                    " {:<14} {}",
                    truncate(c.task.as_deref().unwrap_or("-"), 14),
                    c.location.as_deref().unwrap_or("-")
                )),
            ]));
        }
        n += 1;
    }
    if n == 0 {
        lines.push(Line::raw("no failure so far"));
    }
    frame.render_widget(pane(lines, area, "exception history (root causes newest first, + concurrent failures)"), area);
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w { s.to_string() } else { s.chars().take(w - 1).chain(['…']).collect() }
}

/// `line` cut to `width` columns with an ellipsis where it is cut (never silently).
fn fit(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let budget = width.saturating_sub(1);
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let w = span.width();
        if used + w <= budget {
            used += w;
            spans.push(span);
            continue;
        }
        let mut kept = String::new();
        for ch in span.content.chars() {
            let cw = Span::raw(ch.to_string()).width();
            if used + cw > budget {
                break;
            }
            used += cw;
            kept.push(ch);
        }
        spans.push(Span::styled(kept, span.style));
        break;
    }
    spans.push(Span::raw("…"));
    Line { spans, style: line.style, alignment: line.alignment }
}

/// A bordered pane of `lines`: each cut to the inner width with an ellipsis, and when they do
/// not all fit, the last row says how many more there are.
fn pane<'a>(lines: Vec<Line<'a>>, area: Rect, title: &'a str) -> Paragraph<'a> {
    let width = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let total = lines.len();
    let mut shown: Vec<Line> = lines.into_iter().take(rows).map(|l| fit(l, width)).collect();
    if total > rows && rows > 0 {
        shown.pop();
        shown.push(Line::styled(format!("… {} more lines (a taller terminal shows them)", total + 1 - rows), dim()));
    }
    Paragraph::new(shown).block(block(title))
}

fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

fn draw_transactions(frame: &mut Frame, app: &App, area: Rect) {
    let g = &app.run.graph;
    let mut lines = vec![
        Line::raw(format!("sink store: {} records committed (what readers see)", app.seen.committed)),
        Line::raw("per sink subtask, its newest transactions (checkpoint: state records):"),
    ];
    let txns = &app.seen.txns;
    let mut i = 0;
    while i < txns.len() {
        let (sink, sub) = (txns[i].sink, txns[i].subtask);
        let j = i + txns[i..].iter().take_while(|t| t.sink == sink && t.subtask == sub).count();
        let name = format!("{}[{sub}]", g.operator_name(sink));
        // The newest transactions that fit on the line.
        let mut room = (area.width as usize).saturating_sub(2 + name.chars().count().max(10));
        let mut shown = Vec::new();
        for t in txns[i..j].iter().rev() {
            let (word, c) = match t.state {
                TxnState::Open => ("open", Color::Cyan),
                TxnState::Prepared => ("pre-committed", Color::Yellow),
                TxnState::Committed => ("committed", Color::Green),
                TxnState::Aborted => ("aborted", Color::Red),
            };
            let (head, body) = (format!(" {}:", t.checkpoint), format!("{word} {}", t.records));
            let w = head.chars().count() + body.chars().count();
            if w > room {
                break;
            }
            room -= w;
            shown.push((head, body, c));
        }
        let mut spans = vec![Span::styled(format!("{name:<10}"), bold())];
        for (head, body, c) in shown.into_iter().rev() {
            spans.push(Span::raw(head));
            spans.push(Span::styled(body, fg(app, c)));
        }
        lines.push(Line::from(spans));
        i = j;
    }
    if txns.is_empty() {
        lines.push(Line::raw("no transaction yet"));
    }
    frame.render_widget(pane(lines, area, "two-phase commit: transactions by sink subtask and checkpoint"), area);
}

fn draw_oracle(frame: &mut Frame, app: &App, area: Rect) {
    let now = app.now_us();
    let reference = app.reference_commit_times.partition_point(|&t| t <= now);
    let committed = app.seen.committed;
    let diff = committed as i64 - reference as i64;
    let mut lines = vec![
        Line::styled("committed so far (what a reader of the sink has seen):", bold()),
        Line::raw(format!("  this run           {committed:>10} records by {}", fmt_time(now))),
        Line::raw(format!("  fault-free run     {reference:>10} records by the same time")),
        Line::styled(
            format!(
                "  difference         {diff:>+10}{}",
                if diff < 0 {
                    " (behind: recovery time, or loss)"
                } else if diff > 0 {
                    " (ahead or duplicated)"
                } else {
                    ""
                }
            ),
            if diff == 0 { Style::new() } else { fg(app, Color::Yellow) },
        ),
        Line::raw(""),
        Line::styled("final verdict (the whole run):", bold()),
    ];
    let mut summary = String::new();
    crate::report::human::summary(app.run, &mut summary);
    lines.extend(summary.lines().skip(1).map(|l| Line::raw(l.to_string())));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block("oracle: this run against the fault-free reference")),
        area,
    );
}

/// One trace line of the log.
pub fn note_text(app: &App, note: &Note) -> String {
    let run = app.run;
    match note {
        Note::TaskState { st, attempt, from, to } => {
            format!("{} #{attempt} {} → {}", run.graph.subtask_name(*st), from.name(), to.name())
        }
        Note::Deployed { st, tm } => format!("{} deployed to tm-{tm}", run.graph.subtask_name(*st)),
        Note::TaskFailed { st, attempt, cause } => {
            format!("{} #{attempt} FAILED on its TaskManager: {}", run.graph.subtask_name(*st), cause.describe())
        }
        Note::CheckpointTriggered { cp } => format!("checkpoint {cp} triggered"),
        Note::SinkCommitted { st, checkpoint, records, recovered, .. } => format!(
            "{} commits the transaction of checkpoint {checkpoint} ({records} records){}",
            run.graph.subtask_name(*st),
            if *recovered { " again, on restore" } else { "" }
        ),
        Note::SinkAborted { st, transactions, records } => {
            let noun = if *transactions == 1 { "transaction" } else { "transactions" };
            format!("{} aborts {transactions} lingering {noun} ({records} records)", run.graph.subtask_name(*st))
        }
        Note::SourceRewound { st, positions } => {
            let p: Vec<String> = positions.iter().map(|(p, o)| format!("p{p}@{o}")).collect();
            format!("{} rewinds to {}", run.graph.subtask_name(*st), p.join(" "))
        }
        Note::AttemptDiscarded { st, buffered, read } => {
            let p: Vec<String> = read.iter().map(|(p, o)| format!("p{p}@{o}")).collect();
            let read = if p.is_empty() { String::new() } else { format!(", had read {}", p.join(" ")) };
            format!("{} torn down: {buffered} queued records dropped{read}", run.graph.subtask_name(*st))
        }
        Note::FailoverStarted { failover } => {
            let f = &run.outcome.failovers[*failover];
            format!(
                "failover #{}: {} {}, restart {}/{}",
                failover + 1,
                f.failed_subtask.map_or("global failure:".into(), |st| run.graph.subtask_name(st)),
                noticed(f.cause),
                f.to_restart.len(),
                run.graph.subtask_count()
            )
        }
        other => crate::report::human::describe(run, other).unwrap_or_else(|| format!("{other:?}")),
    }
}

/// How a failed subtask's failure came about, in a few words (who noticed, and how).
fn noticed(cause: FailureCause) -> String {
    match cause {
        FailureCause::TaskException => "threw an exception".into(),
        FailureCause::Unrecoverable => "threw a SuppressRestartsException".into(),
        FailureCause::ConnectionLost { remote_tm } => format!("lost connection to tm-{remote_tm}"),
        FailureCause::TaskManagerLost { tm, detection } => {
            format!("was on tm-{tm}, lost by the JobManager ({})", detection.describe())
        }
        FailureCause::DeployFailed { tm } => format!("could not be deployed to tm-{tm}"),
        FailureCause::DeployTimeout { tm } => format!("got no answer deploying to tm-{tm}"),
        FailureCause::NoResourceAvailable | FailureCause::NotEnoughResources => "found no slot".into(),
        FailureCause::TaskExecutorShuttingDown { tm } => format!("was failed by tm-{tm} shutting down"),
        FailureCause::JobManagerLost { tm } => format!("was failed by tm-{tm}, which lost its JobManager"),
        FailureCause::PartitionConnection { remote_tm } => format!("could not connect to tm-{remote_tm}"),
        FailureCause::CheckpointExpired | FailureCause::CheckpointUploadsFailed => {
            "hit the tolerable checkpoint failures".into()
        }
        FailureCause::ProducerFenced => "was fenced by a newer producer at commit".into(),
        FailureCause::StateUpdateFailed { tm } => format!("could not report its state from tm-{tm}"),
        FailureCause::NotRunningOnTaskExecutor { tm } => format!("was no longer reported by tm-{tm}"),
        FailureCause::UnexpectedTransition { .. } => "reported its states out of order".into(),
        FailureCause::RestoreFailed => "found a state file gone".into(),
        FailureCause::StorageUnavailable => "could not read its state from checkpoint storage".into(),
    }
}

/// The log line of note `i`, as searched and shown.
pub fn log_line(app: &App, i: usize) -> String {
    let notes = app.notes();
    format!("#{:<5} {:>7}  {}", i + 1, fmt_time(notes[i].at_us), note_text(app, &notes[i].note))
}

fn draw_log(frame: &mut Frame, app: &App, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let n = app.notes().len();
    let current = app.current_note();
    let shown: Vec<usize> = if app.filter && app.search.is_some() {
        // Matching lines around the cursor: the ones before it, then the ones after.
        let upto = current.map_or(0, |c| c + 1);
        let before: Vec<usize> = (0..upto).rev().filter(|&i| app.matches(&log_line(app, i))).take(rows / 2).collect();
        let after: Vec<usize> =
            (upto..n).filter(|&i| app.matches(&log_line(app, i))).take(rows - before.len()).collect();
        before.into_iter().rev().chain(after).collect()
    } else {
        // From just before the first note this event wrote (an event can write many).
        let first_of_step = current.map_or(0, |c| (0..=c).rev().take_while(|&i| app.is_current(i)).last().unwrap_or(c));
        let first = first_of_step.saturating_sub(rows.min(6) / 3).min(n.saturating_sub(rows));
        (first..(first + rows).min(n)).collect()
    };
    let mut hits = app.hits.borrow_mut();
    let lines: Vec<Line> = shown
        .iter()
        .enumerate()
        .map(|(row, &i)| {
            hits.push((
                Rect { x: area.x + 1, y: area.y + 1 + row as u16, width: area.width.saturating_sub(2), height: 1 },
                Hit::Note(i),
            ));
            let text = log_line(app, i);
            let mut style = Style::new();
            if app.is_current(i) {
                style = style.add_modifier(Modifier::REVERSED);
            } else if i >= app.notes_seen {
                style = style.add_modifier(Modifier::DIM);
            }
            if app.matches(&text) {
                style = style.add_modifier(Modifier::BOLD);
            }
            fit(Line::styled(text, style), area.width.saturating_sub(2) as usize)
        })
        .collect();
    drop(hits);
    let title = match (&app.search, app.filter) {
        (Some(s), true) => format!("trace lines matching {s:?} (=: show all)"),
        (Some(s), false) => format!("trace (highlighted: this event; bold: matches {s:?})"),
        _ => "trace (highlighted: this event wrote them; dim: still to come)".to_string(),
    };
    frame.render_widget(Paragraph::new(lines).block(block(&title)), area);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let line = match &app.prompt {
        Some((PromptKind::Goto, text)) => {
            Line::from(format!(":{text}▏  go to: line 170 or #170, time 12.5s / 800ms, event @51234; Enter, Esc"))
        }
        Some((PromptKind::Search, text)) => Line::from(format!("/{text}▏  search the trace; Enter, Esc")),
        None => match &app.message {
            Some(m) => Line::styled(m.clone(), fg(app, Color::Yellow)),
            None => Line::raw("? keys  →/← lines  f failover  n fault  r restore  c checkpoint  space play"),
        },
    };
    frame.render_widget(Paragraph::new(fit(line, area.width as usize)), area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let w = 56.min(area.width);
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let lines: Vec<Line> = KEYS.iter().map(|(k, what)| Line::from(format!("{k:<10} {what}"))).collect();
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(lines).block(block("keys (any key closes)")), r);
}
