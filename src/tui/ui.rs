//! Drawing the replay: header, cluster, checkpoints, event log, and the help overlay. Pure
//! rendering from `App`; works at 80×24 and grows with the terminal.

use super::app::App;
use crate::cluster::state::ExecutionState;
use crate::sim::fmt_time;
use crate::trace::Note;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, Paragraph, Wrap};

/// Keys, as the help overlay lists them (and `input` handles them).
pub const KEYS: &[(&str, &str)] = &[
    ("→ l", "one event forward"),
    ("← h", "one event back"),
    ("n / N", "next / previous fault"),
    ("f / F", "next / previous failover"),
    ("r / R", "next / previous restore"),
    ("c / C", "next / previous checkpoint"),
    ("g / G", "start / end of the run"),
    ("?", "this help"),
    ("q Esc", "quit"),
];

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let [header, body, log] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(6), Constraint::Length(9)]).areas(area);
    draw_header(frame, app, header);
    let [cluster, checkpoints] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    draw_cluster(frame, app, cluster);
    draw_checkpoints(frame, app, checkpoints);
    draw_log(frame, app, log);
    if app.help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let v = &app.view;
    let verdict = app.run.output.verdict.name();
    let line1 = Line::from(vec![
        Span::raw(format!("verdict {verdict}  ?=keys  ")),
        Span::styled(app.run.scenario.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
    ]);
    let line2 = Line::from(format!(
        "t={} event {}/{} job {} faults {} failovers {} committed {}",
        fmt_time(app.now_us()),
        app.cursor,
        app.len(),
        v.job_status,
        v.faults_fired,
        v.failovers_started,
        v.committed_records,
    ));
    frame.render_widget(Paragraph::new(vec![line1, line2]), area);
}

fn state_style(s: ExecutionState) -> Style {
    let c = match s {
        ExecutionState::Running => Color::Green,
        ExecutionState::Finished => Color::Blue,
        ExecutionState::Failed => Color::Red,
        ExecutionState::Canceling | ExecutionState::Canceled => Color::Yellow,
        _ => Color::Cyan,
    };
    Style::new().fg(c)
}

fn draw_cluster(frame: &mut Frame, app: &App, area: Rect) {
    let v = &app.view;
    let mut items: Vec<ListItem> = Vec::new();
    for (tm, up) in v.taskmanagers.iter().enumerate() {
        let status = match up {
            Some(true) => Span::styled("registered", Style::new().fg(Color::Green)),
            Some(false) => Span::styled("lost (the JobManager gave up on it)", Style::new().fg(Color::Red)),
            None => Span::raw("not registered yet"),
        };
        items.push(ListItem::new(Line::from(vec![Span::raw(format!("tm-{tm} ")), status])));
        for (i, &(attempt, state, at)) in v.subtasks.iter().enumerate() {
            if at == Some(tm as u32) {
                items.push(ListItem::new(Line::from(vec![
                    Span::raw(format!("  {} #{attempt} ", app.subtask_name(i))),
                    Span::styled(state.name(), state_style(state)),
                ])));
            }
        }
    }
    let unplaced: Vec<usize> = (0..v.subtasks.len()).filter(|&i| v.subtasks[i].2.is_none()).collect();
    if !unplaced.is_empty() {
        items.push(ListItem::new("not in a slot"));
        for i in unplaced {
            let (attempt, state, _) = v.subtasks[i];
            items.push(ListItem::new(Line::from(vec![
                Span::raw(format!("  {} #{attempt} ", app.subtask_name(i))),
                Span::styled(state.name(), state_style(state)),
            ])));
        }
    }
    let block = Block::new().borders(Borders::ALL).title(" cluster: TaskManagers and their subtasks ");
    frame.render_widget(List::new(items).block(block), area);
}

fn draw_checkpoints(frame: &mut Frame, app: &App, area: Rect) {
    let v = &app.view;
    let rows = area.height.saturating_sub(2) as usize;
    let mut lines: Vec<(u64, Line)> = v
        .completed
        .iter()
        .map(|&(id, at, dur, bytes)| {
            (
                at,
                Line::from(format!(
                    "{id:>4} COMPLETED {} {} ms {}",
                    fmt_time(at),
                    dur / 1000,
                    bytesize::ByteSize(bytes).display().si()
                )),
            )
        })
        .chain(v.aborted.iter().map(|&(id, at, why)| {
            (at, Line::styled(format!("{id:>4} ABORTED   {} {why}", fmt_time(at)), Style::new().fg(Color::Red)))
        }))
        .collect();
    lines.sort_by_key(|(at, _)| *at);
    let shown: Vec<Line> = lines.into_iter().rev().take(rows).rev().map(|(_, l)| l).collect();
    let block = Block::new().borders(Borders::ALL).title(" checkpoints (latest last) ");
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

/// One trace event as a line of the log.
fn event_text(app: &App, note: &Note) -> String {
    let run = &app.run;
    match note {
        Note::TaskState { st, attempt, from, to } => {
            format!("{} #{attempt} {} → {}", run.graph.subtask_name(*st), from.name(), to.name())
        }
        Note::Deployed { st, tm } => format!("{} deployed to tm-{tm}", run.graph.subtask_name(*st)),
        Note::TaskFailed { st, attempt, cause } => {
            format!("{} #{attempt} FAILED on its TaskManager: {}", run.graph.subtask_name(*st), cause.describe())
        }
        Note::CheckpointTriggered { cp } => format!("checkpoint {cp} triggered"),
        Note::SinkCommitted { st, checkpoint, records, recovered } => format!(
            "{} commits the transaction of checkpoint {checkpoint} ({records} records){}",
            run.graph.subtask_name(*st),
            if *recovered { " again, on restore" } else { "" }
        ),
        Note::SinkAborted { st, transactions, records } => {
            format!("{} aborts {transactions} lingering transactions ({records} records)", run.graph.subtask_name(*st))
        }
        Note::SourceRewound { st, positions } => {
            let p: Vec<String> = positions.iter().map(|(p, o)| format!("p{p}@{o}")).collect();
            format!("{} rewinds to {}", run.graph.subtask_name(*st), p.join(" "))
        }
        Note::FailoverStarted { failover } => {
            let f = &run.outcome.failovers[*failover];
            format!(
                "failover #{}: {} failed; restart {} of {} subtasks",
                failover + 1,
                run.graph.subtask_name(f.failed_subtask),
                f.to_restart.len(),
                run.graph.subtask_count()
            )
        }
        other => crate::cli::render::describe(run, other).unwrap_or_else(|| format!("{other:?}")),
    }
}

fn draw_log(frame: &mut Frame, app: &App, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let notes = &app.run.outcome.notes;
    // The applied event is the one before the cursor; show it with the ones around it.
    let current = app.cursor.checked_sub(1);
    let first = current.unwrap_or(0).saturating_sub(rows / 2);
    let lines: Vec<Line> = (first..(first + rows).min(notes.len()))
        .map(|i| {
            let text = format!("#{:<7} {:>9}  {}", i + 1, fmt_time(notes[i].at_us), event_text(app, &notes[i].note));
            if Some(i) == current {
                Line::styled(text, Style::new().add_modifier(Modifier::REVERSED))
            } else {
                Line::raw(text)
            }
        })
        .collect();
    let block = Block::new().borders(Borders::ALL).title(" events (the highlighted one has just happened) ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let w = 46.min(area.width);
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let lines: Vec<Line> = KEYS.iter().map(|(k, what)| Line::from(format!("{k:<7} {what}"))).collect();
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(Block::new().borders(Borders::ALL).title(" keys ")),
        r,
    );
}
