//! Throughput of the streaming secret masker (issue 4 §3): 10 secrets over a
//! 100 MB pseudo-random text stream fed in 64 KiB chunks, side by side with
//! naive per-secret `str::replace` on the raw values, in the same run.
//!
//! Run: `cargo bench --bench masker`. MB = 10^6 bytes. The many-secrets
//! rows also give MB per second of the thread's own CPU time, which other
//! processes on a shared machine do not inflate the way they do wall time.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use maxion::masker::{MASK, Masker};
use secrecy::SecretString;

const STREAM_BYTES: usize = 100_000_000;
const CHUNK: usize = 64 * 1024;
const RUNS: usize = 5;

/// xorshift64*: deterministic, dependency-free input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn token(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut s = prefix.to_owned();
    s.extend((0..len).map(|_| ALNUM[rng.below(ALNUM.len())] as char));
    s
}

fn secrets(rng: &mut Rng) -> Vec<String> {
    vec![
        token(rng, "ghp_", 36),
        token(rng, "ghs_", 36),
        token(rng, "github_pat_", 70),
        token(rng, "sk-ant-api03-", 80),
        token(rng, "sk-proj-", 48),
        token(rng, "xoxb-", 40),
        token(rng, "AKIA", 16),
        format!("{}/{}+{}==", token(rng, "", 12), token(rng, "", 10), token(rng, "", 8)),
        format!("p@ss w0rd!{}\"{}\\", token(rng, "", 6), token(rng, "", 6)),
        token(rng, "whsec_", 32),
    ]
}

/// Log-like text (words, punctuation, newlines, a few non-ASCII characters)
/// with a secret planted about every 100 KB in raw, base64 or URL-encoded form.
fn stream(rng: &mut Rng, secrets: &[String]) -> String {
    const WORDS: &[&str] = &[
        "the",
        "build",
        "failed",
        "error:",
        "warning:",
        "cargo",
        "test",
        "src/lib.rs:42:7",
        "Compiling",
        "Finished",
        "passed",
        "{\"id\":",
        "\"status\":",
        "null,",
        "https://example.com/api/v3",
        "npm",
        "ERR!",
        "déjà",
        "naïve",
        "日本語",
        "==>",
        "0x7ffd",
        "[INFO]",
        "\t",
        "\n",
        "\n",
    ];
    let mut s = String::with_capacity(STREAM_BYTES + 1024);
    let mut next_plant = 100_000;
    while s.len() < STREAM_BYTES {
        if s.len() >= next_plant {
            let secret = &secrets[rng.below(secrets.len())];
            match rng.below(3) {
                0 => s.push_str(secret),
                1 => s.push_str(&base64::engine::general_purpose::STANDARD.encode(format!("u:{secret}"))),
                _ => s.push_str(&secret.replace('/', "%2F").replace('+', "%2B").replace(' ', "%20")),
            }
            next_plant += 100_000;
        } else if rng.below(4) == 0 {
            s.push_str(WORDS[rng.below(WORDS.len())]);
        } else {
            let len = 1 + rng.below(10);
            s.extend((0..len).map(|_| ALNUM[rng.below(ALNUM.len())] as char));
        }
        s.push(' ');
    }
    s
}

fn mb_per_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

/// CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let values = secrets(&mut rng);
    let text = stream(&mut rng, &values);
    let secret_strings: Vec<SecretString> = values.iter().map(|v| SecretString::from(v.clone())).collect();

    let build_start = Instant::now();
    let masker = Arc::new(Masker::new(secret_strings.iter()).expect("valid secrets"));
    let build = build_start.elapsed();
    println!(
        "secrets: {}, patterns: {}, longest pattern: {} B, automaton built in {:.1} ms",
        masker.secret_count(),
        masker.pattern_count(),
        masker.max_held() - 2,
        build.as_secs_f64() * 1e3
    );
    println!(
        "input: {:.1} MB, chunks of {} KiB, {RUNS} runs each (median, best)",
        text.len() as f64 / 1e6,
        CHUNK / 1024
    );

    let mut stream_times = Vec::new();
    let mut streamed = Vec::new();
    for _ in 0..RUNS {
        streamed.clear();
        let start = Instant::now();
        let mut s = masker.stream();
        for chunk in text.as_bytes().chunks(CHUNK) {
            s.push_into(black_box(chunk), &mut streamed);
        }
        streamed.extend(s.finish());
        stream_times.push(start.elapsed());
    }

    // The same through `push`, which hands back a fresh Vec per chunk.
    let mut push_times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut s = masker.stream();
        for chunk in text.as_bytes().chunks(CHUNK) {
            black_box(s.push(black_box(chunk)));
        }
        black_box(s.finish());
        push_times.push(start.elapsed());
    }

    let mut oneshot_times = Vec::new();
    let mut oneshot = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        oneshot = masker.mask_bytes(black_box(text.as_bytes()));
        oneshot_times.push(start.elapsed());
    }

    let mut naive_times = Vec::new();
    let mut naive = String::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut out = black_box(&text).clone();
        for v in &values {
            out = out.replace(v.as_str(), MASK);
        }
        naive_times.push(start.elapsed());
        naive = out;
    }

    // The counting in the streaming loop above is part of what is timed but
    // is cheap next to matching; the figures below are conservative for it.
    let report = |name: &str, times: &[Duration]| {
        let best = *times.iter().min().expect("runs");
        println!(
            "{name:<44} {:>8.0} MB/s median {:>8.0} MB/s best",
            mb_per_s(text.len(), median(times.to_vec())),
            mb_per_s(text.len(), best)
        );
    };
    report("streaming masker, push_into reused buffer", &stream_times);
    report("streaming masker, push (Vec per chunk)", &push_times);
    report("one-shot Masker::mask_bytes (all forms)", &oneshot_times);
    report("naive str::replace x10 (raw values only)", &naive_times);

    // How the streaming masker scales once the registry holds many secrets
    // (more than 96 patterns switches to the skip scanner).
    for copies in [3, 6, 10] {
        let mut many = values.clone();
        let mut more = Rng(0xfeed_0000 + copies as u64);
        for _ in 1..copies {
            many.extend(secrets(&mut more));
        }
        let many: Vec<SecretString> = many.into_iter().map(SecretString::from).collect();
        let big = Arc::new(Masker::new(many.iter()).expect("valid secrets"));
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut out = Vec::new();
        for _ in 0..RUNS {
            out.clear();
            let (start, cpu_start) = (Instant::now(), thread_cpu());
            let mut s = big.stream();
            for chunk in text.as_bytes().chunks(CHUNK) {
                out.extend(s.push(black_box(chunk)));
            }
            out.extend(s.finish());
            times.push(start.elapsed());
            cpu.push(thread_cpu() - cpu_start);
        }
        let label = format!("push, {} secrets ({} patterns)", big.secret_count(), big.pattern_count());
        report(&label, &times);
        report("  the same per CPU second (thread CPU time)", &cpu);
        println!(
            "  masks: {}; identical to one-shot: {}",
            out.windows(MASK.len()).filter(|w| *w == MASK.as_bytes()).count(),
            out == big.mask_bytes(text.as_bytes())
        );
    }

    let raw = AhoCorasick::new(&values).expect("raw values");
    println!(
        "masks: streaming {}, one-shot {}, naive {}; streaming output identical to one-shot: {}; \
         raw secrets left: masker {}, naive {}",
        streamed.windows(MASK.len()).filter(|w| *w == MASK.as_bytes()).count(),
        oneshot.windows(MASK.len()).filter(|w| *w == MASK.as_bytes()).count(),
        naive.matches(MASK).count(),
        streamed == oneshot,
        raw.find_iter(&oneshot).count(),
        raw.find_iter(&naive).count(),
    );
}
