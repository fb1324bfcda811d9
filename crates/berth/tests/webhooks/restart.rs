//! Pending deliveries survive a restart and a crash, and are sent after it with the same
//! X-Berth-Delivery (docs/index.md: at least once, queued in the transaction of the change).

use std::time::{Duration, Instant};

use crate::common::*;
use crate::fixtures::*;
use crate::receiver::*;
use crate::util::*;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_is_sent_after_a_restart() {
    let closed = Reserved::new();
    let mut s = server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "2s")], &["alice"]).await;
    let id = ns_hook(&s.user("alice"), "alice", &closed.url("/r"), None).await;
    let img = push_image(&s.user("alice"), "alice/web", "v1", 1).await;
    let list = wait_deliveries(&s.user("alice"), &id, WAIT, "pending after a refused attempt", |l| {
        l.len() == 1 && l[0]["status"] == "pending" && l[0]["attempts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let did = id_of(&list[0]);
    assert_eq!(attempt_codes(&list[0])[0], None, "{}", list[0]);

    let st = s.stop();
    assert!(st.success(), "SIGTERM exit status {st:?}; stderr:\n{}", s.stderr());
    let recv = closed.listen();
    s.set_env("BERTH_WEBHOOK_BACKOFF", "200ms");
    let restarted = Instant::now();
    s.start_again();

    let reqs = recv.wait_for("/r", 1, WAIT).await;
    assert!(reqs[0].at > restarted, "the receiver got it before the restart");
    assert_eq!(
        reqs[0].delivery(),
        Some(did.as_str()),
        "X-Berth-Delivery after the restart vs the pending delivery's id"
    );
    check_delivered(&reqs[0], SECRET, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));

    let alice = s.user("alice");
    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    let d = &list[0];
    assert_eq!(id_of(d), did, "{d}");
    let codes = attempt_codes(d);
    assert!(codes.len() >= 2, "attempts before and after the restart: {d}");
    assert!(codes[..codes.len() - 1].iter().all(Option::is_none), "the refused attempts have no status: {d}");
    assert_quiet(&recv, "/r", 1, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_send_sends_again_with_the_same_delivery_id() {
    let mut s =
        server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "200ms"), ("BERTH_WEBHOOK_TIMEOUT", "5s")], &["alice"]).await;
    let recv = Receiver::start().await;
    // The first request is never answered in time: the server is killed while it waits.
    recv.plan([Reply::Slow(Duration::from_secs(60), 200)]);
    let id = ns_hook(&s.user("alice"), "alice", &recv.url("/r"), None).await;
    let img = push_image(&s.user("alice"), "alice/web", "v1", 1).await;
    let first = recv.wait_for("/r", 1, WAIT).await;
    s.kill9();
    s.start_again();

    let reqs = recv.wait_for("/r", 2, WAIT).await;
    assert_eq!(reqs[1].delivery(), first[0].delivery(), "sent again after the crash with another X-Berth-Delivery");
    let want = Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice");
    let p0 = check_delivered(&first[0], SECRET, &want);
    let p1 = check_delivered(&reqs[1], SECRET, &want);
    assert_eq!(p0, p1, "the payload sent again differs");

    let alice = s.user("alice");
    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    assert_eq!(Some(id_of(&list[0]).as_str()), first[0].delivery(), "{}", list[0]);
    assert_quiet(&recv, "/r", 2, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_push_is_delivered_even_after_kill_9() {
    let closed = Reserved::new();
    let mut s = server_with_users(&[("BERTH_WEBHOOK_BACKOFF", "200ms")], &["alice"]).await;
    let id = ns_hook(&s.user("alice"), "alice", &closed.url("/r"), None).await;
    let img = push_image(&s.user("alice"), "alice/web", "v1", 1).await;
    // Killed right after the 201: whatever the worker did, the delivery was queued with the push.
    s.kill9();
    let recv = closed.listen();
    s.start_again();

    let reqs = recv.wait_for("/r", 1, WAIT).await;
    check_delivered(&reqs[0], SECRET, &Event::push("alice/web", Some("v1"), &img.digest, OCI_MANIFEST, "alice"));
    let alice = s.user("alice");
    let list = wait_deliveries(&alice, &id, WAIT, "delivered", |l| l.len() == 1 && l[0]["status"] == "delivered").await;
    assert_eq!(Some(id_of(&list[0]).as_str()), reqs[0].delivery(), "{}", list[0]);
}
