//! Payout reports in their own table (`payout` + `part`): the ledger as one
//! item (`part = "ledger"`, JSON in `ledger`) and each page of report lines
//! as another (`part = "page#000001"`, JSON in `lines`), so a payout of
//! 10,000 transactions stays far below DynamoDB's item size, and a report
//! reads back with one query in page order.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use tally_core::error::StoreError;
use tally_core::payouts::{PayoutLedger, ReportLine};
use tally_core::ports::PayoutReports;

use crate::dynamodb::{attr_str, s, unavailable};

const LEDGER: &str = "ledger";
const PAGE_PREFIX: &str = "page#";

pub struct DynamoPayoutReports {
    client: Client,
    table: String,
}

impl DynamoPayoutReports {
    pub fn new(client: Client, table: String) -> Self {
        DynamoPayoutReports { client, table }
    }

    async fn put(
        &self,
        payout: &str,
        part: &str,
        attr: &str,
        json: String,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("payout", s(payout))
            .item("part", s(part))
            .item(attr, s(json))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn corrupt(payout: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("payout report {payout}: {e}"))
}

#[async_trait]
impl PayoutReports for DynamoPayoutReports {
    async fn ledger(&self, payout_id: &str) -> Result<Option<PayoutLedger>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("payout", s(payout_id))
            .key("part", s(LEDGER))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item
            .as_ref()
            .and_then(|i| attr_str(i, LEDGER))
            .map(|json| serde_json::from_str(json).map_err(|e| corrupt(payout_id, e)))
            .transpose()
    }

    async fn save_ledger(&self, ledger: &PayoutLedger) -> Result<(), StoreError> {
        let json = serde_json::to_string(ledger).map_err(|e| corrupt(&ledger.payout, e))?;
        self.put(&ledger.payout, LEDGER, LEDGER, json).await
    }

    async fn save_page(
        &self,
        payout_id: &str,
        page: u32,
        lines: &[ReportLine],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(lines).map_err(|e| corrupt(payout_id, e))?;
        // zero-padded, so the query returns pages in order
        self.put(payout_id, &format!("{PAGE_PREFIX}{page:06}"), "lines", json)
            .await
    }

    async fn lines(&self, payout_id: &str) -> Result<Vec<ReportLine>, StoreError> {
        let mut lines = Vec::new();
        let mut after: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("payout = :p AND begins_with(part, :page)")
                .expression_attribute_values(":p", s(payout_id))
                .expression_attribute_values(":page", s(PAGE_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(after.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                let json = attr_str(item, "lines").ok_or_else(|| {
                    StoreError::Corrupt(format!("payout report {payout_id}: a page without lines"))
                })?;
                let page: Vec<ReportLine> =
                    serde_json::from_str(json).map_err(|e| corrupt(payout_id, e))?;
                lines.extend(page);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => after = Some(key),
                _ => return Ok(lines),
            }
        }
    }
}
