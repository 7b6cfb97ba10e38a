//! A payments handler wired to in-memory adapters, with builders for orders
//! and events. Used by unit tests and the criterion benchmark.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::ManualClock;
use crate::commerce::{Order, OrderCustomer, OrderLine, OrderPayment, OrderRef, PaymentState};
use crate::config::{ErpAccounts, OrderToCashConfig};
use crate::flows::order_to_cash::{OrderToCash, OrderToCashSettings};
use crate::flows::payments::{order_created_message, PaymentsHandler};
use crate::memory::{
    MemoryErp, MemoryEventJournal, MemoryIdempotencyStore, MemoryPlatform, MemoryState,
    MemoryStripe,
};
use crate::message::QueueEnvelope;
use crate::money::{Currency, MinorUnit};
use crate::stripe::EventEnvelope;

pub struct Harness {
    pub handler: PaymentsHandler,
    pub stripe: Arc<MemoryStripe>,
    pub platform: Arc<MemoryPlatform>,
    pub erp: Arc<MemoryErp>,
    pub state: Arc<MemoryState>,
    pub journal: Arc<MemoryEventJournal>,
    pub store: Arc<MemoryIdempotencyStore>,
}

impl Harness {
    /// Loses a step's completion record, as a crash right after its work would.
    pub fn store_forget(&self, key: &str) {
        self.store.forget(key);
    }
}

pub fn harness() -> Harness {
    let platform = MemoryPlatform::new();
    harness_with_platform(platform.clone(), platform)
}

/// A harness whose flows reach the platform through `reach` (e.g. a slow or
/// failing wrapper around `platform`, which tests inspect).
pub fn harness_with_platform(
    reach: Arc<dyn crate::commerce::CommercePlatform>,
    platform: Arc<MemoryPlatform>,
) -> Harness {
    harness_posting(reach, platform, Default::default())
}

/// A harness whose paid orders become what `paid_orders` says in the ERP.
pub fn harness_posting_as(paid_orders: crate::config::PaidOrderPosting) -> Harness {
    let platform = MemoryPlatform::new();
    harness_posting(platform.clone(), platform, paid_orders)
}

fn harness_posting(
    reach: Arc<dyn crate::commerce::CommercePlatform>,
    platform: Arc<MemoryPlatform>,
    paid_orders: crate::config::PaidOrderPosting,
) -> Harness {
    let (stripe, erp, state, journal) = (
        MemoryStripe::new(),
        MemoryErp::new(),
        MemoryState::new(),
        MemoryEventJournal::new(),
    );
    let store = MemoryIdempotencyStore::new();
    let clock = Arc::new(ManualClock::at_secs(1_795_651_200));
    let platforms = crate::commerce::Platforms::new([reach]);
    let customers = Arc::new(crate::flows::customers::CustomerSync {
        platforms: platforms.clone(),
        stripe: stripe.clone(),
        links: state.clone(),
        store: store.clone(),
        clock: clock.clone(),
        lease_secs: 60,
        enabled: true,
        create_in: Some(("magento".into(), "default".into())),
    });
    let o2c = OrderToCash {
        platforms,
        stripe: stripe.clone(),
        erp: erp.clone(),
        links: state.clone(),
        customers,
        store: store.clone(),
        clock: clock.clone(),
        settings: OrderToCashSettings {
            rules: OrderToCashConfig::default(),
            accounts: ErpAccounts::default(),
            paid_orders,
            send_description: true,
            lease_secs: 60,
        },
    };
    Harness {
        handler: PaymentsHandler {
            store: store.clone(),
            journal: journal.clone(),
            clock,
            lease_secs: 60,
            stripe: stripe.clone(),
            order_to_cash: Arc::new(o2c),
        },
        stripe,
        platform,
        erp,
        state,
        journal,
        store,
    }
}

/// A new Magento order awaiting payment; `total` in major units ("19.99").
pub fn order(id: &str, currency: Currency, total: &str) -> Order {
    let total = currency
        .to_minor(total.parse::<Decimal>().expect("decimal"))
        .expect("exact");
    Order {
        reference: OrderRef {
            platform: "magento".into(),
            store: "default".into(),
            order_id: id.into(),
        },
        increment_id: format!("{:0>9}", id),
        state: "new".into(),
        status: "pending".into(),
        payment_state: PaymentState::AwaitingPayment,
        customer: OrderCustomer {
            external_id: None,
            email: Some("ada@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
        },
        currency,
        grand_total: total,
        total_invoiced: MinorUnit::ZERO,
        charges: Default::default(),
        lines: vec![OrderLine {
            sku: "TEE".into(),
            name: "Tee".into(),
            quantity: Decimal::ONE,
            row_total: total,
        }],
        billing_address: None,
        shipping_address: None,
        payment: OrderPayment {
            method: Some("stripe_payments".into()),
            transaction_id: None,
        },
        comments: vec![],
        created_at: "2026-11-26 10:00:00".into(),
        updated_at: "2026-11-26 10:00:00".into(),
    }
}

pub fn order_message(order: &Order) -> String {
    order_created_message(order, 0).expect("serializable").body
}

/// A queued Stripe event wrapping `object` (JSON).
pub fn stripe_message(event_id: &str, event_type: &str, object: &serde_json::Value) -> String {
    let raw = serde_json::json!({
        "id": event_id, "object": "event", "type": event_type, "created": 1_795_651_200,
        "livemode": false, "data": { "object": object }
    })
    .to_string();
    let envelope = EventEnvelope::parse(raw.as_bytes()).expect("event");
    QueueEnvelope::stripe_message(&envelope, raw.as_bytes(), 0)
        .expect("message")
        .body
}

/// The PaymentIntent as Stripe would send it in an event.
pub fn payment_intent_json(stripe: &MemoryStripe, id: &str) -> serde_json::Value {
    let pi = stripe
        .intents()
        .into_iter()
        .find(|p| p.id == id)
        .expect("known PaymentIntent");
    serde_json::json!({
        "id": pi.id, "object": "payment_intent", "amount": pi.amount, "amount_received": pi.amount_received,
        "currency": pi.currency, "status": match pi.status {
            crate::stripe::objects::PaymentIntentStatus::Succeeded => "succeeded",
            _ => "requires_payment_method",
        },
        "latest_charge": pi.latest_charge.map(|c| c.0), "metadata": pi.metadata,
        "created": pi.created, "livemode": false,
    })
}

/// An entry's lines as (account, side, minor units), for assertions.
pub fn booked(entry: &crate::erp::JournalEntry) -> Vec<(String, crate::erp::Side, i64)> {
    entry
        .lines()
        .iter()
        .map(|l| (l.account.clone(), l.side, l.amount.get()))
        .collect()
}
