//! The Adobe Commerce webhook receiver: verify, normalize to the canonical
//! order, enqueue `order.created`. Same answers as the Stripe receiver; a
//! success body is `{"op":"success"}`, which Commerce's webhooks expect.

use std::sync::Arc;

use super::webhook::{MagentoWebhookVerifier, WebhookError, WebhookPayload};
use crate::clock::Clock;
use crate::commerce::PaymentState;
use crate::flows::payments::order_created_message;
use crate::ports::Queue;
use crate::receiver::MAX_BODY_BYTES;
use crate::secrets::{CachedSecret, MagentoSecrets};

/// Order events that mean "a new order exists".
pub const ORDER_EVENTS: &[&str] = &[
    "observer.sales_order_place_after",
    "plugin.magento.sales.api.order_management.place",
];

#[derive(Debug, PartialEq, Eq)]
pub struct MagentoReceipt {
    pub status: u16,
    pub body: String,
}

impl MagentoReceipt {
    fn ok(note: Option<&str>) -> Self {
        let mut body = serde_json::json!({ "op": "success" });
        if let Some(n) = note {
            body["note"] = n.into();
        }
        MagentoReceipt {
            status: 200,
            body: body.to_string(),
        }
    }
    fn error(status: u16, message: String) -> Self {
        tracing::warn!(status, reason = %message, "magento webhook rejected");
        MagentoReceipt {
            status,
            body: serde_json::json!({ "op": "exception", "message": message }).to_string(),
        }
    }
}

pub struct MagentoReceiver {
    secrets: CachedSecret<MagentoSecrets>,
    queue: Arc<dyn Queue>,
    store_code: String,
    clock: Arc<dyn Clock>,
}

impl MagentoReceiver {
    pub fn new(
        secrets: CachedSecret<MagentoSecrets>,
        queue: Arc<dyn Queue>,
        store_code: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        MagentoReceiver {
            secrets,
            queue,
            store_code,
            clock,
        }
    }

    pub async fn warm(&self) -> Result<(), crate::secrets::SecretError> {
        self.secrets.get().await.map(|_| ())
    }

    async fn verify(&self, signature: Option<&str>, body: &[u8]) -> Result<(), MagentoReceipt> {
        let check = |s: &MagentoSecrets| {
            MagentoWebhookVerifier::from_pems(&s.webhook_public_keys)
                .and_then(|v| v.verify(signature, body).map(|_| ()))
        };
        let secrets = self
            .secrets
            .get()
            .await
            .map_err(|e| MagentoReceipt::error(500, e.to_string()))?;
        match check(&secrets) {
            Ok(()) => Ok(()),
            Err(WebhookError::Mismatch) => {
                // The merchant may have regenerated the key pair since we cached it.
                match self.secrets.refresh().await {
                    Ok(Some(fresh)) => {
                        check(&fresh).map_err(|e| MagentoReceipt::error(400, e.to_string()))
                    }
                    _ => Err(MagentoReceipt::error(
                        400,
                        WebhookError::Mismatch.to_string(),
                    )),
                }
            }
            Err(e @ (WebhookError::BadKey { .. } | WebhookError::NoKeys)) => {
                Err(MagentoReceipt::error(500, e.to_string()))
            }
            Err(e) => Err(MagentoReceipt::error(400, e.to_string())),
        }
    }

    pub async fn receive(
        &self,
        method: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> MagentoReceipt {
        if !method.eq_ignore_ascii_case("POST") {
            return MagentoReceipt::error(405, format!("method {method} not allowed, use POST"));
        }
        if body.len() > MAX_BODY_BYTES {
            return MagentoReceipt::error(
                413,
                format!("body of {} bytes is too large", body.len()),
            );
        }
        if let Err(receipt) = self.verify(signature, body).await {
            return receipt;
        }
        // verify() succeeded on exactly these bytes.
        let verified = MagentoWebhookVerifier::assume_verified(body);
        let payload = match WebhookPayload::parse(&self.store_code, &verified) {
            Ok(p) => p,
            Err(e) => return MagentoReceipt::error(400, format!("not an order webhook: {e}")),
        };
        let order = &payload.order;
        let span = tracing::info_span!("magento_webhook", order_id = %order.reference.order_id, increment_id = %order.increment_id, event = %payload.event_name);
        let _enter = span.enter();
        if !ORDER_EVENTS.contains(&payload.event_name.as_str()) {
            tracing::info!("event is not an order placement; acknowledged");
            return MagentoReceipt::ok(Some("ignored"));
        }
        if order.payment_state != PaymentState::AwaitingPayment {
            tracing::info!(state = %order.state, "order is not awaiting payment; acknowledged");
            return MagentoReceipt::ok(Some("not awaiting payment"));
        }
        let message = match order_created_message(order, self.clock.now_ms()) {
            Ok(m) => m,
            Err(e) => return MagentoReceipt::error(500, e.to_string()),
        };
        drop(_enter);
        if let Err(e) = self.queue.send(&message).await {
            return MagentoReceipt::error(500, format!("could not enqueue: {e}"));
        }
        tracing::info!(parent: &span, queue = self.queue.name(), "order enqueued");
        MagentoReceipt::ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryQueue, MemorySecret};
    use crate::message::QueueEnvelope;
    use std::time::Duration;

    const PUBLIC_PEM: &str = include_str!("testdata/webhook_public.pem");
    const BODY: &[u8] = include_bytes!("testdata/webhook_body.json");
    const SIGNATURE: &str = include_str!("testdata/webhook_body.sig");

    fn receiver() -> (MagentoReceiver, Arc<MemoryQueue>) {
        let secret = serde_json::json!({"access_token": "t", "webhook_public_keys": [PUBLIC_PEM]});
        let queue = MemoryQueue::new("payments");
        let receiver = MagentoReceiver::new(
            CachedSecret::new(
                Box::new(MemorySecret::new("magento", &secret.to_string())),
                Duration::from_secs(300),
                Duration::from_secs(0),
            ),
            queue.clone(),
            "default".into(),
            Arc::new(ManualClock::at_secs(1_795_651_200)),
        );
        (receiver, queue)
    }

    #[tokio::test]
    async fn a_signed_order_is_enqueued_once_as_order_created() {
        let (r, queue) = receiver();
        let receipt = r.receive("POST", Some(SIGNATURE), BODY).await;
        assert_eq!(
            (receipt.status, receipt.body.as_str()),
            (200, r#"{"op":"success"}"#)
        );
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
    async fn bad_requests_are_refused_and_nothing_is_enqueued() {
        let (r, queue) = receiver();
        assert_eq!(r.receive("GET", Some(SIGNATURE), BODY).await.status, 405);
        assert_eq!(r.receive("POST", None, BODY).await.status, 400);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            r.receive("POST", Some(SIGNATURE), &tampered).await.status,
            400
        );
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(r.receive("POST", Some(SIGNATURE), &huge).await.status, 413);
        assert!(queue.messages().is_empty());
        queue.fail(true);
        let receipt = r.receive("POST", Some(SIGNATURE), BODY).await;
        assert_eq!(
            receipt.status, 500,
            "the sender must retry: {}",
            receipt.body
        );
    }
}
