//! The App's webhook: the fake sends signed deliveries to a URL the test sets
//! (as GitHub does to the App's webhook URL), records every attempt the way
//! GitHub's delivery log shows it (failed ones included: nothing listening,
//! a 5xx answer), and serves that log: `GET /app/hook/deliveries` (newest
//! first, `per_page` up to 100, cursor paging through the `Link` header,
//! `status` filter), `GET /app/hook/deliveries/{delivery_id}` and
//! `POST /app/hook/deliveries/{delivery_id}/attempts` (202, then the stored
//! request is sent again with the same guid, as a new attempt).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::FakeGitHub;
use super::model::timestamp;
use super::server::{Ctx, Reply, Shared};

/// Where deliveries go and what was delivered.
#[derive(Default)]
pub struct Hooks {
    pub url: Option<String>,
    pub secret: String,
    pub attempts: Vec<Attempt>,
    /// Attempts asked for by `POST …/attempts`, sent once the request is answered.
    pub outbox: Vec<u64>,
}

/// One delivery attempt, as GitHub records it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub id: u64,
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub duration: f64,
    /// `OK`, `Invalid HTTP Response: 503`, `failed to connect`.
    pub status: String,
    /// Maxion's answer; 0 when there was none.
    pub status_code: u16,
    pub event: String,
    pub payload: Value,
    pub response: String,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        (200..400).contains(&self.status_code)
    }

    fn item(&self) -> Value {
        json!({
            "id": self.id,
            "guid": self.guid,
            "delivered_at": timestamp(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.payload["action"].as_str(),
            "installation_id": self.payload["installation"]["id"].as_u64(),
            "repository_id": self.payload["repository"]["id"].as_u64(),
            "throttled_at": null,
        })
    }
}

fn cursor_of(id: u64) -> String {
    format!("v1_{id}")
}

/// `GET /app/hook/deliveries`.
pub fn list(ctx: &mut Ctx) -> Reply {
    let per_page = ctx.query.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let start = match ctx.query.get("cursor") {
        None => u64::MAX,
        Some(c) => match c.strip_prefix("v1_").and_then(|id| id.parse::<u64>().ok()) {
            Some(id) => id,
            None => return Reply::error(400, "Invalid cursor", &ctx.doc_url),
        },
    };
    let status = ctx.query.get("status").cloned();
    let mut matching: Vec<&Attempt> = ctx
        .state
        .hooks
        .attempts
        .iter()
        .filter(|a| a.id <= start)
        .filter(|a| match status.as_deref() {
            Some("success") => a.succeeded(),
            Some("failure") => (400..600).contains(&a.status_code),
            _ => true,
        })
        .collect();
    matching.sort_by_key(|a| std::cmp::Reverse(a.id));
    let page: Vec<Value> = matching.iter().take(per_page).map(|a| a.item()).collect();
    let mut reply = Reply::ok(Value::Array(page));
    if let Some(next) = matching.get(per_page) {
        let mut query = vec![format!("per_page={per_page}"), format!("cursor={}", cursor_of(next.id))];
        if let Some(s) = &status {
            query.push(format!("status={s}"));
        }
        let base = &ctx.state.base_url;
        reply = reply.header("link", format!("<{base}/app/hook/deliveries?{}>; rel=\"next\"", query.join("&")));
    }
    reply
}

/// `GET /app/hook/deliveries/{delivery_id}`.
pub fn get(ctx: &mut Ctx) -> Reply {
    let id = ctx.num("delivery_id");
    let Some(a) = ctx.state.hooks.attempts.iter().find(|a| a.id == id) else {
        return ctx.not_found();
    };
    let mut body = a.item();
    body["url"] = json!(ctx.state.hooks.url);
    body["request"] =
        json!({"headers": {"X-GitHub-Event": a.event, "X-GitHub-Delivery": a.guid}, "payload": a.payload});
    body["response"] = json!({"headers": {}, "payload": a.response});
    Reply::ok(body)
}

/// `POST /app/hook/deliveries/{delivery_id}/attempts`.
pub fn redeliver(ctx: &mut Ctx) -> Reply {
    let id = ctx.num("delivery_id");
    if !ctx.state.hooks.attempts.iter().any(|a| a.id == id) {
        return ctx.not_found();
    }
    ctx.state.hooks.outbox.push(id);
    Reply::new(202, json!({}))
}

/// Sends what `redeliver` queued, in the background (GitHub does not wait
/// for the redelivery before answering 202).
pub fn flush(shared: &Shared) {
    let queued = std::mem::take(&mut shared.lock().unwrap_or_else(|e| e.into_inner()).hooks.outbox);
    for id in queued {
        let shared = shared.clone();
        tokio::spawn(async move {
            let original = {
                let state = shared.lock().unwrap_or_else(|e| e.into_inner());
                state.hooks.attempts.iter().find(|a| a.id == id).cloned()
            };
            if let Some(a) = original {
                deliver(&shared, &a.event, &a.guid, a.payload, true).await;
            }
        });
    }
}

/// One attempt: POST the signed payload to the webhook URL and record it.
async fn deliver(shared: &Shared, event: &str, guid: &str, payload: Value, redelivery: bool) -> Attempt {
    let (url, secret) = {
        let state = shared.lock().unwrap_or_else(|e| e.into_inner());
        (state.hooks.url.clone(), state.hooks.secret.clone())
    };
    let body = serde_json::to_vec(&payload).expect("json");
    let started = Instant::now();
    let (status, status_code, response) = match url {
        None => ("No URL configured".to_string(), 0, String::new()),
        Some(url) => {
            let sent = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/fake")
                .header("x-github-event", event)
                .header("x-github-delivery", guid)
                .header("x-hub-signature-256", super::super::service::sign(&secret, &body))
                .body(body)
                .send()
                .await;
            match sent {
                Err(e) if e.is_connect() => ("failed to connect to host".to_string(), 0, String::new()),
                Err(e) if e.is_timeout() => ("timed out".to_string(), 0, String::new()),
                Err(_) => ("We couldn't deliver this payload".to_string(), 0, String::new()),
                Ok(r) => {
                    let code = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let status = if (200..300).contains(&code) {
                        "OK".to_string()
                    } else {
                        format!("Invalid HTTP Response: {code}")
                    };
                    (status, code, text)
                }
            }
        }
    };
    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    let attempt = Attempt {
        id: state.next_id(),
        guid: guid.to_string(),
        delivered_at: Utc::now(),
        redelivery,
        duration: started.elapsed().as_secs_f64(),
        status,
        status_code,
        event: event.to_string(),
        payload,
        response,
    };
    state.hooks.attempts.push(attempt.clone());
    attempt
}

impl FakeGitHub {
    /// Where deliveries go, and the secret they are signed with.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        let mut state = self.lock();
        state.hooks.url = Some(url.to_string());
        state.hooks.secret = secret.to_string();
    }

    /// Sends an event as GitHub would (one attempt, recorded however it ends).
    pub async fn send_webhook(&self, event: &str, guid: &str, payload: Value) -> Attempt {
        deliver(&self.state, event, guid, payload, false).await
    }

    /// Records an attempt without sending it (a log longer than the test
    /// wants to send), `delivered` ago, answered with `status_code`.
    pub fn record_hook_attempt(&self, event: &str, guid: &str, status_code: u16, delivered: chrono::Duration) {
        let mut state = self.lock();
        let attempt = Attempt {
            id: state.next_id(),
            guid: guid.to_string(),
            delivered_at: Utc::now() - delivered,
            redelivery: false,
            duration: 0.01,
            status: if (200..300).contains(&status_code) {
                "OK".into()
            } else {
                format!("Invalid HTTP Response: {status_code}")
            },
            status_code,
            event: event.to_string(),
            payload: json!({"action": "created"}),
            response: String::new(),
        };
        state.hooks.attempts.push(attempt);
    }

    /// Every attempt so far, oldest first.
    pub fn hook_attempts(&self) -> Vec<Attempt> {
        self.lock().hooks.attempts.clone()
    }

    /// How many attempts GitHub made per guid (redeliveries included).
    pub fn hook_attempts_by_guid(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for a in self.lock().hooks.attempts.iter() {
            *counts.entry(a.guid.clone()).or_default() += 1;
        }
        counts
    }
}
