//! `tally status`: each flow's queue depth and its dead letters with their
//! most frequent reasons.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::queues::{depth, peek};
use crate::stack::Stack;

#[derive(Debug, Serialize)]
pub struct FlowStatus {
    pub flow: String,
    pub queued: i64,
    pub in_flight: i64,
    pub dead_letters: i64,
    /// The oldest dead letter's age in seconds.
    pub oldest_dead_letter_secs: Option<i64>,
    /// Reasons, most frequent first, with their counts.
    pub top_reasons: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub stack: String,
    pub flows: Vec<FlowStatus>,
    /// Each poller (`poller/<platform>/<store>`) and when it last finished a poll.
    pub last_polls: Vec<(String, i64)>,
    /// Stripe events the handlers took in the last hour (with `--events`: a
    /// Scan of the events table, which on AWS the dashboard's metrics make unnecessary).
    pub events_last_hour: Option<usize>,
    pub healthy: bool,
}

/// A reason without its ids, so the same failure of many events counts once.
fn reason_kind(reason: &str) -> String {
    reason
        .split_whitespace()
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) && w.len() > 3 {
                "…"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(160)
        .collect()
}

pub async fn status(stack: &Stack, now_ms: i64, count_events: bool) -> Result<Status, String> {
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let mut flows = Vec::new();
    for flow in ["payments", "payouts"] {
        let (queue, dlq) = stack.flow_queues(flow)?;
        let (queued, in_flight) = depth(&sqs, &queue).await?;
        let (dead, _) = depth(&sqs, &dlq).await?;
        let letters = if dead > 0 {
            peek(&sqs, &dlq, 1_000).await?
        } else {
            Vec::new()
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for m in &letters {
            *counts
                .entry(reason_kind(
                    m.reason.as_deref().unwrap_or("(no reason recorded)"),
                ))
                .or_default() += 1;
        }
        let mut top_reasons: Vec<(String, usize)> = counts.into_iter().collect();
        top_reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top_reasons.truncate(5);
        flows.push(FlowStatus {
            flow: flow.to_string(),
            queued,
            in_flight,
            dead_letters: dead.max(letters.len() as i64),
            oldest_dead_letter_secs: letters
                .iter()
                .filter_map(|m| m.sent_at_ms)
                .min()
                .map(|t| (now_ms - t).max(0) / 1000),
            top_reasons,
        });
    }
    let healthy = flows.iter().all(|f| f.dead_letters == 0);
    let db = aws_sdk_dynamodb::Client::new(&stack.aws);
    let mut last_polls: Vec<(String, i64)> = crate::order::scan(
        &db,
        stack.output("IdempotencyTableName")?,
        "begins_with(pk, :p)",
        &[(":p", AttributeValue::S("completed/".into()))],
    )
    .await?
    .iter()
    .filter_map(|i| {
        let name = i
            .get("pk")?
            .as_s()
            .ok()?
            .trim_start_matches("completed/")
            .to_string();
        Some((name, i.get("at_ms")?.as_n().ok()?.parse().ok()?))
    })
    .collect();
    last_polls.sort();
    let events_last_hour = if count_events {
        Some(
            crate::order::scan(
                &db,
                stack.output("EventsTableName")?,
                "recorded_at_ms > :t",
                &[(":t", AttributeValue::N((now_ms - 3_600_000).to_string()))],
            )
            .await?
            .len(),
        )
    } else {
        None
    };
    Ok(Status {
        stack: stack.name.clone(),
        flows,
        last_polls,
        events_last_hour,
        healthy,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_group_without_their_ids() {
        assert_eq!(
            super::reason_kind("magento order 1234 not found (evt_1NqX9)"),
            "magento order … not found …"
        );
    }
}
