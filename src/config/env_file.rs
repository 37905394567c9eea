//! The `.env` file in the data directory: where the first-run setup keeps the
//! App it created or imported, so the next start-up finds it. Read by
//! [`super::Settings::load`] below the environment (and flags) and above the
//! `--config` file; written with mode 0600 by replacing the file in one
//! rename, keeping lines it does not own.
//!
//! Values are written in single quotes, which dotenv reads literally (no
//! escapes, no `$` expansion); the private key's line breaks become literal
//! `\n`, which `GITHUB_APP_PRIVATE_KEY` accepts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

pub const FILE_NAME: &str = ".env";

/// The keys the setup writes (a rewrite replaces exactly these).
const APP_KEYS: &[&str] = &[
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_APP_PRIVATE_KEY_PATH",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_APP_CLIENT_ID",
    "GITHUB_APP_CLIENT_SECRET",
];

/// What the setup stores about the App.
pub struct AppEnv<'a> {
    pub app_id: u64,
    pub private_key: &'a SecretString,
    pub webhook_secret: &'a SecretString,
    /// The OAuth client (id, secret) for sign-in with GitHub.
    pub oauth: Option<(&'a str, &'a SecretString)>,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Whether `value` can be written as one single-quoted value.
pub fn storable(value: &str) -> bool {
    !value.contains(['\'', '\n', '\r', '\0'])
}

/// The file's settings; empty when there is none.
pub fn read(data_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let file = path(data_dir);
    let entries = match dotenvy::from_path_iter(&file) {
        Ok(entries) => entries,
        Err(e) if e.not_found() => return Ok(BTreeMap::new()),
        Err(e) => bail!("MAXION_DATA_DIR: cannot read {}: {e}", file.display()),
    };
    let mut values = BTreeMap::new();
    for entry in entries {
        let (key, value) =
            entry.map_err(|e| anyhow::anyhow!("MAXION_DATA_DIR: {} does not parse: {e}", file.display()))?;
        values.insert(key, value);
    }
    Ok(values)
}

/// Writes the App into the data directory's `.env` (created, or rewritten
/// keeping its other lines) with mode 0600; returns its path.
pub fn write_app(data_dir: &Path, app: &AppEnv) -> anyhow::Result<PathBuf> {
    let key = app.private_key.expose_secret().trim().replace("\r\n", "\n").replace('\n', "\\n");
    let mut pairs = vec![
        ("GITHUB_APP_ID", app.app_id.to_string()),
        ("GITHUB_APP_PRIVATE_KEY", key),
        ("GITHUB_WEBHOOK_SECRET", app.webhook_secret.expose_secret().to_owned()),
    ];
    if let Some((id, secret)) = app.oauth {
        pairs.push(("GITHUB_APP_CLIENT_ID", id.to_owned()));
        pairs.push(("GITHUB_APP_CLIENT_SECRET", secret.expose_secret().to_owned()));
    }
    if let Some((name, _)) = pairs.iter().find(|(_, value)| !storable(value)) {
        bail!("{name}: holds a quote or a line break and cannot be stored in {FILE_NAME}");
    }
    let lines: Vec<String> = pairs.iter().map(|(name, value)| format!("{name}='{value}'")).collect();
    let file = path(data_dir);
    let kept = match std::fs::read_to_string(&file) {
        Ok(text) => text.lines().filter(|l| !owned(l)).map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("# Written by Maxion's first-run setup: the GitHub App.\n");
    text.push_str(&lines.join("\n"));
    text.push('\n');
    write_private(&file, text.as_bytes())?;
    Ok(file)
}

/// Checks that the data directory can take the file, before anything is
/// asked of GitHub that cannot be asked twice.
pub fn check_writable(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let probe = data_dir.join(".env.probe");
    write_private(&probe, b"")?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))
}

/// A line setting one of the keys the setup owns (or the setup's comment).
fn owned(line: &str) -> bool {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    line.starts_with("# Written by Maxion's first-run setup")
        || APP_KEYS.iter().any(|k| line.strip_prefix(k).is_some_and(|rest| rest.trim_start().starts_with('=')))
}

/// Writes `bytes` to a fresh file readable by the owner only, then renames it
/// over `file`: a crash leaves the old file or the new one, never half.
fn write_private(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".env.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    out.write_all(bytes).and_then(|()| out.sync_all()).with_context(|| format!("writing {}", tmp.display()))?;
    drop(out);
    std::fs::rename(&tmp, file).with_context(|| format!("replacing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_other_lines_stay() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(path(dir.path()), "MAXION_WORKERS=2\nGITHUB_APP_ID=1\n").expect("seed");
        let pem = SecretString::from(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB\n-----END RSA PRIVATE KEY-----\n".to_owned(),
        );
        let secret = SecretString::from("hook $HOME \\n secret".to_owned());
        let client = SecretString::from("client-secret".to_owned());
        let app = AppEnv { app_id: 42, private_key: &pem, webhook_secret: &secret, oauth: Some(("Iv1.abc", &client)) };
        let file = write_app(dir.path(), &app).expect("written");
        let values = read(dir.path()).expect("reads");
        assert_eq!(values["GITHUB_APP_ID"], "42");
        assert_eq!(values["MAXION_WORKERS"], "2");
        assert_eq!(values["GITHUB_WEBHOOK_SECRET"], "hook $HOME \\n secret", "read literally");
        assert_eq!(values["GITHUB_APP_PRIVATE_KEY"].replace("\\n", "\n"), pem.expose_secret().trim());
        assert_eq!(values["GITHUB_APP_CLIENT_ID"], "Iv1.abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = std::fs::read_to_string(&file).expect("text");
        assert_eq!(text.matches("GITHUB_APP_ID").count(), 1, "{text}");
    }

    #[test]
    fn quotes_and_line_breaks_are_refused() {
        assert!(storable("abc-123") && !storable("a'b") && !storable("a\nb"));
        let dir = tempfile::tempdir().expect("dir");
        let pem = SecretString::from("k".to_owned());
        let bad = SecretString::from("it's".to_owned());
        let app = AppEnv { app_id: 1, private_key: &pem, webhook_secret: &bad, oauth: None };
        assert!(write_app(dir.path(), &app).is_err());
        assert!(!path(dir.path()).exists(), "nothing written");
    }
}
