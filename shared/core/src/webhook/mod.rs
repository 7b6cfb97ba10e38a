//! One receiving path for every webhook sender. A sender is a `WebhookSource`:
//! how it proves a request is its own (over the raw bytes), what message and
//! flow a verified body becomes, and how it expects to be answered. The one
//! generic `WebhookReceiver` does everything else (method and size checks, the
//! secret cache and its refresh on a mismatch, enqueueing, logs and counts), so
//! a new platform implements the trait and nothing else of the receiving path.

mod receiver;
pub mod tally_signed;

pub use receiver::WebhookReceiver;

use serde::de::DeserializeOwned;

use crate::message::OutboundMessage;
use crate::routing::Flow;

/// Bodies over this are refused before any hashing; senders' events stay far below.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Request headers, by case-insensitive name.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

fn find<'a>(pairs: &'a [(&str, &str)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

impl Headers for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

/// What the HTTP adapter hands over: only what receiving needs.
#[derive(Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    pub headers: &'a (dyn Headers + Sync),
    /// The raw query string (without `?`), for senders that can only be given a URL.
    pub query: &'a str,
    pub body: &'a [u8],
}

impl std::fmt::Debug for WebhookRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the headers: they carry signatures and shared secrets
        write!(
            f,
            "WebhookRequest({} {} bytes)",
            self.method,
            self.body.len()
        )
    }
}

/// A body whose sender was verified. Only this crate's verifiers make one,
/// so code that holds one knows the bytes are authentic.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    body: &'a [u8],
}

impl<'a> Verified<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Verified { body }
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No configured key matched: the receiver re-reads the secret once (it
    /// may have been rotated) before refusing.
    Mismatch(String),
    /// The request can never verify (no signature, a malformed header, stale).
    Invalid(String),
    /// Our side cannot verify anything (no key configured, a key that does not parse).
    Misconfigured(String),
}

/// What a verified body becomes.
#[derive(Debug)]
pub enum Inbound {
    /// The message carries the event id and type as attributes.
    Enqueue {
        flow: Flow,
        message: OutboundMessage,
    },
    /// Acknowledged and counted, not enqueued (a type no flow handles, an order
    /// not awaiting payment).
    Ignore {
        event_id: String,
        event_type: String,
        reason: &'static str,
    },
}

/// How receiving a request ended, for the sender's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Enqueued,
    Ignored(&'static str),
    MethodNotAllowed,
    TooLarge,
    /// Not verified: the sender's fault, a client error.
    Unauthenticated(String),
    /// Verified but not a body this source understands.
    Unreadable(String),
    /// Our side could not verify (secret store down, no usable key).
    CannotVerify(String),
    /// Verified, but the queue refused it.
    EnqueueFailed(String),
}

/// The answer for the sender: a status and a small JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply {
            status,
            body: body.to_string(),
        }
    }
}

/// One webhook sender.
pub trait WebhookSource: Send + Sync {
    /// What verifying needs, as the JSON of the source's own secret (signing
    /// secrets or public keys only: never API credentials).
    type Keys: DeserializeOwned + Send + Sync + 'static;

    /// For logs and metrics ("stripe", "magento").
    fn name(&self) -> &'static str;

    /// The flows this source's messages go to; the function needs each one's queue.
    fn flows(&self) -> &'static [Flow] {
        &[Flow::Payments]
    }

    /// Checks the request over its exact bytes.
    fn verify<'a>(
        &self,
        keys: &Self::Keys,
        request: &WebhookRequest<'a>,
        now_secs: i64,
    ) -> Result<Verified<'a>, VerifyError>;

    /// The message and flow for a verified body; `Err` says why it is unreadable.
    fn inbound(&self, verified: Verified<'_>, received_at_ms: i64) -> Result<Inbound, String>;

    /// The answer the sender's contract asks for. Bodies never carry internal
    /// text (queue names, ARNs, SDK messages): callers are unauthenticated.
    fn acknowledge(&self, outcome: &Outcome) -> Reply;
}
