//! A token bucket: how many messages a client may send, on average and in a
//! burst.

use std::time::Instant;

pub struct Rate {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Rate {
    /// `per_second` messages on average, up to `burst` at once.
    pub fn new(per_second: u32, burst: u32, now: Instant) -> Rate {
        Rate {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes one message's token; false when there is none.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_average() {
        let start = Instant::now();
        let mut rate = Rate::new(10, 3, start);
        assert!((0..3).all(|_| rate.allow(start)));
        assert!(!rate.allow(start), "the burst is spent");
        assert!(
            rate.allow(start + Duration::from_millis(100)),
            "one more after 1/10 s"
        );
        assert!(!rate.allow(start + Duration::from_millis(150)));
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..5).filter(|_| rate.allow(later)).count(),
            3,
            "a long pause refills only the burst"
        );
    }
}
