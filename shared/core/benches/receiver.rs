//! The webhook receiver's CPU path (verify + envelope parse + queue message
//! build) next to bare HMAC-SHA256 over the same bytes, on 1, 4 and 32 KiB events.
//! Run: cargo bench -p tally-core --bench receiver

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hint::black_box;
use tally_core::message::QueueEnvelope;
use tally_core::secret::SecretString;
use tally_core::stripe::signature::sign;
use tally_core::stripe::{EventEnvelope, SignatureVerifier};

const NOW: i64 = 1_750_000_000;

/// A payment_intent.succeeded event padded with metadata to `size` bytes.
fn event_of_size(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_3PbenchAAAAAAAAAAAAAAAA","object":"event","api_version":"2024-06-20","created":1750000000,"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"payment_intent.succeeded","data":{"object":{"id":"pi_3PbenchAAAAAAAAAAAAAAAA","object":"payment_intent","amount":1099,"currency":"usd","status":"succeeded","metadata":{"order_id":"100000123","note":""#;
    let tail = r#""}}}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    assert!(EventEnvelope::parse(&body).is_ok());
    body
}

fn receiver_path(c: &mut Criterion) {
    let secret = SecretString::new("whsec_bench_secret_0123456789");
    let verifier = SignatureVerifier::new(
        vec![SecretString::new("whsec_old_rotated"), secret.clone()],
        300,
    );
    let mut group = c.benchmark_group("stripe_webhook");
    for kib in [1usize, 4, 32] {
        let body = event_of_size(kib * 1024);
        let header = sign(&secret, NOW, &body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("verify_parse_build", format!("{kib}KiB")),
            &body,
            |b, body| {
                b.iter(|| {
                    let verified = verifier
                        .verify(Some(black_box(&header)), black_box(body), NOW)
                        .unwrap();
                    let envelope = EventEnvelope::parse(verified.body()).unwrap();
                    black_box(
                        QueueEnvelope::stripe_message(&envelope, verified.body(), NOW * 1000)
                            .unwrap(),
                    )
                })
            },
        );
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
