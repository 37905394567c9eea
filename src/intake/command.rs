//! The `/maxion` comment grammar.
//!
//! A command is a line that starts with the command word (default `/maxion`,
//! case-insensitive) followed by whitespace or the end of the line, inside an
//! ordinary Markdown paragraph. Lines in fenced or indented code blocks, block
//! quotes and HTML (comments included) never count, so quoting someone's
//! command or showing one in an example does not run it. The first command
//! line of a comment wins.
//!
//! `/maxion` alone or followed by free text is a request to run, with the text
//! (and the rest of its paragraph) as extra instructions; `/maxion status`,
//! `cancel`, `retry` and `help` are control commands. A first word that is a
//! near miss of a control command (`cancle`) is reported as such rather than
//! silently run as instructions.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start a job, with optional extra instructions.
    Run {
        instructions: Option<String>,
    },
    Status,
    Cancel,
    Retry,
    Help,
    /// The first word looks like a mistyped control command.
    NearMiss {
        word: String,
        suggestion: &'static str,
    },
}

/// One control command: the single table both the parser and `help` use.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub help: &'static str,
    command: fn() -> Command,
}

/// Every control command. `help` text is a required field, so a command
/// cannot be added without it.
pub const CONTROL_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "status",
        help: "show the job's state, step, elapsed time and queue position",
        command: || Command::Status,
    },
    CommandSpec { name: "cancel", help: "cancel the queued or running job", command: || Command::Cancel },
    CommandSpec { name: "retry", help: "start a new job with the last job's instructions", command: || Command::Retry },
    CommandSpec {
        name: "help",
        help: "list the commands and this repository's configuration",
        command: || Command::Help,
    },
];

impl Command {
    /// The command's name as written after the command word (`run` for a run).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run { .. } => "run",
            Command::Status => "status",
            Command::Cancel => "cancel",
            Command::Retry => "retry",
            Command::Help => "help",
            Command::NearMiss { .. } => "near_miss",
        }
    }
}

/// Finds the first command in a comment body, or `None`.
pub fn parse_command(body: &str, command_word: &str) -> Option<Command> {
    let body = body.replace("\r\n", "\n");
    for paragraph in eligible_paragraphs(&body) {
        let lines: Vec<&str> = paragraph.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = strip_command_word(line.trim_start(), command_word) {
                let mut text = rest.trim().to_owned();
                for more in &lines[i + 1..] {
                    text.push('\n');
                    text.push_str(more.trim());
                }
                return Some(interpret(text.trim()));
            }
        }
    }
    None
}

/// The source text of every paragraph that is not inside a block quote,
/// code block, or HTML block.
fn eligible_paragraphs(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote_depth = 0usize;
    for (event, range) in Parser::new(body).into_offset_iter() {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::Paragraph) if quote_depth == 0 => {
                if let Some(text) = body.get(range) {
                    out.push(text);
                }
            }
            _ => {}
        }
    }
    out
}

/// `Some(rest)` when `line` starts with the command word followed by
/// whitespace or the end of the line (`/maxionfoo` is not a command).
fn strip_command_word<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let head = line.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &line[word.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() => Some(rest),
        Some(_) => None,
    }
}

fn interpret(text: &str) -> Command {
    if text.is_empty() {
        return Command::Run { instructions: None };
    }
    let first_line = text.lines().next().unwrap_or_default();
    let first = first_line.split_whitespace().next().unwrap_or_default();
    let word = first.trim_end_matches(['.', ',', '!', ':', ';']).to_ascii_lowercase();
    if let Some(spec) = CONTROL_COMMANDS.iter().find(|c| c.name == word) {
        return (spec.command)();
    }
    // A lone word close to a command name is almost certainly a typo; running
    // a paid agent on "cancle" as instructions would be the wrong guess.
    let lone_word = first_line.split_whitespace().count() == 1 && text.lines().count() == 1;
    if lone_word
        && word.chars().all(|c| c.is_ascii_alphabetic())
        && let Some(spec) = CONTROL_COMMANDS
            .iter()
            .filter(|c| edit_distance(&word, c.name) <= near_miss_limit(c.name))
            .min_by_key(|c| edit_distance(&word, c.name))
    {
        return Command::NearMiss { word, suggestion: spec.name };
    }
    Command::Run { instructions: Some(text.to_owned()) }
}

fn near_miss_limit(name: &str) -> usize {
    if name.len() <= 4 { 1 } else { 2 }
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Option<Command> {
        parse_command(body, "/maxion")
    }

    fn run(text: &str) -> Option<Command> {
        Some(Command::Run { instructions: Some(text.to_owned()) })
    }

    #[test]
    fn bare_command_runs() {
        assert_eq!(p("/maxion"), Some(Command::Run { instructions: None }));
        assert_eq!(p("/maxion   "), Some(Command::Run { instructions: None }));
    }

    #[test]
    fn free_text_is_instructions() {
        assert_eq!(p("/maxion please add tests"), run("please add tests"));
        assert_eq!(p("/maxion please add tests\nand docs too\n\nunrelated"), run("please add tests\nand docs too"));
    }

    #[test]
    fn control_commands() {
        assert_eq!(p("/maxion status"), Some(Command::Status));
        assert_eq!(p("/maxion cancel"), Some(Command::Cancel));
        assert_eq!(p("/maxion retry"), Some(Command::Retry));
        assert_eq!(p("/maxion help"), Some(Command::Help));
        assert_eq!(p("/maxion cancel, wrong issue"), Some(Command::Cancel));
        assert_eq!(p("/maxion status."), Some(Command::Status));
    }

    #[test]
    fn word_must_end_at_whitespace() {
        assert_eq!(p("/maxionfoo"), None);
        assert_eq!(p("/maxion-bot status"), None);
        assert_eq!(p("/maxions"), None);
    }

    #[test]
    fn case_and_spacing() {
        assert_eq!(p("/MAXION STATUS"), Some(Command::Status));
        assert_eq!(p("   /maxion help"), Some(Command::Help));
        assert_eq!(p("/maxion\tstatus"), Some(Command::Status));
        assert_eq!(p("hello\r\n/maxion cancel\r\n"), Some(Command::Cancel));
        assert_eq!(p("/maxion fix it\r\nplease\r\n"), run("fix it\nplease"));
    }

    #[test]
    fn must_start_the_line() {
        assert_eq!(p("please /maxion status"), None);
        assert_eq!(p("`/maxion status`"), None);
    }

    #[test]
    fn code_quotes_and_html_are_ignored() {
        assert_eq!(p("```\n/maxion cancel\n```"), None);
        assert_eq!(p("~~~md\n/maxion cancel\n~~~"), None);
        assert_eq!(p("text\n\n    /maxion cancel\n"), None);
        assert_eq!(p("> /maxion cancel"), None);
        assert_eq!(p("> quote\n> /maxion cancel"), None);
        assert_eq!(p("<!--\n/maxion cancel\n-->"), None);
        assert_eq!(p("> /maxion cancel\n\n/maxion status"), Some(Command::Status));
    }

    #[test]
    fn first_command_wins() {
        assert_eq!(p("/maxion status\n/maxion cancel"), Some(Command::Status));
        assert_eq!(p("intro\n\n/maxion help\n\n/maxion cancel"), Some(Command::Help));
    }

    #[test]
    fn near_misses_are_flagged_not_run() {
        assert_eq!(p("/maxion cancle"), Some(Command::NearMiss { word: "cancle".into(), suggestion: "cancel" }));
        assert_eq!(p("/maxion stauts"), Some(Command::NearMiss { word: "stauts".into(), suggestion: "status" }));
        assert_eq!(p("/maxion hepl"), Some(Command::NearMiss { word: "hepl".into(), suggestion: "help" }));
        // Real words and longer text stay instructions.
        assert_eq!(p("/maxion refactor"), run("refactor"));
        assert_eq!(p("/maxion cancle the timer feature"), run("cancle the timer feature"));
    }

    #[test]
    fn custom_command_word() {
        assert_eq!(parse_command("/bot status", "/bot"), Some(Command::Status));
        assert_eq!(parse_command("/maxion status", "/bot"), None);
    }

    #[test]
    fn every_control_command_parses_to_itself_and_has_help() {
        for spec in CONTROL_COMMANDS {
            assert!(!spec.help.trim().is_empty(), "{} has no help", spec.name);
            let parsed = p(&format!("/maxion {}", spec.name)).expect("parses");
            assert_eq!(parsed.name(), spec.name);
        }
    }

    #[test]
    fn no_body_panics() {
        for body in ["", "\n", "/", "/maxion\u{0}", "\u{feff}/maxion", "/maxion é", "````\n/maxion"] {
            let _ = p(body);
        }
    }
}
