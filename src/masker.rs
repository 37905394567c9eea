//! The secret masker: every byte that leaves Maxion (logs, the event store,
//! the API, GitHub comments and check runs, error messages) passes through it.
//!
//! PLACEHOLDER API (issue #4 replaces the internals with a streaming
//! aho-corasick implementation that also masks encoded forms). The public
//! signatures below are what the rest of the crate codes against.

use std::sync::{Arc, OnceLock, RwLock};

use secrecy::{ExposeSecret, SecretString};

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are refused: they would mask ordinary words.
pub const MIN_SECRET_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum MaskerError {
    #[error("a secret of {len} characters is too short to mask safely (minimum {MIN_SECRET_LEN})")]
    TooShort { len: usize },
}

/// An immutable masker for a fixed set of secrets.
#[derive(Default)]
pub struct Masker {
    patterns: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("secrets", &self.patterns.len())
            .finish()
    }
}

impl Masker {
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = &'a SecretString>,
    ) -> Result<Self, MaskerError> {
        let mut patterns = Vec::new();
        for s in secrets {
            let v = s.expose_secret();
            if v.len() < MIN_SECRET_LEN {
                return Err(MaskerError::TooShort { len: v.len() });
            }
            patterns.push(v.to_owned());
        }
        Ok(Self { patterns })
    }

    /// Masks a whole string.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for p in &self.patterns {
            out = out.replace(p.as_str(), MASK);
        }
        out
    }

    /// Masks whole bytes.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.mask(&String::from_utf8_lossy(bytes)).into_bytes()
    }

    /// A streaming masker for output that arrives in chunks.
    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream {
            masker: Arc::clone(self),
            held: Vec::new(),
        }
    }
}

/// Masks a stream of chunks; a secret split across chunks is still masked.
pub struct MaskStream {
    masker: Arc<Masker>,
    held: Vec<u8>,
}

impl MaskStream {
    /// Feeds a chunk; returns the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        Vec::new()
    }

    /// Flushes what is held back.
    pub fn finish(self) -> Vec<u8> {
        self.masker.mask_bytes(&self.held)
    }
}

/// The process-wide set of known secrets. Every secret Maxion learns
/// (webhook secret, API token, private key, installation tokens, agent keys)
/// is registered here so that logs and stored text are masked even where no
/// job-specific masker is at hand.
#[derive(Default)]
pub struct Secrets {
    values: RwLock<Vec<SecretString>>,
    current: RwLock<Arc<Masker>>,
}

impl Secrets {
    /// Registers a secret; values shorter than [`MIN_SECRET_LEN`] are refused.
    pub fn add(&self, secret: &SecretString) -> Result<(), MaskerError> {
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if values
            .iter()
            .any(|v| v.expose_secret() == secret.expose_secret())
        {
            return Ok(());
        }
        if secret.expose_secret().len() < MIN_SECRET_LEN {
            return Err(MaskerError::TooShort {
                len: secret.expose_secret().len(),
            });
        }
        values.push(secret.clone());
        let masker = Masker::new(values.iter())?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(masker);
        Ok(())
    }

    /// The masker for every secret registered so far.
    pub fn masker(&self) -> Arc<Masker> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Shorthand for `self.masker().mask(text)`.
    pub fn mask(&self, text: &str) -> String {
        self.masker().mask(text)
    }
}

/// The process-wide registry.
pub fn global() -> &'static Secrets {
    static GLOBAL: OnceLock<Secrets> = OnceLock::new();
    GLOBAL.get_or_init(Secrets::default)
}
