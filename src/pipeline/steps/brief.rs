//! The brief phase: gather the issue and repository through the API, read
//! `.github/maxion.yml` at the commit the job starts from, and assemble the
//! brief the agent gets. Nothing touches git or Docker yet.

use crate::github::RepoClient;
use crate::jobs::{Job, JobEnd};
use crate::pipeline::brief::{self, GatherRequest, Gathered, Limits, PullRequestState};
use crate::pipeline::detect::{CommandKind, CommandPlan, PlannedCommand};
use crate::pipeline::job_run::{Log, failed, failed_in};
use crate::pipeline::plan::{TimedPlan, apply_config, repo_config};
use crate::pipeline::run::PipelineContext;
use crate::repoconfig::Effective;
use crate::report::{JobReporter, text};

/// What the brief phase produced, for the phases after it.
pub(crate) struct Briefed {
    pub gathered: Gathered,
    /// The branch of the pull request a follow-up works on; `None`: a new branch.
    pub follow_up_branch: Option<String>,
    pub plan: TimedPlan,
    /// The brief the agent gets.
    pub text: String,
    /// The task in a few lines, for the fix rounds' prompts.
    pub summary: String,
}

/// Gathers the brief's input at the default branch's head, then tells GitHub
/// the job started there (the check run on that commit).
pub(crate) async fn gather(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    reporter: &mut JobReporter,
) -> Result<(Gathered, Option<String>), JobEnd> {
    let configured = (!ctx.verify_commands.is_empty()).then(|| CommandPlan {
        setup: Vec::new(),
        verify: ctx
            .verify_commands
            .iter()
            .map(|c| PlannedCommand {
                kind: CommandKind::Test,
                run: c.clone(),
                reason: "MAXION_VERIFY_COMMANDS".into(),
            })
            .collect(),
    });
    let limits = Limits::default();
    let req = GatherRequest {
        issue_number: job.spec.issue_number,
        instructions: job.spec.instructions.as_deref(),
        triggered_by: &job.spec.sender_login,
        trigger_comment_id: job.spec.trigger_comment_id,
        include_untrusted_comments: false,
        commands: configured,
        limits: &limits,
    };
    let mut gathered = brief::gather(repo, &req).await.map_err(failed_in("brief"))?;
    // A follow-up works on the branch of the pull request Maxion opened
    // (admission checked there is one); anything else on a new branch.
    let follow_up_branch = match &job.spec.follow_up {
        Some(f) => {
            let branch = ctx.store.maxion_pull_branch(job.spec.repo.id, job.spec.issue_number).await;
            let branch =
                branch.map_err(failed_in("brief"))?.ok_or_else(|| failed(text::no_maxion_branch(), "brief"))?;
            gathered.input.follow_up =
                Some(PullRequestState { head_branch: branch.clone(), source: f.source, anchor: f.anchor.clone() });
            Some(branch)
        }
        None => None,
    };
    reporter.started(&gathered.head_sha).await.map_err(|e| failed(e, "brief"))?;
    Ok((gathered, follow_up_branch))
}

/// Reads the repository's configuration (step `config`), folds it into the
/// brief's input and assembles the brief (step `brief`). Returns the brief and
/// the effective configuration.
pub(crate) async fn assemble(
    ctx: &PipelineContext,
    repo: &RepoClient,
    log: &mut Log<'_>,
    (mut gathered, follow_up_branch): (Gathered, Option<String>),
) -> Result<(Briefed, Effective), JobEnd> {
    let eff = repo_config(ctx, repo, log, &gathered.head_sha).await?;
    let plan = apply_config(&eff, &mut gathered);
    let started = log.step_started("brief").await;
    let text = brief::assemble(&gathered.input, &Limits::default());
    let summary = brief::task_summary(&gathered.input);
    log.info(text::brief_assembled(text.len())).await;
    if let Err(e) = ctx.store.set_brief(log.job.id, &text).await {
        tracing::warn!(job = %log.job.id, error = format!("{e:#}"), "storing the brief failed");
    }
    log.step_finished("brief", true, None, started).await;
    Ok((Briefed { gathered, follow_up_branch, plan, text, summary }, eff))
}
