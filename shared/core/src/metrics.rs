//! CloudWatch Embedded Metric Format: a metric is a JSON log line with an
//! `_aws` member, which CloudWatch Logs turns into metrics without a
//! PutMetricData call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Tally";

/// One EMF line: every metric with its unit, under one dimension set.
pub fn emf_line(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
) -> String {
    scalar_line(timestamp_ms, dimensions, &[dimensions.len()], metrics)
}

/// As `emf_line`, aggregated also with no dimension at all: the total an
/// alarm can watch without naming every dimension value (each currency).
pub fn emf_line_with_total(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
) -> String {
    scalar_line(timestamp_ms, dimensions, &[dimensions.len(), 0], metrics)
}

fn scalar_line(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    rollups: &[usize],
    metrics: &[(&str, f64, &str)],
) -> String {
    let values: Vec<(&str, Value, &str)> = metrics
        .iter()
        .map(|(name, value, unit)| (*name, json!(value), *unit))
        .collect();
    emf_object(timestamp_ms, dimensions, rollups, &values)
}

/// An EMF line whose dimensions are aggregated by each prefix length in
/// `rollups` (`[2, 1]` on `[Service, Outcome]`: by both, and by service alone),
/// a metric's value a number or an array of at most 100 numbers.
fn emf_object(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    rollups: &[usize],
    metrics: &[(&str, Value, &str)],
) -> String {
    let mut root = Map::new();
    for (k, v) in dimensions {
        root.insert((*k).to_string(), Value::from(*v));
    }
    for (name, value, _) in metrics {
        root.insert((*name).to_string(), value.clone());
    }
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let sets: Vec<&[&str]> = rollups.iter().map(|n| &names[..*n]).collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    Value::Object(root).to_string()
}

/// What one attempt at an outside HTTP call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallOutcome {
    /// 2xx or 3xx.
    Ok,
    /// 429: the service asked us to slow down.
    Throttled,
    /// Another 4xx: refused as sent.
    ClientError,
    /// 5xx.
    ServerError,
    /// No answer in time.
    Timeout,
    /// No answer at all (refused, reset, DNS).
    Network,
}

impl CallOutcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            429 => CallOutcome::Throttled,
            400..=499 => CallOutcome::ClientError,
            500.. => CallOutcome::ServerError,
            _ => CallOutcome::Ok,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Throttled => "throttled",
            CallOutcome::ClientError => "client_error",
            CallOutcome::ServerError => "server_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Network => "network",
        }
    }
}

type CallKey = (&'static str, CallOutcome);

/// Calls recorded in this container since the last flush: latencies in ms.
static CALLS: Mutex<BTreeMap<CallKey, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// Notes one attempt at a call to `service` (`stripe`, `magento`, `erp`, ...).
/// Kept in memory and written as a few EMF lines when the invocation ends
/// (`call_metric_lines`), not one line a call: log bytes are a per-order cost.
pub fn record_call(service: &'static str, outcome: CallOutcome, elapsed: Duration) {
    let mut calls = CALLS.lock().unwrap_or_else(|p| p.into_inner());
    calls
        .entry((service, outcome))
        .or_default()
        .push(elapsed.as_secs_f64() * 1000.0);
}

/// The calls recorded since the last flush, as EMF lines (one per service and
/// outcome, `Calls` and `CallLatency` by service and outcome and by service
/// alone), emptying the record.
pub fn call_metric_lines(timestamp_ms: i64) -> Vec<String> {
    let calls = std::mem::take(&mut *CALLS.lock().unwrap_or_else(|p| p.into_inner()));
    let mut lines = Vec::new();
    for ((service, outcome), latencies) in calls {
        // EMF takes at most 100 values a metric per line.
        for chunk in latencies.chunks(100) {
            let rounded: Vec<Value> = chunk.iter().map(|ms| json!(ms.round())).collect();
            lines.push(emf_object(
                timestamp_ms,
                &[("Service", service), ("Outcome", outcome.name())],
                &[2, 1],
                &[
                    ("Calls", json!(chunk.len() as f64), "Count"),
                    ("CallLatency", Value::Array(rounded), "Milliseconds"),
                ],
            ));
        }
    }
    lines
}

/// Prints the calls recorded since the last flush (see `call_metric_lines`).
pub fn flush_call_metrics(timestamp_ms: i64) {
    for line in call_metric_lines(timestamp_ms) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's rules for a line CloudWatch accepts.
    fn check_against_the_specification(line: &str) {
        let v: Value = serde_json::from_str(line).unwrap();
        let aws = &v["_aws"];
        assert!(aws["Timestamp"].as_i64().unwrap() > 0);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty());
        for d in directives {
            let ns = d["Namespace"].as_str().unwrap();
            assert!(!ns.is_empty() && ns.len() <= 255);
            let sets = d["Dimensions"].as_array().unwrap();
            for set in sets {
                let names = set.as_array().unwrap();
                assert!(names.len() <= 30, "at most 30 dimensions in a set");
                for n in names {
                    assert!(
                        v[n.as_str().unwrap()].is_string(),
                        "each dimension is a string member"
                    );
                }
            }
            let metrics = d["Metrics"].as_array().unwrap();
            assert!(metrics.len() <= 100, "at most 100 metrics");
            for m in metrics {
                let name = m["Name"].as_str().unwrap();
                assert!(!name.is_empty() && name.len() <= 255);
                let value = &v[name];
                let values = value.as_array().map(Vec::as_slice);
                assert!(
                    value.is_number()
                        || values.is_some_and(|a| a.len() <= 100 && a.iter().all(Value::is_number)),
                    "each metric is a number or at most 100 numbers"
                );
                let unit = m["Unit"].as_str().unwrap();
                assert!(
                    ["Count", "Milliseconds", "Seconds", "None", "Bytes"].contains(&unit),
                    "{unit} is a CloudWatch unit"
                );
            }
        }
    }

    #[test]
    fn lines_follow_the_embedded_metric_format() {
        let line = emf_line(
            1_795_651_200_000,
            &[("Function", "stripe-backfill")],
            &[
                ("BackfillRecovered", 3.0, "Count"),
                ("BackfillListed", 10.0, "Count"),
            ],
        );
        check_against_the_specification(&line);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["BackfillRecovered"], 3.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Function"
        );
        check_against_the_specification(&emf_line(1, &[], &[("X", 0.5, "None")]));
        let total = emf_line_with_total(1, &[("Currency", "jpy")], &[("Y", 2.0, "Count")]);
        check_against_the_specification(&total);
        let v: Value = serde_json::from_str(&total).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Currency"], []])
        );
    }

    #[test]
    fn calls_are_gathered_by_service_and_outcome_and_flushed_once() {
        for ms in [12, 30, 18] {
            record_call("stripe-test", CallOutcome::Ok, Duration::from_millis(ms));
        }
        record_call(
            "stripe-test",
            CallOutcome::of_status(503),
            Duration::from_millis(40),
        );
        for _ in 0..150 {
            record_call("erp-test", CallOutcome::Timeout, Duration::from_secs(1));
        }
        let lines: Vec<Value> = call_metric_lines(1_795_651_200_000)
            .iter()
            .inspect(|l| check_against_the_specification(l))
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &Value| v["Service"].as_str().unwrap().ends_with("-test"))
            .collect();
        let find = |service: &str, outcome: &str| -> Vec<&Value> {
            lines
                .iter()
                .filter(|v| v["Service"] == service && v["Outcome"] == outcome)
                .collect()
        };
        let ok = find("stripe-test", "ok");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0]["Calls"], 3.0);
        assert_eq!(ok[0]["CallLatency"], json!([12.0, 30.0, 18.0]));
        assert_eq!(
            ok[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Outcome"], ["Service"]])
        );
        assert_eq!(find("stripe-test", "server_error")[0]["Calls"], 1.0);
        let timeouts = find("erp-test", "timeout");
        assert_eq!(timeouts.len(), 2, "150 values: two lines of at most 100");
        assert_eq!(
            timeouts
                .iter()
                .map(|v| v["Calls"].as_f64().unwrap())
                .sum::<f64>(),
            150.0
        );
        assert!(
            !call_metric_lines(1).iter().any(|l| l.contains("-test")),
            "a flush empties the record"
        );
    }
}
