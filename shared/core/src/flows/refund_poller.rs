//! Polling for refunds made on the platform (credit memos a merchant saved),
//! the safety net behind platform webhooks and the only intake where there are
//! none. Keyed like the order poll (creation time, then the ids read in that
//! second; see `ChangeKey`), saved after every page with a conditional write.
//! A record that already names a Stripe refund (Tally's own record of a
//! Stripe refund, or one already refunded) is not enqueued: no loop.

use std::cell::Cell;

use crate::clock::Clock;
use crate::commerce::{CommercePlatform, PolledRefund};
use crate::flows::keyed_walk::KeyedWalk;
use crate::flows::order_poller::PollError;
use crate::flows::payments::{refund_requested_message, RefundRequest};
use crate::ports::{Queue, Watermarks};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefundPollReport {
    pub since: String,
    pub pages: u32,
    pub seen: usize,
    pub enqueued: usize,
    pub watermark: String,
    pub truncated: bool,
}

pub struct RefundPoller<'a> {
    pub platform: &'a dyn CommercePlatform,
    pub queue: &'a dyn Queue,
    pub watermarks: &'a dyn Watermarks,
    pub clock: &'a dyn Clock,
    pub page_size: u32,
    pub initial_lookback_secs: i64,
    pub max_pages: u32,
}

impl RefundPoller<'_> {
    pub fn watermark_name(&self) -> String {
        format!(
            "refund-poller/{}/{}",
            self.platform.platform(),
            self.platform.store()
        )
    }

    pub async fn poll(&self) -> Result<RefundPollReport, PollError> {
        let walk = KeyedWalk {
            watermarks: self.watermarks,
            clock: self.clock,
            name: self.watermark_name(),
            initial_lookback_secs: self.initial_lookback_secs,
            max_pages: self.max_pages,
        };
        let enqueued = Cell::new(0);
        let walked = walk
            .run(
                |key| {
                    let enqueued = &enqueued;
                    async move {
                        let page = self
                            .platform
                            .refunds_created_after(&key, self.page_size)
                            .await?;
                        for polled in &page {
                            if self.take(polled).await? {
                                enqueued.set(enqueued.get() + 1);
                            }
                        }
                        Ok(page)
                    }
                },
                |polled| (polled.refund.id.as_str(), polled.created_at.as_str()),
            )
            .await?;
        let report = RefundPollReport {
            since: walked.since,
            pages: walked.pages,
            seen: walked.seen,
            enqueued: enqueued.get(),
            watermark: walked.watermark,
            truncated: walked.truncated,
        };
        tracing::info!(since = %report.since, watermark = %report.watermark, seen = report.seen, enqueued = report.enqueued, "refund poll done");
        Ok(report)
    }

    /// Enqueues a refund that names no Stripe refund yet; true when it did.
    async fn take(&self, polled: &PolledRefund) -> Result<bool, PollError> {
        if polled.refund.stripe_refund_id.is_some() {
            return Ok(false);
        }
        let request = RefundRequest {
            order: polled.order.clone(),
            refund_id: polled.refund.id.clone(),
        };
        let message = refund_requested_message(&request, self.clock.now_ms()).map_err(|e| {
            PollError::Serialize(
                format!("{}/refund/{}", request.order.key(), request.refund_id),
                e.to_string(),
            )
        })?;
        self.queue.send(&message).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::commerce::RefundRecord;
    use crate::memory::{MemoryPlatform, MemoryQueue, MemoryState};
    use crate::money::{Currency, Money};
    use crate::testkit::order;

    #[tokio::test]
    async fn merchant_refunds_are_enqueued_once_and_tallys_own_records_never() {
        let platform = MemoryPlatform::new();
        let queue = MemoryQueue::new("payments");
        let marks = MemoryState::new();
        let clock = ManualClock::at_secs(1_795_700_000);
        for id in ["1", "2"] {
            let mut o = order(id, Currency::Usd, "39.98");
            o.total_invoiced = o.grand_total;
            platform.put(o);
        }
        let mine = platform.merchant_refund("1", 1_000).unwrap();
        platform
            .record_refund(
                "2",
                &RefundRecord {
                    amount: Money::from_major("5.00".parse().unwrap(), Currency::Usd).unwrap(),
                    stripe_refund_id: "re_from_stripe".into(),
                    charge_id: "ch_1".into(),
                    comment: "Refunded in Stripe: refund re_from_stripe (Tally).".into(),
                    notify_customer: false,
                },
            )
            .await
            .unwrap();
        let poller = RefundPoller {
            platform: platform.as_ref(),
            queue: queue.as_ref(),
            watermarks: marks.as_ref(),
            clock: &clock,
            page_size: 1,
            initial_lookback_secs: 86_400 * 400,
            max_pages: 100,
        };
        let report = poller.poll().await.unwrap();
        assert_eq!((report.seen, report.enqueued), (2, 1));
        let sent = queue.messages();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0].body.contains(&format!("\"refund_id\":\"{mine}\"")),
            "{}",
            sent[0].body
        );
        clock.advance_secs(60);
        let again = poller.poll().await.unwrap();
        assert_eq!(again.enqueued, 0, "each record once");
    }
}
