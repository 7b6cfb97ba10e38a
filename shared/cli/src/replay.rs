//! `tally replay`: journaled Stripe events of a time range (and a type, or
//! one order's objects) re-run through their flows by the backfill function,
//! which reads each again from Stripe. Every step is idempotent, so what is
//! done stays done; `--dry-run` lists what would be re-run.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::json;

use crate::stack::Stack;

#[derive(Debug, Serialize)]
pub struct Replayed {
    pub dry_run: bool,
    pub events: Vec<(String, String)>,
    pub enqueued: u64,
    pub skipped: Vec<String>,
}

pub struct Asked<'a> {
    pub from_ms: i64,
    pub to_ms: i64,
    pub event_type: Option<&'a str>,
    /// Only events of these Stripe objects (an order's PaymentIntent, charge, refunds).
    pub objects: Option<BTreeSet<String>>,
    pub dry_run: bool,
}

pub async fn replay(
    stack: &Stack,
    asked: &Asked<'_>,
    progress: &indicatif::ProgressBar,
) -> Result<Replayed, String> {
    let db = aws_sdk_dynamodb::Client::new(&stack.aws);
    let table = stack.output("EventsTableName")?;
    let mut filter = "recorded_at_ms BETWEEN :from AND :to".to_string();
    let mut values = vec![
        (":from", AttributeValue::N(asked.from_ms.to_string())),
        (":to", AttributeValue::N(asked.to_ms.to_string())),
    ];
    if let Some(t) = asked.event_type {
        filter.push_str(" AND event_type = :type");
        values.push((":type", AttributeValue::S(t.to_string())));
    }
    let mut events: Vec<(i64, String, String)> = Vec::new();
    for item in crate::order::scan(&db, table, &filter, &values).await? {
        let get = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let object = get("object_id");
        if asked.objects.as_ref().is_some_and(|o| !o.contains(&object)) {
            continue;
        }
        let at = item
            .get("recorded_at_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        events.push((at, get("event_id"), get("event_type")));
    }
    events.sort();
    let mut done = Replayed {
        dry_run: asked.dry_run,
        events: events
            .iter()
            .map(|(_, id, t)| (id.clone(), t.clone()))
            .collect(),
        enqueued: 0,
        skipped: Vec::new(),
    };
    if asked.dry_run {
        return Ok(done);
    }
    progress.set_length(events.len() as u64);
    for chunk in events.chunks(50) {
        let ids: Vec<&str> = chunk.iter().map(|(_, id, _)| id.as_str()).collect();
        let body = stack
            .invoke("StripeBackfillName", &json!({"replay": ids}))
            .await
            .map_err(|e| format!("after {} event(s) re-run: {e}", done.enqueued))?;
        done.enqueued += body["enqueued"].as_u64().unwrap_or(0);
        done.skipped.extend(
            body["skipped"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from)),
        );
        progress.inc(chunk.len() as u64);
    }
    Ok(done)
}
