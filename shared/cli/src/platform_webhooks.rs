//! `tally webhooks setup --platform <name>`: a platform's own webhooks to the
//! stack, for platforms whose API can subscribe them. Adobe Commerce can
//! (`/V1/webhooks/list|subscribe|unsubscribe`, module
//! Magento_AdobeCommerceWebhooksSubscriber, an admin token with
//! Magento_AdobeCommerceWebhooks::webhooks_list): the order-placed and
//! credit-memo-saved hooks Tally reads are subscribed in batch `tally`, not
//! required (a checkout never waits on Tally: the poller is the safety net).
//! Znode 10's Webhook Consumer and a Kentico connector are configured in their
//! admin, so for them the command says what to set there.

use serde::Serialize;
use serde_json::{json, Value};

use crate::stack::Stack;

/// Tally's batch: every hook Tally subscribes is in it, and nothing else is.
const BATCH: &str = "tally";
/// A synchronous hook's hard limit: Tally answers in well under it; a
/// failure past it is a non-required hook's, so the order is placed anyway.
const TIMEOUT_MS: u64 = 5_000;

/// The Adobe Commerce hooks Tally reads (README, "Magento 2").
const MAGENTO_HOOKS: &[(&str, &str)] = &[
    ("observer.sales_order_place_after", "order_placed"),
    (
        "observer.sales_order_creditmemo_save_after",
        "creditmemo_saved",
    ),
];

#[derive(Debug, Serialize)]
pub struct PlatformSetup {
    pub platform: String,
    pub url: String,
    pub hooks: Vec<HookSetup>,
    /// What the command cannot do through the API, for a person to do.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HookSetup {
    pub webhook_method: String,
    pub hook_name: String,
    /// `created`, `updated`, `unchanged`, or with `--dry-run` what would be done.
    pub action: String,
}

pub async fn setup(
    stack: &Stack,
    platform: &str,
    url: Option<&str>,
    dry_run: bool,
) -> Result<PlatformSetup, String> {
    match platform {
        "magento" => magento(stack, url, dry_run).await,
        "znode" | "kentico" | "clarity" | "storefront" => {
            // (the stack's URL output, the README section that says what to set in the admin)
            let (output, section) = match platform {
                "znode" => ("ZnodeWebhookUrl", "Znode setup"),
                "kentico" => ("KenticoWebhookUrl", "Kentico setup"),
                "clarity" => ("ClarityWebhookUrl", "Clarity eCommerce"),
                _ => ("StorefrontWebhookUrl", "Describing a platform"),
            };
            Ok(PlatformSetup {
                platform: platform.into(),
                url: match url {
                    Some(u) => u.to_string(),
                    None => stack.output(output)?.to_string(),
                },
                hooks: Vec::new(),
                notes: vec![format!(
                    "{platform} has no API to subscribe webhooks: configure them in its admin (README, \"{section}\")"
                )],
            })
        }
        other => Err(format!(
            "no platform {other:?} (magento, znode, kentico, clarity, storefront)"
        )),
    }
}

struct Magento {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Magento {
    async fn call(
        &self,
        method: reqwest::Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}/rest/all/V1/{route}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let reply = request
            .send()
            .await
            .map_err(|e| format!("Magento: {}", e.without_url()))?;
        let status = reply.status();
        let bytes = reply.bytes().await.map_err(|e| format!("Magento: {e}"))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let hint = if status.as_u16() == 401 || status.as_u16() == 404 {
                " (is Magento_AdobeCommerceWebhooksSubscriber enabled, and may the integration use Magento_AdobeCommerceWebhooks::webhooks_list?)"
            } else {
                ""
            };
            return Err(format!(
                "Magento answered {status} to {route}: {}{hint}",
                body["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(body)
    }
}

async fn magento(stack: &Stack, url: Option<&str>, dry_run: bool) -> Result<PlatformSetup, String> {
    let config = stack.config()?;
    let base = config
        .magento
        .base_url
        .clone()
        .ok_or("the stack's configuration has no magento.base_url")?;
    let token = stack.secret("MagentoApiSecretArn").await?["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the stack's Magento API secret has no access_token")?
        .to_string();
    let magento = Magento {
        http: reqwest::Client::new(),
        base: base.trim_end_matches('/').to_string(),
        token,
    };
    let url = match url {
        Some(u) => u.to_string(),
        None => stack.output("MagentoWebhookUrl")?.to_string(),
    };
    let subscribed = magento
        .call(reqwest::Method::GET, "webhooks/list", None)
        .await?;
    let subscribed = subscribed.as_array().cloned().unwrap_or_default();
    let mut hooks = Vec::new();
    for (method, name) in MAGENTO_HOOKS {
        let wanted = json!({
            "webhook_method": method, "webhook_type": "after", "batch_name": BATCH,
            "hook_name": name, "url": url, "required": false, "timeout": TIMEOUT_MS,
        });
        let existing = subscribed.iter().find(|h| {
            h["webhook_method"] == json!(method)
                && h["batch_name"] == json!(BATCH)
                && h["hook_name"] == json!(name)
        });
        let action = match existing {
            Some(h) if same_hook(h, &wanted) => "unchanged",
            Some(_) => "updated",
            None => "created",
        };
        // subscribing the same identity again replaces it
        if action != "unchanged" && !dry_run {
            magento
                .call(
                    reqwest::Method::POST,
                    "webhooks/subscribe",
                    Some(&json!({"webhook": wanted})),
                )
                .await?;
        }
        hooks.push(HookSetup {
            webhook_method: method.to_string(),
            hook_name: name.to_string(),
            action: if dry_run && action != "unchanged" {
                format!("would be {action}")
            } else {
                action.to_string()
            },
        });
    }
    Ok(PlatformSetup {
        platform: "magento".into(),
        url,
        hooks,
        notes: vec![
            "signing is set in the Admin, not the API: Stores > Configuration > Adobe Services > Webhooks, \
             enable signature verification, regenerate the key pair, and put the public key in the \
             stack's magento-webhook secret (webhook_public_keys)"
                .into(),
        ],
    })
}

/// Whether a subscribed hook already does what Tally wants (Commerce may add defaults).
fn same_hook(existing: &Value, wanted: &Value) -> bool {
    ["webhook_type", "url", "required", "timeout"]
        .iter()
        .all(|k| existing[*k] == wanted[*k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_with_commerce_defaults_added_is_unchanged_and_another_url_is_not() {
        let wanted = json!({"webhook_method": "observer.sales_order_place_after", "webhook_type": "after",
            "batch_name": "tally", "hook_name": "order_placed", "url": "https://t/", "required": false, "timeout": 5000});
        let mut listed = wanted.clone();
        listed["priority"] = json!(100);
        listed["fields"] = json!([]);
        assert!(same_hook(&listed, &wanted));
        listed["url"] = json!("https://old/");
        assert!(!same_hook(&listed, &wanted));
        let mut required = wanted.clone();
        required["required"] = json!(true);
        assert!(
            !same_hook(&required, &wanted),
            "a required hook would block checkouts"
        );
    }
}
