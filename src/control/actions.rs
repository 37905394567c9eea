//! What each control request does. Returns the outcome recorded on the
//! request; an error is retried.

use anyhow::Context;

use super::Control;
use super::permissions::permitted;
use crate::github::RepoClient;
use crate::jobs::{
    ClaimedRequest, ControlAction, ControlOutcome, Job, JobEnd, JobEvent, JobId, JobState, NewJob, TriggerKind,
};
use crate::report;
use crate::report::text::{self, Guarded, HelpView, Phase};

impl Control {
    pub(super) async fn process(&self, claimed: &ClaimedRequest) -> anyhow::Result<ControlOutcome> {
        let req = &claimed.request;
        let repo =
            self.app.repo(req.installation_id, &req.repo.full_name).context("a GitHub client for the repository")?;
        if req.action.by_operator() {
            return self.act(&repo, claimed).await;
        }
        let has = self.permissions.get(&repo, &req.sender_login).await.context("reading the sender's permission")?;
        if !permitted(&req.action, has, self.settings.required) {
            return self.refuse(&repo, claimed, has.as_str()).await;
        }
        // `status`, `help` and hints are open to anyone, but someone who may
        // not start jobs gets only a few replies per issue and window, so
        // Maxion cannot be made to spam an issue.
        let outsider = has < self.settings.required;
        if outsider && self.recent(claimed, ControlOutcome::RepliedToOutsider).await? >= self.settings.outsider_replies
        {
            return Ok(ControlOutcome::Silenced);
        }
        let outcome = self.act(&repo, claimed).await?;
        Ok(if outsider && outcome == ControlOutcome::Replied { ControlOutcome::RepliedToOutsider } else { outcome })
    }

    /// How many of the sender's requests on this issue ended with `outcome` within the window.
    async fn recent(&self, claimed: &ClaimedRequest, outcome: ControlOutcome) -> anyhow::Result<i64> {
        let req = &claimed.request;
        let window_ms = i64::try_from(self.settings.refusal_window.as_millis()).unwrap_or(i64::MAX / 2);
        let since = chrono::Utc::now().timestamp_millis() - window_ms;
        self.store.recent_outcomes(req.repo.id, req.issue_number, &req.sender_login, outcome, since).await
    }

    async fn act(&self, repo: &RepoClient, claimed: &ClaimedRequest) -> anyhow::Result<ControlOutcome> {
        let req = &claimed.request;
        let command = self.settings.command.as_str();
        match &req.action {
            ControlAction::Admit { job } | ControlAction::OperatorAdmit { job } => {
                self.admit(repo, claimed, *job).await
            }
            ControlAction::AlreadyActive { job } => {
                let Some(job) = self.store.get_job(*job).await? else { return Ok(ControlOutcome::Gone) };
                let body = text::already_active(&self.summarize(&job).await?, command);
                self.reply(repo, claimed, &body).await
            }
            ControlAction::Status => {
                let latest = self.store.latest_job_for_issue(req.repo.id, req.issue_number).await?;
                let summary = match &latest {
                    Some(job) => Some(self.summarize(job).await?),
                    None => None,
                };
                self.reply(repo, claimed, &text::status_reply(summary.as_ref(), command)).await
            }
            ControlAction::Help => {
                // The repository's effective configuration, as a job would see it now.
                let config = match crate::repoconfig::effective_at_default_branch(repo, &self.settings.bounds).await {
                    Ok(effective) => text::effective_config(&effective),
                    Err(crate::repoconfig::LoadError::Invalid(e)) => text::config_invalid(&e),
                    Err(e) => return Err(e).context("reading the repository's configuration"),
                };
                let view = HelpView {
                    config,
                    command: command.to_owned(),
                    trigger_label: self.settings.trigger_label.clone(),
                    required_permission: self.settings.required.as_str().to_owned(),
                    commands: crate::intake::command::CONTROL_COMMANDS.iter().map(|c| (c.name, c.help)).collect(),
                };
                self.reply(repo, claimed, &text::help(&view)).await
            }
            ControlAction::NearMiss { word, suggestion } => {
                self.reply(repo, claimed, &text::near_miss(command, word, suggestion)).await
            }
            ControlAction::Cancel => {
                let active = self.store.active_job_for_issue(req.repo.id, req.issue_number).await?;
                self.cancel(repo, claimed, active, true).await
            }
            ControlAction::CheckRunCancel { job } | ControlAction::OperatorCancel { job } => {
                let job = self.store.get_job(*job).await?;
                self.cancel(repo, claimed, job, false).await
            }
            ControlAction::Unlabeled => {
                // Taking the label off stops a job that has not started; a
                // running one is left alone (`cancel` stops that).
                let active = self.store.active_job_for_issue(req.repo.id, req.issue_number).await?;
                match active {
                    Some(job) if job.state != JobState::Running => self.cancel(repo, claimed, Some(job), false).await,
                    _ => Ok(ControlOutcome::Nothing),
                }
            }
            ControlAction::Retry => {
                let last = self.store.latest_job_for_issue(req.repo.id, req.issue_number).await?;
                self.retry(repo, claimed, last).await
            }
            ControlAction::CheckRunRetry { job } | ControlAction::OperatorRetry { job } => {
                let job = self.store.get_job(*job).await?;
                self.retry(repo, claimed, job).await
            }
        }
    }

    /// Refuses once per (user, issue) and window; silent after that.
    async fn refuse(&self, repo: &RepoClient, claimed: &ClaimedRequest, has: &str) -> anyhow::Result<ControlOutcome> {
        let req = &claimed.request;
        let guarded = match &req.action {
            ControlAction::Retry | ControlAction::CheckRunRetry { .. } => Guarded::Retry,
            ControlAction::Cancel | ControlAction::CheckRunCancel { .. } | ControlAction::Unlabeled => Guarded::Cancel,
            _ => Guarded::Start,
        };
        if let ControlAction::Admit { job } = req.action {
            let why = text::refused_reason(&req.sender_login, self.settings.required.as_str());
            self.store.transition(job, JobState::Received, JobState::Refused, Some(&why)).await?;
        }
        if self.recent(claimed, ControlOutcome::Refused).await? > 0 {
            return Ok(ControlOutcome::RefusedSilently);
        }
        let body = text::refused(&req.sender_login, guarded, self.settings.required.as_str(), has);
        self.reply(repo, claimed, &body).await?;
        Ok(ControlOutcome::Refused)
    }

    /// The queued status comment, `received → queued`, then `eyes`. The
    /// comment comes before the job is queued so a worker never starts a job
    /// whose comment is not there yet (it would post a second one); the
    /// reaction comes last so the job does not wait for it: with GitHub's
    /// one-second spacing of mutating calls it would hold the job back a
    /// second. A failed reaction fails the request, and the next attempt,
    /// finding the job admitted, only reacts again (idempotent on GitHub).
    async fn admit(&self, repo: &RepoClient, claimed: &ClaimedRequest, job: JobId) -> anyhow::Result<ControlOutcome> {
        let again = claimed.attempts > 1;
        let Some(job) = self.store.get_job(job).await? else { return Ok(ControlOutcome::Gone) };
        if job.state != JobState::Received {
            // An earlier attempt of this request got as far as the comment:
            // only the reaction may be missing.
            if again && job.status_comment_id.is_some() {
                report::acknowledge(repo, &job).await.context("adding the eyes reaction")?;
                return Ok(ControlOutcome::Admitted);
            }
            return Ok(ControlOutcome::Skipped);
        }
        // Feedback on a pull request continues Maxion's own branch; a pull
        // request no job of this repository shipped is someone else's.
        if job.spec.follow_up.is_some()
            && self.store.maxion_pull_branch(job.spec.repo.id, job.spec.issue_number).await?.is_none()
        {
            // The reply first: a repeated attempt finds the job still
            // `received` and edits the reply it finds by marker.
            let body = text::not_maxions_pull_request(&job.spec.sender_login, &self.settings.command);
            self.reply(repo, claimed, &body).await?;
            let why = text::not_maxions_pull_request_reason();
            self.store.transition(job.id, JobState::Received, JobState::Refused, Some(&why)).await?;
            return Ok(ControlOutcome::NotMaxionsPullRequest);
        }
        let position = usize::try_from(self.store.queue_position(job.id).await? + 1).ok();
        let comment = report::post_status_comment(repo, &self.settings.report, &job, position, again)
            .await
            .context("posting the status comment")?;
        self.store.set_status_comment(job.id, comment).await?;
        if self.store.transition(job.id, JobState::Received, JobState::Queued, None).await? {
            self.jobs_available.notify_waiters();
        }
        report::acknowledge(repo, &job).await.context("adding the eyes reaction")?;
        Ok(ControlOutcome::Admitted)
    }

    async fn cancel(
        &self,
        repo: &RepoClient,
        claimed: &ClaimedRequest,
        job: Option<Job>,
        answer: bool,
    ) -> anyhow::Result<ControlOutcome> {
        let by = claimed.request.sender_login.as_str();
        let Some(job) = job.filter(|j| j.state.is_active()) else {
            if !answer {
                return Ok(ControlOutcome::Nothing);
            }
            let latest = self.store.latest_job_for_issue(claimed.request.repo.id, claimed.request.issue_number).await?;
            let summary = match &latest {
                Some(j) => Some(self.summarize(j).await?),
                None => None,
            };
            return self.reply(repo, claimed, &text::nothing_to_cancel(summary.as_ref())).await;
        };
        let end = JobEnd::Cancelled { by: Some(by.to_owned()) };
        let reason = text::end_reason(&end).unwrap_or_default();
        let mut summary = self.summarize(&job).await?;
        let not_started = job.state != JobState::Running
            && self.store.transition(job.id, job.state, JobState::Cancelled, Some(&reason)).await?;
        if not_started {
            report::show_ended_before_start(repo, &self.settings.report, &job, Phase::Ended(end))
                .await
                .context("updating the status comment")?;
        } else {
            // Running (or it started meanwhile): the worker holding it stops it
            // and reports `cancelled` in the status comment and check run.
            if self.store.request_cancel(job.id, by).await? {
                self.store.append_event(job.id, &JobEvent::Info { message: text::cancellation_requested(by) }).await?;
            }
            if let Some(c) = &self.canceller {
                c.cancel(job.id);
            }
            summary.state = JobState::Running;
        }
        if answer {
            self.reply(repo, claimed, &text::cancelling(&summary, by)).await?;
        }
        Ok(ControlOutcome::Cancelled)
    }

    /// A new job with `last`'s instructions, admitted like any other.
    async fn retry(
        &self,
        repo: &RepoClient,
        claimed: &ClaimedRequest,
        last: Option<Job>,
    ) -> anyhow::Result<ControlOutcome> {
        let req = &claimed.request;
        let command = self.settings.command.as_str();
        let Some(last) = last else {
            return self.reply(repo, claimed, &text::nothing_to_retry(command)).await;
        };
        let new = NewJob {
            installation_id: req.installation_id,
            trigger: TriggerKind::Retry,
            trigger_comment_id: req.comment_id,
            sender_login: req.sender_login.clone(),
            sender_id: req.sender_id,
            delivery_id: claimed.delivery_id.clone(),
            ..last.spec.clone()
        };
        let id = match self.store.create_received_job(&new).await? {
            Some(id) => id,
            None => {
                let active = self.store.active_job_for_issue(req.repo.id, req.issue_number).await?;
                match active {
                    // Created by this very request before a crash: carry on admitting it.
                    Some(a) if a.spec.delivery_id == claimed.delivery_id && a.spec.trigger == TriggerKind::Retry => {
                        a.id
                    }
                    Some(a) => {
                        let body = text::retry_while_active(&self.summarize(&a).await?, command);
                        return self.reply(repo, claimed, &body).await;
                    }
                    None => anyhow::bail!("the issue's active job ended while retrying; trying again"),
                }
            }
        };
        self.admit(repo, claimed, id).await?;
        Ok(ControlOutcome::Retried)
    }

    /// Posts a reply carrying the request's marker; a request handled again
    /// after a crash finds and edits its earlier reply instead.
    async fn reply(&self, repo: &RepoClient, claimed: &ClaimedRequest, body: &str) -> anyhow::Result<ControlOutcome> {
        let issue = claimed.request.issue_number;
        let marker = text::reply_marker(claimed.id);
        let body = text::reply(claimed.id, body);
        let posted = if claimed.attempts > 1 {
            repo.upsert_marked_comment(issue, &marker, &body).await
        } else {
            repo.create_marked_comment(issue, &marker, &body).await
        };
        posted.context("posting a reply")?;
        Ok(ControlOutcome::Replied)
    }
}
