//! Sales documents in Tryton (module `sale`): a paid order becomes a `sale.sale`
//! (its reference the order's key) with a line per item and lines for
//! shipping, tax, discount and adjustment, quoted, confirmed and processed into
//! its customer invoice, which is posted and paid by a move from Stripe
//! clearing reconciled against it; a refund becomes a customer credit note
//! (an `out` invoice with a negative line on the refunds account) paid back
//! the same way. Each step is found before it is made, so a retry after a
//! crash resumes the document where it stopped instead of making it twice.
//!
//! Tax travels as its own line on the default revenue account: Tryton's own
//! taxes need the merchant's tax rules, which Tally does not know.

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tally_core::erp::{CreditMemo, ErpError, Posting, SaleCustomer, SalesOrder};
use tally_core::money::{Currency, MinorUnit};

use super::rpc::{date, decimal};
use super::{context, Ledger, TrytonErp};
use crate::retry::Repeat;

/// Tryton's sale line prices keep four decimals.
const PRICE_DIGITS: u32 = 4;

fn money(currency: Currency, minor: MinorUnit) -> Value {
    let exponent = currency.exponent() as usize;
    decimal(format!("{:.*}", exponent, currency.to_major(minor)))
}

fn number(v: &Value) -> Option<Decimal> {
    v["decimal"].as_str().and_then(|t| t.parse().ok())
}

fn id_of(v: &Value) -> Result<i64, ErpError> {
    v.as_i64()
        .or_else(|| v[0].as_i64())
        .ok_or_else(|| ErpError::InvalidResponse(format!("Tryton answered {v}")))
}

impl TrytonErp {
    async fn model(&self, method: &str, params: Value, repeat: Repeat) -> Result<Value, ErpError> {
        self.rpc
            .call(&format!("model.{method}"), params, repeat)
            .await
    }

    async fn button(&self, ledger: &Ledger, method: &str, id: i64) -> Result<(), ErpError> {
        self.model(
            method,
            json!([[id], context(Some(ledger.company))]),
            Repeat::Safe,
        )
        .await
        .map(|_| ())
    }

    fn same_currency(ledger: &Ledger, currency: Currency) -> Result<(), ErpError> {
        let code = currency.code().to_ascii_uppercase();
        if code != ledger.currency {
            return Err(ErpError::Refused(format!(
                "the document is in {code} and the Tryton company keeps {}: Tally posts sales documents to Tryton in the company's currency only",
                ledger.currency
            )));
        }
        Ok(())
    }

    /// The customer's party: found by email, else made with it; a customer with
    /// no email (a guest a platform did not ask) is the shared "Web customer".
    async fn party(
        &self,
        ledger: &Ledger,
        customer: &SaleCustomer,
    ) -> Result<(i64, i64), ErpError> {
        let email = customer.email.as_deref().filter(|e| !e.trim().is_empty());
        let name = match (email, customer.name.as_deref()) {
            (_, Some(n)) if !n.trim().is_empty() => n.to_string(),
            (Some(e), _) => e.to_string(),
            (None, _) => "Web customer".to_string(),
        };
        let found = match email {
            Some(e) => self
                .search_read(
                    "party.contact_mechanism",
                    json!([["type", "=", "email"], ["value", "=", e]]),
                    &["party"],
                    Some(ledger.company),
                )
                .await?
                .first()
                .and_then(|m| m["party"].as_i64()),
            None => self
                .search_read(
                    "party.party",
                    json!([["name", "=", name]]),
                    &["id"],
                    Some(ledger.company),
                )
                .await?
                .first()
                .and_then(|p| p["id"].as_i64()),
        };
        let party = match found {
            Some(p) => p,
            None => {
                let mechanisms: Vec<Value> = email
                    .map(|e| json!({"type": "email", "value": e}))
                    .into_iter()
                    .collect();
                let made = self
                    .model(
                        "party.party.create",
                        json!([[{"name": name, "contact_mechanisms": [["create", mechanisms]],
                                 "addresses": [["create", [{}]]]}], context(Some(ledger.company))]),
                        Repeat::Unsafe,
                    )
                    .await?;
                id_of(&made)?
            }
        };
        let addresses = self
            .search_read(
                "party.address",
                json!([["party", "=", party]]),
                &["id"],
                Some(ledger.company),
            )
            .await?;
        let address = match addresses.first().and_then(|a| a["id"].as_i64()) {
            Some(a) => a,
            None => id_of(
                &self
                    .model(
                        "party.address.create",
                        json!([[{"party": party}], context(Some(ledger.company))]),
                        Repeat::Unsafe,
                    )
                    .await?,
            )?,
        };
        Ok((party, address))
    }

    /// The sale's lines: each item at its unit price when that is exact in
    /// Tryton's four price decimals (else the row as one unit), then shipping,
    /// tax, the discount and the adjustment where they are not zero.
    fn sale_lines(order: &SalesOrder) -> Vec<Value> {
        let currency = order.currency();
        let mut lines: Vec<Value> = order
            .lines()
            .iter()
            .map(|l| {
                let row = currency.to_major(l.amount);
                let unit = row / l.quantity;
                let (quantity, price) = if (unit.round_dp(PRICE_DIGITS) * l.quantity) == row {
                    (l.quantity, unit.round_dp(PRICE_DIGITS))
                } else {
                    (Decimal::ONE, row)
                };
                // at the currency's scale unless the unit price needs more ("24.50", "3.3333")
                let price = price.normalize();
                let exponent = currency.exponent();
                let text = if price.scale() <= exponent {
                    format!("{:.*}", exponent as usize, price)
                } else {
                    price.to_string()
                };
                json!({"type": "line", "description": format!("{} {}", l.sku, l.name),
                       "quantity": quantity.normalize().to_string().parse::<f64>().unwrap_or(1.0),
                       "unit_price": decimal(text)})
            })
            .collect();
        let c = order.charges();
        for (what, amount, sign) in [
            ("Shipping", c.shipping, 1),
            ("Tax (as the platform charged it)", c.tax, 1),
            ("Discount", c.discount, -1),
            ("Adjustment", c.adjustment, 1),
        ] {
            if amount != MinorUnit::ZERO {
                lines.push(json!({"type": "line", "description": what, "quantity": 1.0,
                                  "unit_price": money(currency, MinorUnit::new(sign * amount.get()))}));
            }
        }
        lines
    }

    pub(super) async fn post_sale(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        let ledger = self.ledger(&[self.clearing.as_str()]).await?;
        Self::same_currency(&ledger, order.currency())?;
        let ctx = context(Some(ledger.company));
        let total = order.currency().to_major(order.total());
        let found = self
            .search_read(
                "sale.sale",
                json!([["reference", "=", order.key()]]),
                &["state", "total_amount"],
                Some(ledger.company),
            )
            .await?;
        let (sale, mut state) = match found.first() {
            Some(s) => {
                if number(&s["total_amount"]) != Some(total) {
                    return Err(ErpError::Conflict(order.key().into()));
                }
                let state = s["state"].as_str().unwrap_or_default().to_string();
                (id_of(&s["id"])?, state)
            }
            None => {
                let (party, address) = self.party(&ledger, order.customer()).await?;
                let day = date(order.date()).ok_or_else(|| {
                    ErpError::Refused(format!("sale date {} is not YYYY-MM-DD", order.date()))
                })?;
                let currency = self
                    .search_read(
                        "currency.currency",
                        json!([["code", "=", ledger.currency]]),
                        &["id"],
                        Some(ledger.company),
                    )
                    .await?;
                let made = self
                    .model(
                        "sale.sale.create",
                        json!([[{"company": ledger.company, "party": party, "currency": currency[0]["id"],
                                 "sale_date": day, "reference": order.key(),
                                 "description": format!("{} [{}]", order.memo(), order.key()),
                                 "invoice_address": address, "shipment_address": address,
                                 "invoice_method": "order", "shipment_method": "manual",
                                 "lines": [["create", Self::sale_lines(order)]]}], ctx]),
                        Repeat::Unsafe,
                    )
                    .await?;
                (id_of(&made)?, "draft".to_string())
            }
        };
        if state == "cancelled" {
            return Err(ErpError::Refused(format!(
                "Tryton sale {sale} ({}) was cancelled in Tryton: Tally does not reopen it",
                order.key()
            )));
        }
        if state == "done" {
            return Ok(Posting {
                id: format!("sale.sale/{sale}"),
                replayed: true,
            });
        }
        for (from, button) in [
            ("draft", "sale.sale.quote"),
            ("quotation", "sale.sale.confirm"),
            ("confirmed", "sale.sale.process"),
        ] {
            if state == from {
                self.button(&ledger, button, sale).await?;
                let read = self
                    .search_read(
                        "sale.sale",
                        json!([["id", "=", sale]]),
                        &["state"],
                        Some(ledger.company),
                    )
                    .await?;
                state = read[0]["state"].as_str().unwrap_or_default().to_string();
            }
        }
        let invoices = self
            .search_read(
                "account.invoice",
                json!([["sales", "=", sale]]),
                &["state"],
                Some(ledger.company),
            )
            .await?;
        let invoice = invoices.first().ok_or_else(|| ErpError::Unavailable {
            status: 0,
            message: format!("Tryton sale {sale} has no invoice yet ({state})"),
        })?;
        self.settle(
            &ledger,
            id_of(&invoice["id"])?,
            &format!("[{}/payment]", order.key()),
            &format!("Stripe payment {}", order.payment_reference()),
            order.date(),
            order.currency(),
            order.total(),
            true,
        )
        .await?;
        Ok(Posting {
            id: format!("sale.sale/{sale}"),
            replayed: false,
        })
    }

    /// Posts the invoice if it is a draft, and pays it (or pays a credit note
    /// back) with a move between Stripe clearing and its receivable, found by
    /// `tag` before it is made, reconciled against the invoice.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        ledger: &Ledger,
        invoice: i64,
        tag: &str,
        memo: &str,
        day: &str,
        currency: Currency,
        amount: MinorUnit,
        received: bool,
    ) -> Result<(), ErpError> {
        let read = |id: i64| {
            self.search_read(
                "account.invoice",
                json!([["id", "=", id]]),
                &["state", "account", "party", "lines_to_pay"],
                Some(ledger.company),
            )
        };
        let mut inv = read(invoice).await?.remove(0);
        if inv["state"] == "draft" || inv["state"] == "validated" {
            self.button(ledger, "account.invoice.post", invoice).await?;
            inv = read(invoice).await?.remove(0);
        }
        match inv["state"].as_str() {
            Some("paid") => return Ok(()),
            Some("cancelled") => {
                return Err(ErpError::Refused(format!(
                    "Tryton invoice {invoice} was cancelled in Tryton: Tally does not pay it"
                )))
            }
            _ => {}
        }
        let receivable = id_of(&inv["account"])?;
        let party = id_of(&inv["party"])?;
        let (move_id, posted) = match self.existing(ledger, tag).await? {
            Some((id, state)) => (id, state == "posted"),
            None => {
                let day_value = date(day)
                    .ok_or_else(|| ErpError::Refused(format!("date {day} is not YYYY-MM-DD")))?;
                let period = self.period(ledger, &day_value, day).await?;
                let (value, zero) = (money(currency, amount), money(currency, MinorUnit::ZERO));
                let clearing = ledger.accounts[&self.clearing];
                let (clearing_line, receivable_line) = if received {
                    (
                        json!({"account": clearing, "debit": value, "credit": zero}),
                        json!({"account": receivable, "party": party, "debit": zero, "credit": value}),
                    )
                } else {
                    (
                        json!({"account": clearing, "debit": zero, "credit": value}),
                        json!({"account": receivable, "party": party, "debit": value, "credit": zero}),
                    )
                };
                let made = self
                    .model(
                        "account.move.create",
                        json!([[{"company": ledger.company, "journal": ledger.journal, "period": period,
                                 "date": day_value, "description": format!("{memo} {tag}"),
                                 "lines": [["create", [clearing_line, receivable_line]]]}],
                               context(Some(ledger.company))]),
                        Repeat::Unsafe,
                    )
                    .await?;
                (id_of(&made)?, false)
            }
        };
        if !posted {
            self.button(ledger, "account.move.post", move_id).await?;
        }
        let paying = self
            .search_read(
                "account.move.line",
                json!([
                    ["move", "=", move_id],
                    ["account", "=", receivable],
                    ["reconciliation", "=", null]
                ]),
                &["id"],
                Some(ledger.company),
            )
            .await?;
        let mut lines: Vec<i64> = inv["lines_to_pay"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        lines.extend(paying.iter().filter_map(|l| l["id"].as_i64()));
        // Tryton reconciles through its wizard (the model method is not public over RPC).
        let wizard_context = json!({"company": ledger.company, "active_model": "account.move.line",
                                    "active_ids": lines, "active_id": lines.first()});
        let session = self
            .rpc
            .call(
                "wizard.account.move.reconcile_lines.create",
                json!([wizard_context]),
                Repeat::Unsafe,
            )
            .await?;
        let session = id_of(&session)?;
        self.rpc
            .call(
                "wizard.account.move.reconcile_lines.execute",
                json!([session, {}, "start", wizard_context]),
                Repeat::Unsafe,
            )
            .await?;
        let _ = self
            .rpc
            .call(
                "wizard.account.move.reconcile_lines.delete",
                json!([session, wizard_context]),
                Repeat::Safe,
            )
            .await;
        Ok(())
    }

    pub(super) async fn post_credit(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        let ledger = self
            .ledger(&[self.clearing.as_str(), self.refunds.as_str()])
            .await?;
        Self::same_currency(&ledger, memo.currency())?;
        let ctx = context(Some(ledger.company));
        let sales = self
            .search_read(
                "sale.sale",
                json!([["reference", "=", memo.sales_order_key()]]),
                &["party", "invoice_address", "total_amount", "currency"],
                Some(ledger.company),
            )
            .await?;
        let sale = sales.first().ok_or_else(|| {
            ErpError::Refused(format!(
                "credit memo {}: Tryton has no sale {}",
                memo.key(),
                memo.sales_order_key()
            ))
        })?;
        let for_sale = format!("for [{}]", memo.sales_order_key());
        let credits = self
            .search_read(
                "account.invoice",
                json!([
                    ["type", "=", "out"],
                    ["description", "like", format!("%{for_sale}")]
                ]),
                &["reference", "total_amount", "state", "description"],
                Some(ledger.company),
            )
            .await?
            .into_iter()
            .filter(|c| {
                c["description"]
                    .as_str()
                    .is_some_and(|d| d.ends_with(&for_sale))
            })
            .collect::<Vec<_>>();
        let amount = memo.currency().to_major(memo.amount());
        let found = credits.iter().find(|c| c["reference"] == memo.key());
        let note = match found {
            Some(c) => {
                if number(&c["total_amount"]).map(|t| -t) != Some(amount) {
                    return Err(ErpError::Conflict(memo.key().into()));
                }
                id_of(&c["id"])?
            }
            None => {
                let credited: Decimal = credits
                    .iter()
                    .filter_map(|c| number(&c["total_amount"]))
                    .map(|t| -t)
                    .sum();
                let total = number(&sale["total_amount"]).unwrap_or_default();
                if credited + amount > total {
                    return Err(ErpError::Refused(format!(
                        "credit memo {}: would credit {} of sale {} totalling {total} ({credited} credited already)",
                        memo.key(),
                        credited + amount,
                        memo.sales_order_key()
                    )));
                }
                let journal = self
                    .search_read(
                        "account.journal",
                        json!([["type", "=", "revenue"]]),
                        &["id"],
                        Some(ledger.company),
                    )
                    .await?;
                let receivable = self
                    .search_read(
                        "account.invoice",
                        json!([["sales", "=", sale["id"]]]),
                        &["account"],
                        Some(ledger.company),
                    )
                    .await?;
                let day = date(memo.date()).ok_or_else(|| {
                    ErpError::Refused(format!(
                        "credit memo date {} is not YYYY-MM-DD",
                        memo.date()
                    ))
                })?;
                let made = self
                    .model(
                        "account.invoice.create",
                        json!([[{"company": ledger.company, "type": "out", "party": sale["party"],
                                 "invoice_address": sale["invoice_address"], "currency": sale["currency"],
                                 "journal": journal.first().map(|j| j["id"].clone()),
                                 "account": receivable.first().map(|r| r["account"].clone()),
                                 "invoice_date": day, "reference": memo.key(),
                                 "description": format!("{} [{}] {for_sale}", memo.memo(), memo.key()),
                                 "lines": [["create", [{"type": "line", "description": memo.memo(),
                                     "quantity": -1.0, "unit_price": money(memo.currency(), memo.amount()),
                                     "account": ledger.accounts[&self.refunds]}]]]}], ctx]),
                        Repeat::Unsafe,
                    )
                    .await?;
                id_of(&made)?
            }
        };
        self.settle(
            &ledger,
            note,
            &format!("[{}/refund]", memo.key()),
            &format!("Stripe refund for {}", memo.sales_order_key()),
            memo.date(),
            memo.currency(),
            memo.amount(),
            false,
        )
        .await?;
        Ok(Posting {
            id: format!("account.invoice/{note}"),
            replayed: found.is_some_and(|c| c["state"] == "paid"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_core::erp::{SaleCharges, SaleLine};

    fn order(lines: Vec<(i64, i64)>, charges: SaleCharges) -> SalesOrder {
        let sum: i64 = lines.iter().map(|(_, a)| a).sum();
        let total = sum + charges.shipping.get() + charges.tax.get() - charges.discount.get()
            + charges.adjustment.get();
        SalesOrder::new(
            "k".into(),
            "2026-11-28".into(),
            Currency::Usd,
            "m".into(),
            Default::default(),
            Default::default(),
            lines
                .into_iter()
                .map(|(qty, amount)| SaleLine {
                    sku: "S".into(),
                    name: "N".into(),
                    quantity: Decimal::new(qty, 0),
                    amount: MinorUnit::new(amount),
                })
                .collect(),
            charges,
            MinorUnit::new(total),
            "ch".into(),
        )
        .unwrap()
    }

    #[test]
    fn lines_keep_quantities_when_the_unit_price_is_exact_and_charges_get_their_own() {
        let charges = SaleCharges {
            shipping: MinorUnit::new(500),
            discount: MinorUnit::new(100),
            ..Default::default()
        };
        let lines =
            TrytonErp::sale_lines(&order(vec![(2, 3_998), (3, 1_000), (4, 1_001)], charges));
        let shown: Vec<(f64, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["quantity"].as_f64().unwrap(),
                    l["unit_price"]["decimal"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (2.0, "19.99"),
                (1.0, "10.00"),
                (4.0, "2.5025"),
                (1.0, "5.00"),
                (1.0, "-1.00")
            ],
            "10.00 over 3 is not exact in four decimals: the row as one unit"
        );
        assert_eq!(lines[4]["description"], "Discount");
    }
}
