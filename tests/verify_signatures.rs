//! Only signed commits reach the infrastructure: commits signed by real `git` with
//! `gpg.format = ssh` and keys from `ssh-keygen` are verified in Rust against an allowed
//! signers file. Unsigned, unknown-key, tampered and expired commits are refused, `all`
//! mode refuses a head with an unsigned commit in its history, a force-push of unsigned
//! history is refused the same way, and the daemon keeps reconciling the last verified
//! revision throughout (local repository and a remote over `git daemon`).

mod support;

use homelabd::source::verify::{Mode, Policy, Reason, Verdict};
use homelabd::source::{Origin, TrackedRepo};
use homelabd::store::{NotificationRecord, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::daemon::{Daemon, DaemonCommand, wait_for_store};
use support::{example_basics, git, write};

/// An ed25519 key made by `ssh-keygen`: the private key file and the public key line.
struct Key {
    private: PathBuf,
    public: String,
}

fn keygen(dir: &Path, name: &str) -> Key {
    let private = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Key { private, public }
}

/// `ssh-keygen` must be here (it is in CI's packages); otherwise the test skips (or
/// fails under HOMELABD_TEST_STRICT=1).
fn have_ssh_keygen(test: &str) -> bool {
    if support::tool("ssh-keygen").is_some() {
        return true;
    }
    support::skip(
        test,
        "ssh-keygen is not installed (apt-get install openssh-client)",
    );
    false
}

/// A GnuPG home directory of its own, driven through a wrapper script that git runs as
/// `gpg.program` (batch mode, no passphrase; `faked` sets gpg's clock, to make keys that
/// expired long ago). Its gpg-agent is stopped on drop.
struct Gpg {
    home: PathBuf,
    wrapper: PathBuf,
}

impl Gpg {
    fn new(dir: &Path, name: &str, faked: Option<&str>) -> Gpg {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        let mut perms = std::fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).unwrap();
        let wrapper = dir.join(format!("gpg-{name}"));
        let faked = faked
            .map(|t| format!("--faked-system-time {t} "))
            .unwrap_or_default();
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh
exec gpg --homedir '{}' --batch --no-tty --pinentry-mode loopback --passphrase '' {faked}\"$@\"\n",
                home.display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&wrapper).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&wrapper, perms).unwrap();
        Gpg { home, wrapper }
    }

    /// Runs gpg through the wrapper; returns stdout.
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.wrapper)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Makes a key for `uid` and returns its fingerprint.
    fn key(&self, uid: &str, algo: &str, usage: &str, expire: &str) -> String {
        self.run(&["--quick-gen-key", uid, algo, usage, expire]);
        self.fingerprint(uid)
    }

    fn fingerprint(&self, uid: &str) -> String {
        let listing = String::from_utf8(self.run(&["--with-colons", "--list-keys", uid])).unwrap();
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned()
    }

    /// Commits everything in `repo`, signed with `key` (a fingerprint).
    fn commit(&self, repo: &Path, message: &str, key: &str) -> String {
        git(repo, &["add", "-A"]);
        let program = format!("gpg.program={}", self.wrapper.display());
        let signing = format!("user.signingkey={key}");
        git(
            repo,
            &[
                "-c",
                "gpg.format=openpgp",
                "-c",
                &program,
                "-c",
                &signing,
                "commit",
                "-q",
                "--allow-empty",
                "-S",
                "-m",
                message,
            ],
        );
        git(repo, &["rev-parse", "HEAD"])
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// `gpg` must be here (CI installs gnupg); otherwise the test skips (strict: fails).
fn have_gpg(test: &str) -> bool {
    if support::tool("gpg").is_some() {
        return true;
    }
    support::skip(test, "gpg is not installed (apt-get install gnupg)");
    false
}

/// Commits everything in `repo` with `message`, signed by `key` (SSH) or unsigned.
fn commit(repo: &Path, message: &str, key: Option<&Key>) -> String {
    git(repo, &["add", "-A"]);
    match key {
        Some(key) => {
            let signing = format!("user.signingkey={}", key.private.display());
            git(
                repo,
                &[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &signing,
                    "commit",
                    "-q",
                    "--allow-empty",
                    "-S",
                    "-m",
                    message,
                ],
            );
        }
        None => {
            git(
                repo,
                &[
                    "-c",
                    "commit.gpgsign=false",
                    "commit",
                    "-q",
                    "--allow-empty",
                    "-m",
                    message,
                ],
            );
        }
    }
    git(repo, &["rev-parse", "HEAD"])
}

/// Re-creates HEAD with its message changed after signing (the `gpgsig` header kept as it
/// was) and moves the branch to it: what an attacker editing a signed commit produces.
fn tamper(repo: &Path) -> String {
    let original = git(repo, &["cat-file", "commit", "HEAD"]);
    assert!(original.contains("gpgsig "), "HEAD is not signed");
    let forged = original.replacen("\n\n", "\n\nforged: ", 1) + "\n";
    let path = repo.join(".git/forged-commit");
    std::fs::write(&path, forged).unwrap();
    let id = git(
        repo,
        &["hash-object", "-t", "commit", "-w", path.to_str().unwrap()],
    );
    std::fs::remove_file(&path).unwrap();
    git(repo, &["update-ref", "refs/heads/main", &id]);
    id
}

/// A definition the docker provider renders (applied only by hand, so no container
/// starts): the image is what commits change.
fn definition(image: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: web\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{image}\"\n  \
         policy: {{apply: manual, self_heal: false, prune: false}}\n"
    )
}

/// A repository at `dir` with the example's basics and the `web` definition.
fn homelab(dir: &Path, image: &str) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    example_basics(dir);
    write(dir, "definitions/web.yaml", &definition(image));
}

fn set_image(dir: &Path, image: &str) {
    write(dir, "definitions/web.yaml", &definition(image));
}

fn tracked(dir: &Path) -> TrackedRepo {
    TrackedRepo {
        origin: Origin::Local(dir.to_owned()),
        branch: "main".into(),
        sub_path: None,
    }
}

fn policy(mode: Mode, allowed_signers: &Path) -> Policy {
    Policy {
        mode,
        allowed_signers: Some(allowed_signers.to_owned()),
        gpg_keyring: None,
    }
}

fn reason(verdict: &Verdict) -> Option<Reason> {
    match verdict {
        Verdict::Verified { .. } => None,
        Verdict::Refused { reason, .. } => Some(*reason),
    }
}

#[test]
fn ssh_signed_commits_are_verified_against_allowed_signers() {
    if !have_ssh_keygen("ssh signatures") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let alice = keygen(&keys, "alice");
    let mallory = keygen(&keys, "mallory");
    let retired = keygen(&keys, "retired");
    let future = keygen(&keys, "future");
    let other_namespace = keygen(&keys, "file-only");
    let signers = tmp.path().join("allowed_signers");
    std::fs::write(
        &signers,
        format!(
            "# who may change the homelab\n\
             t@example.invalid,alice@example.invalid {}\n\
             retired@example.invalid valid-before=\"20200101\" {}\n\
             future@example.invalid valid-after=\"29990101\" {}\n\
             files@example.invalid namespaces=\"file\" {}\n",
            alice.public, retired.public, future.public, other_namespace.public
        ),
    )
    .unwrap();
    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    let p = policy(Mode::Head, &signers);
    let t = tracked(&repo);
    let state = |commit: &str| t.signature_state(&p, commit).unwrap();

    let unsigned = commit(&repo, "unsigned", None);
    assert_eq!(reason(&state(&unsigned)), Some(Reason::Unsigned));

    let unknown = commit(&repo, "by mallory", Some(&mallory));
    let verdict = state(&unknown);
    assert_eq!(reason(&verdict), Some(Reason::UnknownKey), "{verdict:?}");
    assert!(
        verdict.describe().contains("SHA256:"),
        "{}",
        verdict.describe()
    );

    let expired = commit(&repo, "by a retired key", Some(&retired));
    assert_eq!(reason(&state(&expired)), Some(Reason::Expired));
    let early = commit(&repo, "before the key is valid", Some(&future));
    assert_eq!(reason(&state(&early)), Some(Reason::NotYetValid));
    let wrong_namespace = commit(&repo, "by a key for files only", Some(&other_namespace));
    assert_eq!(reason(&state(&wrong_namespace)), Some(Reason::UnknownKey));

    let good = commit(&repo, "by alice", Some(&alice));
    match state(&good) {
        Verdict::Verified { signer, key } => {
            assert_eq!(signer, "t@example.invalid,alice@example.invalid");
            assert!(key.starts_with("SHA256:"), "{key}");
        }
        other => panic!("refused: {other:?}"),
    }
    let head = t.verified_head(&p, None).unwrap();
    assert_eq!(head.accepted.as_deref(), Some(good.as_str()));
    assert_eq!(head.refusal, None);

    // The message changed after signing: same signature, different bytes.
    let forged = tamper(&repo);
    let verdict = state(&forged);
    assert_eq!(reason(&verdict), Some(Reason::BadSignature), "{verdict:?}");
    let head = t.verified_head(&p, Some(&good)).unwrap();
    assert_eq!(head.newest, forged);
    assert_eq!(
        head.accepted.as_deref(),
        Some(good.as_str()),
        "the verified one stays"
    );
    assert_eq!(head.refusal.unwrap().reason, Reason::BadSignature);
}

#[test]
fn all_mode_refuses_a_signed_head_with_an_unsigned_commit_in_the_middle() {
    if !have_ssh_keygen("all mode") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let alice = keygen(tmp.path(), "alice");
    let signers = tmp.path().join("allowed_signers");
    std::fs::write(&signers, format!("t@example.invalid {}\n", alice.public)).unwrap();
    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    let first = commit(&repo, "signed", Some(&alice));
    set_image(&repo, "nginx:2");
    let middle = commit(&repo, "pushed without a signature", None);
    set_image(&repo, "nginx:3");
    let last = commit(&repo, "signed again", Some(&alice));
    let t = tracked(&repo);

    // `head` mode looks at the newest commit only.
    let head = t
        .verified_head(&policy(Mode::Head, &signers), Some(&first))
        .unwrap();
    assert_eq!(head.accepted.as_deref(), Some(last.as_str()));

    // `all` mode checks every first-parent commit since the last verified one.
    let head = t
        .verified_head(&policy(Mode::All, &signers), Some(&first))
        .unwrap();
    let refusal = head.refusal.expect("refused");
    assert_eq!(refusal.head, last);
    assert_eq!(refusal.commit, middle);
    assert_eq!(refusal.reason, Reason::Unsigned);
    assert_eq!(head.accepted.as_deref(), Some(first.as_str()));
}

#[test]
fn openpgp_signed_commits_are_verified_against_the_keyring() {
    if !have_gpg("openpgp signatures") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let now_dir = tmp.path().join("now");
    let past_dir = tmp.path().join("past");
    let gpg = Gpg::new(&now_dir, "now", None);
    // Alice signs with a subkey (certify-only primary), as many people set gpg up.
    let alice = gpg.key("Alice <t@example.invalid>", "ed25519", "cert", "never");
    gpg.run(&["--quick-add-key", &alice, "ed25519", "sign", "2y"]);
    let mallory = gpg.key(
        "Mallory <mallory@example.invalid>",
        "ed25519",
        "sign",
        "never",
    );
    let revoked = gpg.key("Gone <gone@example.invalid>", "ed25519", "sign", "never");
    // A key made in 2020 that expired a day later, and a commit signed back then.
    let old = Gpg::new(&past_dir, "past", Some("20200101T000000"));
    let expired = old.key("Old <old@example.invalid>", "ed25519", "sign", "1d");

    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    let by_alice = gpg.commit(&repo, "by alice", &alice);
    let by_mallory = gpg.commit(&repo, "by mallory", &mallory);
    let by_revoked = gpg.commit(&repo, "before the key was revoked", &revoked);
    let by_expired = old.commit(&repo, "long ago", &expired);
    gpg.commit(&repo, "by alice, edited later", &alice);
    let forged = tamper(&repo);

    // Revoke with the certificate gpg made at key creation (its armor line is guarded
    // with a leading ':' against accidental import).
    let rev = std::fs::read_to_string(gpg.home.join(format!("openpgp-revocs.d/{revoked}.rev")))
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let rev_file = tmp.path().join("revoke.asc");
    std::fs::write(&rev_file, rev).unwrap();
    gpg.run(&["--import", rev_file.to_str().unwrap()]);

    // The keyring: alice and the revoked key armored, the old key appended as a second
    // armored block (as `cat a.asc b.asc` makes); mallory is not in it.
    let mut keyring = gpg.run(&["--armor", "--export", &alice, &revoked]);
    keyring.extend(old.run(&["--armor", "--export", &expired]));
    let keyring_file = tmp.path().join("trusted.asc");
    std::fs::write(&keyring_file, keyring).unwrap();
    let p = Policy {
        mode: Mode::Head,
        allowed_signers: None,
        gpg_keyring: Some(keyring_file.clone()),
    };
    let t = tracked(&repo);
    let state = |commit: &str| t.signature_state(&p, commit).unwrap();

    match state(&by_alice) {
        Verdict::Verified { signer, key } => {
            assert_eq!(signer, "Alice <t@example.invalid>");
            assert_eq!(key, alice);
        }
        other => panic!("refused: {other:?}"),
    }
    let verdict = state(&by_mallory);
    assert_eq!(reason(&verdict), Some(Reason::UnknownKey), "{verdict:?}");
    let verdict = state(&by_revoked);
    assert_eq!(reason(&verdict), Some(Reason::Revoked), "{verdict:?}");
    let verdict = state(&by_expired);
    assert_eq!(reason(&verdict), Some(Reason::Expired), "{verdict:?}");
    let verdict = state(&forged);
    assert_eq!(reason(&verdict), Some(Reason::BadSignature), "{verdict:?}");

    // A binary keyring (`gpg --export` without --armor) works the same.
    let binary = tmp.path().join("trusted.gpg");
    std::fs::write(&binary, gpg.run(&["--export", &alice])).unwrap();
    let p = Policy {
        gpg_keyring: Some(binary),
        ..p
    };
    assert!(matches!(
        t.signature_state(&p, &by_alice).unwrap(),
        Verdict::Verified { .. }
    ));
}

#[test]
fn validate_plan_and_preview_report_the_signature_of_the_revision_they_read() {
    if !have_ssh_keygen("cli signatures") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let alice = keygen(tmp.path(), "alice");
    let signers = tmp.path().join("allowed_signers");
    std::fs::write(&signers, format!("t@example.invalid {}\n", alice.public)).unwrap();
    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    commit(&repo, "signed", Some(&alice));
    set_image(&repo, "nginx:2");
    commit(&repo, "unsigned", None);
    let r = repo.to_str().unwrap();
    let s = signers.to_str().unwrap();
    let run = |args: &[&str]| support::homelabd(args);

    let out = run(&["validate", r, "--rev", "HEAD~1", "--allowed-signers", s]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    assert!(
        support::stdout(&out).contains("signature: verified: signed by t@example.invalid"),
        "{}",
        support::stdout(&out)
    );
    let out = run(&["validate", r, "--rev", "HEAD", "--allowed-signers", s]);
    assert_eq!(out.status.code(), Some(0), "reported, not enforced");
    assert!(support::stdout(&out).contains("signature: refused (unsigned)"));

    // For CI: an unverified revision is an error.
    let out = run(&[
        "validate",
        r,
        "--rev",
        "HEAD",
        "--allowed-signers",
        s,
        "--require-signed",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        support::stderr(&out).contains("--require-signed"),
        "{}",
        support::stderr(&out)
    );
    let out = run(&[
        "validate",
        r,
        "--rev",
        "HEAD~1",
        "--allowed-signers",
        s,
        "--require-signed",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    // A directory has no signature; no keys means nothing can verify: usage errors.
    assert_eq!(
        run(&["validate", r, "--require-signed"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["validate", r, "--rev", "HEAD", "--require-signed"])
            .status
            .code(),
        Some(2)
    );

    let out = run(&[
        "plan",
        r,
        "--rev",
        "HEAD",
        "--allowed-signers",
        s,
        "--output",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&support::stdout(&out)).unwrap();
    assert_eq!(doc["signature"]["state"], "refused");
    assert_eq!(doc["signature"]["reason"], "unsigned");

    // The pull-request preview says whether the head would be accepted after merging.
    let out = run(&[
        "preview",
        r,
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--allowed-signers",
        s,
    ]);
    let text = support::stdout(&out);
    assert!(text.contains("would be refused (unsigned)"), "{text}");
    assert!(text.contains("web-flow key is not trusted"), "{text}");
    let out = run(&[
        "preview",
        r,
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--allowed-signers",
        s,
        "--require-signed",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

async fn latest(url: &str, event: &str) -> Option<NotificationRecord> {
    let store = Store::connect(url).await.ok()?;
    store.latest_notification(event).await.ok()?
}

async fn recorded_revision(store: &Store) -> Option<String> {
    store.latest_revision().await.ok()?.map(|r| r.commit)
}

/// Waits until the store says `head` was refused for `reason`.
async fn wait_refused(url: &str, daemon: &Daemon, head: &str, reason: Reason) {
    let head = head.to_owned();
    wait_for_store(
        url,
        daemon,
        30,
        &format!("refusal of {head}"),
        async |s: &Store| s.latest_notification("source.refused").await.ok().flatten(),
        |n: &NotificationRecord| n.subject == head && n.details["reason"] == reason.as_str(),
    )
    .await;
}

async fn wait_revision(url: &str, daemon: &Daemon, commit: &str) {
    let commit = commit.to_owned();
    wait_for_store(
        url,
        daemon,
        60,
        &format!("revision {commit}"),
        async |s: &Store| recorded_revision(s).await,
        |r: &String| *r == commit,
    )
    .await;
}

fn rendered_image(state: &Path) -> String {
    let compose =
        std::fs::read_to_string(state.join("rendered-configs/docker/web/compose.yaml")).unwrap();
    compose
        .lines()
        .find(|l| l.contains("image:"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn status(url: &str) -> String {
    support::stdout(&support::homelabd(&["status", "--database-url", url]))
}

const CONFIG: &str = "[source]\npoll_interval_seconds = 1\n\n[source.verify]\nmode = \"MODE\"\n\
                      # relative to this file\nallowed_signers = \"allowed_signers\"\n";

/// A daemon on `repo` verifying in `mode` against `signers` (written next to the config
/// file, which names it by a relative path).
fn daemon(repo: &str, state: &Path, mode: &str, signers: &str) -> DaemonCommand {
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(state.join("allowed_signers"), signers).unwrap();
    DaemonCommand::new(state)
        .repo(repo)
        .config(&CONFIG.replace("MODE", mode))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_keeps_the_last_verified_revision_until_a_signed_head_arrives() {
    if !have_ssh_keygen("daemon verification") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let alice = keygen(tmp.path(), "alice");
    let mallory = keygen(tmp.path(), "mallory");
    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    let first = commit(&repo, "signed", Some(&alice));
    let state = tmp.path().join("state");
    let signers = format!(
        "t@example.invalid {}\nold@example.invalid valid-before=\"20200101\" {}\n",
        alice.public, mallory.public
    );
    let daemon = daemon(repo.to_str().unwrap(), &state, "head", &signers).spawn();
    let url = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_revision(&url, &daemon, &first).await;
    assert_eq!(rendered_image(&state), "image: \"nginx:1\"");

    // Unsigned: refused, and the verified revision stays rendered and recorded.
    set_image(&repo, "evil:unsigned");
    let unsigned = commit(&repo, "no signature", None);
    wait_refused(&url, &daemon, &unsigned, Reason::Unsigned).await;
    assert_eq!(
        daemon.metric("homelabd_source_head_refused").await,
        Some(1.0)
    );
    assert_eq!(
        daemon
            .metric("homelabd_source_refusals_total{reason=\"unsigned\"}")
            .await,
        Some(1.0)
    );
    let out = status(&url);
    assert!(out.contains(&format!("revision {first}")), "{out}");
    assert!(
        out.contains(&format!("commit {} refused (unsigned)", &unsigned[..12])),
        "{out}"
    );
    assert!(out.contains(&format!("keeping {}", &first[..12])), "{out}");

    // A key listed only until 2020: expired.
    let expired = commit(&repo, "by an expired key", Some(&mallory));
    wait_refused(&url, &daemon, &expired, Reason::Expired).await;

    // Signed by alice, then the message changed: a bad signature. The signed original is
    // made on a side branch, so the daemon only ever sees the forged one on main.
    git(&repo, &["checkout", "-q", "-b", "forging"]);
    commit(&repo, "signed, then edited", Some(&alice));
    let forged = tamper(&repo);
    git(&repo, &["checkout", "-q", "-f", "main"]);
    wait_refused(&url, &daemon, &forged, Reason::BadSignature).await;

    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        recorded_revision(&store).await.as_deref(),
        Some(first.as_str())
    );
    assert_eq!(rendered_image(&state), "image: \"nginx:1\"");
    let log = daemon.log();
    assert!(
        log.contains("new commit refused by signature verification"),
        "{log}"
    );

    // A signed head is accepted again and reconciled.
    set_image(&repo, "nginx:2");
    let good = commit(&repo, "signed fix", Some(&alice));
    wait_revision(&url, &daemon, &good).await;
    assert_eq!(rendered_image(&state), "image: \"nginx:2\"");
    // The pass is recorded first, its notification in the next write.
    let good_head = good.clone();
    wait_for_store(
        &url,
        &daemon,
        30,
        "source.accepted",
        async |s: &Store| {
            s.latest_notification("source.accepted")
                .await
                .ok()
                .flatten()
        },
        |n: &NotificationRecord| n.subject == good_head,
    )
    .await;
    let out = status(&url);
    assert!(!out.contains("refused"), "{out}");
    assert_eq!(
        daemon.metric("homelabd_source_head_refused").await,
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_force_push_of_unsigned_history_over_git_daemon_is_refused() {
    if !have_ssh_keygen("git daemon force-push") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let alice = keygen(tmp.path(), "alice");
    let served = tmp.path().join("served");
    let bare = served.join("homelab.git");
    std::fs::create_dir_all(&served).unwrap();
    git(
        &served,
        &["init", "-q", "--bare", "-b", "main", "homelab.git"],
    );
    let work = tmp.path().join("work");
    homelab(&work, "nginx:1");
    let first = commit(&work, "signed", Some(&alice));
    set_image(&work, "nginx:2");
    let second = commit(&work, "signed too", Some(&alice));
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let Some(server) = support::git_daemon::GitDaemon::serve(&served) else {
        return support::skip("git daemon force-push", "git daemon cannot be started");
    };
    let state = tmp.path().join("state");
    let signers = format!("t@example.invalid {}\n", alice.public);
    // The file says `head`; the environment overrides it.
    let daemon = daemon(&server.url("homelab.git"), &state, "head", &signers)
        .env("HOMELABD_VERIFY_MODE", "all")
        .spawn();
    let url = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_revision(&url, &daemon, &second).await;

    // History rewritten from the first commit with an unsigned commit, topped by a
    // signed one, and force-pushed: `all` mode checks back to where it left the verified
    // history and refuses.
    git(&work, &["reset", "-q", "--hard", &first]);
    set_image(&work, "evil:rewritten");
    let rewritten = commit(&work, "rewritten without a signature", None);
    let top = commit(&work, "signed on top", Some(&alice));
    git(
        &work,
        &["push", "-q", "--force", bare.to_str().unwrap(), "main"],
    );
    wait_refused(&url, &daemon, &top, Reason::Unsigned).await;
    let refused = latest(&url, "source.refused").await.unwrap();
    assert_eq!(refused.details["commit"], rewritten.as_str());
    assert_eq!(refused.details["kept_revision"], second.as_str());
    assert_eq!(rendered_image(&state), "image: \"nginx:2\"");
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        recorded_revision(&store).await.as_deref(),
        Some(second.as_str())
    );

    // Signed history force-pushed back is accepted.
    git(&work, &["reset", "-q", "--hard", &second]);
    set_image(&work, "nginx:3");
    let fixed = commit(&work, "signed fix", Some(&alice));
    git(
        &work,
        &["push", "-q", "--force", bare.to_str().unwrap(), "main"],
    );
    wait_revision(&url, &daemon, &fixed).await;
    assert_eq!(rendered_image(&state), "image: \"nginx:3\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_whose_allowed_signers_file_is_missing_does_not_start() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    homelab(&repo, "nginx:1");
    commit(&repo, "unsigned", None);
    let state = tmp.path().join("state");
    let mut daemon = DaemonCommand::new(&state)
        .repo(&repo)
        .config(&CONFIG.replace("MODE", "head"))
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running\n{}",
            daemon.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    let log = daemon.log();
    assert!(
        log.contains(&format!(
            "cannot read {}",
            state.join("allowed_signers").display()
        )),
        "{log}"
    );
}
