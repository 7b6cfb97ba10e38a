//! The platform contract (`tally_core::commerce::contract`) against each HTTP
//! adapter and its simulator, placing orders through the simulators' shared
//! control API (`POST /_sim/orders` answers the platform's `id` and `number`).
//! Needs the simulators `make up` starts; run with `-- --ignored`.

use async_trait::async_trait;
use serde_json::{json, Value};
use tally_core::commerce::contract::{check_platform_contract, PlacesOrders};
use tally_core::config::{MagentoConfig, ZnodeConfig};
use tally_core::money::Currency;

mod common;
use common::{env, fast, secret};

/// Any simulator's control API.
struct ControlApi(String);

#[async_trait]
impl PlacesOrders for ControlApi {
    async fn place(&self, currency: Currency, price: &str) -> (String, String) {
        let placed: Value = reqwest::Client::new()
            .post(format!("{}/_sim/orders", self.0))
            .json(&json!({"currency": currency.code(), "notify": false, "payment_method": "stripe_payments",
                          "items": [{"sku": "CONTRACT", "name": "Contract item", "qty": 1, "price": price}]}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            placed["id"].as_str().unwrap().to_string(),
            placed["number"].as_str().unwrap().to_string(),
        )
    }
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn magento_keeps_the_platform_contract() {
    let magento = tally_http::magento::MagentoRest::new(
        tally_http::client(),
        &env("MAGENTO_BASE_URL"),
        MagentoConfig {
            http: fast(),
            ..MagentoConfig::default()
        },
        secret(json!({"access_token": env("MAGENTO_TOKEN")})),
    );
    check_platform_contract(&magento, &ControlApi(env("MAGENTO_BASE_URL"))).await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn znode_keeps_the_platform_contract() {
    let znode = tally_http::znode::ZnodeRest::new(
        tally_http::client(),
        &env("ZNODE_BASE_URL"),
        ZnodeConfig {
            http: fast(),
            ..ZnodeConfig::default()
        },
        secret(json!({"domain": env("ZNODE_DOMAIN"), "key": env("ZNODE_KEY")})),
    );
    check_platform_contract(&znode, &ControlApi(env("ZNODE_BASE_URL"))).await;
}
