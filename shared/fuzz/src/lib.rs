//! Fuzz targets: every parser that reads input from outside Tally. Each target takes arbitrary
//! bytes, must not panic, and checks what must hold of whatever it is given (an error says what
//! was wrong; what verifies or parses round-trips). The libFuzzer binaries in `src/bin` call
//! these (`make fuzz`); `tests/quick.rs` runs each over its seeds and a seeded mutation run, in
//! `cargo test`.

mod split;
mod targets;

pub use split::Split;
pub use targets::{config, money, platform_json, platform_webhook, stripe_event, stripe_signature};

/// A fuzz target: arbitrary bytes in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target by name, for the quick run and the corpus layout (`shared/fuzz/corpus/<name>`).
pub const TARGETS: &[(&str, Target)] = &[
    ("stripe_signature", stripe_signature),
    ("stripe_event", stripe_event),
    ("platform_webhook", platform_webhook),
    ("platform_json", platform_json),
    ("config", config),
    ("money", money),
];
