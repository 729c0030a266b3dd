//! `range` (client side, `consumer.RangeAssignor`): each topic is cut into contiguous ranges,
//! one per subscriber in Kafka's member order, the first `P % C` ranges one partition longer.
//! Topics are independent of each other, which is why co-partitioned topics line up.

use super::types::{empty_assignment, give, kafka_member_order, Assignment, MemberSubscription};
use std::collections::BTreeMap;

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let mut assignment = empty_assignment(members);
    for (topic, &partition_count) in topics {
        let mut subscribers: Vec<&MemberSubscription> = members
            .iter()
            .filter(|member| member.subscribes_to(topic))
            .collect();
        if subscribers.is_empty() || partition_count == 0 {
            continue;
        }
        subscribers.sort_by(|a, b| kafka_member_order(a, b));
        let subscriber_count = subscribers.len() as u32;
        let quota = partition_count / subscriber_count;
        let with_extra = partition_count % subscriber_count;
        let mut next = 0u32;
        for (index, member) in subscribers.iter().enumerate() {
            let length = quota + u32::from((index as u32) < with_extra);
            for partition in next..next + length {
                give(&mut assignment, &member.member_id, topic, partition);
            }
            next += length;
        }
        assert_eq!(
            next, partition_count,
            "range must hand out every partition of {topic}"
        );
    }
    assignment
}
