//! `tally webhooks setup`: the Stripe webhook endpoint pointing at the stack,
//! enabled for exactly the event types Tally routes. Created when missing,
//! with its signing secret added to the stack's webhook secret (the ones
//! already there kept, so deliveries signed either way verify while rolling);
//! re-enabled and given the routed types when it drifted.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Value};
use tally_core::routing::routed_stripe_event_types;

use crate::stack::Stack;
use crate::stripe_client::StripeClient;

#[derive(Debug, Serialize)]
pub struct Setup {
    pub url: String,
    pub endpoint: String,
    /// `created`, `updated`, `unchanged`, or with `--dry-run` what would be done.
    pub action: String,
    pub enabled_events: Vec<String>,
    pub secret_stored: bool,
}

fn events_form(events: &[String]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| ("enabled_events[]".to_string(), e.clone()))
        .collect()
}

pub async fn setup(stack: &Stack, url: Option<&str>, dry_run: bool) -> Result<Setup, String> {
    let config = stack.config()?;
    let stripe = StripeClient::for_stack(stack).await?;
    let url = match url {
        Some(u) => u.to_string(),
        None => stack.output("StripeWebhookUrl")?.to_string(),
    };
    let wanted: BTreeSet<String> = routed_stripe_event_types()
        .map(|(t, _)| t.to_string())
        .collect();
    let wanted_list: Vec<String> = wanted.iter().cloned().collect();
    let mut after: Option<String> = None;
    let found = loop {
        let path = match &after {
            Some(a) => format!("/v1/webhook_endpoints?limit=100&starting_after={a}"),
            None => "/v1/webhook_endpoints?limit=100".to_string(),
        };
        let page = stripe.call(reqwest::Method::GET, &path, &[]).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        if let Some(e) = data.iter().find(|e| e["url"] == json!(url)) {
            break Some(e.clone());
        }
        match data.last() {
            Some(last) if page["has_more"] == json!(true) => {
                after = last["id"].as_str().map(String::from)
            }
            _ => break None,
        }
    };
    let Some(existing) = found else {
        if dry_run {
            return Ok(Setup {
                url,
                endpoint: "-".into(),
                action: "would create".into(),
                enabled_events: wanted_list,
                secret_stored: false,
            });
        }
        let mut form = vec![
            ("url".to_string(), url.clone()),
            ("api_version".into(), config.stripe.api_version.clone()),
        ];
        form.extend(events_form(&wanted_list));
        let made = stripe
            .call(reqwest::Method::POST, "/v1/webhook_endpoints", &form)
            .await?;
        let secret = made["secret"]
            .as_str()
            .ok_or("Stripe gave no signing secret")?
            .to_string();
        let mut current = stack.secret("StripeWebhookSecretArn").await?;
        let mut secrets: Vec<Value> = vec![Value::from(secret)];
        secrets.extend(
            current["webhook_signing_secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s.as_str().is_some_and(|s| !s.is_empty()))
                .cloned(),
        );
        current["webhook_signing_secrets"] = Value::from(secrets);
        stack.put_secret("StripeWebhookSecretArn", &current).await?;
        return Ok(Setup {
            url,
            endpoint: made["id"].as_str().unwrap_or_default().to_string(),
            action: "created".into(),
            enabled_events: wanted_list,
            secret_stored: true,
        });
    };
    let id = existing["id"].as_str().unwrap_or_default().to_string();
    let has: BTreeSet<String> = existing["enabled_events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(String::from))
        .collect();
    let enabled = existing["status"] == json!("enabled");
    if has == wanted && enabled {
        return Ok(Setup {
            url,
            endpoint: id,
            action: "unchanged".into(),
            enabled_events: wanted_list,
            secret_stored: false,
        });
    }
    if dry_run {
        return Ok(Setup {
            url,
            endpoint: id,
            action: "would update".into(),
            enabled_events: wanted_list,
            secret_stored: false,
        });
    }
    let mut form = vec![("disabled".to_string(), "false".to_string())];
    form.extend(events_form(&wanted_list));
    stripe
        .call(
            reqwest::Method::POST,
            &format!("/v1/webhook_endpoints/{id}"),
            &form,
        )
        .await?;
    Ok(Setup {
        url,
        endpoint: id,
        action: "updated".into(),
        enabled_events: wanted_list,
        secret_stored: false,
    })
}
