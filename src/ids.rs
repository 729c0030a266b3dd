//! Typed identifiers. Components address each other only through these (style.md habit 12).

use serde::Serialize;

/// A broker, by its index (Kafka's `broker.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BrokerId(pub u32);

/// A producer process (one instance of a scenario producer), numbered across all specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProducerId(pub u32);

/// A consumer process (one member slot of a group), numbered across all groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConsumerId(pub u32);

/// A topic, by its index in the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TopicId(pub u32);

/// One partition of one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TopicPartition {
    pub topic: TopicId,
    pub partition: u32,
}

#[cfg(test)]
impl TopicPartition {
    /// Partition `partition` of the first topic, for unit tests.
    pub fn first_topic(partition: u32) -> Self {
        TopicPartition {
            topic: TopicId(0),
            partition,
        }
    }
}

/// Anything with a network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NodeId {
    Broker(BrokerId),
    Producer(ProducerId),
    Consumer(ConsumerId),
    /// The KRaft controller quorum, modelled as one node that never fails.
    Controller,
}
