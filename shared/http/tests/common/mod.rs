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

/// `POST {base}{path}` with a JSON body, as the simulators' control APIs take
/// it; the JSON answer (a non-2xx answer fails the test).
#[allow(dead_code)] // not every test binary drives a control API
pub async fn post_json(base: &str, path: &str, body: &Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}
