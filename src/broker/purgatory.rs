//! Kafka's fetch purgatory: fetches waiting for data, from consumers and followers, found by
//! the partitions they wait on. A broker with hundreds of parked fetches must not look at all
//! of them each time one partition gets data.
//!
//! Consumer fetches name a few partitions each and are indexed by partition. A follower fetch
//! waits on its fetch session's partitions (thousands in a wide cluster), and at most one per
//! follower broker is parked: they are kept in a short list, and the broker asks the follower's
//! session whether it waits on a partition.

use super::id_window::IdWindow;
use crate::ids::{BrokerId, NodeId, TopicPartition};
use crate::msg::FetchRequest;
use crate::partition_map::PartitionMap;

/// A fetch waiting for data.
#[derive(Debug)]
pub enum Parked {
    Consumer {
        from: NodeId,
        request: FetchRequest,
    },
    /// A follower's fetch: what it waits for is in its fetch session.
    Follower {
        replica: BrokerId,
    },
}

#[derive(Debug, Default)]
pub struct Purgatory {
    /// Each fetch; a consumer fetch is indexed under its request's partitions.
    by_id: IdWindow<Parked>,
    /// Consumer fetch ids waiting on each partition, in increasing order (ids only grow);
    /// possibly empty.
    by_partition: PartitionMap<Vec<u64>>,
    /// Parked follower fetch ids with their follower, in increasing id order.
    followers: Vec<(u64, BrokerId)>,
}

fn consumer_partitions(parked: &Parked) -> impl Iterator<Item = TopicPartition> + '_ {
    let partitions = match parked {
        Parked::Consumer { request, .. } => request.partitions.as_slice(),
        Parked::Follower { .. } => &[],
    };
    partitions.iter().map(|partition| partition.tp)
}

impl Purgatory {
    /// Parks a fetch under `id`, which must exceed every id parked before.
    pub fn insert(&mut self, id: u64, parked: Parked) {
        if let Parked::Follower { replica } = parked {
            self.followers.push((id, replica));
        }
        for tp in consumer_partitions(&parked) {
            let ids = self.by_partition.get_or_default(tp);
            // Listed once even if the request names the partition twice: `id` is the newest.
            if ids.last() != Some(&id) {
                ids.push(id);
            }
        }
        self.by_id.insert(id, parked);
    }

    pub fn remove(&mut self, id: u64) -> Option<Parked> {
        let parked = self.by_id.remove(id)?;
        if matches!(parked, Parked::Follower { .. }) {
            self.followers.retain(|&(follower, _)| follower != id);
        }
        for tp in consumer_partitions(&parked) {
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

    /// Calls `visit` with the consumer fetches waiting on `tp` and the follower fetches that
    /// may wait on it, oldest first. `replicas` are `tp`'s replicas: a follower fetches only
    /// partitions it holds a replica of, so other followers' fetches are skipped. Called on
    /// every append and high-watermark move, so it merges the two id-ordered lists in place
    /// instead of collecting and sorting them.
    pub fn for_each_waiting_on(
        &self,
        tp: TopicPartition,
        replicas: &[BrokerId],
        mut visit: impl FnMut(u64, &Parked),
    ) {
        let consumers = self.by_partition.get(&tp).map_or(&[][..], Vec::as_slice);
        let mut consumers = consumers.iter().copied().peekable();
        let mut followers = (self.followers.iter())
            .filter(|(_, follower)| replicas.contains(follower))
            .map(|&(id, _)| id)
            .peekable();
        loop {
            let id = match (consumers.peek(), followers.peek()) {
                (Some(&consumer), Some(&follower)) if consumer < follower => consumers.next(),
                (Some(_), Some(_)) | (None, Some(_)) => followers.next(),
                (Some(_), None) => consumers.next(),
                (None, None) => None,
            };
            let Some(id) = id else {
                break;
            };
            let parked = self.by_id.get(id).expect("a waiter is parked");
            visit(id, parked);
        }
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
        self.by_partition.clear();
        self.followers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ConsumerId;
    use crate::msg::FetchPartition;

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::first_topic(partition)
    }

    fn consumer_fetch(partitions: &[u32]) -> Parked {
        let partitions = (partitions.iter())
            .map(|&partition| FetchPartition {
                tp: tp(partition),
                fetch_offset: 0,
                max_bytes: 1,
            })
            .collect();
        Parked::Consumer {
            from: NodeId::Consumer(ConsumerId(0)),
            request: FetchRequest {
                request_id: 0,
                consumer: ConsumerId(0),
                group: 0,
                max_wait_ns: 1,
                min_bytes: 1,
                max_bytes: 1,
                read_committed: false,
                partitions,
            },
        }
    }

    fn waiting_on(purgatory: &Purgatory, partition: u32) -> Vec<u64> {
        let mut ids = Vec::new();
        purgatory.for_each_waiting_on(tp(partition), &[BrokerId(1)], |id, _| ids.push(id));
        ids
    }

    #[test]
    fn fetches_are_found_by_partition_oldest_first_and_forgotten_when_removed() {
        let mut purgatory = Purgatory::default();
        // A request naming a partition twice waits on it once.
        purgatory.insert(3, consumer_fetch(&[2, 5, 2]));
        purgatory.insert(
            4,
            Parked::Follower {
                replica: BrokerId(1),
            },
        );
        purgatory.insert(6, consumer_fetch(&[5]));
        purgatory.insert(
            7,
            Parked::Follower {
                replica: BrokerId(2),
            },
        );
        assert_eq!(waiting_on(&purgatory, 2), [3, 4]);
        assert_eq!(waiting_on(&purgatory, 5), [3, 4, 6]);
        assert!(matches!(purgatory.remove(3), Some(Parked::Consumer { .. })));
        assert!(purgatory.remove(3).is_none());
        assert_eq!(waiting_on(&purgatory, 2), [4]);
        assert_eq!(waiting_on(&purgatory, 5), [4, 6]);
        assert!(matches!(purgatory.remove(4), Some(Parked::Follower { .. })));
        assert_eq!(waiting_on(&purgatory, 5), [6]);
    }
}
