//! `roundrobin` (client side, `consumer.RoundRobinAssignor`): all partitions of all subscribed
//! topics, topics by name and partitions ascending, dealt in turn around the circle of members
//! in Kafka's member order, skipping members not subscribed to the partition's topic. The cursor
//! is never reset between topics, which is what makes unequal subscriptions lopsided.

use super::types::{
    empty_assignment, give, java_string_cmp, kafka_member_order, Assignment, MemberSubscription,
};
use std::collections::BTreeMap;

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let mut assignment = empty_assignment(members);
    let mut circle: Vec<&MemberSubscription> = members.iter().collect();
    circle.sort_by(|a, b| kafka_member_order(a, b));
    let mut cursor = 0usize;
    let mut topic_order: Vec<(&String, u32)> = topics.iter().map(|(t, &n)| (t, n)).collect();
    topic_order.sort_by(|a, b| java_string_cmp(a.0, b.0));
    for (topic, partition_count) in topic_order {
        if !circle.iter().any(|member| member.subscribes_to(topic)) {
            continue;
        }
        for partition in 0..partition_count {
            while !circle[cursor].subscribes_to(topic) {
                cursor = (cursor + 1) % circle.len();
            }
            give(&mut assignment, &circle[cursor].member_id, topic, partition);
            cursor = (cursor + 1) % circle.len();
        }
    }
    assignment
}
