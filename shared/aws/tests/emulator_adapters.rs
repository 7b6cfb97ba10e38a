//! The DynamoDB and SQS adapters against the emulator (ministack or LocalStack):
//! the conditional writes behave as the in-memory adapters promise.
//! Needs `make up`; `make test` runs these with `--ignored`.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use tally_aws::dynamodb::{DynamoEventJournal, DynamoIdempotencyStore};
use tally_aws::sqs::SqsQueue;
use tally_core::error::StoreError;
use tally_core::message::OutboundMessage;
use tally_core::ports::{
    Claim, EventJournal, IdempotencyStore, Queue, RecordOutcome, RecordedEvent,
};

async fn aws() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL must point at the emulator (run via `make test`, which sources .tally/local.env)"
    );
    tally_aws::config::load().await
}

/// A table made for one test in the emulator, dropped at the end of it.
struct TestTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
    key: &'static str,
}

impl TestTable {
    async fn new(key: &'static str) -> Self {
        Self::with_sort_key(key, None).await
    }

    async fn with_sort_key(key: &'static str, sort: Option<&'static str>) -> Self {
        let client = aws_sdk_dynamodb::Client::new(&aws().await);
        let name = format!(
            "tally-it-{key}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut create = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attr, kind) in [(Some(key), KeyType::Hash), (sort, KeyType::Range)] {
            let Some(attr) = attr else { continue };
            create = create
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(attr)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(attr)
                        .key_type(kind)
                        .build()
                        .unwrap(),
                );
        }
        create.send().await.expect("create table in the emulator");
        TestTable { client, name, key }
    }

    async fn item(&self, key: &str) -> std::collections::HashMap<String, AttributeValue> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(self.key, AttributeValue::S(key.into()));
        out.send().await.unwrap().item.expect("item exists")
    }

    async fn drop(self) {
        self.client
            .delete_table()
            .table_name(&self.name)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run by `make test`"]
async fn idempotency_store_conditional_writes() {
    let table = TestTable::new("pk").await;
    let store = DynamoIdempotencyStore::new(table.client.clone(), table.name.clone());
    let now = 1_800_000_000;

    let Claim::Acquired(first) = store.claim("k1", now, 60).await.unwrap() else {
        panic!("new key must be acquired")
    };
    assert_eq!(
        store.claim("k1", now + 1, 60).await.unwrap(),
        Claim::InProgress {
            lease_expires_at: now + 60
        }
    );

    // the lease expires: a second worker takes over, and the first one's completion is refused
    let Claim::Acquired(second) = store.claim("k1", now + 61, 60).await.unwrap() else {
        panic!("expired lease must be re-claimable")
    };
    assert_ne!(first, second);
    assert_eq!(
        store
            .complete("k1", &first, "late", now + 62)
            .await
            .unwrap_err(),
        StoreError::LostClaim { key: "k1".into() }
    );
    store
        .complete("k1", &second, "done", now + 62)
        .await
        .unwrap();
    assert_eq!(
        store.claim("k1", now + 1000, 60).await.unwrap(),
        Claim::Completed {
            result: "done".into()
        }
    );

    // release lets the next claim in at once, but only the holder can release
    let Claim::Acquired(third) = store.claim("k2", now, 60).await.unwrap() else {
        panic!()
    };
    store.release("k2", &first).await.unwrap();
    assert!(matches!(
        store.claim("k2", now, 60).await.unwrap(),
        Claim::InProgress { .. }
    ));
    store.release("k2", &third).await.unwrap();
    assert!(matches!(
        store.claim("k2", now, 60).await.unwrap(),
        Claim::Acquired(_)
    ));

    // the TTL attribute is set
    let item = table.item("k1").await;
    assert!(item["expires_at"].as_n().unwrap().parse::<i64>().unwrap() > now);

    table.drop().await;
}

#[tokio::test]
#[ignore = "needs the emulator: run by `make test`"]
async fn concurrent_claims_have_exactly_one_winner() {
    let table = TestTable::new("pk").await;
    let store = std::sync::Arc::new(DynamoIdempotencyStore::new(
        table.client.clone(),
        table.name.clone(),
    ));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim("race", 1_800_000_000, 60).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Claim::Acquired(_)) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    table.drop().await;
}

#[tokio::test]
#[ignore = "needs the emulator: run by `make test`"]
async fn event_journal_never_overwrites() {
    let table = TestTable::new("event_id").await;
    let journal = DynamoEventJournal::new(table.client.clone(), table.name.clone(), 400);
    let mut event = RecordedEvent {
        event_id: "evt_it_1".into(),
        event_type: "payment_intent.succeeded".into(),
        object_id: Some("pi_1".into()),
        object_type: "payment_intent".into(),
        created: 1,
        livemode: false,
        flow: "payments".into(),
        recorded_at_ms: 1_800_000_000_000,
    };
    assert_eq!(
        journal.record(&event).await.unwrap(),
        RecordOutcome::Inserted
    );
    event.event_type = "changed".into();
    assert_eq!(
        journal.record(&event).await.unwrap(),
        RecordOutcome::AlreadyPresent
    );
    let item = table.item("evt_it_1").await;
    assert_eq!(
        item["event_type"].as_s().unwrap(),
        "payment_intent.succeeded"
    );
    table.drop().await;
}

#[tokio::test]
#[ignore = "needs the emulator: run by `make test`"]
async fn sqs_queue_sends_body_and_attributes() {
    let config = aws().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let name = format!("tally-it-{}", std::process::id());
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client.clone(), url.clone());
    assert_eq!(queue.name(), name);
    queue
        .send(&OutboundMessage {
            body: r#"{"hello":"world"}"#.into(),
            attributes: vec![
                ("event_id".into(), "evt_q".into()),
                ("event_type".into(), "charge.succeeded".into()),
            ],
        })
        .await
        .unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let message = &received.messages.unwrap()[0];
    assert_eq!(message.body.as_deref(), Some(r#"{"hello":"world"}"#));
    let attrs = message.message_attributes.as_ref().unwrap();
    assert_eq!(attrs["event_id"].string_value.as_deref(), Some("evt_q"));
    assert_eq!(
        attrs["event_type"].string_value.as_deref(),
        Some("charge.succeeded")
    );
    client.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the emulator: run by `make test`"]
async fn payout_reports_save_the_ledger_and_pages_and_read_every_line_back_in_order() {
    use tally_aws::payout_reports::DynamoPayoutReports;
    use tally_core::money::Currency;
    use tally_core::payouts::{Matched, PayoutLedger};
    use tally_core::ports::PayoutReports;
    use tally_core::stripe::objects::BalanceTransaction;

    let table = TestTable::with_sort_key("payout", Some("part")).await;
    let reports = DynamoPayoutReports::new(table.client.clone(), table.name.clone());
    assert_eq!(reports.ledger("po_1").await.unwrap(), None);
    assert!(reports.lines("po_1").await.unwrap().is_empty());
    let bt = |id: String, amount: i64, fee: i64| -> BalanceTransaction {
        serde_json::from_value(serde_json::json!({"id": id, "amount": amount, "fee": fee,
            "net": amount - fee, "currency": "kwd", "type": "charge", "reporting_category": "charge",
            "source": "ch_1", "status": "available", "available_on": 1, "created": 1}))
        .unwrap()
    };
    // 12 pages of 100 lines (over 1 MB in all: the query pages too), the last page saved twice
    let mut ledger = PayoutLedger::new("po_1", Currency::Kwd);
    for page in 1..=12u32 {
        let mut lines = Vec::new();
        for i in 0..100 {
            let matched = if i == 7 {
                Matched::Unmatched(format!("no order {}", "x".repeat(600)))
            } else {
                Matched::Order(format!("magento/default/{page}-{i}-{}", "y".repeat(600)))
            };
            lines.extend(
                ledger
                    .add(&bt(format!("txn_{page}_{i}"), 6_170, 479), &matched)
                    .unwrap(),
            );
        }
        ledger.pages = page;
        reports.save_page("po_1", page, &lines).await.unwrap();
        if page == 12 {
            reports.save_page("po_1", page, &lines).await.unwrap();
        }
        reports.save_ledger(&ledger).await.unwrap();
    }
    reports.save_page("po_2", 1, &[]).await.unwrap();
    assert_eq!(
        reports.ledger("po_1").await.unwrap().as_ref(),
        Some(&ledger)
    );
    let lines = reports.lines("po_1").await.unwrap();
    assert_eq!(lines.len(), 1_200, "every line once");
    assert_eq!(lines[0].transaction, "txn_1_0");
    assert_eq!(lines[1_199].transaction, "txn_12_99", "pages in order");
    assert_eq!(lines.iter().filter(|l| l.unmatched.is_some()).count(), 12);
    assert_eq!(ledger.unmatched, 12);
    table.drop().await;
}
