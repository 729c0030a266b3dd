//! Keyed timers for the event queue: a binary min-heap of priorities in which a timer can be
//! found by its key, then moved or removed in O(log n) (style.md habit 4: cancel by key, never
//! leave a dead event behind).
//!
//! Each heap slot holds the priority itself next to the index of the timer's entry, so a sift
//! compares neighbours in one array; each entry records its heap slot, so a key finds its place.
//! (The `priority-queue` crate used before kept priorities in its map and compared through it:
//! a scattered read per comparison, and the largest single cost of bench-wide's event loop.)
//! Pop order depends on the priorities alone, which are unique, so it is the same either way.

use indexmap::IndexMap;
use std::hash::{BuildHasher, Hash};

/// A heap slot: the priority, and the index of the timer's entry in the map.
#[derive(Clone, Copy)]
struct Slot<P> {
    priority: P,
    entry: u32,
}

/// A timer's payload and where its slot is in the heap.
struct Entry<E> {
    event: E,
    heap_index: u32,
}

/// Timers keyed by `T`, carrying `E`, ordered by `P`: the smallest priority comes first.
pub struct Timers<E, T, P, S> {
    heap: Vec<Slot<P>>,
    entries: IndexMap<T, Entry<E>, S>,
}

impl<E, T, P, S: Default> Default for Timers<E, T, P, S> {
    fn default() -> Self {
        Timers {
            heap: Vec::new(),
            entries: IndexMap::default(),
        }
    }
}

impl<E, T: Hash + Eq, P: Ord + Copy, S: BuildHasher + Default> Timers<E, T, P, S> {
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The first timer's priority.
    pub fn peek(&self) -> Option<P> {
        self.heap.first().map(|slot| slot.priority)
    }

    /// Timer `key`'s priority, if pending.
    pub fn priority_of(&self, key: &T) -> Option<P> {
        let entry = self.entries.get(key)?;
        Some(self.heap[entry.heap_index as usize].priority)
    }

    /// Sets timer `key` to `priority` with `event`, moving it if pending.
    pub fn set(&mut self, key: T, priority: P, event: E) {
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.event = event;
            let at = entry.heap_index as usize;
            let before = self.heap[at].priority;
            self.heap[at].priority = priority;
            if priority < before {
                self.sift_up(at);
            } else {
                self.sift_down(at);
            }
            return;
        }
        let at = self.heap.len();
        let entry = u32::try_from(self.entries.len()).expect("fewer than 2^32 timers");
        let heap_index = u32::try_from(at).expect("fewer than 2^32 timers");
        self.entries.insert(key, Entry { event, heap_index });
        self.heap.push(Slot { priority, entry });
        self.sift_up(at);
    }

    /// Removes timer `key`; returns its event if it was pending.
    pub fn remove(&mut self, key: &T) -> Option<E> {
        let index = self.entries.get_index_of(key)?;
        Some(self.remove_entry(index))
    }

    /// Removes the first timer; returns its priority and event.
    pub fn pop(&mut self) -> Option<(P, E)> {
        let first = *self.heap.first()?;
        Some((first.priority, self.remove_entry(first.entry as usize)))
    }

    /// Takes entry `index` out of the heap, then out of the map.
    fn remove_entry(&mut self, index: usize) -> E {
        let at = self.entries[index].heap_index as usize;
        let last = self.heap.pop().expect("an entry has a heap slot");
        if at < self.heap.len() {
            // The last slot fills the hole, then moves whichever way its priority says.
            let removed = self.heap[at].priority;
            self.place(at, last);
            if last.priority < removed {
                self.sift_up(at);
            } else {
                self.sift_down(at);
            }
        }
        // The map's last entry moves into `index`: its heap slot must follow it.
        let (_, entry) = self
            .entries
            .swap_remove_index(index)
            .expect("the index is in the map");
        if let Some(moved) = self
            .entries
            .get_index(index)
            .map(|(_, moved)| moved.heap_index)
        {
            self.heap[moved as usize].entry = index as u32;
        }
        entry.event
    }

    /// Writes `slot` at heap index `at` and tells its entry.
    fn place(&mut self, at: usize, slot: Slot<P>) {
        self.heap[at] = slot;
        self.entries[slot.entry as usize].heap_index = at as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        let slot = self.heap[at];
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap[parent].priority <= slot.priority {
                break;
            }
            self.place(at, self.heap[parent]);
            at = parent;
        }
        self.place(at, slot);
    }

    fn sift_down(&mut self, mut at: usize) {
        let slot = self.heap[at];
        let len = self.heap.len();
        loop {
            let left = 2 * at + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].priority < self.heap[left].priority {
                right
            } else {
                left
            };
            if slot.priority <= self.heap[child].priority {
                break;
            }
            self.place(at, self.heap[child]);
            at = child;
        }
        self.place(at, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::BuildHasherDefault;

    type TestTimers = Timers<u32, u8, (u64, u64), BuildHasherDefault<std::hash::DefaultHasher>>;

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u64),
        Remove(u8),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..16, 0u64..50).prop_map(|(key, at)| Op::Set(key, at)),
            (0u8..16).prop_map(Op::Remove),
            Just(Op::Pop),
        ]
    }

    proptest! {
        /// Any mix of sets, moves, removals and pops agrees with a model kept in a tree.
        #[test]
        fn agrees_with_an_ordered_model(ops in prop::collection::vec(op(), 0..300)) {
            let mut timers = TestTimers::default();
            // key -> (priority, event), and the order of priorities.
            let mut model: BTreeMap<u8, ((u64, u64), u32)> = BTreeMap::new();
            for (seq, op) in ops.into_iter().enumerate() {
                let seq = seq as u64;
                match op {
                    Op::Set(key, at) => {
                        timers.set(key, (at, seq), seq as u32);
                        model.insert(key, ((at, seq), seq as u32));
                    }
                    Op::Remove(key) => {
                        let expected = model.remove(&key).map(|(_, event)| event);
                        prop_assert_eq!(timers.remove(&key), expected);
                    }
                    Op::Pop => {
                        let first = model
                            .iter()
                            .min_by_key(|(_, (priority, _))| *priority)
                            .map(|(&key, &(priority, event))| (key, priority, event));
                        if let Some((key, _, _)) = first {
                            model.remove(&key);
                        }
                        prop_assert_eq!(timers.pop(), first.map(|(_, p, e)| (p, e)));
                    }
                }
                prop_assert_eq!(timers.len(), model.len());
                for (key, (priority, _)) in &model {
                    prop_assert_eq!(timers.priority_of(key), Some(*priority));
                }
                let least = model.values().map(|(priority, _)| *priority).min();
                prop_assert_eq!(timers.peek(), least);
            }
        }
    }
}
