//! `CommercePlatform` over Znode 9.x REST (`{base}/orders/...`, PascalCase JSON
//! in `BaseResponse` envelopes), authenticated with Basic `base64("domain|key")`
//! or Znode's token mode (`auth.rs`).
//! Facts and sources: `../shared/platforms/znode.md`. Znode answers a missing
//! order with 204, business errors with 500 and an `ErrorCode`, validation
//! errors with 400 and `CustomModelState`, and changes payment status and
//! transaction id through GETs.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use tally_core::commerce::znode::{parse_order, parse_order_response, PLATFORM};
use tally_core::commerce::{
    AwaitingRefunds, ChangeKey, ChangedCustomer, CommercePlatform, CustomerUpdate, Order,
    OrderComment, PaymentCapture, PlatformCustomer, PlatformError, PlatformRefund, PolledOrder,
    RefundIntake, RefundRecord,
};
use tally_core::config::ZnodeConfig;
use tally_core::secrets::{CachedSecret, ZnodeSecrets};
use tokio::sync::OnceCell;

use crate::retry::{with_retries, Repeat, Reply};

mod auth;
mod customers;
mod refunds;
mod returns;

/// Znode keeps order notes to 500 characters.
const MAX_NOTE_CHARS: usize = 500;

pub struct ZnodeRest {
    client: reqwest::Client,
    base: String,
    config: ZnodeConfig,
    secrets: Arc<CachedSecret<ZnodeSecrets>>,
    credentials: auth::Credentials,
    /// The payment state names this Znode has (`getpaymentstatelist`), read once.
    payment_states: OnceCell<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    custom_model_state: Option<Value>,
}

/// Znode's error body as the admin would read it.
pub fn render_error(body: &[u8]) -> Option<String> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    let mut text = e
        .error_message
        .filter(|m| !m.is_empty())
        .unwrap_or_default();
    if let Some(Value::Object(fields)) = e.custom_model_state {
        let problems: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        text = [text, problems.join("; ")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
    }
    if let Some(code) = e.error_code {
        text = format!("{text} (ErrorCode {code})");
    }
    Some(text.trim().to_string())
}

/// One path segment, percent-encoded (order numbers and charge ids go in paths).
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl ZnodeRest {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: ZnodeConfig,
        secrets: Arc<CachedSecret<ZnodeSecrets>>,
    ) -> Self {
        ZnodeRest {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            credentials: auth::Credentials::new(config.auth, config.token_expiration_minutes),
            config,
            secrets,
            payment_states: OnceCell::new(),
        }
    }

    fn unavailable(status: u16, message: String) -> PlatformError {
        PlatformError::Unavailable {
            platform: PLATFORM.into(),
            status,
            message,
        }
    }

    /// Refused by Tally on Znode's behalf (Znode itself would not check).
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

    async fn send(
        &self,
        method: &reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        secrets: &ZnodeSecrets,
    ) -> Result<Reply, PlatformError> {
        let url = format!("{}/{}", self.base, path);
        let (auth_name, auth_value) = self
            .credentials
            .header(&self.client, &self.base, &self.config.http, secrets)
            .await?;
        // Znode's state-changing GETs set a value: repeating one sets the same value again.
        let repeat = if *method == reqwest::Method::GET {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        with_retries(
            &self.config.http,
            "znode",
            &format!("znode {method} {path}"),
            repeat,
            |timeout| {
                let r = self
                    .client
                    .request(method.clone(), &url)
                    .header(auth_name, &auth_value)
                    .timeout(timeout)
                    .query(query);
                crate::with_json(r, body).send()
            },
        )
        .await
        .map_err(|e| Self::unavailable(0, e.to_string()))
    }

    /// Sends; a 401 re-reads the secret once (the key may have been rotated)
    /// and, in token mode, asks for a new token once (it may have expired).
    /// `Ok(None)` is Znode's 204: nothing found.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Reply>, PlatformError> {
        let secret_error =
            |e: tally_core::secrets::SecretError| Self::unavailable(0, e.to_string());
        let secrets = self.secrets.get().await.map_err(secret_error)?;
        let mut reply = self.send(&method, path, query, body, &secrets).await;
        let refused = match &reply {
            Ok(r) => r.status == 401,
            Err(e) => matches!(e, PlatformError::Unauthorized { .. }),
        };
        if refused {
            self.credentials.forget().await;
            let fresh = self.secrets.refresh().await.map_err(secret_error)?;
            let again = match fresh {
                Some(fresh) => Some(fresh),
                None if self.credentials.renews_on_401() => Some(secrets.clone()),
                None => None,
            };
            if let Some(again) = again {
                tracing::info!(
                    "Znode refused the credentials; retrying once with a new token or re-read key"
                );
                reply = self.send(&method, path, query, body, &again).await;
            }
        }
        let reply = reply?;
        let message = |r: &Reply| {
            render_error(&r.body).unwrap_or_else(|| r.text().chars().take(300).collect())
        };
        match reply.status {
            204 => Ok(None),
            200..=299 => Ok(Some(reply)),
            401 | 403 => Err(PlatformError::Unauthorized {
                platform: PLATFORM.into(),
                status: reply.status,
            }),
            s if s == 429 || s >= 502 => Err(Self::unavailable(s, message(&reply))),
            s => Err(PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: s,
                message: message(&reply),
            }),
        }
    }

    /// A `TrueFalseResponse` that must say `IsSuccess: true`.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), PlatformError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct TrueFalse {
            #[serde(default)]
            is_success: bool,
        }
        let reply = self
            .call(method, path, &[], body)
            .await?
            .ok_or_else(|| Self::invalid(format!("{path}: empty answer")))?;
        let answer: TrueFalse = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("{path}: {e}")))?;
        if !answer.is_success {
            return Err(PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: reply.status,
                message: format!("{path} answered IsSuccess false"),
            });
        }
        Ok(())
    }

    /// A configured payment state as this Znode spells it (`getpaymentstatelist`,
    /// read once per container), so a misspelt configuration is a clear error,
    /// not a 500 per order.
    async fn payment_state_named(&self, wanted: &str, key: &str) -> Result<String, PlatformError> {
        let states = self
            .payment_states
            .get_or_try_init(|| async {
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct State {
                    name: String,
                }
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct States {
                    #[serde(default)]
                    payment_state_list: Vec<State>,
                }
                let reply = self
                    .call(
                        reqwest::Method::GET,
                        "orders/getpaymentstatelist",
                        &[],
                        None,
                    )
                    .await?
                    .ok_or_else(|| Self::invalid("getpaymentstatelist: empty answer".into()))?;
                let states: States = serde_json::from_slice(&reply.body)
                    .map_err(|e| Self::invalid(format!("getpaymentstatelist: {e}")))?;
                Ok::<_, PlatformError>(
                    states
                        .payment_state_list
                        .into_iter()
                        .map(|s| s.name)
                        .collect(),
                )
            })
            .await?;
        states
            .iter()
            .find(|s| s.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: 0,
                message: format!("Znode has no payment state named {wanted:?} ({key})"),
            })
    }

    async fn paid_status(&self) -> Result<String, PlatformError> {
        self.payment_state_named(
            &self.config.paid_payment_status,
            "znode.paid_payment_status",
        )
        .await
    }

    async fn refunded_status(&self) -> Result<String, PlatformError> {
        self.payment_state_named(
            &self.config.refunded_payment_status,
            "znode.refunded_payment_status",
        )
        .await
    }

    async fn update_by_number(
        &self,
        order: &Order,
        state: Option<&str>,
        note: &str,
    ) -> Result<(), PlatformError> {
        let mut body = json!({
            "OmsOrderNumber": order.increment_id,
            "OrderNotes": note.chars().take(MAX_NOTE_CHARS).collect::<String>(),
        });
        if let Some(state) = state {
            body["OrderStateName"] = Value::from(state);
        }
        self.command(
            reqwest::Method::PUT,
            "orders/updateorderdetailsbyordernumber",
            Some(&body),
        )
        .await
    }
}

#[async_trait]
impl CommercePlatform for ZnodeRest {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn store(&self) -> &str {
        &self.config.portal_id
    }

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

    async fn customers_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        self.customers_after(key, limit).await
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        let query = [("expand", "znodeomsnotes,znodeomsorderlineitems".to_string())];
        let reply = self
            .call(
                reqwest::Method::GET,
                &format!("orders/{}", segment(order_id)),
                &query,
                None,
            )
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                platform: PLATFORM.into(),
                order_id: order_id.into(),
            })?;
        parse_order_response(&self.config.portal_id, &reply.body)
            .map_err(|e| Self::invalid(format!("order {order_id}: {e}")))
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        let path = format!("orders/getbyordernumber/{}", segment(number));
        match self.call(reqwest::Method::GET, &path, &[], None).await? {
            None => Ok(None),
            Some(reply) => parse_order_response(&self.config.portal_id, &reply.body)
                .map(Some)
                .map_err(|e| Self::invalid(format!("order {number}: {e}"))),
        }
    }

    /// A note on the order (`OrderNotes`, at most 500 characters). A status
    /// change is the failure Tally records: Znode's configured failed state.
    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError> {
        let order = self.get_order(order_id).await?;
        let state = comment
            .status
            .as_ref()
            .map(|_| self.config.failed_order_state.as_str());
        self.update_by_number(&order, state, &comment.text).await
    }

    /// As Znode records a payment: the transaction id, the paid payment state,
    /// a payment detail row, and a note.
    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError> {
        let order = self.get_order(order_id).await?;
        // Znode would set the same values again and add a second payment row: refuse,
        // as other platforms do for an order already paid.
        if order.payment_state != tally_core::commerce::PaymentState::AwaitingPayment {
            return Err(PlatformError::Rejected {
                platform: PLATFORM.into(),
                status: 0,
                message: format!(
                    "order {order_id} is {} / {}: not awaiting payment",
                    order.state, order.status
                ),
            });
        }
        let paid = self.paid_status().await?;
        // the order's payment setting: Znode's payment history shows only rows naming one
        let view = self.refund_view(order_id).await?;
        let id = segment(order_id);
        // Three writes, and the payment status last: it is what makes the order read as paid,
        // so a failure before it leaves the order awaiting payment and the retry does the rest.
        // The row first, unless an earlier attempt saved it (an order awaiting payment with a
        // paid row of this amount: the settlement link lets only one charge get here).
        if !view.has_row(&paid, capture.amount.amount) {
            let detail = json!({
                "OmsOrderId": order_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(order_id)),
                "TransactionReference": capture.transaction_id,
                "Total": capture.amount.currency.to_major(capture.amount.amount).to_string(),
                "TransactionStatus": paid,
                "PaymentSettingId": view.payment_setting_id,
            });
            self.command(
                reqwest::Method::POST,
                "order/saveorderpaymentdetail",
                Some(&detail),
            )
            .await?;
        }
        self.command(
            reqwest::Method::GET,
            &format!(
                "orders/updateordertransactionid/{id}/{}",
                segment(&capture.transaction_id)
            ),
            None,
        )
        .await?;
        self.command(
            reqwest::Method::GET,
            &format!("orders/updateorderpaymentstatus/{id}/{}", segment(&paid)),
            None,
        )
        .await?;
        self.update_by_number(&order, None, &capture.comment)
            .await?;
        Ok(capture.transaction_id.clone())
    }

    /// Refund payment rows and the order's returns that are refunds; a row
    /// whose Stripe refund a return names is that return's, shown once.
    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        let view = self.refund_view(order_id).await?;
        let returns = self.returns_of_order(&view.order_number).await?;
        let mut shown = view.refunds();
        shown.retain(|row| {
            !returns
                .iter()
                .any(|r| r.stripe_refund_id.is_some() && r.stripe_refund_id == row.stripe_refund_id)
        });
        shown.extend(returns.iter().map(|r| r.as_refund()));
        Ok(shown)
    }

    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        self.record_refund_on(order_id, refund).await
    }

    fn refund_intake(&self) -> RefundIntake {
        RefundIntake::Awaiting
    }

    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.approved_returns(after, limit).await
    }

    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        self.note_return_refunded(order_id, refund_id, sent).await
    }

    /// Znode 9.x lists orders by order date only (its list cannot filter by
    /// modification), so a poll finds new orders; the key is the order date and
    /// id. Order dates never change, so pages over them cannot shift; the list
    /// compares dates to the minute, and what the key has read is skipped here.
    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct List {
            #[serde(default)]
            orders: Vec<Box<serde_json::value::RawValue>>,
            #[serde(default)]
            total_pages: u32,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ListResponse {
            order_list: Option<List>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Key {
            oms_order_id: Value,
            #[serde(default)]
            order_date: String,
        }
        let minute: String = key.updated_at.chars().take(16).collect();
        let filter = format!(
            "orderdate~ge~{minute},portalid~eq~{}",
            self.config.portal_id
        );
        let mut found = Vec::new();
        let mut index = 1;
        loop {
            let query = [
                ("filter", filter.clone()),
                ("sort", "orderdate~asc".to_string()),
                ("page", format!("index~{index},size~{limit}")),
            ];
            let Some(reply) = self
                .call(reqwest::Method::GET, "orders/list", &query, None)
                .await?
            else {
                break;
            };
            let list = serde_json::from_slice::<ListResponse>(&reply.body)
                .map_err(|e| Self::invalid(format!("orders/list: {e}")))?
                .order_list
                .unwrap_or(List {
                    orders: vec![],
                    total_pages: 0,
                });
            for raw in &list.orders {
                let k: Key = serde_json::from_str(raw.get())
                    .map_err(|e| Self::invalid(format!("orders/list item: {e}")))?;
                let order_id = match k.oms_order_id {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                if !key.is_before(&order_id, &k.order_date) {
                    continue;
                }
                found.push(
                    match parse_order(&self.config.portal_id, raw.get().as_bytes()) {
                        Ok(mut order) => {
                            // the poll's key is the order date (see above)
                            order.updated_at = k.order_date;
                            PolledOrder::Readable(Box::new(order))
                        }
                        Err(e) => PolledOrder::Unreadable {
                            order_id,
                            updated_at: k.order_date,
                            reason: e.to_string(),
                        },
                    },
                );
                if found.len() >= limit as usize {
                    return Ok(found);
                }
            }
            if list.orders.is_empty() || index >= list.total_pages {
                break;
            }
            index += 1;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn znode_errors_read_like_the_admin_sees_them() {
        assert_eq!(
            super::render_error(
                br#"{"HasError":true,"ErrorMessage":"Invalid data.","ErrorCode":5}"#
            )
            .unwrap(),
            "Invalid data. (ErrorCode 5)"
        );
        assert_eq!(
            super::render_error(br#"{"HasError":true,"ErrorMessage":"","CustomModelState":{"OrderNotes":"too long"}}"#)
                .unwrap(),
            "OrderNotes: too long"
        );
        assert_eq!(super::segment("ZN 1/2"), "ZN%201%2F2");
    }
}
