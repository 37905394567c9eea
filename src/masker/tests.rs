//! Unit tests of the masker: each encoded form, leftmost-longest choice,
//! streaming across chunk boundaries, UTF-8 safety and the registry.
//! Randomised properties live in `tests/it/masker_props.rs`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use secrecy::SecretString;

use super::*;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn masker(secrets: &[&str]) -> Arc<Masker> {
    let owned: Vec<SecretString> = secrets.iter().map(|s| secret(s)).collect();
    Arc::new(Masker::new(owned.iter()).expect("valid secrets"))
}

fn stream_all(m: &Arc<Masker>, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = m.stream();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(s.push(c));
    }
    out.extend(s.finish());
    out
}

#[test]
fn raw_secret_is_replaced_and_the_rest_kept() {
    let m = masker(&["ghp_abcdef123456"]);
    assert_eq!(m.mask("token ghp_abcdef123456 used twice: ghp_abcdef123456."), "token *** used twice: ***.");
}

#[test]
fn base64_forms_in_every_alignment_and_both_alphabets() {
    // '?' and '>' make the encodings differ between the two alphabets.
    let value = "s3cr?t>>key~~99";
    let m = masker(&[value]);
    for (offset, prefix) in ["", "a", "ab"].iter().enumerate() {
        for (name, engine) in [("standard", &STANDARD), ("url-safe", &URL_SAFE)] {
            let encoded = engine.encode(format!("{prefix}{value}!"));
            let start = (8 * offset).div_ceil(6);
            let end = 8 * (offset + value.len()) / 6;
            let expected = format!("auth={}***{}", &encoded[..start], &encoded[end..]);
            assert_eq!(m.mask(&format!("auth={encoded}")), expected, "{name} alphabet, offset {offset}");
        }
    }
}

#[test]
fn basic_auth_header_is_masked() {
    let m = masker(&["correct-horse-battery"]);
    let header = format!("Authorization: Basic {}", STANDARD.encode("x-access-token:correct-horse-battery"));
    let masked = m.mask(&header);
    assert!(masked.contains(MASK), "{masked}");
    let inner = forms::base64_inner(b"correct-horse-battery", "x-access-token:".len() % 3, true);
    assert!(!masked.contains(std::str::from_utf8(&inner).unwrap()), "{masked}");
}

#[test]
fn percent_encoded_forms_in_both_hex_cases() {
    let value = "p@ss/word+key=1 x";
    let m = masker(&[value]);
    for encoded in [
        "p%40ss%2Fword%2Bkey%3D1%20x",
        "p%40ss%2fword%2bkey%3d1%20x",
        "p%40ss%2Fword%2Bkey%3D1+x",
        "p%40ss%2fword%2bkey%3d1+x",
    ] {
        assert_eq!(m.mask(&format!("https://h/?t={encoded}&a=1")), "https://h/?t=***&a=1", "{encoded}");
    }
}

#[test]
fn json_escaped_forms_as_serializers_write_them() {
    let value = "a\"quoted\\path/to\n√é日🔑";
    let m = masker(&[value]);
    let serde_form = serde_json::json!({ "token": value }).to_string();
    assert_eq!(m.mask(&serde_form), r#"{"token":"***"}"#);
    // Python's json.dumps (ensure_ascii) and PHP's json_encode (also escapes '/').
    let python = r#"{"token": "a\"quoted\\path/to\n\u221a\u00e9\u65e5\ud83d\udd11"}"#;
    assert_eq!(m.mask(python), r#"{"token": "***"}"#);
    let php = r#"{"token":"a\"quoted\\path\/to\n\u221a\u00e9\u65e5\ud83d\udd11"}"#;
    assert_eq!(m.mask(php), r#"{"token":"***"}"#);
}

#[test]
fn json_escape_matches_serde_json() {
    let value = "ctl\u{1}\u{1f}\u{8}\u{c}\t\r\"\\/<&>\u{2028}é";
    let ours = forms::json_escape(value, forms::JsonEscape::default());
    let theirs = serde_json::to_string(value).unwrap();
    assert_eq!(format!("\"{ours}\""), theirs);
}

#[test]
fn debug_formatted_secret_is_masked() {
    let value = "esc\u{1b}[0m\"tab\t";
    let m = masker(&[value]);
    assert_eq!(m.mask(&format!("field={value:?}")), "field=\"***\"");
}

#[test]
fn short_secrets_are_refused_by_character_count() {
    assert!(matches!(Masker::new([&secret("1234567")]), Err(MaskerError::TooShort { len: 7 })));
    // Seven characters in fourteen bytes are still seven characters.
    assert!(matches!(Masker::new([&secret("ééééééé")]), Err(MaskerError::TooShort { len: 7 })));
    assert!(Masker::new([&secret("12345678")]).is_ok());
}

#[test]
fn leftmost_longest_masks_the_whole_longer_secret() {
    let m = masker(&["abcdefgh", "abcdefghijkl"]);
    assert_eq!(m.mask("xabcdefghijkly abcdefghz"), "x***y ***z");
}

#[test]
fn no_secrets_means_byte_identical_output() {
    let m = Arc::new(Masker::default());
    let data = b"plain \xff\xfe binary and text \xe6\x97\xa5";
    assert_eq!(m.mask_bytes(data), data);
    assert_eq!(stream_all(&m, &[&data[..5], &data[5..]]), data);
}

#[test]
fn a_secret_split_at_every_point_is_masked() {
    let m = masker(&["sk-live-0123456789abcdef"]);
    let text = b"before sk-live-0123456789abcdef after";
    for a in 0..=text.len() {
        for b in a..=text.len() {
            let out = stream_all(&m, &[&text[..a], &text[a..b], &text[b..]]);
            assert_eq!(out, b"before *** after", "split at {a}, {b}");
        }
    }
}

#[test]
fn push_returns_whole_characters_only() {
    let m = masker(&["日本語のひみつ鍵です"]);
    let text = "前置き 日本語のひみつ鍵です 後書き: ünïcödé 🔑🔑🔑 and more text after it".as_bytes();
    for size in 1..8 {
        let mut s = m.stream();
        let mut out = Vec::new();
        for chunk in text.chunks(size) {
            let piece = s.push(chunk);
            assert!(std::str::from_utf8(&piece).is_ok(), "chunk size {size}: {piece:?}");
            out.extend(piece);
        }
        out.extend(s.finish());
        assert_eq!(String::from_utf8(out).unwrap(), "前置き *** 後書き: ünïcödé 🔑🔑🔑 and more text after it");
    }
}

#[test]
fn held_back_bytes_stay_bounded_on_a_long_stream() {
    let m = masker(&["a-secret-value-0001", "another-secret-value-0002"]);
    let mut s = m.stream();
    let chunk = "lorem ipsum dolor sit amet ".repeat(1000);
    let mut emitted = 0;
    for _ in 0..200 {
        emitted += s.push(chunk.as_bytes()).len();
        assert!(s.held() <= m.max_held(), "held {} > {}", s.held(), m.max_held());
    }
    emitted += s.finish().len();
    assert_eq!(emitted, chunk.len() * 200);
}

#[test]
fn registry_adds_rebuild_and_old_snapshots_stay_valid() {
    let secrets = Secrets::default();
    assert_eq!(secrets.mask("first-secret-aaa"), "first-secret-aaa");
    secrets.add(&secret("first-secret-aaa")).unwrap();
    let before = secrets.masker();
    secrets.add(&secret("second-secret-bbb")).unwrap();
    secrets.add(&secret("second-secret-bbb")).unwrap();
    assert_eq!(secrets.len(), 2);
    assert!(matches!(secrets.add(&secret("short")), Err(MaskerError::TooShort { len: 5 })));
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets.mask("first-secret-aaa second-secret-bbb"), "*** ***");
    assert_eq!(before.mask("first-secret-aaa second-secret-bbb"), "*** second-secret-bbb");
    assert!(secrets.remove(&secret("first-secret-aaa")).unwrap());
    assert!(!secrets.remove(&secret("first-secret-aaa")).unwrap());
    assert_eq!(secrets.mask("first-secret-aaa second-secret-bbb"), "first-secret-aaa ***");
}

#[test]
fn debug_output_never_shows_patterns() {
    let m = masker(&["debug-leak-check-123"]);
    let printed = format!("{m:?} {:?}", m.stream());
    assert!(!printed.contains("debug-leak"), "{printed}");
}
