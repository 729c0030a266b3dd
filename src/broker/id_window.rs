//! Parked requests by id. A broker numbers its parked fetches and delayed produces from one
//! counter that only grows, and each waits at most its timeout, so the live ids sit in a
//! window from the oldest one: a slot per id in that window, found by subtraction, instead of
//! a tree that moves its entries on every insert and removal.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct IdWindow<V> {
    /// The id of `slots[0]`.
    base: u64,
    /// A slot per id from `base` on; the first is always occupied (or there are none).
    slots: VecDeque<Option<V>>,
    len: usize,
}

impl<V> Default for IdWindow<V> {
    fn default() -> Self {
        IdWindow {
            base: 0,
            slots: VecDeque::new(),
            len: 0,
        }
    }
}

impl<V> IdWindow<V> {
    /// Adds `id`, which must exceed every id added before.
    pub fn insert(&mut self, id: u64, value: V) {
        if self.slots.is_empty() {
            self.base = id;
        }
        let next = self.base + self.slots.len() as u64;
        assert!(id >= next, "ids only grow: {id} after {next}");
        for _ in next..id {
            self.slots.push_back(None);
        }
        self.slots.push_back(Some(value));
        self.len += 1;
    }

    fn index(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.base).map(|offset| offset as usize)
    }

    pub fn get(&self, id: u64) -> Option<&V> {
        self.slots.get(self.index(id)?)?.as_ref()
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let index = self.index(id)?;
        self.slots.get_mut(index)?.as_mut()
    }

    pub fn remove(&mut self, id: u64) -> Option<V> {
        let index = self.index(id)?;
        let value = self.slots.get_mut(index)?.take()?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(value)
    }

    /// Every (id, value), in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> + '_ {
        (self.slots.iter().enumerate())
            .filter_map(|(index, slot)| Some((self.base + index as u64, slot.as_ref()?)))
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Inserts of growing ids (with gaps) and removals answer as a `BTreeMap` does.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec((any::<bool>(), 0..5u64), 0..200)) {
            let mut window = IdWindow::default();
            let mut model = BTreeMap::new();
            let mut next_id = 3;
            for (add, step) in ops {
                if add {
                    next_id += step;
                    window.insert(next_id, next_id * 10);
                    model.insert(next_id, next_id * 10);
                    next_id += 1;
                } else {
                    let id = next_id.saturating_sub(step * 3);
                    prop_assert_eq!(window.remove(id), model.remove(&id));
                }
                prop_assert_eq!(window.is_empty(), model.is_empty());
            }
            for id in 0..next_id + 2 {
                prop_assert_eq!(window.get(id), model.get(&id));
            }
            prop_assert_eq!(
                window.iter().collect::<Vec<_>>(),
                model.iter().map(|(&id, value)| (id, value)).collect::<Vec<_>>()
            );
        }
    }
}
