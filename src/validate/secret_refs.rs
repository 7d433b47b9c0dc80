//! Secret references in definitions: `{secret: NAME, key: KEY}` in a resource's
//! `spec.chart.values` or a template's variables must be well formed and name a
//! `secrets/NAME.age` of the same revision. Keys can only be checked after decryption,
//! which is not validate's business (see `secrets::Keyring::check`).

use super::{Context, Entry};
use crate::diag::Diagnostic;
use crate::model::{Document, UniversalResourceSpec};
use crate::secrets::refs::find_refs;

/// Checks the references under `pointer` of `doc`.
fn check_at(doc: &Document, pointer: &str, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let Some(value) = doc.value().pointer(pointer) else {
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

/// A resource's references (its chart values). Read from the document only when its
/// typed values have a `secret` key somewhere (a reference, good or bad, is a mapping
/// with one), so a kept lean document is not parsed again for nothing.
pub(super) fn check_resource(
    entry: &Entry<UniversalResourceSpec>,
    ctx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) {
    if may_hold_refs(&entry.object.spec.chart.values) {
        check_at(&entry.doc, "/spec/chart/values", ctx, diags);
    }
}

/// Is there a mapping with a `secret` key anywhere in `values` (what every secret
/// reference, well formed or not, is)?
pub(super) fn may_hold_refs(values: &serde_json::Map<String, serde_json::Value>) -> bool {
    fn within(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => may_hold_refs(map),
            serde_json::Value::Array(items) => items.iter().any(within),
            _ => false,
        }
    }
    values.contains_key("secret") || values.values().any(within)
}

/// A template's references (infrastructure and configuration variables).
pub(super) fn check_template<S>(entry: &Entry<S>, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    check_at(&entry.doc, "/spec/infrastructure/variables", ctx, diags);
    check_at(&entry.doc, "/spec/configuration/variables", ctx, diags);
}
