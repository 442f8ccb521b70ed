//! The replay's state: the run (its trace, its verdict), the timeline of world snapshots, the
//! world at the cursor and what an observer sees of it, and the controls' state. Moving the
//! cursor anywhere clones the nearest snapshot and simulates forward (`timeline::Timeline`);
//! moving forward a little steps the current world on. No terminal here: `ui` draws an `App`,
//! `super::input` changes it.

use crate::cluster::engine::World;
use crate::cluster::inspect::Inspection;
use crate::job::graph::SubtaskId;
use crate::run::Run;
use crate::timeline::Timeline;
use crate::trace::Note;

/// Which kind of event a jump looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Fault,
    Failover,
    Checkpoint,
    Restore,
    /// A broken protocol invariant, or the moment the oracle's first offender points at.
    Violation,
}

impl Mark {
    fn matches(self, note: &Note) -> bool {
        match self {
            Mark::Fault => matches!(note, Note::FaultInjected { .. }),
            Mark::Failover => matches!(note, Note::FailoverStarted { .. }),
            Mark::Checkpoint => matches!(note, Note::CheckpointCompleted { .. } | Note::CheckpointAborted { .. }),
            Mark::Restore => matches!(note, Note::Restored { .. }),
            Mark::Violation => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mark::Fault => "fault",
            Mark::Failover => "failover",
            Mark::Checkpoint => "checkpoint",
            Mark::Restore => "restore",
            Mark::Violation => "violation",
        }
    }
}

/// The views of the body, like the tabs of Flink's web UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Cluster,
    Graph,
    Checkpoints,
    Exceptions,
    Transactions,
    Oracle,
}

impl Tab {
    pub const ALL: [Tab; 6] =
        [Tab::Cluster, Tab::Graph, Tab::Checkpoints, Tab::Exceptions, Tab::Transactions, Tab::Oracle];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Cluster => "Cluster",
            Tab::Graph => "Graph",
            Tab::Checkpoints => "Checkpoints",
            Tab::Exceptions => "Exceptions",
            Tab::Transactions => "Transactions",
            Tab::Oracle => "Oracle",
        }
    }
}

/// What the one-line prompt at the bottom is asking for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `:` — a trace line number (`170`, `#170`), a virtual time (`12.5s`, `800ms`), or an engine
    /// event (`@51234`).
    Goto,
    /// `/` — text to find in the log of trace lines.
    Search,
}

/// Playback speeds: virtual seconds per wall second.
pub const SPEEDS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// Something a mouse click can select, with where it was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Tab(Tab),
    Subtask(SubtaskId),
    /// A line of the event log: the note index.
    Note(usize),
}

/// The replay application.
pub struct App<'a> {
    pub run: &'a Run,
    timeline: Timeline<'a>,
    world: Option<World<'a>>,
    /// What is seen of the world at the cursor.
    pub seen: Inspection,
    /// Engine events applied (0: before the first).
    pub event: u64,
    /// Trace notes written by the applied events (the last one is the current note).
    pub notes_seen: usize,
    pub tab: Tab,
    pub help: bool,
    pub quit: bool,
    pub playing: bool,
    /// Virtual time the playback has reached (it runs on through stretches without events).
    pub play_us: u64,
    pub speed: usize,
    pub prompt: Option<(PromptKind, String)>,
    pub search: Option<String>,
    /// Show only the log lines that match the search.
    pub filter: bool,
    /// One line of feedback ("no later failover", "not a time: …").
    pub message: Option<String>,
    pub selected: Option<SubtaskId>,
    /// Colours (off with NO_COLOR).
    pub color: bool,
    /// Screen areas of clickable things, from the last draw.
    pub hits: std::cell::RefCell<Vec<(ratatui::layout::Rect, Hit)>>,
    /// Engine events the violation marks point at, ascending.
    violation_events: Vec<u64>,
    /// When the fault-free reference run committed each record, ascending (the oracle view's
    /// "fault-free run by the same time").
    pub reference_commit_times: Vec<crate::sim::TimeUs>,
}

impl<'a> App<'a> {
    /// Builds the timeline (one more simulation of the run, with snapshots) and opens the
    /// replay before the first event.
    pub fn new(run: &'a Run) -> App<'a> {
        let timeline = Timeline::build(&run.scenario);
        assert_eq!(timeline.total(), run.outcome.events, "the replay re-simulates the same run (determinism)");
        let world = timeline.world_at(0, None);
        let seen = world.inspect();
        // `simulate` runs the reference only when its report needs it; the replay always does.
        let simulated;
        let reference = match &run.reference {
            Some(r) => r,
            None => {
                simulated = crate::cluster::engine::World::new(&run.scenario, false).run();
                &simulated
            }
        };
        let reference_commit_times = reference.committed.iter().map(|c| c.committed_at_us).collect();
        let mut app = App {
            run,
            timeline,
            world: Some(world),
            seen,
            event: 0,
            notes_seen: 0,
            tab: Tab::Cluster,
            help: false,
            quit: false,
            playing: false,
            play_us: 0,
            speed: 3,
            prompt: None,
            search: None,
            filter: false,
            message: None,
            selected: None,
            color: true,
            hits: Default::default(),
            violation_events: Vec::new(),
            reference_commit_times,
        };
        app.violation_events = app.find_violations();
        app.notes_seen = app.notes_upto(0);
        app
    }

    /// Engine events of the whole run.
    pub fn total_events(&self) -> u64 {
        self.timeline.total()
    }

    pub fn notes(&self) -> &'a [crate::trace::TraceEntry] {
        &self.run.outcome.notes
    }

    fn note_events(&self) -> &'a [u64] {
        &self.run.outcome.note_events
    }

    fn notes_upto(&self, event: u64) -> usize {
        self.note_events().partition_point(|&e| e <= event)
    }

    /// Was note `i` written by the event at the cursor (highlighted in the log)?
    pub fn is_current(&self, i: usize) -> bool {
        self.note_events().get(i) == Some(&self.event)
    }

    /// The note just written (the log is centred on it), if any.
    pub fn current_note(&self) -> Option<usize> {
        self.notes_seen.checked_sub(1)
    }

    /// Virtual time at the cursor.
    pub fn now_us(&self) -> u64 {
        self.seen.now_us
    }

    /// Moves the cursor to after `event` engine events (clamped to the run).
    pub fn seek_event(&mut self, event: u64) {
        let event = event.min(self.total_events());
        let current = self.world.take();
        let w = self.timeline.world_at(event, current);
        self.land(w);
    }

    /// Moves the cursor to the last event at or before virtual time `at_us`.
    pub fn seek_time(&mut self, at_us: u64) {
        let current = self.world.take();
        let w = self.timeline.world_at_time(at_us, current);
        self.land(w);
    }

    fn land(&mut self, w: World<'a>) {
        self.event = w.events();
        self.seen = w.inspect();
        self.play_us = self.seen.now_us;
        self.world = Some(w);
        self.notes_seen = self.notes_upto(self.event);
    }

    /// Forward to the event that writes the next note.
    pub fn next_note(&mut self) {
        match self.note_events().get(self.notes_seen) {
            Some(&e) => self.seek_event(e),
            None => self.seek_event(self.total_events()),
        }
    }

    /// Back to the event that wrote the note before the current one (or to the start).
    pub fn prev_note(&mut self) {
        let events = self.note_events();
        let here = match self.current_note() {
            // Standing after the current note's event: back to that event's own notes first.
            Some(k) if events[k] < self.event => events[k] + 1,
            Some(k) => events[k],
            None => 0,
        };
        let before = events.partition_point(|&e| e < here);
        match before.checked_sub(1) {
            Some(j) => self.seek_event(events[j]),
            None => self.seek_event(0),
        }
    }

    /// Jumps to the event that writes the next (or previous) note of a kind; stays, with a
    /// message, if there is none.
    pub fn jump(&mut self, mark: Mark, forward: bool) {
        if mark == Mark::Violation {
            let target = if forward {
                self.violation_events.iter().find(|&&s| s > self.event)
            } else {
                self.violation_events.iter().rev().find(|&&s| s < self.event)
            };
            return match target {
                Some(&s) => self.seek_event(s),
                None => self.say(format!("no {} {}", if forward { "later" } else { "earlier" }, mark.name())),
            };
        }
        let notes = self.notes();
        let found = if forward {
            (self.notes_seen..notes.len()).find(|&i| mark.matches(&notes[i].note))
        } else {
            (0..self.first_note_of_step()).rev().find(|&i| mark.matches(&notes[i].note))
        };
        match found {
            Some(i) => self.seek_event(self.note_events()[i]),
            None => self.say(format!("no {} {}", if forward { "later" } else { "earlier" }, mark.name())),
        }
    }

    /// The first note written by the event of the current note (backward searches start before
    /// it, so they leave the current event).
    fn first_note_of_step(&self) -> usize {
        match self.current_note() {
            // The cursor is on a later event that wrote nothing: the current note is behind it.
            Some(k) if self.note_events()[k] < self.event => self.notes_seen,
            Some(k) => {
                let e = self.note_events()[k];
                self.note_events().partition_point(|&x| x < e)
            }
            None => 0,
        }
    }

    /// Goes to the note numbered `n` (as `--trace` and the verdict's "trace line #n" count).
    pub fn goto_note(&mut self, n: usize) {
        match n.checked_sub(1).and_then(|i| self.note_events().get(i)) {
            Some(&e) => self.seek_event(e),
            None => {
                self.say(format!("no trace line #{n}: the run has {} (1-{})", self.notes().len(), self.notes().len()))
            }
        }
    }

    /// Carries out the `:` prompt's text.
    pub fn goto(&mut self, text: &str) {
        let t = text.trim();
        if let Some(event) = t.strip_prefix('@') {
            match event.parse::<u64>() {
                Ok(s) => self.seek_event(s),
                Err(_) => self.say(format!("not an event number: {event:?}")),
            }
        } else if let Ok(n) = t.trim_start_matches('#').parse::<usize>() {
            self.goto_note(n);
        } else {
            match humantime::parse_duration(t) {
                Ok(d) => self.seek_time(d.as_micros().min(u64::MAX as u128) as u64),
                Err(_) => self.say(format!(
                    "go to: a trace line (170 or #170), a time (12.5s, 800ms) or an event (@51234); not {t:?}"
                )),
            }
        }
    }

    /// Does the log line of note `i` match the search (case-insensitive)?
    pub fn matches(&self, text: &str) -> bool {
        let needle = self.search.as_deref().unwrap_or("").to_lowercase();
        !needle.is_empty() && text.to_lowercase().contains(&needle)
    }

    /// Jumps to the next (or previous) note whose log line contains the search text.
    pub fn find(&mut self, forward: bool, line_of: impl Fn(&App, usize) -> String) {
        let Some(s) = self.search.clone().filter(|s| !s.is_empty()) else {
            return self.say("no search: press / and type".into());
        };
        let n = self.notes().len();
        let found = if forward {
            (self.notes_seen..n).find(|&i| self.matches(&line_of(self, i)))
        } else {
            (0..self.first_note_of_step()).rev().find(|&i| self.matches(&line_of(self, i)))
        };
        match found {
            Some(i) => self.seek_event(self.note_events()[i]),
            None => self.say(format!("{s:?} not found {}", if forward { "after here" } else { "before here" })),
        }
    }

    /// Plays on by `wall_ms` of wall time at the current speed; stops at the end.
    pub fn tick(&mut self, wall_ms: u64) {
        if !self.playing {
            return;
        }
        let advance = (wall_ms as f64 * 1000.0 * SPEEDS[self.speed]) as u64;
        let target = self.play_us.saturating_add(advance.max(1));
        self.seek_time(target);
        // Through a stretch without events the clock still runs.
        self.play_us = target;
        if self.event >= self.total_events() {
            self.playing = false;
        }
    }

    pub fn say(&mut self, m: String) {
        self.message = Some(m);
    }

    pub fn subtask_name(&self, st: SubtaskId) -> String {
        self.run.graph.subtask_name(st)
    }

    /// Where the violation marks point: every "trace line #n" an invariant violation cites,
    /// and the commit of the oracle's first impossible result.
    fn find_violations(&self) -> Vec<u64> {
        let events = self.note_events();
        let mut marks: Vec<u64> = Vec::new();
        for v in &self.run.outcome.violations {
            if let Some(rest) = v.split("trace line #").nth(1) {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Some(&e) = digits.parse::<usize>().ok().and_then(|n| events.get(n.checked_sub(1)?)) {
                    marks.push(e);
                }
            }
        }
        if let Some(at) = self.run.output.first_bad_result.as_ref().and_then(|b| b.committed_at_us) {
            // The last event at the commit's time (a commit to an append sink writes no note).
            marks.push(self.timeline.world_at_time(at, None).events());
        }
        marks.sort_unstable();
        marks.dedup();
        marks
    }
}
