//! The flows: plain functions over ports, one module per queue.

pub mod payments;
pub mod order_to_cash;
