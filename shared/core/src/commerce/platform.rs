//! The `CommercePlatform` port. Shaped by what order-to-cash needs, in terms
//! every platform has (order, comment/status, recorded payment), so Znode,
//! Kentico and Clarity adapters implement the same calls.

use async_trait::async_trait;

use super::change_key::ChangeKey;
use super::customer::{CustomerProfile, CustomerUpdate, PlatformCustomer};
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

/// Money returned for an order in Stripe, to be recorded on the platform
/// (Magento: an offline credit memo; Znode: a refund row and the payment state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub amount: Money,
    /// The Stripe refund: the record's identity on the platform, found again
    /// by `refunds_of` so that a retry never records it twice.
    pub stripe_refund_id: String,
    pub charge_id: String,
    pub comment: String,
    pub notify_customer: bool,
}

/// A refund as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRefund {
    /// The platform's own id for the record (Magento credit memo entity id).
    pub id: String,
    pub amount: crate::money::MinorUnit,
    /// The Stripe refund the record names, if any (a refund made on the
    /// platform before Tally refunded it in Stripe names none).
    pub stripe_refund_id: Option<String>,
    /// The platform asks for this money to be returned and no Stripe refund
    /// is named for it yet (a merchant's credit memo, an approved Znode
    /// return): the only records Tally refunds in Stripe. A record of money
    /// already returned some other way is not awaiting.
    pub awaiting: bool,
}

/// How a platform's own refunds reach Tally's refund poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundIntake {
    /// Records made once and never changed (Magento credit memos): read by
    /// creation key with `refunds_created_after`.
    Created,
    /// Records that reach a state asking for a refund after they are made
    /// (Znode returns approved later, with no modification filter to key on):
    /// every record in that state is read on every poll with `refunds_awaiting`.
    Awaiting,
    /// Both (Adobe Commerce: credit memos by creation key, and processed
    /// returns, which no credit memo accompanies, by their state).
    CreatedAndAwaiting,
}

/// A record in the awaiting state that cannot be read as a refund (an
/// amount finer than its currency, an unknown currency): reported, not dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRefund {
    /// The order it belongs to, as far as it could be read.
    pub order_id: String,
    pub refund_id: String,
    pub reason: String,
}

/// One page of `refunds_awaiting`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwaitingRefunds {
    pub refunds: Vec<PolledRefund>,
    pub unreadable: Vec<UnreadableRefund>,
    /// Where the next page starts (opaque to callers); `None` after the last.
    pub next: Option<String>,
}

/// A refund made on the platform (a credit memo a merchant saved), as a poll reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledRefund {
    pub order: super::OrderRef,
    pub refund: PlatformRefund,
    /// When the platform made it: the poll's key.
    pub created_at: String,
}

/// The Stripe refund id (`re_...` or `pyr_...`) a platform's text names, if any.
pub fn stripe_refund_id_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| (w.starts_with("re_") || w.starts_with("pyr_")) && w.len() > 4)
        .map(str::to_string)
}

/// One order a poll read: the canonical order, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolledOrder {
    Readable(Box<Order>),
    /// The platform's order exists but is not one Tally can act on as read
    /// (an unknown currency, an amount finer than the currency allows, ...).
    Unreadable {
        order_id: String,
        updated_at: String,
        reason: String,
    },
}

impl PolledOrder {
    pub fn order_id(&self) -> &str {
        match self {
            PolledOrder::Readable(o) => &o.reference.order_id,
            PolledOrder::Unreadable { order_id, .. } => order_id,
        }
    }
    pub fn updated_at(&self) -> &str {
        match self {
            PolledOrder::Readable(o) => &o.updated_at,
            PolledOrder::Unreadable { updated_at, .. } => updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{platform} order {order_id} not found")]
    NotFound { platform: String, order_id: String },
    #[error("{platform} customer {customer_id} not found")]
    CustomerNotFound {
        platform: String,
        customer_id: String,
    },
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

/// A customer a poll found changed: only its id and time, since the handler
/// re-reads it (and reports what it cannot read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedCustomer {
    pub customer_id: String,
    pub updated_at: String,
}

/// One list a platform reads customer changes from (its customers, their
/// addresses), in time order.
pub struct ChangeList {
    pub changes: Vec<ChangedCustomer>,
    /// Set when the read stopped at a page's end: the time of the last row
    /// read, past which the list may hold changes not read yet.
    pub horizon: Option<String>,
}

impl ChangeList {
    /// A list read as `changes` from `rows` rows of at most `top`.
    pub fn read(changes: Vec<ChangedCustomer>, rows: usize, top: u32) -> Self {
        let horizon = (rows >= top as usize)
            .then(|| changes.last().map(|c| c.updated_at.clone()))
            .flatten();
        ChangeList { changes, horizon }
    }
}

/// Changes from several lists merged for a poll: those after `key`, by time
/// and id, each once, up to `limit`, and none past a list's horizon (past it
/// that list may hold changes not read yet, which the key would then skip).
pub fn merge_customer_changes(
    lists: Vec<ChangeList>,
    key: &super::ChangeKey,
    limit: u32,
) -> Vec<ChangedCustomer> {
    let horizon = lists.iter().filter_map(|l| l.horizon.clone()).min();
    let mut merged: Vec<ChangedCustomer> = lists.into_iter().flat_map(|l| l.changes).collect();
    merged.sort_by(|a, b| {
        (a.updated_at.as_str(), a.customer_id.as_str())
            .cmp(&(b.updated_at.as_str(), b.customer_id.as_str()))
    });
    merged.dedup();
    merged
        .into_iter()
        .filter(|c| horizon.as_ref().is_none_or(|h| c.updated_at <= *h))
        .filter(|c| key.is_before(&c.customer_id, &c.updated_at))
        .take(limit as usize)
        .collect()
}

fn customers_not_supported(platform: &str) -> PlatformError {
    PlatformError::Rejected {
        platform: platform.into(),
        status: 501,
        message: "Tally does not sync this platform's customers yet".into(),
    }
}

#[async_trait]
pub trait CommercePlatform: Send + Sync {
    /// Platform name used in order refs and Stripe metadata ("magento").
    fn platform(&self) -> &str;
    /// Which store/site of the platform this adapter serves.
    fn store(&self) -> &str;
    /// The order number of a PaymentIntent the platform's own Stripe module
    /// made at checkout (it carries no Tally metadata), if `metadata` is one.
    fn checkout_order_number(
        &self,
        _metadata: &crate::stripe::objects::Metadata,
    ) -> Option<String> {
        None
    }
    /// The order id a PaymentIntent made outside Tally names in its metadata
    /// (Clarity Connect's `clarityorderid`), if `metadata` is one.
    fn checkout_order_id(&self, _metadata: &crate::stripe::objects::Metadata) -> Option<String> {
        None
    }
    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError>;
    /// A registered customer (guests have no record on the platform).
    async fn get_customer(&self, _customer_id: &str) -> Result<PlatformCustomer, PlatformError> {
        Err(customers_not_supported(self.platform()))
    }
    /// The registered customer with this email, if any (checked before one is created).
    async fn find_customer_by_email(
        &self,
        _email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        Err(customers_not_supported(self.platform()))
    }
    /// Registers a customer made in Stripe (its profile, and the Stripe id where
    /// the platform keeps one); returns it as saved.
    async fn create_customer(
        &self,
        _profile: &CustomerProfile,
        _stripe_customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        Err(customers_not_supported(self.platform()))
    }
    /// At most `limit` customers changed after `key`, oldest change first (the
    /// safety net behind customer webhooks). A platform whose customers Tally
    /// does not sync answers none.
    async fn customers_changed_after(
        &self,
        _key: &ChangeKey,
        _limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        Ok(Vec::new())
    }
    /// Writes the synced fields (from Stripe) and/or the Stripe customer id the
    /// customer is linked to, leaving every other field as it is.
    async fn update_customer(
        &self,
        _customer_id: &str,
        _update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        Err(customers_not_supported(self.platform()))
    }
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
    /// The refunds recorded on the order, oldest first.
    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError>;
    /// Records a refund made in Stripe; returns the platform's id for the record.
    /// Refuses more than the order has left to refund, as the platform does.
    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError>;
    /// Which of the two reads below the refund poll uses.
    fn refund_intake(&self) -> RefundIntake;
    /// At most `limit` refunds made on the platform after `key` (by creation
    /// time and id), oldest first (`RefundIntake::Created`). A platform whose
    /// intake is `Awaiting` offers none.
    async fn refunds_created_after(
        &self,
        _key: &ChangeKey,
        _limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        Ok(Vec::new())
    }
    /// A page of at most `limit` records in the state that asks for a refund,
    /// from `after` (a previous page's `next`; `None` for the first), keyed so
    /// that records leaving the state during the read hide no other
    /// (`RefundIntake::Awaiting`).
    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError>;
    /// Marks the platform's refund record as refunded in Stripe by `sent`
    /// (its Stripe refund id, amount and comment), so it is never refunded
    /// again: Magento a comment on the credit memo; Znode a refund payment row
    /// and the return moved to Refund Processed with a note.
    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError>;
    /// At most `limit` orders changed after `key` (see `ChangeKey`), oldest
    /// change first. An empty answer means there is nothing after `key`. Adapters
    /// page by key, never by offset, so writes during a poll cannot hide an order.
    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError>;
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::commerce::ChangeKey;

    fn change(id: &str, at: &str) -> ChangedCustomer {
        ChangedCustomer {
            customer_id: id.into(),
            updated_at: at.into(),
        }
    }

    #[test]
    fn merged_changes_stop_where_a_full_list_may_hold_more() {
        let key = ChangeKey::starting_at("2026-11-28 10:00:00");
        // a page of customers that ended at 10:00:05: there may be more after it
        let customers = ChangeList {
            changes: vec![
                change("1", "2026-11-28 10:00:01"),
                change("2", "2026-11-28 10:00:05"),
            ],
            horizon: Some("2026-11-28 10:00:05".into()),
        };
        let addresses = ChangeList {
            changes: vec![
                change("1", "2026-11-28 10:00:01"),
                change("3", "2026-11-28 10:00:03"),
                change("4", "2026-11-28 10:00:09"),
            ],
            horizon: None,
        };
        let merged = merge_customer_changes(vec![customers, addresses], &key, 10);
        let ids: Vec<&str> = merged.iter().map(|c| c.customer_id.as_str()).collect();
        assert_eq!(
            ids,
            ["1", "3", "2"],
            "one of each, none past the full list's last row"
        );
        let capped = merge_customer_changes(
            vec![ChangeList {
                changes: vec![
                    change("5", "2026-11-28 09:59:59"),
                    change("6", "2026-11-28 10:00:02"),
                ],
                horizon: None,
            }],
            &key,
            1,
        );
        assert_eq!(capped, vec![change("6", "2026-11-28 10:00:02")]);
    }
}
