//! Partition assignors, as pure functions of (members, subscriptions, owned partitions, topic
//! metadata) to an assignment. Each must give exactly what Kafka's Java class gives on the same
//! input, which `conformance/` checks against Kafka's own code. The group coordinator of the
//! simulation calls [`assign`]; `kafkasim assign` calls [`assign_json`].

mod cooperative_sticky;
mod java_order;
mod json;
mod range;
mod roundrobin;
mod server_range;
mod sticky;
mod types;
mod uniform;

pub use json::{assign_json, parse_input, render_output, AssignInput};
pub use types::{
    kafka_member_order, Assignment, AssignorName, MemberSubscription, RebalanceProtocol,
    TopicPartitions, NO_GENERATION,
};
pub use uniform::{RankedMember, RankedTarget, TopicRanks};

use crate::error::UserError;
use std::collections::{BTreeMap, BTreeSet};

/// Largest partition count accepted per topic, so a typo cannot ask for gigabytes.
pub const PARTITIONS_PER_TOPIC_MAX: u32 = 100_000;
/// Largest partition count over all topics. The sticky assignors' balancing is quadratic in
/// it, as Kafka's is; far beyond any real group, it keeps one call within seconds.
pub const PARTITIONS_TOTAL_MAX: u64 = 100_000;
/// Largest group accepted.
pub const MEMBERS_MAX: usize = 5_000;

/// Runs one assignor. `topics` maps every existing topic to its partition count; members may own
/// partitions of topics they no longer subscribe to. Fails, without panicking, on inputs Kafka
/// could never see: duplicate members, subscriptions to missing topics, out-of-range ownership.
pub fn assign(
    assignor: AssignorName,
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> Result<Assignment, UserError> {
    validate(assignor, topics, members)?;
    let assignment = match assignor {
        AssignorName::Range => range::assign(topics, members),
        AssignorName::RoundRobin => roundrobin::assign(topics, members),
        AssignorName::ServerRange => server_range::assign(topics, members),
        AssignorName::Sticky => sticky::assign(topics, members),
        AssignorName::CooperativeSticky => cooperative_sticky::assign(topics, members),
        AssignorName::Uniform => uniform::assign(topics, members),
    };
    check_assignment(assignor, topics, members, &assignment);
    Ok(assignment)
}

/// The uniform assignor for the KIP-848 group coordinator, on topic ranks and member indices:
/// the answer per member, in the order given. The coordinator builds this input itself from
/// what it keeps, so the checks [`assign`] makes become assertions (a failure is a bug): the
/// limits hold, owned partitions exist and have one owner each, and the answer gives each
/// partition at most once, to a subscriber of its topic. Member ids are distinct: they are the
/// keys of the coordinator's member map.
pub fn assign_uniform_ranked(topics: &TopicRanks, members: &[RankedMember]) -> Vec<RankedTarget> {
    let total: u64 = (0..topics.len())
        .map(|rank| u64::from(topics.count(rank)))
        .sum();
    assert!(
        total <= PARTITIONS_TOTAL_MAX && members.len() <= MEMBERS_MAX,
        "uniform assignor: {total} partitions, {} members, beyond the limits",
        members.len()
    );
    let flags = || -> Vec<Vec<bool>> {
        (0..topics.len())
            .map(|rank| vec![false; topics.count(rank) as usize])
            .collect()
    };
    let mut owned = flags();
    for member in members {
        for (rank, partitions) in member.owned {
            for &partition in partitions {
                let flag = (owned.get_mut(*rank))
                    .and_then(|flags| flags.get_mut(partition as usize))
                    .unwrap_or_else(|| {
                        panic!(
                            "uniform assignor: owned {}-{partition} does not exist",
                            topics.name(*rank)
                        )
                    });
                assert!(
                    !std::mem::replace(flag, true),
                    "uniform assignor: {}-{partition} owned twice",
                    topics.name(*rank)
                );
            }
        }
    }
    let answer = uniform::assign_ranked(topics, members);
    assert_eq!(answer.len(), members.len(), "every member gets an entry");
    let mut given = flags();
    for (member, target) in members.iter().zip(&answer) {
        for (rank, partitions) in target {
            let topic = topics.name(*rank);
            assert!(
                member.topics.contains(rank),
                "{topic} given to a member that does not subscribe to it"
            );
            for &partition in partitions {
                let flag = (given[*rank].get_mut(partition as usize))
                    .unwrap_or_else(|| panic!("{topic}-{partition} does not exist"));
                assert!(
                    !std::mem::replace(flag, true),
                    "{topic}-{partition} given twice"
                );
            }
        }
    }
    answer
}

/// What every assignor promises, whatever its strategy: each member has an entry, and each
/// partition goes at most once, to a subscriber of its topic. A failure here is a bug.
///
/// One exception copies Kafka: the sticky assignors' general path hands a partition back to a
/// previous owner from an older generation without checking that it still subscribes to the
/// topic (`performReassignments` with `prevAssignment`). Kafka's consumer then finds the
/// assignment does not match its subscription and rejoins; we return what Kafka returns.
fn check_assignment(
    assignor: AssignorName,
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    assignment: &Assignment,
) {
    let sticky = matches!(
        assignor,
        AssignorName::Sticky | AssignorName::CooperativeSticky
    );
    assert_eq!(
        assignment.len(),
        members.len(),
        "every member gets an entry"
    );
    // Per topic, which partitions were given: one flag per partition, so a large group's check
    // costs one topic lookup per member and topic, not a string comparison per partition.
    let mut given: BTreeMap<&str, Vec<bool>> = topics
        .iter()
        .map(|(topic, &count)| (topic.as_str(), vec![false; count as usize]))
        .collect();
    for member in members {
        let Some(partitions) = assignment.get(&member.member_id) else {
            panic!("member {} has no entry", member.member_id);
        };
        for (topic, list) in partitions {
            let count = topics.get(topic).copied().unwrap_or(0);
            let owned = member.owned.get(topic);
            let mut flags = given.get_mut(topic.as_str());
            for &partition in list {
                let handed_back = sticky && owned.is_some_and(|owned| owned.contains(&partition));
                assert!(
                    member.subscribes_to(topic) || handed_back,
                    "{topic}-{partition} given to {}, which does not subscribe to it",
                    member.member_id
                );
                assert!(partition < count, "{topic}-{partition} does not exist");
                let flag = flags
                    .as_deref_mut()
                    .and_then(|flags| flags.get_mut(partition as usize))
                    .expect("an existing partition has a flag");
                assert!(
                    !std::mem::replace(flag, true),
                    "{topic}-{partition} given twice"
                );
            }
        }
    }
}

fn validate(
    assignor: AssignorName,
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
) -> Result<(), UserError> {
    let mut total = 0u64;
    for (topic, &count) in topics {
        if count > PARTITIONS_PER_TOPIC_MAX {
            let allowed = format!("a partition count from 0 to {PARTITIONS_PER_TOPIC_MAX}");
            return Err(UserError::field(
                &format!("topics.{topic}"),
                count,
                &allowed,
            ));
        }
        total += u64::from(count);
    }
    if total > PARTITIONS_TOTAL_MAX {
        let allowed = format!("at most {PARTITIONS_TOTAL_MAX} partitions over all topics");
        return Err(UserError::field("topics", total, &allowed));
    }
    if members.len() > MEMBERS_MAX {
        let allowed = format!("at most {MEMBERS_MAX} members");
        return Err(UserError::field("members", members.len(), &allowed));
    }
    let mut checker = Checker {
        topics,
        server_side: assignor.is_server_side(),
        member_ids: BTreeSet::new(),
        instance_ids: BTreeSet::new(),
        targeted: BTreeMap::new(),
    };
    for (index, member) in members.iter().enumerate() {
        checker.member(index, member)?;
    }
    Ok(())
}

/// `members[INDEX]`, formatted only into an error: a large group is checked at every assignment.
struct MemberPath(usize);

impl std::fmt::Display for MemberPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "members[{}]", self.0)
    }
}

/// Cross-member checks of [`validate`]: ids are unique, and server-side ownership is the
/// previous target assignment, so no partition may have two owners.
struct Checker<'a> {
    topics: &'a BTreeMap<String, u32>,
    server_side: bool,
    member_ids: BTreeSet<&'a str>,
    instance_ids: BTreeSet<&'a str>,
    /// Per topic, per partition: the member whose owned partitions (the previous target
    /// assignment, server-side) include it.
    targeted: BTreeMap<&'a str, Vec<Option<&'a str>>>,
}

impl<'a> Checker<'a> {
    fn known_topics(&self) -> String {
        let names: Vec<&str> = self.topics.keys().map(String::as_str).collect();
        format!("a topic listed in \"topics\" ({})", names.join(", "))
    }

    fn member(&mut self, index: usize, member: &'a MemberSubscription) -> Result<(), UserError> {
        let path = MemberPath(index);
        if !self.member_ids.insert(member.member_id.as_str()) {
            let value = format!("\"{}\"", member.member_id);
            let allowed = "a member id not used by an earlier member";
            return Err(UserError::field(
                &format!("{path}.member_id"),
                value,
                allowed,
            ));
        }
        if let Some(instance) = &member.group_instance_id {
            if !self.instance_ids.insert(instance.as_str()) {
                let allowed = "a group.instance.id not used by an earlier member";
                let field = format!("{path}.group_instance_id");
                return Err(UserError::field(&field, format!("\"{instance}\""), allowed));
            }
        }
        let mut seen_topics = BTreeSet::new();
        for (topic_index, topic) in member.topics.iter().enumerate() {
            let topic_path = || format!("{path}.topics[{topic_index}]");
            if !self.topics.contains_key(topic) {
                let allowed = self.known_topics();
                return Err(UserError::field(
                    &topic_path(),
                    format!("\"{topic}\""),
                    &allowed,
                ));
            }
            if !seen_topics.insert(topic.as_str()) {
                let allowed = "a topic not already listed by this member";
                return Err(UserError::field(
                    &topic_path(),
                    format!("\"{topic}\""),
                    allowed,
                ));
            }
        }
        if let Some(generation) = member.generation.filter(|&g| g < NO_GENERATION) {
            let allowed = "a generation of -1 (never joined) or more";
            return Err(UserError::field(
                &format!("{path}.generation"),
                generation,
                allowed,
            ));
        }
        for (topic, partitions) in &member.owned {
            self.owned(&path, member, topic, partitions)?;
        }
        Ok(())
    }

    /// One member's owned partitions of `topic`. The error's path is formatted only on error:
    /// a large group is checked at every assignment.
    fn owned(
        &mut self,
        member_path: &MemberPath,
        member: &'a MemberSubscription,
        topic: &'a str,
        partitions: &[u32],
    ) -> Result<(), UserError> {
        let path = || format!("{member_path}.owned.{topic}");
        let Some(&count) = self.topics.get(topic) else {
            let allowed = self.known_topics();
            return Err(UserError::field(&path(), format!("\"{topic}\""), &allowed));
        };
        let mut seen = BTreeSet::new();
        for &partition in partitions {
            if partition >= count || !seen.insert(partition) {
                let allowed = format!("distinct partitions from 0 to {}", i64::from(count) - 1);
                return Err(UserError::field(&path(), partition, &allowed));
            }
            if !self.server_side {
                continue;
            }
            let owners = self
                .targeted
                .entry(topic)
                .or_insert_with(|| vec![None; count as usize]);
            if let Some(other) = owners[partition as usize].replace(&member.member_id) {
                let allowed = format!(
                    "a partition no other member owns (server-side assignors take the previous \
                     target assignment; {other} already owns it)"
                );
                return Err(UserError::field(&path(), partition, &allowed));
            }
        }
        Ok(())
    }
}
