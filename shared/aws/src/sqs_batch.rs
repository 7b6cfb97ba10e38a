//! SQS event -> `process_batch` -> partial batch response.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tally_core::batch::{process_batch, BatchRecord, MessageHandler};
use tally_core::clock::Clock;
use tally_core::ports::Queue;

pub fn records(event: SqsEvent) -> Vec<BatchRecord> {
    event
        .records
        .into_iter()
        .map(|m| BatchRecord {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
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
    dead_letters: &dyn Queue,
    clock: &dyn Clock,
) -> SqsBatchResponse {
    let failed = process_batch(&records(event), handler, dead_letters, clock).await;
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
