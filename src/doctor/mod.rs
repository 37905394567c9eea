//! `maxion doctor`: checks what a job needs, one line each (`✔`, or `✘`
//! with the fix): the database and its migrations, the data directory, Docker
//! and the sandbox image with its agent programs, the DNS isolation that
//! network mode `filtered` relies on, the App's credentials and its webhook
//! URL, and the configured model providers. Nothing is changed: no
//! migration is applied, nothing is pulled (the throwaway containers and
//! network of the image checks are removed again).

mod providers;
mod sandbox;

use std::path::Path;

use crate::config::Settings;
use crate::report::text::doctor as text;

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub line: String,
}

impl Check {
    pub(crate) fn pass(what: String) -> Check {
        Check { ok: true, line: text::line(true, &what, None) }
    }
    pub(crate) fn fail(what: String, fix: &str) -> Check {
        Check { ok: false, line: text::line(false, &what, Some(fix)) }
    }
}

/// Less free space than this in the data directory fails the check.
const MIN_FREE: u64 = 1 << 30;

/// Runs every check; the settings already parsed (that is the first check).
pub async fn run(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![Check::pass(text::settings_ok())];
    checks.extend(database(settings).await);
    checks.push(data_dir(&settings.data_dir).await);
    let (docker_checks, docker) = docker(settings).await;
    checks.extend(docker_checks);
    if let Some(docker) = docker {
        checks.extend(sandbox::checks(settings, &docker).await);
    }
    checks.extend(app(settings).await);
    checks.extend(providers::checks(settings).await);
    checks
}

/// The line for settings that did not parse.
pub fn settings_failed(error: &str) -> Check {
    Check::fail(text::settings_bad(error), text::SETTINGS_FIX)
}

async fn database(settings: &Settings) -> Vec<Check> {
    let store = match crate::jobs::Store::connect(&settings.database_url).await {
        Ok(s) => s,
        Err(e) => return vec![Check::fail(text::database_bad(&format!("{e:#}")), text::DATABASE_FIX)],
    };
    let backend = format!("{:?}", store.backend());
    let mut checks = vec![Check::pass(text::database_ok(&backend))];
    match store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => checks.push(Check::pass(text::migrations_ok(migration_count(&store)))),
        Ok(pending) => checks.push(Check::fail(text::migrations_pending(pending.len()), text::MIGRATIONS_FIX)),
        Err(e) => checks.push(Check::fail(text::database_bad(&format!("{e:#}")), text::DATABASE_FIX)),
    }
    store.pool_close().await;
    checks
}

fn migration_count(store: &crate::jobs::Store) -> usize {
    let migrator = match store.backend() {
        crate::jobs::Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        crate::jobs::Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    migrator.iter().filter(|m| !m.migration_type.is_down_migration()).count()
}

async fn data_dir(dir: &Path) -> Check {
    let shown = dir.display().to_string();
    let probe = dir.join(".maxion-doctor-probe");
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&probe, b"probe").await?;
        tokio::fs::remove_file(&probe).await
    };
    if let Err(e) = written.await {
        return Check::fail(text::data_dir_bad(&shown, &e.to_string()), text::DATA_DIR_FIX);
    }
    match free_bytes(dir).await {
        Some(free) if free >= MIN_FREE => Check::pass(text::data_dir_ok(&shown, &human(free))),
        Some(free) => Check::fail(text::data_dir_full(&shown, &human(free)), text::DATA_DIR_FIX),
        None => Check::fail(text::data_dir_bad(&shown, "free space unknown (df failed)"), text::DATA_DIR_FIX),
    }
}

/// Free bytes where `dir` lives, from POSIX `df -Pk` (no extra crate for statvfs).
async fn free_bytes(dir: &Path) -> Option<u64> {
    let out = tokio::process::Command::new("df").arg("-Pk").arg(dir).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

fn human(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// Docker and the image; the engine is handed on when the image is there
/// (the checks that run containers of it need both).
async fn docker(settings: &Settings) -> (Vec<Check>, Option<bollard::Docker>) {
    let docker = match crate::sandbox::connect().await {
        Ok(d) => d,
        Err(e) => return (vec![Check::fail(text::docker_bad(&e.to_string()), text::DOCKER_FIX)], None),
    };
    let version = match docker.version().await {
        Ok(v) => v.version.unwrap_or_else(|| "unknown".into()),
        Err(e) => return (vec![Check::fail(text::docker_bad(&e.to_string()), text::DOCKER_FIX)], None),
    };
    let image = &settings.pipeline.sandbox_image;
    let (image_check, usable) = match docker.inspect_image(image).await {
        Ok(_) => (Check::pass(text::image_ok(image)), Some(docker)),
        Err(_) => (Check::fail(text::image_missing(image), text::IMAGE_FIX), None),
    };
    (vec![Check::pass(text::docker_ok(&version)), image_check], usable)
}

async fn app(settings: &Settings) -> Vec<Check> {
    let Some(creds) = &settings.app else {
        return vec![Check::fail(text::app_missing(&settings.missing.join(", ")), text::APP_MISSING_FIX)];
    };
    let config = crate::github::GitHubConfig::new(&settings.github_api_url, creds.app_id, creds.private_key.clone());
    let app = match crate::github::GitHubApp::new(config) {
        Ok(a) => a,
        Err(e) => return vec![Check::fail(text::app_bad(&e.to_string()), text::APP_BAD_FIX)],
    };
    let info = match app.app_info().await {
        Ok(i) => i,
        Err(e) => return vec![Check::fail(text::app_bad(&e.to_string()), text::APP_BAD_FIX)],
    };
    let expected = format!("{}/webhook", settings.public_url);
    let hook = match app.hook_config().await {
        Ok(h) => match h.url {
            Some(url) if url.trim_end_matches('/') == expected => Check::pass(text::hook_ok(&url)),
            url => {
                let actual = url.unwrap_or_default();
                Check::fail(text::hook_mismatch(&actual, &expected), &text::hook_fix(&expected))
            }
        },
        Err(e) => Check::fail(text::hook_bad(&e.to_string()), &text::hook_fix(&expected)),
    };
    vec![Check::pass(text::app_ok(&info.slug, info.id)), hook]
}
