//! Order tasks from a Kentico integration-bus connector, as a `WebhookSource`.
//! Kentico 13 sends no webhooks of its own; a merchant who wants orders to
//! reach Tally at once adds a connector (README, "Kentico") that posts each
//! `ecommerce.order` task to this endpoint under Tally's contract:
//!
//! - body: `{"TaskType": "CreateObject"|"UpdateObject", "ObjectType": "ecommerce.order", "ObjectID": 123}`
//! - header `X-Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`
//!   with a shared secret (Stripe's scheme: several `v1` while rotating), within 5 minutes.
//!
//! Even signed, the body is a hint: it names an order, which the handler re-reads
//! through the REST service before anything changes.

use serde_json::Value;

use crate::commerce::amounts::id_text;
use crate::commerce::{CustomerRef, OrderRef};
use crate::flows::customers::customer_changed_message;
use crate::flows::payments::order_changed_message;
use crate::webhook::tally_signed::{self, SigningSecrets};
use crate::webhook::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource,
};

pub struct KenticoWebhook {
    /// The site this deployment serves (the store in order refs).
    pub site: String,
}

impl WebhookSource for KenticoWebhook {
    type Keys = SigningSecrets;

    fn name(&self) -> &'static str {
        "kentico"
    }

    fn verify<'a>(
        &self,
        keys: &SigningSecrets,
        request: &WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        tally_signed::verify(keys, request, now_secs)
    }

    fn inbound(&self, verified: Verified<'_>, received_at_ms: i64) -> Result<Inbound, String> {
        let task: Value =
            serde_json::from_slice(verified.body()).map_err(|e| format!("not a JSON task: {e}"))?;
        let object_type = task
            .get("ObjectType")
            .and_then(Value::as_str)
            .ok_or("the task names no ObjectType")?;
        let task_type = task
            .get("TaskType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let order_id = task
            .get("ObjectID")
            .and_then(id_text)
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or("the task names no ObjectID")?;
        let event_id = format!("kentico/{}/{order_id}/{task_type}", self.site);
        if object_type.eq_ignore_ascii_case(super::CUSTOMER_OBJECT)
            && !task_type.eq_ignore_ascii_case("DeleteObject")
        {
            let customer = CustomerRef {
                platform: super::PLATFORM.into(),
                store: self.site.clone(),
                customer_id: order_id,
            };
            let message =
                customer_changed_message(&customer, &received_at_ms.to_string(), received_at_ms)
                    .map_err(|e| e.to_string())?;
            return Ok(Inbound::Enqueue {
                flow: crate::routing::Flow::Payments,
                message,
            });
        }
        if !object_type.eq_ignore_ascii_case(super::ORDER_OBJECT) {
            return Ok(Inbound::Ignore {
                event_id,
                event_type: object_type.to_string(),
                reason: "not an ecommerce.order or ecommerce.customer task",
            });
        }
        if task_type.eq_ignore_ascii_case("DeleteObject") {
            return Ok(Inbound::Ignore {
                event_id,
                event_type: task_type.to_string(),
                reason: "a deleted order is not collected",
            });
        }
        let reference = OrderRef {
            platform: super::PLATFORM.into(),
            store: self.site.clone(),
            order_id,
        };
        let message =
            order_changed_message(&reference, &received_at_ms.to_string(), received_at_ms)
                .map_err(|e| e.to_string())?;
        Ok(Inbound::Enqueue {
            flow: crate::routing::Flow::Payments,
            message,
        })
    }

    fn acknowledge(&self, outcome: &Outcome) -> Reply {
        // on a 5xx the connector's task stays queued in Kentico and is sent again
        tally_signed::acknowledge(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryQueue, MemorySecret};
    use crate::message::QueueEnvelope;
    use crate::ports::Queue;
    use crate::routing::Flow;
    use crate::secrets::CachedSecret;
    use crate::secrets::SecretString;
    use crate::stripe::signature::sign;
    use crate::webhook::tally_signed::SIGNATURE_HEADER;
    use crate::webhook::WebhookReceiver;

    const NOW: i64 = 1_795_651_200;

    fn receiver() -> (WebhookReceiver<KenticoWebhook>, Arc<MemoryQueue>) {
        let queue = MemoryQueue::new("payments");
        let r = WebhookReceiver::new(
            KenticoWebhook {
                site: "DancingGoat".into(),
            },
            CachedSecret::new(
                Box::new(MemorySecret::new(
                    "kentico-webhook",
                    r#"{"signing_secrets":["old-secret","s3cret-value"]}"#,
                )),
                Duration::from_secs(300),
                Duration::from_secs(0),
            ),
            HashMap::from([(Flow::Payments, queue.clone() as Arc<dyn Queue>)]),
            Arc::new(ManualClock::at_secs(NOW)),
        );
        (r, queue)
    }

    async fn post(r: &WebhookReceiver<KenticoWebhook>, header: Option<&str>, body: &str) -> Reply {
        let headers: Vec<(&str, &str)> =
            header.map(|h| (SIGNATURE_HEADER, h)).into_iter().collect();
        r.receive(WebhookRequest {
            method: "POST",
            headers: &headers,
            query: "",
            body: body.as_bytes(),
        })
        .await
    }

    fn signed(secret: &str, at: i64, body: &str) -> String {
        sign(&SecretString::new(secret), at, body.as_bytes())
    }

    #[tokio::test]
    async fn a_signed_order_task_becomes_a_hint_to_reread_the_order() {
        let (r, queue) = receiver();
        let body = r#"{"TaskType":"CreateObject","ObjectType":"ecommerce.order","ObjectID":12,"OrderGrandTotal":"0.01"}"#;
        let reply = post(&r, Some(&signed("s3cret-value", NOW, body)), body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            post(&r, Some(&signed("old-secret", NOW - 200, body)), body)
                .await
                .status,
            200
        );
        let sent = queue.messages();
        assert_eq!(sent.len(), 2);
        let hint = QueueEnvelope::parse(&sent[0].body).unwrap();
        assert_eq!(hint.event_type, "order.changed");
        let named: OrderRef = serde_json::from_str(hint.event.get()).unwrap();
        assert_eq!(named.key(), "kentico/DancingGoat/12");
        assert!(
            !sent[0].body.contains("0.01"),
            "only the order id is carried"
        );
    }

    #[tokio::test]
    async fn unsigned_stale_tampered_or_unreadable_tasks_are_400_and_enqueue_nothing() {
        let (r, queue) = receiver();
        let body = r#"{"TaskType":"UpdateObject","ObjectType":"ecommerce.order","ObjectID":"12"}"#;
        assert_eq!(post(&r, None, body).await.status, 400);
        let stale = post(&r, Some(&signed("s3cret-value", NOW - 301, body)), body).await;
        assert_eq!(stale.status, 400);
        assert!(stale.body.contains("tolerance"), "{}", stale.body);
        let wrong = post(&r, Some(&signed("wrong", NOW, body)), body).await;
        assert_eq!(wrong.status, 400);
        assert!(!wrong.body.contains("s3cret"));
        let tampered = body.replace("12", "13");
        assert_eq!(
            post(&r, Some(&signed("s3cret-value", NOW, body)), &tampered)
                .await
                .status,
            400
        );
        for bad in [
            r#"{"ObjectType":"ecommerce.order"}"#,
            r#"{"ObjectType":"ecommerce.order","ObjectID":"1 OR 1=1"}"#,
            "not json",
        ] {
            let reply = post(&r, Some(&signed("s3cret-value", NOW, bad)), bad).await;
            assert_eq!(reply.status, 400, "{bad}");
        }
        assert!(queue.messages().is_empty());
        // other object types and deletions are acknowledged, not enqueued
        for other in [
            r#"{"TaskType":"UpdateObject","ObjectType":"cms.user","ObjectID":4}"#,
            r#"{"TaskType":"DeleteObject","ObjectType":"ecommerce.order","ObjectID":4}"#,
            r#"{"TaskType":"DeleteObject","ObjectType":"ecommerce.customer","ObjectID":4}"#,
        ] {
            let reply = post(&r, Some(&signed("s3cret-value", NOW, other)), other).await;
            assert_eq!(reply.status, 200);
        }
        assert!(queue.messages().is_empty());
        // a customer saved is a hint naming the customer
        let saved = r#"{"TaskType":"UpdateObject","ObjectType":"ecommerce.customer","ObjectID":4}"#;
        let reply = post(&r, Some(&signed("s3cret-value", NOW, saved)), saved).await;
        assert_eq!(reply.status, 200);
        let sent = queue.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attribute("event_type"), Some("customer.changed"));
        assert!(sent[0].body.contains(r#""customer_id":"4""#));
    }
}
