//! Adobe Commerce webhook signatures. With signing enabled, Commerce sends
//! `x-adobe-commerce-webhook-signature`: base64 of an RSA (PKCS#1 v1.5)
//! SHA-256 signature over the *base64 encoding* of the raw body, made with the
//! merchant's generated private key and checked with its public key
//! (developer.adobe.com/commerce/extensibility/webhooks/signature-verification).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde::Deserialize;
use sha2::Sha256;

use super::order_json::{order_from, MagentoOrder, OrderJsonError};
use crate::commerce::order::Order;
use crate::webhook::Verified;

pub const SIGNATURE_HEADER: &str = "x-adobe-commerce-webhook-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingSignature,
    #[error("signature is not valid base64")]
    MalformedSignature,
    #[error("signature does not match any configured public key")]
    Mismatch,
    #[error("public key {index} is not a PEM SubjectPublicKeyInfo RSA key: {message}")]
    BadKey { index: usize, message: String },
    #[error("no webhook public key is configured")]
    NoKeys,
}

/// Holds the merchant's public keys (several during a key regeneration).
#[derive(Clone)]
pub struct MagentoWebhookVerifier {
    keys: Vec<VerifyingKey<Sha256>>,
}

impl std::fmt::Debug for MagentoWebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MagentoWebhookVerifier({} keys)", self.keys.len())
    }
}

/// A body whose signature checked out; only `verify` makes one.
#[derive(Debug)]
pub struct VerifiedMagentoWebhook<'a> {
    body: &'a [u8],
}

impl<'a> VerifiedMagentoWebhook<'a> {
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

impl MagentoWebhookVerifier {
    pub fn from_pems<S: AsRef<str>>(pems: &[S]) -> Result<Self, WebhookError> {
        if pems.is_empty() {
            return Err(WebhookError::NoKeys);
        }
        let keys = pems
            .iter()
            .enumerate()
            .map(|(index, pem)| {
                RsaPublicKey::from_public_key_pem(pem.as_ref().trim())
                    .map(VerifyingKey::<Sha256>::new)
                    .map_err(|e| WebhookError::BadKey {
                        index,
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MagentoWebhookVerifier { keys })
    }

    pub fn verify<'a>(
        &self,
        signature: Option<&str>,
        body: &'a [u8],
    ) -> Result<VerifiedMagentoWebhook<'a>, WebhookError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::MissingSignature)?;
        let raw = BASE64
            .decode(signature)
            .map_err(|_| WebhookError::MalformedSignature)?;
        let signature =
            Signature::try_from(raw.as_slice()).map_err(|_| WebhookError::MalformedSignature)?;
        let signed = BASE64.encode(body);
        if self
            .keys
            .iter()
            .any(|k| k.verify(signed.as_bytes(), &signature).is_ok())
        {
            Ok(VerifiedMagentoWebhook { body })
        } else {
            Err(WebhookError::Mismatch)
        }
    }
}

/// The webhook body Commerce posts for an order event.
#[derive(Debug)]
pub struct WebhookPayload {
    pub event_name: String,
    pub order: Order,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "eventName")]
    event_name: String,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    order: MagentoOrder,
}

impl WebhookPayload {
    pub fn parse(store: &str, verified: Verified<'_>) -> Result<Self, OrderJsonError> {
        let raw: RawPayload = serde_json::from_slice(verified.body())?;
        Ok(WebhookPayload {
            event_name: raw.event_name,
            order: order_from(store, raw.data.order)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit test key pair and a signature made with `openssl dgst -sha256 -sign`
    // over base64(body), as Commerce does.
    const PUBLIC_PEM: &str = include_str!("testdata/webhook_public.pem");
    const BODY: &[u8] = include_bytes!("testdata/webhook_body.json");
    const SIGNATURE: &str = include_str!("testdata/webhook_body.sig");

    #[test]
    fn accepts_commerce_signature_and_rejects_tampering() {
        let v = MagentoWebhookVerifier::from_pems(&[PUBLIC_PEM]).unwrap();
        let ok = v.verify(Some(SIGNATURE), BODY).unwrap();
        let payload = WebhookPayload::parse("default", Verified::new(ok.body())).unwrap();
        assert_eq!(payload.event_name, "observer.sales_order_place_after");
        assert_eq!(payload.order.increment_id, "000000007");

        let mut tampered = BODY.to_vec();
        let at = tampered.iter().position(|b| *b == b'9').unwrap();
        tampered[at] = b'8';
        assert_eq!(
            v.verify(Some(SIGNATURE), &tampered).unwrap_err(),
            WebhookError::Mismatch
        );
        assert_eq!(
            v.verify(None, BODY).unwrap_err(),
            WebhookError::MissingSignature
        );
        assert_eq!(
            v.verify(Some("%%%"), BODY).unwrap_err(),
            WebhookError::MalformedSignature
        );
    }

    #[test]
    fn a_bad_key_names_its_position() {
        let err = MagentoWebhookVerifier::from_pems(&[PUBLIC_PEM, "nope"]).unwrap_err();
        assert!(
            matches!(err, WebhookError::BadKey { index: 1, .. }),
            "{err}"
        );
    }
}
