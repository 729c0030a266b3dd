//! The group side of a consumer (Kafka's `AbstractCoordinator` and `ConsumerCoordinator`):
//! onJoinPrepare, JoinGroup (with KIP-394's member id round trip), the leader's assignment,
//! SyncGroup, eager or cooperative (KIP-429) revocation, and the heartbeat thread with its
//! `max.poll.interval.ms` check.

use super::{After, App, Consumer, Phase};
use crate::assignor::{self, MemberSubscription};
use crate::ids::{BrokerId, NodeId, TopicPartition};
use crate::msg::{
    GroupError, GroupRequestBody, GroupResponse, GroupResponseBody, JoinGroup, JoinedMember,
    Message,
};
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet};

impl Consumer {
    /// Partitions newly assigned to this member: owned from now, as the ownership chart shows.
    pub(super) fn start_owning(&mut self, ctx: &mut Ctx, added: Vec<TopicPartition>) {
        for tp in added {
            self.owned.insert(tp);
            self.fetch_plan = None;
            self.all_positioned = false;
            ctx.metrics.ownership_started(
                self.group,
                &self.name,
                tp.topic.0,
                tp.partition,
                ctx.now_ns,
            );
        }
    }

    /// `onJoinPrepare`: a member with a generation commits first (auto-commit, or under eager
    /// the revocation callback's commit), then the JoinGroup goes out.
    pub(super) fn begin_join(&mut self, ctx: &mut Ctx) {
        let offsets = if self.generation >= 0 && (self.auto_commit() || !self.cooperative) {
            self.uncommitted(None)
        } else {
            Vec::new()
        };
        self.phase = Phase::Joining;
        self.commit(ctx, offsets, Some(After::Join));
    }

    /// Eager members revoke everything before joining; cooperative ones keep what they own.
    pub(super) fn send_join_after_prepare(&mut self, ctx: &mut Ctx) {
        if !self.cooperative && !self.owned.is_empty() {
            let owned = self.owned.clone();
            ctx.metrics
                .partitions_revoked(self.group, owned.len() as u32, None);
            self.drop_partitions(ctx, &owned);
        }
        self.send_join(ctx);
    }

    fn send_join(&mut self, ctx: &mut Ctx) {
        self.phase = Phase::Joining;
        let owned: Vec<TopicPartition> = if self.cooperative {
            self.owned.iter().copied().collect()
        } else {
            // The sticky assignors' user data: the last assignment, even after an eager revoke.
            self.last_assignment.clone()
        };
        let join = JoinGroup {
            instance_id: self.instance_id.clone(),
            session_timeout_ns: self.config.session_timeout_ns,
            rebalance_timeout_ns: self.config.max_poll_interval_ns,
            protocols: self.protocols.clone(),
            owned,
            cooperative: self.cooperative,
        };
        self.send_group(ctx, GroupRequestBody::Join(join));
    }

    pub(super) fn on_group_reply(&mut self, ctx: &mut Ctx, response: GroupResponse) {
        if response.error == Some(GroupError::NotCoordinator) {
            self.coordinator_lost(ctx);
            return;
        }
        let GroupResponse {
            request_id,
            error,
            body,
        } = response;
        self.group_deadlines.remove(&request_id);
        match body {
            GroupResponseBody::Join {
                generation,
                member_id,
                leader,
                protocol,
                members,
                skip_assignment,
            } => {
                if self.phase != Phase::Joining {
                    return;
                }
                let joined = Joined {
                    generation,
                    member_id,
                    leader,
                    protocol,
                    members,
                    skip_assignment,
                };
                self.on_join_reply(ctx, error, joined);
            }
            GroupResponseBody::Sync(assignment) => {
                if self.phase == Phase::Syncing {
                    self.on_sync_reply(ctx, error, assignment);
                }
            }
            GroupResponseBody::Heartbeat => self.on_heartbeat_reply(ctx, error),
            GroupResponseBody::Leave => {}
            GroupResponseBody::OffsetCommit => {
                if !self.on_txn_offsets_answer(ctx, request_id, error.is_none()) {
                    self.on_commit_answer(ctx, request_id, error.is_none());
                }
            }
            GroupResponseBody::OffsetFetch(_)
                if error == Some(GroupError::UnstableOffsetCommit) =>
            {
                // KIP-447: an open transaction holds offsets for these partitions: ask again
                // after `retry.backoff.ms`.
                self.awaiting_offsets.clear();
                if self.app == App::InPoll {
                    ctx.set_consumer_wake(self.id, ctx.now_ns + self.config.retry_backoff_ns);
                }
            }
            GroupResponseBody::OffsetFetch(offsets) => self.on_offsets(ctx, offsets),
            GroupResponseBody::ConsumerHeartbeat {
                member_id,
                member_epoch,
                heartbeat_interval_ns,
                assignment,
            } => {
                let answer = (member_id, member_epoch, heartbeat_interval_ns, assignment);
                self.on_kip848_reply(ctx, request_id, error, answer);
            }
        }
    }

    fn on_join_reply(&mut self, ctx: &mut Ctx, error: Option<GroupError>, joined: Joined) {
        match error {
            Some(GroupError::MemberIdRequired) => {
                self.member_id = joined.member_id;
                self.send_join(ctx);
            }
            Some(GroupError::RebalanceInProgress) => self.send_join(ctx),
            Some(GroupError::NotCoordinator) => {}
            Some(_) => {
                self.lose_membership(ctx);
                self.send_join(ctx);
            }
            None => {
                self.member_id = joined.member_id.clone();
                self.generation = joined.generation;
                self.is_leader = joined.leader == self.member_id;
                self.phase = Phase::Syncing;
                self.last_heartbeat_ok_ns = ctx.now_ns;
                let assignment = if joined.leader == self.member_id && !joined.skip_assignment {
                    self.assign(&joined)
                } else {
                    Vec::new()
                };
                self.send_group(ctx, GroupRequestBody::Sync(assignment));
                self.start_heartbeats(ctx);
            }
        }
    }

    /// The leader runs the group's assignor over every member's subscription.
    fn assign(&self, joined: &Joined) -> Vec<(String, Vec<TopicPartition>)> {
        let Some(protocol) = joined.protocol else {
            return Vec::new();
        };
        let topics: BTreeMap<String, u32> = self
            .topics
            .iter()
            .map(|(name, _, partitions)| (name.clone(), *partitions))
            .collect();
        let names: Vec<String> = self
            .topics
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect();
        let members: Vec<MemberSubscription> = joined
            .members
            .iter()
            .map(|member| self.subscription(member, &names))
            .collect();
        // The scenario layer checked names and topics, so the assignor accepts this input.
        let Ok(assignment) = assignor::assign(protocol, &topics, &members) else {
            return Vec::new();
        };
        assignment
            .into_iter()
            .map(|(member, by_topic)| {
                let tps = by_topic
                    .iter()
                    .filter_map(|(topic, partitions)| {
                        let (_, id, _) = self.topics.iter().find(|(name, _, _)| name == topic)?;
                        Some(partitions.iter().map(|&partition| TopicPartition {
                            topic: *id,
                            partition,
                        }))
                    })
                    .flatten()
                    .collect();
                (member, tps)
            })
            .collect()
    }

    fn subscription(&self, member: &JoinedMember, names: &[String]) -> MemberSubscription {
        let mut owned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for tp in &member.owned {
            if let Some((name, _, _)) = self.topics.iter().find(|(_, id, _)| *id == tp.topic) {
                owned.entry(name.clone()).or_default().push(tp.partition);
            }
        }
        for partitions in owned.values_mut() {
            partitions.sort_unstable();
            partitions.dedup();
        }
        MemberSubscription {
            member_id: member.member_id.clone(),
            group_instance_id: member.instance_id.clone(),
            topics: names.to_vec(),
            owned,
            generation: (member.generation >= 0).then_some(member.generation),
            rack: None,
        }
    }

    fn on_sync_reply(
        &mut self,
        ctx: &mut Ctx,
        error: Option<GroupError>,
        tps: Vec<TopicPartition>,
    ) {
        match error {
            Some(GroupError::RebalanceInProgress) => self.send_join(ctx),
            Some(_) => {
                self.lose_membership(ctx);
                self.send_join(ctx);
            }
            None => {
                self.phase = Phase::Stable;
                self.rejoin_needed = false;
                if self.app == App::InPoll {
                    self.apply_assignment(ctx, tps);
                    self.poll(ctx);
                } else {
                    // Processing records: the assignment waits for the next poll().
                    self.pending_assignment = Some(tps);
                }
            }
        }
    }

    /// `onJoinComplete`: eager members take the whole new assignment; cooperative members revoke
    /// what it takes away and rejoin at once for the follow-up round. The auto-commit timer
    /// restarts from now.
    ///
    /// Kafka commits nothing of its own here: auto-commit's last chance was `onJoinPrepare`,
    /// and a cooperative member went on processing the partitions it is now giving up while the
    /// round ran, with interval auto-commits skipped (`poll` returns before them during a
    /// rebalance). Those records are processed again by the partition's next owner. Only the
    /// manual commit policies stand for an application whose revocation callback commits.
    pub(super) fn apply_assignment(&mut self, ctx: &mut Ctx, tps: Vec<TopicPartition>) {
        let new: BTreeSet<TopicPartition> = tps.iter().copied().collect();
        self.last_assignment = tps;
        self.last_auto_commit_ns = ctx.now_ns;
        let revoked: BTreeSet<TopicPartition> = self.owned.difference(&new).copied().collect();
        let added: Vec<TopicPartition> = new.difference(&self.owned).copied().collect();
        self.start_owning(ctx, added);
        if revoked.is_empty() {
            return;
        }
        let offsets = if self.auto_commit() {
            Vec::new()
        } else {
            self.uncommitted(Some(&revoked))
        };
        let generation = u32::try_from(self.generation).ok();
        ctx.metrics
            .partitions_revoked(self.group, revoked.len() as u32, generation);
        self.drop_partitions(ctx, &revoked);
        self.rejoin_needed = true;
        self.commit(ctx, offsets, Some(After::Poll));
    }

    /// The generation is gone (unknown member, illegal generation, poll timeout): partitions are
    /// lost, not revoked, and the member joins again as new.
    pub(super) fn lose_membership(&mut self, ctx: &mut Ctx) {
        let owned = self.owned.clone();
        self.drop_partitions(ctx, &owned);
        self.member_id.clear();
        self.generation = -1;
        self.phase = Phase::Unjoined;
        self.pending_assignment = None;
        self.heartbeat_in_flight = false;
    }

    fn start_heartbeats(&mut self, ctx: &mut Ctx) {
        let at_ns = ctx.now_ns + self.config.heartbeat_interval_ns;
        ctx.set_consumer_heartbeat(self.id, at_ns);
    }

    /// The heartbeat thread: checks `max.poll.interval.ms`, then heartbeats.
    pub fn on_heartbeat_timer(&mut self, ctx: &mut Ctx) {
        if self.kip848.is_some() {
            self.kip848_heartbeat_timer(ctx);
            return;
        }
        if !self.running || !matches!(self.phase, Phase::Syncing | Phase::Stable) {
            return;
        }
        let polling = self.app == App::InPoll && self.paused_until_ns <= ctx.now_ns;
        let since_poll_ns = ctx.now_ns.saturating_sub(self.last_poll_ns);
        if !polling && since_poll_ns > self.config.max_poll_interval_ns {
            // "consumer poll timeout has expired": dynamic members leave (static ones do not).
            if self.instance_id.is_none() {
                self.send_group(ctx, GroupRequestBody::Leave);
            }
            self.lose_membership(ctx);
            return;
        }
        if !self.coordinator_known {
            // The heartbeat thread looks the coordinator up (after its backoff).
            self.find_coordinator(ctx);
        } else if since_ok_ns(ctx.now_ns, self.last_heartbeat_ok_ns)
            > self.config.session_timeout_ns
        {
            // No successful heartbeat for a session: make sure the coordinator is still there.
            self.coordinator_lost(ctx);
        } else {
            // Kafka's heartbeat thread beats every interval, whether or not one is in flight.
            self.heartbeat_in_flight = true;
            self.send_group(ctx, GroupRequestBody::Heartbeat);
        }
        self.start_heartbeats(ctx);
    }

    /// `markCoordinatorUnknown`: the coordinator connection is closed, every request on it fails.
    /// A JoinGroup or SyncGroup in flight is redone, a `commitSync` retried, a `commitAsync`
    /// fails (its offsets go with a later commit); FindCoordinator after `retry.backoff.ms`.
    pub(super) fn coordinator_lost(&mut self, ctx: &mut Ctx) {
        if !self.coordinator_known {
            return;
        }
        self.coordinator_known = false;
        self.redo_join |= self.group_deadlines.values().any(|&(_, joining)| joining);
        self.group_deadlines.clear();
        self.stale_group_before = self.next_request_id;
        self.heartbeat_in_flight = false;
        self.awaiting_offsets.clear();
        if matches!(self.commit_in_flight, Some((_, None, _))) {
            self.commit_in_flight = None;
            if self.auto_commit() {
                // ConsumerCoordinator: a retriable auto-commit failure retries after the backoff.
                self.last_auto_commit_ns = (ctx.now_ns + self.config.retry_backoff_ns)
                    .saturating_sub(self.config.auto_commit_interval_ns);
            }
        }
        self.next_find_ns = ctx.now_ns + self.config.retry_backoff_ns;
        self.arm_request_timer(ctx);
        if self.kip848.is_some() && self.running {
            // HeartbeatRequestManager: a heartbeat that failed (its connection reset or timed
            // out) is retried after the backoff, not at the next interval.
            ctx.set_consumer_heartbeat(self.id, self.next_find_ns);
        }
    }

    /// FindCoordinator to the next broker in turn (Kafka asks its least-loaded node), unless one
    /// is in flight or the backoff has not ended (the request timer then calls again).
    pub(super) fn find_coordinator(&mut self, ctx: &mut Ctx) {
        if self.coordinator_known || self.find_in_flight.is_some() {
            return;
        }
        if ctx.now_ns < self.next_find_ns {
            self.arm_request_timer(ctx);
            return;
        }
        let broker = BrokerId(self.next_find_broker % self.broker_count.max(1));
        self.next_find_broker += 1;
        let request_id = self.next_id();
        let deadline_ns = ctx.now_ns + self.config.request_timeout_ns;
        self.find_in_flight = Some((request_id, broker, deadline_ns));
        let message = Message::FindCoordinator {
            request_id,
            group: self.group,
        };
        ctx.send(self.node(), NodeId::Broker(broker), message);
        self.arm_request_timer(ctx);
    }

    /// FindCoordinator failed (COORDINATOR_NOT_AVAILABLE, a reset, a timeout): retry after
    /// `retry.backoff.ms`.
    pub(super) fn find_failed(&mut self, ctx: &mut Ctx) {
        self.find_in_flight = None;
        self.next_find_ns = ctx.now_ns + self.config.retry_backoff_ns;
        self.arm_request_timer(ctx);
    }

    pub(super) fn on_find_coordinator_reply(
        &mut self,
        ctx: &mut Ctx,
        request_id: u64,
        coordinator: Option<BrokerId>,
    ) {
        if self.find_in_flight.map(|(id, _, _)| id) != Some(request_id) {
            return;
        }
        let Some(coordinator) = coordinator else {
            self.find_failed(ctx);
            return;
        };
        self.find_in_flight = None;
        self.coordinator = coordinator;
        self.coordinator_known = true;
        self.last_heartbeat_ok_ns = ctx.now_ns;
        self.arm_request_timer(ctx);
        // What waited for the coordinator goes out now.
        if std::mem::take(&mut self.redo_join)
            && matches!(self.phase, Phase::Joining | Phase::Syncing)
        {
            self.send_join(ctx);
        }
        if let Some((_, after, offsets)) = self.commit_in_flight.take() {
            self.send_commit(ctx, offsets, after);
        } else if let Some((offsets, after)) = self.commit_queue.pop_front() {
            self.send_commit(ctx, offsets, after);
        }
        if let Some((_, producer_id, epoch, offsets)) = self.txn_commit_in_flight.take() {
            self.send_txn_offsets(ctx, producer_id, epoch, offsets);
        }
        if self.app == App::InPoll {
            self.poll(ctx);
        }
    }

    fn on_heartbeat_reply(&mut self, ctx: &mut Ctx, error: Option<GroupError>) {
        self.heartbeat_in_flight = false;
        match error {
            None => {
                self.last_heartbeat_ok_ns = ctx.now_ns;
                return;
            }
            Some(GroupError::MemberIdRequired | GroupError::NotCoordinator) => return,
            Some(GroupError::RebalanceInProgress) => {
                // Heartbeating on during a rebalance is valid: it counts as an answer.
                self.last_heartbeat_ok_ns = ctx.now_ns;
                if self.phase == Phase::Stable {
                    self.rejoin_needed = true;
                }
            }
            Some(_) => {
                if self.phase == Phase::Stable {
                    self.lose_membership(ctx);
                }
            }
        }
        if self.app == App::InPoll {
            // Model limit: poll(timeout) returns at once to rejoin, as with a short timeout.
            self.poll(ctx);
        }
    }
}

/// A successful JoinGroup answer.
struct Joined {
    generation: i32,
    member_id: String,
    leader: String,
    protocol: Option<crate::assignor::AssignorName>,
    members: Vec<JoinedMember>,
    skip_assignment: bool,
}

fn since_ok_ns(now_ns: u64, last_ok_ns: u64) -> u64 {
    now_ns.saturating_sub(last_ok_ns)
}
