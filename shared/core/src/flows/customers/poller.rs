//! The customer poll: the safety net behind a platform's customer webhooks
//! (which may be lost, or not configured). It pages by key like the order poll
//! and enqueues a `customer.changed` hint per change; the handler re-reads the
//! customer, so a change already synced costs one read and stops.

use std::cell::Cell;

use crate::clock::Clock;
use crate::commerce::{CommercePlatform, CustomerRef};
use crate::flows::keyed_walk::KeyedWalk;
use crate::flows::order_poller::{PollError, PollReport};
use crate::ports::{Queue, Watermarks};

pub struct CustomerPoller<'a> {
    pub platform: &'a dyn CommercePlatform,
    pub queue: &'a dyn Queue,
    pub watermarks: &'a dyn Watermarks,
    pub clock: &'a dyn Clock,
    pub page_size: u32,
    /// Where a first poll starts, in seconds before now.
    pub initial_lookback_secs: i64,
    pub max_pages: u32,
}

impl CustomerPoller<'_> {
    pub fn watermark_name(&self) -> String {
        format!(
            "customer-poller/{}/{}",
            self.platform.platform(),
            self.platform.store()
        )
    }

    pub async fn poll(&self) -> Result<PollReport, PollError> {
        let walk = KeyedWalk {
            watermarks: self.watermarks,
            clock: self.clock,
            name: self.watermark_name(),
            initial_lookback_secs: self.initial_lookback_secs,
            max_pages: self.max_pages,
        };
        let enqueued = Cell::new(0usize);
        let walked = walk
            .run(
                |key| {
                    let enqueued = &enqueued;
                    async move {
                        let page = self
                            .platform
                            .customers_changed_after(&key, self.page_size)
                            .await?;
                        for changed in &page {
                            let customer = CustomerRef {
                                platform: self.platform.platform().to_string(),
                                store: self.platform.store().to_string(),
                                customer_id: changed.customer_id.clone(),
                            };
                            let message = super::customer_changed_message(
                                &customer,
                                &changed.updated_at,
                                self.clock.now_ms(),
                            )
                            .map_err(|e| PollError::Serialize(customer.key(), e.to_string()))?;
                            self.queue.send(&message).await?;
                            enqueued.set(enqueued.get() + 1);
                        }
                        Ok(page)
                    }
                },
                |c| (c.customer_id.as_str(), c.updated_at.as_str()),
            )
            .await?;
        let report = PollReport {
            since: walked.since,
            pages: walked.pages,
            seen: walked.seen,
            enqueued: enqueued.get(),
            dead_lettered: 0,
            watermark: walked.watermark,
            advanced: walked.advanced,
            truncated: walked.truncated,
        };
        tracing::info!(since = %report.since, watermark = %report.watermark, seen = report.seen, enqueued = report.enqueued, "customer poll done");
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryPlatform, MemoryQueue, MemoryState};
    use crate::message::QueueEnvelope;

    #[tokio::test]
    async fn each_change_is_enqueued_once_and_a_quiet_poll_sends_nothing() {
        let platform = MemoryPlatform::new();
        let (queue, state) = (MemoryQueue::new("payments"), MemoryState::new());
        let clock = ManualClock::at_secs(1_795_694_400 + 3600);
        let poller = CustomerPoller {
            platform: platform.as_ref(),
            queue: queue.as_ref(),
            watermarks: state.as_ref(),
            clock: &clock,
            page_size: 2,
            initial_lookback_secs: 86_400,
            max_pages: 10,
        };
        for id in ["1", "2", "3"] {
            platform.save_customer(id, &format!("c{id}@example.com"), "C", id);
        }
        let first = poller.poll().await.unwrap();
        assert_eq!((first.seen, first.enqueued, first.pages), (3, 3, 2));
        assert_eq!(poller.poll().await.unwrap().enqueued, 0, "nothing new");
        platform.advance_clock(10);
        platform.save_customer("2", "c2@example.com", "C", "Two");
        let again = poller.poll().await.unwrap();
        assert_eq!(again.enqueued, 1);
        let sent = queue.messages();
        let last = QueueEnvelope::parse(&sent.last().unwrap().body).unwrap();
        assert_eq!(last.event_type, "customer.changed");
        assert!(
            last.event_id
                .starts_with("customer/magento/default/2/changed@"),
            "{}",
            last.event_id
        );
    }
}
