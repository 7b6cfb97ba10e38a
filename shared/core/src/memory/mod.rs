//! In-memory adapters of every port, for unit tests, benchmarks and local tools.

mod commerce;
mod erp;
mod stripe;
mod stripe_customers;

pub use commerce::MemoryPlatform;
pub use erp::MemoryErp;
pub use stripe::MemoryStripe;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::{QueueError, StoreError};
use crate::message::OutboundMessage;
use crate::ports::{
    Claim, ClaimToken, EventJournal, IdempotencyStore, Queue, RecordOutcome, RecordedEvent,
};
use crate::secrets::{SecretError, SecretFetcher};

#[derive(Default)]
pub struct MemoryQueue {
    name: String,
    messages: Mutex<Vec<OutboundMessage>>,
    failing: AtomicBool,
}

impl MemoryQueue {
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(MemoryQueue {
            name: name.to_string(),
            ..Default::default()
        })
    }

    pub fn messages(&self) -> Vec<OutboundMessage> {
        self.messages.lock().unwrap().clone()
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), QueueError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError {
                queue: self.name.clone(),
                message: "simulated outage".into(),
            });
        }
        self.messages.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// Records the delays the batch helper asks for.
#[derive(Default)]
pub struct MemoryRedelivery {
    delays: Mutex<Vec<(String, u32)>>,
    requeued: Mutex<Vec<(OutboundMessage, u32)>>,
    refuse_requeue: AtomicBool,
}

impl MemoryRedelivery {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn delays(&self) -> Vec<(String, u32)> {
        self.delays.lock().unwrap().clone()
    }

    /// Messages put back on the queue, each with its delay.
    pub fn requeued(&self) -> Vec<(OutboundMessage, u32)> {
        self.requeued.lock().unwrap().clone()
    }

    /// Makes the queue refuse copies, as SQS does when it is unavailable.
    pub fn refuse_requeue(&self) {
        self.refuse_requeue.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl crate::batch::Redelivery for MemoryRedelivery {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        self.delays
            .lock()
            .unwrap()
            .push((receipt_handle.to_string(), delay_secs));
        Ok(())
    }

    async fn requeue_after(
        &self,
        message: &OutboundMessage,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        if self.refuse_requeue.load(Ordering::SeqCst) {
            return Err(QueueError {
                queue: "memory".into(),
                message: "unavailable".into(),
            });
        }
        if delay_secs > crate::batch::MAX_SEND_DELAY_SECS {
            return Err(QueueError {
                queue: "memory".into(),
                message: format!("DelaySeconds {delay_secs} is over SQS's limit"),
            });
        }
        self.requeued
            .lock()
            .unwrap()
            .push((message.clone(), delay_secs));
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Entry {
    InProgress {
        token: String,
        lease_expires_at: i64,
    },
    Completed {
        result: String,
    },
}

#[derive(Default)]
pub struct MemoryIdempotencyStore {
    entries: Mutex<HashMap<String, Entry>>,
    next_token: AtomicUsize,
    claims: AtomicUsize,
}

impl MemoryIdempotencyStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Claims asked for so far, granted or not (each is a conditional write in DynamoDB).
    pub fn claims(&self) -> usize {
        self.claims.load(Ordering::SeqCst)
    }

    /// Drops a key's record, as if the worker had crashed before completing it.
    pub fn forget(&self, key: &str) {
        self.entries.lock().unwrap().remove(key);
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn completed(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(match self.entries.lock().unwrap().get(key) {
            Some(Entry::Completed { result }) => Some(result.clone()),
            _ => None,
        })
    }

    async fn claim(&self, key: &str, now: i64, lease_secs: i64) -> Result<Claim, StoreError> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let mut entries = self.entries.lock().unwrap();
        match entries.get(key) {
            Some(Entry::Completed { result }) => {
                return Ok(Claim::Completed {
                    result: result.clone(),
                })
            }
            Some(Entry::InProgress {
                lease_expires_at, ..
            }) if *lease_expires_at >= now => {
                return Ok(Claim::InProgress {
                    lease_expires_at: *lease_expires_at,
                })
            }
            _ => {}
        }
        let token = format!("mem-{}", self.next_token.fetch_add(1, Ordering::SeqCst));
        entries.insert(
            key.to_string(),
            Entry::InProgress {
                token: token.clone(),
                lease_expires_at: now + lease_secs,
            },
        );
        Ok(Claim::Acquired(ClaimToken(token)))
    }

    async fn complete(
        &self,
        key: &str,
        token: &ClaimToken,
        result: &str,
        _now: i64,
    ) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get(key) {
            Some(Entry::InProgress { token: held, .. }) if *held == token.0 => {
                entries.insert(
                    key.to_string(),
                    Entry::Completed {
                        result: result.to_string(),
                    },
                );
                Ok(())
            }
            _ => Err(StoreError::LostClaim {
                key: key.to_string(),
            }),
        }
    }

    async fn release(&self, key: &str, token: &ClaimToken) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if matches!(entries.get(key), Some(Entry::InProgress { token: held, .. }) if *held == token.0)
        {
            entries.remove(key);
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryEventJournal {
    events: Mutex<HashMap<String, RecordedEvent>>,
    failing: AtomicBool,
}

impl MemoryEventJournal {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn events(&self) -> Vec<RecordedEvent> {
        self.events.lock().unwrap().values().cloned().collect()
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventJournal for MemoryEventJournal {
    async fn record(&self, event: &RecordedEvent) -> Result<RecordOutcome, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        let mut events = self.events.lock().unwrap();
        if events.contains_key(&event.event_id) {
            return Ok(RecordOutcome::AlreadyPresent);
        }
        events.insert(event.event_id.clone(), event.clone());
        Ok(RecordOutcome::Inserted)
    }

    async fn journaled(
        &self,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        let events = self.events.lock().unwrap();
        Ok(event_ids
            .iter()
            .filter(|id| events.contains_key(*id))
            .cloned()
            .collect())
    }
}

/// A secret held in memory; clones share the value, so a test can rotate it.
#[derive(Clone)]
pub struct MemorySecret {
    id: String,
    value: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl MemorySecret {
    pub fn new(id: &str, json: &str) -> Self {
        MemorySecret {
            id: id.to_string(),
            value: Arc::new(Mutex::new(json.to_string())),
            fetches: Arc::default(),
            failing: Arc::default(),
        }
    }

    pub fn set(&self, json: &str) {
        *self.value.lock().unwrap() = json.to_string();
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl SecretFetcher for MemorySecret {
    fn id(&self) -> &str {
        &self.id
    }

    async fn fetch(&self) -> Result<String, SecretError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SecretError::Unavailable {
                id: self.id.clone(),
                message: "simulated outage".into(),
            });
        }
        Ok(self.value.lock().unwrap().clone())
    }
}

/// In-memory `OrderLinks`, `CustomerLinks` and `Watermarks`, with the same conditional semantics.
#[derive(Default)]
pub struct MemoryState {
    failing_links: AtomicBool,
    links: Mutex<HashMap<String, String>>,
    settlements: Mutex<HashMap<String, String>>,
    customers: Mutex<HashMap<String, crate::ports::CustomerLink>>,
    customers_back: Mutex<HashMap<String, String>>,
    conflicts: Mutex<HashMap<String, String>>,
    marks: Mutex<HashMap<String, String>>,
}

impl MemoryState {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The conflict reported for a customer, if any.
    pub fn conflict(&self, key: &str) -> Option<String> {
        self.conflicts.lock().unwrap().get(key).cloned()
    }

    /// Every customer link (key -> link).
    pub fn customer_links(&self) -> HashMap<String, crate::ports::CustomerLink> {
        self.customers.lock().unwrap().clone()
    }

    /// Makes link writes fail, as a DynamoDB outage would.
    pub fn fail_links(&self, failing: bool) {
        self.failing_links.store(failing, Ordering::SeqCst);
    }

    pub fn links(&self) -> HashMap<String, String> {
        self.links.lock().unwrap().clone()
    }
}

#[async_trait]
impl crate::ports::OrderLinks for MemoryState {
    async fn payment_intent_for(&self, order_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.links.lock().unwrap().get(order_key).cloned())
    }

    async fn link_payment_intent(
        &self,
        order_key: &str,
        payment_intent_id: &str,
        _now_ms: i64,
    ) -> Result<crate::ports::LinkOutcome, StoreError> {
        if self.failing_links.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        let mut links = self.links.lock().unwrap();
        Ok(match links.get(order_key) {
            Some(existing) => crate::ports::LinkOutcome::AlreadyLinked(existing.clone()),
            None => {
                links.insert(order_key.into(), payment_intent_id.into());
                crate::ports::LinkOutcome::Linked
            }
        })
    }

    async fn settlement_for(&self, order_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.settlements.lock().unwrap().get(order_key).cloned())
    }

    async fn record_settlement(
        &self,
        order_key: &str,
        charge_id: &str,
        _now_ms: i64,
    ) -> Result<crate::ports::LinkOutcome, StoreError> {
        let mut settled = self.settlements.lock().unwrap();
        Ok(match settled.get(order_key) {
            Some(existing) => crate::ports::LinkOutcome::AlreadyLinked(existing.clone()),
            None => {
                settled.insert(order_key.into(), charge_id.into());
                crate::ports::LinkOutcome::Linked
            }
        })
    }
}

#[async_trait]
impl crate::ports::CustomerLinks for MemoryState {
    async fn customer_link(
        &self,
        key: &str,
    ) -> Result<Option<crate::ports::CustomerLink>, StoreError> {
        Ok(self.customers.lock().unwrap().get(key).cloned())
    }

    async fn customer_for_stripe(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.customers_back.lock().unwrap().get(id).cloned())
    }

    async fn link_customer(
        &self,
        key: &str,
        link: &crate::ports::CustomerLink,
        _now_ms: i64,
    ) -> Result<crate::ports::LinkOutcome, StoreError> {
        let mut links = self.customers.lock().unwrap();
        if let Some(existing) = links.get(key) {
            return Ok(crate::ports::LinkOutcome::AlreadyLinked(
                existing.stripe_customer_id.clone(),
            ));
        }
        links.insert(key.into(), link.clone());
        self.customers_back
            .lock()
            .unwrap()
            .insert(link.stripe_customer_id.clone(), key.into());
        Ok(crate::ports::LinkOutcome::Linked)
    }

    async fn record_synced(
        &self,
        key: &str,
        expected: &crate::ports::Synced,
        to: &crate::ports::Synced,
    ) -> Result<bool, StoreError> {
        let mut links = self.customers.lock().unwrap();
        match links.get_mut(key) {
            Some(link) if link.synced == *expected => {
                link.synced = to.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn report_conflict(&self, key: &str, report: &str) -> Result<(), StoreError> {
        self.conflicts
            .lock()
            .unwrap()
            .insert(key.into(), report.into());
        Ok(())
    }

    async fn unlink_customer(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.customers.lock().unwrap().remove(key);
        self.customers_back.lock().unwrap().remove(id);
        Ok(())
    }
}

#[async_trait]
impl crate::ports::Watermarks for MemoryState {
    async fn get(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.marks.lock().unwrap().get(name).cloned())
    }

    async fn advance(
        &self,
        name: &str,
        expected: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        let mut marks = self.marks.lock().unwrap();
        if marks.get(name).map(String::as_str) != expected {
            return Ok(false);
        }
        marks.insert(name.into(), to.into());
        Ok(true)
    }
}

/// Payout reports kept as the serialised JSON the DynamoDB adapter would store.
#[derive(Default)]
pub struct MemoryPayoutReports {
    ledgers: Mutex<HashMap<String, String>>,
    pages: Mutex<std::collections::BTreeMap<(String, u32), String>>,
    puts: AtomicUsize,
}

impl MemoryPayoutReports {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// How many times a ledger was saved (once per page, and at the end).
    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl crate::ports::PayoutReports for MemoryPayoutReports {
    async fn ledger(
        &self,
        payout_id: &str,
    ) -> Result<Option<crate::payouts::PayoutLedger>, StoreError> {
        let saved = self.ledgers.lock().unwrap().get(payout_id).cloned();
        saved.as_deref().map(from_json).transpose()
    }

    async fn save_ledger(&self, ledger: &crate::payouts::PayoutLedger) -> Result<(), StoreError> {
        let json = to_json(ledger)?;
        self.ledgers
            .lock()
            .unwrap()
            .insert(ledger.payout.clone(), json);
        self.puts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn save_page(
        &self,
        payout_id: &str,
        page: u32,
        lines: &[crate::payouts::ReportLine],
    ) -> Result<(), StoreError> {
        let json = to_json(&lines)?;
        self.pages
            .lock()
            .unwrap()
            .insert((payout_id.to_string(), page), json);
        Ok(())
    }

    async fn lines(&self, payout_id: &str) -> Result<Vec<crate::payouts::ReportLine>, StoreError> {
        let pages = self.pages.lock().unwrap();
        let mut out = Vec::new();
        for ((_, _), json) in pages.iter().filter(|((p, _), _)| p == payout_id) {
            out.extend(from_json::<Vec<crate::payouts::ReportLine>>(json)?);
        }
        Ok(out)
    }
}
