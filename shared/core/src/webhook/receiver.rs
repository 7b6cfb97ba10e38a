//! The one receiver every webhook Lambda runs: check, verify, parse, enqueue,
//! answer. Nothing else happens in the request path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::Instrument;

use super::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource, MAX_BODY_BYTES,
};
use crate::clock::Clock;
use crate::message::{ATTR_EVENT_ID, ATTR_EVENT_TYPE};
use crate::ports::Queue;
use crate::routing::Flow;
use crate::secrets::{CachedSecret, SecretError};

/// The `Outcome` dimension of the `Webhooks` metric: received requests by
/// what became of them (enqueued, ignored, refused by reason, failed on our side).
fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Enqueued => "enqueued",
        Outcome::Ignored(_) => "ignored",
        Outcome::MethodNotAllowed => "method_not_allowed",
        Outcome::TooLarge => "too_large",
        Outcome::Unauthenticated(_) => "unauthenticated",
        Outcome::Unreadable(_) => "unreadable",
        Outcome::CannotVerify(_) => "cannot_verify",
        Outcome::EnqueueFailed(_) => "enqueue_failed",
    }
}

pub struct WebhookReceiver<S: WebhookSource> {
    source: S,
    keys: CachedSecret<S::Keys>,
    queues: HashMap<Flow, Arc<dyn Queue>>,
    clock: Arc<dyn Clock>,
    ignored: AtomicU64,
    enqueue_failures: AtomicU64,
}

impl<S: WebhookSource> WebhookReceiver<S> {
    pub fn new(
        source: S,
        keys: CachedSecret<S::Keys>,
        queues: HashMap<Flow, Arc<dyn Queue>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WebhookReceiver {
            source,
            keys,
            queues,
            clock,
            ignored: AtomicU64::new(0),
            enqueue_failures: AtomicU64::new(0),
        }
    }

    /// Reads the verification keys now, at container init, so the first
    /// request does not pay for it. A failure here is retried by the first request.
    pub async fn warm(&self) -> Result<(), SecretError> {
        self.keys.get().await.map(|_| ())
    }

    /// The sender this receiver serves ("stripe", "magento", ...).
    pub fn source_name(&self) -> &'static str {
        self.source.name()
    }

    /// Requests acknowledged without a message since this container started.
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }

    /// Verified requests the queue refused since this container started.
    pub fn enqueue_failures(&self) -> u64 {
        self.enqueue_failures.load(Ordering::Relaxed)
    }

    pub async fn receive(&self, request: WebhookRequest<'_>) -> Reply {
        let outcome = self.outcome(request).await;
        let source = self.source.name();
        match &outcome {
            Outcome::Enqueued => {}
            Outcome::Ignored(reason) => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    source,
                    metric = "webhook_ignored",
                    reason,
                    "acknowledged, not enqueued"
                );
            }
            Outcome::EnqueueFailed(error) => {
                self.enqueue_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(source, metric = "webhook_enqueue_failed", error = %error, "could not enqueue a verified webhook");
            }
            Outcome::Unreadable(error) => {
                tracing::error!(source, metric = "webhook_unreadable", error = %error, "verified webhook is unreadable")
            }
            Outcome::CannotVerify(error) => {
                tracing::error!(source, metric = "webhook_cannot_verify", error = %error, "cannot verify webhooks")
            }
            refused => tracing::warn!(source, outcome = ?refused, "webhook refused"),
        }
        println!(
            "{}",
            crate::metrics::emf_line(
                self.clock.now_ms(),
                &[("Source", source), ("Outcome", outcome_name(&outcome))],
                &[("Webhooks", 1.0, "Count")],
            )
        );
        // Receivers make no outside HTTP calls today; flushing here keeps any a
        // source adds from being held in the container's record indefinitely.
        crate::metrics::flush_call_metrics(self.clock.now_ms());
        let reply = self.source.acknowledge(&outcome);
        tracing::debug!(status = reply.status, "answered");
        reply
    }

    async fn outcome(&self, request: WebhookRequest<'_>) -> Outcome {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Outcome::MethodNotAllowed;
        }
        if request.body.len() > MAX_BODY_BYTES {
            return Outcome::TooLarge;
        }
        let now_ms = self.clock.now_ms();
        let verified = match self.verify(&request, now_ms.div_euclid(1000)).await {
            Ok(v) => v,
            Err(outcome) => return outcome,
        };
        let inbound = match self.source.inbound(verified, now_ms) {
            Ok(i) => i,
            Err(reason) => return Outcome::Unreadable(reason),
        };
        match inbound {
            Inbound::Ignore {
                event_id,
                event_type,
                reason,
            } => {
                tracing::info!(event_id = %event_id, event_type = %event_type, "ignored");
                Outcome::Ignored(reason)
            }
            Inbound::Enqueue { flow, message } => {
                let span = tracing::info_span!(
                    "webhook",
                    event_id = message.attribute(ATTR_EVENT_ID).unwrap_or("-"),
                    event_type = message.attribute(ATTR_EVENT_TYPE).unwrap_or("-"),
                );
                async {
                    // A route is added with its consumer; until then, acknowledge and count.
                    let Some(queue) = self.queues.get(&flow) else {
                        return Outcome::Ignored("no consumer for this flow");
                    };
                    match queue.send(&message).await {
                        Ok(()) => {
                            tracing::info!(flow = %flow, queue = queue.name(), "enqueued");
                            Outcome::Enqueued
                        }
                        Err(err) => Outcome::EnqueueFailed(err.to_string()),
                    }
                }
                .instrument(span)
                .await
            }
        }
    }

    /// Verifies with the cached keys; on a mismatch, re-reads the secret once
    /// (rate-limited by the cache) in case it was rotated since it was cached.
    async fn verify<'a>(
        &self,
        request: &WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<Verified<'a>, Outcome> {
        let keys = self
            .keys
            .get()
            .await
            .map_err(|e| Outcome::CannotVerify(e.to_string()))?;
        let first = match self.source.verify(&keys, request, now_secs) {
            Ok(v) => return Ok(v),
            Err(VerifyError::Mismatch(m)) => m,
            Err(VerifyError::Invalid(m)) => return Err(Outcome::Unauthenticated(m)),
            Err(VerifyError::Misconfigured(m)) => {
                // A key fixed since this container read it must not need a redeploy.
                match self.keys.refresh().await {
                    Ok(Some(fresh)) => return self.verify_with(&fresh, request, now_secs),
                    _ => return Err(Outcome::CannotVerify(m)),
                }
            }
        };
        match self.keys.refresh().await {
            Ok(Some(fresh)) => self.verify_with(&fresh, request, now_secs),
            Ok(None) => Err(Outcome::Unauthenticated(first)),
            Err(err) => {
                tracing::warn!(error = %err, "secret refresh after a mismatch failed");
                Err(Outcome::Unauthenticated(first))
            }
        }
    }

    fn verify_with<'a>(
        &self,
        keys: &S::Keys,
        request: &WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<Verified<'a>, Outcome> {
        self.source
            .verify(keys, request, now_secs)
            .map_err(|e| match e {
                VerifyError::Mismatch(m) | VerifyError::Invalid(m) => Outcome::Unauthenticated(m),
                VerifyError::Misconfigured(m) => Outcome::CannotVerify(m),
            })
    }
}
