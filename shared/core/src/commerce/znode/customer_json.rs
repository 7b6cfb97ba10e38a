//! Znode's `UserModel` (the `User` of `GET useraccounts/{userId}/{portalId}`)
//! to and from the canonical customer. Email, names and phone are the user's
//! own columns; addresses are `ZnodeAddress` rows of their own, not synced.
//! The linked Stripe customer id goes in one of `ZnodeUser`'s `Custom1` to
//! `Custom5` columns, as configured. `PUT customeraccount/updatecustomer`
//! saves the model sent as the whole `ZnodeUser` row, so an update is the
//! user as read with the synced fields changed: nothing else is lost.

use serde_json::{json, Value};

use super::PLATFORM;
use crate::commerce::amounts::id_text;
use crate::commerce::{split_name, CustomerRef, CustomerUpdate, PlatformCustomer};

use crate::commerce::amounts::field_text as text;

/// The user's id, `None` for Znode's empty `UserModel` (`UserId` 0), which
/// is how it answers for a user it does not have.
pub fn user_id(obj: &Value) -> Option<String> {
    obj.get("UserId").and_then(id_text).filter(|id| id != "0")
}

pub fn customer_from(
    portal: &str,
    obj: &Value,
    stripe_field: Option<&str>,
) -> Result<PlatformCustomer, String> {
    let id = user_id(obj).ok_or("user has no UserId")?;
    Ok(PlatformCustomer {
        reference: CustomerRef {
            platform: PLATFORM.into(),
            store: portal.into(),
            customer_id: id,
        },
        email: text(obj, "Email").ok_or("user has no Email")?,
        first_name: text(obj, "FirstName"),
        last_name: text(obj, "LastName"),
        phone: text(obj, "PhoneNumber"),
        address: None,
        stripe_customer_id: stripe_field.and_then(|f| text(obj, f)),
        updated_at: text(obj, "ModifiedDate").unwrap_or_default(),
    })
}

/// The body of `PUT customeraccount/updatecustomer`: `current` (the whole
/// user as read) with the synced fields from `update` and the Stripe id.
pub fn user_update(current: &Value, update: &CustomerUpdate, stripe_field: Option<&str>) -> Value {
    let mut user = current.clone();
    if let Some(p) = &update.profile {
        user["Email"] = json!(p.email);
        if let Some(name) = &p.name {
            let current_last = text(current, "LastName");
            let (first, last) = split_name(name, current_last.as_deref());
            user["FirstName"] = json!(first);
            user["LastName"] = json!(last);
            user["FullName"] = json!(name);
        }
        if let Some(phone) = &p.phone {
            user["PhoneNumber"] = json!(phone);
        }
    }
    if let (Some(id), Some(field)) = (&update.stripe_customer_id, stripe_field) {
        user[field] = json!(id);
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::CustomerProfile;

    #[test]
    fn a_znode_user_reads_and_updates_as_a_whole_row() {
        let obj = json!({"UserId": 12, "AspNetUserId": "a1b2", "UserName": "amy@example.com",
            "Email": "Amy@Example.com", "FirstName": "Amy", "LastName": "Lee", "PhoneNumber": " ",
            "ModifiedDate": "2026-11-26T12:00:00.123", "Custom1": "cus_1", "BudgetAmount": 50.0,
            "ExternalId": "ERP-7"});
        let c = customer_from("1", &obj, Some("Custom1")).unwrap();
        assert_eq!(c.reference.key(), "znode/1/12");
        assert_eq!(
            (
                c.phone,
                c.stripe_customer_id.as_deref(),
                c.updated_at.as_str()
            ),
            (None, Some("cus_1"), "2026-11-26T12:00:00.123")
        );
        let update = CustomerUpdate {
            profile: Some(CustomerProfile::new(
                "amy@new.example",
                Some("Amy Park"),
                Some("+1 555"),
                None,
            )),
            stripe_customer_id: Some("cus_2".into()),
        };
        let body = user_update(&obj, &update, Some("Custom1"));
        assert_eq!(
            body,
            json!({"UserId": 12, "AspNetUserId": "a1b2", "UserName": "amy@example.com",
                "Email": "amy@new.example", "FirstName": "Amy", "LastName": "Park", "FullName": "Amy Park",
                "PhoneNumber": "+1 555", "ModifiedDate": "2026-11-26T12:00:00.123", "Custom1": "cus_2",
                "BudgetAmount": 50.0, "ExternalId": "ERP-7"}),
            "every column read is sent back"
        );
        assert!(
            customer_from("1", &json!({"UserId": 0, "Email": "x@y.z"}), None)
                .unwrap_err()
                .contains("UserId")
        );
        assert!(customer_from("1", &json!({"UserId": 3}), None)
            .unwrap_err()
            .contains("Email"));
    }
}
