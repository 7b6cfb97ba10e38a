//! A payout's reconciliation report: the saved ledger (totals, status) and
//! one line per balance transaction, rendered as CSV and HTML for a finance
//! person. Unmatched transactions come first: they are the ones to act on.
//! Amounts are shown in major units by the currency's exponent, exactly.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::ledger::{Booking, PayoutLedger, ReportStatus};
use crate::money::{Currency, MinorUnit};

/// One balance transaction of the payout, as matched and booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    pub transaction: String,
    pub category: String,
    pub booking: Booking,
    pub source: Option<String>,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    /// The order's key (`platform/store/order_id`) when matched to one.
    pub order: Option<String>,
    /// Why it matched no order (booked to suspense).
    pub unmatched: Option<String>,
}

fn major(currency: Currency, minor: i64) -> String {
    currency.to_major(MinorUnit::new(minor)).to_string()
}

/// What the report says about the payout as a whole.
pub fn status_text(ledger: &PayoutLedger) -> String {
    let not_itemised = if ledger.itemised {
        ""
    } else {
        " (manual or instant payout: Stripe cannot itemise it; booked against clearing)"
    };
    let status = match &ledger.status {
        ReportStatus::Reading => format!(
            "reading: {} transactions in {} pages so far",
            ledger.transactions, ledger.pages
        ),
        ReportStatus::Posted { entry } => format!("posted as ERP entry {entry}"),
        ReportStatus::NeedsReview { reason } => format!("needs review, nothing posted: {reason}"),
        ReportStatus::Reversed { entry, reversal } => {
            format!("the payout failed: entry {entry} reversed by {reversal}")
        }
    };
    status + not_itemised
}

/// Unmatched lines first, then the rest, each in the order Stripe listed them.
fn ordered(lines: &[ReportLine]) -> impl Iterator<Item = &ReportLine> {
    let unmatched = lines.iter().filter(|l| l.unmatched.is_some());
    unmatched.chain(lines.iter().filter(|l| l.unmatched.is_none()))
}

fn booking(b: Booking) -> &'static str {
    match b {
        Booking::Category => "category",
        Booking::Suspense => "suspense",
    }
}

fn csv_field(text: &str) -> String {
    // Quoted always; a leading formula character is neutralised for spreadsheets.
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// CSV: a `total` row per reporting category and booking, then a row per
/// transaction (`unmatched` rows first, then `matched`).
pub fn render_csv(ledger: &PayoutLedger, lines: &[ReportLine]) -> String {
    let c = ledger.currency;
    let mut out = String::from(
        "row,payout,currency,reporting_category,booked_to,transaction,source,order,count,amount,fee,net,unmatched_reason\n",
    );
    let mut row = |fields: [&str; 13]| {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    };
    let currency = c.to_string();
    for b in &ledger.buckets {
        row([
            "total",
            &ledger.payout,
            &currency,
            &b.category,
            booking(b.booking),
            "",
            "",
            "",
            &b.count.to_string(),
            &major(c, b.gross),
            "",
            "",
            "",
        ]);
    }
    row([
        "total",
        &ledger.payout,
        &currency,
        "stripe_fees",
        "fees",
        "",
        "",
        "",
        "",
        "",
        &major(c, ledger.fees),
        &major(c, ledger.net),
        "",
    ]);
    for l in ordered(lines) {
        row([
            if l.unmatched.is_some() {
                "unmatched"
            } else {
                "matched"
            },
            &ledger.payout,
            &currency,
            &l.category,
            booking(l.booking),
            &l.transaction,
            l.source.as_deref().unwrap_or(""),
            l.order.as_deref().unwrap_or(""),
            "1",
            &major(c, l.amount),
            &major(c, l.fee),
            &major(c, l.net),
            l.unmatched.as_deref().unwrap_or(""),
        ]);
    }
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: status, totals by category, then every
/// transaction (unmatched first).
pub fn render_html(ledger: &PayoutLedger, lines: &[ReportLine]) -> String {
    let c = ledger.currency;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe payout {p}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}\
         td.n{{text-align:right}}tr.unmatched{{background:#fde2e2}}</style></head><body>\
         <h1>Stripe payout {p} ({cur})</h1><p>{status}</p>\
         <p>{n} transactions, {u} matched to no order (booked to suspense). Net {net}, Stripe fees {fees}.</p>\
         <h2>Totals by reporting category</h2><table><tr><th>Category</th><th>Booked to</th><th>Count</th><th>Gross</th></tr>",
        p = esc(&ledger.payout),
        cur = c,
        status = esc(&status_text(ledger)),
        n = ledger.transactions,
        u = ledger.unmatched,
        net = major(c, ledger.net),
        fees = major(c, ledger.fees),
    );
    for b in &ledger.buckets {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&b.category),
            booking(b.booking),
            b.count,
            major(c, b.gross)
        );
    }
    h.push_str(
        "</table><h2>Transactions (unmatched first)</h2><table><tr><th>Transaction</th><th>Category</th>\
         <th>Source</th><th>Order</th><th>Amount</th><th>Fee</th><th>Net</th><th>Unmatched because</th></tr>",
    );
    for l in ordered(lines) {
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
            if l.unmatched.is_some() { " class=unmatched" } else { "" },
            esc(&l.transaction),
            esc(&l.category),
            esc(l.source.as_deref().unwrap_or("")),
            esc(l.order.as_deref().unwrap_or("")),
            major(c, l.amount),
            major(c, l.fee),
            major(c, l.net),
            esc(l.unmatched.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table></body></html>\n");
    h
}
