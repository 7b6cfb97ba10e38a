//! Customers as both sides see them. The synced fields are kept in Stripe's
//! shape (`CustomerProfile`): one name, an email, a phone and a postal address.
//! A profile's fingerprint is what Tally records with a link, so a change it
//! wrote itself is recognised when it comes back from the other side.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A platform customer: registered (`customer_id` is the platform's id) or a
/// guest (`customer_id` is `guest:` and the email), so a guest's orders share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomerRef {
    pub platform: String,
    pub store: String,
    pub customer_id: String,
}

impl CustomerRef {
    pub fn guest(platform: &str, store: &str, email: &str) -> Self {
        CustomerRef {
            platform: platform.into(),
            store: store.into(),
            customer_id: format!("guest:{}", normalize_email(email)),
        }
    }

    pub fn is_guest(&self) -> bool {
        self.customer_id.starts_with("guest:")
    }

    /// Stable key for links and idempotency keys.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.platform, self.store, self.customer_id)
    }

    /// The metadata Tally writes on the Stripe customer, in a fixed order.
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("platform".into(), self.platform.clone()),
            ("store".into(), self.store.clone()),
            ("customer_id".into(), self.customer_id.clone()),
        ]
    }
}

/// Stripe's address object; every part optional, as in Stripe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

impl PostalAddress {
    fn normalized(&self) -> Option<PostalAddress> {
        let a = PostalAddress {
            line1: clean(&self.line1),
            line2: clean(&self.line2),
            city: clean(&self.city),
            state: clean(&self.state),
            postal_code: clean(&self.postal_code),
            country: clean(&self.country).map(|c| c.to_ascii_uppercase()),
        };
        (a != PostalAddress::default()).then_some(a)
    }
}

/// The fields synced both ways, normalised so that the same customer reads
/// the same from either side (trimmed, email in lower case, empty as none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<PostalAddress>,
}

/// Stripe's limits on the synced fields (API reference, "Create a customer").
const MAX_EMAIL: usize = 512;
const MAX_NAME: usize = 256;
const MAX_PHONE: usize = 20;
const MAX_ADDRESS_PART: usize = 200;

impl CustomerProfile {
    pub fn new(
        email: &str,
        name: Option<&str>,
        phone: Option<&str>,
        address: Option<&PostalAddress>,
    ) -> Self {
        CustomerProfile {
            email: normalize_email(email),
            name: clean(&name.map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))),
            phone: clean(&phone.map(str::to_string)),
            address: address.and_then(PostalAddress::normalized),
        }
    }

    /// Why Stripe would refuse this profile (or why it cannot identify anyone).
    pub fn check(&self) -> Result<(), String> {
        if !is_email(&self.email) {
            return Err(format!("email {:?} is not a valid address", self.email));
        }
        let too_long = |what: &str, value: &Option<String>, max: usize| match value {
            Some(v) if v.chars().count() > max => Err(format!(
                "{what} has {} characters; Stripe allows {max}",
                v.chars().count()
            )),
            _ => Ok(()),
        };
        if self.email.chars().count() > MAX_EMAIL {
            return Err(format!(
                "email is longer than Stripe's {MAX_EMAIL} characters"
            ));
        }
        too_long("name", &self.name, MAX_NAME)?;
        too_long("phone", &self.phone, MAX_PHONE)?;
        if let Some(a) = &self.address {
            for (what, part) in [
                ("address line1", &a.line1),
                ("address line2", &a.line2),
                ("address city", &a.city),
                ("address state", &a.state),
                ("address postal_code", &a.postal_code),
            ] {
                too_long(what, part, MAX_ADDRESS_PART)?;
            }
            if let Some(c) = &a.country {
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!(
                        "address country {c:?} is not a two-letter ISO code"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A short digest of the synced fields: equal profiles, equal fingerprints.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).expect("a profile serializes");
        hex::encode(&Sha256::digest(&json)[..8])
    }
}

/// A customer as the platform keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCustomer {
    pub reference: CustomerRef,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub address: Option<PostalAddress>,
    /// The Stripe customer id the platform record carries, where it keeps one.
    pub stripe_customer_id: Option<String>,
    /// The platform's own modification time (UTC), for last-writer-wins.
    pub updated_at: String,
}

impl PlatformCustomer {
    pub fn profile(&self) -> CustomerProfile {
        CustomerProfile::new(
            &self.email,
            Some(&full_name(
                self.first_name.as_deref(),
                self.last_name.as_deref(),
            )),
            self.phone.as_deref(),
            self.address.as_ref(),
        )
    }
}

/// What Tally writes to a platform customer: the synced fields (from Stripe)
/// and/or the Stripe customer id it is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerUpdate {
    pub profile: Option<CustomerProfile>,
    pub stripe_customer_id: Option<String>,
}

pub fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits Stripe's one name into a platform's first and last name. A name
/// that still ends with the current last name keeps it (so "Mary Ann Smith"
/// stays first "Mary Ann", last "Smith"); otherwise the last word is the last name.
pub fn split_name(name: &str, current_last: Option<&str>) -> (String, String) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(last) = current_last.map(str::trim).filter(|l| !l.is_empty()) {
        // At a word boundary: "Jo BlackSmith" does not end with the last name "Smith".
        if let Some(first) = name.strip_suffix(last).filter(|f| f.ends_with(' ')) {
            let first = first.trim_end();
            if !first.is_empty() {
                return (first.to_string(), last.to_string());
            }
        }
    }
    match name.rsplit_once(' ') {
        Some((first, last)) => (first.to_string(), last.to_string()),
        None => (name.clone(), name),
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// An address Stripe and mail servers accept: one `@`, a local part, and a
/// dotted domain, no spaces or control characters.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_customer_reads_the_same_from_either_side() {
        let address = PostalAddress {
            line1: Some(" 1 Main St ".into()),
            country: Some("us".into()),
            ..Default::default()
        };
        let platform =
            CustomerProfile::new("Amy@Example.com ", Some("Amy  Lee"), None, Some(&address));
        let stripe = CustomerProfile::new(
            "amy@example.com",
            Some("Amy Lee"),
            Some(""),
            Some(&PostalAddress {
                line1: Some("1 Main St".into()),
                country: Some("US".into()),
                ..Default::default()
            }),
        );
        assert_eq!(platform, stripe);
        assert_eq!(platform.fingerprint(), stripe.fingerprint());
        let moved = CustomerProfile::new("amy@example.com", Some("Amy Lee"), None, None);
        assert_ne!(moved.fingerprint(), stripe.fingerprint());
        assert_eq!(
            CustomerProfile::new("a@b.co", None, None, Some(&PostalAddress::default())).address,
            None
        );
    }

    #[test]
    fn what_stripe_refuses_is_named() {
        let bad = |p: CustomerProfile| p.check().unwrap_err();
        assert!(bad(CustomerProfile::new("not-an-email", None, None, None))
            .contains("not a valid address"));
        assert!(bad(CustomerProfile::new("a b@c.de", None, None, None)).contains("not a valid"));
        assert!(bad(CustomerProfile::new("a@localhost", None, None, None)).contains("not a valid"));
        assert!(bad(CustomerProfile::new(
            "a@b.co",
            None,
            Some(&"5".repeat(21)),
            None
        ))
        .contains("phone has 21"));
        assert!(bad(CustomerProfile::new(
            "a@b.co",
            Some(&"x".repeat(257)),
            None,
            None
        ))
        .contains("Stripe allows 256"));
        let country = PostalAddress {
            country: Some("USA".into()),
            ..Default::default()
        };
        assert!(
            bad(CustomerProfile::new("a@b.co", None, None, Some(&country))).contains("two-letter")
        );
        assert!(
            CustomerProfile::new("a@b.co", Some("A"), Some("+1 555"), None)
                .check()
                .is_ok()
        );
    }

    #[test]
    fn names_split_keep_the_platforms_last_name() {
        assert_eq!(
            split_name("Mary Ann Smith", Some("Smith")),
            ("Mary Ann".into(), "Smith".into())
        );
        assert_eq!(
            split_name("Mary Ann Jones", Some("Smith")),
            ("Mary Ann".into(), "Jones".into())
        );
        assert_eq!(
            split_name("Jo van Dyke", Some("van Dyke")),
            ("Jo".into(), "van Dyke".into())
        );
        assert_eq!(
            split_name("Jo BlackSmith", Some("Smith")),
            ("Jo".into(), "BlackSmith".into())
        );
        assert_eq!(
            split_name("Cher", Some("Smith")),
            ("Cher".into(), "Cher".into())
        );
        assert_eq!(split_name("Jo  Smith", None), ("Jo".into(), "Smith".into()));
        assert_eq!(full_name(Some(" Jo "), None), "Jo");
    }
}
