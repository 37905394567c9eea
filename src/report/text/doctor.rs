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

pub fn dns_isolated() -> String {
    "internal networks resolve no outside names (network mode `filtered` is safe on this engine)".to_owned()
}
pub fn dns_leaks(engine_version: &str) -> String {
    format!(
        "this Docker Engine ({engine_version}) resolves outside names on internal networks (CVE-2024-29018): \
         network mode `filtered` would be refused"
    )
}
pub const DNS_LEAKS_FIX: &str = "upgrade the Docker Engine (fixed in 26.0.0, 25.0.4 and 23.0.11), or set \
     MAXION_SANDBOX_NETWORK to none or open and leave filtered out of MAXION_ALLOWED_NETWORK_MODES";
pub fn dns_unchecked(error: &str) -> String {
    format!("the DNS isolation check of network mode `filtered` could not run: {error}")
}
/// Start-up refuses network mode `filtered` on a leaking engine (the same
/// check as doctor's, stopping `serve` instead of listing a ✘).
pub fn filtered_refused_at_start(engine_version: &str) -> String {
    format!(
        "MAXION_SANDBOX_NETWORK: network mode `filtered` is refused: this Docker Engine ({engine_version}) resolves \
         outside names on internal networks (CVE-2024-29018), so a sandbox could leak data through DNS. Fix: \
         {DNS_LEAKS_FIX}"
    )
}
pub fn filtered_unchecked_at_start(error: &str) -> String {
    format!("MAXION_SANDBOX_NETWORK: {}", dns_unchecked(error))
}
pub const PROBE_FIX: &str =
    "make sure Docker answers and the sandbox image exists (lines above), then run maxion doctor again";

/// `present`/`absent`: agent programs the image holds / lacks.
pub fn agents_ok(image: &str, profile: &str, program: Option<&str>, present: &[&str], absent: &[&str]) -> String {
    let holds = if present.is_empty() { "no agent program".to_owned() } else { present.join(", ") };
    let lacks = if absent.is_empty() { String::new() } else { format!("; not {}", absent.join(", ")) };
    match program {
        Some(p) => format!("sandbox image {image} holds {holds}{lacks} (agent profile {profile} runs `{p}`)"),
        None => format!("sandbox image {image} holds {holds}{lacks} (agent profile {profile}: your own command)"),
    }
}
pub fn agent_missing(image: &str, profile: &str, program: &str, present: &[&str]) -> String {
    let holds = if present.is_empty() { "no agent program".to_owned() } else { present.join(", ") };
    format!("sandbox image {image} lacks `{program}`, the program of agent profile {profile} (it holds {holds})")
}
pub fn agent_fix(stage: &str) -> String {
    format!(
        "build the image from the `{stage}` stage of docker/sandbox.Dockerfile \
         (docker build -f docker/sandbox.Dockerfile --target {stage} -t maxion-sandbox:latest docker/; \
         stage `all` holds every agent), or choose another MAXION_AGENT"
    )
}
pub fn agents_unchecked(error: &str) -> String {
    format!("agent programs in the sandbox image could not be listed: {error}")
}

pub fn provider_ok(provider: &str, url: &str) -> String {
    format!("{provider} answers with the configured key (GET {url})")
}
pub fn provider_refused(provider: &str, url: &str, status: u16) -> String {
    format!("{provider} refused the configured key: {status} from GET {url}")
}
pub fn provider_refused_fix(key_setting: &str) -> String {
    format!("check {key_setting} (or {key_setting}_FILE): the key is wrong, revoked or lacks access")
}
pub fn provider_unexpected(provider: &str, url: &str, status: u16) -> String {
    format!("{provider} answered {status} to GET {url}")
}
pub fn provider_unreachable(provider: &str, url: &str, error: &str) -> String {
    format!("{provider} unreachable at {url}: {error}")
}
pub fn provider_url_fix(url_setting: &str) -> String {
    format!("check {url_setting} (the provider's API base URL) and that this host can reach it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        insta::assert_snapshot!(line(true, &docker_ok("20.10.24"), None), @"✔ Docker answers (Engine 20.10.24)");
        insta::assert_snapshot!(line(false, &migrations_pending(2), Some(MIGRATIONS_FIX)), @"✘ database: 2 migration(s) not applied — fix: run `maxion migrate` (maxion serve also migrates at start-up)");
    }

    #[test]
    fn filtered_agents_and_providers() {
        insta::assert_snapshot!(line(true, &dns_isolated(), None), @"✔ internal networks resolve no outside names (network mode `filtered` is safe on this engine)");
        insta::assert_snapshot!(line(false, &dns_leaks("25.0.3"), Some(DNS_LEAKS_FIX)), @"✘ this Docker Engine (25.0.3) resolves outside names on internal networks (CVE-2024-29018): network mode `filtered` would be refused — fix: upgrade the Docker Engine (fixed in 26.0.0, 25.0.4 and 23.0.11), or set MAXION_SANDBOX_NETWORK to none or open and leave filtered out of MAXION_ALLOWED_NETWORK_MODES");
        insta::assert_snapshot!(filtered_refused_at_start("25.0.3"), @"MAXION_SANDBOX_NETWORK: network mode `filtered` is refused: this Docker Engine (25.0.3) resolves outside names on internal networks (CVE-2024-29018), so a sandbox could leak data through DNS. Fix: upgrade the Docker Engine (fixed in 26.0.0, 25.0.4 and 23.0.11), or set MAXION_SANDBOX_NETWORK to none or open and leave filtered out of MAXION_ALLOWED_NETWORK_MODES");
        insta::assert_snapshot!(filtered_unchecked_at_start("no such image"), @"MAXION_SANDBOX_NETWORK: the DNS isolation check of network mode `filtered` could not run: no such image");
        insta::assert_snapshot!(line(false, &dns_unchecked("no such image"), Some(PROBE_FIX)), @"✘ the DNS isolation check of network mode `filtered` could not run: no such image — fix: make sure Docker answers and the sandbox image exists (lines above), then run maxion doctor again");
        let ok =
            agents_ok("maxion-sandbox:latest", "claude-code", Some("claude"), &["claude", "codex", "mini"], &["pi"]);
        insta::assert_snapshot!(line(true, &ok, None), @"✔ sandbox image maxion-sandbox:latest holds claude, codex, mini; not pi (agent profile claude-code runs `claude`)");
        let custom = agents_ok("img:1", "custom", None, &[], &["claude", "codex", "mini", "pi"]);
        insta::assert_snapshot!(line(true, &custom, None), @"✔ sandbox image img:1 holds no agent program; not claude, codex, mini, pi (agent profile custom: your own command)");
        let missing = agent_missing("img:1", "pi", "pi", &["claude", "codex", "mini"]);
        insta::assert_snapshot!(line(false, &missing, Some(&agent_fix("pi"))), @"✘ sandbox image img:1 lacks `pi`, the program of agent profile pi (it holds claude, codex, mini) — fix: build the image from the `pi` stage of docker/sandbox.Dockerfile (docker build -f docker/sandbox.Dockerfile --target pi -t maxion-sandbox:latest docker/; stage `all` holds every agent), or choose another MAXION_AGENT");
        insta::assert_snapshot!(line(true, &provider_ok("Anthropic", "https://api.anthropic.com/v1/models"), None), @"✔ Anthropic answers with the configured key (GET https://api.anthropic.com/v1/models)");
        let refused = provider_refused("OpenAI", "https://api.openai.com/v1/models", 401);
        insta::assert_snapshot!(line(false, &refused, Some(&provider_refused_fix("OPENAI_API_KEY"))), @"✘ OpenAI refused the configured key: 401 from GET https://api.openai.com/v1/models — fix: check OPENAI_API_KEY (or OPENAI_API_KEY_FILE): the key is wrong, revoked or lacks access");
        let down = provider_unreachable("Anthropic", "http://10.0.0.9:4000/v1/models", "connection refused");
        insta::assert_snapshot!(line(false, &down, Some(&provider_url_fix("MAXION_ANTHROPIC_URL"))), @"✘ Anthropic unreachable at http://10.0.0.9:4000/v1/models: connection refused — fix: check MAXION_ANTHROPIC_URL (the provider's API base URL) and that this host can reach it");
        let odd = provider_unexpected("OpenAI", "http://llm.internal/v1/models", 404);
        insta::assert_snapshot!(line(false, &odd, Some(&provider_url_fix("MAXION_OPENAI_URL"))), @"✘ OpenAI answered 404 to GET http://llm.internal/v1/models — fix: check MAXION_OPENAI_URL (the provider's API base URL) and that this host can reach it");
    }
}
