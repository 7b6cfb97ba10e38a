//! A payment attempt failed: put the order in the failure status with the
//! decline code and tell the customer. A later success still completes it.

use super::{O2cError, O2cOutcome, OrderToCash, PaymentEvent, PaymentEventKind};
use crate::commerce::{Order, OrderComment, PaymentState};
use crate::stripe::objects::PaymentIntentStatus;

impl OrderToCash {
    pub(super) async fn payment_failed(
        &self,
        event: &PaymentEvent,
        order: Order,
    ) -> Result<O2cOutcome, O2cError> {
        let PaymentEventKind::Failed {
            attempt_id,
            decline_code,
            message,
        } = &event.kind
        else {
            unreachable!("dispatched on kind")
        };
        let reference = order.reference.clone();
        if order.payment_state == PaymentState::Paid {
            return Ok(O2cOutcome::Skipped("order already paid; failure is stale"));
        }
        // Events arrive out of order: a retry may already have succeeded.
        if let Some(pi) = &event.payment_intent_id {
            let current = self.stripe.retrieve_payment_intent(pi).await?;
            if current.status == PaymentIntentStatus::Succeeded {
                return Ok(O2cOutcome::Skipped("PaymentIntent has since succeeded"));
            }
        }
        let step = format!("payment-failed/{attempt_id}");
        let failure_status = self.settings.rules.failure_status.clone();
        let platform = self.platform_for(&reference)?;
        self.step(&reference, &step, || async {
            let fresh = platform.get_order(&reference.order_id).await?;
            if fresh.has_comment_containing(attempt_id) {
                return Ok("already-recorded".into());
            }
            if fresh.payment_state == PaymentState::Paid {
                return Ok("paid-meanwhile".into());
            }
            platform
                .add_order_comment(
                    &reference.order_id,
                    &OrderComment {
                        text: format!(
                            "Payment failed in Stripe: {decline_code}{} (attempt {attempt_id}, PaymentIntent {}).",
                            if message.is_empty() { String::new() } else { format!(" - {message}") },
                            event.payment_intent_id.as_deref().unwrap_or("-"),
                        ),
                        status: Some(failure_status.clone()),
                        notify_customer: self.settings.rules.notify_customer_on_failure,
                        visible_on_front: true,
                    },
                )
                .await?;
            Ok(format!("status {failure_status}"))
        })
        .await?;
        Ok(O2cOutcome::FailureRecorded {
            decline_code: decline_code.clone(),
        })
    }
}
