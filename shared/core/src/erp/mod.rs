//! The `Erp` port and the balanced journal entry every posting must be.

#[cfg(any(test, feature = "testkit"))]
pub mod contract;
mod sales;

pub use sales::{CreditMemo, SaleCharges, SaleCustomer, SaleLine, SalesOrder};

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Retryable;
use crate::money::{Currency, MinorUnit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub account: String,
    pub side: Side,
    pub amount: MinorUnit,
    pub memo: Option<String>,
}

/// A journal entry that is balanced by construction: `JournalEntry::new` refuses
/// anything else, so an unbalanced posting never leaves Tally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    idempotency_key: String,
    date: String,
    currency: Currency,
    memo: String,
    references: BTreeMap<String, String>,
    lines: Vec<JournalLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error(
        "journal entry {key} is unbalanced: debits {debits} != credits {credits} (minor units)"
    )]
    Unbalanced {
        key: String,
        debits: i64,
        credits: i64,
    },
    #[error("journal entry {key} line {index}: {message}")]
    BadLine {
        key: String,
        index: usize,
        message: String,
    },
    #[error("journal entry {0} needs at least two lines")]
    TooFewLines(String),
}

impl JournalEntry {
    pub fn new(
        idempotency_key: String,
        date: String,
        currency: Currency,
        memo: String,
        references: BTreeMap<String, String>,
        lines: Vec<JournalLine>,
    ) -> Result<Self, EntryError> {
        if lines.len() < 2 {
            return Err(EntryError::TooFewLines(idempotency_key));
        }
        let (mut debits, mut credits) = (0i64, 0i64);
        for (index, line) in lines.iter().enumerate() {
            let bad = |message: &str| EntryError::BadLine {
                key: idempotency_key.clone(),
                index,
                message: message.into(),
            };
            if line.account.trim().is_empty() {
                return Err(bad("account is empty"));
            }
            if line.amount <= MinorUnit::ZERO {
                return Err(bad("amount must be positive"));
            }
            let total = match line.side {
                Side::Debit => &mut debits,
                Side::Credit => &mut credits,
            };
            *total = total
                .checked_add(line.amount.get())
                .ok_or_else(|| bad("amounts overflow"))?;
        }
        if debits != credits {
            return Err(EntryError::Unbalanced {
                key: idempotency_key,
                debits,
                credits,
            });
        }
        Ok(JournalEntry {
            idempotency_key,
            date,
            currency,
            memo,
            references,
            lines,
        })
    }

    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }
    pub fn date(&self) -> &str {
        &self.date
    }
    pub fn memo(&self) -> &str {
        &self.memo
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn lines(&self) -> &[JournalLine] {
        &self.lines
    }
    pub fn references(&self) -> &BTreeMap<String, String> {
        &self.references
    }

    /// The lines as `(account, debit minus credit in minor units)`, sorted: what
    /// a ledger holding this entry must hold, whatever order it keeps lines in.
    pub fn signed_lines(&self) -> Vec<(String, i64)> {
        let mut lines: Vec<(String, i64)> = self
            .lines
            .iter()
            .map(|l| {
                let signed = match l.side {
                    Side::Debit => l.amount.get(),
                    Side::Credit => -l.amount.get(),
                };
                (l.account.clone(), signed)
            })
            .collect();
        lines.sort();
        lines
    }

    /// The wire form: amounts as decimal strings in major units with the
    /// currency's exact scale ("12.30", "1500", "1.230").
    pub fn to_json(&self) -> serde_json::Value {
        let exponent = self.currency.exponent() as usize;
        let lines: Vec<_> = self
            .lines
            .iter()
            .map(|l| {
                let amount = format!("{:.*}", exponent, self.currency.to_major(l.amount));
                let mut line = serde_json::json!({ "account": l.account });
                line[match l.side {
                    Side::Debit => "debit",
                    Side::Credit => "credit",
                }] = amount.into();
                if let Some(memo) = &l.memo {
                    line["memo"] = memo.clone().into();
                }
                line
            })
            .collect();
        serde_json::json!({
            "idempotency_key": self.idempotency_key,
            "date": self.date,
            "currency": self.currency.code().to_ascii_uppercase(),
            "memo": self.memo,
            "references": self.references,
            "lines": lines,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub id: String,
    /// The ERP already had this entry (same idempotency key).
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErpError {
    #[error("ERP refused the entry ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Refused before or by the ledger for what it holds: an account or period it
    /// does not have, a currency it does not keep, a closed period.
    #[error("ERP refused the entry: {0}")]
    Refused(String),
    #[error("ERP already holds a different entry under idempotency key {0}")]
    Conflict(String),
    #[error("ERP rejected Tally's signature or credentials ({0})")]
    Unauthorized(u16),
    #[error("ERP unavailable ({status}): {message}")]
    Unavailable { status: u16, message: String },
    #[error("unreadable ERP response: {0}")]
    InvalidResponse(String),
    #[error(transparent)]
    Entry(#[from] EntryError),
}

impl Retryable for ErpError {
    fn is_retryable(&self) -> bool {
        matches!(self, ErpError::Unavailable { .. })
    }
}

#[async_trait]
pub trait Erp: Send + Sync {
    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError>;

    /// A paid order as a sales order with its payment applied (`erp.paid_orders`).
    async fn post_sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        Err(ErpError::Refused(format!(
            "sales order {}: this ERP adapter posts journal entries only (erp.paid_orders)",
            order.key()
        )))
    }

    /// A refund as a credit memo against its sales order.
    async fn post_credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        Err(ErpError::Refused(format!(
            "credit memo {}: this ERP adapter posts journal entries only (erp.paid_orders)",
            memo.key()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: &str, side: Side, amount: i64) -> JournalLine {
        JournalLine {
            account: account.into(),
            side,
            amount: MinorUnit::new(amount),
            memo: None,
        }
    }

    #[test]
    fn unbalanced_entries_are_refused() {
        let err = JournalEntry::new(
            "k".into(),
            "2026-11-26".into(),
            Currency::Usd,
            "m".into(),
            BTreeMap::new(),
            vec![
                line("1150", Side::Debit, 1000),
                line("1200", Side::Credit, 999),
            ],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            EntryError::Unbalanced {
                debits: 1000,
                credits: 999,
                ..
            }
        ));
    }

    #[test]
    fn wire_amounts_keep_the_currency_scale() {
        for (currency, minor, text) in [
            (Currency::Usd, 1230, "12.30"),
            (Currency::Jpy, 1500, "1500"),
            (Currency::Kwd, 1230, "1.230"),
        ] {
            let e = JournalEntry::new(
                "k".into(),
                "2026-11-26".into(),
                currency,
                "m".into(),
                BTreeMap::new(),
                vec![
                    line("1150", Side::Debit, minor),
                    line("1200", Side::Credit, minor),
                ],
            )
            .unwrap();
            let json = e.to_json();
            assert_eq!(json["lines"][0]["debit"], text);
            assert_eq!(json["lines"][1]["credit"], text);
        }
    }
}
