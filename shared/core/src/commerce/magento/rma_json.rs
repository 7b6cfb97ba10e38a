//! Adobe Commerce returns (RMA): `GET /V1/returns` and the money a processed
//! return gives back. Facts: `../shared/platforms/magento.md` §2.
//!
//! A return moves no money by itself; a merchant who closes returns without
//! a credit memo configures which item `resolution` options mean "refund"
//! (they are the store's own EAV option ids). A return processed and closed
//! (`processed_closed`) with approved items of those resolutions asks for
//! their price back: per unit, the item's row total with tax less its
//! discount, over the quantity ordered, times the quantity approved; exact
//! in the order's currency, or the return cannot be read (a person refunds
//! it by credit memo). Shipping is not returned.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::commerce::amounts::{self, FieldError};
use crate::commerce::stripe_refund_id_in;
use crate::money::{Currency, MinorUnit};

/// A return's status once the admin has processed and closed it.
pub const PROCESSED_CLOSED: &str = "processed_closed";
const RECORD_PREFIX: &str = "rma-";

/// The refund record id Tally gives a return (credit memos keep their entity id).
pub fn rma_record_id(entity_id: &str) -> String {
    format!("{RECORD_PREFIX}{entity_id}")
}

/// The return's entity id, if `record_id` names a return.
pub fn rma_entity_of(record_id: &str) -> Option<&str> {
    record_id.strip_prefix(RECORD_PREFIX)
}

/// Written into the credit memo Tally makes for a return, so it is known
/// as that return's and not taken for a merchant's own.
pub fn rma_marker(entity_id: &str) -> String {
    format!("[tally-rma-{entity_id}]")
}

/// One return as Tally reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReturn {
    pub entity_id: String,
    pub order_id: String,
    pub date_requested: String,
    pub processed_closed: bool,
    /// The Stripe refund its comments name.
    pub stripe_refund_id: Option<String>,
    /// Approved items of a refund resolution: (order item id, quantity approved).
    pub refund_items: Vec<(String, Decimal)>,
}

#[derive(Deserialize)]
struct Item {
    order_item_id: Value,
    #[serde(default)]
    qty_approved: Option<Value>,
    #[serde(default)]
    resolution: Option<Value>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
struct Return {
    entity_id: Value,
    order_id: Value,
    #[serde(default)]
    date_requested: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    comments: Vec<Comment>,
}

fn read(r: Return, refund_resolutions: &[String]) -> Result<ReadReturn, FieldError> {
    let mut refund_items = Vec::new();
    for item in &r.items {
        let resolution = item.resolution.as_ref().and_then(amounts::id_text);
        let refunds = resolution.is_some_and(|res| refund_resolutions.contains(&res));
        if !refunds || item.status.as_deref() != Some("approved") {
            continue;
        }
        let qty = match &item.qty_approved {
            Some(q) if !q.is_null() => amounts::decimal("items.qty_approved", q)?,
            _ => Decimal::ZERO,
        };
        if qty > Decimal::ZERO {
            let id = amounts::id_text(&item.order_item_id)
                .ok_or_else(|| amounts::invalid("items.order_item_id", "missing"))?;
            refund_items.push((id, qty));
        }
    }
    Ok(ReadReturn {
        entity_id: amounts::id_text(&r.entity_id)
            .ok_or_else(|| amounts::invalid("entity_id", "missing"))?,
        order_id: amounts::id_text(&r.order_id)
            .ok_or_else(|| amounts::invalid("order_id", "missing"))?,
        date_requested: r.date_requested.unwrap_or_default(),
        processed_closed: r.status.as_deref() == Some(PROCESSED_CLOSED),
        stripe_refund_id: r
            .comments
            .iter()
            .find_map(|c| c.comment.as_deref().and_then(stripe_refund_id_in)),
        refund_items,
    })
}

/// The returns of a `GET /V1/returns` page.
pub fn parse_returns(
    body: &[u8],
    refund_resolutions: &[String],
) -> Result<Vec<ReadReturn>, FieldError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        items: Vec<Return>,
    }
    let page: Page =
        serde_json::from_slice(body).map_err(|e| amounts::invalid("returns", e.to_string()))?;
    page.items
        .into_iter()
        .map(|r| read(r, refund_resolutions))
        .collect()
}

/// The money a return gives back, from its order's REST JSON: exact in the
/// order's currency or an error saying why not.
pub fn return_amount(
    r: &ReadReturn,
    order_json: &[u8],
) -> Result<(MinorUnit, Currency), FieldError> {
    #[derive(Deserialize)]
    struct OrderItem {
        item_id: Value,
        qty_ordered: Value,
        row_total_incl_tax: Value,
        #[serde(default)]
        discount_amount: Option<Value>,
    }
    #[derive(Deserialize)]
    struct Order {
        order_currency_code: String,
        #[serde(default)]
        items: Vec<OrderItem>,
    }
    let order: Order =
        serde_json::from_slice(order_json).map_err(|e| amounts::invalid("order", e.to_string()))?;
    let currency = amounts::currency("order_currency_code", &order.order_currency_code)?;
    let mut total = Decimal::ZERO;
    for (item_id, qty) in &r.refund_items {
        let item = order
            .items
            .iter()
            .find(|i| amounts::id_text(&i.item_id).as_deref() == Some(item_id.as_str()))
            .ok_or_else(|| {
                amounts::invalid(
                    "items.order_item_id",
                    format!("{item_id} is not in the order"),
                )
            })?;
        let ordered = amounts::decimal("qty_ordered", &item.qty_ordered)?;
        if *qty > ordered || ordered <= Decimal::ZERO {
            return Err(amounts::invalid(
                "items.qty_approved",
                format!("{qty} of item {item_id}, of which {ordered} were ordered"),
            ));
        }
        let row = amounts::decimal("row_total_incl_tax", &item.row_total_incl_tax)?;
        let discount = match &item.discount_amount {
            Some(d) if !d.is_null() => amounts::decimal("discount_amount", d)?,
            _ => Decimal::ZERO,
        };
        let share = (row - discount)
            .checked_mul(*qty)
            .and_then(|v| v.checked_div(ordered))
            .ok_or_else(|| amounts::invalid("items", "the item's price overflows"))?;
        total += share;
    }
    let amount = currency
        .to_minor_exact(total.normalize())
        .map_err(|source| FieldError::Money {
            field: "returned items' price",
            source,
        })?;
    Ok((amount, currency))
}

/// The body of `POST /V1/returns/{id}/comments`: an internal note.
pub fn return_comment_request(entity_id: &str, text: &str) -> Value {
    let id: Value = entity_id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(entity_id));
    json!({"data": {"rma_entity_id": id, "comment": text, "customer_notified": false,
                    "visible_on_front": false, "admin": true}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(items: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"items": [{
            "entity_id": 4, "increment_id": "000000004", "order_id": 12, "date_requested": "2026-11-27 10:00:00",
            "status": "processed_closed", "items": items,
            "comments": [{"comment": "We placed your Return request."}]}], "total_count": 1}))
        .unwrap()
    }

    fn order(currency: &str, rows: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"order_currency_code": currency, "items": rows})).unwrap()
    }

    #[test]
    fn a_processed_return_gives_back_the_approved_refund_items_price_exactly() {
        let resolutions = vec!["4".to_string()];
        let returns = parse_returns(
            &page(json!([
                {"order_item_id": 7, "qty_approved": 2, "resolution": "4", "status": "approved"},
                {"order_item_id": 8, "qty_approved": 1, "resolution": "5", "status": "approved"},
                {"order_item_id": 9, "qty_approved": 1, "resolution": 4, "status": "rejected"}
            ])),
            &resolutions,
        )
        .unwrap();
        let r = &returns[0];
        assert!(r.processed_closed && r.stripe_refund_id.is_none());
        assert_eq!(r.refund_items, vec![("7".to_string(), Decimal::from(2))]);
        // 3 ordered at 20.00 with tax, 6.00 discount on the row: 18.00 a unit, 2 returned
        let rows = json!([{"item_id": 7, "qty_ordered": 3, "row_total_incl_tax": "60.00", "discount_amount": "6.00"},
                          {"item_id": 8, "qty_ordered": 1, "row_total_incl_tax": "5.00"}]);
        assert_eq!(
            return_amount(r, &order("USD", rows)).unwrap(),
            (MinorUnit::new(3_600), Currency::Usd)
        );
        let kwd = json!([{"item_id": 7, "qty_ordered": 2, "row_total_incl_tax": "12.340"}]);
        assert_eq!(
            return_amount(r, &order("KWD", kwd)).unwrap().0,
            MinorUnit::new(12_340)
        );
    }

    #[test]
    fn a_price_that_does_not_divide_exactly_is_refused_never_rounded() {
        let r = ReadReturn {
            entity_id: "1".into(),
            order_id: "2".into(),
            date_requested: String::new(),
            processed_closed: true,
            stripe_refund_id: None,
            refund_items: vec![("7".into(), Decimal::ONE)],
        };
        let rows = json!([{"item_id": 7, "qty_ordered": 3, "row_total_incl_tax": "10.00"}]);
        let err = return_amount(&r, &order("USD", rows)).unwrap_err();
        assert!(err.to_string().contains("returned items' price"), "{err}");
        let missing = json!([{"item_id": 8, "qty_ordered": 1, "row_total_incl_tax": "1.00"}]);
        assert!(return_amount(&r, &order("USD", missing)).is_err());
    }

    #[test]
    fn records_and_markers_name_the_return() {
        assert_eq!(rma_record_id("4"), "rma-4");
        assert_eq!(rma_entity_of("rma-4"), Some("4"));
        assert_eq!(rma_entity_of("12"), None);
        assert_eq!(rma_marker("4"), "[tally-rma-4]");
        let body = return_comment_request("4", "Tally refund re_1");
        assert_eq!(body["data"]["rma_entity_id"], 4);
        let named = parse_returns(
            &serde_json::to_vec(
                &json!({"items": [{"entity_id": "4", "order_id": "12", "status": "closed",
                "comments": [{"comment": "Tally refund re_9abc (5.00 USD)"}]}]}),
            )
            .unwrap(),
            &[],
        )
        .unwrap();
        assert_eq!(named[0].stripe_refund_id.as_deref(), Some("re_9abc"));
        assert!(!named[0].processed_closed && named[0].refund_items.is_empty());
    }
}
