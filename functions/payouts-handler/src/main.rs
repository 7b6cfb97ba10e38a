//! Payouts handler (SQS): Stripe `payout.*` events and Tally's continuations
//! through payout reconciliation, with partial batch failures. Reads only the
//! Stripe API key and the ERP secret; builds every client once per container.

use std::sync::Arc;

use lambda_runtime::Error;
use tally_aws::config::{
    self, batch_settings, cached_secret, lease_secs, parsed_or, required, tally_config,
};
use tally_aws::dynamodb::{DynamoEventJournal, DynamoIdempotencyStore};
use tally_aws::payout_reports::DynamoPayoutReports;
use tally_aws::sqs::SqsQueue;
use tally_aws::sqs_batch::run_sqs_handler;
use tally_core::clock::SystemClock;
use tally_core::config::TallyConfig;
use tally_core::deadline;
use tally_core::flows::payouts::{PayoutReconciliation, PayoutsHandler};
use tally_http::stripe::HttpStripe;

/// Stripe's largest page of balance transactions.
const PAGE_SIZE: u32 = 100;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let batch = batch_settings()?;
    let lease_secs = lease_secs()?;
    // A page is never started with less than MIN_SECS_FOR_A_PAGE left: a shorter
    // timeout would hand a payout from continuation to continuation, reading nothing.
    let timeout: u64 = parsed_or("FUNCTION_TIMEOUT_SECS", 0)?;
    if timeout < 3 * deadline::MIN_SECS_FOR_A_PAGE {
        return Err(format!(
            "FUNCTION_TIMEOUT_SECS is {timeout}: the payouts handler needs at least {} s to read pages",
            3 * deadline::MIN_SECS_FOR_A_PAGE
        )
        .into());
    }
    let aws = config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let http = tally_http::client();
    let clock = Arc::new(SystemClock);
    let store = Arc::new(DynamoIdempotencyStore::new(
        dynamodb.clone(),
        required("IDEMPOTENCY_TABLE")?,
    ));
    let stripe = Arc::new(HttpStripe::new(
        http.clone(),
        settings.stripe.clone(),
        Arc::new(cached_secret(&secrets, "STRIPE_API_SECRET_ID")?),
    ));
    let reconciliation = PayoutReconciliation {
        stripe: stripe.clone(),
        erp: tally_http::erp_adapter(
            http,
            TallyConfig::require(&settings.erp.base_url, "erp.base_url")?,
            &settings.erp,
            clock.clone(),
            tally_aws::config::erp_credentials(&secrets)?,
        ),
        reports: Arc::new(DynamoPayoutReports::new(
            dynamodb.clone(),
            required("PAYOUT_REPORTS_TABLE")?,
        )),
        store: store.clone(),
        clock: clock.clone(),
        accounts: settings.erp.accounts.clone(),
        page_size: parsed_or("PAYOUT_PAGE_SIZE", PAGE_SIZE)?,
        pages_per_invocation: parsed_or("PAYOUT_PAGES_PER_INVOCATION", 0)?,
        lease_secs,
    };
    let source = Arc::new(SqsQueue::new(sqs.clone(), required("QUEUE_URL")?));
    let handler = PayoutsHandler {
        reconciliation: Arc::new(reconciliation),
        store,
        journal: Arc::new(DynamoEventJournal::new(
            dynamodb,
            required("EVENTS_TABLE")?,
            parsed_or("EVENT_RETENTION_DAYS", 400)?,
        )),
        stripe,
        clock: clock.clone(),
        lease_secs,
        continuation: source.clone(),
    };
    let dead_letters = SqsQueue::new(sqs, required("DEAD_LETTER_QUEUE_URL")?);
    run_sqs_handler(&handler, &dead_letters, &source, clock.as_ref(), &batch).await
}
