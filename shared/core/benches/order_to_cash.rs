//! Order-to-cash handler CPU time per order, excluding I/O: the payments
//! handler over in-memory adapters (Stripe, Magento, ERP, DynamoDB stand-ins)
//! processing one order's `order.created`, `charge.succeeded` and
//! `payment_intent.succeeded`, and the same three delivered again (duplicates).
//! Run: cargo bench -p tally-core --bench order_to_cash

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::json;
use tally_core::money::Currency;
use tally_core::testkit::{
    harness, order, order_message, payment_intent_json, stripe_message, Harness,
};

/// A harness with one placed order, its PaymentIntent paid; returns the three messages.
fn paid_order(runtime: &tokio::runtime::Runtime) -> (Harness, Vec<String>) {
    let h = harness();
    let o = order("42", Currency::Usd, "39.98");
    h.platform.put(o.clone());
    let created = order_message(&o);
    runtime
        .block_on(h.handler.handle_message(&created))
        .unwrap();
    let pi = h.state.links()["magento/default/42"].clone();
    let charge = h.stripe.succeed(&pi);
    let pi_json = payment_intent_json(&h.stripe, &pi);
    let charge_json = json!({"id": charge, "object": "charge", "amount": 3998, "currency": "usd", "status": "succeeded",
        "paid": true, "payment_intent": pi, "metadata": pi_json["metadata"], "created": 1_795_651_200, "livemode": false});
    let messages = vec![
        created,
        stripe_message("evt_bench_charge", "charge.succeeded", &charge_json),
        stripe_message("evt_bench_pi", "payment_intent.succeeded", &pi_json),
    ];
    (h, messages)
}

fn order_to_cash(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("order_to_cash");
    group.bench_function("new order: PaymentIntent, invoice, ERP entry", |b| {
        b.iter_batched(
            || {
                let h = harness();
                let o = order("42", Currency::Usd, "39.98");
                h.platform.put(o.clone());
                (h, order_message(&o))
            },
            |(h, created)| {
                runtime.block_on(async {
                    h.handler.handle_message(&created).await.unwrap();
                    let pi = h.state.links()["magento/default/42"].clone();
                    h.stripe.succeed(&pi);
                    let paid = stripe_message(
                        "evt_bench_pi",
                        "payment_intent.succeeded",
                        &payment_intent_json(&h.stripe, &pi),
                    );
                    h.handler.handle_message(&paid).await.unwrap();
                    assert_eq!(h.erp.entries().len(), 1);
                });
                h
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function(
        "duplicate deliveries of a finished order (3 messages)",
        |b| {
            b.iter_batched(
                || {
                    let (h, messages) = paid_order(&runtime);
                    for m in &messages {
                        runtime.block_on(h.handler.handle_message(m)).unwrap();
                    }
                    (h, messages)
                },
                |(h, messages)| {
                    runtime.block_on(async {
                        for m in &messages {
                            h.handler.handle_message(m).await.unwrap();
                        }
                    });
                    h
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, order_to_cash);
criterion_main!(benches);
