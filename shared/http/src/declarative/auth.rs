//! Signing in to a declarative platform as its mapping's `auth` says: an
//! OAuth 2.0 client-credentials token (cached until a minute before it
//! expires, fetched again after a 401), an API key header, or Basic.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tally_core::commerce::declarative::mapping::AuthMapping;
use tally_core::commerce::PlatformError;
use tally_core::secrets::{RestSecrets, SecretString};

use super::RestPlatform;
use crate::retry::{with_retries, Repeat};

/// A token and when to stop using it.
pub(super) struct Token {
    value: SecretString,
    renew_at: Instant,
}

fn missing(platform: &str, what: &str) -> PlatformError {
    PlatformError::Rejected {
        platform: platform.into(),
        status: 0,
        message: format!("the {platform} API secret has no {what} (its auth needs it)"),
    }
}

impl RestPlatform {
    /// The header that signs a request in, as (name, value).
    pub(super) async fn auth_header(
        &self,
        secrets: &RestSecrets,
    ) -> Result<(String, String), PlatformError> {
        match &self.mapping.auth {
            AuthMapping::ApiKey { header } => {
                let key = secrets
                    .api_key
                    .as_ref()
                    .ok_or_else(|| missing(self.name, "api_key"))?;
                Ok((header.clone(), key.expose().to_string()))
            }
            AuthMapping::Basic => {
                let user = secrets
                    .username
                    .as_ref()
                    .ok_or_else(|| missing(self.name, "username"))?;
                let password = secrets
                    .password
                    .as_ref()
                    .ok_or_else(|| missing(self.name, "password"))?;
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()));
                Ok(("authorization".into(), format!("Basic {basic}")))
            }
            AuthMapping::Oauth2ClientCredentials { .. } => {
                let mut token = self.token.lock().await;
                if let Some(t) = token.as_ref().filter(|t| t.renew_at > Instant::now()) {
                    return Ok((
                        "authorization".into(),
                        format!("Bearer {}", t.value.expose()),
                    ));
                }
                let fresh = self.fetch_token(secrets).await?;
                let header = format!("Bearer {}", fresh.value.expose());
                *token = Some(fresh);
                Ok(("authorization".into(), header))
            }
        }
    }

    /// Drops the cached token (the platform refused it).
    pub(super) async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    async fn fetch_token(&self, secrets: &RestSecrets) -> Result<Token, PlatformError> {
        let AuthMapping::Oauth2ClientCredentials {
            token_path,
            token_url,
            scope,
        } = &self.mapping.auth
        else {
            unreachable!("only OAuth fetches tokens")
        };
        let url = match (token_url, token_path) {
            (Some(u), _) => u.clone(),
            (None, Some(p)) => format!("{}{p}", self.base),
            (None, None) => unreachable!("checked when the mapping was read"),
        };
        let id = secrets
            .client_id
            .as_ref()
            .ok_or_else(|| missing(self.name, "client_id"))?;
        let secret = secrets
            .client_secret
            .as_ref()
            .ok_or_else(|| missing(self.name, "client_secret"))?;
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.clone()),
            ("client_secret", secret.expose().to_string()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.clone()));
        }
        let reply = with_retries(
            &self.mapping.http,
            self.name,
            &format!("{} token", self.name),
            Repeat::Safe,
            |timeout| {
                self.client
                    .post(&url)
                    .timeout(timeout)
                    .header("accept", "application/json")
                    .form(&form)
                    .send()
            },
        )
        .await
        .map_err(|e| self.unavailable(0, e.to_string()))?;
        match reply.status {
            200..=299 => {}
            400 | 401 | 403 => {
                return Err(PlatformError::Unauthorized {
                    platform: self.name.into(),
                    status: reply.status,
                })
            }
            s => return Err(self.unavailable(s, "the token endpoint failed".into())),
        }
        let answer: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| self.invalid(format!("token answer: {e}")))?;
        let value = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| self.invalid("the token answer has no access_token".into()))?;
        let lifetime = answer
            .get("expires_in")
            .and_then(|v| v.to_string().trim_matches('"').parse::<u64>().ok())
            .unwrap_or(3600);
        // renewed a minute early (or halfway through a short lifetime)
        let margin = (lifetime / 2).min(60);
        Ok(Token {
            value: SecretString::new(value),
            renew_at: Instant::now() + Duration::from_secs(lifetime - margin),
        })
    }
}
