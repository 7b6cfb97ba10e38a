use serde_json::json;

use super::*;
use crate::config::ErpAccounts;
use crate::erp::Side;
use crate::money::{Currency, MinorUnit};
use crate::stripe::objects::{BalanceTransaction, Payout};

fn bt(
    id: &str,
    kind: &str,
    category: &str,
    amount: i64,
    fee: i64,
    source: &str,
) -> BalanceTransaction {
    serde_json::from_value(json!({
        "id": id, "object": "balance_transaction", "amount": amount, "fee": fee, "net": amount - fee,
        "currency": "usd", "type": kind, "reporting_category": category, "source": source,
        "status": "available", "fee_details": [], "available_on": 1_795_000_000, "created": 1_795_000_000
    }))
    .unwrap()
}

fn payout(amount: i64, currency: &str) -> Payout {
    serde_json::from_value(json!({
        "id": "po_1", "object": "payout", "amount": amount, "currency": currency, "status": "paid",
        "arrival_date": 1_795_132_800, "automatic": true, "reconciliation_status": "completed",
        "created": 1_795_046_400
    }))
    .unwrap()
}

fn order(key: &str) -> Matched {
    Matched::Order(key.into())
}

/// Two charges, a partial refund, a lost dispute with its fee, a charge made
/// outside any platform, the payout's own transaction.
fn ledger() -> PayoutLedger {
    let mut l = PayoutLedger::new("po_1", Currency::Usd);
    let rows = [
        (
            bt("txn_1", "charge", "charge", 10_000, 320, "ch_1"),
            order("magento/default/1"),
        ),
        (
            bt("txn_2", "payment", "charge", 5_000, 175, "py_2"),
            order("znode/1/1001"),
        ),
        (
            bt("txn_3", "refund", "refund", -2_000, 0, "re_3"),
            order("magento/default/1"),
        ),
        (
            bt("txn_4", "adjustment", "dispute", -5_000, 1_500, "dp_4"),
            order("znode/1/1001"),
        ),
        (
            bt("txn_5", "charge", "charge", 1_000, 59, "ch_5"),
            Matched::Unmatched("no order for ch_5".into()),
        ),
        (
            bt("txn_6", "payout", "payout", -6_946, 0, "po_1"),
            Matched::Category,
        ),
    ];
    for (t, m) in &rows {
        l.add(t, m).unwrap();
    }
    l
}

#[test]
fn a_payout_balances_to_the_cent_and_books_each_category_and_the_unmatched_to_suspense() {
    let l = ledger();
    assert_eq!((l.net, l.fees, l.transactions), (6_946, 2_054, 5));
    assert_eq!(l.own_transaction.as_deref(), Some("txn_6"));
    assert_eq!(l.unmatched, 1);
    assert_eq!(l.unmatched_amount(), 1_000, "the suspense bucket's gross");
    let mut accounts = ErpAccounts::default();
    accounts
        .by_reporting_category
        .insert("dispute".into(), "4560".into());
    let entry = payout_entry(&l, &payout(6_946, "usd"), &accounts).unwrap();
    let lines: Vec<_> = entry
        .lines()
        .iter()
        .map(|l| (l.account.as_str(), l.side, l.amount.get()))
        .collect();
    assert_eq!(
        lines,
        [
            ("1000", Side::Debit, 6_946),
            ("6150", Side::Debit, 2_054),
            ("1150", Side::Credit, 15_000),
            ("1150", Side::Debit, 2_000),
            ("4560", Side::Debit, 5_000),
            ("1190", Side::Credit, 1_000),
        ]
    );
    assert_eq!(entry.idempotency_key(), "tally-payout-po_1");
    assert_eq!(entry.date(), "2026-11-20");
    assert_eq!(entry.references()["unmatched"], "1");
}

#[test]
fn a_payout_its_transactions_do_not_add_up_to_is_not_posted() {
    let l = ledger();
    let err = payout_entry(&l, &payout(6_947, "usd"), &ErpAccounts::default()).unwrap_err();
    assert!(err.to_string().contains("difference -1"), "{err}");
}

#[test]
fn a_ledger_saved_between_pages_continues_where_it_stopped() {
    let mut first = PayoutLedger::new("po_1", Currency::Usd);
    first
        .add(
            &bt("txn_1", "charge", "charge", 10_000, 320, "ch_1"),
            &order("m/1"),
        )
        .unwrap();
    let saved = serde_json::to_string(&first).unwrap();
    let mut resumed: PayoutLedger = serde_json::from_str(&saved).unwrap();
    assert_eq!(resumed.cursor.as_deref(), Some("txn_1"));
    resumed
        .add(
            &bt("txn_2", "refund", "refund", -1_000, 0, "re_2"),
            &order("m/1"),
        )
        .unwrap();
    assert_eq!(resumed.net, 8_680);
    assert!(resumed.check(MinorUnit::new(8_680)).is_ok());
}

#[test]
fn a_transaction_in_another_currency_or_with_a_wrong_net_is_refused() {
    let mut l = PayoutLedger::new("po_1", Currency::Eur);
    let err = l
        .add(
            &bt("txn_1", "charge", "charge", 100, 3, "ch_1"),
            &order("m/1"),
        )
        .unwrap_err();
    assert!(matches!(err, LedgerError::ForeignCurrency { .. }), "{err}");
    let mut l = PayoutLedger::new("po_1", Currency::Usd);
    let mut wrong = bt("txn_1", "charge", "charge", 100, 3, "ch_1");
    wrong.net = MinorUnit::new(98);
    assert!(matches!(
        l.add(&wrong, &order("m/1")).unwrap_err(),
        LedgerError::Inconsistent { .. }
    ));
    assert_eq!(l.transactions, 0, "nothing summed");
}

#[test]
fn zero_and_three_decimal_payouts_post_in_their_own_units() {
    for (currency, code, charge, fee, want) in [
        (Currency::Jpy, "jpy", 5_000, 180, "4820"),
        (Currency::Kwd, "kwd", 6_170, 190, "5.980"),
    ] {
        let mut l = PayoutLedger::new("po_1", currency);
        let mut t = bt("txn_1", "charge", "charge", charge, fee, "ch_1");
        t.currency = currency;
        l.add(&t, &order("m/1")).unwrap();
        let entry = payout_entry(&l, &payout(charge - fee, code), &ErpAccounts::default()).unwrap();
        assert_eq!(entry.to_json()["lines"][0]["debit"], want);
    }
}

#[test]
fn a_failed_payout_reverses_its_bank_movement_into_the_balance_it_returns_to() {
    let mut failed = payout(6_946, "usd");
    failed.failure_code = Some("account_closed".into());
    let mut accounts = ErpAccounts::default();
    let reversal = payout_reversal_entry(&failed, "JE-9", 1_795_300_000, &accounts).unwrap();
    assert_eq!(reversal.idempotency_key(), "tally-payout-po_1-reversal");
    assert_eq!(reversal.references()["reverses"], "JE-9");
    assert_eq!(
        crate::testkit::booked(&reversal),
        [
            ("1150".to_string(), Side::Debit, 6_946),
            ("1000".to_string(), Side::Credit, 6_946)
        ]
    );
    // the later payout that carries the returned amount books it from the same account
    accounts
        .by_reporting_category
        .insert("payout_reversal".into(), "1160".into());
    let reversal = payout_reversal_entry(&failed, "JE-9", 1_795_300_000, &accounts).unwrap();
    assert_eq!(reversal.lines()[0].account, "1160");
}

#[tokio::test]
async fn the_in_memory_stripe_pages_a_payouts_transactions_and_refuses_manual_payouts() {
    use crate::memory::MemoryStripe;
    use crate::stripe::{PayoutTransaction, StripeApi};

    let stripe = MemoryStripe::new();
    let transactions: Vec<_> = (0..5)
        .map(|i| PayoutTransaction {
            transaction: bt(
                &format!("txn_{i}"),
                "charge",
                "charge",
                1_000,
                59,
                &format!("ch_{i}"),
            ),
            payment_intent: Some(format!("pi_{i}")),
        })
        .collect();
    stripe.put_payout(payout(4_705, "usd"), transactions);
    let mut after: Option<String> = None;
    let mut ledger = PayoutLedger::new("po_1", Currency::Usd);
    let mut pages = 0;
    loop {
        let page = stripe
            .payout_transactions("po_1", after.as_deref(), 2)
            .await
            .unwrap();
        pages += 1;
        for t in &page.transactions {
            ledger
                .add(&t.transaction, &order(t.payment_intent.as_deref().unwrap()))
                .unwrap();
        }
        after = page.transactions.last().map(|t| t.transaction.id.clone());
        if !page.has_more {
            break;
        }
    }
    assert_eq!((pages, ledger.transactions), (3, 5));
    assert!(ledger.check(MinorUnit::new(4_705)).is_ok());
    let mut manual = payout(100, "usd");
    manual.id = "po_manual".into();
    manual.automatic = false;
    stripe.put_payout(manual, vec![]);
    assert!(stripe
        .payout_transactions("po_manual", None, 10)
        .await
        .is_err());
    assert!(stripe
        .retrieve_payout("po_none")
        .await
        .unwrap_err()
        .is_missing_resource());
}

#[test]
fn the_report_lists_the_unmatched_first_in_exact_major_units() {
    let mut l = PayoutLedger::new("po_k", Currency::Kwd);
    let mut lines = Vec::new();
    for (t, m) in [
        (
            bt("txn_1", "charge", "charge", 6_170, 479, "ch_1"),
            order("magento/default/7"),
        ),
        (
            bt("txn_2", "charge", "charge", 1_005, 329, "ch_=2"),
            Matched::Unmatched("PaymentIntent pi_x names no Tally order".into()),
        ),
        (
            bt("txn_3", "payout", "payout", -6_367, 0, "po_k"),
            Matched::Category,
        ),
    ] {
        let t = BalanceTransaction {
            currency: Currency::Kwd,
            ..t
        };
        lines.extend(l.add(&t, &m).unwrap());
    }
    assert_eq!(lines.len(), 2, "the payout's own transaction has no line");
    l.status = ReportStatus::Posted {
        entry: "je_9".into(),
    };
    let csv = render_csv(&l, &lines);
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("row,payout,currency,reporting_category"));
    assert_eq!(
        rows[1],
        r#""total","po_k","KWD","charge","category","","","","1","6.170","","","""#
    );
    assert!(
        rows[3].starts_with(r#""total","po_k","KWD","stripe_fees","fees","#)
            && rows[3].ends_with(r#""0.808","6.367","""#),
        "{}",
        rows[3]
    );
    assert!(
        rows[4].starts_with(r#""unmatched","po_k","KWD","charge","suspense","txn_2","ch_=2","","#),
        "the unmatched first: {}",
        rows[4]
    );
    assert!(
        rows[5].contains(r#""magento/default/7","1","6.170","0.479","5.691""#),
        "{}",
        rows[5]
    );
    let html = render_html(&l, &lines);
    assert!(html.contains("posted as ERP entry je_9"));
    assert!(html.find("txn_2").unwrap() < html.find("txn_1").unwrap());
    assert!(!render_html(
        &l,
        &[ReportLine {
            transaction: "<script>".into(),
            ..lines[0].clone()
        }]
    )
    .contains("<script>"));
}
