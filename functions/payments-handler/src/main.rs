//! Payments handler (SQS): Stripe payment events and platform order events
//! through the payments flow and order-to-cash, with partial batch failures.
//! Builds every client, secret cache and the configuration once per container.

use std::sync::Arc;

use lambda_runtime::Error;
use tally_aws::config::{
    self, batch_settings, cached_secret, lease_secs, parsed_or, required, rest_api_secret,
    tally_config,
};
use tally_aws::dynamodb::{DynamoEventJournal, DynamoIdempotencyStore};
use tally_aws::sqs::SqsQueue;
use tally_aws::sqs_batch::run_sqs_handler;
use tally_aws::state::DynamoState;
use tally_core::clock::SystemClock;
use tally_core::commerce::{CommercePlatform, Platforms};
use tally_core::config::TallyConfig;
use tally_core::flows::customers::CustomerSync;
use tally_core::flows::order_to_cash::{OrderToCash, OrderToCashSettings};
use tally_core::flows::payments::PaymentsHandler;
use tally_http::{
    declarative::RestPlatform, kentico::KenticoRest, magento::MagentoRest, stripe::HttpStripe,
    znode::ZnodeRest,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let settings = tally_config()?;
    let batch = batch_settings()?;
    let lease_secs = lease_secs()?;
    let aws = config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let http = tally_http::client();
    let clock = Arc::new(SystemClock);
    let table = required("IDEMPOTENCY_TABLE")?;
    let store = Arc::new(DynamoIdempotencyStore::new(dynamodb.clone(), table.clone()));
    let stripe = Arc::new(HttpStripe::new(
        http.clone(),
        settings.stripe.clone(),
        Arc::new(cached_secret(&secrets, "STRIPE_API_SECRET_ID")?),
    ));

    // Every platform the configuration enables (its base URL is set).
    let mut platforms: Vec<Arc<dyn CommercePlatform>> = Vec::new();
    if let Some(base) = &settings.magento.base_url {
        platforms.push(Arc::new(MagentoRest::new(
            http.clone(),
            base,
            settings.magento.clone(),
            Arc::new(cached_secret(&secrets, "MAGENTO_API_SECRET_ID")?),
        )));
    }
    if let Some(base) = &settings.znode.base_url {
        platforms.push(Arc::new(ZnodeRest::new(
            http.clone(),
            base,
            settings.znode.clone(),
            Arc::new(cached_secret(&secrets, "ZNODE_API_SECRET_ID")?),
        )));
    }
    if let Some(base) = &settings.kentico.base_url {
        platforms.push(Arc::new(KenticoRest::new(
            http.clone(),
            base,
            settings.kentico.clone(),
            Arc::new(cached_secret(&secrets, "KENTICO_API_SECRET_ID")?),
        )));
    }
    for name in settings.rest_platforms.keys() {
        platforms.push(Arc::new(RestPlatform::new(
            http.clone(),
            name,
            settings.rest_platform(name)?,
            Arc::new(rest_api_secret(&secrets, name)?),
        )));
    }
    if platforms.is_empty() {
        return Err(
            "no platform is enabled: set magento.base_url, znode.base_url, kentico.base_url or rest_platforms in TallyConfig".into(),
        );
    }
    let platforms = Platforms::new(platforms);
    let state = Arc::new(DynamoState::new(dynamodb.clone(), table));
    let customers = Arc::new(CustomerSync {
        platforms: platforms.clone(),
        stripe: stripe.clone(),
        links: state.clone(),
        store: store.clone(),
        clock: clock.clone(),
        lease_secs,
        enabled: settings.stripe.sync_customers,
        create_in: settings.customers.create_in(),
    });
    let order_to_cash = OrderToCash {
        platforms,
        stripe: stripe.clone(),
        erp: tally_http::erp_adapter(
            http,
            TallyConfig::require(&settings.erp.base_url, "erp.base_url")?,
            &settings.erp,
            clock.clone(),
            tally_aws::config::erp_credentials(&secrets)?,
        ),
        links: state,
        customers,
        store: store.clone(),
        clock: clock.clone(),
        settings: OrderToCashSettings {
            rules: settings.order_to_cash.clone(),
            accounts: settings.erp.accounts.clone(),
            paid_orders: settings.erp.paid_orders,
            send_description: settings.stripe.send_description,
            lease_secs,
        },
    };
    let handler = PaymentsHandler {
        store,
        journal: Arc::new(DynamoEventJournal::new(
            dynamodb,
            required("EVENTS_TABLE")?,
            parsed_or("EVENT_RETENTION_DAYS", 400)?,
        )),
        clock: clock.clone(),
        lease_secs,
        stripe,
        order_to_cash: Arc::new(order_to_cash),
    };
    let dead_letters = SqsQueue::new(sqs.clone(), required("DEAD_LETTER_QUEUE_URL")?);
    let source = SqsQueue::new(sqs, required("QUEUE_URL")?);
    run_sqs_handler(&handler, &dead_letters, &source, clock.as_ref(), &batch).await
}
