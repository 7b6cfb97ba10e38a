//! `tally dlq list|redrive <flow>`: a flow's dead letters with their
//! reasons, and moving the selected ones back to the flow's queue (their
//! failure attributes dropped, so a new failure records its own reason).

use serde::Serialize;
use tally_core::message::{ATTR_DELIVERIES, ATTR_FAILED_AT_MS, ATTR_FAILURE_REASON};

use crate::queues::{peek, release, Peeked};
use crate::stack::Stack;

const MAX_MESSAGES: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct Redrive {
    pub flow: String,
    pub dry_run: bool,
    pub selected: usize,
    pub moved: usize,
    pub left: usize,
    pub messages: Vec<Peeked>,
}

pub async fn list(stack: &Stack, flow: &str) -> Result<Vec<Peeked>, String> {
    let (_, dlq) = stack.flow_queues(flow)?;
    peek(&aws_sdk_sqs::Client::new(&stack.aws), &dlq, MAX_MESSAGES).await
}

pub async fn redrive(
    stack: &Stack,
    flow: &str,
    only: Option<&str>,
    dry_run: bool,
    progress: &indicatif::ProgressBar,
) -> Result<Redrive, String> {
    let (queue, dlq) = stack.flow_queues(flow)?;
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let all = peek(&sqs, &dlq, MAX_MESSAGES).await?;
    let (selected, others): (Vec<Peeked>, Vec<Peeked>) = all.into_iter().partition(|m| {
        only.is_none_or(|needle| m.reason.as_deref().unwrap_or_default().contains(needle))
    });
    release(&sqs, &dlq, &others).await;
    let mut moved = 0;
    progress.set_length(selected.len() as u64);
    if !dry_run {
        for m in &selected {
            let mut send = sqs.send_message().queue_url(&queue).message_body(&m.body);
            for (k, v) in &m.attributes {
                if ![ATTR_FAILURE_REASON, ATTR_FAILED_AT_MS, ATTR_DELIVERIES].contains(&k.as_str())
                {
                    send = send.message_attributes(k, v.clone());
                }
            }
            send.send().await.map_err(|e| crate::aws_error(&queue, e))?;
            // gone from the DLQ only once it is on the queue: a crash between leaves a duplicate, never a loss
            sqs.delete_message()
                .queue_url(&dlq)
                .receipt_handle(&m.receipt)
                .send()
                .await
                .map_err(|e| crate::aws_error(&dlq, e))?;
            moved += 1;
            progress.inc(1);
        }
    } else {
        release(&sqs, &dlq, &selected).await;
    }
    Ok(Redrive {
        flow: flow.to_string(),
        dry_run,
        selected: selected.len(),
        moved,
        left: others.len() + selected.len() - moved,
        messages: selected,
    })
}
