//! Znode's `OrderModel` (the `Order` of `GET orders/{id}` and the items of
//! `orders/list`) into the canonical order. Names follow Znode's C# models:
//! `OmsOrderId` (there is no `OrderId`), `OrderNumber`, `Total` (a decimal),
//! `CurrencyCode`, `OrderState` (the state's description), `PaymentStatus`
//! (the payment state's name), `OrderDate` as `yyyy-MM-dd HH:mm:ss`.

use serde::Deserialize;
use serde_json::Value;

use crate::commerce::amounts::{
    charged, currency, decimal, id_text, invalid, minor, order_charge, FieldError,
};
use crate::commerce::order::{
    Address, Order, OrderCharges, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState,
};
use crate::money::MinorUnit;

pub const PLATFORM: &str = "znode";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZnodeOrder {
    pub oms_order_id: Value,
    #[serde(default)]
    pub order_number: Option<String>,
    #[serde(default)]
    pub order_state: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub payment_type: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub currency_code: String,
    pub total: Value,
    #[serde(default)]
    pub shipping_cost: Option<Value>,
    #[serde(default)]
    pub tax_cost: Option<Value>,
    #[serde(default)]
    pub discount_amount: Option<Value>,
    #[serde(default)]
    pub user_id: Option<Value>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub order_date: Option<String>,
    #[serde(default)]
    pub order_modified_date: Option<String>,
    #[serde(default)]
    pub modified_date: Option<String>,
    #[serde(default)]
    pub billing_address: Option<ZnodeAddress>,
    #[serde(default)]
    pub shipping_address: Option<ZnodeAddress>,
    #[serde(default)]
    pub order_line_items: Option<Vec<ZnodeLine>>,
    #[serde(default)]
    pub order_notes: Option<Vec<ZnodeNote>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZnodeAddress {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub address1: Option<String>,
    #[serde(default)]
    pub address2: Option<String>,
    #[serde(default)]
    pub city_name: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country_name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZnodeLine {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub quantity: Option<Value>,
    #[serde(default)]
    pub price: Option<Value>,
    #[serde(default)]
    pub parent_oms_order_line_items_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ZnodeNote {
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderJsonError {
    #[error("not a Znode order: {0}")]
    Shape(#[from] serde_json::Error),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("the response has no order")]
    NoOrder,
}

fn norm(s: &Option<String>) -> String {
    s.as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .replace('_', " ")
}

/// Where a Znode order stands for payment. Znode's states are data a merchant
/// may extend, so only the ones that end an order are read as "not
/// collectable"; any other state (the failed or declined state Tally sets
/// included) still takes a later successful payment.
pub fn payment_state(
    order_state: &Option<String>,
    payment_status: &Option<String>,
) -> PaymentState {
    match norm(payment_status).as_str() {
        "captured" | "received" | "refunded" | "partial refund" => return PaymentState::Paid,
        "voided" => return PaymentState::NotCollectable,
        _ => {}
    }
    match norm(order_state).as_str() {
        "canceled" | "cancelled" | "returned" | "rejected" | "expired" | "shipped" => {
            PaymentState::NotCollectable
        }
        _ => PaymentState::AwaitingPayment,
    }
}

fn address(a: &ZnodeAddress) -> Address {
    let name = [a.first_name.as_deref(), a.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Address {
        name: (!name.is_empty()).then_some(name),
        street: [&a.address1, &a.address2]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        city: a.city_name.clone(),
        postcode: a.postal_code.clone(),
        country: a.country_name.clone(),
        email: a.email_address.clone(),
        phone: a.phone_number.clone(),
    }
}

/// Parses one `OrderModel` for the given store (Znode's portal).
pub fn parse_order(store: &str, json: &[u8]) -> Result<Order, OrderJsonError> {
    order_from(store, serde_json::from_slice(json)?)
}

/// Parses `OrderResponse` (`{"Order": {...}, "HasError": false, ...}`).
pub fn parse_order_response(store: &str, json: &[u8]) -> Result<Order, OrderJsonError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct OrderResponse {
        #[serde(default)]
        order: Option<ZnodeOrder>,
    }
    let response: OrderResponse = serde_json::from_slice(json)?;
    order_from(store, response.order.ok_or(OrderJsonError::NoOrder)?)
}

pub fn order_from(store: &str, z: ZnodeOrder) -> Result<Order, OrderJsonError> {
    let currency = currency("CurrencyCode", &z.currency_code)?;
    let order_id = id_text(&z.oms_order_id).ok_or_else(|| invalid("OmsOrderId", "missing"))?;
    let grand_total = charged("Total", &z.total, currency)?;
    let mut lines = Vec::new();
    for line in z
        .order_line_items
        .iter()
        .flatten()
        .filter(|l| matches!(l.parent_oms_order_line_items_id, None | Some(Value::Null)))
    {
        let quantity = match &line.quantity {
            Some(v) => decimal("OrderLineItems.Quantity", v)?,
            None => rust_decimal::Decimal::ONE,
        };
        let row_total = match &line.price {
            Some(v) => {
                let price = decimal("OrderLineItems.Price", v)?;
                let row = Value::String((price * quantity).normalize().to_string());
                minor("OrderLineItems.Price", &row, currency)?
            }
            None => MinorUnit::ZERO,
        };
        lines.push(OrderLine {
            sku: line.sku.clone().unwrap_or_default(),
            name: line.product_name.clone().unwrap_or_default(),
            quantity,
            row_total,
        });
    }
    let paid = payment_state(&z.order_state, &z.payment_status);
    let created_at = z.order_date.clone().unwrap_or_default();
    Ok(Order {
        reference: OrderRef {
            platform: PLATFORM.into(),
            store: store.into(),
            order_id,
        },
        increment_id: z.order_number.clone().unwrap_or_default(),
        state: z.order_state.clone().unwrap_or_default(),
        status: z.payment_status.clone().unwrap_or_default(),
        payment_state: paid,
        customer: OrderCustomer {
            external_id: z.user_id.as_ref().and_then(id_text).filter(|id| id != "0"),
            email: z.email,
            first_name: z.first_name,
            last_name: z.last_name,
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
            shipping: order_charge("ShippingCost", z.shipping_cost.as_ref(), currency)?,
            tax: order_charge("TaxCost", z.tax_cost.as_ref(), currency)?,
            discount: order_charge("DiscountAmount", z.discount_amount.as_ref(), currency)?,
        },
        billing_address: z.billing_address.as_ref().map(address),
        shipping_address: z.shipping_address.as_ref().map(address),
        payment: OrderPayment {
            method: z.payment_type.clone().map(|t| t.to_ascii_lowercase()),
            transaction_id: z.transaction_id.filter(|t| !t.is_empty()),
        },
        comments: z
            .order_notes
            .into_iter()
            .flatten()
            .filter_map(|n| n.notes)
            .collect(),
        updated_at: z
            .order_modified_date
            .or(z.modified_date)
            .unwrap_or_else(|| created_at.clone()),
        created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    const ORDER: &str = r#"{"Order":{"OmsOrderId":1043,"OmsOrderDetailsId":2051,"OrderNumber":"ZN-000001043","PortalId":1,
      "UserId":17,"OrderState":"Submitted","OmsOrderStateId":10,"PaymentStatus":"Pending","OmsPaymentStateId":50,
      "PaymentType":"CREDIT_CARD","PaymentDisplayName":"Credit card","TransactionId":"","CurrencyCode":"KWD",
      "Email":"ada@example.com","FirstName":"Ada","LastName":"Lovelace","SubTotal":12.12,"TaxCost":0.22,"ShippingCost":0,
      "Total":12.340,"OrderDate":"2026-11-26 10:00:00","OrderModifiedDate":"2026-11-26 10:00:05",
      "BillingAddress":{"FirstName":"Ada","LastName":"Lovelace","Address1":"1 Way","CityName":"Kuwait","CountryName":"KW","PostalCode":"13001"},
      "OrderLineItems":[{"Sku":"TEE","ProductName":"Tee","Quantity":2.000000,"Price":6.060},
                        {"Sku":"TEE-S","ProductName":"Tee S","Quantity":2,"Price":0,"ParentOmsOrderLineItemsId":1}],
      "OrderNotes":[{"OmsNotesId":3,"Notes":"Stripe PaymentIntent pi_1 (Tally)."}]},
      "ErrorCode":null,"ErrorMessage":null,"HasError":false}"#;

    #[test]
    fn an_order_response_becomes_the_canonical_order_exactly() {
        let o = parse_order_response("1", ORDER.as_bytes()).unwrap();
        assert_eq!(o.reference.key(), "znode/1/1043");
        assert_eq!(o.increment_id, "ZN-000001043");
        assert_eq!(
            (o.currency, o.grand_total),
            (Currency::Kwd, MinorUnit::new(12_340))
        );
        assert_eq!(o.payment_state, PaymentState::AwaitingPayment);
        assert_eq!(o.payment.method.as_deref(), Some("credit_card"));
        assert_eq!(o.payment.transaction_id, None);
        assert_eq!(o.lines.len(), 1, "child lines fold into their parent");
        assert_eq!(o.lines[0].row_total, MinorUnit::new(12_120));
        assert_eq!(o.customer.external_id.as_deref(), Some("17"));
        assert!(o.has_comment_containing("pi_1"));
        assert_eq!(o.updated_at, "2026-11-26 10:00:05");
        assert_eq!(o.billing_address.unwrap().street, vec!["1 Way".to_string()]);
    }

    #[test]
    fn totals_stripe_cannot_charge_exactly_are_errors_naming_the_field() {
        for total in ["12.345", "12.3456"] {
            let bad = ORDER.replace("\"Total\":12.340", &format!("\"Total\":{total}"));
            let err = parse_order_response("1", bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("Total"), "{err}");
        }
        let unknown = ORDER.replace("\"KWD\"", "\"ZZZ\"");
        assert!(parse_order_response("1", unknown.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("CurrencyCode"));
        assert!(matches!(
            parse_order_response("1", br#"{"Order":null,"HasError":false}"#),
            Err(OrderJsonError::NoOrder)
        ));
    }

    #[test]
    fn payment_and_order_states_read_as_znode_names_them() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            payment_state(&s("Submitted"), &s("Captured")),
            PaymentState::Paid
        );
        assert_eq!(
            payment_state(&s("SUBMITTED"), &s("CAPTURED")),
            PaymentState::Paid
        );
        assert_eq!(
            payment_state(&s("Pending Payment"), &s("Pending")),
            PaymentState::AwaitingPayment
        );
        assert_eq!(
            payment_state(&s("Failed"), &s("Declined")),
            PaymentState::AwaitingPayment,
            "a decline can be retried"
        );
        assert_eq!(
            payment_state(&s("Canceled"), &s("Pending")),
            PaymentState::NotCollectable
        );
        assert_eq!(
            payment_state(&s("In Review"), &s("Voided")),
            PaymentState::NotCollectable
        );
        assert_eq!(payment_state(&None, &None), PaymentState::AwaitingPayment);
    }
}
