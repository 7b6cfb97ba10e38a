//! HTTP adapters for Tally's ports, over one reqwest client per container:
//! Stripe's API, Magento 2 REST and the ERP middleware. All share `retry`:
//! network errors, 429 and 5xx are retried with exponential backoff and full
//! jitter, honouring `Retry-After` and `Stripe-Should-Retry`.

pub mod erp;
pub mod magento;
pub mod retry;
pub mod stripe;
pub mod znode;

/// One client per container: connection pools and TLS sessions are reused across invocations.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(std::time::Duration::from_secs(50))
        .build()
        .expect("reqwest client with static settings")
}

/// The request with `body` as JSON, when there is one.
pub(crate) fn with_json(
    request: reqwest::RequestBuilder,
    body: Option<&serde_json::Value>,
) -> reqwest::RequestBuilder {
    match body {
        Some(b) => request
            .header("content-type", "application/json")
            .body(b.to_string()),
        None => request,
    }
}
