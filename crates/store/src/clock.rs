//! The clock that profiles, schedules and holds run on.
//!
//! Normally the system clock. For tests only, two variables move it:
//!
//! * `SWITCHBOARD_CLOCK_OFFSET=SECONDS` adds that many seconds (may be negative) to the
//!   system clock. Every process given the same offset agrees on the time, so a test can run
//!   `switchboard serve` and CLI commands side by side on one shifted clock: it computes the
//!   offset that puts "now" a few seconds before a scheduled boundary and watches the active
//!   profile change, without waiting for a real Monday morning.
//! * `SWITCHBOARD_TEST_NOW` set to unix seconds (`1767254340`) or an RFC 3339 instant
//!   (`2026-01-05T08:59:58+01:00`): the clock of this process starts at that instant when
//!   first read and runs at normal speed from there (for a single command).
//!
//! `SWITCHBOARD_TEST_NOW` wins when both are set. Sync, the store's own timestamps and the
//! tracker keep using the real time.

use std::sync::OnceLock;
use std::time::Instant;

/// The environment variable that sets the test clock of one process.
pub const TEST_NOW_VAR: &str = "SWITCHBOARD_TEST_NOW";
/// The environment variable that shifts the clock by whole seconds.
pub const OFFSET_VAR: &str = "SWITCHBOARD_CLOCK_OFFSET";

enum TestClock {
    Real,
    StartsAt(i64, Instant),
    Offset(i64),
}

static TEST_CLOCK: OnceLock<TestClock> = OnceLock::new();

fn test_clock() -> &'static TestClock {
    TEST_CLOCK.get_or_init(|| {
        if let Ok(v) = std::env::var(TEST_NOW_VAR) {
            match parse_instant(&v) {
                Ok(t) => return TestClock::StartsAt(t, Instant::now()),
                // A typo must not pass unnoticed as the real clock in a test.
                Err(e) => tracing::warn!("{TEST_NOW_VAR} ignored: {e}"),
            }
        }
        if let Ok(v) = std::env::var(OFFSET_VAR) {
            match v.trim().parse::<i64>() {
                Ok(o) => return TestClock::Offset(o),
                Err(e) => tracing::warn!("{OFFSET_VAR} ignored: '{v}' is not whole seconds: {e}"),
            }
        }
        TestClock::Real
    })
}

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
    match test_clock() {
        TestClock::Real => crate::now_unix(),
        TestClock::StartsAt(t, at) => t + at.elapsed().as_secs() as i64,
        TestClock::Offset(o) => crate::now_unix().saturating_add(*o),
    }
}

/// Whether a test clock is in use.
pub fn is_test_clock() -> bool {
    !matches!(test_clock(), TestClock::Real)
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
