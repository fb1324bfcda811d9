//! Webhook delivery: a background worker sends the deliveries queued in the metadata store, signed
//! with HMAC-SHA256, and retries failures with exponential backoff. Nothing here runs on a request's
//! path; the queue is the store's, so a restart resumes where it stopped (at least once).

use berth_meta::{Attempt, AttemptOutcome, DueDelivery, IndexStore};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Settings of delivery.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The wait after the first failed attempt; it doubles after each further one (at most an hour).
    pub backoff: Duration,
    /// Attempts before a delivery is given up as failed.
    pub max_attempts: u32,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How long finished deliveries are kept.
    pub keep: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            backoff: Duration::from_secs(10),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            keep: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Sends at most this many deliveries at once.
const CONCURRENCY: usize = 8;
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// `sha256=<hex>`: the HMAC-SHA256 of `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `made + 1`, after `made` failed attempts.
pub fn backoff(base: Duration, made: u32) -> Duration {
    let factor = 1u32.checked_shl(made.saturating_sub(1)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The delivery worker.
#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Arc<dyn IndexStore>,
    config: DeliveryConfig,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(store: Arc<dyn IndexStore>, config: DeliveryConfig) -> Result<Deliverer, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("berth-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Deliverer { store, config, client })
    }

    /// Runs until `stop` is set: sends what is due, sleeps until the next is due or a new delivery
    /// is queued.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let signal = self.store.delivery_signal();
        // Rows being sent. A row leaves this set only here, after its task has recorded the attempt,
        // so a queue read that started before the record cannot hand it out a second time.
        let mut in_flight: HashMap<tokio::task::Id, i64> = HashMap::new();
        let mut sending: JoinSet<()> = JoinSet::new();
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        loop {
            while let Some(done) = sending.try_join_next_with_id() {
                in_flight.remove(&finished(done));
            }
            if *stop.borrow() {
                break;
            }
            if last_prune.elapsed() >= Duration::from_secs(3600) {
                last_prune = Instant::now();
                let before = berth_meta::now() - self.config.keep.as_secs() as i64;
                if let Err(e) = self.store.prune_deliveries(before).await {
                    tracing::warn!("pruning webhook deliveries failed: {e}");
                }
            }
            let room = CONCURRENCY.saturating_sub(sending.len());
            if room > 0 {
                match self.store.due_deliveries(now_ms(), CONCURRENCY * 2).await {
                    Ok(due) => {
                        let busy: HashSet<i64> = in_flight.values().copied().collect();
                        for d in due.into_iter().filter(|d| !busy.contains(&d.row)).take(room) {
                            let (me, row) = (self.clone(), d.row);
                            let task = sending.spawn(async move { me.send(d).await });
                            in_flight.insert(task.id(), row);
                        }
                    }
                    Err(e) => tracing::warn!("reading the webhook queue failed: {e}"),
                }
            }
            let wait = match self.store.next_due().await {
                Ok(Some(t)) => Duration::from_millis((t - now_ms()).clamp(0, 60_000) as u64),
                Ok(None) => Duration::from_secs(60),
                Err(_) => Duration::from_secs(1),
            };
            // Due ones in flight would make the wait zero: wait for a send to finish instead.
            let wait = if wait.is_zero() && !sending.is_empty() { Duration::from_millis(200) } else { wait };
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(done) = sending.join_next_with_id(), if !sending.is_empty() => {
                    in_flight.remove(&finished(done));
                }
                _ = stop.changed() => {}
            }
        }
        // Let attempts under way finish (each is bounded by the timeout), so they are recorded.
        while sending.join_next().await.is_some() {}
    }

    async fn send(&self, d: DueDelivery) {
        let start = Instant::now();
        let at_ms = now_ms();
        let result = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("x-berth-event", &d.event)
            .header("x-berth-delivery", &d.id)
            .header("x-berth-signature", signature(&d.secret, d.payload.as_bytes()))
            .body(d.payload.clone())
            .send()
            .await;
        let (status_code, error) = match result {
            Ok(resp) => {
                let status = resp.status();
                // Read (a bounded part of) the answer so the connection can be reused.
                let _ = tokio::time::timeout(self.config.timeout, resp.bytes()).await;
                let error = (!status.is_success()).then(|| format!("answered {status}"));
                (Some(status.as_u16()), error)
            }
            Err(e) => (None, Some(describe(&e))),
        };
        let made = d.attempts + 1;
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else if made >= self.config.max_attempts {
            AttemptOutcome::Failed
        } else {
            AttemptOutcome::RetryAt(now_ms() + backoff(self.config.backoff, made).as_millis() as i64)
        };
        let attempt = Attempt { at_ms, status_code, error, duration_ms: start.elapsed().as_millis() as i64 };
        match outcome {
            AttemptOutcome::Delivered => tracing::debug!(delivery = %d.id, "webhook delivered"),
            _ => tracing::info!(
                delivery = %d.id,
                attempt = made,
                error = attempt.error.as_deref().unwrap_or(""),
                gave_up = outcome == AttemptOutcome::Failed,
                "webhook delivery failed"
            ),
        }
        if let Err(e) = self.store.record_attempt(d.row, attempt, outcome).await {
            tracing::warn!(delivery = %d.id, "recording a webhook attempt failed: {e}");
        }
    }
}

/// The task id of a finished send, whether it returned or panicked.
fn finished(r: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match r {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::warn!("a webhook send failed: {e}");
            e.id()
        }
    }
}

/// A transport failure in words, without the URL (it may carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected (not followed)"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Duration::from_secs(10);
        assert_eq!(backoff(b, 1), Duration::from_secs(10));
        assert_eq!(backoff(b, 2), Duration::from_secs(20));
        assert_eq!(backoff(b, 3), Duration::from_secs(40));
        assert_eq!(backoff(b, 40), MAX_BACKOFF);
    }
}
