//! The App's JSON Web Token: RS256 over the App's private key (PKCS#1 as
//! GitHub issues it, or PKCS#8). Only used for `/app/...` endpoints, above all
//! to mint installation tokens. Pure: touches no network.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::GitHubError;

/// Backdating `iat` absorbs clock skew between us and GitHub (GitHub's advice).
pub const IAT_BACKDATE: Duration = Duration::seconds(60);
/// GitHub refuses an `exp` more than ten minutes ahead; stay under it.
pub const LIFETIME: Duration = Duration::seconds(9 * 60);
/// A cached JWT is reused until this close to its `exp`.
const REUSE_MARGIN: Duration = Duration::seconds(120);

/// The claims GitHub reads from an App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    pub iat: i64,
    pub exp: i64,
    /// The App id. GitHub wants an integer here (or the string client id).
    pub iss: u64,
}

impl AppClaims {
    pub fn new(app_id: u64, now: DateTime<Utc>) -> Self {
        Self {
            iat: (now - IAT_BACKDATE).timestamp(),
            exp: (now + LIFETIME).timestamp(),
            iss: app_id,
        }
    }
}

/// Signs App JWTs; keeps the last one while it is fresh so the masker does
/// not learn a new secret on every call.
pub struct AppSigner {
    app_id: u64,
    key: EncodingKey,
    cached: Mutex<Option<(SecretString, DateTime<Utc>)>>,
}

impl std::fmt::Debug for AppSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSigner")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl AppSigner {
    /// Accepts `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1) and
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM.
    pub fn new(app_id: u64, private_key_pem: &SecretString) -> Result<Self, GitHubError> {
        let key =
            EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes()).map_err(|e| {
                GitHubError::Config(format!(
                    "the App private key is not a usable RSA PEM key: {e}"
                ))
            })?;
        let signer = Self {
            app_id,
            key,
            cached: Mutex::new(None),
        };
        // Fail at start-up, not on the first webhook.
        signer.sign(&AppClaims::new(app_id, Utc::now()))?;
        Ok(signer)
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// Signs the given claims (exposed for tests of the claim window).
    pub fn sign(&self, claims: &AppClaims) -> Result<SecretString, GitHubError> {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.key)
            .map_err(|e| GitHubError::Config(format!("signing the App JWT failed: {e}")))?;
        Ok(SecretString::from(token))
    }

    /// A JWT valid for at least two more minutes.
    pub fn jwt(&self) -> Result<SecretString, GitHubError> {
        let now = Utc::now();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((jwt, exp)) = cached.as_ref()
            && *exp - REUSE_MARGIN > now
        {
            return Ok(jwt.clone());
        }
        let claims = AppClaims::new(self.app_id, now);
        let jwt = self.sign(&claims)?;
        let _ = crate::masker::global().add(&jwt);
        let exp = DateTime::<Utc>::from_timestamp(claims.exp, 0).unwrap_or(now);
        *cached = Some((jwt.clone(), exp));
        Ok(jwt)
    }

    /// Forgets the cached JWT (after a 401 on an `/app` call).
    pub fn evict(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use std::sync::OnceLock;

    /// One generated key per test binary: (PKCS#1 PEM, PKCS#8 PEM, public PKCS#1 DER).
    pub(crate) fn test_key() -> &'static (String, String, Vec<u8>) {
        static KEY: OnceLock<(String, String, Vec<u8>)> = OnceLock::new();
        KEY.get_or_init(|| {
            let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
            let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
            let public = key
                .to_public_key()
                .to_pkcs1_der()
                .unwrap()
                .as_bytes()
                .to_vec();
            (pkcs1, pkcs8, public)
        })
    }

    fn decode(jwt: &SecretString, public_der: &[u8]) -> AppClaims {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_required_spec_claims(&["exp", "iat"]);
        jsonwebtoken::decode::<AppClaims>(
            jwt.expose_secret(),
            &DecodingKey::from_rsa_der(public_der),
            &v,
        )
        .unwrap()
        .claims
    }

    #[test]
    fn pkcs1_and_pkcs8_keys_sign_verifiable_jwts_with_githubs_window() {
        let (pkcs1, pkcs8, public) = test_key();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        for pem in [pkcs1, pkcs8] {
            let signer = AppSigner::new(4242, &SecretString::from(pem.clone())).unwrap();
            let before = Utc::now().timestamp();
            let claims = decode(&signer.jwt().unwrap(), public);
            let after = Utc::now().timestamp();
            assert_eq!(claims.iss, 4242);
            assert!(
                claims.iat >= before - 60 && claims.iat <= after - 60,
                "iat {claims:?}"
            );
            assert!(
                claims.exp <= after + 600,
                "exp more than 10 minutes ahead: {claims:?}"
            );
            assert!(
                claims.exp > after + 300,
                "exp too short to be useful: {claims:?}"
            );
        }
    }

    #[test]
    fn jwt_is_reused_while_fresh_and_registered_with_the_masker() {
        let (pkcs1, _, _) = test_key();
        let signer = AppSigner::new(4242, &SecretString::from(pkcs1.clone())).unwrap();
        let a = signer.jwt().unwrap();
        let b = signer.jwt().unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        let line = format!("Authorization: Bearer {}", a.expose_secret());
        assert_eq!(
            crate::masker::global().mask(&line),
            "Authorization: Bearer ***"
        );
    }

    #[test]
    fn a_non_rsa_key_is_a_config_error() {
        let err = AppSigner::new(
            1,
            &SecretString::from(
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".to_owned(),
            ),
        )
        .unwrap_err();
        assert!(matches!(err, GitHubError::Config(_)));
        assert!(!err.to_string().contains("AAAA"));
    }
}
