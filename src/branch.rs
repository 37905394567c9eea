//! Branch names: how a job's branch is named, and which names are safe. Every
//! name reaches a git argv, so one that looks like an option must never pass.
//! A leaf: the repository configuration checks a configured prefix with these
//! rules, and host git checks every branch it touches.

/// Longest slug taken from an issue title.
const SLUG_MAX: usize = 40;

/// `<prefix>/issue-<number>-<slug>`, e.g. `maxion/issue-42-fix-login-timeout`.
/// The slug is the title lowercased, runs of anything but ASCII letters and
/// digits turned into one `-`, at most 40 characters, never empty.
pub fn branch_name(prefix: &str, number: u64, title: &str) -> String {
    let prefix = prefix.trim_matches('/');
    format!("{prefix}/issue-{number}-{}", slug(title))
}

fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= SLUG_MAX {
            break;
        }
    }
    out.truncate(SLUG_MAX);
    let out = out.trim_end_matches('-');
    if out.is_empty() { "change".to_owned() } else { out.to_owned() }
}

/// Checks a branch name against git's ref-name rules, and stricter: no
/// leading `-` (it would read as an option) and printable ASCII only.
pub fn validate_branch(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("branch name {name:?}: {why}"));
    if name.is_empty() || name.len() > 200 {
        return bad("empty or longer than 200 bytes");
    }
    if name.starts_with('-') || name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return bad("starts with '-' or '/', or ends with '/' or '.'");
    }
    if name.bytes().any(|b| !(0x21..0x7f).contains(&b) || b"~^:?*[\\".contains(&b)) {
        return bad("contains a space, control, non-ASCII or one of ~^:?*[\\");
    }
    if name.contains("..") || name.contains("//") || name.contains("@{") || name == "@" {
        return bad("contains '..', '//' or '@{'");
    }
    if name.split('/').any(|part| part.starts_with('.') || part.ends_with(".lock")) {
        return bad("a component starts with '.' or ends with '.lock'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        assert_eq!(branch_name("maxion", 42, "Fix: login times out!"), "maxion/issue-42-fix-login-times-out");
        assert_eq!(branch_name("maxion/", 7, "日本語"), "maxion/issue-7-change");
        assert_eq!(branch_name("maxion", 7, ""), "maxion/issue-7-change");
        let long = branch_name("maxion", 1, &"word ".repeat(30));
        let slug = long.trim_start_matches("maxion/issue-1-");
        assert!(slug.len() <= SLUG_MAX && !slug.ends_with('-'), "{long}");
        assert!(validate_branch(&long).is_ok());
        assert!(validate_branch(&branch_name("maxion", 3, "--upload-pack=evil")).is_ok());
    }

    #[test]
    fn branch_validation_rejects_option_lookalikes_and_bad_refs() {
        for bad in ["", "-f", "--force", "a..b", "a b", "a/.hidden", "x.lock", "a//b", "a@{1}", "a~1", "é", "a/"] {
            assert!(validate_branch(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["main", "maxion/issue-1-x", "release/v1.2", "feature_x"] {
            assert!(validate_branch(good).is_ok(), "{good:?} refused");
        }
    }
}
