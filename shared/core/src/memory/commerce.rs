//! An in-memory commerce platform with Magento's rules: an order is invoiced
//! once, invoicing makes it paid, unknown orders are not found.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::commerce::{
    CommercePlatform, Order, OrderComment, OrderPage, PaymentCapture, PaymentState, PlatformError,
};

#[derive(Default)]
pub struct MemoryPlatform {
    orders: Mutex<BTreeMap<String, Order>>,
    invoices: Mutex<Vec<(String, PaymentCapture)>>,
    failures: Mutex<Vec<PlatformError>>,
}

impl MemoryPlatform {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
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

    fn not_found(id: &str) -> PlatformError {
        PlatformError::NotFound {
            platform: "magento".into(),
            order_id: id.into(),
        }
    }
}

#[async_trait]
impl CommercePlatform for MemoryPlatform {
    fn platform(&self) -> &str {
        "magento"
    }

    fn store(&self) -> &str {
        "default"
    }

    async fn get_order(&self, order_id: &str) -> Result<Order, PlatformError> {
        self.injected()?;
        self.orders
            .lock()
            .unwrap()
            .get(order_id)
            .cloned()
            .ok_or_else(|| Self::not_found(order_id))
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
            .ok_or_else(|| Self::not_found(order_id))?;
        order.comments.insert(0, comment.text.clone());
        if let Some(status) = &comment.status {
            order.status = status.clone();
        }
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
            .ok_or_else(|| Self::not_found(order_id))?;
        if order.payment_state != PaymentState::AwaitingPayment {
            return Err(PlatformError::Rejected {
                platform: "magento".into(),
                status: 400,
                message: "The order does not allow an invoice to be created.".into(),
            });
        }
        order.payment_state = PaymentState::Paid;
        order.state = "processing".into();
        order.status = "processing".into();
        order.total_invoiced = order.grand_total;
        let mut invoices = self.invoices.lock().unwrap();
        invoices.push((order_id.into(), capture.clone()));
        Ok(invoices.len().to_string())
    }

    async fn orders_updated_since(
        &self,
        since: &str,
        page: u32,
        page_size: u32,
    ) -> Result<OrderPage, PlatformError> {
        self.injected()?;
        let mut matching: Vec<Order> = self
            .orders
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.updated_at.as_str() >= since)
            .cloned()
            .collect();
        matching.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        let total_count = matching.len() as u64;
        let start = (page.saturating_sub(1) * page_size) as usize;
        Ok(OrderPage {
            orders: matching
                .into_iter()
                .skip(start)
                .take(page_size as usize)
                .collect(),
            total_count,
        })
    }
}
