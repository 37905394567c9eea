//! GATHER: reads everything the brief needs through [`RepoClient`], at the
//! default branch's head commit, and returns a [`BriefInput`] plus the
//! commands the job will run (configured, or detected here).
//!
//! Only GitHub API calls; no disk, no git. Comments count only when their
//! author has write access or above (looked up once per login per job).
//! Related items are context, not the task: failures to fetch them are
//! logged and the brief goes without.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, bail};

use super::{BriefInput, FileText, IssueComment, IssueText, LeftOut, Limits, RelatedEntry, TreeListing};
use super::{mentioned_paths, prune_tree};
use crate::github::{CommentId, IssueNumber, RelatedItem, RepoClient, RepoPermission};
use crate::pipeline::detect::{self, CommandPlan, PROBE_FILES};
use crate::pipeline::sanitize::sanitize;

/// Guideline files included where present, in this order.
pub const GUIDELINE_FILES: &[&str] = &["AGENTS.md", "CLAUDE.md", "CONTRIBUTING.md", ".github/copilot-instructions.md"];

/// Files larger than this (per the tree) are not fetched; the contents API
/// does not inline them anyway.
const MAX_FETCH_BYTES: u64 = 1_000_000;

/// What the job knows when it gathers.
#[derive(Debug, Clone)]
pub struct GatherRequest<'a> {
    pub issue_number: IssueNumber,
    /// Extra instructions from `/maxion <text>`.
    pub instructions: Option<&'a str>,
    pub triggered_by: &'a str,
    /// The `/maxion` comment itself: its text is `instructions`, not a comment.
    pub trigger_comment_id: Option<CommentId>,
    /// Also show comments by users without write access (marked as such).
    /// Off by default: anyone can comment on a public issue.
    pub include_untrusted_comments: bool,
    /// The repository's configured commands; `None` detects them.
    pub commands: Option<CommandPlan>,
    pub limits: &'a Limits,
}

/// The gathered brief input and the facts the rest of the job reuses.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub input: BriefInput,
    /// The commands in the brief: configured, or detected from the tree.
    pub commands: CommandPlan,
    pub default_branch: String,
    /// The default branch's head commit everything was read at.
    pub head_sha: String,
    pub clone_url: String,
}

pub async fn gather(client: &RepoClient, req: &GatherRequest<'_>) -> anyhow::Result<Gathered> {
    let limits = req.limits;
    let repo = client.get_repository().await.context("reading the repository")?;
    let Some(head_sha) = client.branch_head(&repo.default_branch).await.context("reading the default branch")? else {
        bail!("the default branch `{}` does not exist", repo.default_branch);
    };
    let issue =
        client.get_issue(req.issue_number).await.with_context(|| format!("reading issue #{}", req.issue_number))?;

    let (comments, left_out) = trusted_comments(client, req).await?;

    let tree = client.get_tree(&head_sha).await.context("reading the repository tree")?;
    let sizes: BTreeMap<String, Option<u64>> =
        tree.tree.iter().filter(|e| e.kind == "blob").map(|e| (e.path.clone(), e.size)).collect();
    let blob_paths: Vec<String> = sizes.keys().cloned().collect();
    let blob_set: BTreeSet<String> = sizes.keys().cloned().collect();

    let mut guidelines = Vec::new();
    for path in GUIDELINE_FILES.iter().filter(|p| blob_set.contains(**p)) {
        guidelines.push(read_text(client, path, &head_sha, sizes.get(*path).copied().flatten()).await?);
    }

    let commands = match &req.commands {
        Some(c) => c.clone(),
        None => {
            let mut probes = BTreeMap::new();
            for path in PROBE_FILES.iter().filter(|p| blob_set.contains(**p)) {
                let f = read_text(client, path, &head_sha, sizes.get(*path).copied().flatten()).await?;
                if f.note.is_none() {
                    probes.insert(f.path, f.text);
                }
            }
            detect::detect(&blob_paths, &probes)
        }
    };

    // Only what a maintainer can see names files: sanitized text, trusted comments.
    let mut named_in = format!("{}\n{}\n", issue.title, issue.body.as_deref().unwrap_or(""));
    named_in.push_str(req.instructions.unwrap_or(""));
    for c in comments.iter().filter(|c| c.has_write_access()) {
        named_in.push('\n');
        named_in.push_str(&c.body);
    }
    let mut named_files = Vec::new();
    let named = mentioned_paths(&sanitize(&named_in), &blob_set, limits.named_files_max + GUIDELINE_FILES.len());
    for path in named.iter().filter(|p| !GUIDELINE_FILES.contains(&p.as_str())).take(limits.named_files_max) {
        named_files.push(read_text(client, path, &head_sha, sizes.get(path).copied().flatten()).await?);
    }

    let related = related(client, req.issue_number, limits).await;

    let input = BriefInput {
        repository: repo.full_name.clone(),
        default_branch: repo.default_branch.clone(),
        head_sha: head_sha.clone(),
        issue: IssueText {
            number: issue.number,
            title: issue.title,
            body: issue.body.unwrap_or_default(),
            labels: issue.labels,
            author: issue.author,
            url: issue.html_url,
        },
        instructions: req.instructions.map(str::to_owned),
        triggered_by: req.triggered_by.to_owned(),
        comments,
        left_out,
        guidelines,
        named_files,
        related,
        tree: TreeListing {
            lines: prune_tree(&blob_paths, limits.tree_lines),
            total_files: blob_paths.len(),
            incomplete: tree.truncated,
        },
        commands: commands.clone(),
        // Filled from `.github/maxion.yml` by the pipeline (`pipeline::plan`).
        repo_instructions: None,
        protected_paths: Vec::new(),
        // Filled by the pipeline for a follow-up (it knows the branch).
        follow_up: None,
    };
    Ok(Gathered { input, commands, default_branch: repo.default_branch, head_sha, clone_url: repo.clone_url })
}

async fn trusted_comments(
    client: &RepoClient,
    req: &GatherRequest<'_>,
) -> anyhow::Result<(Vec<IssueComment>, LeftOut)> {
    let all = client.list_comments(req.issue_number).await.context("reading the issue's comments")?;
    let mut permissions: HashMap<String, RepoPermission> = HashMap::new();
    let mut out = Vec::new();
    let mut left_out = LeftOut::default();
    for c in all {
        if Some(c.id) == req.trigger_comment_id {
            continue;
        }
        let Some(user) = c.user else {
            left_out.untrusted_comments += 1;
            continue;
        };
        if user.kind == "Bot" || user.login.ends_with("[bot]") {
            left_out.bot_comments += 1;
            continue;
        }
        let permission = match permissions.get(&user.login) {
            Some(p) => *p,
            None => {
                let p = client
                    .collaborator_permission(&user.login)
                    .await
                    .with_context(|| format!("checking {}'s permission", user.login))?;
                permissions.insert(user.login.clone(), p);
                p
            }
        };
        if permission < RepoPermission::Write && !req.include_untrusted_comments {
            left_out.untrusted_comments += 1;
            continue;
        }
        let name = match permission {
            RepoPermission::Admin => "admin",
            RepoPermission::Maintain => "maintain",
            RepoPermission::Write => "write",
            RepoPermission::Triage => "triage",
            RepoPermission::Read => "read",
            RepoPermission::None => "none",
        };
        out.push(IssueComment { author: user.login, permission: name.to_owned(), body: c.body });
    }
    Ok((out, left_out))
}

/// A file as text, or a note saying why not (binary, too large).
async fn read_text(client: &RepoClient, path: &str, sha: &str, size: Option<u64>) -> anyhow::Result<FileText> {
    let noted = |note: String| FileText { path: path.to_owned(), text: String::new(), note: Some(note) };
    if let Some(size) = size.filter(|s| *s > MAX_FETCH_BYTES) {
        return Ok(noted(format!("{size} bytes; too large to include, read it in /workspace")));
    }
    let file = client.get_file(path, sha).await.with_context(|| format!("reading {path}"))?;
    Ok(match file {
        None => noted("not found at this commit".to_owned()),
        Some(f) => match f.text() {
            Some(t) => FileText { path: path.to_owned(), text: t.to_owned(), note: None },
            None => noted("binary file, not shown".to_owned()),
        },
    })
}

/// Timeline cross-references and a search for `#N`, deduplicated, capped;
/// changed paths for this repository's pull requests.
async fn related(client: &RepoClient, number: IssueNumber, limits: &Limits) -> Vec<RelatedEntry> {
    let this_repo = client.full_name();
    let mut items: Vec<RelatedItem> = match client.cross_references(number).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(issue = %number, error = %e, "reading cross-references failed; the brief goes without");
            Vec::new()
        }
    };
    match client.search_issues(&format!("\"#{number}\"")).await {
        Ok(v) => items.extend(v),
        Err(e) => {
            tracing::warn!(issue = %number, error = %e, "searching for related items failed; the brief goes without")
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for item in items {
        let repo = item.repository.clone().unwrap_or_else(|| this_repo.clone());
        let same_repo = repo.eq_ignore_ascii_case(&this_repo);
        if (same_repo && item.number == number) || !seen.insert((repo.to_ascii_lowercase(), item.number)) {
            continue;
        }
        if out.len() >= limits.related_max {
            break;
        }
        let (mut files, mut more_files) = (Vec::new(), 0);
        if item.is_pull_request && same_repo {
            match client.pull_files(item.number).await {
                Ok(changed) => {
                    more_files = changed.len().saturating_sub(limits.related_files_max);
                    files = changed.into_iter().take(limits.related_files_max).map(|f| f.filename).collect();
                }
                Err(e) => tracing::warn!(pull = %item.number, error = %e, "reading a related PR's files failed"),
            }
        }
        out.push(RelatedEntry {
            number: item.number,
            title: item.title,
            state: item.state,
            is_pull_request: item.is_pull_request,
            other_repository: (!same_repo).then_some(repo),
            files,
            more_files,
        });
    }
    out
}
