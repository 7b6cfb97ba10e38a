//! The payments queue: Stripe payment and refund events and platform order
//! and refund events. Refunds share the queue and handler with payments: they
//! need the same order links and platform adapters; a refund that arrives
//! before its payment is recorded waits for it (`O2cError::NotYet`).
//! Each Stripe event is journaled exactly once; then order-to-cash acts on
//! it. Order-to-cash runs on every delivery, not only the first, because its
//! own steps are idempotent and a retry must finish what a failure interrupted.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use crate::batch::{BatchRecord, MessageHandler};
use crate::clock::Clock;
use crate::commerce::CustomerRef;
use crate::commerce::{Order, OrderRef};
use crate::error::{Retryable, StoreError};
use crate::flows::customers::{CustomerEvent, CUSTOMER_CHANGED};
use crate::flows::order_to_cash::{O2cError, O2cOutcome, OrderToCash, PaymentEvent};
use crate::flows::refunds::RefundTrigger;
use crate::message::{MessageError, QueueEnvelope};
use crate::ports::{EventJournal, IdempotencyStore};
use crate::routing::Flow;
use crate::stripe::EventEnvelope;

/// The canonical event type platform receivers and pollers enqueue.
pub const ORDER_CREATED: &str = "order.created";
/// A hint that an order changed: the handler re-reads it from the platform.
/// Used for orders a poll could not read (redriven once fixed) and for
/// webhooks from senders that cannot sign their bodies.
pub const ORDER_CHANGED: &str = "order.changed";

/// A refund made on the platform, to be refunded in Stripe (from a poll or a
/// platform webhook; the handler re-reads the record).
pub const REFUND_REQUESTED: &str = "refund.requested";

/// What a `refund.requested` message names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefundRequest {
    #[serde(flatten)]
    pub order: OrderRef,
    pub refund_id: String,
}

/// The message for a refund record found on the platform; its event id names
/// the record, so every source's message for it is recognisably one.
pub fn refund_requested_message(
    request: &RefundRequest,
    received_at_ms: i64,
) -> Result<crate::message::OutboundMessage, serde_json::Error> {
    QueueEnvelope::platform_message(
        &request.order.platform,
        &format!(
            "{}/refund/{}/requested",
            request.order.key(),
            request.refund_id
        ),
        REFUND_REQUESTED,
        request,
        received_at_ms,
    )
}

/// The hint for an order that changed at `updated_at`.
pub fn order_changed_message(
    reference: &OrderRef,
    updated_at: &str,
    received_at_ms: i64,
) -> Result<crate::message::OutboundMessage, serde_json::Error> {
    QueueEnvelope::platform_message(
        &reference.platform,
        &format!("{}/changed@{updated_at}", reference.key()),
        ORDER_CHANGED,
        reference,
        received_at_ms,
    )
}

/// The queue message for a new order, from a platform webhook or a poll. The
/// event id names the order, so every source's message for it is recognisably one.
pub fn order_created_message(
    order: &Order,
    received_at_ms: i64,
) -> Result<crate::message::OutboundMessage, serde_json::Error> {
    QueueEnvelope::platform_message(
        &order.reference.platform,
        &format!("{}/created", order.reference.key()),
        ORDER_CREATED,
        order,
        received_at_ms,
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error(transparent)]
    Refused(#[from] crate::flows::Refused),
    #[error("event {0} of type {1} does not belong to the payments flow")]
    WrongFlow(String, String),
    #[error(transparent)]
    Journal(#[from] StoreError),
    #[error(transparent)]
    OrderToCash(#[from] O2cError),
}

impl Retryable for PaymentsError {
    fn is_retryable(&self) -> bool {
        match self {
            PaymentsError::Message(_) | PaymentsError::WrongFlow(..) => false,
            PaymentsError::Refused(e) => e.is_retryable(),
            PaymentsError::Journal(e) => e.is_retryable(),
            PaymentsError::OrderToCash(e) => e.is_retryable(),
        }
    }

    fn is_contention(&self) -> bool {
        matches!(self, PaymentsError::OrderToCash(e) if e.is_contention())
    }
}

pub struct PaymentsHandler {
    pub store: Arc<dyn IdempotencyStore>,
    pub journal: Arc<dyn EventJournal>,
    pub clock: Arc<dyn Clock>,
    pub lease_secs: i64,
    /// Tells which mode (live or test) the API key is for.
    pub stripe: Arc<dyn crate::stripe::StripeApi>,
    pub order_to_cash: Arc<OrderToCash>,
}

/// What happened to one message, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// False when this Stripe event had been journaled by an earlier delivery.
    pub first_delivery: bool,
    pub order_to_cash: Option<O2cOutcome>,
}

impl PaymentsHandler {
    pub async fn handle_message(&self, body: &str) -> Result<PaymentOutcome, PaymentsError> {
        let queued = QueueEnvelope::parse(body)?;
        if queued.source != "stripe" {
            return self.handle_platform_event(&queued).await;
        }
        let raw = queued.event.get().as_bytes();
        let event = crate::flows::admit(self.stripe.as_ref(), raw, Flow::Payments).await?;
        let first_delivery = self.journal_once(&event).await?;
        let order_to_cash = match PaymentEvent::from_stripe(&event.id, &event.event_type, raw)
            .map_err(O2cError::Invalid)?
        {
            Some(payment) => Some(self.order_to_cash.on_payment_event(&payment).await?),
            None => match RefundTrigger::from_stripe(&event.id, &event.event_type, raw)
                .map_err(O2cError::Invalid)?
            {
                Some(trigger) => Some(self.order_to_cash.on_refund_event(&trigger).await?),
                None => match CustomerEvent::from_stripe(&event.event_type, raw)
                    .map_err(O2cError::Invalid)?
                {
                    Some(customer) => {
                        let span = tracing::info_span!("customer", stripe_customer = %customer.customer_id);
                        let outcome = self
                            .order_to_cash
                            .customers
                            .on_stripe_customer_event(&customer)
                            .instrument(span)
                            .await?;
                        Some(O2cOutcome::Customer(outcome))
                    }
                    None => None,
                },
            },
        };
        Ok(PaymentOutcome {
            first_delivery,
            order_to_cash,
        })
    }

    async fn handle_platform_event(
        &self,
        queued: &QueueEnvelope,
    ) -> Result<PaymentOutcome, PaymentsError> {
        let invalid = |e: serde_json::Error| {
            O2cError::Invalid(format!(
                "{} event {}: {e}",
                queued.event_type, queued.event_id
            ))
        };
        let order: Order = match queued.event_type.as_str() {
            REFUND_REQUESTED => {
                let request: RefundRequest =
                    serde_json::from_str(queued.event.get()).map_err(invalid)?;
                let span = tracing::info_span!("order", order_id = %request.order.order_id, refund = %request.refund_id);
                let outcome = self
                    .order_to_cash
                    .on_platform_refund(&request.order, &request.refund_id)
                    .instrument(span)
                    .await?;
                return Ok(PaymentOutcome {
                    first_delivery: true,
                    order_to_cash: Some(outcome),
                });
            }
            CUSTOMER_CHANGED => {
                let customer: CustomerRef =
                    serde_json::from_str(queued.event.get()).map_err(invalid)?;
                let span = tracing::info_span!("customer", customer = %customer.key());
                let outcome = self
                    .order_to_cash
                    .customers
                    .on_platform_customer_changed(&customer)
                    .instrument(span)
                    .await?;
                return Ok(PaymentOutcome {
                    first_delivery: true,
                    order_to_cash: Some(O2cOutcome::Customer(outcome)),
                });
            }
            ORDER_CREATED => serde_json::from_str(queued.event.get()).map_err(invalid)?,
            ORDER_CHANGED => {
                let reference: OrderRef =
                    serde_json::from_str(queued.event.get()).map_err(invalid)?;
                self.order_to_cash.reread(&reference).await?
            }
            _ => {
                return Err(PaymentsError::WrongFlow(
                    queued.event_id.clone(),
                    queued.event_type.clone(),
                ))
            }
        };
        let span = tracing::info_span!("order", order_id = %order.reference.order_id, increment_id = %order.increment_id);
        let outcome = self
            .order_to_cash
            .on_order_created(&order)
            .instrument(span)
            .await?;
        Ok(PaymentOutcome {
            first_delivery: true,
            order_to_cash: Some(outcome),
        })
    }

    /// Records the event in the journal once; true on its first delivery.
    async fn journal_once(&self, event: &EventEnvelope) -> Result<bool, PaymentsError> {
        Ok(crate::flows::journal_once(
            self.journal.as_ref(),
            self.clock.as_ref(),
            Flow::Payments,
            event,
        )
        .await?)
    }
}

#[async_trait]
impl MessageHandler for PaymentsHandler {
    type Error = PaymentsError;
    fn name(&self) -> &'static str {
        "payments"
    }

    /// One order's messages run in sequence: the order's key where the message
    /// names it, else the PaymentIntent it is about.
    fn sequence_key(&self, record: &BatchRecord) -> Option<String> {
        sequence_key(&record.body)
    }

    async fn handle(&self, record: &BatchRecord) -> Result<(), PaymentsError> {
        self.handle_message(&record.body).await.map(|_| ())
    }
}

/// The order (or, failing that, the PaymentIntent) a queued message is about.
pub fn sequence_key(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Object {
        id: Option<String>,
        object: Option<String>,
        payment_intent: Option<String>,
        #[serde(default)]
        metadata: std::collections::HashMap<String, String>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        object: Object,
    }
    #[derive(serde::Deserialize)]
    struct Event {
        data: Data,
    }
    let queued = QueueEnvelope::parse(body).ok()?;
    if queued.source != "stripe" {
        return match queued.event_type.as_str() {
            ORDER_CREATED | ORDER_CHANGED | REFUND_REQUESTED => {
                serde_json::from_str::<OrderRef>(queued.event.get())
                    .ok()
                    .map(|r| r.key())
            }
            CUSTOMER_CHANGED => serde_json::from_str::<CustomerRef>(queued.event.get())
                .ok()
                .map(|c| format!("customer/{}", c.key())),
            _ => None,
        };
    }
    if queued.event_type.starts_with("customer.") {
        return serde_json::from_str::<Event>(queued.event.get())
            .ok()?
            .data
            .object
            .id
            .map(|id| format!("stripe-customer/{id}"));
    }
    let object = serde_json::from_str::<Event>(queued.event.get())
        .ok()?
        .data
        .object;
    let m = &object.metadata;
    if let (Some(p), Some(s), Some(o)) = (m.get("platform"), m.get("store"), m.get("order_id")) {
        return Some(format!("{p}/{s}/{o}"));
    }
    match object.object.as_deref() {
        Some("payment_intent") => object.id,
        _ => object.payment_intent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{harness, stripe_message};

    fn with_object(id: &str, event_type: &str) -> String {
        stripe_message(
            id,
            event_type,
            &serde_json::json!({"id": "pi_9", "object": "payment_intent"}),
        )
    }

    /// A routed event order-to-cash waits past: an authorization is not money received.
    fn ignored_by_o2c(id: &str) -> String {
        stripe_message(
            id,
            "charge.succeeded",
            &serde_json::json!({"id": "ch_9", "object": "charge", "amount": 100, "currency": "usd",
                "status": "succeeded", "paid": true, "captured": false, "payment_intent": "pi_9",
                "created": 1, "livemode": false}),
        )
    }

    #[tokio::test]
    async fn records_once_however_often_delivered() {
        let h = harness();
        let body = ignored_by_o2c("evt_a");
        let first = h.handler.handle_message(&body).await.unwrap();
        assert!(first.first_delivery);
        assert_eq!(first.order_to_cash, None);
        for _ in 0..3 {
            assert!(
                !h.handler
                    .handle_message(&body)
                    .await
                    .unwrap()
                    .first_delivery
            );
        }
        let events = h.journal.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].object_id.as_deref(), Some("ch_9"));
        assert_eq!(events[0].event_type, "charge.succeeded");
    }

    #[tokio::test]
    async fn storage_outage_is_retryable_and_bad_messages_are_not() {
        let h = harness();
        h.journal.fail(true);
        let err = h
            .handler
            .handle_message(&ignored_by_o2c("evt_b"))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        h.journal.fail(false);
        assert!(
            h.handler
                .handle_message(&ignored_by_o2c("evt_b"))
                .await
                .unwrap()
                .first_delivery
        );

        for bad in [
            "not json",
            r#"{"schema_version":2,"source":"stripe","event_id":"e","event_type":"t","received_at_ms":1,"event":{}}"#,
            r#"{"schema_version":1,"source":"magento","event_id":"e","event_type":"order.created","received_at_ms":1,"event":{"x":1}}"#,
            r#"{"schema_version":1,"source":"magento","event_id":"e","event_type":"order.exploded","received_at_ms":1,"event":{}}"#,
        ] {
            let err = h.handler.handle_message(bad).await.unwrap_err();
            assert!(!err.is_retryable(), "{err}");
        }
        let wrong = h
            .handler
            .handle_message(&with_object("evt_c", "invoice.paid"))
            .await
            .unwrap_err();
        assert!(!wrong.is_retryable());
        // a payment event whose object is not a PaymentIntent is permanent, not retried
        let broken = h
            .handler
            .handle_message(&with_object("evt_d", "payment_intent.succeeded"))
            .await
            .unwrap_err();
        assert!(!broken.is_retryable(), "{broken}");
    }
}
