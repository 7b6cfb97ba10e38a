//! Magento credit memos: the request that records a refund made in Stripe
//! (`POST /V1/order/{id}/refund`, offline) and the credit memos read back
//! (`GET /V1/creditmemos`). Facts: `../shared/platforms/magento.md` §1.
//!
//! A Stripe refund is an amount, not items, so the credit memo refunds no
//! item (every item at qty 0, since an empty list would refund them all) and
//! no shipping (Magento would otherwise refund what shipping is left), and
//! carries the amount as a positive adjustment. Magento refuses more than
//! the order has left to refund and closes the order once all is refunded.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::commerce::amounts::{self, FieldError};
use crate::commerce::{stripe_refund_id_in, OrderRef, PlatformRefund, PolledRefund, RefundRecord};

/// The order's item ids (`items[].item_id`), from its REST JSON.
pub fn order_item_ids(order_json: &[u8]) -> Result<Vec<Value>, FieldError> {
    #[derive(Deserialize)]
    struct Item {
        item_id: Value,
    }
    #[derive(Deserialize)]
    struct OrderItems {
        #[serde(default)]
        items: Vec<Item>,
    }
    let order: OrderItems =
        serde_json::from_slice(order_json).map_err(|e| amounts::invalid("items", e.to_string()))?;
    Ok(order.items.into_iter().map(|i| i.item_id).collect())
}

/// The body of `POST /V1/order/{id}/refund` for an amount refunded in Stripe.
pub fn refund_request(item_ids: &[Value], refund: &RefundRecord) -> Value {
    let amount = refund.amount.to_major();
    json!({
        "items": item_ids.iter().map(|id| json!({"order_item_id": id, "qty": 0})).collect::<Vec<_>>(),
        "notify": refund.notify_customer,
        "appendComment": true,
        "comment": {"comment": refund.comment, "is_visible_on_front": 0},
        "arguments": {
            "shipping_amount": 0,
            "adjustment_positive": format!("{amount:.*}", refund.amount.currency.exponent() as usize),
            "adjustment_negative": 0,
        },
    })
}

/// The body of `POST /V1/creditmemo/{id}/comments`: an internal note.
pub fn creditmemo_comment_request(creditmemo_id: &str, text: &str) -> Value {
    let parent: Value = creditmemo_id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(creditmemo_id));
    json!({"entity": {"parent_id": parent, "comment": text, "is_customer_notified": 0, "is_visible_on_front": 0}})
}

/// The credit memos of a `GET /V1/creditmemos` page as a poll reads them:
/// the order each is for and when it was made.
pub fn parse_polled_creditmemos(store: &str, body: &[u8]) -> Result<Vec<PolledRefund>, FieldError> {
    #[derive(Deserialize)]
    struct Key {
        order_id: Value,
        #[serde(default)]
        created_at: String,
    }
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        items: Vec<Key>,
    }
    let keys: Page =
        serde_json::from_slice(body).map_err(|e| amounts::invalid("creditmemos", e.to_string()))?;
    let refunds = parse_creditmemos(body)?;
    keys.items
        .into_iter()
        .zip(refunds)
        .map(|(key, refund)| {
            Ok(PolledRefund {
                order: OrderRef {
                    platform: super::PLATFORM.into(),
                    store: store.into(),
                    order_id: amounts::id_text(&key.order_id)
                        .ok_or_else(|| amounts::invalid("order_id", "missing"))?,
                },
                refund,
                created_at: key.created_at,
            })
        })
        .collect()
}

/// The credit memos of a `GET /V1/creditmemos` page, with the Stripe refund
/// each names in its comments.
pub fn parse_creditmemos(body: &[u8]) -> Result<Vec<PlatformRefund>, FieldError> {
    #[derive(Deserialize)]
    struct Comment {
        #[serde(default)]
        comment: Option<String>,
    }
    #[derive(Deserialize)]
    struct CreditMemo {
        entity_id: Value,
        grand_total: Value,
        order_currency_code: String,
        #[serde(default)]
        comments: Vec<Comment>,
        #[serde(default)]
        transaction_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        items: Vec<CreditMemo>,
    }
    let page: Page =
        serde_json::from_slice(body).map_err(|e| amounts::invalid("creditmemos", e.to_string()))?;
    page.items
        .into_iter()
        .map(|m| {
            let currency = amounts::currency("order_currency_code", &m.order_currency_code)?;
            let stripe_refund_id = m
                .transaction_id
                .as_deref()
                .and_then(stripe_refund_id_in)
                .or_else(|| {
                    m.comments
                        .iter()
                        .find_map(|c| c.comment.as_deref().and_then(stripe_refund_id_in))
                });
            Ok(PlatformRefund {
                id: amounts::id_text(&m.entity_id)
                    .ok_or_else(|| amounts::invalid("entity_id", "missing"))?,
                amount: amounts::minor("grand_total", &m.grand_total, currency)?,
                // a credit memo is the merchant's refund: awaiting until a Stripe refund is named
                awaiting: stripe_refund_id.is_none(),
                stripe_refund_id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Money};

    #[test]
    fn an_amount_refund_refunds_no_item_and_no_shipping() {
        let refund = RefundRecord {
            amount: Money::from_major("12.340".parse().unwrap(), Currency::Kwd).unwrap(),
            stripe_refund_id: "re_1".into(),
            charge_id: "ch_1".into(),
            comment: "Refunded 12.340 KWD in Stripe: refund re_1 (Tally).".into(),
            notify_customer: true,
        };
        let body = refund_request(&[json!(7), json!(8)], &refund);
        assert_eq!(
            body["items"],
            json!([{"order_item_id": 7, "qty": 0}, {"order_item_id": 8, "qty": 0}])
        );
        assert_eq!(body["arguments"]["adjustment_positive"], "12.340");
        assert_eq!(body["arguments"]["shipping_amount"], 0);
        assert_eq!(body["comment"]["is_visible_on_front"], 0);
    }

    #[test]
    fn credit_memos_read_back_with_exact_amounts_and_their_stripe_refund() {
        let body = br#"{"items":[
            {"entity_id":3,"grand_total":5,"order_currency_code":"USD","comments":[{"comment":"Refunded 5.00 USD in Stripe: refund re_3AbC on charge ch_1 (Tally)."}]},
            {"entity_id":"4","grand_total":"4800","order_currency_code":"JPY","comments":[]},
            {"entity_id":5,"grand_total":1.5,"order_currency_code":"USD","transaction_id":"re_T5"}],"total_count":3}"#;
        let memos = parse_creditmemos(body).unwrap();
        let got: Vec<_> = memos
            .iter()
            .map(|m| (m.id.as_str(), m.amount.get(), m.stripe_refund_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("3", 500, Some("re_3AbC")),
                ("4", 4800, None),
                ("5", 150, Some("re_T5"))
            ]
        );
        assert!(parse_creditmemos(
            br#"{"items":[{"entity_id":1,"grand_total":0.001,"order_currency_code":"USD"}]}"#
        )
        .is_err());
    }
}
