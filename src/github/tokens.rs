//! Installation-token bookkeeping: the permission sets a call asks for and the
//! cache of minted tokens, keyed by (installation, repository, permissions).
//! No I/O here; `app.rs` mints, this file decides when a token is still good.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde::Serialize;

use super::ids::InstallationId;

/// A token is dropped this long before GitHub's `expires_at`, so a call that
/// starts with it cannot see it expire mid-flight.
pub const EXPIRY_MARGIN: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// What git sends for an installation token (`Authorization: Basic …`'s
/// value): registered with the masker beside the token, dropped with it.
pub fn git_basic_credential(token: &SecretString) -> SecretString {
    use base64::Engine as _;
    use secrecy::ExposeSecret as _;
    SecretString::from(
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", token.expose_secret())),
    )
}

/// Drops expired installation tokens (and their git form) from the
/// process-wide masker.
pub(crate) fn unregister(tokens: Vec<SecretString>) {
    let masker = crate::masker::global();
    for token in tokens {
        let _ = masker.remove(&git_basic_credential(&token));
        let _ = masker.remove(&token);
    }
}

/// The permissions an installation token is narrowed to (the `permissions`
/// body of `POST /app/installations/{id}/access_tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Permissions(BTreeMap<&'static str, Access>);

impl Permissions {
    pub fn of(pairs: &[(&'static str, Access)]) -> Self {
        Self(pairs.iter().copied().collect())
    }
    pub fn issues_read() -> Self {
        Self::of(&[("issues", Access::Read)])
    }
    pub fn issues_write() -> Self {
        Self::of(&[("issues", Access::Write)])
    }
    pub fn pulls_read() -> Self {
        Self::of(&[("pull_requests", Access::Read)])
    }
    pub fn pulls_write() -> Self {
        Self::of(&[("pull_requests", Access::Write)])
    }
    pub fn checks_read() -> Self {
        Self::of(&[("checks", Access::Read)])
    }
    pub fn checks_write() -> Self {
        Self::of(&[("checks", Access::Write)])
    }
    pub fn contents_read() -> Self {
        Self::of(&[("contents", Access::Read)])
    }
    /// Pushing from the host (the ship step) needs this one.
    pub fn contents_write() -> Self {
        Self::of(&[("contents", Access::Write)])
    }
    pub fn metadata_read() -> Self {
        Self::of(&[("metadata", Access::Read)])
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Access)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub installation_id: InstallationId,
    /// The repository name (without owner) the token is restricted to.
    pub repo: String,
    pub permissions: Permissions,
}

struct Cached {
    token: SecretString,
    expires_at: DateTime<Utc>,
}

/// Minted installation tokens, reused until [`EXPIRY_MARGIN`] before expiry.
/// Tokens no longer served (too close to expiry, or refused) wait in
/// `retired` until they have expired, when [`TokenCache::take_expired`] hands
/// them out to be dropped from the masker: a dead token needs no masking, and
/// the masker slows down with every secret it holds.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenKey, Cached>>,
    retired: Mutex<Vec<Cached>>,
    minting: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("entries", &self.len()).finish()
    }
}

impl TokenCache {
    /// The cached token for `key` if it is still good at `now`.
    pub fn get(&self, key: &TokenKey, now: DateTime<Utc>) -> Option<SecretString> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(c) if c.expires_at - EXPIRY_MARGIN > now => Some(c.token.clone()),
            Some(_) => {
                if let Some(old) = entries.remove(key) {
                    self.retire(old);
                }
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: TokenKey, token: SecretString, expires_at: DateTime<Utc>) {
        let old = self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Cached { token, expires_at });
        if let Some(old) = old {
            self.retire(old);
        }
    }

    fn retire(&self, c: Cached) {
        self.retired.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }

    /// Removes and returns every token (served or retired) that has expired
    /// at `now`.
    pub fn take_expired(&self, now: DateTime<Utc>) -> Vec<SecretString> {
        let mut expired = Vec::new();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, c| {
            let alive = c.expires_at > now;
            if !alive {
                expired.push(c.token.clone());
            }
            alive
        });
        drop(entries);
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.retain(|c| {
            let alive = c.expires_at > now;
            if !alive {
                expired.push(c.token.clone());
            }
            alive
        });
        expired
    }

    /// The lock held while a token for `key` is minted (one mint at a time per key).
    pub fn mint_lock(&self, key: &TokenKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.minting.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(key.clone()).or_default())
    }

    /// Drops the token for `key` (GitHub answered 401 with it).
    pub fn evict(&self, key: &TokenKey) {
        let old = self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        if let Some(old) = old {
            self.retire(old);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn key(repo: &str, p: Permissions) -> TokenKey {
        TokenKey { installation_id: InstallationId(7), repo: repo.into(), permissions: p }
    }

    #[test]
    fn token_is_served_until_five_minutes_before_expiry() {
        let cache = TokenCache::default();
        let t0 = Utc::now();
        let k = key("widgets", Permissions::issues_write());
        cache.insert(k.clone(), SecretString::from("ghs_aaaaaaaaaaaa".to_owned()), t0 + Duration::minutes(60));
        assert_eq!(cache.get(&k, t0).unwrap().expose_secret(), "ghs_aaaaaaaaaaaa");
        assert!(cache.get(&k, t0 + Duration::minutes(54)).is_some());
        assert!(cache.get(&k, t0 + Duration::minutes(55)).is_none(), "inside the 5-minute margin");
        assert!(cache.is_empty(), "an expired entry is dropped");
    }

    #[test]
    fn tokens_are_not_shared_across_repositories_or_permission_sets() {
        let cache = TokenCache::default();
        let t0 = Utc::now();
        cache.insert(
            key("a", Permissions::issues_write()),
            SecretString::from("ghs_1111111111".to_owned()),
            t0 + Duration::hours(1),
        );
        assert!(cache.get(&key("b", Permissions::issues_write()), t0).is_none());
        assert!(cache.get(&key("a", Permissions::checks_write()), t0).is_none());
        assert!(cache.get(&key("a", Permissions::issues_write()), t0).is_some());
    }

    #[test]
    fn expired_tokens_are_handed_out_once_served_or_retired() {
        let cache = TokenCache::default();
        let t0 = Utc::now();
        let k = key("a", Permissions::contents_read());
        cache.insert(k.clone(), SecretString::from("ghs_first_00000".to_owned()), t0 + Duration::minutes(60));
        // Within the margin: no longer served, but still valid on GitHub.
        assert!(cache.get(&k, t0 + Duration::minutes(56)).is_none());
        cache.insert(k.clone(), SecretString::from("ghs_second_0000".to_owned()), t0 + Duration::minutes(116));
        assert!(cache.take_expired(t0 + Duration::minutes(59)).is_empty(), "the first is still valid");
        let gone: Vec<String> =
            cache.take_expired(t0 + Duration::minutes(61)).iter().map(|t| t.expose_secret().to_owned()).collect();
        assert_eq!(gone, vec!["ghs_first_00000"]);
        assert!(cache.take_expired(t0 + Duration::minutes(61)).is_empty(), "handed out once");
        assert!(cache.get(&k, t0 + Duration::minutes(62)).is_some(), "the second is served");
        let gone = cache.take_expired(t0 + Duration::minutes(117));
        assert_eq!(gone.len(), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn evict_forgets_the_token() {
        let cache = TokenCache::default();
        let k = key("a", Permissions::contents_read());
        cache.insert(k.clone(), SecretString::from("ghs_2222222222".to_owned()), Utc::now() + Duration::hours(1));
        cache.evict(&k);
        assert!(cache.get(&k, Utc::now()).is_none());
    }

    #[test]
    fn permissions_serialize_as_githubs_body() {
        let p = Permissions::of(&[("issues", Access::Write), ("checks", Access::Read)]);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"checks":"read","issues":"write"}"#);
    }
}
