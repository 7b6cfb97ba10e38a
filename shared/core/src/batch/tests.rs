use std::sync::{Arc, Mutex};

use super::*;
use crate::clock::ManualClock;
use crate::memory::{MemoryQueue, MemoryRedelivery};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TestError(&'static str, bool);

impl Retryable for TestError {
    fn is_retryable(&self) -> bool {
        self.1
    }
    fn is_contention(&self) -> bool {
        self.0.ends_with("in another worker")
    }
}

/// Fails by body; sleeps `work` per record; logs starts and ends per sequence key.
#[derive(Default)]
struct Scripted {
    work: Duration,
    log: Mutex<Vec<(String, &'static str)>>,
    saw_deadline: Mutex<Vec<Option<Duration>>>,
}

#[async_trait]
impl MessageHandler for Scripted {
    type Error = TestError;
    fn sequence_key(&self, record: &BatchRecord) -> Option<String> {
        record.attribute("order").map(str::to_string)
    }
    async fn handle(&self, record: &BatchRecord) -> Result<(), TestError> {
        self.saw_deadline
            .lock()
            .unwrap()
            .push(crate::deadline::remaining());
        self.log
            .lock()
            .unwrap()
            .push((record.message_id.clone(), "start"));
        tokio::time::sleep(self.work).await;
        self.log
            .lock()
            .unwrap()
            .push((record.message_id.clone(), "end"));
        match record.body.as_str() {
            "ok" => Ok(()),
            "transient" => Err(TestError("throttled", true)),
            "held" => Err(TestError("step x is in progress in another worker", true)),
            _ => Err(TestError("malformed event", false)),
        }
    }
}

fn record(id: &str, body: &str, delivery: u32) -> BatchRecord {
    BatchRecord {
        message_id: id.into(),
        body: body.into(),
        attributes: vec![
            ("event_id".into(), format!("evt_{id}")),
            ("order".into(), format!("order-{id}")),
        ],
        receipt_handle: Some(format!("rh-{id}")),
        receive_count: delivery,
    }
}

struct Env {
    dlq: Arc<MemoryQueue>,
    redelivery: Arc<MemoryRedelivery>,
    clock: ManualClock,
}

impl Env {
    fn new() -> Self {
        Env {
            dlq: MemoryQueue::new("dlq"),
            redelivery: MemoryRedelivery::new(),
            clock: ManualClock::at_secs(100),
        }
    }
    fn ctx(&self, deadline: Option<Instant>) -> BatchContext<'_> {
        BatchContext {
            dead_letters: self.dlq.as_ref(),
            redelivery: self.redelivery.as_ref(),
            clock: &self.clock,
            deadline,
        }
    }
}

#[tokio::test]
async fn retryable_failures_back_off_and_permanent_ones_are_dead_lettered() {
    let env = Env::new();
    let records = [
        record("1", "ok", 1),
        record("2", "transient", 3),
        record("3", "bad", 1),
        record("4", "ok", 1),
    ];
    let failed = process_batch(
        &records,
        &Scripted::default(),
        &env.ctx(None),
        &BatchSettings::default(),
    )
    .await;
    assert_eq!(failed, vec!["2".to_string()]);
    // the third delivery waits 60 s * 2^2
    assert_eq!(env.redelivery.delays(), vec![("rh-2".to_string(), 240)]);
    let dead = env.dlq.messages();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "bad");
    assert_eq!(dead[0].attribute("failure_reason"), Some("malformed event"));
    assert_eq!(dead[0].attribute("event_id"), Some("evt_3"));
    assert_eq!(dead[0].attribute("failed_at_ms"), Some("100000"));
    assert_eq!(dead[0].attribute("deliveries"), Some("1"));
}

#[tokio::test]
async fn the_last_allowed_delivery_dead_letters_with_the_last_reason() {
    let env = Env::new();
    let settings = BatchSettings::default();
    let last = settings.retry.max_deliveries;
    let failed = process_batch(
        &[record("7", "transient", last)],
        &Scripted::default(),
        &env.ctx(None),
        &settings,
    )
    .await;
    assert!(failed.is_empty(), "acknowledged once it is on the DLQ");
    let dead = env.dlq.messages();
    assert_eq!(dead.len(), 1);
    let reason = dead[0].attribute("failure_reason").unwrap();
    assert!(reason.contains("throttled"), "{reason}");
    assert!(
        reason.contains(&format!("after {last} deliveries")),
        "{reason}"
    );
    assert_eq!(
        dead[0].attribute("deliveries"),
        Some(last.to_string().as_str())
    );
    assert!(env.redelivery.delays().is_empty());
}

fn waited(mut r: BatchRecord, waits: u32) -> BatchRecord {
    r.attributes.push((ATTR_WAITS.into(), waits.to_string()));
    r
}

/// Found by the 10,000-event chaos run: of 1,654 messages dead-lettered, 1,251
/// had only found their step held by another worker, and one was dead-lettered
/// again after the redrive. Waiting spends no failure budget now.
#[tokio::test]
async fn work_held_by_another_worker_waits_on_the_queue_instead_of_the_dlq() {
    let env = Env::new();
    let settings = BatchSettings::default();
    let last = settings.retry.max_deliveries;
    let failed = process_batch(
        &[
            record("1", "held", last),
            waited(record("2", "held", last), 3),
        ],
        &Scripted::default(),
        &env.ctx(None),
        &settings,
    )
    .await;
    assert!(
        failed.is_empty(),
        "this delivery is done with; its copy waits"
    );
    assert!(env.dlq.messages().is_empty());
    let requeued = env.redelivery.requeued();
    assert_eq!(requeued.len(), 2);
    let (first, delay) = &requeued[0];
    assert_eq!((first.body.as_str(), *delay), ("held", 60));
    assert_eq!(
        first.attribute("event_id"),
        Some("evt_1"),
        "attributes kept"
    );
    assert_eq!(first.attribute(ATTR_WAITS), Some("1"));
    let (fourth, delay) = &requeued[1];
    assert_eq!((fourth.attribute(ATTR_WAITS), *delay), (Some("4"), 480));
    assert_eq!(
        fourth
            .attributes
            .iter()
            .filter(|(k, _)| k == ATTR_WAITS)
            .count(),
        1
    );
    // before the last delivery, contention retries like any retryable failure
    let failed = process_batch(
        &[record("3", "held", 1)],
        &Scripted::default(),
        &env.ctx(None),
        &settings,
    )
    .await;
    assert_eq!(failed, vec!["3".to_string()]);
    assert_eq!(env.redelivery.delays(), vec![("rh-3".to_string(), 60)]);
}

#[tokio::test]
async fn waits_are_bounded_and_a_long_wait_is_dead_lettered_with_its_count() {
    let env = Env::new();
    let settings = BatchSettings::default();
    let last = settings.retry.max_deliveries;
    let held = waited(record("1", "held", last), MAX_WAITS - 1);
    process_batch(&[held], &Scripted::default(), &env.ctx(None), &settings).await;
    assert_eq!(
        env.redelivery.requeued()[0].1,
        900,
        "SQS delays a send 15 minutes at most"
    );
    let spent = waited(record("2", "held", last), MAX_WAITS);
    process_batch(&[spent], &Scripted::default(), &env.ctx(None), &settings).await;
    let dead = env.dlq.messages();
    assert_eq!(dead.len(), 1);
    let reason = dead[0].attribute("failure_reason").unwrap();
    assert!(
        reason.contains(&format!("and {MAX_WAITS} waits for another worker")),
        "{reason}"
    );
    assert_eq!(
        dead[0].attribute(ATTR_WAITS),
        None,
        "a redriven message waits afresh"
    );
}

#[tokio::test]
async fn a_queue_that_refuses_the_waiting_copy_gets_the_delivery_back() {
    let env = Env::new();
    env.redelivery.refuse_requeue();
    let settings = BatchSettings::default();
    let failed = process_batch(
        &[record("1", "held", settings.retry.max_deliveries)],
        &Scripted::default(),
        &env.ctx(None),
        &settings,
    )
    .await;
    assert_eq!(failed, vec!["1".to_string()]);
    assert!(env.dlq.messages().is_empty() && env.redelivery.requeued().is_empty());
}

#[tokio::test]
async fn a_dlq_outage_keeps_the_message_for_redelivery() {
    let env = Env::new();
    env.dlq.fail(true);
    let failed = process_batch(
        &[record("9", "bad", 1)],
        &Scripted::default(),
        &env.ctx(None),
        &BatchSettings::default(),
    )
    .await;
    assert_eq!(failed, vec!["9".to_string()]);
}

#[test]
fn the_default_budget_rides_out_a_day_long_outage() {
    let p = RetryPolicy::default();
    let delays: Vec<u32> = (1..p.max_deliveries).map(|d| p.delay_after(d)).collect();
    assert_eq!(&delays[..8], &[60, 120, 240, 480, 960, 1920, 3840, 7200]);
    assert!(delays.iter().all(|d| *d <= MAX_VISIBILITY_SECS));
    assert_eq!(p.budget_secs(), 94_020);
    assert!(p.budget_secs() >= 24 * 3600);
    // overflow-safe for any delivery count
    assert_eq!(p.delay_after(u32::MAX), 7200);
    let huge = RetryPolicy {
        base_delay_secs: u32::MAX,
        max_delay_secs: u32::MAX,
        max_deliveries: 3,
    };
    assert_eq!(huge.delay_after(40), MAX_VISIBILITY_SECS);
}

#[tokio::test(start_paused = true)]
async fn records_run_concurrently_but_one_orders_records_in_sequence() {
    let env = Env::new();
    let handler = Scripted {
        work: Duration::from_secs(2),
        ..Default::default()
    };
    let mut records: Vec<BatchRecord> = (0..8).map(|i| record(&i.to_string(), "ok", 1)).collect();
    // three messages of one order, arriving 1, 4, 6
    for i in [1usize, 4, 6] {
        records[i].attributes[1].1 = "order-x".into();
    }
    let started = Instant::now();
    let failed = process_batch(
        &records,
        &handler,
        &env.ctx(None),
        &BatchSettings {
            concurrency: 4,
            ..Default::default()
        },
    )
    .await;
    assert!(failed.is_empty());
    // 6 groups (5 singles + one of 3) on 4 lanes: the order's 3 records take 6 s; all in 6 s, not 16 s
    assert_eq!(started.elapsed(), Duration::from_secs(6));
    let log = handler.log.lock().unwrap().clone();
    let of_order: Vec<_> = log
        .iter()
        .filter(|(id, _)| ["1", "4", "6"].contains(&id.as_str()))
        .cloned()
        .collect();
    let expected: Vec<(String, &str)> = ["1", "4", "6"]
        .iter()
        .flat_map(|id| [(id.to_string(), "start"), (id.to_string(), "end")])
        .collect();
    assert_eq!(
        of_order, expected,
        "one order's records never overlap and keep their order"
    );
}

#[tokio::test(start_paused = true)]
async fn no_record_starts_without_time_to_finish() {
    let env = Env::new();
    let handler = Scripted {
        work: Duration::from_secs(3),
        ..Default::default()
    };
    let records: Vec<BatchRecord> = (1..=4).map(|i| record(&i.to_string(), "ok", 1)).collect();
    let deadline = Instant::now() + Duration::from_secs(7);
    let failed = process_batch(
        &records,
        &handler,
        &env.ctx(Some(deadline)),
        &BatchSettings {
            concurrency: 1,
            min_time_to_start: Duration::from_secs(3),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(failed, vec!["3".to_string(), "4".to_string()]);
    let seen = handler.saw_deadline.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some(Duration::from_secs(7)), Some(Duration::from_secs(4))],
        "the handler sees the deadline"
    );
    assert!(
        env.redelivery.delays().is_empty(),
        "unstarted records are not backed off"
    );
    assert!(env.dlq.messages().is_empty());
}

#[test]
fn a_batch_reports_its_outcomes_as_one_emf_line() {
    use super::{batch_metrics, Outcome};
    let line = batch_metrics(
        "payments",
        &[
            Outcome::Done,
            Outcome::Done,
            Outcome::Retried,
            Outcome::Redeliver,
            Outcome::DeadLettered,
        ],
        1_795_651_200_000,
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["Flow"], "payments");
    assert_eq!(
        (
            v["MessagesProcessed"].as_f64(),
            v["MessagesRetried"].as_f64(),
            v["MessagesDeadLettered"].as_f64()
        ),
        (Some(2.0), Some(2.0), Some(1.0))
    );
    assert_eq!(
        v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
        "Flow"
    );
}

#[test]
fn a_dead_letter_reason_states_the_retry_budget_in_its_own_unit() {
    // The chaos run's dead letters on the local stack (3 deliveries 1-2 s apart) said "about 1 h".
    assert_eq!(about(3), "3 s");
    assert_eq!(about(119), "119 s");
    assert_eq!(about(120), "2 min");
    assert_eq!(about(7_199), "120 min");
    assert_eq!(about(94_020), "27 h");
    let local = RetryPolicy {
        base_delay_secs: 1,
        max_delay_secs: 2,
        max_deliveries: 3,
    };
    assert_eq!(about(local.budget_secs()), "3 s");
}
