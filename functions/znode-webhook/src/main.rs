//! Znode 10 webhook endpoint (Function URL): checks the shared secret the
//! merchant configured, and enqueues the order the call names as a hint for
//! the handler to re-read. Reads only the webhook's shared secrets.

use lambda_http::Error;
use tally_aws::config::{self, tally_config};
use tally_aws::function_url::run_webhook;
use tally_core::commerce::znode::ZnodeWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let source = ZnodeWebhook {
        portal_id: tally_config()?.znode.portal_id,
    };
    run_webhook(&config::load().await, source, "ZNODE_WEBHOOK_SECRET_ID").await
}
