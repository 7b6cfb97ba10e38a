//! Znode 10's "Webhook Consumer" as a `WebhookSource`. Znode publishes no
//! signing scheme for it, so Tally accepts a call only with a shared secret
//! the merchant puts in the webhook URL (`?tally_secret=...`) or in an
//! `X-Tally-Secret` header, compared in constant time with each configured
//! secret (two while rotating). Even then the body is only a hint: it names
//! an order, and the handler re-reads that order through Znode's API before
//! anything changes; nothing in the body is trusted for money.

use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::commerce::OrderRef;
use crate::flows::payments::order_changed_message;
use crate::routing::Flow;
use crate::secrets::SecretString;
use crate::webhook::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource,
};

pub const SECRET_HEADER: &str = "x-tally-secret";
pub const SECRET_PARAM: &str = "tally_secret";

/// The webhook's own secret: `{"shared_secrets": ["...", ...]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ZnodeWebhookKeys {
    #[serde(default)]
    pub shared_secrets: Vec<SecretString>,
}

pub struct ZnodeWebhook {
    /// The portal this deployment serves (the store in order refs).
    pub portal_id: String,
}

/// The secret the caller presented: the header, else the URL's query parameter.
fn presented<'a>(request: &WebhookRequest<'a>) -> Option<String> {
    if let Some(h) = request.headers.get(SECRET_HEADER) {
        return Some(h.trim().to_string());
    }
    url::form_urlencoded::parse(request.query.as_bytes())
        .find(|(k, _)| k == SECRET_PARAM)
        .map(|(_, v)| v.into_owned())
}

/// The order a payload names: `OmsOrderId` (any casing) at the top or under
/// `Data`/`data`/`Order`/`order`, as a number or a string of digits.
fn order_id(payload: &Value) -> Option<String> {
    let keys = [
        "OmsOrderId",
        "omsOrderId",
        "omsorderid",
        "OrderId",
        "orderId",
    ];
    let scopes = [
        Some(payload),
        payload.get("Data"),
        payload.get("data"),
        payload.get("Order"),
        payload.get("order"),
    ];
    scopes.into_iter().flatten().find_map(|scope| {
        keys.iter().find_map(|k| match scope.get(*k)? {
            Value::Number(n) if n.is_u64() => Some(n.to_string()),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.clone())
            }
            _ => None,
        })
    })
}

impl WebhookSource for ZnodeWebhook {
    type Keys = ZnodeWebhookKeys;

    fn name(&self) -> &'static str {
        "znode"
    }

    fn verify<'a>(
        &self,
        keys: &ZnodeWebhookKeys,
        request: &WebhookRequest<'a>,
        _now_secs: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        let secrets: Vec<&SecretString> = keys
            .shared_secrets
            .iter()
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.is_empty() {
            return Err(VerifyError::Misconfigured(
                "no shared secret is configured".into(),
            ));
        }
        let Some(given) = presented(request) else {
            return Err(VerifyError::Invalid("missing the shared secret".into()));
        };
        // Every secret is compared, in constant time, whatever matched first.
        let matched = secrets.iter().fold(subtle::Choice::from(0), |any, s| {
            any | s.expose().as_bytes().ct_eq(given.as_bytes())
        });
        if bool::from(matched) {
            Ok(Verified::new(request.body))
        } else {
            Err(VerifyError::Mismatch(
                "the shared secret does not match".into(),
            ))
        }
    }

    fn inbound(&self, verified: Verified<'_>, received_at_ms: i64) -> Result<Inbound, String> {
        let payload: Value = serde_json::from_slice(verified.body())
            .map_err(|e| format!("not a JSON webhook: {e}"))?;
        let order_id = order_id(&payload).ok_or("the payload names no order (OmsOrderId)")?;
        let reference = OrderRef {
            platform: super::PLATFORM.into(),
            store: self.portal_id.clone(),
            order_id,
        };
        let message =
            order_changed_message(&reference, &received_at_ms.to_string(), received_at_ms)
                .map_err(|e| e.to_string())?;
        Ok(Inbound::Enqueue {
            flow: Flow::Payments,
            message,
        })
    }

    fn acknowledge(&self, outcome: &Outcome) -> Reply {
        match outcome {
            Outcome::Enqueued | Outcome::Ignored(_) => Reply::json(200, json!({"received": true})),
            Outcome::MethodNotAllowed => Reply::json(405, json!({"error": "use POST"})),
            Outcome::TooLarge => Reply::json(413, json!({"error": "body too large"})),
            Outcome::Unauthenticated(_) => Reply::json(401, json!({"error": "unauthorized"})),
            Outcome::Unreadable(why) => Reply::json(400, json!({"error": why})),
            // The order poller follows up; a 5xx lets Znode retry if it does.
            Outcome::CannotVerify(_) | Outcome::EnqueueFailed(_) => Reply::json(
                503,
                json!({"error": "temporarily unavailable, retry later"}),
            ),
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
    use crate::webhook::WebhookReceiver;

    fn receiver() -> (WebhookReceiver<ZnodeWebhook>, Arc<MemoryQueue>) {
        let queue = MemoryQueue::new("payments");
        let r = WebhookReceiver::new(
            ZnodeWebhook {
                portal_id: "1".into(),
            },
            CachedSecret::new(
                Box::new(MemorySecret::new(
                    "znode-webhook",
                    r#"{"shared_secrets":["old-secret","s3cret-value"]}"#,
                )),
                Duration::from_secs(300),
                Duration::from_secs(0),
            ),
            HashMap::from([(Flow::Payments, queue.clone() as Arc<dyn Queue>)]),
            Arc::new(ManualClock::at_secs(1_795_651_200)),
        );
        (r, queue)
    }

    async fn post(
        r: &WebhookReceiver<ZnodeWebhook>,
        header: Option<&str>,
        query: &str,
        body: &str,
    ) -> Reply {
        let headers: Vec<(&str, &str)> = header.map(|h| (SECRET_HEADER, h)).into_iter().collect();
        r.receive(WebhookRequest {
            method: "POST",
            headers: &headers,
            query,
            body: body.as_bytes(),
        })
        .await
    }

    #[tokio::test]
    async fn a_call_with_the_shared_secret_becomes_a_hint_to_reread_the_order() {
        let (r, queue) = receiver();
        let body = r#"{"EventName":"OrderPlaced","Data":{"OmsOrderId":1043,"Total":"0.01"}}"#;
        assert_eq!(post(&r, Some("s3cret-value"), "", body).await.status, 200);
        assert_eq!(
            post(&r, None, "tally_secret=old-secret&x=1", body)
                .await
                .status,
            200
        );
        let sent = queue.messages();
        assert_eq!(sent.len(), 2);
        let hint = QueueEnvelope::parse(&sent[0].body).unwrap();
        assert_eq!(hint.event_type, "order.changed");
        let named: OrderRef = serde_json::from_str(hint.event.get()).unwrap();
        assert_eq!(named.key(), "znode/1/1043");
        assert!(
            !sent[0].body.contains("0.01"),
            "nothing of the body but the order id is carried"
        );
    }

    #[tokio::test]
    async fn calls_without_the_secret_or_an_order_are_refused_and_enqueue_nothing() {
        let (r, queue) = receiver();
        let body = r#"{"Data":{"OmsOrderId":1043}}"#;
        assert_eq!(post(&r, None, "", body).await.status, 401);
        assert_eq!(post(&r, Some("s3cret-valuE"), "", body).await.status, 401);
        assert_eq!(post(&r, None, "tally_secret=", body).await.status, 401);
        assert_eq!(
            post(&r, Some("s3cret-value"), "", r#"{"Data":{"Sku":"X"}}"#)
                .await
                .status,
            400
        );
        assert_eq!(
            post(&r, Some("s3cret-value"), "", "not json").await.status,
            400
        );
        assert!(queue.messages().is_empty());
        let reply = post(&r, Some("wrong"), "", body).await;
        assert!(!reply.body.contains("s3cret"), "{}", reply.body);
    }
}
