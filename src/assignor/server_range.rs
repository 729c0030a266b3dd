//! `server-range` (KIP-848, `coordinator.group.assignor.RangeAssignor`): the server's range
//! assignor. Since KAFKA-16944 it ignores the current assignment and recomputes contiguous
//! ranges per topic with the same member order as the client one, so both give equal answers;
//! it has its own entry point because the group coordinator must not reach for a client type.

use super::types::{Assignment, MemberSubscription};
use std::collections::BTreeMap;

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    // The homogeneous and heterogeneous paths of Kafka's class both reduce to per-topic ranges
    // over the subscribers of that topic, which is exactly what the client assignor computes.
    super::range::assign(topics, members)
}
