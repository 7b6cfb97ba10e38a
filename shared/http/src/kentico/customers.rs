//! Kentico customers over the REST service (`ecommerce.customer`): read by id,
//! updated by the columns Tally syncs, listed by `CustomerLastModified` for
//! the customer poll.

use serde_json::Value;
use tally_core::commerce::kentico::{
    customer_fields, customer_from, kentico_time, objects_of, sql_text, CUSTOMER_OBJECT, PLATFORM,
};
use tally_core::commerce::{
    ChangeKey, ChangedCustomer, CustomerUpdate, PlatformCustomer, PlatformError,
};

use super::{id_of, KenticoRest};

impl KenticoRest {
    fn customer_not_found(customer_id: &str) -> PlatformError {
        PlatformError::CustomerNotFound {
            platform: PLATFORM.into(),
            customer_id: customer_id.into(),
        }
    }

    async fn customer_object(&self, customer_id: &str) -> Result<Value, PlatformError> {
        if customer_id.is_empty() || !customer_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::customer_not_found(customer_id));
        }
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("{CUSTOMER_OBJECT}/{customer_id}"),
                &[],
                None,
            )
            .await?
            .ok_or_else(|| Self::customer_not_found(customer_id))?;
        objects_of(&answer, CUSTOMER_OBJECT)
            .first()
            .map(|o| (*o).clone())
            .ok_or_else(|| Self::customer_not_found(customer_id))
    }

    pub(super) async fn read_customer(
        &self,
        customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let object = self.customer_object(customer_id).await?;
        customer_from(
            &self.config.site_name,
            &object,
            self.config.stripe_customer_field.as_deref(),
        )
        .map_err(Self::invalid)
    }

    /// An update with nothing Kentico can hold (a Stripe id and no field
    /// configured) sends nothing.
    pub(super) async fn write_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let field = self.config.stripe_customer_field.as_deref();
        if update.profile.is_none() && field.is_none() {
            return Ok(());
        }
        let current = self.customer_object(customer_id).await?;
        let body = customer_fields(&current, update, field);
        self.call(
            reqwest::Method::PUT,
            &format!("{CUSTOMER_OBJECT}/{customer_id}"),
            &[],
            Some(&body),
        )
        .await?
        .ok_or_else(|| Self::customer_not_found(customer_id))?;
        Ok(())
    }

    /// Customers of the site changed at or after the key's time, by time and
    /// id, past those the key has seen (Kentico's `where` is SQL).
    pub(super) async fn customers_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        let filter = if key.updated_at.is_empty() {
            "CustomerID > 0".to_string()
        } else {
            format!("CustomerLastModified >= {}", sql_text(&key.updated_at))
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let objects = self
            .list(
                &self.site_path(CUSTOMER_OBJECT),
                CUSTOMER_OBJECT,
                &filter,
                "CustomerLastModified, CustomerID",
                Some(top),
            )
            .await?;
        Ok(objects
            .iter()
            .filter_map(|o| {
                let customer_id = id_of(o, "CustomerID")?;
                let updated_at = o.get("CustomerLastModified").and_then(kentico_time)?;
                Some(ChangedCustomer {
                    customer_id,
                    updated_at,
                })
            })
            .filter(|c| key.is_before(&c.customer_id, &c.updated_at))
            .take(limit as usize)
            .collect())
    }
}
