//! Magento 2 / Adobe Commerce: its order JSON and its webhook signature.

mod order_json;
mod webhook;
mod webhook_source;

pub use order_json::{parse_order, MagentoOrder, PLATFORM};
pub use webhook::{
    MagentoWebhookVerifier, VerifiedMagentoWebhook, WebhookError, WebhookPayload, SIGNATURE_HEADER,
};
pub use webhook_source::{MagentoWebhook, MagentoWebhookKeys, ORDER_EVENTS};
