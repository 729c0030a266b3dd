//! `cooperative-sticky` (client side, `consumer.CooperativeStickyAssignor`, KIP-429): the sticky
//! assignment, then every partition that would change owner is withheld from its new owner for
//! this round. Its old owner revokes it, and the follow-up rebalance hands it over, so no
//! partition is ever owned by two members at once.

use super::sticky::{self, Outcome, TopicPartition};
use super::types::{Assignment, MemberSubscription, RebalanceProtocol};
use std::collections::{BTreeMap, BTreeSet};

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let mut outcome = sticky::run(topics, members, RebalanceProtocol::Cooperative);
    let transferring = match outcome.transferring.take() {
        Some(transferring) => transferring,
        None => changing_owner(&outcome),
    };
    for (tp, member) in transferring {
        outcome.lists[member].retain(|given| *given != tp);
    }
    outcome.into_assignment()
}

/// Partitions given to a member that did not claim them, which a claimant does not keep:
/// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`. Raw claims count here,
/// including ones the arbitration rejected, because the claimant still holds the partition.
fn changing_owner(outcome: &Outcome) -> BTreeMap<TopicPartition, usize> {
    let mut added = BTreeMap::new();
    let mut revoked = BTreeSet::new();
    for (member, list) in outcome.lists.iter().enumerate() {
        let claimed = outcome.group.claims_of(member);
        for &tp in list {
            if !claimed.contains(&tp) {
                added.insert(tp, member);
            }
        }
        for tp in claimed {
            if !list.contains(&tp) {
                revoked.insert(tp);
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}
