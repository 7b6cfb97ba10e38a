//! A refund made on the platform (a credit memo a merchant saved) becomes a
//! Stripe refund of the order's charge, exactly once: the platform's record is
//! re-read (a poll or a webhook only names it), a record that already names a
//! Stripe refund is never refunded again (Tally's own records of Stripe
//! refunds included: no loop), the refund carries metadata naming the record
//! and an idempotency key derived from it, and an earlier attempt's refund is
//! found by that metadata before a new one is made. Tally never asks Stripe
//! for more than is left on the charge: the shortfall goes to review. The ERP
//! credit memo follows from Stripe's `refund.created`, as for any refund.

use super::PLATFORM_RECORD_METADATA;
use crate::clock::Clock;
use crate::commerce::{OrderRef, RefundRecord};
use crate::error::StoreError;
use crate::flows::order_to_cash::{O2cError, O2cOutcome, OrderToCash};
use crate::idempotency::{peek, run_once, OnceError, Recorded, DEFAULT_LEASE_SECS};
use crate::money::{MinorUnit, Money};
use crate::ports::IdempotencyStore;
use crate::stripe::NewRefund;

/// The mark on a platform refund record sent to review, by record and amount
/// (a merchant who corrects the amount makes it new work).
pub fn review_key(order: &OrderRef, refund_id: &str, amount: MinorUnit) -> String {
    format!(
        "refund-review/{}/{}/{refund_id}/{}",
        order.platform,
        order.store,
        amount.get()
    )
}

/// The mark on a platform refund record that could not be read at all.
pub fn unreadable_key(order: &OrderRef, refund_id: &str) -> String {
    format!(
        "refund-review/{}/{}/{refund_id}/unreadable",
        order.platform, order.store
    )
}

/// Marks `key` as sent to review with its reason (a mark already there stays).
pub async fn mark_in_review(
    store: &dyn IdempotencyStore,
    clock: &dyn Clock,
    key: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let reason: String = reason.chars().take(300).collect();
    let marked = run_once(store, clock, key, DEFAULT_LEASE_SECS, || async {
        Ok::<_, StoreError>(reason)
    });
    match marked.await {
        Ok(_) | Err(OnceError::Busy { .. }) => Ok(()),
        Err(OnceError::Store(e) | OnceError::Work(e)) => Err(e),
    }
}

/// Whether the record was sent to review at this amount (see `review_key`).
pub async fn in_review(
    store: &dyn IdempotencyStore,
    clock: &dyn Clock,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(matches!(peek(store, clock, key).await?, Recorded::Done(_)))
}

impl OrderToCash {
    pub async fn on_platform_refund(
        &self,
        order: &OrderRef,
        refund_id: &str,
    ) -> Result<O2cOutcome, O2cError> {
        let platform = self.platform_for(order)?;
        let find = || async {
            Ok::<_, O2cError>(
                platform
                    .refunds_of(&order.order_id)
                    .await?
                    .into_iter()
                    .find(|r| r.id == refund_id),
            )
        };
        let Some(record) = find().await? else {
            return Err(O2cError::Invalid(format!(
                "order {order} has no refund record {refund_id}"
            )));
        };
        if !record.awaiting {
            return Ok(O2cOutcome::Skipped(
                "the refund record names a Stripe refund or was refunded another way",
            ));
        }
        if record.amount <= MinorUnit::ZERO {
            return Ok(O2cOutcome::Skipped("the refund record returns no money"));
        }
        let currency = platform.get_order(&order.order_id).await?.currency;
        let amount = Money {
            amount: record.amount,
            currency,
        };
        let parked = |e: O2cError| self.park_for_review(order, refund_id, record.amount, e);
        let charge_id = match self.charge_of(order).await {
            Ok(charge) => charge,
            Err(e) => return Err(parked(e).await),
        };
        let record_name = format!("{}/refund/{refund_id}", order.key());
        let stripe_refund = self
            .step(order, &format!("platform-refund/{refund_id}/stripe"), || async {
                // a refund an earlier attempt made (and did not record) is found by its metadata
                if let Some(made) = self
                    .stripe
                    .list_refunds(&charge_id)
                    .await?
                    .into_iter()
                    .find(|r| r.metadata.get(PLATFORM_RECORD_METADATA) == Some(&record_name))
                {
                    return Ok(made.id);
                }
                let charge = self.stripe.retrieve_charge(&charge_id).await?;
                let left = MinorUnit::new(charge.amount.get() - charge.amount_refunded.get());
                if record.amount > left {
                    return Err(O2cError::NeedsReview(format!(
                        "{} refund {refund_id} of order {order} is {amount} but only {} is left on charge {charge_id}: \
                         refund the difference another way",
                        order.platform,
                        Money { amount: left, currency }
                    )));
                }
                let created = self
                    .stripe
                    .create_refund(
                        &NewRefund {
                            charge: charge_id.clone(),
                            amount,
                            metadata: vec![
                                (PLATFORM_RECORD_METADATA.into(), record_name.clone()),
                                ("platform".into(), order.platform.clone()),
                                ("store".into(), order.store.clone()),
                                ("order_id".into(), order.order_id.clone()),
                            ],
                        },
                        &format!("tally-refund-{}", record_name.replace('/', "-")),
                    )
                    .await?;
                Ok(created.id)
            })
            .await;
        let stripe_refund = match stripe_refund {
            Ok(id) => id,
            Err(e) => return Err(parked(e).await),
        };
        self.step(
            order,
            &format!("platform-refund/{refund_id}/noted"),
            || async {
                if find().await?.is_some_and(|r| r.stripe_refund_id.is_some()) {
                    return Ok("already-noted".to_string());
                }
                let sent = RefundRecord {
                    amount,
                    stripe_refund_id: stripe_refund.clone(),
                    charge_id: charge_id.clone(),
                    comment: format!(
                        "Refunded {amount} in Stripe: refund {stripe_refund} (Tally)."
                    ),
                    notify_customer: self.settings.rules.notify_customer_on_invoice,
                };
                platform
                    .note_refund_sent(&order.order_id, refund_id, &sent)
                    .await?;
                Ok("noted".to_string())
            },
        )
        .await?;
        Ok(O2cOutcome::RefundSent {
            refund: stripe_refund,
            platform_record: refund_id.to_string(),
        })
    }

    /// Sends a record Tally cannot refund to review once: it is marked (by
    /// record and amount) so a poll that reads every awaiting record each time
    /// leaves it alone until the merchant changes it; the error still goes
    /// to the DLQ with its reason. Other errors pass through.
    async fn park_for_review(
        &self,
        order: &OrderRef,
        refund_id: &str,
        amount: MinorUnit,
        error: O2cError,
    ) -> O2cError {
        let O2cError::NeedsReview(reason) = &error else {
            return error;
        };
        let key = review_key(order, refund_id, amount);
        let marked = mark_in_review(self.store.as_ref(), self.clock.as_ref(), &key, reason);
        if let Err(e) = marked.await {
            tracing::warn!(error = %e, key, "could not mark the refund record for review");
        }
        error
    }

    /// The charge that paid the order: the one that settled it, else its
    /// PaymentIntent's latest charge.
    async fn charge_of(&self, order: &OrderRef) -> Result<String, O2cError> {
        if let Some(charge) = self.links.settlement_for(&order.key()).await? {
            return Ok(charge);
        }
        let no_payment = || {
            O2cError::NeedsReview(format!(
                "order {order} was refunded on the platform but Tally knows no Stripe payment for it"
            ))
        };
        let pi = self
            .links
            .payment_intent_for(&order.key())
            .await?
            .ok_or_else(no_payment)?;
        self.stripe
            .retrieve_payment_intent(&pi)
            .await?
            .latest_charge
            .map(|c| c.0)
            .ok_or_else(no_payment)
    }
}
