//! JSON logs, one object per line. Every line carries the list of enclosing
//! spans with their fields (message and event id, order id and increment id),
//! so a single order or event can be followed through CloudWatch Logs Insights.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}
