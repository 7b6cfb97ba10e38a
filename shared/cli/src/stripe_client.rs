//! The Stripe API as the CLI uses it: the stack's own key, the configured API base.

use serde_json::Value;

use crate::stack::Stack;

pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl StripeClient {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(String, String)],
    ) -> Result<Value, String> {
        let reply = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Stripe-Version", "2024-06-20")
            .form(form)
            .send()
            .await
            .map_err(|e| format!("Stripe: {e}"))?;
        let status = reply.status();
        let bytes = reply.bytes().await.map_err(|e| format!("Stripe: {e}"))?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| format!("Stripe: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "Stripe answered {status}: {}",
                body["error"]["message"]
            ));
        }
        Ok(body)
    }
}

impl StripeClient {
    /// With the stack's Stripe API key (its `StripeApiSecretArn` secret).
    pub async fn for_stack(stack: &Stack) -> Result<Self, String> {
        let config = stack.config()?;
        let key = stack.secret("StripeApiSecretArn").await?["api_key"]
            .as_str()
            .filter(|k| !k.is_empty())
            .ok_or("the stack's Stripe API secret has no api_key")?
            .to_string();
        Ok(StripeClient {
            http: reqwest::Client::new(),
            base: config.stripe.api_base.trim_end_matches('/').to_string(),
            key,
        })
    }
}
