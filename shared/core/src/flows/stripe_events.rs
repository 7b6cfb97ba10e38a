//! What every flow's handler does with a queued Stripe event before its own
//! work: admit it (it belongs to this flow, and to the mode the API key is
//! for) and record it once in the event journal (for backfill, replay and
//! audit), whichever flow's queue it arrived on.

use crate::clock::Clock;
use crate::error::{Retryable, StoreError};
use crate::ports::{EventJournal, RecordOutcome, RecordedEvent};
use crate::routing::Flow;
use crate::stripe::{EnvelopeError, EventEnvelope, StripeApi, StripeApiError};

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("queued event is invalid: {0}")]
    Event(#[from] EnvelopeError),
    #[error("event {0} of type {1} does not belong to the {2} flow")]
    WrongFlow(String, String, Flow),
    #[error("event {event} is livemode={event_livemode} but the Stripe API key is for livemode={key_livemode}: refused")]
    WrongMode {
        event: String,
        event_livemode: bool,
        key_livemode: bool,
    },
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
}

impl Retryable for Refused {
    fn is_retryable(&self) -> bool {
        match self {
            Refused::Stripe(e) => e.is_retryable(),
            Refused::Event(_) | Refused::WrongFlow(..) | Refused::WrongMode { .. } => false,
        }
    }
}

/// The queued Stripe event `raw`, if it is `flow`'s and of the API key's
/// mode: a test event must never move live money, nor a live one test money.
pub async fn admit(
    stripe: &dyn StripeApi,
    raw: &[u8],
    flow: Flow,
) -> Result<EventEnvelope, Refused> {
    let event = EventEnvelope::parse(raw)?;
    if crate::routing::route_stripe_event(&event.event_type) != Some(flow) {
        return Err(Refused::WrongFlow(event.id, event.event_type, flow));
    }
    if let Some(key_livemode) = stripe.livemode().await? {
        if key_livemode != event.livemode {
            return Err(Refused::WrongMode {
                event: event.id,
                event_livemode: event.livemode,
                key_livemode,
            });
        }
    }
    Ok(event)
}

/// Records the event in the journal once; true on its first delivery. The
/// journal's write is conditional on the event id, so it is its own guard: no
/// claim around it (two writes an event saved), and a repeat after a crash
/// between the write and the flow's work finds it and lets the work run again.
pub async fn journal_once(
    journal: &dyn EventJournal,
    clock: &dyn Clock,
    flow: Flow,
    event: &EventEnvelope,
) -> Result<bool, StoreError> {
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
    Ok(match journal.record(&record).await? {
        RecordOutcome::Inserted => {
            tracing::info!(event_type = %event.event_type, object_id = event.object_id().unwrap_or("-"), "stripe event recorded");
            true
        }
        RecordOutcome::AlreadyPresent => {
            tracing::info!("duplicate delivery of a recorded event");
            false
        }
    })
}
