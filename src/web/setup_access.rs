//! Who may use the first-run setup, and its one-time values. The setup hands
//! out the App's credentials to whoever finishes it, so it opens only to a
//! browser on this machine (a loopback peer, a local `Host`, and no proxy's
//! forwarding headers: a proxy on the same host would otherwise make every
//! visitor local), or to whoever presents the one-time code the service
//! prints in its log at start-up (then a cookie keeps that browser in).
//!
//! `state` values (the manifest flow's, and the import form's CSRF token) are
//! random, work once, and expire after an hour, as GitHub's code does.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::users::random_hex;
use crate::server::session;

pub const COOKIE: &str = "maxion_setup";
const STATE_TTL: Duration = Duration::from_secs(3600);
/// Each page view makes two; more than this in flight drops the oldest.
const MAX_STATES: usize = 200;

/// What a `state` was issued for: one never stands in for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The manifest flow's `state`, checked by the callback.
    Create,
    /// The import form's CSRF token.
    Import,
}

pub struct Setup {
    /// The code printed in the log; `None` once presented (or with an App).
    code: Mutex<Option<String>>,
    /// Browsers that presented the code.
    sessions: Mutex<HashSet<String>>,
    states: Mutex<HashMap<String, (Purpose, Instant)>>,
    /// One setup finishes at a time: the second finds the App in place.
    pub(super) finishing: tokio::sync::Mutex<()>,
}

impl Setup {
    /// With a fresh code (logged by the caller) while no App is configured.
    pub fn new(configured: bool) -> Setup {
        Setup {
            code: Mutex::new((!configured).then(random_hex)),
            sessions: Mutex::new(HashSet::new()),
            states: Mutex::new(HashMap::new()),
            finishing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn code(&self) -> Option<String> {
        lock(&self.code).clone()
    }

    /// Takes the code if `presented` is it: a new browser session's cookie value.
    pub fn redeem(&self, presented: &str) -> Option<String> {
        let mut code = lock(&self.code);
        let matches = code.as_ref().is_some_and(|c| equal(c, presented.trim()));
        if !matches {
            return None;
        }
        *code = None;
        let sid = random_hex();
        lock(&self.sessions).insert(sid.clone());
        Some(sid)
    }

    /// Whether this request may use the setup.
    pub fn allowed(&self, peer: &Peer, headers: &HeaderMap) -> bool {
        if peer.local {
            return true;
        }
        let Some(sid) = session::cookie(headers, COOKIE) else { return false };
        lock(&self.sessions).iter().any(|s| equal(s, &sid))
    }

    /// A new one-time `state` for `purpose`.
    pub fn issue(&self, purpose: Purpose) -> String {
        let mut states = lock(&self.states);
        let now = Instant::now();
        states.retain(|_, (_, at)| now.duration_since(*at) < STATE_TTL);
        while states.len() >= MAX_STATES {
            let Some(oldest) = states.iter().min_by_key(|(_, (_, at))| *at).map(|(s, _)| s.clone()) else { break };
            states.remove(&oldest);
        }
        let state = random_hex();
        states.insert(state.clone(), (purpose, now));
        state
    }

    /// Uses up `state`: true once for each unexpired value issued for `purpose`.
    pub fn take(&self, purpose: Purpose, state: &str) -> bool {
        let mut states = lock(&self.states);
        match states.get(state) {
            Some((issued_for, _)) if *issued_for == purpose => {
                states.remove(state).is_some_and(|(_, at)| at.elapsed() < STATE_TTL)
            }
            _ => false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether the request comes from this machine, and not through a proxy.
pub struct Peer {
    pub local: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(Peer { local: peer.is_some_and(|p| p.ip().is_loopback()) && local_request(&parts.headers) })
    }
}

fn local_request(headers: &HeaderMap) -> bool {
    let forwarded = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip"];
    if forwarded.iter().any(|h| headers.contains_key(*h)) {
        return false;
    }
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_work_once_and_the_code_once() {
        let setup = Setup::new(false);
        let state = setup.issue(Purpose::Create);
        assert!(!setup.take(Purpose::Import, &state), "issued for the other form");
        assert!(setup.take(Purpose::Create, &state));
        assert!(!setup.take(Purpose::Create, &state), "reused");
        assert!(!setup.take(Purpose::Create, "made-up"));
        let code = setup.code().expect("a code");
        assert!(setup.redeem("wrong").is_none());
        assert!(setup.redeem(&code).is_some());
        assert!(setup.redeem(&code).is_none(), "the code works once");
        assert!(Setup::new(true).code().is_none());
    }

    #[test]
    fn only_a_local_host_without_forwarding_headers_is_local() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("value"));
            }
            local_request(&h)
        };
        assert!(with(&[("host", "127.0.0.1:3000")]));
        assert!(with(&[("host", "localhost")]));
        assert!(with(&[("host", "[::1]:3000")]));
        assert!(!with(&[("host", "maxion.example")]));
        assert!(!with(&[("host", "127.0.0.1:3000"), ("x-forwarded-for", "203.0.113.9")]));
        assert!(!with(&[]));
    }
}
