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

/// A registered customer reads back with its email, names and a modification
/// time; a poll from just before finds it; an update of the synced fields
/// (and of the linked Stripe id, where `keeps_stripe_id`) reads back as
/// written, other names left alone; an unknown customer is `CustomerNotFound`.
pub async fn check_customer_contract(
    platform: &dyn CommercePlatform,
    customers: &dyn RegistersCustomers,
    email: &str,
    keeps_stripe_id: bool,
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

    let from = ChangeKey::starting_at(utc_datetime(at - 1));
    let mut found = false;
    let mut key = from;
    for _ in 0..50 {
        let page = platform.customers_changed_after(&key, 50).await.unwrap();
        if page.is_empty() {
            break;
        }
        found |= page
            .iter()
            .any(|c| c.customer_id == id && c.updated_at == read.updated_at);
        for c in &page {
            key.advance(&c.customer_id, &c.updated_at);
        }
    }
    assert!(
        found,
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
    if keeps_stripe_id {
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
    async fn the_in_memory_platform_keeps_the_customer_contract() {
        let platform = MemoryPlatform::new();
        check_customer_contract(
            platform.as_ref(),
            platform.as_ref(),
            "contract@example.com",
            true,
        )
        .await;
    }
}
