//! The platform contract (`tally_core::commerce::contract`) against each HTTP
//! adapter and its simulator, placing orders through the simulators' shared
//! control API (`POST /_sim/orders` answers the platform's `id` and `number`).
//! Needs the simulators `make up` starts; run with `-- --ignored`.

use async_trait::async_trait;
use serde_json::{json, Value};
use tally_core::commerce::contract::{
    check_platform_contract, check_refund_intake_contract, MakesRefunds, PlacesOrders,
};
use tally_core::commerce::customer_contract::{
    check_customer_contract, check_customer_creation_contract, Keeps, RegistersCustomers,
};
use tally_core::config::{MagentoConfig, ZnodeAuthMode, ZnodeConfig};
use tally_core::money::Currency;

mod common;
use common::{env, fast, post_json, secret};

/// Any simulator's control API.
struct ControlApi(String);

#[async_trait]
impl PlacesOrders for ControlApi {
    async fn place(&self, currency: Currency, price: &str) -> (String, String) {
        let placed = post_json(
            &self.0,
            "/_sim/orders",
            &json!({"currency": currency.code(), "notify": false, "payment_method": "stripe_payments",
                    "items": [{"sku": "CONTRACT", "name": "Contract item", "qty": 1, "price": price}]}),
        )
        .await;
        (
            placed["id"].as_str().unwrap().to_string(),
            placed["number"].as_str().unwrap().to_string(),
        )
    }
}

#[async_trait]
impl MakesRefunds for ControlApi {
    async fn refund_on_platform(&self, order_id: &str, amount: &str) -> String {
        let made = post_json(
            &self.0,
            &format!("/_sim/orders/{order_id}/refunds"),
            &json!({"amount": amount}),
        )
        .await;
        made["id"].as_str().unwrap().to_string()
    }
}

#[async_trait]
impl RegistersCustomers for ControlApi {
    async fn register(&self, email: &str, first: &str, last: &str) -> String {
        let made = post_json(
            &self.0,
            "/_sim/customers",
            &json!({"email": email, "firstname": first, "lastname": last, "notify": false}),
        )
        .await;
        made["id"].as_str().unwrap().to_string()
    }
}

/// The customer contracts write to simulators no stack listens to: a
/// listening Tally would link the customer at its first save and write its
/// own Stripe id over the contract's.
#[tokio::test]
#[ignore = "needs `make up`"]
async fn magento_keeps_the_customer_contract() {
    let magento = quiet_magento();
    let control = ControlApi(env("MAGENTO_QUIET_BASE_URL"));
    check_customer_contract(
        &magento,
        &control,
        &unique_email("magento"),
        Keeps {
            stripe_id: true,
            // only on a billing address the customer has: Magento needs a whole one to make it
            address: false,
        },
    )
    .await;
}

fn quiet_magento() -> tally_http::magento::MagentoRest {
    tally_http::magento::MagentoRest::new(
        tally_http::client(),
        &env("MAGENTO_QUIET_BASE_URL"),
        MagentoConfig {
            http: fast(),
            stripe_customer_attribute: Some("stripe_customer_id".into()),
            ..MagentoConfig::default()
        },
        secret(json!({"access_token": env("MAGENTO_TOKEN")})),
    )
}

fn quiet_kentico() -> tally_http::kentico::KenticoRest {
    tally_http::kentico::KenticoRest::new(
        tally_http::client(),
        &env("KENTICO_QUIET_BASE_URL"),
        tally_core::config::KenticoConfig {
            http: fast(),
            stripe_customer_field: Some("CustomerStripeID".into()),
            ..Default::default()
        },
        secret(json!({"username": env("KENTICO_USER"), "password": env("KENTICO_PASSWORD")})),
    )
}

/// Customers made in Stripe become Magento or Kentico customers (where
/// `customers.create_from_stripe_in` says); Magento makes one without an
/// address (it needs a whole one, telephone included).
#[tokio::test]
#[ignore = "needs `make up`"]
async fn magento_and_kentico_make_customers_as_the_contract_says() {
    let magento = Keeps {
        stripe_id: true,
        address: false,
    };
    check_customer_creation_contract(&quiet_magento(), &unique_email("made-magento"), magento)
        .await;
    let kentico = Keeps {
        stripe_id: true,
        address: true,
    };
    check_customer_creation_contract(&quiet_kentico(), &unique_email("made-kentico"), kentico)
        .await;
}

fn unique_email(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{nanos}@example.com")
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn kentico_keeps_the_customer_contract() {
    let kentico = quiet_kentico();
    let control = ControlApi(env("KENTICO_QUIET_BASE_URL"));
    check_customer_contract(
        &kentico,
        &control,
        &unique_email("kentico"),
        Keeps {
            stripe_id: true,
            address: true,
        },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn znode_keeps_the_customer_contract() {
    let znode = tally_http::znode::ZnodeRest::new(
        tally_http::client(),
        &env("ZNODE_BASE_URL"),
        ZnodeConfig {
            http: fast(),
            stripe_customer_field: Some("Custom1".into()),
            customer_list_user_id: Some(2),
            ..ZnodeConfig::default()
        },
        secret(json!({"domain": env("ZNODE_DOMAIN"), "key": env("ZNODE_KEY")})),
    );
    let control = ControlApi(env("ZNODE_BASE_URL"));
    check_customer_contract(
        &znode,
        &control,
        &unique_email("znode"),
        Keeps {
            stripe_id: true,
            address: true,
        },
    )
    .await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn magento_keeps_the_refund_intake_contract() {
    let magento = tally_http::magento::MagentoRest::new(
        tally_http::client(),
        &env("MAGENTO_BASE_URL"),
        MagentoConfig {
            http: fast(),
            ..MagentoConfig::default()
        },
        secret(json!({"access_token": env("MAGENTO_TOKEN")})),
    );
    let control = ControlApi(env("MAGENTO_BASE_URL"));
    check_refund_intake_contract(&magento, &control, &control).await;
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

#[tokio::test]
#[ignore = "needs `make up`"]
async fn znode_keeps_the_refund_intake_contract() {
    let znode = tally_http::znode::ZnodeRest::new(
        tally_http::client(),
        &env("ZNODE_BASE_URL"),
        ZnodeConfig {
            http: fast(),
            ..ZnodeConfig::default()
        },
        secret(json!({"domain": env("ZNODE_DOMAIN"), "key": env("ZNODE_KEY")})),
    );
    let control = ControlApi(env("ZNODE_BASE_URL"));
    check_refund_intake_contract(&znode, &control, &control).await;
}

/// Znode with `EnableTokenBasedAuthorization`; that simulator's tokens last
/// 3 s, so the run also meets expired tokens and must renew them: the first
/// time with a re-read key, then (re-reads being rate-limited) with the same key.
#[tokio::test]
#[ignore = "needs `make up`"]
async fn znode_in_token_mode_keeps_the_platform_contract() {
    let base = env("ZNODE_TOKEN_MODE_BASE_URL");
    let key = json!({"domain": env("ZNODE_DOMAIN"), "key": env("ZNODE_KEY")});
    let znode = tally_http::znode::ZnodeRest::new(
        tally_http::client(),
        &base,
        ZnodeConfig {
            http: fast(),
            auth: ZnodeAuthMode::Token,
            ..ZnodeConfig::default()
        },
        std::sync::Arc::new(tally_core::secrets::CachedSecret::new(
            Box::new(tally_core::memory::MemorySecret::new(
                "local",
                &key.to_string(),
            )),
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(300),
        )),
    );
    let control = ControlApi(base.clone());
    check_platform_contract(&znode, &control).await;

    let (order_id, _) = control.place(Currency::Usd, "5.00").await;
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(3_200)).await;
        let order = tally_core::commerce::CommercePlatform::get_order(&znode, &order_id)
            .await
            .expect("an expired token is renewed");
        assert_eq!(order.reference.order_id, order_id);
    }
    let log: Value = reqwest::get(format!(
        "{base}/_sim/requests?path_contains=/orders/{order_id}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let statuses: Vec<u64> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [401, 200, 401, 200],
        "each expired token refused once, then renewed"
    );
}

fn kentico() -> tally_http::kentico::KenticoRest {
    tally_http::kentico::KenticoRest::new(
        tally_http::client(),
        &env("KENTICO_BASE_URL"),
        tally_core::config::KenticoConfig {
            http: fast(),
            ..tally_core::config::KenticoConfig::default()
        },
        secret(json!({"username": env("KENTICO_USER"), "password": env("KENTICO_PASSWORD")})),
    )
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn kentico_keeps_the_platform_contract() {
    check_platform_contract(&kentico(), &ControlApi(env("KENTICO_BASE_URL"))).await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn kentico_keeps_the_refund_intake_contract() {
    let control = ControlApi(env("KENTICO_BASE_URL"));
    check_refund_intake_contract(&kentico(), &control, &control).await;
}

/// Kentico answers 403, not 401, to a wrong password: Tally re-reads the secret
/// once, then reports the credentials refused (not retried as an outage).
#[tokio::test]
#[ignore = "needs `make up`"]
async fn kentico_refuses_wrong_credentials_with_403_as_unauthorized() {
    let wrong = tally_http::kentico::KenticoRest::new(
        tally_http::client(),
        &env("KENTICO_BASE_URL"),
        tally_core::config::KenticoConfig {
            http: fast(),
            ..tally_core::config::KenticoConfig::default()
        },
        secret(json!({"username": env("KENTICO_USER"), "password": "not-the-password"})),
    );
    let (id, _) = ControlApi(env("KENTICO_BASE_URL"))
        .place(Currency::Usd, "1.00")
        .await;
    let err = tally_core::commerce::CommercePlatform::get_order(&wrong, &id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            tally_core::commerce::PlatformError::Unauthorized { status: 403, .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-password"));
}

/// A declarative platform from its preset, pointed at its simulator.
fn declarative(
    name: &str,
    base_env: &str,
    credentials: Value,
) -> tally_http::declarative::RestPlatform {
    let mapping = tally_core::commerce::declarative::RestMapping::resolve(
        name,
        &json!({"preset": name, "base_url": env(base_env),
                "http": {"max_retries": 2, "retry_base_ms": 50, "max_backoff_ms": 200, "timeout_ms": 5000}}),
    )
    .expect("the preset resolves");
    tally_http::declarative::RestPlatform::new(
        tally_http::client(),
        name,
        mapping,
        secret(credentials),
    )
}

fn clarity() -> tally_http::declarative::RestPlatform {
    declarative(
        "clarity",
        "CLARITY_BASE_URL",
        json!({"client_id": env("CLARITY_CLIENT_ID"), "client_secret": env("CLARITY_CLIENT_SECRET")}),
    )
}

fn storefront() -> tally_http::declarative::RestPlatform {
    declarative(
        "storefront",
        "STOREFRONT_BASE_URL",
        json!({"api_key": env("STOREFRONT_API_KEY")}),
    )
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn clarity_keeps_the_platform_contract() {
    check_platform_contract(&clarity(), &ControlApi(env("CLARITY_BASE_URL"))).await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn clarity_keeps_the_refund_intake_contract() {
    let control = ControlApi(env("CLARITY_BASE_URL"));
    check_refund_intake_contract(&clarity(), &control, &control).await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn a_custom_storefront_keeps_the_platform_contract() {
    check_platform_contract(&storefront(), &ControlApi(env("STOREFRONT_BASE_URL"))).await;
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn a_custom_storefront_keeps_the_refund_intake_contract() {
    let control = ControlApi(env("STOREFRONT_BASE_URL"));
    check_refund_intake_contract(&storefront(), &control, &control).await;
}

/// Wrong credentials are `Unauthorized` (a person fixes them), on every auth style.
#[tokio::test]
#[ignore = "needs `make up`"]
async fn declarative_platforms_refuse_wrong_credentials_as_unauthorized() {
    use tally_core::commerce::{CommercePlatform, PlatformError};
    let (id, _) = ControlApi(env("CLARITY_BASE_URL"))
        .place(Currency::Usd, "1.00")
        .await;
    let wrong = declarative(
        "clarity",
        "CLARITY_BASE_URL",
        json!({"client_id": env("CLARITY_CLIENT_ID"), "client_secret": "not-the-secret"}),
    );
    assert!(matches!(
        wrong.get_order(&id).await,
        Err(PlatformError::Unauthorized { status: 401, .. })
    ));
    let (id, _) = ControlApi(env("STOREFRONT_BASE_URL"))
        .place(Currency::Usd, "1.00")
        .await;
    let wrong = declarative(
        "storefront",
        "STOREFRONT_BASE_URL",
        json!({"api_key": "nope"}),
    );
    let refused = wrong.get_order(&id).await;
    assert!(
        matches!(
            refused,
            Err(PlatformError::Unauthorized { status: 401, .. })
        ),
        "{refused:?}"
    );
    assert!(
        !format!("{refused:?}").contains("nope"),
        "no secret in errors"
    );
}

/// On the quiet stores (no Tally listens to their customer events).
#[tokio::test]
#[ignore = "needs `make up`"]
async fn declarative_platforms_keep_the_customer_contract() {
    let keeps = Keeps {
        stripe_id: true,
        address: true,
    };
    let clarity = declarative(
        "clarity",
        "CLARITY_QUIET_BASE_URL",
        json!({"client_id": env("CLARITY_CLIENT_ID"), "client_secret": env("CLARITY_CLIENT_SECRET")}),
    );
    let control = ControlApi(env("CLARITY_QUIET_BASE_URL"));
    check_customer_contract(&clarity, &control, &unique_email("clarity"), keeps).await;
    let storefront = declarative(
        "storefront",
        "STOREFRONT_QUIET_BASE_URL",
        json!({"api_key": env("STOREFRONT_API_KEY")}),
    );
    let control = ControlApi(env("STOREFRONT_QUIET_BASE_URL"));
    check_customer_contract(&storefront, &control, &unique_email("storefront"), keeps).await;
}
