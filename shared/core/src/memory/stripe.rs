//! An in-memory Stripe that keeps Stripe's idempotency-key semantics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::stripe::objects::{Charge, ChargeStatus, PaymentIntent, PaymentIntentStatus};
use crate::stripe::{NewPaymentIntent, StripeApi, StripeApiError};

#[derive(Default)]
pub struct MemoryStripe {
    intents: Mutex<HashMap<String, PaymentIntent>>,
    charges: Mutex<HashMap<String, Charge>>,
    /// idempotency key -> (request fingerprint, PaymentIntent id)
    keys: Mutex<HashMap<String, (String, String)>>,
    next: AtomicUsize,
    creates: AtomicUsize,
    failures: Mutex<Vec<StripeApiError>>,
}

impl MemoryStripe {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// PaymentIntents Stripe really created (idempotent replays excluded).
    pub fn created(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
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
                created: pi.created,
                livemode: false,
            },
        );
        charge_id
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
            created: 1_795_651_200,
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

    async fn retrieve_charge(&self, id: &str) -> Result<Charge, StripeApiError> {
        self.charges
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| missing("charge", id))
    }
}

fn missing(kind: &str, id: &str) -> StripeApiError {
    StripeApiError::InvalidRequest {
        status: 404,
        code: Some("resource_missing".into()),
        param: Some("id".into()),
        message: format!("No such {kind}: '{id}'"),
    }
}
