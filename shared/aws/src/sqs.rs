//! SQS as a `Queue`.

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;
use tally_core::batch::MAX_SEND_DELAY_SECS;
use tally_core::error::QueueError;
use tally_core::message::OutboundMessage;
use tally_core::ports::Queue;

pub struct SqsQueue {
    client: Client,
    url: String,
    name: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: String) -> Self {
        // the last path segment is the queue name; logs carry it, not the account id
        let name = url.rsplit('/').next().unwrap_or("queue").to_string();
        SqsQueue { client, url, name }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), QueueError> {
        self.send_after(message, 0).await
    }
}

impl SqsQueue {
    /// Sends `message`, delivered after `delay_secs` (at most SQS's 900).
    async fn send_after(
        &self,
        message: &OutboundMessage,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(&message.body);
        if delay_secs > 0 {
            let delay = delay_secs.min(MAX_SEND_DELAY_SECS);
            request = request.delay_seconds(i32::try_from(delay).unwrap_or(i32::MAX));
        }
        for (key, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value.as_ref())
                .build()
                .map_err(|e| QueueError {
                    queue: self.name.clone(),
                    message: e.to_string(),
                })?;
            request = request.message_attributes(key.as_ref(), attribute);
        }
        request.send().await.map_err(|e| QueueError {
            queue: self.name.clone(),
            message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
        })?;
        Ok(())
    }
}

#[async_trait]
impl tally_core::batch::Redelivery for SqsQueue {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| QueueError {
                queue: self.name.clone(),
                message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    async fn requeue_after(
        &self,
        message: &OutboundMessage,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        self.send_after(message, delay_secs).await
    }
}
