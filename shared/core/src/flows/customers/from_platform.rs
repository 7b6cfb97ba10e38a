//! A platform customer changed (webhook or poll): a hint, so the customer is
//! re-read from the platform before anything is written to Stripe.

use super::{record, stripe_fingerprint, CustomerOutcome, CustomerSync};
use crate::commerce::{CustomerRef, CustomerUpdate, PlatformError};
use crate::flows::order_to_cash::O2cError;
use crate::ports::Synced;

impl CustomerSync {
    pub async fn on_platform_customer_changed(
        &self,
        customer: &CustomerRef,
    ) -> Result<CustomerOutcome, O2cError> {
        if !self.enabled {
            return Ok(CustomerOutcome::Unchanged("customer sync is off"));
        }
        self.locked(&customer.key(), || self.sync_from_platform(customer))
            .await
    }

    async fn sync_from_platform(
        &self,
        customer: &CustomerRef,
    ) -> Result<CustomerOutcome, O2cError> {
        let platform = self.platform_of(&customer.platform, &customer.store)?;
        let fresh = match platform.get_customer(&customer.customer_id).await {
            Ok(c) => c,
            Err(PlatformError::CustomerNotFound { .. }) => {
                tracing::warn!(customer = %customer.key(), "platform customer no longer exists; its Stripe customer is left as it is");
                return Ok(CustomerOutcome::Unchanged("platform customer gone"));
            }
            Err(e) => return Err(e.into()),
        };
        let profile = fresh.profile();
        profile.check().map_err(|reason| {
            O2cError::Invalid(format!("customer {}: {reason}", customer.key()))
        })?;
        let key = customer.key();
        let Some(link) = self.links.customer_link(&key).await? else {
            let (id, created) = self.ensure_linked(customer, &profile).await?;
            self.note_link_on_platform(customer, fresh.stripe_customer_id.as_deref(), &id)
                .await?;
            return Ok(CustomerOutcome::Linked {
                stripe_customer: id,
                created,
            });
        };
        self.note_link_on_platform(
            customer,
            fresh.stripe_customer_id.as_deref(),
            &link.stripe_customer_id,
        )
        .await?;
        let fingerprint = profile.fingerprint();
        if fingerprint == link.synced.platform {
            return Ok(CustomerOutcome::Unchanged(
                "platform customer already in Stripe",
            ));
        }
        let in_stripe = self
            .stripe
            .retrieve_customer(&link.stripe_customer_id)
            .await?;
        if in_stripe.deleted {
            return self.unlink(&key, &link.stripe_customer_id).await;
        }
        let stripe_now = stripe_fingerprint(&in_stripe);
        if stripe_now == fingerprint {
            // Stripe has it already (a write whose completion was not recorded).
            let to = Synced {
                platform: fingerprint,
                stripe: stripe_now,
            };
            record(self.links.as_ref(), &key, &link.synced, to).await?;
            return Ok(CustomerOutcome::Unchanged(
                "platform customer already in Stripe",
            ));
        }
        if stripe_now != link.synced.stripe {
            // Stripe changed too: its event carries Stripe's modification time and
            // decides which edit is newer; this hint waits for that decision.
            return Err(O2cError::NotYet(format!(
                "customer {key} changed in Stripe too; its customer.updated event decides which edit wins"
            )));
        }
        let write = crate::stripe::CustomerWrite {
            profile,
            metadata: customer.metadata(),
        };
        let idempotency = super::stripe_key("tally-cus-sync", &key, &fingerprint);
        let written = self
            .stripe
            .update_customer(&link.stripe_customer_id, &write, &idempotency)
            .await?;
        let to = Synced {
            platform: fingerprint,
            stripe: stripe_fingerprint(&written),
        };
        record(self.links.as_ref(), &key, &link.synced, to).await?;
        tracing::info!(customer = %key, stripe_customer = %link.stripe_customer_id, "platform change sent to Stripe");
        Ok(CustomerOutcome::SentToStripe {
            stripe_customer: link.stripe_customer_id,
        })
    }

    /// Writes the linked Stripe customer id onto the platform customer where
    /// the platform keeps one and it does not show it yet.
    pub(super) async fn note_link_on_platform(
        &self,
        customer: &CustomerRef,
        shown: Option<&str>,
        linked: &str,
    ) -> Result<(), O2cError> {
        if shown == Some(linked) || customer.is_guest() {
            return Ok(());
        }
        let platform = self.platform_of(&customer.platform, &customer.store)?;
        let update = CustomerUpdate {
            profile: None,
            stripe_customer_id: Some(linked.to_string()),
        };
        Ok(platform
            .update_customer(&customer.customer_id, &update)
            .await?)
    }

    pub(super) async fn unlink(
        &self,
        key: &str,
        stripe_customer_id: &str,
    ) -> Result<CustomerOutcome, O2cError> {
        self.links.unlink_customer(key, stripe_customer_id).await?;
        tracing::warn!(
            customer = key,
            stripe_customer = stripe_customer_id,
            "Stripe customer deleted: unlinked; the platform customer is kept"
        );
        Ok(CustomerOutcome::Unlinked {
            customer_key: key.to_string(),
        })
    }
}
