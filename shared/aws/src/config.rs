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

/// The SQS queue of each of `flows`, from the environment (`PAYMENTS_QUEUE_URL`, ...).
pub fn flow_queues(
    sqs: &aws_sdk_sqs::Client,
    flows: &[tally_core::routing::Flow],
) -> Result<
    std::collections::HashMap<
        tally_core::routing::Flow,
        std::sync::Arc<dyn tally_core::ports::Queue>,
    >,
    ConfigError,
> {
    let mut queues = std::collections::HashMap::new();
    for &flow in flows {
        let url = required(flow.queue_url_env())?;
        queues.insert(
            flow,
            std::sync::Arc::new(crate::sqs::SqsQueue::new(sqs.clone(), url))
                as std::sync::Arc<dyn tally_core::ports::Queue>,
        );
    }
    Ok(queues)
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

/// The API secret of the declarative platform `name`, whose id is in
/// `<NAME>_API_SECRET_ID` (`CLARITY_API_SECRET_ID`).
pub fn rest_api_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<tally_core::secrets::CachedSecret<tally_core::secrets::RestSecrets>, ConfigError> {
    // made once per container and per platform
    let env: &'static str =
        Box::leak(format!("{}_API_SECRET_ID", name.to_ascii_uppercase()).into_boxed_str());
    cached_secret(client, env)
}

/// The stack's ERP secret (`ERP_SECRET_ID`) as each ERP adapter reads it; only
/// the configured adapter's is ever fetched.
pub fn erp_credentials(
    client: &aws_sdk_secretsmanager::Client,
) -> Result<tally_core::secrets::ErpCredentials, ConfigError> {
    use std::sync::Arc;
    Ok(tally_core::secrets::ErpCredentials {
        signing: Arc::new(cached_secret(client, "ERP_SECRET_ID")?),
        tryton: Arc::new(cached_secret(client, "ERP_SECRET_ID")?),
        netsuite: Arc::new(cached_secret(client, "ERP_SECRET_ID")?),
    })
}

/// The batch helper's settings from the environment the template sets:
/// `BATCH_CONCURRENCY`, `RETRY_BASE_DELAY_SECS`, `RETRY_MAX_DELAY_SECS`, `MAX_DELIVERIES`,
/// `MIN_SECS_TO_START_RECORD`.
pub fn batch_settings() -> Result<tally_core::batch::BatchSettings, ConfigError> {
    use tally_core::batch::{BatchSettings, RetryPolicy};
    let defaults = BatchSettings::default();
    let retry = RetryPolicy {
        base_delay_secs: parsed_or("RETRY_BASE_DELAY_SECS", defaults.retry.base_delay_secs)?,
        max_delay_secs: parsed_or("RETRY_MAX_DELAY_SECS", defaults.retry.max_delay_secs)?,
        max_deliveries: parsed_or("MAX_DELIVERIES", defaults.retry.max_deliveries)?,
    };
    if retry.max_deliveries == 0 || retry.base_delay_secs == 0 {
        return Err(ConfigError::Invalid {
            name: "MAX_DELIVERIES",
            value: retry.max_deliveries.to_string(),
            reason: "MAX_DELIVERIES and RETRY_BASE_DELAY_SECS must be positive".into(),
        });
    }
    // The redrive policy is the backstop for crashes: if it moved messages first,
    // they would reach the DLQ without the reason the handler gives them.
    let redrive: u32 = parsed_or("MAX_RECEIVE_COUNT", u32::MAX)?;
    if redrive <= retry.max_deliveries {
        return Err(ConfigError::Invalid {
            name: "MAX_RECEIVE_COUNT",
            value: redrive.to_string(),
            reason: format!(
                "the redrive policy's count must exceed MAX_DELIVERIES ({})",
                retry.max_deliveries
            ),
        });
    }
    Ok(BatchSettings {
        concurrency: parsed_or("BATCH_CONCURRENCY", defaults.concurrency)?,
        min_time_to_start: std::time::Duration::from_secs(parsed_or(
            "MIN_SECS_TO_START_RECORD",
            defaults.min_time_to_start.as_secs(),
        )?),
        retry,
    })
}

/// The idempotency lease from `LEASE_SECS`, refused unless it outlasts the
/// function's timeout (`FUNCTION_TIMEOUT_SECS`): a lease that expires while its
/// holder still runs lets a second worker do the same step at the same time.
pub fn lease_secs() -> Result<i64, ConfigError> {
    let lease = parsed_or("LEASE_SECS", tally_core::idempotency::DEFAULT_LEASE_SECS)?;
    let timeout: i64 = parsed_or("FUNCTION_TIMEOUT_SECS", 30)?;
    if lease <= timeout {
        return Err(ConfigError::Invalid {
            name: "LEASE_SECS",
            value: lease.to_string(),
            reason: format!("the lease must outlast the function timeout of {timeout} s"),
        });
    }
    Ok(lease)
}
