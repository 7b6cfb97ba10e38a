use std::str::FromStr;
use std::sync::OnceLock;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use tally_core::commerce::declarative::{fields, RestMapping, RestWebhook};
use tally_core::commerce::kentico::{self, KenticoWebhook, Lookups, OrderStatus};
use tally_core::commerce::magento::{self, MagentoWebhook, MagentoWebhookKeys};
use tally_core::commerce::znode::{self, ZnodeWebhook, ZnodeWebhookKeys};
use tally_core::config::TallyConfig;
use tally_core::message::QueueEnvelope;
use tally_core::money::{Currency, MinorUnit};
use tally_core::secrets::SecretString;
use tally_core::stripe::event_list::{parse_event, parse_events_page};
use tally_core::stripe::objects::{self, StripeObject};
use tally_core::stripe::signature::{sign, verify_signature};
use tally_core::stripe::webhook::{StripeWebhook, StripeWebhookKeys};
use tally_core::stripe::{parse_payout_transactions, EventEnvelope};
use tally_core::webhook::tally_signed::{SigningSecrets, SIGNATURE_HEADER};
use tally_core::webhook::{Headers, Inbound, WebhookRequest, WebhookSource};

use crate::Split;

const NOW: i64 = 1_795_651_200;
const SECRET: &str = "whsec_fuzz_0123456789abcdef";
const MAGENTO_PUBLIC_PEM: &str =
    include_str!("../../core/src/commerce/magento/testdata/webhook_public.pem");

fn secret() -> SecretString {
    SecretString::new(SECRET)
}

/// An error must say what was wrong: never an empty message.
fn said<E: std::fmt::Display>(e: E) {
    assert!(!e.to_string().trim().is_empty(), "an error with no message");
}

/// The `Stripe-Signature` header and the timestamp tolerance, over arbitrary headers, bodies and
/// clocks: no panic, no overflow; a header Tally signed verifies within tolerance and fails
/// outside it; a body changed after signing never verifies.
pub fn stripe_signature(data: &[u8]) {
    let mut input = Split::new(data);
    let header = input.text();
    let now_text = input.text();
    let body = input.rest();
    let now = i64::from_str(now_text.trim()).unwrap_or(NOW);
    let tolerance = i64::from(input_tolerance(data));
    let secrets = [secret()];
    if let Err(e) = verify_signature(&secrets, tolerance, Some(&header), body, now) {
        said(e);
    }
    let signed = sign(&secrets[0], now, body);
    let verified = verify_signature(&secrets, 300, Some(&signed), body, now)
        .expect("what Tally signs at `now` verifies at `now`");
    assert_eq!(verified.body(), body);
    assert_eq!(verified.signed_at(), now);
    if let Some(later) = now.checked_add(301) {
        assert!(verify_signature(&secrets, 300, Some(&signed), body, later).is_err());
    }
    let mut tampered = body.to_vec();
    tampered.push(b' ');
    assert!(verify_signature(&secrets, 0, Some(&signed), &tampered, now).is_err());
}

fn input_tolerance(data: &[u8]) -> u16 {
    data.first().map(|b| u16::from(*b) * 4).unwrap_or(300)
}

/// A Stripe webhook body, signed, through the receiver's source (verify, route, build the queue
/// message), the envelope, every typed object, a listed event and page, a payout's transactions
/// page, and the queue message Tally builds from it.
pub fn stripe_event(body: &[u8]) {
    let source = StripeWebhook {
        tolerance_secs: 300,
    };
    let keys = StripeWebhookKeys {
        webhook_signing_secrets: vec![secret()],
    };
    let header = sign(&secret(), NOW, body);
    let headers = [("stripe-signature", header.as_str())];
    let request = request(&headers, "", body);
    let verified = source
        .verify(&keys, &request, NOW)
        .expect("a signed body verifies");
    match source.inbound(verified, NOW * 1000) {
        Ok(Inbound::Enqueue { message, .. }) => {
            let queued = QueueEnvelope::parse(&message.body).expect("Tally reads its own message");
            assert!(!queued.event_id.is_empty());
        }
        Ok(Inbound::Ignore { .. }) => {}
        Err(e) => said(e),
    }
    match EventEnvelope::parse(body) {
        Ok(envelope) => {
            let _ = (envelope.object_id(), envelope.object_type());
        }
        Err(e) => said(e),
    }
    typed::<objects::PaymentIntent>(body);
    typed::<objects::Charge>(body);
    typed::<objects::Refund>(body);
    typed::<objects::Customer>(body);
    typed::<objects::Payout>(body);
    typed::<objects::BalanceTransaction>(body);
    typed::<objects::Dispute>(body);
    typed::<objects::Invoice>(body);
    typed::<objects::Subscription>(body);
    if let Err(e) = parse_event(body) {
        said(e);
    }
    if let Err(e) = parse_events_page(body) {
        said(e);
    }
    if let Err(e) = parse_payout_transactions(body) {
        said(e);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        if let Err(e) = QueueEnvelope::parse(text) {
            said(e);
        }
    }
}

fn typed<T: StripeObject>(body: &[u8]) {
    if let Err(e) = objects::parse_event::<T>(body) {
        said(e);
    }
}

fn request<'a>(
    headers: &'a (dyn Headers + Sync),
    query: &'a str,
    body: &'a [u8],
) -> WebhookRequest<'a> {
    WebhookRequest {
        method: "POST",
        headers,
        query,
        body,
    }
}

/// Each platform's webhook: selector byte picks the sender; the body is signed under that
/// sender's contract (Magento's RSA signature, which we cannot make, gets an arbitrary header
/// instead), verified, and read into a queue message.
pub fn platform_webhook(data: &[u8]) {
    let mut input = Split::new(data);
    let selector = input.selector;
    match selector % 5 {
        0 => {
            let header = input.text();
            let body = input.rest();
            let keys: MagentoWebhookKeys =
                serde_json::from_value(json!({ "webhook_public_keys": [MAGENTO_PUBLIC_PEM] }))
                    .expect("the fixture key parses");
            let source = MagentoWebhook {
                store_code: "default".into(),
            };
            let headers = [(magento::SIGNATURE_HEADER, header.as_str())];
            if let Err(e) = source.verify(&keys, &request(&headers, "", body), NOW) {
                said(format!("{e:?}"));
            }
        }
        1 => {
            let query = input.text();
            let body = input.rest();
            let keys = ZnodeWebhookKeys {
                shared_secrets: vec![secret()],
            };
            let source = ZnodeWebhook {
                portal_id: "1".into(),
            };
            let headers = [(znode::SECRET_HEADER, SECRET)];
            let verified = source
                .verify(&keys, &request(&headers, &query, body), NOW)
                .expect("the shared secret verifies");
            inbound(&source, verified);
            // and the secret in the query string, as a URL-only sender presents it
            let no_headers: [(&str, &str); 0] = [];
            if let Err(e) = source.verify(&keys, &request(&no_headers, &query, body), NOW) {
                said(format!("{e:?}"));
            }
        }
        2 => tally_signed(
            &KenticoWebhook {
                site: "DancingGoat".into(),
            },
            input.rest(),
        ),
        3 => tally_signed(&rest_webhook("clarity"), input.rest()),
        _ => tally_signed(&rest_webhook("storefront"), input.rest()),
    }
}

fn tally_signed<S: WebhookSource<Keys = SigningSecrets>>(source: &S, body: &[u8]) {
    let keys = SigningSecrets {
        signing_secrets: vec![secret()],
    };
    let header = sign(&secret(), NOW, body);
    let headers = [(SIGNATURE_HEADER, header.as_str())];
    let verified = source
        .verify(&keys, &request(&headers, "", body), NOW)
        .expect("a body Tally's contract signed verifies");
    inbound(source, verified);
}

fn inbound<S: WebhookSource>(source: &S, verified: tally_core::webhook::Verified<'_>) {
    match source.inbound(verified, NOW * 1000) {
        Ok(Inbound::Enqueue { message, .. }) => {
            QueueEnvelope::parse(&message.body).expect("Tally reads its own message");
        }
        Ok(Inbound::Ignore { .. }) => {}
        Err(e) => said(e),
    }
}

fn preset(name: &str) -> &'static RestMapping {
    static CLARITY: OnceLock<RestMapping> = OnceLock::new();
    static STOREFRONT: OnceLock<RestMapping> = OnceLock::new();
    let cell = if name == "clarity" {
        &CLARITY
    } else {
        &STOREFRONT
    };
    cell.get_or_init(|| {
        RestMapping::resolve(
            name,
            &json!({ "preset": name, "base_url": "https://shop.example.com" }),
        )
        .expect("the preset resolves")
    })
}

fn rest_webhook(name: &'static str) -> RestWebhook {
    RestWebhook {
        platform: name,
        store: "default".into(),
        mapping: preset(name)
            .webhook
            .clone()
            .expect("the preset maps its webhook"),
    }
}

fn kentico_lookups() -> Lookups {
    Lookups {
        currencies: [("1".into(), "USD".into()), ("2".into(), "JPY".into())].into(),
        statuses: [(
            "1".into(),
            OrderStatus {
                id: "1".into(),
                name: "New".into(),
                is_paid: false,
            },
        )]
        .into(),
        payment_options: [("1".into(), "Stripe".into())].into(),
        not_collectable: vec!["Canceled".into()],
    }
}

/// What platforms answer Tally's reads: orders, refunds, returns, credit memos and customers,
/// for every platform and both declarative presets. Errors name what was wrong.
pub fn platform_json(data: &[u8]) {
    let input = Split::new(data);
    let selector = input.selector;
    let body = input.rest();
    let value: Option<Value> = serde_json::from_slice(body).ok();
    match selector % 8 {
        0 => {
            check(magento::parse_order("default", body));
            check(magento::parse_creditmemos(body));
            check(magento::parse_polled_creditmemos("default", body));
            check(magento::parse_returns(body, &["refund".to_string()]));
            check(magento::parse_customer(
                "default",
                Some("stripe_customer_id"),
                body,
            ));
        }
        1 => {
            check(znode::parse_order("1", body));
            check(znode::parse_order_response("1", body));
            check(znode::parse_return(body));
            check(znode::parse_return_list(body));
            if let Some(v) = &value {
                check(znode::customer_from("1", v, Some("StripeCustomerId")));
            }
        }
        2 => {
            if let Some(v) = &value {
                let items = kentico::objects_of(v, "ecommerce.orderitem");
                for order in kentico::objects_of(v, kentico::ORDER_OBJECT) {
                    check(kentico::order_from(
                        "DancingGoat",
                        order,
                        &items,
                        &kentico_lookups(),
                    ));
                }
                check(kentico::customer_from("DancingGoat", v, Some("StripeID")));
                let _ = kentico::RefundRow::from_json(v);
            }
        }
        n => {
            let name = if n % 2 == 0 { "clarity" } else { "storefront" };
            if let Some(v) = &value {
                let mapping = preset(name);
                check(fields::order_from(name, mapping, v));
                check(fields::customer_from(name, mapping, v));
                for currency in [Currency::Usd, Currency::Jpy, Currency::Kwd] {
                    check(fields::refund_from(mapping, v, currency));
                }
                let _ = fields::order_identity(mapping, v);
                let _ = fields::customer_identity(mapping, v);
            }
        }
    }
}

fn check<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(e) = result {
        said(e);
    }
}

/// The configuration document (`TallyConfig`) and every declarative platform mapping in it: a
/// mistake is an error naming its key, never a panic.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match TallyConfig::from_json(text) {
        Ok(config) => {
            if let Err(e) = config.validate() {
                said(e);
            }
            for name in config.rest_platforms.keys() {
                check(config.rest_platform(name));
            }
        }
        Err(e) => said(e),
    }
    if let Ok(document) = serde_json::from_str::<Value>(text) {
        check(RestMapping::resolve("fuzzed", &document));
    }
}

/// Money: a currency code and an amount as a platform or an ERP writes it. Conversion to minor
/// units is exact or an error, and back again gives the same amount.
pub fn money(data: &[u8]) {
    let mut input = Split::new(data);
    let code = input.text();
    let amount = input.text();
    let currency = match Currency::from_str(code.trim()) {
        Ok(c) => c,
        Err(e) => {
            said(e);
            Currency::Kwd
        }
    };
    let Ok(amount) = Decimal::from_str(amount.trim()) else {
        return;
    };
    match currency.to_minor_exact(amount) {
        Ok(minor) => {
            assert_eq!(
                currency.to_major(minor),
                amount,
                "{amount} {currency} round-trips"
            );
            if let Err(e) = currency.to_minor(amount) {
                said(e);
            }
        }
        Err(e) => said(e),
    }
    let minor = MinorUnit::new(i64::from_le_bytes(pad8(data)));
    let major = currency.to_major(minor);
    assert_eq!(currency.to_minor_exact(major), Ok(minor));
}

fn pad8(data: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(data.iter().rev()) {
        *o = *b;
    }
    out
}
