// Times stripe-node's webhooks.constructEvent (verify + JSON.parse) on the same
// payloads as shared/core/benches/receiver.rs, for comparison.
// Run: make bench (or: cd benches/stripe-node && npm install && node construct_event.js)
const Stripe = require("stripe");

const SECRET = "whsec_bench_secret_0123456789";
const HEAD = '{"id":"evt_3PbenchAAAAAAAAAAAAAAAA","object":"event","api_version":"2024-06-20","created":1750000000,"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"pi_3PbenchAAAAAAAAAAAAAAAA","object":"payment_intent","amount":1099,"currency":"usd","status":"succeeded","metadata":{"order_id":"100000123","note":"';
const TAIL = '"}}},"type":"payment_intent.succeeded"}';

const stripe = Stripe("sk_test_bench");

function eventOfSize(size) {
  return Buffer.from(HEAD + "x".repeat(size - HEAD.length - TAIL.length) + TAIL);
}

function best(fn, seconds) {
  // warm up, then the best of 5 runs of ~seconds/5 each
  for (let i = 0; i < 2000; i++) fn();
  let bestNs = Infinity;
  for (let run = 0; run < 5; run++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const until = start + BigInt(Math.round((seconds / 5) * 1e9));
    let now = start;
    while (now < until) {
      for (let i = 0; i < 200; i++) fn();
      n += 200;
      now = process.hrtime.bigint();
    }
    bestNs = Math.min(bestNs, Number(now - start) / n);
  }
  return bestNs;
}

const version = JSON.parse(require("fs").readFileSync(require("path").join(__dirname, "node_modules/stripe/package.json"))).version;
console.log(`stripe-node ${version} on node ${process.version}: webhooks.constructEvent (verify + parse)`);
for (const kib of [1, 4, 32]) {
  const body = eventOfSize(kib * 1024);
  const header = stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: SECRET, timestamp: Math.floor(Date.now() / 1000) });
  const ns = best(() => stripe.webhooks.constructEvent(body, header, SECRET), 2.5);
  console.log(`  ${String(kib).padStart(2)} KiB: ${(ns / 1000).toFixed(1).padStart(9)} µs per event`);
}
