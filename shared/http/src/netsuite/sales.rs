//! Sales documents in NetSuite (`erp.paid_orders` `sales_order`): a paid order
//! is a `salesorder` (a line per item, and lines on the configured shipping,
//! tax, discount and adjustment items) with its payment a `customerdeposit`
//! against it into Stripe clearing; a refund is a `creditmemo` on the refund
//! item, paid back from Stripe clearing by a `customerrefund` applied to it.
//!
//! Each record's external id derives from the Tally key, and each is read
//! before it is written, so a crash between two records resumes at the
//! missing one. A credit memo's external id starts with its sales order's, so
//! the memos already made for an order are found by NetSuite's collection
//! filter (`q=externalId START_WITH "..."`) and no order is credited beyond its
//! total: NetSuite itself would not refuse it.

use std::str::FromStr;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tally_core::erp::{CreditMemo, ErpError, Posting, SalesOrder};
use tally_core::money::{Currency, MinorUnit};

use super::{external_id, minor_units, number, NetsuiteErp};

const SALES_ORDER: &str = "salesorder";
const DEPOSIT: &str = "customerdeposit";
const CREDIT_MEMO: &str = "creditmemo";
const REFUND: &str = "customerrefund";

/// The external id of a credit memo for the sales order `sale`: the order's
/// own followed by a hash of the memo's key, so an order's memos share a prefix.
pub fn credit_memo_id(sale: &str, memo_key: &str) -> String {
    let digest = hex::encode(&Sha256::digest(memo_key.as_bytes())[..8]);
    format!("{}{digest}", credit_memo_prefix(sale))
}

fn credit_memo_prefix(sale: &str) -> String {
    format!("{}-cm-", external_id(sale))
}

/// A record's `item` sublist as `(item id, amount in minor units)`, sorted.
fn item_lines(record: &Value, currency: Currency) -> Result<Vec<(String, i64)>, ErpError> {
    let items = record["item"]["items"]
        .as_array()
        .ok_or_else(|| ErpError::InvalidResponse("NetSuite record with no item lines".into()))?;
    let mut lines = items
        .iter()
        .map(|l| {
            let item = l["item"]["id"].as_str().unwrap_or_default().to_string();
            Ok((item, minor_units(&l["amount"], currency, "item line")?))
        })
        .collect::<Result<Vec<_>, ErpError>>()?;
    lines.sort();
    Ok(lines)
}

fn record_id(record: &Value) -> String {
    record["id"].as_str().unwrap_or_default().to_string()
}

impl NetsuiteErp {
    fn header(
        &self,
        external: &str,
        date: &str,
        memo: &str,
        currency: Currency,
    ) -> Result<Value, ErpError> {
        Ok(json!({
            "externalId": external,
            "tranDate": date,
            "memo": memo,
            "subsidiary": { "id": self.config.subsidiary },
            "currency": { "id": self.currency_id(currency)? },
        }))
    }

    fn sales_order_body(&self, order: &SalesOrder, external: &str) -> Result<Value, ErpError> {
        let currency = order.currency();
        let sales = &self.config.sales;
        let line = |item: &str, quantity: Value, amount: MinorUnit, description: String| {
            Ok::<_, ErpError>(json!({
                "item": { "id": item },
                "quantity": quantity,
                "amount": number(currency, amount)?,
                "description": description,
            }))
        };
        let mut items = Vec::new();
        for l in order.lines() {
            let quantity = serde_json::Number::from_str(&l.quantity.normalize().to_string())
                .map(Value::Number)
                .map_err(|e| ErpError::InvalidResponse(format!("quantity {}: {e}", l.quantity)))?;
            items.push(line(
                sales.item_for(&l.sku),
                quantity,
                l.amount,
                format!("{} {}", l.sku, l.name),
            )?);
        }
        let c = order.charges();
        for (item, amount, what) in [
            (&sales.shipping_item, c.shipping, "Shipping"),
            (&sales.tax_item, c.tax, "Tax"),
            (
                &sales.discount_item,
                MinorUnit::new(-c.discount.get()),
                "Discount",
            ),
            (&sales.adjustment_item, c.adjustment, "Adjustment"),
        ] {
            if amount != MinorUnit::ZERO {
                items.push(line(item, json!(1), amount, what.to_string())?);
            }
        }
        let mut body = self.header(external, order.date(), order.memo(), currency)?;
        body["entity"] = json!({ "id": sales.customer });
        body["otherRefNum"] = order.payment_reference().into();
        if let Some(email) = &order.customer().email {
            body["email"] = email.clone().into();
        }
        body["item"] = json!({ "items": items });
        Ok(body)
    }

    /// The sales order, then its deposit: each found before it is made.
    pub(super) async fn sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        let currency = order.currency();
        let external = external_id(order.key());
        let body = self.sales_order_body(order, &external)?;
        let (order_id, order_found) = match self.find(SALES_ORDER, &external).await? {
            Some(found) => {
                let same = found["currency"]["id"] == body["currency"]["id"]
                    && item_lines(&found, currency)? == item_lines(&body, currency)?;
                if !same {
                    return Err(ErpError::Conflict(order.key().into()));
                }
                (record_id(&found), true)
            }
            None => (self.upsert(SALES_ORDER, &external, &body).await?, false),
        };
        let deposit = external_id(&format!("{}-deposit", order.key()));
        let deposit_found = match self.find(DEPOSIT, &deposit).await? {
            Some(found) => {
                if minor_units(&found["payment"], currency, "deposit")? != order.total().get() {
                    return Err(ErpError::Conflict(format!("{}-deposit", order.key())));
                }
                true
            }
            None => {
                let mut body = self.header(
                    &deposit,
                    order.date(),
                    &format!(
                        "Stripe payment {} for {}",
                        order.payment_reference(),
                        order.memo()
                    ),
                    currency,
                )?;
                body["customer"] = json!({ "id": self.config.sales.customer });
                body["salesOrder"] = json!({ "id": order_id });
                body["account"] = json!({ "id": self.clearing_account });
                body["payment"] = number(currency, order.total())?;
                self.upsert(DEPOSIT, &deposit, &body).await?;
                false
            }
        };
        Ok(Posting {
            id: order_id,
            replayed: order_found && deposit_found,
        })
    }

    /// Internal ids of the `record`s whose external id starts with `prefix`.
    async fn ids_starting_with(&self, record: &str, prefix: &str) -> Result<Vec<String>, ErpError> {
        let filter = format!("externalId START_WITH \"{prefix}\"");
        let mut ids = Vec::new();
        loop {
            let offset = ids.len().to_string();
            let query = [
                ("q", filter.as_str()),
                ("limit", "1000"),
                ("offset", offset.as_str()),
            ];
            let url = self.url(record, "", &query)?;
            let reply = self.send(reqwest::Method::GET, record, &url, None).await?;
            if reply.status != 200 {
                return Err(super::failure(record, &reply));
            }
            let page: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| ErpError::InvalidResponse(format!("a {record} collection: {e}")))?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            ids.extend(
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string)),
            );
            if items.is_empty() || page["hasMore"] != json!(true) {
                return Ok(ids);
            }
        }
    }

    /// What the memos already made for the sales order `sale` credit, but `except`.
    async fn credited(
        &self,
        sale: &str,
        except: &str,
        currency: Currency,
    ) -> Result<i64, ErpError> {
        let mut total = 0i64;
        for id in self
            .ids_starting_with(CREDIT_MEMO, &credit_memo_prefix(sale))
            .await?
        {
            let url = self.url(CREDIT_MEMO, &id, &[])?;
            let reply = self
                .send(reqwest::Method::GET, CREDIT_MEMO, &url, None)
                .await?;
            if reply.status != 200 {
                return Err(super::failure(CREDIT_MEMO, &reply));
            }
            let memo: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| ErpError::InvalidResponse(format!("a credit memo: {e}")))?;
            if memo["externalId"].as_str() != Some(except) {
                total += minor_units(&memo["total"], currency, "credit memo")?;
            }
        }
        Ok(total)
    }

    /// The credit memo (never beyond its sales order), then the refund paying it back.
    pub(super) async fn credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        let currency = memo.currency();
        let external = credit_memo_id(memo.sales_order_key(), memo.key());
        let (memo_id, memo_found) = match self.find(CREDIT_MEMO, &external).await? {
            Some(found) => {
                if minor_units(&found["total"], currency, "credit memo")? != memo.amount().get() {
                    return Err(ErpError::Conflict(memo.key().into()));
                }
                (record_id(&found), true)
            }
            None => {
                let sale = external_id(memo.sales_order_key());
                let order = self.find(SALES_ORDER, &sale).await?.ok_or_else(|| {
                    ErpError::Refused(format!(
                        "no NetSuite sales order {} to credit",
                        memo.sales_order_key()
                    ))
                })?;
                let total = minor_units(&order["total"], currency, "sales order")?;
                let credited = self
                    .credited(memo.sales_order_key(), &external, currency)
                    .await?;
                if credited + memo.amount().get() > total {
                    return Err(ErpError::Refused(format!(
                        "crediting {} more would take sales order {}'s credit memos beyond its total",
                        memo.amount().get(),
                        memo.sales_order_key()
                    )));
                }
                let mut body = self.header(&external, memo.date(), memo.memo(), currency)?;
                body["entity"] = json!({ "id": self.config.sales.customer });
                body["otherRefNum"] = sale.into();
                body["item"] = json!({ "items": [{
                    "item": { "id": self.config.sales.refund_item },
                    "quantity": 1,
                    "amount": number(currency, memo.amount())?,
                    "description": memo.memo(),
                }]});
                (self.upsert(CREDIT_MEMO, &external, &body).await?, false)
            }
        };
        let refund = format!("{external}-rf");
        // A memo just made has no refund yet; one found may (a crash between the two).
        let refund_found = memo_found && self.find(REFUND, &refund).await?.is_some();
        if !refund_found {
            let mut body = self.header(&refund, memo.date(), memo.memo(), currency)?;
            body["customer"] = json!({ "id": self.config.sales.customer });
            body["account"] = json!({ "id": self.clearing_account });
            body["apply"] = json!({ "items": [{
                "doc": { "id": memo_id },
                "apply": true,
                "amount": number(currency, memo.amount())?,
            }]});
            self.upsert(REFUND, &refund, &body).await?;
        }
        Ok(Posting {
            id: memo_id,
            replayed: memo_found && refund_found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orders_credit_memos_share_its_prefix_and_stay_distinct() {
        let a = credit_memo_id("tally-magento-default-1-sale", "refund-re_1");
        let b = credit_memo_id("tally-magento-default-1-sale", "refund-re_2");
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(id.starts_with("tally-magento-default-1-sale-cm-"), "{id}");
        }
        assert!(
            !credit_memo_id("tally-magento-default-11-sale", "refund-re_1")
                .starts_with(&credit_memo_prefix("tally-magento-default-1-sale"))
        );
    }
}
