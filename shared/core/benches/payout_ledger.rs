//! Payout reconciliation's CPU path without I/O: parsing a payout's balance
//! transactions as Stripe lists them (pages of 100), summing them into the
//! ledger, checking the invariant and building the GL entry, for payouts of
//! 1,000 and 10,000 transactions; the size of the saved ledger (the state a
//! payout carries between pages and invocations) and of a saved page of
//! report lines; and the peak heap the path needs, one page held at a time.
//! Run: cargo bench -p tally-core --bench payout_ledger

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use tally_core::config::ErpAccounts;
use tally_core::money::Currency;
use tally_core::payouts::{payout_entry, Matched, PayoutLedger};
use tally_core::stripe::objects::{BalanceTransaction, Payout};

/// Counts live heap bytes and their peak.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `n` transactions as Stripe's list pages would hold them: charges with
/// fees, every tenth a refund, every hundredth a dispute, every fiftieth a
/// charge made outside any platform; and the payout they add up to.
fn payout_of(n: usize) -> (Vec<Vec<u8>>, Payout) {
    let mut pages = Vec::new();
    let mut net_total = 0i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let rows: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                let (kind, category, amount, fee) = match i {
                    i if i % 100 == 99 => ("adjustment", "dispute", -5_000, 1_500),
                    i if i % 10 == 9 => ("refund", "refund", -1_000, 0),
                    _ => ("charge", "charge", 2_000 + (*i as i64 % 500), 88),
                };
                net_total += amount - fee;
                serde_json::json!({"id": format!("txn_{i:024}"), "object": "balance_transaction",
                    "amount": amount, "fee": fee, "net": amount - fee, "currency": "usd", "type": kind,
                    "reporting_category": category, "source": format!("ch_{i:024}"), "status": "available",
                    "fee_details": [{"amount": fee, "currency": "usd", "type": "stripe_fee",
                                     "description": "Stripe processing fees"}],
                    "available_on": 1_795_000_000, "created": 1_795_000_000})
            })
            .collect();
        pages.push(
            serde_json::to_vec(
                &serde_json::json!({"object": "list", "data": rows, "has_more": true}),
            )
            .unwrap(),
        );
    }
    let payout = serde_json::from_value(serde_json::json!({"id": "po_bench", "object": "payout",
        "amount": net_total, "currency": "usd", "status": "paid", "arrival_date": 1_795_132_800,
        "automatic": true, "reconciliation_status": "completed", "created": 1_795_046_400}))
    .unwrap();
    (pages, payout)
}

#[derive(serde::Deserialize)]
struct Page {
    data: Vec<BalanceTransaction>,
}

/// Reconciles page by page as the handler does; also gives the largest
/// saved page of report lines (JSON bytes).
fn reconcile(pages: &[Vec<u8>], payout: &Payout) -> (PayoutLedger, usize, usize) {
    let mut ledger = PayoutLedger::new(&payout.id, Currency::Usd);
    let mut largest_page = 0;
    for (n, raw) in pages.iter().enumerate() {
        let page: Page = serde_json::from_slice(raw).unwrap();
        let mut lines = Vec::with_capacity(page.data.len());
        for (i, bt) in page.data.iter().enumerate() {
            let matched = if (n * 100 + i) % 50 == 49 {
                Matched::Unmatched("PaymentIntent names no Tally order".into())
            } else {
                Matched::Order(format!("magento/default/{}", n * 100 + i))
            };
            lines.extend(ledger.add(bt, &matched).unwrap());
        }
        largest_page = largest_page.max(serde_json::to_vec(&lines).unwrap().len());
    }
    let entry = payout_entry(&ledger, payout, &ErpAccounts::default()).unwrap();
    (ledger, entry.lines().len(), largest_page)
}

fn payout_ledger(c: &mut Criterion) {
    let mut group = c.benchmark_group("payout_ledger");
    for n in [1_000usize, 10_000] {
        let (pages, payout) = payout_of(n);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let (ledger, _, largest_page) = reconcile(&pages, &payout);
        let peak = PEAK.load(Ordering::Relaxed) - before;
        let saved = serde_json::to_vec(&ledger).unwrap().len();
        println!(
            "payout of {n} transactions: saved ledger {saved} bytes ({} unmatched), largest saved page \
             {largest_page} bytes, peak heap of the path {peak} bytes",
            ledger.unmatched
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse_sum_check_entry", n), &n, |b, _| {
            b.iter(|| black_box(reconcile(black_box(&pages), &payout)))
        });
    }
    group.finish();
}

criterion_group!(benches, payout_ledger);
criterion_main!(benches);
