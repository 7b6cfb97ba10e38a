//! The Stripe event envelope: the few fields the receiver needs to route an
//! event, parsed without touching the rest of the object.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventEnvelope {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    object: Option<String>,
    pub data: EnvelopeData,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnvelopeData {
    pub object: ObjectRef,
}

/// `data.object`, reduced to what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectRef {
    #[serde(default)]
    pub id: Option<String>,
    pub object: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not a Stripe event: {0}")]
    NotAnEvent(#[from] serde_json::Error),
    #[error("body is not a Stripe event: object is {0:?}, expected \"event\"")]
    WrongObject(String),
    #[error("Stripe event has an empty {0}")]
    Empty(&'static str),
}

impl EventEnvelope {
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope: EventEnvelope = serde_json::from_slice(body)?;
        if let Some(object) = &envelope.object {
            if object != "event" {
                return Err(EnvelopeError::WrongObject(object.clone()));
            }
        }
        if envelope.id.trim().is_empty() {
            return Err(EnvelopeError::Empty("id"));
        }
        if envelope.event_type.trim().is_empty() {
            return Err(EnvelopeError::Empty("type"));
        }
        Ok(envelope)
    }

    pub fn object_id(&self) -> Option<&str> {
        self.data.object.id.as_deref()
    }

    pub fn object_type(&self) -> &str {
        &self.data.object.object
    }
}
