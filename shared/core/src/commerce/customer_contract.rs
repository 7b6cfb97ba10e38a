//! The customer contract: what a platform adapter must do for customers to
//! sync both ways, run against the in-memory platform and each HTTP adapter
//! whose customers Tally syncs, with its simulator
//! (`shared/http/tests/platform_contract.rs`).

use async_trait::async_trait;

use super::{
    ChangeKey, CommercePlatform, CustomerProfile, CustomerUpdate, PlatformError, PostalAddress,
};
use crate::clock::{parse_utc_datetime, utc_datetime};

/// Registers customers on the platform under test, as a shopper does (a
/// simulator's `POST /_sim/customers`, or the in-memory store).
#[async_trait]
pub trait RegistersCustomers: Send + Sync {
    /// A customer with this email and name; returns the platform's id.
    async fn register(&self, email: &str, first: &str, last: &str) -> String;
}

/// What a platform keeps of a customer besides email and names.
#[derive(Debug, Clone, Copy)]
pub struct Keeps {
    /// The linked Stripe customer id (a configured attribute or field).
    pub stripe_id: bool,
    /// A postal address.
    pub address: bool,
}

/// A registered customer reads back with its email, names and a modification
/// time; a poll from just before finds it; an update of the synced fields
/// (and of the linked Stripe id and the address, where the platform keeps
/// them) reads back as written, other names left alone, and a second poll
/// finds the change at its time; an unknown customer is `CustomerNotFound`.
pub async fn check_customer_contract(
    platform: &dyn CommercePlatform,
    customers: &dyn RegistersCustomers,
    email: &str,
    keeps: Keeps,
) {
    let name = platform.platform().to_string();
    let id = customers.register(email, "Contract", "Customer").await;
    let read = platform.get_customer(&id).await.unwrap();
    assert_eq!(read.reference.customer_id, id, "{name}");
    assert_eq!(read.reference.platform, name);
    assert_eq!(
        read.email, email,
        "{name}: the email as the platform keeps it"
    );
    assert_eq!(
        read.profile().name.as_deref(),
        Some("Contract Customer"),
        "{name}"
    );
    let at = parse_utc_datetime(&read.updated_at)
        .unwrap_or_else(|| panic!("{name}: updated_at {:?} is not a UTC time", read.updated_at));

    let mut key = ChangeKey::starting_at(utc_datetime(at - 1));
    assert!(
        polls_find(platform, &mut key, &id, &read.updated_at).await,
        "{name}: a poll from before the customer was saved finds it"
    );

    let address = PostalAddress {
        line1: Some("9 Contract Way".into()),
        city: Some("Springfield".into()),
        postal_code: Some("12345".into()),
        country: Some("US".into()),
        ..Default::default()
    };
    let edited_email = format!("edited-{email}");
    let profile = CustomerProfile::new(
        &edited_email,
        Some("Contract Edited"),
        Some("+1 555 0000"),
        Some(&address),
    );
    let update = CustomerUpdate {
        profile: Some(profile.clone()),
        stripe_customer_id: Some("cus_contract".into()),
    };
    platform.update_customer(&id, &update).await.unwrap();
    let after = platform.get_customer(&id).await.unwrap();
    assert_eq!(after.email, edited_email, "{name}");
    assert_eq!(
        (after.first_name.as_deref(), after.last_name.as_deref()),
        (Some("Contract"), Some("Edited")),
        "{name}: the name split keeps the first name"
    );
    assert_eq!(after.profile().name, profile.name, "{name}");
    if keeps.address {
        assert_eq!(
            after.address.as_ref(),
            Some(&address),
            "{name}: the address reads back"
        );
    }
    if keeps.stripe_id {
        assert_eq!(
            after.stripe_customer_id.as_deref(),
            Some("cus_contract"),
            "{name}"
        );
    }
    assert!(
        after.updated_at >= read.updated_at,
        "{name}: a write moves updated_at forward"
    );
    let edited_at = parse_utc_datetime(&after.updated_at).unwrap();
    let mut key = ChangeKey::starting_at(utc_datetime(edited_at - 1));
    assert!(
        polls_find(platform, &mut key, &id, &after.updated_at).await,
        "{name}: a poll from before the update finds it at its new time"
    );
    // Writing what the platform already shows changes none of the synced fields.
    platform.update_customer(&id, &update).await.unwrap();
    let again = platform.get_customer(&id).await.unwrap();
    assert_eq!(again.profile(), after.profile(), "{name}");

    let missing = platform.get_customer("987654321").await.unwrap_err();
    assert!(
        matches!(missing, PlatformError::CustomerNotFound { .. }),
        "{name}: {missing:?}"
    );
}

/// A customer made from a Stripe customer: not found by its email before,
/// made with its email, names and phone (and its address and Stripe id,
/// where the platform keeps them), and found by its email after.
pub async fn check_customer_creation_contract(
    platform: &dyn CommercePlatform,
    email: &str,
    keeps: Keeps,
) {
    let name = platform.platform().to_string();
    assert!(
        platform
            .find_customer_by_email(email)
            .await
            .unwrap()
            .is_none(),
        "{name}: nobody has the email yet"
    );
    let address = PostalAddress {
        line1: Some("4 Made Rd".into()),
        city: Some("Austin".into()),
        state: Some("TX".into()),
        postal_code: Some("78701".into()),
        country: Some("US".into()),
        ..Default::default()
    };
    let profile =
        CustomerProfile::new(email, Some("Mia Made"), Some("+1 555 0111"), Some(&address));
    let made = platform
        .create_customer(&profile, "cus_made")
        .await
        .unwrap();
    assert_eq!(made.email, email, "{name}");
    assert_eq!(
        (made.first_name.as_deref(), made.last_name.as_deref()),
        (Some("Mia"), Some("Made")),
        "{name}"
    );
    if keeps.address {
        assert_eq!(
            made.address.as_ref(),
            Some(&address),
            "{name}: made with its address"
        );
    }
    if keeps.stripe_id {
        assert_eq!(
            made.stripe_customer_id.as_deref(),
            Some("cus_made"),
            "{name}"
        );
    }
    let found = platform.find_customer_by_email(email).await.unwrap();
    assert_eq!(
        found.map(|c| c.reference),
        Some(made.reference),
        "{name}: found by its email after"
    );
}

/// Polls on from `key` (moving it) until the platform has no more; whether
/// the customer came up changed at `at`.
async fn polls_find(
    platform: &dyn CommercePlatform,
    key: &mut ChangeKey,
    id: &str,
    at: &str,
) -> bool {
    let mut found = false;
    for _ in 0..50 {
        let page = platform.customers_changed_after(key, 50).await.unwrap();
        if page.is_empty() {
            break;
        }
        found |= page
            .iter()
            .any(|c| c.customer_id == id && c.updated_at == at);
        for c in &page {
            key.advance(&c.customer_id, &c.updated_at);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPlatform;

    #[async_trait]
    impl RegistersCustomers for MemoryPlatform {
        async fn register(&self, email: &str, first: &str, last: &str) -> String {
            let id = format!("{}", 100 + email.len());
            self.save_customer(&id, email, first, last);
            id
        }
    }

    #[tokio::test]
    async fn the_in_memory_platform_makes_customers_as_the_contract_says() {
        let platform = MemoryPlatform::new();
        check_customer_creation_contract(
            platform.as_ref(),
            "made@example.com",
            Keeps {
                stripe_id: true,
                address: true,
            },
        )
        .await;
    }

    #[tokio::test]
    async fn the_in_memory_platform_keeps_the_customer_contract() {
        let platform = MemoryPlatform::new();
        check_customer_contract(
            platform.as_ref(),
            platform.as_ref(),
            "contract@example.com",
            Keeps {
                stripe_id: true,
                address: true,
            },
        )
        .await;
    }
}
