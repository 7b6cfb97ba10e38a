//! A page of `GET /v1/events` as backfill reads it: each event's routing
//! fields and its exact JSON text (what a webhook would have delivered, and
//! what goes on the queue), newest first as Stripe lists them.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    /// The event object's JSON, as Stripe sent it.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventsPage {
    pub events: Vec<ListedEvent>,
    pub has_more: bool,
}

/// Reads one list page; the error says what was wrong.
pub fn parse_events_page(body: &[u8]) -> Result<EventsPage, String> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        data: Vec<&'a RawValue>,
        #[serde(default)]
        has_more: bool,
    }
    #[derive(Deserialize)]
    struct Fields {
        id: String,
        #[serde(rename = "type")]
        event_type: String,
        #[serde(default)]
        created: i64,
    }
    let page: Page = serde_json::from_slice(body).map_err(|e| format!("events list: {e}"))?;
    let mut events = Vec::with_capacity(page.data.len());
    for raw in page.data {
        let f: Fields = serde_json::from_str(raw.get()).map_err(|e| format!("event: {e}"))?;
        events.push(ListedEvent {
            id: f.id,
            event_type: f.event_type,
            created: f.created,
            raw: raw.get().to_string(),
        });
    }
    Ok(EventsPage {
        events,
        has_more: page.has_more,
    })
}

/// Reads one event (`GET /v1/events/{id}`), keeping its exact text.
pub fn parse_event(body: &[u8]) -> Result<ListedEvent, String> {
    let text = std::str::from_utf8(body).map_err(|_| "event: not UTF-8".to_string())?;
    let wrapped = format!(r#"{{"data":[{text}]}}"#);
    parse_events_page(wrapped.as_bytes())?
        .events
        .pop()
        .ok_or_else(|| "event: empty".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_exact_text() {
        let body = br#"{"object":"list","data":[{"id":"evt_2","type":"charge.succeeded","created":20,"data":{"object":{"amount":1.50}}},
            {"id":"evt_1","object":"event","type":"payout.paid","created":10}],"has_more":true,"url":"/v1/events"}"#;
        let page = parse_events_page(body).unwrap();
        assert!(page.has_more);
        assert_eq!(page.events[0].id, "evt_2");
        assert_eq!(page.events[1].event_type, "payout.paid");
        assert!(
            page.events[0].raw.contains(r#""amount":1.50"#),
            "not re-serialized"
        );
        assert!(parse_events_page(br#"{"data":[{"type":"x"}]}"#)
            .unwrap_err()
            .contains("id"));
        assert!(parse_events_page(b"[]").is_err());
        let one = parse_event(br#"{"id":"evt_9","type":"refund.created","created":5}"#).unwrap();
        assert_eq!((one.id.as_str(), one.created), ("evt_9", 5));
        assert!(parse_event(b"{}").is_err());
    }
}
