//! The flows: plain functions over ports, one module per queue.

pub mod backfill;
pub mod customers;
mod keyed_walk;
pub mod order_poller;
pub mod order_to_cash;
pub mod payments;
pub mod payouts;
pub mod refund_poller;
pub mod refunds;
mod stripe_events;

pub use stripe_events::{admit, journal_once, Refused};
