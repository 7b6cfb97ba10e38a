//! Payout reconciliation, the part with no I/O: a payout's balance
//! transactions, read page by page, are summed into a `PayoutLedger` (small
//! and serialisable, so a payout of 10,000 transactions can continue across
//! invocations from its saved state), checked against the payout (the
//! transactions' `net`, the payout's own transaction excluded, add up to the
//! payout amount to the minor unit, or nothing is posted), and turned into one
//! balanced GL entry keyed on the payout. What matches no order is booked to
//! suspense and listed, never dropped. Facts: `../shared/stripe/facts.md` §2.
//!
//! The flow that reads Stripe, matches transactions to orders and posts the
//! entry is `flows::payouts`, run by `functions/payouts-handler`; each page's
//! lines and the ledger make the payout's report (`report`).

mod gl;
mod ledger;
mod report;
#[cfg(test)]
mod tests;

pub use gl::{not_itemised_entry, payout_entry, payout_reversal_entry, PayoutEntryError};
pub use ledger::{Booking, Bucket, LedgerError, Matched, PayoutLedger, ReportStatus};
pub use report::{render_csv, render_html, status_text, ReportLine};
