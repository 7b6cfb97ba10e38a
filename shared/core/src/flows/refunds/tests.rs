use serde_json::json;

use crate::commerce::stripe_refund_id_in;
use crate::erp::Side;
use crate::flows::order_to_cash::O2cOutcome;
use crate::money::{Currency, MinorUnit};
use crate::stripe::objects::RefundStatus;
use crate::testkit::{harness, order, order_message, payment_intent_json, stripe_message, Harness};

use super::PLATFORM_RECORD_METADATA;

/// A placed and paid order; returns (PaymentIntent, charge).
async fn paid(h: &Harness, id: &str, currency: Currency, total: &str) -> (String, String) {
    let o = order(id, currency, total);
    h.platform.put(o.clone());
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    let pi = h.state.links()[&format!("magento/default/{id}")].clone();
    let charge = h.stripe.succeed(&pi);
    let paid = stripe_message(
        &format!("evt_paid_{id}"),
        "payment_intent.succeeded",
        &payment_intent_json(&h.stripe, &pi),
    );
    h.handler.handle_message(&paid).await.unwrap();
    (pi, charge)
}

fn refund_event(event_id: &str, event_type: &str, refund_id: &str) -> String {
    // a stale body on purpose: the handler re-reads the refund
    stripe_message(
        event_id,
        event_type,
        &json!({"id": refund_id, "object": "refund", "amount": 1, "currency": "usd", "created": 1,
                "status": "pending", "metadata": {}}),
    )
}

fn charge_refunded(event_id: &str, charge: &str) -> String {
    stripe_message(
        event_id,
        "charge.refunded",
        &json!({"id": charge, "object": "charge", "amount": 1, "currency": "usd", "status": "succeeded",
                "paid": true, "refunded": false, "created": 1, "livemode": false, "metadata": {}}),
    )
}

fn credit_memos(h: &Harness) -> Vec<crate::erp::JournalEntry> {
    h.erp
        .entries()
        .into_iter()
        .filter(|e| e.references().contains_key("refund"))
        .collect()
}

#[tokio::test]
async fn a_stripe_refund_becomes_one_platform_record_and_one_credit_memo_in_every_currency_class() {
    let h = harness();
    for (id, currency, total, refund) in [
        ("1", Currency::Usd, "39.98", 1_000),
        ("2", Currency::Jpy, "5000", 5_000),
        ("3", Currency::Kwd, "12.340", 1_235),
    ] {
        let (pi, charge) = paid(&h, id, currency, total).await;
        let re = h
            .stripe
            .refund(&charge, refund, RefundStatus::Succeeded, &[])
            .unwrap();
        let out = h
            .handler
            .handle_message(&refund_event(
                &format!("evt_re_{id}"),
                "refund.created",
                &re,
            ))
            .await
            .unwrap();
        assert!(
            matches!(out.order_to_cash, Some(O2cOutcome::RefundRecorded { .. })),
            "{out:?}"
        );
        let recorded: Vec<_> = h
            .platform
            .refunds()
            .into_iter()
            .filter(|(o, _)| o == id)
            .collect();
        assert_eq!(recorded.len(), 1);
        let record = &recorded[0].1;
        assert_eq!(
            (record.amount.amount.get(), record.amount.currency),
            (refund, currency)
        );
        assert_eq!(record.stripe_refund_id, re);
        assert_eq!(record.charge_id, charge);
        assert_eq!(stripe_refund_id_in(&record.comment), Some(re.clone()));
        let memo = credit_memos(&h)
            .into_iter()
            .find(|e| e.references()["refund"] == re)
            .unwrap();
        assert_eq!(memo.currency(), currency);
        assert_eq!(memo.references()["payment_intent"], pi);
        let lines: Vec<_> = memo
            .lines()
            .iter()
            .map(|l| (l.account.as_str(), l.side, l.amount.get()))
            .collect();
        assert_eq!(
            lines,
            [
                ("4500", Side::Debit, refund),
                ("1150", Side::Credit, refund)
            ]
        );
    }
}

#[tokio::test]
async fn a_refund_before_its_payment_is_recorded_waits_for_it() {
    use crate::error::Retryable;
    let h = harness();
    let o = order("30", Currency::Usd, "39.98");
    h.platform.put(o.clone());
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    let pi = h.state.links()["magento/default/30"].clone();
    let charge = h.stripe.succeed(&pi);
    let re = h
        .stripe
        .refund(&charge, 500, RefundStatus::Succeeded, &[])
        .unwrap();
    // the refund's events arrive before payment_intent.succeeded is handled
    let early = h
        .handler
        .handle_message(&refund_event("evt_early", "refund.created", &re))
        .await
        .unwrap_err();
    assert!(early.is_retryable(), "{early}");
    assert!(h.platform.refunds().is_empty() && credit_memos(&h).is_empty());
    let paid = stripe_message(
        "evt_paid_30",
        "payment_intent.succeeded",
        &payment_intent_json(&h.stripe, &pi),
    );
    h.handler.handle_message(&paid).await.unwrap();
    h.handler
        .handle_message(&refund_event("evt_early", "refund.created", &re))
        .await
        .unwrap();
    assert_eq!(h.platform.refunds().len(), 1);
    assert_eq!(credit_memos(&h).len(), 1);
}

#[tokio::test]
async fn every_refund_event_three_times_shuffled_gives_one_record_each() {
    let h = harness();
    let (_, charge) = paid(&h, "7", Currency::Usd, "39.98").await;
    let first = h
        .stripe
        .refund(&charge, 1_000, RefundStatus::Succeeded, &[])
        .unwrap();
    let second = h
        .stripe
        .refund(&charge, 2_998, RefundStatus::Succeeded, &[])
        .unwrap();
    let mut events = Vec::new();
    for round in 0..3 {
        events.push(refund_event(
            &format!("evt_a{round}"),
            "refund.created",
            &first,
        ));
        events.push(refund_event(
            &format!("evt_b{round}"),
            "refund.created",
            &second,
        ));
        events.push(charge_refunded(&format!("evt_c{round}"), &charge));
        events.push(refund_event("evt_a0", "refund.created", &first)); // the same event redelivered
    }
    events.reverse();
    events.swap(1, 7);
    for e in &events {
        h.handler.handle_message(e).await.unwrap();
    }
    let mut amounts: Vec<i64> = h
        .platform
        .refunds()
        .iter()
        .map(|(_, r)| r.amount.amount.get())
        .collect();
    amounts.sort();
    assert_eq!(amounts, [1_000, 2_998]);
    assert_eq!(credit_memos(&h).len(), 2);
    assert_eq!(h.platform.order("7").state, "closed", "refunded in full");
}

#[tokio::test]
async fn a_crash_after_the_platform_write_does_not_record_the_refund_twice() {
    let h = harness();
    let (_, charge) = paid(&h, "8", Currency::Usd, "39.98").await;
    let re = h
        .stripe
        .refund(&charge, 500, RefundStatus::Succeeded, &[])
        .unwrap();
    h.handler
        .handle_message(&refund_event("evt_x", "refund.created", &re))
        .await
        .unwrap();
    // as if the worker died after the platform write, before recording it done
    h.store_forget(&format!("o2c/magento/default/8/refund/{re}/platform"));
    h.handler
        .handle_message(&refund_event("evt_y", "refund.updated", &re))
        .await
        .unwrap();
    assert_eq!(h.platform.refunds().len(), 1);
}

#[tokio::test]
async fn a_pending_refund_waits_and_a_failed_one_is_reversed_and_noted() {
    let h = harness();
    let (_, charge) = paid(&h, "9", Currency::Usd, "39.98").await;
    let re = h
        .stripe
        .refund(&charge, 1_500, RefundStatus::Pending, &[])
        .unwrap();
    let out = h
        .handler
        .handle_message(&refund_event("evt_p", "refund.created", &re))
        .await
        .unwrap();
    assert_eq!(
        out.order_to_cash,
        Some(O2cOutcome::Skipped("refund not settled yet"))
    );
    assert!(h.platform.refunds().is_empty() && credit_memos(&h).is_empty());

    h.stripe.settle_refund(&re, RefundStatus::Succeeded, None);
    h.handler
        .handle_message(&refund_event("evt_s", "refund.updated", &re))
        .await
        .unwrap();
    assert_eq!(h.platform.refunds().len(), 1);

    h.stripe
        .settle_refund(&re, RefundStatus::Failed, Some("lost_or_stolen_card"));
    for event in ["evt_f", "evt_f2"] {
        let out = h
            .handler
            .handle_message(&refund_event(event, "refund.failed", &re))
            .await
            .unwrap();
        assert!(matches!(
            out.order_to_cash,
            Some(O2cOutcome::RefundFailed {
                reversal: Some(_),
                ..
            })
        ));
    }
    // a late refund.created changes nothing: the refund is re-read, and it failed
    h.handler
        .handle_message(&refund_event("evt_late", "refund.created", &re))
        .await
        .unwrap();
    let memos = credit_memos(&h);
    assert_eq!(memos.len(), 2, "the credit memo and its reversal");
    let reversal = memos
        .iter()
        .find(|e| e.references().contains_key("reverses"))
        .unwrap();
    let lines: Vec<_> = reversal
        .lines()
        .iter()
        .map(|l| (l.account.as_str(), l.side))
        .collect();
    assert_eq!(lines, [("1150", Side::Debit), ("4500", Side::Credit)]);
    let notes: Vec<_> = h
        .platform
        .order("9")
        .comments
        .into_iter()
        .filter(|c| c.contains(&format!("refund {re} failed")))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("lost_or_stolen_card"));
}

#[tokio::test]
async fn a_refund_failed_before_it_was_recorded_leaves_no_trace() {
    let h = harness();
    let (_, charge) = paid(&h, "10", Currency::Usd, "39.98").await;
    let re = h
        .stripe
        .refund(&charge, 700, RefundStatus::Pending, &[])
        .unwrap();
    h.stripe
        .settle_refund(&re, RefundStatus::Failed, Some("declined"));
    let out = h
        .handler
        .handle_message(&refund_event("evt_f", "refund.failed", &re))
        .await
        .unwrap();
    assert_eq!(
        out.order_to_cash,
        Some(O2cOutcome::RefundFailed {
            refund: re,
            reversal: None
        })
    );
    assert!(h.platform.refunds().is_empty() && credit_memos(&h).is_empty());
}

#[tokio::test]
async fn a_refund_tally_made_from_a_platform_record_is_not_echoed_back() {
    let h = harness();
    let (_, charge) = paid(&h, "11", Currency::Usd, "39.98").await;
    let re = h
        .stripe
        .refund(
            &charge,
            900,
            RefundStatus::Succeeded,
            &[(PLATFORM_RECORD_METADATA, "creditmemo/5")],
        )
        .unwrap();
    let out = h
        .handler
        .handle_message(&refund_event("evt_own", "refund.created", &re))
        .await
        .unwrap();
    match out.order_to_cash {
        Some(O2cOutcome::RefundRecorded {
            platform_record, ..
        }) => {
            assert_eq!(platform_record, "from-platform:creditmemo/5")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        h.platform.refunds().is_empty(),
        "no loop back to the platform"
    );
    assert_eq!(
        credit_memos(&h).len(),
        1,
        "the ERP still gets its credit memo"
    );
}

#[tokio::test]
async fn refunds_of_payments_that_are_not_orders_here_are_acknowledged() {
    use crate::stripe::{NewPaymentIntent, StripeApi};
    let h = harness();
    // another integration's PaymentIntent: no Tally metadata
    let theirs = h
        .stripe
        .create_payment_intent(
            &NewPaymentIntent {
                amount: crate::money::Money {
                    amount: MinorUnit::new(2_000),
                    currency: Currency::Usd,
                },
                customer: None,
                description: None,
                metadata: vec![],
            },
            "someone-else",
        )
        .await
        .unwrap();
    let charge = h.stripe.succeed(&theirs.id);
    let re = h
        .stripe
        .refund(&charge, 2_000, RefundStatus::Succeeded, &[])
        .unwrap();
    let out = h
        .handler
        .handle_message(&refund_event("evt_theirs", "refund.created", &re))
        .await
        .unwrap();
    assert_eq!(
        out.order_to_cash,
        Some(O2cOutcome::Skipped("not an order of this platform"))
    );
    assert!(h.platform.refunds().is_empty() && credit_memos(&h).is_empty());
}

mod from_the_platform {
    use super::*;

    /// The refund poller over the harness's platform, sending to `queue` (its DLQ too).
    fn refund_poller<'a>(
        h: &'a Harness,
        queue: &'a crate::memory::MemoryQueue,
        clock: &'a crate::clock::ManualClock,
        initial_lookback_secs: i64,
    ) -> crate::flows::refund_poller::RefundPoller<'a> {
        crate::flows::refund_poller::RefundPoller {
            platform: h.platform.as_ref(),
            queue,
            dead_letters: queue,
            watermarks: h.state.as_ref(),
            reviews: h.store.as_ref(),
            clock,
            page_size: 10,
            initial_lookback_secs,
            max_pages: 10,
        }
    }
    use crate::commerce::OrderRef;
    use crate::error::Retryable;
    use crate::flows::payments::{refund_requested_message, RefundRequest};

    fn requested(order_id: &str, refund_id: &str) -> String {
        let message = refund_requested_message(
            &RefundRequest {
                order: OrderRef {
                    platform: "magento".into(),
                    store: "default".into(),
                    order_id: order_id.into(),
                },
                refund_id: refund_id.into(),
            },
            1,
        )
        .unwrap();
        message.body
    }

    #[tokio::test]
    async fn a_credit_memo_becomes_one_stripe_refund_named_back_on_it_and_is_not_echoed() {
        let h = harness();
        let (pi, charge) = paid(&h, "20", Currency::Usd, "39.98").await;
        let memo = h.platform.merchant_refund("20", 1_250).unwrap();
        let out = h
            .handler
            .handle_message(&requested("20", &memo))
            .await
            .unwrap();
        let re = match out.order_to_cash {
            Some(O2cOutcome::RefundSent {
                refund,
                platform_record,
            }) => {
                assert_eq!(platform_record, memo);
                refund
            }
            other => panic!("unexpected {other:?}"),
        };
        let made = h.stripe.list_refunds_now(&charge);
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].amount.get(), 1_250);
        assert_eq!(
            made[0].metadata[PLATFORM_RECORD_METADATA],
            format!("magento/default/20/refund/{memo}")
        );
        assert_eq!(h.platform.refund_notes().len(), 1);
        assert_eq!(
            stripe_refund_id_in(&h.platform.refund_notes()[0].1),
            Some(re.clone())
        );

        // the poll finds the record again, and Stripe's webhooks come back: nothing twice
        let again = h
            .handler
            .handle_message(&requested("20", &memo))
            .await
            .unwrap();
        assert!(matches!(again.order_to_cash, Some(O2cOutcome::Skipped(_))));
        let back = h
            .handler
            .handle_message(&refund_event("evt_back", "refund.created", &re))
            .await
            .unwrap();
        match back.order_to_cash {
            Some(O2cOutcome::RefundRecorded {
                platform_record, ..
            }) => {
                assert_eq!(
                    platform_record,
                    format!("from-platform:magento/default/20/refund/{memo}")
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            h.platform.refunds().len(),
            1,
            "the credit memo is not recorded again"
        );
        assert_eq!(h.stripe.refunds_created(), 1);
        let memos = credit_memos(&h);
        assert_eq!(memos.len(), 1);
        assert_eq!(memos[0].references()["payment_intent"], pi);
    }

    #[tokio::test]
    async fn a_crash_after_the_stripe_refund_finds_it_instead_of_refunding_twice() {
        let h = harness();
        let (_, charge) = paid(&h, "21", Currency::Jpy, "5000").await;
        let memo = h.platform.merchant_refund("21", 5_000).unwrap();
        h.handler
            .handle_message(&requested("21", &memo))
            .await
            .unwrap();
        // as if the worker died after Stripe answered, before anything was recorded
        h.store_forget(&format!(
            "o2c/magento/default/21/platform-refund/{memo}/stripe"
        ));
        h.store_forget(&format!(
            "o2c/magento/default/21/platform-refund/{memo}/noted"
        ));
        h.stripe.forget_idempotency_keys();
        h.platform.forget_refund_note("21", &memo);
        h.handler
            .handle_message(&requested("21", &memo))
            .await
            .unwrap();
        assert_eq!(h.stripe.list_refunds_now(&charge).len(), 1);
        assert_eq!(h.stripe.refunds_created(), 1);
    }

    #[tokio::test]
    async fn more_than_is_left_on_the_charge_goes_to_review_and_refunds_nothing() {
        let h = harness();
        let (_, charge) = paid(&h, "22", Currency::Kwd, "12.340").await;
        // refunded in the Dashboard, its events not yet handled
        h.stripe
            .refund(&charge, 12_000, RefundStatus::Succeeded, &[])
            .unwrap();
        let memo = h.platform.merchant_refund("22", 1_000).unwrap();
        let err = h
            .handler
            .handle_message(&requested("22", &memo))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "a person decides: {err}");
        assert!(err.to_string().contains("only 0.340 KWD is left"), "{err}");
        assert_eq!(h.stripe.list_refunds_now(&charge).len(), 1);
    }

    #[tokio::test]
    async fn a_platform_with_both_intakes_is_polled_both_ways() {
        use crate::clock::ManualClock;
        use crate::commerce::RefundIntake;
        use crate::memory::MemoryQueue;

        // the in-memory platform serves the same records both ways: each way finds them
        let h = harness();
        h.platform
            .set_refund_intake(RefundIntake::CreatedAndAwaiting);
        let (_, charge) = paid(&h, "31", Currency::Usd, "20.00").await;
        h.platform.merchant_refund("31", 500).unwrap();
        let queue = MemoryQueue::new("payments");
        let clock = ManualClock::at_secs(1_795_700_000);
        let poller = refund_poller(&h, &queue, &clock, 86_400 * 365);
        let report = poller.poll().await.unwrap();
        assert_eq!((report.seen, report.enqueued), (2, 2), "{report:?}");
        assert!(
            !report.watermark.is_empty(),
            "the created walk's key is kept"
        );
        // the handler refunds it once, however many requests name it
        for m in queue.messages() {
            h.handler.handle_message(&m.body).await.unwrap();
        }
        assert_eq!(h.stripe.list_refunds_now(&charge).len(), 1);
    }

    #[tokio::test]
    async fn a_record_sent_to_review_is_not_enqueued_again_by_the_awaiting_poll() {
        use crate::clock::ManualClock;
        use crate::commerce::RefundIntake;
        use crate::memory::MemoryQueue;

        let h = harness();
        h.platform.set_refund_intake(RefundIntake::Awaiting);
        let (_, charge) = paid(&h, "23", Currency::Usd, "20.00").await;
        h.stripe
            .refund(&charge, 1_900, RefundStatus::Succeeded, &[])
            .unwrap();
        let _too_much = h.platform.merchant_refund("23", 500).unwrap();
        let queue = MemoryQueue::new("payments");
        let clock = ManualClock::at_secs(1_795_700_000);
        let poller = refund_poller(&h, &queue, &clock, 0);
        let first = poller.poll().await.unwrap();
        assert_eq!((first.seen, first.enqueued, first.in_review), (1, 1, 0));
        let err = h
            .handler
            .handle_message(&queue.messages()[0].body)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("only 1.00 USD is left"), "{err}");
        // every later poll still reads the record (it is still awaiting) and leaves it to the person
        for _ in 0..3 {
            let again = poller.poll().await.unwrap();
            assert_eq!((again.seen, again.enqueued, again.in_review), (1, 0, 1));
        }
        assert_eq!(queue.messages().len(), 1, "one message, one review");
        // a record the merchant makes for what is left is new work, refunded once
        let rest = h.platform.merchant_refund("23", 100).unwrap();
        let next = poller.poll().await.unwrap();
        assert_eq!((next.seen, next.enqueued, next.in_review), (2, 1, 1));
        let out = h
            .handler
            .handle_message(&queue.messages()[1].body)
            .await
            .unwrap();
        assert!(
            matches!(out.order_to_cash, Some(O2cOutcome::RefundSent { ref platform_record, .. }) if *platform_record == rest),
            "{out:?}"
        );
        let after = poller.poll().await.unwrap();
        assert_eq!((after.seen, after.enqueued, after.in_review), (1, 0, 1));
        assert_eq!(h.stripe.list_refunds_now(&charge).len(), 2);
    }
}

mod as_sales_documents {
    //! `erp.paid_orders`: a paid order as a sales order with its payment, its
    //! refunds as credit memos against it, each posted once.
    use super::*;
    use crate::config::PaidOrderPosting;
    use crate::testkit::harness_posting_as;

    async fn paid_with_charges(h: &Harness, id: &str) -> (String, String) {
        let mut o = order(id, Currency::Usd, "47.48");
        o.lines[0].row_total = MinorUnit::new(3_998);
        o.lines[0].quantity = rust_decimal::Decimal::new(2, 0);
        o.charges.shipping = MinorUnit::new(500);
        o.charges.tax = MinorUnit::new(350);
        o.charges.discount = MinorUnit::new(100);
        h.platform.put(o.clone());
        h.handler.handle_message(&order_message(&o)).await.unwrap();
        let pi = h.state.links()[&format!("magento/default/{id}")].clone();
        let charge = h.stripe.succeed(&pi);
        let paid = stripe_message(
            &format!("evt_paid_{id}"),
            "payment_intent.succeeded",
            &payment_intent_json(&h.stripe, &pi),
        );
        for _ in 0..3 {
            h.handler.handle_message(&paid).await.unwrap();
        }
        (pi, charge)
    }

    #[tokio::test]
    async fn a_paid_order_is_one_sales_order_with_its_lines_and_charges_and_a_refund_one_credit_memo(
    ) {
        let h = harness_posting_as(PaidOrderPosting::SalesOrder);
        let (_, charge) = paid_with_charges(&h, "7").await;
        assert!(
            h.erp.entries().is_empty(),
            "no journal entry in sales_order mode"
        );
        let sales = h.erp.sales_orders();
        assert_eq!(sales.len(), 1, "redelivered events post nothing more");
        let json = sales[0].to_json();
        assert_eq!(json["idempotency_key"], "tally-magento-default-7-sale");
        assert_eq!(json["lines"][0]["sku"], "TEE");
        assert_eq!(json["lines"][0]["quantity"], "2");
        assert_eq!(json["lines"][0]["amount"], "39.98");
        assert_eq!(
            (&json["shipping"], &json["tax"], &json["discount"]),
            (&json!("5.00"), &json!("3.50"), &json!("1.00"))
        );
        assert_eq!(json["adjustment"], "0.00");
        assert_eq!(json["total"], "47.48");
        assert_eq!(json["payment"]["reference"], charge.as_str());
        assert_eq!(json["customer"]["name"], "Ada Lovelace");

        let re = h
            .stripe
            .refund(&charge, 1_000, RefundStatus::Succeeded, &[])
            .unwrap();
        for n in 0..2 {
            h.handler
                .handle_message(&refund_event(
                    &format!("evt_re7_{n}"),
                    "refund.created",
                    &re,
                ))
                .await
                .unwrap();
        }
        let memos = h.erp.credit_memos();
        assert_eq!(memos.len(), 1);
        assert_eq!(memos[0].1, "tally-magento-default-7-sale");
        assert_eq!(memos[0].0.amount(), MinorUnit::new(1_000));
        assert!(h.erp.entries().is_empty());
    }

    #[tokio::test]
    async fn both_posts_the_journal_entry_and_the_sales_order_once_each() {
        let h = harness_posting_as(PaidOrderPosting::Both);
        let (_, charge) = paid_with_charges(&h, "8").await;
        assert_eq!(h.erp.entries().len(), 1);
        assert_eq!(h.erp.sales_orders().len(), 1);
        let re = h
            .stripe
            .refund(&charge, 500, RefundStatus::Succeeded, &[])
            .unwrap();
        h.handler
            .handle_message(&refund_event("evt_re8", "refund.created", &re))
            .await
            .unwrap();
        assert_eq!(credit_memos(&h).len(), 1, "the journal's credit memo");
        assert_eq!(h.erp.credit_memos().len(), 1, "and the sales credit memo");
    }

    #[tokio::test]
    async fn what_the_grand_total_holds_beyond_lines_and_charges_is_the_adjustment() {
        let h = harness_posting_as(PaidOrderPosting::SalesOrder);
        let mut o = order("9", Currency::Jpy, "5300");
        o.lines[0].row_total = MinorUnit::new(5_000);
        h.platform.put(o.clone());
        h.handler.handle_message(&order_message(&o)).await.unwrap();
        let pi = h.state.links()["magento/default/9"].clone();
        h.stripe.succeed(&pi);
        h.handler
            .handle_message(&stripe_message(
                "evt_paid_9",
                "payment_intent.succeeded",
                &payment_intent_json(&h.stripe, &pi),
            ))
            .await
            .unwrap();
        let json = h.erp.sales_orders()[0].to_json();
        assert_eq!(
            (&json["adjustment"], &json["total"]),
            (&json!("300"), &json!("5300"))
        );
    }

    #[tokio::test]
    async fn a_refund_waits_for_its_sales_order_then_credits_it() {
        use crate::error::Retryable;
        let h = harness_posting_as(PaidOrderPosting::SalesOrder);
        let o = order("11", Currency::Usd, "20.00");
        h.platform.put(o.clone());
        h.handler.handle_message(&order_message(&o)).await.unwrap();
        let pi = h.state.links()["magento/default/11"].clone();
        let charge = h.stripe.succeed(&pi);
        let paid = stripe_message(
            "evt_paid_11",
            "payment_intent.succeeded",
            &payment_intent_json(&h.stripe, &pi),
        );
        // the ERP is down when the payment is posted: the order is paid, its sale is not
        h.erp.fail_next(vec![crate::erp::ErpError::Unavailable {
            status: 503,
            message: "down".into(),
        }]);
        assert!(h.handler.handle_message(&paid).await.is_err());
        let re = h
            .stripe
            .refund(&charge, 500, RefundStatus::Succeeded, &[])
            .unwrap();
        let waiting = h
            .handler
            .handle_message(&refund_event("evt_re11", "refund.created", &re))
            .await
            .unwrap_err();
        assert!(waiting.is_retryable(), "{waiting}");
        assert!(h.erp.credit_memos().is_empty());
        h.handler.handle_message(&paid).await.unwrap();
        h.handler
            .handle_message(&refund_event("evt_re11b", "refund.created", &re))
            .await
            .unwrap();
        assert_eq!(h.erp.credit_memos().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_refund_after_its_credit_memo_goes_to_review() {
        use crate::error::Retryable;
        let h = harness_posting_as(PaidOrderPosting::SalesOrder);
        let (_, charge) = paid_with_charges(&h, "10").await;
        let re = h
            .stripe
            .refund(&charge, 700, RefundStatus::Succeeded, &[])
            .unwrap();
        h.handler
            .handle_message(&refund_event("evt_re10", "refund.created", &re))
            .await
            .unwrap();
        h.stripe
            .settle_refund(&re, RefundStatus::Failed, Some("lost_or_stolen_card"));
        let err = h
            .handler
            .handle_message(&refund_event("evt_re10_failed", "refund.failed", &re))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains("void the credit memo"), "{err}");
    }
}
