//! The payout's GL entry: debit the bank by the payout, debit Stripe fees by
//! the fees its transactions paid, and book each reporting category's gross
//! against its account (Stripe clearing unless configured; suspense for what
//! matched no order): money in is credited there (the charges the clearing
//! account held), money out debited (refunds, disputes). It balances because
//! the payout is the gross less the fees, which `PayoutLedger::check` proves first.
//! A failed payout reverses only its bank movement (`payout_reversal_entry`).

use std::collections::BTreeMap;

use super::ledger::{Booking, LedgerError, PayoutLedger};
use crate::clock::utc_date;
use crate::config::ErpAccounts;
use crate::erp::{EntryError, JournalEntry, JournalLine, Side};
use crate::money::MinorUnit;
use crate::stripe::objects::Payout;

#[derive(Debug, thiserror::Error)]
pub enum PayoutEntryError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Entry(#[from] EntryError),
}

fn key(payout: &str) -> String {
    format!("tally-payout-{payout}")
}

fn references(ledger: &PayoutLedger) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("payout".to_string(), ledger.payout.clone()),
        ("transactions".to_string(), ledger.transactions.to_string()),
        ("unmatched".to_string(), ledger.unmatched.to_string()),
    ])
}

/// One line per account and side that moves, signed amounts made positive.
fn line(account: &str, signed: i64, money_in: Side, memo: &str) -> Option<JournalLine> {
    let side = match signed.signum() {
        0 => return None,
        1 => money_in,
        _ => match money_in {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        },
    };
    Some(JournalLine {
        account: account.to_string(),
        side,
        amount: MinorUnit::new(signed.checked_abs()?),
        memo: Some(memo.to_string()),
    })
}

/// The entry for a reconciled payout, dated the day it arrives; refused
/// unless the ledger holds the whole payout.
pub fn payout_entry(
    ledger: &PayoutLedger,
    payout: &Payout,
    accounts: &ErpAccounts,
) -> Result<JournalEntry, PayoutEntryError> {
    ledger.check(payout.amount)?;
    let mut lines: Vec<JournalLine> = Vec::new();
    lines.extend(line(
        &accounts.bank,
        payout.amount.get(),
        Side::Debit,
        "payout",
    ));
    lines.extend(line(
        &accounts.stripe_fees,
        ledger.fees,
        Side::Debit,
        "Stripe fees",
    ));
    for bucket in &ledger.buckets {
        let (account, memo) = match bucket.booking {
            Booking::Suspense => (
                accounts.suspense.as_str(),
                format!("{} matched to no order ({})", bucket.category, bucket.count),
            ),
            Booking::Category => (
                category_account(accounts, &bucket.category),
                format!("{} ({})", bucket.category, bucket.count),
            ),
        };
        lines.extend(line(account, bucket.gross, Side::Credit, &memo));
    }
    Ok(JournalEntry::new(
        key(&ledger.payout),
        utc_date(payout.arrival_date),
        ledger.currency,
        format!(
            "Stripe payout {} of {} transactions",
            ledger.payout, ledger.transactions
        ),
        references(ledger),
        lines,
    )?)
}

/// The Stripe-balance account a category is booked to.
fn category_account<'a>(accounts: &'a ErpAccounts, category: &str) -> &'a str {
    accounts
        .by_reporting_category
        .get(category)
        .unwrap_or(&accounts.stripe_clearing)
}

/// A payout that failed after it was posted (`posted_id`), dated `failed_at`.
/// Stripe returns only the payout's own amount to the balance (its
/// `failure_balance_transaction`, category `payout_reversal`, which a later
/// payout carries), while its transactions stay paid out in it. So only the
/// bank movement is reversed: credit bank, debit the account `payout_reversal`
/// is booked to. The fees and gross of the original entry stand, and the later
/// payout books the returned amount back in from that same account.
pub fn payout_reversal_entry(
    payout: &Payout,
    posted_id: &str,
    failed_at: i64,
    accounts: &ErpAccounts,
) -> Result<JournalEntry, EntryError> {
    let failure = payout.failure_code.as_deref().unwrap_or("unknown");
    bank_movement(
        payout,
        format!("{}-reversal", key(&payout.id)),
        failed_at,
        format!("Reversal: Stripe payout {} failed ({failure})", payout.id),
        BTreeMap::from([
            ("payout".to_string(), payout.id.clone()),
            ("reverses".to_string(), posted_id.to_string()),
        ]),
        (
            category_account(accounts, "payout_reversal"),
            &accounts.bank,
        ),
        &format!("payout failed ({failure}): returned to the Stripe balance"),
    )
}

/// A manual or instant payout, which Stripe cannot itemise: the bank
/// movement against Stripe clearing, dated the day it arrives.
pub fn not_itemised_entry(
    payout: &Payout,
    accounts: &ErpAccounts,
) -> Result<JournalEntry, EntryError> {
    bank_movement(
        payout,
        key(&payout.id),
        payout.arrival_date,
        format!(
            "Stripe payout {} (manual or instant: not itemised)",
            payout.id
        ),
        BTreeMap::from([("payout".to_string(), payout.id.clone())]),
        (&accounts.bank, &accounts.stripe_clearing),
        "not itemised by Stripe (a manual or instant payout)",
    )
}

/// The payout's amount from one account to another: `(debit, credit)`.
fn bank_movement(
    payout: &Payout,
    idempotency_key: String,
    dated: i64,
    description: String,
    references: BTreeMap<String, String>,
    (debit, credit): (&str, &str),
    memo: &str,
) -> Result<JournalEntry, EntryError> {
    let line = |account: &str, side| JournalLine {
        account: account.to_string(),
        side,
        amount: payout.amount,
        memo: Some(memo.to_string()),
    };
    JournalEntry::new(
        idempotency_key,
        utc_date(dated),
        payout.currency,
        description,
        references,
        vec![line(debit, Side::Debit), line(credit, Side::Credit)],
    )
}
