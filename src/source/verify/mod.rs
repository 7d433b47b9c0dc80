//! Commit-signature verification: which commits may reach the infrastructure.
//!
//! The pure core decides, from a commit's signed bytes, its signature and the trust
//! material (an allowed signers file for SSH signatures, a keyring for OpenPGP ones),
//! whether the commit is [`Verdict::Verified`] (and by whom) or [`Verdict::Refused`]
//! (and why); [`decide_history`] turns the verdicts along the first-parent chain into one
//! [`Decision`] for a new head. No IO here: [`trust`] reads the files and [`commit`] reads
//! commits with git2; the tracked repository hands the daemon's loop only an accepted head.

pub mod allowed_signers;
pub mod commit;
pub mod openpgp;
pub mod ssh;
pub mod trust;

pub use allowed_signers::{AllowedSigner, AllowedSigners};
pub use commit::{Head, signature_state};
pub use trust::{Policy, Trust, VerifyError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `[source.verify] mode`: which commits must carry a valid signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No verification (the default).
    #[default]
    Off,
    /// The newest commit of the branch must be signed by an allowed key.
    Head,
    /// Every first-parent commit since the last verified one must be.
    All,
}

impl Mode {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Head => "head",
            Mode::All => "all",
        }
    }

    /// Parses a configured name.
    pub fn parse(text: &str) -> Option<Mode> {
        [Mode::Off, Mode::Head, Mode::All]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// Why a commit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No signature at all.
    Unsigned,
    /// Signed, but by a key that is not trusted (or not for git).
    UnknownKey,
    /// The signature does not match the commit, or cannot be read.
    BadSignature,
    /// The key expired (keyring) or is past `valid-before` (allowed signers).
    Expired,
    /// The key was revoked.
    Revoked,
    /// The commit predates the key's `valid-after`.
    NotYetValid,
    /// Too many new commits to check in `all` mode.
    TooManyCommits,
}

impl Reason {
    /// The name in status, metrics labels and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::UnknownKey => "unknown-key",
            Reason::BadSignature => "bad-signature",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::NotYetValid => "not-yet-valid",
            Reason::TooManyCommits => "too-many-commits",
        }
    }
}

/// The outcome of verifying one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Verdict {
    /// Signed by an allowed key.
    Verified {
        /// Who signed: the principals of the allowed signers entry, or the key's user id.
        signer: String,
        /// The key's fingerprint.
        key: String,
    },
    /// Not acceptable.
    Refused { reason: Reason, detail: String },
}

impl Verdict {
    /// A refusal with its detail.
    pub fn refused(reason: Reason, detail: impl Into<String>) -> Verdict {
        Verdict::Refused {
            reason,
            detail: detail.into(),
        }
    }

    /// One line for people: `verified: signed by … (key …)` or `refused (reason): …`.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Verified { signer, key } => format!("verified: signed by {signer} ({key})"),
            Verdict::Refused { reason, detail } => {
                format!("refused ({}): {detail}", reason.as_str())
            }
        }
    }
}

/// What verification needs to know about one commit.
#[derive(Debug, Clone, Copy)]
pub struct CommitFacts<'a> {
    /// The commit object without its signature header: the bytes that were signed.
    pub signed: &'a [u8],
    /// The armored signature from the `gpgsig` header, if any.
    pub signature: Option<&'a [u8]>,
    /// The committer's timestamp.
    pub committed_at: DateTime<Utc>,
}

/// Verifies one commit against the trust material at time `now` (pure).
pub fn verify_commit(facts: &CommitFacts<'_>, trust: &Trust, now: DateTime<Utc>) -> Verdict {
    let Some(signature) = facts.signature else {
        return Verdict::refused(Reason::Unsigned, "the commit carries no signature");
    };
    let text = String::from_utf8_lossy(signature);
    let text = text.trim_start();
    if text.starts_with("-----BEGIN SSH SIGNATURE-----") {
        ssh::verify(signature, facts.signed, facts.committed_at, now, &trust.ssh)
    } else if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
        openpgp::verify(signature, facts.signed, now, &trust.pgp)
    } else {
        Verdict::refused(
            Reason::BadSignature,
            "unsupported signature format (expected an SSH or OpenPGP signature)",
        )
    }
}

/// A refused head: which commit failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The branch's newest commit, which will not be reconciled.
    pub head: String,
    /// The commit whose signature failed (the head itself in `head` mode).
    pub commit: String,
    pub reason: Reason,
    pub detail: String,
}

impl Refusal {
    /// One line for logs and status.
    pub fn describe(&self) -> String {
        if self.head == self.commit {
            format!(
                "commit {} refused ({}): {}",
                short(&self.commit),
                self.reason.as_str(),
                self.detail
            )
        } else {
            format!(
                "head {} refused: commit {} in its history is not acceptable ({}): {}",
                short(&self.head),
                short(&self.commit),
                self.reason.as_str(),
                self.detail
            )
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Whether a new head may be reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Reconcile it; `signer` is who signed the head (`None` when verification is off or
    /// the head was verified before).
    Accept { signer: Option<String> },
    /// Keep the last verified revision.
    Refuse(Refusal),
}

/// The most commits `all` mode checks for one new head; more are refused.
pub const MAX_NEW_COMMITS: usize = 1000;

/// Decides on a new head from the verdicts of the commits that must verify, newest first
/// (`(commit id, verdict)`; only the head in `head` mode, every new first-parent commit in
/// `all` mode). `truncated` says the walk stopped at [`MAX_NEW_COMMITS`] (pure).
pub fn decide_history(head: &str, verdicts: &[(String, Verdict)], truncated: bool) -> Decision {
    if let Some((commit, Verdict::Refused { reason, detail })) = verdicts
        .iter()
        .find(|(_, v)| matches!(v, Verdict::Refused { .. }))
    {
        return Decision::Refuse(Refusal {
            head: head.to_owned(),
            commit: commit.clone(),
            reason: *reason,
            detail: detail.clone(),
        });
    }
    if truncated {
        return Decision::Refuse(Refusal {
            head: head.to_owned(),
            commit: head.to_owned(),
            reason: Reason::TooManyCommits,
            detail: format!(
                "more than {MAX_NEW_COMMITS} new first-parent commits since the last verified revision; verify a newer one with mode = \"head\" first"
            ),
        });
    }
    let signer = verdicts.iter().find_map(|(commit, v)| match v {
        Verdict::Verified { signer, .. } if commit == head => Some(signer.clone()),
        _ => None,
    });
    Decision::Accept { signer }
}

/// What a pull-request preview says about its head's signature: whether the branch would
/// be accepted after the merge (pure). `web_flow` says whether GitHub's web-flow key (which
/// signs merges made in GitHub's UI) is in the keyring.
pub fn merge_note(head: &str, verdict: &Verdict, mode: Mode, web_flow: bool) -> String {
    let ui = if web_flow {
        "GitHub's web-flow key is trusted, so a merge made in GitHub's UI is accepted"
    } else {
        "GitHub's web-flow key is not trusted, so a merge made in GitHub's UI is refused; merge locally with a signed merge commit"
    };
    let head = short(head);
    match (verdict, mode) {
        (Verdict::Verified { signer, .. }, Mode::All) => format!(
            "Signature: head {head} is signed by {signer}. homelabd verifies every new commit (mode all): a fast-forward or rebase merge is accepted only if every commit of the pull request is signed; {ui}."
        ),
        (Verdict::Verified { signer, .. }, _) => format!(
            "Signature: head {head} is signed by {signer}: accepted after a fast-forward merge; a merge or squash commit must be signed itself ({ui})."
        ),
        (Verdict::Refused { reason, detail }, _) => format!(
            "Signature: head {head} would be refused ({}): {detail}. Merged as it is (fast-forward), homelabd keeps the last verified revision; {ui}.",
            reason.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(signer: &str) -> Verdict {
        Verdict::Verified {
            signer: signer.into(),
            key: "SHA256:x".into(),
        }
    }

    #[test]
    fn an_unsigned_commit_is_refused_as_unsigned() {
        let trust = Trust::default();
        let facts = CommitFacts {
            signed: b"tree 0\n\nmsg\n",
            signature: None,
            committed_at: Utc::now(),
        };
        assert!(matches!(
            verify_commit(&facts, &trust, Utc::now()),
            Verdict::Refused {
                reason: Reason::Unsigned,
                ..
            }
        ));
    }

    #[test]
    fn an_unknown_signature_format_is_a_bad_signature() {
        let facts = CommitFacts {
            signed: b"x",
            signature: Some(b"-----BEGIN SIGNED MESSAGE-----\n"),
            committed_at: Utc::now(),
        };
        assert!(matches!(
            verify_commit(&facts, &Trust::default(), Utc::now()),
            Verdict::Refused {
                reason: Reason::BadSignature,
                ..
            }
        ));
    }

    #[test]
    fn one_unsigned_commit_in_the_middle_refuses_the_head() {
        let verdicts = vec![
            ("c3".to_owned(), ok("alice")),
            ("c2".to_owned(), Verdict::refused(Reason::Unsigned, "none")),
            ("c1".to_owned(), ok("alice")),
        ];
        match decide_history("c3", &verdicts, false) {
            Decision::Refuse(r) => {
                assert_eq!((r.head.as_str(), r.commit.as_str()), ("c3", "c2"));
                assert_eq!(r.reason, Reason::Unsigned);
                assert!(r.describe().contains("in its history"), "{}", r.describe());
            }
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn a_verified_head_names_its_signer() {
        let verdicts = vec![("c2".to_owned(), ok("alice")), ("c1".to_owned(), ok("bob"))];
        assert_eq!(
            decide_history("c2", &verdicts, false),
            Decision::Accept {
                signer: Some("alice".into())
            }
        );
    }

    #[test]
    fn too_long_a_history_is_refused_not_skipped() {
        let verdicts = vec![("c2".to_owned(), ok("alice"))];
        assert!(matches!(
            decide_history("c2", &verdicts, true),
            Decision::Refuse(Refusal {
                reason: Reason::TooManyCommits,
                ..
            })
        ));
    }

    #[test]
    fn previews_say_whether_a_merge_would_be_accepted() {
        let refused = Verdict::refused(Reason::Unsigned, "the commit carries no signature");
        let note = merge_note("0123456789abcdef", &refused, Mode::Head, false);
        assert!(
            note.contains("0123456789ab would be refused (unsigned)"),
            "{note}"
        );
        assert!(note.contains("web-flow key is not trusted"), "{note}");
        let note = merge_note("0123456789abcdef", &ok("alice"), Mode::Head, true);
        assert!(
            note.contains("signed by alice: accepted after a fast-forward merge"),
            "{note}"
        );
        assert!(
            note.contains("merge made in GitHub's UI is accepted"),
            "{note}"
        );
        let note = merge_note("0123456789abcdef", &ok("alice"), Mode::All, true);
        assert!(
            note.contains("every commit of the pull request is signed"),
            "{note}"
        );
    }

    #[test]
    fn modes_parse_from_their_names() {
        assert_eq!(Mode::parse("all"), Some(Mode::All));
        assert_eq!(Mode::parse("ALL"), None);
        assert_eq!(Mode::default(), Mode::Off);
    }
}
