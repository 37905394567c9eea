//! `RepoClient`: calls on one repository of one installation, each made with
//! an installation token narrowed to that repository and to the permission
//! the call needs. This file holds the client, its request helpers, and the
//! repository-level calls (metadata, contents, tree, branches, permissions).

use base64::Engine;
use http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::app::GitHubApp;
use super::error::GitHubError;
use super::ids::InstallationId;
use super::tokens::{Permissions, TokenKey};
use super::transport::{Auth, Call, Resp, Safety};
use super::types::{BotIdentity, FileContent, RepoPermission, Repository, Tree, User};

/// Pages fetched at most by a listing call (100 items each).
pub(crate) const MAX_PAGES: u32 = 30;

/// One repository, one installation.
#[derive(Debug, Clone)]
pub struct RepoClient {
    pub(crate) app: GitHubApp,
    pub(crate) installation_id: InstallationId,
    pub(crate) owner: String,
    pub(crate) name: String,
}

/// `owner/name` -> (owner, name), refusing anything that could alter a path.
pub(crate) fn split_full_name(full_name: &str) -> Result<(&str, &str), GitHubError> {
    let ok = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match full_name.split_once('/') {
        Some((o, n)) if ok(o) && ok(n) => Ok((o, n)),
        _ => Err(GitHubError::Config(format!("{full_name:?} is not an owner/name repository"))),
    }
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved kept).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a file path, keeping its slashes.
pub(crate) fn enc_path(path: &str) -> String {
    path.trim_matches('/').split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[derive(Deserialize)]
struct RepoResponse {
    id: u64,
    full_name: String,
    default_branch: String,
    clone_url: String,
    #[serde(default)]
    private: bool,
    visibility: Option<String>,
    #[serde(default)]
    html_url: String,
}

#[derive(Deserialize)]
struct ContentResponse {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    sha: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

#[derive(Deserialize)]
struct BranchResponse {
    commit: ShaOnly,
}

#[derive(Deserialize)]
struct ShaOnly {
    sha: String,
}

#[derive(Deserialize)]
struct PermissionResponse {
    permission: String,
    role_name: Option<String>,
}

impl RepoClient {
    pub(crate) fn new(app: GitHubApp, installation_id: InstallationId, full_name: &str) -> Result<Self, GitHubError> {
        let (owner, name) = split_full_name(full_name)?;
        Ok(Self { app, installation_id, owner: owner.to_owned(), name: name.to_owned() })
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn installation_id(&self) -> InstallationId {
        self.installation_id
    }

    pub fn app(&self) -> &GitHubApp {
        &self.app
    }

    /// `/repos/{owner}/{name}` + `rest`.
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.name)
    }

    fn key(&self, permissions: Permissions) -> TokenKey {
        TokenKey { installation_id: self.installation_id, repo: self.name.clone(), permissions }
    }

    pub(crate) async fn call(&self, permissions: Permissions, call: &Call) -> Result<Resp, GitHubError> {
        let key = self.key(permissions);
        self.app.call(Auth::Installation(&key), call).await
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        permissions: Permissions,
        path: String,
        what: &str,
    ) -> Result<T, GitHubError> {
        self.call(permissions, &Call::new(Method::GET, path, what, Safety::Read)).await?.json(what)
    }

    /// GETs every page of a list endpoint (`per_page=100`). Page numbers, not
    /// `Link` URLs: a `Link` could point at another host, and the token must
    /// only ever go to `GITHUB_API_URL`.
    pub(crate) async fn get_pages<T: DeserializeOwned>(
        &self,
        permissions: Permissions,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, GitHubError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let items: Vec<T> =
                self.get(permissions.clone(), format!("{path}{sep}per_page=100&page={page}"), what).await?;
            let n = items.len();
            all.extend(items);
            if n < 100 {
                break;
            }
        }
        Ok(all)
    }

    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        permissions: Permissions,
        method: Method,
        path: String,
        body: serde_json::Value,
        safety: Safety,
        what: &str,
    ) -> Result<T, GitHubError> {
        self.call(permissions, &Call::new(method, path, what, safety).body(body)).await?.json(what)
    }

    /// `GET /repos/{o}/{r}`: default branch, clone URL, visibility.
    pub async fn get_repository(&self) -> Result<Repository, GitHubError> {
        let r: RepoResponse = self.get(Permissions::metadata_read(), self.path(""), "repository").await?;
        let visibility = r.visibility.unwrap_or_else(|| if r.private { "private".into() } else { "public".into() });
        Ok(Repository {
            id: r.id,
            full_name: r.full_name,
            default_branch: r.default_branch,
            clone_url: r.clone_url,
            visibility,
            private: r.private,
            html_url: r.html_url,
        })
    }

    /// A file at `git_ref` (branch, tag or sha). `Ok(None)` when it does not
    /// exist; a directory at that path is also `None`.
    pub async fn get_file(&self, path: &str, git_ref: &str) -> Result<Option<FileContent>, GitHubError> {
        let url = self.path(&format!("/contents/{}?ref={}", enc_path(path), enc(git_ref)));
        let call = Call::new(Method::GET, url, format!("file {path}"), Safety::Read);
        let resp = match self.call(Permissions::contents_read(), &call).await {
            Ok(r) => r,
            Err(GitHubError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if resp.body.first() == Some(&b'[') {
            return Ok(None);
        }
        let c: ContentResponse = resp.json("file contents")?;
        if c.kind != "file" {
            return Ok(None);
        }
        if c.encoding != "base64" {
            // Files over 1 MB come back without inline content.
            return Err(GitHubError::Decode {
                what: format!("file {path}"),
                message: format!("content encoding {:?} (file too large?)", c.encoding),
            });
        }
        let compact: String = c.content.chars().filter(|ch| !ch.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| GitHubError::Decode { what: format!("file {path}"), message: e.to_string() })?;
        Ok(Some(FileContent { path: c.path, sha: c.sha, bytes }))
    }

    /// The whole tree at `git_ref`, recursively.
    pub async fn get_tree(&self, git_ref: &str) -> Result<Tree, GitHubError> {
        self.get(Permissions::contents_read(), self.path(&format!("/git/trees/{}?recursive=1", enc(git_ref))), "tree")
            .await
    }

    /// The head commit sha of `branch`; `None` if the branch does not exist.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>, GitHubError> {
        match self
            .get::<BranchResponse>(
                Permissions::contents_read(),
                self.path(&format!("/branches/{}", enc(branch))),
                "branch",
            )
            .await
        {
            Ok(b) => Ok(Some(b.commit.sha)),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The permission `user` has on this repository (`None` for an unknown user).
    pub async fn collaborator_permission(&self, user: &str) -> Result<RepoPermission, GitHubError> {
        let path = self.path(&format!("/collaborators/{}/permission", enc(user)));
        match self.get::<PermissionResponse>(Permissions::metadata_read(), path, "collaborator").await {
            Ok(p) => Ok(p
                .role_name
                .as_deref()
                .and_then(RepoPermission::parse)
                .or_else(|| RepoPermission::parse(&p.permission))
                .unwrap_or(RepoPermission::None)),
            Err(GitHubError::NotFound { .. }) => Ok(RepoPermission::None),
            Err(e) => Err(e),
        }
    }

    /// The App's bot user, for the commit identity
    /// `<id>+<slug>[bot]@users.noreply.github.com`. Cached after the first call.
    pub async fn bot_identity(&self) -> Result<BotIdentity, GitHubError> {
        let inner = &self.app.inner;
        inner
            .bot
            .get_or_try_init(|| async {
                let slug = self.app.app_info().await?.slug;
                let user: User = self
                    .get(
                        Permissions::metadata_read(),
                        format!("/users/{}", enc(&format!("{slug}[bot]"))),
                        "the App's bot user",
                    )
                    .await?;
                Ok(BotIdentity::new(user.id, &slug))
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_that_could_escape_the_path_are_refused() {
        assert!(split_full_name("octo/widgets").is_ok());
        assert!(split_full_name("octo/wid.gets-2").is_ok());
        for bad in ["octo", "octo/", "/x", "octo/../x", "octo/..", "a/b?c", "a/b#", "a b/c"] {
            assert!(split_full_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_and_refs_are_encoded() {
        assert_eq!(enc_path("/.github/maxion.yml"), ".github/maxion.yml");
        assert_eq!(enc_path("docs/a b#c.md"), "docs/a%20b%23c.md");
        assert_eq!(enc("feature/x&y"), "feature%2Fx%26y");
        assert_eq!(enc("maxion[bot]"), "maxion%5Bbot%5D");
    }

    #[test]
    fn bot_identity_uses_githubs_noreply_form() {
        let b = BotIdentity::new(41898282, "maxion");
        assert_eq!(b.login, "maxion[bot]");
        assert_eq!(b.email, "41898282+maxion[bot]@users.noreply.github.com");
    }
}
