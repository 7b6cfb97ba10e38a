//! Refunds made in Stripe (the Dashboard, the API, or Tally itself for a
//! platform's credit memo) reach the platform as a refund record for exactly
//! that amount and the ERP as a balanced credit memo, each keyed on the Stripe
//! Refund id. A refund that fails later gets a note on the order and its ERP
//! posting reversed.
//!
//! Events are only a trigger: the refund is re-read from Stripe under a lock
//! held per refund, and its current status decides, so duplicated, reordered
//! and late events (`refund.created` after `refund.failed`) converge on the
//! same records. `charge.refunded` names no refund (since API 2022-11-15 a
//! charge carries no refund list), so the charge's refunds are listed.

mod entries;
mod event;
mod from_platform;
#[cfg(test)]
mod tests;

pub use event::RefundTrigger;
pub use from_platform::{in_review, mark_in_review, review_key, unreadable_key};

use crate::commerce::{Order, RefundRecord};
use crate::flows::order_to_cash::{O2cError, O2cOutcome, OrderToCash, SALES_ORDER_STEP};
use crate::idempotency::{peek, Recorded};
use crate::money::Money;
use crate::ports::Claim;
use crate::stripe::objects::{Refund, RefundStatus};

/// Metadata Tally puts on a refund it creates from a platform record: the
/// platform already shows that refund, so it is not recorded there again.
pub const PLATFORM_RECORD_METADATA: &str = "tally_platform_record";

impl OrderToCash {
    /// Entry point for refund events on the payments queue.
    pub async fn on_refund_event(&self, trigger: &RefundTrigger) -> Result<O2cOutcome, O2cError> {
        let refund_ids = match trigger {
            RefundTrigger::Refund(id) => vec![id.clone()],
            // oldest first, so an order's refunds are recorded in the order they were made
            RefundTrigger::Charge(charge) => self
                .stripe
                .list_refunds(charge)
                .await?
                .into_iter()
                .rev()
                .map(|r| r.id)
                .collect(),
        };
        let mut outcome = O2cOutcome::Skipped("no refund to act on");
        for id in refund_ids {
            let this = self.with_refund_lock(&id).await?;
            if !matches!(this, O2cOutcome::Skipped(_)) || matches!(outcome, O2cOutcome::Skipped(_))
            {
                outcome = this;
            }
        }
        Ok(outcome)
    }

    /// One refund at a time: two events about it never act on it at once.
    async fn with_refund_lock(&self, refund_id: &str) -> Result<O2cOutcome, O2cError> {
        let key = format!("refund-lock/{refund_id}");
        let now = self.clock.now_secs();
        let token = match self
            .store
            .claim(&key, now, self.settings.lease_secs)
            .await?
        {
            Claim::Acquired(token) => token,
            Claim::InProgress { .. } | Claim::Completed { .. } => return Err(O2cError::Busy(key)),
        };
        let result = self.sync_refund(refund_id).await;
        if let Err(e) = self.store.release(&key, &token).await {
            tracing::warn!(error = %e, key, "could not release the refund lock; it expires with its lease");
        }
        result
    }

    async fn sync_refund(&self, refund_id: &str) -> Result<O2cOutcome, O2cError> {
        let refund = self.stripe.retrieve_refund(refund_id).await?;
        let Some((order, charge_id, pi)) = self.order_of_refund(&refund).await? else {
            tracing::info!(
                refund = refund_id,
                "refund is not for an order of this deployment"
            );
            return Ok(O2cOutcome::Skipped("not an order of this platform"));
        };
        let span = tracing::info_span!("order", order_id = %order.reference.order_id, increment_id = %order.increment_id, refund = refund_id);
        let _guard = span.enter();
        if refund.currency != order.currency {
            return Err(O2cError::NeedsReview(format!(
                "refund {refund_id} is in {} but order {} is in {}",
                refund.currency, order.reference, order.currency
            )));
        }
        match refund.status {
            Some(RefundStatus::Succeeded) => {
                self.refund_succeeded(&order, &refund, &charge_id, &pi)
                    .await
            }
            Some(RefundStatus::Failed | RefundStatus::Canceled) => {
                self.refund_failed(&order, &refund).await
            }
            _ => Ok(O2cOutcome::Skipped("refund not settled yet")),
        }
    }

    /// The order a refund is for, with its charge and PaymentIntent, from the
    /// PaymentIntent's metadata (a refund made in the Dashboard carries none).
    async fn order_of_refund(
        &self,
        refund: &Refund,
    ) -> Result<Option<(Order, String, String)>, O2cError> {
        let (charge_id, pi_id) = match (&refund.charge, &refund.payment_intent) {
            (Some(c), Some(p)) => (c.0.clone(), p.0.clone()),
            (Some(c), None) => {
                let charge = self.stripe.retrieve_charge(&c.0).await?;
                match charge.payment_intent {
                    Some(p) => (c.0.clone(), p.0),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let pi = self.stripe.retrieve_payment_intent(&pi_id).await?;
        Ok(self
            .order_for_metadata(&pi.metadata)
            .await?
            .map(|order| (order, charge_id, pi_id)))
    }

    async fn refund_succeeded(
        &self,
        order: &Order,
        refund: &Refund,
        charge_id: &str,
        pi: &str,
    ) -> Result<O2cOutcome, O2cError> {
        let reference = &order.reference;
        let platform = self.platform_for(reference)?;
        // A refund can reach Tally before the payment it returns is recorded (its
        // events reordered, or the payment's delivery still retrying): wait for it.
        if !refund.metadata.contains_key(PLATFORM_RECORD_METADATA)
            && order.payment_state == crate::commerce::PaymentState::AwaitingPayment
        {
            return Err(O2cError::NotYet(format!(
                "refund {} of order {reference}: the platform does not show the payment yet",
                refund.id
            )));
        }
        let amount = Money {
            amount: refund.amount,
            currency: refund.currency,
        };
        let platform_record = match refund.metadata.get(PLATFORM_RECORD_METADATA) {
            // made by Tally from this platform record: never echoed back
            Some(record) => format!("from-platform:{record}"),
            None => {
                self.step(
                    reference,
                    &format!("refund/{}/platform", refund.id),
                    || async {
                        // the platform's own records first: a crash after the write
                        // and before its completion must not record the refund twice
                        let recorded = platform.refunds_of(&reference.order_id).await?;
                        if let Some(found) = recorded
                            .iter()
                            .find(|r| r.stripe_refund_id.as_deref() == Some(refund.id.as_str()))
                        {
                            return Ok(format!("already-recorded:{}", found.id));
                        }
                        let record = RefundRecord {
                            amount,
                            stripe_refund_id: refund.id.clone(),
                            charge_id: charge_id.to_string(),
                            comment: format!(
                            "Refunded {amount} in Stripe: refund {} on charge {charge_id} (Tally).",
                            refund.id
                        ),
                            notify_customer: self.settings.rules.notify_customer_on_invoice,
                        };
                        Ok(platform.record_refund(&reference.order_id, &record).await?)
                    },
                )
                .await?
            }
        };
        let posting = self.settings.paid_orders;
        let mut erp_entry = String::new();
        if posting.journal_entry() {
            erp_entry = self
                .step(reference, &format!("refund/{}/erp", refund.id), || async {
                    let entry = self.refund_entry(order, refund, charge_id, pi)?;
                    Ok(self.erp.post_journal_entry(&entry).await?.id)
                })
                .await?;
        }
        if posting.sales_order() {
            // The credit memo credits the order's sales order, which must be posted first.
            if self
                .completed_step(reference, SALES_ORDER_STEP)
                .await?
                .is_none()
            {
                return Err(O2cError::NotYet(format!(
                    "refund {} of order {reference}: the order's sales order is not posted yet",
                    refund.id
                )));
            }
            let memo = self
                .step(
                    reference,
                    &format!("refund/{}/erp-credit-memo", refund.id),
                    || async {
                        let memo = self.credit_memo(order, refund, charge_id, pi)?;
                        Ok(self.erp.post_credit_memo(&memo).await?.id)
                    },
                )
                .await?;
            if erp_entry.is_empty() {
                erp_entry = memo;
            }
        }
        Ok(O2cOutcome::RefundRecorded {
            refund: refund.id.clone(),
            platform_record,
            erp_entry,
        })
    }

    async fn refund_failed(&self, order: &Order, refund: &Refund) -> Result<O2cOutcome, O2cError> {
        let reference = &order.reference;
        let reason = refund.failure_reason.as_deref().unwrap_or("unknown");
        let reversal = match self
            .completed_step(reference, &format!("refund/{}/erp", refund.id))
            .await?
        {
            None => None,
            Some(posted) => Some(
                self.step(
                    reference,
                    &format!("refund/{}/erp-reversal", refund.id),
                    || async {
                        let entry = self.refund_reversal_entry(order, refund, &posted)?;
                        Ok(self.erp.post_journal_entry(&entry).await?.id)
                    },
                )
                .await?,
            ),
        };
        let platform = self.platform_for(reference)?;
        let shown = platform
            .refunds_of(&reference.order_id)
            .await?
            .iter()
            .any(|r| r.stripe_refund_id.as_deref() == Some(refund.id.as_str()));
        if shown || reversal.is_some() {
            let amount = Money {
                amount: refund.amount,
                currency: refund.currency,
            };
            self.note_once(
                reference,
                &format!("refund/{}/failed-note", refund.id),
                &format!("refund {} failed", refund.id),
                format!(
                    "Stripe refund {} failed ({reason}): the {amount} was not returned to the customer. \
                     The refund recorded for it no longer reflects money returned; the ERP posting is reversed (Tally).",
                    refund.id
                ),
            )
            .await?;
        }
        if let Some(memo) = self
            .completed_step(reference, &format!("refund/{}/erp-credit-memo", refund.id))
            .await?
        {
            // A posted credit memo is the ERP's document; voiding it is the ERP's call.
            return Err(O2cError::NeedsReview(format!(
                "Stripe refund {} failed ({reason}) after credit memo {memo} was posted for it: void the credit memo in the ERP",
                refund.id
            )));
        }
        Ok(O2cOutcome::RefundFailed {
            refund: refund.id.clone(),
            reversal,
        })
    }

    /// The recorded result of a step if it ran to completion, without running it.
    async fn completed_step(
        &self,
        reference: &crate::commerce::OrderRef,
        step: &str,
    ) -> Result<Option<String>, O2cError> {
        let key = Self::step_key(reference, step);
        match peek(self.store.as_ref(), self.clock.as_ref(), &key).await? {
            Recorded::Done(result) => Ok(Some(result)),
            Recorded::InProgress => Err(O2cError::Busy(key)),
            Recorded::Absent => Ok(None),
        }
    }
}
