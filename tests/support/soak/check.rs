//! The checks at the end of a soak: for every labelled issue, one job, in a
//! terminal state, shown as such on GitHub (its one status comment and its
//! check runs, one per commit), at most one pull request (exactly one for a job that opened
//! one), exactly the replies asked for; every delivery GitHub logged stored
//! once; no sandbox container or job network left. Each finding is one line.

use std::collections::{BTreeMap, HashMap};

use maxion::jobs::{Job, JobState, Store};

use crate::support::fake_github::FakeGitHub;

use super::world::{Labelled, Repo};

/// The jobs of the soak by (repository index, issue), read from the store.
pub async fn jobs_by_issue(store: &Store, repos: &[Repo]) -> anyhow::Result<HashMap<(usize, u64), Vec<Job>>> {
    let index: HashMap<u64, usize> = repos.iter().enumerate().map(|(i, r)| (r.id.0, i)).collect();
    let mut out: HashMap<(usize, u64), Vec<Job>> = HashMap::new();
    for page in 1.. {
        let jobs = store.list_jobs(page, 100).await?;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            let repo = index.get(&job.spec.repo.id.0).copied().unwrap_or(usize::MAX);
            out.entry((repo, job.spec.issue_number.0)).or_default().push(job);
        }
    }
    Ok(out)
}

/// What is not (yet) as it must be for one labelled issue; empty when done.
pub fn issue_findings(gh: &FakeGitHub, repos: &[Repo], l: &Labelled, jobs: Option<&Vec<Job>>) -> Vec<String> {
    let repo = repos[l.repo].id;
    let at = format!("{}#{}", repos[l.repo].source.repository["full_name"].as_str().unwrap_or("?"), l.issue);
    let job = match jobs.map(Vec::as_slice) {
        None | Some([]) => return vec![format!("{at}: no job (lost)")],
        Some([job]) => job,
        Some(more) => return vec![format!("{at}: {} jobs for one label (duplicate)", more.len())],
    };
    if !job.state.is_terminal() {
        return vec![format!("{at}: job {} still {}", job.id, job.state)];
    }
    let mut findings = Vec::new();
    let own: Vec<_> = gh.comments(repo, l.issue).into_iter().filter(|c| c.user == gh.bot_login()).collect();
    let marker = maxion::report::text::marker(job.id);
    let status: Vec<_> = own.iter().filter(|c| c.body.starts_with(&marker)).collect();
    match status.as_slice() {
        [c] => {
            let headline = c.body.lines().nth(1).unwrap_or_default();
            let shown = match job.state {
                JobState::Succeeded => "✅",
                JobState::Failed => "❌",
                JobState::Cancelled | JobState::Refused => "🚫",
                _ => "⌛",
            };
            if !headline.starts_with(shown) {
                findings
                    .push(format!("{at}: job {} is {} but its status comment says {headline:?}", job.id, job.state));
            }
        }
        many => findings.push(format!("{at}: {} status comments for job {}", many.len(), job.id)),
    }
    let replies: Vec<_> = own.iter().filter(|c| c.body.starts_with("<!-- maxion:reply:")).collect();
    let wanted = usize::from(l.status_command.is_some());
    if replies.len() != wanted {
        findings.push(format!("{at}: {} replies, {wanted} asked for", replies.len()));
    }
    if own.len() != status.len() + replies.len() {
        findings.push(format!("{at}: {} other comments by the App", own.len() - status.len() - replies.len()));
    }
    let external = job.id.to_string();
    // One run per commit: the base commit's while the job runs, the pushed head's at its end.
    let runs: Vec<_> =
        gh.check_runs(repo).into_iter().filter(|r| r.external_id.as_deref() == Some(&external)).collect();
    if runs.is_empty() {
        findings.push(format!("{at}: no check run for job {}", job.id));
    }
    let mut per_commit: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *per_commit.entry(run.head_sha.as_str()).or_default() += 1;
        if run.status != "completed" {
            findings
                .push(format!("{at}: job {} is {} but its check run {} is {}", job.id, job.state, run.id, run.status));
        }
    }
    // A job killed after showing its end but before recording it runs once
    // more, and GitHub never reopens the completed run: one run per start.
    let most = usize::try_from(job.attempts.max(1)).unwrap_or(1);
    for (sha, n) in per_commit.into_iter().filter(|(_, n)| *n > most) {
        findings.push(format!("{at}: {n} check runs for job {} on commit {sha} in {most} starts", job.id));
    }
    let head = format!("issue-{}-", l.issue);
    let pulls = gh.pulls(repo).into_iter().filter(|p| p.head.contains(&head)).count();
    let expected = usize::from(job.pr_number.is_some());
    if pulls != expected {
        findings.push(format!("{at}: {pulls} pull requests, the job (state {}) recorded {expected}", job.state));
    }
    findings
}

/// Every delivery in GitHub's log is stored exactly once, and nothing else is.
pub async fn delivery_findings(gh: &FakeGitHub, store: &Store) -> anyhow::Result<Vec<String>> {
    let logged: BTreeMap<String, usize> = gh.hook_attempts_by_guid();
    let mut findings = Vec::new();
    for guid in logged.keys() {
        if store.delivery(guid).await?.is_none() {
            findings.push(format!("delivery {guid}: in GitHub's log, not stored (lost)"));
        }
    }
    let stored = store.count_deliveries().await?;
    if stored != logged.len() as i64 {
        findings.push(format!("{stored} deliveries stored, {} distinct in GitHub's log", logged.len()));
    }
    Ok(findings)
}

/// Containers and networks labelled with any of the instance ids.
pub async fn docker_leftovers(docker: &bollard::Docker, instances: &[String]) -> anyhow::Result<Vec<String>> {
    use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
    let mut found = Vec::new();
    for id in instances {
        let filters = HashMap::from([("label".to_owned(), vec![format!("maxion.instance={id}")])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        for c in docker.list_containers(Some(opts)).await? {
            found.push(format!("container {} of instance {id} left", c.names.unwrap_or_default().join(",")));
        }
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        for n in docker.list_networks(Some(opts)).await? {
            found.push(format!("network {} of instance {id} left", n.name.unwrap_or_default()));
        }
    }
    Ok(found)
}
