//! Lambda Function URL glue for the webhook functions: an HTTP request in,
//! the generic receiver's reply out.

use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use tally_core::webhook::{Headers, WebhookReceiver, WebhookRequest, WebhookSource};

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
