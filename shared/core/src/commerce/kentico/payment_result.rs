//! `OrderPaymentResult`, the XML Kentico keeps on an order
//! (`PaymentResultInfo`): `<result><item name=".." header=".." value=".." text=".."/>...</result>`,
//! item names `date`, `completed`, `failed`, `authorized`, `transactionid`,
//! `method`, `status`, `description`. Written whole by Tally; read for the
//! transaction id. Only this flat shape is read: no XML library is needed.

/// The XML of a payment result: `(name, header, value, text)` per item.
pub fn payment_result_xml(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from("<result>");
    for (name, header, value, text) in items {
        out.push_str(&format!(
            r#"<item name="{}" header="{}" value="{}" text="{}" />"#,
            escape(name),
            escape(header),
            escape(value),
            escape(text)
        ));
    }
    out.push_str("</result>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// `(name, value)` of every item, in order; anything unreadable is skipped.
pub fn payment_result_items(xml: &str) -> Vec<(String, String)> {
    xml.split("<item")
        .skip(1)
        .filter_map(|rest| {
            let tag = format!(" {}", &rest[..rest.find('>')?]);
            Some((attribute(&tag, "name")?, attribute(&tag, "value")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_results_read_back_with_escapes() {
        let xml = payment_result_xml(&[
            ("transactionid", "Transaction ID", "ch_1", ""),
            (
                "status",
                "Status",
                "succeeded",
                "Paid <via> \"Stripe\" & co",
            ),
        ]);
        assert_eq!(
            payment_result_items(&xml),
            [
                ("transactionid".to_string(), "ch_1".to_string()),
                ("status".to_string(), "succeeded".to_string())
            ]
        );
        assert!(xml.contains("&lt;via&gt; &quot;Stripe&quot; &amp; co"));
    }

    #[test]
    fn kenticos_own_results_and_junk_read_safely() {
        let kentico = r#"<result><item name="completed" header="{$PaymentGateway.Result.Status$}" value="1" text="{$PaymentGateway.Result.Paid$}" /><item name="transactionid" header="{$x$}" value="TX-9" /></result>"#;
        assert_eq!(payment_result_items(kentico)[1].1, "TX-9");
        assert!(payment_result_items("").is_empty());
        assert!(payment_result_items("<item name=\"x").is_empty());
        assert!(payment_result_items("<result><item></result>").is_empty());
    }
}
