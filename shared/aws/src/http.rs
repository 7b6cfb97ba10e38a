//! Function URL request -> receiver -> HTTP response.

use lambda_http::{Body, Request, Response};
use tally_core::receiver::{StripeReceiver, WebhookRequest};
use tally_core::stripe::signature::SIGNATURE_HEADER;

pub async fn handle_stripe_webhook(receiver: &StripeReceiver, request: Request) -> Response<Body> {
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let body: &[u8] = request.body().as_ref();
    let receipt = receiver
        .receive(WebhookRequest {
            method: request.method().as_str(),
            signature,
            body,
        })
        .await;
    Response::builder()
        .status(receipt.status())
        .header("content-type", "application/json")
        .body(Body::Text(receipt.response_body()))
        .expect("static response parts are valid")
}

pub async fn handle_magento_webhook(
    receiver: &tally_core::commerce::magento::MagentoReceiver,
    request: Request,
) -> Response<Body> {
    let signature = request
        .headers()
        .get(tally_core::commerce::magento::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let receipt = receiver
        .receive(
            request.method().as_str(),
            signature,
            request.body().as_ref(),
        )
        .await;
    Response::builder()
        .status(receipt.status)
        .header("content-type", "application/json")
        .body(Body::Text(receipt.body))
        .expect("static response parts are valid")
}
