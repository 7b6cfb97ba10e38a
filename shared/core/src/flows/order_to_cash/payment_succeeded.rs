//! A payment succeeded: invoice the order, note the Stripe ids, post to the ERP.

use std::collections::BTreeMap;

use super::{O2cError, O2cOutcome, OrderToCash, PaymentEvent, PaymentEventKind};
use crate::clock::utc_date;
use crate::commerce::{Order, PaymentCapture, PaymentState};
use crate::erp::{JournalEntry, JournalLine, Side};
use crate::money::Money;
use crate::ports::LinkOutcome;

impl OrderToCash {
    pub(super) async fn payment_succeeded(
        &self,
        event: &PaymentEvent,
        order: Order,
    ) -> Result<O2cOutcome, O2cError> {
        let PaymentEventKind::Succeeded {
            charge_id,
            amount,
            currency,
            created,
        } = &event.kind
        else {
            unreachable!("dispatched on kind")
        };
        let reference = order.reference.clone();
        let pi = event.payment_intent_id.clone().ok_or_else(|| {
            O2cError::Invalid(format!(
                "payment event {} has no PaymentIntent",
                event.event_id
            ))
        })?;
        match self
            .links
            .link_payment_intent(&reference.key(), &pi, self.clock.now_ms())
            .await?
        {
            LinkOutcome::Linked => tracing::info!(payment_intent = %pi, "linked from the payment event"),
            LinkOutcome::AlreadyLinked(linked) if linked != pi => {
                return Err(O2cError::NeedsReview(format!(
                    "order {reference} is linked to {linked} but {pi} also succeeded: possible double charge, refund one of them"
                )))
            }
            LinkOutcome::AlreadyLinked(_) => {}
        }
        let paid = Money {
            amount: *amount,
            currency: *currency,
        };
        if paid != order.total() {
            return Err(O2cError::NeedsReview(format!(
                "order {reference} totals {} but Stripe received {paid} on {pi}",
                order.total()
            )));
        }
        let transaction = charge_id.clone().unwrap_or_else(|| pi.clone());

        let invoice = self
            .step(&reference, "invoice", || async {
                let fresh = self.platform.get_order(&reference.order_id).await?;
                match fresh.payment_state {
                    PaymentState::Paid => return Ok("already-invoiced".to_string()),
                    PaymentState::NotCollectable => {
                        return Err(O2cError::NeedsReview(format!(
                            "order {reference} is {} / {} but {pi} was paid: refund or reopen the order",
                            fresh.state, fresh.status
                        )))
                    }
                    PaymentState::AwaitingPayment => {}
                }
                let id = self
                    .platform
                    .record_payment(
                        &reference.order_id,
                        &PaymentCapture {
                            amount: paid,
                            transaction_id: transaction.clone(),
                            payment_intent_id: pi.clone(),
                            comment: format!("Paid with Stripe: charge {transaction}, PaymentIntent {pi}."),
                            notify_customer: self.settings.rules.notify_customer_on_invoice,
                        },
                    )
                    .await?;
                Ok(id)
            })
            .await?;

        self.note_once(
            &reference,
            "paid-comment",
            &format!("charge {transaction}"),
            format!("Payment of {paid} received in Stripe: charge {transaction}, PaymentIntent {pi} (Tally)."),
        )
        .await?;

        let erp_entry = self
            .step(&reference, "erp-payment", || async {
                let accounts = &self.settings.accounts;
                let references: BTreeMap<String, String> = [
                    ("platform", reference.platform.as_str()),
                    ("store", reference.store.as_str()),
                    ("order_id", reference.order_id.as_str()),
                    ("increment_id", order.increment_id.as_str()),
                    ("payment_intent", pi.as_str()),
                    ("charge", transaction.as_str()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                let line = |account: &str, side| JournalLine {
                    account: account.into(),
                    side,
                    amount: paid.amount,
                    memo: None,
                };
                let entry = JournalEntry::new(
                    format!(
                        "tally-{}-payment-{transaction}",
                        reference.key().replace('/', "-")
                    ),
                    utc_date(*created),
                    paid.currency,
                    format!(
                        "Stripe payment for {} order #{}",
                        reference.platform, order.increment_id
                    ),
                    references,
                    vec![
                        line(&accounts.stripe_clearing, Side::Debit),
                        line(&accounts.accounts_receivable, Side::Credit),
                    ],
                )?;
                Ok(self.erp.post_journal_entry(&entry).await?.id)
            })
            .await?;
        Ok(O2cOutcome::Paid { invoice, erp_entry })
    }
}
