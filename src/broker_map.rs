//! Maps keyed by broker or by node, for state read on every round trip (a leader's fetch
//! sessions by follower, a consumer's fetches in flight by leader, a broker's client
//! connections): a slot per number instead of a tree. `BrokerMap` iterates in broker order, as
//! a `BTreeMap<BrokerId, _>` would.

use crate::ids::{BrokerId, NodeId};

#[derive(Debug, Clone)]
pub struct BrokerMap<V> {
    by_broker: Vec<Option<V>>,
    len: usize,
}

impl<V> Default for BrokerMap<V> {
    fn default() -> Self {
        BrokerMap {
            by_broker: Vec::new(),
            len: 0,
        }
    }
}

impl<V> BrokerMap<V> {
    pub fn get(&self, broker: &BrokerId) -> Option<&V> {
        self.by_broker.get(broker.0 as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, broker: &BrokerId) -> Option<&mut V> {
        self.by_broker.get_mut(broker.0 as usize)?.as_mut()
    }

    pub fn contains_key(&self, broker: &BrokerId) -> bool {
        self.get(broker).is_some()
    }

    /// Sets `broker`'s value; returns the one it replaces.
    pub fn insert(&mut self, broker: BrokerId, value: V) -> Option<V> {
        let index = broker.0 as usize;
        if index >= self.by_broker.len() {
            self.by_broker.resize_with(index + 1, || None);
        }
        let old = self.by_broker[index].replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, broker: &BrokerId) -> Option<V> {
        let old = self.by_broker.get_mut(broker.0 as usize)?.take();
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    pub fn iter(&self) -> impl Iterator<Item = (BrokerId, &V)> {
        (self.by_broker.iter().enumerate())
            .filter_map(|(index, slot)| Some((BrokerId(index as u32), slot.as_ref()?)))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.by_broker.iter().flatten()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.by_broker.iter_mut().flatten()
    }

    /// `broker`'s value, made with `Default` if it has none (a tree's `entry().or_default()`).
    pub fn get_or_default(&mut self, broker: BrokerId) -> &mut V
    where
        V: Default,
    {
        if !self.contains_key(&broker) {
            self.insert(broker, V::default());
        }
        self.by_broker[broker.0 as usize]
            .as_mut()
            .expect("inserted above")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.by_broker.clear();
        self.len = 0;
    }
}

/// State per peer node, found by kind and number.
#[derive(Debug, Clone)]
pub struct NodeMap<V> {
    brokers: Vec<Option<V>>,
    producers: Vec<Option<V>>,
    consumers: Vec<Option<V>>,
    controller: Option<V>,
}

impl<V> Default for NodeMap<V> {
    fn default() -> Self {
        NodeMap {
            brokers: Vec::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            controller: None,
        }
    }
}

impl<V> NodeMap<V> {
    fn slot(&self, node: &NodeId) -> Option<&Option<V>> {
        match *node {
            NodeId::Broker(broker) => self.brokers.get(broker.0 as usize),
            NodeId::Producer(producer) => self.producers.get(producer.0 as usize),
            NodeId::Consumer(consumer) => self.consumers.get(consumer.0 as usize),
            NodeId::Controller => Some(&self.controller),
        }
    }

    /// `node`'s slot; with `grow`, made (empty) if its vector is too short.
    fn slot_mut(&mut self, node: &NodeId, grow: bool) -> Option<&mut Option<V>> {
        let (slots, index) = match *node {
            NodeId::Broker(broker) => (&mut self.brokers, broker.0),
            NodeId::Producer(producer) => (&mut self.producers, producer.0),
            NodeId::Consumer(consumer) => (&mut self.consumers, consumer.0),
            NodeId::Controller => return Some(&mut self.controller),
        };
        let index = index as usize;
        if grow && index >= slots.len() {
            slots.resize_with(index + 1, || None);
        }
        slots.get_mut(index)
    }

    pub fn get(&self, node: &NodeId) -> Option<&V> {
        self.slot(node)?.as_ref()
    }

    pub fn get_mut(&mut self, node: &NodeId) -> Option<&mut V> {
        self.slot_mut(node, false)?.as_mut()
    }

    /// `node`'s value, made with `Default` if it has none (a tree's `entry().or_default()`).
    pub fn get_or_default(&mut self, node: NodeId) -> &mut V
    where
        V: Default,
    {
        (self.slot_mut(&node, true).expect("grown to hold it")).get_or_insert_with(V::default)
    }

    pub fn clear(&mut self) {
        self.brokers.clear();
        self.producers.clear();
        self.consumers.clear();
        self.controller = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Inserts, removals and clears (`None`) leave the same answers and iteration order as
        /// a `BTreeMap`.
        #[test]
        fn behaves_as_an_ordered_map(
            ops in proptest::collection::vec(
                proptest::option::of((0..40u32, proptest::option::of(any::<u64>()))),
                0..200,
            )
        ) {
            let mut map = BrokerMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Some((broker, Some(value))) => prop_assert_eq!(
                        map.insert(BrokerId(broker), value),
                        model.insert(BrokerId(broker), value)
                    ),
                    Some((broker, None)) => prop_assert_eq!(
                        map.remove(&BrokerId(broker)),
                        model.remove(&BrokerId(broker))
                    ),
                    None => {
                        map.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.is_empty(), model.is_empty());
            }
            for broker in 0..41 {
                prop_assert_eq!(map.get(&BrokerId(broker)), model.get(&BrokerId(broker)));
            }
            let entries: Vec<_> = map.iter().map(|(k, v)| (k, *v)).collect();
            let expected: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(entries, expected);
        }
    }

    #[test]
    fn nodes_of_each_kind_have_their_own_slots() {
        use crate::ids::{ConsumerId, ProducerId};
        let mut map: NodeMap<u32> = NodeMap::default();
        *map.get_or_default(NodeId::Producer(ProducerId(3))) += 1;
        *map.get_or_default(NodeId::Consumer(ConsumerId(3))) += 2;
        *map.get_or_default(NodeId::Producer(ProducerId(3))) += 4;
        *map.get_or_default(NodeId::Controller) += 8;
        assert_eq!(map.get(&NodeId::Producer(ProducerId(3))), Some(&5));
        assert_eq!(map.get(&NodeId::Consumer(ConsumerId(3))), Some(&2));
        assert_eq!(map.get(&NodeId::Broker(BrokerId(3))), None);
        assert_eq!(map.get_mut(&NodeId::Controller), Some(&mut 8));
        map.clear();
        assert_eq!(map.get(&NodeId::Controller), None);
    }
}
