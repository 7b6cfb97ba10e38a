//! Where a poll stands: keyset paging over a platform's orders by their
//! modification time. Offsets shift when orders change during a poll (and
//! Tally's own writes change them), so polls never page by offset: each page
//! is asked for "changed after this key", and the key moves past what was read.

use serde::{Deserialize, Serialize};

/// Orders changed strictly after this key: modified later than `updated_at`,
/// or at `updated_at` itself but not yet among `seen`. Platforms stamp
/// modifications to the second, so several orders share one `updated_at`;
/// remembering which were read keeps an order changed within that same second
/// from being skipped, without reading the others again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeKey {
    /// The platform's own timestamp text (sortable as text, e.g. `2026-11-26 10:00:05`).
    pub updated_at: String,
    /// Ids of the orders already read at exactly `updated_at`.
    #[serde(default)]
    pub seen: Vec<String>,
    /// The key's second was not over when it was read: an order read in it may
    /// change again within that second without its `updated_at` moving, so the
    /// next poll reads the whole second again (once).
    #[serde(default)]
    pub open: bool,
}

impl ChangeKey {
    pub fn starting_at(updated_at: impl Into<String>) -> Self {
        ChangeKey {
            updated_at: updated_at.into(),
            seen: Vec::new(),
            open: false,
        }
    }

    /// Marks the key open when its second is within `settle_secs` of `now_secs`
    /// (platform clocks drift a little from ours). A timestamp that does not
    /// parse is taken as settled.
    pub fn settle(&mut self, now_secs: i64, settle_secs: i64) {
        self.open = crate::clock::parse_utc_datetime(&self.updated_at)
            .is_some_and(|t| t >= now_secs.saturating_sub(settle_secs));
    }

    /// Where a poll starts: an open key's second is read again in full.
    pub fn reopened(mut self) -> Self {
        if self.open {
            self.seen.clear();
            self.open = false;
        }
        self
    }

    /// Whether an order modified at `updated_at` lies after this key.
    pub fn is_before(&self, order_id: &str, updated_at: &str) -> bool {
        match updated_at.cmp(self.updated_at.as_str()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => !self.seen.iter().any(|s| s == order_id),
            std::cmp::Ordering::Less => false,
        }
    }

    /// Moves the key past one order read in `updated_at` order.
    pub fn advance(&mut self, order_id: &str, updated_at: &str) {
        match updated_at.cmp(self.updated_at.as_str()) {
            std::cmp::Ordering::Greater => {
                self.updated_at = updated_at.to_string();
                self.seen = vec![order_id.to_string()];
            }
            std::cmp::Ordering::Equal => {
                if !self.seen.iter().any(|s| s == order_id) {
                    self.seen.push(order_id.to_string());
                }
            }
            std::cmp::Ordering::Less => {}
        }
    }

    /// The stored form (a watermark value).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a key of strings serializes")
    }

    /// Reads a stored key; a bare timestamp (the format before keys) starts at it.
    pub fn decode(stored: &str) -> Self {
        serde_json::from_str(stored).unwrap_or_else(|_| ChangeKey::starting_at(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_moves_past_each_order_once() {
        let mut key = ChangeKey::starting_at("2026-11-26 10:00:00");
        assert!(key.is_before("5", "2026-11-26 10:00:00"));
        key.advance("5", "2026-11-26 10:00:00");
        assert!(!key.is_before("5", "2026-11-26 10:00:00"));
        assert!(
            key.is_before("3", "2026-11-26 10:00:00"),
            "same second, lower id"
        );
        key.advance("9", "2026-11-26 10:00:01");
        assert_eq!(key.seen, vec!["9".to_string()]);
        assert!(!key.is_before("3", "2026-11-26 10:00:00"));
        assert!(
            key.is_before("9", "2026-11-26 10:00:02"),
            "a later change is new"
        );
        key.advance("1", "2026-11-26 09:00:00");
        assert_eq!(key.updated_at, "2026-11-26 10:00:01", "never moves back");
    }

    #[test]
    fn stored_keys_round_trip_and_old_watermarks_still_read() {
        let mut key = ChangeKey::starting_at("2026-11-26 10:00:00");
        key.advance("7", "2026-11-26 10:00:00");
        assert_eq!(ChangeKey::decode(&key.encode()), key);
        assert_eq!(
            ChangeKey::decode("2026-11-26 10:00:07"),
            ChangeKey::starting_at("2026-11-26 10:00:07")
        );
    }
}
