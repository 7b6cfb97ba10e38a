//! The retry loop shared by every HTTP adapter.
//!
//! Only requests that are safe to repeat are retried after an answer or a
//! timeout: reads, and writes the server deduplicates by an idempotency key.
//! Any other write is retried only when it certainly never arrived (the
//! connection was refused) or was turned away unprocessed (429); otherwise the
//! failure goes up, and the next delivery re-reads before writing again.
//! Every attempt and every wait fits in the invocation's remaining time.

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tally_core::config::HttpPolicy;
use tally_core::metrics::{record_call, CallOutcome};

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

/// Whether repeating a request can do its effect twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// GETs, and writes deduplicated by an idempotency key.
    Safe,
    /// A write the server does not deduplicate.
    Unsafe,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Network(String),
    #[error("not sent: {left_ms} ms left in this invocation, too little for a request")]
    OutOfTime { left_ms: u64 },
}

/// Shortest attempt worth starting; less than this left and the call gives up.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(1_000);
/// Kept back from the deadline for recording the outcome.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The backoff before attempt `retry` (0-based): random in [0, min(cap, base·2^retry)].
pub fn backoff(policy: &HttpPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .retry_base_ms
        .saturating_mul(1u64 << retry.min(20))
        .min(policy.max_backoff_ms);
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

fn should_retry(reply: &Reply, repeat: Repeat) -> bool {
    if reply.status == 429 {
        return true;
    }
    if repeat == Repeat::Unsafe {
        return false;
    }
    // Stripe tells clients explicitly; its word overrides the status code.
    match reply.header("stripe-should-retry") {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    reply.status == 409 || reply.status >= 500
}

fn retry_after(reply: &Reply, policy: &HttpPolicy) -> Option<Duration> {
    let secs: u64 = reply.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_millis(
        secs.saturating_mul(1000).min(policy.max_backoff_ms),
    ))
}

/// Time this attempt may take: the policy's timeout, cut to what the
/// invocation has left; `None` when too little is left to start.
fn attempt_budget(policy: &HttpPolicy) -> Result<Duration, SendError> {
    let timeout = Duration::from_millis(policy.timeout_ms);
    match tally_core::deadline::remaining() {
        None => Ok(timeout),
        Some(left) => {
            let usable = left.saturating_sub(DEADLINE_MARGIN);
            if usable < MIN_ATTEMPT {
                Err(SendError::OutOfTime {
                    left_ms: left.as_millis() as u64,
                })
            } else {
                Ok(timeout.min(usable))
            }
        }
    }
}

/// Sends with `send(timeout)` until a reply that is not retried, the retry
/// budget is spent, or the invocation's time runs short. Returns the last
/// reply (whatever its status) or the last error. Each attempt is counted
/// for `service`'s call metrics (`tally_core::metrics::record_call`).
pub async fn with_retries<F, Fut>(
    policy: &HttpPolicy,
    service: &'static str,
    what: &str,
    repeat: Repeat,
    mut send: F,
) -> Result<Reply, SendError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let mut retry = 0;
    loop {
        let timeout = attempt_budget(policy)?;
        let started = std::time::Instant::now();
        let outcome = match send(timeout).await {
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
        let counted = match &outcome {
            Ok(reply) => CallOutcome::of_status(reply.status),
            Err(e) if e.is_timeout() => CallOutcome::Timeout,
            Err(_) => CallOutcome::Network,
        };
        record_call(service, counted, started.elapsed());
        let wait = match &outcome {
            Ok(reply) if should_retry(reply, repeat) => {
                Some(retry_after(reply, policy).unwrap_or_else(|| backoff(policy, retry)))
            }
            // A refused connection never reached the server: safe to repeat any request.
            Err(e) if repeat == Repeat::Safe || e.is_connect() => Some(backoff(policy, retry)),
            _ => None,
        };
        let out_of_time = |wait: Duration| {
            tally_core::deadline::remaining()
                .is_some_and(|left| left < wait + MIN_ATTEMPT + DEADLINE_MARGIN)
        };
        let wait = match wait {
            Some(w) if retry < policy.max_retries && !out_of_time(w) => w,
            _ => return finish(outcome),
        };
        match &outcome {
            Ok(reply) => tracing::warn!(
                what,
                status = reply.status,
                retry,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            ),
            Err(e) => {
                tracing::warn!(what, error = %e.without_url_ref(), retry, wait_ms = wait.as_millis() as u64, "retrying after network error")
            }
        }
        tokio::time::sleep(wait).await;
        retry += 1;
    }
}

fn finish(outcome: Result<Reply, reqwest::Error>) -> Result<Reply, SendError> {
    outcome.map_err(|e| SendError::Network(e.without_url().to_string()))
}

/// reqwest's errors carry the URL, which may hold a store's host; logs drop it.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        text
    }
}

#[cfg(test)]
mod tests;
