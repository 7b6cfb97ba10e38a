//! The ERP contract: what every `Erp` adapter must do, written once and run
//! against the in-memory ERP (below), the generic HTTP adapter with its
//! simulator, and each named ERP (`shared/http/tests/erp_contract.rs`).

use async_trait::async_trait;

use super::{Erp, JournalEntry, JournalLine, Side};
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
}
