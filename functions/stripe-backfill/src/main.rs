//! Stripe backfill (scheduled, and invoked by `tally backfill`): every event
//! Stripe has of a routed type, in a trailing window, that the events journal
//! has not recorded goes on its flow's queue (`tally_core::flows::backfill`).
//! Emits `BackfillRecovered` as an EMF metric: anything above zero means
//! webhooks are being lost and is alarmed on. A run reads pages while the
//! invocation has time for one; `BackfillTruncated` (alarmed) says it ran out
//! before the window's end, and `tally backfill` resumes where it stopped.
//! An invocation may override the window: `{"since_secs", "min_age_secs", "resume_after", "dry_run"}`; or
//! replay journaled events instead: `{"replay": ["evt_...", ...]}` (`tally replay`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use std::sync::Arc;
use tally_aws::config::{self, cached_secret, flow_queues, parsed_or, required, tally_config};
use tally_aws::dynamodb::DynamoEventJournal;
use tally_core::clock::{Clock, SystemClock};
use tally_core::deadline::{from_lambda, within};
use tally_core::flows::backfill::{Backfill, BackfillError, BackfillWindow};
use tally_core::metrics::emf_line;
use tally_core::routing::Flow;
use tally_http::stripe::HttpStripe;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Overrides {
    since_secs: Option<i64>,
    min_age_secs: Option<i64>,
    resume_after: Option<String>,
    dry_run: bool,
    replay: Option<Vec<String>>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let stripe = HttpStripe::new(
        tally_http::client(),
        settings.stripe.clone(),
        Arc::new(cached_secret(&secrets, "STRIPE_API_SECRET_ID")?),
    );
    let journal = DynamoEventJournal::new(
        aws_sdk_dynamodb::Client::new(&aws),
        required("EVENTS_TABLE")?,
        parsed_or("EVENT_RETENTION_DAYS", 400)?,
    );
    let queues = flow_queues(&sqs, &Flow::ALL)?;
    let window_secs: i64 = parsed_or("BACKFILL_WINDOW_SECS", 86_400)?;
    let min_age_secs: i64 = parsed_or("BACKFILL_MIN_AGE_SECS", 300)?;
    let max_pages: u32 = parsed_or("BACKFILL_MAX_PAGES", 1000)?;
    let backfill = Backfill {
        stripe: &stripe,
        journal: &journal,
        queues: &queues,
        clock: &SystemClock,
    };
    let backfill = &backfill;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let answer = invoke(backfill, window_secs, min_age_secs, max_pages, event).await;
            tally_core::metrics::flush_call_metrics(SystemClock.now_ms());
            answer
        },
    ))
    .await
}

async fn invoke(
    backfill: &Backfill<'_>,
    window_secs: i64,
    min_age_secs: i64,
    max_pages: u32,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let now_ms = SystemClock.now_ms();
    let asked: Overrides = serde_json::from_value(event.payload).unwrap_or_default();
    let window = BackfillWindow {
        since_secs: asked.since_secs.unwrap_or(now_ms / 1000 - window_secs),
        min_age_secs: asked.min_age_secs.unwrap_or(min_age_secs),
        max_pages,
    };
    let deadline = from_lambda(event.context.deadline, now_ms);
    if let Some(ids) = &asked.replay {
        let replayed = within(deadline, backfill.replay(ids))
            .await
            .map_err(|e: BackfillError| Error::from(e.to_string()))?;
        return Ok(serde_json::to_value(&replayed)?);
    }
    let report = within(deadline, async {
        backfill
            .run(window, asked.resume_after, asked.dry_run, &|_| {})
            .await
    })
    .await
    .map_err(|e: BackfillError| Error::from(e.to_string()))?;
    if report.truncated {
        tracing::warn!(
            pages = report.pages,
            resume_after = report.resume_after.as_deref().unwrap_or(""),
            "backfill stopped before the window's end; `tally backfill` resumes it"
        );
    }
    if !report.dry_run {
        println!(
            "{}",
            emf_line(
                SystemClock.now_ms(),
                &[("Function", "stripe-backfill")],
                &[
                    ("BackfillRecovered", report.recovered as f64, "Count"),
                    ("BackfillListed", report.listed as f64, "Count"),
                    (
                        "BackfillTruncated",
                        f64::from(u8::from(report.truncated)),
                        "Count"
                    ),
                ],
            )
        );
    }
    Ok(serde_json::to_value(&report)?)
}
