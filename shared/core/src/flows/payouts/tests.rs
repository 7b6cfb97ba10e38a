use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::memory::{MemoryErp, MemoryIdempotencyStore, MemoryPayoutLedgers, MemoryStripe};
use crate::money::{Currency, MinorUnit, Money};
use crate::stripe::objects::BalanceTransaction;
use crate::stripe::NewPaymentIntent;

struct H {
    flow: PayoutReconciliation,
    stripe: Arc<MemoryStripe>,
    erp: Arc<MemoryErp>,
    ledgers: Arc<MemoryPayoutLedgers>,
}

fn harness() -> H {
    let (stripe, erp, ledgers) = (
        MemoryStripe::new(),
        MemoryErp::new(),
        MemoryPayoutLedgers::new(),
    );
    H {
        flow: PayoutReconciliation {
            stripe: stripe.clone(),
            erp: erp.clone(),
            ledgers: ledgers.clone(),
            store: MemoryIdempotencyStore::new(),
            clock: Arc::new(ManualClock::at_secs(1_795_300_000)),
            accounts: ErpAccounts::default(),
            page_size: 2,
            lease_secs: 60,
        },
        stripe,
        erp,
        ledgers,
    }
}

async fn intent(stripe: &MemoryStripe, metadata: &[(&str, &str)]) -> String {
    let params = NewPaymentIntent {
        amount: Money {
            amount: MinorUnit::new(1_000),
            currency: Currency::Usd,
        },
        customer: None,
        description: None,
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let key = format!("k-{metadata:?}");
    stripe
        .create_payment_intent(&params, &key)
        .await
        .unwrap()
        .id
}

fn txn(id: &str, category: &str, amount: i64, fee: i64, pi: Option<&str>) -> PayoutTransaction {
    let kind = if category == "payout" {
        "payout"
    } else {
        category
    };
    let transaction: BalanceTransaction = serde_json::from_value(json!({
        "id": id, "amount": amount, "fee": fee, "net": amount - fee, "currency": "usd", "type": kind,
        "reporting_category": category, "source": if kind == "payout" { "po_1".to_string() } else { format!("src_{id}") },
        "status": "available", "available_on": 1, "created": 1}))
    .unwrap();
    PayoutTransaction {
        transaction,
        payment_intent: pi.map(str::to_string),
    }
}

fn payout(amount: i64, status: &str, automatic: bool, reconciled: &str) -> Payout {
    serde_json::from_value(json!({"id": "po_1", "amount": amount, "currency": "usd", "status": status,
        "arrival_date": 1_795_132_800, "automatic": automatic, "reconciliation_status": reconciled,
        "created": 1_795_046_400, "failure_code": if status == "failed" { Some("account_closed") } else { None }}))
    .unwrap()
}

/// Two orders' charges, a refund, a charge of no Tally order, a fee, the payout's own transaction.
async fn put_payout(h: &H, status: &str) -> i64 {
    let a = intent(
        &h.stripe,
        &[
            ("platform", "magento"),
            ("store", "default"),
            ("order_id", "1"),
        ],
    )
    .await;
    let b = intent(
        &h.stripe,
        &[("platform", "znode"), ("store", "1"), ("order_id", "1001")],
    )
    .await;
    let other = intent(&h.stripe, &[("source", "invoicing")]).await;
    let rows = vec![
        txn("txn_6", "payout", -13_275, 0, None),
        txn("txn_5", "fee", -200, 0, None),
        txn("txn_4", "charge", 3_000, 117, Some(&other)),
        txn("txn_3", "refund", -1_000, 0, Some(&a)),
        txn("txn_2", "charge", 2_000, 88, Some(&b)),
        txn("txn_1", "charge", 10_000, 320, Some(&a)),
    ];
    let amount = 9_680 + 1_912 - 1_000 + 2_883 - 200;
    h.stripe
        .put_payout(payout(amount, status, true, "completed"), rows);
    amount
}

#[tokio::test]
async fn a_payout_is_read_page_by_page_matched_and_posted_once() {
    let h = harness();
    let amount = put_payout(&h, "paid").await;
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert!(
        matches!(
            out,
            PayoutOutcome::Posted {
                transactions: 5,
                unmatched: 1,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(h.ledgers.puts(), 3, "saved after each page of two");
    let entries = h.erp.entries();
    assert_eq!(entries.len(), 1);
    let lines: Vec<_> = entries[0]
        .lines()
        .iter()
        .map(|l| (l.account.as_str(), l.side, l.amount.get()))
        .collect();
    assert_eq!(lines[0], ("1000", Side::Debit, amount));
    assert!(
        lines.contains(&("1190", Side::Credit, 3_000)),
        "the charge of no order to suspense: {lines:?}"
    );
    assert!(
        lines.contains(&("1150", Side::Debit, 200)),
        "a fee by its category: {lines:?}"
    );
    let again = h.flow.on_payout("po_1").await.unwrap();
    assert_eq!(again, PayoutOutcome::Skipped("already posted"));
    assert_eq!(h.erp.entries().len(), 1);
}

#[tokio::test]
async fn a_payout_continues_from_its_saved_ledger_without_counting_a_page_twice() {
    // an earlier invocation read and saved the first page, then ran out of time or Stripe failed
    let h = harness();
    put_payout(&h, "paid").await;
    h.stripe.fail_next(vec![StripeApiError::Unavailable {
        status: 503,
        message: "down".into(),
    }]);
    h.flow
        .ledgers
        .put(&{
            let mut l = PayoutLedger::new("po_1", Currency::Usd);
            l.add(
                &txn("txn_6", "payout", -13_275, 0, None).transaction,
                &Matched::Category,
            )
            .unwrap();
            l.add(
                &txn("txn_5", "fee", -200, 0, None).transaction,
                &Matched::Category,
            )
            .unwrap();
            l
        })
        .await
        .unwrap();
    let err = h.flow.on_payout("po_1").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(h.erp.entries().is_empty());
    // re-reading the saved page would count 7 transactions and break the invariant
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert!(
        matches!(
            out,
            PayoutOutcome::Posted {
                transactions: 5,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn nothing_is_posted_before_stripe_itemises_or_when_the_money_does_not_add_up() {
    let h = harness();
    h.stripe
        .put_payout(payout(100, "paid", true, "in_progress"), vec![]);
    let err = h.flow.on_payout("po_1").await.unwrap_err();
    assert!(
        matches!(err, PayoutError::NotYet(_)) && err.is_retryable(),
        "{err}"
    );
    let h = harness();
    let amount = put_payout(&h, "paid").await;
    let rows = vec![txn("txn_1", "charge", 10_000, 320, None)];
    h.stripe
        .put_payout(payout(amount + 1, "paid", true, "completed"), rows);
    let err = h.flow.on_payout("po_1").await.unwrap_err();
    assert!(
        matches!(err, PayoutError::NeedsReview(_)) && !err.is_retryable(),
        "{err}"
    );
    assert!(h.erp.entries().is_empty());
}

#[tokio::test]
async fn a_payout_that_fails_after_it_was_posted_is_reversed_once() {
    let h = harness();
    let amount = put_payout(&h, "paid").await;
    h.flow.on_payout("po_1").await.unwrap();
    let rows = h
        .stripe
        .payout_transactions("po_1", None, 100)
        .await
        .unwrap()
        .transactions;
    h.stripe
        .put_payout(payout(amount, "failed", true, "completed"), rows);
    for _ in 0..2 {
        assert!(matches!(
            h.flow.on_payout("po_1").await.unwrap(),
            PayoutOutcome::Reversed { .. }
        ));
    }
    let entries = h.erp.entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].idempotency_key(), "tally-payout-po_1-reversal");
    let h = harness();
    h.stripe
        .put_payout(payout(500, "failed", true, "completed"), vec![]);
    assert_eq!(
        h.flow.on_payout("po_1").await.unwrap(),
        PayoutOutcome::Skipped("failed before it was posted")
    );
}

#[tokio::test]
async fn a_manual_payout_posts_the_bank_movement_against_clearing() {
    let h = harness();
    h.stripe
        .put_payout(payout(4_200, "paid", false, "not_applicable"), vec![]);
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert!(matches!(out, PayoutOutcome::NotItemised { .. }), "{out:?}");
    let lines: Vec<_> = h.erp.entries()[0]
        .lines()
        .iter()
        .map(|l| (l.account.clone(), l.side, l.amount.get()))
        .collect();
    assert_eq!(
        lines,
        [
            ("1000".to_string(), Side::Debit, 4_200),
            ("1150".to_string(), Side::Credit, 4_200)
        ]
    );
}
