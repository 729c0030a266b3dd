//! A broker's replicas by partition. Every request looks replicas up by partition, so they sit
//! in a table indexed by topic, then partition, instead of a tree; iteration runs in partition
//! order, as a `BTreeMap<TopicPartition, _>`'s would.

use super::replica::Replica;
use crate::ids::{TopicId, TopicPartition};
use crate::partition_map::table_slot;

#[derive(Debug, Default)]
pub struct ReplicaSet {
    /// `[topic][partition]`; boxed so that partitions hosted elsewhere cost a pointer.
    by_topic: Vec<Vec<Option<Box<Replica>>>>,
}

impl FromIterator<(TopicPartition, Replica)> for ReplicaSet {
    fn from_iter<I: IntoIterator<Item = (TopicPartition, Replica)>>(items: I) -> Self {
        let mut set = ReplicaSet::default();
        for (tp, replica) in items {
            set.insert(tp, replica);
        }
        set
    }
}

impl ReplicaSet {
    pub fn insert(&mut self, tp: TopicPartition, replica: Replica) {
        *table_slot(&mut self.by_topic, tp, || None) = Some(Box::new(replica));
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<&Replica> {
        self.by_topic
            .get(tp.topic.0 as usize)?
            .get(tp.partition as usize)?
            .as_deref()
    }

    pub fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut Replica> {
        self.by_topic
            .get_mut(tp.topic.0 as usize)?
            .get_mut(tp.partition as usize)?
            .as_deref_mut()
    }

    pub fn iter(&self) -> impl Iterator<Item = (TopicPartition, &Replica)> {
        self.by_topic
            .iter()
            .enumerate()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .enumerate()
                    .filter_map(move |(partition, slot)| {
                        Some((tp(topic, partition), slot.as_deref()?))
                    })
            })
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (TopicPartition, &mut Replica)> {
        self.by_topic
            .iter_mut()
            .enumerate()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter_mut()
                    .enumerate()
                    .filter_map(move |(partition, slot)| {
                        Some((tp(topic, partition), slot.as_deref_mut()?))
                    })
            })
    }

    pub fn values(&self) -> impl Iterator<Item = &Replica> {
        self.iter().map(|(_, replica)| replica)
    }
}

fn tp(topic: usize, partition: usize) -> TopicPartition {
    TopicPartition {
        topic: TopicId(topic as u32),
        partition: partition as u32,
    }
}
