//! Parameters of the design's tool catalogue that homelabd accepts but cannot apply.
//!
//! Agents written against the design send its parameter names. Names with a meaning here
//! are aliases or implemented parameters of the tools' own structs ([`super::params`]);
//! the few left are declared there too (so the input schema lists them and unknown names
//! stay refused) and listed in [`NOT_APPLIED`] with the reason. A call that sends one is
//! answered normally, with `parameters_not_applied` in the structured answer and a line
//! in the text naming each, so the agent is never left believing it took effect.

use rmcp::model::{CallToolResponse, ContentBlock, JsonObject};
use serde::Serialize;

/// A design parameter a tool accepts without applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotApplied {
    pub tool: &'static str,
    pub parameter: &'static str,
    /// Why it has no effect, and what to use instead.
    pub why: &'static str,
}

/// Every accepted-but-not-applied parameter, by tool.
pub const NOT_APPLIED: &[NotApplied] = &[
    NotApplied {
        tool: "detect-infrastructure-anomalies",
        parameter: "sensitivity",
        why: "anomalies are facts (failed applies, open deviations, bookings over a threshold), not statistical scores; capacity_threshold_percent sets the capacity bar",
    },
    NotApplied {
        tool: "get-deployment-sop",
        parameter: "include_troubleshooting",
        why: "the SOP is the WorkloadType's own text, served whole; its troubleshooting section is there when the repository wrote one",
    },
    NotApplied {
        tool: "get-placement-strategy",
        parameter: "consider_gpu",
        why: "the strategy is the same with or without GPUs; ask find-optimal-placement with a workload that has gpu: true to see where a GPU workload goes",
    },
    NotApplied {
        tool: "deploy-with-intelligence",
        parameter: "auto_approve",
        why: "homelabd never deploys directly: merging the pull request is the approval",
    },
    NotApplied {
        tool: "deploy-with-intelligence",
        parameter: "create_pr",
        why: "a pull request is opened whenever [propose.github] is configured (else the branch is pushed or kept local); dry_run: true writes nothing",
    },
    NotApplied {
        tool: "decommission-resource",
        parameter: "force",
        why: "after the merge the daemon destroys a resource only where its policy.prune allows (and within the mass-deletion guard); there is nothing to force here",
    },
];

/// A parameter the caller sent that had no effect, as reported in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub parameter: &'static str,
    pub why: &'static str,
}

/// The not-applied parameters `tool` was called with.
pub fn notes(tool: &str, arguments: Option<&JsonObject>) -> Vec<Note> {
    let Some(arguments) = arguments else {
        return Vec::new();
    };
    NOT_APPLIED
        .iter()
        .filter(|n| n.tool == tool && arguments.contains_key(n.parameter))
        .map(|n| Note {
            parameter: n.parameter,
            why: n.why,
        })
        .collect()
}

/// Adds `notes` to a tool's answer: `parameters_not_applied` in the structured content
/// (and the JSON text that mirrors it), and one line each in the summary.
pub fn annotate(response: &mut CallToolResponse, notes: &[Note]) {
    let CallToolResponse::Complete(result) = response else {
        return;
    };
    if notes.is_empty() {
        return;
    }
    let listed = serde_json::to_value(notes).unwrap_or_default();
    if let Some(serde_json::Value::Object(map)) = &mut result.structured_content {
        let before = serde_json::Value::Object(map.clone()).to_string();
        map.insert("parameters_not_applied".into(), listed);
        let after = serde_json::Value::Object(map.clone()).to_string();
        // The answer's JSON is mirrored as text for clients that read only `content`.
        for block in result.content.iter_mut() {
            if block.as_text().is_some_and(|t| t.text == before) {
                *block = ContentBlock::text(after.clone());
            }
        }
    }
    let lines: Vec<String> = notes
        .iter()
        .map(|n| {
            format!(
                "note: parameter {} was accepted but not applied: {}",
                n.parameter, n.why
            )
        })
        .collect();
    // In the summary itself: many clients show only the first block.
    match result.content.first_mut() {
        Some(first) if first.as_text().is_some() => {
            let summary = first.as_text().map(|t| t.text.clone()).unwrap_or_default();
            *first = ContentBlock::text(format!("{summary}\n{}", lines.join("\n")));
        }
        _ => result
            .content
            .insert(0, ContentBlock::text(lines.join("\n"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::CallToolResult;
    use serde_json::json;

    #[test]
    fn only_sent_parameters_of_the_called_tool_are_noted() {
        let args = json!({ "force": true, "resource": "x" });
        let args = args.as_object().cloned();
        let got = notes("decommission-resource", args.as_ref());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].parameter, "force");
        assert!(notes("deploy-with-intelligence", args.as_ref()).is_empty());
        assert!(notes("decommission-resource", None).is_empty());
    }

    #[test]
    fn an_annotated_answer_names_the_parameter_in_structure_and_text() {
        let value = json!({ "valid": true });
        let mut result = CallToolResult::structured(value.clone());
        result.content = vec![
            ContentBlock::text("summary"),
            ContentBlock::text(value.to_string()),
        ];
        let mut response = CallToolResponse::Complete(result);
        let sent = json!({ "force": true });
        annotate(
            &mut response,
            &notes("decommission-resource", sent.as_object()),
        );
        let CallToolResponse::Complete(r) = response else {
            panic!("complete");
        };
        let s = r.structured_content.unwrap_or_default();
        assert_eq!(s["parameters_not_applied"][0]["parameter"], "force");
        let texts: Vec<String> = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        assert!(
            texts[0].starts_with("summary\nnote: parameter force was accepted but not applied")
        );
        assert!(texts[1].contains("parameters_not_applied"), "{texts:?}");
    }
}
