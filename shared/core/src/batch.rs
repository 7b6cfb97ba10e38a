//! Runs a batch of queue messages and reports which ones to redeliver, the
//! shape of Lambda's SQS partial batch response. Retryable failures are
//! redelivered (and reach the DLQ by redrive after maxReceiveCount); permanent
//! ones go to the DLQ at once with their reason and are acknowledged.

use std::fmt::Display;

use async_trait::async_trait;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::Retryable;
use crate::message::{OutboundMessage, ATTR_EVENT_ID, ATTR_FAILED_AT_MS, ATTR_FAILURE_REASON};
use crate::ports::Queue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub message_id: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
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
    async fn handle(&self, record: &BatchRecord) -> Result<(), Self::Error>;
}

/// SQS keeps message attributes to 10 and values to 256 KiB; reasons stay short.
const MAX_REASON_CHARS: usize = 1000;

/// Processes `records` in order; returns the message ids SQS must redeliver.
pub async fn process_batch<H: MessageHandler>(
    records: &[BatchRecord],
    handler: &H,
    dead_letters: &dyn Queue,
    clock: &dyn Clock,
) -> Vec<String> {
    let mut redeliver = Vec::new();
    for record in records {
        let span = tracing::info_span!(
            "message",
            message_id = %record.message_id,
            event_id = record.attribute(ATTR_EVENT_ID).unwrap_or("-"),
        );
        let keep = async {
            match handler.handle(record).await {
                Ok(()) => false,
                Err(err) if err.is_retryable() => {
                    tracing::warn!(error = %err, "retryable failure, message will be redelivered");
                    true
                }
                Err(err) => dead_letter(record, &err.to_string(), dead_letters, clock).await,
            }
        }
        .instrument(span)
        .await;
        if keep {
            redeliver.push(record.message_id.clone());
        }
    }
    redeliver
}

/// Returns true when the message must be redelivered because even the DLQ refused it.
async fn dead_letter(
    record: &BatchRecord,
    reason: &str,
    dlq: &dyn Queue,
    clock: &dyn Clock,
) -> bool {
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    let mut attributes: Vec<(String, String)> = record
        .attributes
        .iter()
        .filter(|(k, _)| k != ATTR_FAILURE_REASON && k != ATTR_FAILED_AT_MS)
        .take(8)
        .cloned()
        .collect();
    attributes.push((ATTR_FAILURE_REASON.into(), reason.clone()));
    attributes.push((ATTR_FAILED_AT_MS.into(), clock.now_ms().to_string()));
    let message = OutboundMessage {
        body: record.body.clone(),
        attributes,
    };
    match dlq.send(&message).await {
        Ok(()) => {
            tracing::error!(reason = %reason, dlq = dlq.name(), "permanent failure, message dead-lettered");
            false
        }
        Err(err) => {
            tracing::error!(reason = %reason, error = %err, "permanent failure and the DLQ refused it; redelivering");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryQueue;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct TestError(&'static str, bool);

    impl Retryable for TestError {
        fn is_retryable(&self) -> bool {
            self.1
        }
    }

    struct ByBody;

    #[async_trait]
    impl MessageHandler for ByBody {
        type Error = TestError;
        async fn handle(&self, record: &BatchRecord) -> Result<(), TestError> {
            match record.body.as_str() {
                "ok" => Ok(()),
                "transient" => Err(TestError("throttled", true)),
                _ => Err(TestError("malformed event", false)),
            }
        }
    }

    fn record(id: &str, body: &str) -> BatchRecord {
        BatchRecord {
            message_id: id.into(),
            body: body.into(),
            attributes: vec![("event_id".into(), format!("evt_{id}"))],
        }
    }

    #[tokio::test]
    async fn only_retryable_failures_are_redelivered_and_permanent_ones_dead_lettered() {
        let dlq = MemoryQueue::new("dlq");
        let clock = ManualClock::at_secs(100);
        let records = [
            record("1", "ok"),
            record("2", "transient"),
            record("3", "bad"),
            record("4", "ok"),
        ];
        let failed = process_batch(&records, &ByBody, dlq.as_ref(), &clock).await;
        assert_eq!(failed, vec!["2".to_string()]);
        let dead = dlq.messages();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].body, "bad");
        assert_eq!(dead[0].attribute("failure_reason"), Some("malformed event"));
        assert_eq!(dead[0].attribute("event_id"), Some("evt_3"));
        assert_eq!(dead[0].attribute("failed_at_ms"), Some("100000"));
    }

    #[tokio::test]
    async fn a_dlq_outage_keeps_the_message_for_redelivery() {
        let dlq = MemoryQueue::new("dlq");
        dlq.fail(true);
        let failed = process_batch(
            &[record("9", "bad")],
            &ByBody,
            dlq.as_ref(),
            &ManualClock::default(),
        )
        .await;
        assert_eq!(failed, vec!["9".to_string()]);
    }
}
