//! Time as a dependency, so leases and tolerances can be tested.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;

    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at_secs(secs: i64) -> Self {
        ManualClock(AtomicI64::new(secs * 1000))
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `YYYY-MM-DD` (UTC) of a unix timestamp, by Howard Hinnant's days-to-civil.
pub fn utc_date(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), the timestamp format of Magento's REST API.
pub fn utc_datetime(unix_secs: i64) -> String {
    let secs = unix_secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02}",
        utc_date(unix_secs),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds of a UTC timestamp `YYYY-MM-DD HH:MM:SS` (or with a `T`, and
/// any fraction or `Z` after the seconds); `None` for anything else.
pub fn parse_utc_datetime(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod date_tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::utc_date(0), "1970-01-01");
        assert_eq!(super::utc_date(951_782_400), "2000-02-29");
        assert_eq!(super::utc_date(1_795_651_200), "2026-11-26");
        assert_eq!(super::utc_date(-1), "1969-12-31");
        assert_eq!(super::utc_datetime(1_795_691_045), "2026-11-26 11:04:05");
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 951_782_400, 1_795_691_045, -86_401] {
            assert_eq!(super::parse_utc_datetime(&super::utc_datetime(t)), Some(t));
        }
        assert_eq!(
            super::parse_utc_datetime("2026-11-26T11:04:05.123Z"),
            Some(1_795_691_045)
        );
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01 00:00:00",
            "2026-11-26 1x:00:00",
            "２０２６-11-26 00:00:00",
        ] {
            assert_eq!(super::parse_utc_datetime(bad), None, "{bad}");
        }
    }
}
