//! Adobe Commerce webhook endpoint (Function URL): verify the RSA signature,
//! normalize the order, enqueue `order.created` on the payments queue. Reads
//! only the webhook public keys, never the integration token.

use lambda_http::Error;
use tally_aws::config::{self, tally_config};
use tally_aws::function_url::run_webhook;
use tally_core::commerce::magento::MagentoWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let source = MagentoWebhook {
        store_code: tally_config()?.magento.store_code,
    };
    run_webhook(&config::load().await, source, "MAGENTO_WEBHOOK_SECRET_ID").await
}
