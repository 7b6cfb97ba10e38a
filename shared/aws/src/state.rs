//! Durable links and watermarks, kept in the idempotency
//! table under their own key prefixes and without a TTL: an order's
//! PaymentIntent link must outlive every idempotency record.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use tally_core::error::StoreError;
use tally_core::ports::{CustomerLink, CustomerLinks, LinkOutcome, OrderLinks, Synced, Watermarks};

use crate::dynamodb::{attr_str, is_condition_failure, item_found_by_put, n, s, unavailable};

pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: String) -> Self {
        DynamoState { client, table }
    }

    /// The item under `pk`, read consistently.
    async fn read_item(
        &self,
        pk: &str,
    ) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn read_attr(&self, pk: &str, attr: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read_item(pk)
            .await?
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
}

#[async_trait]
impl CustomerLinks for DynamoState {
    async fn customer_link(&self, key: &str) -> Result<Option<CustomerLink>, StoreError> {
        let Some(item) = self.read_item(&format!("customer/{key}")).await? else {
            return Ok(None);
        };
        let field = |name| {
            attr_str(&item, name)
                .map(str::to_string)
                .ok_or_else(|| StoreError::Corrupt(format!("customer/{key} has no {name}")))
        };
        Ok(Some(CustomerLink {
            stripe_customer_id: field("stripe_customer_id")?,
            synced: Synced {
                platform: field("platform_fingerprint")?,
                stripe: field("stripe_fingerprint")?,
            },
        }))
    }

    async fn customer_for_stripe(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.read_attr(&format!("stripe-customer/{id}"), "customer_key")
            .await
    }

    async fn link_customer(
        &self,
        key: &str,
        link: &CustomerLink,
        now_ms: i64,
    ) -> Result<LinkOutcome, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("customer/{key}")))
            .item("stripe_customer_id", s(&link.stripe_customer_id))
            .item("platform_fingerprint", s(&link.synced.platform))
            .item("stripe_fingerprint", s(&link.synced.stripe))
            .item("linked_at_ms", n(now_ms))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let outcome = match put {
            Ok(_) => LinkOutcome::Linked,
            Err(e) if is_condition_failure(&e) => {
                let existing = self.customer_link(key).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("customer/{key} vanished after a conflict"))
                })?;
                LinkOutcome::AlreadyLinked(existing.stripe_customer_id)
            }
            Err(e) => return Err(unavailable(e)),
        };
        // The way back, written after the link (and again on a retry, which a
        // crash between the two writes leaves to do).
        let linked = match &outcome {
            LinkOutcome::Linked => &link.stripe_customer_id,
            LinkOutcome::AlreadyLinked(id) => id,
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("stripe-customer/{linked}")))
            .item("customer_key", s(key))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(outcome)
    }

    async fn record_synced(
        &self,
        key: &str,
        expected: &Synced,
        to: &Synced,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("customer/{key}")))
            .update_expression("SET platform_fingerprint = :p, stripe_fingerprint = :s")
            .condition_expression("platform_fingerprint = :was_p AND stripe_fingerprint = :was_s")
            .expression_attribute_values(":p", s(&to.platform))
            .expression_attribute_values(":s", s(&to.stripe))
            .expression_attribute_values(":was_p", s(&expected.platform))
            .expression_attribute_values(":was_s", s(&expected.stripe))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn report_conflict(&self, key: &str, report: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("customer-conflict/{key}")))
            .item("report", s(report))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn unlink_customer(&self, key: &str, id: &str) -> Result<(), StoreError> {
        for pk in [format!("customer/{key}"), format!("stripe-customer/{id}")] {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
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
