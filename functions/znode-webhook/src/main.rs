//! Znode 10 webhook endpoint (Function URL): checks the shared secret the
//! merchant configured, and enqueues the order the call names as a hint for
//! the handler to re-read. Reads only the webhook's shared secrets.

use std::sync::Arc;

use lambda_http::{service_fn, Error, Request};
use tally_aws::config::{self, cached_secret, flow_queues, tally_config};
use tally_aws::function_url::handle_webhook;
use tally_core::clock::SystemClock;
use tally_core::commerce::znode::ZnodeWebhook;
use tally_core::webhook::WebhookReceiver;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let receiver = WebhookReceiver::new(
        ZnodeWebhook {
            portal_id: settings.znode.portal_id.clone(),
        },
        cached_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            "ZNODE_WEBHOOK_SECRET_ID",
        )?,
        flow_queues(&aws_sdk_sqs::Client::new(&aws))?,
        Arc::new(SystemClock),
    );
    if let Err(err) = receiver.warm().await {
        tracing::warn!(error = %err, "could not read the shared secrets at init; will retry per request");
    }
    let receiver = &receiver;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle_webhook(receiver, request).await)
    }))
    .await
}
