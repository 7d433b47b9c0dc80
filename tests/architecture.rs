//! The architecture as a test (the "tidy" habit): the top-level modules under `src/` and
//! the `crate::<module>` references between them, outside `#[cfg(test)]` code, must form
//! the layers ARCHITECTURE.md lists ("Module layers") with no import cycle of any length,
//! and the rules the codemap states hold: the pipeline core never reaches an IO shell,
//! proposals never reach the executors, only `apply` spawns processes, only `store`
//! touches sqlx. A failure names the files and lines that break the rule.
//!
//! The scanner reads Rust text, not a syntax tree: comments, strings and character
//! literals are blanked first, then `#[cfg(test)]` items are cut out, then every
//! `crate::name` and `crate::{name, …}` path is read. Child files declared under
//! `#[cfg(test)] mod x;` are not read at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `from` → `to` → where (`src/file.rs:line`), for every reference between two
/// top-level modules.
type Edges = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The crate as the tests see it: its top-level modules, the references between them,
/// and each compiled (non-test) file's scanned text.
struct Crate {
    modules: BTreeSet<String>,
    edges: Edges,
    /// Path relative to the crate root → (top-level module, text without comments,
    /// strings or test items).
    files: BTreeMap<String, (String, String)>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scan_crate() -> Crate {
    let src = root().join("src");
    let lib = scan::code(&read(&src.join("lib.rs")));
    let modules: BTreeSet<String> = scan::mod_decls(&lib).into_iter().collect();
    let mut files = BTreeMap::new();
    for module in &modules {
        let file = [
            src.join(format!("{module}.rs")),
            src.join(module).join("mod.rs"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no file for module {module}"));
        let dir = src.join(module);
        collect(&file, &dir, module, &mut files);
    }
    let mut edges = Edges::new();
    for (path, (from, text)) in &files {
        for (to, line) in scan::crate_refs(text) {
            if to != *from && modules.contains(&to) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(format!("{path}:{line}"));
            }
        }
    }
    Crate {
        modules,
        edges,
        files,
    }
}

/// Reads `file` (of top-level module `top`) and, through its `mod x;` declarations,
/// every child file under `dir`.
fn collect(file: &Path, dir: &Path, top: &str, out: &mut BTreeMap<String, (String, String)>) {
    let text = scan::code(&read(file));
    for child in scan::mod_decls(&text) {
        let candidates = [
            dir.join(format!("{child}.rs")),
            dir.join(&child).join("mod.rs"),
        ];
        let Some(found) = candidates.into_iter().find(|p| p.is_file()) else {
            continue; // an inline `mod x { … }` is part of this file's text
        };
        collect(&found, &dir.join(&child), top, out);
    }
    let rel = file
        .strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string();
    out.insert(rel, (top.to_owned(), text));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A cycle in `edges`, as the modules along it (the first repeated at the end), if any.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        edges: &Edges,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flat_map(|m| m.keys()) {
            match marks.get(next.as_str()) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, marks, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if !marks.contains_key(node.as_str())
            && let Some(cycle) = visit(node, edges, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// Every module `from` reaches, following references but never through `through`.
fn reaches(edges: &Edges, from: &str, through: &[&str]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(node) = stack.pop() {
        for next in edges.get(&node).into_iter().flat_map(|m| m.keys()) {
            if !through.contains(&next.as_str()) && seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// One path from `from` to `to` (not through `through`), each step with its first
/// reference, for the failure message.
fn explain_path(edges: &Edges, from: &str, to: &str, through: &[&str]) -> String {
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from.to_owned()]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            break;
        }
        for next in edges.get(&node).into_iter().flat_map(|m| m.keys()) {
            if !through.contains(&next.as_str()) && !previous.contains_key(next) && next != from {
                previous.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    let mut steps = vec![to.to_owned()];
    while let Some(p) = previous.get(steps.last().map(String::as_str).unwrap_or_default()) {
        steps.push(p.clone());
    }
    steps.reverse();
    describe_steps(edges, &steps)
}

fn describe_steps(edges: &Edges, steps: &[String]) -> String {
    steps
        .windows(2)
        .map(|w| {
            let at = &edges[&w[0]][&w[1]];
            format!("  {} -> {}  ({})", w[0], w[1], at.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn top_level_modules_form_a_dag() {
    let krate = scan_crate();
    // The scan itself worked: the loop's shell reaches the store and the pipeline.
    let daemon = krate
        .edges
        .get("daemon")
        .expect("daemon references other modules");
    assert!(daemon.contains_key("store") && daemon.contains_key("pipeline"));
    if let Some(cycle) = find_cycle(&krate.edges) {
        panic!(
            "import cycle between top-level modules: {}\n{}\nMove the shared type to a \
             module below both (see \"Module layers\" in ARCHITECTURE.md).",
            cycle.join(" -> "),
            describe_steps(&krate.edges, &cycle)
        );
    }
}

/// ARCHITECTURE.md's "Module layers": numbered lines, lowest first, each naming its
/// modules in backticks.
fn documented_layers(modules: &BTreeSet<String>) -> BTreeMap<String, (usize, String)> {
    let doc = read(&root().join("ARCHITECTURE.md"));
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Module layers"))
        .expect("ARCHITECTURE.md has a \"## Module layers\" section");
    let mut layers = BTreeMap::new();
    for line in section.lines() {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(number) = number.trim().parse::<usize>() else {
            continue;
        };
        let title = rest.split(':').next().unwrap_or(rest).trim_matches('*');
        for name in rest.split('`').skip(1).step_by(2) {
            assert!(
                modules.contains(name),
                "ARCHITECTURE.md layer {number} names `{name}`, which is not a top-level module"
            );
            let earlier = layers.insert(name.to_owned(), (number, title.to_owned()));
            assert!(
                earlier.is_none(),
                "ARCHITECTURE.md lists `{name}` in two layers"
            );
        }
    }
    layers
}

#[test]
fn modules_stay_in_their_documented_layers() {
    let krate = scan_crate();
    let layers = documented_layers(&krate.modules);
    let missing: Vec<&String> = krate
        .modules
        .iter()
        .filter(|m| !layers.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "top-level modules missing from \"Module layers\" in ARCHITECTURE.md: {missing:?}"
    );
    let mut wrong = Vec::new();
    for (from, tos) in &krate.edges {
        for (to, at) in tos {
            let (a, a_title) = &layers[from];
            let (b, b_title) = &layers[to];
            if b > a {
                wrong.push(format!(
                    "  {from} (layer {a}, {a_title}) uses {to} (layer {b}, {b_title}) at {}",
                    at.join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "a module uses one from a higher layer (ARCHITECTURE.md, \"Module layers\"):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_pipeline_core_never_reaches_an_io_shell() {
    let krate = scan_crate();
    let core = [
        "model",
        "validate",
        "place",
        "target",
        "render",
        "pipeline",
        "reconcile",
    ];
    let shells = [
        "store",
        "apply",
        "observe",
        "http",
        "mcp",
        "propose",
        "preview",
        "notify_out",
        "cluster",
        "daemon",
        "cli",
        "config",
    ];
    let mut wrong = Vec::new();
    for module in core {
        let reached = reaches(&krate.edges, module, &[]);
        for shell in shells.iter().filter(|s| reached.contains(**s)) {
            wrong.push(format!(
                "{module} reaches {shell}:\n{}",
                explain_path(&krate.edges, module, shell, &[])
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn proposals_and_mcp_never_reach_the_executors() {
    let krate = scan_crate();
    // Proposals change the definitions only: not even the observers are in reach.
    let reached = reaches(&krate.edges, "propose", &[]);
    for shell in ["apply", "observe"] {
        assert!(
            !reached.contains(shell),
            "propose reaches {shell}:\n{}",
            explain_path(&krate.edges, "propose", shell, &[])
        );
    }
    // MCP reads live state through `observe` (the Proxmox inventory), whose probes run
    // through `apply`'s process runner; any other way to `apply` is a way to an executor.
    let reached = reaches(&krate.edges, "mcp", &["observe"]);
    assert!(
        !reached.contains("apply"),
        "mcp reaches apply other than through observe:\n{}",
        explain_path(&krate.edges, "mcp", "apply", &["observe"])
    );
}

/// Files outside `src/apply/` allowed to start a process, and why.
const SPAWN_ALLOWED: &[(&str, &str)] = &[(
    "src/cli/secret_cmd.rs",
    "`homelabd secret edit` runs the user's $EDITOR on the terminal (inherited stdio, \
     which apply's runner deliberately never gives a tool)",
)];

#[test]
fn only_apply_spawns_processes() {
    let krate = scan_crate();
    let mut wrong = Vec::new();
    for (path, (_, text)) in &krate.files {
        if path.starts_with("src/apply/") || SPAWN_ALLOWED.iter().any(|(p, _)| p == path) {
            continue;
        }
        for (line, what) in scan::spawns(text) {
            wrong.push(format!("  {path}:{line}: {what}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "only apply spawns processes (run tools through apply::Runner):\n{}",
        wrong.join("\n")
    );
    // The allow-list stays honest: every entry still spawns.
    for (path, why) in SPAWN_ALLOWED {
        let (_, text) = krate
            .files
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is allowed to spawn ({why}) but is gone"));
        assert!(
            !scan::spawns(text).is_empty(),
            "{path} is allowed to spawn ({why}) but no longer does: remove it from the list"
        );
    }
}

#[test]
fn only_store_touches_sqlx() {
    let krate = scan_crate();
    let wrong: Vec<String> = krate
        .files
        .iter()
        .filter(|(_, (top, _))| top != "store")
        .flat_map(|(path, (_, text))| {
            scan::word_lines(text, "sqlx")
                .into_iter()
                .map(move |line| format!("  {path}:{line}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "only store touches sqlx:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_only_a_cycle() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges = Edges::new();
        for (a, b) in pairs {
            edges
                .entry(a.to_string())
                .or_default()
                .insert(b.to_string(), vec![format!("src/{a}.rs:1")]);
        }
        edges
    };
    let dag = graph(&[("cli", "daemon"), ("daemon", "store"), ("cli", "store")]);
    assert_eq!(find_cycle(&dag), None);
    let cyclic = graph(&[
        ("cli", "daemon"),
        ("daemon", "store"),
        ("store", "observe"),
        ("observe", "daemon"),
    ]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec![
            "daemon".to_owned(),
            "store".to_owned(),
            "observe".to_owned(),
            "daemon".to_owned()
        ])
    );
    assert_eq!(
        reaches(&cyclic, "cli", &["store"]),
        BTreeSet::from(["daemon".to_owned()])
    );
    assert!(explain_path(&dag, "cli", "store", &[]).contains("cli -> store  (src/cli.rs:1)"));
}

#[test]
fn the_scanner_reads_paths_and_skips_tests_comments_and_strings() {
    let text = scan::code(
        r##"
use crate::{model::{Kind, Pool}, diag, self};
use crate::store::Store; // crate::apply in a comment
/* crate::http /* nested */ crate::mcp */
const S: &str = "crate::cluster";
const R: &str = r#"crate::cli "quoted""#;
const C: char = '"';
fn f<'a>(x: &'a str) -> crate::place::Decision { todo!() }
#[cfg(test)]
mod tests {
    use crate::daemon::Thing;
    fn nested() { let _ = "}"; }
}
#[cfg(test)]
use crate::preview;
#[cfg(test)]
mod props;
mod real;
fn g() { let _ = $crate::target::resolve; }
"##,
    );
    let refs: Vec<(String, usize)> = scan::crate_refs(&text);
    assert_eq!(
        refs,
        vec![
            ("model".to_owned(), 2),
            ("diag".to_owned(), 2),
            ("self".to_owned(), 2),
            ("store".to_owned(), 3),
            ("place".to_owned(), 8),
            ("target".to_owned(), 19),
        ]
    );
    assert_eq!(scan::mod_decls(&text), vec!["real".to_owned()]);
    let spawn = scan::code("fn f() { std::process::Command::new(\"x\"); }\nuse tokio::process;");
    assert_eq!(scan::spawns(&spawn).len(), 2);
    assert!(scan::spawns(&scan::code("std::process::exit(1); // Command::new")).is_empty());
}

/// Reading Rust text well enough for module references.
mod scan {
    /// `src` with comments, string and character literals blanked (line breaks kept, so
    /// line numbers stay) and `#[cfg(test)]` items cut out.
    pub fn code(src: &str) -> String {
        without_test_items(&blank(src))
    }

    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    fn blank(src: &str) -> String {
        let chars: Vec<char> = src.chars().collect();
        let mut out = String::with_capacity(src.len());
        let mut i = 0;
        // Keeps the line breaks of chars[from..to].
        let newlines = |out: &mut String, from: usize, to: usize| {
            for c in &chars[from..to.min(chars.len())] {
                if *c == '\n' {
                    out.push('\n');
                }
            }
        };
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let prev_ident = i > 0 && is_ident(chars[i - 1]);
            if c == '/' && next == Some('/') {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            } else if c == '/' && next == Some('*') {
                let start = i;
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                newlines(&mut out, start, i);
            } else if (c == 'r' || (c == 'b' && next == Some('r')))
                && !prev_ident
                && let Some((hashes, body)) = raw_string_start(&chars, i)
            {
                let mut j = body;
                while j < chars.len() {
                    if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                        break;
                    }
                    j += 1;
                }
                newlines(&mut out, i, j);
                out.push_str("\"\"");
                i = j + 1 + hashes;
            } else if c == '"' {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                newlines(&mut out, start, i);
                out.push_str("\"\"");
                i += 1;
            } else if c == '\'' {
                // A character literal ('x', '\n', '\u{..}'), else a lifetime or label.
                if next == Some('\\') {
                    let mut j = i + 2;
                    while j < chars.len() && chars[j] != '\'' {
                        j += 1;
                    }
                    out.push_str("' '");
                    i = j + 1;
                } else if chars.get(i + 2) == Some(&'\'') {
                    out.push_str("' '");
                    i += 3;
                } else {
                    out.push(c);
                    i += 1;
                }
            } else {
                out.push(c);
                i += 1;
            }
        }
        out
    }

    /// At `r"`, `r#"`, `br"` …: the number of `#` and where the body starts.
    fn raw_string_start(chars: &[char], at: usize) -> Option<(usize, usize)> {
        let mut j = at + if chars[at] == 'b' { 2 } else { 1 };
        let mut hashes = 0;
        while chars.get(j) == Some(&'#') {
            hashes += 1;
            j += 1;
        }
        (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
    }

    /// Cuts every item under `#[cfg(test)]`: up to its `;`, or through its `{ … }`.
    fn without_test_items(text: &str) -> String {
        const ATTR: &str = "#[cfg(test)]";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(ATTR) {
            out.push_str(&rest[..at]);
            let item = &rest[at..];
            let mut depth = 0i32;
            let mut end = item.len();
            let mut seen_brace = false;
            for (k, c) in item.char_indices().skip(ATTR.len()) {
                match c {
                    '(' | '[' => depth += 1,
                    ')' | ']' => depth -= 1,
                    '{' => {
                        depth += 1;
                        seen_brace = true;
                    }
                    '}' => {
                        depth -= 1;
                        if seen_brace && depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    ';' if depth == 0 && !seen_brace => {
                        end = k + 1;
                        break;
                    }
                    _ => {}
                }
            }
            out.extend(item[..end].chars().filter(|c| *c == '\n'));
            rest = &item[end..];
        }
        out.push_str(rest);
        out
    }

    /// Every `crate::name` (and each name of `crate::{a, b::c}`), with its line.
    pub fn crate_refs(text: &str) -> Vec<(String, usize)> {
        let chars: Vec<char> = text.chars().collect();
        let mut refs = Vec::new();
        let mut line = 1;
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '\n' {
                line += 1;
            }
            let word_start = i == 0 || !is_ident(chars[i - 1]);
            if word_start && chars[i..].starts_with(&['c', 'r', 'a', 't', 'e']) {
                let mut j = skip_ws(&chars, i + 5);
                if chars[j..].starts_with(&[':', ':']) {
                    j = skip_ws(&chars, j + 2);
                    if chars.get(j) == Some(&'{') {
                        refs.extend(group_heads(&chars, j).into_iter().map(|n| (n, line)));
                    } else {
                        let name = ident_at(&chars, j);
                        if !name.is_empty() {
                            refs.push((name, line));
                        }
                    }
                }
                i += 5;
                continue;
            }
            i += 1;
        }
        refs
    }

    fn skip_ws(chars: &[char], mut i: usize) -> usize {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        i
    }

    fn ident_at(chars: &[char], i: usize) -> String {
        chars[i.min(chars.len())..]
            .iter()
            .take_while(|c| is_ident(**c))
            .collect()
    }

    /// The first name of each entry of the `{ … }` group opening at `open`.
    fn group_heads(chars: &[char], open: usize) -> Vec<String> {
        let mut heads = Vec::new();
        let mut depth = 0;
        let mut expecting = true;
        let mut i = open;
        while i < chars.len() {
            match chars[i] {
                '{' => {
                    depth += 1;
                    if depth == 1 {
                        expecting = true;
                    }
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => expecting = true,
                c if depth == 1 && expecting && is_ident(c) => {
                    let name = ident_at(chars, i);
                    i += name.len();
                    heads.push(name);
                    expecting = false;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        heads
    }

    /// The child modules declared as files (`mod x;`, any visibility).
    pub fn mod_decls(text: &str) -> Vec<String> {
        let tokens: Vec<&str> = text
            .split(|c: char| c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        tokens
            .windows(2)
            .filter(|w| w[0] == "mod" && w[1].ends_with(';'))
            .map(|w| w[1].trim_end_matches(';').to_owned())
            .filter(|n| !n.is_empty() && n.chars().all(is_ident))
            .collect()
    }

    /// Lines that start or name a way to start a child process.
    pub fn spawns(text: &str) -> Vec<(usize, &'static str)> {
        let compact: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.split_whitespace().collect::<String>()))
            .collect();
        let mut found = Vec::new();
        for (n, line) in &compact {
            for (needle, what) in [
                ("process::Command", "std::process::Command"),
                ("tokio::process", "tokio::process"),
                ("unistd::fork", "fork"),
                ("unistd::execv", "exec"),
            ] {
                if line.contains(needle) {
                    found.push((*n, what));
                }
            }
            if let Some(group) = line.split("process::{").nth(1)
                && group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .contains("Command")
            {
                found.push((*n, "std::process::Command"));
            }
        }
        found
    }

    /// Lines where `word` occurs as a whole word.
    pub fn word_lines(text: &str, word: &str) -> Vec<usize> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| {
                l.match_indices(word).any(|(at, _)| {
                    let before = l[..at].chars().next_back();
                    let after = l[at + word.len()..].chars().next();
                    !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
                })
            })
            .map(|(n, _)| n + 1)
            .collect()
    }
}
