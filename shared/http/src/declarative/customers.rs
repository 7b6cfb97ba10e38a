//! Customers on a declarative platform, where the mapping describes them
//! (`customer` fields and the four customer operations). A write sends the
//! whole synced record: the customer as read, with Stripe's fields and the
//! Stripe id laid over; one that would change nothing is not sent.

use serde_json::Value;
use tally_core::commerce::declarative::fields::{customer_from, customer_identity, text};
use tally_core::commerce::declarative::template::Values;
use tally_core::commerce::{
    split_name, ChangeKey, ChangedCustomer, CustomerUpdate, PlatformCustomer, PlatformError,
};

use super::{RestPlatform, EPOCH};

impl RestPlatform {
    fn customers_mapped(&self) -> bool {
        self.mapping.customer.is_some()
    }

    fn not_synced(&self) -> PlatformError {
        PlatformError::Rejected {
            platform: self.name.into(),
            status: 501,
            message:
                "the mapping describes no customers: Tally does not sync this platform's customers"
                    .into(),
        }
    }

    fn read_customer(&self, object: &Value) -> Result<PlatformCustomer, PlatformError> {
        customer_from(self.name, &self.mapping, object)
            .map_err(|e| self.invalid(format!("a customer: {e}")))
    }

    pub(super) async fn customer(
        &self,
        customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        if !self.customers_mapped() {
            return Err(self.not_synced());
        }
        let missing = || PlatformError::CustomerNotFound {
            platform: self.name.into(),
            customer_id: customer_id.into(),
        };
        if customer_id.is_empty() {
            return Err(missing());
        }
        let answer = self
            .call(
                "get_customer",
                &Values::default().with("customer_id", customer_id),
                None,
            )
            .await?
            .ok_or_else(missing)?;
        self.read_customer(self.result("get_customer", &answer)?)
    }

    pub(super) async fn customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        if !self.customers_mapped() {
            return Err(self.not_synced());
        }
        let answer = self
            .call(
                "find_customer_by_email",
                &Values::default().with("email", email),
                None,
            )
            .await?
            .unwrap_or(Value::Null);
        let email_field = &self.mapping.customer.as_ref().expect("mapped").email;
        // only an exact match (a search may match loosely); the oldest id first
        let mut found: Vec<PlatformCustomer> = self
            .results("find_customer_by_email", &answer)?
            .iter()
            .filter(|c| text(c, email_field).is_some_and(|e| e.eq_ignore_ascii_case(email.trim())))
            .map(|c| self.read_customer(c))
            .collect::<Result<_, _>>()?;
        found.sort_by(|a, b| {
            let key = |c: &PlatformCustomer| {
                let id = &c.reference.customer_id;
                (id.len(), id.clone())
            };
            key(a).cmp(&key(b))
        });
        Ok(found.into_iter().next())
    }

    pub(super) async fn customers_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        if !self.customers_mapped() {
            return Ok(Vec::new());
        }
        let since = if key.updated_at.is_empty() {
            EPOCH
        } else {
            key.updated_at.as_str()
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let rows = self
            .walk("list_customers", since, top, limit as usize, |c| {
                let (id, at) = customer_identity(&self.mapping, c);
                !id.is_empty() && key.is_before(&id, &at)
            })
            .await?;
        let mut changed: Vec<ChangedCustomer> = rows
            .iter()
            .map(|c| {
                let (customer_id, updated_at) = customer_identity(&self.mapping, c);
                ChangedCustomer {
                    customer_id,
                    updated_at,
                }
            })
            .collect();
        changed.sort_by(|a, b| {
            (a.updated_at.as_str(), a.customer_id.as_str())
                .cmp(&(b.updated_at.as_str(), b.customer_id.as_str()))
        });
        changed.dedup();
        changed.truncate(limit as usize);
        Ok(changed)
    }

    pub(super) async fn write_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let current = self.customer(customer_id).await?;
        let profile = update.profile.clone().unwrap_or_else(|| current.profile());
        let (first, last) = match (&update.profile, &profile.name) {
            (Some(_), Some(name)) => split_name(name, current.last_name.as_deref()),
            _ => (
                current.first_name.clone().unwrap_or_default(),
                current.last_name.clone().unwrap_or_default(),
            ),
        };
        let stripe_id = update
            .stripe_customer_id
            .clone()
            .or_else(|| current.stripe_customer_id.clone());
        let keeps_stripe_id = self
            .mapping
            .customer
            .as_ref()
            .is_some_and(|c| c.stripe_customer_id.is_some());
        let unchanged = profile == current.profile()
            && (!keeps_stripe_id || stripe_id == current.stripe_customer_id);
        if unchanged {
            return Ok(());
        }
        let address = profile.address.clone().unwrap_or_default();
        let part = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let values = Values::default()
            .with("customer_id", customer_id)
            .with("email", profile.email.as_str())
            .with("first_name", first)
            .with("last_name", last)
            .with("name", part(&profile.name))
            .with("phone", part(&profile.phone))
            .with("line1", part(&address.line1))
            .with("line2", part(&address.line2))
            .with("city", part(&address.city))
            .with("state", part(&address.state))
            .with("postal_code", part(&address.postal_code))
            .with("country", part(&address.country))
            .with("stripe_customer_id", part(&stripe_id));
        self.call("update_customer", &values, None)
            .await?
            .ok_or_else(|| PlatformError::CustomerNotFound {
                platform: self.name.into(),
                customer_id: customer_id.into(),
            })?;
        Ok(())
    }
}
