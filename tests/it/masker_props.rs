//! Property tests of the streaming secret masker (issue 4 §3): a secret in
//! any encoded form, at any offset, in any chunking never survives, and a
//! stream without secrets passes through byte-identical.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use maxion::masker::{MASK, Masker, forms};
use proptest::prelude::*;
use secrecy::SecretString;

/// Characters real tokens and passwords are made of. `*` is left out on
/// purpose: a secret containing the mask `***` can be re-assembled from a mask
/// and the text after it (documented limitation).
const SECRET_CHARS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:@!$%&?#~\"\\ é€";

fn secret_value() -> impl Strategy<Value = String> {
    let chars: Vec<char> = SECRET_CHARS.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 8..40).prop_map(|v| v.into_iter().collect())
}

/// Log-like text: mostly ASCII words, some multi-byte characters, newlines.
fn text(max: usize) -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        8 => "[a-zA-Z0-9]{1,12}",
        3 => Just(" ".to_owned()),
        1 => Just("\n".to_owned()),
        1 => "[=:/+%\"{},\\\\-]",
        1 => "[éü日本語🔑€]",
    ];
    prop::collection::vec(pieces, 0..max).prop_map(|v| v.concat())
}

/// Cut points for splitting a stream: chunk sizes cycled over the input.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..70, 1..12)
}

fn masker_for(values: &[String]) -> Arc<Masker> {
    let secrets: Vec<SecretString> = values.iter().map(|v| SecretString::from(v.clone())).collect();
    Arc::new(Masker::new(secrets.iter()).expect("secrets of 8+ chars"))
}

/// Streams `data` through a fresh stream in chunks of the given sizes,
/// checking on the way that UTF-8 input never comes out as a broken character.
fn run_stream(masker: &Arc<Masker>, data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let utf8_input = std::str::from_utf8(data).is_ok();
    let mut stream = masker.stream();
    let mut out = Vec::new();
    let mut rest = data;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        rest = tail;
        let piece = stream.push(chunk);
        if utf8_input {
            assert!(std::str::from_utf8(&piece).is_ok(), "piece splits a character: {piece:?}");
        }
        assert!(stream.held() <= masker.max_held());
        out.extend(piece);
    }
    out.extend(stream.finish());
    out
}

/// Leftmost-longest replacement written the obvious way, as the reference
/// the automaton must agree with.
fn naive_mask(data: &[u8], values: &[String]) -> Vec<u8> {
    let patterns: Vec<Vec<u8>> = values.iter().flat_map(|v| forms::all_forms(v)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let longest = patterns.iter().filter(|p| data[i..].starts_with(p)).map(Vec::len).max();
        match longest {
            Some(len) => {
                out.extend_from_slice(MASK.as_bytes());
                i += len;
            }
            None => {
                out.push(data[i]);
                i += 1;
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The forms a test plants, each paired with the bytes that must not survive.
fn encodings(value: &str, before: &str, after: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let bytes = value.as_bytes();
    let mut out = vec![("raw".to_owned(), bytes.to_vec(), bytes.to_vec())];
    for (alphabet, engine, standard) in [("standard", &STANDARD, true), ("url-safe", &URL_SAFE, false)] {
        // `before`'s length decides the alignment of the secret in its group.
        for offset in 0..3 {
            let prefix: Vec<u8> = before.bytes().chain(std::iter::repeat(b'x')).take(offset).collect();
            let plain = [&prefix, bytes, after.as_bytes()].concat();
            let stable = forms::base64_inner(bytes, offset, standard);
            out.push((format!("base64 {alphabet} offset {offset}"), engine.encode(plain).into_bytes(), stable));
        }
    }
    for (i, form) in forms::percent_forms(bytes).into_iter().enumerate() {
        out.push((format!("percent #{i}"), form.clone(), form));
    }
    for (i, form) in forms::json_forms(value).into_iter().enumerate() {
        out.push((format!("json #{i}"), form.clone(), form));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn planted_secret_never_survives(
        value in secret_value(),
        others in prop::collection::vec(secret_value(), 0..3),
        before in text(40),
        after in text(40),
        neighbour in "[a-zA-Z0-9 ]{0,3}",
        sizes in chunk_sizes(),
        which in any::<prop::sample::Index>(),
    ) {
        let mut all = others.clone();
        all.push(value.clone());
        let masker = masker_for(&all);
        let planted = encodings(&value, &neighbour, &neighbour);
        let (form, encoded, forbidden) = &planted[which.index(planted.len())];
        let data = [before.as_bytes(), encoded, after.as_bytes()].concat();

        let out = run_stream(&masker, &data, &sizes);

        prop_assert!(!contains(&out, forbidden), "{form} form survived in {:?}", String::from_utf8_lossy(&out));
        prop_assert_eq!(&out, &masker.mask_bytes(&data), "stream and one-shot masking differ");
        prop_assert_eq!(&out, &naive_mask(&data, &all), "differs from the naive reference");
    }

    #[test]
    fn every_form_of_several_secrets_in_one_stream_is_masked(
        values in prop::collection::vec(secret_value(), 1..4),
        filler in prop::collection::vec(text(6), 64),
        sizes in chunk_sizes(),
    ) {
        let masker = masker_for(&values);
        let mut data = Vec::new();
        let mut forbidden = Vec::new();
        let mut fill = filler.iter().cycle();
        for value in &values {
            for (_, encoded, stable) in encodings(value, "ab", "cd") {
                data.extend_from_slice(fill.next().map_or("", String::as_str).as_bytes());
                data.extend_from_slice(&encoded);
                forbidden.push(stable);
            }
        }
        let out = run_stream(&masker, &data, &sizes);
        for f in &forbidden {
            prop_assert!(!contains(&out, f), "{:?} survived", String::from_utf8_lossy(f));
        }
    }

    #[test]
    fn text_without_secrets_passes_through_unchanged(
        values in prop::collection::vec(secret_value(), 0..4),
        data in text(200),
        sizes in chunk_sizes(),
    ) {
        let masker = masker_for(&values);
        let planted = values.iter().flat_map(|v| forms::all_forms(v)).any(|f| contains(data.as_bytes(), &f));
        prop_assume!(!planted);
        prop_assert_eq!(run_stream(&masker, data.as_bytes(), &sizes), data.as_bytes());
    }

    #[test]
    fn binary_without_secrets_passes_through_unchanged(
        values in prop::collection::vec(secret_value(), 0..4),
        data in prop::collection::vec(any::<u8>(), 0..2000),
        sizes in chunk_sizes(),
    ) {
        let masker = masker_for(&values);
        let planted = values.iter().flat_map(|v| forms::all_forms(v)).any(|f| contains(&data, &f));
        prop_assume!(!planted);
        prop_assert_eq!(run_stream(&masker, &data, &sizes), data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Enough secrets that the masker scans with its skip scanner (past 96
    /// patterns): the same answers as the automaton alone would give.
    #[test]
    fn many_secrets_stream_like_one_shot_and_the_naive_reference(
        value in secret_value(),
        others in prop::collection::vec(secret_value(), 20..30),
        before in text(60),
        after in text(60),
        neighbour in "[a-zA-Z0-9 ]{0,3}",
        sizes in chunk_sizes(),
        which in any::<prop::sample::Index>(),
        also in any::<prop::sample::Index>(),
    ) {
        let mut all = others.clone();
        all.push(value.clone());
        let masker = masker_for(&all);
        prop_assert!(masker.pattern_count() > 96, "{} patterns", masker.pattern_count());
        let planted = encodings(&value, &neighbour, &neighbour);
        let (form, encoded, forbidden) = &planted[which.index(planted.len())];
        let other = &others[also.index(others.len())];
        let data = [before.as_bytes(), encoded, other.as_bytes(), after.as_bytes()].concat();

        let out = run_stream(&masker, &data, &sizes);

        prop_assert!(!contains(&out, forbidden), "{form} form survived in {:?}", String::from_utf8_lossy(&out));
        prop_assert!(!contains(&out, other.as_bytes()), "a second secret survived");
        prop_assert_eq!(&out, &masker.mask_bytes(&data), "stream and one-shot masking differ");
        prop_assert_eq!(&out, &naive_mask(&data, &all), "differs from the naive reference");
    }
}
