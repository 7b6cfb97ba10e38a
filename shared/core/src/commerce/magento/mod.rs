//! Magento 2 / Adobe Commerce: its order, credit memo and return (RMA) JSON and its webhook signature.

mod creditmemo_json;
mod customer_json;
mod order_json;
mod rma_json;
mod webhook;
mod webhook_source;

pub use creditmemo_json::{
    creditmemo_comment_request, order_item_ids, parse_creditmemos, parse_polled_creditmemos,
    refund_request,
};
pub use customer_json::{customer_update_request, new_customer_request, parse_customer};
pub use order_json::{parse_order, MagentoOrder, PLATFORM};
pub use rma_json::{
    parse_returns, return_amount, return_comment_request, rma_entity_of, rma_marker, rma_record_id,
    ReadReturn, PROCESSED_CLOSED,
};
pub use webhook::{
    MagentoWebhookVerifier, VerifiedMagentoWebhook, WebhookError, WebhookPayload, SIGNATURE_HEADER,
};
pub use webhook_source::{MagentoWebhook, MagentoWebhookKeys, CUSTOMER_EVENTS, ORDER_EVENTS};
