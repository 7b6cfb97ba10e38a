//! Payout reconciliation: a Stripe payout event is only a trigger. The payout
//! is re-read; an automatic one whose reconciliation is complete has its
//! balance transactions paged through (100 a page, newest first) into the
//! saved `PayoutLedger`, each matched to an order by its source's
//! PaymentIntent; the ledger is saved after every page, so a payout that
//! outlasts an invocation continues where it stopped, never counting a page
//! twice. Then the invariant is checked and one GL entry posted, keyed on
//! the payout. A manual or instant payout, which Stripe cannot itemise, posts
//! the bank movement against clearing. A payout that fails is posted (if it
//! was not) and its bank movement reversed. All under a per-payout lock. Each
//! page's lines and the ledger's status make the payout's report.

mod handler;
#[cfg(test)]
mod tests;

pub use handler::{continuation_message, PayoutsError, PayoutsHandler, PAYOUT_CONTINUE};

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::clock::Clock;
use crate::config::ErpAccounts;
use crate::erp::{Erp, ErpError, JournalEntry};
use crate::error::{Retryable, StoreError};
use crate::idempotency::{peek, run_once, Once, OnceError, Recorded};
use crate::payouts::{
    not_itemised_entry, payout_entry, payout_reversal_entry, LedgerError, Matched,
    PayoutEntryError, PayoutLedger, ReportLine, ReportStatus,
};
use crate::ports::{Claim, IdempotencyStore, PayoutReports};
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

/// Stripe reads of PaymentIntents in flight at once (Stripe allows 100 reads a second).
const INTENT_READS_AT_ONCE: usize = 8;

/// What a transaction is matched to: an order by its PaymentIntent's metadata
/// (Tally's `platform`, `store`, `order_id`, read into `intents`), else by category.
fn match_of(t: &PayoutTransaction, intents: &HashMap<String, Matched>) -> Matched {
    let category = t
        .transaction
        .reporting_category
        .as_deref()
        .unwrap_or(&t.transaction.transaction_type);
    match &t.payment_intent {
        Some(pi) => intents
            .get(pi)
            .cloned()
            .unwrap_or_else(|| Matched::Unmatched(format!("PaymentIntent {pi} was not read"))),
        None if ORDER_CATEGORIES.contains(&category) => {
            Matched::Unmatched(format!("{category} with no PaymentIntent"))
        }
        None => Matched::Category,
    }
}

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
    /// Stripe has not finished itemising it: retried.
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

    fn is_contention(&self) -> bool {
        matches!(self, PayoutError::Busy(_))
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
        unmatched: u64,
        /// Sum of the unmatched (suspense) categories' gross, each taken
        /// without its sign, in the payout currency's minor units.
        unmatched_amount: i64,
        currency: crate::money::Currency,
    },
    /// A manual or instant payout: the bank movement against clearing.
    NotItemised {
        entry: String,
    },
    Reversed {
        entry: String,
    },
    /// An automatic payout Stripe has not itemised yet
    /// (`payout.reconciliation_completed` follows).
    AwaitingItemisation,
    /// The invocation ran short with `transactions` read and saved: the rest
    /// continues in another invocation from the saved cursor.
    Continues {
        transactions: u64,
    },
    Skipped(&'static str),
}

pub struct PayoutReconciliation {
    pub stripe: Arc<dyn StripeApi>,
    pub erp: Arc<dyn Erp>,
    pub reports: Arc<dyn PayoutReports>,
    pub store: Arc<dyn IdempotencyStore>,
    pub clock: Arc<dyn Clock>,
    pub accounts: ErpAccounts,
    pub page_size: u32,
    /// Most pages one invocation reads before handing the payout on to a
    /// continuation (0: as many as time allows).
    pub pages_per_invocation: u32,
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

    /// A payout that failed (or was canceled) is posted like any other, then
    /// reversed: its transactions stay paid out in it (their fees and gross
    /// are booked by its entry) while only its amount returns to the balance.
    async fn under_lock(&self, payout: &Payout) -> Result<PayoutOutcome, PayoutError> {
        let failed = matches!(payout.status, PayoutStatus::Failed | PayoutStatus::Canceled);
        if let Some(entry) = self.posted(payout).await? {
            if failed {
                return self.reverse(payout, entry).await;
            }
            tracing::info!(payout = %payout.id, entry, "payout already posted");
            // a crash between posting and recording it leaves the report behind
            self.record(payout, ReportStatus::Posted { entry }).await?;
            return Ok(PayoutOutcome::Skipped("already posted"));
        }
        let outcome = self.post_payout(payout).await?;
        match outcome {
            PayoutOutcome::Posted { entry, .. } | PayoutOutcome::NotItemised { entry }
                if failed =>
            {
                self.reverse(payout, entry).await
            }
            other => Ok(other),
        }
    }

    /// Posts a payout not posted yet: itemised, or the bank movement alone.
    async fn post_payout(&self, payout: &Payout) -> Result<PayoutOutcome, PayoutError> {
        if !payout.automatic {
            let entry = not_itemised_entry(payout, &self.accounts).map_err(ErpError::Entry)?;
            let entry = self.post(payout, &entry).await?;
            self.record(
                payout,
                ReportStatus::Posted {
                    entry: entry.clone(),
                },
            )
            .await?;
            return Ok(PayoutOutcome::NotItemised { entry });
        }
        if payout.reconciliation_status.as_deref() != Some("completed") {
            return Ok(PayoutOutcome::AwaitingItemisation);
        }
        let Some(ledger) = self.read_all(payout).await? else {
            let read = self.saved(payout).await?.transactions;
            return Ok(PayoutOutcome::Continues { transactions: read });
        };
        let entry = match payout_entry(&ledger, payout, &self.accounts) {
            Ok(entry) => entry,
            Err(e) => return Err(self.review(payout, e.into()).await),
        };
        let posted = self.post(payout, &entry).await?;
        self.record(
            payout,
            ReportStatus::Posted {
                entry: posted.clone(),
            },
        )
        .await?;
        Ok(PayoutOutcome::Posted {
            entry: posted,
            transactions: ledger.transactions,
            unmatched: ledger.unmatched,
            unmatched_amount: ledger.unmatched_amount(),
            currency: ledger.currency,
        })
    }

    /// The payout's saved ledger, or a new one.
    async fn saved(&self, payout: &Payout) -> Result<PayoutLedger, PayoutError> {
        Ok(match self.reports.ledger(&payout.id).await? {
            Some(saved) => saved,
            None => {
                let mut ledger = PayoutLedger::new(&payout.id, payout.currency);
                ledger.itemised = payout.automatic;
                ledger
            }
        })
    }

    /// Sets the report's status.
    async fn record(&self, payout: &Payout, status: ReportStatus) -> Result<(), PayoutError> {
        let mut ledger = self.saved(payout).await?;
        if ledger.status != status {
            ledger.status = status;
            self.reports.save_ledger(&ledger).await?;
        }
        Ok(())
    }

    /// Puts the payout to review in its report; the error says why. A
    /// failure to record it is the error instead (retried, then recorded).
    async fn review(&self, payout: &Payout, error: PayoutError) -> PayoutError {
        let PayoutError::NeedsReview(reason) = &error else {
            return error;
        };
        let status = ReportStatus::NeedsReview {
            reason: reason.clone(),
        };
        match self.record(payout, status).await {
            Ok(()) => error,
            Err(e) => e,
        }
    }

    /// Every page after the saved cursor, each page's lines and then the
    /// ledger saved; `None` when the invocation runs short (all saved).
    async fn read_all(&self, payout: &Payout) -> Result<Option<PayoutLedger>, PayoutError> {
        let mut ledger = self.saved(payout).await?;
        ledger.invocations += 1;
        let mut intents: HashMap<String, Matched> = HashMap::new();
        for read in 0.. {
            let budget_spent = self.pages_per_invocation > 0 && read >= self.pages_per_invocation;
            if budget_spent || crate::deadline::too_short_for_a_page() {
                tracing::info!(payout = %payout.id, read = ledger.transactions, "continuing in another invocation");
                return Ok(None);
            }
            let page = self
                .stripe
                .payout_transactions(&payout.id, ledger.cursor.as_deref(), self.page_size)
                .await?;
            self.read_intents(&page.transactions, &mut intents).await?;
            let mut lines: Vec<ReportLine> = Vec::with_capacity(page.transactions.len());
            for t in &page.transactions {
                let matched = match_of(t, &intents);
                match ledger.add(&t.transaction, &matched) {
                    Ok(line) => lines.extend(line),
                    Err(e) => return Err(self.review(payout, e.into()).await),
                }
            }
            if !lines.is_empty() {
                // the page's number is fixed by the saved ledger: a crash before
                // the ledger is saved rewrites the same page, never a second one
                ledger.pages += 1;
                self.reports
                    .save_page(&payout.id, ledger.pages, &lines)
                    .await?;
            }
            self.reports.save_ledger(&ledger).await?;
            if !page.has_more || page.transactions.is_empty() {
                return Ok(Some(ledger));
            }
        }
        unreachable!("the page loop ends by returning")
    }

    /// What each PaymentIntent of a page not read before names, read a few
    /// at a time (a page has up to 100 and each is one Stripe read).
    async fn read_intents(
        &self,
        page: &[PayoutTransaction],
        intents: &mut HashMap<String, Matched>,
    ) -> Result<(), PayoutError> {
        let mut unread: Vec<String> = page
            .iter()
            .filter_map(|t| t.payment_intent.clone())
            .filter(|pi| !intents.contains_key(pi))
            .collect();
        unread.sort_unstable();
        unread.dedup();
        for chunk in unread.chunks(INTENT_READS_AT_ONCE) {
            let reads = join_all(
                chunk
                    .iter()
                    .map(|pi| self.stripe.retrieve_payment_intent(pi)),
            );
            for (pi, read) in chunk.iter().zip(reads.await) {
                let metadata = read?.metadata;
                let matched = match (
                    metadata.get("platform"),
                    metadata.get("store"),
                    metadata.get("order_id"),
                ) {
                    (Some(p), Some(s), Some(o)) => Matched::Order(format!("{p}/{s}/{o}")),
                    _ => Matched::Unmatched(format!("PaymentIntent {pi} names no Tally order")),
                };
                intents.insert(pi.clone(), matched);
            }
        }
        Ok(())
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

    async fn reverse(
        &self,
        payout: &Payout,
        posted_id: String,
    ) -> Result<PayoutOutcome, PayoutError> {
        let reversal =
            payout_reversal_entry(payout, &posted_id, self.clock.now_secs(), &self.accounts)
                .map_err(ErpError::Entry)?;
        let key = format!("payout/{}/erp-reversal", payout.id);
        let reversal = self.post_once(&key, &reversal).await?;
        self.record(
            payout,
            ReportStatus::Reversed {
                entry: posted_id,
                reversal: reversal.clone(),
            },
        )
        .await?;
        Ok(PayoutOutcome::Reversed { entry: reversal })
    }
}
