//! Secrets Manager as a `SecretFetcher`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tally_core::secrets::{SecretError, SecretFetcher};

pub struct SecretsManagerFetcher {
    client: Client,
    secret_id: String,
}

impl SecretsManagerFetcher {
    pub fn new(client: Client, secret_id: String) -> Self {
        SecretsManagerFetcher { client, secret_id }
    }
}

#[async_trait]
impl SecretFetcher for SecretsManagerFetcher {
    fn id(&self) -> &str {
        &self.secret_id
    }

    async fn fetch(&self) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                id: self.secret_id.clone(),
                // the SDK's error names the failure, never the secret's value
                message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        out.secret_string.ok_or_else(|| SecretError::Invalid {
            id: self.secret_id.clone(),
            message: "secret has no SecretString".into(),
        })
    }
}
