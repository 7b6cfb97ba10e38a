//! Failure classification shared by every flow: the batch helper retries what
//! is retryable and dead-letters the rest.

/// Whether trying the same work again later can succeed.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
    /// The work is held by another worker (a lock or claim with a lease): the
    /// message is waiting, not failing, so waiting does not spend its failure
    /// budget (`batch`).
    fn is_contention(&self) -> bool {
        false
    }
}

/// A failure of a storage port (idempotency store, event journal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("claim on {key} was lost to another worker before completion")]
    LostClaim { key: String },
    #[error("store holds an unreadable item: {0}")]
    Corrupt(String),
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::LostClaim { .. } => true,
            StoreError::Corrupt(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sending to queue {queue} failed: {message}")]
pub struct QueueError {
    pub queue: String,
    pub message: String,
}

impl Retryable for QueueError {
    fn is_retryable(&self) -> bool {
        true
    }
}
