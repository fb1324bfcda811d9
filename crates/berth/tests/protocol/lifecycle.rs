//! The binary itself: start line, start errors, configuration precedence, signals, restart and
//! crash durability, upload expiry, data dir layout.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::fixtures::*;
use crate::harness::*;

const MIB: usize = 1024 * 1024;

// The harness sets BERTH_ADMIN_PASSWORD, so no `admin password:` line is printed (docs/access.md:
// only a generated password is printed, and only once). The protocol tests run `--no-auth`;
// the next test checks the same in the default mode (accounts on).
#[tokio::test]
async fn prints_one_listening_line_with_a_real_port_and_exits_0_on_sigterm() {
    let mut s = Server::start();
    let lines = s.stdout_lines();
    let addr = parse_listening_line(&lines[0]).unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    let r = s.get("/v2/").send().await.unwrap();
    expect_status(r, 200).await;
    push_blob(&s, "line/repo", b"some traffic").await;
    let st = s.stop();
    assert!(st.success(), "SIGTERM exit status {st:?}; stderr:\n{}", s.stderr());
    assert_eq!(s.stdout_lines(), lines, "stdout must hold exactly the one listening line (logs go to stderr)");
    assert_eq!(lines.len(), 1);
}

#[tokio::test]
async fn default_mode_with_an_admin_password_prints_one_listening_line_and_asks_for_credentials() {
    let mut s = Server::builder().auth().start();
    let lines = s.stdout_lines();
    assert_eq!(lines.len(), 1, "stdout: {lines:?}");
    parse_listening_line(&lines[0]).unwrap();
    // Accounts are on: /v2/ without credentials is a 401 challenge.
    let r = s.get("/v2/").send().await.unwrap();
    expect_error(r, 401, "UNAUTHORIZED").await;
    let st = s.stop();
    assert!(st.success(), "SIGTERM exit status {st:?}; stderr:\n{}", s.stderr());
    assert_eq!(s.stdout_lines(), lines, "stdout must hold exactly the one listening line");
}

#[tokio::test]
async fn sigint_exits_0() {
    let mut s = Server::start();
    signal(s.pid(), "INT");
    let st = s.wait_exit(Duration::from_secs(15)).expect("no exit within 15s of SIGINT");
    assert!(st.success(), "SIGINT exit status {st:?}; stderr:\n{}", s.stderr());
}

#[tokio::test]
async fn a_signal_right_after_the_listening_line_is_a_clean_exit() {
    // The listening line announces readiness: signal handling must already be in place.
    for (i, sig) in ["TERM", "INT"].iter().cycle().take(12).enumerate() {
        let mut s = Server::start();
        signal(s.pid(), sig);
        let st = s.wait_exit(Duration::from_secs(15)).expect("no exit within 15s");
        assert!(st.success(), "run {i}: SIG{sig} right after start: exit status {st:?}; stderr:\n{}", s.stderr());
    }
}

#[tokio::test]
async fn listen_on_a_taken_port_fails_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let f = run_to_exit(
        &["serve", "--listen", &addr, "--data-dir", data.to_str().unwrap()],
        &[],
        tmp.path(),
        Duration::from_secs(20),
    );
    assert!(!f.status.success(), "started on a taken port: {f:?}");
    let err = f.stderr.to_lowercase();
    assert!(err.contains(&addr) || err.contains("in use"), "stderr should say the address is taken: {}", f.stderr);
    assert!(!f.stdout.contains("listening on"), "printed a listening line: {}", f.stdout);
    drop(taken);
}

#[tokio::test]
async fn an_unwritable_data_dir_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let under_file = file.join("data");
    let mut cases = vec![file.clone(), under_file];
    // A read-only directory (only meaningful when not running as root).
    let ro = tmp.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_err() {
        cases.push(ro.clone());
    }
    for dir in cases {
        let f = run_to_exit(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()],
            &[],
            tmp.path(),
            Duration::from_secs(20),
        );
        assert!(!f.status.success(), "started with data dir {dir:?}: {f:?}");
        assert!(!f.stderr.trim().is_empty(), "no message on stderr for data dir {dir:?}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn an_unknown_config_key_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("berth.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nupload_ttl = \"1h\"\nbogus_setting = 42\n").unwrap();
    let data = tmp.path().join("data");
    let f = run_to_exit(
        &["serve", "--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap()],
        &[],
        tmp.path(),
        Duration::from_secs(20),
    );
    assert!(!f.status.success(), "accepted an unknown config key: {f:?}");
    assert!(f.stderr.contains("bogus_setting"), "stderr should name the unknown key: {}", f.stderr);
}

#[tokio::test]
async fn bad_config_values_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (i, body) in
        ["upload_ttl = \"banana\"\n", "log_format = \"xml\"\n", "upload_sweep_interval = \"fast\"\n"].iter().enumerate()
    {
        let cfg = tmp.path().join(format!("bad{i}.toml"));
        std::fs::write(&cfg, body).unwrap();
        let f = run_to_exit(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
            tmp.path(),
            Duration::from_secs(20),
        );
        assert!(!f.status.success(), "accepted config {body:?}: {f:?}");
        assert!(!f.stderr.trim().is_empty(), "no message for config {body:?}");
    }
    // A bad value from the environment too.
    let f = run_to_exit(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
        &[("BERTH_UPLOAD_TTL", "soon")],
        tmp.path(),
        Duration::from_secs(20),
    );
    assert!(!f.status.success(), "accepted BERTH_UPLOAD_TTL=soon: {f:?}");
}

#[tokio::test]
async fn a_config_file_sets_listen_and_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("from-config");
    let cfg = tmp.path().join("berth.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nlog_format = \"json\"\nshutdown_timeout = \"5s\"\nupload_ttl = \"1h\"\nupload_sweep_interval = \"1m\"\n",
            data.display()
        ),
    )
    .unwrap();
    let mut s = Server::builder().bare().arg("--config").arg(cfg.to_str().unwrap()).start();
    push_blob(&s, "cfg/repo", b"x").await;
    assert!(data.join("meta.db").exists(), "data_dir from the config file not used");
    let st = s.stop();
    assert!(st.success());
}

#[tokio::test]
async fn environment_overrides_file_and_flags_override_environment() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("berth.toml");
    let file_data = tmp.path().join("file-data");
    let env_data = tmp.path().join("env-data");
    std::fs::write(&cfg, format!("listen = \"{taken_addr}\"\ndata_dir = \"{}\"\n", file_data.display())).unwrap();

    // BERTH_LISTEN and BERTH_DATA_DIR beat the file.
    let s = Server::builder()
        .bare()
        .arg("--config")
        .arg(cfg.to_str().unwrap())
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .env("BERTH_DATA_DIR", env_data.to_str().unwrap())
        .start();
    assert_ne!(s.addr.to_string(), taken_addr);
    push_blob(&s, "env/repo", b"x").await;
    assert!(env_data.join("meta.db").exists(), "BERTH_DATA_DIR not used");
    assert!(!file_data.join("meta.db").exists(), "file data_dir used despite BERTH_DATA_DIR");
    drop(s);

    // BERTH_LISTEN alone, no file.
    let s = Server::builder()
        .bare()
        .arg("--data-dir")
        .arg(env_data.to_str().unwrap())
        .env("BERTH_LISTEN", "127.0.0.1:0")
        .start();
    assert_ne!(s.addr.port(), 5000);
    expect_status(s.get("/v2/").send().await.unwrap(), 200).await;
    drop(s);

    // The --listen flag beats BERTH_LISTEN.
    let s = Server::builder()
        .bare()
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(env_data.to_str().unwrap())
        .env("BERTH_LISTEN", taken_addr.as_str())
        .start();
    assert_ne!(s.addr.to_string(), taken_addr);
    expect_status(s.get("/v2/").send().await.unwrap(), 200).await;
    drop(s);
    drop(taken);
}

#[tokio::test]
async fn default_data_dir_is_berth_data_in_the_cwd() {
    let s = Server::builder().bare().arg("--listen").arg("127.0.0.1:0").start();
    push_blob(&s, "default/repo", b"x").await;
    assert!(s.work_dir().join("berth-data").join("meta.db").exists(), "no ./berth-data/meta.db");
}

#[tokio::test]
async fn data_dir_layout() {
    let s = Server::start();
    let content = bytes_of(401, 1000);
    let d = push_blob(&s, "layout/repo", &content).await;
    assert!(s.data_dir().join("meta.db").is_file(), "no meta.db");
    assert_eq!(std::fs::read(blob_path(s.data_dir(), &d)).unwrap(), content);
    let (loc, uuid) = start_upload(&s, "layout/repo").await;
    let _ = patch_chunk(&s, &loc, 0, b"partial").await;
    assert!(
        s.data_dir().join("uploads").join(format!("{uuid}.data")).is_file(),
        "no uploads/<uuid>.data for an active session"
    );
}

#[tokio::test]
async fn restart_keeps_blobs_manifests_tags_referrers_and_upload_sessions() {
    let mut s = Server::start();
    let img = push_image(&s, "keep/app", "v1", 402).await;
    let dimg = push_docker_image(&s, "keep/app", "docker", 403).await;
    let idx = oci_index(&[(OCI_MANIFEST, &img.manifest, "amd64")]);
    let r = put_manifest(&s, "keep/app", &format!("{}?tag=multi", sha256(&idx)), OCI_INDEX, &idx).await;
    expect_status(r, 201).await;
    push_blob(&s, "keep/app", EMPTY_JSON).await;
    let payload = bytes_of(404, 64);
    push_blob(&s, "keep/app", &payload).await;
    let art = artifact_manifest("application/vnd.example.sig", &payload, Some((OCI_MANIFEST, &img.manifest)), None);
    push_manifest(&s, "keep/app", &sha256(&art), OCI_MANIFEST, &art).await;
    let other = bytes_of(405, 5000);
    push_blob(&s, "keep/other", &other).await;
    // An upload in progress.
    let partial = bytes_of(406, 300_000);
    let (loc, uuid) = start_upload(&s, "keep/app").await;
    let loc = patch_chunk(&s, &loc, 0, &partial[..200_000]).await;

    s.restart();

    for (reference, mt, bytes) in [
        ("v1", OCI_MANIFEST, &img.manifest),
        (img.digest.as_str(), OCI_MANIFEST, &img.manifest),
        ("docker", DOCKER_MANIFEST, &dimg.manifest),
        ("multi", OCI_INDEX, &idx),
    ] {
        let r = s.get(&format!("/v2/keep/app/manifests/{reference}")).header("accept", mt).send().await.unwrap();
        let r = expect_status(r, 200).await;
        assert_eq!(must_header(&r, "content-type"), mt);
        assert_eq!(&body_bytes(r).await, bytes, "{reference} after restart");
    }
    assert_eq!(tags_of(&s, "keep/app").await, vec!["docker", "multi", "v1"]);
    assert_eq!(catalog(&s).await, vec!["keep/app", "keep/other"]);
    assert_blob(&s, "keep/app", &img.layers[0]).await;
    assert_blob(&s, "keep/other", &other).await;
    assert_blob_unknown(&s, "keep/other", &sha256(&img.layers[0])).await;
    let r = s.get(&format!("/v2/keep/app/referrers/{}", img.digest)).send().await.unwrap();
    let v = body_json(expect_status(r, 200).await).await;
    assert_eq!(v["manifests"][0]["digest"], sha256(&art).as_str(), "referrers after restart: {v}");

    // Resume the upload where it stopped.
    let r = s.get(&loc).send().await.unwrap();
    let r = expect_status(r, 204).await;
    assert_eq!(must_header(&r, "range"), "0-199999", "upload progress after restart");
    assert_eq!(must_header(&r, "docker-upload-uuid"), uuid);
    let loc = patch_chunk(&s, &location(&r), 200_000, &partial[200_000..]).await;
    finish_upload(&s, "keep/app", &loc, &sha256(&partial)).await;
    assert_blob(&s, "keep/app", &partial).await;
}

#[tokio::test]
async fn uploads_kept_in_the_old_layout_continue_after_an_upgrade() {
    let mut s = Server::start();
    let content = bytes_of(414, 300_000);
    let (loc, uuid) = start_upload(&s, "old/repo").await;
    let loc = patch_chunk(&s, &loc, 0, &content[..100_000]).await;
    let st = s.stop();
    assert!(st.success(), "SIGTERM exit status {st:?}; stderr:\n{}", s.stderr());
    // As versions before kept upload data: uploads/<uuid>/data; plus data no session owns.
    let uploads = s.data_dir().join("uploads");
    let flat = uploads.join(format!("{uuid}.data"));
    std::fs::create_dir(uploads.join(&uuid)).unwrap();
    std::fs::rename(&flat, uploads.join(&uuid).join("data")).unwrap();
    std::fs::create_dir(uploads.join("orphan")).unwrap();
    std::fs::write(uploads.join("orphan").join("data"), b"no session").unwrap();

    s.start_again();
    assert!(flat.is_file(), "uploads/<uuid>/data not moved to uploads/<uuid>.data");
    assert!(!uploads.join(&uuid).exists(), "uploads/<uuid>/ left after the move");
    // Removed by the sweep at start, which runs before berth listens.
    assert!(
        !uploads.join("orphan").exists() && !uploads.join("orphan.data").exists(),
        "upload data of the old layout that no session owns is still there"
    );
    let r = s.get(&loc).send().await.unwrap();
    let r = expect_status(r, 204).await;
    assert_eq!(must_header(&r, "range"), "0-99999", "upload progress after the upgrade");
    let loc = patch_chunk(&s, &location(&r), 100_000, &content[100_000..]).await;
    finish_upload(&s, "old/repo", &loc, &sha256(&content)).await;
    assert_blob(&s, "old/repo", &content).await;
    assert!(!flat.exists(), "uploads/<uuid>.data left after completion");
}

#[tokio::test]
async fn kill_9_during_a_large_streamed_upload() {
    let mut s = Server::start();
    let img = push_image(&s, "crash/app", "v1", 407).await;
    let small = bytes_of(408, 10_000);
    push_blob(&s, "crash/other", &small).await;

    let total = 64 * MIB;
    let big = bytes_of(409, total);
    let big_d = sha256(&big);
    let (loc, _) = start_upload(&s, "crash/app").await;
    let mut conn = raw_start(
        s.addr,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream".into()), ("Content-Length", total.to_string())],
    )
    .await;
    let mut sent = 0;
    for piece in big.chunks(MIB).take(12) {
        conn.write_all(piece).await.expect("stream a chunk");
        sent += piece.len();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    s.kill9();
    drop(conn);

    s.start_again();
    // Everything committed before is intact.
    let r = s.get("/v2/crash/app/manifests/v1").header("accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(body_bytes(expect_status(r, 200).await).await, img.manifest);
    assert_blob(&s, "crash/app", &img.config).await;
    assert_blob(&s, "crash/app", &img.layers[1]).await;
    assert_blob(&s, "crash/other", &small).await;
    assert_eq!(catalog(&s).await, vec!["crash/app", "crash/other"]);
    // The half upload is not a blob.
    assert_blob_unknown(&s, "crash/app", &big_d).await;
    assert!(!blob_path(s.data_dir(), &big_d).exists(), "a blob file exists for the interrupted upload");
    // If the session survived, it holds at most what was sent and cannot be closed as the whole.
    let r = s.get(&loc).send().await.unwrap();
    if r.status().as_u16() == 204 {
        let range = must_header(&r, "range");
        let end: usize = range.split('-').nth(1).unwrap().parse().unwrap();
        assert!(end < sent, "session claims {range} but only {sent} bytes were sent");
        let r = s.put(&with_query(&loc, &format!("digest={big_d}"))).body(Vec::new()).send().await.unwrap();
        expect_error(r, 400, "DIGEST_INVALID").await;
        assert_blob_unknown(&s, "crash/app", &big_d).await;
    } else {
        expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    }
    // And the registry still takes pushes.
    push_image(&s, "crash/app", "v2", 410).await;
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_upload_finish_and_stops_accepting() {
    let mut s = Server::start();
    let total = 4 * MIB;
    let content = bytes_of(411, total);
    let (loc, _) = start_upload(&s, "drain/repo").await;
    let mut conn = raw_start(
        s.addr,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream".into()), ("Content-Length", total.to_string())],
    )
    .await;
    conn.write_all(&content[..MIB]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(s.pid(), "TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // New requests are no longer served.
    let probe = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().unwrap();
    let res = probe.get(s.url("/v2/")).send().await;
    assert!(res.is_err(), "a new request was served after SIGTERM: {res:?}");
    // The in-flight request completes.
    for piece in content[MIB..].chunks(MIB) {
        conn.write_all(piece).await.expect("server closed an in-flight request");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = raw_read_response(&mut conn, false).await;
    assert_eq!(resp.status, 202, "in-flight PATCH after SIGTERM: {resp:?}");
    assert_eq!(resp.header("range"), Some(format!("0-{}", total - 1).as_str()));
    drop(conn);
    let st = s.wait_exit(Duration::from_secs(15)).expect("no exit after draining");
    assert!(st.success(), "exit status {st:?}; stderr:\n{}", s.stderr());
    // The drained data was kept.
    s.start_again();
    let r = s.get(&loc).send().await.unwrap();
    assert_eq!(must_header(&expect_status(r, 204).await, "range"), format!("0-{}", total - 1));
    finish_upload(&s, "drain/repo", &loc, &sha256(&content)).await;
}

#[tokio::test]
async fn shutdown_timeout_bounds_a_stalled_request() {
    let mut s = Server::builder().env("BERTH_SHUTDOWN_TIMEOUT", "1s").start();
    let (loc, _) = start_upload(&s, "stall/repo").await;
    let mut conn = raw_start(
        s.addr,
        "PATCH",
        &loc,
        &[("Content-Type", "application/octet-stream".into()), ("Content-Length", (8 * MIB).to_string())],
    )
    .await;
    conn.write_all(&bytes_of(412, MIB)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = std::time::Instant::now();
    signal(s.pid(), "TERM");
    let st = s.wait_exit(Duration::from_secs(10)).expect("a stalled request kept berth alive past shutdown_timeout");
    assert!(t0.elapsed() < Duration::from_secs(8), "took {:?}", t0.elapsed());
    assert!(st.success(), "exit status {st:?}; stderr:\n{}", s.stderr());
    drop(conn);
}

#[tokio::test]
async fn idle_upload_sessions_expire_with_their_data() {
    let s = Server::builder().env("BERTH_UPLOAD_TTL", "2s").env("BERTH_UPLOAD_SWEEP_INTERVAL", "1s").start();
    push_blob(&s, "exp/repo", b"repo exists").await;
    let (idle_loc, idle_uuid) = start_upload(&s, "exp/repo").await;
    let idle_loc = patch_chunk(&s, &idle_loc, 0, b"idle data").await;
    let idle_data = s.data_dir().join("uploads").join(format!("{idle_uuid}.data"));
    assert!(idle_data.is_file(), "no uploads/<uuid>.data for the session");
    // A second session that stays busy must survive.
    let busy = bytes_of(413, 100);
    let (mut busy_loc, _) = start_upload(&s, "exp/repo").await;
    for i in 0..10 {
        busy_loc = patch_chunk(&s, &busy_loc, i * 10, &busy[i * 10..i * 10 + 10]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = s.get(&busy_loc).send().await.unwrap();
    assert_eq!(must_header(&expect_status(r, 204).await, "range"), "0-99", "an active session expired");
    // The idle one is gone, data first (checked without touching the session over HTTP).
    let gone = eventually(Duration::from_secs(15), || async { !idle_data.exists() }).await;
    assert!(gone, "uploads/{idle_uuid}.data still present long after upload_ttl");
    let r = s.get(&idle_loc).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = s.patch(&idle_loc).header("content-range", "9-9").body(b"x".to_vec()).send().await.unwrap();
    expect_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    finish_upload(&s, "exp/repo", &busy_loc, &sha256(&busy)).await;
}
