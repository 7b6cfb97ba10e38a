//! Kentico's customer (`ecommerce.customer`, table `COM_Customer`) to and from
//! the canonical customer. Email, names and phone are the customer's own
//! columns; Kentico keeps addresses as separate objects naming a country by
//! id, which Tally does not sync yet. The linked Stripe customer id goes in a
//! custom field the merchant adds to the customer class (its name configured).

use serde_json::{json, Map, Value};

use super::{kentico_time, PLATFORM};
use crate::commerce::amounts::id_text;
use crate::commerce::{split_name, CustomerProfile, CustomerRef, CustomerUpdate, PlatformCustomer};

pub const CUSTOMER_OBJECT: &str = "ecommerce.customer";

use crate::commerce::amounts::field_text as text;

pub fn customer_from(
    site: &str,
    obj: &Value,
    stripe_field: Option<&str>,
) -> Result<PlatformCustomer, String> {
    let id = obj
        .get("CustomerID")
        .and_then(id_text)
        .ok_or("customer has no CustomerID")?;
    Ok(PlatformCustomer {
        reference: CustomerRef {
            platform: PLATFORM.into(),
            store: site.into(),
            customer_id: id,
        },
        email: text(obj, "CustomerEmail").ok_or("customer has no CustomerEmail")?,
        first_name: text(obj, "CustomerFirstName"),
        last_name: text(obj, "CustomerLastName"),
        phone: text(obj, "CustomerPhone"),
        address: None,
        stripe_customer_id: stripe_field.and_then(|f| text(obj, f)),
        updated_at: obj
            .get("CustomerLastModified")
            .and_then(kentico_time)
            .unwrap_or_default(),
    })
}

/// The fields of a `PUT /rest/ecommerce.customer/{id}` (Kentico updates the
/// columns sent): the synced ones from `update.profile` and the Stripe id.
pub fn customer_fields(
    current: &Value,
    update: &CustomerUpdate,
    stripe_field: Option<&str>,
) -> Value {
    let mut fields = Map::new();
    if let Some(p) = &update.profile {
        fields.insert("CustomerEmail".into(), json!(p.email));
        if let Some(name) = &p.name {
            let current_last = text(current, "CustomerLastName");
            let (first, last) = split_name(name, current_last.as_deref());
            fields.insert("CustomerFirstName".into(), json!(first));
            fields.insert("CustomerLastName".into(), json!(last));
        }
        if let Some(phone) = &p.phone {
            fields.insert("CustomerPhone".into(), json!(phone));
        }
    }
    if let (Some(id), Some(field)) = (&update.stripe_customer_id, stripe_field) {
        fields.insert(field.into(), json!(id));
    }
    json!({ "ecommerce_customer": fields })
}

/// The fields of a new customer (`POST /rest/ecommerce.customer/site/{site}`)
/// made from a Stripe customer, naming it in the Stripe id field.
pub fn new_customer_fields(
    profile: &CustomerProfile,
    stripe_customer_id: &str,
    stripe_field: Option<&str>,
) -> Value {
    let (first, last) = split_name(profile.name.as_deref().unwrap_or(""), None);
    let mut fields = Map::new();
    fields.insert("CustomerEmail".into(), json!(profile.email));
    fields.insert("CustomerFirstName".into(), json!(first));
    fields.insert("CustomerLastName".into(), json!(last));
    if let Some(phone) = &profile.phone {
        fields.insert("CustomerPhone".into(), json!(phone));
    }
    if let Some(field) = stripe_field {
        fields.insert(field.into(), json!(stripe_customer_id));
    }
    json!({ "ecommerce_customer": fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kentico_customer_reads_and_updates_its_own_columns() {
        let obj = json!({"CustomerID": 7, "CustomerEmail": "Amy@Example.com", "CustomerFirstName": "Amy",
            "CustomerLastName": "Lee", "CustomerPhone": "", "CustomerLastModified": "/Date(1795694400000)/",
            "CustomerStripeID": "cus_1"});
        let c = customer_from("DancingGoat", &obj, Some("CustomerStripeID")).unwrap();
        assert_eq!(c.reference.key(), "kentico/DancingGoat/7");
        assert_eq!(
            (c.phone, c.stripe_customer_id.as_deref()),
            (None, Some("cus_1"))
        );
        assert_eq!(c.updated_at, "2026-11-26 12:00:00.000");
        let update = CustomerUpdate {
            profile: Some(CustomerProfile::new(
                "amy@new.example",
                Some("Amy Park"),
                Some("+1 555"),
                None,
            )),
            stripe_customer_id: Some("cus_2".into()),
        };
        let body = customer_fields(&obj, &update, Some("CustomerStripeID"));
        assert_eq!(
            body,
            json!({"ecommerce_customer": {"CustomerEmail": "amy@new.example", "CustomerFirstName": "Amy",
                "CustomerLastName": "Park", "CustomerPhone": "+1 555", "CustomerStripeID": "cus_2"}})
        );
        assert!(customer_from("s", &json!({"CustomerID": 1}), None)
            .unwrap_err()
            .contains("CustomerEmail"));
        let made = CustomerProfile::new("nia@example.com", Some("Nia New"), None, None);
        assert_eq!(
            new_customer_fields(&made, "cus_3", Some("CustomerStripeID")),
            json!({"ecommerce_customer": {"CustomerEmail": "nia@example.com", "CustomerFirstName": "Nia",
                "CustomerLastName": "New", "CustomerStripeID": "cus_3"}})
        );
    }
}
