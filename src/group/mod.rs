//! Group coordinators: one per consumer group, on the broker that leads the group's
//! `__consumer_offsets` partition: the classic protocol (`classic`) and KIP-848's consumer
//! protocol (`consumer_protocol`).

pub mod classic;
pub mod consumer_protocol;

pub use classic::ClassicGroup;
pub use consumer_protocol::ConsumerGroup;

use crate::ids::BrokerId;

/// `offsets.topic.num.partitions` (50).
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 50;

/// Java's `String.hashCode` (over UTF-16 code units, wrapping), which Kafka uses to place groups.
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `partitionFor(groupId)`: `abs(hashCode) % 50`, with `Utils.abs` mapping MIN to 0.
pub fn offsets_partition(group_id: &str) -> u32 {
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    (positive % OFFSETS_TOPIC_PARTITIONS) as u32
}

/// `offsets.topic.replication.factor` (3), capped by the cluster size.
pub const OFFSETS_TOPIC_REPLICATION_FACTOR: u32 = 3;

/// The replicas of the group's `__consumer_offsets` partition, the preferred leader first.
///
/// Model limit: placed by Kafka's rack-unaware assignment with start index 0 (Kafka draws it at
/// random), the same rule as the scenario's topics: partition p's first replica is
/// `p % brokers`, the others shifted by `p / brokers`.
pub fn offsets_replicas(group_id: &str, brokers: usize) -> Vec<BrokerId> {
    let brokers = brokers.max(1) as u32;
    let partition = offsets_partition(group_id);
    let first = partition % brokers;
    let shift = partition / brokers;
    let followers = OFFSETS_TOPIC_REPLICATION_FACTOR.min(brokers) - 1;
    std::iter::once(first)
        .chain((0..followers).map(|j| (first + 1 + (shift + j) % (brokers - 1).max(1)) % brokers))
        .map(BrokerId)
        .collect()
}

/// The coordinator broker of a group at the start: the preferred leader of its offsets partition.
pub fn coordinator_broker(group_id: &str, brokers: usize) -> BrokerId {
    offsets_replicas(group_id, brokers)[0]
}

/// Stores a group's accepted offset commits, traced; committed offsets never go back (an
/// invariant of every run, for both protocols).
fn store_commits(
    ctx: &mut crate::world::Ctx,
    group: usize,
    group_id: &str,
    committed: &mut std::collections::BTreeMap<crate::ids::TopicPartition, u64>,
    accepted: &[(crate::ids::TopicPartition, u64)],
) {
    for &(tp, offset) in accepted {
        let at_ns = ctx.now_ns;
        ctx.metrics
            .trace(|| crate::metrics::TraceEntry::OffsetCommitted {
                at_ns,
                group,
                partition: tp.partition,
                offset,
            });
        let previous = committed.insert(tp, offset).unwrap_or(0);
        assert!(
            offset >= previous,
            "group {group_id}: committed offset of {tp:?} went back from {previous} to {offset}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // Java defines hashCode as s[0]*31^(n-1) + ... + s[n-1] in 32-bit arithmetic: an
        // independent 64-bit fold truncated to 32 bits must agree.
        let text = "billing";
        let mut wide: i64 = 0;
        for unit in text.encode_utf16() {
            wide = (wide * 31 + i64::from(unit)) & 0xffff_ffff;
        }
        assert_eq!(java_string_hash(text), wide as u32 as i32);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("ab"), 97 * 31 + 98);
        assert!(offsets_partition("billing") < 50);
    }
}
