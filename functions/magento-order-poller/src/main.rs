//! Magento order poller (scheduled): finds orders changed since its saved key
//! and enqueues those awaiting a Stripe payment. The primary intake for Magento
//! Open Source (no webhooks) and the safety net behind Adobe Commerce webhooks.
//! Progress is saved after every page; a failure leaves the key where the last
//! page put it, so the next run covers the rest.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tally_aws::config::{self, cached_secret, parsed_or, required, tally_config};
use tally_aws::sqs::SqsQueue;
use tally_aws::state::DynamoState;
use tally_core::clock::{Clock, SystemClock};
use tally_core::config::TallyConfig;
use tally_core::deadline::{from_lambda, within};
use tally_core::flows::order_poller::OrderPoller;
use tally_http::magento::MagentoRest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let platform = MagentoRest::new(
        tally_http::client(),
        TallyConfig::require(&settings.magento.base_url, "magento.base_url")?,
        settings.magento.clone(),
        Arc::new(cached_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            "MAGENTO_API_SECRET_ID",
        )?),
    );
    let queue = SqsQueue::new(sqs.clone(), required("PAYMENTS_QUEUE_URL")?);
    let dead_letters = SqsQueue::new(sqs, required("DEAD_LETTER_QUEUE_URL")?);
    let state = DynamoState::new(
        aws_sdk_dynamodb::Client::new(&aws),
        required("IDEMPOTENCY_TABLE")?,
    );
    let poller = OrderPoller {
        platform: &platform,
        queue: &queue,
        dead_letters: &dead_letters,
        watermarks: &state,
        clock: &SystemClock,
        rules: &settings.order_to_cash,
        page_size: settings.magento.page_size,
        initial_lookback_secs: parsed_or("POLL_INITIAL_LOOKBACK_SECS", 86_400)?,
        max_pages: parsed_or("POLL_MAX_PAGES", 200)?,
    };
    let poller = &poller;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = from_lambda(event.context.deadline, SystemClock.now_ms());
        within(deadline, poller.poll()).await.map_err(Error::from)
    }))
    .await
}
