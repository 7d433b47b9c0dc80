//! The dashboard's templates, embedded in the binary and compiled once. Every `.html`
//! template is auto-escaped (minijinja escapes HTML for these names), so values from
//! repositories, commits and tools are always text, never markup; undefined variables
//! are errors.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Why a page could not be rendered (a template bug, never user input).
#[derive(Debug, thiserror::Error)]
#[error("dashboard template {name}: {source}")]
pub struct TemplateError {
    name: &'static str,
    #[source]
    source: minijinja::Error,
}

const SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("login.html", include_str!("templates/login.html")),
    ("message.html", include_str!("templates/message.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("resources.html", include_str!("templates/resources.html")),
    ("resource.html", include_str!("templates/resource.html")),
    ("pools.html", include_str!("templates/pools.html")),
    ("proposals.html", include_str!("templates/proposals.html")),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "notifications.html",
        include_str!("templates/notifications.html"),
    ),
];

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template; a syntax error is a bug caught by the unit tests.
    pub fn new() -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        for (name, source) in SOURCES {
            env.add_template(name, source)
                .map_err(|source| TemplateError { name, source })?;
        }
        Ok(Templates { env })
    }

    /// Renders template `name` with `ctx`.
    pub fn render(
        &self,
        name: &'static str,
        ctx: &impl Serialize,
    ) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(ctx)))
            .map_err(|source| TemplateError { name, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_compiles_and_values_are_escaped() {
        let t = Templates::new().unwrap();
        let html = t
            .render(
                "message.html",
                &json!({"title": "<b>x</b>", "message": "<script>alert(1)</script>",
                        "page": "", "user": null}),
            )
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
    }
}
