//! Stripe webhook signatures, checked the way Stripe's own libraries do:
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over
//! `"{t}.{raw body}"`, constant-time comparison, bounded clock skew.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secrets::SecretString;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "stripe-signature";
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header: {0}")]
    MalformedHeader(&'static str),
    #[error("no v1 signature matches the payload with any configured secret")]
    NoMatchingSignature,
    #[error("signature timestamp is {skew_secs}s away from now, outside the {tolerance_secs}s tolerance")]
    TimestampOutsideTolerance { skew_secs: i64, tolerance_secs: i64 },
    #[error("no webhook signing secret is configured")]
    NoSecretsConfigured,
}

/// A payload whose signature has been checked. Only [`SignatureVerifier::verify`]
/// makes one, so code that takes it cannot be handed unverified bytes.
#[derive(Debug)]
pub struct VerifiedPayload<'a> {
    body: &'a [u8],
    timestamp: i64,
}

impl<'a> VerifiedPayload<'a> {
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    pub fn signed_at(&self) -> i64 {
        self.timestamp
    }
}

struct ParsedHeader<'h> {
    timestamp: i64,
    /// As written in the header: Stripe signs these exact characters.
    timestamp_text: &'h str,
    v1: Vec<&'h str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::with_capacity(2);
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::MalformedHeader("element without '='"));
        };
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::MalformedHeader("timestamp is not an integer"))?;
                timestamp = Some((t, value));
            }
            "v1" => v1.push(value),
            // v0 (test-mode legacy) and future schemes are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let (timestamp, timestamp_text) =
        timestamp.ok_or(SignatureError::MalformedHeader("no t= timestamp"))?;
    if v1.is_empty() {
        return Err(SignatureError::MalformedHeader("no v1= signature"));
    }
    Ok(ParsedHeader {
        timestamp,
        timestamp_text,
        v1,
    })
}

fn mac_for(secret: &SecretString, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Verifies against every configured secret, so a secret can be rolled
/// (Stripe keeps the old one valid for up to 24 h) without dropping events.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    secrets: Vec<SecretString>,
    tolerance_secs: i64,
}

impl SignatureVerifier {
    pub fn new(secrets: Vec<SecretString>, tolerance_secs: i64) -> Self {
        let secrets = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        SignatureVerifier {
            secrets,
            tolerance_secs,
        }
    }

    pub fn verify<'a>(
        &self,
        header: Option<&str>,
        body: &'a [u8],
        now: i64,
    ) -> Result<VerifiedPayload<'a>, SignatureError> {
        verify_signature(&self.secrets, self.tolerance_secs, header, body, now)
    }
}

/// Checks a `Stripe-Signature` header against every secret (empty ones
/// ignored), over the exact body, in constant time, within the tolerance
/// (`0` disables the timestamp check).
pub fn verify_signature<'a>(
    secrets: &[SecretString],
    tolerance_secs: i64,
    header: Option<&str>,
    body: &'a [u8],
    now: i64,
) -> Result<VerifiedPayload<'a>, SignatureError> {
    let header = header.ok_or(SignatureError::MissingHeader)?;
    let parsed = parse_header(header)?;
    if secrets.iter().all(SecretString::is_empty) {
        return Err(SignatureError::NoSecretsConfigured);
    }
    let mut candidates = [[0u8; 32]; 4];
    let mut count = 0;
    for sig in parsed.v1.iter() {
        if count < candidates.len() && hex::decode_to_slice(sig, &mut candidates[count]).is_ok() {
            count += 1;
        }
    }
    let candidates = &candidates[..count];
    let matched = secrets.iter().filter(|s| !s.is_empty()).any(|secret| {
        let mac = mac_for(secret, parsed.timestamp_text, body)
            .finalize()
            .into_bytes();
        // ct_eq compares in constant time.
        candidates
            .iter()
            .fold(subtle::Choice::from(0), |any, c| {
                any | c.as_slice().ct_eq(mac.as_slice())
            })
            .into()
    });
    if !matched {
        return Err(SignatureError::NoMatchingSignature);
    }
    // abs_diff cannot overflow, whatever timestamp the header claims.
    let skew = now.abs_diff(parsed.timestamp);
    let skew_secs = i64::try_from(skew).unwrap_or(i64::MAX);
    if tolerance_secs > 0 && skew > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::TimestampOutsideTolerance {
            skew_secs,
            tolerance_secs,
        });
    }
    Ok(VerifiedPayload {
        body,
        timestamp: parsed.timestamp,
    })
}

/// Builds a `Stripe-Signature` header value as Stripe would send it. Used by tests,
/// simulators and `tally-stripe-signature`; production code only verifies.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let sig = hex::encode(
        mac_for(secret, &timestamp.to_string(), body)
            .finalize()
            .into_bytes(),
    );
    format!("t={timestamp},v1={sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;

    fn secret(s: &str) -> SecretString {
        SecretString::new(s)
    }

    fn verifier(secrets: &[&str]) -> SignatureVerifier {
        SignatureVerifier::new(
            secrets.iter().map(|s| secret(s)).collect(),
            DEFAULT_TOLERANCE_SECS,
        )
    }

    fn sig_only(header: &str) -> &str {
        header.split_once(",v1=").unwrap().1
    }

    #[test]
    fn valid_signature_passes_and_exposes_the_same_bytes() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        let verified = verifier(&["whsec_a"])
            .verify(Some(&header), BODY, NOW)
            .unwrap();
        assert_eq!(verified.body(), BODY);
        assert_eq!(verified.signed_at(), NOW);
    }

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign(&secret("whsec_test"), NOW, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn second_v1_matching_is_enough() {
        let good = sign(&secret("whsec_a"), NOW, BODY);
        let header = format!("t={NOW},v1={},v1={}", "ab".repeat(32), sig_only(&good));
        assert!(verifier(&["whsec_a"])
            .verify(Some(&header), BODY, NOW)
            .is_ok());
    }

    #[test]
    fn v0_and_unknown_schemes_are_ignored() {
        let good = sign(&secret("whsec_a"), NOW, BODY);
        let header = format!(
            "t={NOW},v0={},v1={},v9=zz",
            "00".repeat(32),
            sig_only(&good)
        );
        assert!(verifier(&["whsec_a"])
            .verify(Some(&header), BODY, NOW)
            .is_ok());
        // a v0 that would match is still not a v1
        let only_v0 = format!("t={NOW},v0={}", sig_only(&good));
        assert_eq!(
            verifier(&["whsec_a"])
                .verify(Some(&only_v0), BODY, NOW)
                .unwrap_err(),
            SignatureError::MalformedHeader("no v1= signature")
        );
    }

    #[test]
    fn any_configured_secret_verifies_for_rotation() {
        let header = sign(&secret("whsec_new"), NOW, BODY);
        assert!(verifier(&["whsec_old", "whsec_new"])
            .verify(Some(&header), BODY, NOW)
            .is_ok());
        assert_eq!(
            verifier(&["whsec_old"])
                .verify(Some(&header), BODY, NOW)
                .unwrap_err(),
            SignatureError::NoMatchingSignature
        );
    }

    #[test]
    fn tolerance_edges() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        let v = verifier(&["whsec_a"]);
        assert!(v.verify(Some(&header), BODY, NOW + 300).is_ok());
        assert!(v.verify(Some(&header), BODY, NOW - 300).is_ok());
        assert_eq!(
            v.verify(Some(&header), BODY, NOW + 301).unwrap_err(),
            SignatureError::TimestampOutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            }
        );
        assert!(v.verify(Some(&header), BODY, NOW - 301).is_err());
        let custom = SignatureVerifier::new(vec![secret("whsec_a")], 10);
        assert!(custom.verify(Some(&header), BODY, NOW + 11).is_err());
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let v = verifier(&["whsec_a"]);
        for (ts, now) in [
            (i64::MIN, NOW),
            (i64::MAX, NOW),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
        ] {
            let header = sign(&secret("whsec_a"), ts, BODY);
            assert!(matches!(
                v.verify(Some(&header), BODY, now).unwrap_err(),
                SignatureError::TimestampOutsideTolerance { .. }
            ));
        }
    }

    #[test]
    fn tampered_body_fails() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verifier(&["whsec_a"])
                .verify(Some(&header), &tampered, NOW)
                .unwrap_err(),
            SignatureError::NoMatchingSignature
        );
        // a changed timestamp with the old signature fails too
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert!(verifier(&["whsec_a"])
            .verify(Some(&moved), BODY, NOW)
            .is_err());
    }

    #[test]
    fn malformed_and_truncated_headers() {
        let v = verifier(&["whsec_a"]);
        let header = sign(&secret("whsec_a"), NOW, BODY);
        assert_eq!(
            v.verify(None, BODY, NOW).unwrap_err(),
            SignatureError::MissingHeader
        );
        assert!(matches!(
            v.verify(Some(""), BODY, NOW),
            Err(SignatureError::MalformedHeader(_))
        ));
        assert!(matches!(
            v.verify(Some("t=abc,v1=00"), BODY, NOW),
            Err(SignatureError::MalformedHeader(_))
        ));
        assert!(matches!(
            v.verify(Some("v1=00"), BODY, NOW),
            Err(SignatureError::MalformedHeader(_))
        ));
        let truncated = &header[..header.len() - 5];
        assert_eq!(
            v.verify(Some(truncated), BODY, NOW).unwrap_err(),
            SignatureError::NoMatchingSignature
        );
        let cut_before_sig = &header[..header.find(",v1").unwrap()];
        assert!(matches!(
            v.verify(Some(cut_before_sig), BODY, NOW),
            Err(SignatureError::MalformedHeader(_))
        ));
        assert!(matches!(
            v.verify(Some("t=1,v1"), BODY, NOW),
            Err(SignatureError::MalformedHeader(_))
        ));
    }

    #[test]
    fn no_secrets_is_an_explicit_error() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        let v = SignatureVerifier::new(vec![secret("")], 300);
        assert_eq!(
            v.verify(Some(&header), BODY, NOW).unwrap_err(),
            SignatureError::NoSecretsConfigured
        );
    }
}
