//! Durable links and watermarks, kept in the idempotency
//! table under their own key prefixes and without a TTL: an order's
//! PaymentIntent link must outlive every idempotency record.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use tally_core::error::StoreError;
use tally_core::ports::{LinkOutcome, OrderLinks, Watermarks};

use crate::dynamodb::{attr_str, is_condition_failure, item_found_by_put, n, s, unavailable};

pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: String) -> Self {
        DynamoState { client, table }
    }

    async fn read_attr(&self, pk: &str, attr: &str) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| attr_str(i, attr))
            .map(str::to_string))
    }

    /// Writes `pk` with `attr = value` unless it exists (conditional write);
    /// reports the value written first.
    async fn put_once(
        &self,
        pk: &str,
        attr: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item(attr, s(value))
            .item("linked_at_ms", n(now_ms))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(LinkOutcome::Linked),
            Err(e) if is_condition_failure(&e) => {
                let existing = match item_found_by_put(&e) {
                    Some(item) => attr_str(&item, attr).map(str::to_string),
                    None => self.read_attr(pk, attr).await?,
                }
                .ok_or_else(|| StoreError::Corrupt(format!("{pk} exists without {attr}")))?;
                Ok(LinkOutcome::AlreadyLinked(existing))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Records the Stripe customer for a platform customer (customers flow; tests).
    pub async fn put_customer(&self, key: &str, stripe_customer: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("customer/{key}")))
            .item("stripe_customer_id", s(stripe_customer))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl OrderLinks for DynamoState {
    async fn payment_intent_for(&self, order_key: &str) -> Result<Option<String>, StoreError> {
        self.read_attr(&format!("link/{order_key}"), "payment_intent_id")
            .await
    }

    async fn link_payment_intent(
        &self,
        order_key: &str,
        payment_intent_id: &str,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError> {
        self.put_once(
            &format!("link/{order_key}"),
            "payment_intent_id",
            payment_intent_id,
            now_ms,
        )
        .await
    }

    async fn settlement_for(&self, order_key: &str) -> Result<Option<String>, StoreError> {
        self.read_attr(&format!("settled/{order_key}"), "charge_id")
            .await
    }

    async fn record_settlement(
        &self,
        order_key: &str,
        charge_id: &str,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError> {
        self.put_once(
            &format!("settled/{order_key}"),
            "charge_id",
            charge_id,
            now_ms,
        )
        .await
    }

    async fn stripe_customer_for(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read_attr(&format!("customer/{key}"), "stripe_customer_id")
            .await
    }
}

#[async_trait]
impl Watermarks for DynamoState {
    async fn mark_completed(&self, name: &str, at_ms: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("completed/{name}")))
            .item("at_ms", n(at_ms))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read_attr(&format!("watermark/{name}"), "position")
            .await
    }

    async fn advance(
        &self,
        name: &str,
        expected: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("watermark/{name}")))
            .item("position", s(to));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("#position = :expected")
                .expression_attribute_names("#position", "position")
                .expression_attribute_values(":expected", AttributeValue::S(old.into())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
