//! Do a piece of work at most once per key, over any `IdempotencyStore`.

use std::future::Future;

use crate::clock::Clock;
use crate::error::{Retryable, StoreError};
use crate::ports::{Claim, IdempotencyStore};

/// Long enough for a handler's work, short enough that a crashed worker's
/// claim is taken over by the next redelivery.
pub const DEFAULT_LEASE_SECS: i64 = 60;

#[derive(Debug, PartialEq, Eq)]
pub enum Once {
    /// The work ran now; its result is recorded.
    Ran(String),
    /// The work had run before; this is the result recorded then.
    AlreadyDone(String),
}

#[derive(Debug, thiserror::Error)]
pub enum OnceError<E> {
    #[error("{key} is being processed by another worker (lease until {lease_expires_at})")]
    Busy { key: String, lease_expires_at: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Work(E),
}

impl<E: Retryable> Retryable for OnceError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            OnceError::Busy { .. } => true,
            OnceError::Store(e) => e.is_retryable(),
            OnceError::Work(e) => e.is_retryable(),
        }
    }
}

/// What a key records, read without doing its work.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The work ran to completion; its result.
    Done(String),
    /// Another worker holds the key.
    InProgress,
    /// Nothing recorded (the brief claim made to look is given back).
    Absent,
}

/// Whether the work under `key` ran, without running it.
pub async fn peek(
    store: &dyn IdempotencyStore,
    clock: &dyn Clock,
    key: &str,
) -> Result<Recorded, StoreError> {
    Ok(
        match store
            .claim(key, clock.now_secs(), DEFAULT_LEASE_SECS)
            .await?
        {
            Claim::Completed { result } => Recorded::Done(result),
            Claim::InProgress { .. } => Recorded::InProgress,
            Claim::Acquired(token) => {
                store.release(key, &token).await?;
                Recorded::Absent
            }
        },
    )
}

/// Claims `key`, runs `work`, records its result. A failed `work` releases
/// the claim so the retry can start at once; the work itself must be safe to
/// repeat (a crash between work and completion repeats it).
pub async fn run_once<F, Fut, E>(
    store: &dyn IdempotencyStore,
    clock: &dyn Clock,
    key: &str,
    lease_secs: i64,
    work: F,
) -> Result<Once, OnceError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, E>>,
{
    let token = match store.claim(key, clock.now_secs(), lease_secs).await? {
        Claim::Acquired(token) => token,
        Claim::Completed { result } => return Ok(Once::AlreadyDone(result)),
        Claim::InProgress { lease_expires_at } => {
            return Err(OnceError::Busy {
                key: key.to_string(),
                lease_expires_at,
            })
        }
    };
    match work().await {
        Ok(result) => {
            store
                .complete(key, &token, &result, clock.now_secs())
                .await?;
            Ok(Once::Ran(result))
        }
        Err(err) => {
            if let Err(release_err) = store.release(key, &token).await {
                tracing::warn!(error = %release_err, key, "could not release claim; it expires with its lease");
            }
            Err(OnceError::Work(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryIdempotencyStore;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;
    impl Retryable for Boom {
        fn is_retryable(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn second_run_returns_the_recorded_result_without_working() {
        let store = MemoryIdempotencyStore::new();
        let clock = ManualClock::at_secs(1000);
        let first = run_once(store.as_ref(), &clock, "k", 60, || async {
            Ok::<_, Boom>("r1".to_string())
        })
        .await;
        assert_eq!(first.unwrap(), Once::Ran("r1".into()));
        let second = run_once(store.as_ref(), &clock, "k", 60, || async {
            panic!("work must not run twice");
            #[allow(unreachable_code)]
            Ok::<_, Boom>(String::new())
        })
        .await;
        assert_eq!(second.unwrap(), Once::AlreadyDone("r1".into()));
    }

    #[tokio::test]
    async fn held_lease_is_busy_and_expired_lease_is_taken_over() {
        let store = MemoryIdempotencyStore::new();
        let clock = ManualClock::at_secs(1000);
        // a worker that claimed and then died
        assert!(matches!(
            store.claim("k", 1000, 60).await.unwrap(),
            Claim::Acquired(_)
        ));
        let busy = run_once(store.as_ref(), &clock, "k", 60, || async {
            Ok::<_, Boom>("x".into())
        })
        .await;
        assert!(matches!(
            busy,
            Err(OnceError::Busy {
                lease_expires_at: 1060,
                ..
            })
        ));
        clock.advance_secs(61);
        let taken = run_once(store.as_ref(), &clock, "k", 60, || async {
            Ok::<_, Boom>("x".into())
        })
        .await;
        assert_eq!(taken.unwrap(), Once::Ran("x".into()));
    }

    #[tokio::test]
    async fn failed_work_releases_the_claim() {
        let store = MemoryIdempotencyStore::new();
        let clock = ManualClock::at_secs(1000);
        let failed = run_once(store.as_ref(), &clock, "k", 60, || async {
            Err::<String, _>(Boom)
        })
        .await;
        assert!(matches!(failed, Err(OnceError::Work(Boom))));
        let retry = run_once(store.as_ref(), &clock, "k", 60, || async {
            Ok::<_, Boom>("ok".into())
        })
        .await;
        assert_eq!(retry.unwrap(), Once::Ran("ok".into()));
    }
}
