//! The payments flow. For now it records each Stripe event exactly once;
//! order-to-cash builds on this same structure (claim, work, complete).

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::{BatchRecord, MessageHandler};
use crate::clock::Clock;
use crate::error::{Retryable, StoreError};
use crate::idempotency::{run_once, Once, OnceError};
use crate::message::{MessageError, QueueEnvelope};
use crate::ports::{EventJournal, IdempotencyStore, RecordOutcome, RecordedEvent};
use crate::routing::Flow;
use crate::stripe::{EnvelopeError, EventEnvelope};

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("queued event is invalid: {0}")]
    Event(#[from] EnvelopeError),
    #[error("event {0} of type {1} does not belong to the payments flow")]
    WrongFlow(String, String),
    #[error(transparent)]
    Once(#[from] OnceError<StoreError>),
}

impl Retryable for PaymentsError {
    fn is_retryable(&self) -> bool {
        match self {
            PaymentsError::Message(_) | PaymentsError::Event(_) | PaymentsError::WrongFlow(..) => {
                false
            }
            PaymentsError::Once(e) => e.is_retryable(),
        }
    }
}

pub struct PaymentsHandler {
    pub store: Arc<dyn IdempotencyStore>,
    pub journal: Arc<dyn EventJournal>,
    pub clock: Arc<dyn Clock>,
    pub lease_secs: i64,
}

/// What happened to one message, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    Recorded,
    Duplicate,
}

impl PaymentsHandler {
    pub async fn handle_message(&self, body: &str) -> Result<PaymentOutcome, PaymentsError> {
        let queued = QueueEnvelope::parse(body)?;
        let event = EventEnvelope::parse(queued.event.get().as_bytes())?;
        if crate::routing::route_stripe_event(&event.event_type) != Some(Flow::Payments) {
            return Err(PaymentsError::WrongFlow(event.id, event.event_type));
        }
        let key = format!("{}/stripe-event/{}", Flow::Payments, event.id);
        let record = RecordedEvent {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            object_id: event.object_id().map(str::to_string),
            object_type: event.object_type().to_string(),
            created: event.created,
            livemode: event.livemode,
            flow: Flow::Payments.name().to_string(),
            recorded_at_ms: self.clock.now_ms(),
        };
        let journal = self.journal.clone();
        let outcome = run_once(
            self.store.as_ref(),
            self.clock.as_ref(),
            &key,
            self.lease_secs,
            || async move {
                // The journal write is itself conditional, so a repeat after a crash
                // between write and completion changes nothing.
                match journal.record(&record).await? {
                    RecordOutcome::Inserted => Ok("recorded".to_string()),
                    RecordOutcome::AlreadyPresent => Ok("already-recorded".to_string()),
                }
            },
        )
        .await?;
        Ok(match outcome {
            Once::Ran(_) => {
                tracing::info!(event_type = %event.event_type, object_id = event.object_id().unwrap_or("-"), "payment event recorded");
                PaymentOutcome::Recorded
            }
            Once::AlreadyDone(_) => {
                tracing::info!("duplicate delivery, already processed");
                PaymentOutcome::Duplicate
            }
        })
    }
}

#[async_trait]
impl MessageHandler for PaymentsHandler {
    type Error = PaymentsError;

    async fn handle(&self, record: &BatchRecord) -> Result<(), PaymentsError> {
        self.handle_message(&record.body).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryEventJournal, MemoryIdempotencyStore};
    use crate::message::QueueEnvelope;

    fn handler() -> (PaymentsHandler, Arc<MemoryEventJournal>) {
        let journal = MemoryEventJournal::new();
        (
            PaymentsHandler {
                store: MemoryIdempotencyStore::new(),
                journal: journal.clone(),
                clock: Arc::new(ManualClock::at_secs(1_750_000_000)),
                lease_secs: 60,
            },
            journal,
        )
    }

    fn message(id: &str, event_type: &str) -> String {
        let raw = format!(
            r#"{{"id":"{id}","object":"event","type":"{event_type}","created":1,"livemode":false,"data":{{"object":{{"id":"pi_9","object":"payment_intent"}}}}}}"#
        );
        let envelope = EventEnvelope::parse(raw.as_bytes()).unwrap();
        QueueEnvelope::stripe_message(&envelope, raw.as_bytes(), 5)
            .unwrap()
            .body
    }

    #[tokio::test]
    async fn records_once_however_often_delivered() {
        let (h, journal) = handler();
        let body = message("evt_a", "payment_intent.succeeded");
        assert_eq!(
            h.handle_message(&body).await.unwrap(),
            PaymentOutcome::Recorded
        );
        for _ in 0..3 {
            assert_eq!(
                h.handle_message(&body).await.unwrap(),
                PaymentOutcome::Duplicate
            );
        }
        let events = journal.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].object_id.as_deref(), Some("pi_9"));
        assert_eq!(events[0].event_type, "payment_intent.succeeded");
    }

    #[tokio::test]
    async fn storage_outage_is_retryable_and_bad_messages_are_not() {
        let (h, journal) = handler();
        journal.fail(true);
        let err = h
            .handle_message(&message("evt_b", "charge.succeeded"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        journal.fail(false);
        assert_eq!(
            h.handle_message(&message("evt_b", "charge.succeeded"))
                .await
                .unwrap(),
            PaymentOutcome::Recorded
        );

        for bad in [
            "not json",
            r#"{"schema_version":2,"source":"stripe","event_id":"e","event_type":"t","received_at_ms":1,"event":{}}"#,
        ] {
            let err = h.handle_message(bad).await.unwrap_err();
            assert!(!err.is_retryable(), "{err}");
        }
        let wrong = h
            .handle_message(&message("evt_c", "customer.created"))
            .await
            .unwrap_err();
        assert!(!wrong.is_retryable());
    }
}
