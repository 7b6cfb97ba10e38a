//! Secrets read once per container and cached with a TTL; a forced refresh
//! (on a signature mismatch) picks up a rotation without a redeploy, but at
//! most once per `min_refresh_interval` so bad requests cannot flood the store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} could not be read: {message}")]
    Unavailable { id: String, message: String },
    #[error("secret {id} is not valid JSON of the expected shape: {message}")]
    Invalid { id: String, message: String },
}

/// Where a secret's JSON comes from (Secrets Manager in production).
#[async_trait]
pub trait SecretFetcher: Send + Sync {
    fn id(&self) -> &str;
    async fn fetch(&self) -> Result<String, SecretError>;
}

struct Cached<T> {
    value: Arc<T>,
    fetched_at: Instant,
}

struct State<T> {
    cached: Option<Cached<T>>,
    last_forced: Option<Instant>,
    /// While the store is failing: the last error and when to ask again.
    outage: Option<Outage>,
}

struct Outage {
    error: SecretError,
    failures: u32,
    retry_at: Instant,
}

/// First wait after a failed read; doubles per failure up to `MAX_OUTAGE_BACKOFF`.
pub const FIRST_OUTAGE_BACKOFF: Duration = Duration::from_secs(5);
pub const MAX_OUTAGE_BACKOFF: Duration = Duration::from_secs(300);

fn outage_backoff(failures: u32) -> Duration {
    FIRST_OUTAGE_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_OUTAGE_BACKOFF)
}

pub struct CachedSecret<T> {
    fetcher: Box<dyn SecretFetcher>,
    ttl: Duration,
    min_refresh_interval: Duration,
    state: Mutex<State<T>>,
}

impl<T: DeserializeOwned + Send + Sync> CachedSecret<T> {
    pub fn new(
        fetcher: Box<dyn SecretFetcher>,
        ttl: Duration,
        min_refresh_interval: Duration,
    ) -> Self {
        CachedSecret {
            fetcher,
            ttl,
            min_refresh_interval,
            state: Mutex::new(State {
                cached: None,
                last_forced: None,
                outage: None,
            }),
        }
    }

    async fn load(&self) -> Result<Arc<T>, SecretError> {
        let raw = self.fetcher.fetch().await?;
        serde_json::from_str::<T>(&raw)
            .map(Arc::new)
            .map_err(|e| SecretError::Invalid {
                id: self.fetcher.id().to_string(),
                // serde's own message can quote the offending value: keep only where it is
                message: format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })
    }

    /// The cached value, re-read when older than the TTL. If the re-read fails
    /// and a value is cached, the stale value is served (and the failure logged):
    /// an outage of the secret store must not reject every webhook. While the
    /// store keeps failing, it is asked again only after a growing backoff.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached {
            if c.fetched_at.elapsed() < self.ttl {
                return Ok(c.value.clone());
            }
        }
        if let Some(outage) = &state.outage {
            if Instant::now() < outage.retry_at {
                return match &state.cached {
                    Some(stale) => Ok(stale.value.clone()),
                    None => Err(outage.error.clone()),
                };
            }
        }
        match self.load().await {
            Ok(value) => {
                state.outage = None;
                state.cached = Some(Cached {
                    value: value.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(value)
            }
            Err(err) => {
                let failures = state.outage.as_ref().map_or(0, |o| o.failures) + 1;
                let wait = outage_backoff(failures);
                tracing::warn!(secret_id = self.fetcher.id(), error = %err, failures, retry_in_secs = wait.as_secs(), "secret store unavailable");
                state.outage = Some(Outage {
                    error: err.clone(),
                    failures,
                    retry_at: Instant::now() + wait,
                });
                match &state.cached {
                    Some(stale) => Ok(stale.value.clone()),
                    None => Err(err),
                }
            }
        }
    }

    /// Re-reads now, unless a forced refresh happened within the minimum
    /// interval; `Ok(None)` means "not refreshed, nothing new to try".
    pub async fn refresh(&self) -> Result<Option<Arc<T>>, SecretError> {
        let mut state = self.state.lock().await;
        if let Some(last) = state.last_forced {
            if last.elapsed() < self.min_refresh_interval {
                return Ok(None);
            }
        }
        state.last_forced = Some(Instant::now());
        let value = self.load().await?;
        state.cached = Some(Cached {
            value: value.clone(),
            fetched_at: Instant::now(),
        });
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemorySecret;
    use crate::stripe::webhook::StripeWebhookKeys as StripeSecrets;

    fn cache(secret: &MemorySecret) -> CachedSecret<StripeSecrets> {
        CachedSecret::new(
            Box::new(secret.clone()),
            Duration::from_secs(300),
            Duration::from_secs(30),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn reads_once_within_ttl_then_again() {
        let secret = MemorySecret::new("stripe", r#"{"webhook_signing_secrets":["whsec_1"]}"#);
        let c = cache(&secret);
        c.get().await.unwrap();
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 1);
        tokio::time::advance(Duration::from_secs(301)).await;
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn forced_refresh_sees_rotation_but_is_rate_limited() {
        let secret = MemorySecret::new("stripe", r#"{"webhook_signing_secrets":["whsec_1"]}"#);
        let c = cache(&secret);
        c.get().await.unwrap();
        secret.set(r#"{"webhook_signing_secrets":["whsec_2"]}"#);
        let fresh = c.refresh().await.unwrap().expect("first refresh runs");
        assert_eq!(fresh.webhook_signing_secrets[0].expose(), "whsec_2");
        assert!(
            c.refresh().await.unwrap().is_none(),
            "second refresh within 30 s is skipped"
        );
        assert_eq!(secret.fetches(), 2);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(c.refresh().await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn serves_stale_value_when_store_fails_and_errors_when_nothing_cached() {
        let secret = MemorySecret::new("stripe", r#"{"webhook_signing_secrets":["whsec_1"]}"#);
        let c = cache(&secret);
        c.get().await.unwrap();
        secret.fail(true);
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(
            c.get().await.unwrap().webhook_signing_secrets[0].expose(),
            "whsec_1"
        );

        let empty = cache(&secret);
        assert!(matches!(
            empty.get().await,
            Err(SecretError::Unavailable { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_is_asked_again_only_after_a_growing_backoff() {
        let secret = MemorySecret::new("stripe", r#"{"webhook_signing_secrets":["whsec_1"]}"#);
        let c = cache(&secret);
        c.get().await.unwrap();
        secret.fail(true);
        tokio::time::advance(Duration::from_secs(301)).await;
        for _ in 0..50 {
            assert_eq!(
                c.get().await.unwrap().webhook_signing_secrets[0].expose(),
                "whsec_1"
            );
        }
        assert_eq!(secret.fetches(), 2, "one failed read, then the stale value");
        tokio::time::advance(Duration::from_secs(5)).await;
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 3);
        tokio::time::advance(Duration::from_secs(5)).await;
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 3, "the second wait is 10 s");
        secret.fail(false);
        tokio::time::advance(Duration::from_secs(5)).await;
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 4);
        c.get().await.unwrap();
        assert_eq!(secret.fetches(), 4, "fresh again, within its TTL");

        let cold = cache(&secret);
        secret.fail(true);
        assert!(cold.get().await.is_err());
        assert!(cold.get().await.is_err());
        assert_eq!(
            secret.fetches(),
            5,
            "nothing cached: the error is served during the backoff too"
        );
    }

    #[tokio::test]
    async fn invalid_json_names_the_problem_not_the_value() {
        let secret = MemorySecret::new("stripe", r#"{"webhook_signing_secrets":"whsec_leak"}"#);
        let err = cache(&secret).get().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SecretError::Invalid { .. }));
        assert!(!text.contains("whsec_leak"), "{text}");
    }
}
