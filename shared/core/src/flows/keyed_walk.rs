//! The walk every poll takes over a platform's records by key (`ChangeKey`),
//! never by offset: page 1 after the key, handle the page, move the key past
//! it (leaving a second that is not yet over open), save it with a conditional
//! write, repeat. Overlapping polls never move the key twice, a poll cut short
//! (its time limit or `max_pages`) keeps its progress, and an adapter that
//! answers with nothing after the key cannot loop forever. The order poll and
//! the refund poll differ only in what they read and what they do with it.

use std::future::Future;

use crate::clock::{utc_datetime, Clock};
use crate::commerce::ChangeKey;
use crate::flows::order_poller::PollError;
use crate::ports::Watermarks;

/// A second is taken as over (no more changes stamped with it) this long after.
const SETTLE_SECS: i64 = 5;

pub(crate) struct KeyedWalk<'a> {
    pub watermarks: &'a dyn Watermarks,
    pub clock: &'a dyn Clock,
    /// The saved key's name.
    pub name: String,
    /// Where a first poll starts, in seconds before now.
    pub initial_lookback_secs: i64,
    pub max_pages: u32,
}

pub(crate) struct Walked {
    pub since: String,
    pub watermark: String,
    pub pages: u32,
    pub seen: usize,
    /// False when no page moved the saved key (nothing new, or another poll first).
    pub advanced: bool,
    pub truncated: bool,
}

impl KeyedWalk<'_> {
    /// `page` reads and handles the records after a key, answering them;
    /// `key_of` is a record's (id, time) for the key.
    pub(crate) async fn run<T, P, Fut>(
        &self,
        mut page: P,
        key_of: impl Fn(&T) -> (&str, &str),
    ) -> Result<Walked, PollError>
    where
        P: FnMut(ChangeKey) -> Fut,
        Fut: Future<Output = Result<Vec<T>, PollError>>,
    {
        let mut stored = self.watermarks.get(&self.name).await?;
        let mut key = match &stored {
            Some(s) => ChangeKey::decode(s).reopened(),
            None => ChangeKey::starting_at(utc_datetime(
                self.clock
                    .now_secs()
                    .saturating_sub(self.initial_lookback_secs),
            )),
        };
        let mut walked = Walked {
            since: key.updated_at.clone(),
            watermark: key.updated_at.clone(),
            pages: 0,
            seen: 0,
            advanced: false,
            truncated: false,
        };
        loop {
            let short_of_time = crate::deadline::too_short_for_a_page();
            if short_of_time || walked.pages >= self.max_pages {
                walked.truncated = true;
                break;
            }
            let records = page(key.clone()).await?;
            if records.is_empty() {
                break;
            }
            walked.pages += 1;
            walked.seen += records.len();
            let before = key.clone();
            for record in &records {
                let (id, at) = key_of(record);
                key.advance(id, at);
            }
            key.settle(self.clock.now_secs(), SETTLE_SECS);
            if key.updated_at == before.updated_at && key.seen == before.seen {
                // An adapter that answers with records not after the key would loop forever.
                tracing::error!(key = %key.encode(), name = %self.name, "the platform answered with nothing after the key; stopping");
                break;
            }
            let encoded = key.encode();
            if !self
                .watermarks
                .advance(&self.name, stored.as_deref(), &encoded)
                .await?
            {
                tracing::info!(name = %self.name, "another poll moved the key first; leaving the rest to it");
                walked.watermark = key.updated_at.clone();
                break;
            }
            stored = Some(encoded);
            walked.advanced = true;
            walked.watermark = key.updated_at.clone();
        }
        Ok(walked)
    }
}
