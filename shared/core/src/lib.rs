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
/// In-memory adapters of every port: for tests, benchmarks and local tools,
/// never in a deployed function (enable the `testkit` feature to use them).
#[cfg(any(test, feature = "testkit"))]
pub mod memory;
pub mod message;
pub mod metrics;
pub mod money;
pub mod payouts;
pub mod ports;
pub mod routing;
pub mod secrets;
pub mod stripe;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod webhook;
