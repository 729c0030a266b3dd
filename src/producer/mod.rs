//! A Kafka producer process: the application's `send()` calls (workload), the record accumulator
//! and the sender thread, as one component that reacts to wake-ups and produce responses.
//!
//! Records are never events. The producer appends every record due by the current time whenever
//! it handles an event, and sets one wake-up timer at the earliest moment something could change
//! what the sender does: a linger or backoff expiry, a timeout, a send completing, or the next
//! record that creates or fills a batch (found by looking ahead on a scratch copy).

pub mod accumulator;
pub mod batch;
pub mod idempotence;
pub mod lookahead;
pub mod partitioner;
pub mod transactional;
pub mod workload;

use crate::bitset::BitSet;
use crate::codec;
use crate::ids::{BrokerId, NodeId, ProducerId, TopicPartition};
use crate::metrics::TraceEntry;
use crate::msg::{
    ErrorCode, Message, PartitionState, ProduceRequest, ProduceResponse, TxnError, TxnRequest,
    TxnRequestBody, TxnResponse,
};
use crate::net::{reconnect_backoff_ns, RECONNECT_BACKOFF_NS};
use crate::pipeline::{PipelineLink, PipelineNote, PipelineWork};
use crate::scenario::model::{Acks, Keys, Partitioner, ProducerConfig, ProducerSpec};
use crate::sim::rng::{Purpose, SimRng, StreamKind};
use crate::sim::time::f64_to_ns;
use crate::world::{Ctx, Metadata};
use accumulator::{all_batches_full, Accumulator, AccumulatorConfig, AppendOutcome};
use batch::{BatchData, ProducerBatch};
use lookahead::LookaheadScratch;
use partitioner::{partition_for_key_index, to_positive};
use std::collections::VecDeque;
use std::rc::Rc;
use transactional::{Phase, TxnClient};
use workload::{PendingRecord, Workload};

/// Kafka's retry backoff jitter (`CommonClientConfigs.RETRY_BACKOFF_JITTER`).
const BACKOFF_JITTER: f64 = 0.2;

/// A request sent and not yet answered.
#[derive(Debug)]
struct InFlight {
    request_id: u64,
    sent_ns: u64,
    /// When the last byte left the producer's link.
    send_done_ns: u64,
    batches: Vec<ProducerBatch>,
    expects_response: bool,
}

/// The producer's connection to one broker.
#[derive(Debug, Default)]
struct Connection {
    /// Oldest first.
    in_flight: VecDeque<InFlight>,
    reconnect_at_ns: u64,
    /// Reset since its last answer: later attempts open a new connection, which a dead broker
    /// refuses before any request goes out.
    reset: bool,
    /// Connection attempts refused in a row (the exponent of the reconnect backoff).
    refused: u32,
}

/// How the producer picks partitions for this workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionRule {
    Keyed,
    RoundRobin,
    Sticky,
    /// consume-transform-produce: the output goes to the input record's partition number.
    Origin,
}

/// A standalone transactional producer's transactions (the scenario's `transaction` object).
#[derive(Debug, Clone)]
pub struct TxnPolicy {
    /// Commit after this many records (0: no limit).
    pub records: u64,
    /// Commit this long after the transaction's first record (0: no limit).
    pub duration_ns: u64,
    pub abort_probability: f64,
}

pub struct Producer {
    pub id: ProducerId,
    pub spec_index: usize,
    config: ProducerConfig,
    accumulator: Accumulator,
    workload: Workload,
    rule: PartitionRule,
    key_width: u32,
    connections: Vec<Connection>,
    /// Connections that may have requests in flight: a bit set when a request goes out and
    /// cleared when a walk finds the connection idle, so it holds every busy connection and
    /// perhaps a few idle ones. The walks over requests in flight at every wake-up visit only
    /// these: reading each connection's queue (30 in bench-wide, nearly all idle) missed the
    /// cache more than anything else a producer does.
    busy: BitSet,
    /// Leader of each partition as this producer's metadata says (None: unknown or offline).
    leaders: Vec<Option<BrokerId>>,
    /// Partitions of the topic led by each broker, in partition order.
    node_partitions: Vec<Vec<u32>>,
    available_partitions: Vec<u32>,
    next_request_id: u64,
    round_robin_counter: u32,
    /// `next_trigger_ns`'s copy of the open batches, kept between wake-ups.
    lookahead: LookaheadScratch,
    partitioner_rng: SimRng,
    backoff_rng: SimRng,
    /// Since when the application thread has been blocked on buffer memory.
    blocked_since_ns: Option<u64>,
    /// When the application thread last came back from a block: later appends happen no earlier.
    resumed_at_ns: u64,
    metadata: MetadataClient,
    restarts: u32,
    /// `transactional.id` set: the transaction client.
    pub txn: Option<TxnClient>,
    txn_policy: Option<TxnPolicy>,
    txn_rng: SimRng,
    /// consume-transform-produce: the member this producer belongs to.
    pub pipeline: Option<PipelineLink>,
    /// The member's process is running (pipeline producers live and die with it).
    pipeline_running: bool,
    /// At-least-once pipeline: the member waits for the output to be acknowledged.
    awaiting_flush: bool,
    /// Exactly-once pipeline: the handed output must be committed once appended.
    end_wanted: bool,
    /// `producer-crash`: the process is gone for good.
    crashed: bool,
}

/// The client's metadata refresh (Kafka's `Metadata` + `NetworkClient.maybeUpdate`): one request
/// at a time to a broker, after errors that point to stale leaders, and every `metadata.max.age.ms`.
#[derive(Debug, Clone, Default)]
pub struct MetadataClient {
    pub in_flight: Option<(BrokerId, u64)>,
    pub wanted: bool,
    pub last_refresh_ns: u64,
    next_broker: u32,
}

/// Timing settings of a metadata client.
#[derive(Debug, Clone, Copy)]
pub struct MetadataTiming {
    pub backoff_ns: u64,
    pub timeout_ns: u64,
    pub max_age_ns: u64,
}

impl MetadataClient {
    /// Sends a metadata request if one is wanted and allowed now; returns the next time to look.
    pub fn poll(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        brokers: u32,
        timing: MetadataTiming,
    ) -> u64 {
        if let Some((_, sent_ns)) = self.in_flight {
            if ctx.now_ns < sent_ns + timing.timeout_ns {
                return sent_ns + timing.timeout_ns;
            }
            self.in_flight = None;
            self.wanted = true;
        }
        if ctx.now_ns >= self.last_refresh_ns.saturating_add(timing.max_age_ns) {
            self.wanted = true;
        }
        if !self.wanted {
            return self.last_refresh_ns.saturating_add(timing.max_age_ns);
        }
        let allowed_ns = self.last_refresh_ns.saturating_add(timing.backoff_ns);
        if ctx.now_ns < allowed_ns {
            return allowed_ns;
        }
        let broker = BrokerId(self.next_broker % brokers.max(1));
        self.next_broker = self.next_broker.wrapping_add(1);
        self.in_flight = Some((broker, ctx.now_ns));
        self.last_refresh_ns = ctx.now_ns;
        self.wanted = false;
        ctx.send(from, NodeId::Broker(broker), Message::MetadataRequest);
        ctx.now_ns + timing.timeout_ns
    }

    /// A broker's answer arrived.
    pub fn answered(&mut self, from: BrokerId) {
        if self.in_flight.is_some_and(|(broker, _)| broker == from) {
            self.in_flight = None;
        }
    }

    /// The connection to `broker` closed: a request there is gone; ask another broker.
    pub fn connection_closed(&mut self, broker: BrokerId) {
        if self.in_flight.is_some_and(|(to, _)| to == broker) {
            self.in_flight = None;
        }
        self.wanted = true;
    }
}

impl Producer {
    pub fn new(
        id: ProducerId,
        spec_index: usize,
        spec: &ProducerSpec,
        metadata: &Metadata,
        seed: u64,
        end_ns: u64,
    ) -> Self {
        let config = spec.config.clone();
        let topic = metadata.topic(spec.topic);
        let partitions = topic.partitions();
        let rule = match (config.partitioner, &spec.keys) {
            (Partitioner::RoundRobin, _) => PartitionRule::RoundRobin,
            (Partitioner::BuiltIn, Keys::Null) => PartitionRule::Sticky,
            (Partitioner::BuiltIn, _) if config.partitioner_ignore_keys => PartitionRule::Sticky,
            (Partitioner::BuiltIn, _) => PartitionRule::Keyed,
        };
        let accumulator_config = AccumulatorConfig {
            topic: topic.id,
            partitions,
            batch_size_bytes: config.batch_size_bytes,
            linger_ns: config.linger_ns,
            buffer_memory_bytes: config.buffer_memory_bytes,
            compressed: config.compression_type != crate::scenario::model::Compression::None,
            compression_ratio: codec::ratio(config.compression_type, &spec.compression_ratio),
            key_bytes: spec.key_bytes,
            // Kafka keeps the queue-length statistics at every ready check, but only the sticky
            // choice for records without a key reads them: a producer whose records all go by
            // key (or round robin) would build them at every wake-up for nothing.
            adaptive_partitioning: config.partitioner_adaptive_partitioning_enable
                && rule == PartitionRule::Sticky,
            guarantee_order: config.max_in_flight_requests_per_connection == 1,
        };
        let brokers = metadata.brokers();
        let stream = u64::from(id.0);
        let mut producer = Producer {
            id,
            spec_index,
            accumulator: Accumulator::new(accumulator_config, brokers),
            workload: Workload::new(spec, seed, stream, end_ns),
            rule,
            key_width: spec.key_bytes,
            connections: (0..brokers).map(|_| Connection::default()).collect(),
            busy: BitSet::default(),
            leaders: Vec::new(),
            node_partitions: Vec::new(),
            available_partitions: Vec::new(),
            next_request_id: 0,
            round_robin_counter: 0,
            lookahead: LookaheadScratch::default(),
            partitioner_rng: SimRng::new(seed, StreamKind::Producer, stream, Purpose::Partitioner),
            backoff_rng: SimRng::new(seed, StreamKind::Producer, stream, Purpose::Backoff),
            blocked_since_ns: None,
            resumed_at_ns: 0,
            metadata: MetadataClient::default(),
            restarts: 0,
            txn: None,
            txn_policy: None,
            txn_rng: SimRng::new(seed, StreamKind::Producer, stream, Purpose::Transactions),
            pipeline: None,
            pipeline_running: false,
            awaiting_flush: false,
            end_wanted: false,
            crashed: false,
            config,
        };
        let topic = metadata.topic(spec.topic);
        producer.leaders = (0..topic.partitions())
            .map(|p| Some(topic.leader(p)))
            .collect();
        producer.rebuild_routes();
        if producer.config.enable_idempotence {
            producer.accumulator.idempotence =
                Some(idempotence::Idempotence::new(u64::from(id.0), partitions));
        }
        producer
    }

    /// Recomputes which partitions each broker leads and which have a leader at all.
    fn rebuild_routes(&mut self) {
        self.available_partitions = (0..self.leaders.len() as u32)
            .filter(|&p| self.leaders[p as usize].is_some())
            .collect();
        for list in &mut self.node_partitions {
            list.clear();
        }
        self.node_partitions
            .resize(self.connections.len(), Vec::new());
        for (partition, leader) in self.leaders.iter().enumerate() {
            if let Some(leader) = leader {
                self.node_partitions[leader.0 as usize].push(partition as u32);
            }
        }
    }

    pub fn on_metadata_response(
        &mut self,
        ctx: &mut Ctx,
        from: BrokerId,
        states: Vec<PartitionState>,
    ) {
        self.metadata.answered(from);
        let topic = self.accumulator.config.topic;
        let seen = states
            .iter()
            .filter(|state| state.tp.topic == topic)
            .map(|state| state.tp.partition + 1)
            .max()
            .unwrap_or(0);
        if seen as usize > self.leaders.len() {
            // The topic grew: Kafka's partitioner uses the new count from this metadata on, so
            // keyed records may now map elsewhere (murmur2 % partitions).
            self.leaders.resize(seen as usize, None);
            self.accumulator.grow_partitions(seen);
        }
        for state in states.into_iter().filter(|state| state.tp.topic == topic) {
            if let Some(slot) = self.leaders.get_mut(state.tp.partition as usize) {
                *slot = state.leader;
            }
        }
        self.rebuild_routes();
        self.advance(ctx);
    }

    /// The connection to `broker` was reset (its process died): every request in flight there
    /// fails with a network error, as Kafka's `NetworkClient` reports a disconnect.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        if self.pipeline.is_some() && !self.pipeline_running {
            return;
        }
        self.metadata.connection_closed(broker);
        if let Some(txn) = &mut self.txn {
            if txn.coordinator == Some(broker) {
                txn.coordinator = None;
                txn.in_flight = None;
            }
            if txn.find_in_flight.is_some_and(|(_, to, _)| to == broker) {
                txn.find_in_flight = None;
            }
        }
        self.append_due(ctx);
        let index = broker.0 as usize;
        if std::mem::replace(&mut self.connections[index].reset, true) {
            self.connection_refused(ctx, index);
        } else {
            self.close_connection(ctx, index);
        }
        self.advance(ctx);
    }

    /// A new connection to a broker that is gone is refused, so Kafka's `NetworkClient` never
    /// sent the requests the model put on it: their batches go back to the accumulator as they
    /// were (no attempt, no retry counted), and the node is not ready again until the reconnect
    /// backoff, which doubles per refusal from `reconnect.backoff.ms` (50 ms) up to
    /// `reconnect.backoff.max.ms` (1 s).
    fn connection_refused(&mut self, ctx: &mut Ctx, index: usize) {
        let connection = &mut self.connections[index];
        connection.reconnect_at_ns = ctx.now_ns + reconnect_backoff_ns(connection.refused);
        connection.refused += 1;
        let requests: Vec<InFlight> = connection.in_flight.drain(..).collect();
        // Newest first: a batch without a sequence goes to the front of its queue, so the
        // oldest ends up first again.
        let batches = requests
            .into_iter()
            .rev()
            .flat_map(|request| request.batches);
        for batch in batches {
            if self.config.max_in_flight_requests_per_connection == 1 {
                self.accumulator.unmute(batch.tp.partition);
            }
            if let (Some(idempotence), Some(sequence)) =
                (&mut self.accumulator.idempotence, batch.base_sequence)
            {
                idempotence.completed(batch.tp.partition, sequence, None);
            }
            self.accumulator.put_back(batch);
        }
        self.metadata.wanted = true;
    }

    fn close_connection(&mut self, ctx: &mut Ctx, index: usize) {
        let requests: Vec<InFlight> = self.connections[index].in_flight.drain(..).collect();
        self.connections[index].reconnect_at_ns = ctx.now_ns + RECONNECT_BACKOFF_NS;
        for request in requests {
            for batch in request.batches {
                self.complete_batch(ctx, batch, Err(ErrorCode::NetworkException));
            }
        }
        self.metadata.wanted = true;
    }

    /// `producer-crash`: the process dies (mid-transaction, for a transactional producer) and
    /// stays down; what it had queued or in flight is never acknowledged.
    pub fn crash(&mut self, ctx: &mut Ctx) {
        self.append_due(ctx);
        self.discard_everything(ctx);
        if let Some(txn) = &mut self.txn {
            txn.phase = Phase::Fenced;
            txn.in_flight = None;
            txn.find_in_flight = None;
        }
        self.crashed = true;
        ctx.cancel_producer_wake(self.id);
    }

    /// `producer-restart`: the process dies and starts again at once with a new producer id;
    /// what it had queued or in flight is never acknowledged.
    pub fn restart(&mut self, ctx: &mut Ctx) {
        if std::mem::take(&mut self.crashed) {
            // Nothing was sent while the process was down.
            while self.workload.pop_due(ctx.now_ns).is_some() {}
        }
        self.fail_queued_and_in_flight(ctx);
        self.restarts += 1;
        if let Some(txn) = &mut self.txn {
            // The new instance calls initTransactions(): InitProducerId with the same
            // transactional.id fences the old instance's epoch and aborts its transaction.
            *txn = TxnClient::new(txn.txn, txn.transaction_timeout_ns, txn.group);
            self.blocked_since_ns = None;
            self.advance(ctx);
            return;
        }
        if self.accumulator.idempotence.is_some() {
            let producer_id = u64::from(self.id.0) | u64::from(self.restarts) << 32;
            self.accumulator.idempotence = Some(idempotence::Idempotence::new(
                producer_id,
                self.leaders.len() as u32,
            ));
        }
        self.blocked_since_ns = None;
        self.advance(ctx);
    }

    fn node(&self) -> NodeId {
        NodeId::Producer(self.id)
    }

    /// Stops the application's sends from `at_ns` on.
    pub fn stop_sending(&mut self, at_ns: u64) {
        self.workload.stop_at(at_ns);
    }

    /// A timer fired: catch up and run the sender.
    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        if self.pipeline.is_some() && !self.pipeline_running {
            return;
        }
        self.advance(ctx);
    }

    /// Makes this a transactional producer (`transactional.id` set).
    pub fn set_transactional(
        &mut self,
        txn: usize,
        timeout_ns: u64,
        group: Option<usize>,
        policy: Option<TxnPolicy>,
    ) {
        self.txn = Some(TxnClient::new(txn, timeout_ns, group));
        self.txn_policy = policy;
    }

    /// Makes this the producer of a consume-transform-produce member: it sends only what the
    /// member hands it, to the input record's partition number.
    pub fn set_pipeline(&mut self, link: PipelineLink) {
        self.pipeline = Some(link);
        self.rule = PartitionRule::Origin;
        self.workload.stop_at(0);
    }

    /// A note from the member (its process is this producer's process).
    pub fn on_pipeline_work(&mut self, ctx: &mut Ctx, work: PipelineWork) {
        match work {
            PipelineWork::Start => {
                self.pipeline_running = true;
                if let Some(txn) = &mut self.txn {
                    // A new process: `initTransactions()` fences the previous one's epoch.
                    *txn = TxnClient::new(txn.txn, txn.transaction_timeout_ns, txn.group);
                } else if self.accumulator.idempotence.is_some() && self.restarts > 0 {
                    // A new process of an idempotent producer gets a new producer id.
                    let producer_id = u64::from(self.id.0) | u64::from(self.restarts) << 32;
                    self.accumulator.idempotence = Some(idempotence::Idempotence::new(
                        producer_id,
                        self.leaders.len() as u32,
                    ));
                }
                self.restarts += 1;
                self.advance(ctx);
            }
            PipelineWork::Crash => {
                self.discard_everything(ctx);
                self.pipeline_running = false;
                self.awaiting_flush = false;
                self.end_wanted = false;
                if let Some(txn) = &mut self.txn {
                    txn.in_flight = None;
                    txn.find_in_flight = None;
                    txn.phase = Phase::Initializing;
                    txn.reset_transaction();
                }
                ctx.cancel_producer_wake(self.id);
            }
            PipelineWork::Output { records } => {
                for (partition, offset, value_bytes, send_ns) in records {
                    self.workload.push_back(PendingRecord {
                        created_ns: send_ns,
                        append_ns: send_ns,
                        value_bytes,
                        key: None,
                        key_hash: 0,
                        origin: Some((partition, offset)),
                    });
                }
                self.advance(ctx);
            }
            PipelineWork::Commit => {
                if self.txn.is_some() {
                    self.end_wanted = true;
                } else {
                    self.awaiting_flush = true;
                }
                self.advance(ctx);
            }
            PipelineWork::OffsetsSent { accepted } => {
                if let Some(txn) = &mut self.txn {
                    txn.offsets_outcome = Some(accepted);
                }
                self.advance(ctx);
            }
        }
    }

    /// Everything queued or in flight is dropped (the process died, or was fenced). Requests
    /// already on the wire still reach the brokers.
    fn discard_everything(&mut self, ctx: &mut Ctx) {
        self.fail_queued_and_in_flight(ctx);
        while self.workload.pending_len() > 0 && self.pipeline.is_some() {
            if self.workload.pop_due(u64::MAX).is_none() {
                break;
            }
        }
    }

    /// Every record due by now, queued or in flight is never acknowledged: counted as failed.
    fn fail_queued_and_in_flight(&mut self, ctx: &mut Ctx) {
        self.append_due(ctx);
        let mut lost = self.accumulator.take_all();
        for connection in &mut self.connections {
            for request in connection.in_flight.drain(..) {
                lost.extend(request.batches);
            }
        }
        for batch in lost {
            ctx.metrics.records_failed(u64::from(batch.record_count()));
            self.accumulator.deallocate(&batch);
        }
    }

    fn tell_member(&self, ctx: &mut Ctx, note: PipelineNote) {
        if let Some(link) = self.pipeline {
            ctx.to_consumer(link.consumer, note);
        }
    }

    /// Whether every batch is acknowledged (and, for a pipeline member's producer, every record
    /// handed over appended; a workload's future arrivals wait for the next transaction).
    fn flushed(&self) -> bool {
        self.incomplete_batches() == 0
            && (self.pipeline.is_none() || self.workload.pending_len() == 0)
    }

    /// The transaction client's turn in `advance`: end the transaction when due, talk to the
    /// coordinator. Returns when it next needs to look.
    fn run_transactions(&mut self, ctx: &mut Ctx) -> u64 {
        if self.pipeline.is_some() && self.awaiting_flush && self.flushed() {
            self.awaiting_flush = false;
            self.tell_member(
                ctx,
                PipelineNote::Flushed {
                    producer_id: 0,
                    epoch: 0,
                },
            );
        }
        if self.txn.is_none() {
            return u64::MAX;
        }
        // Counts every partition's queue: only transactional producers pay for it.
        let flushed = self.flushed();
        let topic = self.accumulator.config.topic;
        let Some(txn) = &mut self.txn else {
            return u64::MAX;
        };
        let mut wake_ns = u64::MAX;
        if let (Phase::Open { started_ns }, Some(policy)) = (txn.phase, &self.txn_policy) {
            let by_count = policy.records > 0 && txn.records_in_txn >= policy.records;
            let end_ns = started_ns.saturating_add(policy.duration_ns);
            let by_time = policy.duration_ns > 0 && ctx.now_ns >= end_ns;
            if by_count || by_time {
                let abort = policy.abort_probability > 0.0
                    && self.txn_rng.unit() < policy.abort_probability;
                txn.begin_end(!abort, ctx.now_ns);
            } else if policy.duration_ns > 0 {
                wake_ns = wake_ns.min(end_ns);
            }
        }
        if self.end_wanted && self.workload.pending_len() == 0 && txn.accepts_records() {
            self.end_wanted = false;
            if txn.phase == Phase::Ready {
                txn.phase = Phase::Open {
                    started_ns: ctx.now_ns,
                };
            }
            txn.begin_end(true, ctx.now_ns);
        }
        if let Phase::Ending { commit, .. } = txn.phase {
            if flushed
                && commit
                && txn.group.is_some()
                && !txn.flushed_told
                && txn.to_add.is_empty()
                && txn.group_added
            {
                txn.flushed_told = true;
                let note = PipelineNote::Flushed {
                    producer_id: txn.producer_id,
                    epoch: txn.epoch,
                };
                if let Some(link) = self.pipeline {
                    ctx.to_consumer(link.consumer, note);
                }
            }
        }
        // A request past its deadline is lost with its connection: look the coordinator up again.
        if txn
            .in_flight
            .as_ref()
            .is_some_and(|pending| pending.deadline_ns <= ctx.now_ns)
        {
            txn.in_flight = None;
            txn.coordinator = None;
        }
        if txn
            .find_in_flight
            .is_some_and(|(_, _, deadline_ns)| deadline_ns <= ctx.now_ns)
        {
            txn.find_in_flight = None;
            txn.retry_at_ns = ctx.now_ns + self.config.retry_backoff_ns;
        }
        if txn.in_flight.is_none() && txn.find_in_flight.is_none() && txn.phase != Phase::Fenced {
            let body = txn.next_request(flushed, |partition| TopicPartition { topic, partition });
            if body.is_some() && ctx.now_ns < txn.retry_at_ns {
                wake_ns = wake_ns.min(txn.retry_at_ns);
            } else if let Some(body) = body {
                let request_id = self.next_request_id;
                self.next_request_id += 1;
                let deadline_ns = ctx.now_ns + self.config.request_timeout_ns;
                match txn.coordinator {
                    None => {
                        let brokers = self.connections.len() as u32;
                        let broker = BrokerId(txn.next_find_broker % brokers.max(1));
                        txn.next_find_broker = txn.next_find_broker.wrapping_add(1);
                        txn.find_in_flight = Some((request_id, broker, deadline_ns));
                        let message = Message::FindTxnCoordinator {
                            request_id,
                            txn: txn.txn,
                        };
                        ctx.send(NodeId::Producer(self.id), NodeId::Broker(broker), message);
                    }
                    Some(coordinator) => {
                        let request = TxnRequest {
                            request_id,
                            txn: txn.txn,
                            producer_id: txn.producer_id,
                            producer_epoch: txn.epoch,
                            body: body.clone(),
                        };
                        txn.in_flight = Some(transactional::Pending {
                            request_id,
                            body,
                            deadline_ns,
                        });
                        ctx.send(
                            NodeId::Producer(self.id),
                            NodeId::Broker(coordinator),
                            Message::Txn(request),
                        );
                    }
                }
            }
        }
        if let Some(pending) = &txn.in_flight {
            wake_ns = wake_ns.min(pending.deadline_ns);
        }
        if let Some((_, _, deadline_ns)) = txn.find_in_flight {
            wake_ns = wake_ns.min(deadline_ns);
        }
        wake_ns
    }

    pub fn on_find_txn_coordinator_reply(
        &mut self,
        ctx: &mut Ctx,
        request_id: u64,
        coordinator: Option<BrokerId>,
    ) {
        let backoff_ns = self.config.retry_backoff_ns;
        let Some(txn) = &mut self.txn else {
            return;
        };
        if txn.find_in_flight.is_none_or(|(id, _, _)| id != request_id) {
            return;
        }
        txn.find_in_flight = None;
        match coordinator {
            Some(broker) => txn.coordinator = Some(broker),
            None => txn.retry_at_ns = ctx.now_ns + backoff_ns,
        }
        self.advance(ctx);
    }

    pub fn on_txn_reply(&mut self, ctx: &mut Ctx, response: TxnResponse) {
        let backoff_ns = self.config.retry_backoff_ns;
        let partitions = self.leaders.len() as u32;
        let Some(txn) = &mut self.txn else {
            return;
        };
        let Some(pending) = txn
            .in_flight
            .take_if(|pending| pending.request_id == response.request_id)
        else {
            return;
        };
        match response.error {
            Some(TxnError::ProducerFenced) => {
                txn.phase = Phase::Fenced;
                self.fenced(ctx);
                return;
            }
            Some(error) => txn.retriable(error, ctx.now_ns, backoff_ns),
            None => match pending.body {
                TxnRequestBody::InitProducerId { .. } => {
                    let (producer_id, epoch) = response.granted.unwrap_or((0, 0));
                    txn.initialized(producer_id, epoch);
                    let mut idempotence = idempotence::Idempotence::new(producer_id, partitions);
                    idempotence.epoch = epoch;
                    self.accumulator.idempotence = Some(idempotence);
                    self.accumulator.forget_sequences();
                }
                TxnRequestBody::AddPartitions { partitions, group } => {
                    for tp in partitions {
                        txn.to_add.remove(&tp.partition);
                        txn.added.insert(tp.partition);
                    }
                    txn.group_added |= group.is_some();
                }
                TxnRequestBody::EndTxn { commit } => {
                    if let Phase::Ending { started_ns, .. } = txn.phase {
                        ctx.metrics
                            .transaction_ended(commit, ctx.now_ns - started_ns);
                    }
                    txn.phase = Phase::Ready;
                    txn.reset_transaction();
                    let note = if commit {
                        PipelineNote::Committed
                    } else {
                        PipelineNote::Aborted
                    };
                    self.tell_member(ctx, note);
                }
            },
        }
        self.advance(ctx);
    }

    /// ProducerFencedException: a newer instance (or the coordinator's timeout) took the epoch.
    /// A standalone producer stops for good; a consume-transform-produce member's producer is
    /// created again (`initTransactions()` with a new epoch), and the member goes back to its
    /// committed offsets.
    fn fenced(&mut self, ctx: &mut Ctx) {
        self.discard_everything(ctx);
        self.end_wanted = false;
        if self.pipeline.is_some() {
            if let Some(txn) = &mut self.txn {
                txn.phase = Phase::Initializing;
                txn.reset_transaction();
            }
            self.tell_member(ctx, PipelineNote::Aborted);
            self.advance(ctx);
        } else {
            self.workload.stop_at(ctx.now_ns);
            ctx.cancel_producer_wake(self.id);
        }
    }

    pub fn on_produce_response(
        &mut self,
        ctx: &mut Ctx,
        from: BrokerId,
        response: ProduceResponse,
    ) {
        let connection = &mut self.connections[from.0 as usize];
        connection.reset = false;
        connection.refused = 0;
        let Some(position) = connection
            .in_flight
            .iter()
            .position(|request| request.request_id == response.request_id)
        else {
            // The connection was closed after this request (request timeout): the answer is gone.
            self.advance(ctx);
            return;
        };
        let request = connection
            .in_flight
            .remove(position)
            .expect("position is valid");
        ctx.metrics.request_latency(ctx.now_ns - request.sent_ns);
        // Records due before this response are appended first, as they were in real time.
        self.append_due(ctx);
        // One batch per partition per request; batches that expired meanwhile are gone.
        let mut batches = request.batches;
        for (tp, result) in response.results {
            if let Some(position) = batches.iter().position(|batch| batch.tp == tp) {
                let batch = batches.swap_remove(position);
                self.complete_batch(ctx, batch, result);
            }
        }
        self.advance(ctx);
    }

    fn complete_batch(
        &mut self,
        ctx: &mut Ctx,
        mut batch: ProducerBatch,
        result: Result<u64, ErrorCode>,
    ) {
        if self.config.max_in_flight_requests_per_connection == 1 {
            self.accumulator.unmute(batch.tp.partition);
        }
        let (partition, records, now_ns) = (batch.tp.partition, batch.record_count(), ctx.now_ns);
        if let (Some(idempotence), Some(sequence)) =
            (&mut self.accumulator.idempotence, batch.base_sequence)
        {
            idempotence.completed(partition, sequence, result.is_ok().then_some(records));
        }
        if result.is_err_and(ErrorCode::needs_metadata) {
            self.metadata.wanted = true;
        }
        match result {
            Ok(_base_offset) => {
                ctx.metrics.trace(|| TraceEntry::BatchAcked {
                    at_ns: now_ns,
                    partition,
                    records,
                });
                ctx.metrics
                    .batch_acked(ctx.now_ns, &batch.record_created_ns, batch.wire_bytes);
                ctx.metrics.ledger.acked(
                    self.id.0,
                    batch.tp,
                    batch.first_record_id,
                    u64::from(records),
                );
                self.accumulator.deallocate(&batch);
            }
            Err(error) if self.can_retry(&batch, error, ctx.now_ns) => {
                if error == ErrorCode::OutOfOrderSequenceNumber {
                    self.handle_out_of_order(&mut batch);
                }
                ctx.metrics.trace(|| TraceEntry::BatchRetried {
                    at_ns: now_ns,
                    partition,
                    records,
                });
                ctx.metrics.records_retried(batch.record_count());
                let backoff_ns = self.draw_backoff_ns(batch.attempts);
                self.accumulator.reenqueue(batch, ctx.now_ns, backoff_ns);
            }
            Err(_) => {
                if batch.base_sequence.is_some() {
                    if let Some(idempotence) = &mut self.accumulator.idempotence {
                        idempotence.mark_unresolved(partition);
                    }
                }
                self.fail_batch(ctx, batch);
            }
        }
    }

    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: for the next expected sequence it is a real gap, so the
    /// producer bumps its epoch and renumbers (KIP-360); otherwise an earlier batch is still
    /// pending and the batch just retries.
    fn handle_out_of_order(&mut self, batch: &mut ProducerBatch) {
        let Some(idempotence) = &mut self.accumulator.idempotence else {
            return;
        };
        let next = batch
            .base_sequence
            .is_some_and(|sequence| idempotence.is_next(batch.tp.partition, sequence));
        if next {
            idempotence.bump_epoch();
            batch.base_sequence = None;
            self.accumulator.forget_sequences();
        }
    }

    fn can_retry(&self, batch: &ProducerBatch, error: ErrorCode, now_ns: u64) -> bool {
        error.is_retriable()
            && batch.attempts < self.config.retries
            && now_ns
                < batch
                    .created_ns
                    .saturating_add(self.config.delivery_timeout_ns)
    }

    fn fail_batch(&mut self, ctx: &mut Ctx, batch: ProducerBatch) {
        let (partition, records, at_ns) = (batch.tp.partition, batch.record_count(), ctx.now_ns);
        ctx.metrics.trace(|| TraceEntry::BatchFailed {
            at_ns,
            partition,
            records,
        });
        ctx.metrics.records_failed(u64::from(batch.record_count()));
        self.accumulator.deallocate(&batch);
    }

    /// Kafka's `ExponentialBackoff(retry.backoff.ms, 2, retry.backoff.max.ms, 0.2).backoff(attempts)`.
    /// Kafka re-draws the jitter at every ready check; the model draws it once per retry.
    fn draw_backoff_ns(&mut self, attempts: u32) -> u64 {
        let initial_ns = self.config.retry_backoff_ns;
        let max_ns = self.config.retry_backoff_max_ns;
        if max_ns <= initial_ns {
            return initial_ns;
        }
        let exponent_max = (max_ns as f64 / initial_ns.max(1) as f64).log2();
        let term = initial_ns as f64 * 2f64.powf(f64::from(attempts).min(exponent_max));
        let factor = 1.0 - BACKOFF_JITTER + 2.0 * BACKOFF_JITTER * self.backoff_rng.unit();
        f64_to_ns((factor * term).floor()).min(max_ns)
    }

    /// Everything that happens at `now`: appends, sends, timeouts, then the next wake-up.
    fn advance(&mut self, ctx: &mut Ctx) {
        if self.crashed || (self.pipeline.is_some() && !self.pipeline_running) {
            return;
        }
        debug_assert!(
            (self.connections.iter().enumerate())
                .all(|(index, connection)| connection.in_flight.is_empty()
                    || self.busy.contains(index)),
            "a connection with requests in flight is missing from the busy set"
        );
        self.complete_unacknowledged_sends(ctx);
        self.check_request_timeouts(ctx);
        self.append_due(ctx);
        if let Some(idempotence) = &mut self.accumulator.idempotence {
            if idempotence.maybe_bump_epoch() {
                self.accumulator.forget_sequences();
            }
        }
        let timing = MetadataTiming {
            backoff_ns: self.config.retry_backoff_ns,
            timeout_ns: self.config.request_timeout_ns,
            max_age_ns: self.config.metadata_max_age_ns,
        };
        let brokers = self.connections.len() as u32;
        let metadata_ns = self
            .metadata
            .poll(ctx, NodeId::Producer(self.id), brokers, timing);
        let txn_ns = self.run_transactions(ctx);
        let wake_sender_ns = self.run_sender(ctx);
        let expiry_ns = self.expire_batches(ctx);
        // Acknowledgements may have finished the transaction's flush.
        let txn_ns = txn_ns.min(self.run_transactions(ctx));
        let mut wake_ns = wake_sender_ns
            .min(expiry_ns)
            .min(metadata_ns)
            .min(txn_ns)
            .min(self.connection_deadline_ns());
        let appending = self.txn.as_ref().is_none_or(TxnClient::accepts_records);
        if !appending {
            // Records wait for the transaction to end: nothing to look ahead for.
        } else if let Some(since_ns) = self.blocked_since_ns {
            wake_ns = wake_ns.min(since_ns.saturating_add(self.config.max_block_ns));
        } else if let Some(trigger_ns) = self.next_trigger_ns(wake_ns) {
            wake_ns = wake_ns.min(trigger_ns);
        }
        if wake_ns == u64::MAX {
            ctx.cancel_producer_wake(self.id);
        } else {
            ctx.set_producer_wake(self.id, wake_ns.max(ctx.now_ns));
        }
    }

    /// `acks=0`: a batch is done once its bytes are written to the socket.
    fn complete_unacknowledged_sends(&mut self, ctx: &mut Ctx) {
        let mut from = 0;
        while let Some(index) = self.next_busy(from) {
            from = index + 1;
            while let Some(position) = self.connections[index]
                .in_flight
                .iter()
                .position(|request| !request.expects_response && request.send_done_ns <= ctx.now_ns)
            {
                let request = self.connections[index]
                    .in_flight
                    .remove(position)
                    .expect("valid");
                for batch in request.batches {
                    self.complete_batch(ctx, batch, Ok(0));
                }
            }
        }
    }

    /// Kafka's `NetworkClient.handleTimedOutRequests`: a request older than `request.timeout.ms`
    /// closes its connection, and every request in flight on it fails with a network error.
    fn check_request_timeouts(&mut self, ctx: &mut Ctx) {
        let mut from = 0;
        while let Some(index) = self.next_busy(from) {
            from = index + 1;
            let timed_out = self.connections[index].in_flight.iter().any(|request| {
                request.expects_response
                    && ctx.now_ns - request.sent_ns >= self.config.request_timeout_ns
            });
            if !timed_out {
                continue;
            }
            let requests: Vec<InFlight> = self.connections[index].in_flight.drain(..).collect();
            self.connections[index].reconnect_at_ns = ctx.now_ns + RECONNECT_BACKOFF_NS;
            for request in requests {
                for batch in request.batches {
                    self.complete_batch(ctx, batch, Err(ErrorCode::NetworkException));
                }
            }
        }
    }

    /// The first connection from `from` on with requests in flight; idle ones met on the way
    /// leave the busy set.
    fn next_busy(&mut self, from: usize) -> Option<usize> {
        let mut next = self.busy.next_from(from);
        while let Some(index) = next {
            if !self.connections[index].in_flight.is_empty() {
                return Some(index);
            }
            self.busy.remove(index);
            next = self.busy.next_from(index + 1);
        }
        None
    }

    /// The earliest request timeout or unacknowledged send completion.
    fn connection_deadline_ns(&self) -> u64 {
        let mut deadline_ns = u64::MAX;
        let mut from = 0;
        while let Some(index) = self.busy.next_from(from) {
            from = index + 1;
            for request in &self.connections[index].in_flight {
                let at_ns = if request.expects_response {
                    request
                        .sent_ns
                        .saturating_add(self.config.request_timeout_ns)
                } else {
                    request.send_done_ns
                };
                deadline_ns = deadline_ns.min(at_ns);
            }
        }
        deadline_ns
    }

    /// Kafka's partition for a keyed record, from the hash the workload computed once.
    fn keyed_partition(&self, record: &PendingRecord, partitions: u32) -> u32 {
        match record.key {
            Some(_) => record.key_hash % partitions,
            None => partition_for_key_index(0, self.key_width, partitions),
        }
    }

    fn choose_partition(&mut self, record: &PendingRecord) -> u32 {
        let partitions = self.leaders.len() as u32;
        match self.rule {
            PartitionRule::Origin => record
                .origin
                .map_or(0, |(partition, _)| partition % partitions.max(1)),
            PartitionRule::Keyed => self.keyed_partition(record, partitions),
            PartitionRule::RoundRobin => {
                let value = self.round_robin_counter;
                self.round_robin_counter = self.round_robin_counter.wrapping_add(1);
                let available = &self.available_partitions;
                let position = to_positive(value as i32) as usize;
                if available.is_empty() {
                    position as u32 % partitions
                } else {
                    available[position % available.len()]
                }
            }
            PartitionRule::Sticky => {
                let current = match self.accumulator.sticky.current {
                    Some(partition) => partition,
                    None => self.switch_sticky_partition(),
                };
                // A switch deferred while the partition's last batch was open completes once it is full.
                let last_full = all_batches_full(self.accumulator.last_builder(current));
                if last_full && self.accumulator.sticky.record_appended(0, true) {
                    self.switch_sticky_partition()
                } else {
                    current
                }
            }
        }
    }

    fn switch_sticky_partition(&mut self) -> u32 {
        let random = to_positive(self.partitioner_rng.next_u64() as i32);
        let partitions = self.leaders.len() as u32;
        let next =
            self.accumulator
                .sticky
                .next_partition(random, &self.available_partitions, partitions);
        self.accumulator.sticky.switch_to(next);
        next
    }

    /// Appends every record due by now, unless the application thread is blocked on memory.
    fn append_due(&mut self, ctx: &mut Ctx) {
        loop {
            if let Some(txn) = &mut self.txn {
                // Between transactions (commit, init) the application thread is blocked.
                if !txn.accepts_records() {
                    return;
                }
                if let (Some(policy), Phase::Open { .. }) = (&self.txn_policy, txn.phase) {
                    if policy.records > 0 && txn.records_in_txn >= policy.records {
                        return;
                    }
                }
            }
            let Some(record) = self.workload.pop_due(ctx.now_ns) else {
                return;
            };
            if let Some(since_ns) = self.blocked_since_ns {
                if ctx.now_ns >= since_ns.saturating_add(self.config.max_block_ns) {
                    // `BufferExhaustedException`: this record fails, the next one tries afresh.
                    ctx.metrics.records_failed(1);
                    ctx.metrics.record_created(record.created_ns);
                    self.blocked_since_ns = None;
                    self.resumed_at_ns = ctx.now_ns;
                    self.accumulator.exhausted = false;
                    continue;
                }
            }
            if self.record_too_large(&record) {
                // `RecordTooLargeException` from `send()`: never retried.
                ctx.metrics.records_failed(1);
                ctx.metrics.record_created(record.created_ns);
                continue;
            }
            let partition = self.choose_partition(&record);
            // Appends happen in the past of `now` (records due since the last event), at the
            // record's own time, unless a block held the application thread until now.
            if self.blocked_since_ns.is_some() {
                self.resumed_at_ns = ctx.now_ns;
            }
            let append_ns = record.append_ns.max(self.resumed_at_ns);
            match self.accumulator.append(partition, &record, append_ns) {
                AppendOutcome::Appended(placement) => {
                    self.blocked_since_ns = None;
                    ctx.metrics.record_created(record.created_ns);
                    if let Some(txn) = &mut self.txn {
                        txn.record_appended(partition, append_ns);
                    }
                    if self.rule == PartitionRule::Sticky {
                        let last_full = all_batches_full(self.accumulator.last_builder(partition));
                        if self
                            .accumulator
                            .sticky
                            .record_appended(placement.appended_bytes, last_full)
                        {
                            self.switch_sticky_partition();
                        }
                    }
                }
                AppendOutcome::BufferExhausted => {
                    self.blocked_since_ns.get_or_insert(ctx.now_ns);
                    self.workload.push_front(record);
                    return;
                }
            }
        }
    }

    /// Kafka's `KafkaProducer.ensureValidRecordSize`: the record's worst-case size must fit in
    /// `max.request.size` and `buffer.memory`.
    fn record_too_large(&self, record: &PendingRecord) -> bool {
        let key_bytes = record.key.map(|_| self.key_width);
        let size = batch::batch_size_upper_bound(key_bytes, record.value_bytes);
        size > u64::from(self.config.max_request_size_bytes)
            || size > self.config.buffer_memory_bytes
    }

    /// Kafka's `Sender.sendProducerData`, repeated while some node can take a request now.
    /// Returns when the sender next needs to look (linger, backoff, a send completing).
    fn run_sender(&mut self, ctx: &mut Ctx) -> u64 {
        loop {
            let leaders = &self.leaders;
            let (ready, next_check_ns) = self
                .accumulator
                .ready(ctx.now_ns, |p| leaders.get(p as usize).copied().flatten());
            let mut wake_ns = next_check_ns;
            let mut sent_any = false;
            for node in ready {
                match self.connection_ready_at(node, ctx.now_ns) {
                    Some(at_ns) if at_ns <= ctx.now_ns => {
                        sent_any |= self.send_to(ctx, node);
                    }
                    Some(at_ns) => wake_ns = wake_ns.min(at_ns),
                    // At max.in.flight: a response will wake the sender.
                    None => {}
                }
            }
            if !sent_any {
                return wake_ns;
            }
        }
    }

    /// When a request may next be sent to `node`: None while at the in-flight limit.
    /// Kafka also needs the previous request fully written to the socket (`canSendMore`).
    fn connection_ready_at(&self, node: BrokerId, now_ns: u64) -> Option<u64> {
        let connection = &self.connections[node.0 as usize];
        if connection.in_flight.len() >= self.config.max_in_flight_requests_per_connection as usize
        {
            return None;
        }
        let last_send_done_ns = connection
            .in_flight
            .back()
            .map_or(0, |request| request.send_done_ns);
        Some(
            now_ns
                .max(connection.reconnect_at_ns)
                .max(last_send_done_ns),
        )
    }

    fn send_to(&mut self, ctx: &mut Ctx, node: BrokerId) -> bool {
        let all_partitions = std::mem::take(&mut self.node_partitions[node.0 as usize]);
        // Only a transactional producer narrows the list, so only it pays for a copy.
        let sendable: Option<Vec<u32>> = self.txn.as_ref().map(|txn| {
            (all_partitions.iter().copied())
                .filter(|&partition| txn.may_send(partition))
                .collect()
        });
        let batches = self.accumulator.drain(
            node,
            sendable.as_deref().unwrap_or(&all_partitions),
            u64::from(self.config.max_request_size_bytes),
            ctx.now_ns,
        );
        self.node_partitions[node.0 as usize] = all_partitions;
        if batches.is_empty() {
            return false;
        }
        let records: u64 = batches
            .iter()
            .map(|batch| u64::from(batch.record_count()))
            .sum();
        for batch in &batches {
            let queue_ns = batch.drained_ns.unwrap_or(ctx.now_ns) - batch.created_ns;
            ctx.metrics.batch_sent(batch.wire_bytes, queue_ns);
        }
        ctx.metrics.request_sent(records);
        let (producer, at_ns) = (self.id.0, ctx.now_ns);
        ctx.metrics.trace(|| TraceEntry::RequestSent {
            at_ns,
            producer,
            broker: node.0,
            batches: batches
                .iter()
                .map(|batch| (batch.tp.partition, batch.record_count()))
                .collect(),
        });
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let data = batches.iter().map(|batch| self.batch_data(batch)).collect();
        let request = ProduceRequest {
            request_id,
            producer: self.id,
            acks: self.config.acks,
            timeout_ns: self.config.request_timeout_ns,
            batches: data,
        };
        let transmission = ctx.send(
            self.node(),
            NodeId::Broker(node),
            Message::ProduceRequest(request),
        );
        self.busy.insert(node.0 as usize);
        self.connections[node.0 as usize]
            .in_flight
            .push_back(InFlight {
                request_id,
                sent_ns: ctx.now_ns,
                send_done_ns: transmission.sent_ns,
                batches,
                expects_response: self.config.acks != Acks::Zero,
            });
        true
    }

    fn batch_data(&self, batch: &ProducerBatch) -> BatchData {
        BatchData {
            tp: batch.tp,
            producer: self.id.0,
            producer_id: self
                .accumulator
                .idempotence
                .as_ref()
                .map_or(0, |idempotence| idempotence.producer_id),
            producer_epoch: self
                .accumulator
                .idempotence
                .as_ref()
                .map_or(0, |idempotence| idempotence.epoch),
            base_sequence: batch.base_sequence,
            first_record_id: batch.first_record_id,
            records: batch.record_count(),
            wire_bytes: batch.wire_bytes,
            uncompressed_bytes: batch.builder.uncompressed_record_bytes,
            compression: self.config.compression_type,
            record_created_ns: batch.record_created_ns.clone(),
            transactional: self.txn.is_some(),
            control: None,
            origins: (!batch.record_origins.is_empty())
                .then(|| Rc::from(batch.record_origins.as_slice())),
        }
    }

    /// Fails batches past `delivery.timeout.ms`, queued or in flight; returns the next expiry.
    /// An in-flight batch that expires may still be appended by the broker: its outcome is unknown.
    fn expire_batches(&mut self, ctx: &mut Ctx) -> u64 {
        let timeout_ns = self.config.delivery_timeout_ns;
        let (expired, mut next_ns) = self.accumulator.expire(ctx.now_ns, timeout_ns);
        for batch in expired {
            self.fail_batch(ctx, batch);
        }
        let mut expired_in_flight = Vec::new();
        let mut from = 0;
        while let Some(index) = self.next_busy(from) {
            from = index + 1;
            for request in &mut self.connections[index].in_flight {
                let expired = |batch: &ProducerBatch| {
                    batch.created_ns.saturating_add(timeout_ns) <= ctx.now_ns
                };
                // Runs at every wake-up for every request in flight: split (and copy) the
                // batches only when one has expired.
                if request.batches.iter().any(expired) {
                    let (done, keep): (Vec<ProducerBatch>, Vec<ProducerBatch>) =
                        request.batches.drain(..).partition(expired);
                    request.batches = keep;
                    expired_in_flight.extend(done);
                }
                for batch in &request.batches {
                    next_ns = next_ns.min(batch.created_ns.saturating_add(timeout_ns));
                }
            }
        }
        for batch in expired_in_flight {
            // Its outcome is unknown: with idempotence the partition's sequence is unresolved.
            if let (Some(idempotence), Some(sequence)) =
                (&mut self.accumulator.idempotence, batch.base_sequence)
            {
                idempotence.completed(batch.tp.partition, sequence, None);
                idempotence.mark_unresolved(batch.tp.partition);
            }
            self.fail_batch(ctx, batch);
        }
        next_ns
    }

    /// When the pending records next make a batch sendable, looking no further than `horizon_ns`:
    /// a record that fills a batch (or switches the sticky partition), or the linger expiry of a
    /// batch that a pending record creates. Runs on a scratch copy of the open batches.
    fn next_trigger_ns(&mut self, horizon_ns: u64) -> Option<u64> {
        let mut scratch = std::mem::take(&mut self.lookahead);
        let trigger_ns = self.play_pending_records(&mut scratch, horizon_ns);
        scratch.clear();
        self.lookahead = scratch;
        trigger_ns
    }

    fn play_pending_records(
        &mut self,
        scratch: &mut LookaheadScratch,
        horizon_ns: u64,
    ) -> Option<u64> {
        let mut sticky = self.accumulator.sticky.clone();
        let mut round_robin = self.round_robin_counter;
        let linger_ns = self.config.linger_ns;
        let mut linger_wake_ns: Option<u64> = None;
        for index in 0.. {
            let limit_ns = linger_wake_ns.map_or(horizon_ns, |at_ns| at_ns.min(horizon_ns));
            let Some(record) = self.workload.peek(index) else {
                return linger_wake_ns;
            };
            if record.append_ns >= limit_ns {
                return linger_wake_ns;
            }
            let partitions = self.leaders.len() as u32;
            let partition = match self.rule {
                PartitionRule::Keyed => self.keyed_partition(&record, partitions),
                PartitionRule::Origin => record
                    .origin
                    .map_or(0, |(partition, _)| partition % partitions.max(1)),
                PartitionRule::RoundRobin => {
                    let position = to_positive(round_robin as i32) as usize;
                    round_robin = round_robin.wrapping_add(1);
                    self.available_partitions[position % self.available_partitions.len()]
                }
                PartitionRule::Sticky => {
                    // A partition switch needs a random draw: look again when it happens.
                    let Some(current) = sticky.current else {
                        return Some(record.append_ns);
                    };
                    let entry = scratch.entry(current, || {
                        (
                            self.accumulator.last_builder(current).copied(),
                            self.accumulator.deque_len(current),
                        )
                    });
                    if all_batches_full(entry.0.as_ref())
                        && sticky.produced_bytes >= sticky.sticky_batch_bytes
                    {
                        return Some(record.append_ns);
                    }
                    current
                }
            };
            let entry = scratch.entry(partition, || {
                (
                    self.accumulator.last_builder(partition).copied(),
                    self.accumulator.deque_len(partition),
                )
            });
            let placement = self.accumulator.place(entry.0.as_ref(), entry.1, &record);
            if placement.wakes_sender(linger_ns) {
                return Some(record.append_ns);
            }
            if placement.new_batch {
                entry.1 += 1;
                let expiry_ns = record.append_ns.saturating_add(linger_ns);
                linger_wake_ns =
                    Some(linger_wake_ns.map_or(expiry_ns, |at_ns| at_ns.min(expiry_ns)));
            }
            entry.0 = Some(placement.builder_after);
            if self.rule == PartitionRule::Sticky
                && sticky
                    .record_appended(placement.appended_bytes, all_batches_full(entry.0.as_ref()))
            {
                return Some(record.append_ns);
            }
        }
        None
    }

    /// Batches waiting in the accumulator or in flight (for invariants and end-of-run checks).
    pub fn incomplete_batches(&self) -> usize {
        let queued: usize = self.accumulator.deques.iter().map(VecDeque::len).sum();
        let in_flight: usize = self
            .connections
            .iter()
            .flat_map(|connection| connection.in_flight.iter())
            .map(|request| request.batches.len())
            .sum();
        queued + in_flight
    }

    pub fn topic_partition(&self, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: self.accumulator.config.topic,
            partition,
        }
    }
}
