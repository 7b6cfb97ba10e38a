//! The ERP credit memo for a refund, and its reversal when the refund fails.
//! Everything in them comes from the refund and the order, so a retry sends
//! the same body under the same key.

use std::collections::BTreeMap;

use crate::clock::utc_date;
use crate::commerce::Order;
use crate::erp::{CreditMemo, JournalEntry, JournalLine, Side};
use crate::flows::order_to_cash::{sale_key, O2cError, OrderToCash};
use crate::stripe::objects::Refund;

impl OrderToCash {
    fn refund_references(
        order: &Order,
        refund: &Refund,
        charge_id: &str,
        pi: &str,
    ) -> BTreeMap<String, String> {
        let r = &order.reference;
        [
            ("platform", r.platform.as_str()),
            ("store", r.store.as_str()),
            ("order_id", r.order_id.as_str()),
            ("increment_id", order.increment_id.as_str()),
            ("payment_intent", pi),
            ("charge", charge_id),
            ("refund", refund.id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn refund_memo(order: &Order, refund: &Refund) -> String {
        format!(
            "Stripe refund {} for {} order #{}",
            refund.id, order.reference.platform, order.increment_id
        )
    }

    fn refund_key(order: &Order, refund: &Refund) -> String {
        format!(
            "tally-{}-refund-{}",
            order.reference.key().replace('/', "-"),
            refund.id
        )
    }

    /// Money returned: debit the refunds account, credit Stripe clearing,
    /// dated by the refund.
    pub(super) fn refund_entry(
        &self,
        order: &Order,
        refund: &Refund,
        charge_id: &str,
        pi: &str,
    ) -> Result<JournalEntry, O2cError> {
        let accounts = &self.settings.accounts;
        let line = |account: &str, side| JournalLine {
            account: account.into(),
            side,
            amount: refund.amount,
            memo: None,
        };
        Ok(JournalEntry::new(
            Self::refund_key(order, refund),
            utc_date(refund.created),
            refund.currency,
            Self::refund_memo(order, refund),
            Self::refund_references(order, refund, charge_id, pi),
            vec![
                line(&accounts.refunds, Side::Debit),
                line(&accounts.stripe_clearing, Side::Credit),
            ],
        )?)
    }

    /// The refund as a credit memo against the order's sales order, dated by the refund.
    pub(super) fn credit_memo(
        &self,
        order: &Order,
        refund: &Refund,
        charge_id: &str,
        pi: &str,
    ) -> Result<CreditMemo, O2cError> {
        Ok(CreditMemo::new(
            format!(
                "tally-{}-credit-{}",
                order.reference.key().replace('/', "-"),
                refund.id
            ),
            sale_key(&order.reference),
            utc_date(refund.created),
            refund.currency,
            Self::refund_memo(order, refund),
            Self::refund_references(order, refund, charge_id, pi),
            refund.amount,
        )?)
    }

    /// The failed refund's money is back in Stripe: the credit memo's lines
    /// swapped, dated the day Tally learns of the failure.
    pub(super) fn refund_reversal_entry(
        &self,
        order: &Order,
        refund: &Refund,
        original_entry: &str,
    ) -> Result<JournalEntry, O2cError> {
        let accounts = &self.settings.accounts;
        let line = |account: &str, side| JournalLine {
            account: account.into(),
            side,
            amount: refund.amount,
            memo: None,
        };
        let charge = refund.charge.as_ref().map(|c| c.0.as_str()).unwrap_or("");
        let pi = refund
            .payment_intent
            .as_ref()
            .map(|p| p.0.as_str())
            .unwrap_or("");
        let mut references = Self::refund_references(order, refund, charge, pi);
        references.insert("reverses".into(), original_entry.to_string());
        Ok(JournalEntry::new(
            format!("{}-reversal", Self::refund_key(order, refund)),
            utc_date(self.clock.now_secs()),
            refund.currency,
            format!(
                "Reversal: Stripe refund {} failed ({})",
                refund.id,
                refund.failure_reason.as_deref().unwrap_or("unknown")
            ),
            references,
            vec![
                line(&accounts.stripe_clearing, Side::Debit),
                line(&accounts.refunds, Side::Credit),
            ],
        )?)
    }
}
