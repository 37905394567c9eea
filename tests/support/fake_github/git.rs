//! Git smart HTTP for the fake's repositories (placeholder until `git http-backend` is wired).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::server::Shared;

pub fn is_git_path(path: &str) -> bool {
    path.contains(".git/")
}

pub async fn serve(
    _shared: Shared,
    _method: Method,
    _uri: Uri,
    _headers: HeaderMap,
    _body: Bytes,
) -> Response {
    StatusCode::NOT_FOUND.into_response()
}
