//! Failed attempts and retries: `webhook_backoff * 2^(k-1)` after failed attempt `k`, the same
//! X-Berth-Delivery each time, `failed` after `webhook_max_attempts`, refused connections,
//! dropped connections, timeouts and redirects (not followed), all recorded as attempts.

use serde_json::Value;
use std::time::Duration;

use crate::common::*;
use crate::fixtures::*;
use crate::receiver::*;
use crate::util::*;

const WAIT: Duration = Duration::from_secs(15);

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Every request is the same delivery (same X-Berth-Delivery, same payload), validly signed.
fn assert_same_delivery(reqs: &[Received], want: &Event<'_>) -> String {
    let first = check_delivered(&reqs[0], SECRET, want);
    for (i, r) in reqs.iter().enumerate().skip(1) {
        let p = check_delivered(r, SECRET, want);
        assert_eq!(r.delivery(), reqs[0].delivery(), "attempt {}: another X-Berth-Delivery", i + 1);
        assert_eq!(p, first, "attempt {}: another payload", i + 1);
    }
    reqs[0].delivery().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_with_the_same_id_until_it_is_answered_2xx() {
    let s = server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "200ms")], &["alice"]).await;
    let recv = Receiver::start().await;
    recv.plan([Reply::Status(500), Reply::Status(500)]);
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/r"), None).await;
    let img = push_image(&alice, "alice/web", "v1", 1).await;

    let reqs = recv.wait_for("/r", 3, WAIT).await;
    let did = assert_same_delivery(&reqs, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));
    let g1 = reqs[1].at - reqs[0].at;
    let g2 = reqs[2].at - reqs[1].at;
    assert!(g1 >= Duration::from_millis(180), "attempt 2 came {g1:?} after attempt 1, want ~200ms (backoff)");
    assert!(g2 >= Duration::from_millis(360), "attempt 3 came {g2:?} after attempt 2, want ~400ms (backoff * 2)");
    assert!(g2 > g1, "the gaps do not grow: {g1:?} then {g2:?}");

    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    let d = &list[0];
    assert_eq!(id_of(d), did, "the listed delivery's id vs X-Berth-Delivery: {d}");
    assert_eq!(attempt_codes(d), [Some(500), Some(500), Some(200)], "attempts: {d}");
    let ats: Vec<i64> =
        d["attempts"].as_array().unwrap().iter().map(|a| parse_rfc3339(a["at"].as_str().unwrap()).unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "attempts are not in order: {d}");
    assert_quiet(&recv, "/r", 3, Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gaps_between_attempts_double() {
    let s = server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "250ms")], &["alice"]).await;
    let recv = Receiver::start().await;
    recv.plan([Reply::Status(500), Reply::Status(503), Reply::Status(404), Reply::Status(500)]);
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/r"), None).await;
    let img = push_image(&alice, "alice/web", "v1", 1).await;

    // While it waits for the next attempt the delivery is pending with a next_attempt_at.
    let list = wait_deliveries(&alice, &id, WAIT, "pending after two failed attempts", |l| {
        l.len() == 1 && l[0]["status"] == "pending" && l[0]["attempts"].as_array().is_some_and(|a| a.len() >= 2)
    })
    .await;
    let d = &list[0];
    let next = parse_rfc3339(d["next_attempt_at"].as_str().unwrap()).unwrap();
    let last_at = d["attempts"].as_array().unwrap().last().unwrap()["at"].as_str().unwrap().to_string();
    assert!(next >= parse_rfc3339(&last_at).unwrap(), "next_attempt_at before the last attempt: {d}");

    let reqs = recv.wait_for("/r", 5, WAIT).await;
    assert_same_delivery(&reqs, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));
    let gaps: Vec<Duration> = reqs.windows(2).map(|w| w[1].at - w[0].at).collect();
    let due = [250u128, 500, 1000, 2000];
    for (k, (g, due)) in gaps.iter().zip(due).enumerate() {
        assert!(
            ms(*g) * 10 >= due * 9 && ms(*g) <= due + 1500,
            "gap after failed attempt {}: {g:?}, due {due}ms (backoff 250ms * 2^{k}); every gap: {gaps:?}",
            k + 1
        );
    }
    assert!(gaps.windows(2).all(|w| w[1] > w[0]), "the gaps do not grow: {gaps:?}");
    assert!(ms(gaps[3]) >= 4 * ms(gaps[0]), "the gaps do not grow exponentially: {gaps:?}");

    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    assert_eq!(
        attempt_codes(&list[0]),
        [Some(500), Some(503), Some(404), Some(500), Some(200)],
        "attempts: {}",
        list[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_attempts_the_delivery_is_failed() {
    let s =
        server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "100ms"), ("BERTH_WEBHOOK_MAX_ATTEMPTS", "3")], &["alice"]).await;
    let recv = Receiver::start().await;
    recv.set_default(Reply::Status(500));
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/r"), None).await;
    let img = push_image(&alice, "alice/web", "v1", 1).await;

    let reqs = recv.wait_for("/r", 3, WAIT).await;
    let did = assert_same_delivery(&reqs, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));
    let list = wait_deliveries(&alice, &id, WAIT, "failed", |l| l.len() == 1 && l[0]["status"] == "failed").await;
    let d = &list[0];
    assert_eq!(id_of(d), did, "{d}");
    assert_eq!(attempt_codes(d), [Some(500), Some(500), Some(500)], "attempts: {d}");
    assert!(d["next_attempt_at"].is_null(), "{d}");
    // No fourth attempt.
    assert_quiet(&recv, "/r", 3, Duration::from_millis(1200)).await;
    let list = deliveries(&alice, &id).await;
    assert_eq!(list[0]["status"], "failed", "{}", list[0]);
    assert_eq!(attempt_codes(&list[0]).len(), 3, "{}", list[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_an_attempt_without_status_and_with_an_error() {
    let s =
        server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "100ms"), ("BERTH_WEBHOOK_MAX_ATTEMPTS", "2")], &["alice"]).await;
    let closed = Reserved::new();
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &closed.url("/r"), None).await;
    push_image(&alice, "alice/web", "v1", 1).await;

    let list = wait_deliveries(&alice, &id, WAIT, "failed", |l| l.len() == 1 && l[0]["status"] == "failed").await;
    let d = &list[0];
    assert_eq!(attempt_codes(d), [None, None], "attempts to a closed port: {d}");
    for a in d["attempts"].as_array().unwrap() {
        assert!(
            a["error"].as_str().is_some_and(|e| !e.trim().is_empty()),
            "an attempt without answer needs an error: {d}"
        );
    }
    assert_eq!(d["payload"]["tag"], "v1", "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_timeouts_and_redirects_are_failed_attempts() {
    let s =
        server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "100ms"), ("BERTH_WEBHOOK_TIMEOUT", "500ms")], &["alice"]).await;
    let recv = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    recv.plan([
        Reply::Drop,
        Reply::Slow(Duration::from_secs(2), 200),
        Reply::Redirect(elsewhere.url("/elsewhere")),
        Reply::Status(204),
    ]);
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &recv.url("/r"), None).await;
    let img = push_image(&alice, "alice/web", "v1", 1).await;

    let reqs = recv.wait_for("/r", 4, WAIT).await;
    assert_same_delivery(&reqs, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));
    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    let d = &list[0];
    assert_eq!(attempt_codes(d), [None, None, Some(302), Some(204)], "dropped, timed out, redirected, 204: {d}");
    let attempts = d["attempts"].as_array().unwrap();
    for a in &attempts[..2] {
        assert!(
            a["error"].as_str().is_some_and(|e| !e.trim().is_empty()),
            "an attempt without answer needs an error: {d}"
        );
    }
    let timed_out = attempts[1]["duration_ms"].as_u64().unwrap();
    assert!((400..1900).contains(&timed_out), "the attempt cut by the 500ms timeout took {timed_out}ms: {d}");
    assert_quiet(&recv, "/r", 4, Duration::from_millis(500)).await;
    assert!(elsewhere.all().is_empty(), "the redirect was followed: {:?}", elsewhere.all());
}

/// The delivery of one push to a webhook on a closed port, with `backoff`, once its first attempt
/// was refused (still pending).
async fn pending_after_a_refused_attempt(backoff: &str) -> Value {
    let s = server_with_users(&[("BERTH_WEBHOOK_BACKOFF", backoff)], &["alice"]).await;
    let closed = Reserved::new();
    let alice = s.user("alice");
    let id = ns_hook(&alice, "alice", &closed.url("/r"), None).await;
    push_image(&alice, "alice/web", "v1", 1).await;
    let mut list = wait_deliveries(&alice, &id, WAIT, "pending after a refused attempt", |l| {
        l.len() == 1 && l[0]["status"] == "pending" && l[0]["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    list.swap_remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_times_are_rfc3339_utc_with_whole_seconds() {
    // docs/index.md: "Times are RFC 3339 in UTC with seconds (`2026-11-23T10:00:00Z`)". A pending
    // delivery after a refused attempt has every kind of time: created_at, next_attempt_at, the
    // attempt's at, the payload's timestamp.
    assert_delivery_times_are_whole_seconds(&pending_after_a_refused_attempt("5s").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_before_a_retry_is_capped_at_one_hour() {
    // backoff 3h: after failed attempt 1 the next would be due in 3h, capped at one hour.
    let d = &pending_after_a_refused_attempt("3h").await;
    let at = parse_rfc3339(d["attempts"][0]["at"].as_str().unwrap()).unwrap();
    let next = parse_rfc3339(d["next_attempt_at"].as_str().unwrap()).unwrap();
    // The hour runs from the end of the attempt; times are whole seconds.
    let took = (d["attempts"][0]["duration_ms"].as_i64().unwrap() + 999) / 1000;
    assert!(
        (3599..=3601 + took).contains(&(next - at)),
        "next attempt {}s after the first with backoff 3h, want the one-hour cap: {d}",
        next - at
    );
}
