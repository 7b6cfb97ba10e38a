//! Stripe webhook endpoint (Function URL): verify, route, enqueue. Reads only
//! the webhook signing secrets, never the API key. All logic is in `tally-core`.

use std::sync::Arc;

use lambda_http::{service_fn, Error, Request};
use tally_aws::config::{self, cached_secret, flow_queues, parsed_or};
use tally_aws::function_url::handle_webhook;
use tally_core::clock::SystemClock;
use tally_core::stripe::signature::DEFAULT_TOLERANCE_SECS;
use tally_core::stripe::webhook::StripeWebhook;
use tally_core::webhook::WebhookReceiver;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let aws = config::load().await;
    let receiver = WebhookReceiver::new(
        StripeWebhook {
            tolerance_secs: parsed_or("SIGNATURE_TOLERANCE_SECS", DEFAULT_TOLERANCE_SECS)?,
        },
        cached_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            "STRIPE_WEBHOOK_SECRET_ID",
        )?,
        flow_queues(&aws_sdk_sqs::Client::new(&aws))?,
        Arc::new(SystemClock),
    );
    if let Err(err) = receiver.warm().await {
        tracing::warn!(error = %err, "could not read the signing secrets at init; will retry per request");
    }
    let receiver = &receiver;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle_webhook(receiver, request).await)
    }))
    .await
}
