//! Kentico's `ecommerce.order` (table `COM_Order`) into the canonical order.
//! An order names its currency, status and payment option by id
//! (`OrderCurrencyID`, `OrderStatusID`, `OrderPaymentOptionID`): `Lookups`,
//! read from Kentico's own lists, turns them into a currency code, a status
//! (with its `StatusOrderIsPaid` flag) and a payment option name. Money is
//! `decimal(18,9)`: converted exactly per the currency's exponent, or refused.
//! Tally's notes live in `OrderNote`, one line each, oldest first.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::commerce::amounts::{
    charged, currency, decimal, id_text, invalid, minor, order_charge, FieldError,
};
use crate::commerce::order::{
    Order, OrderCharges, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState,
};
use crate::money::MinorUnit;

pub const PLATFORM: &str = "kentico";
pub const ORDER_OBJECT: &str = "ecommerce.order";

/// A row of `ecommerce.orderstatus` (`COM_OrderStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStatus {
    pub id: String,
    /// The code name (`StatusName`): what configuration names.
    pub name: String,
    pub is_paid: bool,
}

/// The ids an order names, resolved from Kentico's lists (read once per container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    /// `CurrencyID` -> `CurrencyCode`.
    pub currencies: BTreeMap<String, String>,
    pub statuses: BTreeMap<String, OrderStatus>,
    /// `PaymentOptionID` -> `PaymentOptionName`.
    pub payment_options: BTreeMap<String, String>,
    /// Status code names whose orders are not collected (canceled and the like).
    pub not_collectable: Vec<String>,
}

impl Lookups {
    pub fn status_named(&self, name: &str) -> Option<&OrderStatus> {
        self.statuses
            .values()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderJsonError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("the answer has no {ORDER_OBJECT} object")]
    NoOrder,
}

/// Kentico's JSON booleans: `true`, `"True"`, `1`.
fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    }
}

fn text(o: &Value, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A SQL string literal for Kentico's `where` parameter (quotes doubled).
pub fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A Kentico date as the server's wall-clock text `YYYY-MM-DD HH:MM:SS.fff`
/// (what its SQL `where` compares, and sortable as text): .NET's
/// `/Date(ms[+hhmm])/` (the ms are UTC, the offset the server's zone) or
/// ISO 8601 (its local part).
pub fn kentico_time(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let split = inner[1..].find(['+', '-']).map(|i| i + 1);
        let (ms, offset) = match split {
            Some(i) => (&inner[..i], Some(&inner[i..])),
            None => (inner, None),
        };
        let ms: i64 = ms.parse().ok()?;
        let offset_ms = match offset {
            Some(o) if o.len() == 5 => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let h: i64 = o[1..3].parse().ok()?;
                let m: i64 = o[3..5].parse().ok()?;
                sign * (h * 60 + m) * 60_000
            }
            Some(_) => return None,
            None => 0,
        };
        let local = ms.checked_add(offset_ms)?;
        let secs = local.div_euclid(1000);
        return Some(format!(
            "{}.{:03}",
            crate::clock::utc_datetime(secs),
            local.rem_euclid(1000)
        ));
    }
    crate::clock::parse_utc_datetime(s)?;
    let (base, rest) = s.split_at(19);
    let fraction: String = rest
        .strip_prefix('.')
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    Some(format!(
        "{}.{:0<3}",
        base.replace('T', " "),
        &fraction[..fraction.len().min(3)]
    ))
}

/// Where a Kentico order stands for payment: paid by its own flag (set by a
/// status with `StatusOrderIsPaid`); not collectable in a configured status;
/// otherwise awaiting (Tally's failed status included: a retry may still pay).
fn payment_state(is_paid: bool, status: Option<&OrderStatus>, lookups: &Lookups) -> PaymentState {
    if is_paid || status.is_some_and(|s| s.is_paid) {
        return PaymentState::Paid;
    }
    match status {
        Some(s)
            if lookups
                .not_collectable
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&s.name)) =>
        {
            PaymentState::NotCollectable
        }
        _ => PaymentState::AwaitingPayment,
    }
}

/// One `ecommerce.order` object (and its `ecommerce.orderitem` rows) for `store` (the site).
pub fn order_from(
    store: &str,
    o: &Value,
    items: &[&Value],
    lookups: &Lookups,
) -> Result<Order, OrderJsonError> {
    let order_id = o
        .get("OrderID")
        .and_then(id_text)
        .ok_or_else(|| invalid("OrderID", "missing"))?;
    let currency_id = o
        .get("OrderCurrencyID")
        .and_then(id_text)
        .ok_or_else(|| invalid("OrderCurrencyID", "missing"))?;
    let code = lookups.currencies.get(&currency_id).ok_or_else(|| {
        invalid(
            "OrderCurrencyID",
            format!("currency {currency_id} is not in ecommerce.currency"),
        )
    })?;
    let currency = currency("OrderCurrencyID", code)?;
    let grand_total = charged(
        "OrderGrandTotal",
        o.get("OrderGrandTotal").unwrap_or(&Value::Null),
        currency,
    )?;
    let status = o
        .get("OrderStatusID")
        .and_then(id_text)
        .and_then(|id| lookups.statuses.get(&id));
    let paid = payment_state(flag(o.get("OrderIsPaid")), status, lookups);
    let mut lines = Vec::new();
    for item in items {
        let quantity = match item.get("OrderItemUnitCount") {
            Some(v) if !v.is_null() => decimal("OrderItemUnitCount", v)?,
            _ => rust_decimal::Decimal::ONE,
        };
        let row_total = match item.get("OrderItemTotalPrice") {
            Some(v) if !v.is_null() => minor("OrderItemTotalPrice", v, currency)?,
            _ => MinorUnit::ZERO,
        };
        lines.push(OrderLine {
            sku: text(item, "OrderItemSKUID").unwrap_or_default(),
            name: text(item, "OrderItemSKUName").unwrap_or_default(),
            quantity,
            row_total,
        });
    }
    let created_at = o
        .get("OrderDate")
        .and_then(kentico_time)
        .unwrap_or_default();
    let mut comments: Vec<String> = text(o, "OrderNote")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    comments.reverse();
    let result = super::payment_result_items(&text(o, "OrderPaymentResult").unwrap_or_default());
    Ok(Order {
        reference: OrderRef {
            platform: PLATFORM.into(),
            store: store.into(),
            order_id: order_id.clone(),
        },
        increment_id: text(o, "OrderInvoiceNumber").unwrap_or(order_id),
        state: status.map(|s| s.name.clone()).unwrap_or_default(),
        status: status.map(|s| s.name.clone()).unwrap_or_default(),
        payment_state: paid,
        customer: OrderCustomer {
            external_id: text(o, "OrderCustomerID").filter(|id| id != "0"),
            email: None,
            first_name: None,
            last_name: None,
        },
        currency,
        grand_total,
        total_invoiced: if paid == PaymentState::Paid {
            grand_total
        } else {
            MinorUnit::ZERO
        },
        lines,
        charges: OrderCharges {
            shipping: order_charge("OrderTotalShipping", o.get("OrderTotalShipping"), currency)?,
            tax: order_charge("OrderTotalTax", o.get("OrderTotalTax"), currency)?,
            // Kentico's discounts are inside the item prices and the order's own total
            discount: MinorUnit::ZERO,
        },
        billing_address: None,
        shipping_address: None,
        payment: OrderPayment {
            method: text(o, "OrderPaymentOptionID")
                .and_then(|id| lookups.payment_options.get(&id))
                .map(|n| n.to_ascii_lowercase()),
            transaction_id: result
                .into_iter()
                .find(|(name, _)| name == "transactionid")
                .map(|(_, value)| value)
                .filter(|v| !v.is_empty()),
        },
        comments,
        updated_at: o
            .get("OrderLastModified")
            .and_then(kentico_time)
            .unwrap_or_else(|| created_at.clone()),
        created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn lookups() -> Lookups {
        let status = |id: &str, name: &str, is_paid| {
            (
                id.to_string(),
                OrderStatus {
                    id: id.into(),
                    name: name.into(),
                    is_paid,
                },
            )
        };
        Lookups {
            currencies: [("1", "USD"), ("2", "JPY"), ("3", "KWD")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .into(),
            statuses: [
                status("1", "New", false),
                status("2", "PaymentReceived", true),
                status("6", "Canceled", false),
            ]
            .into(),
            payment_options: [("1".to_string(), "Stripe_Payments".to_string())].into(),
            not_collectable: vec!["canceled".into()],
        }
    }

    const ORDER: &str = r#"{"OrderID":12,"OrderInvoiceNumber":"","OrderStatusID":1,"OrderCurrencyID":3,
      "OrderGrandTotal":"12.340000000","OrderIsPaid":false,"OrderPaymentOptionID":1,"OrderCustomerID":4,
      "OrderDate":"\/Date(1795691045123+0000)\/","OrderLastModified":"\/Date(1795691046000+0100)\/",
      "OrderNote":"first\nPaymentIntent pi_1 (Tally).","OrderPaymentResult":null}"#;

    fn parse(json: &str) -> Result<Order, OrderJsonError> {
        let o: Value = serde_json::from_str(json).unwrap();
        let item: Value = serde_json::from_str(
            r#"{"OrderItemSKUName":"Tee","OrderItemSKUID":9,"OrderItemUnitCount":2,"OrderItemTotalPrice":"12.340000000"}"#,
        )
        .unwrap();
        order_from("DancingGoat", &o, &[&item], &lookups())
    }

    #[test]
    fn an_order_becomes_the_canonical_order_exactly() {
        let o = parse(ORDER).unwrap();
        assert_eq!(o.reference.key(), "kentico/DancingGoat/12");
        assert_eq!(o.increment_id, "12", "no invoice number: the order id");
        assert_eq!(
            (o.currency, o.grand_total),
            (Currency::Kwd, MinorUnit::new(12_340))
        );
        assert_eq!(o.payment_state, PaymentState::AwaitingPayment);
        assert_eq!(o.payment.method.as_deref(), Some("stripe_payments"));
        assert_eq!(o.lines[0].row_total, MinorUnit::new(12_340));
        assert_eq!(o.created_at, "2026-11-26 11:04:05.123");
        assert_eq!(
            o.updated_at, "2026-11-26 12:04:06.000",
            "the server's wall clock"
        );
        assert_eq!(o.comments[0], "PaymentIntent pi_1 (Tally).", "newest first");
        assert_eq!(o.customer.external_id.as_deref(), Some("4"));
    }

    #[test]
    fn paid_comes_from_the_flag_or_a_paid_status_and_canceled_is_not_collectable() {
        let paid =
            parse(&ORDER.replace("\"OrderIsPaid\":false", "\"OrderIsPaid\":\"True\"")).unwrap();
        assert_eq!(paid.payment_state, PaymentState::Paid);
        assert_eq!(paid.total_invoiced, MinorUnit::new(12_340));
        let by_status =
            parse(&ORDER.replace("\"OrderStatusID\":1", "\"OrderStatusID\":2")).unwrap();
        assert_eq!(by_status.payment_state, PaymentState::Paid);
        let canceled = parse(&ORDER.replace("\"OrderStatusID\":1", "\"OrderStatusID\":6")).unwrap();
        assert_eq!(canceled.payment_state, PaymentState::NotCollectable);
    }

    #[test]
    fn amounts_finer_than_the_currency_and_unknown_ids_are_errors_naming_the_field() {
        let fine = parse(&ORDER.replace("12.340000000", "12.345000000")).unwrap_err();
        assert!(fine.to_string().contains("OrderGrandTotal"), "{fine}");
        let unknown =
            parse(&ORDER.replace("\"OrderCurrencyID\":3", "\"OrderCurrencyID\":99")).unwrap_err();
        assert!(unknown.to_string().contains("OrderCurrencyID"), "{unknown}");
        let float_text = parse(&ORDER.replace("\"12.340000000\"", "1.234e1")).unwrap();
        assert_eq!(float_text.grand_total, MinorUnit::new(12_340));
    }

    #[test]
    fn kentico_dates_read_in_both_forms() {
        let t = |s: &str| kentico_time(&Value::from(s));
        assert_eq!(t("/Date(0)/").as_deref(), Some("1970-01-01 00:00:00.000"));
        assert_eq!(
            t("/Date(1299419802000-0130)/").as_deref(),
            Some("2011-03-06 12:26:42.000")
        );
        assert_eq!(
            t("2026-11-27T10:00:05.1234567+01:00").as_deref(),
            Some("2026-11-27 10:00:05.123")
        );
        assert_eq!(
            t("2026-11-27T10:00:05").as_deref(),
            Some("2026-11-27 10:00:05.000")
        );
        assert_eq!(t("/Date(x)/"), None);
        assert_eq!(t("/Date(1+01)/"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn sql_literals_double_their_quotes() {
        assert_eq!(sql_text("O'Brien"), "'O''Brien'");
    }
}
