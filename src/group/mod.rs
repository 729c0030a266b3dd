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

/// The coordinator broker of a group.
///
/// Model limit: `__consumer_offsets` partition p is led by broker `p % brokers` and never moves;
/// FindCoordinator is not modelled (consumers know their coordinator from the start).
pub fn coordinator_broker(group_id: &str, brokers: usize) -> BrokerId {
    BrokerId(offsets_partition(group_id) % brokers.max(1) as u32)
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
