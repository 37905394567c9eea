//! Replays every real GitHub webhook example (all event types, from GitHub's
//! published examples) and every signature vector made by GitHub's reference
//! implementation through the real HTTP endpoint.

use crate::support::service::{TestService, sign};

#[tokio::test]
async fn every_example_payload_is_answered_without_a_server_error() {
    let examples: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/webhook-examples.json")).expect("fixture is JSON");
    let svc = TestService::intake(|_| {}).await;
    let mut seen = 0;
    let mut events = std::collections::BTreeSet::new();
    for event in examples.as_array().expect("list") {
        let name = event["name"].as_str().expect("name");
        for (i, example) in event["examples"].as_array().into_iter().flatten().enumerate() {
            let payload = serde_json::to_vec(example).expect("json");
            let delivery = format!("example-{name}-{i}");
            let (status, answer) = svc.deliver(name, &delivery, &payload).await;
            assert!((200..500).contains(&status), "{name} #{i} answered {status}: {answer}");
            assert!(status < 300 || status == 400, "{name} #{i} answered {status}: {answer}");
            // Stored, whatever it was.
            assert!(svc.store().delivery(&delivery).await.expect("read").is_some(), "{name} #{i} not recorded");
            seen += 1;
        }
        events.insert(name);
    }
    assert_eq!(events.len(), 58, "all 58 event types replayed");
    assert!(seen > 300, "only {seen} examples");
    svc.stop().await;
}

#[tokio::test]
async fn github_signature_vectors_verify_and_any_flipped_byte_fails() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/signature-vectors.json")).expect("fixture is JSON");
    let vectors = vectors.as_array().expect("list");
    assert!(!vectors.is_empty());
    for (i, v) in vectors.iter().enumerate() {
        let secret = v["secret"].as_str().expect("secret").to_owned();
        let payload = v["payload"].as_str().expect("payload").as_bytes().to_vec();
        let signature = v["signature"].as_str().expect("signature");
        // Our own signer agrees with GitHub's reference implementation.
        assert_eq!(sign(&secret, &payload), signature, "vector {i}");

        let svc = TestService::intake(|s| s.github_webhook_secret = Some(secret.clone())).await;
        let event = v["event"].as_str().unwrap_or("ping");
        let (status, answer) = svc.deliver_with(event, &format!("vec-{i}"), Some(signature), &payload).await;
        assert_ne!(status, 401, "vector {i} did not verify: {answer}");
        assert!(status < 500, "vector {i}: {status}");

        let mut flipped = payload.clone();
        let at = i * 7 % flipped.len();
        flipped[at] ^= 0x01;
        let (status, _) = svc.deliver_with(event, &format!("vec-{i}-flipped"), Some(signature), &flipped).await;
        assert_eq!(status, 401, "vector {i} with byte {at} flipped still verified");

        let mut bad_sig = signature.to_owned().into_bytes();
        let last = bad_sig.len() - 1;
        bad_sig[last] = if bad_sig[last] == b'0' { b'1' } else { b'0' };
        let bad_sig = String::from_utf8(bad_sig).expect("ascii");
        let (status, _) = svc.deliver_with(event, &format!("vec-{i}-badsig"), Some(&bad_sig), &payload).await;
        assert_eq!(status, 401, "vector {i} with a changed signature still verified");
        svc.stop().await;
    }
}
