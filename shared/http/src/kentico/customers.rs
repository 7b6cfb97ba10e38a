//! Kentico customers over the REST service (`ecommerce.customer`): read by id
//! with their latest address (`ecommerce.address`), updated by the columns
//! Tally syncs, listed by `CustomerLastModified` (and their addresses by
//! `AddressLastModified`) for the customer poll.

use std::sync::Arc;

use serde_json::Value;
use tally_core::commerce::kentico::{
    address_from, address_modified, address_write, customer_fields, customer_from, kentico_time,
    new_customer_fields, objects_of, sql_text, AddressWrite, Geography, ADDRESS_OBJECT,
    COUNTRY_OBJECT, CUSTOMER_OBJECT, PLATFORM, STATE_OBJECT,
};
use tally_core::commerce::{
    merge_customer_changes, ChangeKey, ChangeList, ChangedCustomer, CustomerProfile,
    CustomerUpdate, PlatformCustomer, PlatformError,
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

    /// Countries and states; read again when `stale` (an address names an id they lack).
    async fn geography(&self, stale: bool) -> Result<Arc<Geography>, PlatformError> {
        if !stale {
            if let Some(g) = self.geography.read().await.as_ref() {
                return Ok(g.clone());
            }
        }
        let countries = self
            .list(
                COUNTRY_OBJECT,
                COUNTRY_OBJECT,
                "CountryID > 0",
                "CountryID",
                None,
            )
            .await?;
        let states = self
            .list(STATE_OBJECT, STATE_OBJECT, "StateID > 0", "StateID", None)
            .await?;
        let fresh = Arc::new(Geography::from_objects(&countries, &states));
        *self.geography.write().await = Some(fresh.clone());
        Ok(fresh)
    }

    /// The customer's latest-modified address, the one Stripe shows.
    async fn latest_address(&self, customer_id: &str) -> Result<Option<Value>, PlatformError> {
        Ok(self
            .list(
                ADDRESS_OBJECT,
                ADDRESS_OBJECT,
                &format!("AddressCustomerID = {customer_id}"),
                "AddressLastModified DESC, AddressID DESC",
                Some(1),
            )
            .await?
            .into_iter()
            .next())
    }

    async fn geography_for(&self, address: &Value) -> Result<Arc<Geography>, PlatformError> {
        let geography = self.geography(false).await?;
        if geography.knows(address) {
            return Ok(geography);
        }
        self.geography(true).await
    }

    pub(super) async fn read_customer(
        &self,
        customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let object = self.customer_object(customer_id).await?;
        let mut customer = customer_from(
            &self.config.site_name,
            &object,
            self.config.stripe_customer_field.as_deref(),
        )
        .map_err(Self::invalid)?;
        if let Some(address) = self.latest_address(customer_id).await? {
            let geography = self.geography_for(&address).await?;
            customer.address = Some(address_from(&address, &geography));
            // the customer changed when its address did
            if let Some(at) = address_modified(&address).filter(|at| *at > customer.updated_at) {
                customer.updated_at = at;
            }
        }
        Ok(customer)
    }

    /// The site's customer with this email (Kentico compares text without
    /// case), the first by id if several.
    pub(super) async fn customer_with_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        let found = self
            .list(
                &self.site_path(CUSTOMER_OBJECT),
                CUSTOMER_OBJECT,
                &format!("CustomerEmail = {}", sql_text(email)),
                "CustomerID",
                Some(1),
            )
            .await?;
        match found.first().and_then(|o| id_of(o, "CustomerID")) {
            Some(id) => Ok(Some(self.read_customer(&id).await?)),
            None => Ok(None),
        }
    }

    /// A customer of the site made from a Stripe customer, with its address.
    pub(super) async fn new_customer(
        &self,
        profile: &CustomerProfile,
        stripe_customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let body = new_customer_fields(
            profile,
            stripe_customer_id,
            self.config.stripe_customer_field.as_deref(),
        );
        let answer = self
            .call(
                reqwest::Method::POST,
                &self.site_path(CUSTOMER_OBJECT),
                &[],
                Some(&body),
            )
            .await?
            .unwrap_or(Value::Null);
        // Kentico answers with the object it made; failing that, it is found by email.
        let made = match objects_of(&answer, CUSTOMER_OBJECT)
            .first()
            .and_then(|o| id_of(o, "CustomerID"))
        {
            Some(id) => id,
            None => self
                .customer_with_email(&profile.email)
                .await?
                .map(|c| c.reference.customer_id)
                .ok_or_else(|| Self::invalid("the customer Kentico made cannot be found".into()))?,
        };
        let update = CustomerUpdate {
            profile: Some(profile.clone()),
            stripe_customer_id: None,
        };
        self.write_address(&made, &update).await?;
        self.read_customer(&made).await
    }

    /// Writes the profile's address into the customer's latest address, or
    /// makes a first one; what Kentico cannot hold is left out and logged.
    async fn write_address(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let Some(profile) = &update.profile else {
            return Ok(());
        };
        let Some(address) = &profile.address else {
            return Ok(());
        };
        let existing = self.latest_address(customer_id).await?;
        let geography = match &existing {
            Some(a) => self.geography_for(a).await?,
            None => self.geography(false).await?,
        };
        let personal_name = profile.name.as_deref().unwrap_or(&profile.email);
        match address_write(
            existing.as_ref(),
            address,
            customer_id,
            personal_name,
            &geography,
        ) {
            AddressWrite::Unchanged => {}
            AddressWrite::CannotHold(reason) => {
                tracing::warn!(customer_id, %reason, "address not written to Kentico");
            }
            AddressWrite::Update { address_id, body } => {
                self.call(
                    reqwest::Method::PUT,
                    &format!("{ADDRESS_OBJECT}/{address_id}"),
                    &[],
                    Some(&body),
                )
                .await?
                .ok_or_else(|| Self::customer_not_found(customer_id))?;
            }
            AddressWrite::Create(body) => {
                // A retry after this POST finds the address by its customer
                // (`latest_address`) and updates it instead.
                self.call(reqwest::Method::POST, ADDRESS_OBJECT, &[], Some(&body))
                    .await?;
            }
        }
        Ok(())
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
        self.write_address(customer_id, update).await
    }

    /// Customers of the site changed at or after the key's time, by time and
    /// id, past those the key has seen (Kentico's `where` is SQL). A saved
    /// address is a change of its customer at the address's time, since it
    /// does not move `CustomerLastModified`.
    pub(super) async fn customers_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        let since = |column: &str, id: &str| {
            if key.updated_at.is_empty() {
                format!("{id} > 0")
            } else {
                format!("{column} >= {}", sql_text(&key.updated_at))
            }
        };
        let top = limit.saturating_add(u32::try_from(key.seen.len()).unwrap_or(u32::MAX));
        let customers = self
            .list(
                &self.site_path(CUSTOMER_OBJECT),
                CUSTOMER_OBJECT,
                &since("CustomerLastModified", "CustomerID"),
                "CustomerLastModified, CustomerID",
                Some(top),
            )
            .await?;
        let by_customer: Vec<ChangedCustomer> = customers
            .iter()
            .filter_map(|o| {
                Some(ChangedCustomer {
                    customer_id: id_of(o, "CustomerID")?,
                    updated_at: o.get("CustomerLastModified").and_then(kentico_time)?,
                })
            })
            .collect();
        let by_customer = ChangeList::read(by_customer, customers.len(), top);
        let by_address = self
            .address_changes(&since("AddressLastModified", "AddressID"), top)
            .await?;
        Ok(merge_customer_changes(
            vec![by_customer, by_address],
            key,
            limit,
        ))
    }

    /// Addresses saved since, as changes of their customers; addresses have
    /// no site, so only the customers of this site are kept.
    async fn address_changes(&self, filter: &str, top: u32) -> Result<ChangeList, PlatformError> {
        let addresses = self
            .list(
                ADDRESS_OBJECT,
                ADDRESS_OBJECT,
                filter,
                "AddressLastModified, AddressID",
                Some(top),
            )
            .await?;
        let changes: Vec<ChangedCustomer> = addresses
            .iter()
            .filter_map(|a| {
                Some(ChangedCustomer {
                    customer_id: id_of(a, "AddressCustomerID")?,
                    updated_at: address_modified(a)?,
                })
            })
            .collect();
        let ChangeList { changes, horizon } = ChangeList::read(changes, addresses.len(), top);
        if changes.is_empty() {
            return Ok(ChangeList { changes, horizon });
        }
        let mut ids: Vec<&str> = changes.iter().map(|c| c.customer_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let of_site: Vec<String> = self
            .list(
                &self.site_path(CUSTOMER_OBJECT),
                CUSTOMER_OBJECT,
                &format!("CustomerID IN ({})", ids.join(",")),
                "CustomerID",
                None,
            )
            .await?
            .iter()
            .filter_map(|o| id_of(o, "CustomerID"))
            .collect();
        Ok(ChangeList {
            changes: changes
                .into_iter()
                .filter(|c| of_site.contains(&c.customer_id))
                .collect(),
            horizon,
        })
    }
}
