//! Refunds made in Stripe, recorded on a Znode order (see
//! `tally_core::commerce::znode::refund_json` for what Znode's API offers):
//! a payment row in the refunded state, the payment state moved to refunded
//! when nothing is left, and a note naming the Stripe refund. Znode itself
//! does not check refund amounts, so Tally refuses more than is left.

use serde_json::{json, Value};
use tally_core::commerce::znode::{refund_note, refund_view, ZnodeRefundView, PLATFORM};
use tally_core::commerce::{PlatformError, RefundRecord};
use tally_core::money::{MinorUnit, Money};

use super::{segment, ZnodeRest, MAX_NOTE_CHARS};

impl ZnodeRest {
    pub(super) async fn refund_view(
        &self,
        order_id: &str,
    ) -> Result<ZnodeRefundView, PlatformError> {
        let refunded = self.refunded_status().await?;
        let reply = self
            .call(
                reqwest::Method::GET,
                &format!("orders/{}", segment(order_id)),
                &[("expand", "znodeomsnotes".to_string())],
                None,
            )
            .await?
            .ok_or_else(|| PlatformError::NotFound {
                platform: PLATFORM.into(),
                order_id: order_id.into(),
            })?;
        refund_view(&reply.body, &refunded)
            .map_err(|e| Self::invalid(format!("order {order_id}: {e}")))
    }

    pub(super) async fn record_refund_on(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        let view = self.refund_view(order_id).await?;
        let shown = view.refunds();
        if let Some(found) = shown
            .iter()
            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.stripe_refund_id.as_str()))
        {
            return Ok(found.id.clone());
        }
        let paid = self.paid_status().await?;
        let refunded_state = self.refunded_status().await?;
        let status = view.payment_status.trim();
        if !(status.eq_ignore_ascii_case(&paid) || status.eq_ignore_ascii_case(&refunded_state)) {
            return Err(Self::rejected(format!(
                "order {order_id} is not paid (PaymentStatus {status:?}): nothing to refund"
            )));
        }
        if let Some(why) = crate::refund_refused(refund, view.currency, None) {
            return Err(Self::rejected(why));
        }
        // A row no note claims, of this amount, is this refund's: an earlier
        // attempt wrote the row and stopped before its note.
        let unfinished = shown
            .iter()
            .rev()
            .find(|r| r.stripe_refund_id.is_none() && r.amount == refund.amount.amount)
            .filter(|_| view.refund_rows.len() > view.refund_notes.len());
        let left = MinorUnit::new(view.total.get() - view.refunded().get());
        if unfinished.is_none() {
            if let Some(why) = crate::refund_refused(refund, view.currency, Some(left)) {
                return Err(Self::rejected(why));
            }
            let remaining = Money {
                amount: MinorUnit::new(left.get() - refund.amount.amount.get()),
                currency: view.currency,
            };
            let row = json!({
                "OmsOrderId": view.oms_order_id,
                "TransactionReference": refund.stripe_refund_id,
                "Total": refund.amount.to_major().to_string(),
                "TransactionStatus": refunded_state,
                "PaymentSettingId": view.payment_setting_id,
                "RemainingOrderAmount": remaining.to_major().to_string(),
            });
            self.command(
                reqwest::Method::POST,
                "order/saveorderpaymentdetail",
                Some(&row),
            )
            .await?;
        }
        let note: String = refund_note(&refund.stripe_refund_id, refund.amount, &refund.comment)
            .chars()
            .take(MAX_NOTE_CHARS)
            .collect();
        self.command(
            reqwest::Method::PUT,
            "orders/updateorderdetailsbyordernumber",
            Some(&json!({"OmsOrderNumber": view.order_number, "OrderNotes": note})),
        )
        .await?;
        // Read again after writing: of two refunds recorded at once, the later
        // reader sees both rows, so the last one moves a fully refunded order.
        let after = self.refund_view(order_id).await?;
        if after.refunded() >= after.total
            && !after
                .payment_status
                .trim()
                .eq_ignore_ascii_case(&refunded_state)
        {
            self.command(
                reqwest::Method::GET,
                &format!(
                    "orders/updateorderpaymentstatus/{}/{}",
                    segment(order_id),
                    segment(&refunded_state)
                ),
                None,
            )
            .await?;
        }
        let rows = after.refunds();
        Ok(rows
            .iter()
            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.stripe_refund_id.as_str()))
            .map(|r| r.id.clone())
            .unwrap_or_else(|| Value::from(refund.stripe_refund_id.clone()).to_string()))
    }
}
