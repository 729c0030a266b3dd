//! Kafka's fetch purgatory: fetches waiting for data, from consumers and followers, found by
//! the partitions they wait on. A broker with hundreds of parked fetches must not look at all
//! of them each time one partition gets data.

use crate::ids::{NodeId, TopicPartition};
use crate::msg::{FetchRequest, ReplicaFetchRequest};
use std::collections::BTreeMap;

/// A fetch waiting for data.
#[derive(Debug)]
pub enum Parked {
    Consumer { from: NodeId, request: FetchRequest },
    Follower { request: ReplicaFetchRequest },
}

impl Parked {
    fn partitions(&self) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> = match self {
            Parked::Consumer { request, .. } => request
                .partitions
                .iter()
                .map(|partition| partition.tp)
                .collect(),
            Parked::Follower { request } => request
                .partitions
                .iter()
                .map(|partition| partition.tp)
                .collect(),
        };
        partitions.sort();
        partitions.dedup();
        partitions
    }
}

#[derive(Debug, Default)]
pub struct Purgatory {
    /// Each fetch with the partitions it waits on.
    by_id: BTreeMap<u64, (Parked, Vec<TopicPartition>)>,
    /// Ids waiting on each partition, in increasing order (ids only grow); possibly empty.
    by_partition: BTreeMap<TopicPartition, Vec<u64>>,
}

impl Purgatory {
    /// Parks a fetch under `id`, which must exceed every id parked before.
    pub fn insert(&mut self, id: u64, parked: Parked) {
        let partitions = parked.partitions();
        for &tp in &partitions {
            self.by_partition.entry(tp).or_default().push(id);
        }
        self.by_id.insert(id, (parked, partitions));
    }

    pub fn remove(&mut self, id: u64) -> Option<Parked> {
        let (parked, partitions) = self.by_id.remove(&id)?;
        for tp in partitions {
            if let Some(ids) = self.by_partition.get_mut(&tp) {
                // An emptied list stays: the partition will have waiters again, and keeping it
                // saves an allocation per partition on every park.
                if let Ok(position) = ids.binary_search(&id) {
                    ids.remove(position);
                }
            }
        }
        Some(parked)
    }

    /// The fetches waiting on `tp`, oldest first.
    pub fn waiting_on(&self, tp: TopicPartition) -> impl Iterator<Item = (u64, &Parked)> {
        let ids = self.by_partition.get(&tp).map_or(&[][..], Vec::as_slice);
        ids.iter().map(|id| (*id, &self.by_id[id].0))
    }

    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id.keys().copied()
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
        self.by_partition.clear();
    }
}
