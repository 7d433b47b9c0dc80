//! Where each field of a YAML document is: JSON pointer → (line, column).
//!
//! serde_yaml gives values but no positions, so a second, event-level pass with
//! yaml-rust2 records the position of every mapping key and sequence item. The pass never
//! expands aliases (an alias bomb costs one event here) and stops recording below
//! [`MAX_DEPTH`].
//!
//! Memory is linear in the input: each field is stored once, as its parent's index plus
//! its own segment (a key is kept once however many children it has; an item costs its
//! index). Pointers are never built while indexing; [`Positions::locate`] walks a pointer
//! down from the root, which only happens when a diagnostic is made.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};

/// Nesting below this depth is not indexed (and will be rejected by serde_yaml anyway).
const MAX_DEPTH: usize = 128;

/// Index of a node; the root is 0.
type NodeId = u32;

/// Marks a node that is not indexed (too deep, or a complex mapping key).
const UNINDEXED: NodeId = NodeId::MAX;

/// One step down from a node: a mapping key (JSON-pointer escaped) or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Key(Box<str>),
    Item(u32),
}

/// Positions of one document's fields.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    /// Line and column (both 1-based) of the document's first node.
    pub start: (usize, usize),
    /// Deepest nesting of collections in the document (the root collection is 1).
    pub depth: usize,
    /// Line and column of every indexed node, by id (the root's is `start`).
    at: Vec<(u32, u32)>,
    /// (parent, segment) → child.
    children: HashMap<(NodeId, Segment), NodeId>,
}

impl Positions {
    fn new(start: (usize, usize)) -> Positions {
        Positions {
            start,
            depth: 0,
            at: vec![(clamp(start.0), clamp(start.1))],
            children: HashMap::new(),
        }
    }

    /// The position of `pointer`, or of its nearest indexed ancestor, or the document start.
    pub fn locate(&self, pointer: &str) -> (usize, usize) {
        let mut node: NodeId = 0;
        for segment in pointer.split('/').skip(1) {
            let key = self.children.get(&(node, Segment::Key(segment.into())));
            let child = key.or_else(|| {
                segment
                    .parse::<u32>()
                    .ok()
                    .and_then(|i| self.children.get(&(node, Segment::Item(i))))
            });
            match child {
                Some(&c) => node = c,
                None => break,
            }
        }
        if node == 0 {
            return self.start;
        }
        let (line, column) = self.at[node as usize];
        (line as usize, column as usize)
    }

    /// Records a child of `parent` at `pos`; returns its id (or [`UNINDEXED`] below an
    /// unindexed parent, too deep, or when ids run out).
    fn add(
        &mut self,
        parent: NodeId,
        segment: Segment,
        pos: (usize, usize),
        depth: usize,
    ) -> NodeId {
        if parent == UNINDEXED || depth > MAX_DEPTH || self.at.len() >= UNINDEXED as usize {
            return UNINDEXED;
        }
        let id = self.at.len() as NodeId;
        match self.children.entry((parent, segment)) {
            // A duplicate key: the first one is where the field is (serde_yaml refuses it).
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
                self.at.push((clamp(pos.0), clamp(pos.1)));
                id
            }
        }
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a mapping expects next.
#[derive(Clone, Copy)]
enum Expect {
    Key,
    /// The value of the entry whose key node is this.
    Value(NodeId),
}

enum Frame {
    Map { node: NodeId, expect: Expect },
    Seq { node: NodeId, next: u32 },
}

/// Indexes every document of `text`. Returns as many entries as documents could be read; a
/// syntax error ends the index early (serde_yaml reports the error itself).
pub fn index(text: &str) -> Vec<Positions> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut current: Option<Positions> = None;
    let mut stack: Vec<Frame> = Vec::new();

    while let Ok((event, mark)) = parser.next_token() {
        let pos = (mark.line(), mark.col() + 1);
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                current = Some(Positions::new((pos.0, 1)));
                stack.clear();
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let depth = stack.len() + 1;
                doc.depth = doc.depth.max(depth);
                let node = match stack.last_mut() {
                    None => 0,
                    Some(Frame::Map { expect, .. }) => match *expect {
                        Expect::Value(key) => key,
                        Expect::Key => UNINDEXED, // a complex key
                    },
                    Some(Frame::Seq { node, next }) => {
                        doc.add(*node, Segment::Item(*next), pos, depth)
                    }
                };
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        node,
                        expect: Expect::Key,
                    }
                } else {
                    Frame::Seq { node, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack);
            }
            Event::Scalar(value, ..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let depth = stack.len();
                match stack.last_mut() {
                    Some(Frame::Map {
                        node,
                        expect: expect @ Expect::Key,
                    }) => {
                        // A key: the entry's position is the key's.
                        let id = doc.add(*node, Segment::Key(escape(&value).into()), pos, depth);
                        *expect = Expect::Value(id);
                    }
                    Some(Frame::Seq { node, next }) => {
                        doc.add(*node, Segment::Item(*next), pos, depth);
                        value_done(&mut stack);
                    }
                    _ => value_done(&mut stack),
                }
            }
            Event::Alias(_) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let depth = stack.len();
                if let Some(Frame::Seq { node, next }) = stack.last_mut() {
                    doc.add(*node, Segment::Item(*next), pos, depth);
                }
                value_done(&mut stack);
            }
            Event::Nothing | Event::StreamStart => {}
        }
    }
    if let Some(doc) = current.take() {
        docs.push(doc);
    }
    docs
}

/// After a complete node: a mapping that expected a key now expects its value (a complex
/// or aliased key, not indexed), one that expected a value its next key; a sequence its
/// next item.
fn value_done(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { expect, .. }) => {
            *expect = match expect {
                Expect::Key => Expect::Value(UNINDEXED),
                Expect::Value(_) => Expect::Key,
            }
        }
        Some(Frame::Seq { next, .. }) => *next = next.saturating_add(1),
        None => {}
    }
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
