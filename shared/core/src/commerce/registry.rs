//! The platforms one deployment serves, built once per container from the
//! configuration: the flows pick an adapter by the order's platform and store
//! (from the queue message or the PaymentIntent's metadata) and never name one.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CommercePlatform, OrderRef};
use crate::stripe::objects::Metadata;

/// How a PaymentIntent made outside Tally names its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutOrder {
    /// The number customers see (Magento's Stripe module: "Order #").
    Number(String),
    /// The platform's order id (Clarity Connect: `clarityorderid`).
    Id(String),
}

#[derive(Clone, Default)]
pub struct Platforms {
    by_key: BTreeMap<(String, String), Arc<dyn CommercePlatform>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {platform} store {store} is not enabled in this deployment (enabled: {enabled})")]
pub struct NotEnabled {
    pub platform: String,
    pub store: String,
    pub enabled: String,
}

impl Platforms {
    pub fn new(platforms: impl IntoIterator<Item = Arc<dyn CommercePlatform>>) -> Self {
        Platforms {
            by_key: platforms
                .into_iter()
                .map(|p| ((p.platform().to_string(), p.store().to_string()), p))
                .collect(),
        }
    }

    /// The adapter for `platform` and `store`, or why there is none.
    pub fn get(
        &self,
        platform: &str,
        store: &str,
    ) -> Result<&Arc<dyn CommercePlatform>, NotEnabled> {
        self.by_key
            .get(&(platform.to_string(), store.to_string()))
            .ok_or_else(|| NotEnabled {
                platform: platform.into(),
                store: store.into(),
                enabled: self.names(),
            })
    }

    pub fn for_order(&self, order: &OrderRef) -> Result<&Arc<dyn CommercePlatform>, NotEnabled> {
        self.get(&order.platform, &order.store)
    }

    /// A platform whose own Stripe module (or a former integration) made
    /// this PaymentIntent, with the order it names.
    pub fn checkout_payment(
        &self,
        metadata: &Metadata,
    ) -> Option<(&Arc<dyn CommercePlatform>, CheckoutOrder)> {
        self.by_key.values().find_map(|p| {
            p.checkout_order_number(metadata)
                .map(CheckoutOrder::Number)
                .or_else(|| p.checkout_order_id(metadata).map(CheckoutOrder::Id))
                .map(|o| (p, o))
        })
    }

    /// `magento/default, znode/1`, for errors and logs.
    pub fn names(&self) -> String {
        let names: Vec<String> = self
            .by_key
            .keys()
            .map(|(p, s)| format!("{p}/{s}"))
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}
