//! An in-memory ERP: stores postings by idempotency key, refuses conflicts,
//! and refuses what a sales ledger refuses: a credit memo against a sales order
//! it does not hold, or crediting more than the order's total.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::erp::{CreditMemo, Erp, ErpError, JournalEntry, Posting, SalesOrder};

#[derive(Default)]
pub struct MemoryErp {
    entries: Mutex<Vec<JournalEntry>>,
    sales_orders: Mutex<Vec<SalesOrder>>,
    credit_memos: Mutex<Vec<(CreditMemo, String)>>,
    failures: Mutex<Vec<ErpError>>,
}

/// Keeps `item` once under `key`: the same item again is a replay, another a conflict.
fn keep_once<T: PartialEq + Clone>(
    kept: &mut Vec<T>,
    same_key: impl Fn(&T) -> bool,
    item: &T,
    key: &str,
    prefix: &str,
) -> Result<Posting, ErpError> {
    if let Some(i) = kept.iter().position(same_key) {
        if kept[i] != *item {
            return Err(ErpError::Conflict(key.into()));
        }
        return Ok(Posting {
            id: format!("{prefix}-{}", i + 1),
            replayed: true,
        });
    }
    kept.push(item.clone());
    Ok(Posting {
        id: format!("{prefix}-{}", kept.len()),
        replayed: false,
    })
}

impl MemoryErp {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().unwrap().clone()
    }

    pub fn sales_orders(&self) -> Vec<SalesOrder> {
        self.sales_orders.lock().unwrap().clone()
    }

    /// Each credit memo with the key of the sales order it credits.
    pub fn credit_memos(&self) -> Vec<(CreditMemo, String)> {
        self.credit_memos.lock().unwrap().clone()
    }

    pub fn fail_next(&self, errors: Vec<ErpError>) {
        *self.failures.lock().unwrap() = errors;
    }

    fn injected_failure(&self) -> Result<(), ErpError> {
        let mut f = self.failures.lock().unwrap();
        if f.is_empty() {
            Ok(())
        } else {
            Err(f.remove(0))
        }
    }
}

#[async_trait]
impl Erp for MemoryErp {
    async fn post_journal_entry(&self, entry: &JournalEntry) -> Result<Posting, ErpError> {
        self.injected_failure()?;
        let key = entry.idempotency_key();
        let mut entries = self.entries.lock().unwrap();
        keep_once(
            &mut entries,
            |e| e.idempotency_key() == key,
            entry,
            key,
            "JE",
        )
    }

    async fn post_sales_order(&self, order: &SalesOrder) -> Result<Posting, ErpError> {
        self.injected_failure()?;
        let mut orders = self.sales_orders.lock().unwrap();
        keep_once(
            &mut orders,
            |o| o.key() == order.key(),
            order,
            order.key(),
            "SO",
        )
    }

    async fn post_credit_memo(&self, memo: &CreditMemo) -> Result<Posting, ErpError> {
        self.injected_failure()?;
        let orders = self.sales_orders.lock().unwrap();
        let mut memos = self.credit_memos.lock().unwrap();
        let order = orders
            .iter()
            .find(|o| o.key() == memo.sales_order_key())
            .ok_or_else(|| {
                ErpError::Refused(format!(
                    "credit memo {}: no sales order {}",
                    memo.key(),
                    memo.sales_order_key()
                ))
            })?;
        let replay = memos.iter().any(|(m, _)| m.key() == memo.key());
        let credited: i64 = memos
            .iter()
            .filter(|(_, so)| so == order.key())
            .map(|(m, _)| m.amount().get())
            .sum();
        if !replay && credited + memo.amount().get() > order.total().get() {
            return Err(ErpError::Refused(format!(
                "credit memo {}: would credit more than sales order {} totals",
                memo.key(),
                order.key()
            )));
        }
        let item = (memo.clone(), order.key().to_string());
        keep_once(
            &mut memos,
            |(m, _)| m.key() == memo.key(),
            &item,
            memo.key(),
            "CM",
        )
    }
}
