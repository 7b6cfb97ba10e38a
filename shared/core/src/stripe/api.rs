//! The `StripeApi` port: the Stripe calls flows make. The reqwest adapter is in
//! `tally-http`; `crate::memory::MemoryStripe` behaves like Stripe for tests.

use async_trait::async_trait;

use super::objects::{Charge, Customer, PaymentIntent, Payout, Refund};
use super::payout_list::PayoutTransactionsPage;
use crate::error::Retryable;
use crate::money::Money;

/// Parameters of `POST /v1/payment_intents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentIntent {
    pub amount: Money,
    pub customer: Option<String>,
    pub description: Option<String>,
    /// Ordered so the encoded request is identical on every retry: Stripe
    /// refuses an idempotency key reused with different parameters.
    pub metadata: Vec<(String, String)>,
}

/// A refund to create (`POST /v1/refunds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub charge: String,
    pub amount: Money,
    /// Ordered, like `NewPaymentIntent::metadata`, for identical retries.
    pub metadata: Vec<(String, String)>,
}

/// A customer to create or update (`POST /v1/customers[/{id}]`): the synced
/// fields, which replace Stripe's, and metadata merged into Stripe's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerWrite {
    pub profile: crate::commerce::CustomerProfile,
    /// Ordered, like `NewPaymentIntent::metadata`, for identical retries.
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeApiError {
    #[error("card declined ({code}{}): {message}", decline_code.as_deref().map(|d| format!(", {d}")).unwrap_or_default())]
    Card {
        code: String,
        decline_code: Option<String>,
        message: String,
    },
    #[error("Stripe refused the request ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    InvalidRequest {
        status: u16,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    #[error("idempotency key reused with different parameters: {0}")]
    IdempotencyMismatch(String),
    #[error("Stripe rejected the API key ({0})")]
    Authentication(u16),
    #[error("Stripe unavailable ({status}): {message}")]
    Unavailable { status: u16, message: String },
    #[error("could not reach Stripe: {0}")]
    Network(String),
    #[error("unreadable Stripe response: {0}")]
    Decode(String),
}

impl StripeApiError {
    pub fn is_missing_resource(&self) -> bool {
        matches!(self, StripeApiError::InvalidRequest { status: 404, .. })
    }
}

impl Retryable for StripeApiError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            StripeApiError::Unavailable { .. } | StripeApiError::Network(_)
        )
    }
}

#[async_trait]
pub trait StripeApi: Send + Sync {
    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeApiError>;
    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeApiError>;
    async fn retrieve_charge(&self, id: &str) -> Result<Charge, StripeApiError>;
    async fn retrieve_refund(&self, id: &str) -> Result<Refund, StripeApiError>;
    async fn create_refund(
        &self,
        params: &NewRefund,
        idempotency_key: &str,
    ) -> Result<Refund, StripeApiError>;
    /// Every refund of a charge (`GET /v1/refunds?charge=`, all pages): since
    /// API 2022-11-15 a charge no longer lists its refunds.
    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, StripeApiError>;
    /// PaymentIntents whose metadata has every pair (Stripe's search API; it
    /// lags writes by up to a minute, so it finds old PaymentIntents, not new ones).
    async fn search_payment_intents(
        &self,
        metadata: &[(&str, &str)],
    ) -> Result<Vec<PaymentIntent>, StripeApiError>;
    async fn create_customer(
        &self,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError>;
    async fn update_customer(
        &self,
        id: &str,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError>;
    /// A customer, or a deleted one's stub (`deleted: true`).
    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeApiError>;
    /// Every customer whose email is exactly `email` (`GET /v1/customers?email=`,
    /// all pages): consistent right after a write, unlike search.
    async fn customers_with_email(&self, email: &str) -> Result<Vec<Customer>, StripeApiError>;
    async fn retrieve_payout(&self, id: &str) -> Result<Payout, StripeApiError>;
    /// One page (at most `limit`, 1-100) of an automatic payout's balance
    /// transactions after `starting_after`, newest first, each with its
    /// source's PaymentIntent (`expand[]=data.source`).
    async fn payout_transactions(
        &self,
        payout_id: &str,
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<PayoutTransactionsPage, StripeApiError>;
    /// One page (at most 100) of events of `types` created at or after
    /// `created_gte` (unix seconds), older than `starting_after`, newest first
    /// (`GET /v1/events`; Stripe keeps 30 days).
    async fn list_events(
        &self,
        created_gte: i64,
        types: &[&str],
        starting_after: Option<&str>,
    ) -> Result<super::event_list::EventsPage, StripeApiError>;
    /// One event by id (`GET /v1/events/{id}`), as Stripe keeps it for 30 days.
    async fn retrieve_event(
        &self,
        id: &str,
    ) -> Result<super::event_list::ListedEvent, StripeApiError>;
    /// Whether the API key is a live one (`Some(true)`), a test one, or of an
    /// unknown kind (`None`): events of the other mode are refused.
    async fn livemode(&self) -> Result<Option<bool>, StripeApiError>;
}

/// Stripe's search query for metadata pairs: `metadata['k']:'v' AND ...`.
pub fn metadata_search_query(metadata: &[(&str, &str)]) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    metadata
        .iter()
        .map(|(k, v)| format!("metadata['{}']:'{}'", quote(k), quote(v)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The mode of a Stripe secret or restricted key, from its prefix.
pub fn key_livemode(key: &str) -> Option<bool> {
    if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        Some(true)
    } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_queries_quote_their_values() {
        assert_eq!(
            super::metadata_search_query(&[("platform", "magento"), ("order_id", "4'2")]),
            r"metadata['platform']:'magento' AND metadata['order_id']:'4\'2'"
        );
        assert_eq!(super::key_livemode("sk_live_x"), Some(true));
        assert_eq!(super::key_livemode("rk_test_x"), Some(false));
        assert_eq!(super::key_livemode("whatever"), None);
    }
}
