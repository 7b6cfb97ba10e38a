//! A paid order as the ERP's sales order (its lines, shipping, tax, discount and
//! the payment applied), and a refund as a credit memo against it: what
//! merchants who run their books from sales documents post instead of, or
//! beside, the journal entry (`erp.paid_orders`). Both are consistent by
//! construction: `SalesOrder::new` refuses totals that do not add up.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::EntryError;
use crate::money::{Currency, MinorUnit};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLine {
    pub sku: String,
    pub name: String,
    pub quantity: Decimal,
    /// The row's total before order-level shipping, tax and discount.
    pub amount: MinorUnit,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaleCustomer {
    /// The platform's customer id; `None` for a guest.
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// The order-level amounts beside the lines. `adjustment` is what the platform's
/// grand total holds beyond lines, shipping and tax less discount (a fee, a
/// gift card, a platform's own rounding), shown as its own figure, never spread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaleCharges {
    pub shipping: MinorUnit,
    pub tax: MinorUnit,
    pub discount: MinorUnit,
    pub adjustment: MinorUnit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesOrder {
    key: String,
    date: String,
    currency: Currency,
    memo: String,
    references: BTreeMap<String, String>,
    customer: SaleCustomer,
    lines: Vec<SaleLine>,
    charges: SaleCharges,
    total: MinorUnit,
    /// The Stripe charge the order was paid with; the payment covers the total.
    payment_reference: String,
}

#[allow(clippy::too_many_arguments)]
impl SalesOrder {
    pub fn new(
        key: String,
        date: String,
        currency: Currency,
        memo: String,
        references: BTreeMap<String, String>,
        customer: SaleCustomer,
        lines: Vec<SaleLine>,
        charges: SaleCharges,
        total: MinorUnit,
        payment_reference: String,
    ) -> Result<Self, EntryError> {
        let bad = |index: usize, message: &str| EntryError::BadLine {
            key: key.clone(),
            index,
            message: message.into(),
        };
        if lines.is_empty() {
            return Err(EntryError::TooFewLines(key));
        }
        let mut sum = 0i64;
        for (index, line) in lines.iter().enumerate() {
            if line.sku.trim().is_empty() {
                return Err(bad(index, "sku is empty"));
            }
            if line.quantity <= Decimal::ZERO {
                return Err(bad(index, "quantity must be positive"));
            }
            if line.amount < MinorUnit::ZERO {
                return Err(bad(index, "amount must not be negative"));
            }
            sum = sum
                .checked_add(line.amount.get())
                .ok_or_else(|| bad(index, "amounts overflow"))?;
        }
        let c = charges;
        for (what, amount) in [
            ("shipping", c.shipping),
            ("tax", c.tax),
            ("discount", c.discount),
        ] {
            if amount < MinorUnit::ZERO {
                return Err(bad(lines.len(), &format!("{what} must not be negative")));
            }
        }
        let computed = [c.shipping.get(), c.tax.get(), c.adjustment.get()]
            .into_iter()
            .try_fold(sum, i64::checked_add)
            .and_then(|t| t.checked_sub(c.discount.get()));
        if computed != Some(total.get()) {
            return Err(EntryError::Unbalanced {
                key,
                debits: total.get(),
                credits: computed.unwrap_or(i64::MAX),
            });
        }
        Ok(SalesOrder {
            key,
            date,
            currency,
            memo,
            references,
            customer,
            lines,
            charges,
            total,
            payment_reference,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn total(&self) -> MinorUnit {
        self.total
    }
    pub fn lines(&self) -> &[SaleLine] {
        &self.lines
    }
    pub fn charges(&self) -> SaleCharges {
        self.charges
    }
    pub fn date(&self) -> &str {
        &self.date
    }
    pub fn memo(&self) -> &str {
        &self.memo
    }
    pub fn customer(&self) -> &SaleCustomer {
        &self.customer
    }
    pub fn payment_reference(&self) -> &str {
        &self.payment_reference
    }

    /// The wire form: amounts as decimal strings at the currency's exact scale.
    pub fn to_json(&self) -> Value {
        let money = |m: MinorUnit| major(self.currency, m);
        json!({
            "idempotency_key": self.key,
            "date": self.date,
            "currency": self.currency.code().to_ascii_uppercase(),
            "memo": self.memo,
            "references": self.references,
            "customer": {
                "external_id": self.customer.external_id,
                "email": self.customer.email,
                "name": self.customer.name,
            },
            "lines": self.lines.iter().map(|l| json!({
                "sku": l.sku,
                "name": l.name,
                "quantity": l.quantity.normalize().to_string(),
                "amount": money(l.amount),
            })).collect::<Vec<_>>(),
            "shipping": money(self.charges.shipping),
            "tax": money(self.charges.tax),
            "discount": money(self.charges.discount),
            "adjustment": money(self.charges.adjustment),
            "total": money(self.total),
            "payment": { "amount": money(self.total), "reference": self.payment_reference },
        })
    }
}

/// A refund as a credit memo against the sales order `sales_order_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditMemo {
    key: String,
    sales_order_key: String,
    date: String,
    currency: Currency,
    memo: String,
    references: BTreeMap<String, String>,
    amount: MinorUnit,
}

impl CreditMemo {
    pub fn new(
        key: String,
        sales_order_key: String,
        date: String,
        currency: Currency,
        memo: String,
        references: BTreeMap<String, String>,
        amount: MinorUnit,
    ) -> Result<Self, EntryError> {
        if amount <= MinorUnit::ZERO {
            return Err(EntryError::BadLine {
                key,
                index: 0,
                message: "a credit memo's amount must be positive".into(),
            });
        }
        Ok(CreditMemo {
            key,
            sales_order_key,
            date,
            currency,
            memo,
            references,
            amount,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn sales_order_key(&self) -> &str {
        &self.sales_order_key
    }
    pub fn amount(&self) -> MinorUnit {
        self.amount
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn date(&self) -> &str {
        &self.date
    }
    pub fn memo(&self) -> &str {
        &self.memo
    }

    pub fn to_json(&self) -> Value {
        json!({
            "idempotency_key": self.key,
            "sales_order": self.sales_order_key,
            "date": self.date,
            "currency": self.currency.code().to_ascii_uppercase(),
            "memo": self.memo,
            "references": self.references,
            "amount": major(self.currency, self.amount),
        })
    }
}

fn major(currency: Currency, minor: MinorUnit) -> String {
    format!(
        "{:.*}",
        currency.exponent() as usize,
        currency.to_major(minor)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(total: i64, charges: SaleCharges) -> Result<SalesOrder, EntryError> {
        SalesOrder::new(
            "so-1".into(),
            "2026-11-28".into(),
            Currency::Kwd,
            "m".into(),
            BTreeMap::new(),
            SaleCustomer::default(),
            vec![SaleLine {
                sku: "TEE".into(),
                name: "Tee".into(),
                quantity: Decimal::new(2, 0),
                amount: MinorUnit::new(10_000),
            }],
            charges,
            MinorUnit::new(total),
            "ch_1".into(),
        )
    }

    #[test]
    fn totals_must_add_up() {
        let charges = SaleCharges {
            shipping: MinorUnit::new(1_500),
            tax: MinorUnit::new(825),
            discount: MinorUnit::new(1_000),
            adjustment: MinorUnit::ZERO,
        };
        let ok = order(11_325, charges).unwrap();
        let json = ok.to_json();
        assert_eq!(json["lines"][0]["amount"], "10.000");
        assert_eq!(json["lines"][0]["quantity"], "2");
        assert_eq!(json["discount"], "1.000");
        assert_eq!(json["payment"]["amount"], "11.325");
        assert!(matches!(
            order(11_326, charges),
            Err(EntryError::Unbalanced { .. })
        ));
        let negative = SaleCharges {
            tax: MinorUnit::new(-1),
            ..charges
        };
        assert!(matches!(
            order(11_324, negative),
            Err(EntryError::BadLine { .. })
        ));
    }
}
