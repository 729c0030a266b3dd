//! `uniform` (KIP-848 default, `coordinator.group.assignor.UniformAssignor`): balance first,
//! then stickiness, computed from each member's current target assignment.
//!
//! When every member subscribes to the same topics (homogeneous), each member keeps its current
//! partitions up to a quota and the rest are dealt in order to members with room; the quota
//! with the extra partition goes to the first members in the group's hash-map order, so that
//! order is emulated. Otherwise (heterogeneous), partitions without an owner go topic by topic to
//! the least loaded subscriber, then partitions move from the most to the least loaded
//! subscriber of each topic until every topic is balanced or nothing more can move.

use super::java_order::{integer_copy_order, string_map_order, topic_id_hash, JavaHashOrder};
use super::types::{empty_assignment, java_string_cmp, Assignment, MemberSubscription};
use std::collections::{BTreeMap, BTreeSet};

/// Topics by rank of name, the rank standing in for the topic id. Model limit: a real cluster's
/// topic ids are random UUIDs, and where Kafka walks a hash set of them (the homogeneous path)
/// its answer depends on them; we use `Uuid(0, rank + 1)`, as the conformance harness does.
struct Topics<'a> {
    names: Vec<&'a str>,
    counts: Vec<u32>,
}

impl<'a> Topics<'a> {
    fn new(topics: &'a BTreeMap<String, u32>) -> Self {
        let mut entries: Vec<(&str, u32)> = topics.iter().map(|(t, &n)| (t.as_str(), n)).collect();
        entries.sort_by(|a, b| java_string_cmp(a.0, b.0));
        Topics {
            names: entries.iter().map(|(name, _)| *name).collect(),
            counts: entries.iter().map(|(_, count)| *count).collect(),
        }
    }

    fn rank(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|candidate| *candidate == name)
    }

    /// Ranks of a member's subscription in the order of the `HashSet<Uuid>` it arrives in.
    fn subscription_order(&self, member: &MemberSubscription) -> Vec<usize> {
        let mut set = JavaHashOrder::new();
        for topic in &member.topics {
            if let Some(rank) = self.rank(topic) {
                set.insert(rank, topic_id_hash(rank));
            }
        }
        set.ordered()
    }

    /// Owned topics in the order of the member's `HashMap<Uuid, Set<Integer>>` target.
    fn owned_order(&self, member: &MemberSubscription) -> Vec<(usize, Vec<u32>)> {
        let mut map = JavaHashOrder::new();
        let mut lists = BTreeMap::new();
        for (topic, partitions) in &member.owned {
            if partitions.is_empty() {
                continue;
            }
            if let Some(rank) = self.rank(topic) {
                map.insert(rank, topic_id_hash(rank));
                lists.insert(rank, partitions.clone());
            }
        }
        map.ordered()
            .into_iter()
            .filter_map(|rank| lists.remove(&rank).map(|list| (rank, list)))
            .collect()
    }
}

pub fn assign(topics: &BTreeMap<String, u32>, members: &[MemberSubscription]) -> Assignment {
    let mut assignment = empty_assignment(members);
    if members.is_empty() {
        return assignment;
    }
    let topics = Topics::new(topics);
    // The coordinator keeps members in a HashMap keyed by member id.
    let ids: Vec<&str> = members
        .iter()
        .map(|member| member.member_id.as_str())
        .collect();
    let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, &id) in ids.iter().enumerate() {
        index_of.entry(id).or_insert(index);
    }
    let order: Vec<usize> = string_map_order(ids.iter().copied())
        .into_iter()
        .filter_map(|id| index_of.get(id).copied())
        .collect();
    let ordered: Vec<&MemberSubscription> = order.iter().map(|&index| &members[index]).collect();
    let targets = if is_homogeneous(members) {
        homogeneous(&topics, &ordered)
    } else {
        heterogeneous(&topics, &ordered)
    };
    for (member, target) in ordered.iter().zip(targets) {
        let entry = assignment.entry(member.member_id.clone()).or_default();
        for (rank, partitions) in target {
            if !partitions.is_empty() {
                entry.insert(
                    topics.names[rank].to_string(),
                    partitions.into_iter().collect(),
                );
            }
        }
    }
    assignment
}

/// As `ModernGroup.subscriptionType`: every subscribed topic has every member.
fn is_homogeneous(members: &[MemberSubscription]) -> bool {
    let mut subscribers: BTreeMap<&str, usize> = BTreeMap::new();
    for member in members {
        for topic in &member.topics {
            *subscribers.entry(topic.as_str()).or_default() += 1;
        }
    }
    subscribers.values().all(|&count| count == members.len())
}

type Target = BTreeMap<usize, BTreeSet<u32>>;

fn homogeneous(topics: &Topics, members: &[&MemberSubscription]) -> Vec<Target> {
    let mut targets = vec![Target::new(); members.len()];
    // `new HashSet<>(first member's subscription)`: a copy re-hashed into a larger table.
    let source = topics.subscription_order(members[0]);
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
        for (rank, partitions) in topics.owned_order(member) {
            for partition in partitions {
                owned[rank][partition as usize] = true;
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
        let (kept, released) = keep_within_quota(topics, member, &subscribed, &mut quota);
        targets[index] = kept;
        unassigned.extend(released);
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
            targets[index].entry(rank).or_default().insert(partition);
        }
    }
    targets
}

/// A member keeps its current partitions of subscribed topics, topic by topic in its map's
/// order, while its quota lasts; returns what it keeps and what it releases.
fn keep_within_quota(
    topics: &Topics,
    member: &MemberSubscription,
    subscribed: &[usize],
    quota: &mut u64,
) -> (Target, Vec<(usize, u32)>) {
    let mut kept = Target::new();
    let mut released = Vec::new();
    for (rank, partitions) in topics.owned_order(member) {
        if !subscribed.contains(&rank) {
            continue;
        }
        let target = kept.entry(rank).or_default();
        if partitions.len() as u64 <= *quota {
            *quota -= partitions.len() as u64;
            target.extend(partitions);
            continue;
        }
        // Over quota: keep the first ones in the set's hash order, release the rest.
        for partition in integer_copy_order(&partitions) {
            if *quota > 0 {
                *quota -= 1;
                target.insert(partition);
            } else {
                released.push((rank, partition));
            }
        }
    }
    (kept, released)
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
    topics: &'a Topics<'a>,
    subscribers: BTreeMap<usize, Vec<usize>>,
    sizes: Vec<i64>,
    owners: BTreeMap<usize, Vec<Option<usize>>>,
    targets: Vec<Target>,
}

fn heterogeneous(topics: &Topics, members: &[&MemberSubscription]) -> Vec<Target> {
    let mut state = Heterogeneous {
        topics,
        subscribers: BTreeMap::new(),
        sizes: vec![0; members.len()],
        owners: BTreeMap::new(),
        targets: vec![Target::new(); members.len()],
    };
    for (index, member) in members.iter().enumerate() {
        for rank in topics.subscription_order(member) {
            state.subscribers.entry(rank).or_default().push(index);
        }
    }
    for &rank in state.subscribers.keys() {
        state
            .owners
            .insert(rank, vec![None; topics.counts[rank] as usize]);
    }
    for (index, member) in members.iter().enumerate() {
        for (rank, partitions) in topics.owned_order(member) {
            let Some(owners) = state.owners.get_mut(&rank) else {
                continue;
            };
            if !state.subscribers[&rank].contains(&index) {
                continue;
            }
            state.sizes[index] += partitions.len() as i64;
            for &partition in &partitions {
                if let Some(owner) = owners.get_mut(partition as usize) {
                    *owner = Some(index);
                }
            }
            state.targets[index]
                .entry(rank)
                .or_default()
                .extend(partitions);
        }
    }
    state.assign_unowned();
    state.balance();
    state.targets
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
