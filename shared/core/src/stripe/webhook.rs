//! Stripe as a `WebhookSource`. Stripe retries for days until it gets a 2xx,
//! so a 2xx means "on a queue": anything that keeps an event from its queue
//! on our side answers 500. The verified body is carried to the queue as it
//! came; only the fields routing needs are read here.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;

use super::signature::{verify_signature, SignatureError, SIGNATURE_HEADER};
use crate::message::QueueEnvelope;
use crate::routing::{route_stripe_event, Flow};
use crate::secrets::SecretString;
use crate::webhook::{
    Inbound, Outcome, Reply, Verified, VerifyError, WebhookRequest, WebhookSource,
};

/// The signing secrets, from the webhook's own secret:
/// `{"webhook_signing_secrets": ["whsec_...", ...]}` (two while rolling one).
#[derive(Debug, Clone, Deserialize)]
pub struct StripeWebhookKeys {
    #[serde(default)]
    pub webhook_signing_secrets: Vec<SecretString>,
}

pub struct StripeWebhook {
    pub tolerance_secs: i64,
}

/// What routing needs of an event, borrowed from the body.
#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    object: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[allow(dead_code)]
    data: IgnoredAny,
}

/// Reads `id` and `type` with a full parse: any layout, any escaping.
fn parsed_routing_fields(text: &str) -> Result<(String, String), String> {
    let head: EventHead =
        serde_json::from_str(text).map_err(|e| format!("not a Stripe event: {e}"))?;
    if head.object.as_deref().is_some_and(|o| o != "event") {
        return Err("not a Stripe event: object is not \"event\"".into());
    }
    if head.id.trim().is_empty() || head.event_type.trim().is_empty() {
        return Err("not a Stripe event: empty id or type".into());
    }
    Ok((head.id.into_owned(), head.event_type.into_owned()))
}

/// Reads `id` and `type` without scanning the event, where it is laid out as
/// Stripe lays out every event: `{"id": "evt_…", "object": "event", …, "type": "…"}`,
/// `id` first and `type` last. The last member of the root object is the one
/// right before the document's final `}`, so a `"type"` found there is the
/// event's own, never a nested object's. This is only a shortcut for a body
/// Stripe signed (and so valid JSON); anything else takes the full parse, and
/// the handler parses every message in full before acting on it.
fn canonical_routing_fields(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_start().strip_prefix('{')?;
    let rest = member(rest, "id")?;
    let (id, rest) = plain_string(rest)?;
    let rest = rest.trim_start().strip_prefix(',')?;
    let rest = member(rest, "object")?;
    let (object, _) = plain_string(rest)?;
    // The tail, read backwards: `"type" : "<value>" }`.
    let tail = text.trim_end().strip_suffix('}')?.trim_end();
    let tail = tail.strip_suffix('"')?;
    let open = tail.rfind('"')?;
    let event_type = &tail[open + 1..];
    let before = tail[..open].trim_end().strip_suffix(':')?.trim_end();
    let _ = before.strip_suffix("\"type\"")?;
    let plain = |v: &str| !v.is_empty() && !v.contains('\\');
    (object == "event" && plain(id) && plain(event_type)).then_some((id, event_type))
}

/// After optional whitespace: `"name"` then `:`; returns what follows.
fn member<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let rest = text.trim_start().strip_prefix('"')?.strip_prefix(name)?;
    rest.strip_prefix('"')?.trim_start().strip_prefix(':')
}

/// After optional whitespace: a string with no escapes; returns it and what follows.
fn plain_string(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| (&rest[..end], &rest[end + 1..]))
}

impl WebhookSource for StripeWebhook {
    type Keys = StripeWebhookKeys;

    fn flows(&self) -> &'static [Flow] {
        &Flow::ALL
    }

    fn name(&self) -> &'static str {
        "stripe"
    }

    fn verify<'a>(
        &self,
        keys: &StripeWebhookKeys,
        request: &WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        let header = request.headers.get(SIGNATURE_HEADER);
        match verify_signature(
            &keys.webhook_signing_secrets,
            self.tolerance_secs,
            header,
            request.body,
            now_secs,
        ) {
            Ok(v) => Ok(Verified::new(v.body())),
            Err(e @ SignatureError::NoMatchingSignature) => {
                Err(VerifyError::Mismatch(e.to_string()))
            }
            Err(e @ SignatureError::NoSecretsConfigured) => {
                Err(VerifyError::Misconfigured(e.to_string()))
            }
            Err(e) => Err(VerifyError::Invalid(e.to_string())),
        }
    }

    fn inbound(&self, verified: Verified<'_>, received_at_ms: i64) -> Result<Inbound, String> {
        let body = verified.body();
        let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
        let parsed;
        let (event_id, event_type) = match canonical_routing_fields(text) {
            Some(fields) => fields,
            None => {
                parsed = parsed_routing_fields(text)?;
                (parsed.0.as_str(), parsed.1.as_str())
            }
        };
        match route_stripe_event(event_type) {
            None => Ok(Inbound::Ignore {
                event_id: event_id.to_string(),
                event_type: event_type.to_string(),
                reason: "no flow handles this event type",
            }),
            Some(flow) => Ok(Inbound::Enqueue {
                flow,
                message: QueueEnvelope::verified_message(
                    "stripe",
                    event_id,
                    event_type,
                    text,
                    received_at_ms,
                ),
            }),
        }
    }

    fn acknowledge(&self, outcome: &Outcome) -> Reply {
        match outcome {
            Outcome::Enqueued => Reply::json(200, json!({"received": true})),
            Outcome::Ignored(_) => Reply::json(200, json!({"received": true, "ignored": true})),
            Outcome::MethodNotAllowed => Reply::json(405, json!({"error": "use POST"})),
            Outcome::TooLarge => Reply::json(413, json!({"error": "body too large"})),
            Outcome::Unauthenticated(why) => Reply::json(400, json!({"error": why})),
            Outcome::Unreadable(why) => Reply::json(400, json!({"error": why})),
            // Ours to fix: Stripe retries a 5xx for days. No internal text.
            Outcome::CannotVerify(_) | Outcome::EnqueueFailed(_) => Reply::json(
                500,
                json!({"error": "temporarily unavailable, retry later"}),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
