//! `docker search`: `GET /v1/search` and `GET /v1/_ping` — the answer's shape, what matches, the
//! order (tiers, then stars, pulls, official, name), pagination and its bad parameters, and
//! that results follow every change and survive a restart.

use std::cmp::Reverse;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::common::*;
use crate::harness::*;
use crate::util::*;

/// One repository of the ranking world: its description, who stars it, how many pulls (manifest
/// GETs) it gets.
#[derive(Debug)]
struct Entry {
    name: &'static str,
    desc: &'static str,
    starrers: &'static [&'static str],
    pulls: u64,
}

const fn e(name: &'static str, desc: &'static str, starrers: &'static [&'static str], pulls: u64) -> Entry {
    Entry { name, desc, starrers, pulls }
}

/// Built so that every tie-break is tested against the one after it: stars beat pulls and name,
/// pulls beat official and name, official beats name; and every tier beats stars.
const WORLD: [Entry; 17] = [
    // exact
    e("web", "The web server", &[], 0),
    // prefix (the name or one of its path components starts with `web`)
    e("alice/webapp", "", &["alice", "bob"], 0),
    e("team/x/web-ui", "", &["alice"], 2),
    e("alice/web", "", &["bob"], 0),
    e("webby/tools", "", &[], 2),
    e("webtools", "", &[], 1),
    e("alice/webtools", "", &[], 1),
    e("webapi", "", &[], 0),
    e("carol/webkit", "", &[], 0),
    // substring
    e("bob/team-web", "", &["alice", "bob", "carol"], 0),
    e("alice/cobweb", "", &["carol"], 0),
    e("cobwebs", "", &[], 0),
    // description only (by words, case-insensitive)
    e("bob/site", "static WEB pages", &["admin", "alice", "carol"], 0),
    e("alice/server", "A Web server", &[], 1),
    e("carol/docs", "webinar notes", &[], 0),
    // no match for `web`
    e("alice/other", "nothing to see", &[], 0),
    e("alice/my_tool", "100% pure, un été", &[], 0),
];

/// The contract's tier of a repository for a (trimmed, lower-cased) term; None: no match.
fn tier(en: &Entry, q: &str) -> Option<u8> {
    if q.is_empty() {
        return Some(0);
    }
    if en.name == q {
        Some(0)
    } else if en.name.starts_with(q) || en.name.split('/').any(|c| c.starts_with(q)) {
        Some(1)
    } else if q.chars().count() >= 3 && en.name.contains(q) {
        // Substrings elsewhere in a name count from three characters on.
        Some(2)
    } else if desc_matches(en.desc, q) {
        Some(3)
    } else {
        None
    }
}

/// Lower-cased words without accents: runs of letters and digits.
fn words(s: &str) -> Vec<String> {
    let fold = |w: &str| {
        w.to_lowercase().chars().map(|c| if matches!(c, 'é' | 'è' | 'ê' | 'ë') { 'e' } else { c }).collect::<String>()
    };
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(fold).collect()
}

/// Whether a description contains the term's words as a run of whole words, the last one
/// possibly cut short (docs/index.md, "What matches").
fn desc_matches(desc: &str, q: &str) -> bool {
    let (d, t) = (words(desc), words(q));
    if t.is_empty() || t.len() > d.len() {
        return false;
    }
    let k = t.len();
    (0..=d.len() - k).any(|i| d[i..i + k - 1] == t[..k - 1] && d[i + k - 1].starts_with(&t[k - 1]))
}

/// The order the contract gives for `q` over [`WORLD`].
fn model(q: &str) -> Vec<String> {
    let q = q.trim().to_lowercase();
    let mut v: Vec<(u8, &Entry)> = WORLD.iter().filter_map(|en| tier(en, &q).map(|t| (t, en))).collect();
    v.sort_by_key(|(t, en)| (*t, Reverse(en.starrers.len()), Reverse(en.pulls), en.name.contains('/'), en.name));
    v.into_iter().map(|(_, en)| en.name.to_string()).collect()
}

/// Pushes [`WORLD`] (as admin), makes it public, sets descriptions, stars and pulls, and waits
/// until every pull count is in the store.
async fn ranking_world() -> Server {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "bob", "carol", "webby"] {
        create_user(&admin, u).await;
    }
    create_org(&s.user("carol"), "team").await;
    let mut digests = Vec::new();
    for (i, en) in WORLD.iter().enumerate() {
        digests.push(push_small(&admin, en.name, "v1", 100 + i as u64).await.digest);
        set_visibility(&admin, en.name, "public").await;
        if !en.desc.is_empty() {
            set_description(&admin, en.name, en.desc).await;
        }
    }
    for en in &WORLD {
        for who in en.starrers {
            let c = if *who == "admin" { s.admin() } else { s.user(who) };
            star(&c, en.name).await;
        }
    }
    // HEAD does not count: carol/webkit must stay at 0 pulls (else it would move up).
    for _ in 0..3 {
        let r = s.anon().head("/v2/carol/webkit/manifests/v1").header("accept", ACCEPT_ALL).send().await.unwrap();
        expect_status(r, 200).await;
    }
    for (k, en) in WORLD.iter().enumerate() {
        for i in 0..en.pulls {
            if i == 1 {
                // A pull by digest counts as much as one by tag.
                pull(&s.anon(), en.name, &digests[k]).await;
            } else {
                pull(&s.anon(), en.name, "v1").await;
            }
        }
    }
    for en in &WORLD {
        if en.pulls > 0 {
            wait_pull_count(&admin, en.name, en.pulls).await;
        }
    }
    for en in &WORLD {
        let v = get_repo(&admin, en.name).await;
        assert_eq!(v["pull_count"], json!(en.pulls), "{}: pull_count (HEADs must not count): {v}", en.name);
        assert_eq!(v["star_count"], json!(en.starrers.len()), "{}: star_count: {v}", en.name);
    }
    s
}

#[tokio::test]
async fn ranking_follows_the_tiers_then_stars_pulls_official_name() {
    let s = ranking_world().await;

    // The model itself, written out for `web` and the empty term.
    let want_web = strs(&[
        "web",
        "alice/webapp",
        "team/x/web-ui",
        "alice/web",
        "webby/tools",
        "webtools",
        "alice/webtools",
        "webapi",
        "carol/webkit",
        "bob/team-web",
        "alice/cobweb",
        "cobwebs",
        "bob/site",
        "alice/server",
        "carol/docs",
    ]);
    assert_eq!(model("web"), want_web, "the test's model");
    let want_all = strs(&[
        "bob/site",
        "bob/team-web",
        "alice/webapp",
        "team/x/web-ui",
        "alice/cobweb",
        "alice/web",
        "webby/tools",
        "webtools",
        "alice/server",
        "alice/webtools",
        "cobwebs",
        "web",
        "webapi",
        "alice/my_tool",
        "alice/other",
        "carol/docs",
        "carol/webkit",
    ]);
    assert_eq!(model(""), want_all, "the test's model");

    for c in [s.anon(), s.admin(), s.user("bob")] {
        let who = c.label.clone();
        let v = search(&c, &[("q", "web")]).await;
        assert_eq!(names(&v), want_web, "{who}: order for q=web: {v}");
        assert_eq!(v["num_results"], json!(15), "{who}: {v}");
        assert_eq!(v["num_pages"], json!(1), "{who}: {v}");
        assert_eq!(v["page_size"], json!(25), "{who}: default n is 25: {v}");
        assert_eq!(v["page"], json!(1), "{who}: default page is 1: {v}");
        assert_eq!(v["query"], json!("web"), "{who}: {v}");
        for r in v["results"].as_array().unwrap() {
            let en = WORLD.iter().find(|en| en.name == r["name"]).unwrap();
            assert_eq!(r["description"], json!(en.desc), "{who}: description of {}: {r}", en.name);
            assert_eq!(r["star_count"], json!(en.starrers.len()), "{who}: star_count of {}: {r}", en.name);
        }
    }

    // Every visible repository, with no tiers, for an absent or empty term.
    let v = search(&s.anon(), &[("n", "100")]).await;
    assert_eq!(names(&v), want_all, "absent q: {v}");
    assert_eq!(v["query"], json!(""), "absent q echoes \"\": {v}");
    assert_eq!(search_all(&s.anon(), "").await, want_all, "q=\"\"");
    assert_eq!(search_all(&s.anon(), "   ").await, want_all, "q of spaces only");

    // Case-insensitive, trimmed, echoed as given (trimmed).
    for q in ["WEB", "Web", "  web  ", "\tweb "] {
        let v = search(&s.anon(), &[("q", q)]).await;
        assert_eq!(names(&v), want_web, "q={q:?}: {v}");
        assert_eq!(v["query"], json!(q.trim()), "q={q:?}: query echoes the trimmed term: {v}");
    }

    // A term with a namespace; other parts of names; descriptions only; nothing.
    assert_eq!(search_all(&s.anon(), "alice/web").await, strs(&["alice/web", "alice/webapp", "alice/webtools"]));
    assert_eq!(search_all(&s.anon(), "team/x/web").await, strs(&["team/x/web-ui"]));
    assert_eq!(search_all(&s.anon(), "WEBINAR").await, strs(&["carol/docs"]));
    // Descriptions match by words: a run of whole words, the last one possibly cut short.
    assert_eq!(search_all(&s.anon(), "web serv").await, strs(&["alice/server", "web"]), "q=web serv");
    assert_eq!(search_all(&s.anon(), "WEB PAG").await, strs(&["bob/site"]), "q=WEB PAG");
    assert_eq!(search_all(&s.anon(), "pure un").await, strs(&["alice/my_tool"]), "q=pure un");
    for q in ["ebinar", "eb pages", "b pages", "web  pages", "pages static", "serv web", "web server x"] {
        let got = search_all(&s.anon(), q).await;
        assert_eq!(got, model(q), "q={q:?}");
    }
    let eb = search_all(&s.anon(), "eb").await;
    assert!(
        !eb.iter().any(|n| ["bob/site", "alice/server", "carol/docs"].contains(&n.as_str())),
        "`eb` matches no description: {eb:?}"
    );
    for q in ["eb", "/web", "APP", "cob", "server", "tools", "alice", "x", "static web", "e", "we", "co", "Te", "b/"] {
        assert_eq!(search_all(&s.anon(), q).await, model(q), "q={q:?}");
    }
    // Characters that mean something to LIKE, GLOB or FTS5 queries are plain text here.
    assert_eq!(search_all(&s.anon(), "_").await, Vec::<String>::new(), "q=_ (too short for a substring)");
    assert_eq!(search_all(&s.anon(), "y_t").await, strs(&["alice/my_tool"]), "q=y_t");
    assert_eq!(search_all(&s.anon(), "my_").await, strs(&["alice/my_tool"]), "q=my_");
    assert_eq!(search_all(&s.anon(), "%").await, Vec::<String>::new(), "q=% (in no name, no words)");
    assert_eq!(search_all(&s.anon(), "100% p").await, strs(&["alice/my_tool"]), "q=100% p");
    for q in [
        "w_b", "w%b", "w_", "%b", "\"", "web\"", "\"web\"", "web*", "*", "w*b", "(web", "web)", "web OR x", "NOT web",
        "web:", "^web", "web AND", "[a-z]", "w?b", "'", "\\", "-web", "+web",
    ] {
        assert_eq!(search_all(&s.anon(), q).await, model(q), "q={q:?}");
    }
    // Case-insensitive beyond ASCII too.
    for q in ["ÉTÉ", "été", "ÉT", "Été", "ete", "e"] {
        assert_eq!(search_all(&s.anon(), q).await, strs(&["alice/my_tool"]), "q={q:?}");
    }

    let v = search(&s.anon(), &[("q", "zzz-nothing")]).await;
    assert_eq!(v["num_results"], json!(0), "{v}");
    assert_eq!(v["num_pages"], json!(0), "num_pages is 0 when nothing matches: {v}");
    assert_eq!(names(&v), Vec::<String>::new(), "{v}");

    // Pages of 4: 15 results in 4 pages, in the same order; a page past the end is empty.
    let mut paged = Vec::new();
    for page in 1..=4u64 {
        let v = search(&s.anon(), &[("q", "web"), ("n", "4"), ("page", &page.to_string())]).await;
        assert_eq!(v["num_pages"], json!(4), "page {page}: {v}");
        assert_eq!(v["num_results"], json!(15), "page {page}: {v}");
        assert_eq!(v["page_size"], json!(4), "page {page}: {v}");
        assert_eq!(v["page"], json!(page), "page {page}: {v}");
        let n = names(&v);
        assert_eq!(n.len(), if page < 4 { 4 } else { 3 }, "page {page}: {v}");
        paged.extend(n);
    }
    assert_eq!(paged, want_web, "pages of 4 put together");
    let v = search(&s.anon(), &[("q", "web"), ("n", "4"), ("page", "5")]).await;
    assert_eq!(names(&v), Vec::<String>::new(), "a page past the end has no results: {v}");
    assert_eq!(v["num_results"], json!(15), "{v}");
    assert_eq!(v["page"], json!(5), "{v}");
    let v = search(&s.anon(), &[("q", "web"), ("n", "15"), ("page", "1")]).await;
    assert_eq!((names(&v), v["num_pages"].clone()), (want_web.clone(), json!(1)), "n=15: {v}");
    let v = search(&s.anon(), &[("q", "web"), ("n", "1"), ("page", "15")]).await;
    assert_eq!((names(&v), v["num_pages"].clone()), (strs(&["carol/docs"]), json!(15)), "n=1 page=15: {v}");

    // A star changes the order at once: one more star lifts carol/docs above alice/server.
    star(&s.user("bob"), "carol/docs").await;
    let v = search(&s.anon(), &[("q", "web")]).await;
    let n = names(&v);
    assert_eq!(&n[12..], strs(&["bob/site", "carol/docs", "alice/server"]).as_slice(), "after a star: {v}");
}

#[tokio::test]
async fn ping_pagination_bounds_and_bad_parameters() {
    // The open mode: everything is visible, private repositories included.
    let s = Server::start();
    let r = s.get("/v1/_ping").send().await.unwrap();
    let r = expect_status(r, 200).await;
    assert_eq!(body_json(r).await, json!({}), "GET /v1/_ping");

    let names_pushed: Vec<String> = (0..105).map(|i| format!("bulk/r{i:03}")).collect();
    futures_util::stream::iter(names_pushed.iter().enumerate())
        .map(|(i, n)| {
            let s = &s;
            async move {
                push_small(s, n, "v1", i as u64).await;
            }
        })
        .buffer_unordered(6)
        .collect::<Vec<()>>()
        .await;

    let v = search(&s, &[]).await;
    assert_eq!(v["num_results"], json!(105), "{v}");
    assert_eq!(v["page_size"], json!(25), "{v}");
    assert_eq!(v["num_pages"], json!(5), "{v}");
    assert_eq!(names(&v), names_pushed[..25].to_vec(), "no stars or pulls: by name: {v}");

    for n in ["101", "1000", "99999999"] {
        let v = search(&s, &[("q", "bulk"), ("n", n)]).await;
        assert_eq!(v["page_size"], json!(100), "n={n} is taken as 100: {v}");
        assert_eq!(v["num_pages"], json!(2), "n={n}: {v}");
        assert_eq!(v["num_results"], json!(105), "n={n}: {v}");
        assert_eq!(names(&v), names_pushed[..100].to_vec(), "n={n}: {v}");
        let v = search(&s, &[("q", "bulk"), ("n", n), ("page", "2")]).await;
        assert_eq!(names(&v), names_pushed[100..].to_vec(), "n={n} page 2: {v}");
    }
    let v = search(&s, &[("q", "bulk"), ("n", "100"), ("page", "2")]).await;
    assert_eq!(names(&v), names_pushed[100..].to_vec(), "n=100 page 2: {v}");
    let v = search(&s, &[("q", "BULK/R1"), ("n", "7"), ("page", "1")]).await;
    assert_eq!(v["num_results"], json!(5), "bulk/r1.. (r100-r104): {v}");
    assert_eq!(names(&v), names_pushed[100..].to_vec(), "{v}");
    let v = search(&s, &[("n", "7"), ("page", "15")]).await;
    assert_eq!((v["num_pages"].clone(), names(&v)), (json!(15), names_pushed[98..].to_vec()), "{v}");
    let v = search(&s, &[("n", "7"), ("page", "16")]).await;
    assert_eq!(names(&v), Vec::<String>::new(), "page 16 of 15: {v}");
    assert_eq!(v["num_results"], json!(105), "{v}");

    // A term of 255 characters is fine; 256 is not.
    let long = "a".repeat(255);
    let v = search(&s, &[("q", &long)]).await;
    assert_eq!(v["num_results"], json!(0), "{v}");
    search_invalid(&s, &[("q", &"a".repeat(256))]).await;
    search_invalid(&s, &[("q", &"b".repeat(1000))]).await;
    for bad in ["0", "-1", "abc", "1.5", "0x10", "-0"] {
        search_invalid(&s, &[("q", "bulk"), ("n", bad)]).await;
        search_invalid(&s, &[("q", "bulk"), ("page", bad)]).await;
    }
}

async fn search_json(c: &impl Http, q: &str) -> Value {
    search(c, &[("q", q), ("n", "100")]).await
}

#[tokio::test]
async fn results_follow_every_change_at_once_and_survive_a_restart() {
    let mut s = auth_server(&[]);
    {
        let admin = s.admin();
        create_user(&admin, "alice").await;
        create_user(&admin, "bob").await;
        let alice = s.user("alice");

        // A push shows up at once (private: only to its owner).
        push_small(&alice, "alice/alpha", "v1", 1).await;
        assert_eq!(search_all(&alice, "alpha").await, strs(&["alice/alpha"]), "right after the push");
        assert_eq!(search_all(&s.anon(), "alpha").await, Vec::<String>::new(), "private: not for anonymous");
        let v = search_json(&alice, "alpha").await;
        assert_eq!(v["results"][0]["description"], json!(""), "unset description is \"\": {v}");
        assert_eq!(v["results"][0]["star_count"], json!(0), "{v}");

        // Description changes are searched at once, the old text no longer.
        set_description(&alice, "alice/alpha", "A Frobnicator for widgets").await;
        let v = search_json(&alice, "frobnicator").await;
        assert_eq!(names(&v), strs(&["alice/alpha"]), "{v}");
        assert_eq!(v["results"][0]["description"], json!("A Frobnicator for widgets"), "{v}");
        set_description(&alice, "alice/alpha", "a gizmo").await;
        assert_eq!(search_all(&alice, "frobnicator").await, Vec::<String>::new(), "old description still found");
        let v = search_json(&alice, "GIZMO").await;
        assert_eq!(names(&v), strs(&["alice/alpha"]), "{v}");
        assert_eq!(v["results"][0]["description"], json!("a gizmo"), "{v}");
        // The full description is not searched.
        patch_ok(&alice, "alice/alpha", json!({"full_description": "# Quuxinator\nlong text"})).await;
        assert_eq!(search_all(&alice, "quuxinator").await, Vec::<String>::new(), "full_description is not matched");

        // Visibility changes apply at once.
        set_visibility(&alice, "alice/alpha", "public").await;
        assert_eq!(search_all(&s.anon(), "alpha").await, strs(&["alice/alpha"]), "after making it public");
        assert_eq!(search_all(&s.user("bob"), "gizmo").await, strs(&["alice/alpha"]), "bob, public");
        set_visibility(&alice, "alice/alpha", "private").await;
        assert_eq!(search_all(&s.anon(), "alpha").await, Vec::<String>::new(), "after making it private again");
        assert_eq!(search_all(&s.user("bob"), "alpha").await, Vec::<String>::new(), "bob, private again");

        // Stars show at once.
        star(&alice, "alice/alpha").await;
        assert_eq!(search_json(&alice, "alpha").await["results"][0]["star_count"], json!(1));

        // A deleted repository is gone; a push brings it back with a fresh description.
        push_small(&alice, "alice/alphabet", "v1", 2).await;
        let r = alice.delete("/api/v1/repositories/alice/alpha").send().await.unwrap();
        expect_status(r, 204).await;
        assert_eq!(search_all(&alice, "alpha").await, strs(&["alice/alphabet"]), "after DELETE");
        assert_eq!(search_all(&alice, "gizmo").await, Vec::<String>::new(), "deleted repository's description");
        push_small(&alice, "alice/alpha", "v2", 3).await;
        let v = search_json(&alice, "alpha").await;
        assert_eq!(names(&v), strs(&["alice/alpha", "alice/alphabet"]), "pushed again: {v}");
        assert_eq!(v["results"][0]["description"], json!(""), "a recreated repository starts anew: {v}");
        assert_eq!(v["results"][0]["star_count"], json!(0), "its stars went with the DELETE: {v}");

        // Some more state for the restart: public ones, stars, pulls.
        set_description(&alice, "alice/alphabet", "letters").await;
        set_visibility(&alice, "alice/alphabet", "public").await;
        push_small(&admin, "alpine", "v1", 4).await;
        set_visibility(&admin, "alpine", "public").await;
        star(&s.user("bob"), "alice/alphabet").await;
        pull(&alice, "alice/alpha", "v2").await;
        wait_pull_count(&alice, "alice/alpha", 1).await;
    }
    let queries = ["", "alpha", "ALP", "letters", "al", "bet"];
    let mut before = Vec::new();
    for q in queries {
        before.push((
            search_json(&s.admin(), q).await,
            search_json(&s.user("alice"), q).await,
            search_json(&s.anon(), q).await,
        ));
    }
    // alphabet has a star, alpha a pull.
    assert_eq!(names(&before[1].1), strs(&["alice/alphabet", "alice/alpha"]), "{:?}", before[1]);
    s.restart();
    for (q, b) in queries.iter().zip(&before) {
        let after =
            (search_json(&s.admin(), q).await, search_json(&s.user("alice"), q).await, search_json(&s.anon(), q).await);
        assert_eq!(&after, b, "q={q:?}: results differ after a restart");
    }
    // And it keeps following changes after the restart.
    push_small(&s.user("alice"), "alice/alpha2", "v1", 5).await;
    assert_eq!(
        search_all(&s.user("alice"), "alpha").await,
        strs(&["alice/alphabet", "alice/alpha", "alice/alpha2"]),
        "a push after the restart"
    );

    // The index is written in the same transaction as the change: acknowledged changes survive
    // a crash too.
    set_description(&s.user("alice"), "alice/alpha2", "crash proof").await;
    set_visibility(&s.user("alice"), "alice/alpha2", "public").await;
    let r = s.user("alice").delete("/api/v1/repositories/alice/alphabet").send().await.unwrap();
    expect_status(r, 204).await;
    s.kill9();
    s.start_again();
    let v = search_json(&s.anon(), "proof").await;
    assert_eq!(names(&v), strs(&["alice/alpha2"]), "after kill -9: {v}");
    assert_eq!(v["results"][0]["description"], json!("crash proof"), "{v}");
    assert_eq!(search_all(&s.user("alice"), "alpha").await, strs(&["alice/alpha", "alice/alpha2"]), "after kill -9");
}
