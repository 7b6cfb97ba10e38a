//! The Stripe webhook's CPU path (verify + read the routing fields + build the
//! queue message) next to bare HMAC-SHA256 over the same bytes, on 1, 4 and 32
//! KiB events, with one signing secret and with two (the second one matching,
//! as while a secret is rolled).
//! Run: cargo bench -p tally-core --bench receiver

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hint::black_box;
use tally_core::secrets::SecretString;
use tally_core::stripe::signature::sign;
use tally_core::stripe::webhook::{StripeWebhook, StripeWebhookKeys};
use tally_core::webhook::{Inbound, WebhookRequest, WebhookSource};

const NOW: i64 = 1_750_000_000;

/// A payment_intent.succeeded event padded with metadata to `size` bytes.
fn event_of_size(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_3PbenchAAAAAAAAAAAAAAAA","object":"event","api_version":"2024-06-20","created":1750000000,"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"pi_3PbenchAAAAAAAAAAAAAAAA","object":"payment_intent","amount":1099,"currency":"usd","status":"succeeded","metadata":{"order_id":"100000123","note":""#;
    let tail = r#""}}},"type":"payment_intent.succeeded"}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    body
}

fn receiver_path(c: &mut Criterion) {
    let secret = SecretString::new("whsec_bench_secret_0123456789");
    let one = StripeWebhookKeys {
        webhook_signing_secrets: vec![secret.clone()],
    };
    let two = StripeWebhookKeys {
        webhook_signing_secrets: vec![SecretString::new("whsec_old_rotated"), secret.clone()],
    };
    let source = StripeWebhook {
        tolerance_secs: 300,
    };
    let mut group = c.benchmark_group("stripe_webhook");
    for kib in [1usize, 4, 32] {
        let body = event_of_size(kib * 1024);
        let header = sign(&secret, NOW, &body);
        let headers = [("stripe-signature", header.as_str())];
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (name, keys) in [("one_secret", &one), ("two_secrets", &two)] {
            group.bench_with_input(
                BenchmarkId::new(format!("receive_{name}"), format!("{kib}KiB")),
                &body,
                |b, body| {
                    b.iter(|| {
                        let request = WebhookRequest {
                            method: "POST",
                            headers: &headers,
                            query: "",
                            body: black_box(body),
                        };
                        let verified = source.verify(keys, &request, NOW).unwrap();
                        match source.inbound(verified, NOW * 1000).unwrap() {
                            Inbound::Enqueue { message, .. } => black_box(message),
                            Inbound::Ignore { .. } => unreachable!(),
                        }
                    })
                },
            );
        }
        group.bench_with_input(
            BenchmarkId::new("bare_hmac_sha256", format!("{kib}KiB")),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
                    mac.update(b"1750000000.");
                    mac.update(black_box(body));
                    black_box(mac.finalize().into_bytes())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, receiver_path);
criterion_main!(benches);
