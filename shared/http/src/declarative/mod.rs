//! `CommercePlatform` over any REST commerce API a mapping document describes
//! (`tally_core::commerce::declarative`): each operation is the mapping's
//! method, path and body with the call's values filled in, and each answer is
//! read through the mapping's pointers. Writes check the order as the
//! platform shows it first, so a retry never records a payment or a refund
//! twice: a payment only on an order awaiting one, a refund only when no
//! record names its Stripe refund yet.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tally_core::commerce::declarative::fields::{order_from, order_identity, platform_date, text};
use tally_core::commerce::declarative::mapping::{Field, Paging};
use tally_core::commerce::declarative::template::{encode_component, Values};
use tally_core::commerce::declarative::RestMapping;
use tally_core::commerce::{
    AwaitingRefunds, ChangeKey, ChangedCustomer, CommercePlatform, CustomerUpdate, Order,
    OrderComment, PaymentCapture, PaymentState, PlatformCustomer, PlatformError, PlatformRefund,
    PolledOrder, PolledRefund, RefundIntake, RefundRecord,
};
use tally_core::secrets::{CachedSecret, RestSecrets};
use tokio::sync::Mutex;

use crate::retry::{with_retries, Repeat, Reply};

mod auth;
mod customers;
mod refunds;

/// Most pages one listing call reads while looking for changes after its key.
const MAX_PAGES: usize = 20;
/// Where a listing starts when no key has been kept yet.
const EPOCH: &str = "1970-01-01 00:00:00";

pub struct RestPlatform {
    client: reqwest::Client,
    /// The platform's name in order refs (`rest_platforms` key), `'static`
    /// for metrics: made once per container.
    name: &'static str,
    base: String,
    mapping: RestMapping,
    secrets: Arc<CachedSecret<RestSecrets>>,
    token: Mutex<Option<auth::Token>>,
}

impl RestPlatform {
    pub fn new(
        client: reqwest::Client,
        name: &str,
        mapping: RestMapping,
        secrets: Arc<CachedSecret<RestSecrets>>,
    ) -> Self {
        RestPlatform {
            client,
            name: Box::leak(name.to_string().into_boxed_str()),
            base: mapping.base_url.trim_end_matches('/').to_string(),
            mapping,
            secrets,
            token: Mutex::new(None),
        }
    }

    fn unavailable(&self, status: u16, message: String) -> PlatformError {
        PlatformError::Unavailable {
            platform: self.name.into(),
            status,
            message,
        }
    }

    fn invalid(&self, message: String) -> PlatformError {
        PlatformError::InvalidResponse {
            platform: self.name.into(),
            message,
        }
    }

    fn rejected(&self, message: String) -> PlatformError {
        PlatformError::Rejected {
            platform: self.name.into(),
            status: 0,
            message,
        }
    }

    fn not_found(&self, order_id: &str) -> PlatformError {
        PlatformError::NotFound {
            platform: self.name.into(),
            order_id: order_id.into(),
        }
    }

    async fn send(
        &self,
        method: &reqwest::Method,
        url: &str,
        body: Option<&Value>,
        secrets: &RestSecrets,
    ) -> Result<Reply, PlatformError> {
        let (header, value) = self.auth_header(secrets).await?;
        // A POST may add a record each time; the others set whole values.
        let repeat = if *method == reqwest::Method::POST {
            Repeat::Unsafe
        } else {
            Repeat::Safe
        };
        let path = url.split('?').next().unwrap_or_default();
        with_retries(
            &self.mapping.http,
            self.name,
            &format!(
                "{} {method} {}",
                self.name,
                path.trim_start_matches(&self.base)
            ),
            repeat,
            |timeout| {
                let r = self
                    .client
                    .request(method.clone(), url)
                    .header(header.as_str(), value.as_str())
                    .header("accept", "application/json")
                    .timeout(timeout);
                crate::with_json(r, body).send()
            },
        )
        .await
        .map_err(|e| self.unavailable(0, e.to_string()))
    }

    /// Runs the operation `name` with `values` (and a cursor as `extra`
    /// query). A 401 or 403 signs in again once (a new token, the secret
    /// re-read). `Ok(None)` is a 404.
    async fn call(
        &self,
        name: &str,
        values: &Values,
        extra: Option<(&str, &str)>,
    ) -> Result<Option<Value>, PlatformError> {
        let op = self
            .mapping
            .operation(name)
            .ok_or_else(|| self.rejected(format!("the mapping has no {name} operation")))?;
        let mut url = format!(
            "{}{}",
            self.base,
            op.path_template()
                .render(values, encode_component)
                .map_err(|e| self.rejected(format!("{name}: {e}")))?
        );
        if let Some((param, value)) = extra {
            let joiner = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{joiner}{param}={}", encode_component(value));
        }
        let body = op
            .body
            .as_ref()
            .map(|b| values.body(b))
            .transpose()
            .map_err(|e| self.rejected(format!("{name}: {e}")))?;
        let method = reqwest::Method::from_bytes(op.method.as_bytes())
            .map_err(|e| self.rejected(e.to_string()))?;
        let secret_error = |e: tally_core::secrets::SecretError| self.unavailable(0, e.to_string());
        let secrets = self.secrets.get().await.map_err(secret_error)?;
        let mut reply = self.send(&method, &url, body.as_ref(), &secrets).await?;
        if matches!(reply.status, 401 | 403) {
            self.forget_token().await;
            let fresh = self.secrets.refresh().await.map_err(secret_error)?;
            tracing::info!(
                platform = self.name,
                "the platform refused the credentials; signing in again once"
            );
            let secrets = fresh.unwrap_or(secrets);
            reply = self.send(&method, &url, body.as_ref(), &secrets).await?;
        }
        let message = |r: &Reply| r.text().chars().take(300).collect::<String>();
        match reply.status {
            404 => Ok(None),
            200..=299 if reply.body.iter().all(u8::is_ascii_whitespace) => Ok(Some(Value::Null)),
            200..=299 => serde_json::from_slice(&reply.body)
                .map(Some)
                .map_err(|e| self.invalid(format!("{name}: {e}"))),
            401 | 403 => Err(PlatformError::Unauthorized {
                platform: self.name.into(),
                status: reply.status,
            }),
            s if s == 429 || s >= 500 => Err(self.unavailable(s, message(&reply))),
            s => Err(PlatformError::Rejected {
                platform: self.name.into(),
                status: s,
                message: message(&reply),
            }),
        }
    }

    /// The one object an operation answers, at its `result` pointer.
    fn result<'v>(&self, name: &str, answer: &'v Value) -> Result<&'v Value, PlatformError> {
        let pointer = self
            .mapping
            .operation(name)
            .and_then(|op| op.result.as_deref())
            .unwrap_or("");
        answer
            .pointer(pointer)
            .ok_or_else(|| self.invalid(format!("{name}: the answer has nothing at {pointer:?}")))
    }

    /// The objects a listing answers, at its `results` pointer.
    fn results(&self, name: &str, answer: &Value) -> Result<Vec<Value>, PlatformError> {
        let pointer = self
            .mapping
            .operation(name)
            .and_then(|op| op.results.as_deref())
            .unwrap_or("");
        match answer.pointer(pointer) {
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(Value::Null) | None if answer.is_null() => Ok(Vec::new()),
            _ => Err(self.invalid(format!("{name}: no array at {pointer:?}"))),
        }
    }

    /// Pages of the listing `name` from `since`, keeping the objects `keep`
    /// accepts, until `want` are kept or the listing ends.
    async fn walk(
        &self,
        name: &str,
        since: &str,
        limit: u32,
        want: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, PlatformError> {
        let paging = self
            .mapping
            .operation(name)
            .and_then(|op| op.paging.clone());
        let mut kept = Vec::new();
        let mut cursor: Option<String> = None;
        for n in 0..MAX_PAGES {
            let mut values = Values::default()
                .with("since", platform_date(since, self.mapping.dates))
                .with("limit", limit);
            if let Some(Paging::Page { first }) = &paging {
                values = values.with("page", u64::from(*first) + n as u64);
            }
            let extra = match (&paging, &cursor) {
                (Some(Paging::Cursor { param, .. }), Some(c)) => Some((param.as_str(), c.as_str())),
                _ => None,
            };
            let answer = self
                .call(name, &values, extra)
                .await?
                .unwrap_or(Value::Null);
            let page = self.results(name, &answer)?;
            let short = page.len() < limit as usize;
            kept.extend(page.into_iter().filter(|o| keep(o)));
            if kept.len() >= want {
                break;
            }
            match &paging {
                Some(Paging::Page { .. }) if !short => {}
                Some(Paging::Cursor { next, .. }) => {
                    match answer
                        .pointer(next)
                        .and_then(|v| text(v, &Field::Pointer(String::new())))
                    {
                        Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        Ok(kept)
    }

    fn read(&self, object: &Value) -> Result<Order, String> {
        order_from(self.name, &self.mapping, object)
    }

    pub(super) async fn order(&self, order_id: &str) -> Result<Order, PlatformError> {
        if order_id.is_empty() {
            return Err(self.not_found(order_id));
        }
        let answer = self
            .call(
                "get_order",
                &Values::default().with("order_id", order_id),
                None,
            )
            .await?
            .ok_or_else(|| self.not_found(order_id))?;
        let object = self.result("get_order", &answer)?;
        self.read(object)
            .map_err(|e| self.invalid(format!("order {order_id}: {e}")))
    }

    async fn note(&self, order: &Order, text: &str, notify: bool) -> Result<(), PlatformError> {
        if order.has_comment_containing(text) {
            return Ok(());
        }
        let values = Values::default()
            .with("order_id", order.reference.order_id.as_str())
            .with("note", text)
            .with("notify", notify);
        self.call("add_note", &values, None)
            .await?
            .ok_or_else(|| self.not_found(&order.reference.order_id))?;
        Ok(())
    }
}

#[async_trait]
impl CommercePlatform for RestPlatform {
    fn platform(&self) -> &str {
        self.name
    }

    fn store(&self) -> &str {
        &self.mapping.store
    }

    fn checkout_order_id(
        &self,
        metadata: &tally_core::stripe::objects::Metadata,
    ) -> Option<String> {
        let key = self.mapping.checkout_metadata_key.as_ref()?;
        metadata
            .get(key)
            .filter(|id| !id.trim().is_empty())
            .cloned()
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        self.order(order_id).await
    }

    async fn get_customer(&self, customer_id: &str) -> Result<PlatformCustomer, PlatformError> {
        self.customer(customer_id).await
    }

    async fn find_customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        self.customer_by_email(email).await
    }

    async fn customers_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        self.customers_after(key, limit).await
    }

    async fn update_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        self.write_customer(customer_id, update).await
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        if self.mapping.operations.find_order_by_number.is_none() {
            return Ok(None);
        }
        let answer = self
            .call(
                "find_order_by_number",
                &Values::default().with("number", number),
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        // only an exact match: a platform's search may match more loosely
        let found = self
            .results("find_order_by_number", &answer)?
            .into_iter()
            .find(|o| text(o, &self.mapping.order.number).as_deref() == Some(number));
        found
            .map(|o| {
                self.read(&o)
                    .map_err(|e| self.invalid(format!("order {number}: {e}")))
            })
            .transpose()
    }

    /// A note (once), and for a failure the mapped failed status (unless set).
    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError> {
        let order = self.order(order_id).await?;
        let failed = &self.mapping.statuses.failed_status;
        if comment.status.is_some() && !order.status.eq_ignore_ascii_case(failed) {
            let values = Values::default()
                .with("order_id", order_id)
                .with("status", failed.as_str())
                .with("comment", comment.text.as_str())
                .with("notify", comment.notify_customer);
            self.call("set_status", &values, None)
                .await?
                .ok_or_else(|| self.not_found(order_id))?;
        }
        self.note(&order, &comment.text, comment.notify_customer)
            .await
    }

    /// Records the payment through the mapping's operation, on an order that
    /// awaits one (a paid order is never paid again).
    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError> {
        let order = self.order(order_id).await?;
        if order.payment_state != PaymentState::AwaitingPayment {
            return Err(self.rejected(format!(
                "order {order_id} is in status {}: not awaiting payment",
                order.status
            )));
        }
        if capture.amount.currency != order.currency {
            return Err(self.rejected(format!(
                "a {} payment on a {} order",
                capture.amount.currency, order.currency
            )));
        }
        let values = amount_values(capture.amount)
            .with("order_id", order_id)
            .with("transaction_id", capture.transaction_id.as_str())
            .with("payment_intent_id", capture.payment_intent_id.as_str())
            .with("comment", capture.comment.as_str())
            .with("paid_status", self.mapping.statuses.paid_status.as_str())
            .with("notify", capture.notify_customer);
        self.call("record_payment", &values, None)
            .await?
            .ok_or_else(|| self.not_found(order_id))?;
        Ok(capture.transaction_id.clone())
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        let order = self.order(order_id).await?;
        self.refunds_of_order(&order).await
    }

    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        self.record_refund_once(order_id, refund).await
    }

    fn refund_intake(&self) -> RefundIntake {
        RefundIntake::Created
    }

    async fn refunds_created_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        self.refunds_made_after(key, limit).await
    }

    async fn refunds_awaiting(
        &self,
        _after: Option<&str>,
        _limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        Ok(AwaitingRefunds::default())
    }

    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        self.mark_sent(order_id, refund_id, sent).await
    }

    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        let since = if key.updated_at.is_empty() {
            EPOCH
        } else {
            key.updated_at.as_str()
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let mut objects = self
            .walk("list_orders", since, top, limit as usize, |o| {
                let (id, at) = order_identity(&self.mapping, o);
                if id.is_empty() || at.is_empty() {
                    // nothing to key it by: said loudly, since no poll can take it
                    tracing::error!(platform = self.name, order_id = %id, "a listed order has no readable id or updated_at; check the mapping's order.id and order.updated_at");
                    return false;
                }
                key.is_before(&id, &at)
            })
            .await?;
        let mut polled: Vec<PolledOrder> = objects
            .drain(..)
            .map(|o| match self.read(&o) {
                Ok(order) => PolledOrder::Readable(Box::new(order)),
                Err(reason) => {
                    let (order_id, updated_at) = order_identity(&self.mapping, &o);
                    PolledOrder::Unreadable {
                        order_id,
                        updated_at,
                        reason,
                    }
                }
            })
            .collect();
        polled.sort_by(|a, b| (a.updated_at(), a.order_id()).cmp(&(b.updated_at(), b.order_id())));
        polled.truncate(limit as usize);
        Ok(polled)
    }
}

/// The amount variables of a write: `{amount}` (decimal text in major
/// units), `{amount_number}` (the same as a JSON number), `{amount_minor}`
/// (an integer of minor units) and `{currency}`.
fn amount_values(money: tally_core::money::Money) -> Values {
    let major = money.currency.to_major(money.amount).to_string();
    let number: Value = serde_json::from_str(&major).unwrap_or(Value::Null);
    Values::default()
        .with("amount", major)
        .with("amount_number", number)
        .with("amount_minor", money.amount.get())
        .with("currency", money.currency.to_string())
}
