//! Incremental fetch sessions between a follower's fetcher and a leader (KIP-227: Kafka's
//! `FetchSessionHandler` on the fetcher's side, `FetchSession` / `CachedPartition` on the
//! leader's).
//!
//! The first request of a session is full: it names every partition the fetcher follows on
//! that leader, and the answer carries every one of them. After that, a request names only
//! the partitions whose fetch position (fetch offset, last fetched epoch) changed, plus the
//! ones the fetcher stopped following ("forgotten"); the leader keeps the others' positions.
//! An answer carries only the partitions with records, a new high watermark or log start
//! offset, an error or a diverging epoch.
//!
//! Kafka's leader still reads every partition of the session on each fetch and updates its
//! follower's fetch state for each. Here a partition the leader reads is "pending" in the
//! session; it stops being pending once the follower has everything and knows the current high
//! watermark (= log end) and log start: reading it again would find nothing and change nothing
//! but the follower's fetch and catch-up times, which the session's last fetch time stands for
//! (`Replica::catch_up_lazily` applies them when the partition changes). Anything that changes
//! a led partition makes it pending again in every session holding it.

use crate::ids::TopicPartition;
use crate::msg::ReplicaFetchPartition;

/// One partition of a leader's session with a follower (Kafka's `CachedPartition`).
#[derive(Debug, Clone)]
pub struct SessionPartition {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    pub last_fetched_epoch: Option<u32>,
    /// What the last answer carrying this partition told the follower (None: never told).
    pub sent_high_watermark: Option<u64>,
    pub sent_log_start_offset: Option<u64>,
    pending: bool,
}

impl SessionPartition {
    /// Whether the leader reads this partition at the session's next fetch.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    pub fn position(&self) -> ReplicaFetchPartition {
        ReplicaFetchPartition {
            tp: self.tp,
            fetch_offset: self.fetch_offset,
            last_fetched_epoch: self.last_fetched_epoch,
        }
    }
}

/// A partition's name as one number, ordered as `TopicPartition` is.
fn key(tp: TopicPartition) -> u64 {
    (u64::from(tp.topic.0) << 32) | u64::from(tp.partition)
}

/// The leader's side of one follower's fetch session.
#[derive(Debug, Clone)]
pub struct LeaderSession {
    /// The fetcher's session id (Kafka's session id; here the fetcher numbers its sessions).
    pub id: u32,
    /// The follower's broker epoch at its last fetch.
    pub broker_epoch: u32,
    /// When the follower last fetched: the fetch time of every partition not pending.
    pub last_fetch_ns: u64,
    /// In partition order.
    partitions: Vec<SessionPartition>,
    /// `partitions`' names as one number each, in the same order: the lookup on every change
    /// of a led partition searches these, not the wide entries.
    keys: Vec<u64>,
    /// The pending partitions' indices in `partitions`, unordered, each once (rebuilt when a
    /// partition joins or leaves, which moves the indices).
    pending: Vec<u32>,
}

impl LeaderSession {
    /// A session from a full request: every partition pending.
    pub fn new(id: u32, broker_epoch: u32, requested: &[ReplicaFetchPartition]) -> Self {
        let mut session = LeaderSession {
            id,
            broker_epoch,
            last_fetch_ns: 0,
            partitions: Vec::with_capacity(requested.len()),
            keys: Vec::with_capacity(requested.len()),
            pending: Vec::with_capacity(requested.len()),
        };
        session.update(requested, &[]);
        session
    }

    fn find(&self, tp: TopicPartition) -> Result<usize, usize> {
        self.keys.binary_search(&key(tp))
    }

    pub fn get(&self, tp: TopicPartition) -> Option<&SessionPartition> {
        self.find(tp).ok().map(|index| &self.partitions[index])
    }

    /// An incremental request: its partitions are added or updated and pending; forgotten
    /// ones leave the session.
    pub fn update(&mut self, requested: &[ReplicaFetchPartition], forgotten: &[TopicPartition]) {
        let mut moved = false;
        for &tp in forgotten {
            if let Ok(index) = self.find(tp) {
                self.partitions.remove(index);
                self.keys.remove(index);
                moved = true;
            }
        }
        for partition in requested {
            let index = match self.find(partition.tp) {
                Ok(index) => index,
                Err(index) => {
                    let new = SessionPartition {
                        tp: partition.tp,
                        fetch_offset: partition.fetch_offset,
                        last_fetched_epoch: partition.last_fetched_epoch,
                        sent_high_watermark: None,
                        sent_log_start_offset: None,
                        pending: true,
                    };
                    self.partitions.insert(index, new);
                    self.keys.insert(index, key(partition.tp));
                    moved = true;
                    continue;
                }
            };
            let cached = &mut self.partitions[index];
            cached.fetch_offset = partition.fetch_offset;
            cached.last_fetched_epoch = partition.last_fetched_epoch;
            if !cached.pending {
                cached.pending = true;
                self.pending.push(index as u32);
            }
        }
        if moved {
            self.pending.clear();
            let flagged = (self.partitions.iter().enumerate())
                .filter(|(_, partition)| partition.pending)
                .map(|(index, _)| index as u32);
            self.pending.extend(flagged);
        }
    }

    /// `make_pending_hinted` without a hint.
    #[cfg(test)]
    pub fn make_pending(&mut self, tp: TopicPartition) -> Option<u64> {
        let mut no_hint = u32::MAX;
        self.make_pending_hinted(tp, &mut no_hint)
    }

    /// Makes `tp` pending if the session holds it. Returns its fetch offset if it was not
    /// pending (its follower state then lags the session's last fetch time). `hint` is the
    /// partition's index at an earlier call (a session's partitions rarely change, and a led
    /// partition changes on every produce): a right hint saves the search; a wrong one is
    /// searched past and corrected.
    pub fn make_pending_hinted(&mut self, tp: TopicPartition, hint: &mut u32) -> Option<u64> {
        let index = match self.keys.get(*hint as usize) {
            Some(&found) if found == key(tp) => *hint as usize,
            _ => {
                let index = self.find(tp).ok()?;
                *hint = index as u32;
                index
            }
        };
        let cached = &mut self.partitions[index];
        if cached.pending {
            return None;
        }
        cached.pending = true;
        self.pending.push(index as u32);
        Some(cached.fetch_offset)
    }

    /// The pending partitions, unordered.
    pub fn pending_iter(&self) -> impl Iterator<Item = &SessionPartition> {
        (self.pending.iter()).map(|&index| &self.partitions[index as usize])
    }

    /// The pending partitions' positions, in partition order, each with its index in the
    /// session, into `positions` (cleared first; the caller keeps it between fetches). The
    /// indices hold until the session next changes.
    pub fn pending_positions(&mut self, positions: &mut Vec<(usize, ReplicaFetchPartition)>) {
        self.pending.sort_unstable();
        positions.clear();
        let partitions = &self.partitions;
        positions.extend((self.pending.iter()).map(|&index| {
            let index = index as usize;
            (index, partitions[index].position())
        }));
    }

    /// The partition at `index` (as `pending_positions` gave it).
    pub fn at_mut(&mut self, index: usize) -> &mut SessionPartition {
        &mut self.partitions[index]
    }

    /// After an answer that read the `read` partitions (from `pending_positions`, with no
    /// change to the session since), the `quiet` ones (indices) need no reading until
    /// something changes: they stop being pending, and the rest of `read` stays pending.
    pub fn settle(&mut self, read: &[(usize, ReplicaFetchPartition)], quiet: &[usize]) {
        for &index in quiet {
            self.partitions[index].pending = false;
        }
        let partitions = &self.partitions;
        self.pending.clear();
        self.pending.extend(
            (read.iter())
                .filter(|&&(index, _)| partitions[index].pending)
                .map(|&(index, _)| index as u32),
        );
    }
}

/// The fetcher's side of its session with one leader (Kafka's `FetchSessionHandler`).
#[derive(Debug, Clone, Default)]
pub struct FetcherSession {
    /// This session's id; a full request starts a new one.
    pub id: u32,
    /// Whether the leader answered this session's full request: until then (and after any
    /// error or lost request) the next request is full.
    pub established: bool,
    /// What the leader's session holds: (partition, fetch offset, last fetched epoch), in
    /// partition order.
    pub sent: Vec<ReplicaFetchPartition>,
    /// Partitions whose position may have changed since the last request: the ones the last
    /// answer carried.
    pub touched: Vec<TopicPartition>,
    /// The followed partitions changed: the next request compares all of them.
    pub rescan: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::first_topic(partition)
    }

    fn at(partition: u32, fetch_offset: u64) -> ReplicaFetchPartition {
        ReplicaFetchPartition {
            tp: tp(partition),
            fetch_offset,
            last_fetched_epoch: None,
        }
    }

    #[test]
    fn a_read_settles_its_quiet_partitions_and_keeps_the_rest_pending() {
        let mut session = LeaderSession::new(1, 0, &[at(5, 50), at(1, 10), at(3, 30)]);
        let mut read = Vec::new();
        session.pending_positions(&mut read);
        // In partition order, each with its index in the session.
        let positions: Vec<(usize, u32, u64)> = (read.iter())
            .map(|(index, position)| (*index, position.tp.partition, position.fetch_offset))
            .collect();
        assert_eq!(positions, vec![(0, 1, 10), (1, 3, 30), (2, 5, 50)]);
        session.at_mut(1).sent_high_watermark = Some(30);
        session.settle(&read, &[0, 2]);
        let pending: Vec<u32> = session.pending_iter().map(|p| p.tp.partition).collect();
        assert_eq!(pending, vec![3]);
        assert_eq!(session.get(tp(3)).unwrap().sent_high_watermark, Some(30));
        // A change makes a settled partition pending again, once.
        assert_eq!(session.make_pending(tp(5)), Some(50));
        assert_eq!(session.make_pending(tp(5)), None);
        session.pending_positions(&mut read);
        let partitions: Vec<u32> = read.iter().map(|(_, p)| p.tp.partition).collect();
        assert_eq!(partitions, vec![3, 5]);
    }

    /// Partitions 2, 4 and 6 at offsets 20, 40 and 60, all read once and quiet.
    fn settled_session() -> LeaderSession {
        let mut session = LeaderSession::new(1, 0, &[at(2, 20), at(4, 40), at(6, 60)]);
        let mut read = Vec::new();
        session.pending_positions(&mut read);
        session.settle(&read, &[0, 1, 2]);
        session
    }

    #[test]
    fn a_stale_hint_is_searched_past_and_corrected() {
        let mut session = settled_session();
        let mut read = Vec::new();
        // Index 0 holds partition 2, not 6: the search finds 6 at index 2 and keeps that.
        let mut hint = 0;
        assert_eq!(session.make_pending_hinted(tp(6), &mut hint), Some(60));
        assert_eq!(hint, 2);
        // Partition 1 joins in front: the hint points at 4 now, and is corrected again.
        session.update(&[at(1, 10)], &[]);
        session.pending_positions(&mut read);
        let quiet: Vec<usize> = read.iter().map(|&(index, _)| index).collect();
        session.settle(&read, &quiet);
        assert_eq!(session.make_pending_hinted(tp(6), &mut hint), Some(60));
        assert_eq!(hint, 3);
        // Not in the session: no change, and the hint stays as it was.
        assert_eq!(session.make_pending_hinted(tp(5), &mut hint), None);
        assert_eq!(hint, 3);
    }

    #[test]
    fn partitions_joining_and_leaving_keep_lookups_and_pending_marks_right() {
        let mut session = settled_session();
        let mut read = Vec::new();
        assert_eq!(session.make_pending(tp(6)), Some(60));
        // Partition 1 joins before every index, 4 leaves: 6 stays pending at its new index.
        session.update(&[at(1, 10)], &[tp(4)]);
        session.pending_positions(&mut read);
        let positions: Vec<(usize, u32, u64)> = (read.iter())
            .map(|(index, position)| (*index, position.tp.partition, position.fetch_offset))
            .collect();
        assert_eq!(positions, vec![(0, 1, 10), (2, 6, 60)]);
        assert!(session.get(tp(4)).is_none());
        assert_eq!(session.make_pending(tp(2)), Some(20));
        assert_eq!(session.make_pending(tp(4)), None);
    }
}
