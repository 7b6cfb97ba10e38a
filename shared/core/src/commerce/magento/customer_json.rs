//! Magento's customer (`GET /V1/customers/{id}`, `customer-data-customer-interface`)
//! to and from the canonical customer. The phone and postal address are the
//! default billing address's: Magento keeps no phone on the customer itself.
//! The linked Stripe customer id goes in a customer attribute the merchant
//! creates (its code is configured), since Magento has none built in.

use serde_json::{json, Map, Value};

use super::PLATFORM;
use crate::commerce::amounts::id_text;
use crate::commerce::{
    split_name, CustomerProfile, CustomerRef, CustomerUpdate, PlatformCustomer, PostalAddress,
};

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The default billing address among `addresses`, if the customer has one.
fn billing_address(customer: &Map<String, Value>) -> Option<&Map<String, Value>> {
    let addresses = customer.get("addresses")?.as_array()?;
    let default_id = customer.get("default_billing").and_then(id_text);
    addresses.iter().filter_map(Value::as_object).find(|a| {
        a.get("default_billing").and_then(Value::as_bool) == Some(true)
            || (default_id.is_some() && a.get("id").and_then(id_text) == default_id)
    })
}

pub fn parse_customer(
    store: &str,
    stripe_attribute: Option<&str>,
    json: &[u8],
) -> Result<PlatformCustomer, String> {
    let value: Value = serde_json::from_slice(json).map_err(|e| format!("customer JSON: {e}"))?;
    let c = value.as_object().ok_or("customer JSON is not an object")?;
    let id = c.get("id").and_then(id_text).ok_or("customer has no id")?;
    let email = text(c.get("email")).ok_or("customer has no email")?;
    let address = billing_address(c);
    let street: Vec<String> = address
        .and_then(|a| a.get("street"))
        .and_then(Value::as_array)
        .map(|lines| lines.iter().filter_map(|l| text(Some(l))).collect())
        .unwrap_or_default();
    let stripe_customer_id = stripe_attribute.and_then(|code| {
        c.get("custom_attributes")?
            .as_array()?
            .iter()
            .find(|a| a.get("attribute_code").and_then(Value::as_str) == Some(code))
            .and_then(|a| text(a.get("value")))
            .filter(|v| !v.is_empty())
    });
    Ok(PlatformCustomer {
        reference: CustomerRef {
            platform: PLATFORM.into(),
            store: store.into(),
            customer_id: id,
        },
        email,
        first_name: text(c.get("firstname")),
        last_name: text(c.get("lastname")),
        phone: address.and_then(|a| text(a.get("telephone"))),
        address: address.map(|a| PostalAddress {
            line1: street.first().cloned(),
            line2: (street.len() > 1).then(|| street[1..].join(", ")),
            city: text(a.get("city")),
            state: a
                .get("region")
                .and_then(|r| text(r.get("region_code")))
                .or_else(|| text(a.get("region_code"))),
            postal_code: text(a.get("postcode")),
            country: text(a.get("country_id")),
        }),
        stripe_customer_id,
        updated_at: text(c.get("updated_at")).unwrap_or_default(),
    })
}

/// The `PUT /V1/customers/{id}` body: the customer as read, with `update`
/// applied (Magento replaces the record, so nothing read is left out).
pub fn customer_update_request(
    read: &[u8],
    update: &CustomerUpdate,
    stripe_attribute: Option<&str>,
) -> Result<Value, String> {
    let mut value: Value =
        serde_json::from_slice(read).map_err(|e| format!("customer JSON: {e}"))?;
    let c = value
        .as_object_mut()
        .ok_or("customer JSON is not an object")?;
    if let Some(p) = &update.profile {
        let current_last = text(c.get("lastname"));
        let (first, last) = split_name(p.name.as_deref().unwrap_or(""), current_last.as_deref());
        c.insert("email".into(), json!(p.email));
        if !first.is_empty() {
            c.insert("firstname".into(), json!(first));
            c.insert("lastname".into(), json!(last));
        }
        let default_id = c.get("default_billing").and_then(id_text);
        if let Some(addresses) = c.get_mut("addresses").and_then(Value::as_array_mut) {
            let billing = addresses
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .find(|a| {
                    a.get("default_billing").and_then(Value::as_bool) == Some(true)
                        || (default_id.is_some() && a.get("id").and_then(id_text) == default_id)
                });
            // Without a billing address there is nowhere to put a phone or an address
            // (Magento requires a full address to make one): those stay Stripe's alone.
            if let Some(a) = billing {
                if let Some(phone) = &p.phone {
                    a.insert("telephone".into(), json!(phone));
                }
                if let Some(addr) = &p.address {
                    let street: Vec<&String> =
                        [&addr.line1, &addr.line2].into_iter().flatten().collect();
                    if !street.is_empty() {
                        a.insert("street".into(), json!(street));
                    }
                    for (field, v) in [
                        ("city", &addr.city),
                        ("postcode", &addr.postal_code),
                        ("country_id", &addr.country),
                    ] {
                        if let Some(v) = v {
                            a.insert(field.into(), json!(v));
                        }
                    }
                    if let Some(state) = &addr.state {
                        a.insert(
                            "region".into(),
                            json!({"region_code": state, "region": state}),
                        );
                    }
                }
            }
        }
    }
    if let (Some(id), Some(code)) = (&update.stripe_customer_id, stripe_attribute) {
        let attrs = c
            .entry("custom_attributes")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or("custom_attributes is not a list")?;
        attrs.retain(|a| a.get("attribute_code").and_then(Value::as_str) != Some(code));
        attrs.push(json!({"attribute_code": code, "value": id}));
    }
    Ok(json!({ "customer": value }))
}

/// The `POST /V1/customers` body for a customer made in Stripe: Magento
/// requires both names, so a missing one is the email's local part. The
/// phone and address wait for an address book entry, which Magento cannot
/// make without a full address.
pub fn new_customer_request(
    profile: &CustomerProfile,
    stripe_customer_id: &str,
    stripe_attribute: Option<&str>,
    website_id: u32,
) -> Value {
    let local = profile.email.split('@').next().unwrap_or("-").to_string();
    let (first, last) = split_name(profile.name.as_deref().unwrap_or(&local), None);
    let mut customer = json!({
        "email": profile.email, "firstname": first, "lastname": last, "website_id": website_id,
    });
    if let Some(code) = stripe_attribute {
        customer["custom_attributes"] =
            json!([{"attribute_code": code, "value": stripe_customer_id}]);
    }
    json!({ "customer": customer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_made_in_stripe_is_posted_with_both_names() {
        let named = CustomerProfile::new("nia@example.com", Some("Nia New"), None, None);
        let body = new_customer_request(&named, "cus_1", Some("stripe_customer_id"), 1);
        assert_eq!(
            body,
            json!({"customer": {"email": "nia@example.com", "firstname": "Nia", "lastname": "New", "website_id": 1,
                "custom_attributes": [{"attribute_code": "stripe_customer_id", "value": "cus_1"}]}})
        );
        let nameless = CustomerProfile::new("bo@example.com", None, None, None);
        let c = &new_customer_request(&nameless, "cus_2", None, 2)["customer"];
        assert_eq!(
            (c["firstname"].as_str(), c["lastname"].as_str()),
            (Some("bo"), Some("bo"))
        );
        assert!(c.get("custom_attributes").is_none());
    }

    const CUSTOMER: &str = r#"{"id": 5, "email": "Amy@Example.com", "firstname": "Amy", "lastname": "Lee",
        "website_id": 1, "updated_at": "2026-11-28 10:00:00", "default_billing": "9",
        "addresses": [{"id": 9, "street": ["1 Main St", "Apt 2"], "city": "Austin", "postcode": "78701",
                       "country_id": "US", "telephone": "+1 555 0100", "region": {"region_code": "TX"},
                       "firstname": "Amy", "lastname": "Lee"}],
        "custom_attributes": [{"attribute_code": "stripe_customer_id", "value": "cus_1"}]}"#;

    #[test]
    fn a_magento_customer_reads_with_its_billing_address_and_link() {
        let c = parse_customer("default", Some("stripe_customer_id"), CUSTOMER.as_bytes()).unwrap();
        assert_eq!(c.reference.key(), "magento/default/5");
        assert_eq!(c.phone.as_deref(), Some("+1 555 0100"));
        let a = c.address.clone().unwrap();
        assert_eq!(
            (a.line1.as_deref(), a.line2.as_deref(), a.state.as_deref()),
            (Some("1 Main St"), Some("Apt 2"), Some("TX"))
        );
        assert_eq!(c.stripe_customer_id.as_deref(), Some("cus_1"));
        assert_eq!(c.profile().name.as_deref(), Some("Amy Lee"));
        let none = parse_customer("default", None, CUSTOMER.as_bytes()).unwrap();
        assert_eq!(none.stripe_customer_id, None);
        assert!(parse_customer("default", None, br#"{"id": 5}"#)
            .unwrap_err()
            .contains("no email"));
    }

    #[test]
    fn an_update_changes_only_the_synced_fields_and_keeps_the_rest() {
        let profile = CustomerProfile::new(
            "amy@new.example",
            Some("Amy Park"),
            Some("+1 555 0199"),
            None,
        );
        let update = CustomerUpdate {
            profile: Some(profile),
            stripe_customer_id: Some("cus_2".into()),
        };
        let body =
            customer_update_request(CUSTOMER.as_bytes(), &update, Some("stripe_customer_id"))
                .unwrap();
        let c = &body["customer"];
        assert_eq!(
            (
                c["email"].as_str(),
                c["firstname"].as_str(),
                c["lastname"].as_str()
            ),
            (Some("amy@new.example"), Some("Amy"), Some("Park"))
        );
        assert_eq!(c["website_id"], 1);
        assert_eq!(c["addresses"][0]["telephone"], "+1 555 0199");
        assert_eq!(
            c["addresses"][0]["city"], "Austin",
            "an address Stripe lacks is not deleted"
        );
        assert_eq!(
            c["custom_attributes"],
            json!([{"attribute_code": "stripe_customer_id", "value": "cus_2"}])
        );
        let read = parse_customer(
            "default",
            Some("stripe_customer_id"),
            c.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(read.profile().name.as_deref(), Some("Amy Park"));
    }
}
