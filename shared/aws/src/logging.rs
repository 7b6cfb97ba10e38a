//! JSON logs, one flat object per line: the event's own fields beside the
//! fields of every enclosing span (Lambda's requestId, the message and event id
//! and delivery, the order id and increment id), so `filter order_id = "16"`
//! follows one order through CloudWatch Logs Insights. Flat rather than a list
//! of spans: the span names and nesting cost a third of every line's bytes, and
//! log ingestion is a per-order cost (BENCHMARKS.md, "Cost per order").

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_env_filter(filter)
        .try_init();
}

/// Formats an event as one JSON object: timestamp, level, message, the event's
/// fields, then each enclosing span's fields from the outermost in (an inner
/// span's field wins over an outer one of the same name; the event's own win over both).
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now_rfc3339()));
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        let mut own = FieldsToJson(Map::new());
        event.record(&mut own);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        line.extend(own.0);
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: milliseconds, as Lambda's own log timestamps.
fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let secs = ms.div_euclid(1000);
    let datetime = tally_core::clock::utc_datetime(secs).replacen(' ', "T", 1);
    format!("{datetime}.{:03}Z", ms.rem_euclid(1000))
}

/// An event's fields as JSON values (the `message` field included).
struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_one_flat_object_with_the_spans_fields() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let message = tracing::info_span!("message", event_id = "evt_1", delivery = 2);
            let _m = message.enter();
            let order = tracing::info_span!("order", order_id = "16", increment_id = "000000016");
            let _o = order.enter();
            tracing::info!(step = "invoice", result = %"16", "step done");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["message"], "step done");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["step"], "invoice");
        assert_eq!(line["result"], "16");
        assert_eq!(line["event_id"], "evt_1");
        assert_eq!(line["delivery"], 2);
        assert_eq!(line["order_id"], "16");
        assert_eq!(line["increment_id"], "000000016");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(line.get("spans").is_none() && line.get("fields").is_none());
    }
}
