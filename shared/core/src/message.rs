//! The versioned message every webhook receiver puts on a flow's queue.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::stripe::EventEnvelope;

pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_VERSION_TEXT: &str = "1";

/// Stripe, the hot path, names itself without an allocation.
fn static_or_owned(source: &str) -> AttrText {
    match source {
        "stripe" => "stripe".into(),
        other => other.to_string().into(),
    }
}

/// Appends `text` as a JSON string; ids and types need no escaping, anything else is escaped.
fn push_json_string(out: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).expect("a string serializes"));
    }
}

/// What sits in the SQS body. The event is kept verbatim (as received and
/// verified), so a handler or a replay sees exactly what Stripe sent.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueueEnvelope {
    pub schema_version: u32,
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    /// Unix milliseconds when the receiver accepted the event.
    pub received_at_ms: i64,
    pub event: Box<RawValue>,
}

/// A message attribute's name or value: our own are static text.
pub type AttrText = std::borrow::Cow<'static, str>;

/// A message ready to be sent: body plus string attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub body: String,
    pub attributes: Vec<(AttrText, AttrText)>,
}

impl OutboundMessage {
    /// The same message marked for the DLQ: why it failed, when, and after how many deliveries.
    pub fn dead_letter(mut self, reason: &str, failed_at_ms: i64, deliveries: u32) -> Self {
        // A redriven message starts its waits afresh; the reason says how many it had.
        self.attributes.retain(|(k, _)| {
            k != ATTR_FAILURE_REASON
                && k != ATTR_FAILED_AT_MS
                && k != ATTR_DELIVERIES
                && k != ATTR_WAITS
        });
        // SQS allows 10 attributes; the failure's three come last and always fit.
        self.attributes.truncate(7);
        self.attributes.push((
            ATTR_FAILURE_REASON.into(),
            reason
                .chars()
                .take(MAX_REASON_CHARS)
                .collect::<String>()
                .into(),
        ));
        self.attributes
            .push((ATTR_FAILED_AT_MS.into(), failed_at_ms.to_string().into()));
        self.attributes
            .push((ATTR_DELIVERIES.into(), deliveries.to_string().into()));
        self
    }

    /// The same message put back on its queue for its `waits`th wait.
    pub fn waiting(mut self, waits: u32) -> Self {
        self.attributes.retain(|(k, _)| k != ATTR_WAITS);
        // SQS allows 10 attributes; the count comes last and always fits.
        self.attributes.truncate(9);
        self.attributes
            .push((ATTR_WAITS.into(), waits.to_string().into()));
        self
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

pub const ATTR_SOURCE: &str = "source";
pub const ATTR_EVENT_ID: &str = "event_id";
pub const ATTR_EVENT_TYPE: &str = "event_type";
pub const ATTR_SCHEMA_VERSION: &str = "schema_version";
pub const ATTR_FAILURE_REASON: &str = "failure_reason";
pub const ATTR_FAILED_AT_MS: &str = "failed_at_ms";
pub const ATTR_DELIVERIES: &str = "deliveries";
/// How many times a message has been put back on its queue to wait for work
/// another worker held (`batch`).
pub const ATTR_WAITS: &str = "waits";
/// Reasons stay short: SQS caps a message's attributes.
const MAX_REASON_CHARS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("message body is not a valid queue envelope: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("queue envelope has schema version {0}, this handler reads {SCHEMA_VERSION}")]
    UnsupportedVersion(u32),
}

impl QueueEnvelope {
    /// Builds the message for a verified Stripe event. `raw_event` must be the
    /// verified body; it is embedded without re-serializing.
    pub fn stripe_message(
        envelope: &EventEnvelope,
        raw_event: &[u8],
        received_at_ms: i64,
    ) -> Result<OutboundMessage, serde_json::Error> {
        Self::message(
            "stripe",
            &envelope.id,
            &envelope.event_type,
            raw_event,
            received_at_ms,
        )
    }

    /// A canonical platform event (e.g. `order.created` from Magento).
    pub fn platform_message(
        source: &str,
        event_id: &str,
        event_type: &str,
        payload: &impl Serialize,
        received_at_ms: i64,
    ) -> Result<OutboundMessage, serde_json::Error> {
        let raw = serde_json::to_vec(payload)?;
        Self::message(source, event_id, event_type, &raw, received_at_ms)
    }

    fn message(
        source: &str,
        event_id: &str,
        event_type: &str,
        raw_event: &[u8],
        received_at_ms: i64,
    ) -> Result<OutboundMessage, serde_json::Error> {
        // Validated here, since these bytes were not verified as a sender's.
        let raw: &RawValue = serde_json::from_slice(raw_event)?;
        Ok(Self::verified_message(
            source,
            event_id,
            event_type,
            raw.get(),
            received_at_ms,
        ))
    }

    /// The message for a verified body that is JSON already: the body goes in
    /// as it came, neither parsed into values nor escaped again.
    pub fn verified_message(
        source: &str,
        event_id: &str,
        event_type: &str,
        raw_json: &str,
        received_at_ms: i64,
    ) -> OutboundMessage {
        use std::fmt::Write;
        let mut body =
            String::with_capacity(raw_json.len() + 128 + event_id.len() + event_type.len());
        let _ = write!(body, "{{\"schema_version\":{SCHEMA_VERSION},\"source\":");
        push_json_string(&mut body, source);
        body.push_str(",\"event_id\":");
        push_json_string(&mut body, event_id);
        body.push_str(",\"event_type\":");
        push_json_string(&mut body, event_type);
        let _ = write!(body, ",\"received_at_ms\":{received_at_ms},\"event\":");
        body.push_str(raw_json);
        body.push('}');
        OutboundMessage {
            body,
            attributes: vec![
                (ATTR_SOURCE.into(), static_or_owned(source)),
                (ATTR_EVENT_ID.into(), event_id.to_string().into()),
                (ATTR_EVENT_TYPE.into(), event_type.to_string().into()),
                (ATTR_SCHEMA_VERSION.into(), SCHEMA_VERSION_TEXT.into()),
            ],
        }
    }

    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let envelope: QueueEnvelope = serde_json::from_str(body)?;
        if envelope.schema_version != SCHEMA_VERSION {
            return Err(MessageError::UnsupportedVersion(envelope.schema_version));
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_body_is_wrapped_verbatim_and_names_are_escaped() {
        for (id, t) in [
            ("evt_1", "payment_intent.succeeded"),
            ("evt_\"odd\"\\", "type\u{1}é"),
        ] {
            let raw = r#"{"id": "x", "n": 1.50}"#;
            let m = QueueEnvelope::verified_message("stripe", id, t, raw, 7);
            let e = QueueEnvelope::parse(&m.body).unwrap();
            assert_eq!((e.event_id.as_str(), e.event_type.as_str()), (id, t));
            assert_eq!((e.source.as_str(), e.received_at_ms), ("stripe", 7));
            assert_eq!(e.event.get(), raw);
            assert_eq!(m.attribute("schema_version"), Some("1"));
        }
    }
}
