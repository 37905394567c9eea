//! What a soak runs against: a fresh PostgreSQL database, and the fake
//! GitHub with several installations (one repository each, `alice` a writer
//! everywhere), so that GitHub's per-installation limits hold at the load.

use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::support::events::Source;
use crate::support::fake_github::{FakeGitHub, RepoId, UserType};

/// A database created for one soak, dropped at the end.
pub struct Database {
    admin: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// A new database on the server of the admin URL `MAXION_TEST_POSTGRES_URL`.
    pub async fn create(admin: &str) -> anyhow::Result<Database> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin).await.context("connecting to MAXION_TEST_POSTGRES_URL")?;
        let name = format!("maxion_soak_{}_{}", std::process::id(), chrono::Utc::now().timestamp_millis());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Ok(Database { admin: admin.to_owned(), url: format!("{base}/{name}"), name })
    }

    pub async fn drop_it(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await?;
        Ok(())
    }
}

/// One repository of one installation.
pub struct Repo {
    pub id: RepoId,
    pub source: Source,
}

/// One labelled issue: the job the soak expects.
pub struct Labelled {
    pub repo: usize,
    pub issue: u64,
    pub sent: Instant,
    pub sent_at: chrono::DateTime<chrono::Utc>,
    /// The delivery id of `/maxion status` sent on the issue, if any.
    pub status_command: Option<String>,
}

/// `installations` installations `soak-K`, each with `soak-K/widgets` served over git.
pub fn repos(gh: &FakeGitHub, installations: usize) -> Vec<Repo> {
    gh.add_user("alice", UserType::User);
    (0..installations)
        .map(|k| {
            let owner = format!("soak-{k}");
            let inst = gh.add_installation(&owner);
            let id = gh.add_repo(inst, &format!("{owner}/widgets"));
            gh.git_dir(id);
            gh.set_permission(id, "alice", "write");
            let repository = json!({"id": id.0, "name": "widgets", "full_name": format!("{owner}/widgets"),
                                    "private": true, "clone_url": gh.clone_url(id), "default_branch": "main"});
            Repo { id, source: Source { installation: inst.0, repository, api_url: gh.url().to_owned() } }
        })
        .collect()
}

/// Job `n`: an issue whose scripted agent writes one file and the file the
/// verify command looks for, labelled by `alice` through the balancer (as
/// GitHub delivers: one attempt, recorded however it ends). Every tenth job
/// also gets a `/maxion status` comment, which must be answered exactly once.
pub async fn label(gh: &FakeGitHub, repos: &[Repo], n: usize) -> Labelled {
    let r = n % repos.len();
    let repo = &repos[r];
    let title = format!("Soak job {n}");
    let body = format!("Please.\n\n```maxion-test\nwrite soak-{n}.txt job {n}\nwrite ok.txt fine\n```\n");
    let issue = gh.add_issue(repo.id, &title, &body, &["maxion"]);
    let (sent, sent_at) = (Instant::now(), chrono::Utc::now());
    let payload = repo.source.label("labeled", issue, &title, &body, "alice");
    gh.send_webhook("issues", &format!("soak-label-{n}"), payload).await;
    let status_command = if n % 10 == 3 {
        let guid = format!("soak-status-{n}");
        let comment = gh.add_comment(repo.id, issue, "alice", "/maxion status");
        let payload = repo.source.comment("created", issue, comment, "alice", "/maxion status", None);
        gh.send_webhook("issue_comment", &guid, payload).await;
        Some(guid)
    } else {
        None
    };
    Labelled { repo: r, issue, sent, sent_at, status_command }
}
