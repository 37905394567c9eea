//! Talking to the service as an API script or a browser does: bearer-token
//! JSON calls and a Server-Sent Events reader that keeps the raw frames.

use std::time::Duration;

use maxion::jobs::{JobId, JobState, Store};
use serde_json::Value;

use super::service::API_TOKEN;

/// A JSON call with the API token; `(status, body)`.
pub async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url).bearer_auth(API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Waits (polling the store, never a fixed sleep) until the job is in `state`.
pub async fn wait_state(store: &Store, job: JobId, state: JobState) {
    super::wait::until(Duration::from_secs(30), async || {
        let now = store.get_job(job).await.expect("read").map(|j| j.state);
        if now == Some(state) { Ok(()) } else { Err(format!("job {job} never reached {state} (is {now:?})")) }
    })
    .await
}

/// One frame of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event { id: i64, data: Value },
    Comment(String),
}

/// An open `text/event-stream` response, read frame by frame.
pub struct SseReader {
    pub response: reqwest::Response,
    buffer: String,
    ended: bool,
}

impl SseReader {
    /// GETs `url` with the API token and extra headers; panics unless it is a 200 event stream.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> SseReader {
        let mut request = reqwest::Client::new().get(url).bearer_auth(API_TOKEN);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200, "stream status");
        SseReader { response, buffer: String::new(), ended: false }
    }

    /// The next frame, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&raw));
            }
            if self.ended {
                return None;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("the stream went silent for 30 s")
                .expect("stream chunk");
            match chunk {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => self.ended = true,
            }
        }
    }

    /// The next event (heartbeat comments skipped).
    pub async fn next_event(&mut self) -> Option<(i64, Value)> {
        loop {
            match self.next().await? {
                Frame::Event { id, data } => return Some((id, data)),
                Frame::Comment(_) => {}
            }
        }
    }
}

fn parse(raw: &str) -> Frame {
    let mut id = None;
    let mut data = String::new();
    let mut comment = None;
    for line in raw.lines() {
        if let Some(c) = line.strip_prefix(':') {
            comment = Some(c.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse::<i64>().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    match (id, comment) {
        (Some(id), _) => Frame::Event { id, data: serde_json::from_str(&data).expect("JSON data") },
        (None, Some(c)) => Frame::Comment(c),
        (None, None) => panic!("a frame with neither id nor comment: {raw:?}"),
    }
}
