//! A YAML file's text cut into its documents, numbered exactly as [`super::parse_file`]
//! numbers them (`Document::index`), so code that edits one document of a file (the
//! proposal tools) and the parser that found it agree on which document is which.
//!
//! The parser's numbering is the YAML stream's: every `---` starts a document, also one
//! that holds only comments (a null document, which the parser skips but still counts);
//! text before the first `---` is a document only when it holds content. (A bare document
//! after a `...` end marker is a syntax error to the parser, so it needs no numbering.)

/// A file's text, split at its document boundaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFile {
    /// Comments and blank lines before the first `---` when they are not a document.
    pub preamble: Option<String>,
    /// `documents[i]` is the text of stream document `i` (without its `---` line; content
    /// written on the `---` line itself is kept as the document's first line).
    pub documents: Vec<String>,
}

/// Is `line` (without its line break) a document start marker?
fn is_start(line: &str) -> bool {
    let bare = line.trim_end();
    bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t")
}

/// Is `line` a document end marker?
fn is_end(line: &str) -> bool {
    let bare = line.trim_end();
    bare == "..." || bare.starts_with("... ") || bare.starts_with("...\t")
}

/// Does `chunk` hold YAML content (anything but comments, blank lines and end markers)?
pub fn holds_content(chunk: &str) -> bool {
    chunk.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !is_end(l)
    })
}

/// Splits `text` into its documents (see the module documentation for the numbering).
pub fn split(text: &str) -> SplitFile {
    let mut chunks: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if is_start(line) {
            chunks.push(String::new());
            let rest = line.trim_end()[3..].trim();
            if !rest.is_empty()
                && !rest.starts_with('#')
                && let Some(last) = chunks.last_mut()
            {
                // A document that starts on the separator line: keep its content.
                last.push_str(rest);
                last.push('\n');
            }
            continue;
        }
        if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    let mut documents = chunks;
    // Text before the first `---` is document 0 only when it holds content.
    let preamble = if holds_content(&documents[0]) {
        None
    } else {
        Some(documents.remove(0))
    };
    SplitFile {
        preamble,
        documents,
    }
}

impl SplitFile {
    /// Puts the file back together: the preamble, then every document after a `---` line
    /// (the first document without one when there is no preamble).
    pub fn join(&self) -> String {
        let mut out = String::new();
        if let Some(p) = &self.preamble {
            out.push_str(p);
        }
        for (i, d) in self.documents.iter().enumerate() {
            if i > 0 || self.preamble.is_some() {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str("---\n");
            }
            out.push_str(d);
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// How many documents hold content (the parser's non-null documents).
    pub fn content_count(&self) -> usize {
        self.documents.iter().filter(|d| holds_content(d)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    /// The names of the documents the parser finds, by its index.
    fn parsed(text: &str) -> Vec<(usize, String)> {
        let file = SourceFile {
            path: "f.yaml".into(),
            content: text.as_bytes().to_vec(),
        };
        let (docs, diags) = crate::model::parse_file(&file, &crate::limits::Limits::default());
        assert!(diags.is_empty(), "{diags:?}");
        docs.iter()
            .map(|d| (d.index, d.name().unwrap_or_default().to_owned()))
            .collect()
    }

    /// The names the splitter finds, by its index.
    fn split_names(text: &str) -> Vec<(usize, String)> {
        split(text)
            .documents
            .iter()
            .enumerate()
            .filter(|(_, d)| holds_content(d))
            .map(|(i, d)| {
                let v: serde_json::Value = serde_yaml::from_str(d).unwrap();
                (
                    i,
                    v["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    fn doc(name: &str) -> String {
        format!("kind: X\nmetadata:\n  name: {name}\n")
    }

    #[test]
    fn the_splitter_numbers_documents_as_the_parser_does() {
        let (a, b, c) = (doc("app-a"), doc("app-b"), doc("app-c"));
        let files = [
            format!("{a}---\n# disabled\n---\n{b}---\n{c}"),
            format!("---\n{a}---\n{b}"),
            format!("# header\n---\n{a}---\n---\n{b}---\n"),
            format!("# header only comments\n# more\n---\n# empty\n---\n{a}"),
            format!("{a}...\n---\n{b}"),
            format!("--- # a comment on the marker\n{a}--- \n{b}"),
            format!("{a}---\n\n\n---\n# x\n---\n{c}"),
            format!("--- {{kind: X, metadata: {{name: inline}}}}\n---\n{b}"),
            a.clone(),
            "# nothing\n".to_owned(),
            String::new(),
        ];
        for text in &files {
            assert_eq!(split_names(text), parsed(text), "in {text:?}");
        }
    }

    #[test]
    fn join_gives_back_an_equivalent_file() {
        let text = format!(
            "# header\n---\n{}---\n# disabled\n---\n{}",
            doc("a"),
            doc("b")
        );
        let s = split(&text);
        assert_eq!(s.join(), text);
        assert_eq!(s.content_count(), 2);
        let plain = format!("{}---\n{}", doc("a"), doc("b"));
        assert_eq!(split(&plain).join(), plain);
    }
}
