//! A job's event log arranged for its page: lines numbered from 1 (the
//! `#L123` permalinks), grouped by the step that wrote them, each step with
//! its duration and result; and the raw text of `/jobs/{id}/log.txt`.

use std::fmt::Write as _;

use crate::jobs::{JobEvent, OutputStream, StepStop, StoredEvent};

/// One step as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepBlock {
    /// `setup`, `implement`, `verify`, …; `job` for lines outside any step.
    pub name: String,
    /// `None` while running (or for the `job` block).
    pub ok: Option<bool>,
    pub exit_code: Option<i64>,
    pub stopped: Option<StepStop>,
    pub duration_ms: Option<u64>,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based, over the whole log: `#L{number}`.
    pub number: usize,
    /// The stored event this line came from (what the live stream resumes after).
    pub event_id: i64,
    pub kind: LineKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Stdout,
    Stderr,
    /// Maxion's own notes: state changes, info, errors.
    Note,
    Error,
}

impl LineKind {
    pub fn class(self) -> &'static str {
        match self {
            LineKind::Stdout => "out",
            LineKind::Stderr => "err",
            LineKind::Note => "note",
            LineKind::Error => "error",
        }
    }
}

/// The events as step blocks, in order. Output text is split into lines; an
/// output event that ends without a newline still makes its own line (the
/// live script does the same, so numbers agree).
pub fn group(events: &[StoredEvent]) -> Vec<StepBlock> {
    let mut blocks: Vec<StepBlock> = Vec::new();
    let mut number = 0;
    let mut open: Option<usize> = None;
    let block = |blocks: &mut Vec<StepBlock>, open: &mut Option<usize>, name: &str| -> usize {
        if let Some(i) = *open
            && blocks[i].name == name
        {
            return i;
        }
        blocks.push(StepBlock {
            name: name.to_owned(),
            ok: None,
            exit_code: None,
            stopped: None,
            duration_ms: None,
            lines: Vec::new(),
        });
        *open = Some(blocks.len() - 1);
        blocks.len() - 1
    };
    for e in events {
        let (i, kind, text) = match &e.event {
            JobEvent::StepStarted { step } => {
                open = None;
                let _ = block(&mut blocks, &mut open, step);
                continue;
            }
            JobEvent::StepFinished { step, ok, exit_code, duration_ms, stopped } => {
                let i = block(&mut blocks, &mut open, step);
                let b = &mut blocks[i];
                (b.ok, b.exit_code, b.duration_ms, b.stopped) = (Some(*ok), *exit_code, Some(*duration_ms), *stopped);
                open = None;
                continue;
            }
            JobEvent::Output { step, stream, text } => {
                let kind = if *stream == OutputStream::Stderr { LineKind::Stderr } else { LineKind::Stdout };
                (block(&mut blocks, &mut open, step), kind, text.clone())
            }
            other => {
                let name = open.map(|i| blocks[i].name.clone()).unwrap_or_else(|| "job".to_owned());
                let kind = if matches!(other, JobEvent::Error { .. }) { LineKind::Error } else { LineKind::Note };
                (block(&mut blocks, &mut open, &name), kind, note(other))
            }
        };
        for piece in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
            number += 1;
            blocks[i].lines.push(Line {
                number,
                event_id: e.id,
                kind,
                text: piece.strip_suffix('\r').unwrap_or(piece).to_owned(),
            });
        }
    }
    blocks
}

/// How a non-output event reads in the log.
pub fn note(event: &JobEvent) -> String {
    crate::report::text::web::log_note(event)
}

/// The whole log as plain text: one line per log line, in order, with the
/// step it belongs to. ANSI codes are kept (what the tools printed).
pub fn raw(events: &[StoredEvent]) -> String {
    let mut out = String::new();
    for b in group(events) {
        for l in &b.lines {
            let _ = writeln!(out, "{}", l.text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobId, JobState};

    fn ev(id: i64, event: JobEvent) -> StoredEvent {
        StoredEvent { id, job_id: JobId(1), at: chrono::Utc::now(), event }
    }

    fn out(step: &str, text: &str) -> JobEvent {
        JobEvent::Output { step: step.into(), stream: OutputStream::Stdout, text: text.into() }
    }

    #[test]
    fn lines_are_numbered_across_steps_and_grouped() {
        let events = vec![
            ev(1, JobEvent::StateChanged { from: JobState::Queued, to: JobState::Running, reason: None }),
            ev(2, JobEvent::StepStarted { step: "setup".into() }),
            ev(3, out("setup", "one\ntwo\n")),
            ev(
                4,
                JobEvent::StepFinished {
                    step: "setup".into(),
                    ok: true,
                    exit_code: Some(0),
                    duration_ms: 1200,
                    stopped: None,
                },
            ),
            ev(5, JobEvent::StepStarted { step: "verify".into() }),
            ev(6, out("verify", "three")),
            ev(
                7,
                JobEvent::StepFinished {
                    step: "verify".into(),
                    ok: false,
                    exit_code: Some(1),
                    duration_ms: 5,
                    stopped: None,
                },
            ),
        ];
        let blocks = group(&events);
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["job", "setup", "verify"]);
        assert_eq!(
            blocks[1].lines.iter().map(|l| (l.number, l.text.as_str())).collect::<Vec<_>>(),
            [(2, "one"), (3, "two")]
        );
        assert_eq!((blocks[2].ok, blocks[2].exit_code, blocks[2].lines[0].number), (Some(false), Some(1), 4));
        assert_eq!(raw(&events).lines().count(), 4);
    }

    #[test]
    fn the_same_step_twice_is_two_blocks() {
        let events = vec![
            ev(1, JobEvent::StepStarted { step: "verify".into() }),
            ev(
                2,
                JobEvent::StepFinished {
                    step: "verify".into(),
                    ok: true,
                    exit_code: Some(0),
                    duration_ms: 1,
                    stopped: None,
                },
            ),
            ev(3, JobEvent::StepStarted { step: "verify".into() }),
            ev(4, out("verify", "x")),
        ];
        let blocks = group(&events);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].ok, None);
    }
}
