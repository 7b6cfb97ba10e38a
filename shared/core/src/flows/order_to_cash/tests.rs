use serde_json::json;

use crate::commerce::{PaymentState, PlatformError};
use crate::error::Retryable;
use crate::flows::order_to_cash::O2cOutcome;
use crate::money::Currency;
use crate::stripe::StripeApiError;
use crate::testkit::{harness, order, order_message, payment_intent_json, stripe_message, Harness};

async fn place(h: &Harness, id: &str, currency: Currency, total: &str) -> String {
    let o = order(id, currency, total);
    h.platform.put(o.clone());
    let out = h.handler.handle_message(&order_message(&o)).await.unwrap();
    match out.order_to_cash {
        Some(O2cOutcome::PaymentIntentLinked { payment_intent, .. }) => payment_intent,
        other => panic!("unexpected {other:?}"),
    }
}

fn succeeded_events(h: &Harness, pi: &str, charge: &str) -> Vec<String> {
    let pi_json = payment_intent_json(&h.stripe, pi);
    let charge_json = json!({
        "id": charge, "object": "charge", "amount": pi_json["amount"], "currency": pi_json["currency"],
        "status": "succeeded", "paid": true, "captured": true, "amount_captured": pi_json["amount"],
        "payment_intent": pi, "metadata": {}, "created": 1_795_651_200, "livemode": false
    });
    vec![
        stripe_message(
            &format!("evt_pi_{pi}"),
            "payment_intent.succeeded",
            &pi_json,
        ),
        stripe_message(&format!("evt_ch_{pi}"), "charge.succeeded", &charge_json),
    ]
}

#[tokio::test]
async fn order_gets_one_payment_intent_with_exact_amount_metadata_and_comment() {
    let h = harness();
    for (id, currency, total, minor) in [
        ("1", Currency::Usd, "19.99", 1999),
        ("2", Currency::Jpy, "5000", 5000),
        ("3", Currency::Kwd, "12.340", 12340),
    ] {
        let pi = place(&h, id, currency, total).await;
        let created = h.stripe.intents().into_iter().find(|p| p.id == pi).unwrap();
        assert_eq!(created.amount.get(), minor);
        assert_eq!(created.currency, currency);
        assert_eq!(created.metadata["order_id"], id);
        assert_eq!(created.metadata["platform"], "magento");
        assert_eq!(created.metadata["increment_id"], format!("{id:0>9}"));
        assert_eq!(
            created.description.as_deref(),
            Some(format!("Order #{id:0>9}: 1 x Tee").as_str())
        );
        assert!(h.platform.order(id).has_comment_containing(&pi));
    }
    assert_eq!(h.stripe.created(), 3);
}

#[tokio::test]
async fn every_delivery_three_times_shuffled_gives_one_of_each() {
    let h = harness();
    let o = order("7", Currency::Usd, "42.00");
    h.platform.put(o.clone());
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    let pi = h.state.links()["magento/default/7"].clone();
    let charge = h.stripe.succeed(&pi);
    let mut deliveries = vec![order_message(&o)];
    deliveries.extend(succeeded_events(&h, &pi, &charge));
    let mut all: Vec<String> = deliveries
        .iter()
        .cycle()
        .take(deliveries.len() * 3)
        .cloned()
        .collect();
    fastrand_shuffle(&mut all, 7);
    for d in &all {
        h.handler.handle_message(d).await.unwrap();
    }
    assert_eq!(h.stripe.created(), 1);
    assert_eq!(h.platform.invoices().len(), 1);
    assert_eq!(h.platform.invoices()[0].1.transaction_id, charge);
    assert_eq!(h.erp.entries().len(), 1);
    let entry = &h.erp.entries()[0];
    assert_eq!(entry.lines()[0].amount.get(), 4200);
    assert_eq!(entry.references()["charge"], charge);
    let paid = h.platform.order("7");
    assert_eq!(paid.payment_state, PaymentState::Paid);
    assert_eq!(paid.state, "processing");
    assert_eq!(
        paid.comments
            .iter()
            .filter(|c| c.contains(&format!("charge {charge}")))
            .count(),
        1,
        "one paid comment: {:?}",
        paid.comments
    );
}

#[tokio::test]
async fn a_later_event_about_a_recorded_payment_reads_and_claims_nothing() {
    let h = harness();
    let pi = place(&h, "8", Currency::Usd, "42.00").await;
    let charge = h.stripe.succeed(&pi);
    let [intent_event, charge_event]: [String; 2] =
        succeeded_events(&h, &pi, &charge).try_into().unwrap();
    let first = h.handler.handle_message(&intent_event).await.unwrap();
    let claims = h.store.claims();
    // the charge's own event, then a redelivery of the first: reads only
    for later in [&charge_event, &intent_event] {
        let out = h.handler.handle_message(later).await.unwrap();
        assert_eq!(out.order_to_cash, first.order_to_cash);
    }
    assert!(
        matches!(first.order_to_cash, Some(O2cOutcome::Paid { ref erp_entry, .. }) if !erp_entry.is_empty())
    );
    assert_eq!(h.store.claims() - claims, 0, "no step claimed again");
    assert_eq!(h.platform.invoices().len(), 1);
    assert_eq!(h.erp.entries().len(), 1);
}

/// Deterministic Fisher-Yates so a failure reproduces.
fn fastrand_shuffle(v: &mut [String], seed: u64) {
    let mut x = seed;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

#[tokio::test]
async fn crash_after_creating_the_payment_intent_reuses_it_on_retry() {
    let h = harness();
    let o = order("9", Currency::Usd, "10.00");
    h.platform.put(o.clone());
    // The comment write fails after the PaymentIntent was created and linked…
    h.platform.fail_next(vec![PlatformError::Unavailable {
        platform: "magento".into(),
        status: 503,
        message: "down".into(),
    }]);
    let err = h
        .handler
        .handle_message(&order_message(&o))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    // …and a Stripe timeout after Stripe created it is retried with the same key.
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    assert_eq!(h.stripe.created(), 1);
    assert!(h
        .platform
        .order("9")
        .has_comment_containing(&h.state.links()["magento/default/9"]));
}

#[tokio::test]
async fn a_lost_link_write_does_not_create_a_second_payment_intent() {
    let h = harness();
    let mut o = order("10", Currency::Eur, "10.00");
    o.customer.email = None; // no Stripe customer: the PaymentIntent below is the whole request

    h.platform.put(o.clone());
    // Stripe answers 500 after having created the PaymentIntent: the retry's
    // identical idempotency key gets the same one back.
    let first = h
        .handler
        .order_to_cash
        .stripe
        .create_payment_intent(
            &crate::stripe::NewPaymentIntent {
                amount: o.total(),
                customer: None,
                description: Some(o.line_summary()),
                metadata: vec![
                    ("platform".into(), "magento".into()),
                    ("store".into(), "default".into()),
                    ("order_id".into(), "10".into()),
                    ("increment_id".into(), "000000010".into()),
                ],
            },
            "tally-pi-magento-default-10",
        )
        .await
        .unwrap();
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    assert_eq!(h.stripe.created(), 1);
    assert_eq!(h.state.links()["magento/default/10"], first.id);
}

#[tokio::test]
async fn decline_sets_failure_status_then_a_retry_completes_the_order() {
    let h = harness();
    let pi = place(&h, "11", Currency::Usd, "25.00").await;
    let mut failed = payment_intent_json(&h.stripe, &pi);
    failed["last_payment_error"] = json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.", "charge": "ch_fail_1"});
    let failure = stripe_message("evt_fail", "payment_intent.payment_failed", &failed);
    for _ in 0..2 {
        let out = h.handler.handle_message(&failure).await.unwrap();
        assert_eq!(
            out.order_to_cash,
            Some(O2cOutcome::FailureRecorded {
                decline_code: "insufficient_funds".into()
            })
        );
    }
    let o = h.platform.order("11");
    assert_eq!(o.status, "payment_failed");
    assert_eq!(
        o.comments
            .iter()
            .filter(|c| c.contains("insufficient_funds"))
            .count(),
        1
    );

    let charge = h.stripe.succeed(&pi);
    for e in succeeded_events(&h, &pi, &charge) {
        h.handler.handle_message(&e).await.unwrap();
    }
    assert_eq!(h.platform.order("11").state, "processing");
    assert_eq!(h.erp.entries().len(), 1);
    // the stale failure delivered again changes nothing
    let late = h.handler.handle_message(&failure).await.unwrap();
    assert!(matches!(late.order_to_cash, Some(O2cOutcome::Skipped(_))));
    assert_eq!(h.platform.order("11").state, "processing");
}

#[tokio::test]
async fn money_that_does_not_add_up_is_dead_lettered_not_invoiced() {
    let h = harness();
    let pi = place(&h, "12", Currency::Usd, "30.00").await;
    h.stripe.succeed(&pi);
    let mut wrong = payment_intent_json(&h.stripe, &pi);
    wrong["amount_received"] = json!(2999);
    let err = h
        .handler
        .handle_message(&stripe_message("evt_w", "payment_intent.succeeded", &wrong))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("needs review"), "{err}");
    assert!(h.platform.invoices().is_empty());
    // a second PaymentIntent succeeding for a linked order is a double charge
    let mut other = payment_intent_json(&h.stripe, &pi);
    other["id"] = json!("pi_other");
    let err = h
        .handler
        .handle_message(&stripe_message("evt_o", "payment_intent.succeeded", &other))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("double charge"), "{err}");
}

#[tokio::test]
async fn outages_are_retryable_and_finish_on_retry() {
    let h = harness();
    let o = order("13", Currency::Gbp, "5.00");
    h.platform.put(o.clone());
    h.stripe.fail_next(vec![StripeApiError::Unavailable {
        status: 503,
        message: "x".into(),
    }]);
    assert!(h
        .handler
        .handle_message(&order_message(&o))
        .await
        .unwrap_err()
        .is_retryable());
    let pi = place(&h, "13", Currency::Gbp, "5.00").await;
    let charge = h.stripe.succeed(&pi);
    h.erp.fail_next(vec![crate::erp::ErpError::Unavailable {
        status: 502,
        message: "x".into(),
    }]);
    let events = succeeded_events(&h, &pi, &charge);
    assert!(h
        .handler
        .handle_message(&events[0])
        .await
        .unwrap_err()
        .is_retryable());
    assert_eq!(
        h.platform.invoices().len(),
        1,
        "invoice done before the ERP failed"
    );
    h.handler.handle_message(&events[0]).await.unwrap();
    assert_eq!(h.platform.invoices().len(), 1);
    assert_eq!(h.erp.entries().len(), 1);
}

#[tokio::test]
async fn payments_for_other_platforms_or_without_order_are_skipped() {
    let h = harness();
    for metadata in [json!({}), json!({"platform": "znode", "order_id": "1"})] {
        let pi = json!({"id": "pi_x", "object": "payment_intent", "amount": 100, "currency": "usd", "status": "succeeded",
            "metadata": metadata, "created": 1, "livemode": false, "latest_charge": "ch_x"});
        h.stripe.fail_next(vec![]);
        let out = h
            .handler
            .handle_message(&stripe_message("evt_x", "payment_intent.succeeded", &pi))
            .await;
        // without metadata the handler asks Stripe, which does not know pi_x: permanent
        match out {
            Ok(o) => assert!(matches!(o.order_to_cash, Some(O2cOutcome::Skipped(_)))),
            Err(e) => assert!(!e.is_retryable(), "{e}"),
        }
    }
    assert!(h.platform.invoices().is_empty());
}

#[tokio::test]
async fn a_customers_orders_carry_one_stripe_customer_and_a_guests_are_matched_by_email() {
    let h = harness();
    let mut first = order("14", Currency::Usd, "8.00");
    first.customer.external_id = Some("77".into());
    let mut second = order("15", Currency::Usd, "9.00");
    second.customer.external_id = Some("77".into());
    let mut guest = order("16", Currency::Usd, "3.00");
    guest.customer.email = Some("Guest@Example.com".into());
    let mut guest_again = order("17", Currency::Usd, "4.00");
    guest_again.customer.email = Some("guest@example.com ".into());
    for o in [&first, &second, &guest, &guest_again] {
        h.platform.put(o.clone());
        h.handler.handle_message(&order_message(o)).await.unwrap();
    }
    let customer_of = |order_id: &str| {
        let pi = h
            .stripe
            .intents()
            .into_iter()
            .find(|p| p.metadata["order_id"] == order_id)
            .unwrap();
        pi.customer.map(|c| c.0).unwrap()
    };
    assert_eq!(customer_of("14"), customer_of("15"));
    assert_eq!(customer_of("16"), customer_of("17"));
    assert_ne!(customer_of("14"), customer_of("16"));
    let all = h.stripe.customers.all();
    assert_eq!(all.len(), 2, "{all:?}");
    let registered = h.stripe.customers.get(&customer_of("14")).unwrap();
    assert_eq!(registered.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(registered.metadata["customer_id"], "77");
    let guest = h.stripe.customers.get(&customer_of("16")).unwrap();
    assert_eq!(guest.email.as_deref(), Some("guest@example.com"));
    assert_eq!(guest.metadata["customer_id"], "guest:guest@example.com");
}

fn charge_json(h: &Harness, pi: &str, charge: &str, captured: bool) -> serde_json::Value {
    let pi_json = payment_intent_json(&h.stripe, pi);
    json!({
        "id": charge, "object": "charge", "amount": pi_json["amount"], "currency": pi_json["currency"],
        "status": "succeeded", "paid": true, "captured": captured,
        "amount_captured": if captured { pi_json["amount"].clone() } else { json!(0) },
        "payment_intent": pi, "metadata": pi_json["metadata"], "created": 1_795_651_200, "livemode": false
    })
}

#[tokio::test]
async fn the_erp_entry_is_dated_by_the_charge_and_the_same_whichever_event_posts_it() {
    let month_later = 1_795_651_200 + 32 * 86_400; // 2026-12-28
    for first in ["payment_intent.succeeded", "charge.succeeded"] {
        let h = harness();
        let pi = place(&h, "21", Currency::Usd, "15.00").await;
        let charge = h.stripe.succeed_at(&pi, month_later);
        let events = succeeded_events(&h, &pi, &charge);
        let (a, b) = if first == "charge.succeeded" {
            (&events[1], &events[0])
        } else {
            (&events[0], &events[1])
        };
        // the first event posts, then its completion record is lost (a crash)
        h.handler.handle_message(a).await.unwrap();
        h.store_forget("o2c/magento/default/21/erp-payment");
        // the other event repeats the step: same key, same body, no 409
        h.handler.handle_message(b).await.unwrap();
        let entries = h.erp.entries();
        assert_eq!(entries.len(), 1, "{first}");
        assert_eq!(entries[0].date(), "2026-12-28", "{first}");
        assert_eq!(entries[0].references()["charge"], charge);
    }
}

#[tokio::test]
async fn an_authorization_invoices_nothing_until_it_is_captured() {
    let h = harness();
    let pi = place(&h, "22", Currency::Usd, "9.00").await;
    let charge = h.stripe.succeed(&pi);
    let authorized = stripe_message(
        "evt_auth",
        "charge.succeeded",
        &charge_json(&h, &pi, &charge, false),
    );
    let out = h.handler.handle_message(&authorized).await.unwrap();
    assert_eq!(out.order_to_cash, None);
    assert!(h.platform.invoices().is_empty() && h.erp.entries().is_empty());
    let captured = stripe_message(
        "evt_cap",
        "charge.captured",
        &charge_json(&h, &pi, &charge, true),
    );
    let out = h.handler.handle_message(&captured).await.unwrap();
    assert!(
        matches!(out.order_to_cash, Some(O2cOutcome::Paid { .. })),
        "{out:?}"
    );
    assert_eq!((h.platform.invoices().len(), h.erp.entries().len()), (1, 1));
}

#[tokio::test]
async fn a_second_charge_for_a_paid_order_is_a_double_payment_for_review() {
    let h = harness();
    let pi = place(&h, "23", Currency::Usd, "5.00").await;
    let charge = h.stripe.succeed(&pi);
    for e in succeeded_events(&h, &pi, &charge) {
        h.handler.handle_message(&e).await.unwrap();
    }
    // the same PaymentIntent cannot succeed twice, but another charge naming the order can arrive
    let mut other = charge_json(&h, &pi, "ch_other", true);
    other["id"] = json!("ch_other");
    let err = h
        .handler
        .handle_message(&stripe_message("evt_other", "charge.succeeded", &other))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("double payment"), "{err}");
    assert_eq!((h.platform.invoices().len(), h.erp.entries().len()), (1, 1));
}

#[tokio::test]
async fn an_order_paid_some_other_way_is_not_invoiced_again() {
    let h = harness();
    let pi = place(&h, "24", Currency::Usd, "5.00").await;
    let mut o = h.platform.order("24");
    o.payment_state = PaymentState::Paid;
    h.platform.put(o);
    let charge = h.stripe.succeed(&pi);
    let err = h
        .handler
        .handle_message(&succeeded_events(&h, &pi, &charge)[0])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("double payment"), "{err}");
    assert!(h.erp.entries().is_empty());
}

#[tokio::test]
async fn orders_paid_another_way_are_left_alone() {
    let h = harness();
    for method in [Some("checkmo"), Some("banktransfer"), None] {
        let mut o = order("25", Currency::Usd, "5.00");
        o.payment.method = method.map(str::to_string);
        h.platform.put(o.clone());
        let out = h.handler.handle_message(&order_message(&o)).await.unwrap();
        assert_eq!(
            out.order_to_cash,
            Some(O2cOutcome::Skipped("payment method not collected by Tally"))
        );
    }
    assert_eq!(h.stripe.created(), 0);
}

#[tokio::test]
async fn a_payment_intent_naming_no_platform_is_not_taken_for_an_order() {
    let h = harness();
    let o = order("26", Currency::Usd, "5.00");
    h.platform.put(o.clone());
    // another integration's PaymentIntent that happens to carry an order_id
    let foreign = json!({"id": "pi_f", "object": "payment_intent", "amount": 500, "currency": "usd",
        "status": "succeeded", "metadata": {"order_id": "26"}, "created": 1, "livemode": false, "latest_charge": "ch_f"});
    let out = h
        .handler
        .handle_message(&stripe_message(
            "evt_f",
            "payment_intent.succeeded",
            &foreign,
        ))
        .await
        .unwrap();
    assert_eq!(
        out.order_to_cash,
        Some(O2cOutcome::Skipped("not an order of this platform"))
    );
    assert!(h.platform.invoices().is_empty());
}

#[tokio::test]
async fn an_event_of_the_other_mode_is_refused() {
    let h = harness();
    h.stripe.set_key_livemode(Some(true));
    let pi = json!({"id": "pi_m", "object": "payment_intent", "metadata": {}});
    let err = h
        .handler
        .handle_message(&stripe_message("evt_m", "payment_intent.succeeded", &pi))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("livemode"), "{err}");
    assert!(
        h.journal.events().is_empty(),
        "nothing is recorded for a refused event"
    );
}

#[tokio::test]
async fn a_redrive_after_stripe_forgot_the_key_finds_the_payment_intent_first() {
    let h = harness();
    let mut o = order("27", Currency::Usd, "5.00");
    o.created_at = "2026-11-24 09:00:00".into(); // two days before the handler's clock
    h.platform.put(o.clone());
    // the first attempt created the PaymentIntent, then lost its link write
    h.state.fail_links(true);
    assert!(h.handler.handle_message(&order_message(&o)).await.is_err());
    h.state.fail_links(false);
    assert_eq!(h.stripe.created(), 1);
    h.stripe.forget_idempotency_keys();
    h.handler.handle_message(&order_message(&o)).await.unwrap();
    assert_eq!(h.stripe.created(), 1, "found by metadata, not made again");
    assert_eq!(h.stripe.searches(), 2);
}

#[tokio::test]
async fn each_order_goes_to_its_own_platform_and_a_disabled_one_is_a_clear_reason() {
    use crate::commerce::{OrderRef, Platforms};
    use crate::memory::MemoryPlatform;
    use std::sync::Arc;
    let h = harness();
    let znode = MemoryPlatform::named("znode", "1");
    let mut o2c_platforms: Vec<Arc<dyn crate::commerce::CommercePlatform>> =
        vec![h.platform.clone(), znode.clone()];
    // the harness's flow, serving both platforms
    let o2c = crate::flows::order_to_cash::OrderToCash {
        platforms: Platforms::new(o2c_platforms.drain(..)),
        stripe: h.stripe.clone(),
        erp: h.erp.clone(),
        links: h.state.clone(),
        customers: h.handler.order_to_cash.customers.clone(),
        store: h.store.clone(),
        clock: Arc::new(crate::clock::ManualClock::at_secs(1_795_651_200)),
        settings: h.handler.order_to_cash.settings.clone(),
    };
    let mut z = order("77", Currency::Eur, "30.00");
    z.reference = OrderRef {
        platform: "znode".into(),
        store: "1".into(),
        order_id: "77".into(),
    };
    znode.put(z.clone());
    let m = order("77", Currency::Eur, "30.00");
    h.platform.put(m.clone());
    for o in [&z, &m] {
        let O2cOutcome::PaymentIntentLinked { payment_intent, .. } =
            o2c.on_order_created(o).await.unwrap()
        else {
            panic!()
        };
        let pi = h
            .stripe
            .intents()
            .into_iter()
            .find(|p| p.id == payment_intent)
            .unwrap();
        assert_eq!(pi.metadata["platform"], o.reference.platform);
        let charge = h.stripe.succeed(&payment_intent);
        let event = crate::flows::order_to_cash::PaymentEvent::from_stripe(
            "evt",
            "payment_intent.succeeded",
            stripe_event_body(&payment_intent_json(&h.stripe, &payment_intent)).as_bytes(),
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(
                o2c.on_payment_event(&event).await.unwrap(),
                O2cOutcome::Paid { .. }
            ),
            "{charge}"
        );
    }
    assert_eq!(
        (znode.invoices().len(), h.platform.invoices().len()),
        (1, 1),
        "one payment on each platform"
    );

    // a platform this deployment does not serve
    let mut k = order("5", Currency::Eur, "1.00");
    k.reference = OrderRef {
        platform: "kentico".into(),
        store: "main".into(),
        order_id: "5".into(),
    };
    let err = o2c.on_order_created(&k).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("kentico store main is not enabled")
            && err.to_string().contains("znode/1"),
        "{err}"
    );
}

fn stripe_event_body(object: &serde_json::Value) -> String {
    json!({"id": "evt", "object": "event", "type": "payment_intent.succeeded", "created": 1, "livemode": false,
           "data": {"object": object}})
    .to_string()
}
