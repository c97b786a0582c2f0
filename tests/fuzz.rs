//! The fuzz targets on stable, bounded: each target runs its seeds (`tests/fuzz_seeds/<target>/`,
//! the same corpus `cargo fuzz` starts from) and then a fixed number of mutations of them (bit
//! flips, interesting bytes and tokens put in or over, cuts, repeats, splices), drawn from a
//! seeded generator so a failure reproduces. The long, coverage-guided run is `cargo +nightly
//! fuzz run <target>` (README, "Fuzzing").
//!
//! `PORTICO_FUZZ_SEED` picks another generator seed, `PORTICO_FUZZ_RUNS` another number of
//! mutations per target. A failure names the target, the seed and the input.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use portico::fuzzing;

/// Mutations per target: five targets, 20,000 inputs in all, a few seconds unoptimized.
const RUNS: usize = 4_000;
/// The generator's seed unless `PORTICO_FUZZ_SEED` says otherwise.
const SEED: u64 = 0x5eed_f022;
/// Longest input a mutation makes.
const MAX_LEN: usize = 4096;

/// Bytes and tokens that parsers treat specially.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\r\n",
    b"\r\n\r\n",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"%",
    b"%00",
    b"%2F",
    b"%2B",
    b"%FF",
    b"+",
    b"-",
    b"0",
    b"9",
    b"1e400",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"null",
    b"true",
    b"${",
    b"${run_date-1}",
    b"${run_date+99999999}",
    b"${x*2}",
    b";",
    b"=",
    b"&",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"ffffffffffffffff",
    b"0\r\n\r\n",
    b"HTTP/1.1",
    b"exec_id018",
];

fn run(target: &str, entry: fn(&[u8])) {
    let seed = std::env::var("PORTICO_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(SEED);
    let runs = std::env::var("PORTICO_FUZZ_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(RUNS);
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "no seeds for {target} in tests/fuzz_seeds/{target}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mutated = (0..runs).map(|_| mutate(&mut rng, &seeds));
    for (n, input) in seeds.iter().cloned().chain(mutated).enumerate() {
        if panic::catch_unwind(AssertUnwindSafe(|| entry(&input))).is_err() {
            panic!(
                "fuzz target {target} failed on input {n} (PORTICO_FUZZ_SEED={seed}): {:?}\n\
                 save it as a seed to keep it: tests/fuzz_seeds/{target}/",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

/// The seed files of `target`, in name order.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_seeds").join(target);
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths.iter().filter_map(|path| std::fs::read(path).ok()).collect()
}

/// One seed changed in one to four ways.
fn mutate(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.usize(..seeds.len())].clone();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=data.len());
        match rng.u8(..8) {
            0 if !data.is_empty() => {
                let i = rng.usize(..data.len());
                data[i] ^= 1 << rng.u8(..8);
            }
            1 if !data.is_empty() => {
                let i = rng.usize(..data.len());
                data[i] = TOKENS[rng.usize(..TOKENS.len())][0];
            }
            2 => {
                let token = TOKENS[rng.usize(..TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 => data.truncate(at),
            4 => {
                let end = rng.usize(at..=data.len());
                data.drain(at..end);
            }
            5 => {
                let end = rng.usize(at..=data.len().min(at + 64));
                let piece = data[at..end].to_vec();
                for _ in 0..rng.usize(1..=8) {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            6 => {
                let other = &seeds[rng.usize(..seeds.len())];
                let from = rng.usize(..=other.len());
                data.splice(at.., other[from..].iter().copied());
            }
            _ => {
                let digits = rng.u64(..).to_string();
                data.splice(at..at, digits.into_bytes());
            }
        }
        data.truncate(MAX_LEN);
    }
    data
}

#[test]
fn submit_body() {
    run("submit_body", fuzzing::submit_body);
}

#[test]
fn job_id() {
    run("job_id", fuzzing::job_id);
}

#[test]
fn query() {
    run("query", fuzzing::query);
}

#[test]
fn http_head() {
    run("http_head", fuzzing::http_head);
}

#[test]
fn chunked_body() {
    run("chunked_body", fuzzing::chunked_body);
}
