//! Znode customers (`ZnodeUser`): read by id (`GET useraccounts/{userId}/{portalId}`),
//! saved whole (`PUT customeraccount/updatecustomer`), and listed by
//! modification date for the customer poll (`GET customeraccount/list/{userId}`,
//! Znode_AdminUsers). Znode 9.x sends no customer events: the poll is the intake.

use serde::Deserialize;
use serde_json::Value;
use tally_core::commerce::znode::{customer_from, user_id, user_update, PLATFORM};
use tally_core::commerce::{
    ChangeKey, ChangedCustomer, CustomerUpdate, PlatformCustomer, PlatformError,
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

    pub(super) async fn read_customer(
        &self,
        customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        let user = self.user(customer_id).await?;
        customer_from(
            &self.config.portal_id,
            &user,
            self.config.stripe_customer_field.as_deref(),
        )
        .map_err(Self::invalid)
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
        Ok(())
    }

    /// Users changed after the key, by modification date and id. Znode
    /// compares the filter's date to the minute, so the rows of the key's
    /// minute it has read come back and are skipped here; one request reads
    /// them all, so a row moving while pages are read cannot hide another.
    pub(super) async fn customers_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<ChangedCustomer>, PlatformError> {
        let Some(list_as) = self.config.customer_list_user_id else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Row {
            user_id: Value,
            #[serde(default)]
            modified_date: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct UserList {
            #[serde(default)]
            users: Vec<Row>,
            #[serde(default)]
            total_pages: u32,
        }
        let minute: String = key.updated_at.chars().take(16).collect();
        let mut filter = format!("portalid~eq~{}", self.config.portal_id);
        if !minute.is_empty() {
            filter = format!("modifieddate~ge~{minute},{filter}");
        }
        let seen = u32::try_from(key.seen.len()).unwrap_or(u32::MAX);
        let size = limit.saturating_add(seen).clamp(100, MAX_LIST_ROWS);
        let path = format!("customeraccount/list/{list_as}");
        let mut found = Vec::new();
        let mut index = 1;
        loop {
            let query = [
                ("filter", filter.clone()),
                ("sort", "modifieddate~asc".to_string()),
                ("page", format!("index~{index},size~{size}")),
            ];
            let Some(reply) = self.call(reqwest::Method::GET, &path, &query, None).await? else {
                break;
            };
            let list: UserList = serde_json::from_slice(&reply.body)
                .map_err(|e| Self::invalid(format!("{path}: {e}")))?;
            for row in &list.users {
                let (Some(customer_id), Some(updated_at)) = (
                    tally_core::commerce::amounts::id_text(&row.user_id),
                    row.modified_date.clone(),
                ) else {
                    continue;
                };
                if key.is_before(&customer_id, &updated_at) {
                    found.push(ChangedCustomer {
                        customer_id,
                        updated_at,
                    });
                }
            }
            // Further pages only past a page wholly read before (a key whose
            // minute holds more rows than one request reads).
            if !found.is_empty() || list.users.is_empty() || index >= list.total_pages {
                break;
            }
            index += 1;
        }
        found.truncate(limit as usize);
        Ok(found)
    }
}
