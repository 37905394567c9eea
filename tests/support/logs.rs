//! The service's log lines as written, unmasked, for tests that check what
//! reaches the log (and what never may). Installed for the current thread:
//! use it in a `#[tokio::test]` (one thread), where the service's tasks run.

use std::sync::{Arc, Mutex, OnceLock};

/// A writer that keeps every formatted log line.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Starts capturing every level on this thread until the guard drops.
    pub fn install() -> (Capture, tracing::subscriber::DefaultGuard) {
        // With a single live dispatcher, tracing decides whether a callsite is
        // ever enabled by the dispatcher of the thread that reaches it first:
        // another test's thread, without a capture, would switch a log line
        // off for this one too. A second dispatcher kept alive for the whole
        // process makes tracing ask each thread's own dispatcher instead.
        static KEEP_PER_THREAD: OnceLock<tracing::Dispatch> = OnceLock::new();
        KEEP_PER_THREAD.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
