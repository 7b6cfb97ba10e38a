//! Customers both ways: one Stripe customer per platform customer (a guest is
//! one customer per email), found again by the link Tally keeps, by its own
//! metadata or by email before one is created.
//!
//! Loops stop at the link's fingerprint: each side's synced fields are
//! compared with what both sides last agreed on, so a change Tally wrote is
//! recognised when its event comes back and goes no further. When both sides
//! changed since then, the newer edit (by each side's own modification time)
//! wins and the conflict is reported.

mod from_platform;
mod from_stripe;
mod made_in_stripe;
mod poller;

use std::future::Future;
use std::sync::Arc;

pub use from_stripe::{CustomerEvent, CUSTOMER_EVENTS};
pub use poller::CustomerPoller;

use crate::clock::Clock;
use crate::commerce::{CustomerProfile, CustomerRef, Order, Platforms, PostalAddress};
use crate::flows::order_to_cash::O2cError;
use crate::idempotency::{run_once, Once, OnceError};
use crate::ports::{Claim, CustomerLink, CustomerLinks, IdempotencyStore, LinkOutcome, Synced};
use crate::stripe::objects::Customer;
use crate::stripe::{CustomerWrite, StripeApi};

/// The canonical hint a platform webhook or poll enqueues for a customer.
pub const CUSTOMER_CHANGED: &str = "customer.changed";

/// What one customer message did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerOutcome {
    /// Linked to a Stripe customer, made now or found by metadata or email.
    Linked {
        stripe_customer: String,
        created: bool,
    },
    /// The platform's change written to Stripe.
    SentToStripe { stripe_customer: String },
    /// Stripe's change written to the platform.
    SentToPlatform { customer_key: String },
    /// The Stripe customer was deleted: the link is gone, the platform customer kept.
    Unlinked { customer_key: String },
    /// A customer made in Stripe, linked to the platform customer with its
    /// email or registered on the platform now.
    MadeOnPlatform { customer_key: String, created: bool },
    /// Nothing to do: an echo of Tally's own write, already in sync, or not linked.
    Unchanged(&'static str),
}

pub struct CustomerSync {
    pub platforms: Platforms,
    pub stripe: Arc<dyn StripeApi>,
    pub links: Arc<dyn CustomerLinks>,
    pub store: Arc<dyn IdempotencyStore>,
    pub clock: Arc<dyn Clock>,
    pub lease_secs: i64,
    /// `stripe.sync_customers`: off, no customer is linked or synced.
    pub enabled: bool,
    /// `customers.create_from_stripe_in`: the (platform, store) where a
    /// customer made in Stripe becomes a platform customer.
    pub create_in: Option<(String, String)>,
}

/// The queue message naming a platform customer that changed at `updated_at`.
pub fn customer_changed_message(
    customer: &CustomerRef,
    updated_at: &str,
    received_at_ms: i64,
) -> Result<crate::message::OutboundMessage, serde_json::Error> {
    crate::message::QueueEnvelope::platform_message(
        &customer.platform,
        &format!("customer/{}/changed@{updated_at}", customer.key()),
        CUSTOMER_CHANGED,
        customer,
        received_at_ms,
    )
}

impl CustomerSync {
    /// The adapter for a customer's platform and store; one this deployment
    /// does not serve is a configuration to fix, not to retry.
    fn platform_of(
        &self,
        platform: &str,
        store: &str,
    ) -> Result<&Arc<dyn crate::commerce::CommercePlatform>, O2cError> {
        self.platforms
            .get(platform, store)
            .map_err(|e| O2cError::Invalid(e.to_string()))
    }

    /// Runs `work` holding the customer's sync lock (`customer/{key}/sync-lock`,
    /// a lease), so two changes of one customer are never synced at once: the
    /// second would see the first's writes half done (the platform written,
    /// the link not yet moved) and take them for an edit on that side. A held
    /// lock is `Busy`, and the message is retried.
    async fn locked<T, F, Fut>(&self, key: &str, work: F) -> Result<T, O2cError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, O2cError>>,
    {
        let lock = format!("customer/{key}/sync-lock");
        let token = match self
            .store
            .claim(&lock, self.clock.now_secs(), self.lease_secs)
            .await
            .map_err(O2cError::Store)?
        {
            Claim::Acquired(token) => token,
            Claim::InProgress { .. } | Claim::Completed { .. } => {
                return Err(O2cError::Busy(lock));
            }
        };
        let result = work().await;
        if let Err(e) = self.store.release(&lock, &token).await {
            tracing::warn!(error = %e, lock, "could not release the customer's sync lock; it expires with its lease");
        }
        result
    }

    /// Runs `work` at most once under `customer/{key}/{step}`.
    async fn step<F, Fut>(&self, key: &str, step: &str, work: F) -> Result<String, O2cError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, O2cError>>,
    {
        let claim = format!("customer/{key}/{step}");
        match run_once(
            self.store.as_ref(),
            self.clock.as_ref(),
            &claim,
            self.lease_secs,
            work,
        )
        .await
        {
            Ok(Once::Ran(r) | Once::AlreadyDone(r)) => Ok(r),
            Err(OnceError::Work(e)) => Err(e),
            Err(OnceError::Store(e)) => Err(O2cError::Store(e)),
            Err(OnceError::Busy { key, .. }) => Err(O2cError::Busy(key)),
        }
    }

    /// The Stripe customer for an order's customer, linked now if it was not:
    /// a registered customer by the platform's id, a guest by email. `None`
    /// for an order with no usable email (nobody to match).
    pub async fn stripe_customer_for_order(
        &self,
        order: &Order,
    ) -> Result<Option<String>, O2cError> {
        let r = &order.reference;
        let Some(email) = order.customer.email.as_deref().filter(|_| self.enabled) else {
            return Ok(None);
        };
        let customer = match &order.customer.external_id {
            Some(id) => CustomerRef {
                platform: r.platform.clone(),
                store: r.store.clone(),
                customer_id: id.clone(),
            },
            None => CustomerRef::guest(&r.platform, &r.store, email),
        };
        if let Some(link) = self.links.customer_link(&customer.key()).await? {
            return Ok(Some(link.stripe_customer_id));
        }
        let billing = order.billing_address.as_ref();
        let name = crate::commerce::full_name(
            order.customer.first_name.as_deref(),
            order.customer.last_name.as_deref(),
        );
        let address = billing.map(|a| PostalAddress {
            line1: a.street.first().cloned(),
            line2: (a.street.len() > 1).then(|| a.street[1..].join(", ")),
            city: a.city.clone(),
            state: None,
            postal_code: a.postcode.clone(),
            country: a.country.clone(),
        });
        let profile = CustomerProfile::new(
            email,
            Some(&name),
            billing.and_then(|a| a.phone.as_deref()),
            address.as_ref(),
        );
        if let Err(reason) = profile.check() {
            // The payment does not wait for a customer record Stripe would refuse.
            tracing::warn!(customer = %customer.key(), %reason, "order's customer not sent to Stripe");
            return Ok(None);
        }
        let (id, _) = self.ensure_linked(&customer, &profile).await?;
        Ok(Some(id))
    }

    /// Links `customer` to a Stripe customer once: the one Tally made before
    /// (its metadata), else the only one with the email and no other link,
    /// else a new one. Several unlinked ones with the email are for a person.
    async fn ensure_linked(
        &self,
        customer: &CustomerRef,
        profile: &CustomerProfile,
    ) -> Result<(String, bool), O2cError> {
        let key = customer.key();
        // Linking runs once under its step; a link removed since (its Stripe
        // customer was deleted) is made again under a step named after the
        // customer it replaces, so the record of the first never answers for it.
        let mut replaced: Option<String> = None;
        for _ in 0..8 {
            let step = match &replaced {
                None => "link".to_string(),
                Some(old) => format!("link-after/{old}"),
            };
            let result = self
                .step(&key, &step, || {
                    self.link_now(customer, profile, replaced.as_deref())
                })
                .await?;
            let (id, how) = result.split_once(' ').unwrap_or((result.as_str(), ""));
            let linked = self.links.customer_link(&key).await?;
            if linked.is_some_and(|l| l.stripe_customer_id == id) {
                return Ok((id.to_string(), how == "created"));
            }
            replaced = Some(id.to_string());
        }
        Err(O2cError::NeedsReview(format!(
            "customer {key} was linked and unlinked too often; link it by hand"
        )))
    }

    /// The linking itself: answers "<id> created" or "<id> found". A link
    /// that `replaces` a deleted customer asks Stripe under keys of its own, or
    /// Stripe would answer the deleted customer's creation again.
    async fn link_now(
        &self,
        customer: &CustomerRef,
        profile: &CustomerProfile,
        replaces: Option<&str>,
    ) -> Result<String, O2cError> {
        let key = customer.key();
        if let Some(link) = self.links.customer_link(&key).await? {
            return Ok(format!("{} found", link.stripe_customer_id));
        }
        let fingerprint = profile.fingerprint();
        let write = CustomerWrite {
            profile: profile.clone(),
            metadata: customer.metadata(),
        };
        let generation = replaces
            .map(|old| format!("-after-{old}"))
            .unwrap_or_default();
        let (found, created) = match self.existing(customer, &profile.email).await? {
            Some(c) => {
                let adopt = stripe_key(&format!("tally-cus-adopt{generation}"), &key, &fingerprint);
                (
                    self.stripe.update_customer(&c.id, &write, &adopt).await?,
                    false,
                )
            }
            None => {
                let create = stripe_key(&format!("tally-cus{generation}"), &key, &fingerprint);
                (self.stripe.create_customer(&write, &create).await?, true)
            }
        };
        let link = CustomerLink {
            stripe_customer_id: found.id.clone(),
            synced: Synced {
                platform: fingerprint,
                stripe: stripe_fingerprint(&found),
            },
        };
        match self
            .links
            .link_customer(&key, &link, self.clock.now_ms())
            .await?
        {
            LinkOutcome::Linked => {
                tracing::info!(stripe_customer = %found.id, created, "customer linked");
                let how = if created { "created" } else { "found" };
                Ok(format!("{} {how}", found.id))
            }
            LinkOutcome::AlreadyLinked(other) => Ok(format!("{other} found")),
        }
    }

    /// A Stripe customer with this email that is ours for `customer` (its
    /// metadata names it) or nobody's; several of nobody's are for review.
    async fn existing(
        &self,
        customer: &CustomerRef,
        email: &str,
    ) -> Result<Option<Customer>, O2cError> {
        let mut with_email = self.stripe.customers_with_email(email).await?;
        with_email.sort_by_key(|c| (c.created, c.id.clone()));
        if let Some(ours) = with_email.iter().find(|c| {
            names(c, "platform") == Some(&customer.platform)
                && names(c, "store") == Some(&customer.store)
                && names(c, "customer_id") == Some(&customer.customer_id)
        }) {
            return Ok(Some(ours.clone()));
        }
        let unclaimed: Vec<&Customer> = with_email
            .iter()
            .filter(|c| names(c, "customer_id").is_none())
            .collect();
        match unclaimed.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).clone())),
            several => Err(O2cError::NeedsReview(format!(
                "{} Stripe customers have the email {email} and none is linked ({}); \
                 give the one to keep the metadata platform={}, store={}, customer_id={} and redrive",
                several.len(),
                several.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
                customer.platform,
                customer.store,
                customer.customer_id
            ))),
        }
    }

    /// Keeps a conflict for review: both sides changed since they last agreed.
    async fn report_conflict(
        &self,
        customer: &str,
        winner: &str,
        platform_changed_at: &str,
        stripe_changed_at: i64,
    ) -> Result<(), O2cError> {
        tracing::warn!(
            customer,
            winner,
            platform_changed_at,
            stripe_changed_at,
            "customer edited on both sides; the newer edit wins"
        );
        let report = serde_json::json!({
            "winner": winner,
            "platform_changed_at": platform_changed_at,
            "stripe_changed_at": stripe_changed_at,
            "reported_at_ms": self.clock.now_ms(),
        });
        Ok(self
            .links
            .report_conflict(customer, &report.to_string())
            .await?)
    }
}

/// The fingerprint of a Stripe customer's synced fields (empty without an email).
fn stripe_fingerprint(c: &Customer) -> String {
    c.profile().map(|p| p.fingerprint()).unwrap_or_default()
}

/// Moves a link from `expected` to `to`; a link moved meanwhile by another
/// worker is retried, and the retry re-reads both sides.
async fn record(
    links: &dyn CustomerLinks,
    key: &str,
    expected: &Synced,
    to: Synced,
) -> Result<(), O2cError> {
    if links.record_synced(key, expected, &to).await? {
        Ok(())
    } else {
        Err(O2cError::NotYet(format!(
            "customer {key}'s link changed while it was being synced"
        )))
    }
}

fn names<'a>(c: &'a Customer, key: &str) -> Option<&'a str> {
    c.metadata.get(key).map(String::as_str)
}

/// An idempotency key naming the customer, within Stripe's 255 characters
/// (a guest's key holds an email, which may be long).
fn stripe_key(prefix: &str, customer_key: &str, fingerprint: &str) -> String {
    let key = format!("{prefix}-{customer_key}-{fingerprint}");
    if key.len() <= 200 {
        return key;
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(customer_key.as_bytes())[..12]);
    format!("{prefix}-{digest}-{fingerprint}")
}

#[cfg(test)]
mod tests;
