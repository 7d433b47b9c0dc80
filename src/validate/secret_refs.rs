//! Secret references in definitions: `{secret: NAME, key: KEY}` in a resource's
//! `spec.chart.values` or a template's variables must be well formed and name a
//! `secrets/NAME.age` of the same revision. Keys can only be checked after decryption,
//! which is not validate's business (see `secrets::Keyring::check`).

use super::{Context, Entry};
use crate::diag::Diagnostic;
use crate::model::Document;
use crate::secrets::refs::find_refs;

/// Checks the references under `pointer` of `doc`.
fn check_at(doc: &Document, pointer: &str, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let Some(value) = doc.value.pointer(pointer) else {
        return;
    };
    for (at, found) in find_refs(value, pointer) {
        match found {
            Err(why) => diags.push(
                doc.diagnostic("secret-reference", &at, why.to_string())
                    .expected("{secret: NAME, key: KEY}"),
            ),
            Ok(r) if !ctx.secrets.contains(&r.secret) => diags.push(
                doc.diagnostic(
                    "secret-not-found",
                    &at,
                    format!("secret {} does not exist", r.secret),
                )
                .expected(format!(
                    "a file secrets/{}.age (create it with `homelabd secret set {} {}`)",
                    r.secret, r.secret, r.key
                )),
            ),
            Ok(_) => {}
        }
    }
}

/// A resource's references (its chart values).
pub(super) fn check_resource<S>(entry: &Entry<S>, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    check_at(&entry.doc, "/spec/chart/values", ctx, diags);
}

/// A template's references (infrastructure and configuration variables).
pub(super) fn check_template<S>(entry: &Entry<S>, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    check_at(&entry.doc, "/spec/infrastructure/variables", ctx, diags);
    check_at(&entry.doc, "/spec/configuration/variables", ctx, diags);
}
