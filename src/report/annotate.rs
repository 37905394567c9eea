//! Turns compiler and linter output into check-run annotations: every
//! diagnostic that names a file and a line. Understands the common shapes:
//! `path:line[:col]: message` (gcc, clang, go, eslint unix, ruff, flake8,
//! mypy), `path(line,col): message` (tsc), and rustc's `error: ...` followed by
//! `--> path:line:col`. Pure text processing; no I/O.

use crate::github::{Annotation, AnnotationLevel};

/// More annotations than this are noise; the full log is on the job page.
pub const MAX_ANNOTATIONS: usize = 200;

/// Annotations for diagnostics in `output`. `workspace` is the checkout path
/// inside the sandbox (e.g. `/workspace`); paths under it become relative,
/// other absolute paths (toolchains, dependencies) are dropped.
pub fn annotations(output: &str, workspace: &str) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = Vec::new();
    let mut rust_header: Option<(AnnotationLevel, String)> = None;
    for raw in output.lines() {
        let line = raw.trim_end();
        if let Some(h) = rustc_header(line) {
            rust_header = Some(h);
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(loc) = trimmed.strip_prefix("--> ") {
            if let (Some((level, message)), Some((path, ln))) = (rust_header.take(), location(loc))
            {
                push(&mut out, workspace, path, ln, level, message);
            }
            continue;
        }
        if let Some((path, ln, rest)) = colon_form(trimmed).or_else(|| paren_form(trimmed)) {
            push(
                &mut out,
                workspace,
                path,
                ln,
                level_of(rest),
                rest.trim().to_owned(),
            );
        }
        if out.len() >= MAX_ANNOTATIONS {
            break;
        }
    }
    out
}

fn push(
    out: &mut Vec<Annotation>,
    workspace: &str,
    path: &str,
    line: u32,
    level: AnnotationLevel,
    message: String,
) {
    let Some(path) = relative(path, workspace) else {
        return;
    };
    if message.is_empty()
        || out
            .iter()
            .any(|a| a.path == path && a.start_line == line && a.message == message)
    {
        return;
    }
    out.push(Annotation {
        path,
        start_line: line,
        end_line: line,
        annotation_level: level,
        message,
        title: None,
    });
}

fn relative(path: &str, workspace: &str) -> Option<String> {
    let ws = workspace.trim_end_matches('/');
    let p = if !ws.is_empty() && path.starts_with(ws) && path[ws.len()..].starts_with('/') {
        &path[ws.len() + 1..]
    } else if path.starts_with('/') {
        return None;
    } else {
        path
    };
    let p = p.trim_start_matches("./");
    (!p.is_empty() && !p.split('/').any(|seg| seg == "..")).then(|| p.to_owned())
}

/// `error[E0308]: mismatched types` / `warning: unused variable`.
fn rustc_header(line: &str) -> Option<(AnnotationLevel, String)> {
    let (level, rest) = if let Some(r) = line.strip_prefix("error") {
        (AnnotationLevel::Failure, r)
    } else if let Some(r) = line.strip_prefix("warning") {
        (AnnotationLevel::Warning, r)
    } else {
        return None;
    };
    let rest = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']')?.1,
        None => rest,
    };
    rest.strip_prefix(": ")?;
    // `error: could not compile` and summaries have no `-->` line; the next
    // header replaces them, so they never become annotations.
    Some((level, line.to_owned()))
}

/// `path:line:col` (col optional).
fn location(s: &str) -> Option<(&str, u32)> {
    let mut parts = s.trim().splitn(3, ':');
    let path = parts.next()?;
    let line = parts.next()?.parse().ok()?;
    plausible_path(path).then_some((path, line))
}

/// `path:line[:col]: message`.
fn colon_form(s: &str) -> Option<(&str, u32, &str)> {
    let (path, rest) = s.split_once(':')?;
    let (line, rest) = rest.split_once(':')?;
    let line: u32 = line.parse().ok()?;
    let rest = match rest.split_once(':') {
        Some((col, after)) if !col.is_empty() && col.bytes().all(|b| b.is_ascii_digit()) => after,
        _ => rest,
    };
    (plausible_path(path) && line > 0).then_some((path, line, rest))
}

/// `path(line,col): message`.
fn paren_form(s: &str) -> Option<(&str, u32, &str)> {
    let (path, rest) = s.split_once('(')?;
    let (nums, rest) = rest.split_once("):")?;
    let line: u32 = nums.split(',').next()?.parse().ok()?;
    (plausible_path(path) && line > 0).then_some((path, line, rest))
}

fn plausible_path(p: &str) -> bool {
    !p.is_empty() && !p.contains(char::is_whitespace) && p.contains('.') && !p.starts_with("http")
}

fn level_of(message: &str) -> AnnotationLevel {
    let m = message.trim_start().to_ascii_lowercase();
    if m.starts_with("warning") || m.starts_with("warn") {
        AnnotationLevel::Warning
    } else if m.starts_with("note") || m.starts_with("info") {
        AnnotationLevel::Notice
    } else {
        AnnotationLevel::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustc_diagnostics_take_the_location_from_the_arrow_line() {
        let out = "\
error[E0308]: mismatched types
  --> src/lib.rs:12:9
   |
12 |     let x: u32 = -1i64;
warning: unused variable: `y`
 --> /workspace/src/main.rs:3:9
error: could not compile `demo` (lib) due to 1 previous error
";
        let a = annotations(out, "/workspace");
        assert_eq!(a.len(), 2, "{a:#?}");
        assert_eq!((a[0].path.as_str(), a[0].start_line), ("src/lib.rs", 12));
        assert_eq!(a[0].annotation_level, AnnotationLevel::Failure);
        assert_eq!(a[0].message, "error[E0308]: mismatched types");
        assert_eq!((a[1].path.as_str(), a[1].start_line), ("src/main.rs", 3));
        assert_eq!(a[1].annotation_level, AnnotationLevel::Warning);
    }

    #[test]
    fn colon_and_paren_forms() {
        let out = "\
./cmd/main.go:7:2: undefined: foo
src/app.py:10: error: Incompatible types in assignment
src/app.py:11:1: F401 'os' imported but unused
web/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.
/usr/lib/gcc/include/stdio.h:4:1: error: outside the repository
Compiling 3 files: done
see https://example.com:443/x for details
";
        let a = annotations(out, "/workspace");
        let got: Vec<(&str, u32)> = a.iter().map(|x| (x.path.as_str(), x.start_line)).collect();
        assert_eq!(
            got,
            vec![
                ("cmd/main.go", 7),
                ("src/app.py", 10),
                ("src/app.py", 11),
                ("web/a.ts", 3)
            ]
        );
        assert_eq!(a[0].message, "undefined: foo");
        assert!(a[3].message.starts_with("error TS2322"));
    }

    #[test]
    fn duplicates_and_escapes_are_dropped_and_the_count_is_capped() {
        let dup = "src/a.rs:1:1: error: x\nsrc/a.rs:1:1: error: x\n../etc/passwd:1: error: y\n";
        assert_eq!(annotations(dup, "/workspace").len(), 1);
        let many: String = (1..=500)
            .map(|i| format!("src/a.rs:{i}: error: e\n"))
            .collect();
        assert_eq!(annotations(&many, "/workspace").len(), MAX_ANNOTATIONS);
    }
}
