//! Payments handler throughput when the platform takes 2 s per call, with the
//! handler's 30 s timeout: records one after another (the old batch helper)
//! against concurrent records that respect the invocation deadline.
//! Time is tokio's paused clock, so the figures are exact and repeatable.
//! Run: cargo bench -p tally-core --bench slow_platform

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tally_core::batch::{process_batch, BatchContext, BatchRecord, BatchSettings};
use tally_core::clock::ManualClock;
use tally_core::commerce::{
    AwaitingRefunds, ChangeKey, CommercePlatform, Order, OrderComment, PaymentCapture,
    PlatformError, PlatformRefund, PolledOrder, PolledRefund, RefundIntake, RefundRecord,
};
use tally_core::memory::{MemoryPlatform, MemoryQueue, MemoryRedelivery};
use tally_core::money::Currency;
use tally_core::testkit::{harness_with_platform, order, payment_intent_json, stripe_message};
use tokio::time::Instant;

const CALL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(30);

struct SlowPlatform(Arc<MemoryPlatform>);

#[async_trait]
impl CommercePlatform for SlowPlatform {
    fn platform(&self) -> &str {
        self.0.platform()
    }
    fn store(&self) -> &str {
        self.0.store()
    }
    async fn get_order(&self, id: &str) -> Result<Order, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.get_order(id).await
    }
    async fn find_order_by_number(&self, n: &str) -> Result<Option<Order>, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.find_order_by_number(n).await
    }
    async fn add_order_comment(&self, id: &str, c: &OrderComment) -> Result<(), PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.add_order_comment(id, c).await
    }
    async fn record_payment(&self, id: &str, p: &PaymentCapture) -> Result<String, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.record_payment(id, p).await
    }
    async fn refunds_of(&self, id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.refunds_of(id).await
    }
    async fn record_refund(&self, id: &str, r: &RefundRecord) -> Result<String, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.record_refund(id, r).await
    }
    async fn refunds_created_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        self.0.refunds_created_after(key, limit).await
    }
    fn refund_intake(&self) -> RefundIntake {
        self.0.refund_intake()
    }
    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.0.refunds_awaiting(after, limit).await
    }
    async fn note_refund_sent(
        &self,
        id: &str,
        refund: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        self.0.note_refund_sent(id, refund, sent).await
    }
    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        tokio::time::sleep(CALL).await;
        self.0.orders_changed_after(key, limit).await
    }
}

/// One invocation of 10 payment_intent.succeeded messages (one per order).
async fn invocation(settings: Option<BatchSettings>) -> (usize, usize, Duration) {
    let inner = MemoryPlatform::new();
    let h = harness_with_platform(Arc::new(SlowPlatform(inner.clone())), inner.clone());
    let mut records = Vec::new();
    for i in 0..10 {
        let id = (100 + i).to_string();
        let o = order(&id, Currency::Usd, "10.00");
        inner.put(o.clone());
        let pi = h.handler.order_to_cash.on_order_created(&o).await.unwrap();
        let tally_core::flows::order_to_cash::O2cOutcome::PaymentIntentLinked {
            payment_intent,
            ..
        } = pi
        else {
            unreachable!()
        };
        h.stripe.succeed(&payment_intent);
        records.push(BatchRecord {
            message_id: id.clone(),
            body: stripe_message(
                &format!("evt_{id}"),
                "payment_intent.succeeded",
                &payment_intent_json(&h.stripe, &payment_intent),
            ),
            attributes: vec![],
            receipt_handle: None,
            receive_count: 1,
        });
    }
    let (dlq, redelivery, clock) = (
        MemoryQueue::new("dlq"),
        MemoryRedelivery::new(),
        ManualClock::default(),
    );
    let started = Instant::now();
    let deadline = started + TIMEOUT;
    let (settings, deadline) = match settings {
        Some(s) => (s, Some(deadline)),
        // before: one at a time, blind to the deadline
        None => (
            BatchSettings {
                concurrency: 1,
                min_time_to_start: Duration::ZERO,
                ..Default::default()
            },
            None,
        ),
    };
    let ctx = BatchContext {
        dead_letters: dlq.as_ref(),
        redelivery: redelivery.as_ref(),
        clock: &clock,
        deadline,
    };
    // Lambda stops the invocation at its timeout: no batch response reaches SQS then.
    let answered = tokio::time::timeout(
        TIMEOUT,
        process_batch(&records, &h.handler, &ctx, &settings),
    )
    .await;
    let paid = inner.invoices().len();
    let acknowledged = match answered {
        Ok(failed) => records.len() - failed.len(),
        Err(_) => 0,
    };
    (paid, acknowledged, started.elapsed())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    println!("10 payment_intent.succeeded per invocation, platform 2 s per call, 30 s timeout");
    println!("| batch helper | orders paid in the invocation | records acknowledged to SQS | invocation ended after |");
    println!("|---|---|---|---|");
    for (name, settings) in [
        ("sequential, deadline-blind (before)", None),
        (
            "4 concurrent, deadline-aware (after)",
            Some(BatchSettings {
                concurrency: 4,
                min_time_to_start: Duration::from_secs(12),
                ..Default::default()
            }),
        ),
        (
            "8 concurrent, deadline-aware",
            Some(BatchSettings {
                concurrency: 8,
                min_time_to_start: Duration::from_secs(12),
                ..Default::default()
            }),
        ),
    ] {
        let (paid, acked, took) = rt.block_on(invocation(settings));
        println!(
            "| {name} | {paid} | {acked} | {:.0} s |",
            took.as_secs_f64()
        );
    }
}
