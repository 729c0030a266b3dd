//! A broker: request handling on a pool of I/O threads (FIFO queue, per-request and per-KiB
//! costs); partition replicas as leader or follower; Produce with `acks` 0/1/all (all waits in
//! a delayed-produce purgatory until the high watermark passes the batch); consumer fetches up
//! to the high watermark with long polling; the follower fetcher (one per leader broker); the
//! leader's ISR shrink and expand through the controller; heartbeats to the controller.

mod fetch_session;
mod id_window;
pub mod log;
mod purgatory;
pub mod replica;
mod replica_set;
pub mod txn_index;

use crate::broker_map::{BrokerMap, NodeMap};
use crate::ids::{BrokerId, NodeId, TopicId, TopicPartition};
use crate::msg::{
    ErrorCode, FetchRequest, FetchResponse, FetchedPartition, Message, PartitionState,
    ProduceRequest, ProduceResponse, ReplicaFetchPartition, ReplicaFetchRequest,
    ReplicaFetchResponse, ReplicaFetched, TxnMarkers,
};
use crate::scenario::model::{Acks, BrokerConfig, BrokerCosts};
use crate::sim::queue::Deadline;
use crate::sim::rng::{Purpose, Sampler, SimRng, StreamKind};
use crate::sim::time::{f64_to_ns, ms_to_ns};
use crate::world::{Ctx, TimerKey};
use fetch_session::{FetcherSession, LeaderSession};
use id_window::IdWindow;
use log::{LogBatch, LogBatches};
use purgatory::{Parked, Purgatory};
use replica::{LeaderState, Replica, Role, SequenceCheck};
use replica_set::ReplicaSet;
use std::collections::{BTreeMap, VecDeque};

/// How long a leader waits for the controller to answer an AlterPartition before proposing again.
const ALTER_PARTITION_TIMEOUT_NS: u64 = ms_to_ns(30_000);
/// How long a WriteTxnMarkers may wait for replication (the coordinator's request timeout,
/// `request.timeout.ms` of its marker channel, 30 s) before it is answered as failed.
const MARKER_TIMEOUT_NS: u64 = ms_to_ns(30_000);
/// KRaft's `broker.heartbeat.interval.ms` default.
pub const BROKER_HEARTBEAT_INTERVAL_NS: u64 = ms_to_ns(2000);

/// An `acks=all` produce waiting for the high watermark (Kafka's `DelayedProduce`).
#[derive(Debug)]
struct DelayedProduce {
    from: NodeId,
    request_id: u64,
    results: Vec<(TopicPartition, Result<u64, ErrorCode>)>,
    /// (result index, offset the high watermark must reach).
    waiting: Vec<(usize, u64)>,
    /// A WriteTxnMarkers (its transaction index), answered like an acks=all produce.
    markers_of: Option<usize>,
}

/// How far a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadLimit {
    /// Followers: the log end.
    LogEnd,
    /// read_uncommitted consumers: the high watermark.
    HighWatermark,
    /// read_committed consumers: the last stable offset.
    Stable,
}

/// What a broker's handling changed that the world must know (for the ledger).
#[derive(Debug, Default)]
pub struct Effects {
    /// Partitions this broker just became leader of, with its log end at that moment.
    pub became_leader: Vec<(TopicPartition, u32)>,
    /// Batches appended as leader: (partition, leader epoch, batch).
    pub appended: Vec<(TopicPartition, u32, LogBatch)>,
    pub truncated: u64,
}

/// What this broker's leader side saw of follower fetch sessions (counted for tests and for
/// explaining the wire sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchSessionStats {
    /// Follower fetches that started a session (named every followed partition).
    pub full_requests: u64,
    pub incremental_requests: u64,
    /// Partitions named in follower fetches (added, changed or forgotten).
    pub partitions_requested: u64,
    /// Partitions carried in answers to follower fetches.
    pub partitions_answered: u64,
}

pub struct Broker {
    pub id: BrokerId,
    pub fetch_session_stats: FetchSessionStats,
    pub alive: bool,
    stalled_until_ns: u64,
    config: BrokerConfig,
    costs: BrokerCosts,
    /// `costs.request_ns`, ready to draw from.
    request_cost_ns: Sampler,
    min_insync_of_topic: Vec<u32>,
    io_threads_free_ns: Vec<u64>,
    cost_rng: SimRng,
    replicas: ReplicaSet,
    /// The partitions this broker follows, by leader, in partition order: what each fetcher
    /// asks for. Rebuilt whenever roles may have changed.
    followed: BrokerMap<Vec<TopicPartition>>,
    /// The controller's partition states as last pushed to this broker (answers Metadata).
    metadata: BTreeMap<TopicPartition, PartitionState>,
    /// Groups reading each topic (by topic index), so trimmed data is data nobody needs.
    readers_of_topic: Vec<Vec<usize>>,
    parked: Purgatory,
    /// `complete_parked`'s list of fetches to answer, kept to save an allocation per call.
    ready_scratch: Vec<u64>,
    /// A follower fetch's pending partitions and the ones it leaves quiet, kept likewise.
    pending_scratch: Vec<(usize, ReplicaFetchPartition)>,
    quiet_scratch: Vec<usize>,
    /// `complete_delayed_waiting_on`'s list, kept likewise.
    delayed_scratch: Vec<u64>,
    delayed: IdWindow<DelayedProduce>,
    /// The timeout of each parked fetch and delayed produce, by id, to cancel when answered.
    deadlines: IdWindow<Deadline<TimerKey>>,
    next_park_id: u64,
    /// The id a produce or WriteTxnMarkers request will park under, while its appends run: its
    /// partitions list it before it is parked, and a high-watermark move meanwhile must leave
    /// those entries for its first try.
    appending_park_id: Option<u64>,
    /// Leaders this broker's fetcher has a request in flight to.
    fetch_in_flight: BrokerMap<bool>,
    /// This broker's fetch sessions as a follower, by leader.
    fetcher_sessions: BrokerMap<FetcherSession>,
    /// Fetch sessions of the brokers following this one, by follower.
    leader_sessions: BrokerMap<LeaderSession>,
    /// Numbers this broker's fetch sessions.
    next_session_id: u32,
    /// Brokers the controller has fenced, as last pushed: never counted as about to join an ISR.
    fenced: Vec<BrokerId>,
    /// Kafka's socket server handles one request per connection at a time: it mutes a channel
    /// after reading a request and unmutes it once the response is sent (even from purgatory).
    connections: NodeMap<Connection>,
    /// Times this broker's process has started; a new one re-registers with the controller.
    incarnation: u32,
    /// Whether the controller accepted this process's registration. A restarted process
    /// ignores metadata until then: partition states from before its crash would make it lead
    /// again, with whatever its log kept, at the old leader epoch.
    registered: bool,
    /// Batches this recent are kept from trimming: a scheduled power loss may take them.
    pub unflushed_window_ns: u64,
}

#[derive(Debug, Default)]
struct Connection {
    busy: bool,
    queued: VecDeque<Message>,
}

impl Broker {
    pub fn new(
        id: BrokerId,
        config: &BrokerConfig,
        costs: &BrokerCosts,
        hosted: Vec<(TopicPartition, Vec<BrokerId>)>,
        min_insync_of_topic: Vec<u32>,
        readers_of_topic: Vec<Vec<usize>>,
        seed: u64,
    ) -> Self {
        let replicas = hosted
            .into_iter()
            .map(|(tp, replicas)| (tp, Replica::new(replicas)))
            .collect();
        Broker {
            id,
            fetch_session_stats: FetchSessionStats::default(),
            alive: true,
            stalled_until_ns: 0,
            io_threads_free_ns: vec![0; config.num_io_threads.max(1) as usize],
            config: config.clone(),
            costs: costs.clone(),
            request_cost_ns: Sampler::from(&costs.request_ns),
            min_insync_of_topic,
            cost_rng: SimRng::new(
                seed,
                StreamKind::Broker,
                u64::from(id.0),
                Purpose::RequestCost,
            ),
            replicas,
            followed: BrokerMap::default(),
            metadata: BTreeMap::new(),
            readers_of_topic,
            parked: Purgatory::default(),
            ready_scratch: Vec::new(),
            pending_scratch: Vec::new(),
            quiet_scratch: Vec::new(),
            delayed_scratch: Vec::new(),
            delayed: IdWindow::default(),
            deadlines: IdWindow::default(),
            next_park_id: 0,
            appending_park_id: None,
            fetch_in_flight: BrokerMap::default(),
            fetcher_sessions: BrokerMap::default(),
            leader_sessions: BrokerMap::default(),
            next_session_id: 0,
            fenced: Vec::new(),
            connections: NodeMap::default(),
            incarnation: 0,
            registered: true,
            unflushed_window_ns: 0,
        }
    }

    fn node(&self) -> NodeId {
        NodeId::Broker(self.id)
    }

    pub fn replica(&self, tp: TopicPartition) -> Option<&Replica> {
        self.replicas.get(&tp)
    }

    pub fn replicas(&self) -> impl Iterator<Item = (TopicPartition, &Replica)> {
        self.replicas.iter()
    }

    /// Recomputes `followed` after roles may have changed.
    fn rebuild_followed(&mut self) {
        self.followed.clear();
        for (tp, replica) in self.replicas.iter() {
            if let Role::Follower {
                leader: Some(leader),
            } = replica.role
            {
                self.followed.get_or_default(leader).push(tp);
            }
        }
        for session in self.fetcher_sessions.values_mut() {
            session.rescan = true;
        }
    }

    /// Something changed on led partition `tp` (before a new batch, after anything else): every
    /// fetch session holding it reads it at its next fetch, after its lazily kept follower
    /// fetch state is brought up to date.
    fn touch_sessions(&mut self, tp: TopicPartition) {
        if let Some(replica) = self.replicas.get_mut(&tp) {
            touch_sessions(replica, tp, &mut self.leader_sessions);
        }
    }

    fn min_insync(&self, topic: TopicId) -> u32 {
        self.min_insync_of_topic[topic.0 as usize]
    }

    /// Whether this broker is doing nothing until `stalled_until_ns`.
    pub fn stalled_until(&self, now_ns: u64) -> Option<u64> {
        (now_ns < self.stalled_until_ns).then_some(self.stalled_until_ns)
    }

    /// The controller's initial partition states, as if the cluster had been running.
    pub fn install_metadata(&mut self, states: &[PartitionState]) {
        for state in states {
            if let Some(replica) = self.replicas.get_mut(&state.tp) {
                replica.apply_state(self.id, state, 0);
            }
            self.metadata.insert(state.tp, state.clone());
        }
        self.rebuild_followed();
    }

    /// `add-partitions`: hosts the new partitions it holds a replica of and learns of all of them
    /// (model limit: the controller's metadata reaches every broker at once); followers start
    /// fetching the new partitions from their leaders.
    pub fn add_partitions(&mut self, ctx: &mut Ctx, states: &[PartitionState]) {
        let mut leaders = Vec::new();
        for state in states {
            if state.replicas.contains(&self.id) {
                let mut replica = Replica::new(state.replicas.clone());
                replica.apply_state(self.id, state, ctx.now_ns);
                self.replicas.insert(state.tp, replica);
                if let Some(leader) = state.leader.filter(|&leader| leader != self.id) {
                    leaders.push(leader);
                }
            }
            self.metadata.insert(state.tp, state.clone());
        }
        self.rebuild_followed();
        leaders.sort_unstable();
        leaders.dedup();
        if self.alive {
            for leader in leaders {
                self.send_replica_fetch(ctx, leader);
            }
        }
    }

    /// Starts a fetcher for every leader this broker follows.
    pub fn start_fetchers(&mut self, ctx: &mut Ctx) {
        let mut leaders: Vec<BrokerId> = self
            .replicas
            .values()
            .filter_map(|replica| match replica.role {
                Role::Follower { leader } => leader,
                Role::Leader(_) => None,
            })
            .collect();
        leaders.sort();
        leaders.dedup();
        for leader in leaders {
            self.send_replica_fetch(ctx, leader);
        }
    }

    /// A request arrives on `from`'s connection: it waits behind that connection's request in
    /// progress, then for an I/O thread. Returns when it is processed, if it can start now.
    pub fn receive_request(
        &mut self,
        now_ns: u64,
        from: NodeId,
        message: Message,
    ) -> Option<(u64, Message)> {
        let connection = self.connections.get_or_default(from);
        if connection.busy {
            connection.queued.push_back(message);
            return None;
        }
        connection.busy = true;
        let done_ns = self.schedule_request(now_ns, &message);
        Some((done_ns, message))
    }

    /// A group coordinator request takes I/O-thread time like any other; returns when it is done.
    /// How many times this broker's process started (a restart registers anew).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    pub fn group_request_done(&mut self, now_ns: u64, message: &Message) -> u64 {
        self.schedule_request(now_ns, message)
    }

    /// The response to `to`'s request went out: its next request may start.
    fn unmute(&mut self, ctx: &mut Ctx, to: NodeId) {
        let Some(connection) = self.connections.get_mut(&to) else {
            return;
        };
        connection.busy = false;
        if let Some(message) = connection.queued.pop_front() {
            connection.busy = true;
            let done_ns = self.schedule_request(ctx.now_ns, &message);
            ctx.schedule_broker_process(done_ns, self.id, to, message);
        }
    }

    /// Sends a response and lets the connection's next request in.
    fn respond(&mut self, ctx: &mut Ctx, to: NodeId, message: Message) {
        ctx.send(self.node(), to, message);
        self.unmute(ctx, to);
    }

    /// A request waits for a free I/O thread, then takes its cost. Returns when it is done.
    fn schedule_request(&mut self, now_ns: u64, message: &Message) -> u64 {
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
        let start_ns = now_ns.max(free_ns).max(self.stalled_until_ns);
        let cost_ns = f64_to_ns(self.cost_rng.sample(&self.request_cost_ns))
            + self.costs.per_kib_ns * bytes / 1024;
        let done_ns = start_ns + cost_ns;
        self.io_threads_free_ns[thread] = done_ns;
        done_ns
    }

    /// Handles a message: requests after their I/O time, everything else on arrival.
    pub fn process(&mut self, ctx: &mut Ctx, from: NodeId, message: Message) -> Effects {
        let mut effects = Effects::default();
        match message {
            Message::ProduceRequest(request) => {
                self.handle_produce(ctx, from, request, &mut effects)
            }
            Message::FetchRequest(request) => self.handle_fetch(ctx, from, request),
            Message::ReplicaFetchRequest(request) => self.handle_replica_fetch(ctx, request),
            Message::ReplicaFetchResponse(response) => {
                if let NodeId::Broker(leader) = from {
                    self.handle_replica_fetch_response(ctx, leader, response, &mut effects);
                }
            }
            Message::AlterPartitionResponse(tp, result) => {
                self.handle_alter_partition_response(ctx, tp, result)
            }
            Message::BrokerRegistered => self.registered = true,
            Message::MetadataUpdate(..) if !self.registered => {}
            Message::MetadataUpdate(states, fenced) => {
                self.fenced = fenced;
                self.handle_metadata_update(ctx, states, &mut effects);
            }
            Message::MetadataRequest => {
                let states = self.metadata.values().cloned().collect();
                self.respond(ctx, from, Message::MetadataResponse(states));
            }
            Message::WriteTxnMarkers(markers) => {
                self.handle_markers(ctx, from, markers, &mut effects)
            }
            other => panic!(
                "broker {} got a message it never handles: {other:?}",
                self.id.0
            ),
        }
        effects
    }

    fn handle_produce(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        request: ProduceRequest,
        effects: &mut Effects,
    ) {
        let batches = request.batches.len();
        let mut results = Vec::with_capacity(batches);
        let mut waiting = Vec::with_capacity(batches);
        let mut touched = Vec::with_capacity(batches);
        effects.appended.reserve(batches);
        // An acks=all produce parks under this id: each partition it waits on lists it now,
        // while the partition's replica is at hand.
        let park_id = (request.acks == Acks::All).then(|| self.take_park_id());
        self.appending_park_id = park_id;
        for mut data in request.batches {
            if self.config.canary_skip_sequence_check {
                // The planted bug: the batch is appended as if it had no producer state.
                data.base_sequence = None;
            }
            let tp = data.tp;
            let min_insync = self.min_insync(tp.topic);
            let Some(replica) = self
                .replicas
                .get_mut(&tp)
                .filter(|replica| replica.is_leader())
            else {
                results.push((tp, Err(ErrorCode::NotLeaderOrFollower)));
                continue;
            };
            let isr_len = replica.leader_state().map_or(0, |leader| leader.isr.len()) as u32;
            if request.acks == Acks::All && isr_len < min_insync.min(replica.replicas.len() as u32)
            {
                results.push((tp, Err(ErrorCode::NotEnoughReplicas)));
                continue;
            }
            if data.wire_bytes > self.config.message_max_bytes {
                results.push((tp, Err(ErrorCode::MessageTooLarge)));
                continue;
            }
            let records = u64::from(data.records);
            if let Some(sequence) = data.base_sequence {
                match replica.check_sequence(
                    data.producer_id,
                    data.producer_epoch,
                    sequence,
                    data.records,
                ) {
                    SequenceCheck::Duplicate(base_offset) => {
                        watch(replica, park_id, results.len());
                        waiting.push((results.len(), base_offset + records));
                        results.push((tp, Ok(base_offset)));
                        continue;
                    }
                    SequenceCheck::Reject(error) => {
                        results.push((tp, Err(error)));
                        continue;
                    }
                    SequenceCheck::Append => {}
                }
            }
            touch_sessions(replica, tp, &mut self.leader_sessions);
            let base_offset = append_as_leader(replica, tp, data, ctx.now_ns, effects);
            watch(replica, park_id, results.len());
            waiting.push((results.len(), base_offset + records));
            results.push((tp, Ok(base_offset)));
            touched.push(tp);
        }
        for &tp in &touched {
            self.after_leader_change_of_data(ctx, tp, true);
        }
        self.appending_park_id = None;
        match park_id {
            None if request.acks == Acks::Zero => self.unmute(ctx, from),
            None => self.send_produce_response(ctx, from, request.request_id, results),
            Some(id) => {
                let delayed = DelayedProduce {
                    from,
                    request_id: request.request_id,
                    results,
                    waiting,
                    markers_of: None,
                };
                self.delayed.insert(id, delayed);
                if !self.try_complete_delayed(ctx, id) {
                    self.set_deadline(ctx, id, ctx.now_ns + request.timeout_ns);
                }
            }
        }
    }

    /// WriteTxnMarkers: each partition led here appends a control batch with the producer's
    /// (coordinator-given) epoch; the answer waits until the markers are replicated, as Kafka
    /// appends markers with acks=all.
    fn handle_markers(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        markers: TxnMarkers,
        effects: &mut Effects,
    ) {
        let mut results = Vec::new();
        let mut waiting = Vec::new();
        let id = self.take_park_id();
        self.appending_park_id = Some(id);
        for &tp in &markers.partitions {
            let Some(replica) = self
                .replicas
                .get_mut(&tp)
                .filter(|replica| replica.is_leader())
            else {
                results.push((tp, Err(ErrorCode::NotLeaderOrFollower)));
                continue;
            };
            let data = crate::producer::batch::BatchData::marker(
                tp,
                markers.producer_id,
                markers.producer_epoch,
                markers.commit,
            );
            touch_sessions(replica, tp, &mut self.leader_sessions);
            let base_offset = append_as_leader(replica, tp, data, ctx.now_ns, effects);
            watch(replica, Some(id), results.len());
            waiting.push((results.len(), base_offset + 1));
            results.push((tp, Ok(base_offset)));
            self.after_leader_change_of_data(ctx, tp, true);
        }
        let delayed = DelayedProduce {
            from,
            request_id: markers.request_id,
            results,
            waiting,
            markers_of: Some(markers.txn),
        };
        self.appending_park_id = None;
        self.delayed.insert(id, delayed);
        if !self.try_complete_delayed(ctx, id) {
            self.set_deadline(ctx, id, ctx.now_ns + MARKER_TIMEOUT_NS);
        }
    }

    /// Answers a finished produce or WriteTxnMarkers.
    fn answer_delayed(&mut self, ctx: &mut Ctx, delayed: DelayedProduce) {
        match delayed.markers_of {
            Some(txn) => {
                let failed = delayed
                    .results
                    .iter()
                    .filter(|(_, result)| result.is_err())
                    .map(|&(tp, _)| tp)
                    .collect();
                // Markers come on the coordinator's own channel, never muted.
                let reply = Message::WriteTxnMarkersReply {
                    request_id: delayed.request_id,
                    txn,
                    failed,
                    group_failed: false,
                };
                ctx.send(self.node(), delayed.from, reply);
            }
            None => {
                self.send_produce_response(ctx, delayed.from, delayed.request_id, delayed.results)
            }
        }
    }

    fn send_produce_response(
        &mut self,
        ctx: &mut Ctx,
        to: NodeId,
        request_id: u64,
        results: Vec<(TopicPartition, Result<u64, ErrorCode>)>,
    ) {
        self.respond(
            ctx,
            to,
            Message::ProduceResponse(ProduceResponse {
                request_id,
                results,
            }),
        );
    }

    /// Kafka's `DelayedProduce.tryComplete`: done when every appended partition's high watermark
    /// reached its batch, or the partition is no longer led here. A partition's outcome is
    /// settled the first time it is known (Kafka clears `acksPending`) and not looked at again.
    /// After this first try, a partition's outcome can only change when its own high watermark
    /// or leadership does: `complete_delayed_waiting_on` looks at that partition alone.
    fn try_complete_delayed(&mut self, ctx: &mut Ctx, id: u64) -> bool {
        let Some(delayed) = self.delayed.get_mut(id) else {
            return true;
        };
        let replicas = &self.replicas;
        let min_insync_of_topic = &self.min_insync_of_topic;
        let results = &mut delayed.results;
        delayed.waiting.retain(|&(index, required)| {
            let tp = results[index].0;
            let min_insync = min_insync_of_topic[tp.topic.0 as usize];
            match delayed_outcome(replicas.get(&tp), required, min_insync) {
                None => true,
                Some(outcome) => {
                    if let Err(error) = outcome {
                        results[index].1 = Err(error);
                    }
                    false
                }
            }
        });
        if !delayed.waiting.is_empty() {
            return false;
        }
        let delayed = self.delayed.remove(id).expect("present");
        self.cancel_deadline(ctx, id);
        self.answer_delayed(ctx, delayed);
        true
    }

    fn set_deadline(&mut self, ctx: &mut Ctx, id: u64, at_ns: u64) {
        let deadline = ctx.set_broker_deadline(self.id, id, at_ns);
        self.deadlines.insert(id, deadline);
    }

    fn cancel_deadline(&mut self, ctx: &mut Ctx, id: u64) {
        if let Some(deadline) = self.deadlines.remove(id) {
            ctx.cancel_deadline(deadline);
        }
    }

    /// A new id for a parked fetch or delayed produce; ids only grow.
    fn take_park_id(&mut self) -> u64 {
        let id = self.next_park_id;
        self.next_park_id += 1;
        id
    }

    /// `tp`'s high watermark or leadership changed: the delayed produces waiting on it settle
    /// their `tp` part, and the ones with nothing left to wait for are answered, oldest first.
    fn complete_delayed_waiting_on(&mut self, ctx: &mut Ctx, tp: TopicPartition) {
        let Some(replica) = self.replicas.get_mut(&tp) else {
            return;
        };
        if replica.delayed_produces.is_empty() {
            return;
        }
        let mut watching = std::mem::take(&mut replica.delayed_produces);
        let min_insync = self.min_insync_of_topic[tp.topic.0 as usize];
        let mut done = std::mem::take(&mut self.delayed_scratch);
        done.clear();
        let all_delayed = &mut self.delayed;
        let appending = self.appending_park_id;
        watching.retain(|&(id, index)| {
            let Some(delayed) = all_delayed.get_mut(id) else {
                // Answered since, or not parked yet (its first try will look).
                return Some(id) == appending;
            };
            // `waiting` is in result order: this partition's entry is found, not walked to.
            let Ok(position) = (delayed.waiting).binary_search_by_key(&index, |&(at, _)| at) else {
                return false;
            };
            let required = delayed.waiting[position].1;
            let Some(outcome) = delayed_outcome(Some(&*replica), required, min_insync) else {
                return true;
            };
            if let Err(error) = outcome {
                delayed.results[index].1 = Err(error);
            }
            delayed.waiting.remove(position);
            if delayed.waiting.is_empty() {
                done.push(id);
            }
            false
        });
        replica.delayed_produces = watching;
        // Answering touches no other delayed produce, so answering after the walk sends the
        // same answers in the same order as answering during it.
        for &id in &done {
            let delayed = self.delayed.remove(id).expect("listed above");
            self.cancel_deadline(ctx, id);
            self.answer_delayed(ctx, delayed);
        }
        self.delayed_scratch = done;
    }

    /// A parked produce or fetch ran out of time.
    pub fn on_timer(&mut self, ctx: &mut Ctx, id: u64) {
        self.deadlines.remove(id);
        if let Some(mut delayed) = self.delayed.remove(id) {
            // The data stays in the log: the client only learns the wait expired.
            for &(index, _) in &delayed.waiting {
                if delayed.results[index].1.is_ok() {
                    delayed.results[index].1 = Err(ErrorCode::RequestTimedOut);
                }
            }
            self.answer_delayed(ctx, delayed);
            return;
        }
        if let Some(parked) = self.parked.remove(id) {
            self.answer_parked(ctx, parked);
        }
    }

    fn answer_parked(&mut self, ctx: &mut Ctx, parked: Parked) {
        match parked {
            Parked::Consumer { from, request } => self.respond_fetch(ctx, from, request),
            Parked::Follower { replica } => self.respond_replica_fetch(ctx, replica),
        }
    }

    fn handle_fetch(&mut self, ctx: &mut Ctx, from: NodeId, request: FetchRequest) {
        if request.max_wait_ns == 0 || self.consumer_fetchable(&request, None) {
            self.respond_fetch(ctx, from, request);
        } else {
            let timeout_ns = request.max_wait_ns;
            self.park(ctx, Parked::Consumer { from, request }, timeout_ns);
        }
    }

    fn park(&mut self, ctx: &mut Ctx, parked: Parked, timeout_ns: u64) {
        let id = self.take_park_id();
        self.set_deadline(ctx, id, ctx.now_ns + timeout_ns);
        self.parked.insert(id, parked);
    }

    /// Whether at least `need` bytes are readable for these (partition, offset) pairs, up to the
    /// high watermark (consumers) or the log end (followers). A partition not led here is an
    /// error, which is worth answering at once. Stops counting as soon as it knows.
    fn has_fetchable(
        &self,
        wanted: impl Iterator<Item = (TopicPartition, u64)>,
        read_limit: ReadLimit,
        need: u64,
    ) -> bool {
        let mut bytes = 0;
        for (tp, offset) in wanted {
            let Some(replica) = self.replicas.get(&tp).filter(|replica| replica.is_leader()) else {
                return true;
            };
            let log = &replica.log;
            let limit = match read_limit {
                ReadLimit::LogEnd => log.log_end_offset,
                ReadLimit::HighWatermark => log.high_watermark,
                ReadLimit::Stable => replica.last_stable_offset(),
            };
            bytes += log.available_bytes_capped(offset, limit, need.saturating_sub(bytes));
            if bytes >= need {
                return true;
            }
        }
        false
    }

    /// Whether a consumer fetch has enough to read, counting only partition `only` if given.
    fn consumer_fetchable(&self, request: &FetchRequest, only: Option<TopicPartition>) -> bool {
        let wanted = (request.partitions.iter())
            .filter(|partition| only.is_none_or(|tp| partition.tp == tp))
            .map(|partition| (partition.tp, partition.fetch_offset));
        let limit = if request.read_committed {
            ReadLimit::Stable
        } else {
            ReadLimit::HighWatermark
        };
        self.has_fetchable(wanted, limit, request.min_bytes)
    }

    /// Whether a parked consumer fetch can be answered now that `tp` changed. With a
    /// `fetch.min.bytes` of 1 only `tp` needs a look, for the reason `follower_ready` gives: the
    /// fetch parked because none of its partitions was readable, and every change that makes
    /// one readable (a high-watermark or last-stable-offset move, a lost leadership) comes here
    /// for that partition.
    fn consumer_ready(&self, request: &FetchRequest, tp: TopicPartition) -> bool {
        if request.min_bytes > 1 {
            return self.consumer_fetchable(request, None);
        }
        let ready = self.consumer_fetchable(request, Some(tp));
        debug_assert_eq!(
            ready,
            self.consumer_fetchable(request, None),
            "broker {:?}: parked fetch {} after {tp:?}",
            self.id,
            request.request_id
        );
        ready
    }

    /// Whether a parked follower fetch has enough to read: only its session's pending
    /// partitions can (the others are read to the log end).
    fn follower_fetchable(&self, follower: BrokerId) -> bool {
        let Some(session) = self.leader_sessions.get(&follower) else {
            return true;
        };
        let wanted =
            (session.pending_iter()).map(|partition| (partition.tp, partition.fetch_offset));
        self.has_fetchable(
            wanted,
            ReadLimit::LogEnd,
            self.config.replica_fetch_min_bytes,
        )
    }

    /// A shortcut for `follower_fetchable` when `tp` just got data: with the usual
    /// `replica.fetch.min.bytes` of 1, a follower fetch that can read `tp` is ready, since the
    /// full count would stop at `tp` at the latest. False means "look at every partition".
    fn follower_wants(&self, follower: BrokerId, tp: TopicPartition) -> bool {
        if self.config.replica_fetch_min_bytes > 1 {
            return false;
        }
        let Some(partition) =
            (self.leader_sessions.get(&follower)).and_then(|session| session.get(tp))
        else {
            return false;
        };
        self.replicas
            .get(&tp)
            .filter(|replica| replica.is_leader())
            .is_some_and(|replica| partition.fetch_offset < replica.log.log_end_offset)
    }

    /// Whether `follower`'s parked fetch can be answered now that `tp` changed. With the usual
    /// `replica.fetch.min.bytes` of 1 only `tp` needs a look: the fetch parked because none of
    /// its session's pending partitions was readable, and every change that makes one readable
    /// (an append, a lost leadership) comes here for that partition. So a high-watermark move
    /// on a partition the follower already has does not walk its whole session.
    fn follower_ready(&self, follower: BrokerId, tp: TopicPartition) -> bool {
        if self.follower_wants(follower, tp) {
            return true;
        }
        if self.config.replica_fetch_min_bytes > 1 {
            return self.follower_fetchable(follower);
        }
        let Some(session) = self.leader_sessions.get(&follower) else {
            return true;
        };
        // `tp` pending but no longer led here: the fetch is answered with an error.
        let in_session = session.get(tp);
        let ready = in_session.is_some_and(|partition| partition.is_pending())
            && !self.replicas.get(&tp).is_some_and(Replica::is_leader);
        // A fetch whose session lacks `tp` (a replica of it that does not fetch it from here,
        // as after a leader change it has not caught up with) is not waiting on `tp`: like
        // Kafka's purgatory, which watches a fetch under its own partitions, this leaves it to
        // the check of the partition that did change, in the same walk over a produce's
        // partitions.
        debug_assert!(
            in_session.is_none() || ready == self.follower_fetchable(follower),
            "broker {:?}: parked fetch of {follower:?} after {tp:?}",
            self.id
        );
        ready
    }

    fn respond_fetch(&mut self, ctx: &mut Ctx, to: NodeId, request: FetchRequest) {
        let mut remaining_bytes = request.max_bytes;
        let mut partitions = Vec::with_capacity(request.partitions.len());
        let mut first = true;
        for partition in &request.partitions {
            let Some(replica) = self
                .replicas
                .get(&partition.tp)
                .filter(|replica| replica.is_leader())
            else {
                partitions.push(FetchedPartition {
                    tp: partition.tp,
                    error: Some(ErrorCode::NotLeaderOrFollower),
                    high_watermark: 0,
                    last_stable_offset: 0,
                    batches: LogBatches::new(),
                    aborted: Vec::new(),
                });
                continue;
            };
            let log = &replica.log;
            let last_stable_offset = replica.last_stable_offset();
            assert!(
                last_stable_offset <= log.high_watermark,
                "{:?}: last stable offset {last_stable_offset} above the HW {}",
                partition.tp,
                log.high_watermark
            );
            // read_committed reads up to the LSO, which is always a batch boundary.
            let read_to = if request.read_committed {
                last_stable_offset
            } else {
                log.high_watermark
            };
            let limit = partition.max_bytes.min(remaining_bytes);
            let batches = log.read(partition.fetch_offset, read_to, limit, first);
            let bytes: u64 = batches.iter().map(|batch| batch.data.wire_bytes).sum();
            remaining_bytes = remaining_bytes.saturating_sub(bytes);
            first &= batches.is_empty();
            let aborted = match (request.read_committed, batches.first(), batches.last()) {
                (true, Some(first_batch), Some(last_batch)) => replica
                    .txns
                    .aborted_between(first_batch.base_offset, last_batch.next_offset()),
                _ => Vec::new(),
            };
            partitions.push(FetchedPartition {
                tp: partition.tp,
                error: None,
                high_watermark: log.high_watermark,
                last_stable_offset,
                batches,
                aborted,
            });
        }
        let response = FetchResponse {
            request_id: request.request_id,
            partitions,
        };
        self.respond(ctx, to, Message::FetchResponse(response));
    }

    /// The leader's side of a follower fetch (Kafka's `Partition.fetchRecords` for a replica),
    /// for every partition of the follower's fetch session that is pending (see
    /// `fetch_session`); the others were read to the log end and stay as they were.
    fn handle_replica_fetch(&mut self, ctx: &mut Ctx, request: ReplicaFetchRequest) {
        let follower = request.replica;
        let stats = &mut self.fetch_session_stats;
        if request.full {
            stats.full_requests += 1;
        } else {
            stats.incremental_requests += 1;
        }
        stats.partitions_requested += (request.partitions.len() + request.forgotten.len()) as u64;
        if request.full {
            let session = LeaderSession::new(
                request.session_id,
                request.broker_epoch,
                &request.partitions,
            );
            self.leader_sessions.insert(follower, session);
        }
        let Some(session) = self
            .leader_sessions
            .get_mut(&follower)
            .filter(|session| session.id == request.session_id)
        else {
            // FETCH_SESSION_ID_NOT_FOUND (this leader restarted since the session began).
            self.send_session_error(ctx, &request);
            return;
        };
        if !request.full {
            session.update(&request.partitions, &request.forgotten);
        }
        session.broker_epoch = request.broker_epoch;
        session.last_fetch_ns = ctx.now_ns;
        let mut pending = std::mem::take(&mut self.pending_scratch);
        session.pending_positions(&mut pending);
        let mut has_answer = false;
        let mut available_bytes = 0;
        for (_, partition) in &pending {
            let tp = partition.tp;
            let Some(replica) = self
                .replicas
                .get_mut(&tp)
                .filter(|replica| replica.is_leader())
            else {
                has_answer = true;
                continue;
            };
            if diverging(replica, partition).is_some() {
                has_answer = true;
                continue;
            }
            replica.update_follower(
                follower,
                request.broker_epoch,
                partition.fetch_offset,
                ctx.now_ns,
            );
            let still_needed = self
                .config
                .replica_fetch_min_bytes
                .saturating_sub(available_bytes);
            available_bytes += replica.log.available_bytes_capped(
                partition.fetch_offset,
                replica.log.log_end_offset,
                still_needed,
            );
            if let Some(isr) = replica.expand_proposal(follower) {
                self.propose_isr(ctx, tp, isr);
            }
            self.after_leader_change_of_data(ctx, tp, false);
        }
        self.pending_scratch = pending;
        if has_answer || available_bytes >= self.config.replica_fetch_min_bytes {
            self.respond_replica_fetch(ctx, follower);
        } else {
            let wait_ns = self.config.replica_fetch_wait_max_ns;
            self.park(ctx, Parked::Follower { replica: follower }, wait_ns);
        }
    }

    fn send_session_error(&mut self, ctx: &mut Ctx, request: &ReplicaFetchRequest) {
        let response = ReplicaFetchResponse {
            broker_epoch: request.broker_epoch,
            session_id: request.session_id,
            session_error: true,
            partitions: Vec::new(),
        };
        let to = NodeId::Broker(request.replica);
        self.respond(ctx, to, Message::ReplicaFetchResponse(response));
    }

    /// Answers `follower`'s fetch: its session's pending partitions with records, a high
    /// watermark or log start it was not told yet, an error or a diverging epoch (Kafka's
    /// `CachedPartition.maybeUpdateResponseData`; all of them for a new session).
    fn respond_replica_fetch(&mut self, ctx: &mut Ctx, follower: BrokerId) {
        let to = NodeId::Broker(follower);
        let Some(session) = self.leader_sessions.get_mut(&follower) else {
            // Not reached: a parked fetch's session lives as long as the leader process.
            self.unmute(ctx, to);
            return;
        };
        let mut remaining = self.config.replica_fetch_response_max_bytes;
        let mut pending = std::mem::take(&mut self.pending_scratch);
        session.pending_positions(&mut pending);
        let mut partitions = Vec::with_capacity(pending.len());
        let mut quiet = std::mem::take(&mut self.quiet_scratch);
        quiet.clear();
        for &(index, ref partition) in &pending {
            let tp = partition.tp;
            let Some(replica) = self.replicas.get(&tp).filter(|replica| replica.is_leader()) else {
                partitions.push(ReplicaFetched {
                    tp,
                    high_watermark: 0,
                    log_start_offset: 0,
                    batches: LogBatches::new(),
                    diverging: None,
                    error: Some(ErrorCode::NotLeaderOrFollower),
                });
                continue;
            };
            let log = &replica.log;
            let diverging = diverging(replica, partition);
            let batches = if diverging.is_some() {
                LogBatches::new()
            } else {
                let limit = self.config.replica_fetch_max_bytes.min(remaining);
                log.read(partition.fetch_offset, log.log_end_offset, limit, true)
            };
            remaining =
                remaining.saturating_sub(batches.iter().map(|batch| batch.data.wire_bytes).sum());
            let cached = session.at_mut(index);
            let told = cached.sent_high_watermark == Some(log.high_watermark)
                && cached.sent_log_start_offset == Some(log.log_start_offset);
            if diverging.is_none()
                && partition.fetch_offset == log.log_end_offset
                && log.high_watermark == log.log_end_offset
            {
                quiet.push(index);
            }
            if batches.is_empty() && diverging.is_none() && told {
                continue;
            }
            cached.sent_high_watermark = Some(log.high_watermark);
            cached.sent_log_start_offset = Some(log.log_start_offset);
            partitions.push(ReplicaFetched {
                tp,
                high_watermark: log.high_watermark,
                log_start_offset: log.log_start_offset,
                batches,
                diverging,
                error: None,
            });
        }
        session.settle(&pending, &quiet);
        self.pending_scratch = pending;
        self.quiet_scratch = quiet;
        self.fetch_session_stats.partitions_answered += partitions.len() as u64;
        let response = ReplicaFetchResponse {
            broker_epoch: session.broker_epoch,
            session_id: session.id,
            session_error: false,
            partitions,
        };
        self.respond(ctx, to, Message::ReplicaFetchResponse(response));
    }

    /// After new data or a follower's progress on a led partition: move the high watermark,
    /// and wake what waits on it. Parked fetches wait on the high watermark (consumers) or the
    /// log end (followers), so a follower's fetch only wakes them if the high watermark moved;
    /// anything else (an append, a new ISR or leadership) passes `wake_parked`.
    fn after_leader_change_of_data(
        &mut self,
        ctx: &mut Ctx,
        tp: TopicPartition,
        wake_parked: bool,
    ) {
        let lag_max_ns = self.config.replica_lag_time_max_ns;
        let min_insync = self.min_insync(tp.topic);
        let fenced = &self.fenced;
        let advanced = self.replicas.get_mut(&tp).is_some_and(|replica| {
            replica.maybe_advance_high_watermark(ctx.now_ns, lag_max_ns, min_insync, fenced)
        });
        if advanced && !self.delayed.is_empty() {
            self.complete_delayed_waiting_on(ctx, tp);
        }
        let trimmed = self.trim_unread(tp, ctx.now_ns);
        // A follower's own progress changes nothing another follower's fetch session would
        // read, unless it moved the high watermark.
        if wake_parked || advanced || trimmed {
            self.touch_sessions(tp);
        }
        if wake_parked || advanced {
            self.complete_parked(ctx, tp);
        }
    }

    /// Answers parked fetches that now have something for them.
    fn complete_parked(&mut self, ctx: &mut Ctx, tp: TopicPartition) {
        // A buffer kept between calls: this runs after every append and high-watermark move.
        let mut ready = std::mem::take(&mut self.ready_scratch);
        ready.clear();
        let replicas = self
            .replicas
            .get(&tp)
            .map_or(&[][..], |replica| &replica.replicas);
        self.parked.for_each_waiting_on(tp, replicas, |id, parked| {
            let fetchable = match parked {
                Parked::Consumer { request, .. } => self.consumer_ready(request, tp),
                Parked::Follower { replica } => self.follower_ready(*replica, tp),
            };
            if fetchable {
                ready.push(id);
            }
        });
        for &id in &ready {
            let parked = self.parked.remove(id).expect("listed above");
            self.cancel_deadline(ctx, id);
            self.answer_parked(ctx, parked);
        }
        self.ready_scratch = ready;
    }

    /// A group committed an offset (the coordinator told the world, which tells the leader).
    pub fn group_committed(&mut self, tp: TopicPartition, group: usize, offset: u64, now_ns: u64) {
        let Some(replica) = self.replicas.get_mut(&tp) else {
            return;
        };
        replica.note_group_commit(group, offset);
        if self.trim_unread(tp, now_ns) {
            self.touch_sessions(tp);
        }
    }

    /// The follower's side: append what the leader sent, or truncate where the logs diverge.
    fn handle_replica_fetch_response(
        &mut self,
        ctx: &mut Ctx,
        leader: BrokerId,
        response: ReplicaFetchResponse,
        effects: &mut Effects,
    ) {
        if !self.alive || response.broker_epoch != self.incarnation {
            return;
        }
        let Some(session) = (self.fetcher_sessions.get_mut(&leader))
            .filter(|session| session.id == response.session_id)
        else {
            // The answer to a request of an abandoned session (lost, then sent again).
            return;
        };
        self.fetch_in_flight.insert(leader, false);
        if response.session_error {
            session.established = false;
            self.send_replica_fetch(ctx, leader);
            return;
        }
        session.established = true;
        session
            .touched
            .extend(response.partitions.iter().map(|fetched| fetched.tp));
        let mut errors = false;
        for fetched in response.partitions {
            let Some(replica) = self.replicas.get_mut(&fetched.tp) else {
                continue;
            };
            if !matches!(replica.role, Role::Follower { leader: Some(l) } if l == leader) {
                continue;
            }
            if fetched.error.is_some() {
                errors = true;
                continue;
            }
            if let Some((epoch, end_offset)) = fetched.diverging {
                let own_end = replica.end_offset_for(epoch).map_or(0, |(_, end)| end);
                let removed = replica.truncate_to(end_offset.min(own_end));
                effects.truncated += removed
                    .iter()
                    .map(|batch| u64::from(batch.data.records))
                    .sum::<u64>();
                continue;
            }
            let log_end = replica.log.log_end_offset;
            if let Some(first) = fetched.batches.first() {
                if first.base_offset > log_end && log_end < fetched.log_start_offset {
                    // Found by `kafkasim check` (a power loss emptied this follower's log below
                    // the leader's log start). Kafka's leader answers OFFSET_OUT_OF_RANGE and the
                    // follower truncates fully and starts at the leader's log start
                    // (`AbstractFetcherThread.truncateFullyAndStartAt`).
                    replica.truncate_to(0);
                    replica.log.log_start_offset = first.base_offset;
                    replica.log.log_end_offset = first.base_offset;
                    replica.log.high_watermark = first.base_offset;
                }
            }
            for batch in fetched.batches {
                if batch.base_offset < replica.log.log_end_offset {
                    continue;
                }
                assert_eq!(
                    batch.base_offset, replica.log.log_end_offset,
                    "follower log has a gap"
                );
                replica.append(batch);
            }
            replica
                .log
                .set_follower_high_watermark(fetched.high_watermark);
            let trim_to = fetched.log_start_offset.min(replica.log.high_watermark);
            replica
                .log
                .trim_before(trim_to, ctx.now_ns.saturating_sub(self.unflushed_window_ns));
        }
        if errors {
            ctx.set_fetcher_backoff(
                self.id,
                leader,
                ctx.now_ns + self.config.replica_fetch_backoff_ns,
            );
        } else {
            self.send_replica_fetch(ctx, leader);
        }
    }

    /// The fetcher for `leader`: one request in flight, in a fetch session (see
    /// `fetch_session`) for every partition followed there.
    pub fn send_replica_fetch(&mut self, ctx: &mut Ctx, leader: BrokerId) {
        if !self.alive || self.fetch_in_flight.get(&leader).copied().unwrap_or(false) {
            return;
        }
        if let Some(until_ns) = self.stalled_until(ctx.now_ns) {
            ctx.set_fetcher_backoff(self.id, leader, until_ns);
            return;
        }
        let followed = self.followed.get(&leader).map_or(&[][..], Vec::as_slice);
        debug_assert!(
            followed
                .iter()
                .copied()
                .eq(self.replicas.iter().filter_map(|(tp, replica)| {
                    matches!(replica.role, Role::Follower { leader: Some(l) } if l == leader)
                        .then_some(tp)
                })),
            "broker {:?}: followed partitions out of date",
            self.id
        );
        if followed.is_empty() {
            // Kafka removes an idle fetcher, and its session with it.
            self.fetcher_sessions.remove(&leader);
            return;
        }
        let position = |tp: TopicPartition| {
            let replica = self
                .replicas
                .get(&tp)
                .expect("followed partitions are hosted");
            ReplicaFetchPartition {
                tp,
                fetch_offset: replica.log.log_end_offset,
                last_fetched_epoch: replica.last_epoch(),
            }
        };
        let session = self.fetcher_sessions.get_or_default(leader);
        let full = !session.established;
        let mut partitions = Vec::new();
        let mut forgotten = Vec::new();
        if full {
            self.next_session_id += 1;
            session.id = self.next_session_id;
            session.sent = followed.iter().map(|&tp| position(tp)).collect();
            partitions.clone_from(&session.sent);
        } else if session.rescan {
            // Merge the followed partitions with what the leader's session holds.
            let mut sent = Vec::with_capacity(followed.len());
            let mut old = session.sent.iter().peekable();
            for &tp in followed {
                while let Some(gone) = old.next_if(|cached| cached.tp < tp) {
                    forgotten.push(gone.tp);
                }
                let now = position(tp);
                let same = old.next_if(|cached| cached.tp == tp).is_some_and(|cached| {
                    cached.fetch_offset == now.fetch_offset
                        && cached.last_fetched_epoch == now.last_fetched_epoch
                });
                if !same {
                    partitions.push(now.clone());
                }
                sent.push(now);
            }
            forgotten.extend(old.map(|gone| gone.tp));
            session.sent = sent;
        } else {
            session.touched.sort_unstable();
            session.touched.dedup();
            partitions.reserve_exact(session.touched.len());
            for &tp in &session.touched {
                let Ok(index) = session.sent.binary_search_by_key(&tp, |cached| cached.tp) else {
                    continue;
                };
                let now = position(tp);
                let cached = &mut session.sent[index];
                if cached.fetch_offset != now.fetch_offset
                    || cached.last_fetched_epoch != now.last_fetched_epoch
                {
                    *cached = now.clone();
                    partitions.push(now);
                }
            }
        }
        session.touched.clear();
        session.rescan = false;
        let session_id = session.id;
        self.fetch_in_flight.insert(leader, true);
        ctx.set_fetcher_backoff(
            self.id,
            leader,
            ctx.now_ns + self.config.replica_socket_timeout_ns,
        );
        let request = ReplicaFetchRequest {
            replica: self.id,
            broker_epoch: self.incarnation,
            session_id,
            full,
            partitions,
            forgotten,
        };
        ctx.send(
            self.node(),
            NodeId::Broker(leader),
            Message::ReplicaFetchRequest(request),
        );
    }

    /// The fetcher's timer: a backoff ended, or a fetch went unanswered for the socket timeout
    /// (lost on the network), in which case it is abandoned and sent again, in a new fetch
    /// session (Kafka's `FetchSessionHandler.handleError`).
    pub fn on_fetcher_timer(&mut self, ctx: &mut Ctx, leader: BrokerId) {
        if self.fetch_in_flight.insert(leader, false) == Some(true) {
            self.reset_fetcher_session(leader);
        }
        self.send_replica_fetch(ctx, leader);
    }

    fn reset_fetcher_session(&mut self, leader: BrokerId) {
        if let Some(session) = self.fetcher_sessions.get_mut(&leader) {
            session.established = false;
        }
    }

    /// A connection to `peer` closed (it crashed): requests in flight there are gone, and so is
    /// its fetch session.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx, peer: BrokerId) {
        self.reset_fetcher_session(peer);
        if self.fetch_in_flight.get(&peer).copied().unwrap_or(false) {
            self.fetch_in_flight.insert(peer, false);
            ctx.set_fetcher_backoff(
                self.id,
                peer,
                ctx.now_ns + self.config.replica_fetch_backoff_ns,
            );
        }
    }

    fn propose_isr(&mut self, ctx: &mut Ctx, tp: TopicPartition, isr: Vec<BrokerId>) {
        let Some(replica) = self.replicas.get_mut(&tp) else {
            return;
        };
        let Some(leader) = replica.leader_state() else {
            return;
        };
        let proposal = PartitionState {
            tp,
            leader: Some(self.id),
            leader_epoch: replica.leader_epoch,
            partition_epoch: leader.partition_epoch,
            isr: isr.clone(),
            replicas: replica.replicas.clone(),
        };
        let broker_epochs = isr
            .iter()
            .filter_map(|member| Some((*member, leader.followers.get(member)?.broker_epoch)))
            .collect();
        replica.set_pending_isr(isr, ctx.now_ns);
        self.touch_sessions(tp);
        ctx.send(
            self.node(),
            NodeId::Controller,
            Message::AlterPartition(Box::new(proposal), broker_epochs),
        );
    }

    fn handle_alter_partition_response(
        &mut self,
        ctx: &mut Ctx,
        tp: TopicPartition,
        result: Result<PartitionState, ErrorCode>,
    ) {
        let me = self.id;
        let Some(replica) = self.replicas.get_mut(&tp) else {
            return;
        };
        match result {
            Ok(state) => {
                replica.apply_state(me, &state, ctx.now_ns);
                self.metadata.insert(tp, state);
                self.rebuild_followed();
                self.after_leader_change_of_data(ctx, tp, true);
            }
            Err(_) => {
                replica.clear_pending_isr();
                self.touch_sessions(tp);
            }
        }
    }

    fn handle_metadata_update(
        &mut self,
        ctx: &mut Ctx,
        states: Vec<PartitionState>,
        effects: &mut Effects,
    ) {
        let me = self.id;
        let mut leaders = Vec::new();
        for state in states {
            let tp = state.tp;
            if let Some(replica) = self.replicas.get_mut(&tp) {
                let was_leader = replica.is_leader();
                if replica.apply_state(me, &state, ctx.now_ns) {
                    effects.became_leader.push((tp, replica.leader_epoch));
                }
                let is_leader = replica.is_leader();
                if let Role::Follower {
                    leader: Some(leader),
                } = replica.role
                {
                    leaders.push(leader);
                }
                if was_leader && !is_leader {
                    self.touch_sessions(tp);
                    // As Kafka's ReplicaManager does on becoming follower: answer what waits here.
                    self.complete_delayed_waiting_on(ctx, tp);
                    self.complete_parked(ctx, tp);
                }
                if is_leader {
                    self.after_leader_change_of_data(ctx, tp, true);
                }
            }
            self.metadata.insert(tp, state);
        }
        self.rebuild_followed();
        leaders.sort();
        leaders.dedup();
        for leader in leaders {
            self.send_replica_fetch(ctx, leader);
        }
    }

    /// The `isr-expiration` task, every `replica.lag.time.max.ms / 2`.
    pub fn on_isr_check(&mut self, ctx: &mut Ctx) {
        if !self.alive || self.stalled_until(ctx.now_ns).is_some() {
            return;
        }
        let lag_max_ns = self.config.replica_lag_time_max_ns;
        let mut expired = Vec::new();
        for (tp, replica) in self.replicas.iter_mut() {
            if replica.expire_pending_isr(ctx.now_ns, ALTER_PARTITION_TIMEOUT_NS) {
                expired.push(tp);
            }
        }
        for tp in expired {
            self.touch_sessions(tp);
        }
        let proposals: Vec<(TopicPartition, Vec<BrokerId>)> = self
            .replicas
            .iter()
            .filter_map(|(tp, replica)| {
                replica
                    .shrink_proposal(self.id, ctx.now_ns, lag_max_ns)
                    .map(|isr| (tp, isr))
            })
            .collect();
        for (tp, isr) in proposals {
            self.propose_isr(ctx, tp, isr);
        }
    }

    /// Model limit: a stalled broker (`broker-stall`: a stuck disk or request threads) keeps
    /// heartbeating, as KRaft's lifecycle manager runs on its own thread; a crash stops it.
    pub fn on_heartbeat_timer(&mut self, ctx: &mut Ctx) {
        if self.alive {
            ctx.send(
                self.node(),
                NodeId::Controller,
                Message::BrokerHeartbeat(self.id, self.incarnation),
            );
        }
    }

    /// The process dies: requests in progress and parked are lost; the log stays (page cache),
    /// unless `lose_unflushed_after_ns` says the OS lost what was written since then.
    pub fn crash(
        &mut self,
        ctx: &mut Ctx,
        lose_unflushed_after_ns: Option<u64>,
    ) -> Vec<(TopicPartition, Vec<LogBatch>)> {
        self.alive = false;
        for (_, &deadline) in std::mem::take(&mut self.deadlines).iter() {
            ctx.cancel_deadline(deadline);
        }
        self.parked.clear();
        self.delayed.clear();
        self.fetch_in_flight.clear();
        self.fetcher_sessions.clear();
        self.leader_sessions.clear();
        self.connections.clear();
        let mut lost = Vec::new();
        for (tp, replica) in self.replicas.iter_mut() {
            if let Some(after_ns) = lose_unflushed_after_ns {
                let keep = replica
                    .log
                    .batches()
                    .take_while(|batch| batch.append_ns <= after_ns)
                    .last()
                    .map_or(replica.log.log_start_offset, LogBatch::next_offset);
                lost.push((tp, replica.truncate_to(keep)));
            }
            replica.role = Role::Follower { leader: None };
            replica.delayed_produces.clear();
        }
        self.followed.clear();
        lost
    }

    /// Whether peers can connect. Kafka's `BrokerServer` opens its listeners only once the
    /// controller has registered and unfenced the process, so a restarted broker refuses
    /// connections, as a dead one does, until then.
    pub fn accepts_connections(&self) -> bool {
        self.alive && self.registered
    }

    /// The process starts again; it learns its roles from the controller once registered.
    pub fn restart(&mut self, now_ns: u64) {
        self.alive = true;
        self.incarnation += 1;
        self.registered = false;
        self.stalled_until_ns = now_ns;
        self.io_threads_free_ns
            .iter_mut()
            .for_each(|free_ns| *free_ns = now_ns);
    }

    pub fn stall(&mut self, until_ns: u64) {
        self.stalled_until_ns = self.stalled_until_ns.max(until_ns);
    }

    /// Model limit: retention is not modelled; a leader drops a batch once every group reading its
    /// topic has committed past it and every follower has it, so memory follows the backlog.
    /// Committed offsets, not fetch offsets: after a rebalance a member restarts from them. A new
    /// leader learns commits only from then on, so it trims nothing of what it had before.
    /// Returns whether the log start moved (fetch sessions then tell followers).
    fn trim_unread(&mut self, tp: TopicPartition, now_ns: u64) -> bool {
        let readers = &self.readers_of_topic[tp.topic.0 as usize];
        let Some(replica) = self.replicas.get_mut(&tp) else {
            return false;
        };
        let Some(leader) = replica.leader_state() else {
            return false;
        };
        // Called for every partition of every follower fetch: each bound is checked against
        // the first batch's end as it is found, so most calls stop before touching cold data.
        let log = &replica.log;
        let mut trim_to = log.high_watermark;
        if log.nothing_to_trim_below(trim_to) {
            return false;
        }
        for (broker, follower) in leader.followers.iter() {
            let end = follower.log_end_offset.unwrap_or(0);
            if end < trim_to && replica.replicas.contains(broker) {
                trim_to = end;
                if log.nothing_to_trim_below(trim_to) {
                    return false;
                }
            }
        }
        let floor = match replica.readers_floor {
            Some(floor) => floor,
            None => {
                let floor = (readers.iter())
                    .map(|&group| replica.group_position(group))
                    .min()
                    .unwrap_or(u64::MAX);
                replica.readers_floor = Some(floor);
                floor
            }
        };
        trim_to = trim_to.min(floor);
        let log_start_offset = replica.log.log_start_offset;
        replica
            .log
            .trim_before(trim_to, now_ns.saturating_sub(self.unflushed_window_ns));
        replica.log.log_start_offset != log_start_offset
    }
}

/// Kafka's divergence check for a follower fetch (KIP-595): the follower's last epoch must end
/// where it fetches from, in the leader's epoch cache.
fn diverging(replica: &Replica, partition: &ReplicaFetchPartition) -> Option<(u32, u64)> {
    let epoch = partition.last_fetched_epoch?;
    match replica.end_offset_for(epoch) {
        Some((found, end)) if found == epoch && partition.fetch_offset <= end => None,
        Some((found, end)) => Some((found, end.min(partition.fetch_offset))),
        None => Some((0, 0)),
    }
}

/// A delayed produce about to park under `park_id` waits on `replica`'s partition, its result
/// number `index`.
fn watch(replica: &mut Replica, park_id: Option<u64>, index: usize) {
    if let Some(id) = park_id {
        replica.delayed_produces.push((id, index));
    }
}

/// A delayed produce's wait on one partition (`required`: the offset its high watermark must
/// reach): None while it waits, else its outcome. Under `min.insync.replicas` the ISR that
/// acknowledged it was too small (Kafka checks the maximal ISR at completion).
fn delayed_outcome(
    replica: Option<&Replica>,
    required: u64,
    min_insync: u32,
) -> Option<Result<(), ErrorCode>> {
    match replica {
        Some(replica) if replica.is_leader() => {
            if replica.log.high_watermark < required {
                return None;
            }
            let maximal = replica
                .leader_state()
                .map_or(0, LeaderState::maximal_isr_len);
            if (maximal as u32) < min_insync {
                Some(Err(ErrorCode::NotEnoughReplicasAfterAppend))
            } else {
                Some(Ok(()))
            }
        }
        _ => Some(Err(ErrorCode::NotLeaderOrFollower)),
    }
}

/// `touch_sessions` for a replica already at hand.
fn touch_sessions(
    replica: &mut Replica,
    tp: TopicPartition,
    sessions: &mut BrokerMap<LeaderSession>,
) {
    if !replica.is_leader() || sessions.is_empty() {
        return;
    }
    if replica.session_hints.len() < replica.replicas.len() {
        replica
            .session_hints
            .resize(replica.replicas.len(), u32::MAX);
    }
    for index in 0..replica.replicas.len() {
        let follower = replica.replicas[index];
        let Some(session) = sessions.get_mut(&follower) else {
            continue;
        };
        if let Some(fetch_offset) =
            session.make_pending_hinted(tp, &mut replica.session_hints[index])
        {
            let (epoch, last_fetch_ns) = (session.broker_epoch, session.last_fetch_ns);
            replica.catch_up_lazily(follower, epoch, fetch_offset, last_fetch_ns);
        }
    }
}

/// Appends `data` to a led replica's log at its leader epoch and reports the append (for the
/// delivery ledger); returns the batch's base offset.
fn append_as_leader(
    replica: &mut replica::Replica,
    tp: TopicPartition,
    data: crate::producer::batch::BatchData,
    now_ns: u64,
    effects: &mut Effects,
) -> u64 {
    let epoch = replica.leader_epoch;
    let batch = LogBatch {
        base_offset: 0,
        leader_epoch: epoch,
        append_ns: now_ns,
        data: std::rc::Rc::new(data),
    };
    let base_offset = replica.append(batch.clone());
    effects.appended.push((
        tp,
        epoch,
        LogBatch {
            base_offset,
            ..batch
        },
    ));
    base_offset
}
