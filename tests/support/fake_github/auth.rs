//! Authentication as GitHub does it for an App: RS256 App JWTs (checked against the test
//! App's public key with GitHub's claim rules) on `/app/*` and the few App-only routes
//! elsewhere (`GET /repos/{o}/{r}/installation`), installation tokens minted by
//! the fake everywhere else, and the permission each operation needs. Reads state only;
//! returns GitHub's real 401/403 messages for the server to send.

use std::collections::{BTreeMap, HashSet};

use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::model::{APP_CLIENT_ID, APP_ID, InstallationId, State, Token};

pub const PUBLIC_KEY_PEM: &str = include_str!("../../fixtures/test-app-key.pub.pem");
pub const PRIVATE_KEY_PEM: &str = include_str!("../../fixtures/test-app-key.pem");
pub const PRIVATE_KEY_PKCS8_PEM: &str = include_str!("../../fixtures/test-app-key.pkcs8.pem");

/// Who a request is, once authenticated.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    App,
    Installation { token: String, data: Token },
}

/// A refusal: status, GitHub's message, and whether the bot is to blame (a violation).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    /// Not the client's fault (the first 401 for a token that expired or was revoked).
    pub excusable: bool,
}

impl Refusal {
    pub fn new(status: u16, message: &str) -> Refusal {
        Refusal { status, message: message.to_string(), excusable: false }
    }
    pub fn bad_credentials() -> Refusal {
        Refusal::new(401, "Bad credentials")
    }
    pub fn not_accessible() -> Refusal {
        Refusal::new(403, "Resource not accessible by integration")
    }
}

/// The credential in `Authorization`, if any: `token X`, `Bearer X`, or basic
/// `x-access-token:X` (what git sends).
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => Some(rest.trim().to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, pass) = decoded.split_once(':')?;
            (user == "x-access-token").then(|| pass.to_string())
        }
        _ => None,
    }
}

fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3 && s.starts_with("ey")
}

/// Routes outside `/app` that GitHub serves to the App itself (App JWT only).
const APP_JWT_ROUTES: &[&str] = &["/repos/{owner}/{repo}/installation"];

/// Unauthenticated routes: the code in the path is the credential.
const ANONYMOUS_ROUTES: &[&str] = &["/app-manifests/{code}/conversions"];

pub fn authenticate(state: &mut State, headers: &HeaderMap, template: &str) -> Result<Caller, Refusal> {
    if ANONYMOUS_ROUTES.contains(&template) {
        if credential(headers).is_some() {
            state.violation(format!("{template}: a credential was sent to an unauthenticated endpoint"));
        }
        return Ok(Caller::Anonymous);
    }
    let app_route = template.starts_with("/app") || APP_JWT_ROUTES.contains(&template);
    let Some(cred) = credential(headers) else {
        if template == "/users/{username}" {
            return Ok(Caller::Anonymous);
        }
        return Err(if app_route {
            Refusal::new(401, "A JSON web token could not be decoded")
        } else {
            Refusal::new(401, "Requires authentication")
        });
    };
    if looks_like_jwt(&cred) {
        verify_jwt(&cred)?;
        if app_route || template == "/users/{username}" {
            return Ok(Caller::App);
        }
        // An App JWT only works on the App's own endpoints.
        return Err(Refusal::new(403, "Resource not accessible by integration"));
    }
    if app_route {
        return Err(Refusal::new(401, "A JSON web token could not be decoded"));
    }
    let Some(data) = state.tokens.get(&cred) else {
        return Err(Refusal::bad_credentials());
    };
    if data.revoked || data.expires_at <= state.now() {
        let first = !data.refused;
        if let Some(t) = state.tokens.get_mut(&cred) {
            t.refused = true;
        }
        return Err(Refusal { excusable: first, ..Refusal::bad_credentials() });
    }
    Ok(Caller::Installation { token: cred, data: data.clone() })
}

/// Checks signature and GitHub's claim rules; messages are GitHub's own.
pub fn verify_jwt(jwt: &str) -> Result<(), Refusal> {
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY_PEM.as_bytes()).expect("test public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .map_err(|_| Refusal::new(401, "A JSON web token could not be decoded"))?;
    let claims = data.claims;
    let now = chrono::Utc::now().timestamp();
    let Some(iat) = claims["iat"].as_i64() else {
        return Err(Refusal::new(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    };
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(Refusal::new(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    };
    // GitHub tolerates a little clock drift on `iat`, none on `exp`.
    if iat > now + 60 {
        return Err(Refusal::new(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    }
    if exp <= now {
        return Err(Refusal::new(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ));
    }
    if exp - iat > 600 || exp > now + 600 + 60 {
        return Err(Refusal::new(401, "'Expiration time' claim ('exp') is too far in the future"));
    }
    let iss_ok = claims["iss"].as_u64() == Some(APP_ID) || claims["iss"].as_str() == Some(APP_CLIENT_ID);
    if !iss_ok {
        return Err(Refusal::new(401, "'Issuer' claim ('iss') must be an Integer"));
    }
    Ok(())
}

/// The installation permission an operation needs, as (permission, level).
pub fn required_permission(method: &Method, template: &str) -> Option<(&'static str, &'static str)> {
    let write = method != Method::GET;
    let t = template;
    Some(if t.starts_with("/app") || APP_JWT_ROUTES.contains(&t) || t == "/users/{username}" || t == "/search/issues" {
        return None;
    } else if t.contains("/check-runs") {
        ("checks", if write { "write" } else { "read" })
    } else if t.contains("/pulls") {
        ("pull_requests", if write { "write" } else { "read" })
    } else if t.contains("/issues") {
        ("issues", if write { "write" } else { "read" })
    } else if t.contains("/contents/") || t.contains("/git/trees/") || t.contains("/branches/") {
        ("contents", "read")
    } else {
        ("metadata", "read")
    })
}

pub fn has_permission(granted: &BTreeMap<String, String>, perm: &str, level: &str) -> bool {
    use super::model::level_rank;
    // Every installation token carries metadata:read implicitly.
    if perm == "metadata" && !granted.is_empty() {
        return true;
    }
    granted.get(perm).is_some_and(|g| level_rank(g) >= level_rank(level))
}

/// Mints a token that looks like GitHub's: `ghs_` + 36 alphanumerics.
pub fn mint(state: &mut State) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::from("ghs_");
    let mut x = state.token_seed ^ (state.issued_tokens.len() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..36 {
        // xorshift64*: plenty for unguessable-enough test tokens.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.push(ALPHABET[(r >> 32) as usize % ALPHABET.len()] as char);
    }
    state.token_seed = x;
    out
}

pub fn installation_of(caller: &Caller) -> Option<InstallationId> {
    match caller {
        Caller::Installation { data, .. } => Some(data.installation),
        _ => None,
    }
}
