//! `Erp` over NetSuite's SuiteTalk REST (facts: ../shared/platforms/erp.md §1):
//! each journal entry is a `journalentry` record with the entry's key as its
//! external id, so NetSuite itself holds one record per key.
//!
//! Idempotent in NetSuite's own terms: the record is read by external id
//! (`GET .../journalentry/eid:<id>?expandSubResources=true`) before it is
//! written, and written by upsert (`PUT .../journalentry/eid:<id>`), so a
//! retry after a crash between posting and recording finds the record instead
//! of booking it twice, and a race of two writers upserts one record. A record
//! found under the key with other lines is a conflict, never overwritten.
//! Amounts travel as JSON numbers with the currency's exact scale (never through
//! a float); accounts, subsidiary and currency are internal ids from the config.
//! Sales documents (`sales.rs`) follow the same rule record by record.

mod sales;
pub mod tba;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tally_core::clock::Clock;
use tally_core::config::{ErpConfig, HttpPolicy, NetsuiteConfig};
use tally_core::erp::{CreditMemo, Erp, ErpError, JournalEntry, Posting, SalesOrder, Side};
use tally_core::money::Currency;
use tally_core::secrets::{CachedSecret, NetsuiteSecrets};

use crate::retry::{with_retries, Repeat, Reply};

const RECORDS: &str = "/services/rest/record/v1";

pub struct NetsuiteErp {
    client: reqwest::Client,
    base_url: String,
    config: NetsuiteConfig,
    /// Where customer deposits land and customer refunds are paid from.
    clearing_account: String,
    http: HttpPolicy,
    secrets: Arc<CachedSecret<NetsuiteSecrets>>,
    clock: Arc<dyn Clock>,
}

/// NetSuite's external id for an entry key: the key itself when it holds only
/// what an external id may (letters, digits, `_`, `-`; at most 100 long here),
/// otherwise its allowed characters and a hash of the whole key, so distinct
/// keys never share a record.
pub fn external_id(key: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !key.is_empty() && key.len() <= 100 && key.chars().all(allowed) {
        return key.to_string();
    }
    let kept: String = key
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(80)
        .collect();
    let digest = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
    format!("{kept}-{digest}")
}

impl NetsuiteErp {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: &ErpConfig,
        secrets: Arc<CachedSecret<NetsuiteSecrets>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        NetsuiteErp {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            config: config.netsuite.clone(),
            clearing_account: config.accounts.stripe_clearing.clone(),
            http: config.http.clone(),
            secrets,
            clock,
        }
    }

    /// `.../record/v1/<record>/<reference>` (`reference` empty for the collection).
    fn url(
        &self,
        record: &str,
        reference: &str,
        query: &[(&str, &str)],
    ) -> Result<url::Url, ErpError> {
        let path = match reference {
            "" => format!("{}{RECORDS}/{record}", self.base_url),
            r => format!("{}{RECORDS}/{record}/{r}", self.base_url),
        };
        let mut url = url::Url::parse(&path)
            .map_err(|e| ErpError::Refused(format!("erp.base_url is not a URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        record: &str,
        url: &url::Url,
        body: Option<&str>,
    ) -> Result<Reply, ErpError> {
        let secrets = self
            .secrets
            .get()
            .await
            .map_err(|e| ErpError::Unavailable {
                status: 0,
                message: e.to_string(),
            })?;
        let keys = tba::TbaKeys {
            consumer_key: secrets.consumer_key.expose(),
            consumer_secret: secrets.consumer_secret.expose(),
            token_id: secrets.token_id.expose(),
            token_secret: secrets.token_secret.expose(),
        };
        let what = format!("netsuite {method} {record}");
        // A GET and an upsert by external id are both safe to repeat.
        with_retries(&self.http, "erp", &what, Repeat::Safe, |timeout| {
            // Signed per attempt: NetSuite takes a nonce once, and a timestamp within minutes.
            let authorization = tba::authorization(
                method.as_str(),
                url,
                &self.config.account_id,
                &keys,
                self.clock.now_secs(),
                &tba::nonce(),
            );
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .timeout(timeout)
                .header("authorization", authorization)
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            request.send()
        })
        .await
        .map_err(|e| ErpError::Unavailable {
            status: 0,
            message: e.to_string(),
        })
    }

    /// The `record` NetSuite holds under `external`, if any, its sublists expanded.
    async fn find(&self, record: &str, external: &str) -> Result<Option<Value>, ErpError> {
        let url = self.url(
            record,
            &format!("eid:{external}"),
            &[("expandSubResources", "true")],
        )?;
        let reply = self.send(reqwest::Method::GET, record, &url, None).await?;
        match reply.status {
            200 => serde_json::from_slice(&reply.body)
                .map(Some)
                .map_err(|e| ErpError::InvalidResponse(format!("a NetSuite {record}: {e}"))),
            404 => Ok(None),
            _ => Err(failure(record, &reply)),
        }
    }

    /// Creates or updates the `record` under `external` and answers its internal id.
    async fn upsert(&self, record: &str, external: &str, body: &Value) -> Result<String, ErpError> {
        let url = self.url(record, &format!("eid:{external}"), &[])?;
        let reply = self
            .send(reqwest::Method::PUT, record, &url, Some(&body.to_string()))
            .await?;
        if !(200..300).contains(&reply.status) {
            return Err(failure(record, &reply));
        }
        // NetSuite answers 204 with the record's URL in Location; the id is its last segment.
        let id = reply
            .header("location")
            .and_then(|l| l.rsplit('/').next())
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        match id {
            Some(id) => Ok(id),
            None => self
                .find(record, external)
                .await?
                .and_then(|r| r["id"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    ErpError::InvalidResponse(format!("NetSuite kept no {record} after the upsert"))
                }),
        }
    }

    fn currency_id(&self, currency: Currency) -> Result<&str, ErpError> {
        let code = currency.code().to_ascii_uppercase();
        self.config
            .currencies
            .get(&code)
            .map(String::as_str)
            .ok_or_else(|| {
                ErpError::Refused(format!(
                    "no NetSuite currency id for {code} (erp.netsuite.currencies)"
                ))
            })
    }

    fn body(&self, entry: &JournalEntry, external: &str) -> Result<Value, ErpError> {
        let currency = entry.currency();
        let lines = entry
            .lines()
            .iter()
            .map(|l| {
                let amount = number(currency, l.amount)?;
                let side = match l.side {
                    Side::Debit => "debit",
                    Side::Credit => "credit",
                };
                let mut line = json!({ "account": { "id": l.account }, side: amount });
                if let Some(memo) = &l.memo {
                    line["memo"] = memo.clone().into();
                }
                Ok(line)
            })
            .collect::<Result<Vec<_>, ErpError>>()?;
        Ok(json!({
            "externalId": external,
            "tranDate": entry.date(),
            "memo": entry.memo(),
            "subsidiary": { "id": self.config.subsidiary },
            "currency": { "id": self.currency_id(currency)? },
            "line": { "items": lines },
        }))
    }
}

/// A record's lines as `(account id, debit minus credit in minor units)`, sorted.
pub fn signed_lines(record: &Value, currency: Currency) -> Result<Vec<(String, i64)>, ErpError> {
    let bad = |what: &str| ErpError::InvalidResponse(format!("NetSuite journal entry: {what}"));
    let items = record["line"]["items"]
        .as_array()
        .ok_or_else(|| bad("no line items"))?;
    let minor = |v: &Value| minor_units(v, currency, "journal entry");
    let mut lines = items
        .iter()
        .map(|l| {
            let account = l["account"]["id"]
                .as_str()
                .ok_or_else(|| bad("a line with no account"))?;
            Ok((
                account.to_string(),
                minor(&l["debit"])? - minor(&l["credit"])?,
            ))
        })
        .collect::<Result<Vec<_>, ErpError>>()?;
    lines.sort();
    Ok(lines)
}

/// NetSuite's error as a classified `ErpError`, its detail and code kept.
fn failure(record: &str, reply: &Reply) -> ErpError {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let detail = &body["o:errorDetails"][0];
    let message = match (detail["o:errorCode"].as_str(), detail["detail"].as_str()) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        _ => reply.text().chars().take(300).collect(),
    };
    match reply.status {
        401 | 403 => ErpError::Unauthorized(reply.status),
        s if s == 429 || s >= 500 => ErpError::Unavailable { status: s, message },
        400 => ErpError::Refused(format!("NetSuite refused the {record}: {message}")),
        s => ErpError::Rejected { status: s, message },
    }
}

/// An amount as a JSON number at the currency's exact scale.
fn number(currency: Currency, minor: tally_core::money::MinorUnit) -> Result<Value, ErpError> {
    let text = format!(
        "{:.*}",
        currency.exponent() as usize,
        currency.to_major(minor)
    );
    serde_json::Number::from_str(&text)
        .map(Value::Number)
        .map_err(|e| ErpError::InvalidResponse(format!("amount {text}: {e}")))
}

/// A JSON number (or null, as zero) in minor units, exactly or an error.
fn minor_units(v: &Value, currency: Currency, what: &str) -> Result<i64, ErpError> {
    let bad = || {
        ErpError::InvalidResponse(format!(
            "NetSuite {what}: amount {v} in {}",
            currency.code()
        ))
    };
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .ok()
            .and_then(|d| currency.to_minor_exact(d).ok())
            .map(|m| m.get())
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[async_trait]
impl Erp for NetsuiteErp {
    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError> {
        const RECORD: &str = "journalentry";
        let external = external_id(entry.idempotency_key());
        let body = self.body(entry, &external)?;
        let wanted = entry.signed_lines();
        let same = |record: &Value| -> Result<bool, ErpError> {
            Ok(
                record["currency"]["id"].as_str() == Some(self.currency_id(entry.currency())?)
                    && signed_lines(record, entry.currency())? == wanted,
            )
        };
        if let Some(record) = self.find(RECORD, &external).await? {
            if !same(&record)? {
                return Err(ErpError::Conflict(entry.idempotency_key().into()));
            }
            let id = record["id"].as_str().unwrap_or_default().to_string();
            return Ok(Posting { id, replayed: true });
        }
        let id = self.upsert(RECORD, &external, &body).await?;
        Ok(Posting {
            id,
            replayed: false,
        })
    }

    async fn post_sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        self.sales_order(order).await
    }

    async fn post_credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        self.credit_memo(memo).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_hold_only_what_netsuite_allows_and_stay_distinct() {
        assert_eq!(
            external_id("tally-magento-default-000000123-payment-ch_1"),
            "tally-magento-default-000000123-payment-ch_1"
        );
        let (a, b) = (external_id("o2c/a:b"), external_id("o2c/a.b"));
        assert_ne!(
            a, b,
            "a hash keeps keys apart that differ only in what is replaced"
        );
        for id in [&a, &b, &external_id(&"x".repeat(300))] {
            assert!(id.len() <= 100, "{id}");
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        }
    }

    #[test]
    fn amounts_are_read_exactly_from_numbers() {
        let record = json!({"line": {"items": [
            {"account": {"id": "1150"}, "debit": serde_json::Number::from_str("1.230").unwrap()},
            {"account": {"id": "1200"}, "credit": serde_json::Number::from_str("1.23").unwrap(), "debit": null},
        ]}});
        assert_eq!(
            signed_lines(&record, Currency::Kwd).unwrap(),
            vec![("1150".into(), 1230), ("1200".into(), -1230)]
        );
        let jpy = json!({"line": {"items": [
            {"account": {"id": "1150"}, "debit": serde_json::Number::from_str("10.5").unwrap()},
        ]}});
        assert!(
            signed_lines(&jpy, Currency::Jpy).is_err(),
            "no silent rounding"
        );
    }

    #[test]
    fn netsuite_errors_are_classified() {
        let reply = |status: u16, code: &str| Reply {
            status,
            headers: Default::default(),
            body: json!({"type": "t", "title": "x", "status": status,
                         "o:errorDetails": [{"detail": "why", "o:errorCode": code}]})
            .to_string()
            .into_bytes(),
        };
        assert!(matches!(
            failure("journal entry", &reply(400, "INVALID_KEY_OR_REF")),
            ErpError::Refused(m) if m.contains("INVALID_KEY_OR_REF: why")
        ));
        assert!(matches!(
            failure("journal entry", &reply(401, "INVALID_LOGIN")),
            ErpError::Unauthorized(401)
        ));
        assert!(matches!(
            failure("journal entry", &reply(429, "CONCURRENCY_LIMIT_EXCEEDED")),
            ErpError::Unavailable { status: 429, .. }
        ));
    }
}
