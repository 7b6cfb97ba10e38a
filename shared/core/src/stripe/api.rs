//! The `StripeApi` port: the Stripe calls flows make. The reqwest adapter is in
//! `tally-http`; `crate::memory::MemoryStripe` behaves like Stripe for tests.

use async_trait::async_trait;

use super::objects::{Charge, PaymentIntent};
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
}
