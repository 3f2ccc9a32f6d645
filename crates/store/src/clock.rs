//! The clock that profiles, schedules and holds run on.
//!
//! Normally the system clock. For tests only, `SWITCHBOARD_TEST_NOW` moves it: set to unix
//! seconds (`1767254340`) or an RFC 3339 instant (`2026-01-05T08:59:58+01:00`), the clock of
//! this process starts at that instant when first read and runs at normal speed from there.
//! An end-to-end test can so start `switchboard serve` two seconds before a scheduled
//! boundary and watch the active profile change, without waiting for a real Monday morning.
//! Sync, the store's own timestamps and the tracker keep using the real time.

use std::sync::OnceLock;
use std::time::Instant;

/// The environment variable that sets the test clock.
pub const TEST_NOW_VAR: &str = "SWITCHBOARD_TEST_NOW";

static TEST_START: OnceLock<Option<(i64, Instant)>> = OnceLock::new();

/// Reads a test-clock value: unix seconds or an RFC 3339 instant.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|e| format!("'{s}' is neither unix seconds nor an RFC 3339 instant: {e}"))
}

/// Now, in unix seconds, on the routing clock.
pub fn now() -> i64 {
    let start = TEST_START.get_or_init(|| {
        let v = std::env::var(TEST_NOW_VAR).ok()?;
        match parse_instant(&v) {
            Ok(t) => Some((t, Instant::now())),
            Err(e) => {
                // A typo must not silently run on the real clock in a test.
                tracing::warn!("{TEST_NOW_VAR} ignored: {e}");
                None
            }
        }
    });
    match start {
        Some((t, at)) => t + at.elapsed().as_secs() as i64,
        None => crate::now_unix(),
    }
}

/// Whether the test clock is in use (shown by `serve` so nobody mistakes it for real time).
pub fn is_test_clock() -> bool {
    now();
    matches!(TEST_START.get(), Some(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_both_forms() {
        assert_eq!(parse_instant("1767254340").unwrap(), 1_767_254_340);
        assert_eq!(
            parse_instant(" 2026-01-01T08:00:00Z ").unwrap(),
            1_767_254_400
        );
        assert_eq!(
            parse_instant("2026-01-01T09:00:00+01:00").unwrap(),
            1_767_254_400
        );
        assert!(parse_instant("next monday")
            .unwrap_err()
            .contains("next monday"));
    }
}
