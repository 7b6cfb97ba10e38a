//! `CommercePlatform` over Magento 2 / Adobe Commerce REST
//! (`{base}/rest/{store_code}/V1/...`), authenticated with the integration's
//! access token as a bearer token.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tally_core::commerce::magento::{parse_order, PLATFORM};
use tally_core::commerce::{
    CommercePlatform, Order, OrderComment, OrderPage, PaymentCapture, PlatformError,
};
use tally_core::config::MagentoConfig;
use tally_core::secrets::{CachedSecret, MagentoSecrets};

use crate::retry::{with_retries, Reply};

pub struct MagentoRest {
    client: reqwest::Client,
    base: String,
    store_code: String,
    config: MagentoConfig,
    secrets: Arc<CachedSecret<MagentoSecrets>>,
}

/// Magento's error body: `{"message": "... %1 ...", "parameters": [...] | {...}}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    parameters: Option<Value>,
}

/// Fills Magento's `%1`/`%name` placeholders so the error reads as the admin would see it.
pub fn render_error(body: &[u8]) -> Option<String> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    let mut message = e.message;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match e.parameters {
        Some(Value::Array(values)) => {
            for (i, v) in values.iter().enumerate().rev() {
                message = message.replace(&format!("%{}", i + 1), &text(v));
            }
        }
        Some(Value::Object(map)) => {
            for (k, v) in &map {
                message = message.replace(&format!("%{k}"), &text(v));
            }
        }
        _ => {}
    }
    Some(message)
}

/// One filter of Magento's `searchCriteria` query syntax.
pub fn search_query(
    filters: &[(&str, &str, &str)],
    sort: Option<(&str, &str)>,
    page: u32,
    page_size: u32,
) -> Vec<(String, String)> {
    let mut q = Vec::new();
    for (g, (field, value, condition)) in filters.iter().enumerate() {
        let prefix = format!("searchCriteria[filter_groups][{g}][filters][0]");
        q.push((format!("{prefix}[field]"), field.to_string()));
        q.push((format!("{prefix}[value]"), value.to_string()));
        q.push((format!("{prefix}[condition_type]"), condition.to_string()));
    }
    if let Some((field, direction)) = sort {
        q.push(("searchCriteria[sortOrders][0][field]".into(), field.into()));
        q.push((
            "searchCriteria[sortOrders][0][direction]".into(),
            direction.into(),
        ));
    }
    q.push(("searchCriteria[pageSize]".into(), page_size.to_string()));
    q.push(("searchCriteria[currentPage]".into(), page.to_string()));
    q
}

impl MagentoRest {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: MagentoConfig,
        secrets: Arc<CachedSecret<MagentoSecrets>>,
    ) -> Self {
        MagentoRest {
            client,
            base: format!(
                "{}/rest/{}/V1",
                base_url.trim_end_matches('/'),
                config.store_code
            ),
            store_code: config.store_code.clone(),
            config,
            secrets,
        }
    }

    fn unavailable(status: u16, message: String) -> PlatformError {
        PlatformError::Unavailable {
            platform: PLATFORM.into(),
            status,
            message,
        }
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        token: &str,
    ) -> Result<Reply, PlatformError> {
        let url = format!("{}{}", self.base, path);
        with_retries(
            &self.config.http,
            &format!("magento {method} {path}"),
            || {
                let mut r = self
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(token)
                    .timeout(Duration::from_millis(self.config.http.timeout_ms))
                    .query(query);
                if let Some(b) = body {
                    r = r
                        .header("content-type", "application/json")
                        .body(b.to_string());
                }
                r.send()
            },
        )
        .await
        .map_err(|e| Self::unavailable(0, e.without_url().to_string()))
    }

    /// Sends with retries; a 401 re-reads the secret once (the token may have
    /// been rotated) before giving up.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Reply, PlatformError> {
        let secret_error =
            |e: tally_core::secrets::SecretError| Self::unavailable(0, e.to_string());
        let secrets = self.secrets.get().await.map_err(secret_error)?;
        let token = secrets
            .access_token
            .as_ref()
            .ok_or(PlatformError::Unauthorized {
                platform: PLATFORM.into(),
                status: 0,
            })?;
        let mut reply = self
            .send_once(&method, path, query, body, token.expose())
            .await?;
        if reply.status == 401 {
            if let Some(fresh) = self.secrets.refresh().await.map_err(secret_error)? {
                if let Some(t) = &fresh.access_token {
                    tracing::info!("Magento answered 401; retrying once with the re-read token");
                    reply = self
                        .send_once(&method, path, query, body, t.expose())
                        .await?;
                }
            }
        }
        match reply.status {
            200..=299 => Ok(reply),
            401 | 403 => Err(PlatformError::Unauthorized {
                platform: PLATFORM.into(),
                status: reply.status,
            }),
            s if s == 429 || s >= 500 => Err(Self::unavailable(
                s,
                render_error(&reply.body)
                    .unwrap_or_else(|| reply.text().chars().take(300).collect()),
            )),
            s => Err(PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: s,
                message: render_error(&reply.body)
                    .unwrap_or_else(|| reply.text().chars().take(300).collect()),
            }),
        }
    }

    fn invalid(message: String) -> PlatformError {
        PlatformError::InvalidResponse {
            platform: PLATFORM.into(),
            message,
        }
    }

    fn orders_of(&self, reply: &Reply) -> Result<OrderPage, PlatformError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Box<serde_json::value::RawValue>>,
            #[serde(default)]
            total_count: u64,
        }
        let page: Page =
            serde_json::from_slice(&reply.body).map_err(|e| Self::invalid(e.to_string()))?;
        let orders = page
            .items
            .iter()
            .map(|raw| {
                parse_order(&self.store_code, raw.get().as_bytes())
                    .map_err(|e| Self::invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrderPage {
            orders,
            total_count: page.total_count,
        })
    }
}

#[async_trait]
impl CommercePlatform for MagentoRest {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn store(&self) -> &str {
        &self.store_code
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        let reply = match self
            .call(
                reqwest::Method::GET,
                &format!("/orders/{order_id}"),
                &[],
                None,
            )
            .await
        {
            Err(PlatformError::Rejected { status: 404, .. }) => {
                return Err(PlatformError::NotFound {
                    platform: PLATFORM.into(),
                    order_id: order_id.into(),
                })
            }
            other => other?,
        };
        parse_order(&self.store_code, &reply.body)
            .map_err(|e| Self::invalid(format!("order {order_id}: {e}")))
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        let query = search_query(&[("increment_id", number, "eq")], None, 1, 1);
        let reply = self
            .call(reqwest::Method::GET, "/orders", &query, None)
            .await?;
        Ok(self.orders_of(&reply)?.orders.into_iter().next())
    }

    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError> {
        let mut history = json!({
            "comment": comment.text,
            "is_customer_notified": u8::from(comment.notify_customer),
            "is_visible_on_front": u8::from(comment.visible_on_front),
            "parent_id": order_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(order_id)),
        });
        if let Some(status) = &comment.status {
            history["status"] = Value::from(status.clone());
        }
        self.call(
            reqwest::Method::POST,
            &format!("/orders/{order_id}/comments"),
            &[],
            Some(&json!({ "statusHistory": history })),
        )
        .await
        .map(|_| ())
    }

    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError> {
        // capture=false is an offline capture: Magento records the invoice as
        // paid without asking a gateway, because Stripe already has the money.
        let body = json!({
            "capture": false,
            "notify": capture.notify_customer,
            "appendComment": true,
            "comment": { "comment": capture.comment, "is_visible_on_front": 0 },
        });
        let reply = self
            .call(
                reqwest::Method::POST,
                &format!("/order/{order_id}/invoice"),
                &[],
                Some(&body),
            )
            .await?;
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(Value::String(s)) => Ok(s),
            Ok(Value::Number(n)) => Ok(n.to_string()),
            other => Err(Self::invalid(format!("invoice id: {other:?}"))),
        }
    }

    async fn orders_updated_since(
        &self,
        since: &str,
        page: u32,
        page_size: u32,
    ) -> Result<OrderPage, PlatformError> {
        let query = search_query(
            &[("updated_at", since, "gteq")],
            Some(("updated_at", "ASC")),
            page,
            page_size,
        );
        let reply = self
            .call(reqwest::Method::GET, "/orders", &query, None)
            .await?;
        self.orders_of(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magento_errors_read_like_the_admin_sees_them() {
        assert_eq!(
            render_error(br#"{"message":"The \"%1\" status is not assigned to the \"%2\" state.","parameters":["payment_failed","processing"]}"#).unwrap(),
            r#"The "payment_failed" status is not assigned to the "processing" state."#
        );
        assert_eq!(
            render_error(br#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_Sales::sales"}}"#).unwrap(),
            "The consumer isn't authorized to access Magento_Sales::sales."
        );
        assert!(render_error(b"<html>").is_none());
    }

    #[test]
    fn search_criteria_use_magentos_bracket_syntax() {
        let q = search_query(
            &[("updated_at", "2026-11-26 10:00:00", "gteq")],
            Some(("updated_at", "ASC")),
            2,
            50,
        );
        assert!(q.contains(&(
            "searchCriteria[filter_groups][0][filters][0][field]".into(),
            "updated_at".into()
        )));
        assert!(q.contains(&(
            "searchCriteria[filter_groups][0][filters][0][condition_type]".into(),
            "gteq".into()
        )));
        assert!(q.contains(&("searchCriteria[currentPage]".into(), "2".into())));
    }
}
