//! The flows: plain functions over ports, one module per queue.

mod journal;
mod keyed_walk;
pub mod order_poller;
pub mod order_to_cash;
pub mod payments;
pub mod payouts;
pub mod refund_poller;
pub mod refunds;

pub use journal::journal_once;
