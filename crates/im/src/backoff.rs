//! When to try connecting again: exponential backoff with jitter, so that many clients cut
//! off by the same outage do not all come back in the same second. Pure; the randomness is
//! passed in.

use std::time::Duration;

/// What the last attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Network, TLS handshake, a server restarting: try again soon, then less often.
    Transient,
    /// The server refused the credentials: trying every second changes nothing and may get the
    /// account locked; wait long (a password change wakes the connection anyway).
    Auth,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    auth_wait: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(300),
            Duration::from_secs(900),
        )
    }
}

impl Backoff {
    pub fn new(first: Duration, max: Duration, auth_wait: Duration) -> Backoff {
        Backoff {
            first,
            max,
            auth_wait,
            failures: 0,
        }
    }

    /// A connection succeeded: the next failure starts from the beginning again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// How long to wait after this failure. `unit` is a random number in [0, 1): the wait is
    /// the exponential step scaled into [50 %, 100 %] of it ("equal jitter").
    pub fn next(&mut self, failure: Failure, unit: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let step = match failure {
            Failure::Auth => self.auth_wait,
            Failure::Transient => {
                let exp = self.failures.saturating_sub(1).min(20);
                self.first.saturating_mul(1u32 << exp).min(self.max)
            }
        };
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        step.mul_f64(0.5 + 0.5 * unit)
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// A random number in [0, 1) from the OS (never fails: a fixed 0.5 when the OS has none).
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    match getrandom::getrandom(&mut b) {
        Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_inside_the_step() {
        let mut b = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(900),
        );
        assert_eq!(b.next(Failure::Transient, 1.0), Duration::from_secs(1));
        assert_eq!(b.next(Failure::Transient, 1.0), Duration::from_secs(2));
        assert_eq!(b.next(Failure::Transient, 0.0), Duration::from_secs(2));
        for _ in 0..20 {
            b.next(Failure::Transient, 0.3);
        }
        let capped = b.next(Failure::Transient, 1.0);
        assert_eq!(capped, Duration::from_secs(60));
        let low = b.next(Failure::Transient, 0.0);
        assert_eq!(low, Duration::from_secs(30));
        b.reset();
        assert_eq!(b.next(Failure::Transient, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn auth_failures_wait_long_and_odd_randomness_is_tamed() {
        let mut b = Backoff::default();
        assert!(b.next(Failure::Auth, 0.0) >= Duration::from_secs(450));
        let d = b.next(Failure::Transient, f64::NAN);
        assert!(d <= Duration::from_secs(300));
        let u = random_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
