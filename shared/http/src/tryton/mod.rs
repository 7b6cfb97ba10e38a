//! `Erp` over Tryton (trytond 7.0, modules `account` and `account_invoice`):
//! each journal entry becomes an `account.move` in the configured journal, with
//! its lines on the accounts whose codes `erp.accounts` names, and is posted
//! (a posted move is final, as accountants expect). The ledger itself refuses
//! what a real one refuses: an unbalanced move, a date in no open period.
//!
//! Idempotent by a lookup before the write: the move's description ends with
//! `[<idempotency key>]`, so a retry after a crash between creating, posting
//! and recording finds the move (and posts it if it is still a draft) instead
//! of booking it twice. An entry in another currency is converted at Tryton's
//! own rate for its date, its exact amount kept beside (`fx.rs`).

mod fx;
pub mod rpc;
mod sales;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use tally_core::config::ErpConfig;
use tally_core::erp::{CreditMemo, Erp, ErpError, JournalEntry, Posting, SalesOrder, Side};
use tally_core::secrets::{CachedSecret, TrytonSecrets};
use tokio::sync::Mutex;

use crate::retry::Repeat;
use rpc::{date, decimal, TrytonRpc};

pub struct TrytonErp {
    rpc: TrytonRpc,
    journal_code: String,
    /// The accounts sales documents are paid through and refunded on (`erp.accounts`).
    clearing: String,
    refunds: String,
    /// Read once per container (and again for an account code not yet seen).
    ledger: Mutex<Option<Ledger>>,
}

#[derive(Debug, Clone)]
struct Ledger {
    company: i64,
    currency: String,
    journal: i64,
    accounts: HashMap<String, i64>,
}

impl TrytonErp {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        config: &ErpConfig,
        secrets: Arc<CachedSecret<TrytonSecrets>>,
    ) -> Self {
        TrytonErp {
            rpc: TrytonRpc::new(
                client,
                base_url,
                &config.tryton.database,
                config.http.clone(),
                secrets,
            ),
            journal_code: config.tryton.journal.clone(),
            clearing: config.accounts.stripe_clearing.clone(),
            refunds: config.accounts.refunds.clone(),
            ledger: Mutex::new(None),
        }
    }

    /// Records of `model`; `company` is the context Tryton's rules read (the
    /// user's company is not assumed over RPC).
    async fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        company: Option<i64>,
    ) -> Result<Vec<Value>, ErpError> {
        let found = self
            .rpc
            .call(
                &format!("model.{model}.search_read"),
                json!([domain, 0, null, null, fields, context(company)]),
                Repeat::Safe,
            )
            .await?;
        Ok(found.as_array().cloned().unwrap_or_default())
    }

    /// The company, its currency, the journal and the ids of `codes`.
    async fn ledger(&self, codes: &[&str]) -> Result<Ledger, ErpError> {
        let mut cached = self.ledger.lock().await;
        if let Some(l) = cached.as_ref() {
            if codes.iter().all(|c| l.accounts.contains_key(*c)) {
                return Ok(l.clone());
            }
        }
        let prefs = self
            .rpc
            .call(
                "model.res.user.get_preferences",
                json!([false, {}]),
                Repeat::Safe,
            )
            .await?;
        let company = prefs["company"].as_i64().ok_or_else(|| {
            ErpError::Refused("the Tryton user Tally logs in as has no company".into())
        })?;
        let companies = self
            .search_read(
                "company.company",
                json!([["id", "=", company]]),
                &["currency"],
                Some(company),
            )
            .await?;
        let currency_id = companies.first().and_then(|c| c["currency"].as_i64());
        let currencies = self
            .search_read(
                "currency.currency",
                json!([["id", "=", currency_id]]),
                &["code"],
                Some(company),
            )
            .await?;
        let currency = currencies
            .first()
            .and_then(|c| c["code"].as_str())
            .ok_or_else(|| ErpError::InvalidResponse("Tryton company has no currency".into()))?
            .to_ascii_uppercase();
        let journals = self
            .search_read(
                "account.journal",
                json!([["code", "=", self.journal_code]]),
                &["id"],
                Some(company),
            )
            .await?;
        let journal = journals
            .first()
            .and_then(|j| j["id"].as_i64())
            .ok_or_else(|| {
                ErpError::Refused(format!(
                    "Tryton has no journal with code {} (erp.tryton.journal)",
                    self.journal_code
                ))
            })?;
        let accounts = self
            .search_read(
                "account.account",
                json!([["code", "in", codes], ["company", "=", company]]),
                &["code", "type"],
                Some(company),
            )
            .await?;
        let mut by_code = HashMap::new();
        for a in &accounts {
            if let (Some(code), Some(id)) = (a["code"].as_str(), a["id"].as_i64()) {
                if a["type"].is_null() {
                    return Err(ErpError::Refused(format!(
                        "Tryton account {code} is a view (it has no type): post to one of its children"
                    )));
                }
                by_code.insert(code.to_string(), id);
            }
        }
        if let Some(missing) = codes.iter().find(|c| !by_code.contains_key(**c)) {
            return Err(ErpError::Refused(format!(
                "Tryton has no account with code {missing} (erp.accounts)"
            )));
        }
        let ledger = Ledger {
            company,
            currency,
            journal,
            accounts: by_code,
        };
        *cached = Some(ledger.clone());
        Ok(ledger)
    }

    /// The move Tally already made for this entry, if any: `(id, state)`.
    async fn existing(
        &self,
        ledger: &Ledger,
        tag: &str,
    ) -> Result<Option<(i64, String)>, ErpError> {
        let found = self
            .search_read(
                "account.move",
                json!([["description", "like", format!("%{tag}")]]),
                &["description", "state"],
                Some(ledger.company),
            )
            .await?;
        // LIKE treats `_` as a wildcard: keep only the exact suffix.
        Ok(found
            .iter()
            .find(|m| m["description"].as_str().is_some_and(|d| d.ends_with(tag)))
            .and_then(|m| Some((m["id"].as_i64()?, m["state"].as_str()?.to_string()))))
    }

    /// A move found under the entry's key must be that entry: the same lines
    /// (account and signed amount in the entry's currency: the second currency's
    /// when it is not the company's), or the key was used for something else.
    async fn same_lines(
        &self,
        ledger: &Ledger,
        id: i64,
        entry: &JournalEntry,
        foreign: bool,
    ) -> Result<(), ErpError> {
        use rust_decimal::Decimal;
        // Decimals compared as numbers: Tryton may answer "0" for the "0.00" it was sent.
        let number = |v: &Value| {
            v["decimal"]
                .as_str()
                .and_then(|t| t.parse::<Decimal>().ok())
                .unwrap_or_default()
        };
        let mut held: Vec<(i64, Decimal)> = self
            .search_read(
                "account.move.line",
                json!([["move", "=", id]]),
                &["account", "debit", "credit", "amount_second_currency"],
                Some(ledger.company),
            )
            .await?
            .iter()
            .map(|l| {
                let signed = if foreign {
                    number(&l["amount_second_currency"])
                } else {
                    number(&l["debit"]) - number(&l["credit"])
                };
                (l["account"].as_i64().unwrap_or(0), signed.normalize())
            })
            .collect();
        let mut sent: Vec<(i64, Decimal)> = entry
            .signed_lines()
            .iter()
            .map(|(account, minor)| {
                let amount = entry
                    .currency()
                    .to_major(tally_core::money::MinorUnit::new(*minor));
                (ledger.accounts[account], amount.normalize())
            })
            .collect();
        held.sort();
        sent.sort();
        if held != sent {
            return Err(ErpError::Conflict(entry.idempotency_key().into()));
        }
        Ok(())
    }

    async fn period(&self, ledger: &Ledger, day: &Value, text: &str) -> Result<i64, ErpError> {
        let periods = self
            .search_read(
                "account.period",
                json!([
                    ["company", "=", ledger.company],
                    ["start_date", "<=", day],
                    ["end_date", ">=", day],
                    ["type", "=", "standard"]
                ]),
                &["state"],
                Some(ledger.company),
            )
            .await?;
        periods
            .first()
            .and_then(|p| p["id"].as_i64())
            .ok_or_else(|| {
                ErpError::Refused(format!(
                    "Tryton has no period for {text}: open a fiscal year"
                ))
            })
    }
}

/// The entry's lines as `account.move.line` values: in the company currency,
/// or converted with the exact amount kept as the second currency's.
fn move_lines(
    entry: &JournalEntry,
    ledger: &Ledger,
    conversion: Option<&fx::Conversion>,
) -> Result<Vec<Value>, ErpError> {
    use rust_decimal::Decimal;
    let exponent = entry.currency().exponent();
    let text = |d: Decimal, dp: u32| decimal(format!("{:.*}", dp as usize, d));
    let mut totals = (Decimal::ZERO, Decimal::ZERO);
    let mut lines = Vec::new();
    for l in entry.lines() {
        let amount = entry.currency().to_major(l.amount);
        let booked = conversion.map_or(amount, |c| c.to_company(amount));
        let dp = match conversion {
            Some(_) => booked.scale().max(2),
            None => exponent,
        };
        let (debit, credit, signed) = match l.side {
            Side::Debit => (booked, Decimal::ZERO, amount),
            Side::Credit => (Decimal::ZERO, booked, -amount),
        };
        totals = (totals.0 + debit, totals.1 + credit);
        let mut line = json!({"account": ledger.accounts[&l.account], "debit": text(debit, dp),
                              "credit": text(credit, dp), "description": l.memo});
        if let Some(c) = conversion {
            line["second_currency"] = c.second_currency.into();
            line["amount_second_currency"] = text(signed, exponent);
        }
        lines.push(line);
    }
    if totals.0 != totals.1 {
        return Err(ErpError::Refused(format!(
            "at Tryton's rate for {} the {} entry's lines come to {} debit and {} credit in {}: \
             rounding each line unbalances it, so post it in {} or split it",
            entry.date(),
            entry.currency().code().to_ascii_uppercase(),
            totals.0,
            totals.1,
            ledger.currency,
            ledger.currency
        )));
    }
    Ok(lines)
}

/// The context of a call: the company whose rules and balances apply.
fn context(company: Option<i64>) -> Value {
    match company {
        Some(c) => json!({"company": c}),
        None => json!({}),
    }
}

#[async_trait]
impl Erp for TrytonErp {
    async fn post_sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        self.post_sale(order).await
    }

    async fn post_credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        self.post_credit(memo).await
    }

    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError> {
        let codes: Vec<&str> = entry.lines().iter().map(|l| l.account.as_str()).collect();
        let ledger = self.ledger(&codes).await?;
        let currency = entry.currency().code().to_ascii_uppercase();
        let foreign = currency != ledger.currency;
        let tag = format!("[{}]", entry.idempotency_key());
        let (id, replayed) = match self.existing(&ledger, &tag).await? {
            Some((id, state)) => {
                self.same_lines(&ledger, id, entry, foreign).await?;
                (id, state == "posted")
            }
            None => {
                let day = date(entry.date()).ok_or_else(|| {
                    ErpError::Refused(format!("entry date {} is not YYYY-MM-DD", entry.date()))
                })?;
                let period = self.period(&ledger, &day, entry.date()).await?;
                let conversion = match foreign {
                    true => Some(
                        self.conversion(&ledger, &currency, &day, entry.date())
                            .await?,
                    ),
                    false => None,
                };
                let lines = move_lines(entry, &ledger, conversion.as_ref())?;
                let made = self
                    .rpc
                    .call(
                        "model.account.move.create",
                        json!([[{"company": ledger.company, "journal": ledger.journal, "period": period,
                                 "date": day, "description": format!("{} {tag}", entry.memo()),
                                 "lines": [["create", lines]]}], context(Some(ledger.company))]),
                        // a lost answer is found by the lookup on the next delivery
                        Repeat::Unsafe,
                    )
                    .await?;
                let id = made[0]
                    .as_i64()
                    .ok_or_else(|| ErpError::InvalidResponse(format!("Tryton created {made}")))?;
                (id, false)
            }
        };
        if !replayed {
            self.rpc
                .call(
                    "model.account.move.post",
                    json!([[id], context(Some(ledger.company))]),
                    Repeat::Safe,
                )
                .await?;
        }
        let read = self
            .search_read(
                "account.move",
                json!([["id", "=", id]]),
                &["number", "post_number", "state"],
                Some(ledger.company),
            )
            .await?;
        let number = read
            .first()
            .and_then(|m| m["post_number"].as_str().or(m["number"].as_str()))
            .unwrap_or_default();
        Ok(Posting {
            id: format!("account.move/{id} {number}"),
            replayed,
        })
    }
}
