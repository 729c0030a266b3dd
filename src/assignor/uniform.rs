//! `uniform` (KIP-848 default, `coordinator.group.assignor.UniformAssignor`): balance first,
//! then stickiness, computed from each member's current target assignment.
//!
//! When every member subscribes to the same topics (homogeneous), each member keeps its current
//! partitions up to a quota and the rest are dealt in order to members with room; the quota
//! with the extra partition goes to the first members in the group's hash-map order, so that
//! order is emulated. Otherwise (heterogeneous), partitions without an owner go topic by topic to
//! the least loaded subscriber, then partitions move from the most to the least loaded
//! subscriber of each topic until every topic is balanced or nothing more can move.
//!
//! The assignment itself works on topic ranks and member indices ([`assign_ranked`]), so the
//! group coordinator, which runs it at every join and leave of a large group, hands over the
//! subscriptions and targets it keeps instead of strings built for each run; [`assign`] is the
//! same computation for members described by name.

use super::java_order::{
    distinct_keys_map_order, integer_copy_order, string_hash, topic_id_hash, JavaHashOrder,
};
use super::types::{empty_assignment, java_string_cmp, Assignment, MemberSubscription};
use std::collections::{BTreeMap, BTreeSet};

/// Topics by rank of name, the rank standing in for the topic id. Model limit: a real cluster's
/// topic ids are random UUIDs, and where Kafka walks a hash set of them (the homogeneous path)
/// its answer depends on them; we use `Uuid(0, rank + 1)`, as the conformance harness does.
#[derive(Debug, Clone)]
pub struct TopicRanks {
    names: Vec<String>,
    counts: Vec<u32>,
    /// Per rank, the topic's place in Rust's `str` order of the names: the order of a
    /// `BTreeMap` keyed by name, in which answers list a member's topics.
    name_order: Vec<usize>,
}

impl TopicRanks {
    /// Every existing topic with its partition count.
    pub fn new<'a>(topics: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let mut entries: Vec<(&str, u32)> = topics.into_iter().collect();
        entries.sort_by(|a, b| java_string_cmp(a.0, b.0));
        let mut by_name: Vec<usize> = (0..entries.len()).collect();
        by_name.sort_by(|&a, &b| entries[a].0.cmp(entries[b].0));
        let mut name_order = vec![0; entries.len()];
        for (place, &rank) in by_name.iter().enumerate() {
            name_order[rank] = place;
        }
        TopicRanks {
            names: entries.iter().map(|(name, _)| name.to_string()).collect(),
            counts: entries.iter().map(|(_, count)| *count).collect(),
            name_order,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn rank(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|candidate| candidate == name)
    }

    pub fn name(&self, rank: usize) -> &str {
        &self.names[rank]
    }

    pub fn count(&self, rank: usize) -> u32 {
        self.counts[rank]
    }

    /// A topic's partition count grew.
    pub fn set_count(&mut self, rank: usize, count: u32) {
        self.counts[rank] = count;
    }

    /// Ranks of a subscription in the order of the `HashSet<Uuid>` it arrives in.
    fn subscription_order(&self, subscribed: &[usize]) -> Vec<usize> {
        let mut set = JavaHashOrder::new();
        for &rank in subscribed {
            set.insert(rank, topic_id_hash(rank));
        }
        set.ordered()
    }
}

/// One member as [`assign_ranked`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct RankedMember<'a> {
    /// `String.hashCode` of the member id: the coordinator keeps members in a `HashMap`.
    pub id_hash: i32,
    /// Subscribed topic ranks, in the member's own order.
    pub topics: &'a [usize],
    /// The current target: per topic rank, in the order of the topics' names, its partitions.
    pub owned: &'a [(usize, Vec<u32>)],
}

/// A member's partitions per topic rank: topics in the order of their names, partitions
/// ascending, no topic without partitions.
pub type RankedTarget = Vec<(usize, Vec<u32>)>;

/// Calls `visit` with a member's non-empty owned lists in the order of the
/// `HashMap<Uuid, Set<Integer>>` its target arrives in.
fn for_owned_in_map_order(owned: &[(usize, Vec<u32>)], mut visit: impl FnMut(usize, &[u32])) {
    if owned.len() <= 1 {
        // One topic (the common case): no order to emulate, nothing to allocate.
        for (rank, partitions) in owned.iter().filter(|(_, list)| !list.is_empty()) {
            visit(*rank, partitions);
        }
        return;
    }
    let listed: Vec<&(usize, Vec<u32>)> = (owned.iter())
        .filter(|(_, partitions)| !partitions.is_empty())
        .collect();
    let mut map = JavaHashOrder::new();
    for (index, (rank, _)) in listed.iter().enumerate() {
        map.insert(index, topic_id_hash(*rank));
    }
    for index in map.ordered() {
        let (rank, partitions) = listed[index];
        visit(*rank, partitions);
    }
}

/// The assignment of members described by name; validated input (see `assignor::assign`).
pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let mut assignment = empty_assignment(members);
    if members.is_empty() {
        return assignment;
    }
    let ranks = TopicRanks::new(topics.iter().map(|(name, &count)| (name.as_str(), count)));
    let subscriptions: Vec<Vec<usize>> = (members.iter())
        .map(|member| member.topics.iter().filter_map(|t| ranks.rank(t)).collect())
        .collect();
    let owned: Vec<RankedTarget> = (members.iter())
        .map(|member| {
            (member.owned.iter())
                .filter_map(|(topic, partitions)| Some((ranks.rank(topic)?, partitions.clone())))
                .collect()
        })
        .collect();
    let ranked: Vec<RankedMember> = (members.iter().enumerate())
        .map(|(index, member)| RankedMember {
            id_hash: string_hash(&member.member_id),
            topics: &subscriptions[index],
            owned: &owned[index],
        })
        .collect();
    for (member, target) in members.iter().zip(assign_ranked(&ranks, &ranked)) {
        let entry = assignment.entry(member.member_id.clone()).or_default();
        for (rank, partitions) in target {
            entry.insert(ranks.name(rank).to_string(), partitions);
        }
    }
    assignment
}

/// The assignment, per member in the order given. Member ids are distinct (their hashes stand
/// for them), owned partitions exist and have one owner each.
pub fn assign_ranked(topics: &TopicRanks, members: &[RankedMember]) -> Vec<RankedTarget> {
    if members.is_empty() {
        return Vec::new();
    }
    // The coordinator keeps members in a HashMap keyed by member id.
    let hashes: Vec<i32> = members.iter().map(|member| member.id_hash).collect();
    let order = distinct_keys_map_order(&hashes);
    let ordered: Vec<&RankedMember> = order.iter().map(|&index| &members[index]).collect();
    let targets = if is_homogeneous(topics, members) {
        homogeneous(topics, &ordered)
    } else {
        heterogeneous(topics, &ordered)
    };
    let mut answer = vec![RankedTarget::new(); members.len()];
    for (&index, mut target) in order.iter().zip(targets) {
        target.retain(|(_, partitions)| !partitions.is_empty());
        for (_, partitions) in &mut target {
            partitions.sort_unstable();
        }
        target.sort_by_key(|&(rank, _)| topics.name_order[rank]);
        answer[index] = target;
    }
    answer
}

/// As `ModernGroup.subscriptionType`: every subscribed topic has every member.
fn is_homogeneous(topics: &TopicRanks, members: &[RankedMember]) -> bool {
    let mut subscribers = vec![0usize; topics.len()];
    for member in members {
        for &rank in member.topics {
            subscribers[rank] += 1;
        }
    }
    (subscribers.iter()).all(|&count| count == 0 || count == members.len())
}

/// Adds a partition to a member's target.
fn give(target: &mut RankedTarget, rank: usize, partition: u32) {
    match target.iter_mut().find(|(candidate, _)| *candidate == rank) {
        Some((_, partitions)) => partitions.push(partition),
        None => target.push((rank, vec![partition])),
    }
}

fn homogeneous(topics: &TopicRanks, members: &[&RankedMember]) -> Vec<RankedTarget> {
    let mut targets = vec![RankedTarget::new(); members.len()];
    // `new HashSet<>(first member's subscription)`: a copy re-hashed into a larger table.
    let source = topics.subscription_order(members[0].topics);
    let mut copy = JavaHashOrder::for_copy_of(source.len());
    for rank in source {
        copy.insert(rank, topic_id_hash(rank));
    }
    let subscribed = copy.ordered();
    if subscribed.is_empty() {
        return targets;
    }
    // Which partitions some member owns: a flag per partition of each topic (validated input:
    // owned partitions exist).
    let mut owned: Vec<Vec<bool>> = (topics.counts.iter())
        .map(|&count| vec![false; count as usize])
        .collect();
    for member in members {
        for (rank, partitions) in member.owned {
            for &partition in partitions {
                owned[*rank][partition as usize] = true;
            }
        }
    }
    let mut unassigned: Vec<(usize, u32)> = Vec::new();
    let mut total = 0u64;
    for &rank in &subscribed {
        let count = topics.counts[rank];
        unassigned.extend(
            (0..count)
                .filter(|&p| !owned[rank][p as usize])
                .map(|p| (rank, p)),
        );
        total += u64::from(count);
    }
    let member_count = members.len() as u64;
    let minimum_quota = total / member_count;
    let mut extra_left = total % member_count;
    let mut unfilled: Vec<(usize, u64)> = Vec::new();
    for (index, member) in members.iter().enumerate() {
        let mut quota = minimum_quota;
        let mut has_extra = false;
        if extra_left > 0 {
            quota += 1;
            has_extra = true;
        }
        targets[index] = keep_within_quota(member, &subscribed, &mut quota, &mut unassigned);
        // Keep the extra partition for a later member if enough members remain to take them.
        if quota > 0 && has_extra && member_count - index as u64 > extra_left {
            quota -= 1;
            has_extra = false;
        }
        if quota > 0 {
            unfilled.push((index, quota));
        }
        if has_extra {
            extra_left -= 1;
        }
    }
    let mut next = unassigned.into_iter();
    for (index, quota) in unfilled {
        for (rank, partition) in next.by_ref().take(quota as usize) {
            give(&mut targets[index], rank, partition);
        }
    }
    targets
}

/// A member keeps its current partitions of subscribed topics, topic by topic in its map's
/// order, while its quota lasts; returns what it keeps, and adds what it releases to `released`.
fn keep_within_quota(
    member: &RankedMember,
    subscribed: &[usize],
    quota: &mut u64,
    released: &mut Vec<(usize, u32)>,
) -> RankedTarget {
    let mut kept = RankedTarget::new();
    for_owned_in_map_order(member.owned, |rank, partitions| {
        if !subscribed.contains(&rank) {
            return;
        }
        if partitions.len() as u64 <= *quota {
            *quota -= partitions.len() as u64;
            kept.push((rank, partitions.to_vec()));
            return;
        }
        // Over quota: keep the first ones in the set's hash order, release the rest.
        let mut target = Vec::new();
        for partition in integer_copy_order(partitions) {
            if *quota > 0 {
                *quota -= 1;
                target.push(partition);
            } else {
                released.push((rank, partition));
            }
        }
        kept.push((rank, target));
    });
    kept
}

/// Walks the subscribers of one topic from both ends of their load order.
struct Balancer {
    sorted: Vec<usize>,
    least_end: usize,
    least_count: i64,
    next_least: usize,
    most_start: usize,
    most_end: usize,
    most_count: i64,
    next_most: i64,
}

impl Balancer {
    fn new(subscribers: &[usize], sizes: &[i64]) -> (Balancer, i64) {
        let mut sorted = subscribers.to_vec();
        sorted.sort_by_key(|&member| (sizes[member], member));
        let first = sizes[sorted[0]];
        let last = sizes[sorted[sorted.len() - 1]];
        let length = sorted.len();
        let balancer = Balancer {
            sorted,
            least_end: 0,
            least_count: first - 1,
            next_least: 0,
            most_start: length,
            most_end: length,
            most_count: last + 1,
            next_most: length as i64 - 1,
        };
        (balancer, last - first)
    }

    fn next_least_loaded(&mut self, sizes: &[i64]) -> usize {
        if self.next_least >= self.least_end {
            self.least_count += 1;
            while self.least_end < self.sorted.len()
                && sizes[self.sorted[self.least_end]] == self.least_count
            {
                self.least_end += 1;
            }
            self.next_least = 0;
        }
        let member = self.sorted[self.next_least];
        self.next_least += 1;
        member
    }

    fn next_most_loaded(&mut self, sizes: &[i64]) -> Option<usize> {
        if self.next_most < self.most_start as i64 {
            if self.most_end <= self.most_start && self.most_start > 0 {
                self.most_count = sizes[self.sorted[self.most_start - 1]];
            } else {
                self.most_count -= 1;
            }
            while self.most_start > 0 && sizes[self.sorted[self.most_start - 1]] == self.most_count
            {
                self.most_start -= 1;
            }
            self.next_most = self.most_end as i64 - 1;
        }
        if self.next_most < 0 {
            return None;
        }
        let member = self.sorted[self.next_most as usize];
        self.next_most -= 1;
        Some(member)
    }

    /// Moves the member just returned by `next_most_loaded` out of the most-loaded range.
    fn exclude_most_loaded(&mut self) {
        let position = (self.next_most + 1) as usize;
        self.sorted.swap(position, self.most_end - 1);
        self.most_end -= 1;
    }

    fn is_balanced(&self) -> bool {
        self.most_count - self.least_count <= 1
    }
}

/// Kafka stops balancing after this many passes over the topics.
const BALANCE_PASSES_MAX: usize = 16;

struct Heterogeneous<'a> {
    topics: &'a TopicRanks,
    subscribers: BTreeMap<usize, Vec<usize>>,
    sizes: Vec<i64>,
    owners: BTreeMap<usize, Vec<Option<usize>>>,
    targets: Vec<Target>,
}

type Target = BTreeMap<usize, BTreeSet<u32>>;

fn heterogeneous(topics: &TopicRanks, members: &[&RankedMember]) -> Vec<RankedTarget> {
    let mut state = Heterogeneous {
        topics,
        subscribers: BTreeMap::new(),
        sizes: vec![0; members.len()],
        owners: BTreeMap::new(),
        targets: vec![Target::new(); members.len()],
    };
    for (index, member) in members.iter().enumerate() {
        for rank in topics.subscription_order(member.topics) {
            state.subscribers.entry(rank).or_default().push(index);
        }
    }
    for &rank in state.subscribers.keys() {
        state
            .owners
            .insert(rank, vec![None; topics.counts[rank] as usize]);
    }
    for (index, member) in members.iter().enumerate() {
        for_owned_in_map_order(member.owned, |rank, partitions| {
            let Some(owners) = state.owners.get_mut(&rank) else {
                return;
            };
            if !state.subscribers[&rank].contains(&index) {
                return;
            }
            state.sizes[index] += partitions.len() as i64;
            for &partition in partitions {
                if let Some(owner) = owners.get_mut(partition as usize) {
                    *owner = Some(index);
                }
            }
            state.targets[index]
                .entry(rank)
                .or_default()
                .extend(partitions);
        });
    }
    state.assign_unowned();
    state.balance();
    (state.targets.into_iter())
        .map(|target| {
            (target.into_iter())
                .map(|(rank, partitions)| (rank, partitions.into_iter().collect()))
                .collect()
        })
        .collect()
}

impl Heterogeneous<'_> {
    /// Topics with the most partitions per subscriber first, then fewer subscribers, then id.
    fn sorted_topics(&self, ranks: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut sorted: Vec<usize> = ranks.into_iter().collect();
        sorted.sort_by(|&a, &b| {
            let (partitions_a, partitions_b) = (
                u64::from(self.topics.counts[a]),
                u64::from(self.topics.counts[b]),
            );
            let subscribers_a = self.subscribers[&a].len() as u64;
            let subscribers_b = self.subscribers[&b].len() as u64;
            (partitions_b * subscribers_a)
                .cmp(&(partitions_a * subscribers_b))
                .then(subscribers_a.cmp(&subscribers_b))
                .then(a.cmp(&b))
        });
        sorted
    }

    fn assign_unowned(&mut self) {
        let mut unowned: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (&rank, owners) in &self.owners {
            let free: Vec<u32> = (0..owners.len() as u32)
                .filter(|&partition| owners[partition as usize].is_none())
                .collect();
            if !free.is_empty() {
                unowned.insert(rank, free);
            }
        }
        for rank in self.sorted_topics(unowned.keys().copied()) {
            let subscribers = self.subscribers[&rank].clone();
            let (mut balancer, _) = Balancer::new(&subscribers, &self.sizes);
            for &partition in &unowned[&rank] {
                let member = balancer.next_least_loaded(&self.sizes);
                self.move_partition(rank, partition, member);
            }
        }
    }

    fn balance(&mut self) {
        let movable: Vec<usize> = self
            .subscribers
            .iter()
            .filter(|(_, subscribers)| subscribers.len() >= 2)
            .map(|(&rank, _)| rank)
            .collect();
        if movable.is_empty() {
            return;
        }
        let sorted = self.sorted_topics(movable);
        let mut last_rebalanced: Option<usize> = None;
        for _ in 0..BALANCE_PASSES_MAX {
            for (position, &rank) in sorted.iter().enumerate() {
                // A full pass with nothing moved since this topic: everything is balanced.
                if last_rebalanced == Some(position) {
                    return;
                }
                let moved = self.balance_topic(rank);
                if moved > 0 || last_rebalanced.is_none() {
                    last_rebalanced = Some(position);
                }
            }
        }
    }

    fn balance_topic(&mut self, rank: usize) -> usize {
        let subscribers = self.subscribers[&rank].clone();
        let (mut balancer, imbalance) = Balancer::new(&subscribers, &self.sizes);
        if imbalance <= 1 {
            return 0;
        }
        let owners = self.owners[&rank].clone();
        let owner_key =
            |partition: u32| owners[partition as usize].map_or(-1, |owner| owner as i64);
        let mut partitions: Vec<u32> = (0..owners.len() as u32).collect();
        partitions.sort_by_key(|&partition| (owner_key(partition), partition));
        // Each owner's partitions form one run of `partitions`; moves take from its end.
        let mut runs: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        for (position, &partition) in partitions.iter().enumerate() {
            let run = runs
                .entry(owner_key(partition))
                .or_insert((position, position));
            run.1 = position + 1;
        }
        let mut moved = 0;
        while !balancer.is_balanced() {
            let mut donor = None;
            while let Some(member) = balancer.next_most_loaded(&self.sizes) {
                match runs.get(&(member as i64)) {
                    Some(&(start, end)) if end > start => {
                        donor = Some(member);
                        break;
                    }
                    _ => balancer.exclude_most_loaded(),
                }
            }
            let Some(donor) = donor else {
                break;
            };
            let Some(run) = runs.get_mut(&(donor as i64)) else {
                break;
            };
            run.1 -= 1;
            let partition = partitions[run.1];
            let receiver = balancer.next_least_loaded(&self.sizes);
            if balancer.is_balanced() {
                break;
            }
            self.move_partition(rank, partition, receiver);
            moved += 1;
        }
        moved
    }

    fn move_partition(&mut self, rank: usize, partition: u32, member: usize) {
        let Some(owners) = self.owners.get_mut(&rank) else {
            return;
        };
        let Some(slot) = owners.get_mut(partition as usize) else {
            return;
        };
        if let Some(previous) = slot.take() {
            if let Some(set) = self.targets[previous].get_mut(&rank) {
                set.remove(&partition);
            }
            self.sizes[previous] -= 1;
        }
        *slot = Some(member);
        self.targets[member]
            .entry(rank)
            .or_default()
            .insert(partition);
        self.sizes[member] += 1;
    }
}
