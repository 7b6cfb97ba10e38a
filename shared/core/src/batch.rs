//! Runs a batch of queue messages and reports which ones to redeliver, the
//! shape of Lambda's SQS partial batch response.
//!
//! - Records run concurrently up to a bound; records with the same sequence
//!   key (one order) run one after another, in the order they arrived.
//! - No record starts without enough of the invocation left to finish it;
//!   unstarted records are reported for redelivery, never half-done.
//! - A retryable failure is redelivered after an exponential backoff, set with
//!   the message's visibility; on its last allowed delivery the handler puts it
//!   on the DLQ itself, with the last failure's reason. A permanent failure goes
//!   to the DLQ at once. The queue's redrive policy stays as the backstop for
//!   crashes, which never reach this code.
//! - A message that finds its work held by another worker (contention) is
//!   waiting, not failing: when its deliveries run out it is put back on its
//!   queue with a delay instead of dead-lettered, up to `MAX_WAITS` times. A
//!   burst of events about one order (Stripe's retries, a redrive) no longer
//!   sends the ones that lost the race to the DLQ; a holder that died frees
//!   the work when its lease ends, well within the waits.

use std::collections::HashMap;
use std::fmt::Display;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::{QueueError, Retryable};
use crate::message::{OutboundMessage, ATTR_EVENT_ID, ATTR_WAITS};
use crate::ports::Queue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub message_id: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// SQS's handle for changing this delivery's visibility.
    pub receipt_handle: Option<String>,
    /// Which delivery this is (SQS `ApproximateReceiveCount`, 1 for the first).
    pub receive_count: u32,
}

impl BatchRecord {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[async_trait]
pub trait MessageHandler: Send + Sync {
    type Error: Retryable + Display + Send;
    /// The flow it serves, the `Flow` dimension of its metrics.
    fn name(&self) -> &'static str {
        "messages"
    }
    /// Records with the same key run in sequence (e.g. one order's messages).
    fn sequence_key(&self, record: &BatchRecord) -> Option<String> {
        record.attribute(ATTR_EVENT_ID).map(str::to_string)
    }
    async fn handle(&self, record: &BatchRecord) -> Result<(), Self::Error>;
}

/// Delays the next delivery of a message (SQS `ChangeMessageVisibility`), or
/// puts a copy back on the queue, delivered after a delay (`DelaySeconds`).
#[async_trait]
pub trait Redelivery: Send + Sync {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> Result<(), QueueError>;
    async fn requeue_after(
        &self,
        message: &OutboundMessage,
        delay_secs: u32,
    ) -> Result<(), QueueError>;
}

/// Times a message may be put back to wait for work another worker holds.
pub const MAX_WAITS: u32 = 10;
/// SQS delays a sent message by at most 15 minutes.
pub const MAX_SEND_DELAY_SECS: u32 = 900;

/// How long retryable failures are retried: delays double from `base_delay_secs`
/// up to `max_delay_secs`, for `max_deliveries` deliveries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_delay_secs: u32,
    pub max_delay_secs: u32,
    pub max_deliveries: u32,
}

/// SQS refuses a visibility timeout over 12 hours.
pub const MAX_VISIBILITY_SECS: u32 = 43_200;

impl Default for RetryPolicy {
    /// 60 s doubling to 2 h over 20 deliveries: about 26 hours of retrying.
    fn default() -> Self {
        RetryPolicy {
            base_delay_secs: 60,
            max_delay_secs: 7_200,
            max_deliveries: 20,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed delivery `delivery` (1-based), overflow-safe.
    pub fn delay_after(&self, delivery: u32) -> u32 {
        let doublings = delivery.saturating_sub(1).min(31);
        let delay = u64::from(self.base_delay_secs).saturating_mul(1u64 << doublings);
        delay
            .min(u64::from(self.max_delay_secs))
            .min(u64::from(MAX_VISIBILITY_SECS)) as u32
    }

    /// Seconds from the first delivery to the last: how long an outage can last
    /// before a message is dead-lettered.
    pub fn budget_secs(&self) -> u64 {
        (1..self.max_deliveries)
            .map(|d| u64::from(self.delay_after(d)))
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Records in flight at once.
    pub concurrency: usize,
    /// Least time left in the invocation for a record to be started.
    pub min_time_to_start: Duration,
    pub retry: RetryPolicy,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            concurrency: 4,
            min_time_to_start: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }
}

/// Where a batch's failures go, and the invocation's deadline.
pub struct BatchContext<'a> {
    pub dead_letters: &'a dyn Queue,
    pub redelivery: &'a dyn Redelivery,
    pub clock: &'a dyn Clock,
    pub deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    DeadLettered,
    /// Failed in a way worth retrying: SQS delivers it again after the delay.
    Retried,
    /// Not started (too little time left) or the DLQ refused it: delivered again.
    Redeliver,
    /// Put back on its queue to wait for work another worker held.
    Waiting,
}

impl Outcome {
    fn redelivered(self) -> bool {
        matches!(self, Outcome::Retried | Outcome::Redeliver)
    }
}

/// The batch's counts as one EMF line (`Tally` namespace, `Flow` dimension).
fn batch_metrics(flow: &str, outcomes: &[Outcome], now_ms: i64) -> String {
    let count = |want: &[Outcome]| outcomes.iter().filter(|o| want.contains(o)).count() as f64;
    crate::metrics::emf_line(
        now_ms,
        &[("Flow", flow)],
        &[
            ("MessagesProcessed", count(&[Outcome::Done]), "Count"),
            (
                "MessagesRetried",
                count(&[Outcome::Retried, Outcome::Redeliver, Outcome::Waiting]),
                "Count",
            ),
            (
                "MessagesDeadLettered",
                count(&[Outcome::DeadLettered]),
                "Count",
            ),
        ],
    )
}

/// Processes `records`; returns the message ids SQS must redeliver, in input order.
pub async fn process_batch<H: MessageHandler>(
    records: &[BatchRecord],
    handler: &H,
    ctx: &BatchContext<'_>,
    settings: &BatchSettings,
) -> Vec<String> {
    // Group by sequence key, keeping first-arrival order within and across groups.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        match handler.sequence_key(record) {
            Some(key) => match by_key.get(&key) {
                Some(&g) => groups[g].push(i),
                None => {
                    by_key.insert(key, groups.len());
                    groups.push(vec![i]);
                }
            },
            None => groups.push(vec![i]),
        }
    }
    let mut outcomes = vec![Outcome::Redeliver; records.len()];
    let finished: Vec<Vec<(usize, Outcome)>> = stream::iter(groups)
        .map(|group| async move {
            let mut done = Vec::with_capacity(group.len());
            for i in group {
                done.push((i, run_record(&records[i], handler, ctx, settings).await));
            }
            done
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    for (i, outcome) in finished.into_iter().flatten() {
        outcomes[i] = outcome;
    }
    if !records.is_empty() {
        println!(
            "{}",
            batch_metrics(handler.name(), &outcomes, ctx.clock.now_ms())
        );
    }
    crate::metrics::flush_call_metrics(ctx.clock.now_ms());
    records
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.redelivered())
        .map(|(r, _)| r.message_id.clone())
        .collect()
}

async fn run_record<H: MessageHandler>(
    record: &BatchRecord,
    handler: &H,
    ctx: &BatchContext<'_>,
    settings: &BatchSettings,
) -> Outcome {
    let span = tracing::info_span!(
        "message",
        message_id = %record.message_id,
        event_id = record.attribute(ATTR_EVENT_ID).unwrap_or("-"),
        delivery = record.receive_count,
    );
    async {
        if let Some(deadline) = ctx.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < settings.min_time_to_start {
                tracing::warn!(
                    left_ms = left.as_millis() as u64,
                    "not started: too little of the invocation left; redelivering"
                );
                return Outcome::Redeliver;
            }
        }
        let result = crate::deadline::within(ctx.deadline, handler.handle(record)).await;
        match result {
            Ok(()) => Outcome::Done,
            Err(err) if err.is_retryable() => {
                let contention = err.is_contention();
                retry_later(record, &err.to_string(), contention, ctx, settings).await
            }
            Err(err) => dead_letter(record, &err.to_string(), ctx).await,
        }
    }
    .instrument(span)
    .await
}

/// A retry budget as an operator reads it: seconds, minutes or hours, rounded up
/// (three deliveries a second apart are not "about 1 h", as the chaos run's reasons said).
fn about(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h", secs.div_ceil(3600)),
    }
}

async fn retry_later(
    record: &BatchRecord,
    reason: &str,
    contention: bool,
    ctx: &BatchContext<'_>,
    settings: &BatchSettings,
) -> Outcome {
    let retry = &settings.retry;
    let waits: u32 = record
        .attribute(ATTR_WAITS)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    if record.receive_count >= retry.max_deliveries {
        if contention && waits < MAX_WAITS {
            return wait_again(record, reason, waits + 1, ctx, settings).await;
        }
        let waited = match waits {
            0 => String::new(),
            n => format!(" and {n} waits for another worker"),
        };
        let reason = format!(
            "still failing after {} deliveries over about {}{waited}: {reason}",
            record.receive_count,
            about(retry.budget_secs())
        );
        return dead_letter(record, &reason, ctx).await;
    }
    let delay = retry.delay_after(record.receive_count);
    tracing::warn!(error = %reason, retry_in_secs = delay, "retryable failure, message will be redelivered");
    if let Some(handle) = &record.receipt_handle {
        if let Err(err) = ctx.redelivery.redeliver_after(handle, delay).await {
            // The queue's own visibility timeout applies instead.
            tracing::warn!(error = %err, "could not set the retry delay");
        }
    }
    Outcome::Retried
}

/// Puts a copy of the message back on its queue, delivered after a delay that
/// doubles with each wait, and lets this delivery go; if the queue refuses the
/// copy, this delivery is redelivered instead.
async fn wait_again(
    record: &BatchRecord,
    reason: &str,
    waits: u32,
    ctx: &BatchContext<'_>,
    settings: &BatchSettings,
) -> Outcome {
    let delay = settings
        .retry
        .delay_after(waits)
        .clamp(1, MAX_SEND_DELAY_SECS);
    let message = outbound(record).waiting(waits);
    match ctx.redelivery.requeue_after(&message, delay).await {
        Ok(()) => {
            tracing::warn!(error = %reason, waits, retry_in_secs = delay, "work held by another worker; message put back to wait");
            Outcome::Waiting
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not put the message back to wait; redelivering");
            Outcome::Redeliver
        }
    }
}

fn outbound(record: &BatchRecord) -> OutboundMessage {
    OutboundMessage {
        body: record.body.clone(),
        attributes: record
            .attributes
            .iter()
            .map(|(k, v)| (k.clone().into(), v.clone().into()))
            .collect(),
    }
}

/// Puts the message on the DLQ with its reason; if even the DLQ refuses it,
/// the message is redelivered instead of being lost.
async fn dead_letter(record: &BatchRecord, reason: &str, ctx: &BatchContext<'_>) -> Outcome {
    let message = outbound(record).dead_letter(reason, ctx.clock.now_ms(), record.receive_count);
    match ctx.dead_letters.send(&message).await {
        Ok(()) => {
            tracing::error!(reason = %reason, dlq = ctx.dead_letters.name(), "message dead-lettered");
            Outcome::DeadLettered
        }
        Err(err) => {
            tracing::error!(reason = %reason, error = %err, "the DLQ refused the message; redelivering");
            Outcome::Redeliver
        }
    }
}

#[cfg(test)]
mod tests;
