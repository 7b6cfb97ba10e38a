//! Adobe Commerce webhook endpoint (Function URL): verify the RSA signature,
//! normalize the order, enqueue `order.created` on the payments queue.

use std::sync::Arc;

use lambda_http::{service_fn, Error, Request};
use tally_aws::config::{self, cached_secret, required, tally_config};
use tally_aws::sqs::SqsQueue;
use tally_core::clock::SystemClock;
use tally_core::commerce::magento::MagentoReceiver;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let receiver = MagentoReceiver::new(
        cached_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            "MAGENTO_SECRET_ID",
        )?,
        Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            required("PAYMENTS_QUEUE_URL")?,
        )),
        settings.magento.store_code.clone(),
        Arc::new(SystemClock),
    );
    if let Err(err) = receiver.warm().await {
        tracing::warn!(error = %err, "could not read the Magento secret at init; will retry per request");
    }
    let receiver = &receiver;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(tally_aws::http::handle_magento_webhook(receiver, request).await)
    }))
    .await
}
