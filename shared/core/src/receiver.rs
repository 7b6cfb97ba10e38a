//! The Stripe webhook receiver: verify, parse the envelope, route, enqueue.
//! Nothing else happens in the request path, so Stripe gets its 2xx quickly
//! and every accepted event is on a queue before we answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::Instrument;

use crate::clock::Clock;
use crate::error::QueueError;
use crate::message::QueueEnvelope;
use crate::ports::Queue;
use crate::routing::{route_stripe_event, Flow};
use crate::secrets::{CachedSecret, SecretError, StripeSecrets};
use crate::stripe::{EventEnvelope, SignatureError, SignatureVerifier, VerifiedPayload};

/// Stripe's own events stay far below this; anything bigger is refused before hashing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the HTTP adapter hands over: only what verification needs.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("method {0} not allowed, use POST")]
    MethodNotAllowed(String),
    #[error("body of {0} bytes exceeds the {MAX_BODY_BYTES}-byte limit")]
    PayloadTooLarge(usize),
    #[error("signature rejected: {0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    NotAnEvent(String),
    #[error("signing secrets unavailable: {0}")]
    SecretsUnavailable(#[from] SecretError),
    #[error("no queue is configured for flow {0}")]
    NoQueue(Flow),
    #[error("could not enqueue: {0}")]
    EnqueueFailed(#[from] QueueError),
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::MethodNotAllowed(_) => 405,
            Rejection::PayloadTooLarge(_) => 413,
            Rejection::Signature(_) | Rejection::NotAnEvent(_) => 400,
            // Our fault, not the sender's: 5xx so Stripe retries.
            Rejection::SecretsUnavailable(_)
            | Rejection::NoQueue(_)
            | Rejection::EnqueueFailed(_) => 500,
        }
    }
}

#[derive(Debug)]
pub enum Receipt {
    Enqueued {
        event_id: String,
        event_type: String,
        flow: Flow,
    },
    Ignored {
        event_id: String,
        event_type: String,
    },
    Rejected(Rejection),
}

impl Receipt {
    pub fn status(&self) -> u16 {
        match self {
            Receipt::Enqueued { .. } | Receipt::Ignored { .. } => 200,
            Receipt::Rejected(r) => r.status(),
        }
    }

    /// A tiny JSON body; never echoes the request.
    pub fn response_body(&self) -> String {
        match self {
            Receipt::Enqueued { .. } => r#"{"received":true}"#.to_string(),
            Receipt::Ignored { .. } => r#"{"received":true,"ignored":true}"#.to_string(),
            Receipt::Rejected(r) => serde_json::json!({ "error": r.to_string() }).to_string(),
        }
    }
}

pub struct StripeReceiver {
    secrets: CachedSecret<StripeSecrets>,
    queues: HashMap<Flow, Arc<dyn Queue>>,
    tolerance_secs: i64,
    clock: Arc<dyn Clock>,
    ignored_events: AtomicU64,
}

impl StripeReceiver {
    pub fn new(
        secrets: CachedSecret<StripeSecrets>,
        queues: HashMap<Flow, Arc<dyn Queue>>,
        tolerance_secs: i64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StripeReceiver {
            secrets,
            queues,
            tolerance_secs,
            clock,
            ignored_events: AtomicU64::new(0),
        }
    }

    /// Reads the signing secrets now, at container init, so the first request
    /// does not pay for it. A failure here is retried by the first request.
    pub async fn warm(&self) -> Result<(), SecretError> {
        self.secrets.get().await.map(|_| ())
    }

    /// Events of types no flow handles, acknowledged but not enqueued, since this container started.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events.load(Ordering::Relaxed)
    }

    pub async fn receive(&self, request: WebhookRequest<'_>) -> Receipt {
        match self.try_receive(request).await {
            Ok(receipt) => receipt,
            Err(rejection) => {
                tracing::warn!(status = rejection.status(), reason = %rejection, "webhook rejected");
                Receipt::Rejected(rejection)
            }
        }
    }

    async fn try_receive(&self, request: WebhookRequest<'_>) -> Result<Receipt, Rejection> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(Rejection::MethodNotAllowed(request.method.to_string()));
        }
        if request.body.len() > MAX_BODY_BYTES {
            return Err(Rejection::PayloadTooLarge(request.body.len()));
        }
        let now_ms = self.clock.now_ms();
        let verified = self.verify(request, now_ms / 1000).await?;
        let envelope = EventEnvelope::parse(verified.body())
            .map_err(|e| Rejection::NotAnEvent(e.to_string()))?;
        let span = tracing::info_span!("stripe_event", event_id = %envelope.id, event_type = %envelope.event_type);
        self.route_and_enqueue(envelope, verified.body(), now_ms)
            .instrument(span)
            .await
    }

    async fn route_and_enqueue(
        &self,
        envelope: EventEnvelope,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Receipt, Rejection> {
        let Some(flow) = route_stripe_event(&envelope.event_type) else {
            self.ignored_events.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                metric = "stripe_event_ignored",
                "no flow handles this event type"
            );
            return Ok(Receipt::Ignored {
                event_id: envelope.id,
                event_type: envelope.event_type,
            });
        };
        let queue = self.queues.get(&flow).ok_or(Rejection::NoQueue(flow))?;
        let message = QueueEnvelope::stripe_message(&envelope, body, now_ms)
            .map_err(|e| Rejection::NotAnEvent(e.to_string()))?;
        if let Err(err) = queue.send(&message).await {
            tracing::error!(flow = %flow, error = %err, "enqueue failed; answering 500 so Stripe retries");
            return Err(err.into());
        }
        tracing::info!(flow = %flow, queue = queue.name(), "event enqueued");
        Ok(Receipt::Enqueued {
            event_id: envelope.id,
            event_type: envelope.event_type,
            flow,
        })
    }

    /// Verifies with the cached secrets; on a mismatch, re-reads the secret once
    /// (rate-limited) in case it was rotated since this container cached it.
    async fn verify<'a>(
        &self,
        request: WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<VerifiedPayload<'a>, Rejection> {
        let secrets = self.secrets.get().await?;
        let attempt =
            |s: &StripeSecrets| {
                SignatureVerifier::new(s.webhook_signing_secrets.clone(), self.tolerance_secs)
                    .verify(request.signature, request.body, now_secs)
            };
        match attempt(&secrets) {
            Ok(verified) => Ok(verified),
            Err(
                first @ (SignatureError::NoMatchingSignature | SignatureError::NoSecretsConfigured),
            ) => match self.secrets.refresh().await {
                Ok(Some(fresh)) => Ok(attempt(&fresh)?),
                Ok(None) => Err(first.into()),
                Err(err) => {
                    tracing::warn!(error = %err, "secret refresh after mismatch failed");
                    Err(first.into())
                }
            },
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryQueue, MemorySecret};
    use crate::secret::SecretString;
    use crate::stripe::signature::sign;
    use std::time::Duration;

    const NOW: i64 = 1_750_000_000;

    struct Fixture {
        receiver: StripeReceiver,
        secret: MemorySecret,
        queues: HashMap<Flow, Arc<MemoryQueue>>,
    }

    fn fixture() -> Fixture {
        let secret = MemorySecret::new(
            "stripe",
            r#"{"api_key":"sk_test_x","webhook_signing_secrets":["whsec_old","whsec_new"]}"#,
        );
        let queues: HashMap<Flow, Arc<MemoryQueue>> = Flow::ALL
            .iter()
            .map(|f| (*f, MemoryQueue::new(f.name())))
            .collect();
        let receiver = StripeReceiver::new(
            CachedSecret::new(
                Box::new(secret.clone()),
                Duration::from_secs(300),
                Duration::from_secs(30),
            ),
            queues
                .iter()
                .map(|(f, q)| (*f, q.clone() as Arc<dyn Queue>))
                .collect(),
            300,
            Arc::new(ManualClock::at_secs(NOW)),
        );
        Fixture {
            receiver,
            secret,
            queues,
        }
    }

    fn event(id: &str, event_type: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"{id}","object":"event","type":"{event_type}","created":{NOW},"livemode":false,"api_version":"2024-06-20","data":{{"object":{{"id":"pi_1","object":"payment_intent","amount":1099}}}}}}"#
        )
        .into_bytes()
    }

    fn post<'a>(header: Option<&'a str>, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            signature: header,
            body,
        }
    }

    fn total_messages(f: &Fixture) -> usize {
        f.queues.values().map(|q| q.messages().len()).sum()
    }

    #[tokio::test]
    async fn signed_event_is_enqueued_on_its_flow_with_attributes() {
        let f = fixture();
        let body = event("evt_1", "payment_intent.succeeded");
        let header = sign(&SecretString::new("whsec_new"), NOW, &body);
        let receipt = f.receiver.receive(post(Some(&header), &body)).await;
        assert_eq!(receipt.status(), 200, "{receipt:?}");
        assert_eq!(receipt.response_body(), r#"{"received":true}"#);
        let sent = f.queues[&Flow::Payments].messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attribute("event_id"), Some("evt_1"));
        assert_eq!(
            sent[0].attribute("event_type"),
            Some("payment_intent.succeeded")
        );
        let parsed = QueueEnvelope::parse(&sent[0].body).unwrap();
        assert_eq!(parsed.source, "stripe");
        assert_eq!(parsed.received_at_ms, NOW * 1000);
        assert_eq!(
            parsed.event.get().as_bytes(),
            &body[..],
            "raw event kept verbatim"
        );
        assert_eq!(total_messages(&f), 1);
    }

    #[tokio::test]
    async fn unrouted_types_are_acknowledged_counted_and_not_enqueued() {
        let f = fixture();
        let body = event("evt_2", "plan.created");
        let header = sign(&SecretString::new("whsec_old"), NOW, &body);
        let receipt = f.receiver.receive(post(Some(&header), &body)).await;
        assert_eq!(receipt.status(), 200);
        assert!(matches!(receipt, Receipt::Ignored { .. }));
        assert_eq!(total_messages(&f), 0);
        assert_eq!(f.receiver.ignored_events(), 1);
    }

    #[tokio::test]
    async fn every_rejection_has_its_status_and_enqueues_nothing() {
        let f = fixture();
        let body = event("evt_3", "payment_intent.succeeded");
        let good = sign(&SecretString::new("whsec_new"), NOW, &body);
        let cases: Vec<(WebhookRequest, u16)> = vec![
            (
                WebhookRequest {
                    method: "GET",
                    signature: Some(&good),
                    body: &body,
                },
                405,
            ),
            (post(None, &body), 400),
            (post(Some("garbage"), &body), 400),
            (post(Some(&good), b"{\"id\":\"evt_3\"}"), 400),
        ];
        for (req, status) in cases {
            assert_eq!(f.receiver.receive(req).await.status(), status, "{req:?}");
        }
        let wrong = sign(&SecretString::new("whsec_other"), NOW, &body);
        assert_eq!(
            f.receiver.receive(post(Some(&wrong), &body)).await.status(),
            400
        );
        let stale = sign(&SecretString::new("whsec_new"), NOW - 301, &body);
        assert_eq!(
            f.receiver.receive(post(Some(&stale), &body)).await.status(),
            400
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            f.receiver.receive(post(Some(&good), &big)).await.status(),
            413
        );
        let not_json = b"not json";
        let signed = sign(&SecretString::new("whsec_new"), NOW, not_json);
        assert_eq!(
            f.receiver
                .receive(post(Some(&signed), not_json))
                .await
                .status(),
            400
        );
        let not_event = br#"{"id":"pi_1","object":"payment_intent","type":"x","created":1,"livemode":false,"data":{"object":{"object":"x"}}}"#;
        let signed = sign(&SecretString::new("whsec_new"), NOW, not_event);
        assert_eq!(
            f.receiver
                .receive(post(Some(&signed), not_event))
                .await
                .status(),
            400
        );
        assert_eq!(total_messages(&f), 0);
    }

    #[tokio::test]
    async fn enqueue_failure_is_a_500_so_stripe_retries() {
        let f = fixture();
        f.queues[&Flow::Payments].fail(true);
        let body = event("evt_4", "charge.succeeded");
        let header = sign(&SecretString::new("whsec_new"), NOW, &body);
        let receipt = f.receiver.receive(post(Some(&header), &body)).await;
        assert_eq!(receipt.status(), 500);
    }

    #[tokio::test]
    async fn rotated_secret_is_picked_up_on_mismatch() {
        let f = fixture();
        let body = event("evt_5", "payment_intent.succeeded");
        let warm = sign(&SecretString::new("whsec_new"), NOW, &body);
        assert_eq!(
            f.receiver.receive(post(Some(&warm), &body)).await.status(),
            200
        );
        f.secret
            .set(r#"{"webhook_signing_secrets":["whsec_rotated"]}"#);
        let header = sign(&SecretString::new("whsec_rotated"), NOW, &body);
        assert_eq!(
            f.receiver
                .receive(post(Some(&header), &body))
                .await
                .status(),
            200
        );
        assert_eq!(f.secret.fetches(), 2);
    }

    #[tokio::test]
    async fn secret_store_down_at_cold_start_is_a_500() {
        let f = fixture();
        f.secret.fail(true);
        let body = event("evt_6", "payment_intent.succeeded");
        let header = sign(&SecretString::new("whsec_new"), NOW, &body);
        assert_eq!(
            f.receiver
                .receive(post(Some(&header), &body))
                .await
                .status(),
            500
        );
    }

    #[tokio::test]
    async fn responses_never_echo_secrets_or_headers() {
        let f = fixture();
        let body = event("evt_7", "payment_intent.succeeded");
        let wrong = sign(&SecretString::new("whsec_other"), NOW, &body);
        let receipt = f.receiver.receive(post(Some(&wrong), &body)).await;
        let text = format!("{} {receipt:?}", receipt.response_body());
        for leak in ["whsec_old", "whsec_new", &wrong] {
            assert!(!text.contains(leak), "{text}");
        }
    }
}
