//! The encoded forms under which a secret can appear in output: raw,
//! base64 (three alignments, standard and URL-safe alphabets), percent-encoded
//! and JSON/Rust-debug escaped. Pure functions over one secret's bytes; the
//! masker builds its automaton from their union.
//!
//! Encoders disagree about which characters they escape and whether hex digits
//! are upper or lower case, so each family yields the variants that common
//! encoders (serde_json, JavaScript, Python, Go, PHP, curl, URL libraries)
//! actually produce. Duplicates are removed by the caller.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// Every form of `secret` the masker should replace, possibly with duplicates.
pub fn all_forms(secret: &str) -> Vec<Vec<u8>> {
    let mut out = vec![secret.as_bytes().to_vec()];
    out.extend(base64_forms(secret.as_bytes()));
    out.extend(percent_forms(secret.as_bytes()));
    out.extend(json_forms(secret));
    out.push(rust_debug_form(secret).into_bytes());
    out
}

/// The part of the base64 encoding of `secret` that does not depend on the
/// bytes around it, for each of the three offsets at which the secret can start
/// inside a 3-byte group (e.g. `user:secret` in a Basic auth header puts it at
/// offset 2), in both alphabets.
pub fn base64_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(6);
    for offset in 0..3 {
        for standard in [true, false] {
            out.push(base64_inner(secret, offset, standard));
        }
    }
    out
}

/// The stable base64 characters of `secret` preceded by `offset` (0..3) bytes.
/// Character `i` covers bits `6i..6i+6`; only characters whose six bits all
/// come from the secret are stable.
pub fn base64_inner(secret: &[u8], offset: usize, standard: bool) -> Vec<u8> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(secret);
    let encoded = if standard { STANDARD_NO_PAD.encode(&padded) } else { URL_SAFE_NO_PAD.encode(&padded) };
    let start = (8 * offset).div_ceil(6);
    let end = 8 * (offset + secret.len()) / 6;
    encoded.as_bytes()[start..end.max(start)].to_vec()
}

/// Percent-encodings: the RFC 3986 form (everything but unreserved escaped),
/// JavaScript's `encodeURIComponent` (also leaves `!*'()`), and the HTML form
/// encoding (space as `+`, `~` escaped, `*` kept), each with upper- and
/// lower-case hex digits.
pub fn percent_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let rfc3986 = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let uri_component = |b: u8| rfc3986(b) || b"!*'()".contains(&b);
    let form = |b: u8| b.is_ascii_alphanumeric() || b"*-._".contains(&b);
    let mut out = Vec::with_capacity(8);
    for upper in [true, false] {
        out.push(percent_encode(secret, rfc3986, false, upper));
        out.push(percent_encode(secret, uri_component, false, upper));
        out.push(percent_encode(secret, form, true, upper));
        out.push(percent_encode(secret, rfc3986, true, upper));
    }
    out
}

fn percent_encode(secret: &[u8], keep: impl Fn(u8) -> bool, space_plus: bool, upper: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(secret.len() * 3);
    for &b in secret {
        if keep(b) {
            out.push(b);
        } else if space_plus && b == b' ' {
            out.push(b'+');
        } else {
            out.push(b'%');
            out.extend_from_slice(hex_byte(b, upper).as_bytes());
        }
    }
    out
}

fn hex_byte(b: u8, upper: bool) -> String {
    if upper { format!("{b:02X}") } else { format!("{b:02x}") }
}

/// JSON string escapes (without the quotes). Beyond the mandatory `"`, `\` and
/// control characters, encoders optionally escape `/` (PHP), everything
/// non-ASCII (Python, PHP) and `<`, `>`, `&`, U+2028/9 (Go): all combinations,
/// lower-case hex as those encoders write it, plus an upper-case variant of
/// the fully escaped form (.NET, Java).
pub fn json_forms(secret: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(9);
    for flags in 0u8..8 {
        let opts =
            JsonEscape { slash: flags & 1 != 0, ascii_only: flags & 2 != 0, html: flags & 4 != 0, upper_hex: false };
        out.push(json_escape(secret, opts).into_bytes());
    }
    let all = JsonEscape { slash: true, ascii_only: true, html: true, upper_hex: true };
    out.push(json_escape(secret, all).into_bytes());
    out
}

#[derive(Clone, Copy, Debug, Default)]
pub struct JsonEscape {
    pub slash: bool,
    pub ascii_only: bool,
    pub html: bool,
    pub upper_hex: bool,
}

/// Escapes `s` as the body of a JSON string literal.
pub fn json_escape(s: &str, opts: JsonEscape) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let unicode = |out: &mut String, unit: u16| {
        if opts.upper_hex {
            out.push_str(&format!("\\u{unit:04X}"));
        } else {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    };
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '/' if opts.slash => out.push_str("\\/"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if opts.html => unicode(&mut out, c as u16),
            c if (c as u32) < 0x20 => unicode(&mut out, c as u16),
            c if opts.ascii_only && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    unicode(&mut out, *unit);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// How `{:?}` prints the secret inside a log record (without the quotes):
/// tracing's default formatter writes string fields recorded with `?` this way.
pub fn rust_debug_form(secret: &str) -> String {
    let debug = format!("{secret:?}");
    debug[1..debug.len() - 1].to_owned()
}
