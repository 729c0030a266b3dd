//! The member side of the KIP-848 consumer group protocol (`group.protocol=consumer`; Kafka's
//! `ConsumerMembershipManager` and `ConsumerHeartbeatRequestManager`): heartbeats every
//! interval the coordinator gives, join with epoch 0, leave with epoch -1 (-2 for a static
//! member), and reconciliation of each new assignment: revoke (commit first), then take the new
//! partitions, then acknowledge with an immediate heartbeat.
//!
//! Before revoking, auto-commit commits everything consumed (Kafka's
//! `maybeAutoCommitSyncBeforeRevocation`); the manual commit policies stand for a revocation
//! callback that commits the revoked partitions.
//!
//! Model limit: the application registers a rebalance listener, so reconciliation runs in the
//! application thread inside `poll()`, as Kafka runs listener callbacks. A heartbeat reports as owned the partitions
//! the member owns plus those it was given and has not taken yet (Kafka reports only reconciled
//! ones), so a partition the member is about to take is never freed behind its back.

use super::{After, App, Consumer, Phase};
use crate::group::consumer_protocol::{LEAVE_EPOCH, LEAVE_STATIC_EPOCH};
use crate::ids::TopicPartition;
use crate::msg::{ConsumerHeartbeat, GroupError, GroupRequestBody};
use crate::world::Ctx;
use std::collections::BTreeSet;

/// KIP-848 membership state of one consumer.
#[derive(Debug, Default)]
pub(super) struct Kip848 {
    /// The coordinator's `group.consumer.heartbeat.interval.ms`, from its last answer.
    heartbeat_interval_ns: u64,
    /// The latest assignment the coordinator sent, not reconciled yet.
    target: Option<BTreeSet<TopicPartition>>,
    /// Partitions to take once the revocation's commit is done.
    reconciling: Option<BTreeSet<TopicPartition>>,
    /// A reconciliation finished: heartbeat at once (Kafka's ACKNOWLEDGING).
    acknowledge: bool,
    /// `group.remote.assignor`.
    pub(super) server_assignor: Option<String>,
    /// The request id of the heartbeat in flight: answers to older ones are stale.
    heartbeat_request_id: u64,
}

impl Kip848 {
    pub(super) fn new(server_assignor: Option<String>) -> Self {
        Kip848 {
            server_assignor,
            ..Kip848::default()
        }
    }
}

impl Consumer {
    fn kip848(&mut self) -> &mut Kip848 {
        self.kip848
            .as_mut()
            .expect("consumer-protocol handlers run only for consumer-protocol members")
    }

    /// The group part of `poll()`. Returns whether poll goes on to fetch and return records.
    pub(super) fn kip848_poll(&mut self, ctx: &mut Ctx) -> bool {
        match self.phase {
            Phase::Unjoined => {
                // JOINING: the first heartbeat goes at once, with epoch 0.
                self.member_id.clear();
                self.generation = 0;
                self.phase = Phase::Joining;
                self.kip848_send_heartbeat(ctx);
                return false;
            }
            Phase::Joining | Phase::Syncing => return false,
            Phase::Stable => {}
        }
        let Some(target) = self.kip848().target.take() else {
            return true;
        };
        if target == self.owned {
            return true;
        }
        let revoked: BTreeSet<TopicPartition> = self.owned.difference(&target).copied().collect();
        if revoked.is_empty() {
            self.kip848_take(ctx, &target);
            self.kip848_acknowledge(ctx);
            return true;
        }
        // Revoke first: commit what was consumed, drop the partitions, then take the new ones.
        let only = (!self.auto_commit()).then_some(&revoked);
        let offsets = self.uncommitted(only);
        ctx.metrics
            .partitions_revoked(self.group, revoked.len() as u32, None);
        self.drop_partitions(ctx, &revoked);
        self.kip848().reconciling = Some(target);
        self.commit(ctx, offsets, Some(After::Acknowledge));
        false
    }

    /// The revocation's commit is done: take the new partitions and acknowledge.
    pub(super) fn kip848_after_revoke(&mut self, ctx: &mut Ctx) {
        if let Some(target) = self.kip848().reconciling.take() {
            self.kip848_take(ctx, &target);
        }
        self.kip848_acknowledge(ctx);
        self.poll(ctx);
    }

    fn kip848_take(&mut self, ctx: &mut Ctx, target: &BTreeSet<TopicPartition>) {
        let added: Vec<TopicPartition> = target.difference(&self.owned).copied().collect();
        self.start_owning(ctx, added);
    }

    /// A reconciliation is done: the auto-commit timer restarts from now (Kafka's
    /// `signalReconciliationCompleting`), and the next heartbeat acknowledges at once.
    fn kip848_acknowledge(&mut self, ctx: &mut Ctx) {
        self.last_auto_commit_ns = ctx.now_ns;
        self.kip848().acknowledge = true;
        self.kip848_send_heartbeat(ctx);
    }

    /// One heartbeat at a time, as Kafka's heartbeat request manager sends them.
    fn kip848_send_heartbeat(&mut self, ctx: &mut Ctx) {
        if self.heartbeat_in_flight {
            return;
        }
        if !self.coordinator_known {
            // FindCoordinator first; the heartbeat goes after the retry backoff.
            self.find_coordinator(ctx);
            ctx.set_consumer_heartbeat(self.id, ctx.now_ns + self.config.retry_backoff_ns.max(1));
            return;
        }
        self.heartbeat_in_flight = true;
        let state = self.kip848();
        state.acknowledge = false;
        let mut owned = self.owned.clone();
        let state = self.kip848.as_ref().expect("consumer-protocol member");
        for pending in state.target.iter().chain(&state.reconciling) {
            owned.extend(pending.iter().copied());
        }
        let heartbeat = self.kip848_heartbeat(owned.into_iter().collect());
        let request_id = self.send_group(ctx, GroupRequestBody::ConsumerHeartbeat(heartbeat));
        self.kip848().heartbeat_request_id = request_id;
    }

    /// A ConsumerGroupHeartbeat reporting `owned`.
    fn kip848_heartbeat(&self, owned: Vec<TopicPartition>) -> ConsumerHeartbeat {
        let state = self.kip848.as_ref().expect("consumer-protocol member");
        ConsumerHeartbeat {
            instance_id: self.instance_id.clone(),
            rebalance_timeout_ns: self.config.max_poll_interval_ns,
            topics: (self.topics.iter())
                .map(|(name, _, _)| name.clone())
                .collect(),
            server_assignor: state.server_assignor.clone(),
            owned,
        }
    }

    /// Leave: epoch -1, or -2 for a static member (its assignment waits for it).
    pub(super) fn kip848_leave(&mut self, ctx: &mut Ctx) {
        self.generation = if self.instance_id.is_some() {
            LEAVE_STATIC_EPOCH
        } else {
            LEAVE_EPOCH
        };
        let heartbeat = self.kip848_heartbeat(Vec::new());
        self.send_group(ctx, GroupRequestBody::ConsumerHeartbeat(heartbeat));
        let state = self.kip848();
        state.target = None;
        state.reconciling = None;
        state.acknowledge = false;
    }

    /// The heartbeat timer: the poll timer first (`max.poll.interval.ms`: the member leaves and
    /// rejoins at its next poll), then a heartbeat.
    pub(super) fn kip848_heartbeat_timer(&mut self, ctx: &mut Ctx) {
        if !self.running {
            return;
        }
        if self.phase == Phase::Joining {
            // A join that was refused (UNRELEASED_INSTANCE_ID) is tried again.
            self.kip848_send_heartbeat(ctx);
            return;
        }
        if self.phase != Phase::Stable {
            return;
        }
        let polling = self.app == App::InPoll && self.paused_until_ns <= ctx.now_ns;
        let since_poll_ns = ctx.now_ns.saturating_sub(self.last_poll_ns);
        if !polling && since_poll_ns > self.config.max_poll_interval_ns {
            // STALE: partitions are lost (no commit), the member leaves.
            self.kip848_leave(ctx);
            self.kip848_lose(ctx);
            return;
        }
        self.kip848_send_heartbeat(ctx);
    }

    /// Fenced or stale: the partitions are lost, not revoked; the member joins again as new.
    fn kip848_lose(&mut self, ctx: &mut Ctx) {
        let owned = self.owned.clone();
        self.drop_partitions(ctx, &owned);
        self.member_id.clear();
        self.generation = 0;
        self.phase = Phase::Unjoined;
        self.heartbeat_in_flight = false;
        let state = self.kip848();
        state.target = None;
        state.reconciling = None;
        state.acknowledge = false;
    }

    pub(super) fn on_kip848_reply(
        &mut self,
        ctx: &mut Ctx,
        request_id: u64,
        error: Option<GroupError>,
        (member_id, member_epoch, interval_ns, assignment): (
            String,
            i32,
            u64,
            Option<Vec<TopicPartition>>,
        ),
    ) {
        let current = self.kip848().heartbeat_request_id == request_id;
        if !current || !matches!(self.phase, Phase::Joining | Phase::Stable) {
            // The answer to a leave, or to a heartbeat of an earlier membership.
            return;
        }
        self.heartbeat_in_flight = false;
        match error {
            None => {}
            Some(GroupError::FencedMemberEpoch | GroupError::UnknownMemberId) => {
                self.kip848_lose(ctx);
                if self.app == App::InPoll {
                    self.poll(ctx);
                }
                return;
            }
            Some(_) => {
                // UNRELEASED_INSTANCE_ID: the old instance is still registered; try again after
                // the coordinator's heartbeat interval.
                let retry_ns = self
                    .kip848()
                    .heartbeat_interval_ns
                    .max(self.config.retry_backoff_ns);
                ctx.set_consumer_heartbeat(self.id, ctx.now_ns + retry_ns);
                return;
            }
        }
        self.member_id = member_id;
        self.generation = member_epoch;
        self.phase = Phase::Stable;
        let state = self.kip848();
        state.heartbeat_interval_ns = interval_ns;
        if let Some(tps) = assignment {
            state.target = Some(tps.into_iter().collect());
        }
        let acknowledge = state.acknowledge;
        ctx.set_consumer_heartbeat(self.id, ctx.now_ns + interval_ns);
        if acknowledge {
            self.kip848_send_heartbeat(ctx);
        }
        if self.app == App::InPoll {
            self.poll(ctx);
        }
    }
}
