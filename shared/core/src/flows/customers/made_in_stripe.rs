//! A customer made in Stripe (a person in the Dashboard, another integration)
//! with no platform customer: where `customers.create_from_stripe_in` names a
//! store, it becomes that store's customer. A platform customer with the same
//! email is linked rather than duplicated; one linked to another Stripe
//! customer already means two Stripe customers for one person, for review.

use super::{stripe_fingerprint, CustomerOutcome, CustomerSync};
use crate::flows::order_to_cash::O2cError;
use crate::ports::{CustomerLink, LinkOutcome, Synced};
use crate::stripe::objects::Customer;
use crate::stripe::CustomerWrite;

impl CustomerSync {
    pub(super) async fn made_in_stripe(
        &self,
        stripe_customer: &Customer,
    ) -> Result<Option<CustomerOutcome>, O2cError> {
        let Some((platform_name, store)) = &self.create_in else {
            return Ok(None);
        };
        // Tally's own customers name their platform customer (a guest's too)
        // from the start: never taken for one made in Stripe.
        if stripe_customer.metadata.contains_key("customer_id") {
            return Ok(None);
        }
        let Some(profile) = stripe_customer.profile() else {
            return Ok(None);
        };
        profile.check().map_err(|reason| {
            O2cError::Invalid(format!(
                "Stripe customer {} cannot become a {platform_name} customer: {reason}",
                stripe_customer.id
            ))
        })?;
        let platform = self.platform_of(platform_name, store)?;
        let id = &stripe_customer.id;
        let done = self
            .step(&format!("stripe/{id}"), "made-on-platform", || async {
                // Checked first: a retry after a crash finds the customer it made.
                let (on_platform, created) =
                    match platform.find_customer_by_email(&profile.email).await? {
                        Some(found) => (found, false),
                        None => (platform.create_customer(&profile, id).await?, true),
                    };
                let customer = on_platform.reference.clone();
                let key = customer.key();
                let link = CustomerLink {
                    stripe_customer_id: id.clone(),
                    synced: Synced {
                        platform: on_platform.profile().fingerprint(),
                        stripe: stripe_fingerprint(stripe_customer),
                    },
                };
                if let LinkOutcome::AlreadyLinked(other) = self
                    .links
                    .link_customer(&key, &link, self.clock.now_ms())
                    .await?
                {
                    if &other != id {
                        return Err(O2cError::NeedsReview(format!(
                            "Stripe customer {id} has the email of {key}, which is linked to {other}: \
                             two Stripe customers for one person; merge them in Stripe and redrive"
                        )));
                    }
                }
                // A customer found by email learns its Stripe id where the platform keeps one.
                self.note_link_on_platform(&customer, on_platform.stripe_customer_id.as_deref(), id)
                    .await?;
                // Named from now on, like the customers Tally makes.
                let write = CustomerWrite {
                    profile: profile.clone(),
                    metadata: customer.metadata(),
                };
                let named = super::stripe_key("tally-cus-adopt", &key, &profile.fingerprint());
                self.stripe.update_customer(id, &write, &named).await?;
                tracing::info!(customer = %key, stripe_customer = %id, created, "customer made in Stripe linked to the platform");
                Ok(format!("{key} {}", if created { "created" } else { "found" }))
            })
            .await?;
        let (key, how) = done.rsplit_once(' ').unwrap_or((done.as_str(), ""));
        Ok(Some(CustomerOutcome::MadeOnPlatform {
            customer_key: key.to_string(),
            created: how == "created",
        }))
    }
}
