//! Order polling, the primary intake for platforms without outbound webhooks
//! and the safety net for those with them. Each page is read by key ("changed
//! after the last order read", see `ChangeKey`), never by offset, so orders
//! that change during the poll, Tally's own writes included, cannot shift out
//! of view. The key is saved after every page with a conditional write, so two
//! overlapping polls never move it twice and a poll cut short keeps its progress.
//! An order is enqueued once per change: a poll that finds nothing new sends nothing.
//! (Platforms stamp changes to the second, so the orders of a second that was not
//! yet over when read are read once more by the next poll: see `ChangeKey::open`.)

use std::cell::Cell;

use crate::clock::Clock;
use crate::commerce::{
    CommercePlatform, Order, OrderRef, PaymentState, PlatformError, PolledOrder,
};
use crate::config::OrderToCashConfig;
use crate::error::{QueueError, Retryable, StoreError};
use crate::flows::keyed_walk::KeyedWalk;
use crate::flows::payments::{order_changed_message, order_created_message};
use crate::ports::{Queue, Watermarks};

/// What a poll's pages did, counted as they are handled.
#[derive(Default)]
struct Counts {
    enqueued: Cell<usize>,
    dead_lettered: Cell<usize>,
}

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
        let walk = KeyedWalk {
            watermarks: self.watermarks,
            clock: self.clock,
            name: self.watermark_name(),
            initial_lookback_secs: self.initial_lookback_secs,
            max_pages: self.max_pages,
        };
        let counts = Counts::default();
        let walked = walk
            .run(
                |key| {
                    let counts = &counts;
                    async move {
                        let page = self
                            .platform
                            .orders_changed_after(&key, self.page_size)
                            .await?;
                        for polled in &page {
                            self.take(polled, counts).await?;
                        }
                        Ok(page)
                    }
                },
                |polled| (polled.order_id(), polled.updated_at()),
            )
            .await?;
        let report = PollReport {
            since: walked.since,
            pages: walked.pages,
            seen: walked.seen,
            enqueued: counts.enqueued.get(),
            dead_lettered: counts.dead_lettered.get(),
            watermark: walked.watermark,
            advanced: walked.advanced,
            truncated: walked.truncated,
        };
        tracing::info!(since = %report.since, watermark = %report.watermark, pages = report.pages, seen = report.seen, enqueued = report.enqueued, dead_lettered = report.dead_lettered, truncated = report.truncated, "poll done");
        Ok(report)
    }

    async fn take(&self, polled: &PolledOrder, counts: &Counts) -> Result<(), PollError> {
        match polled {
            PolledOrder::Readable(order) => {
                if !self.wanted(order) {
                    return Ok(());
                }
                let message = order_created_message(order, self.clock.now_ms())
                    .map_err(|e| PollError::Serialize(order.reference.key(), e.to_string()))?;
                self.queue.send(&message).await?;
                counts.enqueued.set(counts.enqueued.get() + 1);
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
                counts.dead_lettered.set(counts.dead_lettered.get() + 1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
