//! `CommercePlatform` over Magento 2 / Adobe Commerce REST
//! (`{base}/rest/{store_code}/V1/...`), authenticated with the integration's
//! access token as a bearer token.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tally_core::commerce::magento::{
    creditmemo_comment_request, customer_update_request, new_customer_request, order_item_ids,
    parse_creditmemos, parse_customer, parse_order, parse_polled_creditmemos, refund_request,
    PLATFORM,
};
use tally_core::commerce::{
    AwaitingRefunds, ChangeKey, ChangedCustomer, CommercePlatform, CustomerProfile, CustomerUpdate,
    Order, OrderComment, PaymentCapture, PlatformCustomer, PlatformError, PlatformRefund,
    PolledOrder, PolledRefund, RefundIntake, RefundRecord,
};
use tally_core::config::MagentoConfig;
use tally_core::secrets::{CachedSecret, MagentoSecrets};
use tally_core::stripe::objects::Metadata;

use crate::retry::{with_retries, Repeat, Reply};

mod returns;

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

/// Magento's `searchCriteria` query: each filter its own group (groups AND),
/// then the sort orders in priority, then the page.
pub fn search_query(
    filters: &[(&str, &str, &str)],
    sorts: &[(&str, &str)],
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
    for (i, (field, direction)) in sorts.iter().enumerate() {
        q.push((
            format!("searchCriteria[sortOrders][{i}][field]"),
            field.to_string(),
        ));
        q.push((
            format!("searchCriteria[sortOrders][{i}][direction]"),
            direction.to_string(),
        ));
    }
    q.push(("searchCriteria[pageSize]".into(), page_size.to_string()));
    q.push(("searchCriteria[currentPage]".into(), page.to_string()));
    q
}

/// The two searches of a keyed poll (orders and customers alike): the rest of
/// the key's second (by id, past those seen), then what changed later.
fn changed_after_queries(key: &ChangeKey, limit: u32) -> [Vec<(String, String)>; 2] {
    let seen = key.seen.join(",");
    let mut same_second = vec![("updated_at", key.updated_at.as_str(), "eq")];
    if !key.seen.is_empty() {
        same_second.push(("entity_id", seen.as_str(), "nin"));
    }
    [
        search_query(&same_second, &[("entity_id", "ASC")], 1, limit),
        search_query(
            &[("updated_at", key.updated_at.as_str(), "gt")],
            &[("updated_at", "ASC"), ("entity_id", "ASC")],
            1,
            limit,
        ),
    ]
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
        // Magento does not deduplicate writes: a POST that may have arrived is
        // not sent again; the step fails and its next run re-reads the order.
        let repeat = if *method == reqwest::Method::GET {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        with_retries(
            &self.config.http,
            "magento",
            &format!("magento {method} {path}"),
            repeat,
            |timeout| {
                let r = self
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(token)
                    .timeout(timeout)
                    .query(query);
                crate::with_json(r, body).send()
            },
        )
        .await
        .map_err(|e| Self::unavailable(0, e.to_string()))
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

    /// A search's items, each parsed on its own: one order Tally cannot read
    /// is reported as such and never hides the others.
    fn orders_of(&self, reply: &Reply) -> Result<Vec<PolledOrder>, PlatformError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Box<serde_json::value::RawValue>>,
        }
        let page: Page =
            serde_json::from_slice(&reply.body).map_err(|e| Self::invalid(e.to_string()))?;
        page.items
            .iter()
            .map(
                |raw| match parse_order(&self.store_code, raw.get().as_bytes()) {
                    Ok(order) => Ok(PolledOrder::Readable(Box::new(order))),
                    Err(e) => {
                        #[derive(Deserialize)]
                        struct Key {
                            entity_id: Value,
                            #[serde(default)]
                            updated_at: String,
                        }
                        let key: Key = serde_json::from_str(raw.get()).map_err(|_| {
                            Self::invalid(format!("an order without entity_id: {e}"))
                        })?;
                        let order_id = match key.entity_id {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        Ok(PolledOrder::Unreadable {
                            order_id,
                            updated_at: key.updated_at,
                            reason: e.to_string(),
                        })
                    }
                },
            )
            .collect()
    }

    /// The order's REST JSON; Magento's 404 is NotFound.
    /// The order's credit memos (`GET /V1/creditmemos` by `order_id`).
    async fn credit_memos_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        let mut refunds = Vec::new();
        for page in 1.. {
            let query = search_query(
                &[("order_id", order_id, "eq")],
                &[("entity_id", "ASC")],
                page,
                100,
            );
            let reply = self
                .call(reqwest::Method::GET, "/creditmemos", &query, None)
                .await?;
            let found = parse_creditmemos(&reply.body)
                .map_err(|e| Self::invalid(format!("credit memos of order {order_id}: {e}")))?;
            let last = found.len() < 100;
            refunds.extend(found);
            if last {
                break;
            }
        }
        Ok(refunds)
    }

    /// `POST /V1/order/{id}/refund`, offline, for the record's amount.
    async fn create_credit_memo(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        let order = self.raw_order(order_id).await?;
        let items =
            order_item_ids(&order).map_err(|e| Self::invalid(format!("order {order_id}: {e}")))?;
        let reply = self
            .call(
                reqwest::Method::POST,
                &format!("/order/{order_id}/refund"),
                &[],
                Some(&refund_request(&items, refund)),
            )
            .await?;
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(Value::String(s)) => Ok(s),
            Ok(Value::Number(n)) => Ok(n.to_string()),
            other => Err(Self::invalid(format!("credit memo id: {other:?}"))),
        }
    }

    async fn raw_order(&self, order_id: &str) -> Result<Vec<u8>, PlatformError> {
        match self
            .call(
                reqwest::Method::GET,
                &format!("/orders/{order_id}"),
                &[],
                None,
            )
            .await
        {
            Err(PlatformError::Rejected { status: 404, .. }) => Err(PlatformError::NotFound {
                platform: PLATFORM.into(),
                order_id: order_id.into(),
            }),
            other => Ok(other?.body.to_vec()),
        }
    }

    async fn raw_customer(&self, customer_id: &str) -> Result<Vec<u8>, PlatformError> {
        let id: String = url::form_urlencoded::byte_serialize(customer_id.as_bytes()).collect();
        match self
            .call(reqwest::Method::GET, &format!("/customers/{id}"), &[], None)
            .await
        {
            Err(PlatformError::Rejected { status: 404, .. }) => {
                Err(PlatformError::CustomerNotFound {
                    platform: PLATFORM.into(),
                    customer_id: customer_id.into(),
                })
            }
            other => Ok(other?.body.to_vec()),
        }
    }

    async fn search_customers(
        &self,
        query: &[(String, String)],
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        #[derive(Deserialize)]
        struct Found {
            id: Value,
            updated_at: String,
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Found>,
        }
        let reply = self
            .call(reqwest::Method::GET, "/customers/search", query, None)
            .await?;
        let page: Page = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("customer search: {e}")))?;
        page.items
            .into_iter()
            .map(|c| {
                let customer_id = tally_core::commerce::amounts::id_text(&c.id)
                    .ok_or_else(|| Self::invalid(format!("customer id {}", c.id)))?;
                Ok(ChangedCustomer {
                    customer_id,
                    updated_at: c.updated_at,
                })
            })
            .collect()
    }

    async fn search_orders(
        &self,
        query: &[(String, String)],
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let reply = self
            .call(reqwest::Method::GET, "/orders", query, None)
            .await?;
        self.orders_of(&reply)
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
        let body = self.raw_order(order_id).await?;
        parse_order(&self.store_code, &body)
            .map_err(|e| Self::invalid(format!("order {order_id}: {e}")))
    }

    async fn get_customer(&self, customer_id: &str) -> Result<PlatformCustomer, PlatformError> {
        let raw = self.raw_customer(customer_id).await?;
        parse_customer(
            &self.store_code,
            self.config.stripe_customer_attribute.as_deref(),
            &raw,
        )
        .map_err(Self::invalid)
    }

    async fn find_customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<Value>,
        }
        let query = search_query(&[("email", email, "eq")], &[], 1, 1);
        let reply = self
            .call(reqwest::Method::GET, "/customers/search", &query, None)
            .await?;
        let page: Page = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("customer search: {e}")))?;
        let attribute = self.config.stripe_customer_attribute.as_deref();
        page.items
            .first()
            .map(|c| {
                parse_customer(&self.store_code, attribute, c.to_string().as_bytes())
                    .map_err(Self::invalid)
            })
            .transpose()
    }

    async fn create_customer(
        &self,
        profile: &CustomerProfile,
        stripe_customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let attribute = self.config.stripe_customer_attribute.as_deref();
        let body = new_customer_request(
            profile,
            stripe_customer_id,
            attribute,
            self.config.website_id,
        );
        let reply = self
            .call(reqwest::Method::POST, "/customers", &[], Some(&body))
            .await?;
        parse_customer(&self.store_code, attribute, &reply.body).map_err(Self::invalid)
    }

    /// By key, as orders are: the rest of the key's second, then later changes.
    async fn customers_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        let [rest_of_second, later] = changed_after_queries(key, limit);
        let found = self.search_customers(&rest_of_second).await?;
        if !found.is_empty() {
            return Ok(found);
        }
        self.search_customers(&later).await
    }

    /// Magento's PUT replaces the customer, so the body is the record just
    /// read with the update applied; an update with nothing Magento can hold
    /// (a Stripe id and no attribute configured) sends nothing.
    async fn update_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let attribute = self.config.stripe_customer_attribute.as_deref();
        if update.profile.is_none() && attribute.is_none() {
            return Ok(());
        }
        let raw = self.raw_customer(customer_id).await?;
        let body = customer_update_request(&raw, update, attribute).map_err(Self::invalid)?;
        let id: String = url::form_urlencoded::byte_serialize(customer_id.as_bytes()).collect();
        self.call(
            reqwest::Method::PUT,
            &format!("/customers/{id}"),
            &[],
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        let query = search_query(&[("increment_id", number, "eq")], &[], 1, 1);
        match self.search_orders(&query).await?.into_iter().next() {
            None => Ok(None),
            Some(PolledOrder::Readable(order)) => Ok(Some(*order)),
            Some(PolledOrder::Unreadable {
                order_id, reason, ..
            }) => Err(Self::invalid(format!("order {order_id}: {reason}"))),
        }
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

    /// The order's credit memos, each with the Stripe refund its comments
    /// name, and its returns that are refund records. An unknown order is NotFound.
    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        let order = self.raw_order(order_id).await?;
        let mut refunds = self.credit_memos_of(order_id).await?;
        refunds.extend(self.returns_of(order_id, &order).await?);
        Ok(refunds)
    }

    /// An offline credit memo for the amount refunded in Stripe (no items, no
    /// shipping, the amount as an adjustment); Magento answers its entity id.
    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        self.create_credit_memo(order_id, refund).await
    }

    /// Credit memos by creation key; with returns configured, also the
    /// returns processed without one, by their state.
    fn refund_intake(&self) -> RefundIntake {
        if self.reads_returns() {
            RefundIntake::CreatedAndAwaiting
        } else {
            RefundIntake::Created
        }
    }

    /// Returns processed and closed that await a refund (credit memos never
    /// change state: they are read by creation key only).
    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.returns_awaiting(after, limit).await
    }

    /// Credit memos by creation time and id, keyed as the order poll is: the
    /// rest of the key's own second first, then what was made after it.
    async fn refunds_created_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        let seen = key.seen.join(",");
        let mut same_second = vec![("created_at", key.updated_at.as_str(), "eq")];
        if !key.seen.is_empty() {
            same_second.push(("entity_id", seen.as_str(), "nin"));
        }
        let queries = [
            search_query(&same_second, &[("entity_id", "ASC")], 1, limit),
            search_query(
                &[("created_at", key.updated_at.as_str(), "gt")],
                &[("created_at", "ASC"), ("entity_id", "ASC")],
                1,
                limit,
            ),
        ];
        for query in queries {
            let reply = self
                .call(reqwest::Method::GET, "/creditmemos", &query, None)
                .await?;
            let found = parse_polled_creditmemos(&self.store_code, &reply.body)
                .map_err(|e| Self::invalid(format!("credit memos: {e}")))?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// A comment on the credit memo naming the Stripe refund (read back by
    /// `refunds_of`); for a return, its credit memo and a comment on it.
    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        if self.note_return_refunded(order_id, refund_id, sent).await? {
            return Ok(());
        }
        self.call(
            reqwest::Method::POST,
            &format!("/creditmemo/{refund_id}/comments"),
            &[],
            Some(&creditmemo_comment_request(refund_id, &sent.comment)),
        )
        .await
        .map(|_| ())
    }

    /// Two keyset queries, both always page 1 so nothing shifts under them:
    /// first the rest of the key's own second (`updated_at eq`, ids not yet
    /// read, by id), then what changed after it (`updated_at gt`, by time then id).
    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let [rest_of_second, later] = changed_after_queries(key, limit);
        let found = self.search_orders(&rest_of_second).await?;
        if !found.is_empty() {
            return Ok(found);
        }
        self.search_orders(&later).await
    }

    /// Stripe's Magento module puts the order number under "Order #" and its
    /// own name and version under "Module" ("Magento2 v…") on the
    /// PaymentIntents it makes at checkout.
    fn checkout_order_number(&self, metadata: &Metadata) -> Option<String> {
        let module = metadata.get("Module")?;
        module
            .starts_with("Magento2")
            .then(|| metadata.get("Order #").cloned())
            .flatten()
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
            &[("updated_at", "ASC"), ("entity_id", "ASC")],
            2,
            50,
        );
        assert!(q.contains(&(
            "searchCriteria[sortOrders][1][field]".into(),
            "entity_id".into()
        )));
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
