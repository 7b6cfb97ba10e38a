//! Stripe webhook endpoint (Function URL): verify, route, enqueue. Builds its
//! dependencies once per container; all logic lives in `tally-core`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{service_fn, Error, Request};
use tally_aws::config::{self, parsed_or, required};
use tally_aws::secrets_manager::SecretsManagerFetcher;
use tally_aws::sqs::SqsQueue;
use tally_core::clock::SystemClock;
use tally_core::ports::Queue;
use tally_core::receiver::StripeReceiver;
use tally_core::routing::Flow;
use tally_core::secrets::{CachedSecret, DEFAULT_MIN_REFRESH_INTERVAL};
use tally_core::stripe::signature::DEFAULT_TOLERANCE_SECS;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let aws = config::load().await;

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut queues: HashMap<Flow, Arc<dyn Queue>> = HashMap::new();
    for flow in Flow::ALL {
        let url = required(flow.queue_url_env())?;
        queues.insert(flow, Arc::new(SqsQueue::new(sqs.clone(), url)));
    }
    let secrets = CachedSecret::new(
        Box::new(SecretsManagerFetcher::new(
            aws_sdk_secretsmanager::Client::new(&aws),
            required("STRIPE_SECRET_ID")?,
        )),
        Duration::from_secs(parsed_or("SECRET_TTL_SECS", 300)?),
        Duration::from_secs(parsed_or(
            "SECRET_MIN_REFRESH_SECS",
            DEFAULT_MIN_REFRESH_INTERVAL.as_secs(),
        )?),
    );
    let receiver = StripeReceiver::new(
        secrets,
        queues,
        parsed_or("SIGNATURE_TOLERANCE_SECS", DEFAULT_TOLERANCE_SECS)?,
        Arc::new(SystemClock),
    );
    if let Err(err) = receiver.warm().await {
        tracing::warn!(error = %err, "could not read the Stripe secret at init; will retry per request");
    }
    let receiver = &receiver;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(tally_aws::http::handle_stripe_webhook(receiver, request).await)
    }))
    .await
}
