//! A preview [`Report`] as text (terminals, CI logs), GitHub markdown (the pull-request
//! comment) and the commit status description. Pure. JSON is the report serialised.

use super::report::{Change, Report, ResourcePreview};
use crate::diag::Diagnostic;
use crate::propose::message::{cell, fence, visible};
use std::fmt::Write as _;

/// The hidden line that identifies homelabd's preview comment on a pull request.
pub const MARKER: &str = "<!-- homelabd-preview -->";
/// GitHub refuses comments over 65,536 characters; stay below with room.
pub const MAX_COMMENT: usize = 60_000;
/// GitHub's limit for a commit status description.
pub const MAX_STATUS_DESCRIPTION: usize = 140;
/// Most diagnostics listed in a comment (all are in the text and JSON output).
const MAX_LISTED_ERRORS: usize = 50;

/// A name as inline code that cannot break out of it or of a table cell.
fn code(name: &str) -> String {
    format!("`{}`", cell(name).replace('`', "'"))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn placement(r: &ResourcePreview) -> String {
    let mut out = match (&r.provider, &r.pool) {
        (Some(p), Some(pool)) => format!("{p} {pool}"),
        _ => String::new(),
    };
    if !r.nodes.is_empty() {
        let _ = write!(out, " on {}", r.nodes.join(", "));
    }
    out
}

fn counts_line(report: &Report) -> String {
    let c = &report.counts;
    let mut out = format!(
        "{} created, {} changed, {} removed, {} unchanged",
        c.created, c.changed, c.removed, c.unchanged
    );
    if c.invalid > 0 {
        let _ = write!(out, ", {} invalid", c.invalid);
    }
    out
}

/// The monthly estimates of the changed resources whose pools have prices (bounded like
/// the table), and how they are made.
fn cost_lines(report: &Report, out: &mut String) {
    let priced: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| r.change != Change::Unchanged && r.monthly_cost.is_some())
        .collect();
    if priced.is_empty() {
        return;
    }
    out.push_str("\n**Estimated cost**\n\n");
    for r in priced {
        if out.len() > MAX_COMMENT / 3 {
            break;
        }
        let _ = writeln!(
            out,
            "- {}: {}",
            code(&r.name),
            cell(r.monthly_cost.as_deref().unwrap_or(""))
        );
    }
    let _ = writeln!(
        out,
        "\nFrom the pools' `properties.pricing`: {} hours a month, every replica, running all \
         the time; owned machines by their share of the node's electricity.",
        crate::cost::HOURS_PER_MONTH
    );
}

/// The report for a terminal or a CI log.
pub fn text(report: &Report) -> String {
    let mut out = format!(
        "Preview of {} ({}) against {} ({}): {}\n{}\n",
        report.head.name,
        short(&report.head.commit),
        report.base.name,
        short(&report.base.commit),
        if report.valid { "valid" } else { "INVALID" },
        counts_line(report)
    );
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nErrors ({}):", report.errors.len());
        for d in &report.errors {
            let _ = writeln!(out, "  {d}");
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for d in &report.warnings {
            let _ = writeln!(out, "  {d}");
        }
    }
    let listed: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .collect();
    if !listed.is_empty() {
        out.push_str("\nResources:\n");
    }
    for r in &listed {
        let _ = writeln!(
            out,
            "  {:<9} {} {}",
            r.change.as_str(),
            r.name,
            placement(r)
        );
        if let Some(from) = &r.moved_from {
            let _ = writeln!(out, "            moved from {from}");
        }
        if let Some(at) = &r.invalid_at {
            let _ = writeln!(
                out,
                "            invalid at {at}: keeps its last good state"
            );
        }
        if let Some(removal) = &r.removal {
            let _ = writeln!(out, "            {}: {}", removal.outcome, removal.why);
        }
        if let Some(e) = &r.endpoints {
            let _ = writeln!(out, "            reachable now: {}; {}", e.now, e.effect);
        }
        if !r.after.is_empty() {
            let _ = writeln!(out, "            after: {}", r.after.join(", "));
        }
        if let Some(cost) = &r.monthly_cost {
            let _ = writeln!(out, "            estimated cost: {cost}");
        }
        for reason in &r.reasons {
            let _ = writeln!(out, "            - {reason}");
        }
    }
    if !report.order.is_empty() {
        let waves: Vec<String> = report.order.iter().map(|w| w.join(", ")).collect();
        let _ = writeln!(out, "\nApply order: {}.", waves.join(" → "));
    }
    for r in listed.iter().filter(|r| !r.diff.is_empty()) {
        let _ = write!(out, "\n{}", r.diff);
    }
    for note in &report.notes {
        let _ = writeln!(out, "\nNote: {note}");
    }
    out
}

/// The pull-request comment: marker, verdict, summary table, errors with file:line,
/// what is pruned or orphaned, placement reasoning, and a collapsible diff per resource.
/// At most [`MAX_COMMENT`] bytes: diffs that do not fit are named and left out.
pub fn markdown(report: &Report) -> String {
    let mut out = format!("{MARKER}\n");
    let _ = writeln!(
        out,
        "## homelabd preview: {}\n",
        if report.valid {
            "✅ valid"
        } else {
            "❌ invalid"
        }
    );
    let _ = writeln!(
        out,
        "Head `{}` at `{}` against `{}` at `{}`: {}.\n",
        cell(&report.head.name).replace('`', "'"),
        short(&report.head.commit),
        cell(&report.base.name).replace('`', "'"),
        short(&report.base.commit),
        counts_line(report)
    );
    summary_table(report, &mut out);
    errors_section(report, &mut out);
    removals_section(report, &mut out);
    endpoints_section(report, &mut out);
    order_section(report, &mut out);
    placement_section(report, &mut out);
    for note in &report.notes {
        let _ = writeln!(out, "\n> {}", cell(note));
    }
    let footer = "\n---\nA preview never applies anything; merging the pull request changes \
                  the desired state. Run `homelabd preview --base BASE --head HEAD --output \
                  markdown` to see this report locally.\n";
    diff_section(report, &mut out, MAX_COMMENT.saturating_sub(footer.len()));
    out.push_str(footer);
    out
}

/// The waves the daemon applies the changed resources in (`spec.depends_on`), and what
/// each waits for.
fn order_section(report: &Report, out: &mut String) {
    let waiting: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| !r.after.is_empty())
        .collect();
    if report.order.is_empty() && waiting.is_empty() {
        return;
    }
    out.push_str("\n### Apply order\n\n");
    if !report.order.is_empty() {
        let waves: Vec<String> = report
            .order
            .iter()
            .map(|w| w.iter().map(|n| code(n)).collect::<Vec<_>>().join(", "))
            .collect();
        let _ = writeln!(out, "{}\n", waves.join(" → "));
    }
    // Bounded like the table: a name list per resource, cut when the comment grows.
    for r in waiting {
        if out.len() > MAX_COMMENT / 2 {
            out.push_str("- …\n");
            break;
        }
        let deps: Vec<String> = r.after.iter().map(|d| code(d)).collect();
        let _ = writeln!(out, "- {} after {}", code(&r.name), deps.join(", "));
    }
    out.push_str(
        "\nA resource is applied only once each one it depends on is applied at its \
         current revision; a failed dependency holds it, with the reason in its status.\n",
    );
}

fn summary_table(report: &Report, out: &mut String) {
    let listed: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .collect();
    if listed.is_empty() {
        out.push_str("No resource's rendered output changes.\n");
        return;
    }
    out.push_str("| Resource | Change | Provider | Pool | Nodes | Size | Files |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    // A table row is short, but ten thousand of them are not: cap the table itself.
    let mut left_out = 0;
    for r in listed {
        if out.len() > MAX_COMMENT / 3 {
            left_out += 1;
            continue;
        }
        let change = match &r.removal {
            Some(removal) => format!("removed ({})", removal.outcome),
            None => r.change.as_str().to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            code(&r.name),
            change,
            cell(r.provider.map_or("", |p| p.as_str())),
            cell(r.pool.as_deref().unwrap_or("")),
            cell(&r.nodes.join(", ")),
            cell(r.size.as_deref().unwrap_or("")),
            r.files.len()
        );
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "\n{left_out} more resources are not listed to keep this comment within GitHub's \
             size limit."
        );
    }
    cost_lines(report, out);
    if report.counts.unchanged > 0 {
        let _ = writeln!(
            out,
            "\n{} unchanged resources are not listed.",
            report.counts.unchanged
        );
    }
}

fn diagnostic_item(d: &Diagnostic) -> String {
    let mut at = d.file.clone();
    if let Some(line) = d.line {
        let _ = write!(at, ":{line}");
        if let Some(column) = d.column {
            let _ = write!(at, ":{column}");
        }
    }
    let mut text = String::new();
    if let (Some(kind), Some(name)) = (&d.kind, &d.name) {
        let _ = write!(text, "{kind}/{name} ");
    }
    if !d.pointer.is_empty() {
        let _ = write!(text, "{} ", d.pointer);
    }
    text.push_str(&d.message);
    if let Some(expected) = &d.expected {
        let _ = write!(text, " (expected {expected}");
        if let Some(found) = &d.found {
            let _ = write!(text, ", found {found}");
        }
        text.push(')');
    }
    format!("- {} **{}**: {}", code(&at), d.code, cell(&text))
}

fn errors_section(report: &Report, out: &mut String) {
    if report.errors.is_empty() && report.warnings.is_empty() {
        return;
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n### Validation errors ({})\n", report.errors.len());
        for d in report.errors.iter().take(MAX_LISTED_ERRORS) {
            let _ = writeln!(out, "{}", diagnostic_item(d));
        }
        if report.errors.len() > MAX_LISTED_ERRORS {
            let _ = writeln!(
                out,
                "- … and {} more (see `homelabd preview`)",
                report.errors.len() - MAX_LISTED_ERRORS
            );
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\n### Warnings\n\n");
        for d in report.warnings.iter().take(MAX_LISTED_ERRORS) {
            let _ = writeln!(out, "{}", diagnostic_item(d));
        }
    }
}

fn removals_section(report: &Report, out: &mut String) {
    let removed: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| r.removal.is_some() || r.invalid_at.is_some())
        .collect();
    if removed.is_empty() {
        return;
    }
    out.push_str("\n### Pruned, orphaned and kept\n\n");
    for r in removed.into_iter().take(MAX_LISTED_ERRORS) {
        match (&r.removal, &r.invalid_at) {
            (Some(removal), _) => {
                let _ = writeln!(
                    out,
                    "- {} → **{}**: {}",
                    code(&r.name),
                    removal.outcome,
                    cell(&removal.why)
                );
            }
            (None, Some(at)) => {
                let _ = writeln!(
                    out,
                    "- {} → **kept**: invalid at {}, so it keeps its last good state",
                    code(&r.name),
                    code(at)
                );
            }
            (None, None) => {}
        }
    }
}

fn endpoints_section(report: &Report, out: &mut String) {
    let moved: Vec<_> = report
        .resources
        .iter()
        .filter_map(|r| Some((r, r.endpoints.as_ref()?)))
        .collect();
    if moved.is_empty() {
        return;
    }
    out.push_str("\n### Addresses that change\n\n");
    for (r, e) in moved.into_iter().take(MAX_LISTED_ERRORS) {
        let _ = writeln!(
            out,
            "- {} ({}): {}",
            code(&r.name),
            cell(&e.now),
            cell(&e.effect)
        );
    }
}

fn placement_section(report: &Report, out: &mut String) {
    let placed: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| matches!(r.change, Change::Created | Change::Changed) && !r.reasons.is_empty())
        .collect();
    if placed.is_empty() {
        return;
    }
    out.push_str("\n### Placement\n");
    for r in placed {
        if out.len() > MAX_COMMENT / 2 {
            out.push_str("\nThe placement of further resources is left out (size limit).\n");
            break;
        }
        crate::propose::message::placement_block(
            out,
            &code(&r.name),
            &placement(r),
            r.moved_from.as_deref(),
            &r.reasons,
            &r.alternatives,
        );
    }
}

fn diff_section(report: &Report, out: &mut String, budget: usize) {
    let with_diff: Vec<&ResourcePreview> = report
        .resources
        .iter()
        .filter(|r| !r.diff.is_empty())
        .collect();
    if with_diff.is_empty() {
        return;
    }
    out.push_str("\n### Rendered diff\n");
    let mut omitted = Vec::new();
    for r in with_diff {
        let diff = visible(&r.diff);
        let fence = fence(&diff);
        let mut block = format!(
            "\n<details>\n<summary><code>{}</code> ({}): {} file{}{}</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            cell(&r.name),
            r.change.as_str(),
            r.files.len(),
            if r.files.len() == 1 { "" } else { "s" },
            if r.diff_truncated { ", truncated" } else { "" },
            diff,
        );
        if r.diff_truncated {
            let _ = writeln!(
                block,
                "\n⚠️ The diff of {} is truncated; run `homelabd preview` locally for the rest.",
                code(&r.name)
            );
        }
        // Keep room for the note about what was left out.
        if out.len() + block.len() + 400 > budget {
            omitted.push(r.name.as_str());
            continue;
        }
        out.push_str(&block);
    }
    if !omitted.is_empty() {
        let mut names = String::new();
        for name in &omitted {
            if names.len() > 1_000 {
                names.push_str(", …");
                break;
            }
            if !names.is_empty() {
                names.push_str(", ");
            }
            names.push_str(&code(name));
        }
        let _ = writeln!(
            out,
            "\n⚠️ Diffs of {} more resource{} are left out to keep this comment within \
             GitHub's size limit: {names}.",
            omitted.len(),
            if omitted.len() == 1 { "" } else { "s" },
        );
    }
}

/// The commit status description: the counts when valid, else the first errors, at most
/// [`MAX_STATUS_DESCRIPTION`] characters.
pub fn status_description(report: &Report) -> String {
    let text = if report.valid {
        format!("valid: {}", counts_line(report))
    } else {
        let first: Vec<String> = report
            .errors
            .iter()
            .take(2)
            .map(|d| {
                let at = match d.line {
                    Some(line) => format!("{}:{line}", d.file),
                    None => d.file.clone(),
                };
                format!("{at} {}", d.message)
            })
            .collect();
        let n = report.errors.len();
        let noun = if n == 1 { "error" } else { "errors" };
        format!("{n} {noun}: {}", first.join("; "))
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= MAX_STATUS_DESCRIPTION {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_STATUS_DESCRIPTION - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::report::{Counts, Removal, Revision};

    fn resource(name: &str, change: Change, diff: String) -> ResourcePreview {
        ResourcePreview {
            name: name.into(),
            change,
            provider: Some(crate::model::Provider::Docker),
            pool: Some("/homelab/docker".into()),
            chart: Some("docker-compose".into()),
            nodes: vec!["docker-01".into()],
            size: Some("1 CPU".into()),
            reasons: vec!["pool /homelab/docker: set".into()],
            alternatives: Vec::new(),
            moved_from: None,
            monthly_cost: None,
            files: vec!["compose.yaml".into()],
            diff,
            diff_truncated: false,
            removal: None,
            invalid_at: None,
            endpoints: None,
            after: Vec::new(),
        }
    }

    fn report(resources: Vec<ResourcePreview>, errors: Vec<Diagnostic>) -> Report {
        Report {
            base: Revision {
                name: "main".into(),
                commit: "a".repeat(40),
            },
            head: Revision {
                name: "pull/7".into(),
                commit: "b".repeat(40),
            },
            valid: errors.is_empty(),
            errors,
            warnings: Vec::new(),
            changed_files: Vec::new(),
            counts: Counts {
                changed: resources.len(),
                ..Counts::default()
            },
            resources,
            notes: Vec::new(),
            secrets: Vec::new(),
            order: Vec::new(),
        }
    }

    #[test]
    fn the_apply_order_is_shown_in_text_and_markdown() {
        let db = resource("db", Change::Created, String::new());
        let mut app = resource("app", Change::Changed, String::new());
        app.after = vec!["db".into()];
        let mut rep = report(vec![app, db], Vec::new());
        rep.order = vec![vec!["db".into()], vec!["app".into()]];
        let text = text(&rep);
        assert!(text.contains("after: db"), "{text}");
        assert!(text.contains("Apply order: db → app."), "{text}");
        let md = markdown(&rep);
        assert!(md.contains("### Apply order"), "{md}");
        assert!(md.contains("`db` → `app`"), "{md}");
        assert!(md.contains("- `app` after `db`"), "{md}");
    }

    #[test]
    fn hostile_names_and_messages_cannot_break_the_markup() {
        let mut r = resource("x|`</details><script>", Change::Invalid, String::new());
        r.invalid_at = Some("d/x.yaml:3".into());
        let mut removed = resource("gone", Change::Removed, String::new());
        removed.removal = Some(Removal {
            outcome: "orphaned",
            why: "because | <b>".into(),
        });
        let error = Diagnostic::error("schema", "d/`x`.yaml", "bad <img src=x> | value");
        let md = markdown(&report(vec![r, removed], vec![error]));
        assert!(!md.contains("<script>"), "{md}");
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("x|`"), "{md}");
        assert!(md.contains("x\\|'&lt;/details&gt;&lt;script&gt;"), "{md}");
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert!(
            md.contains("- `gone` → **orphaned**: because \\| &lt;b&gt;"),
            "{md}"
        );
    }

    #[test]
    fn a_diff_with_backticks_gets_a_longer_fence() {
        let diff = "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-```\n+````\n".to_owned();
        let md = markdown(&report(
            vec![resource("web", Change::Changed, diff)],
            Vec::new(),
        ));
        assert!(md.contains("`````diff\n--- a/f"), "{md}");
    }

    #[test]
    fn the_comment_stays_under_the_limit_and_names_what_it_left_out() {
        let big: String = (0..400)
            .map(|i| format!("+line {i} {}\n", "x".repeat(50)))
            .collect();
        let resources = (0..20)
            .map(|i| resource(&format!("app-{i:02}"), Change::Changed, big.clone()))
            .collect();
        let md = markdown(&report(resources, Vec::new()));
        assert!(md.len() <= MAX_COMMENT, "{}", md.len());
        assert!(md.contains("are left out to keep this comment within GitHub's size limit"));
        assert!(md.contains("`app-19`"));
        assert!(md.starts_with(MARKER));
    }

    #[test]
    fn status_descriptions_fit_in_140_characters() {
        let ok = report(
            vec![resource("web", Change::Changed, String::new())],
            Vec::new(),
        );
        assert_eq!(
            status_description(&ok),
            "valid: 0 created, 1 changed, 0 removed, 0 unchanged"
        );
        let errors: Vec<Diagnostic> = (0..5)
            .map(|i| {
                let mut d = Diagnostic::error("schema", "definitions/web.yaml", "x".repeat(100));
                d.line = Some(10 + i);
                d
            })
            .collect();
        let bad = status_description(&report(Vec::new(), errors));
        assert!(
            bad.starts_with("5 errors: definitions/web.yaml:10 xxx"),
            "{bad}"
        );
        assert_eq!(bad.chars().count(), MAX_STATUS_DESCRIPTION);
        assert!(bad.ends_with('…'));
    }
}
