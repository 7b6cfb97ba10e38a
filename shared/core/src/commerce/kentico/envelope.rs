//! Kentico's REST JSON wraps objects by their type, `.` becoming `_`: one
//! object is `{"ecommerce_order":[{...}]}`; a listing is
//! `{"ecommerce_orders":[{"ecommerce_order":[{...},...]},{"TotalRecords":[{"TotalRecords":n}]}]}`
//! (the K8.2/K12 examples; the plural wrapper's name is not relied on).

use serde_json::Value;

/// The JSON name of an object type: `ecommerce.order` -> `ecommerce_order`.
fn json_name(object_type: &str) -> String {
    object_type.replace('.', "_")
}

fn collect<'a>(v: &'a Value, name: &str, depth: u8, out: &mut Vec<&'a Value>) {
    if depth > 3 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k.eq_ignore_ascii_case(name) {
                    match val {
                        Value::Array(items) => out.extend(items.iter().filter(|i| i.is_object())),
                        Value::Object(_) => out.push(val),
                        _ => {}
                    }
                } else {
                    collect(val, name, depth + 1, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, name, depth + 1, out)),
        _ => {}
    }
}

/// Every object of `object_type` in a REST answer, in order.
pub fn objects_of<'a>(answer: &'a Value, object_type: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect(answer, &json_name(object_type), 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_objects_and_listings_unwrap_alike() {
        let one: Value = serde_json::from_str(r#"{"ecommerce_order":[{"OrderID":7}]}"#).unwrap();
        assert_eq!(objects_of(&one, "ecommerce.order")[0]["OrderID"], 7);
        let list: Value = serde_json::from_str(
            r#"{"ecommerce_orders":[{"ecommerce_order":[{"OrderID":1},{"OrderID":2}]},{"TotalRecords":[{"TotalRecords":2}]}]}"#,
        )
        .unwrap();
        let ids: Vec<_> = objects_of(&list, "ecommerce.order")
            .iter()
            .map(|o| o["OrderID"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2]);
        let empty: Value =
            serde_json::from_str(r#"{"ecommerce_orders":[{"TotalRecords":[{"TotalRecords":0}]}]}"#)
                .unwrap();
        assert!(objects_of(&empty, "ecommerce.order").is_empty());
        assert!(objects_of(&Value::Null, "ecommerce.order").is_empty());
    }
}
