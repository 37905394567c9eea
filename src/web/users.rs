//! Signed-in GitHub users: sessions (in this process's memory; a restart
//! signs everyone out), the OAuth `state` values in flight, and each user's
//! readable repositories, cached briefly so a page costs no GitHub call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::github::{GitHubError, OAuthClient, RepoId, UserRepo};

pub const COOKIE: &str = "maxion_user";
pub const STATE_COOKIE: &str = "maxion_oauth_state";
/// GitHub's user-to-server tokens expire after 8 hours; so does the session.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long what GitHub said about a user's repositories is trusted.
pub const REPOS_TTL: Duration = Duration::from_secs(60);
/// An unanswered authorization is forgotten after this.
const STATE_TTL: Duration = Duration::from_secs(600);

/// A user's readable repositories by id, with when GitHub said so.
type RepoCache = Option<(Instant, Arc<HashMap<RepoId, UserRepo>>)>;

pub struct UserSession {
    pub login: String,
    pub id: i64,
    sid: String,
    token: SecretString,
    created: Instant,
    repos: tokio::sync::Mutex<RepoCache>,
}

impl UserSession {
    /// The repositories the user can read (id → repository with their role),
    /// from GitHub at most once per [`REPOS_TTL`].
    pub async fn repos(&self, oauth: &OAuthClient) -> Result<Arc<HashMap<RepoId, UserRepo>>, GitHubError> {
        let mut cached = self.repos.lock().await;
        if let Some((at, repos)) = cached.as_ref()
            && at.elapsed() < REPOS_TTL
        {
            return Ok(Arc::clone(repos));
        }
        let repos: HashMap<RepoId, UserRepo> =
            oauth.readable_repos(&self.token).await?.into_iter().map(|r| (r.id, r)).collect();
        let repos = Arc::new(repos);
        *cached = Some((Instant::now(), Arc::clone(&repos)));
        Ok(repos)
    }
}

pub struct Users {
    /// Signs session cookies and derives CSRF tokens; new per process.
    key: [u8; 32],
    sessions: Mutex<HashMap<String, Arc<UserSession>>>,
    /// OAuth `state` → (when, where to go after).
    pending: Mutex<HashMap<String, (Instant, String)>>,
}

pub(super) fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // The OS's generator failing is not something a web page can recover from.
    if getrandom::getrandom(&mut bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
    hex::encode(bytes)
}

impl Users {
    pub fn new() -> Users {
        let mut key = [0u8; 32];
        if getrandom::getrandom(&mut key).is_err() {
            panic!("the operating system's random number generator failed");
        }
        Users { key, sessions: Mutex::new(HashMap::new()), pending: Mutex::new(HashMap::new()) }
    }

    fn sign(&self, label: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(label.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new `state` for an authorization that returns to `next`.
    pub fn begin(&self, next: String) -> String {
        let state = random_hex();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, (at, _)| at.elapsed() < STATE_TTL);
        pending.insert(state.clone(), (Instant::now(), next));
        state
    }

    /// Takes a `state` back (once); where to go after, if it is known and fresh.
    pub fn finish(&self, state: &str) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(state).filter(|(at, _)| at.elapsed() < STATE_TTL).map(|(_, next)| next)
    }

    /// Starts a session; the cookie value (`sid.signature`).
    pub fn start(&self, login: String, id: i64, token: SecretString) -> String {
        let sid = random_hex();
        let session = Arc::new(UserSession {
            login,
            id,
            sid: sid.clone(),
            token,
            created: Instant::now(),
            repos: tokio::sync::Mutex::new(None),
        });
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        sessions.insert(sid.clone(), session);
        format!("{sid}.{}", self.sign("session", &sid))
    }

    /// The session a cookie value names, if the signature holds and it is alive.
    pub fn get(&self, cookie: &str) -> Option<Arc<UserSession>> {
        let (sid, signature) = cookie.split_once('.')?;
        let expected = self.sign("session", sid);
        if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            return None;
        }
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(sid).filter(|s| s.created.elapsed() < SESSION_TTL).cloned()
    }

    pub fn end(&self, session: &UserSession) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&session.sid);
    }

    /// The CSRF token of a user's forms.
    pub fn csrf(&self, session: &UserSession) -> String {
        self.sign("csrf", &session.sid)
    }
}

impl Default for Users {
    fn default() -> Self {
        Users::new()
    }
}
