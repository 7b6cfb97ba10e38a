//! A Znode user's address: a `ZnodeAddress` row of its own (mapped to the
//! user by `ZnodeUserAddress`), read as `AddressModel` from
//! `customer/addresslist`. The user's default billing address (else the
//! latest-modified) is the one Stripe shows. `customer/updatecustomeraddress`
//! saves the model sent as the whole row, so an update is the address as
//! read with the synced parts changed. Znode keeps the country's two-letter
//! code in `CountryName` and the state's code in `StateName`.

use serde_json::{json, Value};

use crate::commerce::amounts::id_text;
use crate::commerce::PostalAddress;

use crate::commerce::amounts::field_text as text;

pub fn address_from(model: &Value) -> PostalAddress {
    PostalAddress {
        line1: text(model, "Address1"),
        line2: text(model, "Address2"),
        city: text(model, "CityName"),
        state: text(model, "StateCode").or_else(|| text(model, "StateName")),
        postal_code: text(model, "PostalCode"),
        country: text(model, "CountryCode").or_else(|| text(model, "CountryName")),
    }
}

/// The address Stripe shows: the default billing one, else the latest-modified.
pub fn billing_address(list: &[Value]) -> Option<&Value> {
    let is_default = |a: &&Value| a.get("IsDefaultBilling").and_then(Value::as_bool) == Some(true);
    list.iter().find(is_default).or_else(|| {
        list.iter().max_by_key(|a| {
            (
                text(a, "ModifiedDate").unwrap_or_default(),
                a.get("AddressId").and_then(id_text),
            )
        })
    })
}

pub fn address_modified(model: &Value) -> Option<String> {
    text(model, "ModifiedDate")
}

/// What writing an address to a Znode user takes.
#[derive(Debug, Clone, PartialEq)]
pub enum ZnodeAddressWrite {
    /// Znode already shows it.
    Unchanged,
    /// Znode cannot hold it (why); the user's address is left as it is.
    CannotHold(String),
    /// `PUT customer/updatecustomeraddress` with the whole model.
    Update(Value),
    /// `POST customer/createcustomeraddress`: the user's first, default billing address.
    Create(Value),
}

/// The person an address is made out to.
pub struct AddressPerson<'a> {
    pub user_id: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub phone: Option<&'a str>,
}

pub fn address_write(
    existing: Option<&Value>,
    address: &PostalAddress,
    person: &AddressPerson,
) -> ZnodeAddressWrite {
    let (Some(line1), Some(city), Some(country)) =
        (&address.line1, &address.city, &address.country)
    else {
        return ZnodeAddressWrite::CannotHold(
            "Znode keeps an address only with a line, a city and a country".into(),
        );
    };
    let parts = [
        ("Address1", json!(line1)),
        ("Address2", json!(address.line2)),
        ("CityName", json!(city)),
        ("StateName", json!(address.state)),
        ("StateCode", json!(address.state)),
        (
            "PostalCode",
            json!(address.postal_code.clone().unwrap_or_default()),
        ),
        ("CountryName", json!(country)),
    ];
    match existing {
        Some(current) => {
            if address_from(current) == *address {
                return ZnodeAddressWrite::Unchanged;
            }
            let mut model = current.clone();
            for (k, v) in parts {
                model[k] = v;
            }
            ZnodeAddressWrite::Update(model)
        }
        None => {
            let mut model = json!({
                "UserId": person.user_id.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
                "FirstName": person.first_name, "LastName": person.last_name,
                "DisplayName": format!("{line1}, {city}"), "PhoneNumber": person.phone.unwrap_or_default(),
                "IsDefaultBilling": true, "IsBilling": true, "IsActive": true,
            });
            for (k, v) in parts {
                model[k] = v;
            }
            ZnodeAddressWrite::Create(model)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_znode_address_is_the_default_billing_row_saved_whole() {
        let rows = vec![
            json!({"AddressId": 4, "Address1": "9 Ship St", "CityName": "Reno", "CountryName": "US",
                "IsDefaultBilling": false, "ModifiedDate": "2026-11-27 10:00:00"}),
            json!({"AddressId": 3, "Address1": "1 Main St", "Address2": "", "CityName": "Austin",
                "StateName": "TX", "PostalCode": "78701", "CountryName": "US", "IsDefaultBilling": true,
                "ModifiedDate": "2026-11-26 10:00:00", "CreatedDate": "2026-11-20 10:00:00", "ExternalId": "E1"}),
        ];
        let billing = billing_address(&rows).unwrap();
        let a = address_from(billing);
        assert_eq!(
            (
                a.line1.as_deref(),
                a.line2.as_deref(),
                a.state.as_deref(),
                a.country.as_deref()
            ),
            (Some("1 Main St"), None, Some("TX"), Some("US"))
        );
        assert_eq!(
            billing_address(&rows[..1]).unwrap()["AddressId"],
            4,
            "no default: the latest"
        );
        let person = AddressPerson {
            user_id: "12",
            first_name: "Amy",
            last_name: "Lee",
            phone: Some("555"),
        };
        assert_eq!(
            address_write(Some(billing), &a, &person),
            ZnodeAddressWrite::Unchanged
        );
        let moved = PostalAddress {
            city: Some("Dallas".into()),
            ..a.clone()
        };
        let ZnodeAddressWrite::Update(model) = address_write(Some(billing), &moved, &person) else {
            panic!("an update")
        };
        assert_eq!(model["CityName"], "Dallas");
        assert_eq!(
            (&model["CreatedDate"], &model["ExternalId"]),
            (&json!("2026-11-20 10:00:00"), &json!("E1")),
            "every column read is sent back"
        );
        let ZnodeAddressWrite::Create(model) = address_write(None, &moved, &person) else {
            panic!("a first address")
        };
        assert_eq!(
            (&model["UserId"], &model["IsDefaultBilling"]),
            (&json!(12), &json!(true))
        );
        let bare = PostalAddress {
            country: Some("US".into()),
            ..Default::default()
        };
        assert!(matches!(
            address_write(None, &bare, &person),
            ZnodeAddressWrite::CannotHold(_)
        ));
    }
}
