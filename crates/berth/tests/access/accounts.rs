//! The first account, the signing key, and `berth user ...` on the data directory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use crate::fixtures::*;
use crate::harness::*;

async fn whoami(c: &impl Http) -> serde_json::Value {
    let r = c.get("/api/v1/user").send().await.unwrap();
    json_of(r, 200).await
}

async fn v2_ok(c: &impl Http) {
    let r = c.get("/v2/").send().await.unwrap();
    expect_status(r, 200).await;
}

async fn v2_refused(s: &Server, user: &str, pass: &str) {
    let r = s.basic(user, pass).get("/v2/").send().await.unwrap();
    expect_bad_credentials(r, s, Want::NoScope).await;
}

#[tokio::test]
async fn the_admin_account_gets_berth_admin_password_on_the_first_start_only() {
    let mut s = auth_server(&[]);
    assert_eq!(s.stdout_lines().len(), 1, "a given password is not printed: {:?}", s.stdout_lines());
    let me = whoami(&s.admin()).await;
    assert_eq!(me["username"], "admin", "{me}");
    assert_eq!(me["admin"], true, "{me}");
    v2_ok(&s.admin()).await;
    v2_refused(&s, "admin", "not-the-password").await;

    // A later start with another BERTH_ADMIN_PASSWORD does not change the existing account.
    s.set_env("BERTH_ADMIN_PASSWORD", "another-password-9");
    s.restart();
    v2_ok(&s.basic("admin", ADMIN_PASSWORD)).await;
    v2_refused(&s, "admin", "another-password-9").await;
}

#[tokio::test]
async fn a_generated_admin_password_is_printed_once_before_the_listening_line() {
    let mut s = Server::builder().generated_admin_password().start();
    let lines = s.stdout_lines();
    assert_eq!(lines.len(), 2, "want `admin password: ...` then `listening on ...`: {lines:?}");
    let pw = lines[0].strip_prefix("admin password: ").unwrap_or_else(|| panic!("first line: {:?}", lines[0]));
    assert!(pw.trim().len() >= 8, "generated password shorter than the 8-character minimum: {pw:?}");
    assert!(parse_listening_line(&lines[1]).is_some(), "second line: {:?}", lines[1]);
    let pw = s.admin_password();
    let me = whoami(&s.basic("admin", &pw)).await;
    assert_eq!(me["admin"], true, "{me}");

    s.restart();
    let lines = s.stdout_lines();
    assert_eq!(lines.len(), 1, "the password is printed only on the first start: {lines:?}");
    assert!(parse_listening_line(&lines[0]).is_some(), "{lines:?}");
    v2_ok(&s.basic("admin", &pw)).await;
}

#[tokio::test]
async fn the_signing_key_persists_and_a_token_survives_a_restart() {
    let mut s = auth_server(&[]);
    let key = s.data_dir().join("token-signing-key.der");
    let meta = std::fs::metadata(&key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode of {}", key.display());
    let bytes = std::fs::read(&key).unwrap();
    assert!(!bytes.is_empty());

    let img = push_image(&s.admin(), "admin/app", "v1", 11).await;
    let (t, _) = token_for(&s.admin(), &["repository:admin/app:pull"]).await;
    let jwt = decode_jwt(&t);
    assert_eq!(jwt.header["alg"], "EdDSA", "JWT header {}", jwt.header);
    let r = s.bearer(&t).get(&format!("/v2/admin/app/manifests/{}", img.digest)).send().await.unwrap();
    expect_status(r, 200).await;

    s.restart();
    assert_eq!(std::fs::read(&key).unwrap(), bytes, "the signing key changed across a restart");
    let r = s.bearer(&t).get(&format!("/v2/admin/app/manifests/{}", img.digest)).send().await.unwrap();
    expect_status(r, 200).await;
}

// ---- berth user ... ----

fn cli(args: &[&str], data: &Path, input: Option<&str>) -> Finished {
    let mut all: Vec<&str> = args.to_vec();
    let d = data.to_str().unwrap();
    all.extend(["--data-dir", d]);
    let cwd = data.parent().unwrap();
    run_with_input(&all, &[], input.map(str::as_bytes), cwd, Duration::from_secs(30))
}

fn cli_ok(args: &[&str], data: &Path, input: Option<&str>) -> String {
    let f = cli(args, data, input);
    assert!(f.status.success(), "berth {args:?} failed: {f:?}");
    f.stdout
}

fn cli_fails(args: &[&str], data: &Path, input: Option<&str>) {
    let f = cli(args, data, input);
    assert!(!f.status.success(), "berth {args:?} succeeded, want an error: {f:?}");
    assert!(!f.stderr.trim().is_empty(), "berth {args:?}: no message on stderr");
}

fn user_lines(stdout: &str) -> BTreeSet<String> {
    stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim_end().to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn user_commands_on_a_stopped_data_dir() {
    let mut s = auth_server(&[]);
    s.stop();
    let d = s.data_dir().to_path_buf();
    cli_ok(&["user", "add", "bob", "--password-stdin"], &d, Some("bob-password-1"));
    cli_ok(
        &["user", "add", "carol", "--admin", "--email", "carol@example.com", "--password-stdin"],
        &d,
        Some("carol-password-1"),
    );
    let list = cli_ok(&["user", "list"], &d, None);
    assert_eq!(user_lines(&list), set(&["admin\tadmin", "bob\tuser", "carol\tadmin"]), "user list:\n{list}");

    // --config works too (a file that names the data dir).
    let cfg = d.parent().unwrap().join("cli.toml");
    std::fs::write(&cfg, format!("data_dir = \"{}\"\n", d.display())).unwrap();
    let f = run_with_input(
        &["user", "list", "--config", cfg.to_str().unwrap()],
        &[],
        None,
        d.parent().unwrap(),
        Duration::from_secs(30),
    );
    assert!(f.status.success(), "user list --config: {f:?}");
    assert_eq!(user_lines(&f.stdout), user_lines(&list));

    cli_fails(&["user", "add", "bob", "--password-stdin"], &d, Some("bob-password-x")); // exists
    cli_fails(&["user", "add", "Bad!name", "--password-stdin"], &d, Some("good-password-1")); // bad name
    cli_fails(&["user", "add", "root", "--password-stdin"], &d, Some("good-password-1")); // reserved
    cli_fails(&["user", "add", "dave", "--password-stdin"], &d, Some("short7!")); // 7 characters
    cli_fails(&["user", "passwd", "nobody", "--password-stdin"], &d, Some("good-password-1")); // unknown
    cli_fails(&["user", "passwd", "bob", "--password-stdin"], &d, Some("short")); // short
    cli_fails(&["user", "remove", "nobody"], &d, None); // unknown
    assert_eq!(user_lines(&cli_ok(&["user", "list"], &d, None)), user_lines(&list), "a failed command changed users");

    cli_ok(&["user", "passwd", "bob", "--password-stdin"], &d, Some("bob-password-2"));
    cli_ok(&["user", "remove", "carol"], &d, None);
    assert_eq!(user_lines(&cli_ok(&["user", "list"], &d, None)), set(&["admin\tadmin", "bob\tuser"]));

    s.start_again();
    let me = whoami(&s.basic("bob", "bob-password-2")).await;
    assert_eq!(me["username"], "bob");
    assert_eq!(me["admin"], false);
    v2_refused(&s, "bob", "bob-password-1").await;
    v2_refused(&s, "carol", "carol-password-1").await;
}

#[tokio::test]
async fn user_commands_while_the_server_runs() {
    let s = auth_server(&[]);
    let d = s.data_dir().to_path_buf();
    cli_ok(&["user", "add", "dave", "--email", "dave@example.com", "--password-stdin"], &d, Some("dave-password-1"));
    let dave = s.basic("dave", "dave-password-1");
    v2_ok(&dave).await;
    assert_eq!(whoami(&dave).await["username"], "dave");
    let (t, _) = token_for(&dave, &["repository:dave/app:pull,push"]).await;
    assert_eq!(decode_jwt(&t).claims["sub"], "dave");
    push_image(&dave, "dave/app", "v1", 12).await;

    cli_ok(&["user", "add", "erin", "--admin", "--password-stdin"], &d, Some("erin-password-1"));
    assert_eq!(whoami(&s.basic("erin", "erin-password-1")).await["admin"], true);

    cli_ok(&["user", "passwd", "dave", "--password-stdin"], &d, Some("dave-password-2"));
    v2_ok(&s.basic("dave", "dave-password-2")).await;
    v2_refused(&s, "dave", "dave-password-1").await;

    // A robot made over the API shows up in the list as a robot.
    let erin = s.basic("erin", "erin-password-1");
    create_org(&erin, "davecorp").await;
    create_robot(&erin, "davecorp", "ci").await;
    let list = cli_ok(&["user", "list"], &d, None);
    assert_eq!(
        user_lines(&list),
        set(&["admin\tadmin", "dave\tuser", "erin\tadmin", "davecorp+ci\trobot"]),
        "user list:\n{list}"
    );

    cli_ok(&["user", "remove", "dave"], &d, None);
    v2_refused(&s, "dave", "dave-password-2").await;
}
