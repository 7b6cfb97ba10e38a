//! The in-memory Stripe's customers: idempotency keys bound to their
//! parameters, metadata merged on update, an exact (case-sensitive) email list,
//! and a record of every write so tests can count them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::commerce::CustomerProfile;
use crate::stripe::api::CustomerWrite;
use crate::stripe::objects::Customer;
use crate::stripe::StripeApiError;

#[derive(Default)]
pub struct MemoryCustomers {
    customers: Mutex<Vec<Customer>>,
    /// idempotency key -> (parameters, customer id)
    keys: Mutex<HashMap<String, (String, String)>>,
    /// (customer id, idempotency key or "dashboard") of every write that changed something.
    writes: Mutex<Vec<(String, String)>>,
}

impl MemoryCustomers {
    fn replay(&self, key: &str, params: &str) -> Result<Option<Customer>, StripeApiError> {
        match self.keys.lock().unwrap().get(key) {
            Some((seen, _)) if seen != params => {
                Err(StripeApiError::IdempotencyMismatch(key.into()))
            }
            Some((_, id)) => Ok(self.get(id)),
            None => Ok(None),
        }
    }

    pub fn create(&self, write: &CustomerWrite, key: &str) -> Result<Customer, StripeApiError> {
        let params = format!("create {write:?}");
        if let Some(done) = self.replay(key, &params)? {
            return Ok(done);
        }
        let mut customers = self.customers.lock().unwrap();
        let id = format!("cus_mem_{}", customers.len() + 1);
        let mut customer = Customer {
            id: id.clone(),
            email: None,
            name: None,
            phone: None,
            address: None,
            metadata: Default::default(),
            deleted: false,
            created: Some(crate::memory::stripe::PI_CREATED),
        };
        apply(&mut customer, write);
        customers.push(customer.clone());
        self.keys
            .lock()
            .unwrap()
            .insert(key.into(), (params, id.clone()));
        self.writes.lock().unwrap().push((id, key.into()));
        Ok(customer)
    }

    pub fn update(
        &self,
        id: &str,
        write: &CustomerWrite,
        key: &str,
    ) -> Result<Customer, StripeApiError> {
        let params = format!("update {id} {write:?}");
        if let Some(done) = self.replay(key, &params)? {
            return Ok(done);
        }
        let mut customers = self.customers.lock().unwrap();
        let customer = customers
            .iter_mut()
            .find(|c| c.id == id && !c.deleted)
            .ok_or_else(|| super::stripe::missing("customer", id))?;
        let before = customer.clone();
        apply(customer, write);
        if *customer != before {
            self.writes.lock().unwrap().push((id.into(), key.into()));
        }
        self.keys
            .lock()
            .unwrap()
            .insert(key.into(), (params, id.into()));
        Ok(customer.clone())
    }

    pub fn get(&self, id: &str) -> Option<Customer> {
        self.customers
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    pub fn with_email(&self, email: &str) -> Vec<Customer> {
        self.customers
            .lock()
            .unwrap()
            .iter()
            .filter(|c| !c.deleted && c.email.as_deref() == Some(email))
            .cloned()
            .collect()
    }

    /// Every live customer.
    pub fn all(&self) -> Vec<Customer> {
        self.customers
            .lock()
            .unwrap()
            .iter()
            .filter(|c| !c.deleted)
            .cloned()
            .collect()
    }

    /// A change made in the Dashboard (no idempotency key).
    pub fn edit(&self, id: &str, profile: &CustomerProfile) {
        let mut customers = self.customers.lock().unwrap();
        let customer = customers
            .iter_mut()
            .find(|c| c.id == id)
            .expect("customer exists");
        apply(
            customer,
            &CustomerWrite {
                profile: profile.clone(),
                metadata: Vec::new(),
            },
        );
        self.writes
            .lock()
            .unwrap()
            .push((id.into(), "dashboard".into()));
    }

    /// A customer made outside Tally (another integration, the Dashboard).
    pub fn insert(&self, profile: &CustomerProfile) -> String {
        let write = CustomerWrite {
            profile: profile.clone(),
            metadata: Vec::new(),
        };
        let n = self.customers.lock().unwrap().len();
        self.create(&write, &format!("outside-{n}")).unwrap().id
    }

    pub fn delete(&self, id: &str) {
        if let Some(c) = self
            .customers
            .lock()
            .unwrap()
            .iter_mut()
            .find(|c| c.id == id)
        {
            c.deleted = true;
        }
    }

    /// The writes that changed customer `id`, with their idempotency keys.
    pub fn writes_to(&self, id: &str) -> Vec<String> {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

fn apply(customer: &mut Customer, write: &CustomerWrite) {
    let p = &write.profile;
    // As Tally's form: what the profile lacks is left as it is, never cleared.
    customer.email = Some(p.email.clone());
    if p.name.is_some() {
        customer.name = p.name.clone();
    }
    if p.phone.is_some() {
        customer.phone = p.phone.clone();
    }
    if let Some(a) = &p.address {
        // An address is sent whole (a missing part unset), so it is replaced whole.
        customer.address = Some(a.clone());
    }
    for (k, v) in &write.metadata {
        customer.metadata.insert(k.clone(), v.clone());
    }
}
