//! Adobe Commerce webhooks as a `WebhookSource`. Commerce calls its webhooks
//! synchronously while the customer places the order and does not retry them;
//! `{"op":"exception"}` would stop the order placement. So once a request is
//! verified, the answer is always `{"op":"success"}`: a failure to enqueue is
//! logged and counted (`webhook_enqueue_failed`), and the order poller, which
//! runs for Adobe Commerce too, picks the order up. Only a request that is not
//! from Commerce (no or a wrong signature) is refused. A credit memo saved
//! (`observer.sales_order_creditmemo_save_after`) becomes a `refund.requested`
//! hint naming it; the handler re-reads the credit memo before refunding.

use serde::Deserialize;
use serde_json::json;

use super::webhook::{MagentoWebhookVerifier, WebhookError, WebhookPayload, SIGNATURE_HEADER};
use crate::commerce::amounts::id_text;
use crate::commerce::PaymentState;
use crate::commerce::{CustomerRef, OrderRef};
use crate::flows::customers::customer_changed_message;
use crate::flows::payments::{order_created_message, refund_requested_message, RefundRequest};
use crate::routing::Flow;
use crate::webhook::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource,
};

/// Order events that mean "a new order exists".
pub const ORDER_EVENTS: &[&str] = &[
    "observer.sales_order_place_after",
    "plugin.magento.sales.api.order_management.place",
];

/// Credit memo events: a refund made in Magento, to be refunded in Stripe.
pub const CREDITMEMO_EVENTS: &[&str] = &[
    "observer.sales_order_creditmemo_save_after",
    "plugin.magento.sales.api.creditmemo_repository.save",
];

/// Customer events: a customer saved (registered, or edited by the shopper,
/// the merchant or an integration, Tally included). The body is a hint.
pub const CUSTOMER_EVENTS: &[&str] = &[
    "observer.customer_save_after",
    "observer.customer_save_commit_after",
    "observer.customer_register_success",
    "plugin.magento.customer.api.customer_repository.save",
];

/// The customer a customer event names: (event, customer id, updated_at).
fn customer_named(body: &[u8]) -> Option<(String, String, Option<String>)> {
    let payload: serde_json::Value = serde_json::from_slice(body).ok()?;
    let event = payload.get("eventName")?.as_str()?.to_string();
    if !CUSTOMER_EVENTS.contains(&event.as_str()) {
        return None;
    }
    let customer = payload.get("data")?.get("customer")?;
    let id = customer.get("id").or_else(|| customer.get("entity_id"))?;
    let updated_at = customer
        .get("updated_at")
        .and_then(|u| u.as_str())
        .map(str::to_string);
    Some((event, id_text(id)?, updated_at))
}

/// The credit memo a credit memo event names: (order id, credit memo id).
fn creditmemo_named(body: &[u8]) -> Option<(String, String, String)> {
    let payload: serde_json::Value = serde_json::from_slice(body).ok()?;
    let event = payload.get("eventName")?.as_str()?.to_string();
    let memo = payload.get("data")?.get("creditmemo")?;
    Some((
        event,
        id_text(memo.get("order_id")?)?,
        id_text(memo.get("entity_id")?)?,
    ))
}

/// The webhook's own secret: `{"webhook_public_keys": ["-----BEGIN PUBLIC KEY-----...", ...]}`
/// (two while regenerating the key pair). Keys are parsed once, when the secret is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawKeys")]
pub struct MagentoWebhookKeys {
    verifier: Option<MagentoWebhookVerifier>,
}

#[derive(Deserialize)]
struct RawKeys {
    #[serde(default)]
    webhook_public_keys: Vec<String>,
}

impl TryFrom<RawKeys> for MagentoWebhookKeys {
    type Error = WebhookError;
    fn try_from(raw: RawKeys) -> Result<Self, WebhookError> {
        if raw.webhook_public_keys.is_empty() {
            return Ok(MagentoWebhookKeys { verifier: None });
        }
        Ok(MagentoWebhookKeys {
            verifier: Some(MagentoWebhookVerifier::from_pems(&raw.webhook_public_keys)?),
        })
    }
}

/// Which orders to collect (by payment method) is decided once, by the
/// handler: a webhook body may not carry the payment method.
pub struct MagentoWebhook {
    pub store_code: String,
}

impl WebhookSource for MagentoWebhook {
    type Keys = MagentoWebhookKeys;

    fn name(&self) -> &'static str {
        "magento"
    }

    fn verify<'a>(
        &self,
        keys: &MagentoWebhookKeys,
        request: &WebhookRequest<'a>,
        _now_secs: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        let verifier = keys
            .verifier
            .as_ref()
            .ok_or_else(|| VerifyError::Misconfigured(WebhookError::NoKeys.to_string()))?;
        match verifier.verify(request.headers.get(SIGNATURE_HEADER), request.body) {
            Ok(v) => Ok(Verified::new(v.body())),
            Err(e @ WebhookError::Mismatch) => Err(VerifyError::Mismatch(e.to_string())),
            Err(e @ (WebhookError::BadKey { .. } | WebhookError::NoKeys)) => {
                Err(VerifyError::Misconfigured(e.to_string()))
            }
            Err(e) => Err(VerifyError::Invalid(e.to_string())),
        }
    }

    fn inbound(&self, verified: Verified<'_>, received_at_ms: i64) -> Result<Inbound, String> {
        if let Some((_, customer_id, updated_at)) = customer_named(verified.body()) {
            let customer = CustomerRef {
                platform: super::PLATFORM.into(),
                store: self.store_code.clone(),
                customer_id,
            };
            let at = updated_at.unwrap_or_else(|| received_at_ms.to_string());
            let message = customer_changed_message(&customer, &at, received_at_ms)
                .map_err(|e| e.to_string())?;
            return Ok(Inbound::Enqueue {
                flow: Flow::Payments,
                message,
            });
        }
        if let Some((event, order_id, refund_id)) = creditmemo_named(verified.body()) {
            if CREDITMEMO_EVENTS.contains(&event.as_str()) {
                let request = RefundRequest {
                    order: OrderRef {
                        platform: super::PLATFORM.into(),
                        store: self.store_code.clone(),
                        order_id,
                    },
                    refund_id,
                };
                let message = refund_requested_message(&request, received_at_ms)
                    .map_err(|e| e.to_string())?;
                return Ok(Inbound::Enqueue {
                    flow: Flow::Payments,
                    message,
                });
            }
        }
        let payload = WebhookPayload::parse(&self.store_code, verified)
            .map_err(|e| format!("not an order webhook: {e}"))?;
        let order = &payload.order;
        let event_id = format!("{}/created", order.reference.key());
        let ignore = |reason| {
            Ok(Inbound::Ignore {
                event_id: event_id.clone(),
                event_type: payload.event_name.clone(),
                reason,
            })
        };
        if !ORDER_EVENTS.contains(&payload.event_name.as_str()) {
            return ignore("not an order placement");
        }
        if order.payment_state != PaymentState::AwaitingPayment {
            return ignore("order not awaiting payment");
        }
        let message = order_created_message(order, received_at_ms).map_err(|e| e.to_string())?;
        Ok(Inbound::Enqueue {
            flow: Flow::Payments,
            message,
        })
    }

    fn acknowledge(&self, outcome: &Outcome) -> Reply {
        let exception = |status, message: &str| {
            Reply::json(status, json!({"op": "exception", "message": message}))
        };
        match outcome {
            Outcome::MethodNotAllowed => exception(405, "use POST"),
            Outcome::TooLarge => exception(413, "body too large"),
            Outcome::Unauthenticated(_) => exception(400, "invalid webhook signature"),
            // Never stop a customer's order for our own trouble: the poller follows up.
            Outcome::Enqueued
            | Outcome::Ignored(_)
            | Outcome::Unreadable(_)
            | Outcome::CannotVerify(_)
            | Outcome::EnqueueFailed(_) => Reply::json(200, json!({"op": "success"})),
        }
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
    use crate::secrets::CachedSecret;
    use crate::webhook::{WebhookReceiver, MAX_BODY_BYTES};

    #[test]
    fn a_saved_customer_is_a_hint_naming_it() {
        let body = br#"{"eventName":"observer.customer_save_after","data":{"customer":{"id":"5","email":"a@b.co","updated_at":"2026-11-28 10:00:00"}}}"#;
        let source = MagentoWebhook {
            store_code: "default".into(),
        };
        let Inbound::Enqueue { message, .. } = source.inbound(Verified::new(body), 7).unwrap()
        else {
            panic!("not enqueued")
        };
        let queued = QueueEnvelope::parse(&message.body).unwrap();
        assert_eq!(queued.event_type, "customer.changed");
        assert_eq!(
            queued.event_id,
            "customer/magento/default/5/changed@2026-11-28 10:00:00"
        );
        let named: CustomerRef = serde_json::from_str(queued.event.get()).unwrap();
        assert_eq!(named.key(), "magento/default/5");
    }

    #[test]
    fn a_saved_credit_memo_is_a_refund_request_naming_it() {
        let body = br#"{"eventName":"observer.sales_order_creditmemo_save_after","data":{"creditmemo":{"entity_id":12,"order_id":"40","grand_total":5}}}"#;
        let source = MagentoWebhook {
            store_code: "default".into(),
        };
        let Inbound::Enqueue { message, .. } = source.inbound(Verified::new(body), 7).unwrap()
        else {
            panic!("not enqueued")
        };
        let queued = QueueEnvelope::parse(&message.body).unwrap();
        assert_eq!(queued.event_type, "refund.requested");
        assert_eq!(queued.event_id, "magento/default/40/refund/12/requested");
        assert!(queued.event.get().contains(r#""refund_id":"12""#));
    }

    const PUBLIC_PEM: &str = include_str!("testdata/webhook_public.pem");
    const BODY: &[u8] = include_bytes!("testdata/webhook_body.json");
    const SIGNATURE: &str = include_str!("testdata/webhook_body.sig");

    fn receiver() -> (WebhookReceiver<MagentoWebhook>, Arc<MemoryQueue>) {
        let secret = serde_json::json!({"webhook_public_keys": [PUBLIC_PEM]});
        let queue = MemoryQueue::new("payments");
        let receiver = WebhookReceiver::new(
            MagentoWebhook {
                store_code: "default".into(),
            },
            CachedSecret::new(
                Box::new(MemorySecret::new("magento-webhook", &secret.to_string())),
                Duration::from_secs(300),
                Duration::from_secs(0),
            ),
            HashMap::from([(Flow::Payments, queue.clone() as Arc<dyn Queue>)]),
            Arc::new(ManualClock::at_secs(1_795_651_200)),
        );
        (receiver, queue)
    }

    async fn send(
        r: &WebhookReceiver<MagentoWebhook>,
        method: &str,
        sig: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let headers: Vec<(&str, &str)> = sig.map(|s| (SIGNATURE_HEADER, s)).into_iter().collect();
        r.receive(WebhookRequest {
            method,
            headers: &headers,
            query: "",
            body,
        })
        .await
    }

    #[tokio::test]
    async fn a_signed_order_is_enqueued_once_as_order_created() {
        let (r, queue) = receiver();
        let reply = send(&r, "POST", Some(SIGNATURE), BODY).await;
        assert_eq!(reply, Reply::json(200, json!({"op": "success"})));
        let sent = queue.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attribute("event_type"), Some("order.created"));
        assert_eq!(
            sent[0].attribute("event_id"),
            Some("magento/default/7/created")
        );
        let envelope = QueueEnvelope::parse(&sent[0].body).unwrap();
        let order: crate::commerce::Order = serde_json::from_str(envelope.event.get()).unwrap();
        assert_eq!(order.grand_total.get(), 1999);
    }

    #[tokio::test]
    async fn after_a_valid_signature_the_answer_is_always_success() {
        let (r, queue) = receiver();
        queue.fail(true);
        let reply = send(&r, "POST", Some(SIGNATURE), BODY).await;
        assert_eq!(
            reply,
            Reply::json(200, json!({"op": "success"})),
            "an exception would stop the customer's order; the poller follows up"
        );
        assert_eq!(r.enqueue_failures(), 1);
    }

    #[tokio::test]
    async fn requests_not_from_commerce_are_refused_and_nothing_is_enqueued() {
        let (r, queue) = receiver();
        assert_eq!(send(&r, "GET", Some(SIGNATURE), BODY).await.status, 405);
        assert_eq!(send(&r, "POST", None, BODY).await.status, 400);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            send(&r, "POST", Some(SIGNATURE), &tampered).await.status,
            400
        );
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(send(&r, "POST", Some(SIGNATURE), &huge).await.status, 413);
        assert!(queue.messages().is_empty());
        let refused = send(&r, "POST", None, BODY).await;
        assert_eq!(
            refused.body,
            r#"{"message":"invalid webhook signature","op":"exception"}"#
        );
    }

    #[test]
    fn keys_are_parsed_when_the_secret_is_read() {
        let bad = serde_json::from_str::<MagentoWebhookKeys>(r#"{"webhook_public_keys":["nope"]}"#);
        assert!(bad.is_err());
        let none = serde_json::from_str::<MagentoWebhookKeys>("{}").unwrap();
        assert!(none.verifier.is_none());
    }
}
