//! Payout reconciliation: a Stripe payout event is only a trigger. The payout
//! is re-read; an automatic one whose reconciliation is complete has its
//! balance transactions paged through (100 a page, newest first) into the
//! saved `PayoutLedger`, each matched to an order by its source's
//! PaymentIntent; the ledger is saved after every page, so a payout that
//! outlasts an invocation continues where it stopped, never counting a page
//! twice. Then the invariant is checked and one GL entry posted, keyed on
//! the payout. A manual or instant payout, which Stripe cannot itemise, posts
//! the bank movement against clearing. A payout that fails after it was
//! posted gets its entry reversed. All under a per-payout lock.
//!
//! Not wired to a function yet (issue 11): `functions/payouts-handler`, its
//! queue, the report and the DynamoDB ledger store are still to come.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::{utc_date, Clock};
use crate::config::ErpAccounts;
use crate::erp::{Erp, ErpError, JournalEntry, JournalLine, Side};
use crate::error::{Retryable, StoreError};
use crate::idempotency::{peek, run_once, Once, OnceError, Recorded};
use crate::payouts::{
    payout_entry, payout_reversal_entry, LedgerError, Matched, PayoutEntryError, PayoutLedger,
};
use crate::ports::{Claim, IdempotencyStore, PayoutLedgers};
use crate::stripe::objects::{Payout, PayoutStatus};
use crate::stripe::{PayoutTransaction, StripeApi, StripeApiError};

/// Reporting categories that are about an order: matched to one, or suspense.
const ORDER_CATEGORIES: [&str; 6] = [
    "charge",
    "refund",
    "dispute",
    "dispute_reversal",
    "refund_failure",
    "partial_capture_reversal",
];

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    #[error(transparent)]
    Erp(#[from] ErpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("payout {0} is being reconciled by another worker")]
    Busy(String),
    /// Stripe has not finished itemising it, or the invocation ran out of
    /// time with the ledger saved: retried, continuing where it stopped.
    #[error("not yet: {0}")]
    NotYet(String),
    /// Money that does not add up: a person decides; nothing is posted.
    #[error("needs review: {0}")]
    NeedsReview(String),
}

impl Retryable for PayoutError {
    fn is_retryable(&self) -> bool {
        match self {
            PayoutError::Stripe(e) => e.is_retryable(),
            PayoutError::Erp(e) => e.is_retryable(),
            PayoutError::Store(e) => e.is_retryable(),
            PayoutError::Busy(_) | PayoutError::NotYet(_) => true,
            PayoutError::NeedsReview(_) => false,
        }
    }
}

impl From<LedgerError> for PayoutError {
    fn from(e: LedgerError) -> Self {
        PayoutError::NeedsReview(e.to_string())
    }
}

impl From<PayoutEntryError> for PayoutError {
    fn from(e: PayoutEntryError) -> Self {
        match e {
            PayoutEntryError::Ledger(e) => e.into(),
            PayoutEntryError::Entry(e) => PayoutError::Erp(ErpError::Entry(e)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    Posted {
        entry: String,
        transactions: u64,
        unmatched: usize,
    },
    /// A manual or instant payout: the bank movement against clearing.
    NotItemised {
        entry: String,
    },
    Reversed {
        entry: String,
    },
    Skipped(&'static str),
}

pub struct PayoutReconciliation {
    pub stripe: Arc<dyn StripeApi>,
    pub erp: Arc<dyn Erp>,
    pub ledgers: Arc<dyn PayoutLedgers>,
    pub store: Arc<dyn IdempotencyStore>,
    pub clock: Arc<dyn Clock>,
    pub accounts: ErpAccounts,
    pub page_size: u32,
    pub lease_secs: i64,
}

impl PayoutReconciliation {
    pub async fn on_payout(&self, payout_id: &str) -> Result<PayoutOutcome, PayoutError> {
        let payout = self.stripe.retrieve_payout(payout_id).await?;
        let lock = format!("payout-lock/{payout_id}");
        let token = match self
            .store
            .claim(&lock, self.clock.now_secs(), self.lease_secs)
            .await?
        {
            Claim::Acquired(token) => token,
            _ => return Err(PayoutError::Busy(payout_id.into())),
        };
        let result = self.under_lock(&payout).await;
        if let Err(e) = self.store.release(&lock, &token).await {
            tracing::warn!(error = %e, lock, "could not release the payout lock; it expires with its lease");
        }
        result
    }

    async fn under_lock(&self, payout: &Payout) -> Result<PayoutOutcome, PayoutError> {
        if matches!(payout.status, PayoutStatus::Failed | PayoutStatus::Canceled) {
            return self.reverse(payout).await;
        }
        if let Some(entry) = self.posted(payout).await? {
            tracing::info!(payout = %payout.id, entry, "payout already posted");
            return Ok(PayoutOutcome::Skipped("already posted"));
        }
        if !payout.automatic {
            let entry = self.not_itemised_entry(payout)?;
            return Ok(PayoutOutcome::NotItemised {
                entry: self.post(payout, &entry).await?,
            });
        }
        if payout.reconciliation_status.as_deref() != Some("completed") {
            return Err(PayoutError::NotYet(format!(
                "payout {} is not itemised by Stripe yet",
                payout.id
            )));
        }
        let ledger = self.read_all(payout).await?;
        let entry = payout_entry(&ledger, payout, &self.accounts)?;
        Ok(PayoutOutcome::Posted {
            entry: self.post(payout, &entry).await?,
            transactions: ledger.transactions,
            unmatched: ledger.unmatched.len(),
        })
    }

    /// Every page after the saved cursor, saved after each.
    async fn read_all(&self, payout: &Payout) -> Result<PayoutLedger, PayoutError> {
        let mut ledger = match self.ledgers.get(&payout.id).await? {
            Some(saved) => saved,
            None => PayoutLedger::new(&payout.id, payout.currency),
        };
        let mut intents: HashMap<String, Matched> = HashMap::new();
        loop {
            if crate::deadline::too_short_for_a_page() {
                return Err(PayoutError::NotYet(format!(
                    "payout {}: {} transactions read; the rest in the next invocation",
                    payout.id, ledger.transactions
                )));
            }
            let page = self
                .stripe
                .payout_transactions(&payout.id, ledger.cursor.as_deref(), self.page_size)
                .await?;
            for t in &page.transactions {
                let matched = self.match_of(t, &mut intents).await?;
                ledger.add(&t.transaction, &matched)?;
            }
            self.ledgers.put(&ledger).await?;
            if !page.has_more || page.transactions.is_empty() {
                return Ok(ledger);
            }
        }
    }

    /// An order's transaction by its PaymentIntent's metadata (Tally's
    /// `platform`, `store`, `order_id`), one Stripe read per PaymentIntent.
    async fn match_of(
        &self,
        t: &PayoutTransaction,
        intents: &mut HashMap<String, Matched>,
    ) -> Result<Matched, PayoutError> {
        let category = t
            .transaction
            .reporting_category
            .as_deref()
            .unwrap_or(&t.transaction.transaction_type);
        let Some(pi) = &t.payment_intent else {
            return Ok(if ORDER_CATEGORIES.contains(&category) {
                Matched::Unmatched(format!("{category} with no PaymentIntent"))
            } else {
                Matched::Category
            });
        };
        if let Some(known) = intents.get(pi) {
            return Ok(known.clone());
        }
        let metadata = self.stripe.retrieve_payment_intent(pi).await?.metadata;
        let matched = match (
            metadata.get("platform"),
            metadata.get("store"),
            metadata.get("order_id"),
        ) {
            (Some(p), Some(s), Some(o)) => Matched::Order(format!("{p}/{s}/{o}")),
            _ => Matched::Unmatched(format!("PaymentIntent {pi} names no Tally order")),
        };
        intents.insert(pi.clone(), matched.clone());
        Ok(matched)
    }

    fn not_itemised_entry(&self, payout: &Payout) -> Result<JournalEntry, PayoutError> {
        let line = |account: &str, side| JournalLine {
            account: account.into(),
            side,
            amount: payout.amount,
            memo: Some("not itemised by Stripe (a manual or instant payout)".into()),
        };
        Ok(JournalEntry::new(
            format!("tally-payout-{}", payout.id),
            utc_date(payout.arrival_date),
            payout.currency,
            format!(
                "Stripe payout {} (manual or instant: not itemised)",
                payout.id
            ),
            [("payout".to_string(), payout.id.clone())].into(),
            vec![
                line(&self.accounts.bank, Side::Debit),
                line(&self.accounts.stripe_clearing, Side::Credit),
            ],
        )
        .map_err(ErpError::Entry)?)
    }

    fn step_key(payout: &str) -> String {
        format!("payout/{payout}/erp")
    }

    /// The posted entry's id, if the payout was posted.
    async fn posted(&self, payout: &Payout) -> Result<Option<String>, PayoutError> {
        let key = Self::step_key(&payout.id);
        match peek(self.store.as_ref(), self.clock.as_ref(), &key).await? {
            Recorded::Done(entry) => Ok(Some(entry)),
            Recorded::InProgress => Err(PayoutError::Busy(key)),
            Recorded::Absent => Ok(None),
        }
    }

    /// Posts the payout's entry once (the ERP keys on its idempotency key too).
    async fn post(&self, payout: &Payout, entry: &JournalEntry) -> Result<String, PayoutError> {
        self.post_once(&Self::step_key(&payout.id), entry).await
    }

    /// Posts `entry` once under the step `key`; its result is the ERP's entry id.
    async fn post_once(&self, key: &str, entry: &JournalEntry) -> Result<String, PayoutError> {
        let posted = run_once(
            self.store.as_ref(),
            self.clock.as_ref(),
            key,
            self.lease_secs,
            || async { Ok::<_, ErpError>(self.erp.post_journal_entry(entry).await?.id) },
        );
        match posted.await {
            Ok(Once::Ran(id) | Once::AlreadyDone(id)) => Ok(id),
            Err(OnceError::Busy { key, .. }) => Err(PayoutError::Busy(key)),
            Err(OnceError::Store(e)) => Err(e.into()),
            Err(OnceError::Work(e)) => Err(e.into()),
        }
    }

    async fn reverse(&self, payout: &Payout) -> Result<PayoutOutcome, PayoutError> {
        let Some(posted_id) = self.posted(payout).await? else {
            return Ok(PayoutOutcome::Skipped("failed before it was posted"));
        };
        // rebuilt from the saved ledger (or, for a manual payout, as it was posted)
        let original = match self.ledgers.get(&payout.id).await? {
            Some(ledger) if payout.automatic => payout_entry(&ledger, payout, &self.accounts)?,
            _ => self.not_itemised_entry(payout)?,
        };
        let reversal = payout_reversal_entry(
            &original,
            &posted_id,
            self.clock.now_secs(),
            payout.failure_code.as_deref().unwrap_or("unknown"),
        )
        .map_err(ErpError::Entry)?;
        let key = format!("payout/{}/erp-reversal", payout.id);
        Ok(PayoutOutcome::Reversed {
            entry: self.post_once(&key, &reversal).await?,
        })
    }
}
