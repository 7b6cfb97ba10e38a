//! The mapping document of a declarative REST platform: how to sign in, the
//! operations Tally needs as method + path template + body template, and
//! where each canonical field lives in the answers (JSON pointers, with a
//! transform per field). It is data, never code. A document may start from a
//! preset (`"preset": "clarity"`): the preset is read first and every key the
//! document gives replaces the preset's (objects merged key by key).
//! Every mistake is found when a function starts, as an error naming its key.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::template::{variables_of, Template};
use crate::config::{check_http, check_url, ConfigError, HttpPolicy};

/// Presets built into Tally: name and document.
pub const PRESETS: [(&str, &str); 2] = [
    ("clarity", include_str!("presets/clarity.json")),
    ("storefront", include_str!("presets/storefront.json")),
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestMapping {
    /// The preset the document started from, if any.
    #[serde(default)]
    pub preset: Option<String>,
    pub base_url: String,
    /// The store in order refs (one store per platform entry).
    pub store: String,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub http: HttpPolicy,
    pub auth: AuthMapping,
    /// How the platform writes dates (per field, `transform` overrides it).
    #[serde(default)]
    pub dates: DateFormat,
    pub statuses: StatusMapping,
    pub order: OrderFields,
    #[serde(default)]
    pub refund: Option<RefundFields>,
    #[serde(default)]
    pub customer: Option<CustomerFields>,
    pub operations: Operations,
    #[serde(default)]
    pub webhook: Option<WebhookMapping>,
    /// A PaymentIntent metadata key naming this platform's order id on
    /// PaymentIntents made outside Tally (Clarity Connect's `clarityorderid`),
    /// whose payments Tally then records on that order.
    #[serde(default)]
    pub checkout_metadata_key: Option<String>,
}

fn default_page_size() -> u32 {
    50
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthMapping {
    /// OAuth 2.0 client credentials (RFC 6749 4.4): a token from `token_path`
    /// (on `base_url`, or `token_url` when the identity server is elsewhere),
    /// cached until shortly before it expires. Secret: `client_id`, `client_secret`.
    Oauth2ClientCredentials {
        #[serde(default)]
        token_path: Option<String>,
        #[serde(default)]
        token_url: Option<String>,
        #[serde(default)]
        scope: Option<String>,
    },
    /// A key sent in a header on every call. Secret: `api_key`.
    ApiKey { header: String },
    /// HTTP Basic. Secret: `username`, `password`.
    Basic,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// `2026-11-28T10:00:00Z` or with an offset and fractions.
    #[default]
    Rfc3339,
    /// `2026-11-28 10:00:00`, in UTC.
    NaiveUtc,
    UnixSeconds,
    UnixMs,
}

/// What each field holds, which decides the transforms it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Amount,
    Date,
    Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// An amount in major units, as a JSON number or a decimal string.
    Decimal,
    /// An amount as an integer of the currency's minor units.
    MinorUnits,
    Rfc3339,
    NaiveUtc,
    UnixSeconds,
    UnixMs,
}

impl Transform {
    fn fits(self, kind: FieldKind) -> bool {
        match kind {
            FieldKind::Amount => matches!(self, Transform::Decimal | Transform::MinorUnits),
            FieldKind::Date => !matches!(self, Transform::Decimal | Transform::MinorUnits),
            FieldKind::Text | FieldKind::Quantity => false,
        }
    }

    pub fn date(self) -> Option<DateFormat> {
        match self {
            Transform::Rfc3339 => Some(DateFormat::Rfc3339),
            Transform::NaiveUtc => Some(DateFormat::NaiveUtc),
            Transform::UnixSeconds => Some(DateFormat::UnixSeconds),
            Transform::UnixMs => Some(DateFormat::UnixMs),
            _ => None,
        }
    }
}

/// Where a field lives: a JSON pointer, or `{"pointer", "transform"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Field {
    Pointer(String),
    #[serde(rename_all = "snake_case")]
    Spec {
        pointer: String,
        #[serde(default)]
        transform: Option<Transform>,
    },
}

impl Field {
    pub fn pointer(&self) -> &str {
        match self {
            Field::Pointer(p) | Field::Spec { pointer: p, .. } => p,
        }
    }
    pub fn transform(&self) -> Option<Transform> {
        match self {
            Field::Pointer(_) => None,
            Field::Spec { transform, .. } => *transform,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMapping {
    /// Statuses of orders waiting for money: Tally may collect them.
    pub awaiting_payment: Vec<String>,
    pub paid: Vec<String>,
    #[serde(default)]
    pub not_collectable: Vec<String>,
    /// The status a paid order moves to (one of `paid`).
    pub paid_status: String,
    /// The status a declined payment sets (one of `awaiting_payment`, so a retry can still pay).
    pub failed_status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFields {
    pub sku: Field,
    pub name: Field,
    pub quantity: Field,
    pub total: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFields {
    pub id: Field,
    pub number: Field,
    pub status: Field,
    pub currency: Field,
    pub grand_total: Field,
    #[serde(default)]
    pub paid_total: Option<Field>,
    #[serde(default)]
    pub shipping: Option<Field>,
    #[serde(default)]
    pub tax: Option<Field>,
    #[serde(default)]
    pub discount: Option<Field>,
    #[serde(default)]
    pub email: Option<Field>,
    #[serde(default)]
    pub first_name: Option<Field>,
    #[serde(default)]
    pub last_name: Option<Field>,
    #[serde(default)]
    pub payment_method: Option<Field>,
    #[serde(default)]
    pub transaction_id: Option<Field>,
    #[serde(default)]
    pub lines: Option<Field>,
    #[serde(default)]
    pub line: Option<LineFields>,
    #[serde(default)]
    pub notes: Option<Field>,
    /// Within one of `notes`: its text.
    #[serde(default)]
    pub note: Option<Field>,
    pub created_at: Field,
    pub updated_at: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundFields {
    pub id: Field,
    pub order_id: Field,
    pub amount: Field,
    /// Where the platform keeps the Stripe refund a record was made for.
    pub stripe_refund_id: Field,
    pub created_at: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerFields {
    pub id: Field,
    pub email: Field,
    #[serde(default)]
    pub first_name: Option<Field>,
    #[serde(default)]
    pub last_name: Option<Field>,
    #[serde(default)]
    pub phone: Option<Field>,
    /// Where the platform keeps the linked Stripe customer id, if it has a place.
    #[serde(default)]
    pub stripe_customer_id: Option<Field>,
    #[serde(default)]
    pub address: Option<AddressFields>,
    pub updated_at: Field,
}

/// The customer's postal address, part by part (Stripe's parts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressFields {
    pub line1: Field,
    #[serde(default)]
    pub line2: Option<Field>,
    pub city: Field,
    #[serde(default)]
    pub state: Option<Field>,
    pub postal_code: Field,
    /// ISO 3166-1 alpha-2.
    pub country: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paging {
    /// `{page}` in the path counts from `first`; a short page is the last.
    Page {
        #[serde(default = "first_page")]
        first: u32,
    },
    /// The answer names the next page at `next` (a pointer); it is sent back
    /// as the query parameter `param`. No cursor is the last page.
    Cursor { next: String, param: String },
}

fn first_page() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub method: String,
    /// Path and query, `{variables}` percent-encoded in.
    pub path: String,
    /// A JSON body; a string that is exactly `{variable}` becomes that
    /// variable's JSON value (a number, a boolean), others are text.
    #[serde(default)]
    pub body: Option<Value>,
    /// Where the one object answered lives (`""`: the whole answer).
    #[serde(default)]
    pub result: Option<String>,
    /// Where the array of objects answered lives (listing operations).
    #[serde(default)]
    pub results: Option<String>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl Operation {
    pub fn path_template(&self) -> Template<'_> {
        Template::new(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    pub get_order: Operation,
    #[serde(default)]
    pub find_order_by_number: Option<Operation>,
    pub list_orders: Operation,
    pub record_payment: Operation,
    pub set_status: Operation,
    pub add_note: Operation,
    #[serde(default)]
    pub list_refunds: Option<Operation>,
    #[serde(default)]
    pub record_refund: Option<Operation>,
    #[serde(default)]
    pub list_refunds_since: Option<Operation>,
    #[serde(default)]
    pub mark_refund_sent: Option<Operation>,
    #[serde(default)]
    pub get_customer: Option<Operation>,
    #[serde(default)]
    pub find_customer_by_email: Option<Operation>,
    #[serde(default)]
    pub list_customers: Option<Operation>,
    #[serde(default)]
    pub update_customer: Option<Operation>,
}

/// The customer operations, which come together.
pub const CUSTOMER_OPERATIONS: [&str; 4] = [
    "get_customer",
    "find_customer_by_email",
    "list_customers",
    "update_customer",
];

/// How the platform's webhook body names its event and order (Tally's
/// signature contract: `X-Tally-Signature`, HMAC-SHA256 over `{t}.{body}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookMapping {
    pub order_id: String,
    #[serde(default)]
    pub event_type: Option<String>,
    /// Event types that name an order to re-read; others are acknowledged.
    #[serde(default)]
    pub order_events: Vec<String>,
    /// Where a customer event names its customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Event types that name a customer to re-read.
    #[serde(default)]
    pub customer_events: Vec<String>,
}

const AMOUNT_VARS: [&str; 4] = ["amount", "amount_number", "amount_minor", "currency"];

/// The variables each operation's templates may use.
fn variables_for(operation: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = match operation {
        "get_order" => vec!["order_id"],
        "find_order_by_number" => vec!["number"],
        "list_orders" | "list_refunds_since" | "list_customers" => vec!["since", "limit", "page"],
        "get_customer" => vec!["customer_id"],
        "find_customer_by_email" => vec!["email"],
        "update_customer" => vec![
            "customer_id",
            "email",
            "first_name",
            "last_name",
            "name",
            "phone",
            "line1",
            "line2",
            "city",
            "state",
            "postal_code",
            "country",
            "stripe_customer_id",
        ],
        "record_payment" => vec![
            "order_id",
            "transaction_id",
            "payment_intent_id",
            "comment",
            "paid_status",
            "notify",
        ],
        "set_status" => vec!["order_id", "status", "comment", "notify"],
        "add_note" => vec!["order_id", "note", "notify"],
        "list_refunds" => vec!["order_id"],
        "record_refund" => vec![
            "order_id",
            "stripe_refund_id",
            "charge_id",
            "comment",
            "notify",
        ],
        "mark_refund_sent" => vec!["order_id", "refund_id", "stripe_refund_id", "comment"],
        _ => vec![],
    };
    if matches!(operation, "record_payment" | "record_refund") {
        v.extend(AMOUNT_VARS);
    }
    v
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Whether `p` is a JSON pointer (RFC 6901): empty, or `/`-separated
/// tokens where `~` is only ever `~0` or `~1`.
pub fn is_pointer(p: &str) -> bool {
    (p.is_empty() || p.starts_with('/'))
        && p.split('~')
            .skip(1)
            .all(|rest| rest.starts_with('0') || rest.starts_with('1'))
}

fn check_pointer(key: &str, p: &str) -> Result<(), ConfigError> {
    if is_pointer(p) {
        Ok(())
    } else {
        Err(err(
            key,
            format!("{p:?} is not a JSON pointer (\"\" or \"/a/b\", with ~0 for ~ and ~1 for /)"),
        ))
    }
}

fn check_field(key: &str, f: &Field, kind: FieldKind) -> Result<(), ConfigError> {
    check_pointer(key, f.pointer())?;
    match f.transform() {
        Some(t) if !t.fits(kind) => Err(err(
            key,
            match kind {
                FieldKind::Amount => format!(
                    "an amount: its transform is decimal or minor_units, not {}",
                    transform_name(t)
                ),
                FieldKind::Date => format!(
                    "a date: its transform is rfc3339, naive_utc, unix_seconds or unix_ms, not {}",
                    transform_name(t)
                ),
                FieldKind::Text | FieldKind::Quantity => {
                    format!("takes no transform (given {})", transform_name(t))
                }
            },
        )),
        _ => Ok(()),
    }
}

fn transform_name(t: Transform) -> &'static str {
    match t {
        Transform::Decimal => "decimal",
        Transform::MinorUnits => "minor_units",
        Transform::Rfc3339 => "rfc3339",
        Transform::NaiveUtc => "naive_utc",
        Transform::UnixSeconds => "unix_seconds",
        Transform::UnixMs => "unix_ms",
    }
}

/// Lays `over` onto `base`: objects merged key by key, anything else (and
/// an object choosing a `type` or `style`) replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    // a choice (`type`, `style`) is replaced whole, never mixed with the preset's
                    Some(existing)
                        if existing.is_object()
                            && v.is_object()
                            && v.get("type").is_none()
                            && v.get("style").is_none() =>
                    {
                        merge(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

impl RestMapping {
    /// Reads the entry `name` of `rest_platforms`: its preset (if it names
    /// one) with the document laid over, then checked.
    pub fn resolve(name: &str, document: &Value) -> Result<RestMapping, ConfigError> {
        let prefix = format!("rest_platforms.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || ["magento", "znode", "kentico"].contains(&name)
        {
            return Err(err(
                &prefix,
                "a platform name is lowercase letters, digits and _, and not one Tally has an adapter for",
            ));
        }
        let Some(doc) = document.as_object() else {
            return Err(err(&prefix, "must be an object"));
        };
        let mut merged = match doc.get("preset") {
            None => Value::Object(Default::default()),
            Some(Value::String(preset)) => {
                let (_, text) = PRESETS.iter().find(|(n, _)| n == preset).ok_or_else(|| {
                    err(
                        &format!("{prefix}.preset"),
                        format!(
                            "no preset {preset:?} (presets: {})",
                            PRESETS.map(|(n, _)| n).join(", ")
                        ),
                    )
                })?;
                serde_json::from_str(text).expect("built-in presets are JSON")
            }
            Some(_) => return Err(err(&format!("{prefix}.preset"), "must be a preset's name")),
        };
        merge(&mut merged, document.clone());
        if let Some(o) = merged.as_object_mut() {
            o.retain(|k, _| !k.starts_with('_'));
        }
        let text = merged.to_string();
        let de = &mut serde_json::Deserializer::from_str(&text);
        let mapping: RestMapping = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." {
                prefix.clone()
            } else {
                format!("{prefix}.{path}")
            };
            let message = e.inner().to_string();
            // the merged document's line and column mean nothing to its author
            let message = message.split(" at line ").next().unwrap_or_default();
            err(&key, message)
        })?;
        mapping.validate(&prefix)?;
        Ok(mapping)
    }

    fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        check_url(&key("base_url"), &self.base_url)?;
        if self.store.trim().is_empty() || self.store.contains('/') {
            return Err(err(&key("store"), "a store name without /"));
        }
        if !(1..=500).contains(&self.page_size) {
            return Err(err(&key("page_size"), "between 1 and 500"));
        }
        check_http(&key("http"), &self.http)?;
        match &self.auth {
            AuthMapping::Oauth2ClientCredentials {
                token_path,
                token_url,
                ..
            } => match (token_path, token_url) {
                (Some(p), None) if p.starts_with('/') => {}
                (None, Some(u)) => check_url(&key("auth.token_url"), u)?,
                _ => {
                    return Err(err(
                        &key("auth"),
                        "give token_path (starting with /) or token_url, not both",
                    ))
                }
            },
            AuthMapping::ApiKey { header } => {
                if header.is_empty()
                    || !header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(err(&key("auth.header"), "an HTTP header name"));
                }
            }
            AuthMapping::Basic => {}
        }
        if let Some(k) = &self.checkout_metadata_key {
            if k.trim().is_empty()
                || ["platform", "store", "order_id", "increment_id"].contains(&k.as_str())
            {
                return Err(err(
                    &key("checkout_metadata_key"),
                    "a metadata key of the former integration, not one of Tally's own",
                ));
            }
        }
        self.validate_statuses(prefix)?;
        self.validate_fields(prefix)?;
        self.validate_operations(prefix)?;
        if let Some(w) = &self.webhook {
            check_pointer(&key("webhook.order_id"), &w.order_id)?;
            if let Some(p) = &w.event_type {
                check_pointer(&key("webhook.event_type"), p)?;
            }
            if let Some(p) = &w.customer_id {
                check_pointer(&key("webhook.customer_id"), p)?;
            }
            if w.customer_id.is_some() == w.customer_events.is_empty() {
                return Err(err(
                    &key("webhook.customer_events"),
                    "customer_id and customer_events come together",
                ));
            }
            if w.event_type.is_some() && w.order_events.is_empty() {
                return Err(err(
                    &key("webhook.order_events"),
                    "name the event types that announce an order",
                ));
            }
        }
        Ok(())
    }

    fn validate_statuses(&self, prefix: &str) -> Result<(), ConfigError> {
        let s = &self.statuses;
        let key = |k: &str| format!("{prefix}.statuses.{k}");
        for (name, list) in [("awaiting_payment", &s.awaiting_payment), ("paid", &s.paid)] {
            if list.is_empty() {
                return Err(err(&key(name), "name at least one status"));
            }
        }
        let mut seen = BTreeSet::new();
        for status in s
            .awaiting_payment
            .iter()
            .chain(&s.paid)
            .chain(&s.not_collectable)
        {
            if status.trim().is_empty() {
                return Err(err(&key("awaiting_payment"), "a status may not be empty"));
            }
            if !seen.insert(status.to_lowercase()) {
                return Err(err(
                    &key("paid"),
                    format!("status {status:?} is mapped twice"),
                ));
            }
        }
        let within =
            |status: &str, list: &[String]| list.iter().any(|l| l.eq_ignore_ascii_case(status));
        if !within(&s.paid_status, &s.paid) {
            return Err(err(
                &key("paid_status"),
                format!(
                    "status {:?} has no mapping in statuses.paid: a paid order must read as paid",
                    s.paid_status
                ),
            ));
        }
        if !within(&s.failed_status, &s.awaiting_payment) {
            return Err(err(
                &key("failed_status"),
                format!(
                    "status {:?} has no mapping in statuses.awaiting_payment: a declined order must stay payable",
                    s.failed_status
                ),
            ));
        }
        Ok(())
    }

    fn validate_fields(&self, prefix: &str) -> Result<(), ConfigError> {
        use FieldKind::*;
        let o = &self.order;
        let key = |k: &str| format!("{prefix}.order.{k}");
        for (name, field, kind) in [
            ("id", Some(&o.id), Text),
            ("number", Some(&o.number), Text),
            ("status", Some(&o.status), Text),
            ("currency", Some(&o.currency), Text),
            ("grand_total", Some(&o.grand_total), Amount),
            ("paid_total", o.paid_total.as_ref(), Amount),
            ("shipping", o.shipping.as_ref(), Amount),
            ("tax", o.tax.as_ref(), Amount),
            ("discount", o.discount.as_ref(), Amount),
            ("email", o.email.as_ref(), Text),
            ("first_name", o.first_name.as_ref(), Text),
            ("last_name", o.last_name.as_ref(), Text),
            ("payment_method", o.payment_method.as_ref(), Text),
            ("transaction_id", o.transaction_id.as_ref(), Text),
            ("lines", o.lines.as_ref(), Text),
            ("notes", o.notes.as_ref(), Text),
            ("note", o.note.as_ref(), Text),
            ("created_at", Some(&o.created_at), Date),
            ("updated_at", Some(&o.updated_at), Date),
        ] {
            if let Some(f) = field {
                check_field(&key(name), f, kind)?;
            }
        }
        match (&o.lines, &o.line) {
            (Some(_), None) => {
                return Err(err(
                    &key("line"),
                    "lines are mapped: map sku, name, quantity and total within one",
                ))
            }
            (None, Some(_)) => {
                return Err(err(
                    &key("lines"),
                    "where the order's lines are (line maps one)",
                ))
            }
            (Some(_), Some(l)) => {
                for (name, f, kind) in [
                    ("sku", &l.sku, Text),
                    ("name", &l.name, Text),
                    ("quantity", &l.quantity, Quantity),
                    ("total", &l.total, Amount),
                ] {
                    check_field(&key(&format!("line.{name}")), f, kind)?;
                }
            }
            (None, None) => {}
        }
        if o.notes.is_some() != o.note.is_some() {
            return Err(err(&key("note"), "notes and note are mapped together"));
        }
        if let Some(c) = &self.customer {
            let key = |k: &str| format!("{prefix}.customer.{k}");
            for (name, f, kind) in [
                ("id", Some(&c.id), Text),
                ("email", Some(&c.email), Text),
                ("first_name", c.first_name.as_ref(), Text),
                ("last_name", c.last_name.as_ref(), Text),
                ("phone", c.phone.as_ref(), Text),
                ("stripe_customer_id", c.stripe_customer_id.as_ref(), Text),
                ("updated_at", Some(&c.updated_at), Date),
            ] {
                if let Some(f) = f {
                    check_field(&key(name), f, kind)?;
                }
            }
            if let Some(a) = &c.address {
                for (name, f) in [
                    ("line1", Some(&a.line1)),
                    ("line2", a.line2.as_ref()),
                    ("city", Some(&a.city)),
                    ("state", a.state.as_ref()),
                    ("postal_code", Some(&a.postal_code)),
                    ("country", Some(&a.country)),
                ] {
                    if let Some(f) = f {
                        check_field(&key(&format!("address.{name}")), f, Text)?;
                    }
                }
            }
        }
        if let Some(r) = &self.refund {
            let key = |k: &str| format!("{prefix}.refund.{k}");
            for (name, f, kind) in [
                ("id", &r.id, Text),
                ("order_id", &r.order_id, Text),
                ("amount", &r.amount, Amount),
                ("stripe_refund_id", &r.stripe_refund_id, Text),
                ("created_at", &r.created_at, Date),
            ] {
                check_field(&key(name), f, kind)?;
            }
        }
        Ok(())
    }

    fn validate_operations(&self, prefix: &str) -> Result<(), ConfigError> {
        let ops = &self.operations;
        let refunds = [
            ("list_refunds", &ops.list_refunds),
            ("record_refund", &ops.record_refund),
        ];
        if self.refund.is_some() {
            if let Some((name, _)) = refunds.iter().find(|(_, op)| op.is_none()) {
                return Err(err(
                    &format!("{prefix}.operations.{name}"),
                    "refund fields are mapped: this operation is needed to record Stripe refunds",
                ));
            }
        } else if let Some((name, _)) = refunds.iter().find(|(_, op)| op.is_some()) {
            return Err(err(
                &format!("{prefix}.refund"),
                format!("operations.{name} is given: map the refund's fields"),
            ));
        }
        for name in CUSTOMER_OPERATIONS {
            match (self.customer.is_some(), self.operation(name).is_some()) {
                (true, false) => {
                    return Err(err(
                        &format!("{prefix}.operations.{name}"),
                        "customer fields are mapped: this operation is needed to sync customers",
                    ))
                }
                (false, true) => {
                    return Err(err(
                        &format!("{prefix}.customer"),
                        format!("operations.{name} is given: map the customer's fields"),
                    ))
                }
                _ => {}
            }
        }
        if ops.list_refunds_since.is_some() != ops.mark_refund_sent.is_some() {
            return Err(err(
                &format!("{prefix}.operations.mark_refund_sent"),
                "list_refunds_since and mark_refund_sent come together: refunds made on the platform are found by one and marked by the other",
            ));
        }
        for (name, op, listing) in [
            ("get_order", Some(&ops.get_order), false),
            (
                "find_order_by_number",
                ops.find_order_by_number.as_ref(),
                true,
            ),
            ("list_orders", Some(&ops.list_orders), true),
            ("record_payment", Some(&ops.record_payment), false),
            ("set_status", Some(&ops.set_status), false),
            ("add_note", Some(&ops.add_note), false),
            ("list_refunds", ops.list_refunds.as_ref(), true),
            ("record_refund", ops.record_refund.as_ref(), false),
            ("list_refunds_since", ops.list_refunds_since.as_ref(), true),
            ("mark_refund_sent", ops.mark_refund_sent.as_ref(), false),
            ("get_customer", ops.get_customer.as_ref(), false),
            (
                "find_customer_by_email",
                ops.find_customer_by_email.as_ref(),
                true,
            ),
            ("list_customers", ops.list_customers.as_ref(), true),
            ("update_customer", ops.update_customer.as_ref(), false),
        ] {
            if let Some(op) = op {
                check_operation(&format!("{prefix}.operations.{name}"), name, op, listing)?;
            }
        }
        Ok(())
    }

    /// `(name, operation)` pairs of the operations given, for callers that walk them.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        let ops = &self.operations;
        match name {
            "get_order" => Some(&ops.get_order),
            "find_order_by_number" => ops.find_order_by_number.as_ref(),
            "list_orders" => Some(&ops.list_orders),
            "record_payment" => Some(&ops.record_payment),
            "set_status" => Some(&ops.set_status),
            "add_note" => Some(&ops.add_note),
            "list_refunds" => ops.list_refunds.as_ref(),
            "record_refund" => ops.record_refund.as_ref(),
            "list_refunds_since" => ops.list_refunds_since.as_ref(),
            "mark_refund_sent" => ops.mark_refund_sent.as_ref(),
            "get_customer" => ops.get_customer.as_ref(),
            "find_customer_by_email" => ops.find_customer_by_email.as_ref(),
            "list_customers" => ops.list_customers.as_ref(),
            "update_customer" => ops.update_customer.as_ref(),
            _ => None,
        }
    }
}

fn check_operation(
    key: &str,
    name: &str,
    op: &Operation,
    listing: bool,
) -> Result<(), ConfigError> {
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&op.method.as_str()) {
        return Err(err(
            &format!("{key}.method"),
            format!("{:?} is not GET, POST, PUT, PATCH or DELETE", op.method),
        ));
    }
    if !op.path.starts_with('/') || op.path.contains(char::is_whitespace) {
        return Err(err(
            &format!("{key}.path"),
            "a path starting with /, without spaces",
        ));
    }
    let allowed = variables_for(name);
    let mut used = variables_of(&op.path).map_err(|m| err(&format!("{key}.path"), m))?;
    if let Some(body) = &op.body {
        if op.method == "GET" {
            return Err(err(&format!("{key}.body"), "a GET sends no body"));
        }
        used.extend(body_variables(body).map_err(|m| err(&format!("{key}.body"), m))?);
    }
    if let Some(unknown) = used.iter().find(|v| !allowed.contains(&v.as_str())) {
        return Err(err(
            key,
            format!(
                "{{{unknown}}} is not a variable of {name} (it has {})",
                allowed
                    .iter()
                    .map(|v| format!("{{{v}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if listing {
        let Some(results) = &op.results else {
            return Err(err(
                &format!("{key}.results"),
                "where the listed objects are (a JSON pointer)",
            ));
        };
        check_pointer(&format!("{key}.results"), results)?;
    } else if op.results.is_some() {
        return Err(err(
            &format!("{key}.results"),
            format!("{name} answers one object: use result"),
        ));
    }
    if let Some(r) = &op.result {
        check_pointer(&format!("{key}.result"), r)?;
    }
    match (&op.paging, name) {
        (Some(Paging::Page { .. }), _) if !used.iter().any(|v| v == "page") => Err(err(
            &format!("{key}.path"),
            "page paging sends {page} in the path",
        )),
        (Some(Paging::Cursor { next, param }), _) => {
            check_pointer(&format!("{key}.paging.next"), next)?;
            if param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                return Err(err(
                    &format!("{key}.paging.param"),
                    "a query parameter name",
                ));
            }
            Ok(())
        }
        (Some(_), n) if !matches!(n, "list_orders" | "list_refunds_since" | "list_customers") => {
            Err(err(
                &format!("{key}.paging"),
                format!("{name} is not paged"),
            ))
        }
        (None, _) if used.iter().any(|v| v == "page") => Err(err(
            &format!("{key}.paging"),
            "the path sends {page}: give paging {\"style\": \"page\"}",
        )),
        _ => Ok(()),
    }
}

fn body_variables(body: &Value) -> Result<Vec<String>, String> {
    match body {
        Value::String(s) => variables_of(s),
        Value::Array(a) => a.iter().try_fold(Vec::new(), |mut acc, v| {
            acc.extend(body_variables(v)?);
            Ok(acc)
        }),
        Value::Object(o) => o.values().try_fold(Vec::new(), |mut acc, v| {
            acc.extend(body_variables(v)?);
            Ok(acc)
        }),
        _ => Ok(Vec::new()),
    }
}
