//! `tally order <platform> <order id>`: an order's story from Tally's own
//! records: its PaymentIntent link, every step of every flow for it (claimed,
//! completed with its result, or still in progress) in time order, and the
//! Stripe events journaled for the objects those steps name.
//!
//! Steps are found with a Scan filtered by key prefix (the idempotency table
//! has no index by order): a troubleshooting read, not one to run in a loop.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::stack::Stack;

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub status: String,
    pub result: Option<String>,
    pub claimed_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Event {
    pub event_id: String,
    pub event_type: String,
    pub object_id: Option<String>,
    pub recorded_at_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Story {
    pub order: String,
    pub payment_intent: Option<String>,
    /// The charge that paid it.
    pub charge: Option<String>,
    pub steps: Vec<Step>,
    pub events: Vec<Event>,
}

impl Story {
    /// The Stripe objects the order's records name: its PaymentIntent, the
    /// charge that paid it, and what its steps name (refunds).
    pub fn stripe_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self
            .payment_intent
            .iter()
            .chain(self.charge.iter())
            .cloned()
            .collect();
        for s in &self.steps {
            ids.extend(stripe_ids(&s.step));
            ids.extend(
                s.result
                    .iter()
                    .flat_map(|r| stripe_ids(r).collect::<Vec<_>>()),
            );
        }
        ids
    }
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &std::collections::HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// One text attribute of the item `pk` (read consistently).
async fn attribute(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    attr: &str,
) -> Result<Option<String>, String> {
    let out = db
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| crate::aws_error(table, e))?;
    Ok(out.item().and_then(|i| text(i, attr)))
}

/// Every item of `table` matching the filter, all pages.
pub(crate) async fn scan(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    filter: &str,
    values: &[(&str, AttributeValue)],
) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut req = db
            .scan()
            .table_name(table)
            .filter_expression(filter)
            .set_exclusive_start_key(start);
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        let out = req.send().await.map_err(|e| crate::aws_error(table, e))?;
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(items),
        }
    }
}

/// Stripe ids (`pi_`, `ch_`, `re_`, `py_`, `pyr_`) a step's key or result names.
fn stripe_ids(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            ["pi_", "ch_", "re_", "py_", "pyr_"]
                .iter()
                .any(|p| w.starts_with(p))
                && w.len() > 4
        })
        .map(str::to_string)
}

pub async fn story(
    stack: &Stack,
    platform: &str,
    store: Option<&str>,
    order_id: &str,
) -> Result<Story, String> {
    let db = aws_sdk_dynamodb::Client::new(&stack.aws);
    let table = stack.output("IdempotencyTableName")?;
    let events_table = stack.output("EventsTableName")?;
    let found = scan(
        &db,
        table,
        "begins_with(pk, :p) AND contains(pk, :id)",
        &[
            (":p", AttributeValue::S(format!("o2c/{platform}/"))),
            (":id", AttributeValue::S(format!("/{order_id}/"))),
        ],
    )
    .await?;
    let mut steps: Vec<(String, Step)> = Vec::new();
    let mut key = None;
    for item in &found {
        let pk = text(item, "pk").unwrap_or_default();
        // o2c/{platform}/{store}/{order id}/{step}
        let parts: Vec<&str> = pk.splitn(5, '/').collect();
        if parts.len() < 5 || parts[3] != order_id || store.is_some_and(|s| s != parts[2]) {
            continue;
        }
        key.get_or_insert_with(|| format!("{}/{}/{}", parts[1], parts[2], parts[3]));
        steps.push((
            pk.clone(),
            Step {
                step: parts[4].to_string(),
                status: text(item, "status")
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                result: text(item, "result"),
                claimed_at: number(item, "claimed_at"),
                completed_at: number(item, "completed_at"),
            },
        ));
    }
    let order_key =
        key.unwrap_or_else(|| format!("{platform}/{}/{order_id}", store.unwrap_or("?")));
    steps.sort_by_key(|(_, s)| (s.claimed_at, s.step.clone()));
    let payment_intent = attribute(
        &db,
        table,
        &format!("link/{order_key}"),
        "payment_intent_id",
    )
    .await?;
    // the charge that paid the order, as the payments flow recorded it
    let charge = attribute(&db, table, &format!("settled/{order_key}"), "charge_id").await?;
    let mut ids: BTreeSet<String> = payment_intent
        .iter()
        .chain(charge.iter())
        .cloned()
        .collect();
    for (pk, s) in &steps {
        ids.extend(stripe_ids(pk));
        ids.extend(
            s.result
                .iter()
                .flat_map(|r| stripe_ids(r).collect::<Vec<_>>()),
        );
    }
    let mut events: BTreeMap<String, Event> = BTreeMap::new();
    for id in &ids {
        for item in scan(
            &db,
            events_table,
            "object_id = :o",
            &[(":o", AttributeValue::S(id.clone()))],
        )
        .await?
        {
            let event_id = text(&item, "event_id").unwrap_or_default();
            events.insert(
                event_id.clone(),
                Event {
                    event_id,
                    event_type: text(&item, "event_type").unwrap_or_default(),
                    object_id: text(&item, "object_id"),
                    recorded_at_ms: number(&item, "recorded_at_ms"),
                },
            );
        }
    }
    let mut events: Vec<Event> = events.into_values().collect();
    events.sort_by_key(|e| e.recorded_at_ms);
    Ok(Story {
        order: order_key,
        payment_intent,
        charge,
        steps: steps.into_iter().map(|(_, s)| s).collect(),
        events,
    })
}

/// The store and order id of the order numbered `number` on `platform`, from the
/// PaymentIntent Tally made for it (its metadata carries the number beside the id):
/// Stripe's search, which lags writes by up to a minute, for an order story.
pub async fn by_number(
    stack: &Stack,
    platform: &str,
    number: &str,
) -> Result<Option<(String, String)>, String> {
    let stripe = crate::stripe_client::StripeClient::for_stack(stack).await?;
    let quote = |v: &str| v.replace('\\', "\\\\").replace('\'', "\\'");
    let mut url = reqwest::Url::parse("http://stripe/v1/payment_intents/search")
        .map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair(
        "query",
        &format!(
            "metadata['increment_id']:'{}' AND metadata['platform']:'{}'",
            quote(number),
            quote(platform)
        ),
    );
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let found = stripe.call(reqwest::Method::GET, &path, &[]).await?;
    let intents = found["data"].as_array().cloned().unwrap_or_default();
    let mut orders: BTreeSet<(String, String)> = intents
        .iter()
        .filter_map(|pi| {
            let m = &pi["metadata"];
            Some((
                m["store"].as_str()?.to_string(),
                m["order_id"].as_str()?.to_string(),
            ))
        })
        .collect();
    match orders.len() {
        0 => Ok(None),
        1 => Ok(orders.pop_first()),
        _ => Err(format!(
            "{platform} order number {number} is on several stores ({}): name one with --store and its order id",
            orders.iter().map(|(s, id)| format!("{s}: {id}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stripe_ids_are_read_from_keys_and_results() {
        let found: Vec<String> =
            super::stripe_ids("o2c/magento/default/12/refund/re_123/erp -> JE-7 (ch_9ab, pi_x)")
                .collect();
        assert_eq!(found, ["re_123", "ch_9ab"], "pi_x is too short to be an id");
    }
}
