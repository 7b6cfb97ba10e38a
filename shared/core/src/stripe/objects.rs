//! Typed Stripe objects, holding the fields Tally's flows read. Unknown fields
//! are ignored so new API versions do not break parsing; unknown enum values
//! map to `Other` instead of failing.

use std::collections::HashMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;

use crate::money::{Currency, MinorUnit};

/// An id of a related object, which Stripe sends either as a string or,
/// when expanded, as the object itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId(pub String);

impl ObjectId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Id(String),
            Expanded { id: String },
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Id(id) | Repr::Expanded { id } => ObjectId(id),
        })
    }
}

pub type Metadata = HashMap<String, String>;

/// A Stripe API resource: knows the `object` value Stripe tags it with.
pub trait StripeObject: DeserializeOwned {
    const OBJECT: &'static str;
}

macro_rules! stripe_object {
    ($ty:ident, $tag:literal) => {
        impl StripeObject for $ty {
            const OBJECT: &'static str = $tag;
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    #[serde(other)]
    Other,
}

/// `last_payment_error` and similar: Stripe's error object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorObject {
    /// Always sent by Stripe; some fakes (localstripe) leave it out.
    #[serde(rename = "type", default)]
    pub error_type: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The failed charge, on card errors.
    #[serde(default)]
    pub charge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: MinorUnit,
    #[serde(default)]
    pub amount_received: MinorUnit,
    pub currency: Currency,
    pub status: PaymentIntentStatus,
    #[serde(default)]
    pub customer: Option<ObjectId>,
    #[serde(default)]
    pub latest_charge: Option<ObjectId>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub last_payment_error: Option<ApiErrorObject>,
    pub created: i64,
    pub livemode: bool,
}
stripe_object!(PaymentIntent, "payment_intent");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Pending,
    Failed,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: MinorUnit,
    #[serde(default)]
    pub amount_captured: MinorUnit,
    #[serde(default)]
    pub amount_refunded: MinorUnit,
    pub currency: Currency,
    pub status: ChargeStatus,
    pub paid: bool,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default)]
    pub captured: bool,
    #[serde(default)]
    pub payment_intent: Option<ObjectId>,
    #[serde(default)]
    pub balance_transaction: Option<ObjectId>,
    #[serde(default)]
    pub customer: Option<ObjectId>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub outcome: Option<ChargeOutcome>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
    pub livemode: bool,
}
stripe_object!(Charge, "charge");

/// Why a charge went the way it did; `reason` carries the decline code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChargeOutcome {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub seller_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: MinorUnit,
    pub currency: Currency,
    #[serde(default)]
    pub charge: Option<ObjectId>,
    #[serde(default)]
    pub payment_intent: Option<ObjectId>,
    #[serde(default)]
    pub balance_transaction: Option<ObjectId>,
    #[serde(default)]
    pub status: Option<RefundStatus>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Why a refund failed (`lost_or_stolen_card`, `declined`, ...).
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Refund, "refund");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<crate::commerce::PostalAddress>,
    #[serde(default)]
    pub metadata: Metadata,
    /// Present (true) on `customer.deleted` payloads.
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub created: Option<i64>,
}
stripe_object!(Customer, "customer");

impl Customer {
    /// The synced fields as Stripe holds them; `None` without an email
    /// (such a customer cannot be matched to anyone on a platform).
    pub fn profile(&self) -> Option<crate::commerce::CustomerProfile> {
        let email = self.email.as_deref().filter(|e| !e.trim().is_empty())?;
        Some(crate::commerce::CustomerProfile::new(
            email,
            self.name.as_deref(),
            self.phone.as_deref(),
            self.address.as_ref(),
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Paid,
    Pending,
    InTransit,
    Canceled,
    Failed,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payout {
    pub id: String,
    pub amount: MinorUnit,
    pub currency: Currency,
    pub status: PayoutStatus,
    pub arrival_date: i64,
    #[serde(default)]
    pub automatic: bool,
    #[serde(default)]
    pub balance_transaction: Option<ObjectId>,
    #[serde(default)]
    pub reconciliation_status: Option<String>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Payout, "payout");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FeeDetail {
    pub amount: MinorUnit,
    pub currency: Currency,
    #[serde(rename = "type")]
    pub fee_type: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: MinorUnit,
    pub fee: MinorUnit,
    pub net: MinorUnit,
    pub currency: Currency,
    /// `charge`, `refund`, `adjustment`, `payout`, `stripe_fee`, ... (kept open: Stripe adds types).
    #[serde(rename = "type")]
    pub transaction_type: String,
    #[serde(default)]
    pub reporting_category: Option<String>,
    #[serde(default)]
    pub source: Option<ObjectId>,
    pub status: String,
    #[serde(default)]
    pub fee_details: Vec<FeeDetail>,
    pub available_on: i64,
    pub created: i64,
}
stripe_object!(BalanceTransaction, "balance_transaction");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: MinorUnit,
    pub currency: Currency,
    pub charge: ObjectId,
    #[serde(default)]
    pub payment_intent: Option<ObjectId>,
    pub reason: String,
    pub status: String,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Dispute, "dispute");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub customer: Option<ObjectId>,
    pub amount_due: MinorUnit,
    pub amount_paid: MinorUnit,
    pub amount_remaining: MinorUnit,
    pub total: MinorUnit,
    pub currency: Currency,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Invoice, "invoice");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: ObjectId,
    pub status: String,
    pub currency: Currency,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub metadata: Metadata,
    pub created: i64,
}
stripe_object!(Subscription, "subscription");

/// A whole event with its object typed.
#[derive(Debug, Clone, Deserialize)]
pub struct Event<T> {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    pub data: EventData<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData<T> {
    pub object: T,
    #[serde(default)]
    pub previous_attributes: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("event data.object is a {found:?}, expected a {expected:?}")]
    WrongObject {
        expected: &'static str,
        found: String,
    },
    #[error("event data.object is not a valid {object}: {source}")]
    Invalid {
        object: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Parses an event whose `data.object` must be a `T`, with an error that says
/// which object was expected when it is not.
pub fn parse_event<T: StripeObject>(raw: &[u8]) -> Result<Event<T>, ObjectError> {
    #[derive(Deserialize)]
    struct Tag {
        data: TagData,
    }
    #[derive(Deserialize)]
    struct TagData {
        object: TagObject,
    }
    #[derive(Deserialize)]
    struct TagObject {
        object: String,
    }
    let invalid = |source| ObjectError::Invalid {
        object: T::OBJECT,
        source,
    };
    let tag: Tag = serde_json::from_slice(raw).map_err(invalid)?;
    if tag.data.object.object != T::OBJECT {
        return Err(ObjectError::WrongObject {
            expected: T::OBJECT,
            found: tag.data.object.object,
        });
    }
    serde_json::from_slice(raw).map_err(invalid)
}
