//! `homelabd preview`: the pull-request preview of two revisions, printed.

use super::args::{PreviewArgs, PreviewFormat};
use super::output::print_json;
use super::{Exit, UsageError};
use crate::model::ApplyPolicy;
use crate::pipeline::Engine;
use crate::preview::{self, PreviewError, format};
use crate::reconcile::EffectivePolicy;
use anyhow::Context as _;
use std::io::Write as _;

pub fn preview(args: PreviewArgs) -> anyhow::Result<Exit> {
    let repo = git2::Repository::open(&args.repo).map_err(|e| {
        UsageError(format!(
            "{} is not a git repository: {}",
            args.repo.display(),
            e.message()
        ))
    })?;
    let resolve = |rev: &str| {
        preview::resolve(&repo, rev).map_err(|e| match e {
            PreviewError::RevisionNotFound { .. } => anyhow::Error::new(UsageError(e.to_string())),
            other => anyhow::Error::new(other),
        })
    };
    let (base, head) = (resolve(&args.base)?, resolve(&args.head)?);
    let verdict = super::signature::check(
        &args.repo,
        Some(&args.head),
        args.config.as_deref(),
        &args.signatures,
    )?;
    let policy = super::signature::policy(args.config.as_deref(), &args.signatures)?;
    let limits = super::pipeline_cmds::limits(args.config.as_deref())?;
    let engine = Engine::with_limits(limits).context("built-in schemas")?;
    let defaults = EffectivePolicy {
        apply: ApplyPolicy::Auto,
        self_heal: false,
        prune: args.default_prune,
    };
    // With an identity, a changed secret file names the keys that changed (never values);
    // one that cannot be read leaves the file-level note.
    let identities = crate::secrets::load_identity(None).ok().flatten();
    let mut report = preview::preview_commits(
        &engine,
        &repo,
        (&args.base, base),
        (&args.head, head),
        args.path.as_deref(),
        preview::Context {
            defaults,
            identities: identities.as_ref(),
            // Outside the daemon there is no record of where things are: placed afresh.
            placements: &crate::place::Priors::new(),
        },
    )
    .map_err(|e| match e {
        PreviewError::Source {
            source: crate::source::SourceError::SubPathMissing { .. },
            ..
        }
        | PreviewError::Source {
            source: crate::source::SourceError::BadSubPath(_),
            ..
        } => anyhow::Error::new(UsageError(e.to_string())),
        other => anyhow::Error::new(other),
    })?;
    if let (Some(verdict), Some(policy)) = (&verdict, &policy) {
        let trust = policy.load_trust()?;
        report.notes.push(crate::source::verify::merge_note(
            &head.to_string(),
            verdict,
            policy.mode,
            trust.trusts_github_web_flow(),
        ));
    }
    let unmet = super::signature::unmet(&args.signatures, verdict.as_ref());
    if unmet {
        eprintln!("error: --require-signed: the head is not signed by an allowed key");
    }
    match args.output {
        PreviewFormat::Json => print_json(&serde_json::to_value(&report)?)?,
        PreviewFormat::Text | PreviewFormat::Markdown => {
            let text = match args.output {
                PreviewFormat::Markdown => format::markdown(&report),
                _ => format::text(&report),
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(if report.valid && !unmet {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
