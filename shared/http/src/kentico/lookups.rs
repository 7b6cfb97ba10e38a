//! Kentico's own lists an order's ids resolve through: currencies, order
//! statuses (with their `StatusOrderIsPaid` flag) and payment options of the
//! site, read once per container and again when an order names an id they
//! lack (a currency or status added since).

use std::sync::Arc;

use serde_json::Value;
use tally_core::commerce::kentico::{objects_of, Lookups, OrderStatus};
use tally_core::commerce::PlatformError;

use super::{id_of, KenticoRest};

impl KenticoRest {
    async fn read_lookups(&self) -> Result<Lookups, PlatformError> {
        let all = |object_type: &'static str| async move {
            let answer = self
                .call(
                    reqwest::Method::GET,
                    &self.site_path(object_type),
                    &[],
                    None,
                )
                .await?
                .unwrap_or(Value::Null);
            Ok::<_, PlatformError>(
                objects_of(&answer, object_type)
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        let mut lookups = Lookups {
            not_collectable: self.config.not_collectable_statuses.clone(),
            ..Lookups::default()
        };
        for c in all("ecommerce.currency").await? {
            if let (Some(id), Some(code)) = (id_of(&c, "CurrencyID"), c["CurrencyCode"].as_str()) {
                lookups.currencies.insert(id, code.to_string());
            }
        }
        for s in all("ecommerce.orderstatus").await? {
            if let (Some(id), Some(name)) = (id_of(&s, "StatusID"), s["StatusName"].as_str()) {
                let is_paid = matches!(&s["StatusOrderIsPaid"], Value::Bool(true))
                    || s["StatusOrderIsPaid"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case("true"));
                lookups.statuses.insert(
                    id.clone(),
                    OrderStatus {
                        id,
                        name: name.to_string(),
                        is_paid,
                    },
                );
            }
        }
        for p in all("ecommerce.paymentoption").await? {
            if let (Some(id), Some(name)) = (
                id_of(&p, "PaymentOptionID"),
                p["PaymentOptionName"].as_str(),
            ) {
                lookups.payment_options.insert(id, name.to_string());
            }
        }
        Ok(lookups)
    }

    /// The cached lists; read again when `stale` (an order named an id they lack).
    pub(super) async fn lookups(&self, stale: bool) -> Result<Arc<Lookups>, PlatformError> {
        if !stale {
            if let Some(l) = self.lookups.read().await.as_ref() {
                return Ok(l.clone());
            }
        }
        let fresh = Arc::new(self.read_lookups().await?);
        *self.lookups.write().await = Some(fresh.clone());
        Ok(fresh)
    }

    /// A configured status, which must exist (and be flagged paid, or not, as asked).
    pub(super) async fn status(
        &self,
        name: &str,
        key: &str,
        paid: bool,
    ) -> Result<OrderStatus, PlatformError> {
        let mut lookups = self.lookups(false).await?;
        if lookups.status_named(name).is_none() {
            lookups = self.lookups(true).await?;
        }
        let status = lookups.status_named(name).cloned().ok_or_else(|| {
            Self::rejected(format!(
                "Kentico site {} has no order status named {name:?} ({key})",
                self.config.site_name
            ))
        })?;
        if status.is_paid != paid {
            return Err(Self::rejected(format!(
                "order status {name:?} ({key}) must {}be flagged StatusOrderIsPaid",
                if paid { "" } else { "not " }
            )));
        }
        Ok(status)
    }
}
