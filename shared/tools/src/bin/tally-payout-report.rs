//! Renders a payout's reconciliation report from its stored record.
//!
//!   tally-payout-report po_... [--csv FILE] [--html FILE]
//!
//! Reads the table named by `PAYOUT_REPORTS_TABLE` (the stack's
//! `PayoutReportsTableName` output) with the standard AWS configuration
//! (`AWS_ENDPOINT_URL` for an emulator). Prints the payout's status; writes
//! the CSV and HTML where asked, or the CSV to stdout when neither is.

use std::process::ExitCode;

use tally_aws::payout_reports::DynamoPayoutReports;
use tally_core::payouts::{render_csv, render_html, status_text};
use tally_core::ports::PayoutReports;

struct Args {
    payout: String,
    csv: Option<String>,
    html: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut payout, mut csv, mut html) = (None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--csv" => csv = Some(args.next().ok_or("--csv needs a file")?),
            "--html" => html = Some(args.next().ok_or("--html needs a file")?),
            p if p.starts_with("po_") && payout.is_none() => payout = Some(p.to_string()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Args {
        payout: payout.ok_or("name a payout (po_...)")?,
        csv,
        html,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let table = std::env::var("PAYOUT_REPORTS_TABLE")
        .map_err(|_| "set PAYOUT_REPORTS_TABLE to the stack's PayoutReportsTableName")?;
    let aws = tally_aws::config::load().await;
    let reports = DynamoPayoutReports::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let ledger = reports
        .ledger(&args.payout)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no report for payout {}", args.payout))?;
    let lines = reports
        .lines(&args.payout)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "payout {} ({}): {}; {} transactions, {} unmatched",
        ledger.payout,
        ledger.currency,
        status_text(&ledger),
        ledger.transactions,
        ledger.unmatched
    );
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
    };
    if let Some(path) = &args.csv {
        write(path, render_csv(&ledger, &lines))?;
    }
    if let Some(path) = &args.html {
        write(path, render_html(&ledger, &lines))?;
    }
    if args.csv.is_none() && args.html.is_none() {
        print!("{}", render_csv(&ledger, &lines));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse(std::env::args().skip(1)) {
        Ok(args) => run(args).await,
        Err(e) => Err(format!(
            "{e}\nusage: tally-payout-report po_... [--csv FILE] [--html FILE]"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tally-payout-report: {e}");
            ExitCode::FAILURE
        }
    }
}
