//! CloudWatch Embedded Metric Format: a metric is a JSON log line with an
//! `_aws` member, which CloudWatch Logs turns into metrics without a
//! PutMetricData call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Tally";

/// One EMF line: every metric with its unit, under one dimension set.
pub fn emf_line(
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, &str)],
) -> String {
    let mut root = Map::new();
    for (k, v) in dimensions {
        root.insert((*k).to_string(), Value::from(*v));
    }
    for (name, value, _) in metrics {
        root.insert((*name).to_string(), json!(value));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
            }],
        }),
    );
    Value::Object(root).to_string()
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
                assert!(v[name].is_number(), "each metric is a number member");
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
    }
}
