//! The page session while sign-in with GitHub is not built: whoever presents
//! the API token on the sign-in page gets a cookie derived from it
//! (HMAC-SHA256 of a fixed label under the token), so the browser never holds
//! the token itself. The same derivation gives the CSRF token every form
//! carries. Changing `MAXION_API_TOKEN` signs everyone out.

use axum::http::HeaderMap;
use axum::http::header;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AppState;

pub const COOKIE: &str = "maxion_session";
/// A week, then sign in again.
const MAX_AGE_SECS: u64 = 7 * 24 * 3600;

fn derive(state: &AppState, label: &str) -> Option<String> {
    let token = state.settings.api_token.as_ref()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(token.expose_secret().as_bytes()).ok()?;
    mac.update(label.as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `presented` is this instance's API token.
pub fn is_api_token(state: &AppState, presented: &str) -> bool {
    state.settings.api_token.as_ref().is_some_and(|t| equal(t.expose_secret(), presented.trim()))
}

/// Whether the request carries a valid session cookie.
pub fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = derive(state, "maxion page session v1") else { return false };
    cookie(headers, COOKIE).is_some_and(|v| equal(&v, &expected))
}

/// The CSRF token forms carry; `None` when no API token is configured.
pub fn csrf_token(state: &AppState) -> Option<String> {
    derive(state, "maxion csrf v1")
}

pub fn csrf_ok(state: &AppState, presented: &str) -> bool {
    csrf_token(state).is_some_and(|t| equal(&t, presented))
}

/// `Set-Cookie` for a new session (`Secure` when the public URL is https).
pub fn set_cookie(state: &AppState) -> Option<String> {
    let value = derive(state, "maxion page session v1")?;
    Some(format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE_SECS}{}", secure(state)))
}

/// `Set-Cookie` that ends the session.
pub fn clear_cookie(state: &AppState) -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", secure(state))
}

fn secure(state: &AppState) -> &'static str {
    if state.settings.public_url.starts_with("https://") { "; Secure" } else { "" }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
