//! The ERP contract: what every `Erp` adapter must do, written once and run
//! against the in-memory ERP (below), the generic HTTP adapter with its
//! simulator, and each named ERP (`shared/http/tests/erp_contract.rs`).

use async_trait::async_trait;

use super::{
    CreditMemo, Erp, JournalEntry, JournalLine, SaleCharges, SaleCustomer, SaleLine, SalesOrder,
    Side,
};
use crate::money::{Currency, MinorUnit};

/// Reads what the ERP under test holds (its ledger, or the simulator's record).
#[async_trait]
pub trait ReadsLedger: Send + Sync {
    /// Every posting the ERP holds for the entry `key`: each as its lines,
    /// `(account, debit minus credit in minor units)`, sorted.
    async fn postings(&self, key: &str, currency: Currency) -> Vec<Vec<(String, i64)>>;
}

/// An entry's lines as `ReadsLedger::postings` gives them.
pub fn as_posted(entry: &JournalEntry) -> Vec<(String, i64)> {
    entry.signed_lines()
}

/// A balanced two-line entry under a key no other run uses.
pub fn entry(key: &str, date: &str, debit: &str, credit: &str, minor: i64) -> JournalEntry {
    let line = |account: &str, side| JournalLine {
        account: account.into(),
        side,
        amount: MinorUnit::new(minor),
        memo: Some(format!("contract {side:?}")),
    };
    JournalEntry::new(
        key.into(),
        date.into(),
        Currency::Usd,
        format!("ERP contract {key}"),
        [("source".to_string(), "contract".to_string())].into(),
        vec![line(debit, Side::Debit), line(credit, Side::Credit)],
    )
    .expect("a balanced entry")
}

/// Posting books exactly the entry, once however often it is sent (the same
/// id, `replayed`), and another key is another posting.
pub async fn check_erp_contract(erp: &dyn Erp, ledger: &dyn ReadsLedger, run: &str, date: &str) {
    let first = entry(&format!("contract-{run}-a"), date, "1150", "1200", 1_234);
    let key = first.idempotency_key();
    assert!(ledger.postings(key, Currency::Usd).await.is_empty());
    let posted = erp
        .post_journal_entry(&first)
        .await
        .expect("a balanced entry posts");
    assert!(!posted.replayed, "a new key is not a replay: {posted:?}");
    assert_eq!(
        ledger.postings(key, Currency::Usd).await,
        vec![as_posted(&first)],
        "the ledger holds exactly the entry"
    );
    for _ in 0..2 {
        let again = erp
            .post_journal_entry(&first)
            .await
            .expect("a repeat is answered");
        assert_eq!(again.id, posted.id, "the same entry, the same posting");
        assert!(again.replayed, "a repeat is a replay: {again:?}");
    }
    assert_eq!(
        ledger.postings(key, Currency::Usd).await.len(),
        1,
        "a repeat books nothing"
    );
    let reused = entry(key, date, "1150", "1200", 1_235);
    assert!(
        matches!(
            erp.post_journal_entry(&reused).await,
            Err(super::ErpError::Conflict(_))
        ),
        "another entry under a used key is a conflict, not a replay"
    );
    let second = entry(&format!("contract-{run}-b"), date, "1200", "1150", 1_234);
    let other = erp
        .post_journal_entry(&second)
        .await
        .expect("another entry posts");
    assert_ne!(other.id, posted.id);
    assert_eq!(
        ledger
            .postings(second.idempotency_key(), Currency::Usd)
            .await,
        vec![as_posted(&second)]
    );
}

/// A paid order's sales order for the sales-document contract.
pub fn sales_order(key: &str, date: &str, total: i64) -> SalesOrder {
    SalesOrder::new(
        key.into(),
        date.into(),
        Currency::Usd,
        format!("ERP contract {key}"),
        [("source".to_string(), "contract".to_string())].into(),
        SaleCustomer {
            external_id: Some("42".into()),
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
        },
        vec![SaleLine {
            sku: "TEE".into(),
            name: "Tee".into(),
            quantity: rust_decimal::Decimal::new(2, 0),
            amount: MinorUnit::new(total - 500),
        }],
        SaleCharges {
            shipping: MinorUnit::new(500),
            ..SaleCharges::default()
        },
        MinorUnit::new(total),
        "ch_contract".into(),
    )
    .expect("a consistent sales order")
}

fn credit_memo(key: &str, sales_order: &str, date: &str, minor: i64) -> CreditMemo {
    CreditMemo::new(
        key.into(),
        sales_order.into(),
        date.into(),
        Currency::Usd,
        format!("ERP contract {key}"),
        Default::default(),
        MinorUnit::new(minor),
    )
    .expect("a positive credit")
}

/// For the ERPs that take sales documents (`erp.paid_orders`): a sales order
/// and its credit memos posted once each however often sent, another body
/// under a used key a conflict, and what a sales ledger refuses refused for
/// good: a credit memo against no sales order, or beyond the order's total.
pub async fn check_sales_document_contract(erp: &dyn Erp, run: &str, date: &str) {
    use crate::error::Retryable;
    let key = format!("contract-{run}-sale");
    let order = sales_order(&key, date, 4_500);
    let posted = erp
        .post_sales_order(&order)
        .await
        .expect("a sales order posts");
    assert!(!posted.replayed);
    let again = erp
        .post_sales_order(&order)
        .await
        .expect("a repeat is answered");
    assert_eq!(
        (again.id.as_str(), again.replayed),
        (posted.id.as_str(), true)
    );
    assert!(matches!(
        erp.post_sales_order(&sales_order(&key, date, 4_600)).await,
        Err(super::ErpError::Conflict(_))
    ));

    let first = credit_memo(&format!("contract-{run}-cm1"), &key, date, 4_000);
    let memo = erp
        .post_credit_memo(&first)
        .await
        .expect("a credit memo posts");
    let repeat = erp
        .post_credit_memo(&first)
        .await
        .expect("a repeat is answered");
    assert_eq!(
        (repeat.id.as_str(), repeat.replayed),
        (memo.id.as_str(), true)
    );
    let over = credit_memo(&format!("contract-{run}-cm2"), &key, date, 501);
    let refused = erp.post_credit_memo(&over).await.unwrap_err();
    assert!(
        !refused.is_retryable(),
        "crediting beyond the total: {refused}"
    );
    let rest = credit_memo(&format!("contract-{run}-cm2"), &key, date, 500);
    erp.post_credit_memo(&rest)
        .await
        .expect("the rest can be credited");
    let orphan = credit_memo(
        &format!("contract-{run}-cm3"),
        &format!("{key}-none"),
        date,
        1,
    );
    let refused = erp.post_credit_memo(&orphan).await.unwrap_err();
    assert!(
        !refused.is_retryable(),
        "no sales order to credit: {refused}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryErp;

    #[async_trait]
    impl ReadsLedger for MemoryErp {
        async fn postings(&self, key: &str, currency: Currency) -> Vec<Vec<(String, i64)>> {
            self.entries()
                .iter()
                .filter(|e| e.idempotency_key() == key && e.currency() == currency)
                .map(as_posted)
                .collect()
        }
    }

    #[tokio::test]
    async fn the_in_memory_erp_keeps_the_contract() {
        let erp = MemoryErp::new();
        check_erp_contract(erp.as_ref(), erp.as_ref(), "memory", "2026-11-27").await;
    }

    #[tokio::test]
    async fn the_in_memory_erp_keeps_the_sales_document_contract() {
        let erp = MemoryErp::new();
        check_sales_document_contract(erp.as_ref(), "memory", "2026-11-28").await;
        assert_eq!(erp.sales_orders().len(), 1);
        assert_eq!(erp.credit_memos().len(), 2);
    }

    #[tokio::test]
    async fn an_erp_of_journal_entries_only_refuses_sales_documents_for_good() {
        use crate::error::Retryable;
        struct JournalOnly;
        #[async_trait]
        impl Erp for JournalOnly {
            async fn post_journal_entry(
                &self,
                _: &JournalEntry,
            ) -> Result<super::super::Posting, super::super::ErpError> {
                unreachable!()
            }
        }
        let refused = JournalOnly
            .post_sales_order(&sales_order("k", "2026-11-28", 1_000))
            .await
            .unwrap_err();
        assert!(!refused.is_retryable() && refused.to_string().contains("erp.paid_orders"));
    }
}
