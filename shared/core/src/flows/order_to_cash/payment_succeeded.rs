//! A payment succeeded: invoice the order, note the Stripe ids, post to the ERP.

use std::collections::BTreeMap;

use super::{O2cError, O2cOutcome, OrderToCash, PaymentEvent, PaymentEventKind};
use crate::clock::utc_date;
use crate::commerce::{Order, OrderRef, PaymentCapture, PaymentState};
use crate::config::PaidOrderPosting;
use crate::erp::{
    JournalEntry, JournalLine, SaleCharges, SaleCustomer, SaleLine, SalesOrder, Side,
};
use crate::money::Money;
use crate::ports::LinkOutcome;
use crate::stripe::objects::Charge;

const JOURNAL_STEP: &str = "erp-payment";
pub(crate) const SALES_ORDER_STEP: &str = "erp-sales-order";

/// The ERP's key for an order's sales order: one per order, as an order is paid once.
pub(crate) fn sale_key(reference: &OrderRef) -> String {
    format!("tally-{}-sale", reference.key().replace('/', "-"))
}

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
        // Tally linked its own PaymentIntents when it created them: a read finds
        // the link, and only a PaymentIntent made elsewhere needs the conditional write.
        let link = match self.links.payment_intent_for(&reference.key()).await? {
            Some(linked) => LinkOutcome::AlreadyLinked(linked),
            None => {
                self.links
                    .link_payment_intent(&reference.key(), &pi, self.clock.now_ms())
                    .await?
            }
        };
        match link {
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
        // The charge is the payment's identity: every event about it, whichever
        // arrives, settles the order with the same charge id.
        let charge_id = match charge_id {
            Some(c) => c.clone(),
            None => self
                .stripe
                .retrieve_payment_intent(&pi)
                .await?
                .latest_charge
                .map(|c| c.0)
                .ok_or_else(|| {
                    O2cError::Invalid(format!("PaymentIntent {pi} succeeded without a charge"))
                })?,
        };
        if let Some(settled) = self.links.settlement_for(&reference.key()).await? {
            if settled != charge_id {
                return Err(double_payment(&reference, &settled, &charge_id, &pi));
            }
            // Every payment brings a second event (`charge.succeeded` beside
            // `payment_intent.succeeded`), and redeliveries come: once the last step
            // is recorded, two reads answer them instead of three failed claims.
            let key = |step| Self::step_key(&reference, step);
            if let Some(last) = self.store.completed(&key(self.last_erp_step())).await? {
                let erp_entry = match self.settings.paid_orders {
                    PaidOrderPosting::Both => self.store.completed(&key(JOURNAL_STEP)).await?,
                    _ => None,
                }
                .unwrap_or(last);
                let invoice = self.store.completed(&key("invoice")).await?;
                let invoice = invoice.unwrap_or_default();
                tracing::info!(invoice = %invoice, erp_entry = %erp_entry, "payment already recorded and posted");
                return Ok(O2cOutcome::Paid { invoice, erp_entry });
            }
        }

        let invoice = self.invoice(&reference, &pi, &charge_id, paid).await?;

        self.note_once(
            &reference,
            "paid-comment",
            &format!("charge {charge_id}"),
            format!("Payment of {paid} received in Stripe: charge {charge_id}, PaymentIntent {pi} (Tally)."),
        )
        .await?;

        let posting = self.settings.paid_orders;
        let mut erp_entry = None;
        if posting.journal_entry() {
            let posted = self
                .step(&reference, JOURNAL_STEP, || async {
                    let charge = self.stripe.retrieve_charge(&charge_id).await?;
                    let entry = self.payment_entry(&order, &charge)?;
                    Ok(self.erp.post_journal_entry(&entry).await?.id)
                })
                .await?;
            erp_entry = Some(posted);
        }
        if posting.sales_order() {
            let sale = self
                .step(&reference, SALES_ORDER_STEP, || async {
                    let charge = self.stripe.retrieve_charge(&charge_id).await?;
                    let sale = self.sales_order(&order, &charge)?;
                    Ok(self.erp.post_sales_order(&sale).await?.id)
                })
                .await?;
            tracing::info!(sales_order = %sale, "sales order posted");
            erp_entry.get_or_insert(sale);
        }
        Ok(O2cOutcome::Paid {
            invoice,
            erp_entry: erp_entry.unwrap_or_default(),
        })
    }

    /// The step whose completion means the payment is fully posted.
    fn last_erp_step(&self) -> &'static str {
        if self.settings.paid_orders.sales_order() {
            SALES_ORDER_STEP
        } else {
            JOURNAL_STEP
        }
    }

    /// The paid order as the ERP's sales order: its lines, shipping, tax and
    /// discount as the platform reports them, whatever else its grand total
    /// holds as the adjustment, and the charge applied as its payment. Built
    /// from the order and the charge only, so a retry sends the same document.
    fn sales_order(&self, order: &Order, charge: &Charge) -> Result<SalesOrder, O2cError> {
        let reference = &order.reference;
        let lines: Vec<SaleLine> = order
            .lines
            .iter()
            .map(|l| SaleLine {
                sku: l.sku.clone(),
                name: l.name.clone(),
                quantity: l.quantity,
                amount: l.row_total,
            })
            .collect();
        let c = order.charges;
        let listed =
            lines.iter().map(|l| l.amount.get()).sum::<i64>() + c.shipping.get() + c.tax.get()
                - c.discount.get();
        let customer = &order.customer;
        let name = [
            customer.first_name.as_deref(),
            customer.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let references: BTreeMap<String, String> = [
            ("platform", reference.platform.as_str()),
            ("store", reference.store.as_str()),
            ("order_id", reference.order_id.as_str()),
            ("increment_id", order.increment_id.as_str()),
            ("charge", charge.id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Ok(SalesOrder::new(
            sale_key(reference),
            utc_date(charge.created),
            order.currency,
            format!("{} order #{}", reference.platform, order.increment_id),
            references,
            SaleCustomer {
                external_id: customer.external_id.clone(),
                email: customer.email.clone(),
                name: Some(name).filter(|n| !n.is_empty()),
            },
            lines,
            SaleCharges {
                shipping: c.shipping,
                tax: c.tax,
                discount: c.discount,
                adjustment: crate::money::MinorUnit::new(order.grand_total.get() - listed),
            },
            order.grand_total,
            charge.id.clone(),
        )?)
    }

    /// Records the payment on the platform once, after recording which charge
    /// settles the order (a conditional write: a second charge loses). An order
    /// found paid already is ours only if this charge settled it (an earlier
    /// attempt invoiced and crashed) or the platform names this payment;
    /// otherwise it was paid some other way and this charge is a double payment.
    async fn invoice(
        &self,
        reference: &OrderRef,
        pi: &str,
        charge_id: &str,
        paid: Money,
    ) -> Result<String, O2cError> {
        let platform = self.platform_for(reference)?;
        self.step(reference, "invoice", || async {
            let fresh = platform.get_order(&reference.order_id).await?;
            match fresh.payment_state {
                PaymentState::Paid => {
                    let names_this_payment = fresh
                        .payment
                        .transaction_id
                        .as_deref()
                        .is_some_and(|t| t == pi || t == charge_id);
                    let settled = self.links.settlement_for(&reference.key()).await?;
                    if names_this_payment || settled.as_deref() == Some(charge_id) {
                        return Ok("already-invoiced".to_string());
                    }
                    return Err(O2cError::NeedsReview(format!(
                        "order {reference} was already paid otherwise when charge {charge_id} ({pi}) succeeded: double payment, refund it"
                    )));
                }
                PaymentState::NotCollectable => {
                    return Err(O2cError::NeedsReview(format!(
                        "order {reference} is {} / {} but {pi} was paid: refund or reopen the order",
                        fresh.state, fresh.status
                    )))
                }
                PaymentState::AwaitingPayment => {}
            }
            if let LinkOutcome::AlreadyLinked(settled) = self
                .links
                .record_settlement(&reference.key(), charge_id, self.clock.now_ms())
                .await?
            {
                if settled != charge_id {
                    return Err(double_payment(reference, &settled, charge_id, pi));
                }
            }
            let id = platform
                .record_payment(
                    &reference.order_id,
                    &PaymentCapture {
                        amount: paid,
                        transaction_id: charge_id.to_string(),
                        payment_intent_id: pi.to_string(),
                        comment: format!("Paid with Stripe: charge {charge_id}, PaymentIntent {pi}."),
                        notify_customer: self.settings.rules.notify_customer_on_invoice,
                    },
                )
                .await?;
            Ok(id)
        })
        .await
    }

    /// The journal entry for a charge. Everything in it comes from the charge
    /// and the order, never from the event that triggered it, so a retry after
    /// a crash sends the ERP the same body under the same key. Dated by the
    /// charge: the day the money was received, not the day the order was placed.
    fn payment_entry(&self, order: &Order, charge: &Charge) -> Result<JournalEntry, O2cError> {
        let reference = &order.reference;
        let accounts = &self.settings.accounts;
        let received = if charge.amount_captured > crate::money::MinorUnit::ZERO {
            charge.amount_captured
        } else {
            charge.amount
        };
        let pi = charge
            .payment_intent
            .as_ref()
            .map(|p| p.0.as_str())
            .unwrap_or("");
        let references: BTreeMap<String, String> = [
            ("platform", reference.platform.as_str()),
            ("store", reference.store.as_str()),
            ("order_id", reference.order_id.as_str()),
            ("increment_id", order.increment_id.as_str()),
            ("payment_intent", pi),
            ("charge", charge.id.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let line = |account: &str, side| JournalLine {
            account: account.into(),
            side,
            amount: received,
            memo: None,
        };
        Ok(JournalEntry::new(
            format!(
                "tally-{}-payment-{}",
                reference.key().replace('/', "-"),
                charge.id
            ),
            utc_date(charge.created),
            charge.currency,
            format!(
                "Stripe payment for {} order #{}",
                reference.platform, order.increment_id
            ),
            references,
            vec![
                line(&accounts.stripe_clearing, Side::Debit),
                line(&accounts.accounts_receivable, Side::Credit),
            ],
        )?)
    }
}

fn double_payment(reference: &OrderRef, settled: &str, charge_id: &str, pi: &str) -> O2cError {
    O2cError::NeedsReview(format!(
        "order {reference} was paid by charge {settled} and again by {charge_id} ({pi}): double payment, refund one of them"
    ))
}
