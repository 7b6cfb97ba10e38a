//! A page of an automatic payout's balance transactions as Tally reads it
//! (`GET /v1/balance_transactions?payout=…&expand[]=data.source`): each
//! transaction with the PaymentIntent its source belongs to (a charge's,
//! refund's or dispute's `payment_intent`), which is how it is matched to an
//! order. Newest first, as Stripe lists; `has_more` and the last id page on.

use serde::Deserialize;
use serde_json::Value;

use super::objects::BalanceTransaction;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutTransaction {
    pub transaction: BalanceTransaction,
    /// The PaymentIntent of the charge, refund or dispute the transaction is for.
    pub payment_intent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayoutTransactionsPage {
    pub transactions: Vec<PayoutTransaction>,
    pub has_more: bool,
}

/// Reads one list page; the error says what was wrong.
pub fn parse_payout_transactions(body: &[u8]) -> Result<PayoutTransactionsPage, String> {
    #[derive(Deserialize)]
    struct Page {
        data: Vec<Value>,
        #[serde(default)]
        has_more: bool,
    }
    let page: Page =
        serde_json::from_slice(body).map_err(|e| format!("balance transactions: {e}"))?;
    let mut transactions = Vec::with_capacity(page.data.len());
    for raw in page.data {
        let payment_intent = match raw.get("source").and_then(|s| s.get("payment_intent")) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Object(pi)) => pi.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let transaction: BalanceTransaction =
            serde_json::from_value(raw).map_err(|e| format!("balance transaction: {e}"))?;
        transactions.push(PayoutTransaction {
            transaction,
            payment_intent,
        });
    }
    Ok(PayoutTransactionsPage {
        transactions,
        has_more: page.has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transaction_carries_its_sources_payment_intent() {
        let body = serde_json::json!({"object": "list", "has_more": true, "data": [
            {"id": "txn_1", "object": "balance_transaction", "amount": 1000, "fee": 59, "net": 941,
             "currency": "usd", "type": "charge", "reporting_category": "charge", "status": "available",
             "available_on": 1, "created": 1,
             "source": {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}},
            {"id": "txn_2", "object": "balance_transaction", "amount": -500, "fee": 0, "net": -500,
             "currency": "usd", "type": "refund", "reporting_category": "refund", "status": "available",
             "available_on": 1, "created": 1,
             "source": {"id": "re_2", "object": "refund", "payment_intent": {"id": "pi_2", "object": "payment_intent"}}},
            {"id": "txn_3", "object": "balance_transaction", "amount": -441, "fee": 0, "net": -441,
             "currency": "usd", "type": "payout", "reporting_category": "payout", "status": "available",
             "available_on": 1, "created": 1, "source": {"id": "po_1", "object": "payout"}}]});
        let page = parse_payout_transactions(body.to_string().as_bytes()).unwrap();
        assert!(page.has_more);
        let got: Vec<_> = page
            .transactions
            .iter()
            .map(|t| {
                (
                    t.transaction.id.as_str(),
                    t.transaction.source.as_ref().map(|s| s.0.as_str()),
                    t.payment_intent.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("txn_1", Some("ch_1"), Some("pi_1")),
                ("txn_2", Some("re_2"), Some("pi_2")),
                ("txn_3", Some("po_1"), None)
            ]
        );
        assert!(parse_payout_transactions(br#"{"data": [{"id": "txn_x"}]}"#).is_err());
    }
}
