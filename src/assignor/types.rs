//! The shared vocabulary of every assignor: who the members are, what they subscribe to and own,
//! which assignor is asked for, and the shape of the answer. No assignment logic lives here.

use crate::error::{did_you_mean, UserError};
use std::collections::BTreeMap;

/// Partitions per topic, ascending and without repeats.
pub type TopicPartitions = BTreeMap<String, Vec<u32>>;

/// Member id to the partitions it is given. Every member of the input appears, even with nothing.
pub type Assignment = BTreeMap<String, TopicPartitions>;

/// Kafka's generation of a member that has never joined (`DEFAULT_GENERATION`).
pub const NO_GENERATION: i32 = -1;

/// One member as the assignor sees it in a rebalance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    pub member_id: String,
    /// `group.instance.id`: static members sort before dynamic ones.
    pub group_instance_id: Option<String>,
    /// Subscribed topics, in the member's own order (Kafka keeps it in the subscription).
    pub topics: Vec<String>,
    /// What the member owned (client side) or was last targeted with (server side).
    pub owned: TopicPartitions,
    /// The generation the ownership was earned in; `None` for a member that never joined.
    pub generation: Option<i32>,
    /// `client.rack`. Model limit: partitions carry no replica racks in the input, so, as in
    /// Kafka when no partition has a rack, it never changes an assignment.
    pub rack: Option<String>,
}

impl MemberSubscription {
    /// The generation Kafka compares in ownership claims: a missing one counts as -1.
    pub fn claim_generation(&self) -> i32 {
        self.generation.unwrap_or(NO_GENERATION)
    }

    pub fn subscribes_to(&self, topic: &str) -> bool {
        self.topics.iter().any(|subscribed| subscribed == topic)
    }
}

/// How a group moves partitions between members during a classic rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Everyone revokes everything before the assignment.
    Eager,
    /// Only partitions that change owner are revoked, in a follow-up round (KIP-429).
    Cooperative,
}

/// The assignors Kafka ships, under the names `partition.assignment.strategy` and
/// `group.consumer.assignors` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssignorName {
    Range,
    RoundRobin,
    Sticky,
    CooperativeSticky,
    Uniform,
    ServerRange,
}

impl AssignorName {
    pub const ALL: [AssignorName; 6] = [
        AssignorName::Range,
        AssignorName::RoundRobin,
        AssignorName::Sticky,
        AssignorName::CooperativeSticky,
        AssignorName::Uniform,
        AssignorName::ServerRange,
    ];

    /// The short name, as in the `kafkasim assign` input.
    pub fn name(self) -> &'static str {
        match self {
            AssignorName::Range => "range",
            AssignorName::RoundRobin => "roundrobin",
            AssignorName::Sticky => "sticky",
            AssignorName::CooperativeSticky => "cooperative-sticky",
            AssignorName::Uniform => "uniform",
            AssignorName::ServerRange => "server-range",
        }
    }

    /// Kafka's fully qualified class name, which configs may use instead of the short name.
    pub fn class_name(self) -> &'static str {
        match self {
            AssignorName::Range => "org.apache.kafka.clients.consumer.RangeAssignor",
            AssignorName::RoundRobin => "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            AssignorName::Sticky => "org.apache.kafka.clients.consumer.StickyAssignor",
            AssignorName::CooperativeSticky => {
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            }
            AssignorName::Uniform => "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
            AssignorName::ServerRange => {
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor"
            }
        }
    }

    /// Accepts the short names and the class names; suggests the closest short name otherwise.
    pub fn parse(text: &str) -> Result<AssignorName, UserError> {
        let trimmed = text.trim();
        for assignor in AssignorName::ALL {
            if trimmed == assignor.name() || trimmed == assignor.class_name() {
                return Ok(assignor);
            }
        }
        let names: Vec<&str> = AssignorName::ALL.iter().map(|a| a.name()).collect();
        let mut allowed = format!("one of {}", names.join(", "));
        allowed.push_str(" (or Kafka's class name)");
        if let Some(suggestion) = did_you_mean(trimmed, names.iter().copied()) {
            allowed.push_str(&format!("; did you mean \"{suggestion}\"?"));
        }
        Err(UserError::field(
            "assignor",
            format!("\"{text}\""),
            &allowed,
        ))
    }

    /// The classic rebalance protocols the assignor supports, most preferred first, as in
    /// `ConsumerPartitionAssignor.supportedProtocols`. Server-side assignors run under KIP-848,
    /// where neither applies, so they return an empty list.
    pub fn supported_protocols(self) -> &'static [RebalanceProtocol] {
        match self {
            AssignorName::Range | AssignorName::RoundRobin | AssignorName::Sticky => {
                &[RebalanceProtocol::Eager]
            }
            AssignorName::CooperativeSticky => {
                &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
            }
            AssignorName::Uniform | AssignorName::ServerRange => &[],
        }
    }

    /// Whether a classic group may use this assignor with the given protocol.
    pub fn supports(self, protocol: RebalanceProtocol) -> bool {
        self.supported_protocols().contains(&protocol)
    }

    /// Whether the assignor runs in the group coordinator (KIP-848) rather than in a consumer.
    pub fn is_server_side(self) -> bool {
        matches!(self, AssignorName::Uniform | AssignorName::ServerRange)
    }
}

impl std::fmt::Display for AssignorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's member order (`AbstractPartitionAssignor.MemberInfo.compareTo`): static members first,
/// by instance id, then dynamic members by member id.
pub fn kafka_member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(a_instance), Some(b_instance)) => java_string_cmp(a_instance, b_instance),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => java_string_cmp(&a.member_id, &b.member_id),
    }
}

/// Java's `String.compareTo` compares UTF-16 code units; Rust's `str` order compares code points.
/// They differ only above the Basic Multilingual Plane, so compare the UTF-16 units to agree.
pub fn java_string_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// An empty assignment entry for every member, so members that get nothing still appear.
pub fn empty_assignment(members: &[MemberSubscription]) -> Assignment {
    members
        .iter()
        .map(|member| (member.member_id.clone(), TopicPartitions::new()))
        .collect()
}

/// Adds one partition to a member's entry, keeping each list ascending.
pub fn give(assignment: &mut Assignment, member_id: &str, topic: &str, partition: u32) {
    let partitions = assignment
        .entry(member_id.to_string())
        .or_default()
        .entry(topic.to_string())
        .or_default();
    match partitions.binary_search(&partition) {
        Ok(_) => {}
        Err(position) => partitions.insert(position, partition),
    }
}
