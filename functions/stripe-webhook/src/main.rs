//! Stripe webhook endpoint (Function URL): verify, route, enqueue. Reads only
//! the webhook signing secrets, never the API key. All logic is in `tally-core`.

use lambda_http::Error;
use tally_aws::config::{self, parsed_or};
use tally_aws::function_url::run_webhook;
use tally_core::stripe::signature::DEFAULT_TOLERANCE_SECS;
use tally_core::stripe::webhook::StripeWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let source = StripeWebhook {
        tolerance_secs: parsed_or("SIGNATURE_TOLERANCE_SECS", DEFAULT_TOLERANCE_SECS)?,
    };
    run_webhook(&config::load().await, source, "STRIPE_WEBHOOK_SECRET_ID").await
}
