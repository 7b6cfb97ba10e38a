//! Znode (Multifront 9.x REST, PascalCase JSON in `BaseResponse` envelopes):
//! its order JSON. Facts and sources: `../shared/platforms/znode.md`.

mod address_json;
mod customer_json;
mod order_json;
mod refund_json;
mod return_json;
mod webhook_source;

pub use address_json::{
    address_from, address_modified, address_write, billing_address, AddressPerson,
    ZnodeAddressWrite,
};
pub use customer_json::{customer_from, user_id, user_update};
pub use order_json::{
    parse_order, parse_order_response, payment_state, OrderJsonError, ZnodeOrder, PLATFORM,
};
pub use refund_json::{refund_note, refund_view, ZnodeRefundView, REFUND_NOTE_PREFIX};
pub use return_json::{
    parse_return, parse_return_list, return_order_id, ReturnRow, ZnodeReturn,
    AWAITING_RETURN_STATUSES, RETURN_APPROVED, RETURN_PARTIALLY_APPROVED, RETURN_REFUND_PROCESSED,
};
pub use webhook_source::{ZnodeWebhook, ZnodeWebhookKeys, SECRET_HEADER, SECRET_PARAM};
