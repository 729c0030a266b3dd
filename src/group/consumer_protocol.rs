//! The KIP-848 group coordinator (`group.protocol=consumer`, Kafka's `ConsumerGroup` in
//! `GroupMetadataManager.consumerGroupHeartbeat`): one RPC, ConsumerGroupHeartbeat; a group
//! epoch bumped by membership and subscription changes; a target assignment computed at once by
//! the server-side assignor (`TargetAssignmentBuilder`); and each member reconciled towards its
//! target on its own heartbeats (`CurrentAssignmentBuilder`): revoke first, then receive
//! partitions once their previous owner has released them. No member ever waits for another.
//!
//! Checked in every run: no partition is assigned (or pending revocation) to two members; no
//! member epoch exceeds the group epoch; a partition is given to a member only when no other
//! member still reports owning it (its previous owner acknowledged the revocation, or left).
//!
//! Model limit: a member rejoining with epoch 0 under a known member id is treated as a new
//! member (the old one is removed first); group configs (KIP-848 per-group overrides), regular
//! expression subscriptions and the offline/online migration between protocols are not modelled.

use crate::assignor::{
    self, AssignorName, MemberSubscription, RankedMember, RankedTarget, TopicPartitions, TopicRanks,
};
use crate::ids::{BrokerId, ConsumerId, NodeId, TopicId, TopicPartition};
use crate::msg::{
    ConsumerHeartbeat, GroupError, GroupRequest, GroupRequestBody, GroupResponse,
    GroupResponseBody, Message,
};
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet};

use super::java_string_hash;

/// The member epoch of a leave request (`LEAVE_GROUP_MEMBER_EPOCH`).
pub const LEAVE_EPOCH: i32 = -1;
/// The member epoch of a static member's temporary leave (`LEAVE_GROUP_STATIC_MEMBER_EPOCH`).
pub const LEAVE_STATIC_EPOCH: i32 = -2;

/// Timer kinds: two per member slot, its session deadline and its revocation deadline.
fn session_timer(slot: u32) -> u32 {
    2 * slot
}

fn revocation_timer(slot: u32) -> u32 {
    2 * slot + 1
}

/// Kafka's `MemberState` on the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    /// Waits for the member to acknowledge the revocation of `pending_revocation`.
    UnrevokedPartitions,
    /// At the target epoch, but part of its target is still owned by other members.
    UnreleasedPartitions,
}

#[derive(Debug)]
struct Member {
    consumer: ConsumerId,
    slot: u32,
    /// `String.hashCode` of the member id, which places it in the assignor's member order.
    id_hash: i32,
    instance_id: Option<String>,
    epoch: i32,
    /// A static member that left with `LEAVE_STATIC_EPOCH`: it keeps its epoch and
    /// assignment until its session ends or its instance comes back.
    away: bool,
    state: MemberState,
    assigned: BTreeSet<TopicPartition>,
    pending_revocation: BTreeSet<TopicPartition>,
    rebalance_timeout_ns: u64,
    topics: Vec<String>,
    /// `topics` as the group's topic ranks, for the assignor.
    topic_ranks: Vec<usize>,
    server_assignor: Option<String>,
    /// What the member said it owns in its last heartbeat.
    reported: BTreeSet<TopicPartition>,
    /// The member's part of the target assignment.
    target: BTreeSet<TopicPartition>,
    /// `target` as the assignor gives it and takes it back at the next computation (Kafka's
    /// `TargetAssignmentBuilder` likewise keeps each member's spec and target between runs).
    ranked_target: RankedTarget,
}

/// The coordinator's settings (broker configs).
#[derive(Debug, Clone)]
pub struct ConsumerGroupSettings {
    pub heartbeat_interval_ns: u64,
    pub session_timeout_ns: u64,
    /// `group.consumer.assignors`, the first the default.
    pub assignors: Vec<String>,
}

pub struct ConsumerGroup {
    pub index: usize,
    pub group_id: String,
    pub broker: BrokerId,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    settings: ConsumerGroupSettings,
    /// The subscribed topics with their partition counts, as the coordinator's metadata image
    /// has them, by rank (see `TopicRanks`).
    topics: TopicRanks,
    /// The topic ids, by rank.
    topic_ids: Vec<TopicId>,
    members: BTreeMap<String, Member>,
    /// Who holds each partition (assigned or pending revocation), by member slot: Kafka's
    /// partition epochs.
    holders: BTreeMap<TopicPartition, u32>,
    /// How many members report owning each partition in their last heartbeat, so that giving
    /// a partition away checks its release without asking every member.
    reported_counts: BTreeMap<TopicPartition, u32>,
    committed: BTreeMap<TopicPartition, u64>,
    next_member_seq: u64,
    next_slot: u32,
    slots: BTreeMap<u32, String>,
    rebalance_open: bool,
    /// A subscribed topic's metadata changed (`onNewMetadataImage` requests a refresh): the next
    /// heartbeat bumps the group epoch.
    metadata_refresh: bool,
}

/// Who asked, as every handler needs it.
struct Ask {
    request_id: u64,
    consumer: ConsumerId,
    member_id: String,
    epoch: i32,
}

impl ConsumerGroup {
    pub fn new(
        index: usize,
        group_id: &str,
        broker: BrokerId,
        settings: ConsumerGroupSettings,
        topics: &[(String, TopicId, u32)],
    ) -> Self {
        let ranks = TopicRanks::new(
            topics
                .iter()
                .map(|(name, _, count)| (name.as_str(), *count)),
        );
        let topic_ids = (0..ranks.len())
            .map(|rank| {
                let name = ranks.name(rank);
                (topics.iter())
                    .find(|(candidate, _, _)| candidate == name)
                    .map(|(_, id, _)| *id)
                    .expect("every ranked topic comes from the list")
            })
            .collect();
        ConsumerGroup {
            index,
            group_id: group_id.to_string(),
            broker,
            group_epoch: 0,
            assignment_epoch: 0,
            settings,
            topics: ranks,
            topic_ids,
            members: BTreeMap::new(),
            holders: BTreeMap::new(),
            reported_counts: BTreeMap::new(),
            committed: BTreeMap::new(),
            next_member_seq: 0,
            next_slot: 0,
            slots: BTreeMap::new(),
            rebalance_open: false,
            metadata_refresh: false,
        }
    }

    /// The coordinator's broker died or lost the group's offsets partition. Kafka writes every
    /// change of a consumer group (members, epochs, target and current assignments) to
    /// `__consumer_offsets` before it answers, so only the timers go with the process.
    pub fn unload(&mut self, ctx: &mut Ctx) {
        for &slot in self.slots.keys() {
            ctx.cancel_group_timer(self.index, session_timer(slot));
            ctx.cancel_group_timer(self.index, revocation_timer(slot));
        }
    }

    /// A broker replays the group (`GroupMetadataManager.onLoaded`): every member gets a fresh
    /// session deadline, and a member still revoking a fresh revocation deadline.
    pub fn load(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        self.unload(ctx);
        self.broker = broker;
        for member in self.members.values() {
            let session_at_ns = ctx.now_ns + self.settings.session_timeout_ns;
            ctx.set_group_timer(self.index, session_timer(member.slot), session_at_ns);
            if member.state == MemberState::UnrevokedPartitions {
                let revoke_by_ns = ctx.now_ns + member.rebalance_timeout_ns;
                ctx.set_group_timer(self.index, revocation_timer(member.slot), revoke_by_ns);
            }
        }
    }

    /// A subscribed topic now has `partitions` partitions.
    pub fn partitions_changed(&mut self, topic: &str, partitions: u32) {
        if let Some(rank) = self.topics.rank(topic) {
            self.topics.set_count(rank, partitions);
            self.metadata_refresh = true;
        }
    }

    pub fn committed(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.committed
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// (member epoch, state, assigned partitions) of the member a consumer process runs, if any.
    pub fn member_of(
        &self,
        consumer: ConsumerId,
    ) -> Option<(i32, MemberState, &BTreeSet<TopicPartition>)> {
        self.members
            .values()
            .find(|member| member.consumer == consumer)
            .map(|member| (member.epoch, member.state, &member.assigned))
    }

    fn reply(
        &self,
        ctx: &mut Ctx,
        to: ConsumerId,
        request_id: u64,
        error: Option<GroupError>,
        body: GroupResponseBody,
    ) {
        let response = GroupResponse {
            request_id,
            error,
            body,
        };
        ctx.send(
            NodeId::Broker(self.broker),
            NodeId::Consumer(to),
            Message::GroupReply(Box::new(response)),
        );
    }

    /// Handles one request; returns the offsets it committed (the broker trims logs by them).
    pub fn handle(&mut self, ctx: &mut Ctx, request: GroupRequest) -> Vec<(TopicPartition, u64)> {
        let ask = Ask {
            request_id: request.request_id,
            consumer: request.consumer,
            member_id: request.member_id,
            epoch: request.generation,
        };
        match request.body {
            GroupRequestBody::ConsumerHeartbeat(heartbeat) => {
                self.handle_heartbeat(ctx, ask, heartbeat)
            }
            GroupRequestBody::OffsetCommit(offsets) => {
                return self.handle_commit(ctx, ask, offsets)
            }
            GroupRequestBody::OffsetFetch(tps) => {
                let offsets = tps
                    .into_iter()
                    .map(|tp| (tp, self.committed.get(&tp).copied()))
                    .collect();
                let body = GroupResponseBody::OffsetFetch(offsets);
                self.reply(ctx, ask.consumer, ask.request_id, None, body);
            }
            // The scenario layer gives every member of a group the same protocol, so classic
            // requests never reach a consumer-protocol group (Kafka would answer them only on the
            // upgrade path, which the model refuses up front).
            other => panic!(
                "group {}: classic request {other:?} sent to a consumer-protocol group",
                self.group_id
            ),
        }
        Vec::new()
    }

    fn heartbeat_reply(
        &self,
        member_id: &str,
        epoch: i32,
        assignment: Option<Vec<TopicPartition>>,
    ) -> GroupResponseBody {
        GroupResponseBody::ConsumerHeartbeat {
            member_id: member_id.to_string(),
            member_epoch: epoch,
            heartbeat_interval_ns: self.settings.heartbeat_interval_ns,
            assignment,
        }
    }

    fn error_reply(&self, ctx: &mut Ctx, ask: &Ask, error: GroupError) {
        let body = self.heartbeat_reply(&ask.member_id, ask.epoch, None);
        self.reply(ctx, ask.consumer, ask.request_id, Some(error), body);
    }

    fn handle_heartbeat(&mut self, ctx: &mut Ctx, ask: Ask, heartbeat: ConsumerHeartbeat) {
        match ask.epoch {
            LEAVE_EPOCH => {
                if self.members.contains_key(&ask.member_id) {
                    self.remove_member(ctx, &ask.member_id);
                }
                let body = self.heartbeat_reply(&ask.member_id, LEAVE_EPOCH, None);
                self.reply(ctx, ask.consumer, ask.request_id, None, body);
                return;
            }
            LEAVE_STATIC_EPOCH => {
                // KIP-848 static leave: the member keeps its assignment until its session ends
                // or its instance comes back.
                if let Some(member) = self.members.get_mut(&ask.member_id) {
                    member.away = true;
                    set_reported(&mut self.reported_counts, member, BTreeSet::new());
                }
                let body = self.heartbeat_reply(&ask.member_id, LEAVE_STATIC_EPOCH, None);
                self.reply(ctx, ask.consumer, ask.request_id, None, body);
                return;
            }
            _ => {}
        }
        let (id, full) = if ask.epoch == 0 {
            match self.join(ctx, &ask, &heartbeat) {
                Some(joined) => joined,
                None => return,
            }
        } else {
            match self.members.get(&ask.member_id) {
                None => return self.error_reply(ctx, &ask, GroupError::UnknownMemberId),
                Some(member) if member.epoch != ask.epoch => {
                    return self.error_reply(ctx, &ask, GroupError::FencedMemberEpoch)
                }
                Some(_) => (ask.member_id.clone(), false),
            }
        };
        self.update_member(ctx, &id, ask.consumer, heartbeat);
        if std::mem::take(&mut self.metadata_refresh) {
            // The subscription metadata changed (a partition count grew).
            self.bump_group_epoch(ctx);
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target();
        }
        let changed = self.reconcile(ctx, &id);
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let assignment = (changed || full).then(|| member.assigned.iter().copied().collect());
        let body = self.heartbeat_reply(&id, member.epoch, assignment);
        self.reply(ctx, ask.consumer, ask.request_id, None, body);
        self.check_invariants();
        self.maybe_complete_rebalance(ctx);
    }

    /// A heartbeat with epoch 0. Returns the member id and whether the full assignment must be
    /// sent, or None when answered with an error.
    fn join(
        &mut self,
        ctx: &mut Ctx,
        ask: &Ask,
        heartbeat: &ConsumerHeartbeat,
    ) -> Option<(String, bool)> {
        if !ask.member_id.is_empty() && self.members.contains_key(&ask.member_id) {
            // Model limit: a known member rejoining with epoch 0 (after being fenced) is removed
            // and joins as new.
            self.remove_member(ctx, &ask.member_id);
        }
        if let Some(instance) = &heartbeat.instance_id {
            let previous = self
                .members
                .iter()
                .find(|(_, member)| member.instance_id.as_ref() == Some(instance))
                .map(|(id, member)| (id.clone(), member.away));
            if let Some((old_id, away)) = previous {
                if !away {
                    self.error_reply(ctx, ask, GroupError::UnreleasedInstanceId);
                    return None;
                }
                let new_id = self.new_member_id(ask.consumer);
                self.replace_static(&old_id, &new_id, ask.consumer);
                return Some((new_id, true));
            }
        }
        let id = self.new_member_id(ask.consumer);
        let slot = self.next_slot;
        self.next_slot += 1;
        self.slots.insert(slot, id.clone());
        let topic_ranks = ranks_of(&self.topics, &self.group_id, &heartbeat.topics);
        self.members.insert(
            id.clone(),
            Member {
                consumer: ask.consumer,
                slot,
                id_hash: java_string_hash(&id),
                instance_id: heartbeat.instance_id.clone(),
                epoch: 0,
                away: false,
                state: MemberState::Stable,
                assigned: BTreeSet::new(),
                pending_revocation: BTreeSet::new(),
                rebalance_timeout_ns: heartbeat.rebalance_timeout_ns,
                topics: heartbeat.topics.clone(),
                topic_ranks,
                server_assignor: heartbeat.server_assignor.clone(),
                reported: BTreeSet::new(),
                target: BTreeSet::new(),
                ranked_target: RankedTarget::new(),
            },
        );
        self.bump_group_epoch(ctx);
        Some((id, true))
    }

    fn new_member_id(&mut self, consumer: ConsumerId) -> String {
        self.next_member_seq += 1;
        format!("consumer-{}-{}", consumer.0, self.next_member_seq)
    }

    /// KIP-848 static membership: the returning instance takes over the old member's epoch,
    /// assignment and target under its new member id; the group epoch does not move.
    fn replace_static(&mut self, old_id: &str, new_id: &str, consumer: ConsumerId) {
        let Some(mut member) = self.members.remove(old_id) else {
            return;
        };
        member.consumer = consumer;
        set_reported(&mut self.reported_counts, &mut member, BTreeSet::new());
        member.away = false;
        member.id_hash = java_string_hash(new_id);
        // The slot stays, so do its holdings; the target moves with the member.
        self.slots.insert(member.slot, new_id.to_string());
        self.members.insert(new_id.to_string(), member);
    }

    /// Step 1 of the heartbeat: refresh the session and the member's fields; a changed
    /// subscription or assignor bumps the group epoch.
    fn update_member(
        &mut self,
        ctx: &mut Ctx,
        id: &str,
        consumer: ConsumerId,
        heartbeat: ConsumerHeartbeat,
    ) {
        let session_ns = self.settings.session_timeout_ns;
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        member.consumer = consumer;
        member.rebalance_timeout_ns = heartbeat.rebalance_timeout_ns;
        let reported = heartbeat.owned.into_iter().collect();
        set_reported(&mut self.reported_counts, member, reported);
        let topics_changed = member.topics != heartbeat.topics;
        let changed = topics_changed || member.server_assignor != heartbeat.server_assignor;
        if topics_changed {
            member.topic_ranks = ranks_of(&self.topics, &self.group_id, &heartbeat.topics);
        }
        member.topics = heartbeat.topics;
        member.server_assignor = heartbeat.server_assignor;
        let slot = member.slot;
        ctx.set_group_timer(self.index, session_timer(slot), ctx.now_ns + session_ns);
        if changed {
            self.bump_group_epoch(ctx);
        }
    }

    fn bump_group_epoch(&mut self, ctx: &mut Ctx) {
        self.group_epoch += 1;
        if !self.rebalance_open {
            self.rebalance_open = true;
            ctx.metrics.rebalance_started(self.index, ctx.now_ns);
        }
    }

    /// `ConsumerGroup.computePreferredServerAssignor`: the assignor most members ask for, else
    /// the brokers' first; ties go to the one listed first by the brokers.
    fn preferred_assignor(&self) -> AssignorName {
        let mut best: Option<(&str, usize)> = None;
        for name in &self.settings.assignors {
            let votes = self
                .members
                .values()
                .filter(|member| member.server_assignor.as_deref() == Some(name.as_str()))
                .count();
            if votes > 0 && best.is_none_or(|(_, most)| votes > most) {
                best = Some((name, votes));
            }
        }
        let name = best
            .map(|(name, _)| name)
            .or(self.settings.assignors.first().map(String::as_str))
            .unwrap_or("uniform");
        match name {
            "range" => AssignorName::ServerRange,
            _ => AssignorName::Uniform,
        }
    }

    /// Step 2 (`TargetAssignmentBuilder`): the assignor runs over every member, each member's
    /// current target standing as what it has, and the result becomes the new target.
    fn compute_target(&mut self) {
        let targets = match self.preferred_assignor() {
            AssignorName::Uniform => {
                let members: Vec<RankedMember> = (self.members.values())
                    .map(|member| RankedMember {
                        id_hash: member.id_hash,
                        topics: &member.topic_ranks,
                        owned: &member.ranked_target,
                    })
                    .collect();
                assignor::assign_uniform_ranked(&self.topics, &members)
            }
            assignor => self.assign_by_name(assignor),
        };
        let topic_ids = &self.topic_ids;
        for (member, target) in self.members.values_mut().zip(targets) {
            if member.ranked_target == target {
                continue;
            }
            member.target = (target.iter())
                .flat_map(|(rank, partitions)| {
                    (partitions.iter()).map(move |&partition| TopicPartition {
                        topic: topic_ids[*rank],
                        partition,
                    })
                })
                .collect();
            member.ranked_target = target;
        }
        self.assignment_epoch = self.group_epoch;
    }

    /// Any assignor, over members described by name: each member's target, in member order.
    fn assign_by_name(&self, assignor: AssignorName) -> Vec<RankedTarget> {
        let counts: BTreeMap<String, u32> = (0..self.topics.len())
            .map(|rank| (self.topics.name(rank).to_string(), self.topics.count(rank)))
            .collect();
        let subscriptions: Vec<MemberSubscription> = self
            .members
            .iter()
            .map(|(id, member)| MemberSubscription {
                member_id: id.clone(),
                group_instance_id: member.instance_id.clone(),
                topics: member.topics.clone(),
                owned: (member.ranked_target.iter())
                    .map(|(rank, partitions)| {
                        (self.topics.name(*rank).to_string(), partitions.clone())
                    })
                    .collect(),
                generation: None,
                rack: None,
            })
            .collect();
        // Subscriptions name only scenario topics, so the assignor accepts this input.
        let assignment = assignor::assign(assignor, &counts, &subscriptions)
            .unwrap_or_else(|error| panic!("group {}: assignor failed: {error}", self.group_id));
        (self.members.keys())
            .map(|id| {
                (assignment.get(id))
                    .map(|by_topic| ranked_target(&self.topics, by_topic))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Step 3 (`CurrentAssignmentBuilder.build`): moves this member towards its target.
    /// Returns whether its assignment or epoch changed.
    fn reconcile(&mut self, ctx: &mut Ctx, id: &str) -> bool {
        let Some(member) = self.members.get(id) else {
            return false;
        };
        let proceed = match member.state {
            MemberState::Stable => member.epoch != self.assignment_epoch,
            MemberState::UnrevokedPartitions => {
                member.reported.is_disjoint(&member.pending_revocation)
            }
            MemberState::UnreleasedPartitions => true,
        };
        if !proceed {
            return false;
        }
        let before = (member.epoch, member.state, member.assigned.clone());
        self.compute_next_assignment(ctx, id);
        let Some(member) = self.members.get(id) else {
            return false;
        };
        before != (member.epoch, member.state, member.assigned.clone())
    }

    /// `computeNextAssignment`: keep what stays, ask to revoke what goes (staying at the current
    /// epoch), else move to the target epoch with every target partition that is free.
    fn compute_next_assignment(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        let target = &member.target;
        let keep: BTreeSet<TopicPartition> =
            member.assigned.intersection(target).copied().collect();
        let revoke: BTreeSet<TopicPartition> = member.assigned.difference(&keep).copied().collect();
        let mut add = BTreeSet::new();
        let mut unreleased = false;
        let slot = member.slot;
        for tp in target.difference(&keep) {
            match self.holders.get(tp) {
                Some(&holder) if holder != slot => unreleased = true,
                _ => {
                    add.insert(*tp);
                }
            }
        }
        let owns_revoked = !member.reported.is_disjoint(&revoke);
        let timeout_ns = member.rebalance_timeout_ns;
        let (epoch, state, assigned, pending) = if !revoke.is_empty() && owns_revoked {
            (member.epoch, MemberState::UnrevokedPartitions, keep, revoke)
        } else {
            let state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            let assigned = keep.union(&add).copied().collect();
            (self.assignment_epoch, state, assigned, BTreeSet::new())
        };
        for tp in &add {
            if assigned.contains(tp) {
                self.check_released(id, *tp);
            }
        }
        let entering_revocation = state == MemberState::UnrevokedPartitions
            && member.state != MemberState::UnrevokedPartitions;
        if state == MemberState::UnrevokedPartitions {
            if entering_revocation {
                // The member must revoke within its rebalance timeout (max.poll.interval.ms).
                ctx.set_group_timer(self.index, revocation_timer(slot), ctx.now_ns + timeout_ns);
            }
        } else {
            ctx.cancel_group_timer(self.index, revocation_timer(slot));
        }
        self.set_holdings(id, &assigned, &pending);
        assert!(
            epoch <= self.group_epoch,
            "group {}: member {id} at epoch {epoch} beyond the group epoch {}",
            self.group_id,
            self.group_epoch
        );
        if let Some(member) = self.members.get_mut(id) {
            member.epoch = epoch;
            member.state = state;
            member.assigned = assigned;
            member.pending_revocation = pending;
        }
    }

    /// Invariant: a partition goes to a member only once no other member reports owning it.
    fn check_released(&self, id: &str, tp: TopicPartition) {
        let reporting = self.reported_counts.get(&tp).copied().unwrap_or(0);
        let own = (self.members.get(id)).is_some_and(|member| member.reported.contains(&tp));
        let other = || {
            (self.members.iter())
                .find(|(other, member)| *other != id && member.reported.contains(&tp))
                .map(|(other, _)| other.as_str())
        };
        debug_assert_eq!(
            reporting > u32::from(own),
            other().is_some(),
            "group {}: report counts out of step for {tp:?}",
            self.group_id
        );
        if reporting > u32::from(own) {
            panic!(
                "group {}: epoch {} gives {tp:?} to {id} while {} still owns it",
                self.group_id,
                self.assignment_epoch,
                other().unwrap_or_default()
            );
        }
    }

    /// Records which partitions a member holds, asserting no other member holds them. What it
    /// held before is exactly its assigned and pending partitions, so only those are cleared.
    fn set_holdings(
        &mut self,
        id: &str,
        assigned: &BTreeSet<TopicPartition>,
        pending: &BTreeSet<TopicPartition>,
    ) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        let slot = member.slot;
        release_holdings(&mut self.holders, member);
        for tp in assigned.iter().chain(pending) {
            if let Some(previous) = self.holders.insert(*tp, slot) {
                let other = self.slots.get(&previous).map_or("", String::as_str);
                panic!(
                    "group {}: {tp:?} held by {other} and {id} at once",
                    self.group_id
                );
            }
        }
    }

    /// (A member's epoch is checked against the group epoch where it is set, in
    /// `compute_next_assignment`: the group epoch never decreases.)
    fn check_invariants(&self) {
        assert!(
            self.assignment_epoch <= self.group_epoch,
            "group {}: assignment epoch {} beyond the group epoch {}",
            self.group_id,
            self.assignment_epoch,
            self.group_epoch
        );
    }

    /// A rebalance (for the metrics) ends when every member is stable at the group epoch.
    fn maybe_complete_rebalance(&mut self, ctx: &mut Ctx) {
        if !self.rebalance_open || self.assignment_epoch != self.group_epoch {
            return;
        }
        let converged = self.members.values().all(|member| {
            member.epoch == self.assignment_epoch && member.state == MemberState::Stable
        });
        if !converged {
            return;
        }
        self.rebalance_open = false;
        if self.members.is_empty() {
            ctx.metrics.rebalance_abandoned(self.index);
            return;
        }
        let assigned: usize = self
            .members
            .values()
            .map(|member| member.target.len())
            .sum();
        ctx.metrics.rebalance_completed(
            self.index,
            self.group_epoch.max(0) as u32,
            ctx.now_ns,
            self.members.len() as u32,
            assigned as u32,
        );
    }

    /// A member leaves, expires or is fenced: its partitions are free, the group epoch moves.
    fn remove_member(&mut self, ctx: &mut Ctx, id: &str) {
        let Some(mut member) = self.members.remove(id) else {
            return;
        };
        set_reported(&mut self.reported_counts, &mut member, BTreeSet::new());
        self.slots.remove(&member.slot);
        release_holdings(&mut self.holders, &member);
        ctx.cancel_group_timer(self.index, session_timer(member.slot));
        ctx.cancel_group_timer(self.index, revocation_timer(member.slot));
        self.bump_group_epoch(ctx);
        if self.members.is_empty() {
            // Nobody is left to heartbeat: the (empty) target is current.
            self.compute_target();
            self.maybe_complete_rebalance(ctx);
        }
    }

    /// A session deadline (no heartbeat for `group.consumer.session.timeout.ms`) or a
    /// revocation deadline (`max.poll.interval.ms` in UNREVOKED_PARTITIONS) fences the member.
    pub fn on_timer(&mut self, ctx: &mut Ctx, kind: u32) {
        let slot = kind / 2;
        let Some(id) = self.slots.get(&slot).cloned() else {
            return;
        };
        if kind == revocation_timer(slot)
            && self
                .members
                .get(&id)
                .is_none_or(|member| member.state != MemberState::UnrevokedPartitions)
        {
            return;
        }
        self.remove_member(ctx, &id);
    }

    /// Offsets commit only from a member at its current epoch (`STALE_MEMBER_EPOCH` otherwise);
    /// a commit with no member id and a negative epoch is accepted (an admin or simple commit).
    fn commit_error(&self, ask: &Ask) -> Option<GroupError> {
        if ask.member_id.is_empty() && ask.epoch < 0 {
            return None;
        }
        match self.members.get(&ask.member_id) {
            None => Some(GroupError::UnknownMemberId),
            Some(member) if member.epoch != ask.epoch => Some(GroupError::StaleMemberEpoch),
            Some(_) => None,
        }
    }

    fn handle_commit(
        &mut self,
        ctx: &mut Ctx,
        ask: Ask,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> Vec<(TopicPartition, u64)> {
        let error = self.commit_error(&ask);
        let accepted = if error.is_none() { offsets } else { Vec::new() };
        super::store_commits(
            ctx,
            self.index,
            &self.group_id,
            &mut self.committed,
            &accepted,
        );
        self.reply(
            ctx,
            ask.consumer,
            ask.request_id,
            error,
            GroupResponseBody::OffsetCommit,
        );
        accepted
    }
}

/// Replaces what a member reports owning, keeping the per-partition counts.
fn set_reported(
    counts: &mut BTreeMap<TopicPartition, u32>,
    member: &mut Member,
    reported: BTreeSet<TopicPartition>,
) {
    if member.reported == reported {
        return;
    }
    for tp in &member.reported {
        if let Some(count) = counts.get_mut(tp) {
            *count -= 1;
            if *count == 0 {
                counts.remove(tp);
            }
        }
    }
    for tp in &reported {
        *counts.entry(*tp).or_default() += 1;
    }
    member.reported = reported;
}

/// Forgets what a member holds (its assigned and pending partitions).
fn release_holdings(holders: &mut BTreeMap<TopicPartition, u32>, member: &Member) {
    for tp in member.assigned.iter().chain(&member.pending_revocation) {
        if holders.get(tp) == Some(&member.slot) {
            holders.remove(tp);
        }
    }
}

/// A subscription as topic ranks. The scenario gives a group's members only the group's
/// topics, so every name has a rank.
fn ranks_of(topics: &TopicRanks, group_id: &str, names: &[String]) -> Vec<usize> {
    (names.iter())
        .map(|name| {
            (topics.rank(name)).unwrap_or_else(|| {
                panic!("group {group_id}: a member subscribes to {name}, not a topic of the group")
            })
        })
        .collect()
}

/// An assignor's answer for one member as the target the coordinator keeps: topics in name
/// order (as given), partitions ascending without repeats, no topic without partitions.
fn ranked_target(topics: &TopicRanks, by_topic: &TopicPartitions) -> RankedTarget {
    (by_topic.iter())
        .filter_map(|(name, partitions)| {
            let rank = topics.rank(name)?;
            let mut partitions = partitions.clone();
            partitions.sort_unstable();
            partitions.dedup();
            (!partitions.is_empty()).then_some((rank, partitions))
        })
        .collect()
}
