//! Refunds as rows of the merchant's refund custom table
//! (`customtableitem.<kentico.refund_table>`; see
//! `tally_core::commerce::kentico::refund_rows`). Kentico's REST service
//! validates nothing, so Tally refuses refunds of unpaid orders and more
//! than is left, counting every row of the order (asked for or refunded).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tally_core::commerce::kentico::{
    objects_of, sql_text, RefundRow, REFUND_REFUNDED, REFUND_REQUESTED,
};
use tally_core::commerce::{
    AwaitingRefunds, Order, OrderRef, PaymentState, PlatformError, PlatformRefund, PolledRefund,
    RefundRecord, UnreadableRefund,
};
use tally_core::money::MinorUnit;

use super::KenticoRest;

impl KenticoRest {
    fn table(&self) -> String {
        format!("customtableitem.{}", self.config.refund_table)
    }

    async fn rows(&self, filter: &str, top: Option<u32>) -> Result<Vec<RefundRow>, PlatformError> {
        let table = self.table();
        let objects = self.list(&table, &table, filter, "ItemID", top).await?;
        objects
            .iter()
            .map(|o| {
                RefundRow::from_json(o)
                    .ok_or_else(|| Self::invalid(format!("{table}: a row without ItemID")))
            })
            .collect()
    }

    async fn rows_of(&self, order_id: &str) -> Result<Vec<RefundRow>, PlatformError> {
        self.rows(&format!("RefundOrderID = {order_id}"), None)
            .await
    }

    pub(super) async fn refunds_of_order(
        &self,
        order: &Order,
    ) -> Result<Vec<PlatformRefund>, PlatformError> {
        self.rows_of(&order.reference.order_id)
            .await?
            .iter()
            .map(|r| {
                r.as_refund(order.currency)
                    .map_err(|e| Self::invalid(format!("refund row {}: {e}", r.item_id)))
            })
            .collect()
    }

    pub(super) async fn record_refund_row(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        let (object, order) = self.order_for_write(order_id).await?;
        let rows = self.rows_of(order_id).await?;
        if let Some(found) = rows
            .iter()
            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.stripe_refund_id.as_str()))
        {
            return Ok(found.item_id.clone());
        }
        if order.payment_state != PaymentState::Paid {
            return Err(Self::rejected(format!(
                "order {order_id} is not paid (OrderIsPaid false): nothing to refund"
            )));
        }
        let mut taken = MinorUnit::ZERO;
        for r in &rows {
            let amount = r
                .as_refund(order.currency)
                .map_err(|e| Self::invalid(format!("refund row {}: {e}", r.item_id)))?
                .amount;
            taken = MinorUnit::new(taken.get() + amount.get());
        }
        let left = MinorUnit::new(order.grand_total.get() - taken.get());
        if let Some(why) = crate::refund_refused(refund, order.currency, Some(left)) {
            return Err(Self::rejected(why));
        }
        let table = self.table();
        let row = json!({
            "RefundOrderID": order_id.parse::<u64>().unwrap_or_default(),
            "RefundAmount": refund.amount.currency.to_major(refund.amount.amount).to_string(),
            "RefundStatus": REFUND_REFUNDED,
            "RefundStripeRefundID": refund.stripe_refund_id,
            "RefundNote": refund.comment,
        });
        let answer = self
            .call(
                reqwest::Method::POST,
                &table,
                &[],
                Some(&json!({ table.replace('.', "_"): row })),
            )
            .await?
            .unwrap_or(Value::Null);
        let item_id = match objects_of(&answer, &table)
            .first()
            .and_then(|o| RefundRow::from_json(o))
        {
            Some(created) => created.item_id,
            // an answer without the row: find it by its Stripe refund
            None => self
                .rows(
                    &format!(
                        "RefundStripeRefundID = {}",
                        sql_text(&refund.stripe_refund_id)
                    ),
                    Some(1),
                )
                .await?
                .first()
                .map(|r| r.item_id.clone())
                .ok_or_else(|| Self::invalid(format!("{table}: the new row is not found")))?,
        };
        // the order as read above: one PUT, no second read
        self.update_order(
            order_id,
            json!({"OrderNote": Self::noted(&object, &refund.comment)}),
        )
        .await?;
        Ok(item_id)
    }

    pub(super) async fn requested_refunds(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        let after: u64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        let rows = self
            .rows(
                &format!(
                    "RefundStatus = {} AND (RefundStripeRefundID IS NULL OR RefundStripeRefundID = '') AND ItemID > {after}",
                    sql_text(REFUND_REQUESTED)
                ),
                Some(limit),
            )
            .await?;
        let mut orders: BTreeMap<String, Result<Order, String>> = BTreeMap::new();
        let mut page = AwaitingRefunds {
            next: (rows.len() as u64 >= u64::from(limit))
                .then(|| rows.last().map(|r| r.item_id.clone()))
                .flatten(),
            ..AwaitingRefunds::default()
        };
        for row in rows {
            if !orders.contains_key(&row.order_id) {
                let read = match self.order_for_write(&row.order_id).await {
                    Ok((_, o)) => Ok(o),
                    Err(PlatformError::NotFound { .. }) => {
                        Err(format!("order {:?} does not exist", row.order_id))
                    }
                    Err(PlatformError::InvalidResponse { message, .. }) => Err(message),
                    Err(e) => return Err(e),
                };
                orders.insert(row.order_id.clone(), read);
            }
            let unreadable = |reason: String| UnreadableRefund {
                order_id: row.order_id.clone(),
                refund_id: row.item_id.clone(),
                reason,
            };
            match &orders[&row.order_id] {
                Err(reason) => page.unreadable.push(unreadable(reason.clone())),
                Ok(order) => match row.as_refund(order.currency) {
                    Ok(refund) => page.refunds.push(PolledRefund {
                        order: OrderRef {
                            platform: order.reference.platform.clone(),
                            store: order.reference.store.clone(),
                            order_id: order.reference.order_id.clone(),
                        },
                        refund,
                        created_at: row.created_at.clone(),
                    }),
                    Err(e) => page.unreadable.push(unreadable(e.to_string())),
                },
            }
        }
        Ok(page)
    }

    pub(super) async fn mark_refunded(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        let table = self.table();
        if refund_id.is_empty() || !refund_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::rejected(format!(
                "{refund_id:?} is not a {table} ItemID"
            )));
        }
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("{table}/{refund_id}"),
                &[],
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        let row = objects_of(&answer, &table)
            .first()
            .and_then(|o| RefundRow::from_json(o))
            .ok_or_else(|| Self::rejected(format!("{table} has no row {refund_id}")))?;
        if row.order_id != order_id {
            return Err(Self::rejected(format!(
                "refund row {refund_id} is order {}'s, not {order_id}'s",
                row.order_id
            )));
        }
        match row.stripe_refund_id.as_deref() {
            Some(id) if id == sent.stripe_refund_id && row.status == REFUND_REFUNDED => {}
            Some(id) if id != sent.stripe_refund_id => {
                return Err(Self::rejected(format!(
                    "refund row {refund_id} names Stripe refund {id} already"
                )))
            }
            _ => {
                self.call(
                    reqwest::Method::PUT,
                    &format!("{table}/{refund_id}"),
                    &[],
                    Some(&json!({ table.replace('.', "_"): {
                        "RefundStatus": REFUND_REFUNDED,
                        "RefundStripeRefundID": sent.stripe_refund_id,
                        "RefundNote": sent.comment,
                    }})),
                )
                .await?
                .ok_or_else(|| Self::rejected(format!("{table} has no row {refund_id}")))?;
            }
        }
        self.add_note(order_id, &sent.comment).await
    }
}
