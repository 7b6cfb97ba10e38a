use crate::commerce::PlatformError;
use crate::erp::{EntryError, ErpError};
use crate::error::{Retryable, StoreError};
use crate::stripe::StripeApiError;

#[derive(Debug, thiserror::Error)]
pub enum O2cError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    #[error(transparent)]
    Erp(#[from] ErpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("step {0} is in progress in another worker")]
    Busy(String),
    /// Something this event needs has not happened yet (a refund of a payment
    /// the platform does not show yet): retried with backoff until it has.
    #[error("not yet: {0}")]
    NotYet(String),
    #[error("event cannot be processed: {0}")]
    Invalid(String),
    /// Money that does not add up: needs a person, never a silent fix.
    #[error("needs review: {0}")]
    NeedsReview(String),
}

impl From<EntryError> for O2cError {
    fn from(e: EntryError) -> Self {
        O2cError::Erp(ErpError::Entry(e))
    }
}

impl Retryable for O2cError {
    fn is_retryable(&self) -> bool {
        match self {
            O2cError::Platform(e) => e.is_retryable(),
            O2cError::Stripe(e) => e.is_retryable(),
            O2cError::Erp(e) => e.is_retryable(),
            O2cError::Store(e) => e.is_retryable(),
            O2cError::Busy(_) | O2cError::NotYet(_) => true,
            O2cError::Invalid(_) | O2cError::NeedsReview(_) => false,
        }
    }

    fn is_contention(&self) -> bool {
        matches!(self, O2cError::Busy(_))
    }
}
