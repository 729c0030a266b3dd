//! A broker: request handling on a pool of I/O threads (FIFO queue, per-request and per-KiB
//! costs), Produce appends to partition logs, and Fetch reads with long polling
//! (`fetch.min.bytes` / `fetch.max.wait.ms`). Leaders only for now: replication arrives with
//! followers, which will hold the same `PartitionLog`.

pub mod log;

use crate::ids::{BrokerId, ConsumerId, NodeId, TopicPartition};
use crate::msg::{
    ErrorCode, FetchRequest, FetchResponse, FetchedPartition, Message, ProduceRequest,
    ProduceResponse,
};
use crate::scenario::model::{Acks, BrokerConfig, BrokerCosts};
use crate::sim::rng::{Purpose, SimRng, StreamKind};
use crate::sim::time::f64_to_ns;
use crate::world::Ctx;
use log::PartitionLog;
use std::collections::BTreeMap;

/// A fetch waiting for data (Kafka's fetch purgatory).
#[derive(Debug)]
struct ParkedFetch {
    request: FetchRequest,
}

pub struct Broker {
    pub id: BrokerId,
    config: BrokerConfig,
    costs: BrokerCosts,
    io_threads_free_ns: Vec<u64>,
    cost_rng: SimRng,
    logs: BTreeMap<TopicPartition, PartitionLog>,
    /// Groups reading each topic (by topic index), so trimmed data is data nobody needs.
    readers_of_topic: Vec<Vec<usize>>,
    /// Latest committed offset of each group per partition.
    group_positions: BTreeMap<(TopicPartition, usize), u64>,
    parked: BTreeMap<u64, ParkedFetch>,
    next_park_id: u64,
    leader_epoch: u32,
}

impl Broker {
    pub fn new(
        id: BrokerId,
        config: &BrokerConfig,
        costs: &BrokerCosts,
        led_partitions: &[TopicPartition],
        readers_of_topic: Vec<Vec<usize>>,
        seed: u64,
    ) -> Self {
        let logs = led_partitions
            .iter()
            .map(|&tp| (tp, PartitionLog::default()))
            .collect();
        Broker {
            id,
            io_threads_free_ns: vec![0; config.num_io_threads.max(1) as usize],
            config: config.clone(),
            costs: costs.clone(),
            cost_rng: SimRng::new(
                seed,
                StreamKind::Broker,
                u64::from(id.0),
                Purpose::RequestCost,
            ),
            logs,
            readers_of_topic,
            group_positions: BTreeMap::new(),
            parked: BTreeMap::new(),
            next_park_id: 0,
            leader_epoch: 0,
        }
    }

    fn node(&self) -> NodeId {
        NodeId::Broker(self.id)
    }

    pub fn log(&self, tp: TopicPartition) -> Option<&PartitionLog> {
        self.logs.get(&tp)
    }

    pub fn logs(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionLog)> {
        self.logs.iter()
    }

    /// A request arrived: it waits for a free I/O thread, then takes its cost.
    /// Returns when processing is done; the world then calls `process`.
    pub fn schedule_request(&mut self, now_ns: u64, message: &Message) -> u64 {
        let bytes = match message {
            Message::ProduceRequest(request) => {
                request.batches.iter().map(|batch| batch.wire_bytes).sum()
            }
            _ => 0,
        };
        let (thread, free_ns) = self
            .io_threads_free_ns
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(index, free_ns)| (free_ns, index))
            .expect("at least one I/O thread");
        let start_ns = now_ns.max(free_ns);
        let cost_ns = f64_to_ns(self.cost_rng.sample(&self.costs.request_ns))
            + self.costs.per_kib_ns * bytes / 1024;
        let done_ns = start_ns + cost_ns;
        self.io_threads_free_ns[thread] = done_ns;
        done_ns
    }

    /// An I/O thread handles a request.
    pub fn process(&mut self, ctx: &mut Ctx, from: NodeId, message: Message) {
        match message {
            Message::ProduceRequest(request) => self.handle_produce(ctx, from, request),
            Message::FetchRequest(request) => self.handle_fetch(ctx, from, request),
            other => panic!(
                "broker {} got a response it never asked for: {other:?}",
                self.id.0
            ),
        }
    }

    fn handle_produce(&mut self, ctx: &mut Ctx, from: NodeId, request: ProduceRequest) {
        let mut results = Vec::with_capacity(request.batches.len());
        let mut touched = Vec::new();
        for data in request.batches {
            let tp = data.tp;
            let result = if data.wire_bytes > self.config.message_max_bytes {
                Err(ErrorCode::MessageTooLarge)
            } else if let Some(log) = self.logs.get_mut(&tp) {
                let base_offset = log.append(data, self.leader_epoch, ctx.now_ns);
                // Model limit: no followers yet, so the high watermark is the log end at once.
                let end = log.log_end_offset;
                log.advance_high_watermark(end);
                touched.push(tp);
                Ok(base_offset)
            } else {
                Err(ErrorCode::NotLeaderOrFollower)
            };
            results.push((tp, result));
        }
        if request.acks != Acks::Zero {
            let response = ProduceResponse {
                request_id: request.request_id,
                results,
            };
            ctx.send(self.node(), from, Message::ProduceResponse(response));
        }
        for tp in touched {
            self.trim_unread(tp);
            self.complete_parked_fetches(ctx, tp);
        }
    }

    fn handle_fetch(&mut self, ctx: &mut Ctx, from: NodeId, request: FetchRequest) {
        if request.max_wait_ns == 0 || self.fetchable_bytes(&request) >= request.min_bytes {
            self.respond_fetch(ctx, from, request);
            return;
        }
        let park_id = self.next_park_id;
        self.next_park_id += 1;
        ctx.set_fetch_wait(self.id, park_id, ctx.now_ns + request.max_wait_ns);
        self.parked.insert(park_id, ParkedFetch { request });
    }

    fn fetchable_bytes(&self, request: &FetchRequest) -> u64 {
        request
            .partitions
            .iter()
            .filter_map(|partition| {
                let log = self.logs.get(&partition.tp)?;
                Some(log.available_bytes(partition.fetch_offset, log.high_watermark))
            })
            .sum()
    }

    fn respond_fetch(&mut self, ctx: &mut Ctx, to: NodeId, request: FetchRequest) {
        let mut remaining_bytes = request.max_bytes;
        let mut partitions = Vec::with_capacity(request.partitions.len());
        let mut first = true;
        for partition in &request.partitions {
            let Some(log) = self.logs.get(&partition.tp) else {
                continue;
            };
            let limit = partition.max_bytes.min(remaining_bytes);
            let batches = log.read(partition.fetch_offset, log.high_watermark, limit, first);
            let bytes: u64 = batches.iter().map(|batch| batch.data.wire_bytes).sum();
            remaining_bytes = remaining_bytes.saturating_sub(bytes);
            first &= batches.is_empty();
            partitions.push(FetchedPartition {
                tp: partition.tp,
                high_watermark: log.high_watermark,
                batches,
            });
        }
        let response = FetchResponse {
            request_id: request.request_id,
            partitions,
        };
        ctx.send(self.node(), to, Message::FetchResponse(response));
    }

    /// The fetch wait of a parked fetch ran out: answer with whatever there is.
    pub fn on_fetch_wait_expired(&mut self, ctx: &mut Ctx, park_id: u64) {
        if let Some(parked) = self.parked.remove(&park_id) {
            let consumer = parked.request.consumer;
            self.respond_fetch(ctx, consumer_node(consumer), parked.request);
        }
    }

    fn complete_parked_fetches(&mut self, ctx: &mut Ctx, tp: TopicPartition) {
        let ready: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, parked)| {
                parked
                    .request
                    .partitions
                    .iter()
                    .any(|partition| partition.tp == tp)
            })
            .filter(|(_, parked)| self.fetchable_bytes(&parked.request) >= parked.request.min_bytes)
            .map(|(&park_id, _)| park_id)
            .collect();
        for park_id in ready {
            let parked = self.parked.remove(&park_id).expect("listed above");
            ctx.cancel_fetch_wait(self.id, park_id);
            let consumer = parked.request.consumer;
            self.respond_fetch(ctx, consumer_node(consumer), parked.request);
        }
    }

    /// A group committed an offset (the coordinator told the world, which tells the leader).
    pub fn group_committed(&mut self, tp: TopicPartition, group: usize, offset: u64) {
        let position = self.group_positions.entry((tp, group)).or_insert(0);
        *position = (*position).max(offset);
        self.trim_unread(tp);
    }

    /// Model limit: retention is not modelled; a batch is dropped once every group reading its
    /// topic has committed past it (at once if no group reads it), so memory follows the backlog.
    /// Committed offsets, not fetch offsets: after a rebalance a member restarts from them.
    fn trim_unread(&mut self, tp: TopicPartition) {
        let readers = &self.readers_of_topic[tp.topic.0 as usize];
        let Some(log) = self.logs.get_mut(&tp) else {
            return;
        };
        let mut trim_to = log.high_watermark;
        for &group in readers {
            let position = self.group_positions.get(&(tp, group)).copied().unwrap_or(0);
            trim_to = trim_to.min(position);
        }
        log.trim_before(trim_to);
    }
}

fn consumer_node(consumer: ConsumerId) -> NodeId {
    NodeId::Consumer(consumer)
}
