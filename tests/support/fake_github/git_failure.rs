//! Failure injection on the git endpoint (smart HTTP). Rules are the same
//! [`Failure`]s as for the REST API, armed with [`FakeGitHub::fail_git`] for one
//! service (`git-upload-pack`: fetch and clone; `git-receive-pack`: push;
//! `info/refs`: the ref advertisement of either), count-limited or persistent.
//! They apply only to authenticated requests (git asks anonymously first).

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::FakeGitHub;
use super::failure::{self, Failure, FailureRule};
use super::model::State;

/// The template a git request matches rules against (`git git-upload-pack`).
pub fn template(service: &str) -> String {
    format!("git {service}")
}

/// What the git handler does with an armed rule.
pub enum GitFailure {
    /// Answer this response without running git.
    Refuse(Response),
    /// Wait, then serve normally.
    Delay(Duration),
    /// Serve (the push lands), then answer 502.
    AfterApply,
}

/// Takes one shot of a rule matching this git request, if any.
pub fn take(state: &mut State, method: &str, service: &str, path: &str) -> Option<GitFailure> {
    let f = failure::take(&mut state.failures, method, &template(service), path)
        .or_else(|| state.chaos.as_mut().and_then(super::chaos::Chaos::roll))?;
    Some(match f {
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            GitFailure::Refuse((status, format!("{status}\n")).into_response())
        }
        Failure::SecondaryRateLimit { retry_after_secs } => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
            r.headers_mut().insert("retry-after", retry_after_secs.into());
            GitFailure::Refuse(r)
        }
        Failure::Delay(d) => GitFailure::Delay(d),
        Failure::FailAfterApply => GitFailure::AfterApply,
        other => {
            state.violation(format!("failure {other:?} is not supported on the git endpoint"));
            GitFailure::Refuse(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    })
}

impl FakeGitHub {
    /// Arms `failure` for the next `times` authenticated requests to `service`
    /// (`git-upload-pack`, `git-receive-pack` or `info/refs`) of any repository;
    /// `u32::MAX` keeps it armed for good.
    pub fn fail_git(&self, service: &str, failure: Failure, times: u32) {
        self.lock().failures.push(FailureRule {
            method: "*".to_string(),
            pattern: template(service),
            failure,
            remaining: times,
        });
    }

    /// How many authenticated requests reached `service` of the git endpoint.
    pub fn git_requests(&self, service: &str) -> usize {
        let op = template(service);
        self.lock().requests.iter().filter(|r| r.operation.as_deref() == Some(op.as_str()) && r.status != 401).count()
    }
}
