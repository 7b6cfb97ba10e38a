//! The flows: plain functions over ports, one module per queue.

pub mod payments;
