//! DynamoDB adapters: the idempotency store and the event journal. Every
//! state change is a conditional write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use tally_core::error::StoreError;
use tally_core::ports::{
    Claim, ClaimToken, EventJournal, IdempotencyStore, RecordOutcome, RecordedEvent,
};

const STATUS_IN_PROGRESS: &str = "IN_PROGRESS";
const STATUS_COMPLETED: &str = "COMPLETED";
/// Idempotency records outlive Stripe's 3-day retry window by a wide margin.
const IDEMPOTENCY_RETENTION_SECS: i64 = 30 * 24 * 3600;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The item a failed conditional put found, which DynamoDB returns with the failure
/// when asked (`ReturnValuesOnConditionCheckFailure::AllOld`): no second read.
pub(crate) fn item_found_by_put<R>(
    err: &SdkError<PutItemError, R>,
) -> Option<HashMap<String, AttributeValue>> {
    match err.as_service_error()? {
        PutItemError::ConditionalCheckFailedException(e) => e.item().cloned(),
        _ => None,
    }
}

pub(crate) fn unavailable<E: std::error::Error + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A claim token unique to this container and call: process-random seed plus a counter.
fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}{:08x}", hasher.finish(), std::process::id())
}

/// Table with string partition key `pk` and TTL attribute `expires_at`.
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    pub fn new(client: Client, table: String) -> Self {
        DynamoIdempotencyStore { client, table }
    }

    async fn read(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

pub(crate) fn attr_str<'a>(
    item: &'a HashMap<String, AttributeValue>,
    name: &str,
) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn attr_i64(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotencyStore {
    async fn completed(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.read(key).await?.and_then(|item| {
            (attr_str(&item, "status") == Some(STATUS_COMPLETED))
                .then(|| attr_str(&item, "result").unwrap_or_default().to_string())
        }))
    }

    async fn claim(&self, key: &str, now: i64, lease_secs: i64) -> Result<Claim, StoreError> {
        // A claim can race with a release (item deleted between put and get): try a few times.
        for _ in 0..3 {
            let token = new_token();
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(key))
                .item("status", s(STATUS_IN_PROGRESS))
                .item("claim_token", s(&token))
                .item("lease_expires_at", n(now + lease_secs))
                .item("claimed_at", n(now))
                .item("expires_at", n(now + IDEMPOTENCY_RETENTION_SECS))
                .condition_expression(
                    "attribute_not_exists(pk) OR (#status = :in_progress AND lease_expires_at < :now)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
                .expression_attribute_values(":now", n(now))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let found = match put {
                Ok(_) => return Ok(Claim::Acquired(ClaimToken(token))),
                Err(err) if is_condition_failure(&err) => item_found_by_put(&err),
                Err(err) => return Err(unavailable(err)),
            };
            // An emulator without ALL_OLD answers the failure alone: read the item then.
            let found = match found {
                Some(item) => Some(item),
                None => self.read(key).await?,
            };
            let Some(item) = found else {
                continue;
            };
            return match attr_str(&item, "status") {
                Some(STATUS_COMPLETED) => Ok(Claim::Completed {
                    result: attr_str(&item, "result").unwrap_or_default().to_string(),
                }),
                Some(STATUS_IN_PROGRESS) => Ok(Claim::InProgress {
                    lease_expires_at: attr_i64(&item, "lease_expires_at").unwrap_or(now),
                }),
                other => Err(StoreError::Corrupt(format!(
                    "idempotency item {key} has status {other:?}"
                ))),
            };
        }
        Err(StoreError::Unavailable(format!(
            "claim on {key} kept racing with releases"
        )))
    }

    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        result: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET #status = :completed, #result = :result, completed_at = :now REMOVE lease_expires_at")
            .condition_expression("#status = :in_progress AND claim_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":completed", s(STATUS_COMPLETED))
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
            .expression_attribute_values(":result", s(result))
            .expression_attribute_values(":token", s(&token.0))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(StoreError::LostClaim {
                key: key.to_string(),
            }),
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("#status = :in_progress AND claim_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(STATUS_IN_PROGRESS))
            .expression_attribute_values(":token", s(&token.0))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            // someone else owns it now, or it is gone: nothing of ours to release
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }
}

/// Table with string partition key `event_id` and TTL attribute `expires_at`.
pub struct DynamoEventJournal {
    client: Client,
    table: String,
    retention_secs: i64,
}

impl DynamoEventJournal {
    pub fn new(client: Client, table: String, retention_days: i64) -> Self {
        DynamoEventJournal {
            client,
            table,
            retention_secs: retention_days * 24 * 3600,
        }
    }
}

#[async_trait]
impl EventJournal for DynamoEventJournal {
    async fn record(&self, event: &RecordedEvent) -> Result<RecordOutcome, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("event_id", s(&event.event_id))
            .item("event_type", s(&event.event_type))
            .item("object_type", s(&event.object_type))
            .item("created", n(event.created))
            .item("livemode", AttributeValue::Bool(event.livemode))
            .item("flow", s(&event.flow))
            .item("recorded_at_ms", n(event.recorded_at_ms))
            .item(
                "expires_at",
                n(event.recorded_at_ms / 1000 + self.retention_secs),
            )
            .condition_expression("attribute_not_exists(event_id)");
        if let Some(object_id) = &event.object_id {
            put = put.item("object_id", s(object_id));
        }
        match put.send().await {
            Ok(_) => Ok(RecordOutcome::Inserted),
            Err(err) if is_condition_failure(&err) => Ok(RecordOutcome::AlreadyPresent),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// BatchGetItem, 100 keys a request (DynamoDB's limit), keys only; what
    /// DynamoDB leaves unprocessed is asked for again.
    async fn journaled(
        &self,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = std::collections::HashSet::new();
        for chunk in event_ids.chunks(100) {
            let keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| HashMap::from([("event_id".to_string(), s(id))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("event_id")
                    .consistent_read(true)
                    .build()
                    .map_err(unavailable)?,
            );
            for _ in 0..10 {
                let Some(request) = pending.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(AttributeValue::S(id)) = item.get("event_id") {
                        found.insert(id.clone());
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable(
                    "DynamoDB left keys unprocessed after 10 requests".into(),
                ));
            }
        }
        Ok(found)
    }
}
