//! The platform contract: what every `CommercePlatform` adapter must do, written
//! once and run against the in-memory platform and each HTTP adapter with its
//! simulator (`shared/http/tests/platform_contract.rs`). A new platform passes
//! this before any flow uses it.

use async_trait::async_trait;

use super::{
    ChangeKey, CommercePlatform, OrderComment, PaymentCapture, PaymentState, PlatformError,
    PolledRefund, RefundIntake, RefundRecord,
};
use crate::money::{Currency, Money};

/// Places orders awaiting a card payment on the platform under test (a
/// simulator's control API, or the in-memory store).
#[async_trait]
pub trait PlacesOrders: Send + Sync {
    /// An order of one line at `price` (major units); returns its id and number.
    async fn place(&self, currency: Currency, price: &str) -> (String, String);
}

/// Makes refunds on the platform as a merchant does (a simulator's control
/// API `POST /_sim/orders/{id}/refunds`, or the in-memory store).
#[async_trait]
pub trait MakesRefunds: Send + Sync {
    /// A refund of `amount` (major units) on a paid order; returns its id.
    async fn refund_on_platform(&self, order_id: &str, amount: &str) -> String;
}

/// The contract of a platform whose own refunds Tally refunds in Stripe: a
/// poll (by the platform's own `RefundIntake`) finds a merchant's refund
/// once, with its order and amount, awaiting and naming no Stripe refund;
/// once noted (twice, as a retry would), the record names its Stripe refund,
/// is no longer awaiting, and no other record shows that refund.
pub async fn check_refund_intake_contract(
    platform: &dyn CommercePlatform,
    orders: &dyn PlacesOrders,
    refunds: &dyn MakesRefunds,
) {
    let name = platform.platform().to_string();
    let (id, _) = orders.place(Currency::Usd, "30.00").await;
    let order = platform.get_order(&id).await.unwrap();
    let start = ChangeKey::starting_at(order.created_at.clone());
    platform
        .record_payment(
            &id,
            &PaymentCapture {
                amount: order.total(),
                transaction_id: "ch_intake".into(),
                payment_intent_id: "pi_intake".into(),
                comment: "Paid with Stripe: charge ch_intake.".into(),
                notify_customer: false,
            },
        )
        .await
        .unwrap();
    let made = refunds.refund_on_platform(&id, "7.50").await;
    let found = polled_refunds(platform, &start).await;
    let mine: Vec<_> = found.iter().filter(|r| r.refund.id == made).collect();
    assert_eq!(
        mine.len(),
        1,
        "{name}: the merchant's refund polled once in {found:?}"
    );
    assert_eq!(mine[0].order.order_id, id);
    assert_eq!(mine[0].order.platform, name);
    assert_eq!(mine[0].refund.amount.get(), 750);
    assert_eq!(mine[0].refund.stripe_refund_id, None);
    assert!(
        mine[0].refund.awaiting,
        "{name}: a merchant's refund awaits"
    );
    let sent = refund("7.50", Currency::Usd, "re_intake_1");
    for _ in 0..2 {
        platform
            .note_refund_sent(&id, &made, &sent)
            .await
            .expect("note_refund_sent");
    }
    let shown = platform.refunds_of(&id).await.unwrap();
    let record = shown.iter().find(|r| r.id == made);
    assert_eq!(
        record.and_then(|r| r.stripe_refund_id.clone()),
        Some("re_intake_1".to_string()),
        "{name}: the record names its Stripe refund in {shown:?}"
    );
    assert!(
        record.is_some_and(|r| !r.awaiting),
        "{name}: no longer awaiting"
    );
    assert_eq!(
        shown
            .iter()
            .filter(|r| r.stripe_refund_id.as_deref() == Some("re_intake_1"))
            .count(),
        1,
        "{name}: one record shows the refund in {shown:?}"
    );
    let again = polled_refunds(platform, &start).await;
    assert!(
        !again
            .iter()
            .any(|r| r.refund.id == made && r.refund.awaiting),
        "{name}: a noted refund is not polled as awaiting again"
    );
}

/// Everything the platform's refund intake offers from `start`, one record
/// per page, checking that each page moves on.
async fn polled_refunds(platform: &dyn CommercePlatform, start: &ChangeKey) -> Vec<PolledRefund> {
    let name = platform.platform().to_string();
    let mut found = Vec::new();
    match platform.refund_intake() {
        // the contract's control makes a merchant's record of the created shape
        // (a credit memo); returns are checked by the adapter's own tests
        RefundIntake::Created | RefundIntake::CreatedAndAwaiting => {
            let mut key = start.clone();
            for _ in 0..1_000 {
                let page = platform.refunds_created_after(&key, 1).await.unwrap();
                if page.is_empty() {
                    return found;
                }
                for r in page {
                    assert!(
                        key.is_before(&r.refund.id, &r.created_at),
                        "{name}: only refunds after the key"
                    );
                    key.advance(&r.refund.id, &r.created_at);
                    found.push(r);
                }
            }
        }
        RefundIntake::Awaiting => {
            let mut after: Option<String> = None;
            for _ in 0..1_000 {
                let page = platform
                    .refunds_awaiting(after.as_deref(), 1)
                    .await
                    .unwrap();
                assert!(page.refunds.len() <= 1, "{name}: at most the limit");
                found.extend(page.refunds);
                match page.next {
                    None => return found,
                    Some(next) => {
                        assert_ne!(
                            after.as_deref(),
                            Some(next.as_str()),
                            "{name}: the cursor moves"
                        );
                        after = Some(next);
                    }
                }
            }
        }
    }
    panic!("{name}: the refund intake never ended");
}

fn refund(amount: &str, currency: Currency, stripe_refund_id: &str) -> RefundRecord {
    RefundRecord {
        amount: Money::from_major(amount.parse().unwrap(), currency).unwrap(),
        stripe_refund_id: stripe_refund_id.into(),
        charge_id: "ch_contract".into(),
        comment: format!("Refunded {amount} in Stripe: refund {stripe_refund_id} (Tally)."),
        notify_customer: false,
    }
}

fn note(text: &str, status: Option<&str>) -> OrderComment {
    OrderComment {
        text: text.into(),
        status: status.map(str::to_string),
        notify_customer: false,
        visible_on_front: false,
    }
}

/// Runs the whole contract; panics with what the adapter got wrong.
pub async fn check_platform_contract(platform: &dyn CommercePlatform, orders: &dyn PlacesOrders) {
    let name = platform.platform().to_string();
    let (a, a_number) = orders.place(Currency::Usd, "19.99").await;
    let (b, _) = orders.place(Currency::Jpy, "4800").await;
    let (c, _) = orders.place(Currency::Kwd, "12.340").await;

    // reading: the canonical order, exact money, by id and by number
    let first = platform.get_order(&a).await.expect("get_order");
    assert_eq!(first.reference.platform, name);
    assert_eq!(first.reference.store, platform.store());
    assert_eq!(first.reference.order_id, a);
    assert_eq!(first.increment_id, a_number);
    assert_eq!(
        first.payment_state,
        PaymentState::AwaitingPayment,
        "{name}: a new order awaits payment"
    );
    assert_eq!(
        first.total(),
        Money::from_major("19.99".parse().unwrap(), Currency::Usd).unwrap()
    );
    assert_eq!(
        platform.get_order(&b).await.unwrap().grand_total.get(),
        4800,
        "{name}: zero-decimal"
    );
    assert_eq!(
        platform.get_order(&c).await.unwrap().grand_total.get(),
        12_340,
        "{name}: three-decimal"
    );
    let by_number = platform.find_order_by_number(&a_number).await.unwrap();
    assert_eq!(
        by_number.map(|o| o.reference),
        Some(first.reference.clone())
    );
    assert!(platform
        .find_order_by_number("NO-SUCH-ORDER-42")
        .await
        .unwrap()
        .is_none());
    assert!(
        matches!(
            platform.get_order("987654321").await,
            Err(PlatformError::NotFound { .. })
        ),
        "{name}: an unknown order is NotFound"
    );
    let key = ChangeKey::starting_at(first.created_at.clone());

    // notes are kept, and a failure leaves the order payable
    platform
        .add_order_comment(&a, &note("PaymentIntent pi_contract_a (Tally).", None))
        .await
        .unwrap();
    assert!(platform
        .get_order(&a)
        .await
        .unwrap()
        .has_comment_containing("pi_contract_a"));
    platform
        .add_order_comment(
            &b,
            &note(
                "Payment failed in Stripe: card_declined.",
                Some("payment_failed"),
            ),
        )
        .await
        .unwrap();
    let failed = platform.get_order(&b).await.unwrap();
    assert_eq!(
        failed.payment_state,
        PaymentState::AwaitingPayment,
        "{name}: a declined order can still be paid"
    );
    assert!(failed.has_comment_containing("card_declined"));

    // a payment makes the order paid, once
    let capture = PaymentCapture {
        amount: first.total(),
        transaction_id: "ch_contract_a".into(),
        payment_intent_id: "pi_contract_a".into(),
        comment: "Paid with Stripe: charge ch_contract_a.".into(),
        notify_customer: false,
    };
    platform
        .record_payment(&a, &capture)
        .await
        .expect("record_payment");
    assert_eq!(
        platform.get_order(&a).await.unwrap().payment_state,
        PaymentState::Paid
    );
    assert!(
        matches!(
            platform.record_payment(&a, &capture).await,
            Err(PlatformError::Rejected { .. })
        ),
        "{name}: a paid order refuses a second payment"
    );
    let b_order = platform.get_order(&b).await.unwrap();
    let retry = PaymentCapture {
        amount: b_order.total(),
        transaction_id: "ch_contract_b".into(),
        ..capture.clone()
    };
    platform
        .record_payment(&b, &retry)
        .await
        .expect("a declined order paid on retry");
    assert_eq!(
        platform.get_order(&b).await.unwrap().payment_state,
        PaymentState::Paid
    );

    // refunds: only of a paid order, never more than is left, each found again by its Stripe id
    assert!(
        matches!(
            platform
                .record_refund(&c, &refund("1.000", Currency::Kwd, "re_contract_unpaid"))
                .await,
            Err(PlatformError::Rejected { .. })
        ),
        "{name}: an unpaid order refuses a refund"
    );
    assert!(platform.refunds_of(&a).await.unwrap().is_empty());
    platform
        .record_refund(&a, &refund("5.00", Currency::Usd, "re_contract_1"))
        .await
        .expect("a partial refund");
    assert!(
        matches!(
            platform
                .record_refund(&a, &refund("15.00", Currency::Usd, "re_contract_over"))
                .await,
            Err(PlatformError::Rejected { .. })
        ),
        "{name}: more than is left to refund is refused"
    );
    platform
        .record_refund(&a, &refund("14.99", Currency::Usd, "re_contract_2"))
        .await
        .expect("the rest refunded");
    let shown: Vec<(i64, Option<String>)> = platform
        .refunds_of(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.amount.get(), r.stripe_refund_id))
        .collect();
    assert_eq!(
        shown,
        [
            (500, Some("re_contract_1".into())),
            (1_499, Some("re_contract_2".into()))
        ],
        "{name}: refunds read back with their amounts and Stripe ids"
    );
    assert!(
        matches!(
            platform
                .record_refund(&a, &refund("0.01", Currency::Usd, "re_contract_3"))
                .await,
            Err(PlatformError::Rejected { .. })
        ),
        "{name}: nothing is left after a full refund"
    );
    platform
        .record_refund(&b, &refund("4800", Currency::Jpy, "re_contract_jpy"))
        .await
        .expect("a zero-decimal refund");
    assert_eq!(
        platform.refunds_of(&b).await.unwrap()[0].amount.get(),
        4_800
    );
    assert!(matches!(
        platform.refunds_of("987654321").await,
        Err(PlatformError::NotFound { .. })
    ));

    // polling: from before the orders, pages of one, each order read once
    let mut key = key;
    let mut read: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        let page = platform.orders_changed_after(&key, 1).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 1, "{name}: at most the limit");
        for o in &page {
            assert!(
                key.is_before(o.order_id(), o.updated_at()),
                "{name}: only orders after the key"
            );
            key.advance(o.order_id(), o.updated_at());
            read.push(o.order_id().to_string());
        }
    }
    for id in [&a, &b, &c] {
        assert_eq!(
            read.iter().filter(|r| r == &id).count(),
            1,
            "{name}: order {id} read once in {read:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryPlatform;
    use crate::testkit::order;

    struct InMemory(Arc<MemoryPlatform>, AtomicUsize);

    #[async_trait]
    impl PlacesOrders for InMemory {
        async fn place(&self, currency: Currency, price: &str) -> (String, String) {
            let id = (500 + self.1.fetch_add(1, Ordering::SeqCst)).to_string();
            let o = order(&id, currency, price);
            let number = o.increment_id.clone();
            self.0.put(o);
            (id, number)
        }
    }

    #[async_trait]
    impl MakesRefunds for InMemory {
        async fn refund_on_platform(&self, order_id: &str, amount: &str) -> String {
            let order = self.0.order(order_id);
            let money = Money::from_major(amount.parse().unwrap(), order.currency).unwrap();
            self.0
                .merchant_refund(order_id, money.amount.get())
                .unwrap()
        }
    }

    #[tokio::test]
    async fn the_in_memory_platform_keeps_the_refund_intake_contract_in_both_shapes() {
        let platform = MemoryPlatform::new();
        let places = InMemory(platform.clone(), AtomicUsize::new(0));
        for intake in [RefundIntake::Awaiting, RefundIntake::Created] {
            platform.set_refund_intake(intake);
            check_refund_intake_contract(platform.as_ref(), &places, &places).await;
        }
    }

    #[tokio::test]
    async fn the_in_memory_platform_keeps_the_contract() {
        let platform = MemoryPlatform::new();
        check_platform_contract(
            platform.as_ref(),
            &InMemory(platform.clone(), AtomicUsize::new(0)),
        )
        .await;
    }
}
