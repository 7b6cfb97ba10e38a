//! Stripe: webhook signatures and the Stripe webhook source, the event
//! envelope, typed objects, and the API port.

pub mod api;
pub mod event;
pub mod event_list;
pub mod objects;
pub mod payout_list;
pub mod signature;
pub mod webhook;

pub use api::{
    key_livemode, metadata_search_query, CustomerWrite, NewPaymentIntent, NewRefund, StripeApi,
    StripeApiError,
};
pub use event::{EnvelopeError, EventEnvelope};
pub use payout_list::{parse_payout_transactions, PayoutTransaction, PayoutTransactionsPage};
pub use signature::{SignatureError, SignatureVerifier, VerifiedPayload};
