//! Lambda Function URL glue for the webhook functions: an HTTP request in,
//! the generic receiver's reply out.

use std::sync::Arc;

use aws_config::SdkConfig;
use lambda_http::http::HeaderMap;
use lambda_http::{service_fn, Body, Request, Response};
use tally_core::clock::SystemClock;
use tally_core::webhook::{Headers, WebhookReceiver, WebhookRequest, WebhookSource};

use crate::config::{cached_secret, flow_queues};

/// Everything a webhook function does once its source is built: read the
/// source's keys from the secret named by `keys_secret_env` (once per
/// container, warmed at init), build the flow queues, and serve requests.
pub async fn run_webhook<S: WebhookSource>(
    aws: &SdkConfig,
    source: S,
    keys_secret_env: &'static str,
) -> Result<(), lambda_http::Error> {
    let queues = flow_queues(&aws_sdk_sqs::Client::new(aws), source.flows())?;
    let receiver = WebhookReceiver::new(
        source,
        cached_secret(&aws_sdk_secretsmanager::Client::new(aws), keys_secret_env)?,
        queues,
        Arc::new(SystemClock),
    );
    if let Err(err) = receiver.warm().await {
        tracing::warn!(source = receiver.source_name(), error = %err, "could not read the webhook keys at init; will retry per request");
    }
    let receiver = &receiver;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, lambda_http::Error>(handle_webhook(receiver, request).await)
    }))
    .await
}

struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn handle_webhook<S: WebhookSource>(
    receiver: &WebhookReceiver<S>,
    request: Request,
) -> Response<Body> {
    let headers = HttpHeaders(request.headers());
    let reply = receiver
        .receive(WebhookRequest {
            method: request.method().as_str(),
            headers: &headers,
            query: request.uri().query().unwrap_or(""),
            body: request.body().as_ref(),
        })
        .await;
    Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .body(Body::Text(reply.body))
        .expect("static response parts are valid")
}
