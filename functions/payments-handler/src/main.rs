//! Payments handler (SQS): runs the payments flow over each message and
//! reports partial batch failures. Builds its dependencies once per container.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use tally_aws::config::{self, parsed_or, required};
use tally_aws::dynamodb::{DynamoEventJournal, DynamoIdempotencyStore};
use tally_aws::sqs::SqsQueue;
use tally_aws::sqs_batch::handle_sqs_event;
use tally_core::clock::SystemClock;
use tally_core::flows::payments::PaymentsHandler;
use tally_core::idempotency::DEFAULT_LEASE_SECS;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tally_aws::logging::init();
    let aws = config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let clock = Arc::new(SystemClock);
    let handler = PaymentsHandler {
        store: Arc::new(DynamoIdempotencyStore::new(
            dynamodb.clone(),
            required("IDEMPOTENCY_TABLE")?,
        )),
        journal: Arc::new(DynamoEventJournal::new(
            dynamodb,
            required("EVENTS_TABLE")?,
            parsed_or("EVENT_RETENTION_DAYS", 400)?,
        )),
        clock: clock.clone(),
        lease_secs: parsed_or("LEASE_SECS", DEFAULT_LEASE_SECS)?,
    };
    let dead_letters = SqsQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        required("DEAD_LETTER_QUEUE_URL")?,
    );
    let (handler, dead_letters, clock) = (&handler, &dead_letters, clock.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handle_sqs_event(event.payload, handler, dead_letters, clock).await)
    }))
    .await
}
