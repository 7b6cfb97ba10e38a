//! A Kentico customer's address: an `ecommerce.address` object of its own
//! (KX13's COM_Address) naming its country and state by id (`cms.country`'s
//! `CountryTwoLetterCode`, `cms.state`'s `StateCode`). Tally takes the
//! customer's latest-modified address as the one Stripe shows, and writes
//! Stripe's address into it (or a first one).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::kentico_time;
use crate::commerce::amounts::id_text;
use crate::commerce::PostalAddress;

pub const ADDRESS_OBJECT: &str = "ecommerce.address";
pub const COUNTRY_OBJECT: &str = "cms.country";
pub const STATE_OBJECT: &str = "cms.state";

/// Kentico's countries and states, by id and by code.
#[derive(Debug, Default, Clone)]
pub struct Geography {
    countries: HashMap<String, String>,
    states: HashMap<String, (String, String)>,
}

impl Geography {
    /// From the `cms.country` and `cms.state` objects.
    pub fn from_objects(countries: &[Value], states: &[Value]) -> Self {
        let mut g = Geography::default();
        for c in countries {
            if let (Some(id), Some(code)) =
                (field_id(c, "CountryID"), text(c, "CountryTwoLetterCode"))
            {
                g.countries.insert(id, code.to_ascii_uppercase());
            }
        }
        for s in states {
            if let (Some(id), Some(code), Some(country)) = (
                field_id(s, "StateID"),
                text(s, "StateCode"),
                field_id(s, "CountryID"),
            ) {
                g.states.insert(id, (code.to_ascii_uppercase(), country));
            }
        }
        g
    }

    /// Whether every id the address names is known (else the lists are stale).
    pub fn knows(&self, address: &Value) -> bool {
        field_id(address, "AddressCountryID").is_none_or(|id| self.countries.contains_key(&id))
            && field_id(address, "AddressStateID").is_none_or(|id| self.states.contains_key(&id))
    }

    fn country_id(&self, code: &str) -> Option<String> {
        self.countries
            .iter()
            .find(|(_, c)| c.eq_ignore_ascii_case(code))
            .map(|(id, _)| id.clone())
    }

    fn state_id(&self, country_id: &str, code: &str) -> Option<String> {
        self.states
            .iter()
            .find(|(_, (c, country))| country == country_id && c.eq_ignore_ascii_case(code))
            .map(|(id, _)| id.clone())
    }
}

use crate::commerce::amounts::field_text as text;

/// An id column; 0 and null name nothing.
fn field_id(obj: &Value, key: &str) -> Option<String> {
    obj.get(key).and_then(id_text).filter(|id| id != "0")
}

pub fn address_from(obj: &Value, geography: &Geography) -> PostalAddress {
    PostalAddress {
        line1: text(obj, "AddressLine1"),
        line2: text(obj, "AddressLine2"),
        city: text(obj, "AddressCity"),
        state: field_id(obj, "AddressStateID")
            .and_then(|id| geography.states.get(&id).map(|s| s.0.clone())),
        postal_code: text(obj, "AddressZip"),
        country: field_id(obj, "AddressCountryID")
            .and_then(|id| geography.countries.get(&id).cloned()),
    }
}

pub fn address_modified(obj: &Value) -> Option<String> {
    obj.get("AddressLastModified").and_then(kentico_time)
}

/// What writing an address to a Kentico customer takes.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressWrite {
    /// Kentico already shows it.
    Unchanged,
    /// Kentico cannot hold it (why); the customer's address is left as it is.
    CannotHold(String),
    /// `PUT /rest/ecommerce.address/{id}` with these fields.
    Update { address_id: String, body: Value },
    /// `POST /rest/ecommerce.address`: the customer's first address.
    Create(Value),
}

/// The write that makes the customer's latest address (`existing`) show
/// `address`. Kentico needs a line, a city and a country it knows; a state
/// it does not know is left empty.
pub fn address_write(
    existing: Option<&Value>,
    address: &PostalAddress,
    customer_id: &str,
    personal_name: &str,
    geography: &Geography,
) -> AddressWrite {
    let (Some(line1), Some(city), Some(code)) = (&address.line1, &address.city, &address.country)
    else {
        return AddressWrite::CannotHold(
            "Kentico keeps an address only with a line, a city and a country".into(),
        );
    };
    let Some(country_id) = geography.country_id(code) else {
        return AddressWrite::CannotHold(format!("Kentico has no country {code} (cms.country)"));
    };
    let state_id = address
        .state
        .as_deref()
        .and_then(|s| geography.state_id(&country_id, s));
    let id_value = |id: &str| {
        id.parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(id))
    };
    let mut fields = Map::new();
    fields.insert("AddressLine1".into(), json!(line1));
    fields.insert("AddressLine2".into(), json!(address.line2));
    fields.insert("AddressCity".into(), json!(city));
    fields.insert(
        "AddressZip".into(),
        json!(address.postal_code.clone().unwrap_or_default()),
    );
    fields.insert("AddressCountryID".into(), id_value(&country_id));
    fields.insert(
        "AddressStateID".into(),
        state_id.as_deref().map(id_value).unwrap_or(Value::Null),
    );
    match existing {
        Some(current) => {
            let shows = address_from(current, geography);
            let wanted = PostalAddress {
                state: state_id
                    .as_ref()
                    .and(address.state.as_ref())
                    .map(|s| s.to_ascii_uppercase()),
                postal_code: address.postal_code.clone(),
                ..address.clone()
            };
            if shows == wanted {
                return AddressWrite::Unchanged;
            }
            match field_id(current, "AddressID") {
                Some(address_id) => AddressWrite::Update {
                    address_id,
                    body: json!({ "ecommerce_address": fields }),
                },
                None => AddressWrite::CannotHold("the customer's address has no AddressID".into()),
            }
        }
        None => {
            fields.insert("AddressCustomerID".into(), id_value(customer_id));
            fields.insert("AddressPersonalName".into(), json!(personal_name));
            fields.insert(
                "AddressName".into(),
                json!(format!("{personal_name}, {line1}, {city}")),
            );
            AddressWrite::Create(json!({ "ecommerce_address": fields }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geography() -> Geography {
        Geography::from_objects(
            &[
                json!({"CountryID": 1, "CountryTwoLetterCode": "US"}),
                json!({"CountryID": 2, "CountryTwoLetterCode": "CA"}),
            ],
            &[
                json!({"StateID": 7, "StateCode": "TX", "CountryID": 1}),
                json!({"StateID": 8, "StateCode": "ON", "CountryID": 2}),
            ],
        )
    }

    #[test]
    fn a_kentico_address_names_its_country_and_state_by_id() {
        let g = geography();
        let row = json!({"AddressID": 3, "AddressLine1": "1 Main St", "AddressLine2": null, "AddressCity": "Austin",
            "AddressZip": "78701", "AddressCountryID": 1, "AddressStateID": 7, "AddressCustomerID": 5,
            "AddressLastModified": "/Date(1795694400000)/"});
        let a = address_from(&row, &g);
        assert_eq!(
            (
                a.line1.as_deref(),
                a.state.as_deref(),
                a.country.as_deref(),
                a.line2.as_deref()
            ),
            (Some("1 Main St"), Some("TX"), Some("US"), None)
        );
        assert_eq!(
            address_modified(&row).as_deref(),
            Some("2026-11-26 12:00:00.000")
        );
        assert!(g.knows(&row));
        assert!(
            !g.knows(&json!({"AddressCountryID": 9})),
            "a country added since: read the lists again"
        );

        assert_eq!(
            address_write(Some(&row), &a, "5", "Amy Lee", &g),
            AddressWrite::Unchanged
        );
        let moved = PostalAddress {
            city: Some("Toronto".into()),
            state: Some("on".into()),
            country: Some("CA".into()),
            ..a.clone()
        };
        assert_eq!(
            address_write(Some(&row), &moved, "5", "Amy Lee", &g),
            AddressWrite::Update {
                address_id: "3".into(),
                body: json!({"ecommerce_address": {"AddressLine1": "1 Main St", "AddressLine2": null,
                    "AddressCity": "Toronto", "AddressZip": "78701", "AddressCountryID": 2, "AddressStateID": 8}})
            }
        );
        let AddressWrite::Create(body) = address_write(None, &a, "5", "Amy Lee", &g) else {
            panic!("a first address")
        };
        assert_eq!(body["ecommerce_address"]["AddressCustomerID"], json!(5));
        assert_eq!(
            body["ecommerce_address"]["AddressName"],
            json!("Amy Lee, 1 Main St, Austin")
        );
        // a state Kentico does not list is left empty; a country it lacks, or no line, is not written
        let unknown_state = PostalAddress {
            state: Some("ZZ".into()),
            ..a.clone()
        };
        let AddressWrite::Update { body, .. } =
            address_write(Some(&row), &unknown_state, "5", "Amy Lee", &g)
        else {
            panic!("the state is dropped")
        };
        assert_eq!(body["ecommerce_address"]["AddressStateID"], Value::Null);
        let abroad = PostalAddress {
            country: Some("FR".into()),
            ..a.clone()
        };
        assert!(
            matches!(address_write(None, &abroad, "5", "x", &g), AddressWrite::CannotHold(r) if r.contains("FR"))
        );
        let bare = PostalAddress {
            country: Some("US".into()),
            ..Default::default()
        };
        assert!(matches!(
            address_write(None, &bare, "5", "x", &g),
            AddressWrite::CannotHold(_)
        ));
    }
}
