//! The quick variant of the fuzz run, in `cargo test`: each target over its seeds
//! (`corpus/<target>`, and `regressions/<target>`: inputs a fuzzer once failed on), then a seeded
//! mutation run of those seeds. A panic fails the test and prints the input, in hex, to add to
//! `regressions/`. The long coverage-guided runs are `make fuzz` (scripts/fuzz.sh).

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use tally_fuzz::TARGETS;

/// Mutations per target: a few seconds each in a debug build.
const MUTATIONS: usize = 4_000;

/// Pieces a mutation may splice in: JSON structure, extremes, and the shapes the parsers look for.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-",
    b"0",
    b"1e400",
    b"-9223372036854775808",
    b"9223372036854775807",
    b"18446744073709551616",
    b"79228162514264337593543950336",
    b"0.0000000000000000000000000001",
    b"\\u0000",
    b"\xff\xfe",
    b"t=",
    b",v1=",
    b"\n--\n",
    b"\"amount\":",
    b"\"currency\":\"kwd\"",
    b"\"object\":\"payment_intent\"",
    b"\"metadata\":{}",
    b"\"preset\":\"clarity\"",
    b"{\"$ref\":1}",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        out.extend(paths.iter().map(|p| fs::read(p).expect("a seed reads")));
    }
    out
}

/// xorshift64*: the same mutations on every machine, for a given seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            3 if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = (from + 1 + rng.below(64)).min(other.len());
                out.splice(at..at, other[from..to].iter().copied());
            }
            4 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// The panic a target met on `input`, described with the input in hex.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        format!("fuzz target {name} panicked ({message}) on input (hex) {hex}")
    })
}

fn run_all() -> Result<(), String> {
    let mut rng = Rng(0x7a11_7a11_0000_0015);
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        if seeds.is_empty() {
            return Err(format!("{name} has no seeds in corpus/{name}"));
        }
        for seed in &seeds {
            run_one(name, *target, seed)?;
        }
        for _ in 0..MUTATIONS {
            let base = &seeds[rng.below(seeds.len())];
            let other = &seeds[rng.below(seeds.len())];
            run_one(name, *target, &mutate(&mut rng, base, other))?;
        }
    }
    Ok(())
}

#[test]
fn every_target_survives_its_seeds_and_a_seeded_mutation_run() {
    let loud = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = run_all();
    panic::set_hook(loud);
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
