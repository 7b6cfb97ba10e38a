//! An in-memory commerce platform with Magento's rules: an order is invoiced
//! once, invoicing makes it paid, only a paid order is refunded and never by
//! more than it has left (refunding all of it closes it), unknown orders are
//! not found, and every
//! write stamps the order's `updated_at` with the platform's clock, to the
//! second, as real platforms do (so pollers see their own writes move orders).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::utc_datetime;
use crate::commerce::{
    AwaitingRefunds, ChangeKey, CommercePlatform, CustomerUpdate, Order, OrderComment,
    PaymentCapture, PaymentState, PlatformCustomer, PlatformError, PlatformRefund, PolledOrder,
    PolledRefund, RefundIntake, RefundRecord,
};
use crate::money::MinorUnit;

/// 2026-11-26 12:00:00 UTC, after every fixture order's timestamps.
const PLATFORM_CLOCK_START: i64 = 1_795_694_400;

pub struct MemoryPlatform {
    name: String,
    store: String,
    orders: Mutex<BTreeMap<String, Order>>,
    unreadable: Mutex<BTreeMap<String, (String, String)>>,
    invoices: Mutex<Vec<(String, PaymentCapture)>>,
    refund_notes: Mutex<Vec<(String, String)>>,
    /// (order id, what the platform shows, what was asked, created at); a
    /// merchant's own refund has an empty comment in what was asked
    refunds: Mutex<Vec<(String, PlatformRefund, RefundRecord, String)>>,
    failures: Mutex<Vec<PlatformError>>,
    now_secs: Mutex<i64>,
    intake: Mutex<RefundIntake>,
    customers: Mutex<BTreeMap<String, PlatformCustomer>>,
    customer_writes: Mutex<Vec<(String, CustomerUpdate)>>,
}

impl Default for MemoryPlatform {
    fn default() -> Self {
        MemoryPlatform {
            name: "magento".into(),
            store: "default".into(),
            orders: Mutex::default(),
            unreadable: Mutex::default(),
            invoices: Mutex::default(),
            refund_notes: Mutex::default(),
            refunds: Mutex::default(),
            failures: Mutex::default(),
            now_secs: Mutex::new(PLATFORM_CLOCK_START),
            intake: Mutex::new(RefundIntake::Created),
            customers: Mutex::default(),
            customer_writes: Mutex::default(),
        }
    }
}

impl MemoryPlatform {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A platform of another name and store (orders put in it should say so).
    pub fn named(platform: &str, store: &str) -> Arc<Self> {
        Arc::new(MemoryPlatform {
            name: platform.into(),
            store: store.into(),
            ..Self::default()
        })
    }

    /// Moves the platform's clock (it stamps `updated_at` on every write).
    pub fn advance_clock(&self, secs: i64) {
        *self.now_secs.lock().unwrap() += secs;
    }

    fn stamp(&self) -> String {
        utc_datetime(*self.now_secs.lock().unwrap())
    }

    /// A registered customer, as a shopper or merchant saves one (stamped now).
    pub fn save_customer(
        &self,
        id: &str,
        email: &str,
        first: &str,
        last: &str,
    ) -> PlatformCustomer {
        let mut customers = self.customers.lock().unwrap();
        let customer = customers
            .entry(id.to_string())
            .or_insert_with(|| PlatformCustomer {
                reference: crate::commerce::CustomerRef {
                    platform: self.name.clone(),
                    store: self.store.clone(),
                    customer_id: id.into(),
                },
                email: String::new(),
                first_name: None,
                last_name: None,
                phone: None,
                address: None,
                stripe_customer_id: None,
                updated_at: String::new(),
            });
        customer.email = email.into();
        customer.first_name = Some(first.into());
        customer.last_name = Some(last.into());
        customer.updated_at = utc_datetime(*self.now_secs.lock().unwrap());
        customer.clone()
    }

    pub fn customer(&self, id: &str) -> PlatformCustomer {
        self.customers.lock().unwrap()[id].clone()
    }

    /// Tally's writes to customer `id`.
    pub fn customer_writes(&self, id: &str) -> Vec<CustomerUpdate> {
        self.customer_writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, u)| u.clone())
            .collect()
    }

    /// An order the adapter could not read (as a real adapter reports one).
    pub fn put_unreadable(&self, order_id: &str, updated_at: &str, reason: &str) {
        self.unreadable
            .lock()
            .unwrap()
            .insert(order_id.into(), (updated_at.into(), reason.into()));
    }

    pub fn put(&self, order: Order) {
        self.orders
            .lock()
            .unwrap()
            .insert(order.reference.order_id.clone(), order);
    }

    pub fn order(&self, id: &str) -> Order {
        self.orders.lock().unwrap()[id].clone()
    }

    pub fn invoices(&self) -> Vec<(String, PaymentCapture)> {
        self.invoices.lock().unwrap().clone()
    }

    /// Every refund recorded, with the order it is on.
    pub fn refunds(&self) -> Vec<(String, RefundRecord)> {
        self.refunds
            .lock()
            .unwrap()
            .iter()
            .map(|(o, _, r, _)| (o.clone(), r.clone()))
            .collect()
    }

    /// A refund the merchant makes on the platform (a credit memo naming no
    /// Stripe refund); returns its id. Refuses what `record_refund` refuses.
    pub fn merchant_refund(&self, order_id: &str, amount: i64) -> Result<String, PlatformError> {
        let currency = self.order(order_id).currency;
        let record = RefundRecord {
            amount: crate::money::Money {
                amount: MinorUnit::new(amount),
                currency,
            },
            stripe_refund_id: String::new(),
            charge_id: String::new(),
            comment: String::new(),
            notify_customer: false,
        };
        self.record(order_id, &record)
    }

    /// Serves its merchant refunds as Znode serves returns (`RefundIntake::Awaiting`).
    pub fn set_refund_intake(&self, intake: RefundIntake) {
        *self.intake.lock().unwrap() = intake;
    }

    /// Drops what `note_refund_sent` wrote on a record (as if it never ran).
    pub fn forget_refund_note(&self, order_id: &str, refund_id: &str) {
        if let Some((_, shown, _, _)) = self
            .refunds
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(o, shown, _, _)| o == order_id && shown.id == refund_id)
        {
            shown.stripe_refund_id = None;
            shown.awaiting = true;
        }
        self.refund_notes
            .lock()
            .unwrap()
            .retain(|(id, _)| id != refund_id);
    }

    /// The text noted on a refund record (`note_refund_sent`).
    pub fn refund_notes(&self) -> Vec<(String, String)> {
        self.refund_notes.lock().unwrap().clone()
    }

    pub fn fail_next(&self, errors: Vec<PlatformError>) {
        *self.failures.lock().unwrap() = errors;
    }

    fn injected(&self) -> Result<(), PlatformError> {
        let mut f = self.failures.lock().unwrap();
        match f.is_empty() {
            true => Ok(()),
            false => Err(f.remove(0)),
        }
    }

    fn not_found(&self, id: &str) -> PlatformError {
        PlatformError::NotFound {
            platform: self.name.clone(),
            order_id: id.into(),
        }
    }
}

impl MemoryPlatform {
    /// A record as the refund polls read it.
    fn polled(&self, order_id: &str, shown: &PlatformRefund, at: &str) -> PolledRefund {
        PolledRefund {
            order: crate::commerce::OrderRef {
                platform: self.name.clone(),
                store: self.store.clone(),
                order_id: order_id.into(),
            },
            refund: shown.clone(),
            created_at: at.into(),
        }
    }

    fn record(&self, order_id: &str, refund: &RefundRecord) -> Result<String, PlatformError> {
        let mut orders = self.orders.lock().unwrap();
        let order = orders
            .get_mut(order_id)
            .ok_or_else(|| self.not_found(order_id))?;
        let refused = |message: String| PlatformError::Rejected {
            platform: self.name.clone(),
            status: 400,
            message,
        };
        if order.total_invoiced == MinorUnit::ZERO {
            return Err(refused(
                "The order does not allow a creditmemo to be created.".into(),
            ));
        }
        if refund.amount.currency != order.currency {
            return Err(refused(format!(
                "a {} refund on a {} order",
                refund.amount.currency, order.currency
            )));
        }
        let mut refunds = self.refunds.lock().unwrap();
        let refunded: i64 = refunds
            .iter()
            .filter(|(o, _, _, _)| o == order_id)
            .map(|(_, shown, _, _)| shown.amount.get())
            .sum();
        let left = order.total_invoiced.get() - refunded;
        if refund.amount.amount.get() <= 0 || refund.amount.amount.get() > left {
            return Err(refused(format!(
                "The most money available to refund is {}.",
                order.currency.to_major(MinorUnit::new(left))
            )));
        }
        let id = (refunds.len() + 1).to_string();
        refunds.push((
            order_id.into(),
            PlatformRefund {
                id: id.clone(),
                amount: refund.amount.amount,
                stripe_refund_id: Some(refund.stripe_refund_id.clone()).filter(|id| !id.is_empty()),
                awaiting: refund.stripe_refund_id.is_empty(),
            },
            refund.clone(),
            self.stamp(),
        ));
        if refund.amount.amount.get() == left {
            order.state = "closed".into();
            order.status = "closed".into();
        }
        order.updated_at = self.stamp();
        Ok(id)
    }
}

#[async_trait]
impl CommercePlatform for MemoryPlatform {
    fn platform(&self) -> &str {
        &self.name
    }

    fn store(&self) -> &str {
        &self.store
    }

    async fn get_customer(&self, customer_id: &str) -> Result<PlatformCustomer, PlatformError> {
        self.injected()?;
        self.customers
            .lock()
            .unwrap()
            .get(customer_id)
            .cloned()
            .ok_or_else(|| PlatformError::CustomerNotFound {
                platform: self.name.clone(),
                customer_id: customer_id.into(),
            })
    }

    async fn find_customer_by_email(
        &self,
        email: &str,
    ) -> Result<Option<PlatformCustomer>, PlatformError> {
        self.injected()?;
        let wanted = crate::commerce::normalize_email(email);
        Ok(self
            .customers
            .lock()
            .unwrap()
            .values()
            .find(|c| crate::commerce::normalize_email(&c.email) == wanted)
            .cloned())
    }

    async fn create_customer(
        &self,
        profile: &crate::commerce::CustomerProfile,
        stripe_customer_id: &str,
    ) -> Result<PlatformCustomer, PlatformError> {
        self.injected()?;
        let id = format!("{}", 900 + self.customers.lock().unwrap().len());
        let (first, last) =
            crate::commerce::split_name(profile.name.as_deref().unwrap_or("-"), None);
        self.save_customer(&id, &profile.email, &first, &last);
        let update = CustomerUpdate {
            profile: Some(profile.clone()),
            stripe_customer_id: Some(stripe_customer_id.into()),
        };
        self.update_customer(&id, &update).await?;
        Ok(self.customer(&id))
    }

    async fn customers_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<crate::commerce::ChangedCustomer>, PlatformError> {
        self.injected()?;
        let mut changed: Vec<_> = self
            .customers
            .lock()
            .unwrap()
            .values()
            .filter(|c| key.is_before(&c.reference.customer_id, &c.updated_at))
            .map(|c| crate::commerce::ChangedCustomer {
                customer_id: c.reference.customer_id.clone(),
                updated_at: c.updated_at.clone(),
            })
            .collect();
        changed
            .sort_by(|a, b| (&a.updated_at, &a.customer_id).cmp(&(&b.updated_at, &b.customer_id)));
        changed.truncate(limit as usize);
        Ok(changed)
    }

    async fn update_customer(
        &self,
        customer_id: &str,
        update: &CustomerUpdate,
    ) -> Result<(), PlatformError> {
        self.injected()?;
        let stamp = self.stamp();
        let mut customers = self.customers.lock().unwrap();
        let customer =
            customers
                .get_mut(customer_id)
                .ok_or_else(|| PlatformError::CustomerNotFound {
                    platform: self.name.clone(),
                    customer_id: customer_id.into(),
                })?;
        if let Some(p) = &update.profile {
            let (first, last) = crate::commerce::split_name(
                p.name.as_deref().unwrap_or(""),
                customer.last_name.as_deref(),
            );
            customer.email = p.email.clone();
            customer.first_name = Some(first);
            customer.last_name = Some(last);
            // As Magento: the phone lives on the billing address, so none without one.
            customer.phone = p.address.as_ref().and(p.phone.clone());
            customer.address = p.address.clone();
        }
        if let Some(id) = &update.stripe_customer_id {
            customer.stripe_customer_id = Some(id.clone());
        }
        customer.updated_at = stamp;
        self.customer_writes
            .lock()
            .unwrap()
            .push((customer_id.into(), update.clone()));
        Ok(())
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        self.injected()?;
        self.orders
            .lock()
            .unwrap()
            .get(order_id)
            .cloned()
            .ok_or_else(|| self.not_found(order_id))
    }

    async fn find_order_by_number(&self, number: &str) -> Result<Option<Order>, PlatformError> {
        self.injected()?;
        Ok(self
            .orders
            .lock()
            .unwrap()
            .values()
            .find(|o| o.increment_id == number)
            .cloned())
    }

    async fn add_order_comment(
        &self,
        order_id: &str,
        comment: &OrderComment,
    ) -> Result<(), PlatformError> {
        self.injected()?;
        let mut orders = self.orders.lock().unwrap();
        let order = orders
            .get_mut(order_id)
            .ok_or_else(|| self.not_found(order_id))?;
        order.comments.insert(0, comment.text.clone());
        if let Some(status) = &comment.status {
            order.status = status.clone();
        }
        order.updated_at = self.stamp();
        Ok(())
    }

    async fn record_payment(
        &self,
        order_id: &str,
        capture: &PaymentCapture,
    ) -> Result<String, PlatformError> {
        self.injected()?;
        let mut orders = self.orders.lock().unwrap();
        let order = orders
            .get_mut(order_id)
            .ok_or_else(|| self.not_found(order_id))?;
        if order.payment_state != PaymentState::AwaitingPayment {
            return Err(PlatformError::Rejected {
                platform: self.name.clone(),
                status: 400,
                message: "The order does not allow an invoice to be created.".into(),
            });
        }
        order.payment_state = PaymentState::Paid;
        order.state = "processing".into();
        order.status = "processing".into();
        order.total_invoiced = order.grand_total;
        order.updated_at = self.stamp();
        let mut invoices = self.invoices.lock().unwrap();
        invoices.push((order_id.into(), capture.clone()));
        Ok(invoices.len().to_string())
    }

    async fn refunds_of(&self, order_id: &str) -> Result<Vec<PlatformRefund>, PlatformError> {
        self.injected()?;
        if !self.orders.lock().unwrap().contains_key(order_id) {
            return Err(self.not_found(order_id));
        }
        Ok(self
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, _, _, _)| o == order_id)
            .map(|(_, shown, _, _)| shown.clone())
            .collect())
    }

    async fn record_refund(
        &self,
        order_id: &str,
        refund: &RefundRecord,
    ) -> Result<String, PlatformError> {
        self.injected()?;
        self.record(order_id, refund)
    }

    async fn refunds_created_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledRefund>, PlatformError> {
        self.injected()?;
        let mut found: Vec<PolledRefund> = self
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, shown, _, at)| key.is_before(&shown.id, at))
            .map(|(order_id, shown, _, at)| self.polled(order_id, shown, at))
            .collect();
        found.sort_by(|a, b| {
            (&a.created_at, a.refund.id.len(), &a.refund.id).cmp(&(
                &b.created_at,
                b.refund.id.len(),
                &b.refund.id,
            ))
        });
        found.truncate(limit as usize);
        Ok(found)
    }

    fn refund_intake(&self) -> RefundIntake {
        *self.intake.lock().unwrap()
    }

    /// Records awaiting a refund by id (as numbers), after `after`.
    async fn refunds_awaiting(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AwaitingRefunds, PlatformError> {
        self.injected()?;
        let key = |id: &str| (id.len(), id.to_string());
        let mut found: Vec<PolledRefund> = self
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, shown, _, _)| shown.awaiting)
            .filter(|(_, shown, _, _)| after.is_none_or(|a| key(&shown.id) > key(a)))
            .map(|(order_id, shown, _, at)| self.polled(order_id, shown, at))
            .collect();
        found.sort_by_key(|p| key(&p.refund.id));
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        Ok(AwaitingRefunds {
            next: more
                .then(|| found.last().map(|p| p.refund.id.clone()))
                .flatten(),
            refunds: found,
            unreadable: Vec::new(),
        })
    }

    async fn note_refund_sent(
        &self,
        order_id: &str,
        refund_id: &str,
        sent: &RefundRecord,
    ) -> Result<(), PlatformError> {
        let text = sent.comment.as_str();
        self.injected()?;
        let mut refunds = self.refunds.lock().unwrap();
        let (_, shown, _, _) = refunds
            .iter_mut()
            .find(|(o, shown, _, _)| o == order_id && shown.id == refund_id)
            .ok_or_else(|| self.not_found(order_id))?;
        // as on Magento, the id is read back from the record's comments
        if shown.stripe_refund_id.is_none() {
            shown.stripe_refund_id = crate::commerce::stripe_refund_id_in(text);
            shown.awaiting = shown.stripe_refund_id.is_none();
        }
        self.refund_notes
            .lock()
            .unwrap()
            .push((refund_id.into(), text.into()));
        Ok(())
    }

    async fn orders_changed_after(
        &self,
        key: &ChangeKey,
        limit: u32,
    ) -> Result<Vec<PolledOrder>, PlatformError> {
        self.injected()?;
        let mut changed: Vec<PolledOrder> = self
            .orders
            .lock()
            .unwrap()
            .values()
            .filter(|o| key.is_before(&o.reference.order_id, &o.updated_at))
            .cloned()
            .map(|o| PolledOrder::Readable(Box::new(o)))
            .collect();
        for (id, (updated_at, reason)) in self.unreadable.lock().unwrap().iter() {
            if key.is_before(id, updated_at) {
                changed.push(PolledOrder::Unreadable {
                    order_id: id.clone(),
                    updated_at: updated_at.clone(),
                    reason: reason.clone(),
                });
            }
        }
        // Ids compare as numbers where they are numbers, as a database sorts an integer key.
        changed.sort_by(|a, b| {
            (a.updated_at(), a.order_id().len(), a.order_id()).cmp(&(
                b.updated_at(),
                b.order_id().len(),
                b.order_id(),
            ))
        });
        changed.truncate(limit as usize);
        Ok(changed)
    }
}
