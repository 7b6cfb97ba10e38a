//! The ERP contract (`tally_core::erp::contract`) against the generic HTTP
//! adapter with its simulator, the NetSuite adapter with the NetSuite
//! simulator, and Tryton, a real ledger running in the local stack; then what
//! each ERP refuses (a closed period, an unknown account, wrong credentials),
//! and that a posting a crash left unrecorded is found, not made again.
//! Needs `make up`; run with `-- --ignored`.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tally_core::clock::SystemClock;
use tally_core::config::{ErpAdapter, ErpConfig};
use tally_core::erp::contract::{as_posted, check_erp_contract, entry, ReadsLedger};
use tally_core::erp::{Erp, ErpError};
use tally_core::error::Retryable;
use tally_core::money::Currency;
use tally_http::erp::HttpErp;
use tally_http::netsuite::{external_id, signed_lines, NetsuiteErp};
use tally_http::retry::Repeat;
use tally_http::tryton::rpc::TrytonRpc;
use tally_http::tryton::TrytonErp;

mod common;
use common::{env, fast, secret};

fn run_id() -> String {
    format!("{:x}", fastrand::u64(..))
}

fn today() -> String {
    tally_core::clock::utc_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

fn minor(text: &str, currency: Currency) -> i64 {
    currency
        .to_minor_exact(Decimal::from_str(text).unwrap())
        .unwrap()
        .get()
}

/// The ERP simulator's record of what it was sent.
struct ErpSimulator(String);

#[async_trait]
impl ReadsLedger for ErpSimulator {
    async fn postings(&self, key: &str, currency: Currency) -> Vec<Vec<(String, i64)>> {
        let all: Value = reqwest::get(format!("{}/_sim/entries", self.0))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = currency.code().to_ascii_uppercase();
        let mut postings = Vec::new();
        for e in all["entries"].as_array().unwrap() {
            if e["idempotency_key"] != json!(key) || e["currency"].as_str() != Some(code.as_str()) {
                continue;
            }
            let mut lines: Vec<(String, i64)> = e["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let side = |k: &str| l[k].as_str().map_or(0, |v| minor(v, currency));
                    (
                        l["account"].as_str().unwrap().to_string(),
                        side("debit") - side("credit"),
                    )
                })
                .collect();
            lines.sort();
            postings.push(lines);
        }
        postings
    }
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn the_generic_http_erp_keeps_the_contract() {
    let base = env("ERP_BASE_URL");
    let erp = HttpErp::new(
        tally_http::client(),
        &base,
        ErpConfig {
            http: fast(),
            ..ErpConfig::default()
        },
        secret(json!({"signing_secret": env("ERP_SIGNING_SECRET")})),
        Arc::new(SystemClock),
    );
    check_erp_contract(&erp, &ErpSimulator(base), &run_id(), &today()).await;
    tally_core::erp::contract::check_sales_document_contract(&erp, &run_id(), &today()).await;
}

fn tryton_config() -> ErpConfig {
    ErpConfig {
        adapter: ErpAdapter::Tryton,
        http: fast(),
        ..ErpConfig::default()
    }
}

fn tryton_secret() -> Value {
    json!({"login": env("TRYTON_LOGIN"), "password": env("TRYTON_PASSWORD")})
}

fn tryton() -> TrytonErp {
    TrytonErp::new(
        tally_http::client(),
        &env("TRYTON_URL"),
        &tryton_config(),
        secret(tryton_secret()),
    )
}

/// Tryton's own account balances (debit minus credit of posted and draft lines).
struct TrytonLedger(TrytonRpc);

/// The local company (the one the ledger set-up made).
async fn company(rpc: &TrytonRpc) -> i64 {
    let prefs = rpc
        .call(
            "model.res.user.get_preferences",
            json!([false, {}]),
            Repeat::Safe,
        )
        .await
        .unwrap();
    prefs["company"].as_i64().unwrap()
}

impl TrytonLedger {
    fn new() -> Self {
        TrytonLedger(TrytonRpc::new(
            tally_http::client(),
            &env("TRYTON_URL"),
            &tryton_config().tryton.database,
            fast(),
            secret(tryton_secret()),
        ))
    }

    async fn moves_described(&self, text: &str) -> Vec<Value> {
        let found = self
            .0
            .call(
                "model.account.move.search_read",
                json!([
                    [["description", "like", format!("%{text}%")]],
                    0,
                    null,
                    null,
                    ["state"],
                    {}
                ]),
                Repeat::Safe,
            )
            .await
            .unwrap();
        found.as_array().cloned().unwrap_or_default()
    }
}

impl TrytonLedger {
    async fn search_read(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        let context = json!({"company": company(&self.0).await});
        let found = self
            .0
            .call(
                &format!("model.{model}.search_read"),
                json!([domain, 0, null, null, fields, context]),
                Repeat::Safe,
            )
            .await
            .unwrap();
        found.as_array().cloned().unwrap_or_default()
    }
}

#[async_trait]
impl ReadsLedger for TrytonLedger {
    async fn postings(&self, key: &str, currency: Currency) -> Vec<Vec<(String, i64)>> {
        assert_eq!(currency, Currency::Usd, "the local company keeps USD");
        let tag = format!("[{key}]");
        let mut postings = Vec::new();
        for m in self.moves_described(&tag).await {
            let lines = self
                .search_read(
                    "account.move.line",
                    json!([["move", "=", m["id"]]]),
                    &["account", "debit", "credit"],
                )
                .await;
            let mut posted = Vec::new();
            for l in lines {
                let account = self
                    .search_read(
                        "account.account",
                        json!([["id", "=", l["account"]]]),
                        &["code"],
                    )
                    .await;
                let side = |k: &str| minor(l[k]["decimal"].as_str().unwrap(), currency);
                posted.push((
                    account[0]["code"].as_str().unwrap().to_string(),
                    side("debit") - side("credit"),
                ));
            }
            posted.sort();
            postings.push(posted);
        }
        postings
    }
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn tryton_keeps_the_contract_and_posts_every_move() {
    let run = run_id();
    let ledger = TrytonLedger::new();
    check_erp_contract(&tryton(), &ledger, &run, &today()).await;
    let moves = ledger.moves_described(&format!("contract-{run}")).await;
    assert_eq!(moves.len(), 2, "one move an entry: {moves:?}");
    assert!(moves.iter().all(|m| m["state"] == "posted"), "{moves:?}");
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn tryton_refuses_what_a_ledger_refuses_and_says_why() {
    let erp = tryton();
    let year: i32 = today()[..4].parse().unwrap();
    let closed = entry(
        &format!("closed-{}", run_id()),
        &format!("{}-01-15", year - 1),
        "1150",
        "1200",
        500,
    );
    let refused = erp.post_journal_entry(&closed).await.unwrap_err();
    assert!(!refused.is_retryable(), "{refused}");
    assert!(refused.to_string().contains("closed"), "{refused}");

    let unknown = entry(
        &format!("unknown-{}", run_id()),
        &today(),
        "9999",
        "1200",
        500,
    );
    let refused = erp.post_journal_entry(&unknown).await.unwrap_err();
    assert!(
        matches!(&refused, ErpError::Refused(m) if m.contains("9999")),
        "{refused}"
    );

    let wrong_password = TrytonErp::new(
        tally_http::client(),
        &env("TRYTON_URL"),
        &tryton_config(),
        secret(json!({"login": env("TRYTON_LOGIN"), "password": "not-it"})),
    );
    let refused = wrong_password
        .post_journal_entry(&entry(&run_id(), &today(), "1150", "1200", 1))
        .await
        .unwrap_err();
    assert!(matches!(refused, ErpError::Unauthorized(_)), "{refused}");
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn a_move_a_crash_left_in_draft_is_posted_not_made_again() {
    let ledger = TrytonLedger::new();
    let key = format!("crash-{}", run_id());
    let e = entry(&key, &today(), "1150", "1200", 700);
    // what the adapter sends before it posts, as if it died right after
    let ids = |found: Value| -> i64 { found[0]["id"].as_i64().unwrap() };
    let call = |m: &'static str, domain: Value| {
        let rpc = &ledger.0;
        async move {
            rpc.call(
                &format!("model.{m}.search_read"),
                json!([domain, 0, null, null, ["id"], {}]),
                Repeat::Safe,
            )
            .await
            .unwrap()
        }
    };
    let journal = ids(call("account.journal", json!([["code", "=", "STRIPE"]])).await);
    let clearing = ids(call("account.account", json!([["code", "=", "1150"]])).await);
    let receivable = ids(call("account.account", json!([["code", "=", "1200"]])).await);
    let day = tally_http::tryton::rpc::date(&today()).unwrap();
    let period = ids(call(
        "account.period",
        json!([
            ["start_date", "<=", day],
            ["end_date", ">=", day],
            ["type", "=", "standard"]
        ]),
    )
    .await);
    let amount = tally_http::tryton::rpc::decimal("7.00".into());
    let zero = tally_http::tryton::rpc::decimal("0.00".into());
    ledger
        .0
        .call(
            "model.account.move.create",
            json!([[{"company": company(&ledger.0).await, "journal": journal, "period": period, "date": day,
                     "description": format!("{} [{key}]", "crashed"),
                     "lines": [["create", [
                         {"account": clearing, "debit": amount, "credit": zero},
                         {"account": receivable, "debit": zero, "credit": amount}]]]}],
                   {"company": company(&ledger.0).await}]),
            Repeat::Unsafe,
        )
        .await
        .unwrap();
    let posted = tryton().post_journal_entry(&e).await.unwrap();
    assert!(!posted.replayed, "it was not posted before: {posted:?}");
    let moves = ledger.moves_described(&key).await;
    assert_eq!(moves.len(), 1, "found, not made again: {moves:?}");
    assert_eq!(moves[0]["state"], "posted");
    assert_eq!(
        ledger.postings(&key, Currency::Usd).await,
        vec![as_posted(&e)]
    );
    assert!(tryton().post_journal_entry(&e).await.unwrap().replayed);
}

/// A two-line entry in `currency`, `minor` in its minor units.
fn entry_in(currency: Currency, key: &str, minor: i64) -> tally_core::erp::JournalEntry {
    tally_core::erp::JournalEntry::new(
        key.into(),
        today(),
        currency,
        format!("{} entry", currency.code()),
        Default::default(),
        entry("k", &today(), "1150", "1200", minor).lines().to_vec(),
    )
    .unwrap()
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn tryton_books_another_currency_at_its_own_rate_with_the_exact_amount_beside() {
    let ledger = TrytonLedger::new();
    // the local ledger's rates (scripts/tryton_ledger.py): 150 yen and 0.3075 dinar a dollar
    for (currency, minor_units, usd, kept) in [
        (Currency::Jpy, 1_500, "10", "1500"),
        (Currency::Kwd, 6_170, "20.07", "6.17"),
    ] {
        let key = format!("fx-{}-{}", currency.code(), run_id());
        let e = entry_in(currency, &key, minor_units);
        let posted = tryton().post_journal_entry(&e).await.unwrap();
        assert!(!posted.replayed);
        let moves = ledger.moves_described(&format!("[{key}]")).await;
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0]["state"], "posted");
        let mut lines: Vec<(String, String, String)> = ledger
            .search_read(
                "account.move.line",
                json!([["move", "=", moves[0]["id"]]]),
                &["debit", "credit", "amount_second_currency"],
            )
            .await
            .iter()
            .map(|l| {
                let n = |k: &str| {
                    Decimal::from_str(l[k]["decimal"].as_str().unwrap())
                        .unwrap()
                        .normalize()
                        .to_string()
                };
                (n("debit"), n("credit"), n("amount_second_currency"))
            })
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                ("0".to_string(), usd.to_string(), format!("-{kept}")),
                (usd.to_string(), "0".to_string(), kept.to_string()),
            ],
            "{currency:?}: dollars at Tryton's rate, the exact amount kept as the second currency's"
        );
        assert!(tryton().post_journal_entry(&e).await.unwrap().replayed);
        let other = entry_in(currency, &key, minor_units + 1);
        assert!(matches!(
            tryton().post_journal_entry(&other).await,
            Err(ErpError::Conflict(_))
        ));
    }
    let no_rate = tryton()
        .post_journal_entry(&entry_in(Currency::Gbp, &run_id(), 1_000))
        .await
        .unwrap_err();
    assert!(
        !no_rate.is_retryable() && no_rate.to_string().contains("no rate for GBP"),
        "{no_rate}"
    );
    let unknown = tryton()
        .post_journal_entry(&entry_in(Currency::Cad, &run_id(), 1_000))
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("no currency CAD"), "{unknown}");
}

fn netsuite_config() -> ErpConfig {
    let mut config = ErpConfig {
        adapter: ErpAdapter::Netsuite,
        http: fast(),
        ..ErpConfig::default()
    };
    config.netsuite.account_id = env("NETSUITE_ACCOUNT");
    config
}

fn netsuite_with(token_secret: &str) -> NetsuiteErp {
    netsuite_configured(&netsuite_config(), token_secret)
}

fn netsuite_configured(config: &ErpConfig, token_secret: &str) -> NetsuiteErp {
    NetsuiteErp::new(
        tally_http::client(),
        &env("NETSUITE_URL"),
        config,
        secret(json!({
            "consumer_key": env("NETSUITE_CONSUMER_KEY"),
            "consumer_secret": env("NETSUITE_CONSUMER_SECRET"),
            "token_id": env("NETSUITE_TOKEN_ID"),
            "token_secret": token_secret,
        })),
        Arc::new(SystemClock),
    )
}

fn netsuite() -> NetsuiteErp {
    netsuite_with(&env("NETSUITE_TOKEN_SECRET"))
}

/// The NetSuite simulator's journal entry records, by the key's external id.
struct NetsuiteRecords;

impl NetsuiteRecords {
    async fn records(&self, key: &str) -> Vec<Value> {
        let found: Value = reqwest::get(format!(
            "{}/_sim/records/journalentry?externalId={}",
            env("NETSUITE_URL"),
            external_id(key)
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        found["records"].as_array().cloned().unwrap_or_default()
    }

    async fn requests(&self, method: &str, key: &str) -> usize {
        let found: Value = reqwest::get(format!(
            "{}/_sim/requests?method={method}&path_contains=eid:{}",
            env("NETSUITE_URL"),
            external_id(key)
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        found["requests"].as_array().map_or(0, Vec::len)
    }
}

#[async_trait]
impl ReadsLedger for NetsuiteRecords {
    async fn postings(&self, key: &str, currency: Currency) -> Vec<Vec<(String, i64)>> {
        let code = currency.code().to_ascii_uppercase();
        self.records(key)
            .await
            .iter()
            .filter(|r| r["currency"]["refName"].as_str() == Some(code.as_str()))
            .map(|r| {
                // the control API lists lines as the expanded sublist's items
                let record = json!({"line": {"items": r["line"]}});
                signed_lines(&record, currency).unwrap()
            })
            .collect()
    }
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn netsuite_keeps_the_contract_and_a_replay_only_reads() {
    let run = run_id();
    let records = NetsuiteRecords;
    check_erp_contract(&netsuite(), &records, &run, &today()).await;
    let key = format!("contract-{run}-a");
    assert_eq!(records.requests("PUT", &key).await, 1, "one upsert");
    assert_eq!(
        records.requests("GET", &key).await,
        4,
        "each of the three posts and the conflict read first"
    );
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn netsuite_refuses_what_it_refuses_and_says_why() {
    let erp = netsuite();
    let year: i32 = today()[..4].parse().unwrap();
    let closed = entry(
        &format!("closed-{}", run_id()),
        &format!("{}-01-15", year - 1),
        "1150",
        "1200",
        500,
    );
    let refused = erp.post_journal_entry(&closed).await.unwrap_err();
    assert!(!refused.is_retryable(), "{refused}");
    assert!(
        matches!(&refused, ErpError::Refused(m) if m.contains("closed")),
        "{refused}"
    );

    let unknown = entry(
        &format!("unknown-{}", run_id()),
        &today(),
        "9999",
        "1200",
        500,
    );
    let refused = erp.post_journal_entry(&unknown).await.unwrap_err();
    assert!(
        matches!(&refused, ErpError::Refused(m) if m.contains("INVALID_KEY_OR_REF") && m.contains("9999")),
        "{refused}"
    );

    let euro = tally_core::erp::JournalEntry::new(
        format!("eur-{}", run_id()),
        today(),
        Currency::Eur,
        "EUR".into(),
        Default::default(),
        entry("k", &today(), "1150", "1200", 1).lines().to_vec(),
    )
    .unwrap();
    let refused = erp.post_journal_entry(&euro).await.unwrap_err();
    assert!(
        matches!(&refused, ErpError::Refused(m) if m.contains("erp.netsuite.currencies")),
        "a currency with no NetSuite id is refused before any request: {refused}"
    );

    let refused = netsuite_with("not-the-token-secret")
        .post_journal_entry(&entry(&run_id(), &today(), "1150", "1200", 1))
        .await
        .unwrap_err();
    assert!(matches!(refused, ErpError::Unauthorized(401)), "{refused}");
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn netsuite_rides_out_its_concurrency_limit_and_posts_once() {
    let key = format!("limited-{}", run_id());
    let base = env("NETSUITE_URL");
    common::post_json(
        &base,
        "/_sim/faults",
        &json!({"method": "PUT", "path_contains": external_id(&key), "status": 429, "count": 2}),
    )
    .await;
    let e = entry(&key, &today(), "1150", "1200", 4_321);
    let posted = netsuite().post_journal_entry(&e).await.unwrap();
    assert!(!posted.replayed);
    assert_eq!(
        NetsuiteRecords.postings(&key, Currency::Usd).await,
        vec![as_posted(&e)]
    );
}

fn netsuite_sales() -> NetsuiteErp {
    let mut config = netsuite_config();
    config.paid_orders = tally_core::config::PaidOrderPosting::SalesOrder;
    // the simulator's web-store customer and items (tests/simulators/netsuite.py)
    config.netsuite.sales = tally_core::config::NetsuiteSalesConfig {
        customer: "501".into(),
        item: "20".into(),
        items: Default::default(),
        shipping_item: "21".into(),
        tax_item: "22".into(),
        discount_item: "23".into(),
        adjustment_item: "24".into(),
        refund_item: "25".into(),
    };
    netsuite_configured(&config, &env("NETSUITE_TOKEN_SECRET"))
}

/// The simulator's `kind` records whose external id starts with `prefix`.
async fn netsuite_records(kind: &str, prefix: &str) -> Vec<Value> {
    let all: Value = reqwest::get(format!("{}/_sim/records/{kind}", env("NETSUITE_URL")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["externalId"]
                .as_str()
                .is_some_and(|e| e.starts_with(prefix))
        })
        .cloned()
        .collect()
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn netsuite_keeps_the_sales_document_contract_with_a_deposit_and_refunds_paid_back() {
    use tally_core::erp::contract::check_sales_document_contract;
    let run = run_id();
    check_sales_document_contract(&netsuite_sales(), &run, &today()).await;
    let sale = external_id(&format!("contract-{run}-sale"));
    let orders = netsuite_records("salesorder", &sale).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let usd = |v: &Value| minor(&v.to_string(), Currency::Usd);
    let amounts: Vec<(&str, i64)> = orders[0]["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["item"]["id"].as_str().unwrap(), usd(&l["amount"])))
        .collect();
    assert_eq!(amounts, [("20", 4_000), ("21", 500)]);
    let deposits =
        netsuite_records("customerdeposit", &format!("contract-{run}-sale-deposit")).await;
    assert_eq!(deposits.len(), 1, "{deposits:?}");
    assert_eq!(deposits[0]["salesOrder"]["id"], orders[0]["id"]);
    assert_eq!(
        (
            usd(&deposits[0]["payment"]),
            deposits[0]["account"]["id"].as_str()
        ),
        (4_500, Some("1150"))
    );
    let memos = netsuite_records("creditmemo", &format!("{sale}-cm-")).await;
    let mut credited: Vec<i64> = memos.iter().map(|m| usd(&m["total"])).collect();
    credited.sort();
    assert_eq!(
        credited,
        [500, 4_000],
        "two credit memos, the refused one not made"
    );
    assert!(
        memos.iter().all(|m| usd(&m["amountRemaining"]) == 0),
        "each paid back by its customer refund: {memos:?}"
    );
    assert_eq!(
        netsuite_records("customerrefund", &format!("{sale}-cm-"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn a_netsuite_sale_whose_deposit_a_crash_left_unmade_gets_it_once() {
    let run = run_id();
    let key = format!("crash-{run}-sale");
    let order = tally_core::erp::contract::sales_order(&key, &today(), 2_500);
    let base = env("NETSUITE_URL");
    let deposit = external_id(&format!("{key}-deposit"));
    common::post_json(
        &base,
        "/_sim/faults",
        &json!({"method": "PUT", "path_contains": deposit, "status": 503, "count": 3}),
    )
    .await;
    let failed = netsuite_sales().post_sales_order(&order).await.unwrap_err();
    assert!(failed.is_retryable(), "{failed}");
    assert_eq!(
        netsuite_records("salesorder", &external_id(&key))
            .await
            .len(),
        1
    );
    assert!(netsuite_records("customerdeposit", &deposit)
        .await
        .is_empty());

    let posted = netsuite_sales().post_sales_order(&order).await.unwrap();
    assert!(!posted.replayed, "the deposit was made now");
    assert_eq!(
        netsuite_records("salesorder", &external_id(&key))
            .await
            .len(),
        1,
        "the order not made again"
    );
    assert_eq!(netsuite_records("customerdeposit", &deposit).await.len(), 1);
    assert!(
        netsuite_sales()
            .post_sales_order(&order)
            .await
            .unwrap()
            .replayed
    );
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn tryton_keeps_the_sales_document_contract_with_paid_invoices() {
    use tally_core::erp::contract::check_sales_document_contract;
    let run = run_id();
    let ledger = TrytonLedger::new();
    check_sales_document_contract(&tryton(), &run, &today()).await;
    let key = format!("contract-{run}-sale");
    let sale = ledger
        .search_read(
            "sale.sale",
            json!([["reference", "=", key]]),
            &["state", "invoice_state", "total_amount"],
        )
        .await;
    assert_eq!(sale.len(), 1, "one sale: {sale:?}");
    assert_eq!(
        (sale[0]["state"].as_str(), sale[0]["invoice_state"].as_str()),
        (Some("done"), Some("paid"))
    );
    let notes = ledger
        .search_read(
            "account.invoice",
            json!([["description", "like", format!("%for [{key}]")]]),
            &["state", "total_amount"],
        )
        .await;
    assert_eq!(notes.len(), 2, "two credit notes: {notes:?}");
    assert!(notes.iter().all(|n| n["state"] == "paid"), "{notes:?}");
    // 45.00 received, 40.00 and 5.00 paid back: the run's moves leave Stripe clearing where it was
    let clearing = ledger
        .search_read("account.account", json!([["code", "=", "1150"]]), &["id"])
        .await[0]["id"]
        .clone();
    let mut moved = Vec::new();
    for m in ledger.moves_described(&format!("contract-{run}-")).await {
        for l in ledger
            .search_read(
                "account.move.line",
                json!([["move", "=", m["id"]], ["account", "=", clearing]]),
                &["debit", "credit"],
            )
            .await
        {
            let side = |k: &str| minor(l[k]["decimal"].as_str().unwrap(), Currency::Usd);
            moved.push(side("debit") - side("credit"));
        }
    }
    moved.sort();
    assert_eq!(
        moved,
        [-4_000, -500, 4_500],
        "paid in once, paid back twice"
    );
}

#[tokio::test]
#[ignore = "needs `make up`"]
async fn a_tryton_sale_a_crash_left_in_draft_is_carried_through_not_made_again() {
    let ledger = TrytonLedger::new();
    let key = format!("crash-{}-sale", run_id());
    let order = tally_core::erp::contract::sales_order(&key, &today(), 2_000);
    // what the adapter makes before it quotes, as if it died right after
    let context = json!({"company": company(&ledger.0).await});
    let party = ledger
        .0
        .call(
            "model.party.party.create",
            json!([[{"name": "Crash test", "addresses": [["create", [{}]]]}], context]),
            Repeat::Unsafe,
        )
        .await
        .unwrap()[0]
        .clone();
    let address = ledger
        .search_read("party.address", json!([["party", "=", party]]), &["id"])
        .await[0]["id"]
        .clone();
    let usd = ledger
        .search_read("currency.currency", json!([["code", "=", "USD"]]), &["id"])
        .await[0]["id"]
        .clone();
    let price = |t: &str| tally_http::tryton::rpc::decimal(t.into());
    ledger
        .0
        .call(
            "model.sale.sale.create",
            json!([[{"company": context["company"], "party": party, "currency": usd, "reference": key,
                     "invoice_address": address, "shipment_address": address,
                     "invoice_method": "order", "shipment_method": "manual",
                     "lines": [["create", [
                         {"type": "line", "description": "TEE Tee", "quantity": 2.0, "unit_price": price("7.50")},
                         {"type": "line", "description": "Shipping", "quantity": 1.0, "unit_price": price("5.00")}]]]}],
                   context]),
            Repeat::Unsafe,
        )
        .await
        .unwrap();
    let posted = tryton().post_sales_order(&order).await.unwrap();
    assert!(!posted.replayed, "it was not done before: {posted:?}");
    let sales = ledger
        .search_read(
            "sale.sale",
            json!([["reference", "=", key]]),
            &["state", "invoice_state"],
        )
        .await;
    assert_eq!(sales.len(), 1, "carried through, not made again: {sales:?}");
    assert_eq!(
        (
            sales[0]["state"].as_str(),
            sales[0]["invoice_state"].as_str()
        ),
        (Some("done"), Some("paid"))
    );
    let again = tryton().post_sales_order(&order).await.unwrap();
    assert_eq!((again.id, again.replayed), (posted.id, true));
}
