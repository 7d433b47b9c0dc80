//! Where each field of a YAML document is: JSON pointer → (line, column).
//!
//! serde_yaml gives values but no positions, so a second, event-level pass with
//! yaml-rust2 records the position of every mapping key and sequence item. The pass never
//! expands aliases (an alias bomb costs one event here) and stops recording below
//! [`MAX_DEPTH`], so it stays linear in the size of the input.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};

/// Nesting below this depth is not indexed (and will be rejected by serde_yaml anyway).
const MAX_DEPTH: usize = 128;

/// Positions of one document's fields.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    /// Line and column (both 1-based) of the document's first node.
    pub start: (usize, usize),
    by_pointer: HashMap<String, (usize, usize)>,
}

impl Positions {
    /// The position of `pointer`, or of its nearest indexed ancestor, or the document start.
    pub fn locate(&self, pointer: &str) -> (usize, usize) {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.by_pointer.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.start,
            }
        }
    }
}

enum Frame {
    /// A mapping; `key` is the pointer segment of the entry whose value comes next.
    Map {
        key: Option<String>,
    },
    Seq {
        next: usize,
    },
}

/// Indexes every document of `text`. Returns as many entries as documents could be read; a
/// syntax error ends the index early (serde_yaml reports the error itself).
pub fn index(text: &str) -> Vec<Positions> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut current: Option<Positions> = None;
    let mut stack: Vec<Frame> = Vec::new();
    // Pointer of the node about to be read (its parent's pointer plus its own segment).
    let mut path: Vec<String> = Vec::new();

    while let Ok((event, mark)) = parser.next_token() {
        let pos = (mark.line(), mark.col() + 1);
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                current = Some(Positions {
                    start: (pos.0, 1),
                    ..Positions::default()
                });
                stack.clear();
                path.clear();
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if let Some(doc) = current.as_mut() {
                    node_seen(doc, &mut stack, &mut path, pos, true);
                }
                stack.push(if is_map {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                path.pop();
                finish_value(&mut stack);
            }
            Event::Scalar(value, ..) => {
                if let Some(doc) = current.as_mut() {
                    match stack.last_mut() {
                        Some(Frame::Map { key }) if key.is_none() => {
                            // A key: remember it, and record the entry's position at the key.
                            let segment = escape(&value);
                            if stack.len() <= MAX_DEPTH {
                                let pointer = pointer_of(&path, &segment);
                                doc.by_pointer.entry(pointer).or_insert(pos);
                            }
                            if let Some(Frame::Map { key }) = stack.last_mut() {
                                *key = Some(segment);
                            }
                        }
                        _ => {
                            node_seen(doc, &mut stack, &mut path, pos, false);
                            finish_value(&mut stack);
                        }
                    }
                }
            }
            Event::Alias(_) => {
                if let Some(doc) = current.as_mut() {
                    node_seen(doc, &mut stack, &mut path, pos, false);
                    finish_value(&mut stack);
                }
            }
            Event::Nothing | Event::StreamStart => {}
        }
    }
    if let Some(doc) = current.take() {
        docs.push(doc);
    }
    docs
}

/// Records a value node; for collections, pushes its segment so children nest under it.
fn node_seen(
    doc: &mut Positions,
    stack: &mut [Frame],
    path: &mut Vec<String>,
    pos: (usize, usize),
    opens: bool,
) {
    let segment = match stack.last_mut() {
        Some(Frame::Map { key }) => key.clone().unwrap_or_default(),
        Some(Frame::Seq { next }) => {
            let s = next.to_string();
            if stack.len() <= MAX_DEPTH {
                doc.by_pointer.entry(pointer_of(path, &s)).or_insert(pos);
            }
            s
        }
        None => {
            if opens {
                path.push(String::new());
            }
            return;
        }
    };
    if opens {
        path.push(segment);
    }
}

/// After a complete value: a map expects its next key, a sequence its next item.
fn finish_value(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key }) => *key = None,
        Some(Frame::Seq { next }) => *next += 1,
        None => {}
    }
}

fn pointer_of(path: &[String], segment: &str) -> String {
    let mut p = String::new();
    // path[0] is the root's empty segment.
    for s in path.iter().skip(1) {
        p.push('/');
        p.push_str(s);
    }
    p.push('/');
    p.push_str(segment);
    p
}

/// JSON pointer escaping of one segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
a: 1
b:
  c: [x, y]
  d:
    - e: 2
    - f: 3
---
g: 4
";

    #[test]
    fn keys_and_items_are_located() {
        let docs = index(DOC);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].locate("/a"), (1, 1));
        assert_eq!(docs[0].locate("/b/c"), (3, 3));
        assert_eq!(docs[0].locate("/b/c/1"), (3, 10));
        assert_eq!(docs[0].locate("/b/d/1/f"), (6, 7));
        assert_eq!(docs[1].locate("/g"), (8, 1));
    }

    #[test]
    fn unknown_pointers_fall_back_to_the_nearest_ancestor() {
        let docs = index(DOC);
        assert_eq!(docs[0].locate("/b/d/1/f/zzz"), (6, 7));
        assert_eq!(docs[0].locate("/b/zzz"), (2, 1));
        assert_eq!(docs[0].locate("/nope"), (1, 1));
    }

    #[test]
    fn aliases_are_not_expanded() {
        let bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n";
        let docs = index(bomb);
        assert_eq!(docs[0].locate("/c/2"), (3, 13));
    }
}
