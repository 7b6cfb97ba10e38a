//! HTTP adapters for Tally's ports, over one reqwest client per container:
//! Stripe's API, the platforms' REST APIs, the ERP middleware, Tryton and NetSuite. All share `retry`:
//! network errors, 429 and 5xx are retried with exponential backoff and full
//! jitter, honouring `Retry-After` and `Stripe-Should-Retry`.

pub mod declarative;
pub mod erp;
pub mod kentico;
pub mod magento;
pub mod netsuite;
pub mod retry;
pub mod stripe;
pub mod tryton;
pub mod znode;

/// The ERP adapter the configuration names (`erp.adapter`), with the stack's ERP
/// secret read as what that adapter needs (a signing secret, Tryton's login or
/// NetSuite's tokens). No secret is fetched until the first posting.
pub fn erp_adapter(
    client: reqwest::Client,
    base_url: &str,
    config: &tally_core::config::ErpConfig,
    clock: std::sync::Arc<dyn tally_core::clock::Clock>,
    credentials: tally_core::secrets::ErpCredentials,
) -> std::sync::Arc<dyn tally_core::erp::Erp> {
    use tally_core::config::ErpAdapter;
    match config.adapter {
        ErpAdapter::Http => std::sync::Arc::new(erp::HttpErp::new(
            client,
            base_url,
            config.clone(),
            credentials.signing,
            clock,
        )),
        ErpAdapter::Tryton => std::sync::Arc::new(tryton::TrytonErp::new(
            client,
            base_url,
            config,
            credentials.tryton,
        )),
        ErpAdapter::Netsuite => std::sync::Arc::new(netsuite::NetsuiteErp::new(
            client,
            base_url,
            config,
            credentials.netsuite,
            clock,
        )),
    }
}

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

/// Why a refund cannot be recorded on an order in `currency`: another
/// currency, or (given what is `left` to refund) nothing or more than that.
/// For platforms whose API records whatever it is sent.
pub(crate) fn refund_refused(
    refund: &tally_core::commerce::RefundRecord,
    currency: tally_core::money::Currency,
    left: Option<tally_core::money::MinorUnit>,
) -> Option<String> {
    if refund.amount.currency != currency {
        return Some(format!(
            "a {} refund on a {} order",
            refund.amount.currency, currency
        ));
    }
    let left = left?;
    (refund.amount.amount <= tally_core::money::MinorUnit::ZERO || refund.amount.amount > left)
        .then(|| {
            format!(
                "The most money available to refund is {}.",
                tally_core::money::Money {
                    amount: left,
                    currency
                }
            )
        })
}
