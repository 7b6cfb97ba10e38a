//! Order polling, the primary intake for platforms without outbound webhooks
//! and the safety net for those with them. Each page is read by key ("changed
//! after the last order read", see `ChangeKey`), never by offset, so orders
//! that change during the poll, Tally's own writes included, cannot shift out
//! of view. The key is saved after every page with a conditional write, so two
//! overlapping polls never move it twice and a poll cut short keeps its progress.
//! An order is enqueued once per change: a poll that finds nothing new sends nothing.
//! (Platforms stamp changes to the second, so the orders of a second that was not
//! yet over when read are read once more by the next poll: see `ChangeKey::open`.)

use crate::clock::{utc_datetime, Clock};
use crate::commerce::{
    ChangeKey, CommercePlatform, Order, OrderRef, PaymentState, PlatformError, PolledOrder,
};
use crate::config::OrderToCashConfig;
use crate::error::{QueueError, Retryable, StoreError};
use crate::flows::payments::{order_changed_message, order_created_message};
use crate::ports::{Queue, Watermarks};

/// A poll stops starting pages with less than this left of its invocation.
const MIN_SECS_FOR_A_PAGE: u64 = 10;
/// A second is taken as over (no more changes stamped with it) this long after.
const SETTLE_SECS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not serialize order {0}: {1}")]
    Serialize(String, String),
}

impl Retryable for PollError {
    fn is_retryable(&self) -> bool {
        match self {
            PollError::Platform(e) => e.is_retryable(),
            PollError::Queue(_) => true,
            PollError::Store(e) => e.is_retryable(),
            PollError::Serialize(..) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    pub since: String,
    pub pages: u32,
    pub seen: usize,
    pub enqueued: usize,
    /// Orders that could not be read, sent to the DLQ with their reason.
    pub dead_lettered: usize,
    pub watermark: String,
    /// False when another poll moved the watermark first (its work overlaps ours).
    pub advanced: bool,
    /// True when the poll stopped for time or the page limit before reaching the end.
    pub truncated: bool,
}

pub struct OrderPoller<'a> {
    pub platform: &'a dyn CommercePlatform,
    pub queue: &'a dyn Queue,
    /// Where unreadable orders go, as `order.changed` hints with their reason.
    pub dead_letters: &'a dyn Queue,
    pub watermarks: &'a dyn Watermarks,
    pub clock: &'a dyn Clock,
    pub rules: &'a OrderToCashConfig,
    pub page_size: u32,
    /// Where a first poll starts, in seconds before now.
    pub initial_lookback_secs: i64,
    /// Bound on pages per poll; the next poll continues from the saved key.
    pub max_pages: u32,
}

impl OrderPoller<'_> {
    pub fn watermark_name(&self) -> String {
        format!(
            "poller/{}/{}",
            self.platform.platform(),
            self.platform.store()
        )
    }

    fn wanted(&self, order: &Order) -> bool {
        order.payment_state == PaymentState::AwaitingPayment
            && self.rules.collects(order.payment.method.as_deref())
    }

    pub async fn poll(&self) -> Result<PollReport, PollError> {
        let name = self.watermark_name();
        let mut stored = self.watermarks.get(&name).await?;
        let mut key = match &stored {
            Some(s) => ChangeKey::decode(s).reopened(),
            None => ChangeKey::starting_at(utc_datetime(
                self.clock
                    .now_secs()
                    .saturating_sub(self.initial_lookback_secs),
            )),
        };
        let since = key.updated_at.clone();
        let mut report = PollReport {
            since,
            pages: 0,
            seen: 0,
            enqueued: 0,
            dead_lettered: 0,
            watermark: key.updated_at.clone(),
            advanced: false,
            truncated: false,
        };
        loop {
            let short_of_time = crate::deadline::remaining()
                .is_some_and(|left| left.as_secs() < MIN_SECS_FOR_A_PAGE);
            if short_of_time || report.pages >= self.max_pages {
                report.truncated = true;
                break;
            }
            let page = self
                .platform
                .orders_changed_after(&key, self.page_size)
                .await?;
            if page.is_empty() {
                break;
            }
            report.pages += 1;
            let before = key.clone();
            for polled in &page {
                report.seen += 1;
                self.take(polled, &mut report).await?;
                key.advance(polled.order_id(), polled.updated_at());
            }
            key.settle(self.clock.now_secs(), SETTLE_SECS);
            if key.updated_at == before.updated_at && key.seen == before.seen {
                // An adapter that answers with orders not after the key would loop forever.
                tracing::error!(key = %key.encode(), "the platform answered with no order after the key; stopping");
                break;
            }
            let encoded = key.encode();
            if !self
                .watermarks
                .advance(&name, stored.as_deref(), &encoded)
                .await?
            {
                tracing::info!("another poll moved the watermark first; leaving the rest to it");
                report.watermark = key.updated_at.clone();
                return Ok(report);
            }
            stored = Some(encoded);
            report.advanced = true;
            report.watermark = key.updated_at.clone();
        }
        tracing::info!(since = %report.since, watermark = %report.watermark, pages = report.pages, seen = report.seen, enqueued = report.enqueued, dead_lettered = report.dead_lettered, truncated = report.truncated, "poll done");
        Ok(report)
    }

    async fn take(&self, polled: &PolledOrder, report: &mut PollReport) -> Result<(), PollError> {
        match polled {
            PolledOrder::Readable(order) => {
                if !self.wanted(order) {
                    return Ok(());
                }
                let message = order_created_message(order, self.clock.now_ms())
                    .map_err(|e| PollError::Serialize(order.reference.key(), e.to_string()))?;
                self.queue.send(&message).await?;
                report.enqueued += 1;
            }
            PolledOrder::Unreadable {
                order_id,
                updated_at,
                reason,
            } => {
                let reference = OrderRef {
                    platform: self.platform.platform().to_string(),
                    store: self.platform.store().to_string(),
                    order_id: order_id.clone(),
                };
                tracing::error!(order_id = %order_id, reason = %reason, "order cannot be read; dead-lettered, the poll goes on");
                let message = order_changed_message(&reference, updated_at, self.clock.now_ms())
                    .map_err(|e| PollError::Serialize(reference.key(), e.to_string()))?
                    .dead_letter(
                        &format!("order {reference} cannot be read: {reason}"),
                        self.clock.now_ms(),
                        0,
                    );
                self.dead_letters.send(&message).await?;
                report.dead_lettered += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
