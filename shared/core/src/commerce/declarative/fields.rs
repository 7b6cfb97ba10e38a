//! Reading a declarative platform's answers: each canonical field found by
//! its pointer and read by its transform (amounts exact in the order's
//! currency, dates to Tally's `YYYY-MM-DD HH:MM:SS` UTC, statuses through
//! the status mapping). Errors name the field and its pointer.

use serde_json::Value;

use super::mapping::{DateFormat, Field, RestMapping, StatusMapping, Transform};
use crate::clock::{parse_utc_datetime, utc_datetime};
use crate::commerce::amounts::{decimal, id_text};
use crate::commerce::order::OrderCharges;
use crate::commerce::{
    CustomerRef, Order, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState,
    PlatformCustomer, PlatformRefund, PostalAddress,
};
use crate::money::{Currency, MinorUnit};

/// The value at a field's pointer; `null` reads as missing.
pub fn at<'a>(object: &'a Value, field: &Field) -> Option<&'a Value> {
    object.pointer(field.pointer()).filter(|v| !v.is_null())
}

fn named(name: &str, field: &Field) -> String {
    format!("{name} ({})", field.pointer())
}

/// Text (a string or a number), trimmed; `None` when missing or blank.
pub fn text(object: &Value, field: &Field) -> Option<String> {
    match at(object, field)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        v @ Value::Number(_) => id_text(v),
        _ => None,
    }
}

fn required_text(object: &Value, name: &str, field: &Field) -> Result<String, String> {
    text(object, field).ok_or_else(|| format!("{} is missing or not text", named(name, field)))
}

/// An amount in `currency`, exact, by the field's transform (decimal by default).
pub fn amount(
    object: &Value,
    name: &str,
    field: &Field,
    currency: Currency,
) -> Result<Option<MinorUnit>, String> {
    let Some(v) = at(object, field) else {
        return Ok(None);
    };
    let what = named(name, field);
    match field.transform() {
        Some(Transform::MinorUnits) => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => return Err(format!("{what}: {other} is not an integer of minor units")),
            };
            text.parse::<i64>()
                .map(|n| Some(MinorUnit::new(n)))
                .map_err(|_| format!("{what}: {text:?} is not an integer of minor units"))
        }
        _ => {
            let d = decimal("amount", v).map_err(|_| format!("{what}: {v} is not a decimal"))?;
            currency
                .to_minor_exact(d)
                .map(Some)
                .map_err(|e| format!("{what}: {e}"))
        }
    }
}

fn date_format(field: &Field, default: DateFormat) -> DateFormat {
    field
        .transform()
        .and_then(Transform::date)
        .unwrap_or(default)
}

/// A date as Tally's UTC `YYYY-MM-DD HH:MM:SS` (sortable as text).
pub fn date(
    object: &Value,
    name: &str,
    field: &Field,
    default: DateFormat,
) -> Result<String, String> {
    let what = named(name, field);
    let v = at(object, field).ok_or_else(|| format!("{what} is missing"))?;
    let secs = match date_format(field, default) {
        DateFormat::Rfc3339 | DateFormat::NaiveUtc => v.as_str().and_then(parse_dated),
        DateFormat::UnixSeconds => id_text(v).and_then(|t| t.parse::<i64>().ok()),
        DateFormat::UnixMs => id_text(v)
            .and_then(|t| t.parse::<i64>().ok())
            .map(|ms| ms.div_euclid(1000)),
    };
    secs.map(utc_datetime)
        .ok_or_else(|| format!("{what}: {v} is not a date as the mapping reads it"))
}

/// Unix seconds of `2026-11-28T10:00:00[.fff][Z|+hh:mm|-hh:mm]` or with a space.
fn parse_dated(text: &str) -> Option<i64> {
    let base = parse_utc_datetime(text)?;
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm = rest[1..].replace(':', "");
            if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (h, m): (i64, i64) = (hhmm[..2].parse().ok()?, hhmm[2..].parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    Some(base - offset)
}

/// Tally's `YYYY-MM-DD HH:MM:SS` in the platform's own format, for a `{since}`.
pub fn platform_date(canonical: &str, format: DateFormat) -> String {
    let secs = parse_utc_datetime(canonical).unwrap_or(0);
    match format {
        DateFormat::Rfc3339 => format!("{}Z", utc_datetime(secs).replace(' ', "T")),
        DateFormat::NaiveUtc => utc_datetime(secs),
        DateFormat::UnixSeconds => secs.to_string(),
        DateFormat::UnixMs => (secs * 1000).to_string(),
    }
}

/// Where a status puts an order, or why it cannot be read.
pub fn payment_state(statuses: &StatusMapping, status: &str) -> Result<PaymentState, String> {
    let within = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(status));
    if within(&statuses.awaiting_payment) {
        Ok(PaymentState::AwaitingPayment)
    } else if within(&statuses.paid) {
        Ok(PaymentState::Paid)
    } else if within(&statuses.not_collectable) {
        Ok(PaymentState::NotCollectable)
    } else {
        Err(format!(
            "status {status:?} has no mapping: add it to statuses.awaiting_payment, paid or not_collectable"
        ))
    }
}

/// The order's id and its `updated_at`, as far as they read (for reports).
pub fn order_identity(mapping: &RestMapping, object: &Value) -> (String, String) {
    let o = &mapping.order;
    (
        text(object, &o.id).unwrap_or_default(),
        date(object, "order.updated_at", &o.updated_at, mapping.dates).unwrap_or_default(),
    )
}

/// The canonical order from one order object.
pub fn order_from(platform: &str, mapping: &RestMapping, object: &Value) -> Result<Order, String> {
    let o = &mapping.order;
    let id = required_text(object, "order.id", &o.id)?;
    let status = required_text(object, "order.status", &o.status)?;
    let payment_state = payment_state(&mapping.statuses, &status)?;
    let code = required_text(object, "order.currency", &o.currency)?;
    let currency: Currency = code
        .parse()
        .map_err(|e| format!("{}: {e}", named("order.currency", &o.currency)))?;
    let money = |name: &str, f: &Option<Field>| -> Result<MinorUnit, String> {
        match f {
            Some(f) => Ok(amount(object, name, f, currency)?.unwrap_or(MinorUnit::ZERO)),
            None => Ok(MinorUnit::ZERO),
        }
    };
    let grand_total = amount(object, "order.grand_total", &o.grand_total, currency)?
        .ok_or_else(|| format!("{} is missing", named("order.grand_total", &o.grand_total)))?;
    let total_invoiced = match &o.paid_total {
        Some(f) => amount(object, "order.paid_total", f, currency)?.unwrap_or(MinorUnit::ZERO),
        None if payment_state == PaymentState::Paid => grand_total,
        None => MinorUnit::ZERO,
    };
    let discount = money("order.discount", &o.discount)?;
    let mut lines = Vec::new();
    if let (Some(list), Some(l)) = (&o.lines, &o.line) {
        for (n, line) in at(object, list)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let name = |f: &str| format!("order.line[{n}].{f}");
            let quantity = at(line, &l.quantity)
                .ok_or_else(|| format!("{} is missing", named(&name("quantity"), &l.quantity)))
                .and_then(|v| {
                    decimal("quantity", v).map_err(|_| {
                        format!(
                            "{}: {v} is not a number",
                            named(&name("quantity"), &l.quantity)
                        )
                    })
                })?;
            lines.push(OrderLine {
                sku: text(line, &l.sku).unwrap_or_default(),
                name: text(line, &l.name)
                    .or_else(|| text(line, &l.sku))
                    .unwrap_or_default(),
                quantity: quantity.normalize(),
                row_total: amount(line, &name("total"), &l.total, currency)?
                    .unwrap_or(MinorUnit::ZERO),
            });
        }
    }
    let comments = match (&o.notes, &o.note) {
        (Some(list), Some(note)) => at(object, list)
            .and_then(Value::as_array)
            .map(|a| a.iter().rev().filter_map(|n| text(n, note)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let opt = |f: &Option<Field>| f.as_ref().and_then(|f| text(object, f));
    Ok(Order {
        reference: OrderRef {
            platform: platform.to_string(),
            store: mapping.store.clone(),
            order_id: id,
        },
        increment_id: required_text(object, "order.number", &o.number)?,
        state: status.clone(),
        status,
        payment_state,
        customer: OrderCustomer {
            external_id: None,
            email: opt(&o.email).map(|e| e.to_lowercase()),
            first_name: opt(&o.first_name),
            last_name: opt(&o.last_name),
        },
        currency,
        grand_total,
        total_invoiced,
        lines,
        charges: OrderCharges {
            shipping: money("order.shipping", &o.shipping)?,
            tax: money("order.tax", &o.tax)?,
            discount: MinorUnit::new(discount.get().abs()),
        },
        billing_address: None,
        shipping_address: None,
        payment: OrderPayment {
            method: opt(&o.payment_method),
            transaction_id: opt(&o.transaction_id),
        },
        comments,
        created_at: date(object, "order.created_at", &o.created_at, mapping.dates)?,
        updated_at: date(object, "order.updated_at", &o.updated_at, mapping.dates)?,
    })
}

/// A refund record as read: the record, its order and when it was made.
pub struct ReadRefund {
    pub refund: PlatformRefund,
    pub order_id: String,
    pub created_at: String,
}

/// A refund record in the order's `currency`. One naming no Stripe refund
/// is money the platform asks Tally to return.
pub fn refund_from(
    mapping: &RestMapping,
    object: &Value,
    currency: Currency,
) -> Result<ReadRefund, String> {
    let r = mapping
        .refund
        .as_ref()
        .ok_or("the mapping has no refund fields")?;
    let id = required_text(object, "refund.id", &r.id)?;
    let amount = amount(object, "refund.amount", &r.amount, currency)?
        .ok_or_else(|| format!("{} is missing", named("refund.amount", &r.amount)))?;
    let stripe_refund_id = text(object, &r.stripe_refund_id);
    Ok(ReadRefund {
        refund: PlatformRefund {
            id,
            amount,
            awaiting: stripe_refund_id.is_none(),
            stripe_refund_id,
        },
        order_id: text(object, &r.order_id).unwrap_or_default(),
        created_at: date(object, "refund.created_at", &r.created_at, mapping.dates)?,
    })
}

/// The customer's id and `updated_at`, as far as they read (for polls).
pub fn customer_identity(mapping: &RestMapping, object: &Value) -> (String, String) {
    match &mapping.customer {
        Some(c) => (
            text(object, &c.id).unwrap_or_default(),
            date(object, "customer.updated_at", &c.updated_at, mapping.dates).unwrap_or_default(),
        ),
        None => Default::default(),
    }
}

/// A platform customer from one customer object.
pub fn customer_from(
    platform: &str,
    mapping: &RestMapping,
    object: &Value,
) -> Result<PlatformCustomer, String> {
    let c = mapping
        .customer
        .as_ref()
        .ok_or("the mapping has no customer fields")?;
    let opt = |f: &Option<Field>| f.as_ref().and_then(|f| text(object, f));
    let address = c.address.as_ref().map(|a| PostalAddress {
        line1: text(object, &a.line1),
        line2: a.line2.as_ref().and_then(|f| text(object, f)),
        city: text(object, &a.city),
        state: a.state.as_ref().and_then(|f| text(object, f)),
        postal_code: text(object, &a.postal_code),
        country: text(object, &a.country).map(|c| c.to_ascii_uppercase()),
    });
    Ok(PlatformCustomer {
        reference: CustomerRef {
            platform: platform.to_string(),
            store: mapping.store.clone(),
            customer_id: required_text(object, "customer.id", &c.id)?,
        },
        email: required_text(object, "customer.email", &c.email)?,
        first_name: opt(&c.first_name),
        last_name: opt(&c.last_name),
        phone: opt(&c.phone),
        address: address.filter(|a| *a != PostalAddress::default()),
        stripe_customer_id: opt(&c.stripe_customer_id),
        updated_at: date(object, "customer.updated_at", &c.updated_at, mapping.dates)?,
    })
}
