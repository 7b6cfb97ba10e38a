//! AWS adapters for Tally's ports and the Lambda glue every function shares.
//! Clients are built once per container by `config::load` and passed in.

pub mod config;
pub mod dynamodb;
pub mod function_url;
pub mod logging;
pub mod payout_reports;
pub mod secrets_manager;
pub mod sqs;
pub mod sqs_batch;
pub mod state;
