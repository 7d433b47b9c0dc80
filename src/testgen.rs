//! A small seeded generator of hostile input for the property tests (compiled for tests
//! only): YAML texts built from the definition vocabulary and the constructs parsers trip
//! on, mutations of real files, and JSON values for MCP arguments. Fixed seeds and case
//! budgets keep every run identical and its time bounded; a failing case prints its seed.

use serde_json::{Map, Value, json};

/// SplitMix64: tiny, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Keys of the four kinds, their specs and Chart.yaml.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "labels",
    "spec",
    "resource_type",
    "workload_type",
    "requirements",
    "cpu",
    "memory_gb",
    "storage_gb",
    "gpu",
    "placement",
    "provider",
    "pool",
    "node",
    "chart",
    "values",
    "image",
    "ports",
    "policy",
    "apply",
    "prune",
    "self_heal",
    "template",
    "replicas",
    "high_availability",
    "nodes",
    "gpus",
    "path",
    "parent",
    "type",
    "dimensions",
    "capacity",
    "quota",
    "sizing",
    "tiers",
    "small",
    "medium",
    "large",
    "rules",
    "secret",
    "key",
    "env",
    "volumes",
    "depends_on",
    "schedule",
    "version",
    "compatibility",
    "<<",
    "? complex",
    "",
    "\u{202e}name",
];

/// Scalars parsers and validators trip on.
const SCALARS: &[&str] = &[
    "homelab.ai/v1",
    "UniversalResource",
    "ResourcePool",
    "DeploymentTemplate",
    "WorkloadType",
    "container",
    "compute",
    "docker",
    "proxmox",
    "kubernetes",
    "/homelab/docker",
    "web-application",
    "0",
    "-1",
    "1e400",
    "-0",
    "0x1F",
    "0o17",
    "99999999999999999999999999",
    "18446744073709551616",
    "-9223372036854775809",
    ".inf",
    "-.inf",
    ".nan",
    "~",
    "null",
    "true",
    "yes",
    "no",
    "on",
    "1.5",
    "1_000",
    "\"{{ lookup('pipe','id') }}\"",
    "\"${HOME}\"",
    "'$(id)'",
    "\"\\u202eexe.gpj\"",
    "ｆｕｌｌ",
    "\"a\\tb\"",
    "'it''s'",
    "!!binary aGVsbG8=",
    "!unsafe x",
    "!!str 1",
    "&a x",
    "*a",
    "*missing",
    "[1, 2",
    "{a: 1",
    "\"unterminated",
    "|\n  block\n",
    ">-\n  folded\n",
    "- - - x",
    "2026-13-45",
    "@reserved",
    "`backtick`",
    "%directive",
    "*/5 * * * *",
    "a:b:c",
    "\"\\0\"",
    "\u{FEFF}bom",
];

fn scalar(rng: &mut Rng) -> String {
    if rng.chance(5) {
        return "x".repeat(rng.below(5000));
    }
    (*rng.pick(SCALARS)).to_owned()
}

fn node(rng: &mut Rng, depth: usize, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let kind = if depth == 0 { 0 } else { rng.below(4) };
    match kind {
        0 | 1 => {
            out.push_str(&format!(" {}\n", scalar(rng)));
        }
        2 => {
            out.push('\n');
            for _ in 0..=rng.below(4) {
                out.push_str(&format!("{pad}{}:", rng.pick(KEYS)));
                node(rng, depth - 1, indent + 2, out);
            }
        }
        _ => {
            out.push('\n');
            for _ in 0..=rng.below(4) {
                out.push_str(&format!("{pad}-"));
                node(rng, depth - 1, indent + 2, out);
            }
        }
    }
}

/// One or more YAML documents, mostly shaped like definitions.
pub fn yaml(rng: &mut Rng) -> String {
    let mut out = String::new();
    for doc in 0..=rng.below(3) {
        if doc > 0 || rng.chance(20) {
            out.push_str(if rng.chance(10) {
                "...\n---\n"
            } else {
                "---\n"
            });
        }
        if rng.chance(60) {
            let kind = *rng.pick(&[
                "UniversalResource",
                "ResourcePool",
                "DeploymentTemplate",
                "WorkloadType",
            ]);
            out.push_str(&format!(
                "apiVersion: homelab.ai/v1\nkind: {kind}\nmetadata:\n  name: n{}\n",
                rng.below(5)
            ));
        }
        for _ in 0..=rng.below(4) {
            out.push_str(&format!("{}:", rng.pick(KEYS)));
            let depth = rng.below(5);
            node(rng, depth, 2, &mut out);
        }
        if rng.chance(10) {
            out.push_str("# only a comment\n");
        }
    }
    if rng.chance(5) {
        // Deep flow nesting.
        let n = rng.below(300);
        out.push_str(&format!("deep: {}{}\n", "[".repeat(n), "]".repeat(n)));
    }
    out
}

/// `text` damaged: cut, a byte changed, a line repeated, dropped or replaced.
pub fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        match rng.below(5) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                let at = rng.below(bytes.len());
                bytes[at] = *rng.pick(b":-[]{}&*!|>'\"#%@`\t\n \x00\xff");
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                if lines.is_empty() {
                    continue;
                }
                let at = rng.below(lines.len());
                match rng.below(3) {
                    0 => {
                        let line = lines[at].clone();
                        lines.insert(at, line);
                    }
                    1 => {
                        lines.remove(at);
                    }
                    _ => {
                        let indent = lines[at].len() - lines[at].trim_start().len();
                        lines[at] =
                            format!("{}{}: {}", " ".repeat(indent), rng.pick(KEYS), scalar(rng));
                    }
                }
                bytes = (lines.join("\n") + "\n").into_bytes();
            }
        }
    }
    bytes
}

/// A JSON value for an MCP argument: mostly objects with `fields` as keys.
pub fn json_value(rng: &mut Rng, fields: &[String], depth: usize) -> Value {
    let choice = if depth == 0 {
        rng.below(6)
    } else {
        rng.below(9)
    };
    match choice {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => json!(*rng.pick(&[i64::MIN, i64::MAX, -1, 0, 1, 65536, 4_294_967_296])),
        3 => json!(*rng.pick(&[f64::MAX, -0.0, 1e-300, 0.5, -1.5, 1e20])),
        4 => json!(u64::MAX),
        5 => Value::String(scalar(rng)),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| json_value(rng, fields, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(5) {
                let key = if !fields.is_empty() && rng.chance(85) {
                    rng.pick(fields).clone()
                } else {
                    scalar(rng)
                };
                map.insert(key, json_value(rng, fields, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Every property name in a JSON schema (any depth), for [`json_value`].
pub fn field_names(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    names.extend(props.keys().cloned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names.sort();
    names.dedup();
    names
}
