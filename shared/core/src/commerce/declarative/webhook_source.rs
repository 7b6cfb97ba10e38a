//! A declarative platform's webhook under Tally's contract, for platforms
//! that can call a URL: the body is JSON naming an order where the mapping's
//! `webhook.order_id` points, and the header
//! `X-Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`
//! signs it with a shared secret (several `v1` while rotating), within 5
//! minutes. Even signed, the body is a hint: the handler re-reads the order.

use serde_json::Value;

use super::mapping::WebhookMapping;
use crate::commerce::amounts::id_text;
use crate::commerce::{CustomerRef, OrderRef};
use crate::flows::customers::customer_changed_message;
use crate::flows::payments::order_changed_message;
use crate::webhook::tally_signed::{self, SigningSecrets};
use crate::webhook::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource,
};

/// An id Tally can carry in keys: short, no path separators or control characters.
fn plain_id(id: &str) -> bool {
    id.len() <= 128 && !id.contains(['/', '\\']) && !id.chars().any(char::is_control)
}

pub struct RestWebhook {
    /// The platform's name in order refs (made `'static` once per container).
    pub platform: &'static str,
    pub store: String,
    pub mapping: WebhookMapping,
}

impl WebhookSource for RestWebhook {
    type Keys = SigningSecrets;

    fn name(&self) -> &'static str {
        self.platform
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
        let body: Value =
            serde_json::from_slice(verified.body()).map_err(|e| format!("not JSON: {e}"))?;
        let event_type = match &self.mapping.event_type {
            Some(p) => body
                .pointer(p)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the body has no event type at {p}"))?
                .to_string(),
            None => "order".to_string(),
        };
        if let Some(pointer) = &self.mapping.customer_id {
            if self.mapping.customer_events.contains(&event_type) {
                let customer_id = body
                    .pointer(pointer)
                    .and_then(id_text)
                    .filter(|id| plain_id(id))
                    .ok_or_else(|| format!("the body names no customer at {pointer}"))?;
                let customer = CustomerRef {
                    platform: self.platform.to_string(),
                    store: self.store.clone(),
                    customer_id,
                };
                let message = customer_changed_message(
                    &customer,
                    &received_at_ms.to_string(),
                    received_at_ms,
                )
                .map_err(|e| e.to_string())?;
                return Ok(Inbound::Enqueue {
                    flow: crate::routing::Flow::Payments,
                    message,
                });
            }
        }
        let order_id = body
            .pointer(&self.mapping.order_id)
            .and_then(id_text)
            .filter(|id| plain_id(id));
        if self.mapping.event_type.is_some() && !self.mapping.order_events.contains(&event_type) {
            return Ok(Inbound::Ignore {
                event_id: format!("{}/{}", self.platform, order_id.unwrap_or_default()),
                event_type,
                reason: "not an order event",
            });
        }
        let order_id = order_id
            .ok_or_else(|| format!("the body names no order at {}", self.mapping.order_id))?;
        let reference = OrderRef {
            platform: self.platform.to_string(),
            store: self.store.clone(),
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
        // a 5xx: the platform's delivery is retried
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

    fn receiver() -> (WebhookReceiver<RestWebhook>, Arc<MemoryQueue>) {
        let queue = MemoryQueue::new("payments");
        let r = WebhookReceiver::new(
            RestWebhook {
                platform: "clarity",
                store: "default".into(),
                mapping: WebhookMapping {
                    order_id: "/data/orderId".into(),
                    event_type: Some("/event".into()),
                    order_events: vec!["order.created".into(), "order.updated".into()],
                    customer_id: Some("/data/customerId".into()),
                    customer_events: vec!["customer.updated".into()],
                },
            },
            CachedSecret::new(
                Box::new(MemorySecret::new(
                    "clarity-webhook",
                    r#"{"signing_secrets":["s3cret-value"]}"#,
                )),
                Duration::from_secs(300),
                Duration::from_secs(0),
            ),
            HashMap::from([(Flow::Payments, queue.clone() as Arc<dyn Queue>)]),
            Arc::new(ManualClock::at_secs(NOW)),
        );
        (r, queue)
    }

    async fn post(r: &WebhookReceiver<RestWebhook>, secret: Option<&str>, body: &str) -> Reply {
        let header = secret.map(|s| sign(&SecretString::new(s), NOW, body.as_bytes()));
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| (SIGNATURE_HEADER, h))
            .into_iter()
            .collect();
        r.receive(WebhookRequest {
            method: "POST",
            headers: &headers,
            query: "",
            body: body.as_bytes(),
        })
        .await
    }

    #[tokio::test]
    async fn a_signed_order_event_is_a_hint_and_anything_else_enqueues_nothing() {
        let (r, queue) = receiver();
        let body = r#"{"event":"order.created","data":{"orderId":"CL-1001","total":"0.01"}}"#;
        assert_eq!(post(&r, Some("s3cret-value"), body).await.status, 200);
        let sent = queue.messages();
        assert_eq!(sent.len(), 1);
        let hint = QueueEnvelope::parse(&sent[0].body).unwrap();
        let named: OrderRef = serde_json::from_str(hint.event.get()).unwrap();
        assert_eq!(named.key(), "clarity/default/CL-1001");
        assert!(
            !sent[0].body.contains("0.01"),
            "only the order id is carried"
        );
        assert_eq!(post(&r, None, body).await.status, 400);
        assert_eq!(post(&r, Some("wrong"), body).await.status, 400);
        for bad in [
            r#"{"event":"order.created","data":{}}"#,
            r#"{"data":{"orderId":"1"}}"#,
            "[",
            r#"{"event":"order.updated","data":{"orderId":"../1"}}"#,
        ] {
            assert_eq!(
                post(&r, Some("s3cret-value"), bad).await.status,
                400,
                "{bad}"
            );
        }
        let other = r#"{"event":"cart.updated","data":{"cartId":"7"}}"#;
        assert_eq!(post(&r, Some("s3cret-value"), other).await.status, 200);
        assert_eq!(queue.messages().len(), 1);
        let saved = r#"{"event":"customer.updated","data":{"customerId":"7"}}"#;
        assert_eq!(post(&r, Some("s3cret-value"), saved).await.status, 200);
        let sent = queue.messages();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].attribute("event_type"), Some("customer.changed"));
        assert!(sent[1].body.contains(r#""customer_id":"7""#));
    }
}
