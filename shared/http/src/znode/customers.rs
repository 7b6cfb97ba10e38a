//! Znode customers (`ZnodeUser`): read by id (`GET useraccounts/{userId}/{portalId}`)
//! with their billing address (`customer/addresslist`), saved whole
//! (`PUT customeraccount/updatecustomer`, `customer/updatecustomeraddress`),
//! and listed by modification date for the customer poll (users by
//! `customeraccount/list/{userId}`, Znode_AdminUsers; addresses by
//! `address/list`). Znode 9.x sends no customer events: the poll is the intake.

use serde::Deserialize;
use serde_json::Value;
use tally_core::commerce::amounts::id_text;
use tally_core::commerce::znode::{
    address_from, address_modified, address_write, billing_address, customer_from, user_id,
    user_update, AddressPerson, ZnodeAddressWrite, PLATFORM,
};
use tally_core::commerce::{
    merge_customer_changes, ChangeKey, ChangeList, ChangedCustomer, CustomerUpdate,
    PlatformCustomer, PlatformError,
};

use super::ZnodeRest;

/// The most list rows one request reads: enough for every change of the
/// key's minute, which Znode compares dates to.
const MAX_LIST_ROWS: u32 = 1000;

impl ZnodeRest {
    fn customer_not_found(customer_id: &str) -> PlatformError {
        PlatformError::CustomerNotFound {
            platform: PLATFORM.into(),
            customer_id: customer_id.into(),
        }
    }

    /// The whole `UserModel`; Znode answers a user it does not have with 204
    /// or with an empty model (`UserId` 0).
    async fn user(&self, customer_id: &str) -> Result<Value, PlatformError> {
        if customer_id.is_empty() || !customer_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::customer_not_found(customer_id));
        }
        let path = format!("useraccounts/{customer_id}/{}", self.config.portal_id);
        let reply = self
            .call(reqwest::Method::GET, &path, &[], None)
            .await?
            .ok_or_else(|| Self::customer_not_found(customer_id))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct UserResponse {
            #[serde(default)]
            user: Option<Value>,
        }
        let answer: UserResponse = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("{path}: {e}")))?;
        answer
            .user
            .filter(|u| user_id(u).as_deref() == Some(customer_id))
            .ok_or_else(|| Self::customer_not_found(customer_id))
    }

    /// A list answer's rows under `key` (`AddressList`, `Users`), none for a 204.
    async fn list_rows(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
    ) -> Result<(Vec<Value>, u32), PlatformError> {
        let Some(reply) = self.call(reqwest::Method::GET, path, query, None).await? else {
            return Ok((Vec::new(), 0));
        };
        let body: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| Self::invalid(format!("{path}: {e}")))?;
        let rows = body
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pages = body.get("TotalPages").and_then(Value::as_u64).unwrap_or(0);
        Ok((rows, u32::try_from(pages).unwrap_or(u32::MAX)))
    }

    /// The user's address book (`AddressModel`s).
    async fn user_addresses(&self, customer_id: &str) -> Result<Vec<Value>, PlatformError> {
        let query = [
            ("filter", format!("userid~eq~{customer_id}")),
            ("expand", "znodeaddress".to_string()),
            ("page", "index~1,size~100".to_string()),
        ];
        Ok(self
            .list_rows("customer/addresslist", &query, "AddressList")
            .await?
            .0)
    }

    pub(super) async fn read_customer(
        &self,
        customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let user = self.user(customer_id).await?;
        let mut customer = customer_from(
            &self.config.portal_id,
            &user,
            self.config.stripe_customer_field.as_deref(),
        )
        .map_err(Self::invalid)?;
        let addresses = self.user_addresses(customer_id).await?;
        if let Some(address) = billing_address(&addresses) {
            customer.address = Some(address_from(address));
            // the customer changed when its address did
            if let Some(at) = address_modified(address).filter(|at| *at > customer.updated_at) {
                customer.updated_at = at;
            }
        }
        Ok(customer)
    }

    /// Writes the profile's address into the user's billing address, or makes
    /// a first, default billing one; what Znode cannot hold is left out and logged.
    async fn write_address(
        &self,
        customer_id: &str,
        user: &Value,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let Some(address) = update.profile.as_ref().and_then(|p| p.address.as_ref()) else {
            return Ok(());
        };
        let addresses = self.user_addresses(customer_id).await?;
        let name = |k: &str| {
            user.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (first, last) = (name("FirstName"), name("LastName"));
        let phone = update.profile.as_ref().and_then(|p| p.phone.clone());
        let person = AddressPerson {
            user_id: customer_id,
            first_name: &first,
            last_name: &last,
            phone: phone.as_deref(),
        };
        match address_write(billing_address(&addresses), address, &person) {
            ZnodeAddressWrite::Unchanged => {}
            ZnodeAddressWrite::CannotHold(reason) => {
                tracing::warn!(customer_id, %reason, "address not written to Znode");
            }
            ZnodeAddressWrite::Update(model) => {
                self.call(
                    reqwest::Method::PUT,
                    "customer/updatecustomeraddress",
                    &[],
                    Some(&model),
                )
                .await?;
            }
            ZnodeAddressWrite::Create(model) => {
                // A retry after this finds the address in the user's book and updates it.
                self.call(
                    reqwest::Method::POST,
                    "customer/createcustomeraddress",
                    &[],
                    Some(&model),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Read, changed and saved whole: `updatecustomer` writes the model sent
    /// as the `ZnodeUser` row. An update with nothing Znode can hold (a
    /// Stripe id and no field configured) sends nothing.
    pub(super) async fn write_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        let field = self.config.stripe_customer_field.as_deref();
        if update.profile.is_none() && field.is_none() {
            return Ok(());
        }
        let current = self.user(customer_id).await?;
        let body = user_update(&current, update, field);
        self.call(
            reqwest::Method::PUT,
            "customeraccount/updatecustomer",
            &[],
            Some(&body),
        )
        .await?
        .ok_or_else(|| Self::invalid("customeraccount/updatecustomer: empty answer".into()))?;
        self.write_address(customer_id, &body, update).await
    }

    /// Users changed after the key, by modification date and id: their own
    /// rows (`customeraccount/list`) and their addresses (`address/list`),
    /// since saving an address does not touch the user. Znode compares the
    /// filter's date to the minute, so the rows of the key's minute it has
    /// read come back and are skipped here; one request reads them all, so a
    /// row moving while pages are read cannot hide another.
    pub(super) async fn customers_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        let Some(list_as) = self.config.customer_list_user_id else {
            return Ok(Vec::new());
        };
        let minute: String = key.updated_at.chars().take(16).collect();
        let since = (!minute.is_empty()).then(|| format!("modifieddate~ge~{minute}"));
        let seen = u32::try_from(key.seen.len()).unwrap_or(u32::MAX);
        let size = limit.saturating_add(seen).clamp(100, MAX_LIST_ROWS);
        let portal = format!("portalid~eq~{}", self.config.portal_id);
        let users_filter = since
            .iter()
            .chain([&portal])
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let users = self
            .changes_in(
                &format!("customeraccount/list/{list_as}"),
                &users_filter,
                "Users",
                "UserId",
                key,
                size,
            )
            .await?;
        let addresses = self
            .changes_in(
                "address/list",
                since.as_deref().unwrap_or(""),
                "AddressList",
                "AddressId",
                key,
                size,
            )
            .await?;
        let addresses = self.address_users(addresses, list_as).await?;
        Ok(merge_customer_changes(vec![users, addresses], key, limit))
    }

    /// Rows of a list by modification date, as (`id_field`, `ModifiedDate`)
    /// changes after the key: further pages only past a page wholly read
    /// before (a key whose minute holds more rows than one request reads).
    async fn changes_in(
        &self,
        path: &str,
        filter: &str,
        rows_key: &str,
        id_field: &str,
        key: &ChangeKey,
        size: u32,
    ) -> Result<ChangeList, PlatformError> {
        let ids_are_users = id_field == "UserId";
        let mut found = Vec::new();
        let mut index = 1;
        loop {
            let mut query = vec![
                ("sort", "modifieddate~asc".to_string()),
                ("page", format!("index~{index},size~{size}")),
            ];
            if !filter.is_empty() {
                query.push(("filter", filter.to_string()));
            }
            let (rows, pages) = self.list_rows(path, &query, rows_key).await?;
            let changes: Vec<ChangedCustomer> = rows
                .iter()
                .filter_map(|row| {
                    Some(ChangedCustomer {
                        customer_id: row.get(id_field).and_then(id_text)?,
                        updated_at: row.get("ModifiedDate")?.as_str()?.to_string(),
                    })
                })
                .collect();
            let read = ChangeList::read(changes, rows.len(), size);
            // The key's seen ids are users': other ids are kept by time alone.
            found.extend(read.changes.into_iter().filter(|c| {
                if ids_are_users {
                    key.is_before(&c.customer_id, &c.updated_at)
                } else {
                    c.updated_at >= key.updated_at
                }
            }));
            if !found.is_empty() || rows.is_empty() || index >= pages {
                return Ok(ChangeList {
                    changes: found,
                    horizon: read.horizon,
                });
            }
            index += 1;
        }
    }

    /// Address changes as changes of their users (`customer/addresslist` maps
    /// an address to its user), of this portal only (the admin's user list).
    async fn address_users(
        &self,
        addresses: ChangeList,
        list_as: u32,
    ) -> Result<ChangeList, PlatformError> {
        let mut changes = Vec::new();
        for change in addresses.changes {
            let query = [("filter", format!("addressid~eq~{}", change.customer_id))];
            let (owners, _) = self
                .list_rows("customer/addresslist", &query, "AddressList")
                .await?;
            for owner in owners
                .iter()
                .filter_map(|o| o.get("UserId").and_then(id_text))
            {
                let query = [(
                    "filter",
                    format!("userid~eq~{owner},portalid~eq~{}", self.config.portal_id),
                )];
                let (of_portal, _) = self
                    .list_rows(&format!("customeraccount/list/{list_as}"), &query, "Users")
                    .await?;
                if !of_portal.is_empty() {
                    changes.push(ChangedCustomer {
                        customer_id: owner,
                        updated_at: change.updated_at.clone(),
                    });
                }
            }
        }
        Ok(ChangeList {
            changes,
            horizon: addresses.horizon,
        })
    }
}
