//! A consumer process: the fetcher (one fetch in flight per broker, for assigned partitions with
//! nothing buffered, as Kafka's `AbstractFetch` does) and the application's poll loop
//! (`max.poll.records` per poll, then processing each record for the scenario's time).
//!
//! Model limit: until consumer groups land, a group's members split its partitions statically by
//! the range rule, start at offset 0 and do not commit.

use crate::broker::log::LogBatch;
use crate::codec;
use crate::ids::{BrokerId, ConsumerId, NodeId, TopicPartition};
use crate::msg::{FetchPartition, FetchRequest, FetchResponse, Message, PartitionState};
use crate::scenario::model::{ConsumerConfig, Dist};
use crate::sim::rng::{Purpose, SimRng, StreamKind};
use crate::sim::time::f64_to_ns;
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Fetched records not yet returned by `poll()`.
#[derive(Debug)]
struct Buffered {
    tp: TopicPartition,
    batch: LogBatch,
    /// Index of the next record of `batch` to return.
    next_record: u32,
}

pub struct Consumer {
    pub id: ConsumerId,
    /// `consumer:GROUP:INDEX`, as the scenario names nodes.
    pub name: String,
    pub group: usize,
    config: ConsumerConfig,
    processing_ns: Dist,
    assigned: Vec<TopicPartition>,
    leaders: BTreeMap<TopicPartition, BrokerId>,
    fetch_positions: BTreeMap<TopicPartition, u64>,
    /// Offset after the last record handed to the application, per partition.
    consumed_positions: BTreeMap<TopicPartition, u64>,
    buffered: VecDeque<Buffered>,
    fetch_in_flight: BTreeSet<BrokerId>,
    next_request_id: u64,
    /// The application thread is processing the records of the last poll until this time.
    busy_until_ns: Option<u64>,
    metadata_in_flight: bool,
    next_metadata_broker: u32,
    broker_count: u32,
    /// (creation time, processing end) of the records being processed.
    in_process: Vec<(u64, u64)>,
    processing_rng: SimRng,
}

impl Consumer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ConsumerId,
        name: String,
        group: usize,
        config: &ConsumerConfig,
        processing_ns: &Dist,
        assigned: Vec<TopicPartition>,
        leaders: BTreeMap<TopicPartition, BrokerId>,
        broker_count: u32,
        seed: u64,
    ) -> Self {
        let positions: BTreeMap<TopicPartition, u64> = assigned.iter().map(|&tp| (tp, 0)).collect();
        Consumer {
            id,
            name,
            group,
            config: config.clone(),
            processing_ns: processing_ns.clone(),
            consumed_positions: positions.clone(),
            fetch_positions: positions,
            assigned,
            leaders,
            buffered: VecDeque::new(),
            fetch_in_flight: BTreeSet::new(),
            next_request_id: 0,
            busy_until_ns: None,
            metadata_in_flight: false,
            next_metadata_broker: 0,
            broker_count,
            in_process: Vec::new(),
            processing_rng: SimRng::new(
                seed,
                StreamKind::Consumer,
                u64::from(id.0),
                Purpose::Processing,
            ),
        }
    }

    fn node(&self) -> NodeId {
        NodeId::Consumer(self.id)
    }

    pub fn consumed_positions(&self) -> &BTreeMap<TopicPartition, u64> {
        &self.consumed_positions
    }

    /// The first poll.
    pub fn start(&mut self, ctx: &mut Ctx) {
        for tp in &self.assigned {
            ctx.metrics.ownership_started(
                self.group,
                &self.name,
                tp.topic.0,
                tp.partition,
                ctx.now_ns,
            );
        }
        self.poll(ctx);
    }

    /// Processing of the last poll's records finished: record them and poll again.
    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        if self
            .busy_until_ns
            .is_some_and(|until_ns| until_ns <= ctx.now_ns)
        {
            self.busy_until_ns = None;
            for (created_ns, done_ns) in self.in_process.drain(..) {
                ctx.metrics
                    .record_processed(self.group, created_ns, done_ns);
            }
            self.poll(ctx);
        }
    }

    /// The connection to `broker` was reset: its fetch is gone; find the new leaders.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        self.fetch_in_flight.remove(&broker);
        // A metadata request to that broker is gone too: ask the next one.
        self.metadata_in_flight = false;
        if self.next_metadata_broker % self.broker_count.max(1) == broker.0 {
            self.next_metadata_broker += 1;
        }
        self.request_metadata(ctx);
    }

    /// Model limit: the consumer asks for metadata at once after an error, from the next broker in
    /// turn, without Kafka's backoff; an answer lost to a fault is retried at the next error.
    fn request_metadata(&mut self, ctx: &mut Ctx) {
        if self.metadata_in_flight {
            return;
        }
        self.metadata_in_flight = true;
        let brokers = self
            .leaders
            .values()
            .map(|b| b.0 + 1)
            .max()
            .unwrap_or(1)
            .max(self.broker_count);
        let broker = BrokerId(self.next_metadata_broker % brokers);
        self.next_metadata_broker += 1;
        ctx.send(
            self.node(),
            NodeId::Broker(broker),
            Message::MetadataRequest,
        );
    }

    pub fn on_metadata_response(
        &mut self,
        ctx: &mut Ctx,
        _from: BrokerId,
        states: Vec<PartitionState>,
    ) {
        self.metadata_in_flight = false;
        for state in states {
            if self.fetch_positions.contains_key(&state.tp) {
                match state.leader {
                    Some(leader) => self.leaders.insert(state.tp, leader),
                    None => self.leaders.remove(&state.tp),
                };
            }
        }
        if self.busy_until_ns.is_none() {
            self.poll(ctx);
        } else {
            self.send_fetches(ctx);
        }
    }

    pub fn on_fetch_response(&mut self, ctx: &mut Ctx, from: BrokerId, response: FetchResponse) {
        self.fetch_in_flight.remove(&from);
        let _ = response.request_id;
        if response
            .partitions
            .iter()
            .any(|partition| partition.error.is_some())
        {
            self.request_metadata(ctx);
        }
        for partition in response
            .partitions
            .into_iter()
            .filter(|partition| partition.error.is_none())
        {
            let Some(position) = self.fetch_positions.get(&partition.tp).copied() else {
                continue;
            };
            let mut next_position = position;
            for batch in partition.batches {
                if batch.next_offset() <= next_position {
                    continue;
                }
                let skip = next_position.saturating_sub(batch.base_offset) as u32;
                next_position = batch.next_offset();
                self.buffered.push_back(Buffered {
                    tp: partition.tp,
                    batch,
                    next_record: skip,
                });
            }
            self.fetch_positions.insert(partition.tp, next_position);
            ctx.metrics.record_lag_seen(
                self.group,
                partition.high_watermark.saturating_sub(next_position),
            );
        }
        if self.busy_until_ns.is_none() {
            self.poll(ctx);
        } else {
            self.send_fetches(ctx);
        }
    }

    /// Kafka's `sendFetches`: one request per leader with no fetch in flight, for the assigned
    /// partitions that have nothing buffered.
    fn send_fetches(&mut self, ctx: &mut Ctx) {
        let buffered: BTreeSet<TopicPartition> =
            self.buffered.iter().map(|entry| entry.tp).collect();
        let mut by_node: BTreeMap<BrokerId, Vec<FetchPartition>> = BTreeMap::new();
        for tp in &self.assigned {
            let Some(&leader) = self.leaders.get(tp) else {
                continue;
            };
            if buffered.contains(tp) || self.fetch_in_flight.contains(&leader) {
                continue;
            }
            by_node.entry(leader).or_default().push(FetchPartition {
                tp: *tp,
                fetch_offset: self.fetch_positions[tp],
                max_bytes: u64::from(self.config.max_partition_fetch_bytes),
            });
        }
        for (node, partitions) in by_node {
            let request = FetchRequest {
                request_id: self.next_request_id,
                consumer: self.id,
                group: self.group,
                max_wait_ns: self.config.fetch_max_wait_ns,
                min_bytes: u64::from(self.config.fetch_min_bytes),
                max_bytes: u64::from(self.config.fetch_max_bytes),
                partitions,
            };
            self.next_request_id += 1;
            self.fetch_in_flight.insert(node);
            ctx.send(
                self.node(),
                NodeId::Broker(node),
                Message::FetchRequest(request),
            );
        }
    }

    /// Kafka's `poll()`: fetch, take up to `max.poll.records` buffered records, process them.
    fn poll(&mut self, ctx: &mut Ctx) {
        self.send_fetches(ctx);
        let mut budget = self.config.max_poll_records;
        let mut clock_ns = ctx.now_ns;
        while budget > 0 {
            let Some(entry) = self.buffered.front_mut() else {
                break;
            };
            let records = entry.batch.data.records;
            let take = (records - entry.next_record).min(budget);
            // Decompression happens in the application thread as records are iterated.
            let share =
                entry.batch.data.uncompressed_bytes * u64::from(take) / u64::from(records.max(1));
            clock_ns += codec::decompress_ns(entry.batch.data.compression, share);
            for index in entry.next_record..entry.next_record + take {
                clock_ns += f64_to_ns(self.processing_rng.sample(&self.processing_ns));
                let created_ns = entry.batch.data.record_created_ns[index as usize];
                self.in_process.push((created_ns, clock_ns));
            }
            entry.next_record += take;
            budget -= take;
            let position = entry.batch.base_offset + u64::from(entry.next_record);
            self.consumed_positions.insert(entry.tp, position);
            if entry.next_record == records {
                self.buffered.pop_front();
            }
        }
        if self.in_process.is_empty() {
            // Nothing to return: poll waits for a fetch response.
            return;
        }
        self.busy_until_ns = Some(clock_ns);
        ctx.set_consumer_wake(self.id, clock_ns);
        // Kafka pipelines: partitions drained by this poll are fetched while records are processed.
        self.send_fetches(ctx);
    }
}
