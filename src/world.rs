//! The world: every component in `Vec`s indexed by typed ids, the event queue, the network and
//! the recorder. `build` creates components in id order; `run` pops events in (time, sequence)
//! order and dispatches each with a `match` to the component it names. Components never touch
//! each other: they send messages and set timers through `Ctx`.

use crate::broker::Broker;
use crate::consumer::{Consumer, ConsumerSetup};
use crate::error::UserError;
use crate::group::{coordinator_broker, ClassicGroup};
use crate::ids::{BrokerId, ConsumerId, NodeId, ProducerId, TopicId, TopicPartition};
use crate::metrics::Recorder;
use crate::msg::Message;
use crate::net::{Network, NodeLayout, Transmission};
use crate::producer::workload::ZIPF_KEYS_MAX;
use crate::producer::Producer;
use crate::scenario::model::{Action, GroupProtocol, Keys, Scenario};
use crate::sim::queue::EventQueue;
use std::collections::BTreeMap;

/// Everything that can happen.
#[derive(Debug)]
pub enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
    },
    /// An I/O thread finished a request on a broker.
    BrokerProcess {
        broker: BrokerId,
        from: NodeId,
        message: Message,
    },
    ProducerWake(ProducerId),
    ConsumerWake(ConsumerId),
    /// The consumer's heartbeat thread wakes up.
    ConsumerHeartbeat(ConsumerId),
    ConsumerStart(ConsumerId),
    /// A group coordinator's timer (join, sync or a member's session deadline).
    GroupTimer {
        group: usize,
        kind: u32,
    },
    FetchWait {
        broker: BrokerId,
        park_id: u64,
    },
    MetricsTick,
    Timeline(usize),
}

/// Keys of timers that can be moved or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKey {
    Producer(u32),
    Consumer(u32),
    ConsumerHeartbeat(u32),
    Group(u32, u32),
    FetchWait(u32, u64),
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
    /// Sends a message; it arrives after transmission and latency.
    pub fn send(&mut self, from: NodeId, to: NodeId, message: Message) -> Transmission {
        let transmission = self
            .net
            .transmit(self.now_ns, from, to, message.size_bytes());
        self.queue.schedule(
            transmission.deliver_at_ns,
            Event::Deliver { from, to, message },
        );
        transmission
    }

    pub fn set_producer_wake(&mut self, producer: ProducerId, at_ns: u64) {
        let key = TimerKey::Producer(producer.0);
        if self.queue.timer_at(key) != Some(at_ns) {
            self.queue
                .set_timer(key, at_ns, Event::ProducerWake(producer));
        }
    }

    pub fn cancel_producer_wake(&mut self, producer: ProducerId) {
        self.queue.cancel_timer(TimerKey::Producer(producer.0));
    }

    pub fn set_consumer_wake(&mut self, consumer: ConsumerId, at_ns: u64) {
        self.queue.set_timer(
            TimerKey::Consumer(consumer.0),
            at_ns,
            Event::ConsumerWake(consumer),
        );
    }

    pub fn set_consumer_heartbeat(&mut self, consumer: ConsumerId, at_ns: u64) {
        self.queue.set_timer(
            TimerKey::ConsumerHeartbeat(consumer.0),
            at_ns,
            Event::ConsumerHeartbeat(consumer),
        );
    }

    /// The process stopped: its poll and heartbeat timers die with it.
    pub fn cancel_consumer_timers(&mut self, consumer: ConsumerId) {
        self.queue.cancel_timer(TimerKey::Consumer(consumer.0));
        self.queue
            .cancel_timer(TimerKey::ConsumerHeartbeat(consumer.0));
    }

    pub fn set_group_timer(&mut self, group: usize, kind: u32, at_ns: u64) {
        self.queue.set_timer(
            TimerKey::Group(group as u32, kind),
            at_ns,
            Event::GroupTimer { group, kind },
        );
    }

    pub fn cancel_group_timer(&mut self, group: usize, kind: u32) {
        self.queue.cancel_timer(TimerKey::Group(group as u32, kind));
    }

    pub fn set_fetch_wait(&mut self, broker: BrokerId, park_id: u64, at_ns: u64) {
        self.queue.set_timer(
            TimerKey::FetchWait(broker.0, park_id),
            at_ns,
            Event::FetchWait { broker, park_id },
        );
    }

    pub fn cancel_fetch_wait(&mut self, broker: BrokerId, park_id: u64) {
        self.queue
            .cancel_timer(TimerKey::FetchWait(broker.0, park_id));
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
    /// Model limit: replicas are placed round-robin from a start that shifts with the topic index
    /// (Kafka draws the start at random); the first replica leads.
    pub fn new(scenario: &Scenario) -> Self {
        let brokers = scenario.cluster.brokers.max(1);
        let topics = scenario
            .topics
            .iter()
            .enumerate()
            .map(|(index, topic)| {
                let replicas = (0..topic.partitions)
                    .map(|partition| {
                        let first = (partition + index as u32) % brokers;
                        (0..topic.replication_factor.clamp(1, brokers))
                            .map(|replica| BrokerId((first + replica) % brokers))
                            .collect()
                    })
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
    /// Per group, its consumer slots in member-index order (members, then consumer-joins).
    pub group_members: Vec<Vec<ConsumerId>>,
    /// Per group, member slots started so far (the next `consumer-join` takes the next one).
    joined: Vec<u32>,
    pub events: u64,
}

impl World {
    pub fn build(scenario: &Scenario, seed: u64) -> Result<World, UserError> {
        check_supported(scenario)?;
        let metadata = Metadata::new(scenario);
        let end_ns = scenario.duration_ns;
        let mut scenario = scenario.clone();
        for event in &scenario.timeline {
            if let Action::ProducerStart { producer, .. } = event.action {
                scenario.producers[producer].start_ns = event.at_ns;
            }
        }
        let mut producers = Vec::new();
        for (spec_index, spec) in scenario.producers.iter().enumerate() {
            for _ in 0..spec.instances {
                let id = ProducerId(producers.len() as u32);
                producers.push(Producer::new(id, spec_index, spec, &metadata, seed, end_ns));
            }
        }
        let brokers = build_brokers(&scenario, &metadata, seed);
        let (consumers, group_members) = build_consumers(&scenario, &metadata, seed);
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
            group_members,
            joined: scenario.consumer_groups.iter().map(|g| g.members).collect(),
            events: 0,
            scenario,
        };
        world.schedule_initial_events();
        Ok(world)
    }

    fn schedule_initial_events(&mut self) {
        for producer in &self.producers {
            let start_ns = self.scenario.producers[producer.spec_index].start_ns;
            self.queue.set_timer(
                TimerKey::Producer(producer.id.0),
                start_ns,
                Event::ProducerWake(producer.id),
            );
        }
        for (group, members) in self.group_members.iter().enumerate() {
            let initial = self.scenario.consumer_groups[group].members as usize;
            for &consumer in members.iter().take(initial) {
                self.queue.schedule(0, Event::ConsumerStart(consumer));
            }
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
    pub fn run(&mut self) -> Result<(), LimitExceeded> {
        let end_ns = self.scenario.duration_ns;
        let limits = self.scenario.limits.clone();
        while let Some(at_ns) = self.queue.peek_at() {
            if at_ns > end_ns {
                break;
            }
            let (at_ns, event) = self.queue.pop().expect("peeked");
            self.events += 1;
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
            Event::Deliver { from, to, message } => match to {
                NodeId::Broker(broker) => {
                    let done_ns =
                        self.brokers[broker.0 as usize].schedule_request(now_ns, &message);
                    ctx.queue.schedule(
                        done_ns,
                        Event::BrokerProcess {
                            broker,
                            from,
                            message,
                        },
                    );
                }
                NodeId::Producer(producer) => {
                    let (NodeId::Broker(broker), Message::ProduceResponse(response)) =
                        (from, message)
                    else {
                        panic!("producer {} got an unexpected message", producer.0);
                    };
                    self.producers[producer.0 as usize]
                        .on_produce_response(&mut ctx, broker, response);
                }
                NodeId::Consumer(consumer) => {
                    let NodeId::Broker(broker) = from else {
                        panic!("consumer {} got a message from a client", consumer.0);
                    };
                    self.consumers[consumer.0 as usize].on_message(&mut ctx, broker, message);
                }
            },
            Event::BrokerProcess {
                broker,
                from,
                message,
            } => match message {
                Message::Group(request) => {
                    let group = request.group;
                    let committed = self.groups[group].handle(&mut ctx, request);
                    // Committed offsets let leaders drop data the group no longer needs.
                    for (tp, offset) in committed {
                        let leader = self.metadata.leader(tp);
                        self.brokers[leader.0 as usize].group_committed(tp, group, offset);
                    }
                }
                message => self.brokers[broker.0 as usize].process(&mut ctx, from, message),
            },
            Event::ProducerWake(producer) => self.producers[producer.0 as usize].on_wake(&mut ctx),
            Event::ConsumerWake(consumer) => self.consumers[consumer.0 as usize].on_wake(&mut ctx),
            Event::ConsumerStart(consumer) => self.consumers[consumer.0 as usize].start(&mut ctx),
            Event::ConsumerHeartbeat(consumer) => {
                self.consumers[consumer.0 as usize].on_heartbeat_timer(&mut ctx);
            }
            Event::GroupTimer { group, kind } => self.groups[group].on_timer(&mut ctx, kind),
            Event::FetchWait { broker, park_id } => {
                self.brokers[broker.0 as usize].on_fetch_wait_expired(&mut ctx, park_id);
            }
            Event::MetricsTick => self.metrics_tick(now_ns),
            Event::Timeline(index) => self.apply_timeline(now_ns, index),
        }
    }

    fn metrics_tick(&mut self, now_ns: u64) {
        let mut lag = 0;
        for (index, group) in self.scenario.consumer_groups.iter().enumerate() {
            // A partition's position: its owner's, else the group's committed offset, else 0.
            let mut positions = self.groups[index].committed().clone();
            for &consumer in &self.group_members[index] {
                for (&tp, &position) in self.consumers[consumer.0 as usize].consumed_positions() {
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
                    let leader = self.metadata.leader(tp);
                    if let Some(log) = self.brokers[leader.0 as usize].log(tp) {
                        lag += log.high_watermark.saturating_sub(position);
                    }
                }
            }
        }
        self.metrics.sample_lag(now_ns, lag);
        let next_ns = now_ns + self.scenario.metrics_interval_ns;
        if next_ns <= self.scenario.duration_ns {
            self.queue.schedule(next_ns, Event::MetricsTick);
        }
    }

    fn apply_timeline(&mut self, now_ns: u64, index: usize) {
        match self.scenario.timeline[index].action {
            Action::ProducerStop { producer, instance } => {
                for target in &mut self.producers {
                    let instance_index = target.id.0 - first_instance(&self.scenario, producer);
                    if target.spec_index == producer && instance.is_none_or(|i| i == instance_index)
                    {
                        target.stop_sending(now_ns);
                    }
                }
            }
            // Applied at build time (the workload starts then).
            Action::ProducerStart { .. } => {}
            ref other => self.apply_consumer_action(now_ns, other.clone()),
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

    /// Bytes and batches held in broker logs (for the memory check of long runs).
    pub fn log_batches_held(&self) -> usize {
        self.brokers
            .iter()
            .flat_map(|broker| broker.logs())
            .map(|(_, log)| log.batches_held())
            .sum()
    }
}

fn first_instance(scenario: &Scenario, spec: usize) -> u32 {
    scenario.producers[..spec]
        .iter()
        .map(|producer| producer.instances)
        .sum()
}

fn build_brokers(scenario: &Scenario, metadata: &Metadata, seed: u64) -> Vec<Broker> {
    let mut readers_of_topic = vec![Vec::new(); scenario.topics.len()];
    for (group_index, group) in scenario.consumer_groups.iter().enumerate() {
        for &topic in &group.topics {
            readers_of_topic[topic].push(group_index);
        }
    }
    (0..metadata.brokers())
        .map(|index| {
            let id = BrokerId(index as u32);
            let led: Vec<TopicPartition> = metadata
                .topics()
                .iter()
                .flat_map(|topic| {
                    (0..topic.partitions()).map(move |partition| TopicPartition {
                        topic: topic.id,
                        partition,
                    })
                })
                .filter(|&tp| metadata.leader(tp) == id)
                .collect();
            Broker::new(
                id,
                &scenario.cluster.config,
                &scenario.cluster.costs,
                &led,
                readers_of_topic.clone(),
                seed,
            )
        })
        .collect()
}

/// One consumer slot per member and per `consumer-join` of each group, in member-index order;
/// slots beyond `members` start when their join comes.
fn build_consumers(
    scenario: &Scenario,
    metadata: &Metadata,
    seed: u64,
) -> (Vec<Consumer>, Vec<Vec<ConsumerId>>) {
    let mut consumers = Vec::new();
    let mut group_members = Vec::new();
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
                seed,
            }));
        }
        group_members.push(slots);
    }
    (consumers, group_members)
}

/// Timeline actions whose models have not landed yet are refused rather than ignored.
fn check_supported(scenario: &Scenario) -> Result<(), UserError> {
    for (index, event) in scenario.timeline.iter().enumerate() {
        let name = match event.action {
            Action::ProducerStart { .. }
            | Action::ProducerStop { .. }
            | Action::ConsumerJoin { .. }
            | Action::ConsumerLeave { .. }
            | Action::ConsumerCrash { .. }
            | Action::ConsumerRestart { .. }
            | Action::ConsumerPause { .. }
            | Action::ConsumerSlow { .. } => continue,
            Action::ProducerRestart { .. } => "producer-restart",
            Action::BrokerCrash { .. } => "broker-crash",
            Action::BrokerRestart { .. } => "broker-restart",
            Action::BrokerStall { .. } => "broker-stall",
            Action::NetworkPartition { .. } => "network-partition",
            Action::NetworkDelay { .. } => "network-delay",
            Action::NetworkLoss { .. } => "network-loss",
            Action::AddPartitions { .. } => "add-partitions",
        };
        return Err(UserError::new(format!(
            "timeline[{index}].action: \"{name}\" is not modelled yet in this version: allowed are \"producer-start\", \"producer-stop\" and the consumer-* actions"
        )));
    }
    for (index, group) in scenario.consumer_groups.iter().enumerate() {
        if group.config.group_protocol != GroupProtocol::Classic {
            return Err(UserError::field(
                &format!("consumer_groups[{index}].config.group.protocol"),
                "\"consumer\"",
                "\"classic\" (the KIP-848 consumer protocol is not modelled yet in this version)",
            ));
        }
    }
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
