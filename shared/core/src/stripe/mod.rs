//! Stripe: webhook signatures, the event envelope, and typed objects.

pub mod api;
pub mod event;
pub mod objects;
pub mod signature;

pub use api::{key_livemode, metadata_search_query, NewPaymentIntent, StripeApi, StripeApiError};
pub use event::{EnvelopeError, EventEnvelope};
pub use signature::{SignatureError, SignatureVerifier, VerifiedPayload};
