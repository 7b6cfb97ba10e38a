//! The payouts queue: Stripe's `payout.*` events, each only a trigger for
//! its payout, and Tally's own continuation messages for a payout whose
//! transactions outlast one invocation. The continuation is a new message,
//! so a payout of any size never spends the retries a failure is allowed.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use super::{PayoutError, PayoutOutcome, PayoutReconciliation};
use crate::batch::{BatchRecord, MessageHandler};
use crate::clock::Clock;
use crate::error::{QueueError, Retryable, StoreError};
use crate::message::{MessageError, OutboundMessage, QueueEnvelope};
use crate::ports::{EventJournal, IdempotencyStore, Queue};
use crate::routing::Flow;
use crate::stripe::{EventEnvelope, StripeApi};

/// Tally's message to carry on reading a payout in another invocation.
pub const PAYOUT_CONTINUE: &str = "payout.continue";
/// Stripe's signal that an automatic payout's transactions can be listed.
const RECONCILIATION_COMPLETED: &str = "payout.reconciliation_completed";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Continuation {
    payout: String,
}

/// The message to go on with `payout` after `read` transactions; its event
/// id names the progress, so a duplicate of it is recognisably one.
pub fn continuation_message(
    payout: &str,
    read: u64,
    now_ms: i64,
) -> Result<OutboundMessage, serde_json::Error> {
    QueueEnvelope::platform_message(
        "tally",
        &format!("{payout}/continue@{read}"),
        PAYOUT_CONTINUE,
        &Continuation {
            payout: payout.to_string(),
        },
        now_ms,
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PayoutsError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Refused(#[from] crate::flows::Refused),
    #[error("message {0} of type {1} does not belong to the payouts flow")]
    WrongFlow(String, String),
    #[error("event {0} names no payout")]
    NoPayout(String),
    #[error(transparent)]
    Journal(#[from] StoreError),
    #[error(transparent)]
    Payout(#[from] PayoutError),
    #[error("could not enqueue the payout's continuation: {0}")]
    Continue(#[from] QueueError),
}

impl Retryable for PayoutsError {
    fn is_retryable(&self) -> bool {
        match self {
            PayoutsError::Message(_) | PayoutsError::WrongFlow(..) | PayoutsError::NoPayout(_) => {
                false
            }
            PayoutsError::Refused(e) => e.is_retryable(),
            PayoutsError::Journal(e) => e.is_retryable(),
            PayoutsError::Payout(e) => e.is_retryable(),
            PayoutsError::Continue(e) => e.is_retryable(),
        }
    }

    fn is_contention(&self) -> bool {
        matches!(self, PayoutsError::Payout(e) if e.is_contention())
    }
}

pub struct PayoutsHandler {
    pub reconciliation: Arc<PayoutReconciliation>,
    pub store: Arc<dyn IdempotencyStore>,
    pub journal: Arc<dyn EventJournal>,
    pub stripe: Arc<dyn StripeApi>,
    pub clock: Arc<dyn Clock>,
    pub lease_secs: i64,
    /// This flow's own queue, for continuations.
    pub continuation: Arc<dyn Queue>,
}

/// The payout a message is about, and what kind of message it is.
struct Trigger {
    payout: String,
    message_type: String,
}

impl PayoutsHandler {
    pub async fn handle_message(&self, body: &str) -> Result<PayoutOutcome, PayoutsError> {
        let trigger = self.trigger(body).await?;
        let span = tracing::info_span!("payout", payout = %trigger.payout, message_type = %trigger.message_type);
        async {
            let outcome = self
                .reconciliation
                .on_payout(&trigger.payout)
                .await?;
            match &outcome {
                PayoutOutcome::AwaitingItemisation
                    if trigger.message_type == RECONCILIATION_COMPLETED =>
                {
                    // Stripe said it is itemised; a read that disagrees is retried
                    return Err(PayoutError::NotYet(format!(
                        "payout {} is not itemised yet, though Stripe sent {RECONCILIATION_COMPLETED}",
                        trigger.payout
                    ))
                    .into());
                }
                PayoutOutcome::Continues { transactions } => {
                    let message =
                        continuation_message(&trigger.payout, *transactions, self.clock.now_ms())
                            .map_err(MessageError::Invalid)?;
                    self.continuation.send(&message).await?;
                }
                PayoutOutcome::Posted {
                    unmatched,
                    unmatched_amount,
                    currency,
                    ..
                } => println!(
                    "{}",
                    crate::metrics::emf_line_with_total(
                        self.clock.now_ms(),
                        &[("Currency", currency.code())],
                        &[
                            ("PayoutsReconciled", 1.0, "Count"),
                            ("PayoutUnmatchedTransactions", *unmatched as f64, "Count"),
                            // minor units: a signal to look, never an amount to book
                            ("PayoutUnmatchedAmount", *unmatched_amount as f64, "None"),
                        ],
                    )
                ),
                _ => {}
            }
            tracing::info!(outcome = ?outcome, "payout handled");
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    async fn trigger(&self, body: &str) -> Result<Trigger, PayoutsError> {
        let queued = QueueEnvelope::parse(body)?;
        if queued.source != "stripe" {
            if queued.event_type != PAYOUT_CONTINUE {
                return Err(PayoutsError::WrongFlow(queued.event_id, queued.event_type));
            }
            let continuation: Continuation =
                serde_json::from_str(queued.event.get()).map_err(MessageError::Invalid)?;
            return Ok(Trigger {
                payout: continuation.payout,
                message_type: queued.event_type,
            });
        }
        let event = crate::flows::admit(
            self.stripe.as_ref(),
            queued.event.get().as_bytes(),
            Flow::Payouts,
        )
        .await?;
        let payout = match (event.object_type(), event.object_id()) {
            ("payout", Some(id)) => id.to_string(),
            _ => return Err(PayoutsError::NoPayout(event.id)),
        };
        crate::flows::journal_once(
            self.journal.as_ref(),
            self.clock.as_ref(),
            Flow::Payouts,
            &event,
        )
        .await?;
        Ok(Trigger {
            payout,
            message_type: event.event_type,
        })
    }
}

#[async_trait]
impl MessageHandler for PayoutsHandler {
    type Error = PayoutsError;
    fn name(&self) -> &'static str {
        "payouts"
    }

    /// One payout's messages run in sequence (they would wait on its lock).
    fn sequence_key(&self, record: &BatchRecord) -> Option<String> {
        let queued = QueueEnvelope::parse(&record.body).ok()?;
        if queued.source == "stripe" {
            let event = EventEnvelope::parse(queued.event.get().as_bytes()).ok()?;
            return event.object_id().map(str::to_string);
        }
        serde_json::from_str::<Continuation>(queued.event.get())
            .ok()
            .map(|c| c.payout)
    }

    async fn handle(&self, record: &BatchRecord) -> Result<(), PayoutsError> {
        self.handle_message(&record.body).await.map(|_| ())
    }
}
