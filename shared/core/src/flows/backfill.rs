//! Backfill: every event Stripe has, of a type Tally routes, that the events
//! journal has not recorded goes on its flow's queue as its webhook would have
//! put it. So an outage of the webhook URL, a misconfigured signing secret or
//! an endpoint Stripe disabled loses nothing: the events are read back from
//! Stripe's API (authenticated by Tally's key, so as trustworthy as a signed
//! delivery) and processed once, idempotency making a repeat harmless.
//!
//! The journal is written when a handler first takes an event, so an event
//! still in a queue is not journaled yet: events younger than `min_age_secs`
//! are left to their webhook delivery, not enqueued a second time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::clock::Clock;
use crate::deadline::too_short_for_a_page;
use crate::error::{QueueError, StoreError};
use crate::message::QueueEnvelope;
use crate::ports::{EventJournal, Queue};
use crate::routing::{route_stripe_event, routed_stripe_event_types, Flow};
use crate::stripe::api::{StripeApi, StripeApiError};
use crate::stripe::event_list::ListedEvent;

/// Stripe keeps events for 30 days.
pub const STRIPE_EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// At most this many recovered event ids are listed in a report.
const LISTED_IDS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("Stripe: {0}")]
    Stripe(#[from] StripeApiError),
    #[error("events journal: {0}")]
    Journal(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("no queue for the {0} flow")]
    NoQueue(Flow),
}

/// Which events a run looks at.
#[derive(Debug, Clone, Copy)]
pub struct BackfillWindow {
    /// Events created at or after this (unix seconds); at most 30 days back.
    pub since_secs: i64,
    /// Events younger than this are left to their webhook delivery.
    pub min_age_secs: i64,
    /// Pages of 100 at the most; a report cut short says where to resume.
    /// A run also stops, cut short, when its invocation has too little time
    /// left for another page, so a busy account's window is read as far as
    /// the invocation allows instead of failing at its timeout.
    pub max_pages: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillReport {
    pub since: i64,
    pub dry_run: bool,
    pub pages: u32,
    /// Routed events Stripe listed in the window.
    pub listed: usize,
    pub already_journaled: usize,
    pub too_recent: usize,
    /// Enqueued (or, in a dry run, that would be).
    pub recovered: usize,
    pub recovered_by_type: BTreeMap<String, usize>,
    /// The first recovered event ids.
    pub recovered_ids: Vec<String>,
    /// The page limit stopped the run before the window's end.
    pub truncated: bool,
    /// Where to resume a truncated run (the last event read), for `run`'s `resume_after`.
    pub resume_after: Option<String>,
}

pub struct Backfill<'a> {
    pub stripe: &'a dyn StripeApi,
    pub journal: &'a dyn EventJournal,
    pub queues: &'a HashMap<Flow, Arc<dyn Queue>>,
    pub clock: &'a dyn Clock,
}

impl Backfill<'_> {
    /// The event on its flow's queue, as its webhook would have put it.
    async fn enqueue(
        &self,
        flow: Flow,
        event: &ListedEvent,
        now_ms: i64,
    ) -> Result<(), BackfillError> {
        let queue = self.queues.get(&flow).ok_or(BackfillError::NoQueue(flow))?;
        let message = QueueEnvelope::verified_message(
            "stripe",
            &event.id,
            &event.event_type,
            &event.raw,
            now_ms,
        );
        Ok(queue.send(&message).await?)
    }

    /// One pass over the window, from the newest event (or after
    /// `resume_after`, a truncated report's); `progress` is told each page's
    /// count of events.
    pub async fn run(
        &self,
        window: BackfillWindow,
        resume_after: Option<String>,
        dry_run: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<BackfillReport, BackfillError> {
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let since = window.since_secs.max(now - STRIPE_EVENT_RETENTION_SECS);
        let types: Vec<&str> = routed_stripe_event_types().map(|(t, _)| t).collect();
        let mut report = BackfillReport {
            since,
            dry_run,
            ..BackfillReport::default()
        };
        let mut after = resume_after;
        loop {
            if report.pages >= window.max_pages || too_short_for_a_page() {
                report.truncated = true;
                report.resume_after = after;
                break;
            }
            let page = self
                .stripe
                .list_events(since, &types, after.as_deref())
                .await?;
            report.pages += 1;
            progress(page.events.len());
            let ids: Vec<String> = page.events.iter().map(|e| e.id.clone()).collect();
            let journaled = self.journal.journaled(&ids).await?;
            for event in &page.events {
                let Some(flow) = route_stripe_event(&event.event_type) else {
                    continue;
                };
                report.listed += 1;
                if journaled.contains(&event.id) {
                    report.already_journaled += 1;
                    continue;
                }
                if event.created > now - window.min_age_secs {
                    report.too_recent += 1;
                    continue;
                }
                if !dry_run {
                    self.enqueue(flow, event, now_ms).await?;
                    tracing::info!(event_id = %event.id, event_type = %event.event_type, "backfilled an event its webhook never delivered");
                }
                report.recovered += 1;
                *report
                    .recovered_by_type
                    .entry(event.event_type.clone())
                    .or_default() += 1;
                if report.recovered_ids.len() < LISTED_IDS {
                    report.recovered_ids.push(event.id.clone());
                }
            }
            match page.events.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(report)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub asked: usize,
    pub enqueued: usize,
    /// Events Stripe no longer has (older than 30 days) or that no flow routes.
    pub skipped: Vec<String>,
}

impl Backfill<'_> {
    /// Re-runs journaled events through their flows: each is read again from
    /// Stripe and enqueued as its webhook was. Every step being idempotent, a
    /// replay does again only what is not done yet.
    pub async fn replay(&self, event_ids: &[String]) -> Result<ReplayReport, BackfillError> {
        let mut report = ReplayReport {
            asked: event_ids.len(),
            ..ReplayReport::default()
        };
        for id in event_ids {
            let event = match self.stripe.retrieve_event(id).await {
                Ok(e) => e,
                Err(e) if e.is_missing_resource() => {
                    report.skipped.push(id.clone());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(flow) = route_stripe_event(&event.event_type) else {
                report.skipped.push(id.clone());
                continue;
            };
            self.enqueue(flow, &event, self.clock.now_ms()).await?;
            tracing::info!(event_id = %event.id, event_type = %event.event_type, "replayed");
            report.enqueued += 1;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::{MemoryEventJournal, MemoryQueue, MemoryStripe};
    use crate::ports::RecordedEvent;

    const NOW: i64 = 1_795_651_200;

    struct Setup {
        stripe: Arc<MemoryStripe>,
        journal: Arc<MemoryEventJournal>,
        payments: Arc<MemoryQueue>,
        payouts: Arc<MemoryQueue>,
        queues: HashMap<Flow, Arc<dyn Queue>>,
        clock: ManualClock,
    }

    fn setup() -> Setup {
        let payments = MemoryQueue::new("payments");
        let payouts = MemoryQueue::new("payouts");
        Setup {
            stripe: MemoryStripe::new(),
            journal: MemoryEventJournal::new(),
            queues: HashMap::from([
                (Flow::Payments, payments.clone() as Arc<dyn Queue>),
                (Flow::Payouts, payouts.clone() as Arc<dyn Queue>),
            ]),
            payments,
            payouts,
            clock: ManualClock::at_secs(NOW),
        }
    }

    async fn journal(s: &Setup, id: &str) {
        let recorded = RecordedEvent {
            event_id: id.into(),
            event_type: "charge.succeeded".into(),
            object_id: None,
            object_type: "charge".into(),
            created: NOW - 3600,
            livemode: false,
            flow: "payments".into(),
            recorded_at_ms: NOW * 1000,
        };
        s.journal.record(&recorded).await.unwrap();
    }

    fn window(since: i64) -> BackfillWindow {
        BackfillWindow {
            since_secs: since,
            min_age_secs: 300,
            max_pages: 100,
        }
    }

    async fn run(s: &Setup, w: BackfillWindow, dry_run: bool) -> BackfillReport {
        Backfill {
            stripe: s.stripe.as_ref(),
            journal: s.journal.as_ref(),
            queues: &s.queues,
            clock: &s.clock,
        }
        .run(w, None, dry_run, &|_| {})
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn every_unjournaled_routed_event_goes_to_its_flow_once() {
        let s = setup();
        s.stripe
            .put_event("evt_1", "payment_intent.succeeded", NOW - 3600);
        s.stripe.put_event("evt_2", "charge.succeeded", NOW - 3500);
        s.stripe.put_event("evt_3", "payout.paid", NOW - 3400);
        s.stripe.put_event("evt_4", "refund.created", NOW - 3300);
        s.stripe.put_event("evt_5", "invoice.paid", NOW - 3200);
        s.stripe.put_event("evt_6", "charge.succeeded", NOW - 60);
        s.stripe
            .put_event("evt_7", "charge.succeeded", NOW - 40 * 86_400);
        journal(&s, "evt_2").await;

        let dry = run(&s, window(NOW - 86_400), true).await;
        assert_eq!(dry.recovered, 3);
        assert!(
            s.payments.messages().is_empty(),
            "a dry run enqueues nothing"
        );

        let report = run(&s, window(NOW - 86_400), false).await;
        assert_eq!(
            (
                report.listed,
                report.already_journaled,
                report.too_recent,
                report.recovered
            ),
            (5, 1, 1, 3),
            "{report:?}"
        );
        assert!(report.pages >= 3, "pages of two were followed");
        let payments: Vec<String> = s
            .payments
            .messages()
            .iter()
            .map(|m| QueueEnvelope::parse(&m.body).unwrap().event_id)
            .collect();
        assert_eq!(payments, ["evt_4", "evt_1"], "newest first, as listed");
        let payout = QueueEnvelope::parse(&s.payouts.messages()[0].body).unwrap();
        assert_eq!(
            (payout.source.as_str(), payout.event_id.as_str()),
            ("stripe", "evt_3")
        );
        assert!(
            payout.event.get().contains(r#""type":"payout.paid""#),
            "the event's own JSON"
        );

        // once the handlers journal them, a second run recovers nothing
        for id in ["evt_1", "evt_3", "evt_4"] {
            journal(&s, id).await;
        }
        assert_eq!(run(&s, window(NOW - 86_400), false).await.recovered, 0);
    }

    #[tokio::test]
    async fn the_window_is_at_most_stripes_thirty_days_and_pages_are_bounded() {
        let s = setup();
        for i in 0..7 {
            s.stripe
                .put_event(&format!("evt_{i}"), "charge.succeeded", NOW - 3600 - i);
        }
        s.stripe
            .put_event("evt_old", "charge.succeeded", NOW - 31 * 86_400);
        let report = run(
            &s,
            BackfillWindow {
                since_secs: 0,
                min_age_secs: 0,
                max_pages: 2,
            },
            false,
        )
        .await;
        assert_eq!(report.since, NOW - 30 * 86_400);
        assert!(report.truncated);
        assert_eq!(report.recovered, 4, "two pages of two");
        let resumed = Backfill {
            stripe: s.stripe.as_ref(),
            journal: s.journal.as_ref(),
            queues: &s.queues,
            clock: &s.clock,
        }
        .run(window(0), report.resume_after.clone(), false, &|_| {})
        .await
        .unwrap();
        assert_eq!(resumed.recovered, 3, "the rest, from where it stopped");
        assert!(!resumed.truncated && resumed.resume_after.is_none());
        let rest = run(&s, window(0), false).await;
        assert_eq!(rest.recovered, 7, "not journaled yet, so listed again");
        assert!(!rest.recovered_ids.contains(&"evt_old".to_string()));
    }

    /// Found by the 10,000-event chaos run: one invocation read its fixed 100
    /// pages and stopped, whatever time it had left. It now reads while its
    /// invocation has time for a page, and stops cut short (saying so) when not.
    #[tokio::test(start_paused = true)]
    async fn a_run_reads_pages_while_its_invocation_has_time_and_stops_cut_short_when_not() {
        use crate::deadline::{within, MIN_SECS_FOR_A_PAGE};
        use std::time::Duration;
        use tokio::time::Instant;
        let s = setup();
        for i in 0..7 {
            s.stripe
                .put_event(&format!("evt_{i}"), "charge.succeeded", NOW - 3600 - i);
        }
        let nearly_over = Instant::now() + Duration::from_secs(MIN_SECS_FOR_A_PAGE - 1);
        let cut = within(Some(nearly_over), run(&s, window(0), false)).await;
        assert!(cut.truncated && cut.pages == 0 && cut.recovered == 0);
        assert_eq!(cut.resume_after, None, "resumes from the newest event");
        let time_enough = Instant::now() + Duration::from_secs(60);
        let whole = within(Some(time_enough), run(&s, window(0), false)).await;
        assert!(!whole.truncated, "four pages of two fit in a minute");
        assert_eq!(whole.recovered, 7);
    }

    #[tokio::test]
    async fn a_replay_enqueues_journaled_events_again_and_skips_what_stripe_lacks() {
        let s = setup();
        s.stripe.put_event("evt_1", "charge.succeeded", NOW - 3600);
        s.stripe.put_event("evt_2", "payout.paid", NOW - 3600);
        s.stripe.put_event("evt_3", "invoice.paid", NOW - 3600);
        journal(&s, "evt_1").await;
        let b = Backfill {
            stripe: s.stripe.as_ref(),
            journal: s.journal.as_ref(),
            queues: &s.queues,
            clock: &s.clock,
        };
        let ids: Vec<String> = ["evt_1", "evt_2", "evt_3", "evt_gone"]
            .map(String::from)
            .into();
        let report = b.replay(&ids).await.unwrap();
        assert_eq!(report.enqueued, 2);
        assert_eq!(report.skipped, ["evt_3", "evt_gone"]);
        assert_eq!(s.payments.messages().len(), 1);
        assert_eq!(s.payouts.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_journal_or_queue_outage_is_an_error_not_a_silent_skip() {
        let s = setup();
        s.stripe.put_event("evt_1", "charge.succeeded", NOW - 3600);
        s.journal.fail(true);
        let b = Backfill {
            stripe: s.stripe.as_ref(),
            journal: s.journal.as_ref(),
            queues: &s.queues,
            clock: &s.clock,
        };
        assert!(matches!(
            b.run(window(0), None, false, &|_| {}).await,
            Err(BackfillError::Journal(_))
        ));
        s.journal.fail(false);
        s.payments.fail(true);
        assert!(matches!(
            b.run(window(0), None, false, &|_| {}).await,
            Err(BackfillError::Queue(_))
        ));
    }
}
