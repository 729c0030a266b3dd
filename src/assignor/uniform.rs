//! Placeholder.
use super::types::{Assignment, MemberSubscription};
use std::collections::BTreeMap;

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    super::range::assign(topics, members)
}
