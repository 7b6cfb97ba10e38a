//! Refunds on Kentico. Xperience 13 has no credit memo or return object, so
//! Tally keeps refunds in a custom table the merchant creates (code name
//! `tally.refund` by default; README, "Kentico"), read and written through the
//! REST service as `customtableitem.tally.refund`. A row is one refund of one
//! order: a person asks for one by adding a row in the admin's Custom table
//! data application (`RefundOrderID`, `RefundAmount`, status `requested`);
//! Tally refunds it in Stripe and writes the Stripe refund id and `refunded`
//! back. A refund made in Stripe becomes a row Tally adds, already `refunded`.

use serde_json::Value;

use crate::commerce::amounts::{id_text, minor, FieldError};
use crate::commerce::PlatformRefund;
use crate::money::Currency;

pub const REFUND_REQUESTED: &str = "requested";
pub const REFUND_REFUNDED: &str = "refunded";

/// One row of the refund table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub item_id: String,
    pub order_id: String,
    pub amount: Value,
    pub status: String,
    pub stripe_refund_id: Option<String>,
    pub created_at: String,
}

impl RefundRow {
    pub fn from_json(o: &Value) -> Option<RefundRow> {
        let text = |k: &str| match o.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        Some(RefundRow {
            item_id: o.get("ItemID").and_then(id_text)?,
            order_id: o.get("RefundOrderID").and_then(id_text).unwrap_or_default(),
            amount: o.get("RefundAmount").cloned().unwrap_or(Value::Null),
            status: text("RefundStatus")
                .unwrap_or_default()
                .to_ascii_lowercase(),
            stripe_refund_id: text("RefundStripeRefundID"),
            created_at: o
                .get("ItemCreatedWhen")
                .and_then(super::kentico_time)
                .unwrap_or_default(),
        })
    }

    /// Asks for money back and names no Stripe refund yet.
    pub fn awaiting(&self) -> bool {
        self.status == REFUND_REQUESTED && self.stripe_refund_id.is_none()
    }

    /// The row as the platform contract shows it, in the order's currency.
    pub fn as_refund(&self, currency: Currency) -> Result<PlatformRefund, FieldError> {
        Ok(PlatformRefund {
            id: self.item_id.clone(),
            amount: minor("RefundAmount", &self.amount, currency)?,
            stripe_refund_id: self.stripe_refund_id.clone(),
            awaiting: self.awaiting(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_refunds_in_the_orders_currency() {
        let o: Value = serde_json::from_str(
            r#"{"ItemID":3,"RefundOrderID":12,"RefundAmount":"2.345000000","RefundStatus":"Requested",
                "RefundStripeRefundID":"","ItemCreatedWhen":"/Date(0)/"}"#,
        )
        .unwrap();
        let row = RefundRow::from_json(&o).unwrap();
        assert!(row.awaiting());
        let r = row.as_refund(Currency::Kwd).unwrap();
        assert_eq!(
            (r.id.as_str(), r.amount.get(), r.stripe_refund_id),
            ("3", 2_345, None)
        );
        assert!(
            row.as_refund(Currency::Jpy).is_err(),
            "2.345 yen is not an amount"
        );
        let done: Value = serde_json::from_str(
            r#"{"ItemID":4,"RefundOrderID":12,"RefundAmount":5,"RefundStatus":"refunded","RefundStripeRefundID":"re_1"}"#,
        )
        .unwrap();
        let done = RefundRow::from_json(&done).unwrap();
        assert!(!done.awaiting());
        assert_eq!(done.stripe_refund_id.as_deref(), Some("re_1"));
        assert!(RefundRow::from_json(&Value::Null).is_none());
    }
}
