//! Logging set-up. Every log record passes through the global secret masker
//! ([`crate::masker::global`]) before a single byte of it is written.
//!
//! Touches: the process-wide tracing subscriber and stderr (or the writer a
//! caller hands in, e.g. a test capture).

use std::io::{IsTerminal as _, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global tracing subscriber writing to stderr (idempotent;
/// later calls are no-ops). The filter comes from `RUST_LOG`, default `info`;
/// colours only when stderr is a terminal.
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let ansi = std::io::stderr().is_terminal();
    let _ = build(std::io::stderr, ansi).try_init();
}

/// Installs the global subscriber with a caller-chosen destination, still
/// masked. Fails if a global subscriber is already set.
pub fn try_init_with_writer<W>(writer: W) -> Result<(), tracing_subscriber::util::TryInitError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::util::SubscriberInitExt as _;
    subscriber(writer).try_init()
}

/// The subscriber [`init`] installs, writing masked records to `writer`
/// (without colour codes).
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    build(writer, false)
}

fn build<W>(writer: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(Masking(writer)).finish()
}

/// The stderr writer `init` uses, for callers that build their own subscriber.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaskingStderr;

/// One masked log record on its way to stderr.
pub type MaskingLine = MaskingRecord<std::io::Stderr>;

impl<'a> MakeWriter<'a> for MaskingStderr {
    type Writer = MaskingLine;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingRecord { buf: Vec::with_capacity(256), inner: Some(std::io::stderr()) }
    }
}

/// A `MakeWriter` that masks known secrets in each formatted log record
/// before handing it to the inner writer.
#[derive(Clone, Copy, Debug)]
pub struct Masking<W>(pub W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Masking<W> {
    type Writer = MaskingRecord<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingRecord { buf: Vec::with_capacity(256), inner: Some(self.0.make_writer()) }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        MaskingRecord { buf: Vec::with_capacity(256), inner: Some(self.0.make_writer_for(meta)) }
    }
}

/// Buffers one log record and writes it masked when dropped. The fmt layer
/// formats a whole record and then asks for one writer per record, so a
/// record is masked as a unit: a secret cannot straddle two writes, and no
/// unmasked byte reaches the inner writer before the record is complete.
pub struct MaskingRecord<W: Write> {
    buf: Vec<u8>,
    inner: Option<W>,
}

impl<W: Write> Write for MaskingRecord<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    // Deliberately not forwarding: flushing early would write a partial
    // record, which is exactly what could split a secret.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for MaskingRecord<W> {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take() {
            let masked = crate::masker::global().masker().mask_bytes(&self.buf);
            // A log write that fails has nowhere to be reported.
            let _ = inner.write_all(&masked);
            let _ = inner.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use secrecy::SecretString;

    use super::*;

    /// Collects everything the masked writer hands to its inner writer.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn log_records_are_masked_before_they_are_written() {
        let value = "telemetry-unit-secret-4711";
        crate::masker::global().add(&SecretString::from(value.to_owned())).unwrap();
        let capture = Capture::default();
        tracing::subscriber::with_default(subscriber(capture.clone()), || {
            let span = tracing::info_span!("job", token = value);
            let _guard = span.enter();
            tracing::info!(header = ?format!("Bearer {value}"), "calling with {value}");
        });
        let written = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(written.contains("calling with ***"), "{written}");
        assert!(written.contains("token=\"***\""), "{written}");
        assert!(written.contains("header=\"Bearer ***\""), "{written}");
        assert!(!written.contains(value), "{written}");
    }
}
