//! Reading queues without consuming them: SQS hands out at most 10 messages
//! a call and hides what it handed out, so a read walks the queue with a
//! short visibility timeout until nothing new comes, then makes everything it
//! read visible again.

use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;
use serde::Serialize;
use tally_core::message::ATTR_FAILURE_REASON;

#[derive(Debug, Clone, Serialize)]
pub struct Peeked {
    pub message_id: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub reason: Option<String>,
    pub sent_at_ms: Option<i64>,
    #[serde(skip)]
    pub receipt: String,
    #[serde(skip)]
    pub body: String,
    #[serde(skip)]
    pub attributes: Vec<(String, MessageAttributeValue)>,
}

fn string_attribute(m: &Message, name: &str) -> Option<String> {
    m.message_attributes()?
        .get(name)?
        .string_value()
        .map(str::to_string)
}

pub async fn depth(sqs: &Client, url: &str) -> Result<(i64, i64), String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| crate::aws_error(url, e))?;
    let get = |k: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Every message now visible (up to `limit`), left in the queue.
pub async fn peek(sqs: &Client, url: &str, limit: usize) -> Result<Vec<Peeked>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    let err = |e: String| format!("{url}: {e}");
    while found.len() < limit {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(20)
            .wait_time_seconds(0)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let batch: Vec<Message> = out
            .messages()
            .iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_string()))
            .cloned()
            .collect();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            found.push(Peeked {
                message_id: m.message_id().unwrap_or_default().to_string(),
                event_id: string_attribute(&m, "event_id"),
                event_type: string_attribute(&m, "event_type"),
                reason: string_attribute(&m, ATTR_FAILURE_REASON),
                sent_at_ms: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|v| v.parse().ok()),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
                attributes: m
                    .message_attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            });
        }
    }
    release(sqs, url, &found).await;
    Ok(found)
}

/// Makes what `peek` hid visible again (a message deleted meanwhile is skipped).
pub async fn release(sqs: &Client, url: &str, messages: &[Peeked]) {
    for m in messages {
        let _ = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(&m.receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }
}
