use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::clock::ManualClock;
use crate::erp::Side;
use crate::memory::{MemoryErp, MemoryIdempotencyStore, MemoryPayoutReports, MemoryStripe};
use crate::money::{Currency, MinorUnit, Money};
use crate::payouts::ReportStatus;
use crate::stripe::objects::BalanceTransaction;
use crate::stripe::NewPaymentIntent;
use crate::testkit::booked;

struct H {
    flow: Arc<PayoutReconciliation>,
    stripe: Arc<MemoryStripe>,
    erp: Arc<MemoryErp>,
    reports: Arc<MemoryPayoutReports>,
}

fn harness() -> H {
    let (stripe, erp, reports) = (
        MemoryStripe::new(),
        MemoryErp::new(),
        MemoryPayoutReports::new(),
    );
    H {
        flow: Arc::new(PayoutReconciliation {
            stripe: stripe.clone(),
            erp: erp.clone(),
            reports: reports.clone(),
            store: MemoryIdempotencyStore::new(),
            clock: Arc::new(ManualClock::at_secs(1_795_300_000)),
            accounts: ErpAccounts::default(),
            page_size: 2,
            pages_per_invocation: 0,
            lease_secs: 60,
        }),
        stripe,
        erp,
        reports,
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

fn assert_posted(out: &PayoutOutcome, read: u64) {
    assert!(
        matches!(out, PayoutOutcome::Posted { transactions, .. } if *transactions == read),
        "{out:?}"
    );
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
                unmatched_amount: 3_000,
                currency: Currency::Usd,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        h.reports.puts(),
        4,
        "saved after each page of two, then its status"
    );
    let report = h.reports.ledger("po_1").await.unwrap().unwrap();
    assert!(
        matches!((&report.status, &out), (ReportStatus::Posted { entry }, PayoutOutcome::Posted { entry: posted, .. }) if entry == posted),
        "{:?}",
        report.status
    );
    assert_eq!((report.pages, report.unmatched), (3, 1));
    let lines = h.reports.lines("po_1").await.unwrap();
    let ids: Vec<_> = lines.iter().map(|l| l.transaction.as_str()).collect();
    assert_eq!(
        ids,
        ["txn_5", "txn_4", "txn_3", "txn_2", "txn_1"],
        "every transaction but the payout's own, in Stripe's order"
    );
    assert!(lines[1]
        .unmatched
        .as_deref()
        .unwrap()
        .ends_with("names no Tally order"));
    assert_eq!(
        lines[0].unmatched, None,
        "a Stripe fee is booked by its category"
    );
    assert_eq!(lines[4].order.as_deref(), Some("magento/default/1"));
    let entries = h.erp.entries();
    assert_eq!(entries.len(), 1);
    let lines = booked(&entries[0]);
    assert_eq!(lines[0], ("1000".into(), Side::Debit, amount));
    assert!(
        lines.contains(&("1190".into(), Side::Credit, 3_000)),
        "the charge of no order to suspense: {lines:?}"
    );
    assert!(
        lines.contains(&("1150".into(), Side::Debit, 200)),
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
        .reports
        .save_ledger(&{
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
    assert_posted(&out, 5);
}

#[tokio::test]
async fn nothing_is_posted_before_stripe_itemises_or_when_the_money_does_not_add_up() {
    let h = harness();
    h.stripe
        .put_payout(payout(100, "paid", true, "in_progress"), vec![]);
    assert_eq!(
        h.flow.on_payout("po_1").await.unwrap(),
        PayoutOutcome::AwaitingItemisation
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
    let status = h.reports.ledger("po_1").await.unwrap().unwrap().status;
    assert!(
        matches!(&status, ReportStatus::NeedsReview { reason } if reason.contains("difference")),
        "the report says why: {status:?}"
    );
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
    let status = h.reports.ledger("po_1").await.unwrap().unwrap().status;
    assert!(
        matches!(status, ReportStatus::Reversed { .. }),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_payout_already_failed_when_first_read_is_posted_then_reversed() {
    // its fees and gross are booked by its entry; only its amount comes back
    let h = harness();
    put_payout(&h, "failed").await;
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert!(matches!(out, PayoutOutcome::Reversed { .. }), "{out:?}");
    let keys: Vec<_> = h
        .erp
        .entries()
        .iter()
        .map(|e| e.idempotency_key().to_string())
        .collect();
    assert_eq!(keys, ["tally-payout-po_1", "tally-payout-po_1-reversal"]);
    assert!(booked(&h.erp.entries()[0]).contains(&("6150".into(), Side::Debit, 525)));
    // one awaiting Stripe's itemisation waits for it, as any payout does
    let h = harness();
    h.stripe
        .put_payout(payout(500, "failed", true, "in_progress"), vec![]);
    assert_eq!(
        h.flow.on_payout("po_1").await.unwrap(),
        PayoutOutcome::AwaitingItemisation
    );
    assert!(h.erp.entries().is_empty());
}

#[tokio::test]
async fn a_manual_payout_posts_the_bank_movement_against_clearing() {
    let h = harness();
    h.stripe
        .put_payout(payout(4_200, "paid", false, "not_applicable"), vec![]);
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert!(matches!(out, PayoutOutcome::NotItemised { .. }), "{out:?}");
    let report = h.reports.ledger("po_1").await.unwrap().unwrap();
    assert!(!report.itemised && matches!(report.status, ReportStatus::Posted { .. }));
    assert_eq!(
        booked(&h.erp.entries()[0]),
        [
            ("1000".to_string(), Side::Debit, 4_200),
            ("1150".to_string(), Side::Credit, 4_200)
        ]
    );
}

#[tokio::test]
async fn a_payout_that_outlasts_the_invocation_continues_without_a_page_lost_or_counted_twice() {
    let h = harness();
    put_payout(&h, "paid").await;
    // too little time left for even one page: nothing read, a continuation asked for
    let soon = Some(tokio::time::Instant::now() + std::time::Duration::from_millis(10));
    let out = crate::deadline::within(soon, h.flow.on_payout("po_1"))
        .await
        .unwrap();
    assert_eq!(out, PayoutOutcome::Continues { transactions: 0 });
    assert!(h.erp.entries().is_empty());
    // a crash after a page's lines were saved but before its ledger: the page is rewritten, not added
    let mut ledger = PayoutLedger::new("po_1", Currency::Usd);
    let mut first = Vec::new();
    for t in h
        .stripe
        .payout_transactions("po_1", None, 2)
        .await
        .unwrap()
        .transactions
    {
        first.extend(ledger.add(&t.transaction, &Matched::Category).unwrap());
    }
    h.reports.save_page("po_1", 1, &first).await.unwrap();
    let out = h.flow.on_payout("po_1").await.unwrap();
    assert_posted(&out, 5);
    assert_eq!(h.reports.lines("po_1").await.unwrap().len(), 5);
}

fn handler(h: &H) -> (PayoutsHandler, Arc<crate::memory::MemoryQueue>) {
    let queue = crate::memory::MemoryQueue::new("payouts");
    let handler = PayoutsHandler {
        reconciliation: h.flow.clone(),
        store: h.flow.store.clone(),
        journal: crate::memory::MemoryEventJournal::new(),
        stripe: h.stripe.clone(),
        clock: h.flow.clock.clone(),
        lease_secs: 60,
        continuation: queue.clone(),
    };
    (handler, queue)
}

fn payout_event(id: &str, event_type: &str) -> String {
    crate::testkit::stripe_message(id, event_type, &json!({"id": "po_1", "object": "payout"}))
}

#[tokio::test]
async fn the_handler_takes_payout_events_as_triggers_and_carries_on_with_its_own_message() {
    let h = harness();
    h.stripe
        .put_payout(payout(100, "paid", true, "in_progress"), vec![]);
    let (handler, queue) = handler(&h);
    // payout.paid before Stripe itemised it: reconciliation_completed will follow
    let out = handler
        .handle_message(&payout_event("evt_1", "payout.paid"))
        .await
        .unwrap();
    assert_eq!(out, PayoutOutcome::AwaitingItemisation);
    // but Stripe saying it is itemised when a read disagrees is retried
    let err = handler
        .handle_message(&payout_event("evt_2", "payout.reconciliation_completed"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");

    put_payout(&h, "paid").await;
    let soon = Some(tokio::time::Instant::now() + std::time::Duration::from_millis(10));
    let message = payout_event("evt_3", "payout.reconciliation_completed");
    let out = crate::deadline::within(soon, handler.handle_message(&message))
        .await
        .unwrap();
    assert_eq!(out, PayoutOutcome::Continues { transactions: 0 });
    let sent = queue.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attribute("event_type"), Some(PAYOUT_CONTINUE));
    let out = handler.handle_message(&sent[0].body).await.unwrap();
    assert_posted(&out, 5);
    // a duplicate of the event changes nothing
    let out = handler.handle_message(&message).await.unwrap();
    assert_eq!(out, PayoutOutcome::Skipped("already posted"));
    assert_eq!(h.erp.entries().len(), 1);

    let wrong = crate::testkit::stripe_message(
        "evt_4",
        "charge.succeeded",
        &json!({"id": "ch_1", "object": "charge"}),
    );
    let err = handler.handle_message(&wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            PayoutsError::Refused(crate::flows::Refused::WrongFlow(..))
        ) && !err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn a_page_budget_hands_the_payout_on_after_that_many_pages() {
    let mut h = harness();
    put_payout(&h, "paid").await;
    Arc::get_mut(&mut h.flow).unwrap().pages_per_invocation = 1;
    let mut outcomes = Vec::new();
    loop {
        let out = h.flow.on_payout("po_1").await.unwrap();
        let done = matches!(out, PayoutOutcome::Posted { .. });
        outcomes.push(out);
        if done {
            break;
        }
    }
    assert_eq!(
        outcomes[..2],
        [
            PayoutOutcome::Continues { transactions: 1 },
            PayoutOutcome::Continues { transactions: 3 }
        ],
        "the payout's own transaction is read, not counted"
    );
    let report = h.reports.ledger("po_1").await.unwrap().unwrap();
    assert_eq!(
        (report.invocations, report.pages, report.transactions),
        (3, 3, 5)
    );
}
