//! `CommercePlatform` over the Kentico Xperience 13 REST service
//! (`{base}/rest/<object type>[/<id>|/site/<site>]?format=json`), with Basic
//! credentials of a dedicated Kentico user. Kentico answers 403 (not 401)
//! without valid credentials and 404 for an unknown object; listings take
//! `where` (SQL), `orderby` and `topn`. Currency, status and payment option
//! ids are resolved through Kentico's own lists, read once per container and
//! again when an order names an id the cached lists lack.
//! Facts and sources: `../shared/platforms/kentico.md`.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use serde_json::{json, Value};
use tally_core::commerce::kentico::{
    kentico_time, objects_of, order_from, payment_result_xml, sql_text, Geography, Lookups,
    ORDER_OBJECT, PLATFORM,
};
use tally_core::commerce::{
    AwaitingRefunds, ChangeKey, ChangedCustomer, CommercePlatform, CustomerProfile, CustomerUpdate,
    Order, OrderComment, PaymentCapture, PaymentState, PlatformCustomer, PlatformError,
    PlatformRefund, PolledOrder, RefundIntake, RefundRecord,
};
use tally_core::config::KenticoConfig;
use tally_core::secrets::{CachedSecret, KenticoSecrets};
use tokio::sync::RwLock;

use crate::retry::{with_retries, Repeat, Reply};

mod customers;
mod lookups;
mod refunds;

const ITEM_OBJECT: &str = "ecommerce.orderitem";
/// Tally's lines in `OrderNote` start with this, so people can tell them apart.
const NOTE_PREFIX: &str = "[Tally] ";

pub struct KenticoRest {
    client: reqwest::Client,
    base: String,
    config: KenticoConfig,
    secrets: Arc<CachedSecret<KenticoSecrets>>,
    lookups: RwLock<Option<Arc<Lookups>>>,
    /// Countries and states (`cms.country`, `cms.state`), read once per container.
    geography: RwLock<Option<Arc<Geography>>>,
}

/// One path segment, percent-encoded.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn id_of(v: &Value, key: &str) -> Option<String> {
    tally_core::commerce::amounts::id_text(v.get(key)?)
}

impl KenticoRest {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: KenticoConfig,
        secrets: Arc<CachedSecret<KenticoSecrets>>,
    ) -> Self {
        KenticoRest {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            config,
            secrets,
            lookups: RwLock::new(None),
            geography: RwLock::new(None),
        }
    }

    fn unavailable(status: u16, message: String) -> PlatformError {
        PlatformError::Unavailable {
            platform: PLATFORM.into(),
            status,
            message,
        }
    }

    /// Refused by Tally on Kentico's behalf (its REST service validates nothing).
    fn rejected(message: String) -> PlatformError {
        PlatformError::Rejected {
            platform: PLATFORM.into(),
            status: 0,
            message,
        }
    }

    fn invalid(message: String) -> PlatformError {
        PlatformError::InvalidResponse {
            platform: PLATFORM.into(),
            message,
        }
    }

    fn not_found(order_id: &str) -> PlatformError {
        PlatformError::NotFound {
            platform: PLATFORM.into(),
            order_id: order_id.into(),
        }
    }

    async fn send(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        secrets: &KenticoSecrets,
    ) -> Result<Reply, PlatformError> {
        let url = format!("{}/rest/{}", self.base, path);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            secrets.username,
            secrets.password.expose()
        ));
        let auth = format!("Basic {basic}");
        // A POST adds a row each time; GET and PUT (whole values) repeat harmlessly.
        let repeat = if *method == reqwest::Method::POST {
            Repeat::Unsafe
        } else {
            Repeat::Safe
        };
        let mut query = query.to_vec();
        query.push(("format", "json".into()));
        with_retries(
            &self.config.http,
            "kentico",
            &format!("kentico {method} {path}"),
            repeat,
            |timeout| {
                let r = self
                    .client
                    .request(method.clone(), &url)
                    .header("authorization", &auth)
                    .header("accept-charset", "utf-8")
                    .timeout(timeout)
                    .query(&query);
                crate::with_json(r, body).send()
            },
        )
        .await
        .map_err(|e| Self::unavailable(0, e.to_string()))
    }

    /// Sends; a 403 re-reads the secret once (the password may have been
    /// changed). `Ok(None)` is a 404: no such object.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, PlatformError> {
        let secret_error =
            |e: tally_core::secrets::SecretError| Self::unavailable(0, e.to_string());
        let secrets = self.secrets.get().await.map_err(secret_error)?;
        let mut reply = self.send(&method, path, query, body, &secrets).await?;
        if matches!(reply.status, 401 | 403) {
            if let Some(fresh) = self.secrets.refresh().await.map_err(secret_error)? {
                tracing::info!(
                    "Kentico refused the credentials; retrying once with the re-read secret"
                );
                reply = self.send(&method, path, query, body, &fresh).await?;
            }
        }
        let message = |r: &Reply| r.text().chars().take(300).collect::<String>();
        match reply.status {
            404 => Ok(None),
            200..=299 if reply.body.iter().all(u8::is_ascii_whitespace) => Ok(Some(Value::Null)),
            200..=299 => serde_json::from_slice(&reply.body)
                .map(Some)
                .map_err(|e| Self::invalid(format!("{path}: {e}"))),
            401 | 403 => Err(PlatformError::Unauthorized {
                platform: PLATFORM.into(),
                status: reply.status,
            }),
            s if s == 429 || s >= 500 => Err(Self::unavailable(s, message(&reply))),
            s => Err(PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: s,
                message: message(&reply),
            }),
        }
    }

    /// The objects of a listing: `where`, `orderby`, `topn`.
    async fn list(
        &self,
        path: &str,
        object_type: &str,
        filter: &str,
        order_by: &str,
        top: Option<u32>,
    ) -> Result<Vec<Value>, PlatformError> {
        let mut query = vec![
            ("where", filter.to_string()),
            ("orderby", order_by.to_string()),
        ];
        if let Some(top) = top {
            query.push(("topn", top.to_string()));
        }
        let answer = self
            .call(reqwest::Method::GET, path, &query, None)
            .await?
            .unwrap_or(Value::Null);
        Ok(objects_of(&answer, object_type)
            .into_iter()
            .cloned()
            .collect())
    }

    fn site_path(&self, object_type: &str) -> String {
        format!("{object_type}/site/{}", segment(&self.config.site_name))
    }

    /// Orders from their objects (their items read in one listing for all); `with_items` reads their lines too (the
    /// PaymentIntent's description), which writes that check state do not need.
    async fn parse_orders(
        &self,
        objects: &[Value],
        with_items: bool,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let ids: Vec<String> = objects.iter().filter_map(|o| id_of(o, "OrderID")).collect();
        let items = if ids.is_empty() || !with_items {
            Vec::new()
        } else {
            self.list(
                ITEM_OBJECT,
                ITEM_OBJECT,
                &format!("OrderItemOrderID IN ({})", ids.join(",")),
                "OrderItemID",
                None,
            )
            .await?
        };
        let mut lookups = self.lookups(false).await?;
        let mut out = Vec::new();
        for o in objects {
            let id = id_of(o, "OrderID").unwrap_or_default();
            let mine: Vec<&Value> = items
                .iter()
                .filter(|i| id_of(i, "OrderItemOrderID").as_deref() == Some(id.as_str()))
                .collect();
            let mut parsed = order_from(&self.config.site_name, o, &mine, &lookups);
            if parsed.is_err() {
                // a currency, status or payment option added since the lists were read
                lookups = self.lookups(true).await?;
                parsed = order_from(&self.config.site_name, o, &mine, &lookups);
            }
            out.push(match parsed {
                Ok(order) => PolledOrder::Readable(Box::new(order)),
                Err(e) => PolledOrder::Unreadable {
                    order_id: id,
                    updated_at: o
                        .get("OrderLastModified")
                        .and_then(kentico_time)
                        .unwrap_or_default(),
                    reason: e.to_string(),
                },
            });
        }
        Ok(out)
    }

    async fn order_object(&self, order_id: &str) -> Result<Value, PlatformError> {
        if order_id.is_empty() || !order_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::not_found(order_id));
        }
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("{ORDER_OBJECT}/{order_id}"),
                &[],
                None,
            )
            .await?
            .ok_or_else(|| Self::not_found(order_id))?;
        objects_of(&answer, ORDER_OBJECT)
            .first()
            .map(|o| (*o).clone())
            .ok_or_else(|| Self::not_found(order_id))
    }

    /// The order's object and the order it reads as, without its lines:
    /// what a write checks before it changes the order.
    pub(super) async fn order_for_write(
        &self,
        order_id: &str,
    ) -> Result<(Value, Order), PlatformError> {
        let object = self.order_object(order_id).await?;
        let polled = self
            .parse_orders(std::slice::from_ref(&object), false)
            .await?;
        let order = Self::readable(
            polled
                .into_iter()
                .next()
                .ok_or_else(|| Self::not_found(order_id))?,
        )?;
        Ok((object, order))
    }

    fn readable(polled: PolledOrder) -> Result<Order, PlatformError> {
        match polled {
            PolledOrder::Readable(order) => Ok(*order),
            PolledOrder::Unreadable {
                order_id, reason, ..
            } => Err(Self::invalid(format!("order {order_id}: {reason}"))),
        }
    }

    /// `OrderNote` with `text` added as Tally's line (unless it is there already).
    pub(super) fn noted(order: &Value, text: &str) -> String {
        let existing = order["OrderNote"].as_str().unwrap_or_default().trim_end();
        let line = format!("{NOTE_PREFIX}{}", text.replace(['\r', '\n'], " "));
        if existing.lines().any(|l| l == line) {
            return existing.to_string();
        }
        if existing.is_empty() {
            line
        } else {
            format!("{existing}\n{line}")
        }
    }

    /// Changes the order's given fields (Kentico's object API runs its own rules on save).
    pub(super) async fn update_order(
        &self,
        order_id: &str,
        fields: Value,
    ) -> Result<(), PlatformError> {
        self.call(
            reqwest::Method::PUT,
            &format!("{ORDER_OBJECT}/{order_id}"),
            &[],
            Some(&json!({ "ecommerce_order": fields })),
        )
        .await?
        .ok_or_else(|| Self::not_found(order_id))?;
        Ok(())
    }

    pub(super) async fn add_note(&self, order_id: &str, text: &str) -> Result<(), PlatformError> {
        let object = self.order_object(order_id).await?;
        self.update_order(order_id, json!({"OrderNote": Self::noted(&object, text)}))
            .await
    }
}

#[async_trait]
impl CommercePlatform for KenticoRest {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn store(&self) -> &str {
        &self.config.site_name
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        let object = self.order_object(order_id).await?;
        let polled = self
            .parse_orders(std::slice::from_ref(&object), true)
            .await?;
        Self::readable(
            polled
                .into_iter()
                .next()
                .ok_or_else(|| Self::not_found(order_id))?,
        )
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        let found = self
            .list(
                &self.site_path(ORDER_OBJECT),
                ORDER_OBJECT,
                &format!("OrderInvoiceNumber = {}", sql_text(number)),
                "OrderID",
                Some(1),
            )
            .await?;
        match found.first() {
            None => Ok(None),
            Some(o) => {
                let polled = self.parse_orders(std::slice::from_ref(o), true).await?;
                polled.into_iter().next().map(Self::readable).transpose()
            }
        }
    }

    /// A line in `OrderNote`; a status is the failure Tally records: the
    /// configured failed status.
    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError> {
        let object = self.order_object(order_id).await?;
        let mut fields = json!({"OrderNote": Self::noted(&object, &comment.text)});
        if comment.status.is_some() {
            let failed = self
                .status(&self.config.failed_status, "kentico.failed_status", false)
                .await?;
            fields["OrderStatusID"] = Value::from(failed.id.parse::<u64>().unwrap_or_default());
        }
        self.update_order(order_id, fields).await
    }

    /// As a Kentico payment gateway records one: the order moved to the paid
    /// status (flagged `StatusOrderIsPaid`, which sets `OrderIsPaid`), the
    /// payment result with the Stripe ids, and a note.
    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError> {
        let (object, order) = self.order_for_write(order_id).await?;
        if order.payment_state != PaymentState::AwaitingPayment {
            return Err(Self::rejected(format!(
                "order {order_id} is {}: not awaiting payment",
                if order.payment_state == PaymentState::Paid {
                    "paid already".to_string()
                } else {
                    format!("in status {}", order.status)
                }
            )));
        }
        let paid = self
            .status(&self.config.paid_status, "kentico.paid_status", true)
            .await?;
        let amount = capture
            .amount
            .currency
            .to_major(capture.amount.amount)
            .to_string();
        let result = payment_result_xml(&[
            ("completed", "Payment completed", "1", "Paid"),
            (
                "transactionid",
                "Transaction ID",
                &capture.transaction_id,
                "",
            ),
            (
                "authorizationid",
                "PaymentIntent",
                &capture.payment_intent_id,
                "",
            ),
            (
                "method",
                "Payment method",
                order.payment.method.as_deref().unwrap_or(""),
                "Stripe",
            ),
            (
                "status",
                "Status",
                "succeeded",
                &format!("Paid {amount} {} with Stripe", capture.amount.currency),
            ),
        ]);
        self.update_order(
            order_id,
            json!({
                "OrderStatusID": paid.id.parse::<u64>().unwrap_or_default(),
                "OrderIsPaid": true,
                "OrderPaymentResult": result,
                "OrderNote": Self::noted(&object, &capture.comment),
            }),
        )
        .await?;
        Ok(capture.transaction_id.clone())
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        let (_, order) = self.order_for_write(order_id).await?;
        self.refunds_of_order(&order).await
    }

    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        self.record_refund_row(order_id, refund).await
    }

    fn refund_intake(&self) -> RefundIntake {
        RefundIntake::Awaiting
    }

    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.requested_refunds(after, limit).await
    }

    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        self.mark_refunded(order_id, refund_id, sent).await
    }

    /// Keyset over (`OrderLastModified`, `OrderID`) on the site's orders: each
    /// page asks for what was modified at or after the key and skips what the
    /// key has read, so writes during a poll cannot hide an order.
    async fn get_customer(&self, customer_id: &str) -> Result<PlatformCustomer, PlatformError> {
        self.read_customer(customer_id).await
    }

    async fn update_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        self.write_customer(customer_id, update).await
    }

    async fn find_customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        self.customer_with_email(email).await
    }

    async fn create_customer(
        &self,
        profile: &CustomerProfile,
        stripe_customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        self.new_customer(profile, stripe_customer_id).await
    }

    async fn customers_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        self.customers_after(key, limit).await
    }

    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let filter = if key.updated_at.is_empty() {
            "OrderID > 0".to_string()
        } else {
            format!("OrderLastModified >= {}", sql_text(&key.updated_at))
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let objects: Vec<Value> = self
            .list(
                &self.site_path(ORDER_OBJECT),
                ORDER_OBJECT,
                &filter,
                "OrderLastModified, OrderID",
                Some(top),
            )
            .await?
            .into_iter()
            .filter(|o| {
                let id = id_of(o, "OrderID").unwrap_or_default();
                let at = o
                    .get("OrderLastModified")
                    .and_then(kentico_time)
                    .unwrap_or_default();
                key.is_before(&id, &at)
            })
            .take(limit as usize)
            .collect();
        self.parse_orders(&objects, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_added_once_as_tallys_lines() {
        let o = json!({"OrderNote": "Leave at the door"});
        let once = KenticoRest::noted(&o, "Paid\nwith Stripe");
        assert_eq!(once, "Leave at the door\n[Tally] Paid with Stripe");
        assert_eq!(
            KenticoRest::noted(&json!({"OrderNote": once.clone()}), "Paid\nwith Stripe"),
            once
        );
        assert_eq!(
            KenticoRest::noted(&json!({"OrderNote": null}), "x"),
            "[Tally] x"
        );
        assert_eq!(segment("Dancing Goat/1"), "Dancing%20Goat%2F1");
    }
}
