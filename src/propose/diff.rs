//! Line diffs of rendered files: Myers' shortest edit script and the unified format that
//! reviewers (and GitHub's ```` ```diff ```` highlighting) read. Pure.
//!
//! Common leading and trailing lines are trimmed before the search, and the search gives
//! up beyond [`MAX_EDIT_DISTANCE`] edits (memory grows with its square): the script then
//! removes every old line and adds every new one, which is still a correct diff.

/// Lines of context around each change, as `diff -u` and git print.
pub const CONTEXT: usize = 3;

/// Most edits the search looks for before falling back to "replace everything".
pub const MAX_EDIT_DISTANCE: usize = 2_000;

/// One line of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The lines of `text`, each with its `\n` (the last one may lack it).
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A shortest (or, past [`MAX_EDIT_DISTANCE`], a correct) edit script from `old` to `new`.
pub fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Line<'a>> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    let mut script: Vec<Line<'a>> = old[..prefix].iter().map(|l| Line::Same(l)).collect();
    match myers(a, b, MAX_EDIT_DISTANCE) {
        Some(middle) => script.extend(middle),
        None => {
            script.extend(a.iter().map(|l| Line::Removed(l)));
            script.extend(b.iter().map(|l| Line::Added(l)));
        }
    }
    script.extend(old[old.len() - suffix..].iter().map(|l| Line::Same(l)));
    script
}

/// Myers' O((N+M)·D) greedy search. Keeps the frontier of every round (O(D²) memory) to
/// walk the path back; `None` when more than `max_d` edits are needed.
fn myers<'a>(a: &[&'a str], b: &[&'a str], max_d: usize) -> Option<Vec<Line<'a>>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let at = |k: isize| (k + offset) as usize;
    let mut v = vec![0isize; 2 * max + 3];
    // trace[d] = v[-d..=d] after round d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=max.min(max_d) as isize {
        for k in (-d..=d).step_by(2) {
            let mut x = if k == -d || (k != d && v[at(k - 1)] < v[at(k + 1)]) {
                v[at(k + 1)]
            } else {
                v[at(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at(k)] = x;
            if x >= n && y >= m {
                trace.push(v[at(-d)..=at(d)].to_vec());
                return Some(backtrack(a, b, &trace));
            }
        }
        trace.push(v[at(-d)..=at(d)].to_vec());
    }
    None
}

/// Walks the frontiers from the end back to the start, emitting the path in reverse.
fn backtrack<'a>(a: &[&'a str], b: &[&'a str], trace: &[Vec<isize>]) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    let (mut x, mut y) = (a.len() as isize, b.len() as isize);
    for d in (1..trace.len() as isize).rev() {
        let prev = &trace[(d - 1) as usize];
        let get = |k: isize| prev[(k + d - 1) as usize];
        let k = x - y;
        let down = k == -d || (k != d && get(k - 1) < get(k + 1));
        let prev_k = if down { k + 1 } else { k - 1 };
        let prev_x = get(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            out.push(Line::Same(a[(x - 1) as usize]));
            x -= 1;
            y -= 1;
        }
        if down {
            out.push(Line::Added(b[(y - 1) as usize]));
        } else {
            out.push(Line::Removed(a[(x - 1) as usize]));
        }
        x = prev_x;
        y = prev_y;
    }
    while x > 0 && y > 0 {
        out.push(Line::Same(a[(x - 1) as usize]));
        x -= 1;
        y -= 1;
    }
    out.reverse();
    out
}

/// A unified diff of two texts with `--- old_label` / `+++ new_label` headers (use
/// `/dev/null` for a side that does not exist); empty when the texts are equal.
pub fn unified(old_label: &str, new_label: &str, old: &str, new: &str) -> String {
    let (old_lines, new_lines) = (lines(old), lines(new));
    let script = edit_script(&old_lines, &new_lines);
    let changes: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Line::Same(_)))
        .map(|(i, _)| i)
        .collect();
    if changes.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    let mut group_start = 0;
    for i in 1..=changes.len() {
        // A hunk ends where the next change is more than two contexts away.
        if i == changes.len() || changes[i] - changes[i - 1] > 2 * CONTEXT {
            let start = changes[group_start].saturating_sub(CONTEXT);
            let end = (changes[i - 1] + CONTEXT + 1).min(script.len());
            hunk(&script, start, end, &mut out);
            group_start = i;
        }
    }
    out
}

/// Appends the hunk of `script[start..end]` with its `@@ -a,b +c,d @@` header.
fn hunk(script: &[Line<'_>], start: usize, end: usize, out: &mut String) {
    let count = |range: &[Line<'_>], old: bool| {
        range
            .iter()
            .filter(|l| match l {
                Line::Same(_) => true,
                Line::Removed(_) => old,
                Line::Added(_) => !old,
            })
            .count()
    };
    let (old_before, new_before) = (
        count(&script[..start], true),
        count(&script[..start], false),
    );
    let (old_len, new_len) = (
        count(&script[start..end], true),
        count(&script[start..end], false),
    );
    // An empty side is numbered by the line it follows, as diff -u does.
    let first = |before: usize, len: usize| if len == 0 { before } else { before + 1 };
    out.push_str(&format!(
        "@@ -{},{old_len} +{},{new_len} @@\n",
        first(old_before, old_len),
        first(new_before, new_len)
    ));
    for line in &script[start..end] {
        let (mark, text) = match line {
            Line::Same(t) => (' ', t),
            Line::Removed(t) => ('-', t),
            Line::Added(t) => ('+', t),
        };
        out.push(mark);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// `text` cut to at most `max_lines` lines and `max_bytes` bytes (at a line boundary),
/// with a closing note saying how much was left out; the flag says whether it was cut.
pub fn bound(text: &str, max_lines: usize, max_bytes: usize) -> (String, bool) {
    let all = lines(text);
    let mut kept = String::new();
    let mut count = 0;
    for line in &all {
        if count == max_lines || kept.len() + line.len() > max_bytes {
            break;
        }
        kept.push_str(line);
        count += 1;
    }
    if count == all.len() {
        return (text.to_owned(), false);
    }
    if !kept.is_empty() && !kept.ends_with('\n') {
        kept.push('\n');
    }
    kept.push_str(&format!(
        "… {} more lines not shown (diffs are cut at {max_lines} lines or {} KiB)\n",
        all.len() - count,
        max_bytes / 1024
    ));
    (kept, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn apply(old: &[&str], script: &[Line<'_>]) -> (Vec<String>, Vec<String>) {
        let mut from = Vec::new();
        let mut to = Vec::new();
        for l in script {
            match l {
                Line::Same(t) => {
                    from.push(t.to_string());
                    to.push(t.to_string());
                }
                Line::Removed(t) => from.push(t.to_string()),
                Line::Added(t) => to.push(t.to_string()),
            }
        }
        assert_eq!(from, old.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        (from, to)
    }

    fn edits(script: &[Line<'_>]) -> usize {
        script
            .iter()
            .filter(|l| !matches!(l, Line::Same(_)))
            .count()
    }

    #[test]
    fn the_script_rebuilds_both_sides_with_the_fewest_edits() {
        // The classic example from Myers' paper: ABCABBA → CBABAC needs 5 edits.
        let a: Vec<&str> = "ABCABBA".split("").filter(|s| !s.is_empty()).collect();
        let b: Vec<&str> = "CBABAC".split("").filter(|s| !s.is_empty()).collect();
        let script = edit_script(&a, &b);
        let (_, to) = apply(&a, &script);
        assert_eq!(to, b.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(edits(&script), 5);
    }

    #[test]
    fn equal_and_empty_inputs() {
        assert_eq!(unified("a", "b", "x\ny\n", "x\ny\n"), "");
        assert_eq!(unified("a", "b", "", ""), "");
        assert_eq!(
            unified("/dev/null", "b/f", "", "one\ntwo\n"),
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+one\n+two\n"
        );
        assert_eq!(
            unified("a/f", "/dev/null", "one\n", ""),
            "--- a/f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-one\n"
        );
    }

    #[test]
    fn a_changed_line_gets_three_lines_of_context() {
        let old: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 5\n", "line five\n");
        assert_eq!(
            unified("a/f", "b/f", &old, &new),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n \
             line 6\n line 7\n line 8\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks_and_near_ones_merge() {
        let old: String = (1..=30).map(|i| format!("{i}\n")).collect();
        let new = old.replace("\n2\n", "\nII\n").replace("\n25\n", "\nXXV\n");
        let diff = unified("a", "b", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+II\n"), "{diff}");
        assert!(diff.contains("@@ -22,7 +22,7 @@\n"), "{diff}");
        let near = old.replace("\n2\n", "\nII\n").replace("\n8\n", "\nVIII\n");
        assert_eq!(unified("a", "b", &old, &near).matches("@@ -").count(), 1);
    }

    #[test]
    fn a_missing_final_newline_is_marked() {
        let diff = unified("a", "b", "x\ny", "x\nz");
        assert_eq!(
            diff,
            "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n\\ No \
             newline at end of file\n"
        );
    }

    #[test]
    fn past_the_edit_bound_everything_is_replaced_and_still_correct() {
        let a: Vec<String> = (0..50).map(|i| format!("a{i}\n")).collect();
        let b: Vec<String> = (0..50).map(|i| format!("b{i}\n")).collect();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        assert_eq!(myers(&a, &b, 10), None);
        let script = edit_script(&a, &b);
        let (_, to) = apply(&a, &script);
        assert_eq!(to.len(), 50);
        assert_eq!(edits(&script), 100);
    }

    #[test]
    fn interleaved_edits_round_trip() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nc\nd\nX\ne\ng\nh\n";
        let (o, n) = (lines(old), lines(new));
        let script = edit_script(&o, &n);
        let (_, to) = apply(&o, &script);
        assert_eq!(to.concat(), new);
        assert_eq!(edits(&script), 4);
    }

    #[test]
    fn bounding_cuts_at_a_line_and_says_how_much_is_missing() {
        let text: String = (1..=10).map(|i| format!("{i}\n")).collect();
        assert_eq!(bound(&text, 10, 1 << 20), (text.clone(), false));
        let (cut, truncated) = bound(&text, 3, 1 << 20);
        assert!(truncated);
        assert!(
            cut.starts_with("1\n2\n3\n… 7 more lines not shown"),
            "{cut}"
        );
        let (cut, truncated) = bound(&text, 100, 4);
        assert!(truncated);
        assert!(cut.starts_with("1\n2\n… 8 more lines"), "{cut}");
    }
}
