//! The texts a proposal writes: its commit message (plain text with git trailers) and its
//! pull-request body (GitHub markdown: summary, resource table, placement reasoning,
//! validation result, and the rendered diff per resource in collapsible sections). Pure.

use super::assess::{ChangeKind, ResourceChange};
use crate::diag::Diagnostic;
use std::fmt::Write as _;

/// GitHub refuses pull-request bodies over 65,536 characters; stay below with room.
pub const MAX_PR_BODY: usize = 60_000;

/// What both texts describe.
pub struct Summary<'a> {
    pub id: &'a str,
    pub tool: &'a str,
    pub client: &'a str,
    pub title: &'a str,
    /// The caller's explanation (already cleaned of control characters).
    pub body: &'a str,
    pub branch: &'a str,
    pub base_branch: &'a str,
    pub base_commit: &'a str,
    /// (path, "written" / "deleted") relative to the definitions root.
    pub files: &'a [(String, &'static str)],
    pub resources: &'a [ResourceChange],
    pub diagnostics: &'a [Diagnostic],
}

fn change_word(c: ChangeKind) -> &'static str {
    match c {
        ChangeKind::Created => "created",
        ChangeKind::Changed => "changed",
        ChangeKind::Removed => "removed",
        ChangeKind::Unchanged => "unchanged",
    }
}

fn placement(r: &ResourceChange) -> String {
    let mut out = match (&r.provider, &r.pool) {
        (Some(p), Some(pool)) => format!("{p} {pool}"),
        _ => String::new(),
    };
    if !r.nodes.is_empty() {
        out.push_str(&format!(" on {}", r.nodes.join(", ")));
    }
    out
}

fn validation_line(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        format!("invalid: {errors} errors, {warnings} warnings")
    } else if warnings > 0 {
        format!("valid, {warnings} warnings")
    } else {
        "valid: no errors or warnings in the changed files and the resources they touch".into()
    }
}

/// Most characters of the client's own text shown in a pull-request body.
pub const MAX_REQUEST_TEXT: usize = 4_000;

/// Characters that change how the text around them is shown without being seen
/// themselves: bidirectional embeddings, overrides, isolates and marks (the "Trojan
/// Source" trick), zero-width characters, invisible operators, the BOM, soft hyphens.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{FEFF}'
            | '\u{00AD}'
    )
}

/// `text` with every invisible formatting character shown as `[U+XXXX]`, so a reviewer
/// sees that it is there instead of reading reordered or disguised text.
pub(crate) fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_invisible_format) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_invisible_format(c) {
            let _ = write!(out, "[U+{:04X}]", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The client's own text (a `reason`, notes) as inert markdown: HTML escaped (so `<!--`
/// cannot hide what follows, nor a tag restyle it), invisible characters shown, every
/// line quoted (so it cannot pose as a generated section), and cut at
/// [`MAX_REQUEST_TEXT`] characters.
pub(crate) fn quoted_request(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_REQUEST_TEXT).collect();
    if shown.len() < text.len() {
        shown.push_str(" … (cut)");
    }
    let escaped = visible(&shown)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::new();
    for line in escaped.lines() {
        out.push_str(if line.is_empty() { ">" } else { "> " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The commit message: title, blank line, the caller's body, the resources, the
/// validation result, and trailers naming the client, tool and proposal id.
pub fn commit_message(s: &Summary<'_>) -> String {
    let mut out = format!("{}\n\n", visible(s.title.trim()));
    if !s.body.trim().is_empty() {
        out.push_str(&visible(s.body.trim()));
        out.push_str("\n\n");
    }
    out.push_str("Files:\n");
    for (path, what) in s.files {
        let _ = writeln!(out, "  {what:<8} {path}");
    }
    out.push_str("\nResources:\n");
    if s.resources.is_empty() {
        out.push_str("  (no rendered output changes)\n");
    }
    for r in s.resources {
        let _ = writeln!(
            out,
            "  {:<9} {} {}",
            change_word(r.change),
            r.name,
            placement(r)
        );
    }
    let _ = writeln!(out, "\nValidation: {}", validation_line(s.diagnostics));
    for d in s.diagnostics {
        let _ = writeln!(out, "  {d}");
    }
    let _ = write!(
        out,
        "\nProposed-by: {}\nProposal-tool: {}\nProposal-id: {}\n",
        s.client, s.tool, s.id
    );
    out
}

/// Text safe inside a markdown table cell or list item (invisible characters shown).
pub(crate) fn cell(text: &str) -> String {
    visible(text)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// A code fence longer than any run of backticks inside `text`.
pub(crate) fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// The pull-request body, at most [`MAX_PR_BODY`] characters: diffs that do not fit are
/// left out with a note pointing at the branch.
pub fn pull_request_body(s: &Summary<'_>) -> String {
    let mut out = String::new();
    if !s.body.trim().is_empty() {
        let _ = writeln!(
            out,
            "Request from `{}`, quoted as given:\n",
            cell(s.client).replace('`', "'")
        );
        out.push_str(&quoted_request(s.body.trim()));
        out.push('\n');
    }
    out.push_str("## Summary\n\n");
    let _ = writeln!(
        out,
        "Proposed by `{}` through the `{}` tool (proposal `{}`), on branch `{}` from `{}` at \
         `{}`.\n",
        cell(s.client).replace('`', "'"),
        s.tool,
        s.id,
        s.branch,
        cell(s.base_branch),
        s.base_commit.get(..12).unwrap_or(s.base_commit),
    );
    for (path, what) in s.files {
        let _ = writeln!(out, "- {what} `{}`", cell(path));
    }
    out.push_str("\n## Resources\n\n");
    if s.resources.is_empty() {
        out.push_str("No resource's rendered output changes.\n");
    } else {
        out.push_str("| Resource | Change | Provider | Pool | Nodes | Size |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for r in s.resources {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                r.name,
                change_word(r.change),
                cell(r.provider.map_or("", |p| p.as_str())),
                cell(r.pool.as_deref().unwrap_or("")),
                cell(&r.nodes.join(", ")),
                cell(r.size.as_deref().unwrap_or("")),
            );
        }
    }
    cost_section(s.resources, &mut out);
    placement_section(s, &mut out);
    out.push_str("\n## Validation\n\n");
    let errors = s.diagnostics.iter().any(Diagnostic::is_error);
    let _ = writeln!(
        out,
        "{} {}",
        if errors { "❌" } else { "✅" },
        cell(&validation_line(s.diagnostics))
    );
    for d in s.diagnostics {
        let _ = writeln!(out, "- {}", cell(&d.to_string()));
    }
    let footer = "\n---\nOpened by homelabd. A proposal never acts on infrastructure: merging \
                  it changes the desired state, and the daemon reconciles from there.\n";
    diff_section(s, &mut out, MAX_PR_BODY.saturating_sub(footer.len()));
    out.push_str(footer);
    out
}

/// The monthly estimates of the resources whose pools have prices, and how they are
/// made.
fn cost_section(resources: &[ResourceChange], out: &mut String) {
    let priced: Vec<&ResourceChange> = resources
        .iter()
        .filter(|r| r.monthly_cost.is_some())
        .collect();
    if priced.is_empty() {
        return;
    }
    out.push_str("\n## Estimated cost\n\n");
    for r in priced {
        let _ = writeln!(
            out,
            "- `{}`: {}",
            r.name,
            cell(r.monthly_cost.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(
        out,
        "\nEstimates from the pools' `properties.pricing`: {} hours a month, every replica, \
         running all the time; owned machines by their share of the node's electricity. \
         Resources in pools without prices are not estimated.",
        crate::cost::HOURS_PER_MONTH
    );
}

fn placement_section(s: &Summary<'_>, out: &mut String) {
    let placed: Vec<&ResourceChange> = s
        .resources
        .iter()
        .filter(|r| !r.reasons.is_empty())
        .collect();
    if placed.is_empty() {
        return;
    }
    out.push_str("\n## Placement\n");
    for r in placed {
        let name = format!("`{}`", r.name);
        placement_block(
            out,
            &name,
            &placement(r),
            r.moved_from.as_deref(),
            &r.reasons,
            &r.alternatives,
        );
    }
}

/// One resource's placement in GitHub markdown: where it goes (and came from), the
/// reasons as a list, and the alternatives folded in `<details>`. `name` is already
/// markdown (a code span).
pub(crate) fn placement_block(
    out: &mut String,
    name: &str,
    placement: &str,
    moved_from: Option<&str>,
    reasons: &[String],
    alternatives: &[String],
) {
    let _ = writeln!(out, "\n**{name}** → {}", cell(placement));
    if let Some(from) = moved_from {
        let _ = writeln!(out, "(moved from {})", cell(from));
    }
    out.push('\n');
    for reason in reasons {
        let _ = writeln!(out, "- {}", cell(reason));
    }
    if !alternatives.is_empty() {
        out.push_str("\n<details><summary>Alternatives considered</summary>\n\n");
        for alt in alternatives {
            let _ = writeln!(out, "- {}", cell(alt));
        }
        out.push_str("\n</details>\n");
    }
}

fn diff_section(s: &Summary<'_>, out: &mut String, budget: usize) {
    let with_diff: Vec<&ResourceChange> =
        s.resources.iter().filter(|r| !r.diff.is_empty()).collect();
    if with_diff.is_empty() {
        return;
    }
    out.push_str("\n## Rendered diff\n");
    let mut omitted = Vec::new();
    for r in with_diff {
        let diff = visible(&r.diff);
        let fence = fence(&diff);
        let mut block = format!(
            "\n<details>\n<summary><code>{}</code> ({}): {} file{}{}</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            r.name,
            change_word(r.change),
            r.files.len(),
            if r.files.len() == 1 { "" } else { "s" },
            if r.diff_truncated { ", cut" } else { "" },
            diff,
        );
        if r.diff_truncated {
            block.push_str(&format!(
                "\nThe diff of `{}` is cut; the branch has the whole change.\n",
                r.name
            ));
        }
        // Keep room for the note about what was left out.
        if out.len() + block.len() + 300 > budget {
            omitted.push(r.name.as_str());
            continue;
        }
        out.push_str(&block);
    }
    if !omitted.is_empty() {
        let _ = writeln!(
            out,
            "\nDiffs of {} more resource{} are left out to keep this description within \
             GitHub's size limit: {}. Run `homelabd plan` on branch `{}` to see them.",
            omitted.len(),
            if omitted.len() == 1 { "" } else { "s" },
            omitted.join(", "),
            s.branch
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str, diff: String) -> ResourceChange {
        ResourceChange {
            name: name.into(),
            change: ChangeKind::Created,
            provider: Some(crate::model::Provider::Docker),
            pool: Some("/homelab/docker".into()),
            chart: Some("docker-compose".into()),
            nodes: vec!["docker-01".into()],
            size: Some("1 CPU, 0.5 GB memory, 2 GB disk, 1 replica".into()),
            reasons: vec!["provider docker | pinned".into()],
            alternatives: vec![],
            moved_from: None,
            monthly_cost: None,
            files: vec!["compose.yaml".into()],
            diff,
            diff_truncated: false,
        }
    }

    fn summary<'a>(
        resources: &'a [ResourceChange],
        diagnostics: &'a [Diagnostic],
        files: &'a [(String, &'static str)],
    ) -> Summary<'a> {
        Summary {
            id: "1234abcd-0000-4000-8000-000000000000",
            tool: "deploy-with-intelligence",
            client: "mcp:ci",
            title: "Deploy status page",
            body: "Because we need one.",
            branch: "homelabd/deploy-with-intelligence/status-1234abcd",
            base_branch: "main",
            base_commit: "0123456789abcdef0123456789abcdef01234567",
            files,
            resources,
            diagnostics,
        }
    }

    #[test]
    fn the_commit_message_has_title_body_resources_validation_and_trailers() {
        let files = [("definitions/status.yaml".to_owned(), "written")];
        let rs = [resource("status", "+a\n".into())];
        let warn = [Diagnostic::warning(
            "w",
            "definitions/status.yaml",
            "heads up",
        )];
        let msg = commit_message(&summary(&rs, &warn, &files));
        assert!(
            msg.starts_with("Deploy status page\n\nBecause we need one.\n\n"),
            "{msg}"
        );
        assert!(
            msg.contains("  written  definitions/status.yaml\n"),
            "{msg}"
        );
        assert!(
            msg.contains("  created   status docker /homelab/docker on docker-01\n"),
            "{msg}"
        );
        assert!(
            msg.contains("Validation: valid, 1 warnings\n  definitions/status.yaml: warning[w]")
        );
        assert!(msg.ends_with(
            "Proposed-by: mcp:ci\nProposal-tool: deploy-with-intelligence\nProposal-id: \
             1234abcd-0000-4000-8000-000000000000\n"
        ));
    }

    #[test]
    fn the_body_has_a_table_reasons_validation_and_fenced_diffs() {
        let files = [("definitions/status.yaml".to_owned(), "written")];
        let rs = [resource("status", "+image: x ```` y\n".into())];
        let body = pull_request_body(&summary(&rs, &[], &files));
        assert!(body.contains("| Resource | Change | Provider | Pool | Nodes | Size |\n"));
        assert!(body.contains(
            "| `status` | created | docker | /homelab/docker | docker-01 | 1 CPU, 0.5 GB memory, 2 GB disk, 1 replica |"
        ), "{body}");
        // A pipe inside a reason cannot break out of the list item.
        assert!(body.contains("- provider docker \\| pinned\n"), "{body}");
        assert!(body.contains("✅ valid"), "{body}");
        // The fence is longer than the backtick run inside the diff.
        assert!(
            body.contains("`````diff\n+image: x ```` y\n`````\n"),
            "{body}"
        );
        assert!(
            body.contains("<details>\n<summary><code>status</code> (created): 1 file</summary>")
        );
    }

    #[test]
    fn agent_text_cannot_hide_the_generated_sections_or_reorder_what_is_shown() {
        let files = [("definitions/status.yaml".to_owned(), "written")];
        let rs = [resource("status", "+name: \u{202E}gnp.exe\n".into())];
        let mut s = summary(&rs, &[], &files);
        s.body = "Looks fine.\n## Validation\n✅ valid <!--";
        let body = pull_request_body(&s);
        assert!(!body.contains("<!--"), "{body}");
        assert!(
            body.contains("> ## Validation\n> ✅ valid &lt;!--\n"),
            "{body}"
        );
        // The generated sections follow, unquoted.
        assert!(body.contains("\n## Summary\n"), "{body}");
        assert!(body.contains("\n## Validation\n"), "{body}");
        assert!(body.contains("+name: [U+202E]gnp.exe"), "{body}");
        assert!(!body.contains('\u{202E}'), "{body}");
        s.title = "Deploy \u{2067}x\u{2069}";
        s.body = "why \u{200B}";
        let msg = commit_message(&s);
        assert!(
            msg.starts_with("Deploy [U+2067]x[U+2069]\n\nwhy [U+200B]"),
            "{msg}"
        );
        let long = "x".repeat(MAX_REQUEST_TEXT + 10);
        s.body = &long;
        assert!(pull_request_body(&s).contains(" … (cut)\n"));
    }

    #[test]
    fn large_diffs_are_left_out_with_a_note_and_the_body_stays_within_the_limit() {
        let files = [("definitions/a.yaml".to_owned(), "written")];
        let big = "+x\n".repeat(9_000);
        let rs: Vec<ResourceChange> = (0..5)
            .map(|i| resource(&format!("r{i}"), big.clone()))
            .collect();
        let body = pull_request_body(&summary(&rs, &[], &files));
        assert!(body.chars().count() <= MAX_PR_BODY, "{}", body.len());
        assert!(
            body.contains("Diffs of 3 more resources are left out"),
            "{body}"
        );
        assert!(body.contains("<code>r0</code>") && body.contains("<code>r1</code>"));
        assert!(!body.contains("<code>r2</code>"));
    }

    #[test]
    fn priced_resources_get_an_estimated_cost_section() {
        let mut priced = resource("web", String::new());
        priced.monthly_cost = Some("12.41 EUR a month (was 6.20 EUR)".into());
        let resources = [priced, resource("other", String::new())];
        let mut out = String::new();
        cost_section(&resources, &mut out);
        assert!(
            out.starts_with("\n## Estimated cost\n\n- `web`: 12.41 EUR a month (was 6.20 EUR)\n"),
            "{out}"
        );
        assert!(!out.contains("`other`"), "{out}");
        assert!(out.contains("730 hours a month"), "{out}");
        let mut none = String::new();
        cost_section(&resources[1..], &mut none);
        assert!(none.is_empty());
    }
}
