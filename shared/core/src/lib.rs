//! Tally's core: the domain and the flows, over ports with in-memory adapters.
//! Nothing here talks to AWS; `tally-aws` provides those adapters.

pub mod batch;
pub mod clock;
pub mod commerce;
pub mod config;
pub mod deadline;
pub mod erp;
pub mod error;
pub mod flows;
pub mod idempotency;
pub mod memory;
pub mod message;
pub mod money;
pub mod ports;
pub mod routing;
pub mod secrets;
pub mod stripe;
pub mod testkit;
pub mod webhook;
