//! Every typed Stripe object parses Stripe's own published fixture of it
//! (`../shared/stripe/fixtures3.json`, from stripe/openapi), wrapped in an
//! event the way webhooks deliver it; unknown fields are tolerated.

use std::path::PathBuf;

use serde_json::{json, Value};
use tally_core::money::Currency;
use tally_core::stripe::objects::*;
use tally_core::stripe::EventEnvelope;

fn fixtures() -> Value {
    let path = std::env::var_os("TALLY_STRIPE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stripe/fixtures3.json")
        });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {} (set TALLY_STRIPE_FIXTURES): {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures3.json is JSON")
}

fn resource(name: &str) -> Value {
    fixtures()["resources"][name].clone()
}

/// Wraps an object in the event envelope Stripe's fixture uses, with a new unknown field too.
fn wrap(event_type: &str, object: Value) -> Vec<u8> {
    let mut event = resource("event");
    event["type"] = json!(event_type);
    event["data"] = json!({ "object": object, "previous_attributes": {} });
    event["a_field_from_a_future_api_version"] = json!({"nested": [1, 2]});
    serde_json::to_vec(&event).unwrap()
}

#[test]
fn envelope_parses_the_published_event() {
    let raw = serde_json::to_vec(&resource("event")).unwrap();
    let envelope = EventEnvelope::parse(&raw).unwrap();
    assert_eq!(envelope.id, "evt_1Pgc76B7WZ01zgkWwyRHS12y");
    assert_eq!(envelope.event_type, "plan.created");
    assert_eq!(envelope.object_type(), "plan");
    assert_eq!(envelope.created, 1234567890);
    assert!(!envelope.livemode);
    assert_eq!(envelope.api_version, None);
}

#[test]
fn payment_intent() {
    let fixture = resource("payment_intent");
    let e =
        parse_event::<PaymentIntent>(&wrap("payment_intent.succeeded", fixture.clone())).unwrap();
    let pi = e.data.object;
    assert_eq!(pi.id, fixture["id"].as_str().unwrap());
    assert_eq!(pi.amount.get(), fixture["amount"].as_i64().unwrap());
    assert_eq!(pi.currency, Currency::Usd);
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(
        pi.last_payment_error.unwrap().error_type,
        "idempotency_error"
    );
    assert_eq!(e.event_type, "payment_intent.succeeded");
}

#[test]
fn charge() {
    let fixture = resource("charge");
    let ch = parse_event::<Charge>(&wrap("charge.succeeded", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(ch.id, fixture["id"].as_str().unwrap());
    assert_eq!(ch.amount.get(), 100);
    assert_eq!(ch.status, ChargeStatus::Succeeded);
    assert!(ch.paid);
    assert_eq!(
        ch.balance_transaction.unwrap().as_str(),
        fixture["balance_transaction"].as_str().unwrap()
    );
}

#[test]
fn refund() {
    let fixture = resource("refund");
    let re = parse_event::<Refund>(&wrap("refund.created", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(re.id, fixture["id"].as_str().unwrap());
    assert_eq!(
        re.charge.unwrap().as_str(),
        fixture["charge"].as_str().unwrap()
    );
    assert_eq!(re.status, Some(RefundStatus::Succeeded));
}

#[test]
fn customer() {
    let fixture = resource("customer");
    let cus = parse_event::<Customer>(&wrap("customer.created", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(cus.id, fixture["id"].as_str().unwrap());
    assert_eq!(cus.email, None);
    assert!(!cus.deleted);
}

#[test]
fn payout() {
    let fixture = resource("payout");
    let po = parse_event::<Payout>(&wrap("payout.paid", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(po.id, fixture["id"].as_str().unwrap());
    assert_eq!(po.amount.get(), 1100);
    assert_eq!(po.status, PayoutStatus::InTransit);
    assert_eq!(po.reconciliation_status.as_deref(), Some("completed"));
}

#[test]
fn balance_transaction() {
    let fixture = resource("balance_transaction");
    let txn = parse_event::<BalanceTransaction>(&wrap("balance.available", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(txn.id, fixture["id"].as_str().unwrap());
    assert_eq!(txn.transaction_type, "charge");
    assert_eq!(txn.net.get(), txn.amount.get() - txn.fee.get());
    assert_eq!(
        txn.source.unwrap().as_str(),
        fixture["source"].as_str().unwrap()
    );
}

#[test]
fn dispute() {
    let fixture = resource("dispute");
    let dp = parse_event::<Dispute>(&wrap("charge.dispute.created", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(dp.id, fixture["id"].as_str().unwrap());
    assert_eq!(dp.charge.as_str(), fixture["charge"].as_str().unwrap());
    assert_eq!(dp.status, "warning_needs_response");
}

#[test]
fn invoice() {
    let fixture = resource("invoice");
    let inv = parse_event::<Invoice>(&wrap("invoice.paid", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(inv.id, fixture["id"].as_str().unwrap());
    assert_eq!(inv.amount_due.get(), 1000);
    assert_eq!(
        inv.customer.unwrap().as_str(),
        fixture["customer"].as_str().unwrap()
    );
}

#[test]
fn subscription() {
    let fixture = resource("subscription");
    let sub = parse_event::<Subscription>(&wrap("customer.subscription.updated", fixture.clone()))
        .unwrap()
        .data
        .object;
    assert_eq!(sub.id, fixture["id"].as_str().unwrap());
    assert_eq!(sub.status, "active");
    assert!(sub.cancel_at_period_end);
}

#[test]
fn expanded_references_and_unknown_enum_values_are_accepted() {
    let mut fixture = resource("payment_intent");
    fixture["customer"] = resource("customer");
    fixture["status"] = json!("a_status_stripe_adds_later");
    let pi = parse_event::<PaymentIntent>(&wrap("payment_intent.created", fixture))
        .unwrap()
        .data
        .object;
    assert_eq!(pi.customer.unwrap().as_str(), "cus_QXg1o8vcGmoR32");
    assert_eq!(pi.status, PaymentIntentStatus::Other);
}

#[test]
fn broken_variants_give_clear_errors() {
    // the wrong object for the flow
    let err = parse_event::<Refund>(&wrap("refund.created", resource("charge"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"event data.object is a "charge", expected a "refund""#
    );

    // a required field missing
    let mut no_amount = resource("payment_intent");
    no_amount.as_object_mut().unwrap().remove("amount");
    let err =
        parse_event::<PaymentIntent>(&wrap("payment_intent.succeeded", no_amount)).unwrap_err();
    assert!(err.to_string().contains("missing field `amount`"), "{err}");

    // an amount that is not an integer of minor units
    let mut float_amount = resource("charge");
    float_amount["amount"] = json!(10.5);
    let err = parse_event::<Charge>(&wrap("charge.succeeded", float_amount)).unwrap_err();
    assert!(err.to_string().contains("not a valid charge"), "{err}");

    // an unknown currency
    let mut odd_currency = resource("refund");
    odd_currency["currency"] = json!("zzz");
    let err = parse_event::<Refund>(&wrap("refund.created", odd_currency)).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown or unsupported currency code \"zzz\""),
        "{err}"
    );

    // an envelope without a type
    let mut event = resource("event");
    event.as_object_mut().unwrap().remove("type");
    let err = EventEnvelope::parse(&serde_json::to_vec(&event).unwrap()).unwrap_err();
    assert!(err.to_string().contains("missing field `type`"), "{err}");

    // not an event at all
    let err = EventEnvelope::parse(&serde_json::to_vec(&resource("charge")).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("body is not a Stripe event"),
        "{err}"
    );
}
