//! What the integration tests against the local stack share: its settings,
//! in-memory secrets and a fast retry policy.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tally_core::config::HttpPolicy;
use tally_core::memory::MemorySecret;
use tally_core::secrets::CachedSecret;

pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run `make up` and load .tally/local.env"))
}

pub fn fast() -> HttpPolicy {
    HttpPolicy {
        max_retries: 2,
        retry_base_ms: 50,
        max_backoff_ms: 500,
        timeout_ms: 5_000,
    }
}

pub fn secret<T: serde::de::DeserializeOwned + Send + Sync>(json: Value) -> Arc<CachedSecret<T>> {
    Arc::new(CachedSecret::new(
        Box::new(MemorySecret::new("local", &json.to_string())),
        Duration::from_secs(300),
        Duration::from_secs(1),
    ))
}
