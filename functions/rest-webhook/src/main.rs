//! A declarative platform's webhook endpoint (Function URL), deployed once
//! per platform that can call a URL (`REST_PLATFORM` names its
//! `rest_platforms` entry): checks Tally's `X-Tally-Signature` over the raw
//! body and enqueues the order the body names, as a hint the handler
//! confirms by re-reading the order. Reads only the webhook's signing secrets.

use lambda_http::Error;
use tally_aws::config::{self, required, tally_config};
use tally_aws::function_url::run_webhook;
use tally_core::commerce::declarative::RestWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let name = required("REST_PLATFORM")?;
    let mapping = tally_config()?.rest_platform(&name)?;
    let webhook = mapping.webhook.ok_or_else(|| {
        format!("rest_platforms.{name}.webhook: the mapping says nothing of webhooks, so this endpoint cannot read one")
    })?;
    let source = RestWebhook {
        // named once per container
        platform: Box::leak(name.into_boxed_str()),
        store: mapping.store,
        mapping: webhook,
    };
    run_webhook(&config::load().await, source, "WEBHOOK_SECRET_ID").await
}
