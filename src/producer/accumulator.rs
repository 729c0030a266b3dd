//! Kafka's `RecordAccumulator` for one producer and its one topic: a deque of batches per
//! partition (only the last accepts appends), the buffer pool, the ready check (full, linger
//! expired, memory exhausted; held back in retry backoff) and the drain of one request per node.

use super::batch::{batch_size_upper_bound, BatchBuilder, ProducerBatch, RecordTimes};
use super::idempotence::Idempotence;
use super::partitioner::StickyPartitioner;
use super::workload::PendingRecord;
use crate::ids::{BrokerId, TopicId, TopicPartition};
use crate::sim::time::NS_PER_MS;
use std::collections::VecDeque;

/// Kafka's compression-ratio estimate steps (`CompressionRatioEstimator`).
const RATIO_IMPROVING_STEP: f32 = 0.005;
const RATIO_DETERIORATE_STEP: f32 = 0.05;

/// Accumulator settings taken from the producer's config.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    pub topic: TopicId,
    pub partitions: u32,
    pub batch_size_bytes: u32,
    pub linger_ns: u64,
    pub buffer_memory_bytes: u64,
    pub compressed: bool,
    /// Compressed / uncompressed size of this workload's data with the configured codec.
    pub compression_ratio: f64,
    pub key_bytes: u32,
    pub adaptive_partitioning: bool,
    /// `max.in.flight.requests.per.connection = 1`: a partition with a batch in flight is muted.
    pub guarantee_order: bool,
}

/// Where one record goes and what appending it does, computed without changing anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub new_batch: bool,
    /// Bytes the partition's estimate grows by (Kafka's `appendedBytes`).
    pub appended_bytes: u64,
    /// The last batch after the append.
    pub builder_after: BatchBuilder,
    /// Kafka's `batchIsFull` after the append: more than one batch queued, or the last one full.
    pub full_after: bool,
    /// The same before the append: if it already held, the sender had been woken for it.
    pub full_before: bool,
    pub record_bytes: u64,
    pub write_limit_bytes: u64,
}

impl Placement {
    /// Whether this append makes a batch sendable, so the sender must look now: a batch became
    /// full (or a new one queued behind it), or, with `linger.ms=0`, a new batch is due at once.
    /// Kafka also wakes its sender for every new batch; when nothing becomes sendable that wake
    /// only refreshes the adaptive partitioner's statistics, which the model leaves to the
    /// sender's other runs.
    pub fn wakes_sender(&self, linger_ns: u64) -> bool {
        (self.full_after && !self.full_before) || (self.new_batch && linger_ns == 0)
    }
}

/// The outcome of a real append.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AppendOutcome {
    Appended(Placement),
    /// No buffer memory for a new batch: the application thread blocks.
    BufferExhausted,
}

pub struct Accumulator {
    pub config: AccumulatorConfig,
    pub deques: Vec<VecDeque<ProducerBatch>>,
    /// Partitions that have ever had a deque (Kafka creates deques lazily and adaptive
    /// partitioning waits until every partition has one).
    has_deque: Vec<bool>,
    deques_created: u32,
    nonempty: SortedPartitions,
    muted: Vec<bool>,
    pub sticky: StickyPartitioner,
    /// Kafka keeps the estimate as a float.
    ratio_estimate: f32,
    pub buffer_used_bytes: u64,
    /// Set while the application thread waits for buffer memory: every batch is then sendable.
    pub exhausted: bool,
    drain_index: Vec<usize>,
    /// Reused by `drain` for the (position, partition) pairs it visits.
    drain_scratch: Vec<(usize, u32)>,
    /// Records appended so far to each partition: the next record's id there.
    next_record_id: Vec<u64>,
    /// Producer id, epoch and sequences when `enable.idempotence` is on.
    pub idempotence: Option<Idempotence>,
}

/// What the drain does with one partition's head batch.
enum DrainStep {
    Took(ProducerBatch),
    Skip,
    /// Kafka breaks out of the node's loop (request full, or idempotence must wait).
    Stop,
}

/// As many records of this one's size as its batch holds: a batch that outgrows its inline
/// room for creation times makes room for them all at once.
fn expected_records(placement: &Placement) -> usize {
    (placement.write_limit_bytes / placement.record_bytes.max(1)).clamp(1, 4096) as usize
}

/// Whether the last batch of a deque is full, or the deque is empty (Kafka's `allBatchesFull`).
pub fn all_batches_full(last: Option<&BatchBuilder>) -> bool {
    last.is_none_or(BatchBuilder::is_full)
}

impl Accumulator {
    pub fn new(config: AccumulatorConfig, brokers: usize) -> Self {
        let partitions = config.partitions as usize;
        Accumulator {
            deques: (0..partitions).map(|_| VecDeque::new()).collect(),
            has_deque: vec![false; partitions],
            deques_created: 0,
            nonempty: SortedPartitions::default(),
            muted: vec![false; partitions],
            sticky: StickyPartitioner::new(config.batch_size_bytes),
            ratio_estimate: 1.0,
            buffer_used_bytes: 0,
            exhausted: false,
            drain_index: vec![0; brokers],
            drain_scratch: Vec::new(),
            next_record_id: vec![0; partitions],
            idempotence: None,
            config,
        }
    }

    /// The topic gained partitions (seen in metadata): they get empty per-partition state.
    pub fn grow_partitions(&mut self, partitions: u32) {
        if partitions <= self.config.partitions {
            return;
        }
        let count = partitions as usize;
        self.deques.resize_with(count, VecDeque::new);
        self.has_deque.resize(count, false);
        self.muted.resize(count, false);
        self.next_record_id.resize(count, 0);
        if let Some(idempotence) = &mut self.idempotence {
            idempotence.grow_partitions(count);
        }
        self.config.partitions = partitions;
    }

    pub fn last_builder(&self, partition: u32) -> Option<&BatchBuilder> {
        self.deques[partition as usize]
            .back()
            .map(|batch| &batch.builder)
    }

    pub fn deque_len(&self, partition: u32) -> usize {
        self.deques[partition as usize].len()
    }

    fn key_bytes(&self, record: &PendingRecord) -> Option<u32> {
        record.key.map(|_| self.config.key_bytes)
    }

    /// Where a record would land given the partition's last batch and deque length.
    pub fn place(
        &self,
        last: Option<&BatchBuilder>,
        deque_len: usize,
        record: &PendingRecord,
    ) -> Placement {
        let timestamp_ms = record.created_ns / NS_PER_MS;
        let key_bytes = self.key_bytes(record);
        let full_before = deque_len > 1 || last.is_some_and(BatchBuilder::is_full);
        if let Some(builder) = last {
            let size = builder.next_record_bytes(timestamp_ms, key_bytes, record.value_bytes);
            if builder.has_room_for(size) {
                let mut after = *builder;
                let before_bytes = after.estimated_bytes();
                after.append(size);
                return Placement {
                    new_batch: false,
                    appended_bytes: after.estimated_bytes() - before_bytes,
                    builder_after: after,
                    full_after: deque_len > 1 || after.is_full(),
                    full_before,
                    record_bytes: size,
                    write_limit_bytes: after.write_limit_bytes,
                };
            }
        }
        // Kafka sizes a new buffer for the worst-case framing of the record.
        let upper_bound = batch_size_upper_bound(key_bytes, record.value_bytes);
        let write_limit_bytes = u64::from(self.config.batch_size_bytes).max(upper_bound);
        let ratio = if self.config.compressed {
            f64::from(self.ratio_estimate)
        } else {
            1.0
        };
        let mut builder = BatchBuilder::new(
            write_limit_bytes,
            ratio,
            self.config.compressed,
            timestamp_ms,
        );
        let size = builder.next_record_bytes(timestamp_ms, key_bytes, record.value_bytes);
        builder.append(size);
        let queued_after = deque_len + 1;
        Placement {
            new_batch: true,
            appended_bytes: builder.estimated_bytes(),
            builder_after: builder,
            full_after: queued_after > 1 || builder.is_full(),
            full_before,
            record_bytes: size,
            write_limit_bytes,
        }
    }

    /// Appends a record to `partition` at `now_ns`.
    pub fn append(&mut self, partition: u32, record: &PendingRecord, now_ns: u64) -> AppendOutcome {
        let index = partition as usize;
        let placement = self.place(
            self.last_builder(partition),
            self.deque_len(partition),
            record,
        );
        if !placement.new_batch {
            let batch = self.deques[index]
                .back_mut()
                .expect("placement used the last batch");
            batch.builder = placement.builder_after;
            let times = &mut batch.record_created_ns;
            if times.len() == times.capacity() {
                // Out of room (inline, at first): room for the rest of what the batch holds.
                let wanted = expected_records(&placement).max(times.len() * 2);
                times.reserve_exact(wanted - times.len());
            }
            times.push(record.created_ns);
            batch.record_origins.extend(record.origin);
            self.next_record_id[index] += 1;
            return AppendOutcome::Appended(placement);
        }
        let buffer_bytes = placement.write_limit_bytes;
        if self.buffer_used_bytes + buffer_bytes > self.config.buffer_memory_bytes {
            self.exhausted = true;
            return AppendOutcome::BufferExhausted;
        }
        self.exhausted = false;
        self.buffer_used_bytes += buffer_bytes;
        if let Some(last) = self.deques[index].back_mut() {
            // The record did not fit: Kafka closes the batch for appends.
            last.builder.closed = true;
        }
        if !self.has_deque[index] {
            self.has_deque[index] = true;
            self.deques_created += 1;
        }
        let mut record_created_ns = RecordTimes::new();
        record_created_ns.push(record.created_ns);
        let batch = ProducerBatch {
            tp: TopicPartition {
                topic: self.config.topic,
                partition,
            },
            builder: placement.builder_after,
            created_ns: now_ns,
            last_attempt_ns: now_ns,
            attempts: 0,
            backoff_ns: 0,
            record_created_ns,
            record_origins: record.origin.into_iter().collect(),
            first_record_id: self.next_record_id[index],
            base_sequence: None,
            buffer_bytes,
            wire_bytes: 0,
            drained_ns: None,
        };
        self.next_record_id[index] += 1;
        let deque = &mut self.deques[index];
        if deque.capacity() == 0 {
            // A deque usually holds one batch at a time (a full batch or linger.ms drains it),
            // and a producer with null keys touches thousands of partitions: room for one
            // batch, not the four a first push reserves, keeps bench-wide's 200 producers x
            // 10,000 partitions from holding about 0.5 GiB of empty slots.
            deque.reserve_exact(1);
        }
        deque.push_back(batch);
        self.nonempty.insert(partition);
        AppendOutcome::Appended(placement)
    }

    /// Returns a completed batch's buffer to the pool.
    pub fn deallocate(&mut self, batch: &ProducerBatch) {
        assert!(
            self.buffer_used_bytes >= batch.buffer_bytes,
            "buffer pool underflow"
        );
        self.buffer_used_bytes -= batch.buffer_bytes;
    }

    /// Whether adaptive partitioning has statistics to work with: every partition has a deque.
    fn adaptive_ready(&self) -> bool {
        self.config.adaptive_partitioning && self.deques_created >= self.config.partitions
    }

    fn backing_off(batch: &ProducerBatch, now_ns: u64) -> bool {
        batch.attempts > 0 && now_ns - batch.last_attempt_ns < batch.backoff_ns
    }

    /// Kafka's `ready`: the leaders with a sendable partition, and when the next one may become
    /// sendable. Also refreshes the adaptive partitioner's load statistics, as Kafka does here.
    pub fn ready(
        &mut self,
        now_ns: u64,
        leader_of: impl Fn(u32) -> Option<BrokerId>,
    ) -> (Vec<BrokerId>, u64) {
        // Few leaders are ready at once: a short vector, sorted at the end, not a tree.
        let mut ready = Vec::new();
        let mut next_check_ns = u64::MAX;
        let collect_stats = self.adaptive_ready();
        let mut queue_sizes = Vec::new();
        let mut partition_ids = Vec::new();
        if collect_stats {
            for partition in 0..self.config.partitions {
                if leader_of(partition).is_some() {
                    queue_sizes.push(self.deque_len(partition) as u32);
                    partition_ids.push(partition);
                }
            }
        }
        for &partition in self.nonempty.iter() {
            let Some(leader) = leader_of(partition) else {
                continue;
            };
            if ready.contains(&leader) || self.muted[partition as usize] {
                continue;
            }
            let deque = &self.deques[partition as usize];
            let head = deque.front().expect("non-empty deque");
            let backing_off = Self::backing_off(head, now_ns);
            let full = deque.len() > 1 || head.builder.is_full();
            let wait_ns = if backing_off {
                head.backoff_ns
            } else {
                self.config.linger_ns
            };
            let waited_ns = now_ns.saturating_sub(head.last_attempt_ns);
            let expired = waited_ns >= wait_ns;
            let sendable = full || expired || self.exhausted;
            if sendable && !backing_off {
                ready.push(leader);
            } else {
                next_check_ns = next_check_ns.min(head.last_attempt_ns + wait_ns);
            }
        }
        if collect_stats {
            self.sticky.update_load_stats(
                &queue_sizes,
                &partition_ids,
                self.config.partitions as usize,
            );
        } else {
            self.sticky.load_stats = None;
        }
        // The sender sends in broker order.
        ready.sort_unstable();
        (ready, next_check_ns)
    }

    /// Kafka's `drainBatchesForOneNode`: at most one batch per partition led by `node`, starting
    /// at the node's rotating drain index, up to `max_request_size` bytes (one oversized batch
    /// still goes alone). `node_partitions` is sorted.
    ///
    /// Kafka walks every partition the node leads; only a partition with a queued batch can do
    /// anything but skip, so the walk visits just those, in the same rotating order. The index
    /// Kafka leaves behind is where it stopped, or after a full circle the position before the
    /// start, and that is what is stored here too.
    pub fn drain(
        &mut self,
        node: BrokerId,
        node_partitions: &[u32],
        max_request_bytes: u64,
        now_ns: u64,
    ) -> Vec<ProducerBatch> {
        let mut drained = Vec::new();
        let count = node_partitions.len();
        if count == 0 {
            return drained;
        }
        let node_index = node.0 as usize;
        let start = self.drain_index[node_index] % count;
        let mut visits = std::mem::take(&mut self.drain_scratch);
        visits.clear();
        let deques = &self.deques;
        drain_visits(
            node_partitions,
            start,
            &self.nonempty,
            |partition| !deques[partition as usize].is_empty(),
            &mut visits,
        );
        // A full circle leaves the index on the position before the start.
        self.drain_index[node_index] = (start + count - 1) % count;
        drained.reserve_exact(visits.len());
        let mut size_bytes = 0;
        for &(position, partition) in &visits {
            match self.drain_one(
                partition,
                size_bytes,
                max_request_bytes,
                !drained.is_empty(),
                now_ns,
            ) {
                DrainStep::Took(batch) => {
                    size_bytes += batch.wire_bytes;
                    drained.push(batch);
                }
                DrainStep::Skip => {}
                DrainStep::Stop => {
                    self.drain_index[node_index] = position;
                    break;
                }
            }
        }
        self.drain_scratch = visits;
        drained
    }

    fn drain_one(
        &mut self,
        partition: u32,
        size_bytes: u64,
        max_bytes: u64,
        have_some: bool,
        now_ns: u64,
    ) -> DrainStep {
        if self.muted[partition as usize] {
            return DrainStep::Skip;
        }
        let Some(head) = self.deques[partition as usize].front() else {
            return DrainStep::Skip;
        };
        if Self::backing_off(head, now_ns) {
            return DrainStep::Skip;
        }
        if have_some && size_bytes + head.estimated_size_bytes() > max_bytes {
            return DrainStep::Stop;
        }
        if let Some(idempotence) = &self.idempotence {
            if idempotence.should_stop_drain(partition, head.base_sequence) {
                return DrainStep::Stop;
            }
        }
        let deque = &mut self.deques[partition as usize];
        let mut batch = deque.pop_front().expect("head exists");
        if deque.is_empty() {
            self.nonempty.remove(partition);
        }
        if batch.drained_ns.is_none() {
            self.close_batch(&mut batch);
        }
        if let Some(idempotence) = &mut self.idempotence {
            match batch.base_sequence {
                None => {
                    batch.base_sequence = Some(idempotence.assign(partition, batch.record_count()))
                }
                Some(sequence) => idempotence.resent(partition, sequence),
            }
        }
        batch.drained_ns = Some(
            batch
                .drained_ns
                .map_or(now_ns, |earlier| earlier.max(now_ns)),
        );
        if self.config.guarantee_order {
            self.muted[partition as usize] = true;
        }
        DrainStep::Took(batch)
    }

    /// Closes a batch at its first drain and learns the compression ratio from it.
    fn close_batch(&mut self, batch: &mut ProducerBatch) {
        batch.close(self.config.compression_ratio);
        if self.config.compressed {
            let observed = self.config.compression_ratio as f32;
            let current = self.ratio_estimate;
            if observed > current {
                self.ratio_estimate = (current + RATIO_DETERIORATE_STEP).max(observed);
            } else if observed < current {
                self.ratio_estimate = (current - RATIO_IMPROVING_STEP).max(observed);
            }
        }
    }

    pub fn unmute(&mut self, partition: u32) {
        self.muted[partition as usize] = false;
    }

    /// Puts a batch back at the front of its deque for a retry (Kafka's `reenqueue`); with
    /// idempotence, in sequence order among the retried batches (`insertInSequenceOrder`).
    pub fn reenqueue(&mut self, mut batch: ProducerBatch, now_ns: u64, backoff_ns: u64) {
        batch.attempts += 1;
        batch.last_attempt_ns = now_ns;
        batch.backoff_ns = backoff_ns;
        self.put_back(batch);
    }

    /// Puts a batch that never went out back in its partition's queue, in sequence order.
    pub fn put_back(&mut self, batch: ProducerBatch) {
        let partition = batch.tp.partition;
        let deque = &mut self.deques[partition as usize];
        let position = match batch.base_sequence {
            Some(sequence) => deque
                .iter()
                .take_while(|queued| {
                    queued
                        .base_sequence
                        .is_some_and(|queued_seq| queued_seq < sequence)
                })
                .count(),
            None => 0,
        };
        deque.insert(position, batch);
        self.nonempty.insert(partition);
    }

    /// After an epoch bump, queued batches get new sequences at their next drain.
    pub fn forget_sequences(&mut self) {
        for deque in &mut self.deques {
            for batch in deque.iter_mut() {
                batch.base_sequence = None;
            }
        }
    }

    /// Removes every queued batch (the producer process died).
    pub fn take_all(&mut self) -> Vec<ProducerBatch> {
        self.nonempty.clear();
        self.muted.iter_mut().for_each(|muted| *muted = false);
        self.exhausted = false;
        self.deques
            .iter_mut()
            .flat_map(|deque| deque.drain(..))
            .collect()
    }

    /// Removes queued batches that reached `delivery.timeout.ms` (from the head of each deque, as
    /// Kafka does), and returns them; also the earliest expiry still ahead.
    pub fn expire(&mut self, now_ns: u64, delivery_timeout_ns: u64) -> (Vec<ProducerBatch>, u64) {
        let mut expired = Vec::new();
        let mut next_expiry_ns = u64::MAX;
        let mut index = 0;
        while let Some(&partition) = self.nonempty.0.get(index) {
            let deque = &mut self.deques[partition as usize];
            while let Some(head) = deque.front() {
                let expiry_ns = head.created_ns.saturating_add(delivery_timeout_ns);
                if expiry_ns <= now_ns {
                    let mut batch = deque.pop_front().expect("head exists");
                    batch.builder.closed = true;
                    expired.push(batch);
                } else {
                    next_expiry_ns = next_expiry_ns.min(expiry_ns);
                    break;
                }
            }
            if deque.is_empty() {
                self.nonempty.0.remove(index);
            } else {
                index += 1;
            }
        }
        (expired, next_expiry_ns)
    }

    pub fn has_queued(&self) -> bool {
        !self.nonempty.is_empty()
    }
}

/// The node's partitions from position `start` on, in a circle, that have a batch, as
/// (position, partition) into `visits`. `node_partitions` and `nonempty` (the partitions with a
/// batch, which `has_batch` tells apart) are sorted. With few partitions queued (null keys)
/// this walks those and finds each in the node's list; with most of them queued (keyed records)
/// it walks the node's list: the same visits in the same order.
fn drain_visits(
    node_partitions: &[u32],
    start: usize,
    nonempty: &SortedPartitions,
    has_batch: impl Fn(u32) -> bool,
    visits: &mut Vec<(usize, u32)>,
) {
    let count = node_partitions.len();
    if nonempty.len() > count {
        visits.extend((start..count).chain(0..start).filter_map(|position| {
            let partition = node_partitions[position];
            has_batch(partition).then_some((position, partition))
        }));
    } else {
        let (before, from_start) = nonempty.split_at(node_partitions[start]);
        visits.extend(from_start.iter().chain(before).filter_map(|partition| {
            let position = node_partitions.binary_search(partition).ok()?;
            Some((position, *partition))
        }));
    }
}

/// The partitions with a queued batch, in increasing order: a sorted vector, as a producer has
/// few at a time and walks them at every wake-up.
#[derive(Debug, Clone, Default)]
struct SortedPartitions(Vec<u32>);

impl SortedPartitions {
    fn insert(&mut self, partition: u32) {
        if let Err(position) = self.0.binary_search(&partition) {
            self.0.insert(position, partition);
        }
    }

    fn remove(&mut self, partition: u32) {
        if let Ok(position) = self.0.binary_search(&partition) {
            self.0.remove(position);
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, u32> {
        self.0.iter()
    }

    /// (those below `partition`, those from it on).
    fn split_at(&self, partition: u32) -> (&[u32], &[u32]) {
        self.0.split_at(self.0.partition_point(|&p| p < partition))
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{drain_visits, SortedPartitions};
    use proptest::prelude::*;

    proptest! {
        /// Both walks visit the same partitions in the same order: a node's partitions (a
        /// sorted subset of 0..64) with batches on a random subset of all partitions.
        #[test]
        fn drain_walks_agree(
            node_mask in any::<u64>(),
            queued_mask in any::<u64>(),
            start_seed in any::<usize>(),
        ) {
            let node_partitions: Vec<u32> = (0..64).filter(|p| node_mask >> p & 1 == 1).collect();
            prop_assume!(!node_partitions.is_empty());
            let start = start_seed % node_partitions.len();
            let has_batch = |partition: u32| queued_mask >> partition & 1 == 1;
            let mut nonempty = SortedPartitions::default();
            for partition in (0..64).filter(|&p| has_batch(p)) {
                nonempty.insert(partition);
            }
            let mut visits = Vec::new();
            drain_visits(&node_partitions, start, &nonempty, has_batch, &mut visits);
            // The plain definition: the node's positions from `start` round, those with a batch.
            let expected: Vec<(usize, u32)> = (start..node_partitions.len())
                .chain(0..start)
                .map(|position| (position, node_partitions[position]))
                .filter(|&(_, partition)| has_batch(partition))
                .collect();
            prop_assert_eq!(visits, expected);
        }
    }

    #[test]
    fn creation_times_outgrow_their_inline_room_in_one_step() {
        use super::{Accumulator, AccumulatorConfig, AppendOutcome};
        use crate::ids::TopicId;
        use crate::producer::workload::PendingRecord;
        let config = AccumulatorConfig {
            topic: TopicId(0),
            partitions: 1,
            batch_size_bytes: 16_384,
            linger_ns: 5_000_000,
            buffer_memory_bytes: 32 << 20,
            compressed: false,
            compression_ratio: 1.0,
            key_bytes: 0,
            adaptive_partitioning: false,
            guarantee_order: false,
        };
        let mut accumulator = Accumulator::new(config, 1);
        let mut capacities = Vec::new();
        for index in 0..12 {
            let record = PendingRecord {
                created_ns: 1_000 + index,
                append_ns: 1_000 + index,
                value_bytes: 1_000,
                key: None,
                key_hash: 0,
                origin: None,
            };
            let outcome = accumulator.append(0, &record, 1_000 + index);
            assert!(matches!(outcome, AppendOutcome::Appended(_)));
            let batch = accumulator.deques[0].back().expect("a batch");
            capacities.push(batch.record_created_ns.capacity());
        }
        // One batch of 1,000-byte values (about 1,008 bytes as records): four inline, then room
        // for the 16 that a 16,384-byte batch holds (16,384 / 1,008 = 16.3), in one step.
        assert_eq!(accumulator.deques[0].len(), 1);
        let times: Vec<u64> = accumulator.deques[0][0].record_created_ns.to_vec();
        assert_eq!(times, (1_000..1_012).collect::<Vec<u64>>());
        assert_eq!(capacities[..4], [4, 4, 4, 4]);
        assert!(capacities[4..]
            .iter()
            .all(|&capacity| capacity == capacities[4]));
        assert_eq!(capacities[4], 16, "{capacities:?}");
    }

    #[test]
    fn sorted_partitions_stay_sorted_and_split_for_the_rotating_drain() {
        let mut set = SortedPartitions::default();
        for partition in [7, 2, 9, 2, 4] {
            set.insert(partition);
        }
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), vec![2, 4, 7, 9]);
        set.remove(4);
        set.remove(5);
        assert_eq!(set.split_at(7), (&[2][..], &[7, 9][..]));
        assert_eq!(set.split_at(8), (&[2, 7][..], &[9][..]));
        assert_eq!(set.split_at(10), (&[2, 7, 9][..], &[][..]));
        set.clear();
        assert!(set.is_empty());
    }
}
