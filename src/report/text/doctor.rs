//! What `maxion doctor` prints: one line per check, `✔` or `✘`, and for a
//! failure what to do about it.

pub fn line(ok: bool, what: &str, fix: Option<&str>) -> String {
    match (ok, fix) {
        (true, _) | (false, None) => format!("{} {what}", if ok { "✔" } else { "✘" }),
        (false, Some(fix)) => format!("✘ {what} — fix: {fix}"),
    }
}

/// The last line when a check failed (on stderr, as every failure of the command).
pub const FAILED: &str = "some checks failed (✘ above)";

pub fn settings_ok() -> String {
    "settings parse".to_owned()
}
pub fn settings_bad(error: &str) -> String {
    format!("settings: {error}")
}
pub const SETTINGS_FIX: &str = "correct the setting named above (maxion serve --help lists them all)";

pub fn database_ok(backend: &str) -> String {
    format!("database reachable ({backend})")
}
pub fn database_bad(error: &str) -> String {
    format!("database: {error}")
}
pub const DATABASE_FIX: &str = "check DATABASE_URL and that the database server is running";
pub fn migrations_ok(count: usize) -> String {
    format!("database migrations current ({count} applied)")
}
pub fn migrations_pending(count: usize) -> String {
    format!("database: {count} migration(s) not applied")
}
pub const MIGRATIONS_FIX: &str = "run `maxion migrate` (maxion serve also migrates at start-up)";

pub fn data_dir_ok(dir: &str, free: &str) -> String {
    format!("data directory {dir} writable, {free} free")
}
pub fn data_dir_bad(dir: &str, error: &str) -> String {
    format!("data directory {dir}: {error}")
}
pub fn data_dir_full(dir: &str, free: &str) -> String {
    format!("data directory {dir}: only {free} free")
}
pub const DATA_DIR_FIX: &str = "point MAXION_DATA_DIR at a writable directory with at least 1 GiB free";

pub fn docker_ok(version: &str) -> String {
    format!("Docker answers (Engine {version})")
}
pub fn docker_bad(error: &str) -> String {
    format!("Docker: {error}")
}
pub const DOCKER_FIX: &str = "start the Docker Engine and let this user reach its socket (DOCKER_HOST)";

pub fn image_ok(image: &str) -> String {
    format!("sandbox image {image} present")
}
pub fn image_missing(image: &str) -> String {
    format!("sandbox image {image} not found")
}
pub const IMAGE_FIX: &str = "build it (docker build -f docker/sandbox.Dockerfile -t maxion-sandbox:latest docker/) \
     or set MAXION_SANDBOX_IMAGE; Maxion never pulls images";

pub fn app_missing(missing: &str) -> String {
    format!("GitHub App not configured (missing: {missing})")
}
pub const APP_MISSING_FIX: &str =
    "run `maxion serve` and open /setup to create or import the App (README: First run), or set its settings";
pub fn app_ok(slug: &str, id: u64) -> String {
    format!("GitHub App {slug} (id {id}) authenticates (GET /app)")
}
pub fn app_bad(error: &str) -> String {
    format!("GitHub App credentials: {error}")
}
pub const APP_BAD_FIX: &str = "check GITHUB_APP_ID and the private key (generate a new one on the App's page)";
pub fn hook_ok(url: &str) -> String {
    format!("App webhook URL is {url}")
}
pub fn hook_mismatch(actual: &str, expected: &str) -> String {
    format!("App webhook URL is {actual}, not {expected}")
}
pub fn hook_fix(expected: &str) -> String {
    format!("set the App's webhook URL to {expected} on its GitHub page, or correct MAXION_PUBLIC_URL")
}
pub fn hook_bad(error: &str) -> String {
    format!("App webhook configuration (GET /app/hook/config): {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        insta::assert_snapshot!(line(true, &docker_ok("20.10.24"), None), @"✔ Docker answers (Engine 20.10.24)");
        insta::assert_snapshot!(line(false, &migrations_pending(2), Some(MIGRATIONS_FIX)), @"✘ database: 2 migration(s) not applied — fix: run `maxion migrate` (maxion serve also migrates at start-up)");
    }
}
