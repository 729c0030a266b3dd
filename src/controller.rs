//! The KRaft controller: broker liveness by heartbeat (`broker.session.timeout.ms`), leader
//! election from the ISR (`PartitionChangeBuilder.electLeader`), `unclean.leader.election.enable`,
//! ISR changes through AlterPartition, and metadata pushed to every broker on each change.
//! Modelled as one node that never fails (a healthy quorum).

use crate::ids::{BrokerId, NodeId, TopicPartition};
use crate::msg::{ErrorCode, Message, PartitionState};
use crate::sim::time::ms_to_ns;
use crate::world::Ctx;
use std::collections::BTreeMap;

/// KRaft's `broker.session.timeout.ms` default.
pub const BROKER_SESSION_TIMEOUT_NS: u64 = ms_to_ns(9000);

/// Figures for `metrics.json`'s `brokers` section.
#[derive(Debug, Clone, Default)]
pub struct ControllerStats {
    pub leader_elections: u64,
    pub unclean_elections: u64,
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    pub under_replicated_ns: u64,
}

pub struct Controller {
    partitions: BTreeMap<TopicPartition, PartitionState>,
    fenced: Vec<bool>,
    incarnations: Vec<u32>,
    unclean_of_topic: Vec<bool>,
    under_replicated_since: BTreeMap<TopicPartition, u64>,
    pub stats: ControllerStats,
}

impl Controller {
    pub fn new(initial: Vec<PartitionState>, brokers: usize, unclean_of_topic: Vec<bool>) -> Self {
        Controller {
            partitions: initial.into_iter().map(|state| (state.tp, state)).collect(),
            fenced: vec![false; brokers],
            incarnations: vec![0; brokers],
            unclean_of_topic,
            under_replicated_since: BTreeMap::new(),
            stats: ControllerStats::default(),
        }
    }

    /// `add-partitions`: new partitions with their initial states.
    pub fn add_partitions(&mut self, states: &[PartitionState]) {
        for state in states {
            let previous = self.partitions.insert(state.tp, state.clone());
            assert!(previous.is_none(), "{:?} created twice", state.tp);
        }
    }

    pub fn state(&self, tp: TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(&tp)
    }

    pub fn states(&self) -> impl Iterator<Item = &PartitionState> {
        self.partitions.values()
    }

    /// The process incarnation of `broker` whose registration the controller holds.
    pub fn registered_incarnation(&self, broker: BrokerId) -> u32 {
        self.incarnations[broker.0 as usize]
    }

    pub fn is_fenced(&self, broker: BrokerId) -> bool {
        self.fenced[broker.0 as usize]
    }

    pub fn on_heartbeat(&mut self, ctx: &mut Ctx, broker: BrokerId, incarnation: u32) {
        let registered = self.incarnations[broker.0 as usize];
        if incarnation < registered {
            // Sent by a process that has died since.
            return;
        }
        if incarnation > registered {
            // A restarted process registers anew. KRaft refuses it (DUPLICATE_BROKER_REGISTRATION)
            // while the old process's session is valid; the broker retries at each heartbeat
            // until that session lapses and the old registration is fenced.
            if !self.fenced[broker.0 as usize] {
                return;
            }
            self.incarnations[broker.0 as usize] = incarnation;
            ctx.send(
                NodeId::Controller,
                NodeId::Broker(broker),
                Message::BrokerRegistered,
            );
        }
        ctx.set_session_expiry(broker, ctx.now_ns + BROKER_SESSION_TIMEOUT_NS);
        if self.fenced[broker.0 as usize] {
            self.fenced[broker.0 as usize] = false;
            let changed: Vec<TopicPartition> = self
                .partitions
                .values()
                .filter(|state| state.leader.is_none() && state.replicas.contains(&broker))
                .map(|state| state.tp)
                .collect();
            let mut updates = Vec::new();
            for tp in changed {
                if self.elect(tp, ctx.now_ns) {
                    updates.push(self.partitions[&tp].clone());
                }
            }
            // A returning broker needs every state to learn its roles.
            let all: Vec<PartitionState> = self.partitions.values().cloned().collect();
            let message = Message::MetadataUpdate(all, self.fenced_brokers());
            ctx.send(NodeId::Controller, NodeId::Broker(broker), message);
            self.publish(ctx, updates);
        }
    }

    /// No heartbeat for the session timeout: fence the broker, take it out of every ISR and move
    /// its leaderships (`ReplicationControlManager.handleBrokerFenced`).
    pub fn on_session_expired(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        if self.fenced[broker.0 as usize] {
            return;
        }
        self.fenced[broker.0 as usize] = true;
        let affected: Vec<TopicPartition> = self
            .partitions
            .values()
            .filter(|state| state.isr.contains(&broker) || state.leader == Some(broker))
            .map(|state| state.tp)
            .collect();
        let mut updates = Vec::new();
        for tp in affected {
            let state = self.partitions.get_mut(&tp).expect("listed");
            // Without ELR the last ISR member stays, so it can lead again when it returns.
            if state.isr.len() > 1 {
                state.isr.retain(|&member| member != broker);
                self.stats.isr_shrinks += 1;
            }
            state.partition_epoch += 1;
            if state.leader == Some(broker) {
                self.elect(tp, ctx.now_ns);
            }
            self.track_under_replication(tp, ctx.now_ns);
            updates.push(self.partitions[&tp].clone());
        }
        self.publish(ctx, updates);
    }

    /// Kafka's `electLeader`: the first replica, in assignment order, in the ISR and unfenced;
    /// else, if unclean election is on, the first unfenced replica. Returns whether it changed.
    fn elect(&mut self, tp: TopicPartition, now_ns: u64) -> bool {
        let unclean = self.unclean_of_topic[tp.topic.0 as usize];
        let fenced = &self.fenced;
        let state = self.partitions.get_mut(&tp).expect("known partition");
        let alive = |broker: &BrokerId| !fenced[broker.0 as usize];
        let clean = state
            .replicas
            .iter()
            .copied()
            .find(|b| state.isr.contains(b) && alive(b));
        let (leader, was_unclean) = match clean {
            Some(leader) => (Some(leader), false),
            None if unclean => (state.replicas.iter().copied().find(alive), true),
            None => (None, false),
        };
        if leader == state.leader {
            return false;
        }
        state.leader = leader;
        state.leader_epoch += 1;
        state.partition_epoch += 1;
        if let Some(new_leader) = leader {
            self.stats.leader_elections += 1;
            if was_unclean {
                self.stats.unclean_elections += 1;
                state.isr = vec![new_leader];
            }
        }
        assert_invariants(state);
        self.track_under_replication(tp, now_ns);
        true
    }

    /// A leader's ISR change, accepted only against the current leader and partition epochs, and
    /// (KIP-903) only if every added member fetched as its current registration: a fetch a
    /// restarted broker's previous process sent must not bring its emptied log into the ISR.
    pub fn on_alter_partition(
        &mut self,
        ctx: &mut Ctx,
        from: BrokerId,
        proposal: PartitionState,
        broker_epochs: &[(BrokerId, u32)],
    ) {
        let tp = proposal.tp;
        let Some(state) = self.partitions.get_mut(&tp) else {
            return;
        };
        let current = state.leader == Some(from)
            && state.leader_epoch == proposal.leader_epoch
            && state.partition_epoch == proposal.partition_epoch;
        let joins_fenced = proposal
            .isr
            .iter()
            .any(|broker| !state.isr.contains(broker) && self.fenced[broker.0 as usize]);
        if !current || joins_fenced || proposal.isr.is_empty() {
            let reply = Message::AlterPartitionResponse(tp, Err(ErrorCode::InvalidUpdateVersion));
            ctx.send(NodeId::Controller, NodeId::Broker(from), reply);
            return;
        }
        let joins_stale = broker_epochs.iter().any(|&(broker, epoch)| {
            !state.isr.contains(&broker) && epoch != self.incarnations[broker.0 as usize]
        });
        if joins_stale {
            let reply = Message::AlterPartitionResponse(tp, Err(ErrorCode::IneligibleReplica));
            ctx.send(NodeId::Controller, NodeId::Broker(from), reply);
            return;
        }
        if proposal.isr.len() < state.isr.len() {
            self.stats.isr_shrinks += 1;
        } else if proposal.isr.len() > state.isr.len() {
            self.stats.isr_expands += 1;
        }
        state.isr = proposal.isr;
        state.partition_epoch += 1;
        assert_invariants(state);
        let committed = state.clone();
        self.track_under_replication(tp, ctx.now_ns);
        let reply = Message::AlterPartitionResponse(tp, Ok(committed.clone()));
        ctx.send(NodeId::Controller, NodeId::Broker(from), reply);
        self.publish(ctx, vec![committed]);
    }

    fn publish(&self, ctx: &mut Ctx, updates: Vec<PartitionState>) {
        for broker in 0..self.fenced.len() {
            let message = Message::MetadataUpdate(updates.clone(), self.fenced_brokers());
            ctx.send(
                NodeId::Controller,
                NodeId::Broker(BrokerId(broker as u32)),
                message,
            );
        }
    }

    fn fenced_brokers(&self) -> Vec<BrokerId> {
        (0..self.fenced.len() as u32)
            .map(BrokerId)
            .filter(|&broker| self.fenced[broker.0 as usize])
            .collect()
    }

    fn track_under_replication(&mut self, tp: TopicPartition, now_ns: u64) {
        let state = &self.partitions[&tp];
        let under = state.isr.len() < state.replicas.len() || state.leader.is_none();
        match (under, self.under_replicated_since.get(&tp).copied()) {
            (true, None) => {
                self.under_replicated_since.insert(tp, now_ns);
            }
            (false, Some(since_ns)) => {
                self.stats.under_replicated_ns += now_ns - since_ns;
                self.under_replicated_since.remove(&tp);
            }
            _ => {}
        }
    }

    /// Closes open under-replication spans at the end of the run.
    pub fn finish(&mut self, now_ns: u64) {
        for since_ns in std::mem::take(&mut self.under_replicated_since).into_values() {
            self.stats.under_replicated_ns += now_ns - since_ns;
        }
    }
}

/// leader ∈ ISR ⊆ replicas (style.md habit 8: asserted where the state is produced).
fn assert_invariants(state: &PartitionState) {
    for member in &state.isr {
        assert!(
            state.replicas.contains(member),
            "ISR member {member:?} not a replica of {:?}",
            state.tp
        );
    }
    if let Some(leader) = state.leader {
        assert!(
            state.isr.contains(&leader),
            "leader {leader:?} outside the ISR of {:?}",
            state.tp
        );
    }
}
