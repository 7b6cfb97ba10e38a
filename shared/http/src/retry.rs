//! The retry loop shared by every HTTP adapter.

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tally_core::config::HttpPolicy;

/// A response read to the end, so callers can inspect it after retries.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The backoff before attempt `retry` (0-based): random in [0, min(cap, base·2^retry)].
pub fn backoff(policy: &HttpPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .retry_base_ms
        .saturating_mul(1u64 << retry.min(20))
        .min(policy.max_backoff_ms);
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

fn should_retry(reply: &Reply) -> bool {
    // Stripe tells clients explicitly; its word overrides the status code.
    match reply.header("stripe-should-retry") {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(reply.status, 409 | 429) || reply.status >= 500
}

fn retry_after(reply: &Reply, policy: &HttpPolicy) -> Option<Duration> {
    let secs: u64 = reply.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_millis(
        (secs * 1000).min(policy.max_backoff_ms),
    ))
}

/// Sends with `send` until a non-retryable reply or the retry budget is spent.
/// Returns the last reply (whatever its status) or the last network error.
pub async fn with_retries<F, Fut>(
    policy: &HttpPolicy,
    what: &str,
    mut send: F,
) -> Result<Reply, reqwest::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let mut retry = 0;
    loop {
        let outcome = match send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                response.bytes().await.map(|body| Reply {
                    status,
                    headers,
                    body: body.to_vec(),
                })
            }
            Err(e) => Err(e),
        };
        let wait = match &outcome {
            Ok(reply) if !should_retry(reply) => return outcome,
            Ok(reply) => retry_after(reply, policy).unwrap_or_else(|| backoff(policy, retry)),
            Err(_) => backoff(policy, retry),
        };
        if retry >= policy.max_retries {
            return outcome;
        }
        match &outcome {
            Ok(reply) => tracing::warn!(
                what,
                status = reply.status,
                retry,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            ),
            Err(e) => {
                tracing::warn!(what, error = %e, retry, wait_ms = wait.as_millis() as u64, "retrying after network error")
            }
        }
        tokio::time::sleep(wait).await;
        retry += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = HttpPolicy {
            max_retries: 5,
            retry_base_ms: 100,
            max_backoff_ms: 1_000,
            timeout_ms: 1_000,
        };
        for _ in 0..200 {
            assert!(backoff(&p, 0) <= Duration::from_millis(100));
            assert!(backoff(&p, 3) <= Duration::from_millis(800));
            assert!(backoff(&p, 30) <= Duration::from_millis(1_000));
        }
    }
}
