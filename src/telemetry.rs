//! Logging set-up. Every log line passes through the global secret masker
//! before it is written (see [`crate::masker::global`]).

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global tracing subscriber (idempotent; later calls are no-ops).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskingStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// A `MakeWriter` that masks known secrets in each formatted log record.
#[derive(Clone, Copy, Default)]
pub struct MaskingStderr;

impl<'a> MakeWriter<'a> for MaskingStderr {
    type Writer = MaskingLine;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingLine(Vec::with_capacity(256))
    }
}

/// Buffers one log record and writes it masked when dropped; the fmt layer
/// creates one writer per record, so a secret cannot straddle two writes.
pub struct MaskingLine(Vec<u8>);

impl Write for MaskingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskingLine {
    fn drop(&mut self) {
        let masked = crate::masker::global().masker().mask_bytes(&self.0);
        let _ = std::io::stderr().lock().write_all(&masked);
    }
}
