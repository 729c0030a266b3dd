//! The classic group coordinator (Kafka's `ClassicGroup` state machine in `GroupMetadataManager`):
//! JoinGroup with KIP-394's member id round trip, the initial delayed join, the rebalance and
//! pending-sync deadlines, SyncGroup with the leader's assignment, heartbeats, session expiry,
//! LeaveGroup, static members (KIP-345, KIP-814) and the offsets of `__consumer_offsets`.
//!
//! Coordinator failover (Kafka 4.x's coordinator runtime): the group's metadata record is
//! written to `__consumer_offsets` when the leader's SyncGroup makes the group Stable and when
//! the group becomes Empty; a broker that takes over the partition replays it, so the group comes
//! back Stable with its generation, members and assignments (`ClassicGroup.fromRecord`), and every
//! member's session deadline is rescheduled from the load (`GroupMetadataManager.onLoaded`).
//! In-memory progress since the last record (a rebalance under way, pending members) is lost.
//!
//! Model limit: the Dead state (group deletion) is not modelled.

use crate::assignor::AssignorName;
use crate::ids::{BrokerId, ConsumerId, NodeId, TopicPartition};
use crate::msg::{
    GroupError, GroupRequest, GroupRequestBody, GroupResponse, GroupResponseBody, JoinGroup,
    JoinedMember, Message,
};
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

/// Timer kinds of a group: the join deadline, the pending-sync deadline, then one session timer
/// per member slot.
pub const JOIN_TIMER: u32 = 0;
pub const SYNC_TIMER: u32 = 1;
const SESSION_TIMER_BASE: u32 = 2;

#[derive(Debug, Clone)]
struct Member {
    consumer: ConsumerId,
    instance_id: Option<String>,
    slot: u32,
    join: JoinGroup,
    /// The generation the member's `owned` claim was earned in.
    owned_generation: i32,
    /// Request id of a parked JoinGroup or SyncGroup.
    awaiting_join: Option<u64>,
    awaiting_sync: Option<u64>,
    synced: bool,
    assignment: Vec<TopicPartition>,
}

/// Kafka's `InitialDelayedJoin`: the first rebalance of an empty group waits for more members.
#[derive(Debug, Clone, Copy)]
struct DelayedJoin {
    remaining_ns: u64,
    joined_since: bool,
}

/// What the group's last metadata record in `__consumer_offsets` holds.
#[derive(Debug, Clone)]
struct Snapshot {
    generation: i32,
    protocol: Option<AssignorName>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
}

pub struct ClassicGroup {
    pub index: usize,
    pub group_id: String,
    /// The broker leading the group's `__consumer_offsets` partition (in the controller's view;
    /// it may have crashed and not yet been fenced), or the last one if the partition is offline.
    pub broker: BrokerId,
    /// The broker's process incarnation the group was loaded in.
    pub incarnation: u32,
    /// Whether the coordinator's state is in memory on `broker`.
    pub loaded: bool,
    /// The `__consumer_offsets` partition has no leader (COORDINATOR_NOT_AVAILABLE).
    pub offline: bool,
    /// How many times the group moved to another broker or was reloaded.
    pub failovers: u32,
    snapshot: Snapshot,
    pub state: GroupState,
    pub generation: i32,
    protocol: Option<AssignorName>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used.
    pending: BTreeSet<String>,
    next_member_seq: u64,
    next_slot: u32,
    slots: BTreeMap<u32, String>,
    committed: BTreeMap<TopicPartition, u64>,
    /// TxnOffsetCommit offsets of open transactions, by producer id (stored in
    /// `__consumer_offsets` as Kafka does, so they survive a failover).
    pending_txn_offsets: BTreeMap<u64, BTreeMap<TopicPartition, u64>>,
    initial_delay_ns: u64,
    delayed_join: Option<DelayedJoin>,
    rebalance_open: bool,
}

impl ClassicGroup {
    pub fn new(index: usize, group_id: &str, broker: BrokerId, initial_delay_ns: u64) -> Self {
        ClassicGroup {
            index,
            group_id: group_id.to_string(),
            broker,
            incarnation: 0,
            loaded: true,
            offline: false,
            failovers: 0,
            snapshot: Snapshot {
                generation: 0,
                protocol: None,
                leader: None,
                members: BTreeMap::new(),
            },
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeSet::new(),
            next_member_seq: 0,
            next_slot: 0,
            slots: BTreeMap::new(),
            committed: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            initial_delay_ns,
            delayed_join: None,
            rebalance_open: false,
        }
    }

    pub fn committed(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.committed
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Writes the group's metadata record (Kafka appends it and waits for replication).
    fn store(&mut self) {
        let mut members = self.members.clone();
        for member in members.values_mut() {
            member.awaiting_join = None;
            member.awaiting_sync = None;
        }
        self.snapshot = Snapshot {
            generation: self.generation,
            protocol: self.protocol,
            leader: self.leader.clone(),
            members,
        };
    }

    /// The coordinator's broker died or lost the partition: the in-memory state is gone, its
    /// timers with it. Committed offsets and the stored record stay in `__consumer_offsets`.
    pub fn unload(&mut self, ctx: &mut Ctx) {
        if !self.loaded {
            return;
        }
        self.loaded = false;
        ctx.cancel_group_timer(self.index, JOIN_TIMER);
        ctx.cancel_group_timer(self.index, SYNC_TIMER);
        for slot in self.slots.keys() {
            ctx.cancel_group_timer(self.index, SESSION_TIMER_BASE + slot);
        }
        if self.rebalance_open {
            self.rebalance_open = false;
            ctx.metrics.rebalance_abandoned(self.index);
        }
        self.members.clear();
        self.slots.clear();
        self.pending.clear();
        self.delayed_join = None;
    }

    /// A broker became the leader of the group's offsets partition and replays it: the group is
    /// Stable with its stored members (Empty without), each with a fresh session deadline.
    pub fn load(&mut self, ctx: &mut Ctx, broker: BrokerId, incarnation: u32) {
        self.unload(ctx);
        self.broker = broker;
        self.incarnation = incarnation;
        self.loaded = true;
        self.offline = false;
        self.failovers += 1;
        let snapshot = self.snapshot.clone();
        self.generation = snapshot.generation;
        self.protocol = snapshot.protocol;
        self.leader = snapshot.leader;
        self.members = snapshot.members;
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        let sessions: Vec<(u32, u64)> = self
            .members
            .values()
            .map(|member| (member.slot, member.join.session_timeout_ns))
            .collect();
        self.slots = self
            .members
            .iter()
            .map(|(id, member)| (member.slot, id.clone()))
            .collect();
        for (slot, session_ns) in sessions {
            self.touch(ctx, slot, session_ns);
        }
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
        let GroupRequest {
            request_id,
            consumer,
            member_id,
            generation,
            body,
            ..
        } = request;
        let ask = Ask {
            request_id,
            consumer,
            member_id,
            generation,
        };
        match body {
            GroupRequestBody::Join(join) => self.handle_join(ctx, ask, join),
            GroupRequestBody::Sync(assignment) => self.handle_sync(ctx, ask, assignment),
            GroupRequestBody::Heartbeat => self.handle_heartbeat(ctx, ask),
            GroupRequestBody::Leave => self.handle_leave(ctx, ask),
            GroupRequestBody::OffsetCommit(offsets) => {
                return self.handle_commit(ctx, ask, offsets)
            }
            GroupRequestBody::TxnOffsetCommit {
                producer_id,
                offsets,
                ..
            } => {
                // KIP-447: the member's id and generation fence zombies, as for OffsetCommit.
                let error = self.commit_error(&ask);
                if error.is_none() {
                    let pending = self.pending_txn_offsets.entry(producer_id).or_default();
                    pending.extend(offsets);
                }
                self.reply(
                    ctx,
                    ask.consumer,
                    ask.request_id,
                    error,
                    GroupResponseBody::OffsetCommit,
                );
            }
            GroupRequestBody::OffsetFetch(tps)
                if tps.iter().any(|tp| self.has_pending_txn_offset(*tp)) =>
            {
                // KIP-447 (`require_stable`): offsets an open transaction may still change.
                self.reply(
                    ctx,
                    ask.consumer,
                    ask.request_id,
                    Some(GroupError::UnstableOffsetCommit),
                    GroupResponseBody::OffsetFetch(Vec::new()),
                );
            }
            GroupRequestBody::OffsetFetch(tps) => {
                let offsets = tps
                    .into_iter()
                    .map(|tp| (tp, self.committed.get(&tp).copied()))
                    .collect();
                self.reply(
                    ctx,
                    ask.consumer,
                    ask.request_id,
                    None,
                    GroupResponseBody::OffsetFetch(offsets),
                );
            }
            // The world sends KIP-848 heartbeats only to consumer-protocol groups (mixing
            // protocols in one group is refused when the scenario is built).
            GroupRequestBody::ConsumerHeartbeat(_) => panic!(
                "group {}: ConsumerGroupHeartbeat sent to a classic group",
                self.group_id
            ),
        }
        Vec::new()
    }

    fn join_reply(
        &self,
        member_id: &str,
        members: Vec<JoinedMember>,
        skip: bool,
    ) -> GroupResponseBody {
        GroupResponseBody::Join {
            generation: self.generation,
            member_id: member_id.to_string(),
            leader: self.leader.clone().unwrap_or_default(),
            protocol: self.protocol,
            members,
            skip_assignment: skip,
        }
    }

    fn new_member_id(&mut self, consumer: ConsumerId) -> String {
        self.next_member_seq += 1;
        format!("consumer-{}-{}", consumer.0, self.next_member_seq)
    }

    fn handle_join(&mut self, ctx: &mut Ctx, ask: Ask, join: JoinGroup) {
        if ask.member_id.is_empty() {
            if join.instance_id.is_some() {
                self.join_static(ctx, ask, join);
                return;
            }
            // KIP-394: a new dynamic member learns its id first and joins with it.
            let id = self.new_member_id(ask.consumer);
            self.pending.insert(id.clone());
            let body = self.join_reply(&id, Vec::new(), false);
            self.reply(
                ctx,
                ask.consumer,
                ask.request_id,
                Some(GroupError::MemberIdRequired),
                body,
            );
            return;
        }
        if self.pending.remove(&ask.member_id) {
            self.add_member(ctx, ask, join);
            return;
        }
        let leader = self.leader.as_deref() == Some(ask.member_id.as_str());
        let Some(member) = self.members.get_mut(&ask.member_id) else {
            let body = self.join_reply(&ask.member_id, Vec::new(), false);
            self.reply(
                ctx,
                ask.consumer,
                ask.request_id,
                Some(GroupError::UnknownMemberId),
                body,
            );
            return;
        };
        let unchanged = member.join.protocols == join.protocols && member.join.owned == join.owned;
        member.consumer = ask.consumer;
        member.join = join;
        member.owned_generation = ask.generation;
        let session_ns = member.join.session_timeout_ns;
        let slot = member.slot;
        if self.state == GroupState::Stable && unchanged && !leader {
            // Kafka answers a follower whose subscription did not change with the current state.
            let body = self.join_reply(&ask.member_id, Vec::new(), false);
            self.reply(ctx, ask.consumer, ask.request_id, None, body);
            self.touch(ctx, slot, session_ns);
            return;
        }
        member.awaiting_join = Some(ask.request_id);
        self.touch(ctx, slot, session_ns);
        self.rebalance_or_wait(ctx);
    }

    /// KIP-345: a static member's join with no member id replaces the member of its instance id.
    fn join_static(&mut self, ctx: &mut Ctx, ask: Ask, join: JoinGroup) {
        let known = self
            .members
            .iter()
            .find(|(_, member)| member.instance_id == join.instance_id)
            .map(|(id, _)| id.clone());
        let Some(old_id) = known else {
            let id = self.new_member_id(ask.consumer);
            self.add_member(
                ctx,
                Ask {
                    member_id: id,
                    ..ask
                },
                join,
            );
            return;
        };
        let new_id = self.new_member_id(ask.consumer);
        let Some(mut member) = self.members.remove(&old_id) else {
            return;
        };
        member.consumer = ask.consumer;
        let session_ns = join.session_timeout_ns;
        let unchanged = member.join.protocols == join.protocols;
        member.join = join;
        let slot = member.slot;
        self.slots.insert(slot, new_id.clone());
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            // No rebalance: the member syncs and gets its stored assignment back.
            member.awaiting_join = None;
            self.members.insert(new_id.clone(), member);
            // Kafka writes the replaced static member's new id before answering.
            self.store();
            let body = self.join_reply(&new_id, Vec::new(), was_leader);
            self.reply(ctx, ask.consumer, ask.request_id, None, body);
            self.touch(ctx, slot, session_ns);
            return;
        }
        member.awaiting_join = Some(ask.request_id);
        self.members.insert(new_id, member);
        self.touch(ctx, slot, session_ns);
        self.rebalance_or_wait(ctx);
    }

    fn add_member(&mut self, ctx: &mut Ctx, ask: Ask, join: JoinGroup) {
        let slot = self.next_slot;
        self.next_slot += 1;
        let session_ns = join.session_timeout_ns;
        self.slots.insert(slot, ask.member_id.clone());
        self.members.insert(
            ask.member_id,
            Member {
                consumer: ask.consumer,
                instance_id: join.instance_id.clone(),
                slot,
                join,
                owned_generation: ask.generation,
                awaiting_join: Some(ask.request_id),
                awaiting_sync: None,
                synced: false,
                assignment: Vec::new(),
            },
        );
        if let Some(delayed) = &mut self.delayed_join {
            delayed.joined_since = true;
        }
        self.touch(ctx, slot, session_ns);
        self.rebalance_or_wait(ctx);
    }

    fn rebalance_or_wait(&mut self, ctx: &mut Ctx) {
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(ctx);
        } else {
            self.prepare_rebalance(ctx);
        }
    }

    /// Refreshes a member's session deadline.
    fn touch(&self, ctx: &mut Ctx, slot: u32, session_ns: u64) {
        ctx.set_group_timer(
            self.index,
            SESSION_TIMER_BASE + slot,
            ctx.now_ns + session_ns,
        );
    }

    fn rebalance_timeout_ns(&self) -> u64 {
        self.members
            .values()
            .map(|member| member.join.rebalance_timeout_ns)
            .max()
            .unwrap_or(0)
    }

    fn prepare_rebalance(&mut self, ctx: &mut Ctx) {
        if self.state == GroupState::CompletingRebalance {
            let parked: Vec<(ConsumerId, u64)> = self
                .members
                .values_mut()
                .filter_map(|member| Some((member.consumer, member.awaiting_sync.take()?)))
                .collect();
            for (consumer, request_id) in parked {
                let error = Some(GroupError::RebalanceInProgress);
                self.reply(
                    ctx,
                    consumer,
                    request_id,
                    error,
                    GroupResponseBody::Sync(Vec::new()),
                );
            }
        }
        ctx.cancel_group_timer(self.index, SYNC_TIMER);
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        if !self.rebalance_open {
            self.rebalance_open = true;
            ctx.metrics.rebalance_started(self.index, ctx.now_ns);
        }
        let timeout_ns = self.rebalance_timeout_ns();
        if was_empty {
            let delay_ns = self.initial_delay_ns.min(timeout_ns);
            self.delayed_join = Some(DelayedJoin {
                remaining_ns: timeout_ns - delay_ns,
                joined_since: false,
            });
            ctx.set_group_timer(self.index, JOIN_TIMER, ctx.now_ns + delay_ns);
        } else {
            ctx.set_group_timer(self.index, JOIN_TIMER, ctx.now_ns + timeout_ns);
            self.try_complete_join(ctx);
        }
    }

    fn try_complete_join(&mut self, ctx: &mut Ctx) {
        if self.delayed_join.is_some() {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some());
        if all_joined && self.pending.is_empty() {
            self.complete_join(ctx);
        }
    }

    /// The join deadline: the initial delay ends or extends, or the rebalance timeout ran out.
    pub fn on_timer(&mut self, ctx: &mut Ctx, kind: u32) {
        match kind {
            JOIN_TIMER => self.on_join_timer(ctx),
            SYNC_TIMER => self.on_sync_timer(ctx),
            _ => self.on_session_timer(ctx, kind - SESSION_TIMER_BASE),
        }
    }

    fn on_join_timer(&mut self, ctx: &mut Ctx) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(delayed) = self.delayed_join {
            if delayed.joined_since && delayed.remaining_ns > 0 {
                let delay_ns = self.initial_delay_ns.min(delayed.remaining_ns);
                self.delayed_join = Some(DelayedJoin {
                    remaining_ns: delayed.remaining_ns - delay_ns,
                    joined_since: false,
                });
                ctx.set_group_timer(self.index, JOIN_TIMER, ctx.now_ns + delay_ns);
                return;
            }
        }
        // Model limit: pending member ids (KIP-394) that never came back are dropped here
        // rather than by their own session timers.
        self.pending.clear();
        self.complete_join(ctx);
    }

    fn complete_join(&mut self, ctx: &mut Ctx) {
        ctx.cancel_group_timer(self.index, JOIN_TIMER);
        self.delayed_join = None;
        let missing: Vec<String> = self
            .members
            .iter()
            .filter(|(_, member)| member.awaiting_join.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in missing {
            self.remove_member(ctx, &id);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            self.rebalance_open = false;
            ctx.metrics.rebalance_abandoned(self.index);
            self.store();
            return;
        }
        self.protocol = self.vote();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let roster: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|(id, member)| JoinedMember {
                member_id: id.clone(),
                instance_id: member.instance_id.clone(),
                owned: member.join.owned.clone(),
                generation: member.owned_generation,
            })
            .collect();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let members = if is_leader {
                roster.clone()
            } else {
                Vec::new()
            };
            let body = self.join_reply(&id, members, false);
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            member.synced = false;
            let (consumer, request_id, slot) =
                (member.consumer, member.awaiting_join.take(), member.slot);
            let session_ns = member.join.session_timeout_ns;
            if let Some(request_id) = request_id {
                self.reply(ctx, consumer, request_id, None, body);
            }
            self.touch(ctx, slot, session_ns);
        }
        let deadline_ns = ctx.now_ns + self.rebalance_timeout_ns();
        ctx.set_group_timer(self.index, SYNC_TIMER, deadline_ns);
    }

    /// Kafka's `selectProtocol`: among assignors every member supports, each member votes for its
    /// most preferred; most votes wins (ties: the first in the leader's order here).
    fn vote(&self) -> Option<AssignorName> {
        let mut candidates: Option<BTreeSet<AssignorName>> = None;
        for member in self.members.values() {
            let supported: BTreeSet<AssignorName> = member.join.protocols.iter().copied().collect();
            candidates = Some(match candidates {
                None => supported,
                Some(set) => set.intersection(&supported).copied().collect(),
            });
        }
        let candidates = candidates.unwrap_or_default();
        let mut votes: Vec<(AssignorName, u32)> = Vec::new();
        for member in self.members.values() {
            let Some(choice) = member
                .join
                .protocols
                .iter()
                .find(|p| candidates.contains(p))
            else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| name == choice) {
                Some(entry) => entry.1 += 1,
                None => votes.push((*choice, 1)),
            }
        }
        let best = votes.iter().map(|(_, count)| *count).max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name)
    }

    fn remove_member(&mut self, ctx: &mut Ctx, id: &str) {
        if let Some(member) = self.members.remove(id) {
            self.slots.remove(&member.slot);
            ctx.cancel_group_timer(self.index, SESSION_TIMER_BASE + member.slot);
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    fn handle_sync(
        &mut self,
        ctx: &mut Ctx,
        ask: Ask,
        assignment: Vec<(String, Vec<TopicPartition>)>,
    ) {
        let error = match self.members.get(&ask.member_id) {
            None => Some(GroupError::UnknownMemberId),
            Some(_) if ask.generation != self.generation => Some(GroupError::IllegalGeneration),
            Some(_) if self.state == GroupState::PreparingRebalance => {
                Some(GroupError::RebalanceInProgress)
            }
            Some(_) if self.state == GroupState::Empty => Some(GroupError::UnknownMemberId),
            Some(_) => None,
        };
        if error.is_some() {
            self.reply(
                ctx,
                ask.consumer,
                ask.request_id,
                error,
                GroupResponseBody::Sync(Vec::new()),
            );
            return;
        }
        let leader = self.leader.as_deref() == Some(ask.member_id.as_str());
        let Some(member) = self.members.get_mut(&ask.member_id) else {
            return;
        };
        let (slot, session_ns) = (member.slot, member.join.session_timeout_ns);
        if self.state == GroupState::Stable {
            member.synced = true;
            let body = GroupResponseBody::Sync(member.assignment.clone());
            let consumer = member.consumer;
            self.reply(ctx, consumer, ask.request_id, None, body);
            self.touch(ctx, slot, session_ns);
            return;
        }
        member.awaiting_sync = Some(ask.request_id);
        self.touch(ctx, slot, session_ns);
        if leader {
            self.apply_assignment(ctx, assignment);
        }
    }

    /// The leader's SyncGroup: check the invariants, store, go Stable, answer parked syncs.
    fn apply_assignment(&mut self, ctx: &mut Ctx, assignment: Vec<(String, Vec<TopicPartition>)>) {
        let mut given: BTreeMap<String, Vec<TopicPartition>> = assignment.into_iter().collect();
        let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
        for (id, tps) in &given {
            if !self.members.contains_key(id) {
                continue;
            }
            for tp in tps {
                let previous = owner.insert(*tp, id);
                assert!(
                    previous.is_none(),
                    "group {}: generation {} gives {tp:?} to two members",
                    self.group_id,
                    self.generation
                );
            }
        }
        self.check_cooperative(&owner);
        self.state = GroupState::Stable;
        let mut assigned = 0;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let tps = given.remove(&id).unwrap_or_default();
            assigned += tps.len() as u32;
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            member.assignment = tps;
            if let Some(request_id) = member.awaiting_sync.take() {
                member.synced = true;
                let body = GroupResponseBody::Sync(member.assignment.clone());
                let consumer = member.consumer;
                self.reply(ctx, consumer, request_id, None, body);
            }
        }
        self.rebalance_open = false;
        self.store();
        let members = self.members.len() as u32;
        ctx.metrics.rebalance_completed(
            self.index,
            self.generation.max(0) as u32,
            ctx.now_ns,
            members,
            assigned,
        );
    }

    /// Under cooperative rebalancing (KIP-429) a partition that a member still claims may go to no
    /// other member in the same round: its owner must revoke it first.
    fn check_cooperative(&self, owner: &BTreeMap<TopicPartition, &str>) {
        for (id, member) in &self.members {
            if !member.join.cooperative || member.owned_generation != self.generation - 1 {
                continue;
            }
            for tp in &member.join.owned {
                if let Some(new_owner) = owner.get(tp) {
                    assert!(
                        *new_owner == id.as_str(),
                        "group {}: generation {} moves {tp:?} from {id} to {new_owner} before {id} revoked it",
                        self.group_id,
                        self.generation
                    );
                }
            }
        }
    }

    fn on_sync_timer(&mut self, ctx: &mut Ctx) {
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            return;
        }
        let late: Vec<String> = self
            .members
            .iter()
            .filter(|(_, member)| !member.synced && member.awaiting_sync.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let leader_late = self.state == GroupState::CompletingRebalance;
        if late.is_empty() && !leader_late {
            return;
        }
        for id in late {
            self.remove_member(ctx, &id);
        }
        self.after_departure(ctx);
    }

    fn on_session_timer(&mut self, ctx: &mut Ctx, slot: u32) {
        let Some(id) = self.slots.get(&slot).cloned() else {
            return;
        };
        let Some(member) = self.members.get(&id) else {
            return;
        };
        if member.awaiting_join.is_some() || member.awaiting_sync.is_some() {
            // A parked request keeps the member alive until its answer.
            self.touch(ctx, slot, member.join.session_timeout_ns);
            return;
        }
        self.remove_member(ctx, &id);
        self.after_departure(ctx);
    }

    /// A member left or expired: rebalance the rest, or finish the join without it.
    fn after_departure(&mut self, ctx: &mut Ctx) {
        match self.state {
            GroupState::PreparingRebalance => self.try_complete_join(ctx),
            GroupState::Empty => {}
            _ if self.members.is_empty() => {
                self.state = GroupState::Empty;
                self.generation += 1;
                ctx.cancel_group_timer(self.index, SYNC_TIMER);
                self.store();
            }
            _ => self.prepare_rebalance(ctx),
        }
    }

    fn handle_heartbeat(&mut self, ctx: &mut Ctx, ask: Ask) {
        let error = match self.members.get(&ask.member_id) {
            None => Some(GroupError::UnknownMemberId),
            Some(_) if ask.generation != self.generation => Some(GroupError::IllegalGeneration),
            Some(member) => {
                self.touch(ctx, member.slot, member.join.session_timeout_ns);
                (self.state == GroupState::PreparingRebalance)
                    .then_some(GroupError::RebalanceInProgress)
            }
        };
        self.reply(
            ctx,
            ask.consumer,
            ask.request_id,
            error,
            GroupResponseBody::Heartbeat,
        );
    }

    fn handle_leave(&mut self, ctx: &mut Ctx, ask: Ask) {
        let error = if self.members.contains_key(&ask.member_id) {
            self.remove_member(ctx, &ask.member_id);
            self.after_departure(ctx);
            None
        } else {
            Some(GroupError::UnknownMemberId)
        };
        self.reply(
            ctx,
            ask.consumer,
            ask.request_id,
            error,
            GroupResponseBody::Leave,
        );
    }

    fn has_pending_txn_offset(&self, tp: TopicPartition) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|offsets| offsets.iter().any(|(pending, _)| *pending == tp))
    }

    /// A transaction marker for the group's offsets: a commit makes the producer's pending
    /// offsets committed, an abort drops them. Returns the offsets committed.
    pub fn txn_marker(
        &mut self,
        ctx: &mut Ctx,
        producer_id: u64,
        commit: bool,
    ) -> Vec<(TopicPartition, u64)> {
        let Some(offsets) = self.pending_txn_offsets.remove(&producer_id) else {
            return Vec::new();
        };
        if !commit {
            return Vec::new();
        }
        let accepted: Vec<(TopicPartition, u64)> = offsets.into_iter().collect();
        super::store_commits(
            ctx,
            self.index,
            &self.group_id,
            &mut self.committed,
            &accepted,
        );
        accepted
    }

    fn commit_error(&self, ask: &Ask) -> Option<GroupError> {
        if self.state == GroupState::Empty && ask.generation < 0 {
            return None;
        }
        if !self.members.contains_key(&ask.member_id) {
            return Some(GroupError::UnknownMemberId);
        }
        if ask.generation != self.generation {
            return Some(GroupError::IllegalGeneration);
        }
        (self.state == GroupState::CompletingRebalance).then_some(GroupError::RebalanceInProgress)
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

/// Who asked, as every handler needs it.
struct Ask {
    request_id: u64,
    consumer: ConsumerId,
    member_id: String,
    generation: i32,
}
