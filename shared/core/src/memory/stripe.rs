//! An in-memory Stripe that keeps Stripe's idempotency-key semantics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::money::MinorUnit;
use crate::stripe::api::CustomerWrite;
use crate::stripe::objects::Customer;
use crate::stripe::objects::{
    Charge, ChargeStatus, Metadata, ObjectId, PaymentIntent, PaymentIntentStatus, Payout, Refund,
    RefundStatus,
};
use crate::stripe::{NewPaymentIntent, NewRefund, StripeApi, StripeApiError};
use crate::stripe::{PayoutTransaction, PayoutTransactionsPage};

#[derive(Default)]
pub struct MemoryStripe {
    intents: Mutex<HashMap<String, PaymentIntent>>,
    charges: Mutex<HashMap<String, Charge>>,
    refunds: Mutex<Vec<Refund>>,
    /// idempotency key -> (request fingerprint, PaymentIntent or Refund id)
    keys: Mutex<HashMap<String, (String, String)>>,
    refund_creates: AtomicUsize,
    next: AtomicUsize,
    creates: AtomicUsize,
    searches: AtomicUsize,
    failures: Mutex<Vec<StripeApiError>>,
    live_key: Mutex<Option<bool>>,
    /// payout id -> (the payout, its transactions newest first)
    payouts: Mutex<HashMap<String, (Payout, Vec<PayoutTransaction>)>>,
    pub customers: super::stripe_customers::MemoryCustomers,
    /// Events as `GET /v1/events` lists them (see `put_event`).
    events: Mutex<Vec<crate::stripe::event_list::ListedEvent>>,
}

/// When the in-memory Stripe's PaymentIntents are created: 2026-11-26.
pub const PI_CREATED: i64 = 1_795_651_200;

impl MemoryStripe {
    pub fn new() -> Arc<Self> {
        let stripe = Self::default();
        *stripe.live_key.lock().unwrap() = Some(false);
        Arc::new(stripe)
    }

    /// The mode of the API key this Stripe is reached with.
    pub fn set_key_livemode(&self, live: Option<bool>) {
        *self.live_key.lock().unwrap() = live;
    }

    /// A payout as Stripe would report it, with its transactions (newest first).
    /// An event Stripe has (whether or not its webhook was delivered).
    pub fn put_event(&self, id: &str, event_type: &str, created: i64) {
        let raw = serde_json::json!({"id": id, "object": "event", "type": event_type,
            "created": created, "livemode": false, "data": {"object": {"id": format!("obj_{id}")}}});
        self.events
            .lock()
            .unwrap()
            .push(crate::stripe::event_list::ListedEvent {
                id: id.into(),
                event_type: event_type.into(),
                created,
                raw: raw.to_string(),
            });
    }

    pub fn put_payout(&self, payout: Payout, transactions: Vec<PayoutTransaction>) {
        self.payouts
            .lock()
            .unwrap()
            .insert(payout.id.clone(), (payout, transactions));
    }

    /// Stripe forgets idempotency keys after 24 hours.
    pub fn forget_idempotency_keys(&self) {
        self.keys.lock().unwrap().clear();
    }

    pub fn searches(&self) -> usize {
        self.searches.load(Ordering::SeqCst)
    }

    /// PaymentIntents Stripe really created (idempotent replays excluded).
    pub fn created(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }

    /// A charge's refunds, newest first (what `list_refunds` answers).
    pub fn list_refunds_now(&self, charge_id: &str) -> Vec<Refund> {
        self.refunds
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|r| r.charge.as_ref().is_some_and(|c| c.0 == charge_id))
            .cloned()
            .collect()
    }

    /// Refunds created through the API (idempotent replays excluded).
    pub fn refunds_created(&self) -> usize {
        self.refund_creates.load(Ordering::SeqCst)
    }

    pub fn intents(&self) -> Vec<PaymentIntent> {
        self.intents.lock().unwrap().values().cloned().collect()
    }

    /// Makes the next calls fail with these errors, in order.
    pub fn fail_next(&self, errors: Vec<StripeApiError>) {
        *self.failures.lock().unwrap() = errors;
    }

    /// Confirms like a card payment: success makes a charge; returns its id.
    pub fn succeed(&self, pi_id: &str) -> String {
        self.succeed_at(pi_id, PI_CREATED + 3_600)
    }

    /// `succeed`, with the charge made at `created` (unix seconds).
    pub fn succeed_at(&self, pi_id: &str, created: i64) -> String {
        let mut intents = self.intents.lock().unwrap();
        let pi = intents.get_mut(pi_id).expect("known PaymentIntent");
        let charge_id = format!("ch_mem_{}", self.next.fetch_add(1, Ordering::SeqCst));
        pi.status = PaymentIntentStatus::Succeeded;
        pi.amount_received = pi.amount;
        pi.latest_charge = Some(crate::stripe::objects::ObjectId(charge_id.clone()));
        self.charges.lock().unwrap().insert(
            charge_id.clone(),
            Charge {
                id: charge_id.clone(),
                amount: pi.amount,
                amount_captured: pi.amount,
                amount_refunded: Default::default(),
                currency: pi.currency,
                status: ChargeStatus::Succeeded,
                paid: true,
                refunded: false,
                captured: true,
                payment_intent: Some(crate::stripe::objects::ObjectId(pi.id.clone())),
                balance_transaction: None,
                customer: pi.customer.clone(),
                failure_code: None,
                failure_message: None,
                outcome: None,
                metadata: pi.metadata.clone(),
                created,
                livemode: false,
            },
        );
        charge_id
    }

    /// Refunds part or all of a charge as Stripe does (refusing more than
    /// remains); returns the refund id. `status` is where it starts.
    pub fn refund(
        &self,
        charge_id: &str,
        amount: i64,
        status: RefundStatus,
        metadata: &[(&str, &str)],
    ) -> Result<String, StripeApiError> {
        let mut charges = self.charges.lock().unwrap();
        let charge = charges
            .get_mut(charge_id)
            .ok_or_else(|| missing("charge", charge_id))?;
        let remaining = charge.amount.get() - charge.amount_refunded.get();
        if amount <= 0 || amount > remaining {
            return Err(StripeApiError::InvalidRequest {
                status: 400,
                code: Some("amount_too_large".into()),
                param: Some("amount".into()),
                message: format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"),
            });
        }
        charge.amount_refunded = MinorUnit::new(charge.amount_refunded.get() + amount);
        charge.refunded = charge.amount_refunded == charge.amount;
        let id = format!("re_mem_{}", self.next.fetch_add(1, Ordering::SeqCst));
        self.refunds.lock().unwrap().push(Refund {
            id: id.clone(),
            amount: MinorUnit::new(amount),
            currency: charge.currency,
            charge: Some(ObjectId(charge.id.clone())),
            payment_intent: charge.payment_intent.clone(),
            balance_transaction: None,
            status: Some(status),
            reason: None,
            failure_reason: None,
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Metadata>(),
            created: PI_CREATED + 7_200,
        });
        Ok(id)
    }

    /// Moves a refund on (pending -> succeeded, or -> failed, which gives the
    /// money back to the charge as Stripe's failure balance transaction does).
    pub fn settle_refund(
        &self,
        refund_id: &str,
        status: RefundStatus,
        failure_reason: Option<&str>,
    ) {
        let mut refunds = self.refunds.lock().unwrap();
        let refund = refunds
            .iter_mut()
            .find(|r| r.id == refund_id)
            .expect("known refund");
        if matches!(status, RefundStatus::Failed | RefundStatus::Canceled) {
            let mut charges = self.charges.lock().unwrap();
            let charge = charges
                .get_mut(&refund.charge.as_ref().expect("charge").0)
                .expect("known charge");
            charge.amount_refunded =
                MinorUnit::new(charge.amount_refunded.get() - refund.amount.get());
            charge.refunded = false;
        }
        refund.status = Some(status);
        refund.failure_reason = failure_reason.map(str::to_string);
    }

    fn injected(&self) -> Option<StripeApiError> {
        let mut f = self.failures.lock().unwrap();
        (!f.is_empty()).then(|| f.remove(0))
    }
}

#[async_trait]
impl StripeApi for MemoryStripe {
    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        let fingerprint = format!("{params:?}");
        if let Some((seen, id)) = self.keys.lock().unwrap().get(idempotency_key) {
            if *seen != fingerprint {
                return Err(StripeApiError::IdempotencyMismatch(idempotency_key.into()));
            }
            return Ok(self.intents.lock().unwrap()[id].clone());
        }
        let id = format!("pi_mem_{}", self.next.fetch_add(1, Ordering::SeqCst));
        let pi = PaymentIntent {
            id: id.clone(),
            amount: params.amount.amount,
            amount_received: Default::default(),
            currency: params.amount.currency,
            status: PaymentIntentStatus::RequiresPaymentMethod,
            customer: params
                .customer
                .clone()
                .map(crate::stripe::objects::ObjectId),
            latest_charge: None,
            description: params.description.clone(),
            metadata: params.metadata.iter().cloned().collect(),
            last_payment_error: None,
            created: PI_CREATED,
            livemode: false,
        };
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.intents.lock().unwrap().insert(id.clone(), pi.clone());
        self.keys
            .lock()
            .unwrap()
            .insert(idempotency_key.into(), (fingerprint, id));
        Ok(pi)
    }

    async fn create_customer(
        &self,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.customers.create(customer, idempotency_key)
    }

    async fn update_customer(
        &self,
        id: &str,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.customers.update(id, customer, idempotency_key)
    }

    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.customers
            .get(id)
            .ok_or_else(|| missing("customer", id))
    }

    async fn customers_with_email(&self, email: &str) -> Result<Vec<Customer>, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        Ok(self.customers.with_email(email))
    }

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.intents
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| missing("payment_intent", id))
    }

    async fn search_payment_intents(
        &self,
        metadata: &[(&str, &str)],
    ) -> Result<Vec<PaymentIntent>, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.searches.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .intents
            .lock()
            .unwrap()
            .values()
            .filter(|pi| {
                metadata
                    .iter()
                    .all(|(k, v)| pi.metadata.get(*k).map(String::as_str) == Some(*v))
            })
            .cloned()
            .collect())
    }

    async fn retrieve_event(
        &self,
        id: &str,
    ) -> Result<crate::stripe::event_list::ListedEvent, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| missing("event", id))
    }

    /// Pages of two, so callers page.
    async fn list_events(
        &self,
        created_gte: i64,
        types: &[&str],
        starting_after: Option<&str>,
    ) -> Result<crate::stripe::event_list::EventsPage, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        let mut all: Vec<_> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.created >= created_gte && types.contains(&e.event_type.as_str()))
            .cloned()
            .collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        let start = match starting_after {
            Some(after) => all
                .iter()
                .position(|e| e.id == after)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let rest = &all[start.min(all.len())..];
        Ok(crate::stripe::event_list::EventsPage {
            events: rest.iter().take(2).cloned().collect(),
            has_more: rest.len() > 2,
        })
    }

    async fn livemode(&self) -> Result<Option<bool>, StripeApiError> {
        Ok(*self.live_key.lock().unwrap())
    }

    async fn retrieve_charge(&self, id: &str) -> Result<Charge, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.charges
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| missing("charge", id))
    }

    async fn retrieve_refund(&self, id: &str) -> Result<Refund, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.refunds
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| missing("refund", id))
    }

    async fn create_refund(
        &self,
        params: &NewRefund,
        idempotency_key: &str,
    ) -> Result<Refund, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        let fingerprint = format!("{params:?}");
        let replayed = self.keys.lock().unwrap().get(idempotency_key).cloned();
        if let Some((seen, id)) = replayed {
            if seen != fingerprint {
                return Err(StripeApiError::IdempotencyMismatch(idempotency_key.into()));
            }
            return self.retrieve_refund(&id).await;
        }
        let metadata: Vec<(&str, &str)> = params
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let id = self.refund(
            &params.charge,
            params.amount.amount.get(),
            RefundStatus::Succeeded,
            &metadata,
        )?;
        self.refund_creates.fetch_add(1, Ordering::SeqCst);
        self.keys
            .lock()
            .unwrap()
            .insert(idempotency_key.into(), (fingerprint, id.clone()));
        self.retrieve_refund(&id).await
    }

    async fn retrieve_payout(&self, id: &str) -> Result<Payout, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        self.payouts
            .lock()
            .unwrap()
            .get(id)
            .map(|(p, _)| p.clone())
            .ok_or_else(|| missing("payout", id))
    }

    async fn payout_transactions(
        &self,
        payout_id: &str,
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<PayoutTransactionsPage, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        let payouts = self.payouts.lock().unwrap();
        let (payout, all) = payouts
            .get(payout_id)
            .ok_or_else(|| missing("payout", payout_id))?;
        if !payout.automatic {
            return Err(StripeApiError::InvalidRequest {
                status: 400,
                code: None,
                param: Some("payout".into()),
                message: "Balance transaction history can only be filtered on automatic transfers, not manual.".into(),
            });
        }
        let start = match starting_after {
            None => 0,
            Some(after) => {
                all.iter()
                    .position(|t| t.transaction.id == after)
                    .ok_or_else(|| missing("balance_transaction", after))?
                    + 1
            }
        };
        let end = (start + limit.clamp(1, 100) as usize).min(all.len());
        Ok(PayoutTransactionsPage {
            transactions: all[start..end].to_vec(),
            has_more: end < all.len(),
        })
    }

    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, StripeApiError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        // newest first, as Stripe lists them
        Ok(self
            .refunds
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|r| r.charge.as_ref().is_some_and(|c| c.0 == charge_id))
            .cloned()
            .collect())
    }
}

pub(super) fn missing(kind: &str, id: &str) -> StripeApiError {
    StripeApiError::InvalidRequest {
        status: 404,
        code: Some("resource_missing".into()),
        param: Some("id".into()),
        message: format!("No such {kind}: '{id}'"),
    }
}
