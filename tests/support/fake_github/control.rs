//! Test-facing controls of the fake GitHub: failure injection, its clock, installation
//! tokens, App JWTs and check runs made directly (for tests that bypass the client).

use std::collections::BTreeMap;
use std::time::Duration;

use super::failure::FailureRule;
use super::{Failure, FakeGitHub, InstallationId, RepoId, auth, jwt_with_claims, model};

impl FakeGitHub {
    // ----- time, tokens, failures ----------------------------------------------------

    /// Arms `failure` for the next `times` requests matching `method` and `path_pattern`
    /// (an OpenAPI template, a concrete path, or a path with `*` segments).
    pub fn fail(&self, method: &str, path_pattern: &str, failure: Failure, times: u32) {
        self.lock().failures.push(FailureRule {
            method: method.to_string(),
            pattern: path_pattern.to_string(),
            failure,
            remaining: times,
        });
    }

    /// Moves the fake's clock forward (installation tokens expire by it; JWTs use real time).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    /// Lifetime of tokens minted from now on (GitHub: one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Revokes every token issued so far (as if they all expired).
    pub fn expire_tokens(&self) {
        for t in self.lock().tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Mints a token directly (as `POST .../access_tokens` would), for tests that need one
    /// without going through the client. Empty `repos` = all of the installation's.
    pub fn mint_token(&self, inst: InstallationId, repos: &[RepoId], permissions: &[(&str, &str)]) -> String {
        let mut s = self.lock();
        let granted = &s.installations.get(&inst).expect("unknown installation").permissions.clone();
        let permissions: BTreeMap<String, String> = if permissions.is_empty() {
            granted.clone()
        } else {
            permissions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let token = auth::mint(&mut s);
        let expires_at = s.now() + chrono::Duration::from_std(s.token_lifetime).unwrap_or_default();
        s.issued_tokens.push(token.clone());
        s.tokens.insert(
            token.clone(),
            model::Token {
                installation: inst,
                repos: (!repos.is_empty()).then(|| repos.to_vec()),
                permissions,
                expires_at,
                revoked: false,
                refused: false,
            },
        );
        token
    }

    /// A valid App JWT (iat 60 s ago, exp 9 min ahead), signed with the test key.
    pub fn app_jwt(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        jwt_with_claims(&serde_json::json!({ "iat": now - 60, "exp": now + 540, "iss": model::APP_ID }))
    }

    /// An `in_progress` check run made directly, as an earlier run of the bot (or many of
    /// them) would have left it; bypasses the secondary limit. Returns its id.
    pub fn add_check_run(&self, repo: RepoId, name: &str, head_sha: &str, external_id: Option<&str>) -> u64 {
        let mut s = self.lock();
        assert!(s.repo(repo).commits.contains(head_sha), "unknown commit {head_sha}");
        let id = s.next_id();
        let now = s.now();
        let mut run = model::CheckRun::new(id, name, head_sha, "in_progress", now);
        run.external_id = external_id.map(str::to_string);
        s.repo_mut(repo).check_runs.push(run);
        id
    }
}
