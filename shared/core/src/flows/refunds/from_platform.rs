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
use crate::commerce::OrderRef;
use crate::flows::order_to_cash::{O2cError, O2cOutcome, OrderToCash};
use crate::money::{MinorUnit, Money};
use crate::stripe::NewRefund;

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
        if record.stripe_refund_id.is_some() {
            return Ok(O2cOutcome::Skipped(
                "the refund record already names a Stripe refund",
            ));
        }
        let currency = platform.get_order(&order.order_id).await?.currency;
        let amount = Money {
            amount: record.amount,
            currency,
        };
        let charge_id = self.charge_of(order).await?;
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
            .await?;
        self.step(
            order,
            &format!("platform-refund/{refund_id}/noted"),
            || async {
                if find().await?.is_some_and(|r| r.stripe_refund_id.is_some()) {
                    return Ok("already-noted".to_string());
                }
                platform
                    .note_refund_sent(
                        &order.order_id,
                        refund_id,
                        &format!("Refunded {amount} in Stripe: refund {stripe_refund} (Tally)."),
                    )
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
