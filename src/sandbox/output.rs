//! Output of one exec on its way to the caller's sink: masked (one
//! `MaskStream` per stream), cut at UTF-8 boundaries, and capped as head and
//! tail with a line saying how many bytes were dropped. Pure code, no I/O;
//! memory is bounded by the cap whatever the process prints.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::masker::{MaskStream, Masker};

/// Which stream a piece of output came from; also what the job log stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
    /// A line written by Maxion itself (e.g. how many bytes were dropped).
    Notice,
}

/// One piece of output delivered to the sink: whole characters, masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputEvent {
    pub stream: OutputStream,
    pub text: String,
}

/// The message that ends a kept head when bytes were dropped.
pub fn dropped_line(dropped: u64) -> String {
    format!("\n[maxion: {dropped} bytes of output dropped here; the first and last parts are kept]\n")
}

const ENOSPC: &str = "No space left on device";

/// Holds back an incomplete UTF-8 sequence at the end of a chunk so that no
/// character is ever broken; invalid bytes become U+FFFD.
#[derive(Debug, Default)]
struct Utf8Cutter {
    carry: Vec<u8>,
}

impl Utf8Cutter {
    fn push(&mut self, bytes: &[u8]) -> String {
        let mut input = std::mem::take(&mut self.carry);
        input.extend_from_slice(bytes);
        let mut out = String::with_capacity(input.len());
        let mut rest = &input[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // SAFETY-free: `valid_up_to` guarantees this prefix is UTF-8.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.carry)).into_owned()
    }
}

/// Per-stream state: its masker stream, UTF-8 cutter and ENOSPC scanner.
struct StreamState {
    mask: MaskStream,
    utf8: Utf8Cutter,
    scan_carry: String,
}

impl StreamState {
    fn new(masker: &Arc<Masker>) -> Self {
        Self { mask: masker.stream(), utf8: Utf8Cutter::default(), scan_carry: String::new() }
    }

    fn scan(&mut self, text: &str) -> bool {
        scan_enospc(&mut self.scan_carry, text)
    }
}

/// Looks for the ENOSPC message, which may straddle two pieces.
fn scan_enospc(carry: &mut String, text: &str) -> bool {
    carry.push_str(text);
    let found = carry.contains(ENOSPC);
    let keep = carry.len().saturating_sub(ENOSPC.len());
    let cut = carry.ceil_char_boundary(keep);
    carry.drain(..cut);
    found
}

/// Keeps the first and last halves of `cap` bytes; counts what falls between.
struct Cap {
    head_left: usize,
    tail_limit: usize,
    tail: VecDeque<OutputEvent>,
    tail_len: usize,
    dropped: u64,
}

impl Cap {
    fn new(cap: usize) -> Self {
        let head = cap / 2;
        Self { head_left: head, tail_limit: cap - head, tail: VecDeque::new(), tail_len: 0, dropped: 0 }
    }

    fn push(&mut self, stream: OutputStream, mut text: String, out: &mut Vec<OutputEvent>) {
        if text.is_empty() {
            return;
        }
        if self.head_left > 0 {
            let take = text.floor_char_boundary(self.head_left.min(text.len()));
            // A character wider than what is left of the head goes to the tail.
            let rest = text.split_off(take);
            self.head_left = if take == 0 { 0 } else { self.head_left - take };
            if !text.is_empty() {
                out.push(OutputEvent { stream, text });
            }
            text = rest;
            if text.is_empty() {
                return;
            }
        }
        self.tail_len += text.len();
        self.tail.push_back(OutputEvent { stream, text });
        while self.tail_len > self.tail_limit {
            let excess = self.tail_len - self.tail_limit;
            let Some(front) = self.tail.front_mut() else {
                break;
            };
            if front.text.len() <= excess {
                self.tail_len -= front.text.len();
                self.dropped += front.text.len() as u64;
                self.tail.pop_front();
            } else {
                let cut = front.text.ceil_char_boundary(excess);
                front.text.drain(..cut);
                self.tail_len -= cut;
                self.dropped += cut as u64;
            }
        }
    }

    fn finish(self, out: &mut Vec<OutputEvent>) -> u64 {
        if self.dropped > 0 {
            out.push(OutputEvent { stream: OutputStream::Notice, text: dropped_line(self.dropped) });
        }
        out.extend(self.tail);
        self.dropped
    }
}

/// Totals of one exec's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Bytes the process wrote (before masking).
    pub raw_bytes: u64,
    /// Bytes of masked text left out between the kept head and tail.
    pub dropped_bytes: u64,
    /// The process printed "No space left on device".
    pub saw_enospc: bool,
}

/// Mask -> UTF-8 cut -> cap, for both streams of one exec.
pub struct OutputPipeline {
    stdout: StreamState,
    stderr: StreamState,
    cap: Cap,
    stats: OutputStats,
}

impl OutputPipeline {
    pub fn new(masker: &Arc<Masker>, cap_bytes: usize) -> Self {
        Self {
            stdout: StreamState::new(masker),
            stderr: StreamState::new(masker),
            cap: Cap::new(cap_bytes),
            stats: OutputStats::default(),
        }
    }

    /// Feeds raw bytes; returns the events that may be delivered now.
    pub fn push(&mut self, stream: OutputStream, raw: &[u8]) -> Vec<OutputEvent> {
        self.stats.raw_bytes += raw.len() as u64;
        let state = match stream {
            OutputStream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        };
        let masked = state.mask.push(raw);
        let text = state.utf8.push(&masked);
        self.stats.saw_enospc |= state.scan(&text);
        let mut out = Vec::new();
        self.cap.push(stream, text, &mut out);
        out
    }

    /// Flushes everything held back; returns the last events and the totals.
    pub fn finish(mut self) -> (Vec<OutputEvent>, OutputStats) {
        let mut out = Vec::new();
        for (stream, state) in [(OutputStream::Stdout, self.stdout), (OutputStream::Stderr, self.stderr)] {
            let StreamState { mask, mut utf8, mut scan_carry } = state;
            let masked = mask.finish();
            let mut text = utf8.push(&masked);
            text.push_str(&utf8.finish());
            self.stats.saw_enospc |= scan_enospc(&mut scan_carry, &text);
            self.cap.push(stream, text, &mut out);
        }
        self.stats.dropped_bytes = self.cap.finish(&mut out);
        (out, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn run(masker: &Arc<Masker>, cap: usize, chunks: &[&[u8]]) -> (String, OutputStats) {
        let mut p = OutputPipeline::new(masker, cap);
        let mut text = String::new();
        for c in chunks {
            for e in p.push(OutputStream::Stdout, c) {
                text.push_str(&e.text);
            }
        }
        let (rest, stats) = p.finish();
        for e in rest {
            text.push_str(&e.text);
        }
        (text, stats)
    }

    #[test]
    fn characters_split_across_chunks_survive_whole() {
        let m = Arc::new(Masker::default());
        let bytes = "a€b😀c".as_bytes();
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let (text, _) = run(&m, 1 << 20, &chunks);
        assert_eq!(text, "a€b😀c");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let m = Arc::new(Masker::default());
        let (text, _) = run(&m, 1 << 20, &[b"ok\xff", b"\xfeend"]);
        assert_eq!(text, "ok\u{FFFD}\u{FFFD}end");
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_says_what_was_dropped() {
        let m = Arc::new(Masker::default());
        let body: String = (0..1000).map(|i| format!("{i:04}\n")).collect();
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(7).collect();
        let (text, stats) = run(&m, 100, &chunks);
        assert!(text.starts_with(&body[..50]), "{text}");
        assert!(text.ends_with(&body[body.len() - 50..]), "{text}");
        assert_eq!(stats.dropped_bytes, body.len() as u64 - 100);
        assert!(text.contains(&dropped_line(stats.dropped_bytes)));
        assert_eq!(stats.raw_bytes, body.len() as u64);
    }

    #[test]
    fn short_output_is_delivered_unchanged() {
        let m = Arc::new(Masker::default());
        let (text, stats) = run(&m, 100, &[b"hello ", b"world"]);
        assert_eq!(text, "hello world");
        assert_eq!(stats.dropped_bytes, 0);
    }

    #[test]
    fn secrets_are_masked_across_chunks() {
        let secret = SecretString::from("s3cr3t-value-123");
        let m = Arc::new(Masker::new([&secret]).unwrap());
        let (text, _) = run(&m, 1 << 20, &[b"token=s3cr3t-", b"value-123 done"]);
        assert!(!text.contains("s3cr3t-value-123"), "{text}");
        assert!(text.contains("done"));
    }

    #[test]
    fn enospc_is_noticed_across_chunks() {
        let m = Arc::new(Masker::default());
        let (_, stats) = run(&m, 1 << 20, &[b"write: No space le", b"ft on device\n"]);
        assert!(stats.saw_enospc);
        let (_, stats) = run(&m, 1 << 20, &[b"all fine\n"]);
        assert!(!stats.saw_enospc);
    }
}
