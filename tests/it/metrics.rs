//! `/metrics`, scraped as Prometheus would, after real traffic through the
//! service and the fake GitHub.

use crate::support::service::API_TOKEN;
use crate::support::service::TestService;

/// The value of the sample line that starts with `name_and_labels `.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_jobs_deliveries_and_github_calls_and_need_the_token() {
    let ctl = TestService::start(|_| {}).await;
    let base = ctl.url.as_str().to_owned();
    let issue = ctl.issue("Count me");
    ctl.queued_job(issue, "").await;
    let client = reqwest::Client::new();
    let anonymous = client.get(format!("{base}/metrics")).send().await.expect("scrape");
    assert_eq!(anonymous.status(), 401);
    let response = client.get(format!("{base}/metrics")).bearer_auth(API_TOKEN).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("application/openmetrics-text"));
    let text = response.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(sample(&text, r#"maxion_jobs{state="queued"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"maxion_jobs{state="running"}"#), Some(0.0), "{text}");
    assert_eq!(sample(&text, "maxion_queue_depth"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, r#"maxion_webhook_deliveries_total{event="issue_comment",outcome="job_created"}"#),
        Some(1.0),
        "{text}"
    );
    // The admission's calls (👀, the status comment) were counted by operation and status.
    let github: f64 = text
        .lines()
        .filter(|l| l.starts_with("maxion_github_requests_total{") && l.contains(r#"status="201""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(github >= 1.0, "{text}");
    ctl.stop().await;

    let open = TestService::start(|raw| raw.maxion_metrics_public = Some("true".into())).await;
    let response = client.get(format!("{}/metrics", open.url.as_str())).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    open.stop().await;
}
