//! Znode (Multifront 9.x REST, PascalCase JSON in `BaseResponse` envelopes):
//! its order JSON. Facts and sources: `../shared/platforms/znode.md`.

mod order_json;

pub use order_json::{
    parse_order, parse_order_response, payment_state, OrderJsonError, ZnodeOrder, PLATFORM,
};
