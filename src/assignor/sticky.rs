//! Placeholder.
use super::types::{Assignment, MemberSubscription, RebalanceProtocol};
use std::collections::BTreeMap;

pub fn assign(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    _protocol: RebalanceProtocol,
) -> Assignment {
    super::range::assign(topics, members)
}
