//! Magento's REST order (`GET /V1/orders/{id}`, also the webhook's
//! `data.order`) into the canonical order. Money arrives as JSON numbers;
//! serde_json's arbitrary precision hands them over as text, so they become
//! `Decimal`s exactly and are converted to minor units without rounding.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::commerce::amounts::{
    charged, currency, decimal, id_text, invalid, minor, order_charge, FieldError,
};
use crate::commerce::order::{
    Address, Order, OrderCharges, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState,
};
use crate::money::MinorUnit;

pub const PLATFORM: &str = "magento";

#[derive(Debug, Deserialize)]
pub struct MagentoOrder {
    pub entity_id: Value,
    pub increment_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub customer_id: Option<Value>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_firstname: Option<String>,
    #[serde(default)]
    pub customer_lastname: Option<String>,
    pub order_currency_code: String,
    pub grand_total: Value,
    #[serde(default)]
    pub total_invoiced: Option<Value>,
    #[serde(default)]
    pub shipping_amount: Option<Value>,
    #[serde(default)]
    pub tax_amount: Option<Value>,
    #[serde(default)]
    pub discount_amount: Option<Value>,
    #[serde(default)]
    pub items: Vec<MagentoItem>,
    #[serde(default)]
    pub billing_address: Option<MagentoAddress>,
    #[serde(default)]
    pub payment: Option<MagentoPayment>,
    #[serde(default)]
    pub extension_attributes: Option<Value>,
    #[serde(default)]
    pub status_histories: Vec<MagentoHistory>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MagentoItem {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub qty_ordered: Option<Value>,
    #[serde(default)]
    pub row_total: Option<Value>,
    #[serde(default)]
    pub parent_item_id: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MagentoAddress {
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub street: Vec<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postcode: Option<String>,
    #[serde(default)]
    pub country_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub telephone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MagentoPayment {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub last_trans_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MagentoHistory {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderJsonError {
    #[error("not a Magento order: {0}")]
    Shape(#[from] serde_json::Error),
    #[error(transparent)]
    Field(#[from] FieldError),
}

fn address(a: &MagentoAddress) -> Address {
    let name = [a.firstname.as_deref(), a.lastname.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Address {
        name: (!name.is_empty()).then_some(name),
        street: a.street.clone(),
        city: a.city.clone(),
        postcode: a.postcode.clone(),
        country: a.country_id.clone(),
        email: a.email.clone(),
        phone: a.telephone.clone(),
    }
}

fn shipping_address(ext: &Option<Value>) -> Option<Address> {
    let addr = ext
        .as_ref()?
        .get("shipping_assignments")?
        .get(0)?
        .get("shipping")?
        .get("address")?;
    serde_json::from_value::<MagentoAddress>(addr.clone())
        .ok()
        .map(|a| address(&a))
}

/// Magento states in which an order still waits for its money.
fn payment_state(state: &str, grand_total: MinorUnit, invoiced: MinorUnit) -> PaymentState {
    if invoiced >= grand_total && grand_total > MinorUnit::ZERO {
        return PaymentState::Paid;
    }
    match state {
        "new" | "pending_payment" | "payment_review" => PaymentState::AwaitingPayment,
        "processing" | "complete" if invoiced >= grand_total => PaymentState::Paid,
        _ => PaymentState::NotCollectable,
    }
}

/// Parses Magento's order JSON for the given store.
pub fn parse_order(store: &str, json: &[u8]) -> Result<Order, OrderJsonError> {
    let m: MagentoOrder = serde_json::from_slice(json)?;
    order_from(store, m)
}

pub(crate) fn order_from(store: &str, m: MagentoOrder) -> Result<Order, OrderJsonError> {
    let currency = currency("order_currency_code", &m.order_currency_code)?;
    let order_id = id_text(&m.entity_id).ok_or_else(|| invalid("entity_id", "missing"))?;
    let grand_total = charged("grand_total", &m.grand_total, currency)?;
    let total_invoiced = match &m.total_invoiced {
        Some(Value::Null) | None => MinorUnit::ZERO,
        Some(v) => minor("total_invoiced", v, currency)?,
    };
    let mut lines = Vec::new();
    // Configurable products repeat as a child item; the parent carries the price.
    for item in m
        .items
        .iter()
        .filter(|i| i.parent_item_id.is_none() || matches!(i.parent_item_id, Some(Value::Null)))
    {
        lines.push(OrderLine {
            sku: item.sku.clone().unwrap_or_default(),
            name: item.name.clone().unwrap_or_default(),
            quantity: match &item.qty_ordered {
                Some(v) => decimal("items.qty_ordered", v)?,
                None => Decimal::ONE,
            },
            row_total: match &item.row_total {
                Some(v) => minor("items.row_total", v, currency)?,
                None => MinorUnit::ZERO,
            },
        });
    }
    let state = m.state.clone().unwrap_or_default();
    Ok(Order {
        reference: OrderRef {
            platform: PLATFORM.into(),
            store: store.into(),
            order_id,
        },
        increment_id: m.increment_id,
        payment_state: payment_state(&state, grand_total, total_invoiced),
        state,
        status: m.status.unwrap_or_default(),
        customer: OrderCustomer {
            external_id: m.customer_id.as_ref().and_then(id_text),
            email: m.customer_email,
            first_name: m.customer_firstname,
            last_name: m.customer_lastname,
        },
        currency,
        grand_total,
        total_invoiced,
        lines,
        charges: OrderCharges {
            shipping: order_charge("shipping_amount", m.shipping_amount.as_ref(), currency)?,
            tax: order_charge("tax_amount", m.tax_amount.as_ref(), currency)?,
            discount: order_charge("discount_amount", m.discount_amount.as_ref(), currency)?,
        },
        billing_address: m.billing_address.as_ref().map(address),
        shipping_address: shipping_address(&m.extension_attributes),
        payment: OrderPayment {
            method: m.payment.as_ref().and_then(|p| p.method.clone()),
            transaction_id: m
                .payment
                .as_ref()
                .and_then(|p| p.last_trans_id.clone())
                .filter(|t| !t.is_empty()),
        },
        comments: m
            .status_histories
            .into_iter()
            .filter_map(|h| h.comment)
            .collect(),
        created_at: m.created_at.unwrap_or_default(),
        updated_at: m.updated_at.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    const ORDER: &str = r#"{"entity_id":42,"increment_id":"000000042","state":"new","status":"pending",
      "customer_id":null,"customer_email":"ada@example.com","customer_firstname":"Ada","customer_lastname":"L",
      "order_currency_code":"KWD","grand_total":12.34,"total_invoiced":0,
      "items":[{"sku":"T1","name":"Tee","qty_ordered":2,"row_total":10.1},
               {"sku":"T1-S","name":"Tee S","qty_ordered":2,"row_total":0,"parent_item_id":1}],
      "billing_address":{"firstname":"Ada","lastname":"L","street":["1 Way"],"city":"Kuwait","country_id":"KW"},
      "payment":{"method":"stripe_payments","last_trans_id":""},
      "extension_attributes":{"shipping_assignments":[{"shipping":{"address":{"firstname":"Bob","street":["2 Rd"]}}}]},
      "status_histories":[{"comment":"hello"}],"created_at":"2026-11-26 10:00:00","updated_at":"2026-11-26 10:00:01"}"#;

    #[test]
    fn shipping_tax_and_discount_are_read_exactly_and_the_discount_as_taken_off() {
        let o = parse_order("default", ORDER.as_bytes()).unwrap();
        assert_eq!(o.charges, OrderCharges::default(), "absent: zero");
        let with = ORDER.replace(
            "\"total_invoiced\":0,",
            "\"total_invoiced\":0,\"shipping_amount\":1.5,\"tax_amount\":\"0.740\",\"discount_amount\":-0.001,",
        );
        let o = parse_order("default", with.as_bytes()).unwrap();
        assert_eq!(
            (o.charges.shipping, o.charges.tax, o.charges.discount),
            (
                MinorUnit::new(1_500),
                MinorUnit::new(740),
                MinorUnit::new(1)
            )
        );
        let inexact = ORDER.replace(
            "\"total_invoiced\":0,",
            "\"total_invoiced\":0,\"tax_amount\":0.0005,",
        );
        let err = parse_order("default", inexact.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("tax_amount"), "{err}");
    }

    #[test]
    fn three_decimal_order_becomes_exact_minor_units() {
        let o = parse_order("default", ORDER.as_bytes()).unwrap();
        assert_eq!(o.reference.key(), "magento/default/42");
        assert_eq!(o.grand_total, MinorUnit::new(12_340));
        assert_eq!(o.currency, Currency::Kwd);
        assert_eq!(o.payment_state, PaymentState::AwaitingPayment);
        assert_eq!(o.lines.len(), 1, "child items are folded into their parent");
        assert_eq!(o.lines[0].row_total, MinorUnit::new(10_100));
        assert_eq!(o.payment.transaction_id, None);
        assert_eq!(
            o.shipping_address.as_ref().unwrap().name.as_deref(),
            Some("Bob")
        );
        assert_eq!(o.line_summary(), "Order #000000042: 2 x Tee");
    }

    #[test]
    fn amounts_finer_than_the_currency_are_errors_not_rounded() {
        for total in ["12.3456", "12.345"] {
            // 12.345 KWD has three decimals but Stripe settles KWD in steps of 10 fils.
            let bad = ORDER.replace(
                "\"grand_total\":12.34,",
                &format!("\"grand_total\":{total},"),
            );
            let err = parse_order("default", bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("grand_total"), "{err}");
        }
        let jpy = ORDER
            .replace("KWD", "JPY")
            .replace("12.34,", "1500.5,")
            .replace("10.1", "1000");
        assert!(parse_order("default", jpy.as_bytes()).is_err());
    }

    #[test]
    fn the_step_rule_applies_to_the_charged_total_not_to_lines() {
        // 10.105 KWD per line is exact in fils; only the total must be in steps of 10 fils.
        let lines = ORDER.replace("\"row_total\":10.1}", "\"row_total\":10.105}");
        let o = parse_order("default", lines.as_bytes()).unwrap();
        assert_eq!(o.lines[0].row_total, MinorUnit::new(10_105));
        let too_fine = ORDER.replace("\"row_total\":10.1}", "\"row_total\":10.1055}");
        let err = parse_order("default", too_fine.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("row_total"), "{err}");
    }

    #[test]
    fn invoiced_orders_are_paid() {
        let paid = ORDER
            .replace("\"state\":\"new\"", "\"state\":\"processing\"")
            .replace("\"total_invoiced\":0", "\"total_invoiced\":12.34");
        let o = parse_order("default", paid.as_bytes()).unwrap();
        assert_eq!(o.payment_state, PaymentState::Paid);
    }
}
