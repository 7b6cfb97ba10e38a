use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::utc_datetime;
use crate::commerce::ChangeKey;

use super::*;
use crate::clock::ManualClock;
use crate::commerce::{
    AwaitingRefunds, OrderComment, PaymentCapture, PlatformRefund, PolledRefund, RefundIntake,
    RefundRecord,
};
use crate::memory::{MemoryPlatform, MemoryQueue, MemoryState};
use crate::message::QueueEnvelope;
use crate::money::Currency;
use crate::testkit::order;

const NOW: i64 = 1_795_651_200 + 36_000; // 2026-11-26 10:00:00

fn placed(platform: &MemoryPlatform, n: usize) {
    for i in 1..=n {
        let mut o = order(&i.to_string(), Currency::Usd, "1.00");
        // three orders a second, as a busy store stamps them
        o.updated_at = utc_datetime(NOW + (i as i64 - 1) / 3);
        platform.put(o);
    }
}

struct Fixture {
    queue: Arc<MemoryQueue>,
    dlq: Arc<MemoryQueue>,
    marks: Arc<MemoryState>,
    clock: ManualClock,
    rules: OrderToCashConfig,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            queue: MemoryQueue::new("q"),
            dlq: MemoryQueue::new("dlq"),
            marks: MemoryState::new(),
            clock: ManualClock::at_secs(NOW + 3_600),
            rules: OrderToCashConfig::default(),
        }
    }

    fn poller<'a>(&'a self, platform: &'a dyn CommercePlatform, page_size: u32) -> OrderPoller<'a> {
        OrderPoller {
            platform,
            queue: self.queue.as_ref(),
            dead_letters: self.dlq.as_ref(),
            watermarks: self.marks.as_ref(),
            clock: &self.clock,
            rules: &self.rules,
            page_size,
            initial_lookback_secs: 7_200,
            max_pages: 1_000,
        }
    }

    fn enqueued_ids(&self) -> Vec<String> {
        self.queue
            .messages()
            .iter()
            .map(|m| {
                let e = QueueEnvelope::parse(&m.body).unwrap();
                serde_json::from_str::<Order>(e.event.get())
                    .unwrap()
                    .reference
                    .order_id
            })
            .collect()
    }
}

#[tokio::test]
async fn pages_to_the_end_enqueues_collectable_orders_and_then_nothing_twice() {
    let platform = MemoryPlatform::new();
    placed(&platform, 7);
    let mut paid = platform.order("3");
    paid.payment_state = PaymentState::Paid;
    platform.put(paid);
    let mut check = platform.order("5");
    check.payment.method = Some("checkmo".into());
    platform.put(check);
    let f = Fixture::new();
    let first = f.poller(platform.as_ref(), 3).poll().await.unwrap();
    assert_eq!(first.since, "2026-11-26 09:00:00");
    assert_eq!((first.pages, first.seen, first.enqueued), (3, 7, 5));
    assert_eq!(first.watermark, "2026-11-26 10:00:02");
    assert!(first.advanced);
    assert_eq!(f.enqueued_ids(), ["1", "2", "4", "6", "7"]);
    // nothing changed: the next poll sends nothing (it used to resend the last second's orders)
    let second = f.poller(platform.as_ref(), 3).poll().await.unwrap();
    assert_eq!((second.seen, second.enqueued), (0, 0));
    // an order changed in the key's own second, with a lower id than those read, is still found
    let mut late = order("0", Currency::Usd, "2.00");
    late.updated_at = "2026-11-26 10:00:02".into();
    platform.put(late);
    let third = f.poller(platform.as_ref(), 3).poll().await.unwrap();
    assert_eq!((third.seen, third.enqueued), (1, 1));
    // a concurrent poll that read an old watermark cannot move it back
    assert!(!f
        .marks
        .advance("poller/magento/default", None, "2026-11-26 10:00:00")
        .await
        .unwrap());
}

/// Writes to orders between the poller's pages, as Tally's own handler does
/// (a PaymentIntent comment bumps `updated_at`) and as shoppers do.
struct BusyPlatform {
    inner: Arc<MemoryPlatform>,
    pages: Mutex<u32>,
    writes: Mutex<usize>,
}

#[async_trait]
impl CommercePlatform for BusyPlatform {
    fn platform(&self) -> &str {
        self.inner.platform()
    }
    fn store(&self) -> &str {
        self.inner.store()
    }
    async fn get_order(&self, id: &str) -> Result<Order, PlatformError> {
        self.inner.get_order(id).await
    }
    async fn find_order_by_number(&self, n: &str) -> Result<Option<Order>, PlatformError> {
        self.inner.find_order_by_number(n).await
    }
    async fn add_order_comment(&self, id: &str, c: &OrderComment) -> Result<(), PlatformError> {
        self.inner.add_order_comment(id, c).await
    }
    async fn record_payment(&self, id: &str, p: &PaymentCapture) -> Result<String, PlatformError> {
        self.inner.record_payment(id, p).await
    }
    async fn refunds_of(&self, id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        self.inner.refunds_of(id).await
    }
    async fn record_refund(&self, id: &str, r: &RefundRecord) -> Result<String, PlatformError> {
        self.inner.record_refund(id, r).await
    }
    async fn refunds_created_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        self.inner.refunds_created_after(key, limit).await
    }
    fn refund_intake(&self) -> RefundIntake {
        self.inner.refund_intake()
    }
    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.inner.refunds_awaiting(after, limit).await
    }
    async fn note_refund_sent(
        &self,
        id: &str,
        refund: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        self.inner.note_refund_sent(id, refund, sent).await
    }
    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let page = self.inner.orders_changed_after(key, limit).await?;
        let n = {
            let mut pages = self.pages.lock().unwrap();
            *pages += 1;
            *pages
        };
        // during the first pages: comment on the page's first orders and on orders not read yet
        if n > 6 {
            return Ok(page);
        }
        let comment = OrderComment {
            text: format!("note {n}"),
            status: None,
            notify_customer: false,
            visible_on_front: false,
        };
        let mut targets: Vec<String> = page
            .iter()
            .take(10)
            .map(|o| o.order_id().to_string())
            .collect();
        targets.extend(
            (0..10)
                .map(|k| (n * 13 + k * 7) % 150 + 1)
                .map(|i| i.to_string()),
        );
        for id in targets {
            self.inner.add_order_comment(&id, &comment).await?;
            *self.writes.lock().unwrap() += 1;
        }
        if n % 2 == 0 {
            self.inner.advance_clock(1);
        }
        Ok(page)
    }
}

#[tokio::test]
async fn writes_between_pages_hide_no_order() {
    let inner = MemoryPlatform::new();
    placed(&inner, 150);
    let busy = BusyPlatform {
        inner: inner.clone(),
        pages: Mutex::new(0),
        writes: Mutex::default(),
    };
    let f = Fixture::new();
    let report = f.poller(&busy, 50).poll().await.unwrap();
    assert!(!report.truncated);
    let found: BTreeSet<String> = f.enqueued_ids().into_iter().collect();
    let all: BTreeSet<String> = (1..=150).map(|i| i.to_string()).collect();
    let missed: Vec<_> = all.difference(&found).collect();
    assert!(
        missed.is_empty(),
        "missed {} orders: {missed:?}",
        missed.len()
    );
    // an order is enqueued again only because it changed
    let writes = *busy.writes.lock().unwrap();
    assert!(
        f.enqueued_ids().len() <= 150 + writes,
        "{} > 150 + {writes}",
        f.enqueued_ids().len()
    );
    // the key ends at the newest change
    let stored = f
        .marks
        .get("poller/magento/default")
        .await
        .unwrap()
        .unwrap();
    let key = ChangeKey::decode(&stored);
    let newest = (1..=150)
        .map(|i| inner.order(&i.to_string()).updated_at)
        .max()
        .unwrap();
    assert_eq!(key.updated_at, newest);
}

#[tokio::test]
async fn an_unreadable_order_is_dead_lettered_and_the_poll_goes_on() {
    let platform = MemoryPlatform::new();
    placed(&platform, 4);
    platform.put_unreadable(
        "9",
        "2026-11-26 10:00:00",
        "field grand_total: 12.345 KWD is not a multiple of 10 fils",
    );
    let f = Fixture::new();
    let report = f.poller(platform.as_ref(), 2).poll().await.unwrap();
    assert_eq!((report.enqueued, report.dead_lettered), (4, 1));
    let dead = f.dlq.messages();
    assert_eq!(dead.len(), 1);
    let reason = dead[0].attribute("failure_reason").unwrap();
    assert!(
        reason.contains("magento/default/9") && reason.contains("12.345 KWD"),
        "{reason}"
    );
    let hint = QueueEnvelope::parse(&dead[0].body).unwrap();
    assert_eq!(hint.event_type, "order.changed");
    // the watermark moved past it: the next poll neither blocks on it nor repeats it
    let again = f.poller(platform.as_ref(), 2).poll().await.unwrap();
    assert_eq!((again.seen, again.dead_lettered), (0, 0));
}

#[tokio::test]
async fn a_poll_cut_short_keeps_its_progress() {
    let platform = MemoryPlatform::new();
    placed(&platform, 9);
    let f = Fixture::new();
    let mut poller = f.poller(platform.as_ref(), 2);
    poller.max_pages = 2;
    let first = poller.poll().await.unwrap();
    assert!(first.truncated);
    assert_eq!(first.enqueued, 4);
    let rest = poller.poll().await.unwrap();
    let rest2 = poller.poll().await.unwrap();
    assert_eq!(first.enqueued + rest.enqueued + rest2.enqueued, 9);
    assert_eq!(f.enqueued_ids().len(), 9, "no order twice");
}

#[tokio::test]
async fn a_change_within_the_second_just_read_is_found_by_the_next_poll() {
    let platform = MemoryPlatform::new();
    let f = Fixture::new();
    // orders stamped in the poller's current second (the platform's clock starts there)
    let now = 1_795_694_400;
    let clock = ManualClock::at_secs(now);
    for id in ["1", "2"] {
        let mut o = order(id, Currency::Usd, "1.00");
        o.updated_at = utc_datetime(now);
        platform.put(o);
    }
    let mut poller = f.poller(platform.as_ref(), 10);
    poller.clock = &clock;
    assert_eq!(poller.poll().await.unwrap().enqueued, 2);
    // order 1 changes again in that same second: its updated_at does not move
    let mut paid_by_check = platform.order("1");
    paid_by_check.payment.method = Some("checkmo".into());
    platform.put(paid_by_check);
    let mut back = platform.order("1");
    back.payment.method = Some("stripe_payments".into());
    back.comments.push("changed within the second".into());
    platform.put(back);
    // the next poll reads that open second once more
    clock.advance_secs(120);
    let next = poller.poll().await.unwrap();
    assert_eq!((next.seen, next.enqueued), (2, 2));
    // and then it is settled: nothing again
    clock.advance_secs(120);
    assert_eq!(poller.poll().await.unwrap().seen, 0);
}
