//! The process-wide log subscriber masks registered secrets in every record
//! before writing it. Kept in its own test binary because it installs the
//! global subscriber, which can happen once per process.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use secrecy::SecretString;
use tracing_subscriber::fmt::MakeWriter;

/// Records every `write` call separately, so the test sees what reached the
/// destination and in how many pieces.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

struct Piece(Arc<Mutex<Vec<Vec<u8>>>>);

impl Write for Piece {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Piece;
    fn make_writer(&'a self) -> Self::Writer {
        Piece(Arc::clone(&self.0))
    }
}

#[test]
fn global_log_writer_masks_registered_secrets() {
    let value = "global-writer-secret-93a7f1";
    maxion::masker::global().add(&SecretString::from(value.to_owned())).unwrap();
    let capture = Capture::default();
    maxion::telemetry::try_init_with_writer(capture.clone()).expect("first global subscriber");

    let padding = "x".repeat(20_000);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("user:{value}"));
    std::thread::spawn(move || {
        tracing::warn!(secret = value, "long record {padding} ends with {value}");
        tracing::error!(auth = %format!("Basic {encoded}"), "login failed");
    })
    .join()
    .unwrap();

    let pieces = capture.0.lock().unwrap().clone();
    let written: Vec<u8> = pieces.concat();
    let text = String::from_utf8(written).unwrap();
    assert!(!text.contains(value), "{text}");
    assert!(text.contains("ends with ***"), "{text}");
    assert!(text.contains("secret=\"***\""), "{text}");
    let auth_line = text.lines().find(|l| l.contains("login failed")).expect("error record");
    assert!(auth_line.contains("auth=Basic dXNlcj") && auth_line.contains("***"), "{auth_line}");
    let inner = maxion::masker::forms::base64_inner(value.as_bytes(), "user:".len() % 3, true);
    assert!(!text.contains(std::str::from_utf8(&inner).unwrap()), "{text}");
    // Each record reached the destination in one write, already masked.
    assert_eq!(pieces.len(), 2, "{pieces:?}");
}
