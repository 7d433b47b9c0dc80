//! How tool answers and refusals reach the client.
//!
//! A tool returns `Result<Json<T>, Refusal>`. [`Json`] carries the structured answer (in
//! `structuredContent`, with the output schema rmcp's `#[tool]` macro derives from any
//! `Json<T>` return type) plus a readable summary and the JSON as text for clients that
//! only read `content`. A [`Refusal`] is either a problem the model can fix (unknown
//! resource, invalid definition: an `isError` result with the reasons) or protocol misuse
//! (a JSON-RPC error).

use crate::diag::Diagnostic;
use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

/// A one-paragraph, human-readable summary of an answer.
pub trait Summary {
    fn summary(&self) -> String;
}

/// A structured tool answer.
pub struct Json<T>(pub T);

impl<T: Serialize + JsonSchema + Summary + 'static> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let summary = self.0.summary();
        let value = serde_json::to_value(&self.0).map_err(|e| {
            ErrorData::internal_error(format!("cannot serialise the answer: {e}"), None)
        })?;
        let mut result = CallToolResult::structured(value.clone());
        result.content = vec![
            ContentBlock::text(summary),
            ContentBlock::text(value.to_string()),
        ];
        Ok(result.into())
    }
}

/// One problem in a refused request, as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Problem {
    /// `error` or `warning`.
    pub severity: String,
    /// Stable class, e.g. `schema`, `unknown-pool`, `no-placement`.
    pub code: String,
    /// JSON pointer of the field (empty for the whole document).
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

impl From<&Diagnostic> for Problem {
    fn from(d: &Diagnostic) -> Problem {
        Problem {
            severity: if d.is_error() { "error" } else { "warning" }.to_owned(),
            code: d.code.to_owned(),
            pointer: d.pointer.clone(),
            line: d.line,
            message: d.message.clone(),
            expected: d.expected.clone(),
            found: d.found.clone(),
        }
    }
}

impl Problem {
    /// `/spec/x: message (expected …, found …)`
    pub fn line(&self) -> String {
        let mut out = String::new();
        if !self.pointer.is_empty() {
            out.push_str(&self.pointer);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        match (&self.expected, &self.found) {
            (Some(e), Some(f)) => out.push_str(&format!(" (expected {e}, found {f})")),
            (Some(e), None) => out.push_str(&format!(" (expected {e})")),
            (None, Some(f)) => out.push_str(&format!(" (found {f})")),
            (None, None) => {}
        }
        out
    }
}

/// Why a tool did not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The request names something that does not exist or is invalid; the model can fix
    /// it. Comes back as an `isError` result listing the reasons.
    Fixable {
        message: String,
        reasons: Vec<String>,
        problems: Vec<Problem>,
    },
    /// Something this server depends on failed (git, the store); retrying may help.
    Unavailable(String),
    /// The request itself is wrong at the protocol level (a JSON-RPC error).
    Protocol(ErrorData),
}

impl Refusal {
    /// A fixable refusal with reasons.
    pub fn fixable(message: impl Into<String>, reasons: Vec<String>) -> Refusal {
        Refusal::Fixable {
            message: message.into(),
            reasons,
            problems: Vec::new(),
        }
    }

    /// An invalid definition: the message and the diagnostics.
    pub fn invalid(message: impl Into<String>, diagnostics: &[Diagnostic]) -> Refusal {
        Refusal::Fixable {
            message: message.into(),
            reasons: Vec::new(),
            problems: diagnostics.iter().map(Problem::from).collect(),
        }
    }

    /// "unknown resource x; known: a, b, c" with the closest names first.
    pub fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> Refusal {
        let suggestions = closest(name, known, 5);
        let reasons = if suggestions.is_empty() {
            vec![format!("there is no {what} at all in the tracked revision")]
        } else {
            vec![format!(
                "known {what}s (closest first): {}",
                suggestions.join(", ")
            )]
        };
        Refusal::fixable(format!("unknown {what} {name:?}"), reasons)
    }

    /// The text shown to the model.
    pub fn text(&self) -> String {
        match self {
            Refusal::Fixable {
                message,
                reasons,
                problems,
            } => {
                let mut out = message.clone();
                for r in reasons {
                    out.push_str("\n- ");
                    out.push_str(r);
                }
                for p in problems {
                    out.push_str("\n- ");
                    out.push_str(&p.line());
                }
                out
            }
            Refusal::Unavailable(message) => format!("{message} (retry later)"),
            Refusal::Protocol(e) => e.message.to_string(),
        }
    }
}

impl IntoCallToolResult for Refusal {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        match &self {
            Refusal::Protocol(e) => Err(e.clone()),
            Refusal::Fixable {
                message,
                reasons,
                problems,
            } => {
                let mut result = CallToolResult::error(vec![ContentBlock::text(self.text())]);
                result.structured_content = Some(serde_json::json!({
                    "error": message,
                    "reasons": reasons,
                    "problems": problems,
                }));
                Ok(result.into())
            }
            Refusal::Unavailable(_) => {
                Ok(CallToolResult::error(vec![ContentBlock::text(self.text())]).into())
            }
        }
    }
}

/// Up to `n` of `known`, closest to `name` first: names containing it (or contained in
/// it) first, then the longest common prefix, then edit distance, then name.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a String>, n: usize) -> Vec<String> {
    let mut scored: Vec<(bool, std::cmp::Reverse<usize>, usize, &String)> = known
        .map(|k| {
            let related = k.contains(name) || name.contains(k.as_str());
            let prefix = k
                .chars()
                .zip(name.chars())
                .take_while(|(a, b)| a == b)
                .count();
            (!related, std::cmp::Reverse(prefix), distance(name, k), k)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, _, k)| k.clone())
        .collect()
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let old = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = old;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_the_closest_known_ones() {
        let known: Vec<String> = ["ollama-server", "jenkins", "nextcloud", "postgresql"]
            .map(String::from)
            .to_vec();
        let r = Refusal::unknown("resource", "olama-server", known.iter());
        let text = r.text();
        assert!(
            text.starts_with("unknown resource \"olama-server\""),
            "{text}"
        );
        assert!(text.contains("closest first): ollama-server, "), "{text}");
        assert_eq!(closest("olama", known.iter(), 1), ["ollama-server"]);
        assert_eq!(closest("jenkins-2", known.iter(), 1), ["jenkins"]);
    }

    #[test]
    fn fixable_refusals_are_error_results_and_protocol_ones_are_jsonrpc_errors() {
        let r = Refusal::fixable("nope", vec!["because".into()])
            .into_call_tool_result()
            .unwrap();
        let CallToolResponse::Complete(r) = r else {
            panic!("complete result expected")
        };
        assert_eq!(r.is_error, Some(true));
        assert_eq!(r.structured_content.unwrap()["reasons"][0], "because");
        let e = Refusal::Protocol(ErrorData::invalid_params("bad", None)).into_call_tool_result();
        assert!(e.is_err());
    }
}
