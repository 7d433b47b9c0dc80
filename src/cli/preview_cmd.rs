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
    let limits = super::pipeline_cmds::limits(args.config.as_deref())?;
    let engine = Engine::with_limits(limits).context("built-in schemas")?;
    let defaults = EffectivePolicy {
        apply: ApplyPolicy::Auto,
        self_heal: false,
        prune: args.default_prune,
    };
    let report = preview::preview_commits(
        &engine,
        &repo,
        (&args.base, base),
        (&args.head, head),
        args.path.as_deref(),
        defaults,
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
    Ok(if report.valid {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
