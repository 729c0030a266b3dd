//! The idempotent producer's client state (Kafka's `TransactionManager` for a non-transactional
//! producer): producer id and epoch, a sequence counter per partition, the sequences in flight,
//! and partitions whose sequence is unresolved after a batch expired (KIP-360: bump the epoch).

use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct Idempotence {
    pub producer_id: u64,
    pub epoch: u16,
    next_sequence: Vec<i32>,
    /// Base sequences of batches sent and not yet completed, per partition.
    in_flight: Vec<BTreeSet<i32>>,
    /// A batch with a sequence expired: no new batches until in-flight ones finish.
    unresolved: Vec<bool>,
    /// Last acknowledged sequence per partition.
    last_acked: Vec<Option<i32>>,
    /// How many partitions are unresolved and how many batches are in flight in all: the epoch
    /// check runs at every producer wake and must not walk every partition.
    unresolved_partitions: usize,
    in_flight_batches: usize,
}

/// Kafka wraps sequences from `Int.MAX` to 0.
pub fn add_sequence(sequence: i32, count: u32) -> i32 {
    ((i64::from(sequence) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

impl Idempotence {
    pub fn new(producer_id: u64, partitions: u32) -> Self {
        let partitions = partitions as usize;
        Idempotence {
            producer_id,
            epoch: 0,
            next_sequence: vec![0; partitions],
            in_flight: vec![BTreeSet::new(); partitions],
            unresolved: vec![false; partitions],
            last_acked: vec![None; partitions],
            unresolved_partitions: 0,
            in_flight_batches: 0,
        }
    }

    /// New partitions start at sequence 0 with nothing in flight.
    pub fn grow_partitions(&mut self, partitions: usize) {
        self.next_sequence.resize(partitions, 0);
        self.in_flight.resize(partitions, BTreeSet::new());
        self.unresolved.resize(partitions, false);
        self.last_acked.resize(partitions, None);
    }

    /// Kafka's `shouldStopDrainBatchesForPartition`: a new batch waits while the partition's
    /// sequence is unresolved; a retried batch goes only if it is the first in flight.
    pub fn should_stop_drain(&self, partition: u32, base_sequence: Option<i32>) -> bool {
        let index = partition as usize;
        match base_sequence {
            None => self.unresolved[index],
            Some(sequence) => self.in_flight[index]
                .first()
                .is_some_and(|&first| first != sequence),
        }
    }

    /// Gives a batch its sequence at its first drain.
    pub fn assign(&mut self, partition: u32, records: u32) -> i32 {
        let index = partition as usize;
        let sequence = self.next_sequence[index];
        self.next_sequence[index] = add_sequence(sequence, records);
        self.in_flight_batches += usize::from(self.in_flight[index].insert(sequence));
        sequence
    }

    /// A retried batch is in flight again.
    pub fn resent(&mut self, partition: u32, sequence: i32) {
        self.in_flight_batches += usize::from(self.in_flight[partition as usize].insert(sequence));
    }

    /// A batch's attempt ended (acknowledged, failed or re-queued).
    pub fn completed(&mut self, partition: u32, sequence: i32, acked_records: Option<u32>) {
        let index = partition as usize;
        self.in_flight_batches -= usize::from(self.in_flight[index].remove(&sequence));
        if let Some(records) = acked_records {
            self.last_acked[index] = Some(add_sequence(sequence, records.saturating_sub(1)));
        }
    }

    /// Whether `sequence` is the next one the broker expects (a real gap if it is refused).
    pub fn is_next(&self, partition: u32, sequence: i32) -> bool {
        let expected = self.last_acked[partition as usize].map_or(0, |last| add_sequence(last, 1));
        sequence == expected
    }

    pub fn mark_unresolved(&mut self, partition: u32) {
        let flag = &mut self.unresolved[partition as usize];
        self.unresolved_partitions += usize::from(!*flag);
        *flag = true;
    }

    /// KIP-360: once nothing is in flight, an unresolved partition bumps the epoch and every
    /// partition's sequences restart at 0. Returns whether it bumped.
    pub fn maybe_bump_epoch(&mut self) -> bool {
        debug_assert_eq!(
            self.unresolved_partitions,
            self.unresolved.iter().filter(|&&flag| flag).count()
        );
        debug_assert_eq!(
            self.in_flight_batches,
            self.in_flight.iter().map(BTreeSet::len).sum::<usize>()
        );
        if self.unresolved_partitions > 0 && self.in_flight_batches == 0 {
            self.bump_epoch();
            true
        } else {
            false
        }
    }

    pub fn bump_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.next_sequence
            .iter_mut()
            .for_each(|sequence| *sequence = 0);
        self.unresolved.iter_mut().for_each(|flag| *flag = false);
        self.last_acked.iter_mut().for_each(|last| *last = None);
        self.in_flight.iter_mut().for_each(BTreeSet::clear);
        self.unresolved_partitions = 0;
        self.in_flight_batches = 0;
    }
}
