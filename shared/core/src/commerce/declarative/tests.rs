use serde_json::{json, Value};

use super::fields::{order_from, payment_state, platform_date, refund_from};
use super::mapping::RestMapping;
use crate::commerce::PaymentState;
use crate::money::Currency;

fn clarity(overrides: Value) -> Result<RestMapping, crate::config::ConfigError> {
    let mut doc = json!({"preset": "clarity", "base_url": "https://shop.example.com"});
    for (k, v) in overrides.as_object().unwrap() {
        doc[k] = v.clone();
    }
    RestMapping::resolve("clarity", &doc)
}

fn error(overrides: Value) -> (String, String) {
    let e = clarity(overrides).expect_err("the mapping is refused");
    (e.key, e.message)
}

#[test]
fn both_presets_resolve_and_a_document_overrides_a_preset_key_by_key() {
    let m = clarity(json!({"statuses": {"paid": ["Paid", "Processing", "Completed"]}})).unwrap();
    assert_eq!(m.store, "default");
    assert_eq!(m.statuses.paid, ["Paid", "Processing", "Completed"]);
    assert_eq!(
        m.statuses.paid_status, "Paid",
        "the preset's other keys stay"
    );
    let s = RestMapping::resolve(
        "storefront",
        &json!({"preset": "storefront", "base_url": "http://127.0.0.1:4681"}),
    )
    .unwrap();
    assert!(s.operations.list_refunds_since.is_some());
}

#[test]
fn every_mapping_mistake_names_its_key() {
    let cases = [
        // an unknown operation
        (
            json!({"operations": {"get_ordr": {"method": "GET", "path": "/x"}}}),
            "rest_platforms.clarity.operations.get_ordr",
            "unknown field `get_ordr`, expected one of `get_order`",
        ),
        // a bad JSON pointer
        (
            json!({"order": {"grand_total": "totals.grandTotal"}}),
            "rest_platforms.clarity.order.grand_total",
            "is not a JSON pointer",
        ),
        (
            json!({"order": {"id": "/a~2b"}}),
            "rest_platforms.clarity.order.id",
            "is not a JSON pointer",
        ),
        // a status with no mapping
        (
            json!({"statuses": {"paid_status": "Settled"}}),
            "rest_platforms.clarity.statuses.paid_status",
            "\"Settled\" has no mapping",
        ),
        (
            json!({"statuses": {"failed_status": "Declined"}}),
            "rest_platforms.clarity.statuses.failed_status",
            "has no mapping in statuses.awaiting_payment",
        ),
        // an amount field that is not read as a decimal
        (
            json!({"order": {"grand_total": {"pointer": "/total", "transform": "unix_ms"}}}),
            "rest_platforms.clarity.order.grand_total",
            "an amount: its transform is decimal or minor_units, not unix_ms",
        ),
        (
            json!({"order": {"grand_total": {"pointer": "/total", "transform": "cents"}}}),
            "rest_platforms.clarity.order.grand_total",
            "",
        ),
        // a variable the operation does not have
        (
            json!({"operations": {"get_order": {"method": "GET", "path": "/orders/{id}"}}}),
            "rest_platforms.clarity.operations.get_order",
            "{id} is not a variable of get_order",
        ),
        (
            json!({"operations": {"add_note": {"method": "POST", "path": "/n", "body": {"t": "{amount}"}}}}),
            "rest_platforms.clarity.operations.add_note",
            "{amount} is not a variable of add_note",
        ),
        (
            json!({"operations": {"list_orders": {"method": "GET", "path": "/o?since={since}", "results": null, "paging": null}}}),
            "rest_platforms.clarity.operations.list_orders.results",
            "where the listed objects are",
        ),
        (
            json!({"operations": {"set_status": {"method": "FETCH", "path": "/o"}}}),
            "rest_platforms.clarity.operations.set_status.method",
            "is not GET",
        ),
        (
            json!({"checkout_metadata_key": "order_id"}),
            "rest_platforms.clarity.checkout_metadata_key",
            "not one of Tally's own",
        ),
        (
            json!({"preset": "shopify"}),
            "rest_platforms.clarity.preset",
            "no preset \"shopify\"",
        ),
        (
            json!({"base_url": "shop.example.com"}),
            "rest_platforms.clarity.base_url",
            "not an http(s) URL",
        ),
        (
            json!({"auth": {"type": "oauth2_client_credentials"}}),
            "rest_platforms.clarity.auth",
            "give token_path",
        ),
        (
            json!({"auth": {"type": "api_key"}}),
            "rest_platforms.clarity.auth",
            "missing field `header`",
        ),
    ];
    for (doc, key, message) in cases {
        let (k, m) = error(doc.clone());
        assert_eq!(k, key, "{doc}: {m}");
        assert!(m.contains(message), "{doc}: {m}");
    }
    let named = RestMapping::resolve("Clarity!", &json!({})).unwrap_err();
    assert_eq!(named.key, "rest_platforms.Clarity!");
}

fn clarity_order() -> Value {
    json!({
        "id": "CL-1001", "orderNumber": "100001", "status": "Pending Payment", "currencyCode": "KWD",
        "totals": {"grandTotal": "12.345", "amountPaid": 0, "shipping": 1.5, "tax": "0", "discount": "-2.000"},
        "customer": {"email": "Ada@Example.com", "firstName": "Ada", "lastName": "Lovelace"},
        "payment": {"method": "stripe"},
        "lines": [{"sku": "TEE", "name": "Tee", "quantity": 2, "lineTotal": "12.845"}],
        "notes": [{"text": "first"}, {"text": "second"}],
        "createdDate": "2026-11-28T10:00:00.123+01:00", "modifiedDate": "2026-11-28T09:30:05Z"
    })
}

#[test]
fn a_clarity_order_reads_exactly_in_its_currency() {
    let m = clarity(json!({})).unwrap();
    let order = order_from("clarity", &m, &clarity_order()).unwrap();
    assert_eq!(order.reference.key(), "clarity/default/CL-1001");
    assert_eq!(order.increment_id, "100001");
    assert_eq!(order.payment_state, PaymentState::AwaitingPayment);
    assert_eq!(
        (order.currency, order.grand_total.get()),
        (Currency::Kwd, 12_345)
    );
    assert_eq!(order.charges.shipping.get(), 1_500);
    assert_eq!(order.charges.discount.get(), 2_000);
    assert_eq!(order.lines[0].row_total.get(), 12_845);
    assert_eq!(order.customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(order.comments, ["second", "first"], "newest first");
    assert_eq!(
        order.created_at, "2026-11-28 09:00:00",
        "offsets read to UTC"
    );
    assert_eq!(order.updated_at, "2026-11-28 09:30:05");

    for (path, value, message) in [
        (
            "/totals/grandTotal",
            json!("12.3456"),
            "order.grand_total (/totals/grandTotal)",
        ),
        (
            "/totals/grandTotal",
            json!("twelve"),
            "\"twelve\" is not a decimal",
        ),
        (
            "/status",
            json!("Awaiting Fraud Review"),
            "status \"Awaiting Fraud Review\" has no mapping",
        ),
        (
            "/currencyCode",
            json!("XYZ"),
            "order.currency (/currencyCode)",
        ),
        (
            "/modifiedDate",
            json!("yesterday"),
            "order.updated_at (/modifiedDate)",
        ),
    ] {
        let mut o = clarity_order();
        *o.pointer_mut(path).unwrap() = value;
        let e = order_from("clarity", &m, &o).unwrap_err();
        assert!(e.contains(message), "{path}: {e}");
    }
}

#[test]
fn a_storefront_order_reads_minor_units_and_unix_dates() {
    let m = RestMapping::resolve(
        "storefront",
        &json!({"preset": "storefront", "base_url": "http://127.0.0.1:4681"}),
    )
    .unwrap();
    let o = json!({"order_id": 77, "reference": "SF-77", "state": "paid",
        "money": {"currency": "JPY", "total_minor": 5000, "paid_minor": "5000"},
        "buyer": {"email": "b@example.com"}, "items": [{"sku": "MUG", "title": "Mug", "qty": "1", "total_minor": 5000}],
        "timeline": [], "created": 1795860000, "updated": "1795860005"});
    let order = order_from("storefront", &m, &o).unwrap();
    assert_eq!(order.reference.order_id, "77");
    assert_eq!(
        (order.grand_total.get(), order.total_invoiced.get()),
        (5000, 5000)
    );
    assert_eq!(order.payment_state, PaymentState::Paid);
    assert_eq!(order.updated_at, "2026-11-28 10:00:05");
    let mut bad = o.clone();
    bad["money"]["total_minor"] = json!("50.00");
    assert!(order_from("storefront", &m, &bad)
        .unwrap_err()
        .contains("not an integer of minor units"));
    for extreme in [i64::MIN, i64::MAX, -1] {
        let mut far = o.clone();
        far["updated"] = json!(extreme);
        let _ = order_from("storefront", &m, &far); // an answer, never a panic
    }
    let refund = refund_from(
        &m,
        &json!({"refund_id": "r1", "order_id": 77, "amount_minor": 1200, "provider_refund_id": null, "created": 1795860000}),
        Currency::Jpy,
    )
    .unwrap();
    assert!(refund.refund.awaiting);
    assert_eq!(
        (refund.order_id.as_str(), refund.refund.amount.get()),
        ("77", 1200)
    );
    assert_eq!(platform_date(&order.updated_at, m.dates), "1795860005");
}

#[test]
fn statuses_match_without_case_and_since_renders_per_format() {
    let m = clarity(json!({})).unwrap();
    assert_eq!(
        payment_state(&m.statuses, "paid").unwrap(),
        PaymentState::Paid
    );
    assert_eq!(
        payment_state(&m.statuses, "CANCELLED").unwrap(),
        PaymentState::NotCollectable
    );
    assert_eq!(
        platform_date("2026-11-28 08:40:05", m.dates),
        "2026-11-28T08:40:05Z"
    );
}

mod arbitrary_input {
    //! Outside input never panics the mapping's readers: documents, order
    //! objects, templates and dates of any shape get an answer or an error.
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::fields::{customer_from, order_from, refund_from};
    use super::super::mapping::RestMapping;
    use super::super::template::{encode_component, variables_of, Template, Values};
    use crate::money::Currency;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[-0-9.eE]{1,12}".prop_map(|s| serde_json::from_str(&s).unwrap_or(Value::Null)),
            ".{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("/id"),
                Just("{order_id}"),
                Just("Paid"),
                Just("USD"),
                Just("2026-11-28T10:00:00+01:00"),
                Just("19.99"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("id".to_string()),
                        Just("status".to_string()),
                        Just("order".to_string()),
                        Just("operations".to_string()),
                        Just("statuses".to_string()),
                        Just("auth".to_string()),
                        Just("totals".to_string()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_resolves_or_names_a_key(doc in json_value(), preset in any::<bool>()) {
            let mut doc = doc;
            if preset {
                if let Value::Object(o) = &mut doc {
                    o.insert("preset".into(), json!("clarity"));
                    o.insert("base_url".into(), json!("https://c.example.com"));
                }
            }
            if let Err(e) = RestMapping::resolve("clarity", &doc) {
                prop_assert!(e.key.starts_with("rest_platforms.clarity"), "{}", e.key);
            }
        }

        #[test]
        fn any_object_reads_as_an_order_a_refund_and_a_customer_or_says_why(object in json_value()) {
            for preset in ["clarity", "storefront"] {
                let m = RestMapping::resolve(preset, &json!({"preset": preset, "base_url": "https://x.example.com"})).unwrap();
                if let Err(e) = order_from(preset, &m, &object) {
                    prop_assert!(!e.is_empty());
                }
                let _ = refund_from(&m, &object, Currency::Kwd);
                let _ = customer_from(preset, &m, &object);
            }
        }

        #[test]
        fn any_template_text_renders_or_says_why(text in ".{0,40}", value in ".{0,12}") {
            if let Ok(names) = variables_of(&text) {
                let mut values = Values::default();
                for n in &names {
                    values = values.with(n, value.as_str());
                }
                let rendered = Template::new(&text).render(&values, encode_component);
                prop_assert!(rendered.is_ok());
                prop_assert!(values.body(&Value::String(text.clone())).is_ok());
            }
        }
    }
}
