//! Who may do what on /v2: every kind of caller against every kind of repository, with HTTP Basic
//! (and bearer tokens for a subset), the catalog, and cross-repository mounts.
//!
//! Each check of a matrix runs on its own and a failure is collected, so one run reports every
//! cell that disagrees with docs/access.md.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    N,
    R,
    W,
    A,
}
use Level::*;

/// user namespace (public, private), organization namespace (public, private, private with a
/// team role on it), official (public, private), a namespace that is neither.
pub const REPOS: [&str; 8] =
    ["alice/pub", "alice/priv", "acme/pub", "acme/priv", "acme/app", "alpine", "internal", "ghost/box"];

#[derive(Debug)]
pub struct Who {
    /// Also used in tag names.
    pub label: &'static str,
    pub cred: Option<(String, String)>,
    /// The level the contract gives on each of [`REPOS`] (personal access tokens: narrowed).
    pub levels: [Level; 8],
}

#[derive(Debug)]
pub struct World {
    pub s: Server,
    pub images: BTreeMap<&'static str, Image>,
    pub who: Vec<Who>,
    pub robot_token: String,
}

impl World {
    pub fn caller(&self, w: &Who) -> Caller<'_> {
        match &w.cred {
            Some((u, p)) => self.s.basic(u, p),
            None => self.s.anon(),
        }
    }
    pub fn who(&self, label: &str) -> &Who {
        self.who.iter().find(|w| w.label == label).unwrap()
    }
}

/// Users alice, olivia (created org acme: owner), adam (team admins: admin), wendy (writers:
/// write), rita (readers: read), dora (deployers: read, and admin on acme/app only), bob (no
/// relation); robot acme+ci in writers; alice's personal access tokens of each scope; the server
/// admin. Every repository holds one image tagged v1; alice/pub, acme/pub and alpine are public.
pub async fn world() -> World {
    let s = auth_server(&[]);
    let admin = s.admin();
    for u in ["alice", "olivia", "adam", "wendy", "rita", "dora", "bob"] {
        create_user(&admin, u).await;
    }
    let olivia = s.user("olivia");
    create_org(&olivia, "acme").await;
    for (team, role, member) in [
        ("admins", "admin", "adam"),
        ("writers", "write", "wendy"),
        ("readers", "read", "rita"),
        ("deployers", "read", "dora"),
    ] {
        create_team(&olivia, "acme", team, role).await;
        add_member(&olivia, "acme", team, member).await;
    }
    set_repo_role(&olivia, "acme", "deployers", "acme/app", "admin").await;
    let robot_token = create_robot(&olivia, "acme", "ci").await;
    add_member(&olivia, "acme", "writers", "acme+ci").await;
    let alice = s.user("alice");
    let (_, pat_read) = create_pat(&alice, "alice", "r", "read", None).await;
    let (_, pat_rw) = create_pat(&alice, "alice", "rw", "read-write", None).await;
    let (_, pat_del) = create_pat(&alice, "alice", "del", "delete", None).await;

    let mut images = BTreeMap::new();
    for (i, repo) in REPOS.iter().enumerate() {
        let owner = match repo.split_once('/').map(|x| x.0) {
            Some("alice") => &alice,
            Some("acme") => &olivia,
            _ => &admin,
        };
        images.insert(*repo, push_image(owner, repo, "v1", 100 + i as u64).await);
    }
    for repo in REPOS {
        assert_eq!(visibility_of(&admin, repo).await, "private", "{repo}: the server default visibility is private");
    }
    set_visibility(&alice, "alice/pub", "public").await;
    set_visibility(&olivia, "acme/pub", "public").await;
    set_visibility(&admin, "alpine", "public").await;

    let cred = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
    let who = vec![
        // Levels on: alice/pub alice/priv acme/pub acme/priv acme/app alpine internal ghost/box
        Who { label: "anonymous", cred: None, levels: [R, N, R, N, N, R, N, N] },
        Who { label: "alice", cred: cred("alice", PW), levels: [A, A, R, N, N, R, N, N] },
        Who { label: "alice-pat-read", cred: cred("alice", &pat_read), levels: [R, R, R, N, N, R, N, N] },
        Who { label: "alice-pat-read-write", cred: cred("alice", &pat_rw), levels: [W, W, R, N, N, R, N, N] },
        Who { label: "alice-pat-delete", cred: cred("alice", &pat_del), levels: [A, A, R, N, N, R, N, N] },
        Who { label: "olivia-org-owner", cred: cred("olivia", PW), levels: [R, N, A, A, A, R, N, N] },
        Who { label: "adam-org-admin", cred: cred("adam", PW), levels: [R, N, A, A, A, R, N, N] },
        Who { label: "wendy-org-write", cred: cred("wendy", PW), levels: [R, N, W, W, W, R, N, N] },
        Who { label: "rita-org-read", cred: cred("rita", PW), levels: [R, N, R, R, R, R, N, N] },
        Who { label: "dora-repo-admin", cred: cred("dora", PW), levels: [R, N, R, R, A, R, N, N] },
        Who { label: "bob-other-user", cred: cred("bob", PW), levels: [R, N, R, N, N, R, N, N] },
        Who { label: "robot-in-writers", cred: cred("acme+ci", &robot_token), levels: [R, N, W, W, W, R, N, N] },
        Who { label: "server-admin", cred: cred("admin", ADMIN_PASSWORD), levels: [A, A, A, A, A, A, A, A] },
    ];
    World { s, images, who, robot_token }
}

/// A repository in the same namespace that does not exist.
fn sibling(repo: &str) -> String {
    match repo.split_once('/') {
        Some((ns, _)) => format!("{ns}/nothere"),
        None => "nothere".to_string(),
    }
}

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic".to_string()
    }
}

/// Runs `check(world, caller, repo)` for every caller and repository (a few at a time) and fails
/// with the list of every cell that failed.
async fn run_matrix<'w, F, Fut>(w: &'w World, what: &str, check: F)
where
    F: Fn(&'w World, &'w Who, &'static str, Level) -> Fut,
    Fut: Future<Output = ()> + 'w,
{
    let mut jobs = Vec::new();
    for who in &w.who {
        for (i, repo) in REPOS.iter().enumerate() {
            jobs.push((who, *repo, who.levels[i]));
        }
    }
    let total = jobs.len();
    let failures: Vec<String> = futures_util::stream::iter(jobs)
        .map(|(who, repo, lvl)| {
            let fut = check(w, who, repo, lvl);
            async move {
                AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .err()
                    .map(|e| format!("[{} {what} {repo}, level {lvl:?}] {}", who.label, panic_text(e)))
            }
        })
        .buffer_unordered(4)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {total} {what} cells disagree with the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The refusal of a read (pull, tags) for a caller without `read`.
async fn refused_read(w: &World, who: &Who, resp: reqwest::Response, repo: &str) {
    if who.cred.is_none() {
        expect_challenge(resp, &w.s, Want::Repo(repo, "pull")).await;
    } else {
        expect_error(resp, 404, "NAME_UNKNOWN").await;
    }
}

/// The refusal of a push or delete.
async fn refused_write(w: &World, who: &Who, resp: reqwest::Response, repo: &str, action: &str) {
    if who.cred.is_none() {
        expect_challenge(resp, &w.s, Want::Repo(repo, action)).await;
    } else {
        expect_error(resp, 403, "DENIED").await;
    }
}

#[tokio::test]
async fn pull_manifest_matrix() {
    let w = world().await;
    run_matrix(&w, "GET manifest", |w, who, repo, lvl| async move {
        let r =
            w.caller(who).get(&format!("/v2/{repo}/manifests/v1")).header("accept", OCI_MANIFEST).send().await.unwrap();
        if lvl >= R {
            let r = expect_status(r, 200).await;
            assert!(body_bytes(r).await == w.images[repo].manifest, "manifest bytes differ");
        } else {
            refused_read(w, who, r, repo).await;
        }
    })
    .await;
}

#[tokio::test]
async fn pull_blob_matrix() {
    let w = world().await;
    run_matrix(&w, "GET blob", |w, who, repo, lvl| async move {
        let img = &w.images[repo];
        let d = sha256(&img.layers[0]);
        let c = w.caller(who);
        let r = c.get(&format!("/v2/{repo}/blobs/{d}")).send().await.unwrap();
        if lvl >= R {
            let r = expect_status(r, 200).await;
            assert!(body_bytes(r).await == img.layers[0], "blob bytes differ");
        } else if who.cred.is_none() {
            expect_challenge(r, &w.s, Want::Repo(repo, "pull")).await;
        } else {
            // "404 ... exactly as for a repository that does not exist".
            let st = r.status().as_u16();
            let v = body_json(r).await;
            let other = c.get(&format!("/v2/{}/blobs/{d}", sibling(repo))).send().await.unwrap();
            let ost = other.status().as_u16();
            let ov = body_json(other).await;
            assert_eq!(st, 404, "status for an unreadable repository: {v}");
            assert_eq!(
                (st, &v["errors"][0]["code"]),
                (ost, &ov["errors"][0]["code"]),
                "the answer differs from the one for a missing repository {}: {v} vs {ov}",
                sibling(repo)
            );
            let code = v["errors"][0]["code"].as_str().unwrap_or_default();
            assert!(code == "NAME_UNKNOWN" || code == "BLOB_UNKNOWN", "code {code}: {v}");
        }
    })
    .await;
}

#[tokio::test]
async fn tag_list_matrix() {
    let w = world().await;
    run_matrix(&w, "GET tags/list", |w, who, repo, lvl| async move {
        let r = w.caller(who).get(&format!("/v2/{repo}/tags/list")).send().await.unwrap();
        if lvl >= R {
            let v = body_json(expect_status(r, 200).await).await;
            assert_eq!(v["name"], repo);
            assert!(v["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == "v1")), "tags: {v}");
        } else {
            refused_read(w, who, r, repo).await;
        }
    })
    .await;
}

#[tokio::test]
async fn push_matrix() {
    let w = world().await;
    run_matrix(&w, "POST upload", |w, who, repo, lvl| async move {
        let r = w.caller(who).post(&format!("/v2/{repo}/blobs/uploads/")).body(Vec::new()).send().await.unwrap();
        if lvl >= W {
            let r = expect_status(r, 202).await;
            assert!(location(&r).starts_with(&format!("/v2/{repo}/blobs/uploads/")));
        } else {
            refused_write(w, who, r, repo, "push").await;
        }
    })
    .await;
    run_matrix(&w, "PUT manifest", |w, who, repo, lvl| async move {
        let tag = format!("p-{}", who.label);
        let img = &w.images[repo];
        let r = put_manifest(&w.caller(who), repo, &tag, OCI_MANIFEST, &img.manifest).await;
        if lvl >= W {
            let r = expect_status(r, 201).await;
            assert_eq!(must_header(&r, "docker-content-digest"), img.digest);
        } else {
            refused_write(w, who, r, repo, "push").await;
            let r = w.s.admin().get(&format!("/v2/{repo}/manifests/{tag}")).send().await.unwrap();
            expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        }
    })
    .await;
}

#[tokio::test]
async fn delete_matrix() {
    let w = world().await;
    let seeds = std::sync::atomic::AtomicU64::new(5000);
    let seeds = &seeds;
    run_matrix(&w, "DELETE manifest", |w, who, repo, lvl| async move {
        let c = w.caller(who);
        if lvl >= A {
            // A manifest of its own to delete.
            let admin = w.s.admin();
            let config = config_blob(seeds.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            push_blob(&admin, repo, &config).await;
            let m = oci_manifest(&config, &[]);
            let d = sha256(&m);
            push_manifest(&admin, repo, &d, OCI_MANIFEST, &m).await;
            let r = c.delete(&format!("/v2/{repo}/manifests/{d}")).send().await.unwrap();
            expect_status(r, 202).await;
            let r = admin.get(&format!("/v2/{repo}/manifests/{d}")).send().await.unwrap();
            expect_error(r, 404, "MANIFEST_UNKNOWN").await;
        } else {
            let r = c.delete(&format!("/v2/{repo}/manifests/{}", w.images[repo].digest)).send().await.unwrap();
            refused_write(w, who, r, repo, "delete").await;
        }
    })
    .await;
    for repo in REPOS {
        let r = w.s.admin().get(&format!("/v2/{repo}/manifests/{}", w.images[repo].digest)).send().await.unwrap();
        expect_status(r, 200).await;
    }
}

#[tokio::test]
async fn catalog_lists_exactly_the_readable_repositories() {
    let w = world().await;
    let mut failures = Vec::new();
    for who in &w.who {
        let want: Vec<&str> = REPOS.iter().zip(who.levels).filter(|(_, l)| *l >= R).map(|(r, _)| *r).collect();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        let r = w.caller(who).get("/v2/_catalog").send().await.unwrap();
        if r.status() != 200 {
            failures.push(format!("{}: status {} {}", who.label, r.status(), r.text().await.unwrap_or_default()));
            continue;
        }
        let v = body_json(r).await;
        let got: Vec<String> = v["repositories"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap_or("?").to_string()).collect())
            .unwrap_or_default();
        if got != want {
            failures.push(format!("{}: catalog {got:?}, want {want:?}", who.label));
        }
    }
    assert!(failures.is_empty(), "catalog:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn v2_base_needs_credentials() {
    let w = world().await;
    let r = w.s.get("/v2/").send().await.unwrap();
    expect_challenge(r, &w.s, Want::NoScope).await;
    for who in w.who.iter().filter(|x| x.cred.is_some()) {
        let r = w.caller(who).get("/v2/").send().await.unwrap();
        expect_status(r, 200).await;
    }
    // Bad Basic credentials: 401 with the challenge, whatever the endpoint.
    let bad = w.s.basic("alice", "wrong-password");
    let r = bad.get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, &w.s, Want::NoScope).await;
    let r = bad.get("/v2/alice/pub/manifests/v1").send().await.unwrap();
    expect_bad_credentials(r, &w.s, Want::Repo("alice/pub", "pull")).await;
    let r = w.s.basic("nosuchuser", PW).get("/v2/alice/pub/tags/list").send().await.unwrap();
    expect_bad_credentials(r, &w.s, Want::Repo("alice/pub", "pull")).await;
    // The catalog challenge names the catalog scope.
    let r = bad.get("/v2/_catalog").send().await.unwrap();
    expect_bad_credentials(r, &w.s, Want::Exactly("registry:catalog:*")).await;
}

#[tokio::test]
async fn bearer_tokens_are_decided_like_basic() {
    let w = world().await;
    let s = &w.s;
    let alice = s.user("alice");
    let priv_img = &w.images["alice/priv"];

    // alice, pull+push on her private repository.
    let (t, _) = token_for(&alice, &["repository:alice/priv:pull,push"]).await;
    let b = s.bearer(&t);
    expect_status(b.get("/v2/").send().await.unwrap(), 200).await;
    let r = b.get("/v2/alice/priv/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    expect_status(r, 200).await;
    let r = put_manifest(&b, "alice/priv", "bearer", OCI_MANIFEST, &priv_img.manifest).await;
    expect_status(r, 201).await;
    // She could delete, but the token does not carry it: 401 insufficient_scope.
    let r = b.delete(&format!("/v2/alice/priv/manifests/{}", priv_img.digest)).send().await.unwrap();
    expect_insufficient(r, s, Want::Repo("alice/priv", "delete")).await;
    // A repository she may read, not in the token.
    let r = b.get("/v2/acme/pub/manifests/v1").send().await.unwrap();
    expect_insufficient(r, s, Want::Repo("acme/pub", "pull")).await;
    // The catalog is not in the token either.
    let r = b.get("/v2/_catalog").send().await.unwrap();
    expect_insufficient(r, s, Want::Exactly("registry:catalog:*")).await;

    // pull only: a push is 401 insufficient_scope.
    let (t, _) = token_for(&alice, &["repository:alice/priv:pull"]).await;
    let r = put_manifest(&s.bearer(&t), "alice/priv", "bearer2", OCI_MANIFEST, &priv_img.manifest).await;
    expect_insufficient(r, s, Want::Repo("alice/priv", "push")).await;

    // bob asks for what he may not have: an empty grant, then 404 / 403 like Basic.
    let bob = s.user("bob");
    let (t, _) = token_for(&bob, &["repository:alice/priv:pull,push", "repository:acme/pub:pull,push"]).await;
    assert_eq!(access_of(&decode_jwt(&t).claims), access(&[("repository", "acme/pub", &["pull"])]));
    let b = s.bearer(&t);
    let r = b.get("/v2/alice/priv/manifests/v1").send().await.unwrap();
    expect_error(r, 404, "NAME_UNKNOWN").await;
    let r = put_manifest(&b, "alice/priv", "bob", OCI_MANIFEST, &priv_img.manifest).await;
    expect_error(r, 403, "DENIED").await;
    let r = b.get("/v2/acme/pub/manifests/v1").send().await.unwrap();
    expect_status(r, 200).await;
    let r = put_manifest(&b, "acme/pub", "bob", OCI_MANIFEST, &w.images["acme/pub"].manifest).await;
    expect_error(r, 403, "DENIED").await;

    // Anonymous tokens.
    let anon = s.anon();
    let (t, _) = token_for(&anon, &["repository:alice/pub:pull,push"]).await;
    assert_eq!(access_of(&decode_jwt(&t).claims), access(&[("repository", "alice/pub", &["pull"])]));
    let b = s.bearer(&t);
    expect_status(b.get("/v2/alice/pub/manifests/v1").send().await.unwrap(), 200).await;
    let r = put_manifest(&b, "alice/pub", "anon", OCI_MANIFEST, &w.images["alice/pub"].manifest).await;
    expect_insufficient(r, s, Want::Repo("alice/pub", "push")).await;
    let (t, _) = token_for(&anon, &["repository:alice/priv:pull"]).await;
    assert!(access_of(&decode_jwt(&t).claims).is_empty(), "anonymous got access to a private repository");
    let r = s.bearer(&t).get("/v2/alice/priv/manifests/v1").send().await.unwrap();
    expect_insufficient(r, s, Want::Repo("alice/priv", "pull")).await;

    // The catalog through a token lists what the caller may read.
    let rita = s.user("rita");
    let (t, _) = token_for(&rita, &["registry:catalog:*"]).await;
    assert_eq!(access_of(&decode_jwt(&t).claims), access(&[("registry", "catalog", &["*"])]));
    let got = catalog(&s.bearer(&t)).await;
    assert_eq!(got, ["acme/app", "acme/priv", "acme/pub", "alice/pub", "alpine"]);

    // The robot gets a token with its token as the password, and pushes with it.
    let robot = s.basic("acme+ci", &w.robot_token);
    let (t, _) = token_for(&robot, &["repository:acme/priv:pull,push,delete"]).await;
    let jwt = decode_jwt(&t);
    assert_eq!(jwt.claims["sub"], "acme+ci");
    assert_eq!(access_of(&jwt.claims), access(&[("repository", "acme/priv", &["pull", "push"])]));
    let r = put_manifest(&s.bearer(&t), "acme/priv", "robot", OCI_MANIFEST, &w.images["acme/priv"].manifest).await;
    expect_status(r, 201).await;

    // A personal access token as the password at /auth/token is narrowed by its scope.
    let pat = w.who("alice-pat-read").cred.clone().unwrap().1;
    let (t, _) = token_for(&s.basic("alice", &pat), &["repository:alice/priv:pull,push,delete"]).await;
    let jwt = decode_jwt(&t);
    assert_eq!(jwt.claims["sub"], "alice");
    assert_eq!(access_of(&jwt.claims), access(&[("repository", "alice/priv", &["pull"])]));
    let pat = w.who("alice-pat-read-write").cred.clone().unwrap().1;
    let got = granted(&s.basic("alice", &pat), &["repository:alice/priv:*"]).await;
    assert_eq!(got, access(&[("repository", "alice/priv", &["pull", "push"])]));

    // The server admin on an official repository.
    let got = granted(&s.admin(), &["repository:internal:*"]).await;
    assert_eq!(got, access(&[("repository", "internal", &["pull", "push", "delete"])]));
}

#[tokio::test]
async fn a_mount_needs_read_on_the_source() {
    let w = world().await;
    let s = &w.s;
    let from_priv = sha256(&w.images["acme/priv"].layers[0]);
    let from_pub = sha256(&w.images["acme/pub"].layers[0]);
    let alice = s.user("alice");

    // alice may not read acme/priv: the mount falls back to a new upload session.
    let r =
        alice.post(&format!("/v2/alice/priv/blobs/uploads/?mount={from_priv}&from=acme/priv")).send().await.unwrap();
    let r = expect_status(r, 202).await;
    assert!(location(&r).starts_with("/v2/alice/priv/blobs/uploads/"), "{:?}", location(&r));
    must_header(&r, "docker-upload-uuid");
    let r = alice.get(&format!("/v2/alice/priv/blobs/{from_priv}")).send().await.unwrap();
    expect_error(r, 404, "BLOB_UNKNOWN").await;

    // acme/pub is readable: 201.
    let r = alice.post(&format!("/v2/alice/priv/blobs/uploads/?mount={from_pub}&from=acme/pub")).send().await.unwrap();
    let r = expect_status(r, 201).await;
    assert_eq!(location(&r), format!("/v2/alice/priv/blobs/{from_pub}"));
    assert_blob(&alice, "alice/priv", &w.images["acme/pub"].layers[0]).await;

    // rita reads acme/priv through her team: she may mount from it into her own namespace.
    let rita = s.user("rita");
    let r = rita.post(&format!("/v2/rita/copy/blobs/uploads/?mount={from_priv}&from=acme/priv")).send().await.unwrap();
    expect_status(r, 201).await;
    assert_blob(&rita, "rita/copy", &w.images["acme/priv"].layers[0]).await;

    // bob may not: 202, and nothing mounted.
    let bob = s.user("bob");
    let r = bob.post(&format!("/v2/bob/copy/blobs/uploads/?mount={from_priv}&from=acme/priv")).send().await.unwrap();
    expect_status(r, 202).await;
    let r = bob.get(&format!("/v2/bob/copy/blobs/{from_priv}")).send().await.unwrap();
    expect_status(r, 404).await;
}

#[tokio::test]
async fn head_manifest_matrix() {
    let w = world().await;
    run_matrix(&w, "HEAD manifest", |w, who, repo, lvl| async move {
        let r = w
            .caller(who)
            .head(&format!("/v2/{repo}/manifests/v1"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        if lvl >= R {
            assert_eq!(st, 200);
            assert_eq!(must_header(&r, "docker-content-digest"), w.images[repo].digest);
        } else if who.cred.is_none() {
            assert_eq!(st, 401);
            let h = must_header(&r, "www-authenticate");
            let (scheme, p) = parse_challenge(&h);
            assert_eq!(scheme, "Bearer", "{h}");
            assert_eq!(p.get("realm"), Some(&realm(&w.s)), "{h}");
            assert_eq!(p.get("service").map(String::as_str), Some(SERVICE), "{h}");
            check_scope(p.get("scope"), Want::Repo(repo, "pull"), &h);
        } else {
            assert_eq!(st, 404);
        }
    })
    .await;
}

#[tokio::test]
async fn referrers_matrix() {
    let w = world().await;
    // One referrer per repository, so a refusal that leaks it shows.
    let admin = w.s.admin();
    for repo in REPOS {
        let img = &w.images[repo];
        push_blob(&admin, repo, EMPTY_JSON).await;
        push_blob(&admin, repo, b"signature").await;
        let art =
            artifact_manifest("application/vnd.example.sig", b"signature", Some((OCI_MANIFEST, &img.manifest)), None);
        push_manifest(&admin, repo, &sha256(&art), OCI_MANIFEST, &art).await;
    }
    run_matrix(&w, "GET referrers", |w, who, repo, lvl| async move {
        let c = w.caller(who);
        let d = &w.images[repo].digest;
        let r = c.get(&format!("/v2/{repo}/referrers/{d}")).send().await.unwrap();
        if lvl >= R {
            let v = body_json(expect_status(r, 200).await).await;
            assert_eq!(v["manifests"].as_array().map(Vec::len), Some(1), "{v}");
        } else if who.cred.is_none() {
            expect_challenge(r, &w.s, Want::Repo(repo, "pull")).await;
        } else {
            // "exactly as for a repository that does not exist" (docs/protocol.md: referrers of
            // an unknown repository is 200 with an empty index; docs/access.md also says 404
            // NAME_UNKNOWN for any read): the same answer as for a missing one, and no referrer.
            let st = r.status().as_u16();
            let v = body_json(r).await;
            let other = c.get(&format!("/v2/{}/referrers/{d}", sibling(repo))).send().await.unwrap();
            let ost = other.status().as_u16();
            let ov = body_json(other).await;
            assert_eq!((st, &v), (ost, &ov), "the answer differs from the one for a missing repository");
            assert!(v["manifests"].as_array().is_none_or(Vec::is_empty), "referrers leaked: {v}");
        }
    })
    .await;
}

#[tokio::test]
async fn upload_sessions_need_push_and_blob_delete_needs_admin() {
    let w = world().await;
    let s = &w.s;
    let alice = s.user("alice");
    let (loc, _) = start_upload(&alice, "alice/priv").await;
    let pat_read = s.basic("alice", &w.who("alice-pat-read").cred.clone().unwrap().1);
    for c in [s.user("bob"), s.user("olivia"), pat_read] {
        let r = c
            .patch(&loc)
            .header("content-type", "application/octet-stream")
            .header("content-range", "0-3")
            .body(b"evil".to_vec())
            .send()
            .await
            .unwrap();
        expect_error(r, 403, "DENIED").await;
        expect_error(
            c.put(&with_query(&loc, &format!("digest={}", sha256(b"evil")))).send().await.unwrap(),
            403,
            "DENIED",
        )
        .await;
        expect_error(c.delete(&loc).send().await.unwrap(), 403, "DENIED").await;
    }
    let r = s.anon().patch(&loc).header("content-range", "0-3").body(b"evil".to_vec()).send().await.unwrap();
    expect_challenge(r, s, Want::Repo("alice/priv", "push")).await;
    // The session is untouched and alice finishes it.
    let loc = patch_chunk(&alice, &loc, 0, b"good").await;
    finish_upload(&alice, "alice/priv", &loc, &sha256(b"good")).await;

    let d = sha256(&w.images["acme/priv"].layers[1]);
    let path = format!("/v2/acme/priv/blobs/{d}");
    for who in ["wendy", "rita", "bob", "dora"] {
        expect_error(s.user(who).delete(&path).send().await.unwrap(), 403, "DENIED").await;
    }
    let robot = s.basic("acme+ci", &w.robot_token);
    expect_error(robot.delete(&path).send().await.unwrap(), 403, "DENIED").await;
    expect_challenge(s.anon().delete(&path).send().await.unwrap(), s, Want::Repo("acme/priv", "delete")).await;
    expect_status(s.user("adam").get(&path).send().await.unwrap(), 200).await;
    expect_status(s.user("adam").delete(&path).send().await.unwrap(), 202).await;
    expect_error(s.user("adam").get(&path).send().await.unwrap(), 404, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn refusals_do_not_depend_on_existence() {
    let w = world().await;
    let s = &w.s;
    let img = &w.images["alice/priv"];
    // (caller, repository that does not exist): push 403, pull 404, for authenticated callers.
    for (who, repo) in [
        ("bob", "alice/newone"),
        ("alice", "acme/newone"),
        ("wendy", "ghost/newone"),
        ("olivia", "newofficial"),
        ("rita", "acme/newone"),
        ("rita", "nobodyhere/x"),
    ] {
        let c = s.user(who);
        let r = c.post(&format!("/v2/{repo}/blobs/uploads/")).send().await.unwrap();
        expect_error(r, 403, "DENIED").await;
        let r = c.delete(&format!("/v2/{repo}/manifests/{}", img.digest)).send().await.unwrap();
        expect_error(r, 403, "DENIED").await;
        let r = c.get(&format!("/v2/{repo}/manifests/v1")).send().await.unwrap();
        expect_error(r, 404, "NAME_UNKNOWN").await;
        let r = c.get(&format!("/v2/{repo}/tags/list")).send().await.unwrap();
        expect_error(r, 404, "NAME_UNKNOWN").await;
    }
    // Anonymous: 401 whatever it asks.
    let r = s.post("/v2/alice/newone/blobs/uploads/").send().await.unwrap();
    expect_challenge(r, s, Want::Repo("alice/newone", "push")).await;
    let r = s.get("/v2/alice/newone/manifests/v1").send().await.unwrap();
    expect_challenge(r, s, Want::Repo("alice/newone", "pull")).await;
    // Where the caller may write, a new repository is created by the push.
    push_image(&s.user("alice"), "alice/newone", "v1", 900).await;
    push_image(&s.user("wendy"), "acme/newone", "v1", 901).await;
    push_image(&s.admin(), "newofficial", "v1", 902).await;
    push_image(&s.admin(), "nobodyhere/x", "v1", 903).await;
}

#[tokio::test]
async fn catalog_pages_count_only_readable_repositories() {
    let w = world().await;
    let rita = w.s.user("rita");
    let mut got = Vec::new();
    let mut next = Some("/v2/_catalog?n=2".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        pages += 1;
        assert!(pages <= 4, "too many pages: {got:?}");
        let r = expect_status(rita.get(&path).send().await.unwrap(), 200).await;
        next = next_link(&r);
        let v = body_json(r).await;
        let page: Vec<String> =
            v["repositories"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
        assert!(page.len() <= 2, "page larger than n: {page:?}");
        if next.is_some() {
            assert_eq!(page.len(), 2, "a short page with a Link: {page:?}");
        }
        got.extend(page);
    }
    assert_eq!(got, ["acme/app", "acme/priv", "acme/pub", "alice/pub", "alpine"]);
    assert_eq!(pages, 3, "pages for 5 readable repositories, n=2");
    let bob = w.s.user("bob");
    let r = expect_status(bob.get("/v2/_catalog?n=1&last=alice/pub").send().await.unwrap(), 200).await;
    let link = next_link(&r);
    assert_eq!(body_json(r).await["repositories"], serde_json::json!(["alpine"]));
    assert_eq!(link, None, "a Link although no readable repository remains");
}
