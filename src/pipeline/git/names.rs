//! Names and messages: repository names (they become paths under the data
//! dir), the conventional-commit check and the `Co-authored-by` trailer; the
//! branch-name rules live in `crate::branch` (a repository's configured
//! prefix is checked with them too). Pure functions; touches nothing.

use super::GitError;

/// The commit types accepted as conventional (the set commitlint's
/// conventional config knows).
const COMMIT_TYPES: &[&str] =
    &["feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert"];

pub use crate::branch::branch_name;

/// [`crate::branch::validate_branch`] as a [`GitError`], for the git layer.
pub fn validate_branch(name: &str) -> Result<(), GitError> {
    crate::branch::validate_branch(name).map_err(GitError::Invalid)
}

/// Splits `owner/name` and checks both halves are safe as path components
/// (GitHub allows ASCII letters, digits, `-`, `_` and `.` in them).
pub(crate) fn split_full_name(full_name: &str) -> Result<(&str, &str), GitError> {
    let invalid = || GitError::Invalid(format!("repository name {full_name:?} is not owner/name"));
    let (owner, name) = full_name.split_once('/').ok_or_else(invalid)?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if ok(owner) && ok(name) { Ok((owner, name)) } else { Err(invalid()) }
}

/// True when the message's first line reads `type(scope)!: subject` (scope
/// and `!` optional, type one of the conventional set, header at most 100
/// characters) and a body, if any, is separated by a blank line.
pub fn is_conventional_commit(msg: &str) -> bool {
    let mut lines = msg.trim_end().lines();
    let Some(header) = lines.next() else { return false };
    if let Some(second) = lines.next()
        && !second.trim().is_empty()
    {
        return false;
    }
    if header.chars().count() > 100 {
        return false;
    }
    let Some((head, subject)) = header.split_once(": ") else { return false };
    if subject.trim().is_empty() || subject.starts_with(' ') {
        return false;
    }
    let head = head.strip_suffix('!').unwrap_or(head);
    let (kind, scope) = match head.split_once('(') {
        Some((kind, rest)) => match rest.strip_suffix(')') {
            Some(scope) => (kind, Some(scope)),
            None => return false,
        },
        None => (head, None),
    };
    if let Some(scope) = scope
        && (scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '(' || c == ')'))
    {
        return false;
    }
    COMMIT_TYPES.contains(&kind)
}

/// The commit message a job uses: the agent's own when it is a valid
/// conventional commit, else `feat: <issue title> (#<n>)`.
pub fn commit_message(agent_message: Option<&str>, issue_title: &str, issue_number: u64) -> String {
    match agent_message.map(str::trim) {
        Some(m) if is_conventional_commit(m) => m.to_owned(),
        _ => {
            let title: String = issue_title.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("feat: {title} (#{issue_number})")
        }
    }
}

/// A GitHub user credited with `Co-authored-by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoAuthor {
    pub login: String,
    pub id: i64,
}

impl CoAuthor {
    /// `Co-authored-by: login <id+login@users.noreply.github.com>`, the form
    /// GitHub links to the account.
    pub fn trailer(&self) -> String {
        format!("Co-authored-by: {0} <{1}+{0}@users.noreply.github.com>", self.login, self.id)
    }
}

/// The message with the co-author trailer appended (once), in the trailer
/// block git and GitHub recognise: after a blank line, or joined to an
/// existing trailer block.
pub(crate) fn with_trailer(message: &str, co_author: Option<&CoAuthor>) -> String {
    let message = message.trim_end();
    let Some(co) = co_author else { return format!("{message}\n") };
    let trailer = co.trailer();
    if message.lines().any(|l| l.trim() == trailer) {
        return format!("{message}\n");
    }
    let last_paragraph = message.rsplit("\n\n").next().unwrap_or("");
    let is_trailer_block = message.contains("\n\n")
        && last_paragraph.lines().all(|l| l.split_once(": ").is_some_and(|(k, _)| !k.contains(' ')));
    let sep = if is_trailer_block { "\n" } else { "\n\n" };
    format!("{message}{sep}{trailer}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_are_safe_paths() {
        assert_eq!(split_full_name("o-1/r.js").ok(), Some(("o-1", "r.js")));
        for bad in ["o", "o/../x", "../o/r", "o/r/x", "o/.git", "/r", "o/"] {
            assert!(split_full_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn conventional_commits() {
        for ok in ["feat: add x", "fix(parser): handle y", "feat(api)!: drop v1", "chore!: bump", "docs: a\n\nbody"] {
            assert!(is_conventional_commit(ok), "{ok:?}");
        }
        for bad in [
            "add x",
            "feat:add x",
            "feat: ",
            "Feat: x",
            "wip: x",
            "feat(): x",
            "feat(a b): x",
            "feat: x\nbody",
            "",
            &format!("feat: {}", "x".repeat(100)),
        ] {
            assert!(!is_conventional_commit(bad), "{bad:?}");
        }
        assert_eq!(commit_message(Some("  fix: y \n"), "T", 1), "fix: y");
        assert_eq!(commit_message(Some("did stuff"), "Login  times\nout", 9), "feat: Login times out (#9)");
        assert_eq!(commit_message(None, "T", 2), "feat: T (#2)");
    }

    #[test]
    fn co_author_trailer() {
        let co = CoAuthor { login: "octo".into(), id: 583231 };
        assert_eq!(
            with_trailer("feat: x", Some(&co)),
            "feat: x\n\nCo-authored-by: octo <583231+octo@users.noreply.github.com>\n"
        );
        let with_block = "feat: x\n\nbody text\n\nRefs: #1";
        assert_eq!(with_trailer(with_block, Some(&co)), format!("{with_block}\n{}\n", co.trailer()));
        let once = with_trailer("feat: x", Some(&co));
        assert_eq!(with_trailer(&once, Some(&co)), once);
        assert_eq!(with_trailer("feat: x\n\n", None), "feat: x\n");
    }
}
