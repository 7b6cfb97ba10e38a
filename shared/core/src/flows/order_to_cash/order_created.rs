//! `order.created`: make sure the order has exactly one PaymentIntent.

use super::{O2cError, O2cOutcome, OrderToCash};
use crate::commerce::{Order, PaymentState};
use crate::ports::LinkOutcome;
use crate::stripe::objects::PaymentIntent;
use crate::stripe::NewPaymentIntent;

impl OrderToCash {
    pub async fn on_order_created(&self, order: &Order) -> Result<O2cOutcome, O2cError> {
        self.platform_for(&order.reference)?;
        if order.payment_state != PaymentState::AwaitingPayment {
            tracing::info!(state = %order.state, "order is not awaiting payment; nothing to collect");
            return Ok(O2cOutcome::Skipped("order not awaiting payment"));
        }
        if !self
            .settings
            .rules
            .collects(order.payment.method.as_deref())
        {
            tracing::info!(
                method = order.payment.method.as_deref().unwrap_or("-"),
                "order is paid another way; left alone"
            );
            return Ok(O2cOutcome::Skipped("payment method not collected by Tally"));
        }
        let reference = &order.reference;
        let created = std::sync::atomic::AtomicBool::new(false);
        let payment_intent = self
            .step(reference, "payment-intent", || async {
                if let Some(existing) = self.links.payment_intent_for(&reference.key()).await? {
                    return Ok(existing);
                }
                let pi = self.find_or_create_payment_intent(order, &created).await?;
                if pi.amount != order.grand_total || pi.currency != order.currency {
                    return Err(O2cError::NeedsReview(format!(
                        "PaymentIntent {} is {} {} but order {} totals {}",
                        pi.id, pi.amount, pi.currency, reference, order.total()
                    )));
                }
                match self
                    .links
                    .link_payment_intent(&reference.key(), &pi.id, self.clock.now_ms())
                    .await?
                {
                    LinkOutcome::Linked => Ok(pi.id),
                    LinkOutcome::AlreadyLinked(other) => {
                        if other != pi.id {
                            tracing::error!(linked = %other, found = %pi.id, "order already linked to another PaymentIntent; keeping the first");
                        }
                        Ok(other)
                    }
                }
            })
            .await?;
        self.note_once(
            reference,
            "payment-intent-comment",
            &payment_intent,
            format!(
                "Stripe PaymentIntent {payment_intent} for {} (Tally).",
                order.total()
            ),
        )
        .await?;
        Ok(O2cOutcome::PaymentIntentLinked {
            payment_intent,
            created: created.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// True when the order may be older than Stripe's 24-hour idempotency window
    /// (its creation time is unknown, or 23 hours or more ago).
    fn may_outlive_idempotency_key(&self, order: &Order) -> bool {
        const MARGIN_SECS: i64 = 23 * 3600;
        match crate::clock::parse_utc_datetime(&order.created_at) {
            Some(created) => self.clock.now_secs().saturating_sub(created) >= MARGIN_SECS,
            None => true,
        }
    }

    async fn find_or_create_payment_intent(
        &self,
        order: &Order,
        created: &std::sync::atomic::AtomicBool,
    ) -> Result<PaymentIntent, O2cError> {
        let reference = &order.reference;
        // Magento's Stripe module creates the PaymentIntent at checkout and keeps its id.
        if let Some(pi_id) = order
            .payment
            .transaction_id
            .as_deref()
            .filter(|t| t.starts_with("pi_"))
        {
            let pi = self.stripe.retrieve_payment_intent(pi_id).await?;
            tracing::info!(payment_intent = %pi.id, "linking the PaymentIntent created at checkout");
            return Ok(pi);
        }
        let customer = self.customers.stripe_customer_for_order(order).await?;
        // Stripe forgets idempotency keys after 24 hours: for an order older than
        // that (a late redrive after a lost response), look for the PaymentIntent
        // an earlier attempt made before making one.
        if self.may_outlive_idempotency_key(order) {
            let found = self
                .stripe
                .search_payment_intents(&[
                    ("platform", reference.platform.as_str()),
                    ("store", reference.store.as_str()),
                    ("order_id", reference.order_id.as_str()),
                ])
                .await?;
            if let Some(pi) = found.into_iter().min_by_key(|p| p.created) {
                tracing::info!(payment_intent = %pi.id, "found the PaymentIntent an earlier attempt made");
                return Ok(pi);
            }
        }
        let params = NewPaymentIntent {
            amount: order.total(),
            customer,
            description: self.settings.send_description.then(|| order.line_summary()),
            metadata: vec![
                ("platform".into(), reference.platform.clone()),
                ("store".into(), reference.store.clone()),
                ("order_id".into(), reference.order_id.clone()),
                ("increment_id".into(), order.increment_id.clone()),
            ],
        };
        // Derived from the order alone, so every retry of this step, in any
        // container, asks Stripe for the same PaymentIntent.
        let key = format!(
            "tally-pi-{}-{}-{}",
            reference.platform, reference.store, reference.order_id
        );
        let pi = self.stripe.create_payment_intent(&params, &key).await?;
        created.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(payment_intent = %pi.id, amount = %pi.amount, currency = %pi.currency, "PaymentIntent created");
        Ok(pi)
    }
}
