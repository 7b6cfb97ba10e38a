//! Order polling for platforms without outbound webhooks (Magento Open Source):
//! page through orders updated since a watermark, enqueue the ones awaiting
//! payment as `order.created`, then move the watermark with a conditional
//! write so two overlapping polls never move it twice. The search is
//! inclusive (`gteq`), so boundary orders are seen again next time; the
//! handler's per-order idempotency makes that harmless, while an exclusive
//! search could skip an order updated within the same second.

use crate::clock::{utc_datetime, Clock};
use crate::commerce::{CommercePlatform, PaymentState, PlatformError};
use crate::error::{QueueError, Retryable, StoreError};
use crate::flows::payments::order_created_message;
use crate::ports::{Queue, Watermarks};

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
    pub watermark: String,
    /// False when another poll moved the watermark first (its work overlaps ours).
    pub advanced: bool,
}

pub struct OrderPoller<'a> {
    pub platform: &'a dyn CommercePlatform,
    pub queue: &'a dyn Queue,
    pub watermarks: &'a dyn Watermarks,
    pub clock: &'a dyn Clock,
    pub page_size: u32,
    /// Where a first poll starts, in seconds before now.
    pub initial_lookback_secs: i64,
}

impl OrderPoller<'_> {
    pub fn watermark_name(&self) -> String {
        format!(
            "poller/{}/{}",
            self.platform.platform(),
            self.platform.store()
        )
    }

    pub async fn poll(&self) -> Result<PollReport, PollError> {
        let name = self.watermark_name();
        let previous = self.watermarks.get(&name).await?;
        let since = previous
            .clone()
            .unwrap_or_else(|| utc_datetime(self.clock.now_secs() - self.initial_lookback_secs));
        let (mut page, mut seen, mut enqueued) = (1u32, 0usize, 0usize);
        let mut newest = since.clone();
        loop {
            let batch = self
                .platform
                .orders_updated_since(&since, page, self.page_size)
                .await?;
            for order in &batch.orders {
                seen += 1;
                if order.updated_at > newest {
                    newest = order.updated_at.clone();
                }
                if order.payment_state != PaymentState::AwaitingPayment {
                    continue;
                }
                let message = order_created_message(order, self.clock.now_ms())
                    .map_err(|e| PollError::Serialize(order.reference.key(), e.to_string()))?;
                self.queue.send(&message).await?;
                enqueued += 1;
            }
            // Magento answers a page past the end with the last page again, so
            // stop on the count, never on an empty page alone.
            if batch.orders.is_empty()
                || u64::from(page) * u64::from(self.page_size) >= batch.total_count
            {
                break;
            }
            page += 1;
        }
        let advanced = newest == since
            || self
                .watermarks
                .advance(&name, previous.as_deref(), &newest)
                .await?;
        tracing::info!(since = %since, watermark = %newest, pages = page, seen, enqueued, advanced, "poll done");
        Ok(PollReport {
            since,
            pages: page,
            seen,
            enqueued,
            watermark: newest,
            advanced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryPlatform, MemoryQueue, MemoryState};
    use crate::money::Currency;
    use crate::testkit::order;

    #[tokio::test]
    async fn pages_to_the_end_enqueues_awaiting_orders_and_moves_the_watermark_once() {
        let platform = MemoryPlatform::new();
        for i in 1..=7 {
            let mut o = order(&i.to_string(), Currency::Usd, "1.00");
            o.updated_at = format!("2026-11-26 10:00:0{i}");
            if i == 3 {
                o.payment_state = PaymentState::Paid;
            }
            platform.put(o);
        }
        let (queue, marks) = (MemoryQueue::new("q"), MemoryState::new());
        let clock = ManualClock::at_secs(1_795_651_200 + 36_000);
        let poller = OrderPoller {
            platform: platform.as_ref(),
            queue: queue.as_ref(),
            watermarks: marks.as_ref(),
            clock: &clock,
            page_size: 3,
            initial_lookback_secs: 3_600,
        };
        let first = poller.poll().await.unwrap();
        assert_eq!(first.since, "2026-11-26 09:00:00");
        assert_eq!((first.pages, first.seen, first.enqueued), (3, 7, 6));
        assert_eq!(first.watermark, "2026-11-26 10:00:07");
        assert!(first.advanced);
        // the next poll starts at the watermark and sees only the boundary order
        let second = poller.poll().await.unwrap();
        assert_eq!((second.seen, second.enqueued), (1, 1));
        // a concurrent poll that read the old watermark cannot move it back
        assert!(!marks
            .advance(
                "poller/magento/default",
                Some("2026-11-26 09:00:00"),
                "2026-11-26 10:00:05"
            )
            .await
            .unwrap());
        assert_eq!(
            marks
                .get("poller/magento/default")
                .await
                .unwrap()
                .as_deref(),
            Some("2026-11-26 10:00:07")
        );
    }
}
