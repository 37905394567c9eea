//! A skip scanner (Wu-Manber over the shortest pattern's length) in front of
//! an anchored automaton, for maskers with many patterns. Past 128 patterns
//! the automaton's packed prefilter is off and its DFA walks every byte
//! (~200 MB/s here); this scanner instead looks at one 3-byte block per
//! window of `m` bytes (`m` = the shortest pattern's length) and jumps ahead
//! by up to `m - 2` bytes when that block ends no pattern's first `m` bytes.
//! Only where it cannot jump does the anchored automaton check whether a
//! pattern starts there. Leftmost-longest semantics are kept exactly:
//! candidate starts are tried left to right and each anchored search returns
//! the longest pattern starting there.

use aho_corasick::{AhoCorasick, Anchored, Input};

/// Bytes per block looked at.
const BLOCK: usize = 3;
/// The hash table's size (a power of two).
const TABLE_BITS: u32 = 16;
/// Windows longer than this gain nothing (shifts are kept in a `u8`).
const MAX_WINDOW: usize = 64;

pub(super) struct SkipScan {
    /// The window: the shortest pattern's length, at most [`MAX_WINDOW`].
    window: usize,
    /// For each block hash, how far the window may move on.
    shift: Vec<u8>,
}

fn hash(block: &[u8]) -> usize {
    let v = (u32::from(block[0]) << 16) | (u32::from(block[1]) << 8) | u32::from(block[2]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - TABLE_BITS)) as usize
}

impl SkipScan {
    /// `None` when patterns are too short for blocks to pay off.
    pub(super) fn new(patterns: &[Vec<u8>]) -> Option<Self> {
        let window = patterns.iter().map(Vec::len).min()?.min(MAX_WINDOW);
        if window < BLOCK + 1 {
            return None;
        }
        let default = (window - BLOCK + 1) as u8;
        let mut shift = vec![default; 1 << TABLE_BITS];
        for p in patterns {
            for end in BLOCK..=window {
                let h = hash(&p[end - BLOCK..end]);
                shift[h] = shift[h].min((window - end) as u8);
            }
        }
        Some(Self { window, shift })
    }

    /// Masks matches starting in `data[pos..settled)` (each found by an
    /// anchored leftmost-longest search) into `out`, copying what lies
    /// between; returns where the unprocessed part begins.
    pub(super) fn mask(
        &self,
        automaton: &AhoCorasick,
        data: &[u8],
        mut pos: usize,
        settled: usize,
        out: &mut Vec<u8>,
        mask: &[u8],
    ) -> usize {
        let m = self.window;
        let mut s = pos;
        while s < settled && s + m <= data.len() {
            let jump = self.shift[hash(&data[s + m - BLOCK..s + m])];
            if jump > 0 {
                s += usize::from(jump);
                continue;
            }
            match automaton.find(Input::new(data).range(s..).anchored(Anchored::Yes)) {
                Some(found) => {
                    out.extend_from_slice(&data[pos..s]);
                    out.extend_from_slice(mask);
                    pos = found.end();
                    s = pos;
                }
                None => s += 1,
            }
        }
        pos
    }
}
