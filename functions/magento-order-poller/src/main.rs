//! Magento order poller (scheduled): finds orders updated since the watermark
//! and enqueues those awaiting payment, for stores without outbound webhooks.
//! Returns the poll report; a failure fails the invocation and leaves the
//! watermark where it was, so the next run covers the same orders.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tally_aws::config::{self, cached_secret, parsed_or, required, tally_config};
use tally_aws::sqs::SqsQueue;
use tally_aws::state::DynamoState;
use tally_core::clock::SystemClock;
use tally_core::config::TallyConfig;
use tally_core::flows::order_poller::OrderPoller;
use tally_http::magento::MagentoRest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let platform = MagentoRest::new(
        tally_http::client(),
        TallyConfig::require(&settings.magento.base_url, "magento.base_url")?,
        settings.magento.clone(),
        Arc::new(cached_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            "MAGENTO_SECRET_ID",
        )?),
    );
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        required("PAYMENTS_QUEUE_URL")?,
    );
    let state = DynamoState::new(
        aws_sdk_dynamodb::Client::new(&aws),
        required("IDEMPOTENCY_TABLE")?,
    );
    let poller = OrderPoller {
        platform: &platform,
        queue: &queue,
        watermarks: &state,
        clock: &SystemClock,
        page_size: settings.magento.page_size,
        initial_lookback_secs: parsed_or("POLL_INITIAL_LOOKBACK_SECS", 86_400)?,
    };
    let poller = &poller;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        poller.poll().await.map_err(Error::from)
    }))
    .await
}
