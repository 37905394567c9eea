//! Streaming application of a [`Masker`] to output that arrives in arbitrary
//! byte chunks (container stdout/stderr, agent transcripts). Memory stays at
//! [`Masker::max_held`] bytes between pushes, however long the stream.

use std::sync::Arc;

use super::Masker;

/// Chunks larger than this are not kept as buffer capacity after a push, so a
/// single huge chunk does not pin its size in memory for the stream's life.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Masks a stream of chunks; a secret split across chunks is still masked.
///
/// The concatenation of everything `push` and `finish` return equals
/// `masker.mask_bytes(whole stream)`, for every way of cutting the stream into
/// chunks. Each returned piece ends on a UTF-8 character boundary when the
/// input is UTF-8, so pieces can be forwarded as text on their own.
pub struct MaskStream {
    masker: Arc<Masker>,
    /// Bytes not yet emitted: at most `masker.max_held()` between pushes.
    held: Vec<u8>,
}

impl std::fmt::Debug for MaskStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskStream").field("held", &self.held.len()).finish()
    }
}

impl MaskStream {
    pub(super) fn new(masker: Arc<Masker>) -> Self {
        Self { masker, held: Vec::new() }
    }

    /// Feeds a chunk; returns the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + self.held.len());
        self.push_into(chunk, &mut out);
        out
    }

    /// Like [`push`](Self::push), appending to `out` so that a caller can
    /// reuse one buffer for a whole stream.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.held.is_empty() {
            let done = self.masker.mask_prefix(chunk, false, out);
            self.held.extend_from_slice(&chunk[done..]);
        } else {
            self.held.extend_from_slice(chunk);
            let done = self.masker.mask_prefix(&self.held, false, out);
            self.held.drain(..done);
            if self.held.capacity() > KEEP_CAPACITY {
                self.held.shrink_to(self.masker.max_held());
            }
        }
    }

    /// Flushes what is held back (masked). Call once the stream has ended.
    pub fn finish(self) -> Vec<u8> {
        self.masker.mask_bytes(&self.held)
    }

    /// How many bytes are currently held back.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The masker this stream applies.
    pub fn masker(&self) -> &Arc<Masker> {
        &self.masker
    }
}
