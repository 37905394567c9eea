//! ANSI colour codes (SGR: `ESC [ … m`) in log lines → styled segments the
//! page renders as `<span class="…">`. Only colours, bold, dim, italic and
//! underline are kept; every other escape sequence is dropped, so a log can
//! neither move the cursor nor inject markup (segments are escaped by maud).

/// How a segment looks: CSS class names, e.g. `["fg1", "b"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    pub fn classes(&self) -> String {
        let mut c = Vec::new();
        if let Some(n) = self.fg {
            c.push(format!("fg{n}"));
        }
        if let Some(n) = self.bg {
            c.push(format!("bg{n}"));
        }
        for (on, name) in [(self.bold, "b"), (self.dim, "d"), (self.italic, "i"), (self.underline, "u")] {
            if on {
                c.push(name.to_owned());
            }
        }
        c.join(" ")
    }

    pub fn is_plain(&self) -> bool {
        *self == Style::default()
    }

    fn apply(&mut self, params: &str) {
        let mut codes = params.split(';').map(|p| p.parse::<u16>().unwrap_or(0)).peekable();
        if params.is_empty() {
            *self = Style::default();
            return;
        }
        while let Some(code) = codes.next() {
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some((code - 30) as u8),
                90..=97 => self.fg = Some((code - 90 + 8) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((code - 40) as u8),
                100..=107 => self.bg = Some((code - 100 + 8) as u8),
                49 => self.bg = None,
                // 256-colour and true-colour forms: the first 16 map onto the
                // palette, the rest are dropped (their arguments skipped).
                38 | 48 => {
                    let colour = match codes.next() {
                        Some(5) => codes.next().filter(|n| *n < 16).map(|n| n as u8),
                        Some(2) => {
                            let _ = (codes.next(), codes.next(), codes.next());
                            None
                        }
                        _ => None,
                    };
                    if code == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Splits `line` into styled segments, carrying `style` across lines (a
/// colour set on one line and reset on a later one).
pub fn segments(line: &str, style: &mut Style) -> Vec<(Style, String)> {
    let mut out: Vec<(Style, String)> = Vec::new();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<(Style, String)>, text: &mut String, style: &Style| {
        if !text.is_empty() {
            out.push((style.clone(), std::mem::take(text)));
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if !c.is_control() || c == '\t' {
                text.push(c);
            }
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                let mut params = String::new();
                let mut last = None;
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        last = Some(c);
                        break;
                    }
                    params.push(c);
                }
                if last == Some('m') {
                    flush(&mut out, &mut text, style);
                    style.apply(&params);
                }
            }
            // OSC (e.g. hyperlinks, titles): up to BEL or ESC \.
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    flush(&mut out, &mut text, style);
    out
}

/// The line without any escape sequence (for search and the raw log's readers).
pub fn strip(line: &str) -> String {
    segments(line, &mut Style::default()).into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(line: &str) -> String {
        let mut style = Style::default();
        segments(line, &mut style)
            .into_iter()
            .map(|(s, t)| if s.is_plain() { t } else { format!("[{}]{t}", s.classes()) })
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn colours_and_resets() {
        assert_eq!(show("\u{1b}[1;31merror\u{1b}[0m: bad"), "[fg1 b]error|: bad");
        assert_eq!(show("\u{1b}[32mok\u{1b}[39m done"), "[fg2]ok| done");
        assert_eq!(show("\u{1b}[38;5;9mbright\u{1b}[m"), "[fg9]bright");
        assert_eq!(show("\u{1b}[38;2;1;2;3mtrue\u{1b}[0m"), "true");
    }

    #[test]
    fn other_escapes_are_dropped() {
        assert_eq!(show("a\u{1b}[2Kb\u{1b}]8;;http://x\u{7}c\u{1b}]8;;\u{1b}\\d\re"), "abcde");
        assert_eq!(strip("\u{1b}[31m<b>\u{1b}[0m"), "<b>");
    }

    #[test]
    fn style_carries_across_lines() {
        let mut style = Style::default();
        let _ = segments("\u{1b}[33mstart", &mut style);
        let next = segments("more\u{1b}[0m end", &mut style);
        assert_eq!(next[0].0.classes(), "fg3");
        assert!(next[1].0.is_plain());
    }
}
