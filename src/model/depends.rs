//! The dependency graph of `spec.depends_on` (name → the names it depends on): its
//! cycles (a validation error) and the layers an order respects. Pure.

use std::collections::{BTreeMap, BTreeSet};

/// Name → the names it depends on.
pub type Graph = BTreeMap<String, Vec<String>>;

/// Every cycle: each strongly connected component with more than one member or a
/// self-dependency, as one closed path through it starting at its first name
/// (`[a, b, c, a]`), followed by members the path does not pass (if any). Edges to
/// names outside the graph's keys are ignored. Iterative (Tarjan), linear in the graph.
pub fn cycles(graph: &Graph) -> Vec<Cycle> {
    let mut out = Vec::new();
    for component in components(graph) {
        let first = &component[0];
        let self_loop = graph.get(first).is_some_and(|d| d.contains(first));
        if component.len() == 1 && !self_loop {
            continue;
        }
        let members: BTreeSet<&String> = component.iter().collect();
        let path = closed_path(graph, first, &members);
        let on_path: BTreeSet<&String> = path.iter().collect();
        let rest = component
            .iter()
            .filter(|m| !on_path.contains(m))
            .cloned()
            .collect();
        out.push(Cycle { path, rest });
    }
    out
}

/// A dependency cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// A closed path: the first name again at the end.
    pub path: Vec<String>,
    /// Members of the same cycle the path does not pass through.
    pub rest: Vec<String>,
}

impl Cycle {
    /// Every member, sorted.
    pub fn members(&self) -> BTreeSet<&String> {
        self.path.iter().chain(&self.rest).collect()
    }

    /// "a → b → a" (and "; also in the cycle: c" when the path misses members).
    pub fn describe(&self) -> String {
        let mut text = self.path.join(" → ");
        if !self.rest.is_empty() {
            text.push_str(&format!("; also in the cycle: {}", self.rest.join(", ")));
        }
        text
    }
}

/// Strongly connected components, each sorted, in a stable order.
fn components(graph: &Graph) -> Vec<Vec<String>> {
    struct Node {
        index: usize,
        low: usize,
        on_stack: bool,
    }
    let edges = |n: &String| -> Vec<&String> {
        graph
            .get(n)
            .map(|d| d.iter().filter(|x| graph.contains_key(*x)).collect())
            .unwrap_or_default()
    };
    let mut nodes: BTreeMap<&String, Node> = BTreeMap::new();
    let mut stack: Vec<&String> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in graph.keys() {
        if nodes.contains_key(root) {
            continue;
        }
        // (node, index of the next edge to follow)
        let mut work: Vec<(&String, usize)> = vec![(root, 0)];
        while let Some((v, i)) = work.pop() {
            if i == 0 {
                nodes.insert(
                    v,
                    Node {
                        index: next,
                        low: next,
                        on_stack: true,
                    },
                );
                next += 1;
                stack.push(v);
            }
            let out_edges = edges(v);
            if let Some(w) = out_edges.get(i).copied() {
                work.push((v, i + 1));
                match nodes.get(w) {
                    None => work.push((w, 0)),
                    Some(n) if n.on_stack => {
                        let wi = n.index;
                        if let Some(nv) = nodes.get_mut(v) {
                            nv.low = nv.low.min(wi);
                        }
                    }
                    Some(_) => {}
                }
                continue;
            }
            // All edges of v done: close a component, then pass low up to the parent.
            let (v_index, v_low) = nodes.get(v).map(|n| (n.index, n.low)).unwrap_or((0, 0));
            if v_index == v_low {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    if let Some(n) = nodes.get_mut(w) {
                        n.on_stack = false;
                    }
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                component.sort();
                out.push(component);
            }
            if let Some((parent, _)) = work.last()
                && let Some(p) = nodes.get_mut(*parent)
            {
                p.low = p.low.min(v_low);
            }
        }
    }
    out.sort();
    out
}

/// A closed path from `start` back to itself inside `members` (breadth-first, so the
/// shortest one).
fn closed_path(graph: &Graph, start: &String, members: &BTreeSet<&String>) -> Vec<String> {
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph.get(v).into_iter().flatten() {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                let mut path = vec![start.clone()];
                let mut at = v;
                while at != start {
                    path.push(at.clone());
                    at = came_from.get(at).copied().unwrap_or(start);
                }
                path.push(start.clone());
                path.reverse();
                return path;
            }
            if !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start.clone(), start.clone()]
}

/// The order applies run in: layer 0 depends on nothing in `names`, layer n only on
/// earlier layers. Dependencies outside `names` are ignored (they are ready or waited
/// for separately). Names left in a cycle form a last layer, so none is lost.
pub fn layers(names: &BTreeSet<String>, graph: &Graph) -> Vec<Vec<String>> {
    let mut left: BTreeSet<&String> = names.iter().collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let layer: Vec<String> = left
            .iter()
            .filter(|n| {
                graph
                    .get(**n)
                    .into_iter()
                    .flatten()
                    .all(|d| !left.contains(d))
            })
            .map(|n| (*n).clone())
            .collect();
        if layer.is_empty() {
            out.push(left.iter().map(|n| (*n).clone()).collect());
            break;
        }
        for n in &layer {
            left.remove(n);
        }
        out.push(layer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fixtures::{graph, names};
    use super::*;

    #[test]
    fn a_cycle_names_every_member_and_a_chain_is_not_a_cycle() {
        let g = graph(&[
            ("app", &["db"]),
            ("db", &["cache"]),
            ("cache", &["app"]),
            ("web", &["app"]),
            ("solo", &["solo"]),
        ]);
        let found = cycles(&g);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].describe(), "app → db → cache → app");
        assert_eq!(
            found[0].members().into_iter().cloned().collect::<Vec<_>>(),
            vec!["app", "cache", "db"]
        );
        assert_eq!(found[1].describe(), "solo → solo");
        assert!(cycles(&graph(&[("app", &["db"]), ("db", &[])])).is_empty());
    }

    #[test]
    fn members_off_the_shortest_path_are_listed_too() {
        // a → b → a and a → c → b: c is in the same cycle but not on the short path.
        let g = graph(&[("a", &["b", "c"]), ("b", &["a"]), ("c", &["b"])]);
        let found = cycles(&g);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].describe(), "a → b → a; also in the cycle: c");
    }

    #[test]
    fn layers_put_dependencies_first_and_independent_resources_together() {
        let g = graph(&[
            ("app", &["db", "cache"]),
            ("proxy", &["app"]),
            ("db", &["vm"]),
        ]);
        let all = names(&["app", "cache", "db", "proxy", "solo"]);
        assert_eq!(
            layers(&all, &g),
            vec![
                vec!["cache".to_string(), "db".into(), "solo".into()],
                vec!["app".to_string()],
                vec!["proxy".to_string()],
            ]
        );
    }
}

/// Graphs and name sets written as literals, for the unit tests here and in
/// `reconcile::order`.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Graph;
    use std::collections::BTreeSet;

    /// A graph from `(resource, its dependencies)` pairs.
    pub(crate) fn graph(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    /// A set of resource names.
    pub(crate) fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }
}
