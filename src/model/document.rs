//! Parsing YAML files into documents: JSON values plus the positions of their fields.

use super::positions::{self, Positions};
use crate::diag::Diagnostic;
use crate::limits::Limits;
use crate::source::SourceFile;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// One YAML document of a file: where it is, and its JSON value with the position of
/// every field.
///
/// A document kept between runs may be [`Document::lean`]: it then holds where it is and
/// (shared with the other documents of its file) the file's bytes, and its value and
/// positions are parsed again, once, when first read. A parsed value and its positions
/// take about twenty times the bytes of the YAML they come from.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    /// 0-based index of the document within its file.
    pub index: usize,
    /// Line and column (both 1-based) of the document's first node.
    pub start: (usize, usize),
    body: OnceLock<Box<Body>>,
    text: Arc<FileText>,
}

/// A document's value and the positions of its fields.
#[derive(Debug, Clone)]
struct Body {
    value: Value,
    positions: Positions,
}

/// The bytes of a parsed file and the limits it was parsed within: what a lean
/// document's value is parsed again from.
#[derive(Debug)]
pub struct FileText {
    content: Arc<[u8]>,
    limits: Limits,
}

impl FileText {
    /// The file's bytes.
    pub fn content(&self) -> &Arc<[u8]> {
        &self.content
    }
}

impl Document {
    /// The document as a JSON value.
    pub fn value(&self) -> &Value {
        &self.body().value
    }

    /// Where each field of the document is.
    pub fn positions(&self) -> &Positions {
        &self.body().positions
    }

    /// The bytes of the file the document is in.
    pub fn text(&self) -> &FileText {
        &self.text
    }

    /// The same document without its parsed value and positions, which are parsed again
    /// from the file's bytes if they are ever read: what is worth keeping of a document
    /// whose typed form is kept beside it.
    pub fn lean(&self) -> Document {
        Document {
            file: self.file.clone(),
            index: self.index,
            start: self.start,
            body: OnceLock::new(),
            text: self.text.clone(),
        }
    }

    /// Holds no parsed value (yet)?
    pub fn is_lean(&self) -> bool {
        self.body.get().is_none()
    }

    fn body(&self) -> &Body {
        self.body.get_or_init(|| Box::new(self.reparse()))
    }

    /// Parses the document's file again and takes this document from it. The bytes and
    /// limits are those it was first parsed from, so the value is the same; should the
    /// document be missing all the same, it reads as null (no field, no position).
    fn reparse(&self) -> Body {
        let again = std::str::from_utf8(&self.text.content)
            .ok()
            .and_then(|text| {
                let (docs, _) = parse_text(&self.file, text, &self.text);
                docs.into_iter().find(|d| d.index == self.index)
            })
            .and_then(|d| d.body.into_inner());
        match again {
            Some(body) => *body,
            None => {
                let mut positions = Positions::default();
                positions.start = self.start;
                Body {
                    value: Value::Null,
                    positions,
                }
            }
        }
    }

    /// `kind:` as written, if it is a string.
    pub fn kind_str(&self) -> Option<&str> {
        self.value().get("kind").and_then(Value::as_str)
    }

    /// `metadata.name` as written, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.value()
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    }

    /// A diagnostic located at `pointer` in this document.
    pub fn diagnostic(
        &self,
        code: &'static str,
        pointer: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column) = self.positions().locate(pointer);
        Diagnostic::error(code, &self.file, message)
            .at(Some(line), Some(column))
            .pointer(pointer)
            .subject(
                self.kind_str().unwrap_or("document"),
                self.name().map(str::to_owned),
            )
    }
}

/// Parses every document of `file` within `limits` (documents per file, nesting depth).
/// Problems become diagnostics; the documents before a syntax error are still returned.
pub fn parse_file(file: &SourceFile, limits: &Limits) -> (Vec<Document>, Vec<Diagnostic>) {
    let text = match std::str::from_utf8(&file.content) {
        Ok(t) => t,
        Err(e) => {
            let diag = Diagnostic::error("encoding", &file.path, "file is not valid UTF-8")
                .expected("UTF-8 text")
                .found(format!("invalid byte at offset {}", e.valid_up_to()));
            return (Vec::new(), vec![diag]);
        }
    };
    let shared = Arc::new(FileText {
        content: Arc::from(file.content.as_slice()),
        limits: limits.clone(),
    });
    parse_text(&file.path, text, &shared)
}

/// [`parse_file`] over the file's text (`shared` holds its bytes and the limits).
fn parse_text(path: &str, text: &str, shared: &Arc<FileText>) -> (Vec<Document>, Vec<Diagnostic>) {
    let limits = &shared.limits;
    let mut docs = Vec::new();
    let mut diags = Vec::new();
    let mut index = positions::index(text);
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        if i >= limits.max_documents_per_file {
            diags.push(
                Diagnostic::error(
                    "too-many-documents",
                    path,
                    format!(
                        "the rest of the file is skipped after {} documents; {}",
                        limits.max_documents_per_file,
                        Limits::hint("max_documents_per_file")
                    ),
                )
                .expected(format!(
                    "at most {} documents (limits.max_documents_per_file)",
                    limits.max_documents_per_file
                )),
            );
            break;
        }
        let positions = index.get_mut(i).map(std::mem::take).unwrap_or_default();
        if positions.depth > limits.max_nesting_depth {
            // Refused before serde_yaml builds the value: deep documents cost stack.
            diags.push(
                Diagnostic::error(
                    "nesting-too-deep",
                    path,
                    format!(
                        "document skipped: nested {} levels deep; {}",
                        positions.depth,
                        Limits::hint("max_nesting_depth")
                    ),
                )
                .at(Some(positions.start.0), Some(positions.start.1))
                .expected(format!(
                    "at most {} levels of mappings and sequences (limits.max_nesting_depth)",
                    limits.max_nesting_depth
                ))
                .found(format!("{} levels", positions.depth)),
            );
            continue;
        }
        let yaml = match serde_yaml::Value::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                let (line, column) = match e.location() {
                    Some(l) => (Some(l.line()), Some(l.column())),
                    None => (Some(positions.start.0), Some(positions.start.1)),
                };
                diags.push(
                    Diagnostic::error("yaml", path, format!("YAML error: {}", yaml_message(&e)))
                        .at(line, column),
                );
                // After a syntax error the rest of the stream cannot be trusted.
                break;
            }
        };
        if yaml.is_null() {
            continue; // an empty document, e.g. a trailing `---`
        }
        match to_json(yaml) {
            Ok(value) => docs.push(Document {
                file: path.to_owned(),
                index: i,
                start: positions.start,
                body: OnceLock::from(Box::new(Body { value, positions })),
                text: shared.clone(),
            }),
            Err(JsonError { reversed, message }) => {
                let pointer: String = reversed.iter().rev().map(|s| format!("/{s}")).collect();
                let (line, column) = positions.locate(&pointer);
                diags.push(
                    Diagnostic::error("yaml", path, message)
                        .at(Some(line), Some(column))
                        .pointer(pointer),
                );
            }
        }
    }
    (docs, diags)
}

/// serde_yaml's message without its trailing " at line X column Y" (we report those).
fn yaml_message(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

/// Why a YAML value has no JSON form: the message, and the path to the offending node
/// as escaped pointer segments, innermost first (built only on the way out of an error,
/// so converting costs nothing per node).
struct JsonError {
    reversed: Vec<String>,
    message: String,
}

impl JsonError {
    fn new(message: String) -> JsonError {
        JsonError {
            reversed: Vec::new(),
            message,
        }
    }

    fn under(mut self, segment: String) -> JsonError {
        self.reversed.push(segment);
        self
    }
}

/// Converts a YAML value to JSON, refusing what JSON cannot hold (non-string keys, tags,
/// non-finite numbers) with the path of the offending node.
fn to_json(value: serde_yaml::Value) -> Result<Value, JsonError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None => return Err(JsonError::new(format!("number {f} is not finite"))),
                }
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_json(v).map_err(|e| e.under(i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(JsonError::new(format!(
                            "mapping key must be a string, found {}",
                            type_name(&other)
                        )));
                    }
                };
                let v =
                    to_json(v).map_err(|e| e.under(key.replace('~', "~0").replace('/', "~1")))?;
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            return Err(JsonError::new(format!(
                "YAML tag {} is not supported: write plain values",
                t.tag
            )));
        }
    })
}

fn type_name(v: &serde_yaml::Value) -> &'static str {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => "null",
        Y::Bool(_) => "a boolean",
        Y::Number(_) => "a number",
        Y::String(_) => "a string",
        Y::Sequence(_) => "a sequence",
        Y::Mapping(_) => "a mapping",
        Y::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_file_default(file: &SourceFile) -> (Vec<Document>, Vec<Diagnostic>) {
        parse_file(file, &Limits::default())
    }

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: "defs/x.yaml".into(),
            content: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn multi_document_files_give_every_document() {
        let (docs, diags) = parse_file_default(&file("a: 1\n---\nb: 2\n---\n"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value()["b"], 2);
        assert_eq!(docs[1].positions().locate("/b"), (3, 1));
    }

    #[test]
    fn syntax_errors_keep_earlier_documents_and_name_the_line() {
        let (docs, diags) = parse_file_default(&file("a: 1\n---\nb: [unclosed\n"));
        assert_eq!(docs.len(), 1);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "yaml");
        assert!(diags[0].line.is_some());
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let (docs, diags) = parse_file_default(&file(&bomb));
        assert!(docs.is_empty());
        assert_eq!(diags[0].code, "yaml");
        assert!(started.elapsed().as_secs() < 5);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let (docs, diags) = parse_file_default(&file(&deep));
        assert!(docs.is_empty());
        assert_eq!(diags[0].code, "yaml");
    }

    #[test]
    fn nesting_past_the_limit_is_refused_naming_the_limit() {
        // Deep enough for the limit (64), shallow enough for serde_yaml (128).
        let deep = format!("a: 1\n---\nb: {}1{}\n", "[".repeat(80), "]".repeat(80));
        let (docs, diags) = parse_file_default(&file(&deep));
        assert_eq!(docs.len(), 1, "the shallow document is kept");
        assert_eq!(diags[0].code, "nesting-too-deep");
        assert!(diags[0].message.contains("[limits] max_nesting_depth"));
        assert_eq!(diags[0].line, Some(2), "the document's `---`");
        let raised = Limits {
            max_nesting_depth: 100,
            ..Limits::default()
        };
        let (docs, diags) = parse_file(&file(&deep), &raised);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn a_long_key_over_many_items_locates_fields() {
        let key = "k".repeat(4000);
        let text = format!("? \"{key}\"\n: [{}, [x]]\n", vec!["1"; 1000].join(","));
        let (docs, _) = parse_file_default(&file(&text));
        assert_eq!(
            docs[0].positions().locate(&format!("/{key}/999")),
            (2, 4 + 2 * 999)
        );
        assert_eq!(
            docs[0].positions().locate(&format!("/{key}/1000/0/zz")),
            (2, 4 + 2 * 1000 + 2)
        );
    }

    #[test]
    fn tags_and_non_string_keys_are_refused_with_a_pointer() {
        let (_, diags) = parse_file_default(&file("spec:\n  x: !custom 1\n"));
        assert_eq!(diags[0].pointer, "/spec/x");
        assert_eq!(diags[0].line, Some(2));
        let (_, diags) = parse_file_default(&file("spec:\n  ? [a]\n  : 1\n"));
        assert!(diags[0].message.contains("mapping key"));
    }

    #[test]
    fn a_lean_document_reads_the_value_and_positions_it_was_parsed_with() {
        let (docs, _) = parse_file_default(&file("a: 1\n---\nb:\n  c: [x, y]\n"));
        let lean = docs[1].lean();
        assert!(lean.body.get().is_none(), "nothing parsed is kept");
        assert_eq!(lean.value(), docs[1].value());
        assert_eq!(lean.value()["b"]["c"][1], "y");
        assert_eq!(lean.positions().locate("/b/c/1"), (4, 10));
        assert_eq!(lean.start, (2, 1));
        assert_eq!(lean.name(), None);
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let f = SourceFile {
            path: "x.yaml".into(),
            content: vec![b'a', b':', 0xff],
        };
        let (_, diags) = parse_file_default(&f);
        assert_eq!(diags[0].code, "encoding");
    }
}
