//! Each Stripe event is recorded once in the event journal (for backfill,
//! replay and audit), whichever flow's queue it arrived on.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::idempotency::{run_once, Once, OnceError};
use crate::ports::{EventJournal, IdempotencyStore, RecordOutcome, RecordedEvent};
use crate::routing::Flow;
use crate::stripe::EventEnvelope;

/// Records the event in the journal once; true on its first delivery.
pub async fn journal_once(
    store: &dyn IdempotencyStore,
    journal: &dyn EventJournal,
    clock: &dyn Clock,
    lease_secs: i64,
    flow: Flow,
    event: &EventEnvelope,
) -> Result<bool, OnceError<StoreError>> {
    let key = format!("{flow}/stripe-event/{}", event.id);
    let record = RecordedEvent {
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        object_id: event.object_id().map(str::to_string),
        object_type: event.object_type().to_string(),
        created: event.created,
        livemode: event.livemode,
        flow: flow.name().to_string(),
        recorded_at_ms: clock.now_ms(),
    };
    let outcome = run_once(store, clock, &key, lease_secs, || async move {
        // The journal write is itself conditional, so a repeat after a crash
        // between write and completion changes nothing.
        match journal.record(&record).await? {
            RecordOutcome::Inserted => Ok("recorded".to_string()),
            RecordOutcome::AlreadyPresent => Ok("already-recorded".to_string()),
        }
    })
    .await?;
    Ok(match outcome {
        Once::Ran(_) => {
            tracing::info!(event_type = %event.event_type, object_id = event.object_id().unwrap_or("-"), "stripe event recorded");
            true
        }
        Once::AlreadyDone(_) => {
            tracing::info!("duplicate delivery of a recorded event");
            false
        }
    })
}
