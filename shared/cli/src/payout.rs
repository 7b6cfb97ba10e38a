//! `tally payout <po_...>`: a payout's reconciliation report from its stored record.

use tally_aws::payout_reports::DynamoPayoutReports;
use tally_core::payouts::{render_csv, render_html, status_text};
use tally_core::ports::PayoutReports;

use crate::stack::Stack;

pub async fn report(
    stack: &Stack,
    payout: &str,
    csv: Option<&str>,
    html: Option<&str>,
) -> Result<String, String> {
    let reports = DynamoPayoutReports::new(
        aws_sdk_dynamodb::Client::new(&stack.aws),
        stack.output("PayoutReportsTableName")?.to_string(),
    );
    let ledger = reports
        .ledger(payout)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no report for payout {payout}"))?;
    let lines = reports.lines(payout).await.map_err(|e| e.to_string())?;
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
    };
    if let Some(path) = csv {
        write(path, render_csv(&ledger, &lines))?;
    }
    if let Some(path) = html {
        write(path, render_html(&ledger, &lines))?;
    }
    let summary = format!(
        "payout {} ({}): {}; {} transactions, {} unmatched",
        ledger.payout,
        ledger.currency,
        status_text(&ledger),
        ledger.transactions,
        ledger.unmatched
    );
    Ok(if csv.is_none() && html.is_none() {
        format!("{summary}\n{}", render_csv(&ledger, &lines))
    } else {
        summary
    })
}
