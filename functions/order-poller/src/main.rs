//! Order poller (scheduled), one binary for every platform (`POLL_PLATFORM`:
//! `magento`, `znode`, `kentico` or a `rest_platforms` name), deployed once per platform: finds orders changed
//! since its saved key and enqueues those awaiting a Stripe payment. The intake
//! for platforms without outbound webhooks, and the safety net behind those
//! with them. Then the refunds made on the platform (Magento's credit memos
//! since their own key; Znode's approved returns), to be refunded in Stripe. Progress is saved after every page; a failure leaves the key where
//! the last page put it, so the next run covers the rest.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tally_aws::config::{self, cached_secret, parsed_or, required, rest_api_secret, tally_config};
use tally_aws::dynamodb::DynamoIdempotencyStore;
use tally_aws::sqs::SqsQueue;
use tally_aws::state::DynamoState;
use tally_core::clock::{Clock, SystemClock};
use tally_core::commerce::CommercePlatform;
use tally_core::config::TallyConfig;
use tally_core::deadline::{from_lambda, within};
use tally_core::flows::customers::CustomerPoller;
use tally_core::flows::order_poller::{OrderPoller, PollError};
use tally_core::flows::refund_poller::RefundPoller;
use tally_core::metrics::emf_line;
use tally_core::ports::Watermarks;
use tally_http::{
    declarative::RestPlatform, kentico::KenticoRest, magento::MagentoRest, znode::ZnodeRest,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let aws = config::load().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let platform_name = required("POLL_PLATFORM")?;
    let (platform, page_size): (Arc<dyn CommercePlatform>, u32) = match platform_name.as_str() {
        "magento" => (
            Arc::new(MagentoRest::new(
                tally_http::client(),
                TallyConfig::require(&settings.magento.base_url, "magento.base_url")?,
                settings.magento.clone(),
                Arc::new(cached_secret(&secrets, "MAGENTO_API_SECRET_ID")?),
            )),
            settings.magento.page_size,
        ),
        "znode" => (
            Arc::new(ZnodeRest::new(
                tally_http::client(),
                TallyConfig::require(&settings.znode.base_url, "znode.base_url")?,
                settings.znode.clone(),
                Arc::new(cached_secret(&secrets, "ZNODE_API_SECRET_ID")?),
            )),
            settings.znode.page_size,
        ),
        "kentico" => (
            Arc::new(KenticoRest::new(
                tally_http::client(),
                TallyConfig::require(&settings.kentico.base_url, "kentico.base_url")?,
                settings.kentico.clone(),
                Arc::new(cached_secret(&secrets, "KENTICO_API_SECRET_ID")?),
            )),
            settings.kentico.page_size,
        ),
        rest if settings.rest_platforms.contains_key(rest) => {
            let mapping = settings.rest_platform(rest)?;
            let page_size = mapping.page_size;
            (
                Arc::new(RestPlatform::new(
                    tally_http::client(),
                    rest,
                    mapping,
                    Arc::new(rest_api_secret(&secrets, rest)?),
                )),
                page_size,
            )
        }
        other => {
            return Err(format!(
                "POLL_PLATFORM {other:?} is not magento, znode, kentico or one of rest_platforms"
            )
            .into())
        }
    };
    let queue = SqsQueue::new(sqs.clone(), required("PAYMENTS_QUEUE_URL")?);
    let dead_letters = SqsQueue::new(sqs, required("DEAD_LETTER_QUEUE_URL")?);
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let table = required("IDEMPOTENCY_TABLE")?;
    let state = DynamoState::new(dynamodb.clone(), table.clone());
    // where the payments handler marks platform refunds it sent to review
    let reviews = DynamoIdempotencyStore::new(dynamodb, table);
    let poller = OrderPoller {
        platform: platform.as_ref(),
        queue: &queue,
        dead_letters: &dead_letters,
        watermarks: &state,
        clock: &SystemClock,
        rules: &settings.order_to_cash,
        page_size,
        initial_lookback_secs: parsed_or("POLL_INITIAL_LOOKBACK_SECS", 86_400)?,
        max_pages: parsed_or("POLL_MAX_PAGES", 200)?,
    };
    let refunds = RefundPoller {
        platform: platform.as_ref(),
        queue: &queue,
        dead_letters: &dead_letters,
        watermarks: &state,
        reviews: &reviews,
        clock: &SystemClock,
        page_size,
        initial_lookback_secs: poller.initial_lookback_secs,
        max_pages: poller.max_pages,
    };
    let customers = CustomerPoller {
        platform: platform.as_ref(),
        queue: &queue,
        watermarks: &state,
        clock: &SystemClock,
        page_size,
        initial_lookback_secs: poller.initial_lookback_secs,
        max_pages: poller.max_pages,
    };
    let sync_customers = settings.stripe.sync_customers;
    let (poller, refunds, customers, state, platform_name) =
        (&poller, &refunds, &customers, &state, &platform_name);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = from_lambda(event.context.deadline, SystemClock.now_ms());
        let answer = within(deadline, async {
            let orders = poller.poll().await?;
            let mut report = serde_json::to_value(&orders).unwrap_or_default();
            report["refunds"] = serde_json::to_value(refunds.poll().await?).unwrap_or_default();
            if sync_customers {
                report["customers"] =
                    serde_json::to_value(customers.poll().await?).unwrap_or_default();
            }
            // `tally status` shows when each poller last finished
            if let Err(e) = state
                .mark_completed(&poller.watermark_name(), SystemClock.now_ms())
                .await
            {
                tracing::warn!(error = %e, "could not note the poll's completion");
            }
            Ok::<_, PollError>(report)
        })
        .await
        .map_err(Error::from);
        let now_ms = SystemClock.now_ms();
        // The "no successful poll" alarm watches this count (template: PollerStaleAlarm).
        let completed = if answer.is_ok() { 1.0 } else { 0.0 };
        println!(
            "{}",
            emf_line(
                now_ms,
                &[("Poller", platform_name)],
                &[("PollsCompleted", completed, "Count")]
            )
        );
        tally_core::metrics::flush_call_metrics(now_ms);
        answer
    }))
    .await
}
