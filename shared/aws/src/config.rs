//! Settings read once per container from the environment the SAM template sets.

use std::str::FromStr;

use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// The shared AWS configuration. Endpoint, region and credentials come from the
/// standard chain, so `AWS_ENDPOINT_URL` points every client at an emulator.
pub async fn load() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn parsed_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value: v,
                reason: e.to_string(),
            })
        }
        _ => Ok(default),
    }
}

/// The deployment's configuration document from `TALLY_CONFIG`, validated.
pub fn tally_config() -> Result<tally_core::config::TallyConfig, tally_core::config::ConfigError> {
    tally_core::config::TallyConfig::from_json(&std::env::var("TALLY_CONFIG").unwrap_or_default())
}

/// A Secrets Manager secret cached for the container's lifetime (TTL and
/// refresh interval from `SECRET_TTL_SECS` / `SECRET_MIN_REFRESH_SECS`).
pub fn cached_secret<T: serde::de::DeserializeOwned + Send + Sync>(
    client: &aws_sdk_secretsmanager::Client,
    id_env: &'static str,
) -> Result<tally_core::secrets::CachedSecret<T>, ConfigError> {
    use std::time::Duration;
    Ok(tally_core::secrets::CachedSecret::new(
        Box::new(crate::secrets_manager::SecretsManagerFetcher::new(
            client.clone(),
            required(id_env)?,
        )),
        Duration::from_secs(parsed_or("SECRET_TTL_SECS", 300)?),
        Duration::from_secs(parsed_or(
            "SECRET_MIN_REFRESH_SECS",
            tally_core::secrets::DEFAULT_MIN_REFRESH_INTERVAL.as_secs(),
        )?),
    ))
}
