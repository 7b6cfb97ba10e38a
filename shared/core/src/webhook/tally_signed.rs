//! Tally's own webhook contract, for senders with no signing scheme of their
//! own (a Kentico connector, a declarative platform): the header
//! `X-Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`
//! with a shared secret (Stripe's scheme: several `v1` while rotating),
//! within 5 minutes; and the answers such a sender retries on (any 5xx).

use serde::Deserialize;
use serde_json::json;

use super::{Outcome, Reply, Verified, VerifyError, WebhookRequest};
use crate::secrets::SecretString;
use crate::stripe::signature::{verify_signature, SignatureError, DEFAULT_TOLERANCE_SECS};

pub const SIGNATURE_HEADER: &str = "x-tally-signature";

/// The webhook's own secret: `{"signing_secrets": ["...", ...]}` (two while rotating).
#[derive(Debug, Clone, Deserialize)]
pub struct SigningSecrets {
    #[serde(default)]
    pub signing_secrets: Vec<SecretString>,
}

/// The request, verified under Tally's contract, or why not.
pub fn verify<'a>(
    keys: &SigningSecrets,
    request: &WebhookRequest<'a>,
    now_secs: i64,
) -> Result<Verified<'a>, VerifyError> {
    match verify_signature(
        &keys.signing_secrets,
        DEFAULT_TOLERANCE_SECS,
        request.headers.get(SIGNATURE_HEADER),
        request.body,
        now_secs,
    ) {
        Ok(v) => Ok(Verified::new(v.body())),
        Err(SignatureError::NoSecretsConfigured) => Err(VerifyError::Misconfigured(
            "no signing secret is configured".into(),
        )),
        Err(SignatureError::NoMatchingSignature) => {
            Err(VerifyError::Mismatch("no v1 signature matches".into()))
        }
        Err(e) => Err(VerifyError::Invalid(
            e.to_string()
                .replace("Stripe-Signature", "X-Tally-Signature"),
        )),
    }
}

/// The answer to the sender: 200 taken, 400 refused for good (retrying the
/// same request cannot help), 5xx send it again.
pub fn acknowledge(outcome: &Outcome) -> Reply {
    match outcome {
        Outcome::Enqueued | Outcome::Ignored(_) => Reply::json(200, json!({"received": true})),
        Outcome::MethodNotAllowed => Reply::json(405, json!({"error": "use POST"})),
        Outcome::TooLarge => Reply::json(413, json!({"error": "body too large"})),
        Outcome::Unauthenticated(why) | Outcome::Unreadable(why) => {
            Reply::json(400, json!({"error": why}))
        }
        Outcome::CannotVerify(_) | Outcome::EnqueueFailed(_) => Reply::json(
            503,
            json!({"error": "temporarily unavailable, retry later"}),
        ),
    }
}
