//! The App's webhook delivery log: `GET /app/hook/deliveries` (newest first,
//! cursor-paged through the `Link` header) and
//! `POST /app/hook/deliveries/{id}/attempts` (ask GitHub to deliver again).
//! Both authenticate as the App (JWT).

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;

use super::app::GitHubApp;
use super::error::GitHubError;
use super::ids::InstallationId;
use super::transport::{Auth, Call, Safety};

/// The most `GET /app/hook/deliveries` returns per page.
pub const HOOK_DELIVERIES_PER_PAGE: u32 = 100;

/// The limiter lane of App-level mutations (no installation has id 0), so
/// redelivery requests are spaced like every other mutating call.
const APP_LANE: InstallationId = InstallationId(0);

/// One attempt at delivering an event, as GitHub lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct HookDelivery {
    /// This attempt's id (what `attempts` takes).
    pub id: u64,
    /// The event's id, the `X-GitHub-Delivery` header: the same for every
    /// attempt at one event.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    /// GitHub's summary: `OK`, `Invalid HTTP Response: 503`, `failed to connect`…
    pub status: String,
    /// The HTTP status Maxion answered (0 when none).
    pub status_code: u16,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
}

impl HookDelivery {
    /// Whether Maxion answered this attempt with success.
    pub fn succeeded(&self) -> bool {
        self.status.eq_ignore_ascii_case("ok") || (200..300).contains(&self.status_code)
    }
}

/// One page of the delivery log, and the cursor of the next (older) one.
#[derive(Debug, Clone)]
pub struct HookDeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    pub next_cursor: Option<String>,
}

impl GitHubApp {
    /// `GET /app/hook/deliveries`: a page of attempts, newest first.
    pub async fn hook_deliveries(&self, cursor: Option<&str>) -> Result<HookDeliveryPage, GitHubError> {
        let mut path = format!("/app/hook/deliveries?per_page={HOOK_DELIVERIES_PER_PAGE}");
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(c));
        }
        let call = Call::new(Method::GET, path, "the App's webhook deliveries", Safety::Read);
        let resp = self.call(Auth::App, &call).await?;
        let deliveries = resp.json::<Vec<HookDelivery>>("GET /app/hook/deliveries")?;
        let link = resp.headers.get(http::header::LINK).and_then(|v| v.to_str().ok()).unwrap_or_default();
        Ok(HookDeliveryPage { deliveries, next_cursor: next_cursor(link) })
    }

    /// `POST /app/hook/deliveries/{id}/attempts`: GitHub delivers the event
    /// again (asynchronously, with the same guid).
    pub async fn redeliver_hook_delivery(&self, id: u64) -> Result<(), GitHubError> {
        self.inner.limiter.acquire(APP_LANE).await;
        // A repeated request can only cause a second delivery of the same
        // guid, which intake answers as a duplicate: safe to repeat.
        let call = Call::new(
            Method::POST,
            format!("/app/hook/deliveries/{id}/attempts"),
            "the webhook delivery",
            Safety::Idempotent,
        );
        self.call(Auth::App, &call).await.map(drop)
    }
}

/// The `cursor` query value of the `rel="next"` link, if there is one.
fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\"")) {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        query.split('&').find_map(|kv| kv.strip_prefix("cursor=")).map(percent_decode)
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_cursor_comes_from_the_link_header() {
        let link = "<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967>; rel=\"next\", \
                    <https://api.github.com/app/hook/deliveries?per_page=2>; rel=\"first\"";
        assert_eq!(next_cursor(link).as_deref(), Some("v1_12077215967"));
        assert_eq!(next_cursor("<https://x/app/hook/deliveries?per_page=2>; rel=\"first\""), None);
        assert_eq!(next_cursor(""), None);
        assert_eq!(next_cursor("<https://x/d?cursor=a%2Bb>; rel=\"next\"").as_deref(), Some("a+b"));
        assert_eq!(percent_encode("a+b c"), "a%2Bb%20c");
    }
}
