//! The ports flows depend on. Each has an AWS adapter (`tally-aws`) and an
//! in-memory one (`crate::memory`).

use async_trait::async_trait;

use crate::error::{QueueError, StoreError};
use crate::message::OutboundMessage;

/// One queue (an SQS queue in production).
#[async_trait]
pub trait Queue: Send + Sync {
    /// A name for logs and errors (never a full URL with an account id).
    fn name(&self) -> &str;
    async fn send(&self, message: &OutboundMessage) -> Result<(), QueueError>;
}

/// Proof of a claim, needed to complete or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker owns the key until the lease expires.
    Acquired(ClaimToken),
    /// The work was done before; here is its recorded result.
    Completed { result: String },
    /// Another worker holds an unexpired lease.
    InProgress { lease_expires_at: i64 },
}

/// Exactly-once bookkeeping: claim a key, do the work, record completion.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` if it is new or its previous claim's lease expired before `now` (unix seconds).
    async fn claim(&self, key: &str, now: i64, lease_secs: i64) -> Result<Claim, StoreError>;
    /// Marks the claimed key done with a small result; fails with `LostClaim`
    /// if the lease was taken over meanwhile.
    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        result: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Gives up a claim after a failure so a retry need not wait for the lease.
    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError>;
    /// The result recorded under `key` if its work completed: a (strongly
    /// consistent) read, for callers that would otherwise claim only to learn it.
    async fn completed(&self, key: &str) -> Result<Option<String>, StoreError>;
}

/// A Stripe event as recorded in the events table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub object_type: String,
    pub created: i64,
    pub livemode: bool,
    pub flow: String,
    pub recorded_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Inserted,
    AlreadyPresent,
}

#[async_trait]
pub trait EventJournal: Send + Sync {
    /// Inserts the event unless its id is already present (never overwrites).
    async fn record(&self, event: &RecordedEvent) -> Result<RecordOutcome, StoreError>;
    /// Which of `event_ids` the journal holds.
    async fn journaled(
        &self,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// This call made the link.
    Linked,
    /// The order was already linked, to this PaymentIntent.
    AlreadyLinked(String),
}

/// Durable order <-> PaymentIntent links (one PaymentIntent per order, ever).
#[async_trait]
pub trait OrderLinks: Send + Sync {
    /// The PaymentIntent linked to `order_key`, if any.
    async fn payment_intent_for(&self, order_key: &str) -> Result<Option<String>, StoreError>;
    /// Links unless a link exists (conditional write); reports the existing one.
    async fn link_payment_intent(
        &self,
        order_key: &str,
        payment_intent_id: &str,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError>;
    /// The charge recorded as having paid the order, if any.
    async fn settlement_for(&self, order_key: &str) -> Result<Option<String>, StoreError>;
    /// Records that `charge_id` paid the order, unless a charge is recorded
    /// already (conditional write); reports the one recorded first. A second,
    /// different charge for one order is a double payment.
    async fn record_settlement(
        &self,
        order_key: &str,
        charge_id: &str,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError>;
}

/// The fingerprints of the synced fields as each side showed them when the
/// two were last in sync (a platform may hold less than Stripe: Magento keeps
/// no phone without an address), so each side's changes are told from echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub platform: String,
    pub stripe: String,
}

/// A platform customer's Stripe customer, and where the two last agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerLink {
    pub stripe_customer_id: String,
    pub synced: Synced,
}

/// Durable platform customer <-> Stripe customer links, both ways.
#[async_trait]
pub trait CustomerLinks: Send + Sync {
    /// The link of a platform customer (`CustomerRef::key`).
    async fn customer_link(&self, customer_key: &str) -> Result<Option<CustomerLink>, StoreError>;
    /// The platform customer a Stripe customer is linked to.
    async fn customer_for_stripe(
        &self,
        stripe_customer_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Links unless a link exists (conditional write), then records the way
    /// back; reports the Stripe customer linked first.
    async fn link_customer(
        &self,
        customer_key: &str,
        link: &CustomerLink,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError>;
    /// Moves the link's fingerprints from `expected` to `to` (conditional
    /// write); false when they no longer are `expected`.
    async fn record_synced(
        &self,
        customer_key: &str,
        expected: &Synced,
        to: &Synced,
    ) -> Result<bool, StoreError>;
    /// Keeps the latest conflict of a customer edited on both sides (a JSON
    /// report), for a person to review: the newer edit has won already.
    async fn report_conflict(&self, customer_key: &str, report: &str) -> Result<(), StoreError>;
    /// Removes the link both ways (the Stripe customer was deleted).
    async fn unlink_customer(
        &self,
        customer_key: &str,
        stripe_customer_id: &str,
    ) -> Result<(), StoreError>;
}

/// A monotonic position (a poller's `updated_at` watermark).
#[async_trait]
pub trait Watermarks: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Moves `name` from `expected` to `to` only if it still is `expected`;
    /// false when another worker moved it first.
    async fn advance(
        &self,
        name: &str,
        expected: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError>;
    /// Notes that a run keyed by `name` finished at `at_ms` (for `tally status`).
    async fn mark_completed(&self, _name: &str, _at_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Each payout's reconciliation record: its ledger (running sums, cursor,
/// status), saved after every page so a payout of many pages continues
/// across invocations, and its report lines, one saved page at a time.
/// Written only by the worker holding the payout's lock.
#[async_trait]
pub trait PayoutReports: Send + Sync {
    async fn ledger(
        &self,
        payout_id: &str,
    ) -> Result<Option<crate::payouts::PayoutLedger>, StoreError>;
    async fn save_ledger(&self, ledger: &crate::payouts::PayoutLedger) -> Result<(), StoreError>;
    /// Page `page` (from 1) of the payout's lines; saving a page again replaces it.
    async fn save_page(
        &self,
        payout_id: &str,
        page: u32,
        lines: &[crate::payouts::ReportLine],
    ) -> Result<(), StoreError>;
    /// Every line, pages in order.
    async fn lines(&self, payout_id: &str) -> Result<Vec<crate::payouts::ReportLine>, StoreError>;
}
