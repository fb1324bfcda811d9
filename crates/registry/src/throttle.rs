//! Failed-login throttling, per account and per client address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
    lockouts: u32,
}

/// Counts failures per key; past `max_failures` within `window`, the key is locked out for a time
/// that doubles with each lockout (up to `max_lock`).
#[derive(Debug)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
    max_failures: u32,
    window: Duration,
    first_lock: Duration,
    max_lock: Duration,
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration, first_lock: Duration, max_lock: Duration) -> Throttle {
        Throttle { entries: Mutex::new(HashMap::new()), max_failures, window, first_lock, max_lock }
    }

    /// Seconds until `key` may try again, if it is locked out.
    pub fn locked(&self, key: &str) -> Option<u64> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(key)?.locked_until?;
        let now = Instant::now();
        (until > now).then(|| (until - now).as_secs().max(1))
    }

    pub fn failure(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Bounded memory: forget entries that are neither locked nor recent.
            map.retain(|_, e| e.locked_until.is_some_and(|u| u > now) || now - e.window_start < self.window);
        }
        let e = map.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
            lockouts: 0,
        });
        if now - e.window_start > self.window {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            let lock = self.first_lock.saturating_mul(1 << e.lockouts.min(16)).min(self.max_lock);
            e.locked_until = Some(now + lock);
            e.lockouts += 1;
            e.failures = 0;
            e.window_start = now;
        }
    }

    pub fn success(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_repeated_failures() {
        let t = Throttle::new(3, Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(900));
        t.failure("a");
        t.failure("a");
        assert_eq!(t.locked("a"), None);
        t.failure("a");
        let s = t.locked("a").unwrap();
        assert!((29..=30).contains(&s), "{s}");
        assert_eq!(t.locked("b"), None);
        t.success("a");
        assert_eq!(t.locked("a"), None);
    }
}
