//! `Erp` over a generic HTTP JSON middleware. Each request is signed like
//! Stripe signs webhooks, so the receiver can trust it: `X-Tally-Timestamp`
//! and `X-Tally-Signature: v1=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`.

use std::sync::Arc;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tally_core::clock::Clock;
use tally_core::config::ErpConfig;
use tally_core::erp::{CreditMemo, Erp, ErpError, JournalEntry, Posting, SalesOrder};
use tally_core::secrets::{CachedSecret, ErpSecrets};

use crate::retry::{with_retries, Repeat, Reply};

pub const TIMESTAMP_HEADER: &str = "X-Tally-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Tally-Signature";

pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct HttpErp {
    client: reqwest::Client,
    base_url: String,
    config: ErpConfig,
    secrets: Arc<CachedSecret<ErpSecrets>>,
    clock: Arc<dyn Clock>,
}

impl HttpErp {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: ErpConfig,
        secrets: Arc<CachedSecret<ErpSecrets>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        HttpErp {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            config,
            secrets,
            clock,
        }
    }

    async fn send(
        &self,
        url: &str,
        key: &str,
        body: &str,
        secrets: &ErpSecrets,
    ) -> Result<Reply, ErpError> {
        // The ERP deduplicates by the Idempotency-Key, so a repeat is safe.
        with_retries(
            &self.config.http,
            "erp",
            &format!("erp POST {url}"),
            Repeat::Safe,
            |timeout| {
                // Signed per attempt so a retry after a long backoff is still fresh.
                let ts = self.clock.now_secs();
                self.client
                    .post(url)
                    .timeout(timeout)
                    .header("content-type", "application/json")
                    .header("Idempotency-Key", key)
                    .header(TIMESTAMP_HEADER, ts.to_string())
                    .header(
                        SIGNATURE_HEADER,
                        sign(
                            secrets.signing_secret.expose().as_bytes(),
                            ts,
                            body.as_bytes(),
                        ),
                    )
                    .body(body.to_string())
                    .send()
            },
        )
        .await
        .map_err(|e| ErpError::Unavailable {
            status: 0,
            message: e.to_string(),
        })
    }

    /// POSTs one signed document under its idempotency key: the ERP's id for it.
    async fn post(&self, path: &str, key: &str, body: String) -> Result<Posting, ErpError> {
        let unavailable = |e: tally_core::secrets::SecretError| ErpError::Unavailable {
            status: 0,
            message: e.to_string(),
        };
        let url = format!("{}{path}", self.base_url);
        let secrets = self.secrets.get().await.map_err(unavailable)?;
        let mut reply = self.send(&url, key, &body, &secrets).await?;
        // The signing key may have been rotated since this container read it: re-read once.
        if reply.status == 401 {
            if let Some(fresh) = self.secrets.refresh().await.map_err(unavailable)? {
                tracing::info!("the ERP answered 401; retrying once with the re-read key");
                reply = self.send(&url, key, &body, &fresh).await?;
            }
        }
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let text = || reply.text().chars().take(300).collect::<String>();
        match reply.status {
            200..=299 => {
                let created: Created = serde_json::from_slice(&reply.body)
                    .map_err(|e| ErpError::InvalidResponse(e.to_string()))?;
                Ok(Posting {
                    id: created.id,
                    replayed: reply.header("idempotent-replayed") == Some("true"),
                })
            }
            401 | 403 => Err(ErpError::Unauthorized(reply.status)),
            409 => Err(ErpError::Conflict(key.into())),
            s if s == 429 || s >= 500 => Err(ErpError::Unavailable {
                status: s,
                message: text(),
            }),
            s => Err(ErpError::Rejected {
                status: s,
                message: text(),
            }),
        }
    }
}

#[async_trait]
impl Erp for HttpErp {
    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError> {
        let body = entry.to_json().to_string();
        self.post(&self.config.journal_path, entry.idempotency_key(), body)
            .await
    }

    async fn post_sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        let body = order.to_json().to_string();
        self.post(&self.config.sales_order_path, order.key(), body)
            .await
    }

    async fn post_credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        let body = memo.to_json().to_string();
        self.post(&self.config.credit_memo_path, memo.key(), body)
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"k",b"1.{}",hashlib.sha256).hexdigest())'
        assert_eq!(
            super::sign(b"k", 1, b"{}"),
            "v1=3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158"
        );
    }
}
