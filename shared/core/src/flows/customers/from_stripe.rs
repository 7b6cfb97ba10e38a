//! `customer.created`, `customer.updated` and `customer.deleted` from Stripe.
//! The event names the customer; the handler re-reads it, so a late or
//! reordered event acts on the customer as it is now, never as it was.

use serde::Deserialize;

use super::{record, stripe_fingerprint, CustomerOutcome, CustomerSync};
use crate::commerce::{CustomerRef, CustomerUpdate};
use crate::flows::order_to_cash::O2cError;
use crate::ports::Synced;

pub const CUSTOMER_EVENTS: &[&str] = &["customer.created", "customer.updated", "customer.deleted"];

/// The parts of a customer event the flow reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEvent {
    pub event_id: String,
    pub event_type: String,
    /// Stripe's time of the change (the event's creation).
    pub created: i64,
    pub customer_id: String,
    /// The idempotency key of the request that made the change, if any.
    pub idempotency_key: Option<String>,
}

impl CustomerEvent {
    /// `None` for an event that is not about a customer.
    pub fn from_stripe(event_type: &str, raw: &[u8]) -> Result<Option<Self>, String> {
        if !CUSTOMER_EVENTS.contains(&event_type) {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Object {
            id: String,
        }
        #[derive(Deserialize)]
        struct Data {
            object: Object,
        }
        #[derive(Deserialize, Default)]
        struct Request {
            #[serde(default)]
            idempotency_key: Option<String>,
        }
        #[derive(Deserialize)]
        struct Event {
            id: String,
            created: i64,
            data: Data,
            #[serde(default)]
            request: Option<Request>,
        }
        let e: Event = serde_json::from_slice(raw)
            .map_err(|e| format!("{event_type} event is not readable: {e}"))?;
        Ok(Some(CustomerEvent {
            event_id: e.id,
            event_type: event_type.into(),
            created: e.created,
            customer_id: e.data.object.id,
            idempotency_key: e.request.unwrap_or_default().idempotency_key,
        }))
    }
}

impl CustomerSync {
    pub async fn on_stripe_customer_event(
        &self,
        event: &CustomerEvent,
    ) -> Result<CustomerOutcome, O2cError> {
        if !self.enabled {
            return Ok(CustomerOutcome::Unchanged("customer sync is off"));
        }
        let linked = self.links.customer_for_stripe(&event.customer_id).await?;
        if let Some(key) = linked {
            return self
                .locked(&key, || self.sync_from_stripe(event, key.clone()))
                .await;
        }
        let Some(stripe_customer) = self.live_customer(&event.customer_id).await? else {
            return Ok(CustomerOutcome::Unchanged(
                "deleted customer was not linked",
            ));
        };
        // Made in Stripe (or by another integration): recorded by the event
        // journal, and made a platform customer where configuration says so.
        if let Some(made) = self.made_in_stripe(&stripe_customer).await? {
            return Ok(made);
        }
        tracing::info!(stripe_customer = %event.customer_id, event = %event.event_type, "Stripe customer with no platform customer linked");
        Ok(CustomerOutcome::Unchanged("no platform customer linked"))
    }

    /// The Stripe customer as it is now; `None` once deleted.
    async fn live_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<crate::stripe::objects::Customer>, O2cError> {
        match self.stripe.retrieve_customer(customer_id).await {
            Ok(c) if !c.deleted => Ok(Some(c)),
            Ok(_) => Ok(None),
            Err(e) if e.is_missing_resource() => Err(O2cError::Invalid(format!(
                "Stripe does not know customer {customer_id}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Stripe's change of a linked customer, read (with the link) under the
    /// customer's sync lock.
    async fn sync_from_stripe(
        &self,
        event: &CustomerEvent,
        key: String,
    ) -> Result<CustomerOutcome, O2cError> {
        let Some(stripe_customer) = self.live_customer(&event.customer_id).await? else {
            return self.unlink(&key, &event.customer_id).await;
        };
        let Some(link) = self.links.customer_link(&key).await? else {
            return Ok(CustomerOutcome::Unchanged("link removed meanwhile"));
        };
        let Some(profile) = stripe_customer.profile() else {
            return Err(O2cError::Invalid(format!(
                "Stripe customer {} has no email; customer {key} keeps its own",
                event.customer_id
            )));
        };
        let fingerprint = profile.fingerprint();
        if fingerprint == link.synced.stripe {
            return Ok(CustomerOutcome::Unchanged(
                "Stripe customer already on the platform",
            ));
        }
        let customer: CustomerRef = parse_key(&key)?;
        if customer.is_guest() {
            return Ok(CustomerOutcome::Unchanged("a guest has no platform record"));
        }
        profile.check().map_err(|reason| {
            O2cError::Invalid(format!(
                "Stripe customer {} cannot be written to {key}: {reason}",
                event.customer_id
            ))
        })?;
        let platform = self.platform_of(&customer.platform, &customer.store)?;
        let links = self.links.as_ref();
        // Once per event: a duplicate delivered alongside writes nothing twice.
        let done = self
            .step(&key, &format!("from-stripe/{}", event.event_id), || async {
                let fresh = platform.get_customer(&customer.customer_id).await?;
                let on_platform = fresh.profile();
                let platform_now = on_platform.fingerprint();
                if platform_now == fingerprint {
                    let to = Synced {
                        platform: platform_now,
                        stripe: fingerprint.clone(),
                    };
                    record(links, &key, &link.synced, to).await?;
                    return Ok("unchanged".to_string());
                }
                if platform_now != link.synced.platform {
                    let platform_at =
                        crate::clock::parse_utc_datetime(&fresh.updated_at).unwrap_or(0);
                    let platform_newer = platform_at > event.created;
                    self.report_conflict(
                        &key,
                        if platform_newer { "platform" } else { "stripe" },
                        &fresh.updated_at,
                        event.created,
                    )
                    .await?;
                    if platform_newer {
                        let write = crate::stripe::CustomerWrite {
                            profile: on_platform,
                            metadata: customer.metadata(),
                        };
                        let idempotency =
                            super::stripe_key("tally-cus-sync", &key, &platform_now);
                        let written = self
                            .stripe
                            .update_customer(&event.customer_id, &write, &idempotency)
                            .await?;
                        let to = Synced {
                            platform: platform_now,
                            stripe: stripe_fingerprint(&written),
                        };
                        record(links, &key, &link.synced, to).await?;
                        return Ok("to-stripe".to_string());
                    }
                }
                let update = CustomerUpdate {
                    profile: Some(profile.clone()),
                    stripe_customer_id: Some(event.customer_id.clone()),
                };
                platform
                    .update_customer(&customer.customer_id, &update)
                    .await?;
                // What the platform holds now: it may keep less than Stripe (no
                // phone without an address), and its save event will show this.
                let saved = platform.get_customer(&customer.customer_id).await?;
                let to = Synced {
                    platform: saved.profile().fingerprint(),
                    stripe: fingerprint.clone(),
                };
                record(links, &key, &link.synced, to).await?;
                tracing::info!(customer = %key, stripe_customer = %event.customer_id, "Stripe change written to the platform");
                Ok("to-platform".to_string())
            })
            .await?;
        Ok(match done.as_str() {
            "to-stripe" => CustomerOutcome::SentToStripe {
                stripe_customer: event.customer_id.clone(),
            },
            "to-platform" => CustomerOutcome::SentToPlatform { customer_key: key },
            _ => CustomerOutcome::Unchanged("Stripe customer already on the platform"),
        })
    }
}

/// A link key back into its parts: `platform/store/customer_id`.
fn parse_key(key: &str) -> Result<CustomerRef, O2cError> {
    let mut parts = key.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(s), Some(c)) if !c.is_empty() => Ok(CustomerRef {
            platform: p.into(),
            store: s.into(),
            customer_id: c.into(),
        }),
        _ => Err(O2cError::Invalid(format!(
            "customer link key {key:?} is malformed"
        ))),
    }
}
