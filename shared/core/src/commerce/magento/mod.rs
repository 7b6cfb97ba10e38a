//! Magento 2 / Adobe Commerce: its order JSON and its webhook signature.

mod order_json;
mod receiver;
mod webhook;

pub use order_json::{parse_order, MagentoOrder, PLATFORM};
pub use receiver::{MagentoReceipt, MagentoReceiver, ORDER_EVENTS};
pub use webhook::{
    MagentoWebhookVerifier, VerifiedMagentoWebhook, WebhookError, WebhookPayload, SIGNATURE_HEADER,
};
