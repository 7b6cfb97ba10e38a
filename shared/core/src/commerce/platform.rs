//! The `CommercePlatform` port. Shaped by what order-to-cash needs, in terms
//! every platform has (order, comment/status, recorded payment), so Znode,
//! Kentico and Clarity adapters implement the same calls.

use async_trait::async_trait;

use super::order::Order;
use crate::error::Retryable;
use crate::money::Money;

/// A note on the order's history, optionally changing its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderComment {
    pub text: String,
    pub status: Option<String>,
    pub notify_customer: bool,
    pub visible_on_front: bool,
}

/// Money received for an order, to be recorded as paid (Magento: an invoice
/// captured offline, since Stripe already has the money).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCapture {
    pub amount: Money,
    /// Stripe charge id: the transaction reference on the platform.
    pub transaction_id: String,
    pub payment_intent_id: String,
    pub comment: String,
    pub notify_customer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{platform} order {order_id} not found")]
    NotFound { platform: String, order_id: String },
    #[error("{platform} refused the request ({status}): {message}")]
    Rejected {
        platform: String,
        status: u16,
        message: String,
    },
    #[error("{platform} rejected the credentials ({status}) even after re-reading the secret")]
    Unauthorized { platform: String, status: u16 },
    #[error("{platform} unavailable ({status}): {message}")]
    Unavailable {
        platform: String,
        status: u16,
        message: String,
    },
    #[error("{platform} sent an unreadable response: {message}")]
    InvalidResponse { platform: String, message: String },
}

impl Retryable for PlatformError {
    fn is_retryable(&self) -> bool {
        // Credentials are fixed by a person, not by retrying: dead-letter with the
        // reason and redrive after the fix.
        matches!(self, PlatformError::Unavailable { .. })
    }
}

#[async_trait]
pub trait CommercePlatform: Send + Sync {
    /// Platform name used in order refs and Stripe metadata ("magento").
    fn platform(&self) -> &str;
    /// Which store/site of the platform this adapter serves.
    fn store(&self) -> &str;
    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError>;
    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError>;
    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError>;
    /// Records the payment; returns the platform's id for the record (Magento invoice id).
    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError>;
    /// Orders updated at or after `since` (the platform's own timestamp format),
    /// oldest first, one 1-based page at a time.
    async fn orders_updated_since(
        &self,
        since: &str,
        page: u32,
        page_size: u32,
    ) -> Result<OrderPage, PlatformError>;
}
