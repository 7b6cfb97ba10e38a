//! `StripeApi` over Stripe's REST API: form-encoded bodies, pinned
//! `Stripe-Version`, an idempotency key on every write, typed errors.

use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tally_core::config::StripeConfig;
use tally_core::secrets::{CachedSecret, StripeSecrets};
use tally_core::stripe::objects::{Charge, Customer, PaymentIntent, Payout, Refund};
use tally_core::stripe::{
    parse_payout_transactions, CustomerWrite, NewPaymentIntent, NewRefund, PayoutTransactionsPage,
    StripeApi, StripeApiError,
};

use crate::retry::{with_retries, Repeat, Reply};

pub struct HttpStripe {
    client: reqwest::Client,
    config: StripeConfig,
    secrets: Arc<CachedSecret<StripeSecrets>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    error_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Stripe's form encoding of a PaymentIntent creation, in a fixed order.
pub fn payment_intent_form(params: &NewPaymentIntent) -> Vec<(String, String)> {
    let mut form = vec![
        ("amount".to_string(), params.amount.amount.get().to_string()),
        (
            "currency".to_string(),
            params.amount.currency.code().to_string(),
        ),
    ];
    if let Some(c) = &params.customer {
        form.push(("customer".into(), c.clone()));
    }
    if let Some(d) = &params.description {
        form.push(("description".into(), d.clone()));
    }
    for (k, v) in &params.metadata {
        form.push((format!("metadata[{k}]"), v.clone()));
    }
    form
}

/// Stripe's form encoding of a customer write, in a fixed order. What the
/// profile lacks is left out, never cleared: one side lacking a phone or an
/// address (Magento keeps none without an address book entry) does not
/// remove the other side's. An address is one value: all its parts are
/// sent, a missing part as Stripe's empty string (unset), so a new address
/// never keeps a line of the old one.
pub fn customer_form(customer: &CustomerWrite) -> Vec<(String, String)> {
    let p = &customer.profile;
    let mut form = vec![("email".to_string(), p.email.clone())];
    for (field, value) in [("name", &p.name), ("phone", &p.phone)] {
        if let Some(v) = value {
            form.push((field.to_string(), v.clone()));
        }
    }
    if let Some(a) = &p.address {
        for (k, v) in [
            ("line1", &a.line1),
            ("line2", &a.line2),
            ("city", &a.city),
            ("state", &a.state),
            ("postal_code", &a.postal_code),
            ("country", &a.country),
        ] {
            form.push((format!("address[{k}]"), v.clone().unwrap_or_default()));
        }
    }
    for (k, v) in &customer.metadata {
        form.push((format!("metadata[{k}]"), v.clone()));
    }
    form
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn error_from(reply: &Reply) -> StripeApiError {
    let detail = serde_json::from_slice::<ErrorBody>(&reply.body)
        .ok()
        .map(|b| b.error);
    let message = detail
        .as_ref()
        .and_then(|d| d.message.clone())
        .unwrap_or_else(|| reply.text().chars().take(300).collect());
    match (reply.status, detail) {
        (401 | 403, _) => StripeApiError::Authentication(reply.status),
        (402, Some(d)) if d.error_type == "card_error" => StripeApiError::Card {
            code: d.code.unwrap_or_else(|| "card_declined".into()),
            decline_code: d.decline_code,
            message,
        },
        (400, Some(d)) if d.error_type == "idempotency_error" => {
            StripeApiError::IdempotencyMismatch(message)
        }
        (s, _) if s == 409 || s == 429 || s >= 500 => {
            StripeApiError::Unavailable { status: s, message }
        }
        (s, d) => StripeApiError::InvalidRequest {
            status: s,
            code: d.as_ref().and_then(|d| d.code.clone()),
            param: d.and_then(|d| d.param),
            message,
        },
    }
}

impl HttpStripe {
    pub fn new(
        client: reqwest::Client,
        config: StripeConfig,
        secrets: Arc<CachedSecret<StripeSecrets>>,
    ) -> Self {
        HttpStripe {
            client,
            config,
            secrets,
        }
    }

    /// Every item of a list (`path` with its filter), all pages, by `starting_after`.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, StripeApiError> {
        #[derive(Deserialize)]
        struct Page<T> {
            data: Vec<T>,
            #[serde(default)]
            has_more: bool,
        }
        let mut all: Vec<T> = Vec::new();
        loop {
            let after = all
                .last()
                .map(|item| format!("&starting_after={}", encode(id_of(item))))
                .unwrap_or_default();
            let page: Page<T> = self
                .call(
                    reqwest::Method::GET,
                    &format!("{path}&limit=100{after}"),
                    None,
                    None,
                )
                .await?;
            let done = !page.has_more || page.data.is_empty();
            all.extend(page.data);
            if done {
                return Ok(all);
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeApiError> {
        let reply = self.call_reply(method, path, form, idempotency_key).await?;
        serde_json::from_slice(&reply.body)
            .map_err(|e| StripeApiError::Decode(format!("{path}: {e}")))
    }

    /// A 2xx reply, or Stripe's error.
    async fn call_reply(
        &self,
        method: reqwest::Method,
        path: &str,
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, StripeApiError> {
        let unavailable = |e: tally_core::secrets::SecretError| {
            StripeApiError::Network(format!("Stripe API key unavailable: {e}"))
        };
        let secrets = self.secrets.get().await.map_err(unavailable)?;
        let mut reply = self
            .send(&method, path, form, idempotency_key, &secrets)
            .await?;
        // The key may have been rolled since this container read it: re-read once.
        if reply.status == 401 {
            if let Some(fresh) = self.secrets.refresh().await.map_err(unavailable)? {
                tracing::info!("Stripe answered 401; retrying once with the re-read key");
                reply = self
                    .send(&method, path, form, idempotency_key, &fresh)
                    .await?;
            }
        }
        if !(200..300).contains(&reply.status) {
            return Err(error_from(&reply));
        }
        Ok(reply)
    }

    async fn send(
        &self,
        method: &reqwest::Method,
        path: &str,
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
        secrets: &StripeSecrets,
    ) -> Result<Reply, StripeApiError> {
        let key = secrets
            .api_key
            .as_ref()
            .ok_or(StripeApiError::Authentication(0))?;
        let url = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let what = format!("stripe {method} {path}");
        // Stripe deduplicates writes by their idempotency key, so those repeat safely.
        let repeat = if *method == reqwest::Method::GET || idempotency_key.is_some() {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        with_retries(&self.config.http, "stripe", &what, repeat, |timeout| {
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(key.expose())
                .header("Stripe-Version", &self.config.api_version)
                .timeout(timeout);
            if let Some(k) = idempotency_key {
                request = request.header("Idempotency-Key", k);
            }
            if let Some(form) = form {
                request = request.form(form);
            }
            request.send()
        })
        .await
        .map_err(|e| StripeApiError::Network(e.to_string()))
    }
}

#[async_trait]
impl StripeApi for HttpStripe {
    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeApiError> {
        let form = payment_intent_form(params);
        self.call(
            reqwest::Method::POST,
            "/v1/payment_intents",
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    async fn create_customer(
        &self,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError> {
        let form = customer_form(customer);
        self.call(
            reqwest::Method::POST,
            "/v1/customers",
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    async fn update_customer(
        &self,
        id: &str,
        customer: &CustomerWrite,
        idempotency_key: &str,
    ) -> Result<Customer, StripeApiError> {
        let form = customer_form(customer);
        self.call(
            reqwest::Method::POST,
            &format!("/v1/customers/{}", encode(id)),
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeApiError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/customers/{}", encode(id)),
            None,
            None,
        )
        .await
    }

    async fn customers_with_email(&self, email: &str) -> Result<Vec<Customer>, StripeApiError> {
        self.list_all(
            &format!("/v1/customers?email={}", encode(email)),
            |c: &Customer| &c.id,
        )
        .await
    }

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeApiError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/payment_intents/{id}"),
            None,
            None,
        )
        .await
    }

    async fn search_payment_intents(
        &self,
        metadata: &[(&str, &str)],
    ) -> Result<Vec<PaymentIntent>, StripeApiError> {
        #[derive(Deserialize)]
        struct SearchResult {
            data: Vec<PaymentIntent>,
        }
        let query = tally_core::stripe::metadata_search_query(metadata);
        let path = format!(
            "/v1/payment_intents/search?query={}&limit=10",
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let found: SearchResult = self.call(reqwest::Method::GET, &path, None, None).await?;
        Ok(found.data)
    }

    async fn livemode(&self) -> Result<Option<bool>, StripeApiError> {
        let secrets = self
            .secrets
            .get()
            .await
            .map_err(|e| StripeApiError::Network(format!("Stripe API key unavailable: {e}")))?;
        Ok(secrets
            .api_key
            .as_ref()
            .and_then(|k| tally_core::stripe::key_livemode(k.expose())))
    }

    async fn retrieve_charge(&self, id: &str) -> Result<Charge, StripeApiError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/charges/{id}"),
            None,
            None,
        )
        .await
    }

    async fn retrieve_refund(&self, id: &str) -> Result<Refund, StripeApiError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/refunds/{id}"),
            None,
            None,
        )
        .await
    }

    async fn create_refund(
        &self,
        params: &NewRefund,
        idempotency_key: &str,
    ) -> Result<Refund, StripeApiError> {
        let mut form = vec![
            ("charge".to_string(), params.charge.clone()),
            ("amount".to_string(), params.amount.amount.get().to_string()),
        ];
        for (k, v) in &params.metadata {
            form.push((format!("metadata[{k}]"), v.clone()));
        }
        self.call(
            reqwest::Method::POST,
            "/v1/refunds",
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    async fn retrieve_payout(&self, id: &str) -> Result<Payout, StripeApiError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        self.call(
            reqwest::Method::GET,
            &format!("/v1/payouts/{id}"),
            None,
            None,
        )
        .await
    }

    async fn payout_transactions(
        &self,
        payout_id: &str,
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<PayoutTransactionsPage, StripeApiError> {
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let after = starting_after
            .map(|a| format!("&starting_after={}", encode(a)))
            .unwrap_or_default();
        let path = format!(
            "/v1/balance_transactions?payout={}&limit={}&expand%5B%5D=data.source{after}",
            encode(payout_id),
            limit.clamp(1, 100)
        );
        let reply = self
            .call_reply(reqwest::Method::GET, &path, None, None)
            .await?;
        parse_payout_transactions(&reply.body).map_err(StripeApiError::Decode)
    }

    async fn list_events(
        &self,
        created_gte: i64,
        types: &[&str],
        starting_after: Option<&str>,
    ) -> Result<tally_core::stripe::event_list::EventsPage, StripeApiError> {
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let mut path = format!("/v1/events?limit=100&created%5Bgte%5D={created_gte}");
        for t in types {
            path.push_str(&format!("&types%5B%5D={}", encode(t)));
        }
        if let Some(after) = starting_after {
            path.push_str(&format!("&starting_after={}", encode(after)));
        }
        let reply = self
            .call_reply(reqwest::Method::GET, &path, None, None)
            .await?;
        tally_core::stripe::event_list::parse_events_page(&reply.body)
            .map_err(StripeApiError::Decode)
    }

    async fn retrieve_event(
        &self,
        id: &str,
    ) -> Result<tally_core::stripe::event_list::ListedEvent, StripeApiError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let reply = self
            .call_reply(
                reqwest::Method::GET,
                &format!("/v1/events/{id}"),
                None,
                None,
            )
            .await?;
        tally_core::stripe::event_list::parse_event(&reply.body).map_err(StripeApiError::Decode)
    }

    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, StripeApiError> {
        self.list_all(
            &format!("/v1/refunds?charge={}", encode(charge_id)),
            |r: &Refund| &r.id,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_core::commerce::{CustomerProfile, PostalAddress};

    #[test]
    fn a_customer_address_is_sent_whole_and_what_the_profile_lacks_is_left_out() {
        let address = PostalAddress {
            line1: Some("7 Last Ln".into()),
            city: Some("Austin".into()),
            country: Some("US".into()),
            ..Default::default()
        };
        let write = CustomerWrite {
            profile: CustomerProfile::new("amy@example.com", Some("Amy Lee"), None, Some(&address)),
            metadata: Default::default(),
        };
        let form = customer_form(&write);
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("address[line1]"), Some("7 Last Ln"));
        assert_eq!(
            get("address[line2]"),
            Some(""),
            "the old line 2 is unset, not kept"
        );
        assert_eq!(get("address[state]"), Some(""));
        assert_eq!(
            get("phone"),
            None,
            "a phone the platform lacks is not cleared in Stripe"
        );
        let no_address = CustomerWrite {
            profile: CustomerProfile::new("amy@example.com", None, None, None),
            metadata: Default::default(),
        };
        assert!(customer_form(&no_address)
            .iter()
            .all(|(k, _)| !k.starts_with("address")));
    }
}
