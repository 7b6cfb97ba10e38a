//! The running sums of one payout's balance transactions.

use serde::{Deserialize, Serialize};

use super::report::ReportLine;
use crate::money::{Currency, MinorUnit};
use crate::stripe::objects::BalanceTransaction;

/// What a balance transaction was matched to, decided by the caller (who
/// can reach Stripe and the order links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// A charge, refund or dispute of an order Tally knows (its order key).
    Order(String),
    /// Not about an order by nature (a Stripe fee, a returned payout): booked
    /// by its reporting category.
    Category,
    /// Should be about an order but none was found (a charge made outside any
    /// platform, an adjustment): booked to suspense and reported.
    Unmatched(String),
}

/// Where a bucket's money is booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Booking {
    /// The category's account (Stripe clearing unless configured).
    Category,
    Suspense,
}

/// The gross of one reporting category, booked one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub category: String,
    pub booking: Booking,
    /// Signed sum of `amount` (money in is positive).
    pub gross: i64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "payout {payout}: transaction {transaction} is in {found}, the payout in {payout_currency}"
    )]
    ForeignCurrency {
        payout: String,
        transaction: String,
        found: Currency,
        payout_currency: Currency,
    },
    #[error("payout {payout}: transaction {transaction} has net {net} but amount {amount} less fee {fee}")]
    Inconsistent {
        payout: String,
        transaction: String,
        amount: i64,
        fee: i64,
        net: i64,
    },
    #[error("payout {payout}: sums overflow 64-bit minor units")]
    Overflow { payout: String },
    #[error(
        "payout {payout}: its transactions' net adds up to {net} but the payout is {amount} \
         (minor units; difference {difference}): nothing posted"
    )]
    Mismatch {
        payout: String,
        net: i64,
        amount: i64,
        difference: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutLedger {
    pub payout: String,
    pub currency: Currency,
    pub buckets: Vec<Bucket>,
    /// Sum of `fee` (Stripe's fees are positive; a refunded fee is negative).
    pub fees: i64,
    /// Sum of `net`, the payout's own transaction excluded.
    pub net: i64,
    pub transactions: u64,
    /// How many were matched to no order (each is a line of the report).
    pub unmatched: u64,
    /// The payout's own balance transaction, when it was read.
    pub own_transaction: Option<String>,
    /// The last transaction added: where the next page starts.
    pub cursor: Option<String>,
    /// Pages read (and saved to the report) so far.
    #[serde(default)]
    pub pages: u32,
    /// Invocations that read its pages (more than one: it was continued).
    #[serde(default)]
    pub invocations: u32,
    /// False for a manual or instant payout, which Stripe cannot itemise.
    #[serde(default = "itemised")]
    pub itemised: bool,
    #[serde(default)]
    pub status: ReportStatus,
}

fn itemised() -> bool {
    true
}

/// Where the payout's reconciliation stands, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReportStatus {
    /// Its transactions are being read.
    #[default]
    Reading,
    /// Posted to the ERP as the entry `entry`.
    Posted { entry: String },
    /// Not posted: the sums do not hold, or a transaction cannot be booked.
    NeedsReview { reason: String },
    /// The payout failed after it was posted: `reversal` reverses `entry`.
    Reversed { entry: String, reversal: String },
}

impl PayoutLedger {
    /// What was matched to no order: the suspense buckets' gross, each
    /// without its sign (a metric and an alarm, not a posting).
    pub fn unmatched_amount(&self) -> i64 {
        self.buckets
            .iter()
            .filter(|b| b.booking == Booking::Suspense)
            .map(|b| b.gross.saturating_abs())
            .fold(0i64, i64::saturating_add)
    }

    pub fn new(payout: &str, currency: Currency) -> Self {
        PayoutLedger {
            payout: payout.into(),
            currency,
            buckets: Vec::new(),
            fees: 0,
            net: 0,
            transactions: 0,
            unmatched: 0,
            own_transaction: None,
            cursor: None,
            pages: 0,
            invocations: 0,
            itemised: true,
            status: ReportStatus::Reading,
        }
    }

    /// Adds one transaction of the payout and gives its line of the report.
    /// The payout's own transaction (type `payout`, sourced from this payout)
    /// is noted, not summed, and has no line.
    pub fn add(
        &mut self,
        bt: &BalanceTransaction,
        matched: &Matched,
    ) -> Result<Option<ReportLine>, LedgerError> {
        let source = bt.source.as_ref().map(|s| s.0.clone());
        self.cursor = Some(bt.id.clone());
        if bt.transaction_type == "payout" && source.as_deref() == Some(self.payout.as_str()) {
            self.own_transaction = Some(bt.id.clone());
            return Ok(None);
        }
        if bt.currency != self.currency {
            return Err(LedgerError::ForeignCurrency {
                payout: self.payout.clone(),
                transaction: bt.id.clone(),
                found: bt.currency,
                payout_currency: self.currency,
            });
        }
        let (amount, fee, net) = (bt.amount.get(), bt.fee.get(), bt.net.get());
        if amount.checked_sub(fee) != Some(net) {
            return Err(LedgerError::Inconsistent {
                payout: self.payout.clone(),
                transaction: bt.id.clone(),
                amount,
                fee,
                net,
            });
        }
        let overflow = || LedgerError::Overflow {
            payout: self.payout.clone(),
        };
        let category = bt
            .reporting_category
            .clone()
            .unwrap_or_else(|| bt.transaction_type.clone());
        let booking = match matched {
            Matched::Unmatched(_) => Booking::Suspense,
            Matched::Order(_) | Matched::Category => Booking::Category,
        };
        let fees = self.fees.checked_add(fee).ok_or_else(overflow)?;
        let total = self.net.checked_add(net).ok_or_else(overflow)?;
        let index = match self
            .buckets
            .iter()
            .position(|b| b.category == category && b.booking == booking)
        {
            Some(i) => i,
            None => {
                self.buckets.push(Bucket {
                    category: category.clone(),
                    booking,
                    gross: 0,
                    count: 0,
                });
                self.buckets.len() - 1
            }
        };
        let gross = self.buckets[index]
            .gross
            .checked_add(amount)
            .ok_or_else(overflow)?;
        self.buckets[index].gross = gross;
        self.buckets[index].count += 1;
        (self.fees, self.net) = (fees, total);
        self.transactions += 1;
        let (order, reason) = match matched {
            Matched::Order(order) => (Some(order.clone()), None),
            Matched::Category => (None, None),
            Matched::Unmatched(reason) => {
                self.unmatched += 1;
                (None, Some(reason.clone()))
            }
        };
        Ok(Some(ReportLine {
            transaction: bt.id.clone(),
            category,
            booking,
            source,
            amount,
            fee,
            net,
            order,
            unmatched: reason,
        }))
    }

    /// The invariant: the transactions' net is the payout amount, to the minor unit.
    pub fn check(&self, payout_amount: MinorUnit) -> Result<(), LedgerError> {
        let amount = payout_amount.get();
        if self.net == amount {
            return Ok(());
        }
        Err(LedgerError::Mismatch {
            payout: self.payout.clone(),
            net: self.net,
            amount,
            difference: self.net - amount,
        })
    }
}
