//! Which refund a Stripe event is about.

use crate::stripe::objects::{parse_event, Charge, Refund};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundTrigger {
    /// `refund.*`, `charge.refund.updated`: this refund.
    Refund(String),
    /// `charge.refunded`: some refund of this charge (the event names none).
    Charge(String),
}

impl RefundTrigger {
    /// `Ok(None)` for event types that are not about refunds.
    pub fn from_stripe(
        event_id: &str,
        event_type: &str,
        raw: &[u8],
    ) -> Result<Option<Self>, String> {
        let e =
            |err: crate::stripe::objects::ObjectError| format!("{event_type} {event_id}: {err}");
        Ok(match event_type {
            "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
                Some(RefundTrigger::Refund(
                    parse_event::<Refund>(raw).map_err(e)?.data.object.id,
                ))
            }
            "charge.refunded" => Some(RefundTrigger::Charge(
                parse_event::<Charge>(raw).map_err(e)?.data.object.id,
            )),
            _ => None,
        })
    }
}
