//! The Stripe events order-to-cash acts on, reduced to what it needs.

use crate::money::{Currency, MinorUnit};
use crate::stripe::objects::{parse_event, Charge, Metadata, PaymentIntent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEventKind {
    Succeeded {
        /// The charge is the platform's transaction reference; `None` only if
        /// Stripe sent a succeeded PaymentIntent without `latest_charge`.
        charge_id: Option<String>,
        amount: MinorUnit,
        currency: Currency,
    },
    Failed {
        /// One failed attempt: the failed charge, else the event itself.
        attempt_id: String,
        decline_code: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    pub event_id: String,
    pub payment_intent_id: Option<String>,
    pub metadata: Metadata,
    /// A `charge.*` event (its metadata may lack the order's).
    pub from_charge: bool,
    pub kind: PaymentEventKind,
}

impl PaymentEvent {
    /// `Ok(None)` for event types order-to-cash does not act on.
    pub fn from_stripe(
        event_id: &str,
        event_type: &str,
        raw: &[u8],
    ) -> Result<Option<Self>, String> {
        let e =
            |err: crate::stripe::objects::ObjectError| format!("{event_type} {event_id}: {err}");
        Ok(Some(match event_type {
            "payment_intent.succeeded" => {
                let pi = parse_event::<PaymentIntent>(raw).map_err(e)?.data.object;
                PaymentEvent {
                    event_id: event_id.into(),
                    payment_intent_id: Some(pi.id.clone()),
                    kind: PaymentEventKind::Succeeded {
                        charge_id: pi.latest_charge.map(|c| c.0),
                        amount: if pi.amount_received > MinorUnit::ZERO {
                            pi.amount_received
                        } else {
                            pi.amount
                        },
                        currency: pi.currency,
                    },
                    metadata: pi.metadata,
                    from_charge: false,
                }
            }
            "charge.succeeded" | "charge.captured" => {
                let ch = parse_event::<Charge>(raw).map_err(e)?.data.object;
                // An authorization is not money received: wait for the capture.
                if !ch.captured {
                    return Ok(None);
                }
                PaymentEvent {
                    event_id: event_id.into(),
                    payment_intent_id: ch.payment_intent.map(|p| p.0),
                    kind: PaymentEventKind::Succeeded {
                        charge_id: Some(ch.id),
                        amount: if ch.amount_captured > MinorUnit::ZERO {
                            ch.amount_captured
                        } else {
                            ch.amount
                        },
                        currency: ch.currency,
                    },
                    metadata: ch.metadata,
                    from_charge: true,
                }
            }
            "payment_intent.payment_failed" => {
                let pi = parse_event::<PaymentIntent>(raw).map_err(e)?.data.object;
                let err = pi.last_payment_error.clone();
                PaymentEvent {
                    event_id: event_id.into(),
                    payment_intent_id: Some(pi.id),
                    kind: PaymentEventKind::Failed {
                        attempt_id: err
                            .as_ref()
                            .and_then(|x| x.charge.clone())
                            .unwrap_or_else(|| event_id.to_string()),
                        decline_code: err
                            .as_ref()
                            .and_then(|x| x.decline_code.clone().or_else(|| x.code.clone()))
                            .unwrap_or_else(|| "payment_failed".into()),
                        message: err.and_then(|x| x.message).unwrap_or_default(),
                    },
                    metadata: pi.metadata,
                    from_charge: false,
                }
            }
            "charge.failed" => {
                let ch = parse_event::<Charge>(raw).map_err(e)?.data.object;
                let outcome = ch.outcome.clone();
                PaymentEvent {
                    event_id: event_id.into(),
                    payment_intent_id: ch.payment_intent.map(|p| p.0),
                    kind: PaymentEventKind::Failed {
                        attempt_id: ch.id,
                        decline_code: outcome
                            .as_ref()
                            .and_then(|o| o.reason.clone())
                            .or(ch.failure_code)
                            .unwrap_or_else(|| "payment_failed".into()),
                        message: ch.failure_message.unwrap_or_default(),
                    },
                    metadata: ch.metadata,
                    from_charge: true,
                }
            }
            _ => return Ok(None),
        }))
    }
}
