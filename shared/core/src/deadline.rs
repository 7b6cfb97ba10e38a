//! The invocation's deadline, visible to everything a record's work calls.
//! The batch helper sets it per record; the HTTP retry loop reads it so one
//! call's retries never outlast the Lambda invocation that made them.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` visible to `remaining()`; `None` means no deadline.
pub async fn within<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, work).await,
        None => work.await,
    }
}

/// Time left before the current deadline; `None` when no deadline is set.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|d| d.saturating_duration_since(Instant::now()))
        .ok()
}

/// A Lambda deadline (unix milliseconds) as an `Instant`, given the wall clock's now.
/// Overflow-safe: a deadline in the past is now, an absurd one is capped at a day.
pub fn instant_from_unix_ms(deadline_ms: i64, now_ms: i64) -> Instant {
    let left = deadline_ms.saturating_sub(now_ms).clamp(0, 86_400_000);
    Instant::now() + Duration::from_millis(left as u64)
}

/// The invocation's deadline from the runtime's `Lambda-Runtime-Deadline-Ms`
/// (0 when a runtime leaves it out: then there is no deadline, rather than one
/// already past that would start nothing).
pub fn from_lambda(deadline_ms: u64, now_ms: i64) -> Option<Instant> {
    (deadline_ms > 0)
        .then(|| instant_from_unix_ms(i64::try_from(deadline_ms).unwrap_or(i64::MAX), now_ms))
}

/// A poll or a paged read does not start a page with less than this left.
pub const MIN_SECS_FOR_A_PAGE: u64 = 10;

/// Whether the invocation has too little time left to start another page.
pub fn too_short_for_a_page() -> bool {
    remaining().is_some_and(|left| left.as_secs() < MIN_SECS_FOR_A_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_inside_the_scope_only() {
        assert_eq!(remaining(), None);
        let d = Instant::now() + Duration::from_secs(10);
        within(Some(d), async {
            tokio::time::advance(Duration::from_secs(4)).await;
            assert_eq!(remaining(), Some(Duration::from_secs(6)));
            tokio::time::advance(Duration::from_secs(60)).await;
            assert_eq!(remaining(), Some(Duration::ZERO));
        })
        .await;
        assert_eq!(remaining(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_lambda_deadline_is_none() {
        assert_eq!(from_lambda(0, 5_000), None);
        assert_eq!(
            from_lambda(8_000, 5_000),
            Some(Instant::now() + Duration::from_secs(3))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unix_deadlines_never_overflow() {
        let now = Instant::now();
        assert_eq!(instant_from_unix_ms(i64::MIN, i64::MAX), now);
        assert_eq!(
            instant_from_unix_ms(i64::MAX, i64::MIN),
            now + Duration::from_secs(86_400)
        );
        assert_eq!(
            instant_from_unix_ms(5_000, 2_000),
            now + Duration::from_secs(3)
        );
    }
}
