//! Polling for refunds made on the platform, the safety net behind platform
//! webhooks and the only intake where there are none. Two shapes, as the
//! platform says (`RefundIntake`):
//! - records made once (Magento credit memos): keyed like the order poll
//!   (creation time, then the ids read in that second; see `ChangeKey`),
//!   saved after every page with a conditional write;
//! - records that reach an approved state later (Znode returns, Adobe
//!   Commerce returns processed without a credit memo; no modification
//!   filter to key on): every record in that state is read on each poll,
//!   by the platform's own key, so the work list is the platform's state
//!   itself; what Tally sent to review is marked and left alone, so a return
//!   waiting for a person is not dead-lettered again on every poll.
//!
//! Only records awaiting a refund are enqueued: one that names a Stripe
//! refund (Tally's own record of a Stripe refund, or one already refunded)
//! never is: no loop.

use std::cell::Cell;

use crate::clock::Clock;
use crate::commerce::{CommercePlatform, OrderRef, PolledRefund, RefundIntake, UnreadableRefund};
use crate::flows::keyed_walk::KeyedWalk;
use crate::flows::order_poller::PollError;
use crate::flows::payments::{refund_requested_message, RefundRequest};
use crate::flows::refunds::{in_review, mark_in_review, review_key, unreadable_key};
use crate::ports::{IdempotencyStore, Queue, Watermarks};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefundPollReport {
    pub since: String,
    pub pages: u32,
    pub seen: usize,
    pub enqueued: usize,
    /// Awaiting records left alone because Tally sent them to review.
    pub in_review: usize,
    /// Records that cannot be read, sent to the DLQ with the reason (once each).
    pub dead_lettered: usize,
    pub watermark: String,
    pub truncated: bool,
}

pub struct RefundPoller<'a> {
    pub platform: &'a dyn CommercePlatform,
    pub queue: &'a dyn Queue,
    /// Where records that cannot be read go, with the reason.
    pub dead_letters: &'a dyn Queue,
    pub watermarks: &'a dyn Watermarks,
    /// Where records sent to review are marked (the flows' idempotency store).
    pub reviews: &'a dyn IdempotencyStore,
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
        let report = match self.platform.refund_intake() {
            RefundIntake::Created => self.poll_created().await?,
            RefundIntake::Awaiting => self.poll_awaiting().await?,
            RefundIntake::CreatedAndAwaiting => {
                let created = self.poll_created().await?;
                let awaiting = self.poll_awaiting().await?;
                RefundPollReport {
                    pages: created.pages + awaiting.pages,
                    seen: created.seen + awaiting.seen,
                    enqueued: created.enqueued + awaiting.enqueued,
                    in_review: created.in_review + awaiting.in_review,
                    dead_lettered: created.dead_lettered + awaiting.dead_lettered,
                    truncated: created.truncated || awaiting.truncated,
                    ..created
                }
            }
        };
        tracing::info!(since = %report.since, watermark = %report.watermark, seen = report.seen,
            enqueued = report.enqueued, in_review = report.in_review, "refund poll done");
        Ok(report)
    }

    async fn poll_created(&self) -> Result<RefundPollReport, PollError> {
        let walk = KeyedWalk {
            watermarks: self.watermarks,
            clock: self.clock,
            name: self.watermark_name(),
            initial_lookback_secs: self.initial_lookback_secs,
            max_pages: self.max_pages,
        };
        let (enqueued, reviewed) = (Cell::new(0), Cell::new(0));
        let walked = walk
            .run(
                |key| {
                    let (enqueued, reviewed) = (&enqueued, &reviewed);
                    async move {
                        let page = self
                            .platform
                            .refunds_created_after(&key, self.page_size)
                            .await?;
                        for polled in &page {
                            match self.take(polled).await? {
                                Taken::Enqueued => enqueued.set(enqueued.get() + 1),
                                Taken::InReview => reviewed.set(reviewed.get() + 1),
                                Taken::Not => {}
                            }
                        }
                        Ok(page)
                    }
                },
                |polled| (polled.refund.id.as_str(), polled.created_at.as_str()),
            )
            .await?;
        Ok(RefundPollReport {
            since: walked.since,
            pages: walked.pages,
            seen: walked.seen,
            enqueued: enqueued.get(),
            in_review: reviewed.get(),
            dead_lettered: 0,
            watermark: walked.watermark,
            truncated: walked.truncated,
        })
    }

    /// Every record in the awaiting state, page by page by the platform's key.
    async fn poll_awaiting(&self) -> Result<RefundPollReport, PollError> {
        let mut report = RefundPollReport {
            since: String::new(),
            pages: 0,
            seen: 0,
            enqueued: 0,
            in_review: 0,
            dead_lettered: 0,
            watermark: String::new(),
            truncated: false,
        };
        let mut after: Option<String> = None;
        loop {
            let short_of_time = crate::deadline::too_short_for_a_page();
            if short_of_time || report.pages >= self.max_pages {
                report.truncated = true;
                break;
            }
            let page = self
                .platform
                .refunds_awaiting(after.as_deref(), self.page_size)
                .await?;
            report.pages += 1;
            report.seen += page.refunds.len();
            for polled in &page.refunds {
                match self.take(polled).await? {
                    Taken::Enqueued => report.enqueued += 1,
                    Taken::InReview => report.in_review += 1,
                    Taken::Not => {}
                }
            }
            for unreadable in &page.unreadable {
                match self.report_unreadable(unreadable).await? {
                    Taken::InReview => report.in_review += 1,
                    _ => report.dead_lettered += 1,
                }
            }
            match page.next {
                // an adapter whose cursor does not move would loop forever
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => break,
            }
        }
        report.watermark = after.unwrap_or_default();
        Ok(report)
    }

    /// Enqueues a record awaiting a refund, unless Tally sent it to review.
    async fn take(&self, polled: &PolledRefund) -> Result<Taken, PollError> {
        if !polled.refund.awaiting {
            return Ok(Taken::Not);
        }
        let key = review_key(&polled.order, &polled.refund.id, polled.refund.amount);
        if in_review(self.reviews, self.clock, &key).await? {
            return Ok(Taken::InReview);
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
        Ok(Taken::Enqueued)
    }
}

impl RefundPoller<'_> {
    /// Dead-letters a record that cannot be read, once: it is marked, so the
    /// next poll, which reads it again, leaves it to the person.
    async fn report_unreadable(&self, unreadable: &UnreadableRefund) -> Result<Taken, PollError> {
        let order = OrderRef {
            platform: self.platform.platform().to_string(),
            store: self.platform.store().to_string(),
            order_id: unreadable.order_id.clone(),
        };
        let key = unreadable_key(&order, &unreadable.refund_id);
        if in_review(self.reviews, self.clock, &key).await? {
            return Ok(Taken::InReview);
        }
        tracing::error!(order_id = %order.order_id, refund_id = %unreadable.refund_id, reason = %unreadable.reason,
            "platform refund record cannot be read; dead-lettered, the poll goes on");
        let request = RefundRequest {
            order,
            refund_id: unreadable.refund_id.clone(),
        };
        let message = refund_requested_message(&request, self.clock.now_ms())
            .map_err(|e| PollError::Serialize(request.refund_id.clone(), e.to_string()))?
            .dead_letter(
                &format!("refund record cannot be read: {}", unreadable.reason),
                self.clock.now_ms(),
                0,
            );
        self.dead_letters.send(&message).await?;
        mark_in_review(self.reviews, self.clock, &key, &unreadable.reason).await?;
        Ok(Taken::Enqueued)
    }
}

enum Taken {
    Enqueued,
    InReview,
    Not,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::commerce::RefundRecord;
    use crate::memory::{MemoryIdempotencyStore, MemoryPlatform, MemoryQueue, MemoryState};
    use crate::money::{Currency, Money};
    use crate::testkit::order;

    #[tokio::test]
    async fn merchant_refunds_are_enqueued_once_and_tallys_own_records_never() {
        let platform = MemoryPlatform::new();
        let queue = MemoryQueue::new("payments");
        let marks = MemoryState::new();
        let reviews = MemoryIdempotencyStore::default();
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
            dead_letters: queue.as_ref(),
            watermarks: marks.as_ref(),
            reviews: &reviews,
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
