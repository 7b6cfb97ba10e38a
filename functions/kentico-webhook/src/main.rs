//! Kentico webhook endpoint (Function URL): checks the signature of an order
//! task a merchant's integration-bus connector posts (README, "Kentico"), and
//! enqueues the order it names as a hint for the handler to re-read through
//! Kentico's REST service. Reads only the webhook's signing secrets.

use lambda_http::Error;
use tally_aws::config::{self, tally_config};
use tally_aws::function_url::run_webhook;
use tally_core::commerce::kentico::KenticoWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let source = KenticoWebhook {
        site: tally_config()?.kentico.site_name,
    };
    run_webhook(&config::load().await, source, "KENTICO_WEBHOOK_SECRET_ID").await
}
