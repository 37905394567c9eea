//! Check runs on a [`RepoClient`]: create and update with GitHub's limits
//! applied on our side (summary/text at 65,535 characters with a visible
//! note, annotations in batches of 50, button text lengths).

use http::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::GitHubError;
use super::repo::{MAX_PAGES, RepoClient, enc};
use super::tokens::Permissions;
use super::transport::Safety;
use super::types::{Annotation, CheckAction, CheckOutput, CheckRun, CheckRunSpec};

/// GitHub's limit for a check run's `output.summary` and `output.text`.
pub const MAX_OUTPUT_CHARS: usize = 65_535;
/// GitHub accepts at most this many annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// At most three buttons.
pub const MAX_ACTIONS: usize = 3;

/// Cuts `text` to `limit` characters, ending in a visible note that says how
/// much was cut. Text within the limit is returned unchanged.
pub fn truncate_with_note(text: &str, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text.to_owned();
    }
    // The note's own length depends on the number in it; size it for the worst case.
    let note_for = |omitted: usize| format!("\n\n… (truncated: {omitted} more characters not shown)");
    let reserve = note_for(total).chars().count();
    let mut keep = limit.saturating_sub(reserve);
    // Fewer digits in the final count can free a character or two.
    while keep < total && keep + 1 + note_for(total - keep - 1).chars().count() <= limit {
        keep += 1;
    }
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(&note_for(total - keep));
    out
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn actions_json(actions: &[CheckAction]) -> Value {
    Value::Array(
        actions
            .iter()
            .take(MAX_ACTIONS)
            .map(|a| json!({"label": cut(&a.label, 20), "description": cut(&a.description, 40), "identifier": cut(&a.identifier, 20)}))
            .collect(),
    )
}

fn output_json(out: &CheckOutput, annotations: &[Annotation]) -> Value {
    let masker = crate::masker::global();
    let mut o = Map::new();
    o.insert("title".into(), json!(masker.mask(&out.title)));
    o.insert("summary".into(), json!(truncate_with_note(&masker.mask(&out.summary), MAX_OUTPUT_CHARS)));
    if let Some(text) = &out.text {
        o.insert("text".into(), json!(truncate_with_note(&masker.mask(text), MAX_OUTPUT_CHARS)));
    }
    if !annotations.is_empty() {
        let masked: Vec<Annotation> = annotations
            .iter()
            .map(|a| Annotation {
                message: masker.mask(&a.message),
                title: a.title.as_deref().map(|t| masker.mask(t)),
                ..a.clone()
            })
            .collect();
        o.insert("annotations".into(), json!(masked));
    }
    Value::Object(o)
}

/// The JSON body for a create (`with_identity`) or an update, carrying the
/// first batch of annotations.
fn body(spec: &CheckRunSpec, with_identity: bool) -> Value {
    let mut b = Map::new();
    if with_identity {
        b.insert("name".into(), json!(spec.name));
        b.insert("head_sha".into(), json!(spec.head_sha));
    }
    if let Some(s) = spec.status {
        b.insert("status".into(), json!(s));
    }
    if let Some(c) = spec.conclusion {
        b.insert("conclusion".into(), json!(c));
    }
    if let Some(u) = &spec.details_url {
        b.insert("details_url".into(), json!(u));
    }
    if let Some(id) = &spec.external_id {
        b.insert("external_id".into(), json!(id));
    }
    if let Some(t) = spec.started_at {
        b.insert("started_at".into(), json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    if let Some(t) = spec.completed_at {
        b.insert("completed_at".into(), json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    if let Some(out) = &spec.output {
        let first = &out.annotations[..out.annotations.len().min(ANNOTATIONS_PER_REQUEST)];
        b.insert("output".into(), output_json(out, first));
    }
    // An update states the buttons the run shows now; none removes them
    // (a finished run must not keep offering `Cancel`).
    if !spec.actions.is_empty() || !with_identity {
        b.insert("actions".into(), actions_json(&spec.actions));
    }
    Value::Object(b)
}

#[derive(Deserialize)]
struct CheckRunList {
    total_count: usize,
    check_runs: Vec<CheckRun>,
}

impl RepoClient {
    /// Creates a check run. The first 50 annotations go with it, the rest in
    /// follow-up updates. After an unknown outcome, an existing run with the
    /// same name and `external_id` on the commit is taken instead of a second.
    pub async fn create_check_run(&self, spec: &CheckRunSpec) -> Result<CheckRun, GitHubError> {
        let send = || {
            self.send::<CheckRun>(
                Permissions::checks_write(),
                Method::POST,
                self.path("/check-runs"),
                body(spec, true),
                Safety::NonIdempotent,
                "check run",
            )
        };
        // After each unknown outcome the run is looked for first, so a
        // re-send never adds a second; a re-send can fail in turn, as often
        // as the retry policy allows any call to.
        let mut delay = self.app.inner.retry.min_delay;
        let mut attempts = 0;
        let run = loop {
            attempts += 1;
            match send().await {
                Ok(run) => break run,
                Err(e) if e.outcome_unknown() && spec.external_id.is_some() => {
                    tracing::warn!(error = %e, "creating a check run had an unknown outcome; looking for it before re-sending");
                    if attempts > self.app.inner.retry.max_retries {
                        return Err(e);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.app.inner.retry.max_delay);
                    let existing = self.list_check_runs(&spec.head_sha, &spec.name).await?;
                    // Found: the POST landed, so its first batch of annotations did too.
                    if let Some(run) = existing.into_iter().find(|r| r.external_id == spec.external_id) {
                        break run;
                    }
                }
                Err(e) => return Err(e),
            }
        };
        self.send_remaining_annotations(run.id, spec.output.as_ref()).await?;
        Ok(run)
    }

    /// Updates a check run; only the fields set in `spec` change (`name` and
    /// `head_sha` are ignored). Annotations are appended by GitHub, so an
    /// update carrying them is not re-sent after an unknown outcome.
    pub async fn update_check_run(&self, check_run_id: u64, spec: &CheckRunSpec) -> Result<CheckRun, GitHubError> {
        let has_annotations = spec.output.as_ref().is_some_and(|o| !o.annotations.is_empty());
        let safety = if has_annotations { Safety::NonIdempotent } else { Safety::Idempotent };
        let run = self
            .send::<CheckRun>(
                Permissions::checks_write(),
                Method::PATCH,
                self.path(&format!("/check-runs/{check_run_id}")),
                body(spec, false),
                safety,
                "check run",
            )
            .await?;
        self.send_remaining_annotations(check_run_id, spec.output.as_ref()).await?;
        Ok(run)
    }

    async fn send_remaining_annotations(&self, id: u64, out: Option<&CheckOutput>) -> Result<(), GitHubError> {
        let Some(out) = out else { return Ok(()) };
        for batch in out.annotations.chunks(ANNOTATIONS_PER_REQUEST).skip(1) {
            // `output` needs title and summary even when only adding annotations.
            let only_batch = CheckOutput { text: None, annotations: Vec::new(), ..out.clone() };
            let b = json!({"output": output_json(&only_batch, batch)});
            self.send::<CheckRun>(
                Permissions::checks_write(),
                Method::PATCH,
                self.path(&format!("/check-runs/{id}")),
                b,
                Safety::NonIdempotent,
                "check run",
            )
            .await?;
        }
        Ok(())
    }

    /// Every check run named `name` on commit `sha`, older ones included.
    pub async fn list_check_runs(&self, sha: &str, name: &str) -> Result<Vec<CheckRun>, GitHubError> {
        // GitHub's default `filter=latest` hides all but the newest run of a name,
        // and every job's run is called `maxion`: finding one job's run needs `all`.
        let base = self.path(&format!("/commits/{}/check-runs?check_name={}&filter=all", enc(sha), enc(name)));
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!("{base}&per_page=100&page={page}");
            let list: CheckRunList = self.get(Permissions::checks_read(), path, "check runs").await?;
            let n = list.check_runs.len();
            all.extend(list.check_runs);
            if n < 100 || all.len() >= list.total_count {
                break;
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::{AnnotationLevel, CheckStatus};

    #[test]
    fn truncation_keeps_the_limit_and_says_so() {
        let short = "x".repeat(MAX_OUTPUT_CHARS);
        assert_eq!(truncate_with_note(&short, MAX_OUTPUT_CHARS), short);
        for extra in [1, 9, 10_000, 70_000] {
            let cut = truncate_with_note(&"y".repeat(MAX_OUTPUT_CHARS + extra), MAX_OUTPUT_CHARS);
            assert_eq!(cut.chars().count(), MAX_OUTPUT_CHARS, "extra {extra}");
        }
        let long = "é".repeat(MAX_OUTPUT_CHARS + 10_000);
        let cut = truncate_with_note(&long, MAX_OUTPUT_CHARS);
        assert_eq!(cut.chars().count(), MAX_OUTPUT_CHARS, "uses the whole budget, no more");
        assert!(cut.ends_with("more characters not shown)"), "{}", &cut[cut.len() - 80..]);
        let kept = cut.chars().take_while(|c| *c == 'é').count();
        assert!(cut.contains(&format!("truncated: {} more", MAX_OUTPUT_CHARS + 10_000 - kept)));
    }

    #[test]
    fn create_body_carries_the_first_50_annotations_and_trimmed_buttons() {
        let ann = |i: u32| Annotation {
            path: "src/lib.rs".into(),
            start_line: i,
            end_line: i,
            annotation_level: AnnotationLevel::Failure,
            message: format!("error {i}"),
            title: None,
        };
        let spec = CheckRunSpec {
            name: "maxion".into(),
            head_sha: "abc".into(),
            status: Some(CheckStatus::InProgress),
            external_id: Some("12".into()),
            output: Some(CheckOutput {
                title: "t".into(),
                summary: "s".into(),
                text: None,
                annotations: (1..=120).map(ann).collect(),
            }),
            actions: vec![CheckAction {
                label: "Retry this job right now".into(),
                description: "d".into(),
                identifier: "retry".into(),
            }],
            ..Default::default()
        };
        let b = body(&spec, true);
        assert_eq!(b["name"], "maxion");
        assert_eq!(b["status"], "in_progress");
        assert_eq!(b["external_id"], "12");
        assert_eq!(b["output"]["annotations"].as_array().unwrap().len(), 50);
        assert_eq!(b["actions"][0]["label"].as_str().unwrap().chars().count(), 20);
        assert!(b.get("conclusion").is_none());
        let u = body(&spec, false);
        assert!(u.get("name").is_none() && u.get("head_sha").is_none());
    }
}
