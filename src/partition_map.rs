//! A map keyed by partition for state looked up on every fetch, append or acknowledgement: a
//! key is found through a table indexed by topic, then partition, instead of a tree search (in
//! a wide cluster, a consumer's tree of a hundred partitions costs a few cache misses per
//! lookup). Adding and removing a key take constant time (entries sit in insertion order, a
//! removed one's place taken by the last). Iteration walks the table, so it runs in partition
//! order as a `BTreeMap<TopicPartition, _>`'s would, at a cost that grows with the partitions
//! the table spans: it is for reports and checks at the end of a run, not for hot paths.

use crate::ids::TopicPartition;

/// `tp`'s slot in a `[topic][partition]` table, the table grown with `empty` slots to hold it.
pub fn table_slot<T>(table: &mut Vec<Vec<T>>, tp: TopicPartition, empty: impl Fn() -> T) -> &mut T {
    let topic = tp.topic.0 as usize;
    let partition = tp.partition as usize;
    if table.len() <= topic {
        table.resize_with(topic + 1, Vec::new);
    }
    let partitions = &mut table[topic];
    if partitions.len() <= partition {
        partitions.resize_with(partition + 1, empty);
    }
    &mut partitions[partition]
}

#[derive(Debug, Clone)]
pub struct PartitionMap<V> {
    /// `[topic][partition]`: 1 + the entry's index, or 0 if absent.
    slots: Vec<Vec<u32>>,
    /// In insertion order, but for removals.
    entries: Vec<(TopicPartition, V)>,
}

impl<V> Default for PartitionMap<V> {
    fn default() -> Self {
        PartitionMap {
            slots: Vec::new(),
            entries: Vec::new(),
        }
    }
}

impl<V> PartitionMap<V> {
    fn index_of(&self, tp: &TopicPartition) -> Option<usize> {
        let slot = *self
            .slots
            .get(tp.topic.0 as usize)?
            .get(tp.partition as usize)?;
        (slot != 0).then(|| slot as usize - 1)
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<&V> {
        let index = self.index_of(tp)?;
        Some(&self.entries[index].1)
    }

    pub fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut V> {
        let index = self.index_of(tp)?;
        Some(&mut self.entries[index].1)
    }

    pub fn contains_key(&self, tp: &TopicPartition) -> bool {
        self.index_of(tp).is_some()
    }

    /// Sets `tp`'s value; returns the one it replaces.
    pub fn insert(&mut self, tp: TopicPartition, value: V) -> Option<V> {
        if let Some(index) = self.index_of(&tp) {
            return Some(std::mem::replace(&mut self.entries[index].1, value));
        }
        self.entries.push((tp, value));
        *table_slot(&mut self.slots, tp, || 0) = self.entries.len() as u32;
        None
    }

    /// `tp`'s value, made with `Default` if it has none (a tree's `entry().or_default()`).
    pub fn get_or_default(&mut self, tp: TopicPartition) -> &mut V
    where
        V: Default,
    {
        let index = match self.index_of(&tp) {
            Some(index) => index,
            None => {
                self.insert(tp, V::default());
                self.entries.len() - 1
            }
        };
        &mut self.entries[index].1
    }

    pub fn remove(&mut self, tp: &TopicPartition) -> Option<V> {
        let index = self.index_of(tp)?;
        self.slots[tp.topic.0 as usize][tp.partition as usize] = 0;
        let (_, value) = self.entries.swap_remove(index);
        if let Some((moved, _)) = self.entries.get(index) {
            self.slots[moved.topic.0 as usize][moved.partition as usize] = index as u32 + 1;
        }
        Some(value)
    }

    /// Every entry, in partition order (sorted here: walking the table would cost a slot per
    /// partition of the topic, where a consumer's map holds a few of its thousands).
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &V)> {
        let mut sorted: Vec<&(TopicPartition, V)> = self.entries.iter().collect();
        sorted.sort_unstable_by_key(|(tp, _)| *tp);
        sorted.into_iter().map(|(tp, value)| (tp, value))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        for (tp, _) in &self.entries {
            self.slots[tp.topic.0 as usize][tp.partition as usize] = 0;
        }
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TopicId;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn tp(topic: u32, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: TopicId(topic),
            partition,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u32, u64),
        Remove(u32, u32),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..3u32, 0..40u32, any::<u64>()).prop_map(|(t, p, v)| Op::Insert(t, p, v)),
            3 => (0..3u32, 0..40u32).prop_map(|(t, p)| Op::Remove(t, p)),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// Any sequence of inserts, removals and clears leaves the same answers and the same
        /// iteration order as a `BTreeMap`.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut map = PartitionMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(t, p, v) => {
                        prop_assert_eq!(map.insert(tp(t, p), v), model.insert(tp(t, p), v));
                    }
                    Op::Remove(t, p) => {
                        prop_assert_eq!(map.remove(&tp(t, p)), model.remove(&tp(t, p)));
                    }
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(map.len(), model.len());
            }
            for t in 0..3 {
                for p in 0..41 {
                    prop_assert_eq!(map.get(&tp(t, p)), model.get(&tp(t, p)));
                    prop_assert_eq!(map.contains_key(&tp(t, p)), model.contains_key(&tp(t, p)));
                }
            }
            let entries: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let expected: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(entries, expected);
        }
    }
}
