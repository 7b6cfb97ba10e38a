//! Kentico Xperience 13 (its REST service at `{admin}/rest`, JSON envelopes
//! keyed by object type): order JSON, the payment result XML Kentico keeps on
//! an order, Tally's refund rows, and the signed order tasks an
//! integration-bus connector posts. Facts and sources:
//! `../shared/platforms/kentico.md`.

mod address_json;
mod customer_json;
mod envelope;
mod order_json;
mod payment_result;
mod refund_rows;
mod webhook_source;

pub use address_json::{
    address_from, address_modified, address_write, AddressWrite, Geography, ADDRESS_OBJECT,
    COUNTRY_OBJECT, STATE_OBJECT,
};
pub use customer_json::{customer_fields, customer_from, new_customer_fields, CUSTOMER_OBJECT};
pub use envelope::objects_of;
pub use order_json::{
    kentico_time, order_from, sql_text, Lookups, OrderJsonError, OrderStatus, ORDER_OBJECT,
    PLATFORM,
};
pub use payment_result::{payment_result_items, payment_result_xml};
pub use refund_rows::{RefundRow, REFUND_REFUNDED, REFUND_REQUESTED};
pub use webhook_source::KenticoWebhook;
