//! Choosing a partition for a record, as Kafka 4.x's producer does: murmur2 of the key for keyed
//! records, the built-in "uniform sticky" partitioner of KIP-794 for null keys, or the
//! `RoundRobinPartitioner` class when configured.

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with Kafka's seed, as a signed int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`).
pub fn to_positive(value: i32) -> u32 {
    (value & 0x7fff_ffff) as u32
}

/// The partition of a keyed record: `toPositive(murmur2(key)) % numPartitions`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key)) % partitions
}

/// The bytes of key number `index`: its decimal digits, zero-padded to `width` bytes, so the key's
/// size on the wire is the scenario's `key_bytes` and its hash is Kafka's hash of those bytes.
pub fn key_text(index: u64, width: u32) -> String {
    format!("{index:0width$}", width = width as usize)
}

/// `partition_for_key(key_text(index, width))` without building the string.
pub fn partition_for_key_index(index: u64, width: u32, partitions: u32) -> u32 {
    key_index_hash(index, width) % partitions
}

/// `toPositive(murmur2(key_text(index, width)))`, the part of a keyed record's partition that
/// does not depend on the partition count: the workload computes it once per record (the sender's
/// look-ahead asks for a record's partition again at every wake-up).
pub fn key_index_hash(index: u64, width: u32) -> u32 {
    const STACK_BYTES: usize = 64;
    let digits = index.checked_ilog10().unwrap_or(0) as usize + 1;
    let length = (width as usize).max(digits);
    if length > STACK_BYTES {
        return to_positive(murmur2(key_text(index, width).as_bytes()));
    }
    let mut key = [b'0'; STACK_BYTES];
    let mut rest = index;
    for position in (length - digits..length).rev() {
        key[position] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    to_positive(murmur2(&key[..length]))
}

/// The built-in partitioner's state for one topic (Kafka's `StickyPartitionInfo` plus load stats).
#[derive(Debug, Clone, PartialEq)]
pub struct StickyPartitioner {
    /// The current sticky partition, chosen at the first null-key record.
    pub current: Option<u32>,
    /// Bytes appended to the current sticky partition (batch headers included, as Kafka counts).
    pub produced_bytes: u64,
    /// Switch after this many bytes (`batch.size`, at least 1).
    pub sticky_batch_bytes: u64,
    /// Cumulative frequency table from the last ready check (adaptive partitioning), if any.
    pub load_stats: Option<LoadStats>,
}

/// Kafka's `PartitionLoadStats`: a cumulative frequency table over partitions with a leader.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStats {
    pub cumulative: Vec<u32>,
    pub partition_ids: Vec<u32>,
}

impl StickyPartitioner {
    pub fn new(batch_size_bytes: u32) -> Self {
        StickyPartitioner {
            current: None,
            produced_bytes: 0,
            sticky_batch_bytes: u64::from(batch_size_bytes.max(1)),
            load_stats: None,
        }
    }

    /// Kafka's `nextPartition`: uniform over available partitions, or weighted by inverse queue
    /// length when load stats exist. `random` is a non-negative 31-bit draw.
    pub fn next_partition(&self, random: u32, available: &[u32], partitions: u32) -> u32 {
        match &self.load_stats {
            Some(stats) => {
                let total = *stats.cumulative.last().unwrap_or(&1);
                let weighted = random % total.max(1);
                // The first entry strictly greater than the draw.
                let index = stats.cumulative.partition_point(|&edge| edge <= weighted);
                stats.partition_ids[index.min(stats.partition_ids.len() - 1)]
            }
            None if !available.is_empty() => available[(random as usize) % available.len()],
            None => random % partitions,
        }
    }

    /// Kafka's `updatePartitionInfo`: count appended bytes and say whether to switch now.
    pub fn record_appended(&mut self, appended_bytes: u64, enable_switch: bool) -> bool {
        self.produced_bytes += appended_bytes;
        (self.produced_bytes >= self.sticky_batch_bytes && enable_switch)
            || self.produced_bytes >= self.sticky_batch_bytes * 2
    }

    pub fn switch_to(&mut self, partition: u32) {
        self.current = Some(partition);
        self.produced_bytes = 0;
    }

    /// Kafka's `updatePartitionLoadStats` from queue sizes (partitions with a leader, in order).
    pub fn update_load_stats(
        &mut self,
        queue_sizes: &[u32],
        partition_ids: &[u32],
        all_partitions: usize,
    ) {
        if queue_sizes.is_empty() || all_partitions < 2 {
            self.load_stats = None;
            return;
        }
        let max_plus_one = queue_sizes.iter().copied().max().unwrap_or(0) + 1;
        let all_equal = queue_sizes.iter().all(|&size| size == queue_sizes[0]);
        if all_equal && queue_sizes.len() == all_partitions {
            self.load_stats = None;
            return;
        }
        let mut running = 0;
        let cumulative = queue_sizes
            .iter()
            .map(|&size| {
                running += max_plus_one - size;
                running
            })
            .collect();
        self.load_stats = Some(LoadStats {
            cumulative,
            partition_ids: partition_ids.to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // UtilsTest.testMurmur2 in apache/kafka.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn keys_map_to_partitions_as_in_kafka() {
        let keys: [&[u8]; 5] = [
            b"21",
            b"foobar",
            b"a-little-bit-long-string",
            b"a-little-bit-longer-string",
            b"abc",
        ];
        let partitions: Vec<u32> = keys.iter().map(|key| partition_for_key(key, 6)).collect();
        assert_eq!(partitions, [0, 0, 2, 5, 3]);
    }

    #[test]
    fn key_index_partition_matches_the_formatted_key() {
        for width in [0, 1, 3, 6, 20, 64, 65, 100] {
            for index in [0, 1, 9, 10, 99, 12_345, 999_999, 1_000_000, u64::MAX] {
                let text = key_text(index, width);
                assert_eq!(
                    partition_for_key_index(index, width, 64),
                    partition_for_key(text.as_bytes(), 64),
                    "key {text:?}"
                );
            }
        }
    }

    #[test]
    fn to_positive_clears_the_sign_bit() {
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
    }

    #[test]
    fn switch_after_batch_size_or_twice_it_when_deferred() {
        let mut sticky = StickyPartitioner::new(100);
        assert!(!sticky.record_appended(99, true));
        assert!(sticky.record_appended(1, true));
        let mut deferred = StickyPartitioner::new(100);
        assert!(!deferred.record_appended(150, false));
        assert!(deferred.record_appended(50, false));
    }

    #[test]
    fn load_stats_weight_short_queues() {
        // Kafka's example: queue sizes 0 3 1 give the table 4 5 8.
        let mut sticky = StickyPartitioner::new(100);
        sticky.update_load_stats(&[0, 3, 1], &[0, 1, 2], 3);
        let stats = sticky
            .load_stats
            .clone()
            .expect("unequal queues give stats");
        assert_eq!(stats.cumulative, [4, 5, 8]);
        let chosen: Vec<u32> = (0..8).map(|r| sticky.next_partition(r, &[], 3)).collect();
        assert_eq!(chosen, [0, 0, 0, 0, 1, 2, 2, 2]);
        sticky.update_load_stats(&[2, 2, 2], &[0, 1, 2], 3);
        assert_eq!(sticky.load_stats, None);
    }
}
