//! Tryton's JSON-RPC as Tally uses it (facts: ../shared/platforms/erp.md §3):
//! `POST {base}/{database}/` with `{"id", "method", "params"}`, answered
//! `{"id", "result"}` or `{"id", "error": [name, args]}`. A session comes from
//! `common.db.login` (`[login, {"password"}, language]` -> `[user id, session, ...]`)
//! and rides in `Authorization: Session base64("login:user_id:session")`.
//! Decimals and dates travel as Tryton's tagged objects.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use tally_core::config::HttpPolicy;
use tally_core::erp::ErpError;
use tally_core::secrets::{CachedSecret, TrytonSecrets};
use tokio::sync::Mutex;

use crate::retry::{with_retries, Repeat};

pub struct TrytonRpc {
    client: reqwest::Client,
    url: String,
    http: HttpPolicy,
    secrets: Arc<CachedSecret<TrytonSecrets>>,
    /// The `Authorization` header of the open session.
    session: Mutex<Option<String>>,
}

/// `Decimal("12.34")` as Tryton's JSON encoder writes it.
pub fn decimal(text: String) -> Value {
    json!({"__class__": "Decimal", "decimal": text})
}

/// A `YYYY-MM-DD` date as Tryton's JSON encoder writes it.
pub fn date(text: &str) -> Option<Value> {
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    Some(json!({"__class__": "date", "year": year, "month": month, "day": day}))
}

enum Answer {
    Result(Value),
    /// Tryton raised: its exception's name and arguments (a UserError's message first).
    Raised(String, String),
    /// The session was refused (401/403).
    Unauthorized(u16),
}

impl TrytonRpc {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        database: &str,
        http: HttpPolicy,
        secrets: Arc<CachedSecret<TrytonSecrets>>,
    ) -> Self {
        TrytonRpc {
            client,
            url: format!("{}/{database}/", base_url.trim_end_matches('/')),
            http,
            secrets,
            session: Mutex::new(None),
        }
    }

    /// Calls `method` in a session (opened, or re-opened once if Tryton refuses it).
    /// `repeat`: whether the call may be sent again after an answer was lost.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        repeat: Repeat,
    ) -> Result<Value, ErpError> {
        for attempt in 0..2 {
            let session = self.session(attempt > 0).await?;
            match self.send(method, &params, Some(&session), repeat).await? {
                Answer::Result(v) => return Ok(v),
                Answer::Raised(name, message) => return Err(raised(method, &name, &message)),
                Answer::Unauthorized(_) if attempt == 0 => {
                    tracing::info!("Tryton refused the session; logging in again");
                }
                Answer::Unauthorized(status) => return Err(ErpError::Unauthorized(status)),
            }
        }
        unreachable!("the second attempt returns")
    }

    async fn session(&self, renew: bool) -> Result<String, ErpError> {
        let mut session = self.session.lock().await;
        if renew {
            *session = None;
        }
        if let Some(s) = session.as_ref() {
            return Ok(s.clone());
        }
        // A refused login may be a rotated password: the secret is read again once.
        let mut secrets = self.secrets.get().await.map_err(secret_error)?;
        for attempt in 0..2 {
            let params = json!([secrets.login, {"password": secrets.password.expose()}, "en"]);
            match self
                .send("common.db.login", &params, None, Repeat::Safe)
                .await?
            {
                Answer::Result(v) => {
                    let (Some(user), Some(key)) = (v[0].as_i64(), v[1].as_str()) else {
                        return Err(ErpError::InvalidResponse(format!(
                            "Tryton login answered {v}"
                        )));
                    };
                    let token = base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{user}:{key}", secrets.login));
                    let header = format!("Session {token}");
                    *session = Some(header.clone());
                    return Ok(header);
                }
                Answer::Raised(..) | Answer::Unauthorized(_) if attempt == 0 => {
                    match self.secrets.refresh().await.map_err(secret_error)? {
                        Some(fresh) => secrets = fresh,
                        None => return Err(ErpError::Unauthorized(401)),
                    }
                }
                Answer::Raised(..) | Answer::Unauthorized(_) => {
                    return Err(ErpError::Unauthorized(401))
                }
            }
        }
        Err(ErpError::Unauthorized(401))
    }

    async fn send(
        &self,
        method: &str,
        params: &Value,
        session: Option<&str>,
        repeat: Repeat,
    ) -> Result<Answer, ErpError> {
        let body = json!({"id": 1, "method": method, "params": params}).to_string();
        let reply = with_retries(
            &self.http,
            "erp",
            &format!("tryton {method}"),
            repeat,
            |timeout| {
                let mut request = self
                    .client
                    .post(&self.url)
                    .timeout(timeout)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(s) = session {
                    request = request.header("authorization", s);
                }
                request.send()
            },
        )
        .await
        .map_err(|e| ErpError::Unavailable {
            status: 0,
            message: e.to_string(),
        })?;
        match reply.status {
            200 => {}
            401 | 403 => return Ok(Answer::Unauthorized(reply.status)),
            s if s == 429 || s >= 500 => {
                return Err(ErpError::Unavailable {
                    status: s,
                    message: reply.text().chars().take(300).collect(),
                })
            }
            s => {
                return Err(ErpError::Rejected {
                    status: s,
                    message: reply.text().chars().take(300).collect(),
                })
            }
        }
        let answer: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| ErpError::InvalidResponse(format!("Tryton {method}: {e}")))?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            let name = error[0].as_str().unwrap_or("error").to_string();
            // A UserError's args are [message, description, ...]; others vary.
            let message = match &error[1] {
                Value::Array(args) => args
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            return Ok(Answer::Raised(name, message));
        }
        Ok(Answer::Result(
            answer.get("result").cloned().unwrap_or(Value::Null),
        ))
    }
}

fn secret_error(e: tally_core::secrets::SecretError) -> ErpError {
    ErpError::Unavailable {
        status: 0,
        message: e.to_string(),
    }
}

/// What Tryton raising means for the posting: a rule of the ledger (a closed
/// period, an unbalanced move, a missing value) is a refusal a person must look
/// at; a concurrent update or a database timeout is worth retrying.
fn raised(method: &str, name: &str, message: &str) -> ErpError {
    let transient = [
        "ConcurrencyException",
        "DatabaseOperationalError",
        "TimeoutException",
        "RateLimitException",
    ];
    if transient.iter().any(|t| name.contains(t)) {
        ErpError::Unavailable {
            status: 0,
            message: format!("Tryton {method}: {name} {message}"),
        }
    } else {
        ErpError::Refused(format!("Tryton {method}: {name}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_core::error::Retryable;

    #[test]
    fn values_travel_as_trytons_tagged_objects() {
        assert_eq!(
            date("2026-11-27").unwrap(),
            json!({"__class__": "date", "year": 2026, "month": 11, "day": 27})
        );
        assert!(date("27/11/2026").is_none() && date("2026-11").is_none());
        assert_eq!(
            decimal("12.340".into()),
            json!({"__class__": "Decimal", "decimal": "12.340"})
        );
    }

    #[test]
    fn ledger_rules_are_refusals_and_contention_is_retried() {
        let closed = raised(
            "model.account.move.create",
            "UserError",
            "The period is closed.",
        );
        assert!(!closed.is_retryable() && closed.to_string().contains("period is closed"));
        assert!(raised("m", "ConcurrencyException", "x").is_retryable());
    }
}
