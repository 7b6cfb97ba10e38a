//! Magento 2 / Adobe Commerce: its order and credit memo JSON and its webhook signature.

mod creditmemo_json;
mod order_json;
mod webhook;
mod webhook_source;

pub use creditmemo_json::{
    creditmemo_comment_request, order_item_ids, parse_creditmemos, parse_polled_creditmemos,
    refund_request,
};
pub use order_json::{parse_order, MagentoOrder, PLATFORM};
pub use webhook::{
    MagentoWebhookVerifier, VerifiedMagentoWebhook, WebhookError, WebhookPayload, SIGNATURE_HEADER,
};
pub use webhook_source::{MagentoWebhook, MagentoWebhookKeys, ORDER_EVENTS};
