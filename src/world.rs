//! The world: every component in `Vec`s indexed by typed ids, the event queue, the network and
//! the recorder. `build` creates components in id order; `run` pops events in (time, sequence)
//! order and dispatches each with a `match` to the component it names. Components never touch
//! each other: they send messages and set timers through `Ctx`. The world alone sees everything,
//! and uses that only to measure (the delivery ledger) and to check invariants.

use crate::broker::log::{LogBatch, PartitionLog};
use crate::broker::{Broker, Effects, BROKER_HEARTBEAT_INTERVAL_NS};
use crate::consumer::{Consumer, ConsumerSetup};
use crate::controller::{Controller, BROKER_SESSION_TIMEOUT_NS};
use crate::error::UserError;
use crate::event_counts::EventCounts;
use crate::group::consumer_protocol::ConsumerGroupSettings;
use crate::group::{coordinator_broker, offsets_replicas, ClassicGroup, ConsumerGroup};
use crate::ids::{BrokerId, ConsumerId, NodeId, ProducerId, TopicId, TopicPartition};
use crate::metrics::Recorder;
use crate::msg::{GroupError, GroupResponse, GroupResponseBody, Message, PartitionState};
use crate::msg::{TxnError, TxnResponse};
use crate::net::{LinkFault, Network, NodeLayout, Transmission};
use crate::pipeline::{PipelineLink, PipelineNote, PipelineWork};
use crate::producer::workload::ZIPF_KEYS_MAX;
use crate::producer::{Producer, TxnPolicy};
use crate::scenario::model::{Action, GroupProtocol, Keys, NodeRef, Scenario};
use crate::sim::queue::{Deadline, EventQueue};
use crate::sim::rng::{Purpose, SimRng, StreamKind};
use crate::txn::{MarkerTarget, TxnCoordinator};
use std::collections::BTreeMap;

/// Everything that can happen.
#[derive(Debug)]
pub enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
    },
    /// An I/O thread finished a request on a broker (or a stalled broker resumes a message).
    BrokerProcess {
        broker: BrokerId,
        from: NodeId,
        message: Message,
    },
    ProducerWake(ProducerId),
    ConsumerWake(ConsumerId),
    /// The consumer's heartbeat thread wakes up.
    ConsumerHeartbeat(ConsumerId),
    /// A consumer's request deadline or FindCoordinator backoff ends.
    ConsumerRequestTimer(ConsumerId),
    ConsumerStart(ConsumerId),
    /// A group coordinator's timer (join, sync or a member's session deadline).
    GroupTimer {
        group: usize,
        kind: u32,
    },
    /// A broker's parked produce or fetch times out.
    BrokerTimer {
        broker: BrokerId,
        id: u64,
    },
    /// A follower's fetcher may try its leader again.
    FetcherBackoff {
        broker: BrokerId,
        leader: BrokerId,
    },
    BrokerStart(BrokerId),
    BrokerHeartbeat(BrokerId),
    IsrCheck(BrokerId),
    SessionExpired(BrokerId),
    /// A broker's process died: `node`'s connection to it is reset.
    ConnectionClosed {
        node: NodeId,
        broker: BrokerId,
    },
    MetricsTick,
    Timeline(usize),
    /// A transaction coordinator's timer (expiry check, marker retry).
    TxnTimer {
        txn: usize,
        kind: u32,
    },
    /// consume-transform-produce: a member tells its own producer (same process, no network).
    PipelineWork {
        producer: ProducerId,
        work: PipelineWork,
    },
    /// consume-transform-produce: a producer tells its member.
    PipelineNote {
        consumer: ConsumerId,
        note: PipelineNote,
    },
}

/// Keys of timers that can be moved or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKey {
    Producer(u32),
    Consumer(u32),
    ConsumerHeartbeat(u32),
    ConsumerRequests(u32),
    Group(u32, u32),
    Broker(u32, u64),
    Fetcher(u32, u32),
    Session(u32),
    Txn(u32, u32),
}

/// The event a timer of each key fires: the queue keeps a timer as its key alone.
impl From<TimerKey> for Event {
    fn from(key: TimerKey) -> Self {
        match key {
            TimerKey::Producer(producer) => Event::ProducerWake(ProducerId(producer)),
            TimerKey::Consumer(consumer) => Event::ConsumerWake(ConsumerId(consumer)),
            TimerKey::ConsumerHeartbeat(consumer) => Event::ConsumerHeartbeat(ConsumerId(consumer)),
            TimerKey::ConsumerRequests(consumer) => {
                Event::ConsumerRequestTimer(ConsumerId(consumer))
            }
            TimerKey::Group(group, kind) => Event::GroupTimer {
                group: group as usize,
                kind,
            },
            TimerKey::Broker(broker, id) => Event::BrokerTimer {
                broker: BrokerId(broker),
                id,
            },
            TimerKey::Fetcher(broker, leader) => Event::FetcherBackoff {
                broker: BrokerId(broker),
                leader: BrokerId(leader),
            },
            TimerKey::Session(broker) => Event::SessionExpired(BrokerId(broker)),
            TimerKey::Txn(txn, kind) => Event::TxnTimer {
                txn: txn as usize,
                kind,
            },
        }
    }
}

pub type Queue = EventQueue<Event, TimerKey>;

/// What a handler may do besides changing its own state.
pub struct Ctx<'a> {
    pub now_ns: u64,
    queue: &'a mut Queue,
    net: &'a mut Network,
    pub metrics: &'a mut Recorder,
}

impl Ctx<'_> {
    /// Sends a message; it arrives after transmission and latency, unless a fault drops it.
    pub fn send(&mut self, from: NodeId, to: NodeId, message: Message) -> Transmission {
        let transmission = self
            .net
            .transmit(self.now_ns, from, to, message.size_bytes());
        if !transmission.dropped {
            self.queue.schedule(
                transmission.deliver_at_ns,
                Event::Deliver { from, to, message },
            );
        }
        transmission
    }

    pub fn set_producer_wake(&mut self, producer: ProducerId, at_ns: u64) {
        let key = TimerKey::Producer(producer.0);
        if self.queue.timer_at(key) != Some(at_ns) {
            self.queue.set_timer(key, at_ns);
        }
    }

    pub fn cancel_producer_wake(&mut self, producer: ProducerId) {
        self.queue.cancel_timer(TimerKey::Producer(producer.0));
    }

    pub fn set_consumer_wake(&mut self, consumer: ConsumerId, at_ns: u64) {
        self.queue.set_timer(TimerKey::Consumer(consumer.0), at_ns);
    }

    pub fn set_consumer_heartbeat(&mut self, consumer: ConsumerId, at_ns: u64) {
        self.queue
            .set_timer(TimerKey::ConsumerHeartbeat(consumer.0), at_ns);
    }

    pub fn set_consumer_request_timer(&mut self, consumer: ConsumerId, at_ns: Option<u64>) {
        let key = TimerKey::ConsumerRequests(consumer.0);
        match at_ns {
            Some(at_ns) if self.queue.timer_at(key) != Some(at_ns) => {
                self.queue.set_timer(key, at_ns);
            }
            Some(_) => {}
            None => {
                self.queue.cancel_timer(key);
            }
        }
    }

    /// The process stopped: its poll, heartbeat and request timers die with it.
    pub fn cancel_consumer_timers(&mut self, consumer: ConsumerId) {
        self.queue.cancel_timer(TimerKey::Consumer(consumer.0));
        self.queue
            .cancel_timer(TimerKey::ConsumerHeartbeat(consumer.0));
        self.queue
            .cancel_timer(TimerKey::ConsumerRequests(consumer.0));
    }

    pub fn set_group_timer(&mut self, group: usize, kind: u32, at_ns: u64) {
        self.queue
            .set_timer(TimerKey::Group(group as u32, kind), at_ns);
    }

    pub fn cancel_group_timer(&mut self, group: usize, kind: u32) {
        self.queue.cancel_timer(TimerKey::Group(group as u32, kind));
    }

    /// A parked request's timeout: set once, nearly always cancelled before it fires.
    pub fn set_broker_deadline(
        &mut self,
        broker: BrokerId,
        id: u64,
        at_ns: u64,
    ) -> Deadline<TimerKey> {
        self.queue
            .set_deadline(TimerKey::Broker(broker.0, id), at_ns)
    }

    pub fn cancel_deadline(&mut self, deadline: Deadline<TimerKey>) {
        self.queue.cancel_deadline(deadline);
    }

    pub fn set_fetcher_backoff(&mut self, broker: BrokerId, leader: BrokerId, at_ns: u64) {
        self.queue
            .set_timer(TimerKey::Fetcher(broker.0, leader.0), at_ns);
    }

    pub fn schedule_broker_process(
        &mut self,
        at_ns: u64,
        broker: BrokerId,
        from: NodeId,
        message: Message,
    ) {
        self.queue.schedule(
            at_ns,
            Event::BrokerProcess {
                broker,
                from,
                message,
            },
        );
    }

    pub fn set_txn_timer(&mut self, txn: usize, kind: u32, at_ns: u64) {
        self.queue.set_timer(TimerKey::Txn(txn as u32, kind), at_ns);
    }

    pub fn cancel_txn_timer(&mut self, txn: usize, kind: u32) {
        self.queue.cancel_timer(TimerKey::Txn(txn as u32, kind));
    }

    /// A consume-transform-produce member hands work to its producer (an in-process call).
    pub fn to_producer(&mut self, producer: ProducerId, work: PipelineWork) {
        self.queue
            .schedule(self.now_ns, Event::PipelineWork { producer, work });
    }

    /// A consume-transform-produce producer tells its member.
    pub fn to_consumer(&mut self, consumer: ConsumerId, note: PipelineNote) {
        self.queue
            .schedule(self.now_ns, Event::PipelineNote { consumer, note });
    }

    pub fn set_session_expiry(&mut self, broker: BrokerId, at_ns: u64) {
        self.queue.set_timer(TimerKey::Session(broker.0), at_ns);
    }
}

/// One topic's partition placement.
#[derive(Debug, Clone)]
pub struct TopicMeta {
    pub id: TopicId,
    pub name: String,
    /// Replicas of each partition, the preferred leader first.
    pub replicas: Vec<Vec<BrokerId>>,
}

impl TopicMeta {
    pub fn partitions(&self) -> u32 {
        self.replicas.len() as u32
    }

    pub fn leader(&self, partition: u32) -> BrokerId {
        self.replicas[partition as usize][0]
    }
}

/// The cluster's metadata as every client sees it.
#[derive(Debug, Clone)]
pub struct Metadata {
    topics: Vec<TopicMeta>,
    brokers: usize,
}

impl Metadata {
    /// Kafka's rack-unaware replica assignment (`AdminUtils.assignReplicasToBrokers`): the first
    /// replica round-robin from a start index, the others shifted, the shift growing by one each
    /// time the partitions wrap around the brokers; the first replica leads.
    /// Model limit: Kafka draws the start index and the first shift at random; the model uses the
    /// topic's index for both, so placement is the same for every seed.
    pub fn new(scenario: &Scenario) -> Self {
        let brokers = scenario.cluster.brokers.max(1);
        let topics = scenario
            .topics
            .iter()
            .enumerate()
            .map(|(index, topic)| {
                let replication_factor = topic.replication_factor.clamp(1, brokers);
                let replicas = (0..topic.partitions)
                    .map(|partition| placement(index, partition, brokers, replication_factor))
                    .collect();
                TopicMeta {
                    id: TopicId(index as u32),
                    name: topic.name.clone(),
                    replicas,
                }
            })
            .collect();
        Metadata {
            topics,
            brokers: brokers as usize,
        }
    }

    /// `add-partitions`: the topic grows to `total` partitions, placed as at creation; returns
    /// the new partitions' states (first replica leads, all in sync, empty logs).
    pub fn add_partitions(&mut self, topic: usize, total: u32) -> Vec<PartitionState> {
        let brokers = self.brokers as u32;
        let meta = &mut self.topics[topic];
        let replication_factor = meta.replicas.first().map_or(1, |r| r.len() as u32);
        let mut added = Vec::new();
        for partition in meta.partitions()..total {
            let replicas = placement(topic, partition, brokers, replication_factor);
            added.push(PartitionState {
                tp: TopicPartition {
                    topic: meta.id,
                    partition,
                },
                leader: Some(replicas[0]),
                leader_epoch: 0,
                partition_epoch: 0,
                isr: replicas.clone(),
                replicas: replicas.clone(),
            });
            meta.replicas.push(replicas);
        }
        added
    }

    pub fn topic(&self, index: usize) -> &TopicMeta {
        &self.topics[index]
    }

    pub fn topics(&self) -> &[TopicMeta] {
        &self.topics
    }

    pub fn brokers(&self) -> usize {
        self.brokers
    }

    pub fn leader(&self, tp: TopicPartition) -> BrokerId {
        self.topics[tp.topic.0 as usize].leader(tp.partition)
    }

    /// Every partition as the controller starts: the first replica leads, all replicas in sync.
    pub fn initial_states(&self) -> Vec<PartitionState> {
        self.topics
            .iter()
            .flat_map(|topic| {
                topic
                    .replicas
                    .iter()
                    .enumerate()
                    .map(move |(partition, replicas)| PartitionState {
                        tp: TopicPartition {
                            topic: topic.id,
                            partition: partition as u32,
                        },
                        leader: Some(replicas[0]),
                        leader_epoch: 0,
                        partition_epoch: 0,
                        isr: replicas.clone(),
                        replicas: replicas.clone(),
                    })
            })
            .collect()
    }
}

/// Replicas of one partition (`AdminUtils.assignReplicasToBrokers` without racks): the first
/// round-robin from the topic's start index, the others shifted by a shift that grows each time
/// the partitions wrap around the brokers.
fn placement(topic: usize, partition: u32, brokers: u32, replication_factor: u32) -> Vec<BrokerId> {
    let start = topic as u32 % brokers;
    let shift = start + partition / brokers;
    let first = (partition + start) % brokers;
    std::iter::once(first)
        .chain(
            (0..replication_factor - 1)
                .map(|j| (first + 1 + (shift + j) % (brokers - 1).max(1)) % brokers),
        )
        .map(BrokerId)
        .collect()
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub limit: &'static str,
    pub value: u64,
}

pub struct World {
    pub scenario: Scenario,
    pub seed: u64,
    queue: Queue,
    net: Network,
    pub metrics: Recorder,
    pub metadata: Metadata,
    pub producers: Vec<Producer>,
    pub brokers: Vec<Broker>,
    pub consumers: Vec<Consumer>,
    /// One classic group coordinator per scenario group, by group index.
    pub groups: Vec<ClassicGroup>,
    /// By group index, the KIP-848 coordinator of `group.protocol=consumer` groups (their
    /// classic coordinator in `groups` then stays unused).
    pub modern_groups: Vec<Option<ConsumerGroup>>,
    /// Per group, its consumer slots in member-index order (members, then consumer-joins).
    pub group_members: Vec<Vec<ConsumerId>>,
    /// Per group, member slots started so far (the next `consumer-join` takes the next one).
    joined: Vec<u32>,
    pub controller: Controller,
    pub events: u64,
    /// The same events by kind (for `--stats`).
    pub event_counts: EventCounts,
    /// Sum over events of the queue length when each was popped (for the mean, in benchmarks).
    pending_events_sum: u128,
    /// Per partition, the high watermark up to which replicas were last checked to agree.
    checked_up_to: BTreeMap<TopicPartition, u64>,
    /// Per client, when the coordinator finishes its last group request (they stay in order).
    group_request_order: BTreeMap<NodeId, u64>,
    /// One transaction coordinator per transactional id, by index.
    pub txns: Vec<TxnCoordinator>,
    /// consume-transform-produce members and their producers.
    pub pipelines: Vec<PipelineLink>,
}

impl World {
    pub fn build(scenario: &Scenario, seed: u64) -> Result<World, UserError> {
        check_supported(scenario)?;
        let metadata = Metadata::new(scenario);
        let end_ns = scenario.duration_ns;
        let mut scenario = scenario.clone();
        for (index, event) in scenario.timeline.iter_mut().enumerate() {
            if event.jitter_ns > 0 {
                let mut rng = SimRng::new(
                    seed,
                    StreamKind::Faults,
                    index as u64,
                    Purpose::TimelineJitter,
                );
                event.at_ns += rng.below(event.jitter_ns + 1);
            }
        }
        for event in &scenario.timeline {
            if let Action::ProducerStart { producer, .. } = event.action {
                scenario.producers[producer].start_ns = event.at_ns;
            }
        }
        let mut producers = Vec::new();
        let mut txns = Vec::new();
        for (spec_index, spec) in scenario.producers.iter().enumerate() {
            for instance in 0..spec.instances {
                let id = ProducerId(producers.len() as u32);
                let mut producer = Producer::new(id, spec_index, spec, &metadata, seed, end_ns);
                if let Some(base) = &spec.config.transactional_id {
                    // Instances of one producer need ids of their own (see README).
                    let transactional_id = if spec.instances > 1 {
                        format!("{base}-{instance}")
                    } else {
                        base.clone()
                    };
                    let policy = spec.transaction.as_ref().map(|t| TxnPolicy {
                        records: t.records,
                        duration_ns: t.duration_ns,
                        abort_probability: t.abort_probability,
                    });
                    let index = txns.len();
                    txns.push(TxnCoordinator::new(
                        index,
                        &transactional_id,
                        coordinator_broker(&transactional_id, metadata.brokers()),
                    ));
                    producer.set_transactional(
                        index,
                        spec.config.transaction_timeout_ns,
                        None,
                        policy,
                    );
                }
                producers.push(producer);
            }
        }
        let initial = metadata.initial_states();
        let brokers = build_brokers(&scenario, &metadata, &initial, seed);
        let unclean =
            vec![scenario.cluster.config.unclean_leader_election_enable; scenario.topics.len()];
        let controller = Controller::new(initial, brokers.len(), unclean);
        let pipelines = build_pipelines(&scenario, &metadata, seed, &mut producers, &mut txns);
        let (consumers, group_members) = build_consumers(&scenario, &metadata, seed, &pipelines);
        let groups = scenario
            .consumer_groups
            .iter()
            .enumerate()
            .map(|(index, group)| {
                ClassicGroup::new(
                    index,
                    &group.group_id,
                    coordinator_broker(&group.group_id, metadata.brokers()),
                    scenario.cluster.config.group_initial_rebalance_delay_ns,
                )
            })
            .collect();
        let modern_groups = build_modern_groups(&scenario, &metadata);
        let layout = NodeLayout {
            brokers: brokers.len() as u32,
            producers: producers.len() as u32,
            consumers: consumers.len() as u32,
        };
        let net = Network::new(&scenario.cluster.network, layout, seed);
        let metrics = Recorder::new(
            scenario.consumer_groups.len(),
            scenario.metrics_interval_ns,
            end_ns,
        );
        let mut world = World {
            seed,
            queue: Queue::new(),
            net,
            metrics,
            metadata,
            producers,
            brokers,
            consumers,
            groups,
            modern_groups,
            group_members,
            joined: scenario.consumer_groups.iter().map(|g| g.members).collect(),
            controller,
            events: 0,
            event_counts: EventCounts::default(),
            pending_events_sum: 0,
            checked_up_to: BTreeMap::new(),
            group_request_order: BTreeMap::new(),
            txns,
            pipelines,
            scenario,
        };
        world.schedule_initial_events();
        Ok(world)
    }

    fn schedule_initial_events(&mut self) {
        for producer in self.producers.iter().filter(|p| p.pipeline.is_none()) {
            let start_ns = self.scenario.producers[producer.spec_index].start_ns;
            self.queue
                .set_timer(TimerKey::Producer(producer.id.0), start_ns);
        }
        for (group, members) in self.group_members.iter().enumerate() {
            let initial = self.scenario.consumer_groups[group].members as usize;
            for &consumer in members.iter().take(initial) {
                self.queue.schedule(0, Event::ConsumerStart(consumer));
            }
        }
        let isr_check_ns = (self.scenario.cluster.config.replica_lag_time_max_ns / 2).max(1);
        for broker in &self.brokers {
            let id = broker.id;
            self.queue.schedule(0, Event::BrokerStart(id));
            self.queue.schedule(0, Event::BrokerHeartbeat(id));
            self.queue.schedule(isr_check_ns, Event::IsrCheck(id));
            self.queue
                .set_timer(TimerKey::Session(id.0), BROKER_SESSION_TIMEOUT_NS);
        }
        for (index, event) in self.scenario.timeline.iter().enumerate() {
            self.queue.schedule(event.at_ns, Event::Timeline(index));
        }
        self.queue.schedule(
            self.scenario
                .metrics_interval_ns
                .min(self.scenario.duration_ns),
            Event::MetricsTick,
        );
    }

    /// Runs until the scenario's duration, or a hard limit.
    /// Events waiting in the queue, on average over the events popped so far.
    pub fn mean_pending_events(&self) -> f64 {
        self.pending_events_sum as f64 / self.events.max(1) as f64
    }

    pub fn run(&mut self) -> Result<(), LimitExceeded> {
        let end_ns = self.scenario.duration_ns;
        let limits = self.scenario.limits.clone();
        while let Some((at_ns, event)) = self.queue.pop_through(end_ns) {
            self.events += 1;
            self.event_counts.count(&event);
            self.pending_events_sum += self.queue.len() as u128;
            if self.events > limits.events_max {
                return Err(LimitExceeded {
                    limit: "events_max",
                    value: limits.events_max,
                });
            }
            if self.queue.len() as u64 > limits.pending_events_max {
                return Err(LimitExceeded {
                    limit: "pending_events_max",
                    value: limits.pending_events_max,
                });
            }
            self.dispatch(at_ns, event);
        }
        self.controller.finish(end_ns);
        self.settle_offline_partitions();
        self.check_replicas_agree();
        self.check_read_committed();
        self.metrics.finish();
        Ok(())
    }

    fn dispatch(&mut self, now_ns: u64, event: Event) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        match event {
            Event::Deliver { from, to, message } => self.deliver(now_ns, from, to, message),
            Event::BrokerProcess {
                broker,
                from,
                message,
            } => {
                if !self.brokers[broker.0 as usize].alive && is_coordinator_request(&message) {
                    // The broker died while the request waited for an I/O thread.
                    return;
                }
                if let Message::FindTxnCoordinator { request_id, txn } = message {
                    let txn = &self.txns[txn];
                    let coordinator = (!txn.offline).then_some(txn.broker);
                    let reply = Message::FindTxnCoordinatorReply {
                        request_id,
                        coordinator,
                    };
                    ctx.send(NodeId::Broker(broker), from, reply);
                    return;
                }
                if let Message::Txn(request) = message {
                    self.handle_txn_request(now_ns, broker, from, request);
                    return;
                }
                if let Message::WriteTxnMarkers(markers) = &message {
                    if let Some(group) = markers.group {
                        self.group_markers(now_ns, broker, from, markers.clone(), group);
                        return;
                    }
                }
                if let Message::FindCoordinator { request_id, group } = message {
                    let group = &self.groups[group];
                    let coordinator = (!group.offline).then_some(group.broker);
                    let reply = Message::FindCoordinatorReply {
                        request_id,
                        coordinator,
                    };
                    ctx.send(NodeId::Broker(broker), from, reply);
                    return;
                }
                if let Message::Group(request) = message {
                    let group = request.group;
                    // Both protocols' coordinators live where `groups[group]` is placed.
                    if !self.groups[group].loaded || self.groups[group].broker != broker {
                        let reply = GroupResponse {
                            request_id: request.request_id,
                            error: Some(GroupError::NotCoordinator),
                            body: GroupResponseBody::Heartbeat,
                        };
                        ctx.send(
                            NodeId::Broker(broker),
                            from,
                            Message::GroupReply(Box::new(reply)),
                        );
                        return;
                    }
                    let committed = match self.modern_groups[group].as_mut() {
                        Some(modern) => modern.handle(&mut ctx, *request),
                        None => self.groups[group].handle(&mut ctx, *request),
                    };
                    // Committed offsets let leaders drop data the group no longer needs.
                    for (tp, offset) in committed {
                        if let Some(leader) = self.controller.state(tp).and_then(|s| s.leader) {
                            self.brokers[leader.0 as usize]
                                .group_committed(tp, group, offset, now_ns);
                        }
                    }
                    return;
                }
                let target = &mut self.brokers[broker.0 as usize];
                if target.alive {
                    let effects = target.process(&mut ctx, from, message);
                    self.apply_effects(broker, effects);
                }
            }
            Event::ConsumerHeartbeat(consumer) => {
                self.consumers[consumer.0 as usize].on_heartbeat_timer(&mut ctx);
            }
            Event::ConsumerRequestTimer(consumer) => {
                self.consumers[consumer.0 as usize].on_request_timer(&mut ctx);
            }
            Event::GroupTimer { group, kind } => match self.modern_groups[group].as_mut() {
                Some(modern) => modern.on_timer(&mut ctx, kind),
                None => self.groups[group].on_timer(&mut ctx, kind),
            },
            Event::ProducerWake(producer) => self.producers[producer.0 as usize].on_wake(&mut ctx),
            Event::ConsumerWake(consumer) => self.consumers[consumer.0 as usize].on_wake(&mut ctx),
            Event::ConsumerStart(consumer) => self.consumers[consumer.0 as usize].start(&mut ctx),
            Event::BrokerTimer { broker, id } => {
                self.brokers[broker.0 as usize].on_timer(&mut ctx, id)
            }
            Event::FetcherBackoff { broker, leader } => {
                self.brokers[broker.0 as usize].on_fetcher_timer(&mut ctx, leader);
            }
            Event::BrokerStart(broker) => self.brokers[broker.0 as usize].start_fetchers(&mut ctx),
            Event::BrokerHeartbeat(broker) => {
                self.brokers[broker.0 as usize].on_heartbeat_timer(&mut ctx);
                self.queue.schedule(
                    now_ns + BROKER_HEARTBEAT_INTERVAL_NS,
                    Event::BrokerHeartbeat(broker),
                );
            }
            Event::IsrCheck(broker) => {
                self.brokers[broker.0 as usize].on_isr_check(&mut ctx);
                let period_ns = (self.scenario.cluster.config.replica_lag_time_max_ns / 2).max(1);
                self.queue
                    .schedule(now_ns + period_ns, Event::IsrCheck(broker));
            }
            Event::SessionExpired(broker) => {
                self.controller.on_session_expired(&mut ctx, broker);
                self.place_coordinators(now_ns);
            }
            Event::ConnectionClosed { node, broker } => match node {
                NodeId::Producer(id) => {
                    self.producers[id.0 as usize].on_connection_closed(&mut ctx, broker)
                }
                NodeId::Consumer(id) => {
                    self.consumers[id.0 as usize].on_connection_closed(&mut ctx, broker)
                }
                NodeId::Broker(id) => {
                    self.brokers[id.0 as usize].on_connection_closed(&mut ctx, broker);
                    for txn in self
                        .txns
                        .iter_mut()
                        .filter(|txn| txn.loaded && txn.broker == id)
                    {
                        txn.connection_closed(&mut ctx, broker);
                    }
                }
                NodeId::Controller => {}
            },
            Event::MetricsTick => self.metrics_tick(now_ns),
            Event::Timeline(index) => self.apply_timeline(now_ns, index),
            Event::TxnTimer { txn, kind } => {
                let route = marker_routes(&self.controller, &self.groups);
                self.txns[txn].on_timer(&mut ctx, kind, &route);
            }
            Event::PipelineWork { producer, work } => {
                self.producers[producer.0 as usize].on_pipeline_work(&mut ctx, work);
            }
            Event::PipelineNote { consumer, note } => {
                self.consumers[consumer.0 as usize].on_pipeline_note(&mut ctx, note);
            }
        }
    }

    /// A transaction coordinator request, on the broker it reached.
    fn handle_txn_request(
        &mut self,
        now_ns: u64,
        broker: BrokerId,
        from: NodeId,
        request: crate::msg::TxnRequest,
    ) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        let coordinator = &mut self.txns[request.txn];
        if !coordinator.loaded || coordinator.broker != broker {
            let reply = TxnResponse {
                request_id: request.request_id,
                error: Some(TxnError::NotCoordinator),
                granted: None,
            };
            ctx.send(NodeId::Broker(broker), from, Message::TxnReply(reply));
            return;
        }
        let route = marker_routes(&self.controller, &self.groups);
        coordinator.handle(&mut ctx, from, request, &route);
    }

    /// WriteTxnMarkers for a group's offsets, at the group's coordinator: a commit makes the
    /// transaction's offsets committed, an abort drops them.
    fn group_markers(
        &mut self,
        now_ns: u64,
        broker: BrokerId,
        from: NodeId,
        markers: crate::msg::TxnMarkers,
        group: usize,
    ) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        let coordinator = &mut self.groups[group];
        let here = coordinator.loaded && coordinator.broker == broker;
        if here {
            let committed = coordinator.txn_marker(&mut ctx, markers.producer_id, markers.commit);
            for (tp, offset) in committed {
                if let Some(leader) = self.controller.state(tp).and_then(|s| s.leader) {
                    self.brokers[leader.0 as usize].group_committed(tp, group, offset, now_ns);
                }
            }
        }
        let reply = Message::WriteTxnMarkersReply {
            request_id: markers.request_id,
            txn: markers.txn,
            failed: Vec::new(),
            group_failed: !here,
        };
        ctx.send(NodeId::Broker(broker), from, reply);
    }

    fn deliver(&mut self, now_ns: u64, from: NodeId, to: NodeId, message: Message) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        match to {
            NodeId::Broker(broker)
                if matches!(message, Message::WriteTxnMarkersReply { .. })
                    && self.brokers[broker.0 as usize].alive =>
            {
                let Message::WriteTxnMarkersReply {
                    request_id,
                    txn,
                    failed,
                    group_failed,
                } = message
                else {
                    unreachable!("matched above");
                };
                let coordinator = &mut self.txns[txn];
                if coordinator.loaded && coordinator.broker == broker {
                    coordinator.on_markers_reply(&mut ctx, request_id, &failed, group_failed);
                }
            }
            NodeId::Broker(broker)
                if is_coordinator_request(&message)
                    && self.brokers[broker.0 as usize].accepts_connections() =>
            {
                // Model limit: group requests take I/O-thread time but never wait behind the
                // connection's other requests (Kafka's consumer uses a separate connection to
                // its coordinator, which this matches for the coordinator's own requests).
                let done_ns = self.brokers[broker.0 as usize].group_request_done(now_ns, &message);
                // One client's group requests are handled in order (Kafka's socket server mutes
                // the channel until the response is sent): a leave is never overtaken by the
                // rejoin sent right after it.
                let previous_ns = self.group_request_order.get(&from).copied().unwrap_or(0);
                let at_ns = done_ns.max(previous_ns);
                self.group_request_order.insert(from, at_ns);
                ctx.queue.schedule(
                    at_ns,
                    Event::BrokerProcess {
                        broker,
                        from,
                        message,
                    },
                );
            }
            NodeId::Broker(broker) => {
                let target = &mut self.brokers[broker.0 as usize];
                let controller = matches!(from, NodeId::Controller);
                if !target.alive || (!controller && !target.accepts_connections()) {
                    // A dead process, or a restarted one not yet registered: the peer's TCP
                    // connection is reset (the controller's channel is not a peer connection).
                    if !controller {
                        let reset = ctx.net.transmit(now_ns, to, from, 0);
                        ctx.queue.schedule(
                            reset.deliver_at_ns,
                            Event::ConnectionClosed { node: from, broker },
                        );
                    }
                    return;
                }
                let is_request = matches!(
                    message,
                    Message::ProduceRequest(_)
                        | Message::FetchRequest(_)
                        | Message::ReplicaFetchRequest(_)
                        | Message::MetadataRequest
                );
                let (at_ns, message) = if is_request {
                    match target.receive_request(now_ns, from, message) {
                        Some(start) => start,
                        None => return,
                    }
                } else {
                    (target.stalled_until(now_ns).unwrap_or(now_ns), message)
                };
                if at_ns == now_ns {
                    let effects = target.process(&mut ctx, from, message);
                    self.apply_effects(broker, effects);
                } else {
                    ctx.queue.schedule(
                        at_ns,
                        Event::BrokerProcess {
                            broker,
                            from,
                            message,
                        },
                    );
                }
            }
            NodeId::Controller => match (from, message) {
                (_, Message::BrokerHeartbeat(broker, incarnation)) => {
                    self.controller.on_heartbeat(&mut ctx, broker, incarnation);
                    self.place_coordinators(now_ns);
                }
                (NodeId::Broker(broker), Message::AlterPartition(proposal, broker_epochs)) => {
                    self.controller
                        .on_alter_partition(&mut ctx, broker, *proposal, &broker_epochs);
                }
                (_, other) => panic!("controller got an unexpected message: {other:?}"),
            },
            NodeId::Producer(producer) => {
                let NodeId::Broker(broker) = from else {
                    panic!("producer {} got a message from {from:?}", producer.0);
                };
                let target = &mut self.producers[producer.0 as usize];
                match message {
                    Message::ProduceResponse(response) => {
                        target.on_produce_response(&mut ctx, broker, response)
                    }
                    Message::MetadataResponse(states) => {
                        target.on_metadata_response(&mut ctx, broker, states)
                    }
                    Message::TxnReply(response) => target.on_txn_reply(&mut ctx, response),
                    Message::FindTxnCoordinatorReply {
                        request_id,
                        coordinator,
                    } => target.on_find_txn_coordinator_reply(&mut ctx, request_id, coordinator),
                    other => panic!(
                        "producer {} got an unexpected message: {other:?}",
                        producer.0
                    ),
                }
            }
            NodeId::Consumer(consumer) => {
                let NodeId::Broker(broker) = from else {
                    panic!("consumer {} got a message from {from:?}", consumer.0);
                };
                self.consumers[consumer.0 as usize].on_message(&mut ctx, broker, message);
            }
        }
    }

    /// Feeds what a broker did to the ledger, which follows each partition's leader of record.
    fn apply_effects(&mut self, broker: BrokerId, effects: Effects) {
        let ledger = &mut self.metrics.ledger;
        for (_, epoch, batch) in &effects.appended {
            ledger.appended(broker, *epoch, batch);
        }
        for (tp, epoch) in effects.became_leader {
            self.follow_new_leader(tp, broker, epoch);
        }
        self.metrics.ledger.truncated_records += effects.truncated;
    }

    /// The ledger's log of record for `tp` moves to `broker`'s log (leader at `epoch`).
    fn follow_new_leader(&mut self, tp: TopicPartition, broker: BrokerId, epoch: u32) {
        let ledger = &mut self.metrics.ledger;
        let new_log = self.brokers[broker.0 as usize]
            .replica(tp)
            .map(|replica| &replica.log);
        let old_log = ledger
            .authority(tp)
            .filter(|&old| old != broker)
            .and_then(|old| self.brokers[old.0 as usize].replica(tp))
            .map(|replica| &replica.log);
        match (old_log, new_log) {
            (Some(old_log), Some(new_log)) => {
                // The new leader's log may hold batches the old log of record lacks (found
                // by `kafkasim check`: a follower kept an unacknowledged suffix of an older
                // epoch that a short-lived leader never had): from where the two logs part,
                // the old batches leave the ledger and the new leader's enter it.
                let parted = parting_offset(old_log, new_log);
                ledger.leader_changed(tp, broker, epoch, old_log.batches_from(parted));
                for batch in new_log.batches_from(parted) {
                    ledger.appended(broker, epoch, batch);
                }
            }
            (Some(old_log), None) => {
                ledger.leader_changed(tp, broker, epoch, old_log.batches_from(0));
            }
            _ => ledger.leader_changed(tp, broker, epoch, std::iter::empty()),
        }
    }

    /// At the end of the run, a partition whose log of record sits on a broker that no longer
    /// leads it (crashed, or restarted and not yet re-registered) is judged as its next leader
    /// will hold it. Whether that broker stays down or has restarted, its old registration is
    /// fenced when its session lapses (`broker.session.timeout.ms`), and the controller takes it
    /// out of a larger ISR and elects another ISR replica. Without this, records a power loss
    /// took from a crashed leader counted as lost although an in-sync follower still held them
    /// (found by `kafkasim check`).
    fn settle_offline_partitions(&mut self) {
        let mut moves = Vec::new();
        for state in self.controller.states() {
            let Some(authority) = self.metrics.ledger.authority(state.tp) else {
                continue;
            };
            let holder = &self.brokers[authority.0 as usize];
            let leads = holder.alive
                && holder
                    .replica(state.tp)
                    .is_some_and(|replica| replica.leader_state().is_some());
            if leads {
                continue;
            }
            if let Some(leader) = state.leader.filter(|&leader| leader != authority) {
                // Elected already; the news had not reached the new leader.
                moves.push((state.tp, leader, state.leader_epoch));
                continue;
            }
            if state.isr.len() < 2 {
                continue;
            }
            let others = || {
                state
                    .replicas
                    .iter()
                    .copied()
                    .filter(|broker| *broker != authority && state.isr.contains(broker))
            };
            // A process that is down, or restarted and not yet registered, leaves the ISR when
            // its old session lapses; the next leader is one that stays.
            let stays = |broker: &BrokerId| {
                let process = &self.brokers[broker.0 as usize];
                process.alive
                    && process.incarnation() == self.controller.registered_incarnation(*broker)
            };
            let next = others().find(stays).or_else(|| others().next());
            if let Some(next) = next {
                moves.push((state.tp, next, state.leader_epoch + 1));
            }
        }
        for (tp, broker, epoch) in moves {
            self.follow_new_leader(tp, broker, epoch);
        }
    }

    fn metrics_tick(&mut self, now_ns: u64) {
        let mut lag = 0;
        for (index, group) in self.scenario.consumer_groups.iter().enumerate() {
            // A partition's position: its owner's, else the group's committed offset, else 0.
            let mut positions = self.committed_offsets(index).clone();
            for &consumer in &self.group_members[index] {
                for (&tp, &position) in self.consumers[consumer.0 as usize]
                    .consumed_positions()
                    .iter()
                {
                    positions.insert(tp, position);
                }
            }
            for &topic in &group.topics {
                let meta = self.metadata.topic(topic);
                for partition in 0..meta.partitions() {
                    let tp = TopicPartition {
                        topic: meta.id,
                        partition,
                    };
                    let position = positions.get(&tp).copied().unwrap_or(0);
                    let leader = self.controller.state(tp).and_then(|state| state.leader);
                    let log = leader.and_then(|leader| self.brokers[leader.0 as usize].replica(tp));
                    if let Some(replica) = log {
                        lag += replica.log.high_watermark.saturating_sub(position);
                    }
                }
            }
        }
        self.metrics.sample_lag(now_ns, lag);
        if !self.txns.is_empty() {
            self.metrics.sample_lso_lag(now_ns, self.lso_lag());
        }
        self.check_replicas_agree();
        let next_ns = now_ns + self.scenario.metrics_interval_ns;
        if next_ns <= self.scenario.duration_ns {
            self.queue.schedule(next_ns, Event::MetricsTick);
        }
    }

    /// Invariant: no read_committed group processed a record of an aborted transaction (read
    /// from the logs of record, where each aborted transaction spans from its producer's first
    /// transactional batch to its abort marker).
    fn check_read_committed(&self) {
        let readers: Vec<usize> = (0..self.scenario.consumer_groups.len())
            .filter(|&group| {
                self.scenario.consumer_groups[group]
                    .config
                    .isolation_level_read_committed
            })
            .collect();
        if readers.is_empty() {
            return;
        }
        for (tp, log) in &self.metrics.ledger.txn_batches {
            let mut open: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
            for (&offset, data) in log {
                match data.control {
                    None if data.transactional => open
                        .entry(data.producer_id)
                        .or_default()
                        .push((offset, offset + u64::from(data.records))),
                    None => {}
                    Some(commit) => {
                        let batches = open.remove(&data.producer_id).unwrap_or_default();
                        for (start, end) in batches.into_iter().filter(|_| !commit) {
                            for &group in &readers {
                                let seen = self.metrics.groups[group]
                                    .processed
                                    .get(tp)
                                    .map_or(0, |set| set.count_below(end) - set.count_below(start));
                                assert_eq!(
                                    seen, 0,
                                    "seed {}: read_committed group {} processed aborted records of {tp:?} at {start}..{end}",
                                    self.seed, self.scenario.consumer_groups[group].group_id
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Summed over partition leaders, HW − LSO: records held back from read_committed readers
    /// by open transactions. Asserts LSO ≤ HW on every leader (an invariant of every run).
    pub fn lso_lag(&self) -> u64 {
        let mut lag = 0;
        for broker in self.brokers.iter().filter(|broker| broker.alive) {
            for (tp, replica) in broker.replicas() {
                if !replica.is_leader() {
                    continue;
                }
                let high_watermark = replica.log.high_watermark;
                let stable = replica.last_stable_offset();
                assert!(
                    stable <= high_watermark,
                    "seed {}: {tp:?} last stable offset {stable} above the HW {high_watermark}",
                    self.seed
                );
                lag += high_watermark - stable;
            }
        }
        lag
    }

    /// A group's committed offsets, from whichever coordinator runs it.
    pub fn committed_offsets(&self, group: usize) -> &BTreeMap<TopicPartition, u64> {
        match &self.modern_groups[group] {
            Some(modern) => modern.committed(),
            None => self.groups[group].committed(),
        }
    }

    /// Invariant (kafka-semantics §7.2): every batch below a leader's high watermark is on every
    /// live ISR replica at the same offset with the same epoch and records.
    fn check_replicas_agree(&mut self) {
        let mut checked = std::mem::take(&mut self.checked_up_to);
        for broker in self.brokers.iter().filter(|broker| broker.alive) {
            for (tp, replica) in broker.replicas() {
                let Some(leader) = replica.leader_state() else {
                    continue;
                };
                let high_watermark = replica.log.high_watermark;
                // Each tick checks what the HW passed since the last one, so the cost follows
                // the data, not the log's length.
                let from = checked.get(&tp).copied().unwrap_or(0).min(high_watermark);
                for member in leader.isr.iter().filter(|&&member| member != broker.id) {
                    let follower = &self.brokers[member.0 as usize];
                    let Some(copy) = follower.replica(tp).filter(|_| follower.alive) else {
                        continue;
                    };
                    let range = (from, high_watermark);
                    self.compare_logs(tp, &replica.log, &copy.log, range, (broker.id, *member));
                }
                checked.insert(tp, high_watermark);
            }
        }
        self.checked_up_to = checked;
    }

    /// Invariant: the leader's batches in `range` are on the follower at the same offsets.
    fn compare_logs(
        &self,
        tp: TopicPartition,
        leader: &PartitionLog,
        follower: &PartitionLog,
        range: (u64, u64),
        (leader_id, member): (BrokerId, BrokerId),
    ) {
        match first_disagreement(leader, follower, range) {
            None => {}
            Some(LogDisagreement::Differs(offset)) => panic!(
                "seed {}: {tp:?} offset {offset} differs between leader {} and ISR member {}",
                self.seed, leader_id.0, member.0
            ),
            Some(LogDisagreement::Missing(offset)) => panic!(
                "seed {}: {tp:?} offset {offset} below the HW is missing on ISR member {}",
                self.seed, member.0
            ),
        }
    }

    fn apply_timeline(&mut self, now_ns: u64, index: usize) {
        let action = self.scenario.timeline[index].action.clone();
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        match action {
            Action::ProducerStop { producer, instance } => {
                for target in self
                    .producers
                    .iter_mut()
                    .filter(|p| instance_matches(&self.scenario, p, producer, instance))
                {
                    target.stop_sending(now_ns);
                }
            }
            Action::ProducerRestart { producer, instance } => {
                for target in self
                    .producers
                    .iter_mut()
                    .filter(|p| instance_matches(&self.scenario, p, producer, instance))
                {
                    target.restart(&mut ctx);
                }
            }
            Action::ProducerCrash { producer, instance } => {
                for target in self
                    .producers
                    .iter_mut()
                    .filter(|p| instance_matches(&self.scenario, p, producer, instance))
                {
                    target.crash(&mut ctx);
                }
            }
            // Applied at build time (the workload starts then).
            Action::ProducerStart { .. } => {}
            Action::BrokerCrash {
                broker,
                lose_unflushed_ns,
            } => {
                let lose_after_ns =
                    lose_unflushed_ns.map(|window_ns| now_ns.saturating_sub(window_ns));
                self.crash_broker(now_ns, BrokerId(broker), lose_after_ns);
            }
            Action::BrokerRestart { broker } => {
                let target = &mut self.brokers[broker as usize];
                if !target.alive {
                    target.restart(now_ns);
                    self.queue
                        .schedule(now_ns, Event::BrokerHeartbeat(BrokerId(broker)));
                }
            }
            Action::BrokerStall {
                broker,
                duration_ns,
            } => self.brokers[broker as usize].stall(now_ns + duration_ns),
            Action::NetworkPartition {
                between,
                duration_ns,
            } => {
                let sides = [self.nodes(&between[0]), self.nodes(&between[1])];
                self.net.add_fault(LinkFault::Partition {
                    sides,
                    until_ns: now_ns + duration_ns,
                });
            }
            Action::NetworkDelay {
                nodes,
                extra_ns,
                duration_ns,
            } => {
                let nodes = self.nodes(&nodes);
                self.net.add_fault(LinkFault::Delay {
                    nodes,
                    extra_ns,
                    until_ns: now_ns + duration_ns,
                });
            }
            Action::NetworkLoss {
                nodes,
                probability,
                duration_ns,
            } => {
                let nodes = self.nodes(&nodes);
                self.net.add_fault(LinkFault::Loss {
                    nodes,
                    probability,
                    until_ns: now_ns + duration_ns,
                });
            }
            Action::AddPartitions { topic, partitions } => {
                self.add_partitions(now_ns, topic, partitions);
            }
            ref other => self.apply_consumer_action(now_ns, other.clone()),
        }
    }

    /// `add-partitions`: the controller creates the partitions, their brokers host them, and
    /// KIP-848 coordinators of groups reading the topic refresh their metadata at their next
    /// heartbeat. Clients learn of them through metadata (classic group leaders within
    /// `metadata.max.age.ms`).
    ///
    /// Model limit: producers keep the partition count they started with (Kafka's would pick
    /// up the new partitions at their next metadata refresh), so new partitions stay empty.
    fn add_partitions(&mut self, now_ns: u64, topic: usize, total: u32) {
        let added = self.metadata.add_partitions(topic, total);
        self.controller.add_partitions(&added);
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        for broker in self.brokers.iter_mut() {
            broker.add_partitions(&mut ctx, &added);
        }
        let name = self.metadata.topic(topic).name.clone();
        for (index, group) in self.scenario.consumer_groups.iter().enumerate() {
            if !group.topics.contains(&topic) {
                continue;
            }
            if let Some(modern) = self.modern_groups[index].as_mut() {
                modern.partitions_changed(&name, total);
            }
        }
    }

    /// A broker process dies: its peers see their connections reset one latency later.
    fn crash_broker(&mut self, now_ns: u64, broker: BrokerId, lose_after_ns: Option<u64>) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        let target = &mut self.brokers[broker.0 as usize];
        if !target.alive {
            return;
        }
        // The coordinators it hosted lose their in-memory state with the process.
        for (group, modern) in self.groups.iter_mut().zip(&mut self.modern_groups) {
            if group.broker == broker {
                group.unload(&mut ctx);
                if let Some(modern) = modern {
                    modern.unload(&mut ctx);
                }
            }
        }
        for txn in self.txns.iter_mut().filter(|txn| txn.broker == broker) {
            txn.unload(&mut ctx);
        }
        // A power loss takes the unflushed tail of every log on the broker; where that broker's
        // log is the partition's log of record, those records are gone from the ledger too.
        for (tp, removed) in target.crash(&mut ctx, lose_after_ns) {
            let ledger = &mut ctx.metrics.ledger;
            ledger.truncated_records += removed
                .iter()
                .map(|batch| u64::from(batch.data.records))
                .sum::<u64>();
            if ledger.authority(tp) == Some(broker) {
                ledger.drop_suffix(tp, removed.iter());
            }
        }
        let layout = self.net.layout();
        let peers = (0..layout.producers)
            .map(|i| NodeId::Producer(ProducerId(i)))
            .chain((0..layout.consumers).map(|i| NodeId::Consumer(ConsumerId(i))))
            .chain(
                (0..layout.brokers)
                    .filter(|&i| i != broker.0)
                    .map(|i| NodeId::Broker(BrokerId(i))),
            );
        for node in peers.collect::<Vec<_>>() {
            let reset = self.net.transmit(now_ns, NodeId::Broker(broker), node, 0);
            if !reset.dropped {
                self.queue.schedule(
                    reset.deliver_at_ns,
                    Event::ConnectionClosed { node, broker },
                );
            }
        }
    }

    /// The controller's view changed: a group whose coordinator's broker was fenced (or came back
    /// as a new process) moves to the next leader of its `__consumer_offsets` partition, which
    /// loads it from its stored record.
    ///
    /// Model limit: `__consumer_offsets` is not replicated as a log; its partition's leader is
    /// chosen as the controller would with every unfenced replica in the ISR: the first unfenced
    /// replica in assignment order, the failed leader only if no other is left. Loading is
    /// instantaneous, and every offset commit the coordinator handled survives (Kafka answers a
    /// commit only once the ISR has it, so acknowledged commits survive there too).
    fn place_coordinators(&mut self, now_ns: u64) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        for (group, modern) in self.groups.iter_mut().zip(&mut self.modern_groups) {
            let placed = (group.broker, group.incarnation, group.offline);
            let Some(next) =
                next_coordinator(&self.controller, &self.brokers, &group.group_id, placed)
            else {
                continue;
            };
            group.unload(&mut ctx);
            if let Some(modern) = modern.as_mut() {
                modern.unload(&mut ctx);
            }
            let Some(next) = next else {
                group.offline = true;
                continue;
            };
            let target = &self.brokers[next.0 as usize];
            if target.alive {
                group.load(&mut ctx, next, target.incarnation());
                if let Some(modern) = modern.as_mut() {
                    modern.load(&mut ctx, next);
                }
            } else {
                // Elected while dead and not yet fenced: clients find a dead coordinator.
                group.broker = next;
                group.incarnation = target.incarnation();
                group.offline = false;
            }
        }
        self.place_txn_coordinators(now_ns);
    }

    /// The transaction coordinators move like the group coordinators: to the next leader of
    /// their `__transaction_state` partition (placed by the same rule: 50 partitions,
    /// `abs(hashCode) % 50`, replication factor 3), which loads the stored state.
    fn place_txn_coordinators(&mut self, now_ns: u64) {
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        let route = marker_routes(&self.controller, &self.groups);
        for txn in &mut self.txns {
            let placed = (txn.broker, txn.incarnation, txn.offline);
            let Some(next) = next_coordinator(
                &self.controller,
                &self.brokers,
                &txn.transactional_id,
                placed,
            ) else {
                continue;
            };
            let Some(next) = next else {
                txn.unload(&mut ctx);
                txn.offline = true;
                continue;
            };
            let target = &self.brokers[next.0 as usize];
            if target.alive {
                txn.load(&mut ctx, next, target.incarnation(), &route);
            } else {
                txn.unload(&mut ctx);
                txn.broker = next;
                txn.incarnation = target.incarnation();
                txn.offline = false;
            }
        }
    }

    fn apply_consumer_action(&mut self, now_ns: u64, action: Action) {
        let (group, member) = match action {
            Action::ConsumerJoin { group } => {
                // The next slot of the group that never ran (members + joins so far).
                let next = self.joined[group];
                self.joined[group] += 1;
                (group, next)
            }
            Action::ConsumerLeave { group, member }
            | Action::ConsumerCrash { group, member }
            | Action::ConsumerRestart { group, member }
            | Action::ConsumerPause { group, member, .. }
            | Action::ConsumerSlow { group, member, .. } => (group, member),
            other => unreachable!("unsupported action passed the build check: {other:?}"),
        };
        let Some(index) = self
            .group_members
            .get(group)
            .and_then(|members| members.get(member as usize))
            .map(|consumer| consumer.0 as usize)
        else {
            return;
        };
        let mut ctx = Ctx {
            now_ns,
            queue: &mut self.queue,
            net: &mut self.net,
            metrics: &mut self.metrics,
        };
        let consumer = &mut self.consumers[index];
        match action {
            Action::ConsumerJoin { .. } => consumer.start(&mut ctx),
            Action::ConsumerLeave { .. } => consumer.close(&mut ctx, false),
            Action::ConsumerCrash { .. } => consumer.crash(&mut ctx),
            Action::ConsumerRestart { .. } => consumer.close(&mut ctx, true),
            Action::ConsumerPause { duration_ns, .. } => consumer.pause(&mut ctx, duration_ns),
            Action::ConsumerSlow {
                factor,
                duration_ns,
                ..
            } => consumer.slow_down(&mut ctx, factor, duration_ns),
            _ => {}
        }
    }

    fn nodes(&self, refs: &[NodeRef]) -> Vec<NodeId> {
        refs.iter()
            .map(|node| match *node {
                NodeRef::Broker(index) => NodeId::Broker(BrokerId(index)),
                NodeRef::Producer(spec, instance) => {
                    NodeId::Producer(ProducerId(first_instance(&self.scenario, spec) + instance))
                }
                NodeRef::Consumer(group, member) => {
                    // Slots per group count members and consumer-joins (build_consumers).
                    let id = self
                        .group_members
                        .get(group)
                        .and_then(|slots| slots.get(member as usize))
                        .copied()
                        .unwrap_or(ConsumerId(u32::MAX));
                    NodeId::Consumer(id)
                }
                NodeRef::Controller => NodeId::Controller,
            })
            .collect()
    }

    /// Batches held in broker logs (for the memory check of long runs).
    pub fn log_batches_held(&self) -> usize {
        self.brokers
            .iter()
            .flat_map(|broker| broker.replicas())
            .map(|(_, replica)| replica.log.batches_held())
            .sum()
    }
}

/// How a follower's log disagrees with its leader's below the high watermark.
#[derive(Debug, PartialEq)]
enum LogDisagreement {
    /// Both hold a batch at this offset, from different appends.
    Differs(u64),
    /// The follower lacks the batch at this offset though its log spans it.
    Missing(u64),
}

/// The first leader batch in `[from, high_watermark)` that the follower does not hold as the
/// same append (leader epoch, producer and first record id) at the same offset.
fn first_disagreement(
    leader: &PartitionLog,
    follower: &PartitionLog,
    (from, high_watermark): (u64, u64),
) -> Option<LogDisagreement> {
    let identity = |batch: &LogBatch| {
        (
            batch.leader_epoch,
            batch.data.producer,
            batch.data.first_record_id,
        )
    };
    // Both logs are in offset order: one merged walk pairs the batches at equal offsets.
    let mut theirs = follower
        .batches_from(from)
        .take_while(|batch| batch.base_offset < high_watermark)
        .peekable();
    let held = follower.log_start_offset..follower.log_end_offset;
    let below_hw = leader
        .batches_from(from)
        .take_while(|batch| batch.next_offset() <= high_watermark);
    for batch in below_hw {
        while theirs
            .next_if(|other| other.base_offset < batch.base_offset)
            .is_some()
        {}
        match theirs.next_if(|other| other.base_offset == batch.base_offset) {
            Some(other) if identity(other) != identity(batch) => {
                return Some(LogDisagreement::Differs(batch.base_offset))
            }
            Some(_) => {}
            None if held.contains(&batch.base_offset) => {
                return Some(LogDisagreement::Missing(batch.base_offset))
            }
            None => {}
        }
    }
    None
}

fn instance_matches(
    scenario: &Scenario,
    producer: &Producer,
    spec: usize,
    instance: Option<u32>,
) -> bool {
    producer.spec_index == spec
        && instance.is_none_or(|i| i == producer.id.0 - first_instance(scenario, spec))
}

fn first_instance(scenario: &Scenario, spec: usize) -> u32 {
    scenario.producers[..spec]
        .iter()
        .map(|producer| producer.instances)
        .sum()
}

fn build_brokers(
    scenario: &Scenario,
    metadata: &Metadata,
    initial: &[PartitionState],
    seed: u64,
) -> Vec<Broker> {
    let mut readers_of_topic = vec![Vec::new(); scenario.topics.len()];
    for (group_index, group) in scenario.consumer_groups.iter().enumerate() {
        for &topic in &group.topics {
            readers_of_topic[topic].push(group_index);
        }
    }
    let min_insync: Vec<u32> = scenario
        .topics
        .iter()
        .map(|topic| topic.min_insync_replicas)
        .collect();
    (0..metadata.brokers())
        .map(|index| {
            let id = BrokerId(index as u32);
            let hosted: Vec<(TopicPartition, Vec<BrokerId>)> = initial
                .iter()
                .filter(|state| state.replicas.contains(&id))
                .map(|state| (state.tp, state.replicas.clone()))
                .collect();
            let mut broker = Broker::new(
                id,
                &scenario.cluster.config,
                &scenario.cluster.costs,
                hosted,
                min_insync.clone(),
                readers_of_topic.clone(),
                seed,
            );
            broker.install_metadata(initial);
            broker.unflushed_window_ns = unflushed_window_ns(scenario, id);
            broker
        })
        .collect()
}

/// A KIP-848 coordinator for each `group.protocol=consumer` group.
/// Where a coordinator on an internal topic's partition (placed by `key`, now on `broker` as
/// process `incarnation`, or offline) goes after a change of the controller's view: None if it
/// stays; else the partition's new leader, chosen as the controller would with every unfenced
/// replica in sync (the first unfenced replica in assignment order, the current broker only if
/// no other is left), or Some(None) when no replica is left.
fn next_coordinator(
    controller: &Controller,
    brokers: &[Broker],
    key: &str,
    (broker, incarnation, offline): (BrokerId, u32, bool),
) -> Option<Option<BrokerId>> {
    let fenced = |broker: BrokerId| controller.is_fenced(broker);
    let same_process = brokers[broker.0 as usize].incarnation() == incarnation;
    if !offline && !fenced(broker) && same_process {
        return None;
    }
    let next = offsets_replicas(key, brokers.len())
        .into_iter()
        .find(|&replica| replica != broker && !fenced(replica))
        .or_else(|| (!fenced(broker)).then_some(broker));
    Some(next)
}

fn build_modern_groups(scenario: &Scenario, metadata: &Metadata) -> Vec<Option<ConsumerGroup>> {
    let config = &scenario.cluster.config;
    let settings = ConsumerGroupSettings {
        heartbeat_interval_ns: config.group_consumer_heartbeat_interval_ns,
        session_timeout_ns: config.group_consumer_session_timeout_ns,
        assignors: config.group_consumer_assignors.clone(),
    };
    scenario
        .consumer_groups
        .iter()
        .enumerate()
        .map(|(index, group)| {
            if group.config.group_protocol != GroupProtocol::Consumer {
                return None;
            }
            let topics: Vec<(String, TopicId, u32)> = group
                .topics
                .iter()
                .map(|&topic| {
                    let meta = metadata.topic(topic);
                    (meta.name.clone(), meta.id, meta.partitions())
                })
                .collect();
            let broker = coordinator_broker(&group.group_id, metadata.brokers());
            Some(ConsumerGroup::new(
                index,
                &group.group_id,
                broker,
                settings.clone(),
                &topics,
            ))
        })
        .collect()
}

/// Member slots of a group (its members and its `consumer-join`s).
fn group_slots(scenario: &Scenario, group_index: usize) -> u32 {
    let joins = scenario
        .timeline
        .iter()
        .filter(
            |event| matches!(event.action, Action::ConsumerJoin { group } if group == group_index),
        )
        .count() as u32;
    scenario.consumer_groups[group_index].members + joins
}

/// consume-transform-produce: a producer for every member slot of every group with an output
/// (after the scenario's producers), transactional with `PREFIX-i` when the output has a
/// `transactional.id`. Consumer ids follow `build_consumers`' numbering.
fn build_pipelines(
    scenario: &Scenario,
    metadata: &Metadata,
    seed: u64,
    producers: &mut Vec<Producer>,
    txns: &mut Vec<TxnCoordinator>,
) -> Vec<PipelineLink> {
    let mut links = Vec::new();
    let mut next_consumer = 0u32;
    for (group_index, group) in scenario.consumer_groups.iter().enumerate() {
        let slots = group_slots(scenario, group_index);
        let Some(output) = &group.output else {
            next_consumer += slots;
            continue;
        };
        for member in 0..slots {
            let consumer = ConsumerId(next_consumer);
            next_consumer += 1;
            let spec = crate::scenario::model::ProducerSpec {
                name: format!("{}-output-{member}", group.group_id),
                instances: 1,
                topic: output.topic,
                rate_per_sec: 1.0,
                arrivals: crate::scenario::model::Arrivals::Constant,
                record_bytes: crate::scenario::model::Dist::Fixed { value: 0.0 },
                key_bytes: 0,
                keys: Keys::Null,
                start_ns: 0,
                compression_ratio: crate::scenario::model::CompressionRatios {
                    gzip: 0.30,
                    snappy: 0.50,
                    lz4: 0.45,
                    zstd: 0.28,
                },
                config: output.config.clone(),
                transaction: None,
            };
            let id = ProducerId(producers.len() as u32);
            let mut producer = Producer::new(id, usize::MAX, &spec, metadata, seed, 0);
            let exactly_once = output.config.transactional_id.is_some();
            if let Some(prefix) = &output.config.transactional_id {
                let transactional_id = format!("{prefix}-{member}");
                let index = txns.len();
                txns.push(TxnCoordinator::new(
                    index,
                    &transactional_id,
                    coordinator_broker(&transactional_id, metadata.brokers()),
                ));
                producer.set_transactional(
                    index,
                    output.config.transaction_timeout_ns,
                    Some(group_index),
                    None,
                );
            }
            let link = PipelineLink {
                consumer,
                producer: id,
                exactly_once,
            };
            producer.set_pipeline(link);
            producers.push(producer);
            links.push(link);
        }
    }
    links
}

/// One consumer slot per member and per `consumer-join` of each group, in member-index order;
/// slots beyond `members` start when their join comes.
fn build_consumers(
    scenario: &Scenario,
    metadata: &Metadata,
    seed: u64,
    pipelines: &[PipelineLink],
) -> (Vec<Consumer>, Vec<Vec<ConsumerId>>) {
    let mut consumers = Vec::new();
    let mut group_members = Vec::new();
    let mut link_of_slot = pipelines.iter();
    for (group_index, group) in scenario.consumer_groups.iter().enumerate() {
        let joins = scenario
            .timeline
            .iter()
            .filter(|event| matches!(event.action, Action::ConsumerJoin { group } if group == group_index))
            .count() as u32;
        let topics: Vec<(String, TopicId, u32)> = group
            .topics
            .iter()
            .map(|&index| {
                let topic = metadata.topic(index);
                (topic.name.clone(), topic.id, topic.partitions())
            })
            .collect();
        let leaders: BTreeMap<TopicPartition, BrokerId> = topics
            .iter()
            .flat_map(|&(_, topic, partitions)| {
                (0..partitions).map(move |partition| TopicPartition { topic, partition })
            })
            .map(|tp| (tp, metadata.leader(tp)))
            .collect();
        let coordinator = coordinator_broker(&group.group_id, metadata.brokers());
        let mut slots = Vec::new();
        for member in 0..group.members + joins {
            let id = ConsumerId(consumers.len() as u32);
            slots.push(id);
            consumers.push(Consumer::new(ConsumerSetup {
                id,
                name: format!("consumer:{}:{member}", group.group_id),
                group: group_index,
                config: group.config.clone(),
                commit: group.commit,
                processing_ns: group.processing_ns_per_record.clone(),
                coordinator,
                topics: topics.clone(),
                leaders: leaders.clone(),
                instance_id: group
                    .config
                    .group_instance_id
                    .as_ref()
                    .map(|prefix| format!("{prefix}-{member}")),
                broker_count: metadata.brokers() as u32,
                seed,
                pipeline: if group.output.is_some() {
                    link_of_slot.next().copied()
                } else {
                    None
                },
            }));
        }
        group_members.push(slots);
    }
    (consumers, group_members)
}

/// Scenario features the model cannot run are refused rather than ignored.
fn check_supported(scenario: &Scenario) -> Result<(), UserError> {
    check_broker_faults(scenario)?;
    for (index, producer) in scenario.producers.iter().enumerate() {
        if let Keys::Zipf { count, .. } = producer.keys {
            if count > ZIPF_KEYS_MAX {
                return Err(UserError::field(
                    &format!("producers[{index}].keys.count"),
                    count,
                    &format!("zipf keys must number at most {ZIPF_KEYS_MAX}"),
                ));
            }
        }
    }
    Ok(())
}

/// The first offset at which two replicas' logs differ (or the shorter one ends). Below both
/// high watermarks the logs agree (checked in every run), so the walk starts there, or where
/// both logs still hold batches (retention trims replicas at different times).
fn parting_offset(old: &PartitionLog, new: &PartitionLog) -> u64 {
    let start = old
        .high_watermark
        .min(new.high_watermark)
        .max(old.log_start_offset)
        .max(new.log_start_offset);
    let identity = |batch: &LogBatch| {
        (
            batch.base_offset,
            batch.leader_epoch,
            batch.data.producer,
            batch.data.first_record_id,
            batch.data.records,
        )
    };
    let mut old_batches = old.batches_from(start);
    let mut new_batches = new.batches_from(start);
    loop {
        match (old_batches.next(), new_batches.next()) {
            (Some(a), Some(b)) if identity(a) == identity(b) => continue,
            (Some(a), Some(b)) => return a.base_offset.min(b.base_offset),
            (Some(a), None) => return a.base_offset,
            (None, Some(b)) => return b.base_offset,
            (None, None) => return old.log_end_offset.min(new.log_end_offset),
        }
    }
}

/// Broker faults must make sense in order: no crash of a crashed broker, no restart of a running
/// one, no stall of a crashed one.
fn check_broker_faults(scenario: &Scenario) -> Result<(), UserError> {
    let mut down = vec![false; scenario.cluster.brokers as usize];
    for (index, event) in scenario.timeline.iter().enumerate() {
        let (broker, problem) = match event.action {
            Action::BrokerCrash { broker, .. } => {
                let was_down = std::mem::replace(&mut down[broker as usize], true);
                (
                    broker,
                    was_down.then_some("crashes a broker that is already down"),
                )
            }
            Action::BrokerRestart { broker } => {
                let was_down = std::mem::replace(&mut down[broker as usize], false);
                (
                    broker,
                    (!was_down).then_some("restarts a broker that is running"),
                )
            }
            Action::BrokerStall { broker, .. } => (
                broker,
                down[broker as usize].then_some("stalls a broker that is down"),
            ),
            _ => continue,
        };
        if let Some(problem) = problem {
            return Err(UserError::new(format!(
                "timeline[{index}]: broker {broker} at {} ms {problem}: a broker must be running to crash or stall, and down to restart",
                event.at_ns / 1_000_000
            )));
        }
    }
    Ok(())
}

/// Requests handled by a coordinator (group or transaction) rather than the broker's request
/// queue: they take I/O-thread time but never wait behind the connection's other requests.
fn is_coordinator_request(message: &Message) -> bool {
    matches!(
        message,
        Message::Group(_)
            | Message::FindCoordinator { .. }
            | Message::FindTxnCoordinator { .. }
            | Message::Txn(_)
            | Message::WriteTxnMarkers(_)
    )
}

/// Where a transaction's markers go now: a partition's leader (the controller's view), or a
/// group's coordinator broker.
fn marker_routes<'a>(
    controller: &'a Controller,
    groups: &'a [ClassicGroup],
) -> impl Fn(MarkerTarget) -> Option<BrokerId> + 'a {
    move |target| match target {
        MarkerTarget::Partition(tp) => controller.state(tp).and_then(|state| state.leader),
        MarkerTarget::Group(group) => groups
            .get(group)
            .filter(|group| !group.offline)
            .map(|group| group.broker),
    }
}

/// The longest power-loss window any `broker-crash` of this broker asks for: batches that recent
/// must stay in its logs so the crash can take them.
fn unflushed_window_ns(scenario: &Scenario, broker: BrokerId) -> u64 {
    scenario
        .timeline
        .iter()
        .filter_map(|event| match event.action {
            Action::BrokerCrash {
                broker: target,
                lose_unflushed_ns,
            } if target == broker.0 => lose_unflushed_ns,
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TopicId;
    use crate::producer::batch::BatchData;
    use std::rc::Rc;

    /// A log of `records`-record batches from offset 0, each (leader epoch, first record id).
    fn log_of(batches: &[(u32, u64)], records: u32) -> PartitionLog {
        let tp = TopicPartition {
            topic: TopicId(0),
            partition: 0,
        };
        let mut log = PartitionLog::default();
        for &(epoch, first_record_id) in batches {
            let mut data = BatchData::marker(tp, 1, 0, true);
            data.producer = 0;
            data.records = records;
            data.first_record_id = first_record_id;
            log.append_batch(LogBatch {
                base_offset: log.log_end_offset,
                leader_epoch: epoch,
                append_ns: 0,
                data: Rc::new(data),
            });
        }
        log
    }

    #[test]
    fn replicas_agree_when_the_follower_holds_the_same_appends() {
        let leader = log_of(&[(0, 0), (0, 2), (1, 4)], 2);
        let follower = log_of(&[(0, 0), (0, 2), (1, 4)], 2);
        assert_eq!(first_disagreement(&leader, &follower, (0, 6)), None);
        // A follower behind the high watermark's range is not held to it.
        let short = log_of(&[(0, 0)], 2);
        assert_eq!(first_disagreement(&leader, &short, (0, 6)), None);
    }

    #[test]
    fn a_different_append_or_a_hole_below_the_high_watermark_is_found() {
        let leader = log_of(&[(0, 0), (0, 2), (1, 4)], 2);
        let diverged = log_of(&[(0, 0), (0, 2), (2, 4)], 2);
        assert_eq!(
            first_disagreement(&leader, &diverged, (0, 6)),
            Some(LogDisagreement::Differs(4))
        );
        // Above the high watermark (4) the last batch is not compared yet.
        assert_eq!(first_disagreement(&leader, &diverged, (0, 4)), None);
        // Batches of 3 records on the follower: offsets 0..6 held, no batch at leader offset 2.
        let misaligned = log_of(&[(0, 0), (0, 3)], 3);
        assert_eq!(
            first_disagreement(&leader, &misaligned, (0, 6)),
            Some(LogDisagreement::Missing(2))
        );
        let mut trimmed = log_of(&[(0, 0), (0, 2), (1, 4)], 2);
        trimmed.trim_before(4, u64::MAX);
        let mut leader_trimmed = log_of(&[(0, 0), (0, 2), (1, 4)], 2);
        leader_trimmed.trim_before(2, u64::MAX);
        assert_eq!(first_disagreement(&leader_trimmed, &trimmed, (2, 6)), None);
    }
}
