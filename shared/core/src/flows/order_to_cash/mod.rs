//! Order-to-cash: platform order -> Stripe PaymentIntent -> payment outcome ->
//! platform invoice or failure status -> ERP journal entry.
//!
//! Every step is claimed under its own idempotency key (per order, not per
//! event), so duplicated and reordered deliveries of `order.created`,
//! `payment_intent.*` and `charge.*` change each order at most once. Writes to
//! the platform first re-read the order and skip what it already shows, which
//! covers a crash between a write and its completion record.

mod error;
mod order_created;
mod payment_event;
mod payment_failed;
mod payment_succeeded;

use std::future::Future;
use std::sync::Arc;

pub use error::O2cError;
pub use payment_event::{PaymentEvent, PaymentEventKind};
pub(crate) use payment_succeeded::{sale_key, SALES_ORDER_STEP};

use crate::clock::Clock;
use tracing::Instrument;

use crate::commerce::{
    CheckoutOrder, CommercePlatform, Order, OrderComment, OrderRef, PlatformError, Platforms,
};
use crate::config::{ErpAccounts, OrderToCashConfig, PaidOrderPosting};
use crate::erp::Erp;
use crate::idempotency::{run_once, Once, OnceError};
use crate::ports::{IdempotencyStore, OrderLinks};
use crate::stripe::StripeApi;

/// What one message did, for logs, tests and the demo timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum O2cOutcome {
    PaymentIntentLinked {
        payment_intent: String,
        created: bool,
    },
    Paid {
        invoice: String,
        erp_entry: String,
    },
    FailureRecorded {
        decline_code: String,
    },
    /// A refund made in Stripe, recorded on the platform (unless it came
    /// from the platform) and posted to the ERP as a credit memo.
    RefundRecorded {
        refund: String,
        platform_record: String,
        erp_entry: String,
    },
    /// A refund made on the platform, refunded in Stripe and the Stripe
    /// refund named on the platform's record.
    RefundSent {
        refund: String,
        platform_record: String,
    },
    /// A refund that failed after all: noted on the order, its ERP posting
    /// reversed if it had one.
    RefundFailed {
        refund: String,
        reversal: Option<String>,
    },
    /// A customer message's outcome (customers share the payments queue).
    Customer(crate::flows::customers::CustomerOutcome),
    /// Nothing to do: already done, not an order payment, or superseded.
    Skipped(&'static str),
}

pub struct OrderToCash {
    /// Every platform and store this deployment serves.
    pub platforms: Platforms,
    pub stripe: Arc<dyn StripeApi>,
    pub erp: Arc<dyn Erp>,
    pub links: Arc<dyn OrderLinks>,
    /// Links orders' customers to Stripe customers (and syncs them both ways).
    pub customers: Arc<crate::flows::customers::CustomerSync>,
    pub store: Arc<dyn IdempotencyStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: OrderToCashSettings,
}

#[derive(Debug, Clone)]
pub struct OrderToCashSettings {
    pub rules: OrderToCashConfig,
    pub accounts: ErpAccounts,
    pub paid_orders: PaidOrderPosting,
    pub send_description: bool,
    pub lease_secs: i64,
}

impl OrderToCash {
    /// The adapter for an order's platform; an order of a platform this
    /// deployment does not serve is a configuration to fix, not to retry.
    pub(crate) fn platform_for(
        &self,
        order: &OrderRef,
    ) -> Result<&Arc<dyn CommercePlatform>, O2cError> {
        self.platforms
            .for_order(order)
            .map_err(|e| O2cError::Invalid(e.to_string()))
    }

    pub(crate) fn step_key(order: &OrderRef, step: &str) -> String {
        format!("o2c/{}/{}", order.key(), step)
    }

    /// Runs `work` at most once for `order`'s `step`; returns its recorded result.
    pub(crate) async fn step<F, Fut>(
        &self,
        order: &OrderRef,
        step: &str,
        work: F,
    ) -> Result<String, O2cError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, O2cError>>,
    {
        let key = Self::step_key(order, step);
        match run_once(
            self.store.as_ref(),
            self.clock.as_ref(),
            &key,
            self.settings.lease_secs,
            work,
        )
        .await
        {
            Ok(Once::Ran(result)) => {
                tracing::info!(step, result = %result, "step done");
                Ok(result)
            }
            Ok(Once::AlreadyDone(result)) => {
                tracing::info!(step, result = %result, "step already done");
                Ok(result)
            }
            Err(OnceError::Work(e)) => Err(e),
            Err(OnceError::Store(e)) => Err(O2cError::Store(e)),
            Err(OnceError::Busy { key, .. }) => Err(O2cError::Busy(key)),
        }
    }

    /// Adds an internal note to the order once: re-reads the order first and
    /// skips the write when a comment already contains `marker`.
    pub(crate) async fn note_once(
        &self,
        order: &OrderRef,
        step: &str,
        marker: &str,
        text: String,
    ) -> Result<String, O2cError> {
        let platform = self.platform_for(order)?;
        self.step(order, step, || async {
            let fresh = platform.get_order(&order.order_id).await?;
            if fresh.has_comment_containing(marker) {
                return Ok("already-commented".into());
            }
            let comment = OrderComment {
                text,
                status: None,
                notify_customer: false,
                visible_on_front: false,
            };
            platform
                .add_order_comment(&order.order_id, &comment)
                .await?;
            Ok("commented".into())
        })
        .await
    }

    /// Entry point for Stripe events on the payments queue.
    pub async fn on_payment_event(&self, event: &PaymentEvent) -> Result<O2cOutcome, O2cError> {
        let mut metadata = event.metadata.clone();
        // A charge does not always carry its PaymentIntent's metadata: ask Stripe.
        // A PaymentIntent event's own metadata is authoritative.
        if event.from_charge
            && !metadata.contains_key("order_id")
            && !metadata.contains_key("increment_id")
        {
            if let Some(pi) = &event.payment_intent_id {
                metadata = self.stripe.retrieve_payment_intent(pi).await?.metadata;
            }
        }
        let Some(order) = self.order_for_metadata(&metadata).await? else {
            tracing::info!("payment is not for an order of this platform");
            return Ok(O2cOutcome::Skipped("not an order of this platform"));
        };
        let span = tracing::info_span!("order", order_id = %order.reference.order_id, increment_id = %order.increment_id);
        match event.kind {
            PaymentEventKind::Succeeded { .. } => {
                self.payment_succeeded(event, order).instrument(span).await
            }
            PaymentEventKind::Failed { .. } => {
                self.payment_failed(event, order).instrument(span).await
            }
        }
    }

    /// The order an event's metadata points at, if it is one of this platform's.
    /// A PaymentIntent that names no platform is nobody's order here, unless the
    /// platform recognises it as made by its own Stripe module at checkout.
    pub(crate) async fn order_for_metadata(
        &self,
        metadata: &std::collections::HashMap<String, String>,
    ) -> Result<Option<Order>, O2cError> {
        let Some(platform_name) = metadata.get("platform") else {
            return match self.platforms.checkout_payment(metadata) {
                Some((platform, CheckoutOrder::Number(number))) => {
                    Ok(platform.find_order_by_number(&number).await?)
                }
                Some((platform, CheckoutOrder::Id(id))) => match platform.get_order(&id).await {
                    Ok(order) => Ok(Some(order)),
                    Err(PlatformError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e.into()),
                },
                None => Ok(None),
            };
        };
        let Some(store) = metadata.get("store") else {
            return Ok(None);
        };
        let platform = match self.platforms.get(platform_name, store) {
            Ok(p) => p,
            // Tally's own metadata naming a platform this deployment does not serve
            // is a configuration to fix; another integration's "platform" is not ours.
            Err(e) if metadata.contains_key("order_id") => {
                return Err(O2cError::Invalid(e.to_string()))
            }
            Err(_) => return Ok(None),
        };
        if let Some(order_id) = metadata.get("order_id") {
            return Ok(Some(platform.get_order(order_id).await?));
        }
        match metadata.get("increment_id") {
            Some(number) => Ok(platform.find_order_by_number(number).await?),
            None => Ok(None),
        }
    }

    /// Reads an order named by a hint, from the platform that owns it.
    pub async fn reread(&self, reference: &OrderRef) -> Result<Order, O2cError> {
        Ok(self
            .platform_for(reference)?
            .get_order(&reference.order_id)
            .await?)
    }
}

#[cfg(test)]
mod tests;
