//! Refund records on a declarative platform: each names the Stripe refund it
//! was made for in the mapping's `refund.stripe_refund_id`. A record naming
//! none is the platform asking for money back (`RefundIntake::Created`, read
//! by `list_refunds_since`); Tally refunds it in Stripe and names the refund
//! on it with `mark_refund_sent`.

use std::collections::BTreeMap;

use serde_json::Value;
use tally_core::commerce::declarative::fields::{date, refund_from, text};
use tally_core::commerce::declarative::template::Values;
use tally_core::commerce::{
    ChangeKey, Order, OrderRef, PaymentState, PlatformError, PlatformRefund, PolledRefund,
    RefundRecord,
};
use tally_core::money::MinorUnit;

use super::{amount_values, RestPlatform, EPOCH};

impl RestPlatform {
    fn refund_fields(
        &self,
    ) -> Result<&tally_core::commerce::declarative::mapping::RefundFields, PlatformError> {
        self.mapping
            .refund
            .as_ref()
            .ok_or_else(|| self.rejected("the mapping describes no refunds".into()))
    }

    pub(super) async fn refunds_of_order(
        &self,
        order: &Order,
    ) -> Result<Vec<PlatformRefund>, PlatformError> {
        self.refund_fields()?;
        let id = &order.reference.order_id;
        let answer = self
            .call(
                "list_refunds",
                &Values::default().with("order_id", id.as_str()),
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        self.results("list_refunds", &answer)?
            .iter()
            .map(|r| {
                refund_from(&self.mapping, r, order.currency)
                    .map(|read| read.refund)
                    .map_err(|e| self.invalid(format!("a refund of order {id}: {e}")))
            })
            .collect()
    }

    /// Records a Stripe refund once: a record already naming it is the
    /// answer; otherwise only on a paid order, within what is left.
    pub(super) async fn record_refund_once(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        let order = self.order(order_id).await?;
        let records = self.refunds_of_order(&order).await?;
        if let Some(found) = records
            .iter()
            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.stripe_refund_id.as_str()))
        {
            return Ok(found.id.clone());
        }
        if order.payment_state != PaymentState::Paid {
            return Err(self.rejected(format!(
                "order {order_id} is in status {}: not paid, nothing to refund",
                order.status
            )));
        }
        let taken = records.iter().fold(MinorUnit::ZERO, |sum, r| {
            MinorUnit::new(sum.get() + r.amount.get())
        });
        let left = MinorUnit::new(order.grand_total.get() - taken.get());
        if let Some(why) = crate::refund_refused(refund, order.currency, Some(left)) {
            return Err(self.rejected(why));
        }
        let values = amount_values(refund.amount)
            .with("order_id", order_id)
            .with("stripe_refund_id", refund.stripe_refund_id.as_str())
            .with("charge_id", refund.charge_id.as_str())
            .with("comment", refund.comment.as_str())
            .with("notify", refund.notify_customer);
        let answer = self
            .call("record_refund", &values, None)
            .await?
            .ok_or_else(|| self.not_found(order_id))?;
        let fields = self.refund_fields()?;
        if let Some(id) = self
            .result("record_refund", &answer)
            .ok()
            .and_then(|r| text(r, &fields.id))
        {
            return Ok(id);
        }
        // the answer does not show the record: find it by its Stripe refund
        self.refunds_of_order(&order)
            .await?
            .into_iter()
            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.stripe_refund_id.as_str()))
            .map(|r| r.id)
            .ok_or_else(|| {
                self.invalid(format!(
                    "order {order_id}: the refund recorded is not listed"
                ))
            })
    }

    /// Refunds made on the platform after `key`, by creation time and id.
    pub(super) async fn refunds_made_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        if self.mapping.operations.list_refunds_since.is_none() {
            return Ok(Vec::new());
        }
        let fields = self.refund_fields()?.clone();
        let since = if key.updated_at.is_empty() {
            EPOCH
        } else {
            key.updated_at.as_str()
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let identity = |r: &Value| {
            (
                text(r, &fields.id).unwrap_or_default(),
                date(
                    r,
                    "refund.created_at",
                    &fields.created_at,
                    self.mapping.dates,
                )
                .unwrap_or_default(),
            )
        };
        let rows = self
            .walk("list_refunds_since", since, top, limit as usize, |r| {
                let (id, at) = identity(r);
                !id.is_empty() && key.is_before(&id, &at)
            })
            .await?;
        // each refund read in its order's currency, each order read once
        let mut orders: BTreeMap<String, Order> = BTreeMap::new();
        let mut polled = Vec::new();
        for row in rows {
            let order_id = text(&row, &fields.order_id).unwrap_or_default();
            if !orders.contains_key(&order_id) {
                let order = self.order(&order_id).await?;
                orders.insert(order_id.clone(), order);
            }
            let order = &orders[&order_id];
            let read = refund_from(&self.mapping, &row, order.currency)
                .map_err(|e| self.invalid(format!("a refund of order {order_id}: {e}")))?;
            polled.push(PolledRefund {
                order: OrderRef {
                    platform: self.name.into(),
                    store: self.mapping.store.clone(),
                    order_id,
                },
                refund: read.refund,
                created_at: read.created_at,
            });
        }
        polled.sort_by(|a, b| {
            (a.created_at.as_str(), a.refund.id.as_str())
                .cmp(&(b.created_at.as_str(), b.refund.id.as_str()))
        });
        polled.truncate(limit as usize);
        Ok(polled)
    }

    /// Names the Stripe refund on the platform's record (unless it does already).
    pub(super) async fn mark_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        let order = self.order(order_id).await?;
        let records = self.refunds_of_order(&order).await?;
        let record = records
            .iter()
            .find(|r| r.id == refund_id)
            .ok_or_else(|| self.rejected(format!("order {order_id} has no refund {refund_id}")))?;
        if record.stripe_refund_id.as_deref() == Some(sent.stripe_refund_id.as_str()) {
            return Ok(());
        }
        let values = Values::default()
            .with("order_id", order_id)
            .with("refund_id", refund_id)
            .with("stripe_refund_id", sent.stripe_refund_id.as_str())
            .with("comment", sent.comment.as_str());
        self.call("mark_refund_sent", &values, None)
            .await?
            .ok_or_else(|| self.not_found(order_id))?;
        Ok(())
    }
}
