//! The Stripe source through the generic receiver, with in-memory queues.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::memory::{MemoryQueue, MemorySecret};
use crate::ports::Queue;
use crate::routing::Flow;
use crate::secrets::CachedSecret;
use crate::stripe::signature::sign;
use crate::webhook::{WebhookReceiver, MAX_BODY_BYTES};

const NOW: i64 = 1_750_000_000;

struct Fixture {
    receiver: WebhookReceiver<StripeWebhook>,
    secret: MemorySecret,
    payments: Arc<MemoryQueue>,
}

fn fixture() -> Fixture {
    let secret = MemorySecret::new(
        "stripe-webhook",
        r#"{"webhook_signing_secrets":["whsec_old","whsec_new"]}"#,
    );
    let payments = MemoryQueue::new("payments");
    let queues: HashMap<Flow, Arc<dyn Queue>> =
        [(Flow::Payments, payments.clone() as Arc<dyn Queue>)].into();
    let receiver = WebhookReceiver::new(
        StripeWebhook {
            tolerance_secs: 300,
        },
        CachedSecret::new(
            Box::new(secret.clone()),
            Duration::from_secs(300),
            Duration::from_secs(30),
        ),
        queues,
        Arc::new(ManualClock::at_secs(NOW)),
    );
    Fixture {
        receiver,
        secret,
        payments,
    }
}

fn event(id: &str, event_type: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","object":"event","type":"{event_type}","created":{NOW},"livemode":false,"api_version":"2024-06-20","data":{{"object":{{"id":"pi_1","object":"payment_intent","amount":1099,"description":"caf\u00e9 \"quoted\""}}}}}}"#
    )
    .into_bytes()
}

async fn post(f: &Fixture, header: Option<&str>, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = header
        .map(|h| ("Stripe-Signature", h))
        .into_iter()
        .collect();
    f.receiver
        .receive(WebhookRequest {
            method: "POST",
            headers: &headers,
            query: "",
            body,
        })
        .await
}

fn signed(secret: &str, body: &[u8]) -> String {
    sign(&SecretString::new(secret), NOW, body)
}

#[tokio::test]
async fn a_signed_event_is_enqueued_verbatim_on_its_flow_with_attributes() {
    let f = fixture();
    let body = event("evt_1", "payment_intent.succeeded");
    let reply = post(&f, Some(&signed("whsec_new", &body)), &body).await;
    assert_eq!(reply, Reply::json(200, json!({"received": true})));
    let sent = f.payments.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attribute("event_id"), Some("evt_1"));
    assert_eq!(
        sent[0].attribute("event_type"),
        Some("payment_intent.succeeded")
    );
    let parsed = QueueEnvelope::parse(&sent[0].body).unwrap();
    assert_eq!(
        (parsed.source.as_str(), parsed.received_at_ms),
        ("stripe", NOW * 1000)
    );
    assert_eq!(
        parsed.event.get().as_bytes(),
        &body[..],
        "the verified bytes, unescaped"
    );
}

#[tokio::test]
async fn types_without_a_consumer_are_acknowledged_counted_and_not_enqueued() {
    let f = fixture();
    // customers, payouts and disputes get routes with their consumers
    for t in [
        "plan.created",
        "charge.dispute.created",
        "invoice.paid",
        "payout.paid",
    ] {
        let body = event("evt_2", t);
        let reply = post(&f, Some(&signed("whsec_old", &body)), &body).await;
        assert_eq!(reply.status, 200, "{t}");
    }
    assert!(f.payments.messages().is_empty());
    assert_eq!(f.receiver.ignored(), 4);
}

#[tokio::test]
async fn every_refusal_has_its_status_and_enqueues_nothing() {
    let f = fixture();
    let body = event("evt_3", "payment_intent.succeeded");
    let good = signed("whsec_new", &body);
    let get = f
        .receiver
        .receive(WebhookRequest {
            method: "GET",
            headers: &[("Stripe-Signature", good.as_str())],
            query: "",
            body: &body,
        })
        .await;
    assert_eq!(get.status, 405);
    assert_eq!(post(&f, None, &body).await.status, 400);
    assert_eq!(post(&f, Some("garbage"), &body).await.status, 400);
    assert_eq!(
        post(&f, Some(&good), b"{\"id\":\"evt_3\"}").await.status,
        400
    );
    assert_eq!(
        post(&f, Some(&signed("whsec_other", &body)), &body)
            .await
            .status,
        400
    );
    let stale = sign(&SecretString::new("whsec_new"), NOW - 301, &body);
    assert_eq!(post(&f, Some(&stale), &body).await.status, 400);
    assert_eq!(
        post(&f, Some(&good), &vec![b' '; MAX_BODY_BYTES + 1])
            .await
            .status,
        413
    );
    for bad in [
        &b"not json"[..],
        br#"{"id":"pi_1","object":"payment_intent","type":"x","created":1,"livemode":false,"data":{"object":{"object":"x"}}}"#,
        br#"{"id":"evt_9","object":"event","type":"payment_intent.succeeded","data":{}} trailing"#,
        b"{\"id\":\"evt_9\",\"type\":\"payment_intent.succeeded\",\"data\":{\"x\":\"\xff\"}}",
    ] {
        assert_eq!(post(&f, Some(&signed("whsec_new", bad)), bad).await.status, 400);
    }
    assert!(f.payments.messages().is_empty());
}

#[tokio::test]
async fn our_failures_are_500s_with_no_internal_text() {
    let f = fixture();
    f.payments.fail(true);
    let body = event("evt_4", "charge.succeeded");
    let reply = post(&f, Some(&signed("whsec_new", &body)), &body).await;
    assert_eq!(reply.status, 500, "Stripe retries");
    assert!(
        !reply.body.contains("payments") && !reply.body.contains("simulated"),
        "{}",
        reply.body
    );
    assert_eq!(f.receiver.enqueue_failures(), 1);

    let cold = fixture();
    cold.secret.fail(true);
    let reply = post(&cold, Some(&signed("whsec_new", &body)), &body).await;
    assert_eq!(reply.status, 500);
    assert!(
        !reply.body.contains("stripe-webhook"),
        "no secret id: {}",
        reply.body
    );
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_on_mismatch() {
    let f = fixture();
    let body = event("evt_5", "payment_intent.succeeded");
    assert_eq!(
        post(&f, Some(&signed("whsec_new", &body)), &body)
            .await
            .status,
        200
    );
    f.secret
        .set(r#"{"webhook_signing_secrets":["whsec_rotated"]}"#);
    assert_eq!(
        post(&f, Some(&signed("whsec_rotated", &body)), &body)
            .await
            .status,
        200
    );
    assert_eq!(f.secret.fetches(), 2);
}

#[tokio::test]
async fn responses_never_echo_secrets_or_headers() {
    let f = fixture();
    let body = event("evt_7", "payment_intent.succeeded");
    let wrong = signed("whsec_other", &body);
    let reply = post(&f, Some(&wrong), &body).await;
    let text = format!("{} {reply:?}", reply.body);
    for leak in ["whsec_old", "whsec_new", &wrong] {
        assert!(!text.contains(leak), "{text}");
    }
}

#[test]
fn routing_fields_read_the_same_on_the_shortcut_and_the_full_parse() {
    let pretty = br#"{
  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  "object": "event",
  "api_version": "2024-06-20",
  "created": 1686089970,
  "data": {"object": {"id": "pi_1", "object": "payment_intent", "type": "card", "metadata": {"type": "x"}}},
  "livemode": false,
  "pending_webhooks": 0,
  "request": {"id": null, "idempotency_key": null},
  "type": "payment_intent.succeeded"
}
"#;
    let text = std::str::from_utf8(pretty).unwrap();
    assert_eq!(
        canonical_routing_fields(text),
        Some(("evt_1NG8Du2eZvKYlo2CUI79vXWy", "payment_intent.succeeded"))
    );
    let (id, t) = parsed_routing_fields(text).unwrap();
    assert_eq!(
        (id.as_str(), t.as_str()),
        ("evt_1NG8Du2eZvKYlo2CUI79vXWy", "payment_intent.succeeded")
    );
    // any other layout takes the full parse, which finds the same fields
    for other in [
        r#"{"type":"charge.succeeded","object":"event","id":"evt_2","data":{}}"#,
        r#"{"id":"evt_2","object":"event","data":{"object":{"type":"nested"}},"type":"charge.succeeded","livemode":false}"#,
        r#"{"id":"evt_\u0032","object":"event","data":{},"type":"charge.succeeded"}"#,
        r#"{"id":"evt_2","object":"event","data":{"x":{"type":"nested"}}}"#,
    ] {
        assert_eq!(canonical_routing_fields(other), None, "{other}");
    }
    assert_eq!(
        parsed_routing_fields(r#"{"id":"evt_2","object":"event","data":{"object":{"type":"nested"}},"type":"charge.succeeded","livemode":false}"#).unwrap().1,
        "charge.succeeded"
    );
    assert!(parsed_routing_fields(
        r#"{"id":"evt_2","object":"event","data":{"x":{"type":"nested"}}}"#
    )
    .is_err());
    // not an event on either path
    assert_eq!(
        canonical_routing_fields(r#"{"id":"pi_1","object":"payment_intent","data":{},"type":"x"}"#),
        None
    );
}

#[test]
fn every_published_stripe_event_fixture_reads_the_same_both_ways() {
    let path = std::env::var("TALLY_STRIPE_FIXTURES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/stripe/fixtures3.json"
        )
        .into()
    });
    let Ok(raw) = std::fs::read_to_string(&path) else {
        panic!("Stripe's fixtures are expected at {path}");
    };
    let all: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut checked = 0;
    for (_, fixture) in all["resources"].as_object().unwrap() {
        if fixture["object"] != "event" {
            continue;
        }
        // laid out in Stripe's wire order (the fixtures file sorts keys)
        let order = [
            "id",
            "object",
            "api_version",
            "created",
            "data",
            "livemode",
            "pending_webhooks",
            "request",
            "type",
        ];
        let members: Vec<String> = order
            .iter()
            .filter(|k| fixture.get(**k).is_some())
            .map(|k| {
                format!(
                    "\"{k}\": {}",
                    serde_json::to_string_pretty(&fixture[*k]).unwrap()
                )
            })
            .collect();
        let text = format!("{{\n  {}\n}}\n", members.join(",\n  "));
        let parsed = parsed_routing_fields(&text).unwrap();
        assert_eq!(
            canonical_routing_fields(&text),
            Some((parsed.0.as_str(), parsed.1.as_str())),
            "{text}"
        );
        checked += 1;
    }
    assert!(checked > 0);
}
