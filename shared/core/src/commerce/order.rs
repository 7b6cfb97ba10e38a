//! The canonical order: what Tally needs from any platform's order.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, MinorUnit, Money};

/// Identifies an order across platforms and stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderRef {
    pub platform: String,
    pub store: String,
    pub order_id: String,
}

impl OrderRef {
    /// Stable key used in idempotency keys and link items.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.platform, self.store, self.order_id)
    }
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Where an order stands for payment, as the platform adapter reads its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Placed and waiting for money: Tally may collect it.
    AwaitingPayment,
    /// Fully invoiced/paid already.
    Paid,
    /// Canceled, closed, on hold or otherwise not collectable.
    NotCollectable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCustomer {
    /// The platform's customer id; `None` for guests.
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub row_total: MinorUnit,
}

/// The order-level amounts beside the lines, as the platform reports them
/// (zero where it has none); the discount as a positive amount taken off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCharges {
    pub shipping: MinorUnit,
    pub tax: MinorUnit,
    pub discount: MinorUnit,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub street: Vec<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPayment {
    pub method: Option<String>,
    /// The gateway's transaction id when the platform already has one
    /// (Magento's Stripe module stores the PaymentIntent id here).
    pub transaction_id: Option<String>,
}

/// The canonical `OrderCreated` payload and what `get_order` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(flatten)]
    pub reference: OrderRef,
    /// The customer-facing order number (Magento's increment_id).
    pub increment_id: String,
    pub state: String,
    pub status: String,
    pub payment_state: PaymentState,
    pub customer: OrderCustomer,
    pub currency: Currency,
    pub grand_total: MinorUnit,
    pub total_invoiced: MinorUnit,
    pub lines: Vec<OrderLine>,
    #[serde(default)]
    pub charges: OrderCharges,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub payment: OrderPayment,
    /// Status-history comments, newest first; lets writes check what is already recorded.
    #[serde(default)]
    pub comments: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Order {
    pub fn total(&self) -> Money {
        Money {
            amount: self.grand_total,
            currency: self.currency,
        }
    }

    pub fn has_comment_containing(&self, marker: &str) -> bool {
        self.comments.iter().any(|c| c.contains(marker))
    }

    /// "2 × Tee, 1 × Mug" within Stripe's 1000-character description limit.
    pub fn line_summary(&self) -> String {
        const MAX: usize = 1000;
        let mut out = format!("Order #{}", self.increment_id);
        for (i, line) in self.lines.iter().enumerate() {
            let part = format!(
                "{}{} x {}",
                if i == 0 { ": " } else { ", " },
                line.quantity.normalize(),
                line.name
            );
            if out.chars().count() + part.chars().count() > MAX - 4 {
                out.push_str(", …");
                break;
            }
            out.push_str(&part);
        }
        out
    }
}
