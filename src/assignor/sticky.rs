//! `sticky` and `cooperative-sticky` (client side, `internals/AbstractStickyAssignor` and its
//! two subclasses): balance first, then keep as many previously owned partitions as possible.
//!
//! Ownership claims are arbitrated first (the higher generation wins; equal generations both
//! lose). Equal subscriptions take the constrained path: owners keep up to a quota, the rest is
//! dealt round-robin. Unequal ones take the general path: unowned partitions go to the least
//! loaded subscriber, then partitions move from heavy to light members while that improves
//! balance, undoing earlier moves where possible. Kafka walks hash maps in both, so the member
//! order and the choice among reversible moves follow Java's hash order (see `java_order`).
//! Under the cooperative protocol, a partition that changes owner is withheld this round.

use super::java_order::{string_hash, topic_partition_hash, JavaHashOrder};
use super::types::{
    empty_assignment, java_string_cmp, Assignment, MemberSubscription, RebalanceProtocol,
    NO_GENERATION,
};
use std::collections::{BTreeMap, BTreeSet};

/// A partition as (topic rank by name, partition number); rank order is Java's name order.
type Tp = (usize, u32);

/// The group as Kafka's assignor sees it, with Java's orders precomputed.
struct Group<'a> {
    members: &'a [MemberSubscription],
    /// Topic names by rank: every topic somebody subscribes to that has partitions.
    names: Vec<&'a str>,
    counts: Vec<u32>,
    /// Member indices in the iteration order of Kafka's `HashMap<String, Subscription>`.
    hash_order: Vec<usize>,
    /// Rank of each member's id in Java string order, to sort members by id.
    id_rank: Vec<usize>,
    /// Per member: subscribed topic ranks, in subscription order, existing topics only.
    subscribed: Vec<Vec<usize>>,
    total_partitions: usize,
    /// Dense index of a topic's partition 0, for per-partition arrays.
    offsets: Vec<usize>,
}

impl<'a> Group<'a> {
    fn new(topics: &'a BTreeMap<String, u32>, members: &'a [MemberSubscription]) -> Self {
        let mut names: Vec<&str> = topics
            .iter()
            .filter(|(name, &count)| count > 0 && members.iter().any(|m| m.subscribes_to(name)))
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_by(|a, b| java_string_cmp(a, b));
        let counts: Vec<u32> = names.iter().map(|name| topics[*name]).collect();
        let mut map = JavaHashOrder::new();
        for (index, member) in members.iter().enumerate() {
            map.insert(index, string_hash(&member.member_id));
        }
        let mut by_id: Vec<usize> = (0..members.len()).collect();
        by_id.sort_by(|&a, &b| java_string_cmp(&members[a].member_id, &members[b].member_id));
        let mut id_rank = vec![0; members.len()];
        for (rank, &member) in by_id.iter().enumerate() {
            id_rank[member] = rank;
        }
        let subscribed = members
            .iter()
            .map(|member| {
                member
                    .topics
                    .iter()
                    .filter_map(|topic| names.iter().position(|name| name == topic))
                    .collect()
            })
            .collect();
        let total_partitions = counts.iter().map(|&count| count as usize).sum();
        let offsets = counts
            .iter()
            .scan(0usize, |next, &count| {
                let offset = *next;
                *next += count as usize;
                Some(offset)
            })
            .collect();
        Group {
            members,
            names,
            counts,
            hash_order: map.ordered(),
            id_rank,
            subscribed,
            total_partitions,
            offsets,
        }
    }

    fn rank(&self, topic: &str) -> Option<usize> {
        self.names.iter().position(|name| *name == topic)
    }

    fn index(&self, tp: Tp) -> usize {
        self.offsets[tp.0] + tp.1 as usize
    }

    fn hash(&self, tp: Tp) -> i32 {
        topic_partition_hash(self.names[tp.0], tp.1)
    }

    /// The member's claims that name a topic in play, as (partition, in its own order).
    fn claims_of(&self, member: usize) -> Vec<Tp> {
        let mut claims = Vec::new();
        for (topic, partitions) in &self.members[member].owned {
            if let Some(rank) = self.rank(topic) {
                claims.extend(partitions.iter().map(|&partition| (rank, partition)));
            }
        }
        claims
    }

    /// The generation `memberData` reports. Eager sticky carries it in user data, which a member
    /// that never received an assignment does not send; cooperative always has one.
    fn reported_generation(&self, member: usize, protocol: RebalanceProtocol) -> Option<i32> {
        let subscription = &self.members[member];
        match protocol {
            RebalanceProtocol::Eager
                if subscription.owned.is_empty() && subscription.generation.is_none() =>
            {
                None
            }
            _ => Some(subscription.claim_generation()),
        }
    }
}

/// Outcome of `allSubscriptionsEqual`: valid claims per member plus what it learned.
struct Claims {
    owned: Vec<Vec<Tp>>,
    doubly_claimed: BTreeSet<Tp>,
    max_generation: i32,
    all_equal: bool,
}

fn arbitrate_claims(group: &Group, protocol: RebalanceProtocol) -> Claims {
    let mut owned: Vec<Vec<Tp>> = vec![Vec::new(); group.members.len()];
    let mut doubly_claimed = BTreeSet::new();
    let mut max_generation = NO_GENERATION;
    let mut all_equal = true;
    let mut first_topics: Option<BTreeSet<&str>> = None;
    let mut previous_owner: BTreeMap<Tp, usize> = BTreeMap::new();
    for &member in &group.hash_order {
        let subscription = &group.members[member];
        let topics: BTreeSet<&str> = subscription.topics.iter().map(String::as_str).collect();
        // Kafka seeds the comparison with the first non-empty subscription it meets.
        match &first_topics {
            Some(first) if !first.is_empty() => {
                if *first != topics {
                    all_equal = false;
                }
            }
            _ => first_topics = Some(topics),
        }
        let generation = group
            .reported_generation(member, protocol)
            .unwrap_or(NO_GENERATION);
        max_generation = max_generation.max(generation);
        for tp in group.claims_of(member) {
            let Some(&other) = previous_owner.get(&tp) else {
                owned[member].push(tp);
                previous_owner.insert(tp, member);
                continue;
            };
            let other_generation = group.members[other].claim_generation();
            if generation == other_generation {
                doubly_claimed.insert(tp);
                owned[other].retain(|claimed| *claimed != tp);
                previous_owner.insert(tp, member);
            } else if generation > other_generation {
                owned[member].push(tp);
                owned[other].retain(|claimed| *claimed != tp);
                previous_owner.insert(tp, member);
            }
        }
    }
    Claims {
        owned,
        doubly_claimed,
        max_generation,
        all_equal,
    }
}

pub fn assign(
    topics: &BTreeMap<String, u32>,
    members: &[MemberSubscription],
    protocol: RebalanceProtocol,
) -> Assignment {
    let mut assignment = empty_assignment(members);
    if members.is_empty() {
        return assignment;
    }
    let group = Group::new(topics, members);
    let claims = arbitrate_claims(&group, protocol);
    let (mut lists, transferring) = if claims.all_equal {
        let (lists, transferring) = constrained(&group, &claims);
        (lists, Some(transferring))
    } else {
        (general(&group, &claims, protocol), None)
    };
    if protocol == RebalanceProtocol::Cooperative {
        let transferring = transferring.unwrap_or_else(|| changing_owner(&group, &lists));
        for (tp, member) in transferring {
            lists[member].retain(|given| *given != tp);
        }
    }
    for (member, list) in lists.into_iter().enumerate() {
        let entry = assignment
            .entry(members[member].member_id.clone())
            .or_default();
        for (rank, partition) in list {
            let partitions = entry.entry(group.names[rank].to_string()).or_default();
            partitions.push(partition);
        }
        for partitions in entry.values_mut() {
            partitions.sort_unstable();
            partitions.dedup();
        }
    }
    assignment
}

/// Partitions given to a member that did not claim them, which some member claimed and loses:
/// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`.
fn changing_owner(group: &Group, lists: &[Vec<Tp>]) -> BTreeMap<Tp, usize> {
    let mut added = BTreeMap::new();
    let mut revoked = BTreeSet::new();
    for (member, list) in lists.iter().enumerate() {
        let claimed = group.claims_of(member);
        for &tp in list {
            if !claimed.contains(&tp) {
                added.insert(tp, member);
            }
        }
        // Claims on topics nobody subscribes to cannot be handed to anyone, so skip them.
        for tp in claimed {
            if !list.contains(&tp) {
                revoked.insert(tp);
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

// ---------------------------------------------------------------------------------------------
// Equal subscriptions: `ConstrainedAssignmentBuilder`.

fn constrained(group: &Group, claims: &Claims) -> (Vec<Vec<Tp>>, BTreeMap<Tp, usize>) {
    let member_count = group.members.len();
    let total = group.total_partitions;
    let min_quota = total / member_count;
    let max_quota = total.div_ceil(member_count);
    let expected_over_min = total % member_count;
    let mut over_min = 0usize;
    let mut lists: Vec<Vec<Tp>> = vec![Vec::new(); member_count];
    let mut maybe_revoked: BTreeMap<Tp, usize> = BTreeMap::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: Vec<usize> = Vec::new();
    let mut assigned: BTreeSet<Tp> = BTreeSet::new();
    for &member in &group.hash_order {
        let mut owned: Vec<Tp> = claims.owned[member]
            .iter()
            .copied()
            .filter(|tp| !claims.doubly_claimed.contains(tp))
            .collect();
        // Kafka sorts owned partitions by partition number first, then topic.
        owned.sort_by_key(|&(rank, partition)| (partition, rank));
        let keep = if owned.len() < min_quota {
            under_min.push(member);
            owned.len()
        } else if owned.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push(member);
            }
            min_quota
        };
        for &tp in &owned[keep..] {
            maybe_revoked.insert(tp, member);
        }
        lists[member].extend_from_slice(&owned[..keep]);
        assigned.extend(owned[..keep].iter().copied());
    }
    let mut unassigned = Vec::new();
    for (rank, &count) in group.counts.iter().enumerate() {
        unassigned.extend(
            (0..count)
                .map(|p| (rank, p))
                .filter(|tp| !assigned.contains(tp)),
        );
    }
    under_min.sort_by_key(|&member| group.id_rank[member]);
    at_min.sort_by_key(|&member| group.id_rank[member]);
    let mut transferring = BTreeMap::new();
    let mut at_min: std::collections::VecDeque<usize> = at_min.into();
    // The round-robin cursor over under-quota members, restarted when it runs off the end.
    let mut cursor = 0usize;
    for tp in unassigned {
        let member = if cursor < under_min.len() {
            cursor += 1;
            under_min[cursor - 1]
        } else if under_min.is_empty() {
            match at_min.pop_front() {
                Some(member) => member,
                // Kafka throws here ("No more unfilled consumers"); give it to the lightest.
                None => lightest(&lists),
            }
        } else {
            cursor = 1;
            under_min[0]
        };
        lists[member].push(tp);
        if maybe_revoked.get(&tp).is_some_and(|&owner| owner != member)
            || claims.doubly_claimed.contains(&tp)
        {
            transferring.insert(tp, member);
        }
        let count = lists[member].len();
        if count == min_quota && cursor > 0 && under_min.get(cursor - 1) == Some(&member) {
            cursor -= 1;
            under_min.remove(cursor);
            at_min.push_back(member);
        }
    }
    (lists, transferring)
}

fn lightest(lists: &[Vec<Tp>]) -> usize {
    (0..lists.len())
        .min_by_key(|&member| lists[member].len())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Unequal subscriptions: `GeneralAssignmentBuilder`.

/// Where partitions moved during balancing, to undo a move rather than make a new one.
#[derive(Default)]
struct Movements {
    /// Partition to (first source, current destination).
    by_partition: BTreeMap<Tp, (usize, usize)>,
    /// (topic, source, destination) to the partitions that moved so, in a Java `HashSet`.
    by_pair: BTreeMap<(usize, usize, usize), JavaHashOrder<Tp>>,
}

impl Movements {
    fn record(&mut self, group: &Group, tp: Tp, source: usize, destination: usize) {
        self.by_partition.insert(tp, (source, destination));
        self.by_pair
            .entry((tp.0, source, destination))
            .or_default()
            .insert(tp, group.hash(tp));
    }

    fn forget(&mut self, tp: Tp) -> Option<(usize, usize)> {
        let (source, destination) = self.by_partition.remove(&tp)?;
        let key = (tp.0, source, destination);
        if let Some(set) = self.by_pair.get_mut(&key) {
            set.remove(&tp);
            if set.len() == 0 {
                self.by_pair.remove(&key);
            }
        }
        Some((source, destination))
    }

    fn moved(&mut self, group: &Group, tp: Tp, old: usize, new: usize) {
        match self.forget(tp) {
            Some((source, _)) => {
                if source != new {
                    self.record(group, tp, source, new);
                }
            }
            None => self.record(group, tp, old, new),
        }
    }

    /// If some partition of the topic earlier moved the opposite way, move that one back.
    fn partition_to_move(&self, tp: Tp, old: usize, new: usize) -> Tp {
        let origin = self
            .by_partition
            .get(&tp)
            .map_or(old, |&(source, _)| source);
        match self.by_pair.get(&(tp.0, new, origin)) {
            Some(set) => set.first().unwrap_or(tp),
            None => tp,
        }
    }
}

struct General<'a> {
    group: &'a Group<'a>,
    /// Per member the partitions it holds, in Kafka's list order; `None` for members set aside.
    lists: Vec<Option<Vec<Tp>>>,
    /// `currentPartitionConsumer`: may be stale for revoked partitions, as in Kafka.
    holder: BTreeMap<Tp, usize>,
    /// Who holds each partition according to `lists` (members set aside excluded).
    owner_of: Vec<Option<usize>>,
    /// Members by (partition count, id): Kafka's `sortedCurrentSubscriptions`.
    sorted: BTreeSet<(usize, usize, usize)>,
    subscribers: Vec<Vec<usize>>,
    movements: Movements,
}

impl General<'_> {
    fn size(&self, member: usize) -> Option<usize> {
        self.lists[member].as_ref().map(Vec::len)
    }

    fn sort_key(&self, member: usize) -> Option<(usize, usize, usize)> {
        self.size(member)
            .map(|size| (size, self.group.id_rank[member], member))
    }

    fn unsort(&mut self, member: usize) {
        if let Some(key) = self.sort_key(member) {
            self.sorted.remove(&key);
        }
    }

    fn resort(&mut self, member: usize) {
        if let Some(key) = self.sort_key(member) {
            self.sorted.insert(key);
        }
    }

    fn max_size(&self, member: usize) -> usize {
        let topics = &self.group.subscribed[member];
        topics
            .iter()
            .map(|&rank| self.group.counts[rank] as usize)
            .sum()
    }

    fn is_balanced(&self) -> bool {
        let (Some(first), Some(last)) = (self.sorted.first(), self.sorted.last()) else {
            return true;
        };
        if first.0 + 1 >= last.0 {
            return true;
        }
        for &(size, _, member) in &self.sorted {
            if size == self.max_size(member) {
                continue;
            }
            for &rank in &self.group.subscribed[member] {
                for partition in 0..self.group.counts[rank] {
                    let owner = self.owner_of[self.group.index((rank, partition))];
                    if owner == Some(member) {
                        continue;
                    }
                    let other_size = owner.and_then(|other| self.size(other));
                    if other_size.is_some_and(|other_size| size + 1 < other_size) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn give(&mut self, tp: Tp, member: usize) {
        self.unsort(member);
        if let Some(list) = self.lists[member].as_mut() {
            list.push(tp);
        }
        self.holder.insert(tp, member);
        self.owner_of[self.group.index(tp)] = Some(member);
        self.resort(member);
    }

    /// The lightest member subscribed to the partition's topic.
    fn lightest_subscriber(&self, tp: Tp) -> Option<usize> {
        self.sorted
            .iter()
            .map(|&(_, _, member)| member)
            .find(|&member| self.group.subscribed[member].contains(&tp.0))
    }

    fn reassign(&mut self, tp: Tp, new: usize) {
        let Some(&old) = self.holder.get(&tp) else {
            return;
        };
        let moving = self.movements.partition_to_move(tp, old, new);
        let Some(&from) = self.holder.get(&moving) else {
            return;
        };
        self.unsort(from);
        self.unsort(new);
        self.movements.moved(self.group, moving, from, new);
        if let Some(list) = self.lists[from].as_mut() {
            if let Some(position) = list.iter().position(|held| *held == moving) {
                list.remove(position);
            }
        }
        if let Some(list) = self.lists[new].as_mut() {
            list.push(moving);
        }
        self.holder.insert(moving, new);
        self.owner_of[self.group.index(moving)] = Some(new);
        self.resort(new);
        self.resort(from);
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        previous: &BTreeMap<Tp, (usize, i32)>,
    ) -> bool {
        let mut performed = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(&holder) = self.holder.get(&tp) else {
                    continue;
                };
                let Some(holder_size) = self.size(holder) else {
                    continue;
                };
                if let Some(&(previous_owner, _)) = previous.get(&tp) {
                    let previous_size = self.size(previous_owner);
                    if previous_size.is_some_and(|size| holder_size > size + 1) {
                        self.reassign(tp, previous_owner);
                        performed = true;
                        modified = true;
                        continue;
                    }
                }
                let lighter_exists = self.subscribers[tp.0]
                    .iter()
                    .any(|&other| self.size(other).is_some_and(|size| holder_size > size + 1));
                if lighter_exists {
                    if let Some(new) = self.lightest_subscriber(tp) {
                        self.reassign(tp, new);
                        performed = true;
                        modified = true;
                    }
                }
            }
            if !modified {
                return performed;
            }
        }
    }

    fn recompute_owners(&mut self) {
        self.owner_of = vec![None; self.group.total_partitions];
        for (member, list) in self.lists.iter().enumerate() {
            for &tp in list.iter().flatten() {
                self.owner_of[self.group.index(tp)] = Some(member);
            }
        }
    }

    fn balance_score(&self) -> u64 {
        let sizes: Vec<usize> = self.lists.iter().flatten().map(Vec::len).collect();
        let mut score = 0u64;
        for (index, &a) in sizes.iter().enumerate() {
            for &b in &sizes[index + 1..] {
                score += a.abs_diff(b) as u64;
            }
        }
        score
    }

    fn can_participate(&self, member: usize) -> bool {
        let Some(list) = self.lists[member].as_ref() else {
            return false;
        };
        if list.len() < self.max_size(member) {
            return true;
        }
        list.iter().any(|tp| self.subscribers[tp.0].len() >= 2)
    }
}

/// `prepopulateCurrentAssignments`: claims from older generations, the newest per partition.
fn previous_owners(
    group: &Group,
    claims: &Claims,
    protocol: RebalanceProtocol,
) -> BTreeMap<Tp, (usize, i32)> {
    let mut previous: BTreeMap<Tp, (usize, i32)> = BTreeMap::new();
    for &member in &group.hash_order {
        let generation = match group.reported_generation(member, protocol) {
            Some(generation) if generation < claims.max_generation => generation,
            None if claims.max_generation > NO_GENERATION => NO_GENERATION,
            _ => continue,
        };
        for tp in group.claims_of(member) {
            match previous.get(&tp) {
                Some(&(_, known)) if generation <= known => {}
                _ => {
                    previous.insert(tp, (member, generation));
                }
            }
        }
    }
    previous
}

fn general(group: &Group, claims: &Claims, protocol: RebalanceProtocol) -> Vec<Vec<Tp>> {
    let member_count = group.members.len();
    let mut subscribers: Vec<Vec<usize>> = vec![Vec::new(); group.names.len()];
    for &member in &group.hash_order {
        for &rank in &group.subscribed[member] {
            subscribers[rank].push(member);
        }
    }
    // Topics with fewer potential members first, then by name; partitions ascending.
    let mut topic_order: Vec<usize> = (0..group.names.len()).collect();
    topic_order.sort_by_key(|&rank| (subscribers[rank].len(), rank));
    let mut all_partitions: Vec<Tp> = Vec::with_capacity(group.total_partitions);
    for &rank in &topic_order {
        all_partitions.extend((0..group.counts[rank]).map(|p| (rank, p)));
    }
    let mut state = General {
        group,
        lists: claims.owned.iter().cloned().map(Some).collect(),
        holder: BTreeMap::new(),
        owner_of: Vec::new(),
        sorted: BTreeSet::new(),
        subscribers,
        movements: Movements::default(),
    };
    for (member, list) in claims.owned.iter().enumerate() {
        for &tp in list {
            state.holder.insert(tp, member);
        }
    }
    let previous = previous_owners(group, claims, protocol);
    // Claims on topics the member no longer subscribes to are dropped and force a revocation.
    let mut revocation_required = false;
    let mut assigned: BTreeSet<Tp> = BTreeSet::new();
    for member in 0..member_count {
        let subscribed = &group.subscribed[member];
        if let Some(list) = state.lists[member].as_mut() {
            let before = list.len();
            list.retain(|tp| subscribed.contains(&tp.0));
            revocation_required |= list.len() != before;
            assigned.extend(list.iter().copied());
        }
    }
    let mut unassigned: Vec<Tp> = all_partitions
        .iter()
        .copied()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    for member in 0..member_count {
        state.resort(member);
    }
    state.recompute_owners();
    let initializing = state.sorted.last().is_none_or(|&(size, _, _)| size == 0);
    for &tp in &unassigned {
        if let Some(member) = state.lightest_subscriber(tp) {
            state.give(tp, member);
        }
    }
    let fixed_topic = |rank: usize, state: &General| state.subscribers[rank].len() < 2;
    all_partitions.retain(|tp| !fixed_topic(tp.0, &state));
    unassigned.retain(|tp| !fixed_topic(tp.0, &state));
    let mut set_aside: Vec<(usize, Vec<Tp>)> = Vec::new();
    for member in 0..member_count {
        if !state.can_participate(member) {
            state.unsort(member);
            if let Some(list) = state.lists[member].take() {
                set_aside.push((member, list));
            }
        }
    }
    state.recompute_owners();
    let before_lists = state.lists.clone();
    let before_holder = state.holder.clone();
    let before_score = state.balance_score();
    if !revocation_required {
        state.perform_reassignments(&unassigned, &previous);
    }
    let performed = state.perform_reassignments(&all_partitions, &previous);
    if !initializing && performed && state.balance_score() >= before_score {
        state.lists = before_lists;
        state.holder = before_holder;
    }
    for (member, list) in set_aside {
        state.lists[member] = Some(list);
    }
    state
        .lists
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}
