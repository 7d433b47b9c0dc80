//! Remembers recent webhook delivery ids so a replayed delivery is refused.

use std::collections::{HashSet, VecDeque};

/// A bounded set of recently seen ids; the oldest is forgotten when full.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl ReplayCache {
    /// An empty cache remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
        }
    }

    /// Records `id`; false if it was already recorded (a replay).
    pub fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }

    /// Forgets `id` (the delivery was not handled, so a redelivery must be accepted).
    pub fn remove(&mut self, id: &str) {
        if self.seen.remove(id) {
            self.order.retain(|x| x != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReplayCache;

    #[test]
    fn remembers_and_evicts() {
        let mut c = ReplayCache::new(2);
        assert!(c.insert("a"));
        assert!(!c.insert("a"));
        assert!(c.insert("b"));
        assert!(c.insert("c")); // evicts a
        assert!(c.insert("a"));
        assert!(!c.insert("c"));
        c.remove("c");
        assert!(c.insert("c"));
    }
}
