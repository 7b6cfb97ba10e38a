//! Reading a platform's order fields exactly: amounts arrive as JSON numbers
//! or decimal strings (serde_json's arbitrary precision keeps numbers as text),
//! become `Decimal`s without passing through f64, and then minor units per the
//! currency's exponent, or an error naming the field. Never rounded.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::money::{Currency, MinorUnit, MoneyError};

#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error("field {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("field {field}: {source}")]
    Money {
        field: &'static str,
        source: MoneyError,
    },
}

pub fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::Invalid {
        field,
        message: message.into(),
    }
}

pub fn decimal(field: &'static str, v: &Value) -> Result<Decimal, FieldError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(invalid(field, format!("expected a number, got {other}"))),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|e| invalid(field, format!("{text:?} is not a decimal: {e}")))
}

/// An amount Stripe charges: exact, and a multiple of Stripe's step.
pub fn charged(
    field: &'static str,
    v: &Value,
    currency: Currency,
) -> Result<MinorUnit, FieldError> {
    currency
        .to_minor(decimal(field, v)?)
        .map_err(|source| FieldError::Money { field, source })
}

/// Any other amount: exact in the currency's exponent.
pub fn minor(field: &'static str, v: &Value, currency: Currency) -> Result<MinorUnit, FieldError> {
    currency
        .to_minor_exact(decimal(field, v)?)
        .map_err(|source| FieldError::Money { field, source })
}

/// An order-level amount that may be absent (zero), kept as its size: platforms
/// write a discount negative (Magento) or positive (Znode).
pub fn order_charge(
    field: &'static str,
    v: Option<&Value>,
    currency: Currency,
) -> Result<MinorUnit, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(MinorUnit::ZERO),
        Some(v) => Ok(MinorUnit::new(minor(field, v, currency)?.get().abs())),
    }
}

pub fn currency(field: &'static str, code: &str) -> Result<Currency, FieldError> {
    code.parse()
        .map_err(|e: MoneyError| invalid(field, e.to_string()))
}

/// A text field, trimmed; `None` when missing, not a string, or blank.
pub fn field_text(obj: &Value, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An id given as a number or a non-empty string.
pub fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}
