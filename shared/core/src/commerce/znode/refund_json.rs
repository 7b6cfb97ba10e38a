//! Refunds on a Znode order, read from and written to what Znode's API has.
//!
//! Znode records money on an order as payment rows (`order/saveorderpaymentdetail`,
//! table `ZnodeOrderPayment`), which `GET orders/{id}` returns as
//! `PaymentHistoryList.PaymentHistoryList` with `Amount` and `TransactionStatus`
//! but without `TransactionReference`, and only for rows that name a
//! `PaymentSettingId` (`Znode_GetPaymentHistory` joins on it). So a refund is
//! a row with the refunded payment state as its status, plus an order note
//! naming the Stripe refund and its amount: the note is how the refund is
//! found again, the row is what Znode's own screens and totals show.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::commerce::amounts::{self, FieldError};
use crate::commerce::PlatformRefund;
use crate::money::{Currency, MinorUnit, Money};

/// Starts every note Tally writes for a refund it records.
pub const REFUND_NOTE_PREFIX: &str = "Tally refund ";

/// The note for a recorded refund: `Tally refund re_1 (5.00 USD): <comment>`.
pub fn refund_note(stripe_refund_id: &str, amount: Money, comment: &str) -> String {
    format!("{REFUND_NOTE_PREFIX}{stripe_refund_id} ({amount}): {comment}")
}

/// A refund note read back: (Stripe refund id, amount in minor units).
pub(super) fn parse_refund_note(text: &str, currency: Currency) -> Option<(String, MinorUnit)> {
    let rest = text.strip_prefix(REFUND_NOTE_PREFIX)?;
    let (id, rest) = rest.split_once(" (")?;
    let (amount, _) = rest.split_once(' ')?;
    let minor = currency
        .to_minor_exact(amount.parse::<Decimal>().ok()?)
        .ok()?;
    Some((id.to_string(), minor))
}

/// What recording a refund needs from `GET orders/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZnodeRefundView {
    pub oms_order_id: Value,
    pub order_number: String,
    pub payment_setting_id: Option<Value>,
    pub payment_status: String,
    pub currency: Currency,
    pub total: MinorUnit,
    /// Payment rows in the refunded state: (OrderPaymentId, Amount), oldest first.
    pub refund_rows: Vec<(String, MinorUnit)>,
    /// Tally's refund notes: (Stripe refund id, amount), oldest first.
    pub refund_notes: Vec<(String, MinorUnit)>,
    /// Every payment row as (TransactionStatus, Amount), oldest first.
    pub rows: Vec<(String, MinorUnit)>,
}

impl ZnodeRefundView {
    /// Whether a row in `status` for `amount` is there: a payment an earlier attempt saved.
    pub fn has_row(&self, status: &str, amount: MinorUnit) -> bool {
        self.rows
            .iter()
            .any(|(s, a)| s.trim().eq_ignore_ascii_case(status.trim()) && *a == amount)
    }

    pub fn refunded(&self) -> MinorUnit {
        MinorUnit::new(self.refund_rows.iter().map(|(_, a)| a.get()).sum())
    }

    /// Each refund row with the Stripe refund its note names: notes and rows
    /// are paired in order by equal amount; a row no note claims (a refund
    /// made in Znode, or a note not yet written) names none.
    pub fn refunds(&self) -> Vec<PlatformRefund> {
        let mut claimed = vec![false; self.refund_rows.len()];
        let mut named: Vec<Option<String>> = vec![None; self.refund_rows.len()];
        for (stripe_id, amount) in &self.refund_notes {
            if let Some(i) = (0..self.refund_rows.len())
                .find(|&i| !claimed[i] && self.refund_rows[i].1 == *amount)
            {
                claimed[i] = true;
                named[i] = Some(stripe_id.clone());
            }
        }
        self.refund_rows
            .iter()
            .zip(named)
            .map(|((id, amount), stripe_refund_id)| PlatformRefund {
                id: id.clone(),
                amount: *amount,
                stripe_refund_id,
                // a payment row records money already returned, never a request
                awaiting: false,
            })
            .collect()
    }
}

/// Reads the view from an `OrderResponse`; `refunded_status` is the payment
/// state name refund rows carry (compared without case, as SQL Server does).
pub fn refund_view(
    order_response: &[u8],
    refunded_status: &str,
) -> Result<ZnodeRefundView, FieldError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Row {
        #[serde(default)]
        order_payment_id: Value,
        amount: Value,
        #[serde(default)]
        transaction_status: Option<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct History {
        #[serde(default)]
        payment_history_list: Vec<Row>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Note {
        #[serde(default)]
        notes: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Order {
        oms_order_id: Value,
        #[serde(default)]
        order_number: Option<String>,
        #[serde(default)]
        payment_setting_id: Option<Value>,
        #[serde(default)]
        payment_status: Option<String>,
        currency_code: String,
        total: Value,
        #[serde(default)]
        payment_history_list: Option<History>,
        #[serde(default)]
        order_notes: Option<Vec<Note>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Response {
        order: Option<Order>,
    }
    let order = serde_json::from_slice::<Response>(order_response)
        .map_err(|e| amounts::invalid("Order", e.to_string()))?
        .order
        .ok_or_else(|| amounts::invalid("Order", "missing"))?;
    let currency = amounts::currency("CurrencyCode", &order.currency_code)?;
    let mut refund_rows = Vec::new();
    let mut rows = Vec::new();
    for row in order
        .payment_history_list
        .unwrap_or_default()
        .payment_history_list
    {
        let status = row.transaction_status.unwrap_or_default();
        let amount = amounts::minor("PaymentHistoryList.Amount", &row.amount, currency)?;
        if status.trim().eq_ignore_ascii_case(refunded_status) {
            refund_rows.push((
                amounts::id_text(&row.order_payment_id).unwrap_or_default(),
                amount,
            ));
        }
        rows.push((status, amount));
    }
    let refund_notes = order
        .order_notes
        .into_iter()
        .flatten()
        .filter_map(|n| n.notes)
        .filter_map(|text| parse_refund_note(&text, currency))
        .collect();
    Ok(ZnodeRefundView {
        total: amounts::charged("Total", &order.total, currency)?,
        oms_order_id: order.oms_order_id,
        order_number: order.order_number.unwrap_or_default(),
        payment_setting_id: order.payment_setting_id.filter(|v| !v.is_null()),
        payment_status: order.payment_status.unwrap_or_default(),
        currency,
        refund_rows,
        refund_notes,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_named_by_the_notes_that_claim_them() {
        let amount = Money::from_major("5.00".parse().unwrap(), Currency::Usd).unwrap();
        let note = refund_note("re_A1", amount, "Refunded 5.00 USD in Stripe.");
        assert_eq!(
            note,
            "Tally refund re_A1 (5.00 USD): Refunded 5.00 USD in Stripe."
        );
        let body = serde_json::json!({"Order": {
            "OmsOrderId": 1001, "OrderNumber": "ZN-1", "PaymentSettingId": 7, "PaymentStatus": "Captured",
            "CurrencyCode": "USD", "Total": 20.0,
            "PaymentHistoryList": {"PaymentHistoryList": [
                {"OrderPaymentId": 1, "Amount": 20.0, "TransactionStatus": "Captured"},
                {"OrderPaymentId": 2, "Amount": 3.0, "TransactionStatus": "refunded"},
                {"OrderPaymentId": 3, "Amount": 5.0, "TransactionStatus": "Refunded"}]},
            "OrderNotes": [{"Notes": note}, {"Notes": "Stripe refund re_A1 failed (declined)"}]}});
        let view = refund_view(body.to_string().as_bytes(), "Refunded").unwrap();
        assert_eq!(view.refunded().get(), 800);
        // the payment row an earlier attempt saved is found by its status and amount
        assert!(view.has_row(" captured ", MinorUnit::new(2000)));
        assert!(!view.has_row("Captured", MinorUnit::new(1999)));
        assert_eq!(view.payment_setting_id, Some(serde_json::json!(7)));
        let got: Vec<_> = view
            .refunds()
            .into_iter()
            .map(|r| (r.id, r.amount.get(), r.stripe_refund_id))
            .collect();
        assert_eq!(
            got,
            [
                ("2".into(), 300, None),
                ("3".into(), 500, Some("re_A1".into()))
            ]
        );
    }
}
