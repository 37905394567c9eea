//! The secret masker: every byte that leaves Maxion (logs, the event store,
//! the API, GitHub comments and check runs, error messages) passes through it.
//!
//! A [`Masker`] is an immutable leftmost-longest Aho-Corasick automaton over
//! every form a secret can take in output (raw, base64 in three alignments and
//! two alphabets, percent-encoded, JSON- and debug-escaped; see [`forms`]).
//! [`MaskStream`] applies it to output arriving in arbitrary byte chunks,
//! holding back just enough to catch a secret split across chunks.
//! [`Secrets`] is the process-wide registry behind [`global`], read by the
//! log writer in `telemetry` and by the job store.
//!
//! This module touches nothing outside memory: no I/O, no logging (a log
//! call from here could recurse into the masking log writer).

pub mod forms;
mod skip;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, StartKind};
use secrecy::{ExposeSecret, SecretString};

pub use stream::MaskStream;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this (in characters) are refused: they would mask
/// ordinary words.
pub const MIN_SECRET_LEN: usize = 8;

/// Above this many patterns the masker scans with [`skip::SkipScan`].
const SKIP_FROM: usize = 96;

#[derive(Debug, thiserror::Error)]
pub enum MaskerError {
    #[error("a secret of {len} characters is too short to mask safely (minimum {MIN_SECRET_LEN})")]
    TooShort { len: usize },
    /// The automaton could not be built (a pattern set beyond aho-corasick's
    /// limits); the message never contains secret bytes.
    #[error("could not build the secret masker: {0}")]
    Build(String),
}

/// An immutable masker for a fixed set of secrets.
#[derive(Default)]
pub struct Masker {
    /// `None` when there are no secrets: everything passes through.
    automaton: Option<AhoCorasick>,
    /// Length in bytes of the longest pattern; a stream holds back one less.
    max_pattern_len: usize,
    secrets: usize,
    /// With many patterns: the skip scanner that finds where the (then
    /// anchored-only) automaton must look.
    skip: Option<skip::SkipScan>,
}

impl std::fmt::Debug for Masker {
    // Hand-written so that no pattern bytes can reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("secrets", &self.secrets)
            .field("patterns", &self.pattern_count())
            .field("max_pattern_len", &self.max_pattern_len)
            .finish()
    }
}

impl Masker {
    /// Builds a masker for `secrets`; fails if any is shorter than
    /// [`MIN_SECRET_LEN`] characters. Duplicate secrets are fine.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Result<Self, MaskerError> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut count = 0;
        for secret in secrets {
            let value = secret.expose_secret();
            let len = value.chars().count();
            if len < MIN_SECRET_LEN {
                return Err(MaskerError::TooShort { len });
            }
            count += 1;
            patterns.extend(forms::all_forms(value));
        }
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return Ok(Self::default());
        }
        let max_pattern_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        // Up to SKIP_FROM patterns the automaton's packed (Teddy) prefilter
        // scans fastest; past 128 it is off and the DFA walks every byte, so
        // a skip scanner decides where to look (see `skip.rs`).
        let skip = if patterns.len() > SKIP_FROM { skip::SkipScan::new(&patterns) } else { None };
        let start = if skip.is_some() { StartKind::Anchored } else { StartKind::Unanchored };
        // Leftmost-longest so that a secret which contains another one is
        // masked whole. Always a DFA: the crate's automatic choice for many
        // patterns (a contiguous NFA) measured ~75 MB/s against ~250 MB/s
        // for the DFA, at the cost of a few MB of tables.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(start)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .or_else(|_| {
                AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).start_kind(start).build(&patterns)
            })
            .map_err(|e| MaskerError::Build(e.to_string()))?;
        Ok(Self { automaton: Some(automaton), max_pattern_len, secrets: count, skip })
    }

    /// Masks a whole string.
    pub fn mask(&self, text: &str) -> String {
        let masked = self.mask_bytes(text.as_bytes());
        // Patterns are valid UTF-8 or ASCII, so in valid UTF-8 text every
        // match starts and ends on a character boundary; the fallback only
        // guards against a future pattern family breaking that.
        String::from_utf8(masked).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Masks whole bytes; bytes that are not part of a secret pass through
    /// unchanged, UTF-8 or not.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        self.mask_prefix(bytes, true, &mut out);
        out
    }

    /// A streaming masker for output that arrives in chunks.
    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream::new(Arc::clone(self))
    }

    /// How many secrets this masker was built from.
    pub fn secret_count(&self) -> usize {
        self.secrets
    }

    /// How many distinct byte patterns (all forms of all secrets) it matches.
    pub fn pattern_count(&self) -> usize {
        self.automaton.as_ref().map_or(0, AhoCorasick::patterns_len)
    }

    /// The most bytes a [`MaskStream`] keeps between pushes: the longest
    /// pattern minus one, plus up to three bytes of an unfinished UTF-8
    /// character.
    pub fn max_held(&self) -> usize {
        self.max_pattern_len.saturating_sub(1) + 3
    }

    /// Masks `data` into `out` and returns how many bytes of `data` are done.
    /// Unless `at_end`, a tail that could still be the start of a secret (or
    /// of a UTF-8 character) is left unconsumed for the caller to retry with
    /// more bytes appended.
    fn mask_prefix(&self, data: &[u8], at_end: bool, out: &mut Vec<u8>) -> usize {
        // A match starting at `q` is final once every pattern starting there
        // fits, i.e. `q + max_pattern_len <= data.len()`: leftmost-longest can
        // then neither grow it nor find an earlier, overlapping one later.
        let settled = if at_end { data.len() } else { (data.len() + 1).saturating_sub(self.max_pattern_len.max(1)) };
        let mut pos = 0;
        if let (Some(automaton), Some(skip)) = (&self.automaton, &self.skip) {
            pos = skip.mask(automaton, data, pos, settled, out, MASK.as_bytes());
        } else if let Some(automaton) = &self.automaton {
            for m in automaton.find_iter(data) {
                if m.start() >= settled {
                    break;
                }
                out.extend_from_slice(&data[pos..m.start()]);
                out.extend_from_slice(MASK.as_bytes());
                pos = m.end();
            }
        }
        let mut cut = settled.max(pos);
        if !at_end {
            cut = utf8_floor(data, cut, pos);
        }
        out.extend_from_slice(&data[pos..cut]);
        cut
    }
}

/// Moves `cut` back (not below `min`) so that `data[..cut]` does not end in
/// the middle of a UTF-8 character.
fn utf8_floor(data: &[u8], cut: usize, min: usize) -> usize {
    let lowest = cut.saturating_sub(3).max(min);
    for i in (lowest..cut).rev() {
        let b = data[i];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead
        }
        let width = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if i + width > cut { i } else { cut };
    }
    cut
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
    /// Registers a secret; values shorter than [`MIN_SECRET_LEN`] characters
    /// are refused. Registering the same value twice is a no-op. Rebuilds the
    /// automaton: meant for the handful of secrets a process learns, not for
    /// per-line use.
    pub fn add(&self, secret: &SecretString) -> Result<(), MaskerError> {
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if values.iter().any(|v| v.expose_secret() == secret.expose_secret()) {
            return Ok(());
        }
        let len = secret.expose_secret().chars().count();
        if len < MIN_SECRET_LEN {
            return Err(MaskerError::TooShort { len });
        }
        let masker = Masker::new(values.iter().chain(std::iter::once(secret)))?;
        values.push(secret.clone());
        // Swapped while `values` is still locked, so two concurrent adds
        // cannot publish their maskers in the wrong order.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(masker);
        Ok(())
    }

    /// Forgets a secret (e.g. an installation token that has expired), so
    /// the pattern set does not grow for the life of the process. Returns
    /// whether it was registered.
    pub fn remove(&self, secret: &SecretString) -> Result<bool, MaskerError> {
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        let Some(index) = values.iter().position(|v| v.expose_secret() == secret.expose_secret()) else {
            return Ok(false);
        };
        let rest = values.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, v)| v);
        let masker = Masker::new(rest)?;
        values.remove(index);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(masker);
        Ok(true)
    }

    /// The masker for every secret registered so far (a cheap snapshot).
    pub fn masker(&self) -> Arc<Masker> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Shorthand for `self.masker().mask(text)`.
    pub fn mask(&self, text: &str) -> String {
        self.masker().mask(text)
    }

    /// Shorthand for `self.masker().mask_bytes(bytes)`.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.masker().mask_bytes(bytes)
    }

    /// How many distinct secrets are registered.
    pub fn len(&self) -> usize {
        self.values.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process-wide registry.
pub fn global() -> &'static Secrets {
    static GLOBAL: OnceLock<Secrets> = OnceLock::new();
    GLOBAL.get_or_init(Secrets::default)
}
