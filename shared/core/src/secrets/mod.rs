//! Secrets: a string type that never prints itself, the per-container cache
//! that reads them from the secret store, and the JSON shape of each secret.
//! Each function reads only the secrets it needs: the public webhook functions
//! read their verification keys (their sources define those shapes), handlers
//! read the API credentials below.

mod cache;
mod redacted;

pub use cache::{
    CachedSecret, SecretError, SecretFetcher, DEFAULT_MIN_REFRESH_INTERVAL, DEFAULT_SECRET_TTL,
    FIRST_OUTAGE_BACKOFF, MAX_OUTAGE_BACKOFF,
};
pub use redacted::SecretString;

use serde::Deserialize;

/// The Stripe API secret: `{"api_key": "sk_..."}` (or a restricted `rk_...` key).
#[derive(Debug, Clone, Deserialize)]
pub struct StripeSecrets {
    #[serde(default)]
    pub api_key: Option<SecretString>,
}

/// The Magento API secret: `{"access_token": "..."}`, the integration's bearer token.
#[derive(Debug, Clone, Deserialize)]
pub struct MagentoSecrets {
    #[serde(default)]
    pub access_token: Option<SecretString>,
}

/// The Znode API secret: `{"domain": "shop.example.com", "key": "..."}`, sent as
/// Basic `base64("domain|key")` (Znode's pipe, not a colon).
#[derive(Debug, Clone, Deserialize)]
pub struct ZnodeSecrets {
    pub domain: String,
    pub key: SecretString,
}

/// The Kentico API secret: `{"username": "...", "password": "..."}` of the
/// dedicated Kentico user, sent as Basic credentials to the REST service.
#[derive(Debug, Clone, Deserialize)]
pub struct KenticoSecrets {
    pub username: String,
    pub password: SecretString,
}

/// A declarative platform's API secret, holding what its `auth` needs:
/// `client_id` and `client_secret` (OAuth 2.0), `api_key`, or `username`
/// and `password` (Basic).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RestSecrets {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
}

/// The ERP secret for Tryton: `{"login": "...", "password": "..."}` of the Tryton
/// user Tally posts as (a session is opened with them; application keys do not
/// cover JSON-RPC).
#[derive(Debug, Clone, Deserialize)]
pub struct TrytonSecrets {
    pub login: String,
    pub password: SecretString,
}

/// The ERP secret for NetSuite's token-based authentication: the integration
/// record's consumer key and secret and the access token's id and secret,
/// `{"consumer_key", "consumer_secret", "token_id", "token_secret"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NetsuiteSecrets {
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
    pub token_id: SecretString,
    pub token_secret: SecretString,
}

/// The stack's ERP secret, as each ERP adapter reads it. Each is read on first
/// use only, so a function fetches the secret once, as the one its adapter needs.
pub struct ErpCredentials {
    pub signing: std::sync::Arc<CachedSecret<ErpSecrets>>,
    pub tryton: std::sync::Arc<CachedSecret<TrytonSecrets>>,
    pub netsuite: std::sync::Arc<CachedSecret<NetsuiteSecrets>>,
}

/// The ERP secret: `{"signing_secret": "..."}`, the HMAC key for Tally's requests.
#[derive(Debug, Clone, Deserialize)]
pub struct ErpSecrets {
    pub signing_secret: SecretString,
}
