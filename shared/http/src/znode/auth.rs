//! Znode's two ways to authenticate a caller (`APIAuthorizeAttribute`):
//! Basic `base64("domain|key")` on every call, or, with
//! `EnableTokenBasedAuthorization`, a token from `GET token/generatetoken`
//! (asked for with that Basic header) sent as the `Token` header. A token
//! carries its expiry (`TokenExpirationTime` minutes on Znode's clock) and
//! the key it was made from, so a rotated key or a skewed clock shows up as a
//! 401; the caller then forgets the token and asks for a new one.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use tally_core::commerce::znode::PLATFORM;
use tally_core::commerce::PlatformError;
use tally_core::config::{HttpPolicy, ZnodeAuthMode};
use tally_core::secrets::{SecretString, ZnodeSecrets};
use tokio::sync::Mutex;

use crate::retry::{with_retries, Repeat};

pub(super) struct Credentials {
    mode: ZnodeAuthMode,
    /// How long a token is used: Znode's lifetime less a margin for the
    /// request in flight and for clock skew.
    use_for: Duration,
    token: Mutex<Option<Issued>>,
}

struct Issued {
    value: SecretString,
    until: Instant,
}

fn basic(secrets: &ZnodeSecrets) -> String {
    format!(
        "Basic {}",
        BASE64.encode(format!("{}|{}", secrets.domain, secrets.key.expose()))
    )
}

impl Credentials {
    pub(super) fn new(mode: ZnodeAuthMode, expiration_minutes: u32) -> Self {
        let lifetime = Duration::from_secs(u64::from(expiration_minutes) * 60);
        Credentials {
            mode,
            use_for: lifetime - (lifetime / 2).min(Duration::from_secs(60)),
            token: Mutex::new(None),
        }
    }

    /// Whether a 401 is worth one more try with the same key: in token mode
    /// the token may have expired; in Basic mode only a new key would help.
    pub(super) fn renews_on_401(&self) -> bool {
        self.mode == ZnodeAuthMode::Token
    }

    pub(super) async fn forget(&self) {
        *self.token.lock().await = None;
    }

    /// The header this call carries: (name, value).
    pub(super) async fn header(
        &self,
        client: &reqwest::Client,
        base: &str,
        http: &HttpPolicy,
        secrets: &ZnodeSecrets,
    ) -> Result<(&'static str, String), PlatformError> {
        if self.mode == ZnodeAuthMode::Basic {
            return Ok(("Authorization", basic(secrets)));
        }
        let mut slot = self.token.lock().await;
        if let Some(issued) = slot.as_ref().filter(|t| Instant::now() < t.until) {
            return Ok(("Token", issued.value.expose().to_string()));
        }
        let started = Instant::now();
        let value = generate_token(client, base, http, secrets).await?;
        let header = ("Token", value.expose().to_string());
        *slot = Some(Issued {
            value,
            until: started + self.use_for,
        });
        Ok(header)
    }
}

/// `GET token/generatetoken` with the Basic header: 200 `{"Response": token}`,
/// or 404 `{"Response": "Web API Key Not Found"}` for a wrong domain or key.
async fn generate_token(
    client: &reqwest::Client,
    base: &str,
    http: &HttpPolicy,
    secrets: &ZnodeSecrets,
) -> Result<SecretString, PlatformError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct StringResponse {
        #[serde(default)]
        response: Option<SecretString>,
    }
    let url = format!("{base}/token/generatetoken");
    let authorization = basic(secrets);
    let reply = with_retries(
        http,
        "znode",
        "znode GET token/generatetoken",
        Repeat::Safe,
        |timeout| {
            client
                .get(&url)
                .header("Authorization", &authorization)
                .timeout(timeout)
                .send()
        },
    )
    .await
    .map_err(|e| PlatformError::Unavailable {
        platform: PLATFORM.into(),
        status: 0,
        message: e.to_string(),
    })?;
    match reply.status {
        200 => serde_json::from_slice::<StringResponse>(&reply.body)
            .ok()
            .and_then(|r| r.response)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PlatformError::InvalidResponse {
                platform: PLATFORM.into(),
                message: "token/generatetoken answered without a token".into(),
            }),
        // Znode's answer to a wrong domain or key (its body never holds the key)
        401 | 403 | 404 => Err(PlatformError::Unauthorized {
            platform: PLATFORM.into(),
            status: reply.status,
        }),
        s => Err(PlatformError::Unavailable {
            platform: PLATFORM.into(),
            status: s,
            message: format!("token/generatetoken answered {s}"),
        }),
    }
}
