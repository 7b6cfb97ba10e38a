//! SQS event -> `process_batch` -> partial batch response.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tally_core::batch::{process_batch, BatchContext, BatchRecord, BatchSettings, MessageHandler};

pub fn records(event: SqsEvent) -> Vec<BatchRecord> {
    event
        .records
        .into_iter()
        .map(|m| BatchRecord {
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            receipt_handle: m.receipt_handle,
            attributes: m
                .message_attributes
                .into_iter()
                .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                .collect(),
        })
        .collect()
}

/// Runs every record through `handler`; the response lists only the ones SQS must redeliver.
pub async fn handle_sqs_event<H: MessageHandler>(
    event: SqsEvent,
    handler: &H,
    ctx: &BatchContext<'_>,
    settings: &BatchSettings,
) -> SqsBatchResponse {
    let failed = process_batch(&records(event), handler, ctx, settings).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Serves SQS batches until the runtime stops: each invocation runs
/// `handler` over its records with the invocation's deadline, dead-lettering
/// to `dead_letters` and delaying redeliveries on `source`.
pub async fn run_sqs_handler<H: MessageHandler>(
    handler: &H,
    dead_letters: &crate::sqs::SqsQueue,
    source: &crate::sqs::SqsQueue,
    clock: &dyn tally_core::clock::Clock,
    batch: &BatchSettings,
) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{service_fn, LambdaEvent};
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let ctx = BatchContext {
            dead_letters,
            redelivery: source,
            clock,
            deadline: tally_core::deadline::from_lambda(event.context.deadline, clock.now_ms()),
        };
        Ok::<_, lambda_runtime::Error>(handle_sqs_event(event.payload, handler, &ctx, batch).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
    use tally_core::clock::ManualClock;
    use tally_core::error::Retryable;
    use tally_core::memory::{MemoryQueue, MemoryRedelivery};

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Failure(&'static str, bool);
    impl Retryable for Failure {
        fn is_retryable(&self) -> bool {
            self.1
        }
    }

    struct ByBody;
    #[async_trait]
    impl MessageHandler for ByBody {
        type Error = Failure;
        async fn handle(&self, record: &BatchRecord) -> Result<(), Failure> {
            match record.body.as_str() {
                "retry" => Err(Failure("busy", true)),
                "poison" => Err(Failure("bad envelope", false)),
                _ => Ok(()),
            }
        }
    }

    fn message(id: &str, body: &str, receives: &str) -> SqsMessage {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(format!("evt_{id}"));
        attribute.data_type = Some("String".into());
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.receipt_handle = Some(format!("handle-{id}"));
        m.body = Some(body.into());
        m.message_attributes.insert("event_id".into(), attribute);
        m.attributes
            .insert("ApproximateReceiveCount".into(), receives.into());
        m
    }

    #[tokio::test]
    async fn partial_batch_response_lists_only_retryable_failures() {
        let mut event = SqsEvent::default();
        event.records = vec![
            message("a", "ok", "1"),
            message("b", "retry", "2"),
            message("c", "poison", "1"),
        ];
        let dlq = MemoryQueue::new("dlq");
        let redelivery = MemoryRedelivery::new();
        let clock = ManualClock::at_secs(7);
        let ctx = BatchContext {
            dead_letters: dlq.as_ref(),
            redelivery: redelivery.as_ref(),
            clock: &clock,
            deadline: None,
        };
        let response = handle_sqs_event(event, &ByBody, &ctx, &BatchSettings::default()).await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, vec!["b"]);
        // the receive count and receipt handle come from the SQS record
        assert_eq!(redelivery.delays(), vec![("handle-b".to_string(), 120)]);
        let dead = dlq.messages();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].attribute("event_id"), Some("evt_c"));
        assert_eq!(dead[0].attribute("failure_reason"), Some("bad envelope"));
        // the wire shape Lambda reads
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "b");
    }
}
