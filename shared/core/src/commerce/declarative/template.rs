//! Templates of a declarative platform: `{variable}` in a path (each value
//! percent-encoded) or in a JSON body (a string that is exactly `{variable}`
//! takes the variable's JSON value, so amounts stay numbers and flags
//! booleans). Nothing else is interpreted: no expressions, no scripting.

use serde_json::{Map, Value};

/// The variables a template text uses, or why it cannot be read.
pub fn variables_of(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{text:?}: a {{ without its }}"))?;
        let name = &after[..close];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("{text:?}: {{{name}}} is not a variable name"));
        }
        out.push(name.to_string());
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("{text:?}: a }} without its {{"));
    }
    Ok(out)
}

/// A text with `{variables}`.
pub struct Template<'a>(&'a str);

impl<'a> Template<'a> {
    pub fn new(text: &'a str) -> Self {
        Template(text)
    }

    /// The text with each variable replaced by `encode(value)`. A variable
    /// without a value is an error naming it (validation makes it rare).
    pub fn render(
        &self,
        values: &Values,
        encode: impl Fn(&str) -> String,
    ) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = self.0;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or("unclosed {")?;
            let name = &after[..close];
            out.push_str(&encode(&values.text(name)?));
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// One path segment or query value, percent-encoded.
pub fn encode_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The values an operation's templates are rendered with.
#[derive(Debug, Default, Clone)]
pub struct Values(Map<String, Value>);

impl Values {
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.to_string(), value.into());
        self
    }

    fn get(&self, name: &str) -> Result<&Value, String> {
        self.0
            .get(name)
            .ok_or_else(|| format!("the template uses {{{name}}}, which has no value here"))
    }

    fn text(&self, name: &str) -> Result<String, String> {
        Ok(match self.get(name)? {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The body template with its variables filled in.
    pub fn body(&self, template: &Value) -> Result<Value, String> {
        Ok(match template {
            Value::String(s) => {
                let whole = s
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .filter(|n| !n.contains(['{', '}']));
                match whole {
                    Some(name) => self.get(name)?.clone(),
                    None => Value::String(Template::new(s).render(self, str::to_string)?),
                }
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|v| self.body(v)).collect::<Result<_, _>>()?)
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), self.body(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_encode_values_and_bodies_keep_types() {
        let values = Values::default()
            .with("order_id", "A/1 2")
            .with(
                "amount_number",
                serde_json::from_str::<Value>("19.990").unwrap(),
            )
            .with("notify", false)
            .with("comment", "Paid {not a variable}");
        let path = Template::new("/orders/{order_id}?x={notify}")
            .render(&values, encode_component)
            .unwrap();
        assert_eq!(path, "/orders/A%2F1%202?x=false");
        let body = values
            .body(&json!({"amount": "{amount_number}", "n": ["{notify}"], "text": "Order {order_id}", "c": "{comment}", "k": 3}))
            .unwrap();
        assert_eq!(
            body.to_string(),
            r#"{"amount":19.990,"c":"Paid {not a variable}","k":3,"n":[false],"text":"Order A/1 2"}"#
        );
        assert!(values
            .body(&json!("{missing}"))
            .unwrap_err()
            .contains("{missing}"));
    }

    #[test]
    fn variable_names_are_read_strictly() {
        assert_eq!(
            variables_of("/a/{order_id}/{page}").unwrap(),
            ["order_id", "page"]
        );
        assert!(variables_of("/a/{order_id").is_err());
        assert!(variables_of("/a/order_id}").is_err());
        assert!(variables_of("/a/{Order Id}").is_err());
    }
}
