//! git's SSH commit signatures (`gpg.format = ssh`): an SSHSIG over the commit object
//! without its `gpgsig` header, in the namespace `git`, checked with the `ssh-key` crate
//! against an allowed signers file — what `git verify-commit` asks `ssh-keygen -Y verify`.

use super::allowed_signers::{AllowedSigner, AllowedSigners};
use super::{Reason, Verdict};
use chrono::{DateTime, Utc};
use ssh_key::{HashAlg, PublicKey, SshSig};

/// git signs commits in this namespace.
pub const NAMESPACE: &str = "git";

/// Verifies an armored SSH signature of `signed` made at `committed_at`, at time `now`.
pub fn verify(
    armored: &[u8],
    signed: &[u8],
    committed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    allowed: &AllowedSigners,
) -> Verdict {
    let sig = match SshSig::from_pem(armored) {
        Ok(sig) => sig,
        Err(e) => {
            return Verdict::refused(
                Reason::BadSignature,
                format!("unreadable SSH signature: {e}"),
            );
        }
    };
    let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
    if sig.namespace() != NAMESPACE {
        return Verdict::refused(
            Reason::BadSignature,
            format!(
                "SSH signature by {fingerprint} is for namespace {:?}, not {NAMESPACE:?}",
                sig.namespace()
            ),
        );
    }
    let listed: Vec<&AllowedSigner> = allowed.for_key(sig.public_key()).collect();
    if listed.is_empty() {
        return Verdict::refused(
            Reason::UnknownKey,
            format!("SSH key {fingerprint} is not in allowed_signers"),
        );
    }
    if let Err(e) = PublicKey::from(sig.public_key().clone()).verify(NAMESPACE, signed, &sig) {
        return Verdict::refused(
            Reason::BadSignature,
            format!("SSH signature by {fingerprint} does not match the commit: {e}"),
        );
    }
    // The key may be listed more than once (different principals or validity windows):
    // any entry that allows this signature accepts it; otherwise the first refusal says why.
    let mut first_refusal = None;
    for entry in listed {
        match window(entry, committed_at, now) {
            Ok(()) => {
                return Verdict::Verified {
                    signer: entry.principals.join(","),
                    key: fingerprint,
                };
            }
            Err((reason, why)) => {
                first_refusal.get_or_insert_with(|| {
                    Verdict::refused(
                        reason,
                        format!(
                            "SSH key {fingerprint} ({}, allowed_signers line {}) {why}",
                            entry.principals.join(","),
                            entry.line
                        ),
                    )
                });
            }
        }
    }
    first_refusal.unwrap_or_else(|| {
        Verdict::refused(
            Reason::UnknownKey,
            format!("SSH key {fingerprint} is not allowed"),
        )
    })
}

/// Whether an allowed signer entry accepts a signature on a commit made at `committed_at`,
/// checked at `now`. Like git, the window is checked at the commit's time; unlike git, a
/// key past its `valid-before` also introduces nothing new, whatever date a commit claims.
fn window(
    entry: &AllowedSigner,
    committed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), (Reason, String)> {
    if !entry.allows_namespace(NAMESPACE) {
        return Err((
            Reason::UnknownKey,
            format!("is not allowed to sign in namespace {NAMESPACE:?}"),
        ));
    }
    if let Some(after) = entry.valid_after
        && committed_at < after
    {
        return Err((
            Reason::NotYetValid,
            format!("is valid only after {after}, the commit is from {committed_at}"),
        ));
    }
    if let Some(before) = entry.valid_before
        && (committed_at >= before || now >= before)
    {
        return Err((Reason::Expired, format!("expired at {before}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> AllowedSigner {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOjeHr2jzLhFPzVSaFB1mfRccZzPatSrTH1sr2qn9LDO";
        AllowedSigners::parse(&format!("ops@example.com {line} {key}"))
            .signers
            .remove(0)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_key_past_valid_before_signs_nothing_new_whatever_the_commit_date_says() {
        let e = entry("valid-before=\"20250101\"");
        let backdated = at("2024-06-01T00:00:00Z");
        assert!(window(&e, backdated, at("2024-12-31T00:00:00Z")).is_ok());
        let (reason, _) = window(&e, backdated, at("2025-01-02T00:00:00Z")).unwrap_err();
        assert_eq!(reason, Reason::Expired);
        let (reason, _) =
            window(&e, at("2025-02-01T00:00:00Z"), at("2024-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(reason, Reason::Expired);
    }

    #[test]
    fn commits_before_valid_after_are_not_yet_valid() {
        let e = entry("valid-after=\"20250101\"");
        let (reason, why) =
            window(&e, at("2024-12-31T23:59:59Z"), at("2025-06-01T00:00:00Z")).unwrap_err();
        assert_eq!(reason, Reason::NotYetValid);
        assert!(why.contains("valid only after"), "{why}");
        assert!(window(&e, at("2025-01-01T00:00:00Z"), at("2025-06-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn a_key_limited_to_other_namespaces_is_not_a_git_signer() {
        let e = entry("namespaces=\"file,email\"");
        let now = at("2025-01-01T00:00:00Z");
        assert_eq!(window(&e, now, now).unwrap_err().0, Reason::UnknownKey);
    }
}
