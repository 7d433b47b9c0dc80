//! The signature state of the revision a one-shot command reads (`--rev`, `preview`'s
//! head): the same verification the daemon does, reported, and with `--require-signed` an
//! error for CI.

use super::UsageError;
use super::args::SignatureArgs;
use crate::config::{RawConfig, RawVerify};
use crate::source::verify::{self, Mode, Policy, Verdict};
use std::path::Path;

/// The trust material: the flags, else `[source.verify]` of `config` (with the
/// `HOMELABD_*` overrides); `None` when there is none.
pub(super) fn policy(
    config: Option<&Path>,
    args: &SignatureArgs,
) -> anyhow::Result<Option<Policy>> {
    let raw = match config {
        Some(path) => {
            RawConfig::load(path)
                .map_err(|e| UsageError(e.to_string()))?
                .source
                .verify
        }
        None => RawVerify::default(),
    };
    let configured = raw.resolve().map_err(|e| UsageError(e.to_string()))?;
    let policy = Policy {
        // What the daemon would check; `head` when the file leaves verification off.
        mode: if configured.enabled() {
            configured.mode
        } else {
            Mode::Head
        },
        allowed_signers: args.allowed_signers.clone().or(configured.allowed_signers),
        gpg_keyring: args.gpg_keyring.clone().or(configured.gpg_keyring),
    };
    Ok((policy.allowed_signers.is_some() || policy.gpg_keyring.is_some()).then_some(policy))
}

/// The verdict on commit `rev` of the repository at (or around) `repo`, when there is
/// trust material; usage errors for `--require-signed` without a revision or keys.
pub(super) fn check(
    repo: &Path,
    rev: Option<&str>,
    config: Option<&Path>,
    args: &SignatureArgs,
) -> anyhow::Result<Option<Verdict>> {
    let Some(rev) = rev else {
        if args.require_signed {
            return Err(UsageError(
                "--require-signed needs --rev: a directory carries no signature".to_owned(),
            )
            .into());
        }
        return Ok(None);
    };
    let Some(policy) = policy(config, args)? else {
        if args.require_signed {
            return Err(UsageError(
                "--require-signed needs trust material: --allowed-signers, --gpg-keyring or [source.verify] in --config".to_owned(),
            )
            .into());
        }
        return Ok(None);
    };
    let git = git2::Repository::discover(repo)
        .map_err(|e| UsageError(format!("{}: {}", repo.display(), e.message())))?;
    let commit = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| UsageError(format!("revision {rev:?} not found in {}", repo.display())))?;
    let trust = policy.load_trust().map_err(|e| UsageError(e.to_string()))?;
    for warning in &trust.warnings {
        tracing::warn!("{warning}");
    }
    Ok(Some(verify::signature_state(
        &git,
        commit.id(),
        &trust,
        chrono::Utc::now(),
    )?))
}

/// `signature: verified: …` / `signature: refused (unsigned): …` / not checked.
pub(super) fn line(verdict: Option<&Verdict>) -> String {
    match verdict {
        Some(v) => format!("signature: {}", v.describe()),
        None => "signature: not checked (no allowed_signers or gpg_keyring)".to_owned(),
    }
}

/// True when `--require-signed` was given and the revision did not verify.
pub(super) fn unmet(args: &SignatureArgs, verdict: Option<&Verdict>) -> bool {
    args.require_signed && !matches!(verdict, Some(Verdict::Verified { .. }))
}
