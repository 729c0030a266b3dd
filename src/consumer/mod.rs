//! A consumer process of a classic group: the application thread's poll loop (`max.poll.records`
//! per poll, then processing each record for the scenario's time), the background heartbeat
//! thread, the fetcher (one fetch in flight per broker, for owned partitions with nothing
//! buffered, as Kafka's `AbstractFetch` does) and the group membership of `ConsumerCoordinator`:
//! JoinGroup/SyncGroup inside poll, eager or cooperative revocation, commits by policy.

mod consumer_protocol;
mod membership;

use crate::assignor::AssignorName;
use crate::broker::log::LogBatch;
use crate::broker::txn_index::AbortedFilter;
use crate::broker_map::BrokerMap;
use crate::codec;
use crate::ids::{BrokerId, ConsumerId, NodeId, TopicId, TopicPartition};
use crate::metrics::TraceEntry;
use crate::msg::{
    FetchPartition, FetchRequest, FetchResponse, GroupRequest, GroupRequestBody, Message,
    PartitionState,
};
use crate::net::reconnect_backoff_ns;
use crate::partition_map::PartitionMap;
use crate::pipeline::{PipelineLink, PipelineNote, PipelineWork};
use crate::scenario::model::{CommitPolicy, ConsumerConfig, Dist, GroupProtocol, OffsetReset};
use crate::sim::rng::{Purpose, Sampler, SimRng, StreamKind};
use crate::sim::time::f64_to_ns;
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Offsets to commit: the position after the last processed record, per partition.
type Offsets = Vec<(TopicPartition, u64)>;

/// `AbstractCoordinator.JOIN_GROUP_TIMEOUT_LAPSE` (5 s) added to the rebalance timeout.
const JOIN_GROUP_TIMEOUT_LAPSE_NS: u64 = 5_000_000_000;

/// Fetched records not yet returned by `poll()`.
#[derive(Debug)]
struct Buffered {
    tp: TopicPartition,
    batch: LogBatch,
    /// Index of the next record of `batch` to return.
    next_record: u32,
}

/// Partition leaders as the consumer last learned them, in a table indexed by topic, then
/// partition: every poll looks up the leader of each owned partition.
#[derive(Debug, Default)]
struct LeaderTable {
    by_topic: Vec<Vec<Option<BrokerId>>>,
}

impl LeaderTable {
    fn from_map(leaders: &BTreeMap<TopicPartition, BrokerId>) -> Self {
        let mut table = LeaderTable::default();
        for (&tp, &leader) in leaders {
            table.insert(tp, leader);
        }
        table
    }

    fn get(&self, tp: &TopicPartition) -> Option<BrokerId> {
        *self
            .by_topic
            .get(tp.topic.0 as usize)?
            .get(tp.partition as usize)?
    }

    fn insert(&mut self, tp: TopicPartition, leader: BrokerId) {
        let (topic, partition) = (tp.topic.0 as usize, tp.partition as usize);
        if self.by_topic.len() <= topic {
            self.by_topic.resize_with(topic + 1, Vec::new);
        }
        let partitions = &mut self.by_topic[topic];
        if partitions.len() <= partition {
            partitions.resize(partition + 1, None);
        }
        partitions[partition] = Some(leader);
    }

    fn values(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.by_topic.iter().flatten().flatten().copied()
    }

    fn remove(&mut self, tp: &TopicPartition) {
        if let Some(slot) = self
            .by_topic
            .get_mut(tp.topic.0 as usize)
            .and_then(|partitions| partitions.get_mut(tp.partition as usize))
        {
            *slot = None;
        }
    }
}

/// One record handed to the application.
#[derive(Debug, Clone, Copy)]
struct InProcess {
    tp: TopicPartition,
    offset: u64,
    created_ns: u64,
    /// Processing time (decompression included); the end time once processing started.
    duration_ns: u64,
    done_ns: u64,
    /// Uncompressed value size (the batch's mean), for a consume-transform-produce output.
    value_bytes: u32,
}

/// Where the group membership stands (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unjoined,
    Joining,
    Syncing,
    Stable,
}

/// What the application thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    /// The process is not running.
    Down,
    /// Inside `poll()`, waiting for the group, offsets or fetched data.
    InPoll,
    /// Processing the records of the last poll until `until_ns`.
    Processing { until_ns: u64 },
    /// Blocked in a synchronous commit; continues with the commit's `After`.
    Blocked,
}

/// What a blocking commit unblocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// `onJoinPrepare` done: revoke (eager) and send JoinGroup.
    Join,
    StartProcessing,
    Poll,
    /// `close()`: leave the group (dynamic members) and stop.
    Close,
    /// KIP-848: the revocation's commit is done; take the new partitions and acknowledge.
    Acknowledge,
}

/// Everything a consumer needs from the scenario and the cluster metadata.
pub struct ConsumerSetup {
    pub id: ConsumerId,
    /// `consumer:GROUP:INDEX`, as the scenario names nodes.
    pub name: String,
    pub group: usize,
    pub config: ConsumerConfig,
    pub commit: CommitPolicy,
    pub processing_ns: Dist,
    pub coordinator: BrokerId,
    /// Subscribed topics: (name, id, partitions).
    pub topics: Vec<(String, TopicId, u32)>,
    pub leaders: BTreeMap<TopicPartition, BrokerId>,
    /// `group.instance.id` of this member (static membership), if configured.
    pub instance_id: Option<String>,
    pub broker_count: u32,
    pub seed: u64,
    /// consume-transform-produce: this member's own producer.
    pub pipeline: Option<PipelineLink>,
}

/// Owned partitions grouped by leader (leaderless first), in partition order within each. The
/// leaders sit in their own array: `send_fetches` walks them at every poll and fetch response
/// to find the few with no fetch in flight, and reads only those groups' partitions.
#[derive(Debug, Default)]
struct FetchPlan {
    leaders: Vec<Option<BrokerId>>,
    /// One group per leader, in the same order.
    partitions: Vec<Vec<TopicPartition>>,
}

pub struct Consumer {
    pub id: ConsumerId,
    pub name: String,
    pub group: usize,
    config: ConsumerConfig,
    commit_policy: CommitPolicy,
    processing_ns: Sampler,
    /// The coordinator FindCoordinator last named (valid while `coordinator_known`).
    coordinator: BrokerId,
    coordinator_known: bool,
    /// FindCoordinator in flight: (request id, broker asked, deadline).
    find_in_flight: Option<(u64, BrokerId, u64)>,
    /// No FindCoordinator before this time (`retry.backoff.ms` after a failure).
    next_find_ns: u64,
    next_find_broker: u32,
    /// Group requests in flight: request id -> (deadline, whether it is a JoinGroup/SyncGroup).
    group_deadlines: BTreeMap<u64, (u64, bool)>,
    /// Group answers to requests older than this arrive on a closed connection.
    stale_group_before: u64,
    /// A JoinGroup or SyncGroup was lost with the coordinator: join again once it is found.
    redo_join: bool,
    /// Last successful heartbeat (or join, or coordinator discovery).
    last_heartbeat_ok_ns: u64,
    topics: Vec<(String, TopicId, u32)>,
    leaders: LeaderTable,
    instance_id: Option<String>,
    protocols: Vec<AssignorName>,
    cooperative: bool,
    /// The KIP-848 membership, for `group.protocol=consumer` members.
    kip848: Option<consumer_protocol::Kip848>,
    // The process.
    running: bool,
    /// Responses to requests older than this belong to an earlier incarnation.
    first_live_request: u64,
    next_request_id: u64,
    closing: Option<bool>,
    // Membership.
    phase: Phase,
    member_id: String,
    generation: i32,
    rejoin_needed: bool,
    owned: BTreeSet<TopicPartition>,
    last_assignment: Vec<TopicPartition>,
    /// A SyncGroup assignment received outside `poll()`: Kafka applies it (`onJoinComplete`,
    /// revocation included) in the application thread's next poll.
    pending_assignment: Option<Vec<TopicPartition>>,
    heartbeat_in_flight: bool,
    // Positions.
    /// The next offset to fetch, per partition with a position: read at every fetch round trip.
    fetch_positions: PartitionMap<u64>,
    /// Offset after the last record handed to the application, per owned partition.
    consumed: PartitionMap<u64>,
    /// The last offsets this member knows to be committed.
    known_committed: BTreeMap<TopicPartition, u64>,
    awaiting_offsets: BTreeSet<TopicPartition>,
    reset_latest: BTreeSet<TopicPartition>,
    /// Fetch responses to requests older than this id carry data for an earlier position.
    position_epoch: PartitionMap<u64>,
    buffered: VecDeque<Buffered>,
    /// Per broker, the fetch in flight: (request id, its `request.timeout.ms` deadline).
    fetch_in_flight: BrokerMap<(u64, u64)>,
    /// Per broker whose connection failed since it last answered: until when no new
    /// connection is tried, and the failures in a row (`reconnect.backoff.ms`).
    reconnect_backoff: BTreeMap<BrokerId, (u64, u32)>,
    metadata_in_flight: bool,
    /// Where the metadata request in flight went (its answer is lost if that broker dies).
    metadata_broker: BrokerId,
    /// No metadata request before this time (Kafka's `retry.backoff.ms` between refreshes).
    next_metadata_ns: u64,
    next_metadata_broker: u32,
    /// The next periodic metadata refresh (`metadata.max.age.ms`).
    next_metadata_refresh_ns: u64,
    /// Whether this member led the last classic generation (only the leader watches metadata).
    is_leader: bool,
    broker_count: u32,
    // Commits, one in flight at a time so they reach the coordinator in order.
    commit_in_flight: Option<(u64, Option<After>, Offsets)>,
    commit_queue: VecDeque<(Offsets, Option<After>)>,
    // The application thread.
    app: App,
    in_process: Vec<InProcess>,
    /// `send_fetches`' working lists (partitions with buffered records, requests by leader),
    /// kept between calls: it runs on every poll and fetch response.
    fetch_scratch: (Vec<TopicPartition>, Vec<(BrokerId, Vec<FetchPartition>)>),
    /// None after ownership or a leader changed: rebuilt at the next `send_fetches`.
    fetch_plan: Option<FetchPlan>,
    /// Every owned partition had a fetch position at the last look; cleared when a partition is
    /// added or a position dropped, so `request_positions` need not walk them at every poll.
    all_positioned: bool,
    last_poll_ns: u64,
    last_auto_commit_ns: u64,
    paused_until_ns: u64,
    slow: Option<(f64, u64)>,
    processing_rng: SimRng,
    /// `isolation.level=read_committed`.
    read_committed: bool,
    /// consume-transform-produce: the member's producer and its delivery guarantee.
    pipeline: Option<PipelineLink>,
    /// The positions the current poll's output covers (committed with it, or in its
    /// transaction).
    cycle_offsets: Offsets,
    /// A TxnOffsetCommit in flight: (request id, producer id, epoch, offsets).
    txn_commit_in_flight: Option<(u64, u64, u16, Offsets)>,
    /// The producer was fenced while this poll's records were processed.
    cycle_aborted: bool,
}

impl Consumer {
    pub fn new(setup: ConsumerSetup) -> Self {
        let protocols: Vec<AssignorName> = setup
            .config
            .partition_assignment_strategy
            .iter()
            .filter_map(|name| AssignorName::parse(name).ok())
            .collect();
        // ConsumerCoordinator: the highest protocol every configured assignor supports.
        let cooperative = !protocols.is_empty()
            && protocols.iter().all(|assignor| {
                assignor
                    .supported_protocols()
                    .contains(&crate::assignor::RebalanceProtocol::Cooperative)
            });
        let kip848 = (setup.config.group_protocol == GroupProtocol::Consumer)
            .then(|| consumer_protocol::Kip848::new(setup.config.group_remote_assignor.clone()));
        let read_committed = setup.config.isolation_level_read_committed;
        Consumer {
            read_committed,
            id: setup.id,
            name: setup.name,
            group: setup.group,
            config: setup.config,
            commit_policy: setup.commit,
            processing_ns: Sampler::from(&setup.processing_ns),
            coordinator: setup.coordinator,
            coordinator_known: false,
            find_in_flight: None,
            next_find_ns: 0,
            next_find_broker: 0,
            group_deadlines: BTreeMap::new(),
            stale_group_before: 0,
            redo_join: false,
            last_heartbeat_ok_ns: 0,
            topics: setup.topics,
            leaders: LeaderTable::from_map(&setup.leaders),
            instance_id: setup.instance_id,
            protocols,
            cooperative,
            kip848,
            running: false,
            first_live_request: 0,
            next_request_id: 0,
            closing: None,
            phase: Phase::Unjoined,
            member_id: String::new(),
            generation: -1,
            rejoin_needed: false,
            owned: BTreeSet::new(),
            last_assignment: Vec::new(),
            pending_assignment: None,
            heartbeat_in_flight: false,
            fetch_positions: PartitionMap::default(),
            consumed: PartitionMap::default(),
            known_committed: BTreeMap::new(),
            awaiting_offsets: BTreeSet::new(),
            reset_latest: BTreeSet::new(),
            position_epoch: PartitionMap::default(),
            buffered: VecDeque::new(),
            fetch_in_flight: BrokerMap::default(),
            reconnect_backoff: BTreeMap::new(),
            metadata_in_flight: false,
            metadata_broker: BrokerId(0),
            next_metadata_ns: 0,
            next_metadata_broker: 0,
            next_metadata_refresh_ns: 0,
            is_leader: false,
            broker_count: setup.broker_count,
            commit_in_flight: None,
            commit_queue: VecDeque::new(),
            app: App::Down,
            in_process: Vec::new(),
            fetch_scratch: (Vec::new(), Vec::new()),
            fetch_plan: None,
            all_positioned: false,
            last_poll_ns: 0,
            last_auto_commit_ns: 0,
            paused_until_ns: 0,
            slow: None,
            processing_rng: SimRng::new(
                setup.seed,
                StreamKind::Consumer,
                u64::from(setup.id.0),
                Purpose::Processing,
            ),
            pipeline: setup.pipeline,
            cycle_offsets: Vec::new(),
            txn_commit_in_flight: None,
            cycle_aborted: false,
        }
    }

    fn node(&self) -> NodeId {
        NodeId::Consumer(self.id)
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Positions (offset after the last record returned) of the partitions this member owns.
    pub fn consumed_positions(&self) -> &PartitionMap<u64> {
        &self.consumed
    }

    fn auto_commit(&self) -> bool {
        // consume-transform-produce members commit with their output (`finish_processing`).
        self.commit_policy == CommitPolicy::Auto && self.pipeline.is_none()
    }

    /// The process starts (at the run's start, on `consumer-join` or `consumer-restart`).
    pub fn start(&mut self, ctx: &mut Ctx) {
        if self.running {
            return;
        }
        self.running = true;
        self.first_live_request = self.next_request_id;
        self.app = App::InPoll;
        self.phase = Phase::Unjoined;
        self.member_id.clear();
        self.generation = -1;
        self.last_poll_ns = ctx.now_ns;
        self.last_auto_commit_ns = ctx.now_ns;
        self.next_metadata_refresh_ns = ctx.now_ns + self.config.metadata_max_age_ns;
        self.is_leader = false;
        // A new process knows no coordinator: its first group request waits for FindCoordinator.
        self.coordinator_known = false;
        self.next_find_ns = ctx.now_ns;
        self.last_heartbeat_ok_ns = ctx.now_ns;
        if let Some(link) = self.pipeline {
            ctx.to_producer(link.producer, PipelineWork::Start);
        }
        self.poll(ctx);
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    /// Sends a request to the coordinator, with its client-side deadline. While the coordinator
    /// is unknown nothing goes out (Kafka's `ensureCoordinatorReady`): a JoinGroup or SyncGroup
    /// is redone and a commit resent once FindCoordinator answers; heartbeats, OffsetFetch and
    /// LeaveGroup are dropped (Kafka sends LeaveGroup only to a known coordinator).
    fn send_group(&mut self, ctx: &mut Ctx, body: GroupRequestBody) -> u64 {
        let request_id = self.next_id();
        let joining = matches!(body, GroupRequestBody::Join(_) | GroupRequestBody::Sync(_));
        if !self.coordinator_known {
            self.redo_join |= joining;
            self.find_coordinator(ctx);
            return request_id;
        }
        let timeout_ns = match &body {
            // AbstractCoordinator: the coordinator may hold a JoinGroup for the rebalance timeout.
            GroupRequestBody::Join(join) => self
                .config
                .request_timeout_ns
                .max(join.rebalance_timeout_ns + JOIN_GROUP_TIMEOUT_LAPSE_NS),
            _ => self.config.request_timeout_ns,
        };
        if !matches!(body, GroupRequestBody::Leave) {
            self.group_deadlines
                .insert(request_id, (ctx.now_ns + timeout_ns, joining));
            self.arm_request_timer(ctx);
        }
        let request = GroupRequest {
            request_id,
            group: self.group,
            consumer: self.id,
            member_id: self.member_id.clone(),
            generation: self.generation,
            body,
        };
        ctx.send(
            self.node(),
            NodeId::Broker(self.coordinator),
            Message::Group(Box::new(request)),
        );
        request_id
    }

    /// A wake timer: processing finished, or a pause ended.
    pub fn on_wake(&mut self, ctx: &mut Ctx) {
        match self.app {
            App::Processing { until_ns } if until_ns <= ctx.now_ns => self.finish_processing(ctx),
            App::InPoll => self.poll(ctx),
            _ => {}
        }
    }

    fn finish_processing(&mut self, ctx: &mut Ctx) {
        let mut records = std::mem::take(&mut self.in_process);
        self.record_processed(ctx, &records);
        // Kept for the next poll's records: one vector for the member's lifetime.
        records.clear();
        self.in_process = records;
        if self.pipeline.is_some() && std::mem::take(&mut self.cycle_aborted) {
            self.rewind_to_committed();
            self.app = App::InPoll;
            self.poll(ctx);
            return;
        }
        if let Some(link) = self.pipeline {
            // consume-transform-produce: the output was sent as records were processed; now
            // the commit (after the flush, or in the transaction), which the application
            // thread waits for. At-least-once with commit "auto" commits (flush, then
            // commitSync) every auto.commit.interval.ms, as Kafka Streams does every
            // commit.interval.ms.
            let periodic = !link.exactly_once && self.commit_policy == CommitPolicy::Auto;
            if periodic
                && ctx.now_ns < self.last_auto_commit_ns + self.config.auto_commit_interval_ns
            {
                self.app = App::InPoll;
                self.poll(ctx);
                return;
            }
            self.last_auto_commit_ns = ctx.now_ns;
            self.cycle_offsets = self.uncommitted(None);
            self.app = App::Blocked;
            ctx.to_producer(link.producer, PipelineWork::Commit);
            return;
        }
        self.app = App::InPoll;
        if self.closing.is_some() {
            self.close_now(ctx);
            return;
        }
        match self.commit_policy {
            CommitPolicy::SyncAfterPoll => {
                let offsets = self.uncommitted(None);
                self.commit(ctx, offsets, Some(After::Poll));
            }
            CommitPolicy::AsyncAfterPoll => {
                let offsets = self.uncommitted(None);
                self.commit(ctx, offsets, None);
                self.poll(ctx);
            }
            CommitPolicy::Auto | CommitPolicy::BeforeProcessing => self.poll(ctx),
        }
    }

    /// A note from this process's producer (consume-transform-produce).
    pub fn on_pipeline_note(&mut self, ctx: &mut Ctx, note: PipelineNote) {
        let Some(link) = self.pipeline else {
            return;
        };
        if !self.running {
            return;
        }
        if self.app != App::Blocked {
            if note == PipelineNote::Aborted {
                // Fenced while processing: this poll's output is gone, so its offsets must not
                // be committed.
                self.cycle_aborted = true;
                if self.app == App::InPoll {
                    self.cycle_aborted = false;
                    self.rewind_to_committed();
                }
            }
            return;
        }
        match note {
            PipelineNote::Flushed { producer_id, epoch } => {
                let offsets = std::mem::take(&mut self.cycle_offsets);
                if !link.exactly_once {
                    // At-least-once: the output is acknowledged; now commit (commitSync).
                    self.commit(ctx, offsets, Some(After::Poll));
                } else {
                    self.cycle_offsets = offsets.clone();
                    self.send_txn_offsets(ctx, producer_id, epoch, offsets);
                }
            }
            PipelineNote::Committed => {
                for (tp, offset) in std::mem::take(&mut self.cycle_offsets) {
                    self.known_committed.insert(tp, offset);
                }
                self.continue_after(ctx, After::Poll);
            }
            PipelineNote::Aborted => {
                self.cycle_offsets.clear();
                self.rewind_to_committed();
                self.continue_after(ctx, After::Poll);
            }
        }
    }

    /// The output of the records consumed since the last commit was aborted: start again from
    /// the committed offsets (fetched anew).
    fn rewind_to_committed(&mut self) {
        let epoch = self.next_request_id;
        self.all_positioned = false;
        for tp in self.owned.clone() {
            self.fetch_positions.remove(&tp);
            self.consumed.remove(&tp);
            self.awaiting_offsets.remove(&tp);
            self.position_epoch.insert(tp, epoch);
        }
        self.buffered.clear();
        self.known_committed.clear();
    }

    /// TxnOffsetCommit: the poll's positions go in the producer's transaction.
    fn send_txn_offsets(&mut self, ctx: &mut Ctx, producer_id: u64, epoch: u16, offsets: Offsets) {
        let body = GroupRequestBody::TxnOffsetCommit {
            producer_id,
            producer_epoch: epoch,
            offsets: offsets.clone(),
        };
        let request_id = self.send_group(ctx, body);
        self.txn_commit_in_flight = Some((request_id, producer_id, epoch, offsets));
    }

    /// The group coordinator answered a TxnOffsetCommit; returns false if it was not one.
    fn on_txn_offsets_answer(&mut self, ctx: &mut Ctx, request_id: u64, ok: bool) -> bool {
        if self
            .txn_commit_in_flight
            .as_ref()
            .is_none_or(|(id, ..)| *id != request_id)
        {
            return false;
        }
        self.txn_commit_in_flight = None;
        if !ok {
            // KIP-447: a member of an older generation is a zombie; its transaction aborts.
            self.rejoin_needed = true;
        }
        if let Some(link) = self.pipeline {
            ctx.to_producer(link.producer, PipelineWork::OffsetsSent { accepted: ok });
        }
        true
    }

    /// Records done processing go to the metrics, as offset ranges per partition.
    fn record_processed(&self, ctx: &mut Ctx, records: &[InProcess]) {
        let mut run: Option<(TopicPartition, u64, u64)> = None;
        for record in records {
            ctx.metrics
                .record_processed(self.group, record.created_ns, record.done_ns);
            run = match run {
                Some((tp, start, end)) if tp == record.tp && end == record.offset => {
                    Some((tp, start, end + 1))
                }
                other => {
                    if let Some(range) = other {
                        self.range_processed(ctx, range);
                    }
                    Some((record.tp, record.offset, record.offset + 1))
                }
            };
        }
        if let Some(range) = run {
            self.range_processed(ctx, range);
        }
    }

    fn range_processed(&self, ctx: &mut Ctx, (tp, start, end): (TopicPartition, u64, u64)) {
        ctx.metrics
            .offsets_processed(self.group, tp.topic.0, tp.partition, start, end);
        let (at_ns, consumer) = (ctx.now_ns, self.id.0);
        ctx.metrics.trace(|| TraceEntry::OffsetsProcessed {
            at_ns,
            consumer,
            partition: tp.partition,
            start,
            end,
        });
    }

    /// Kafka's `poll()`: the group first (rejoin only happens here), then positions, fetches,
    /// and up to `max.poll.records` buffered records.
    fn poll(&mut self, ctx: &mut Ctx) {
        if self.app != App::InPoll {
            return;
        }
        if self.closing.is_some() {
            self.close_now(ctx);
            return;
        }
        if self.paused_until_ns > ctx.now_ns {
            // The application thread is stalled (consumer-pause): poll() is not called.
            ctx.set_consumer_wake(self.id, self.paused_until_ns);
            return;
        }
        self.last_poll_ns = ctx.now_ns;
        if let Some(assignment) = self.pending_assignment.take() {
            self.apply_assignment(ctx, assignment);
            if self.app != App::InPoll {
                return;
            }
        }
        if ctx.now_ns >= self.next_metadata_refresh_ns {
            // Kafka's client refreshes metadata that is older than metadata.max.age.ms.
            self.next_metadata_refresh_ns = ctx.now_ns + self.config.metadata_max_age_ns;
            self.request_metadata(ctx);
        }
        if self.kip848.is_some() {
            if !self.kip848_poll(ctx) {
                return;
            }
        } else if self.phase == Phase::Unjoined
            || (self.phase == Phase::Stable && self.rejoin_needed)
        {
            self.begin_join(ctx);
            return;
        }
        if self.phase == Phase::Stable {
            self.maybe_auto_commit(ctx);
        }
        // During a rebalance poll() goes on returning records of owned partitions (Kafka's
        // `ensureActiveGroup` with a zero timer): cooperative members keep consuming, eager
        // members own nothing by then.
        self.request_positions(ctx);
        // Kafka's poll drains buffered records first and fetches after: a partition drained now
        // goes into this round's fetch, instead of waiting behind a fetch that left it out.
        let has_records = self.take_records(ctx);
        self.send_fetches(ctx);
        if !has_records {
            return;
        }
        if self.commit_policy == CommitPolicy::BeforeProcessing {
            // At-most-once: the offsets past these records are committed before processing.
            let offsets = self.uncommitted(None);
            self.commit(ctx, offsets, Some(After::StartProcessing));
        } else {
            self.start_processing(ctx);
        }
    }

    /// Kafka's `maybeAutoCommitOffsetsAsync`: inside poll, the positions of records returned by
    /// earlier polls, every `auto.commit.interval.ms`.
    fn maybe_auto_commit(&mut self, ctx: &mut Ctx) {
        if !self.auto_commit()
            || ctx.now_ns < self.last_auto_commit_ns + self.config.auto_commit_interval_ns
        {
            return;
        }
        self.last_auto_commit_ns = ctx.now_ns;
        let offsets = self.uncommitted(None);
        self.commit(ctx, offsets, None);
    }

    /// Consumed positions not yet known committed, for owned partitions (or only `only`).
    fn uncommitted(&self, only: Option<&BTreeSet<TopicPartition>>) -> Vec<(TopicPartition, u64)> {
        self.consumed
            .iter()
            .filter(|(tp, _)| only.is_none_or(|set| set.contains(tp)))
            .filter(|(tp, &offset)| self.known_committed.get(tp) != Some(&offset))
            .map(|(&tp, &offset)| (tp, offset))
            .collect()
    }

    /// Sends an OffsetCommit, in order behind those in flight or queued. With `after`, the
    /// application thread blocks until the answer (commitSync), then continues.
    fn commit(&mut self, ctx: &mut Ctx, offsets: Vec<(TopicPartition, u64)>, after: Option<After>) {
        if after.is_some() {
            self.app = App::Blocked;
        }
        if offsets.is_empty() && self.commit_in_flight.is_none() && self.commit_queue.is_empty() {
            if let Some(after) = after {
                self.continue_after(ctx, after);
            }
            return;
        }
        // Queued commits hold older offsets: one sent ahead of them would be overwritten by
        // older offsets (found by `kafkasim check`: an auto-commit in flight dropped with the
        // coordinator let the next one overtake a queued commit).
        self.commit_queue.push_back((offsets, after));
        if self.commit_in_flight.is_none() {
            if let Some((offsets, after)) = self.commit_queue.pop_front() {
                self.send_commit(ctx, offsets, after);
            }
        }
    }

    fn send_commit(
        &mut self,
        ctx: &mut Ctx,
        offsets: Vec<(TopicPartition, u64)>,
        after: Option<After>,
    ) {
        let request_id = self.send_group(ctx, GroupRequestBody::OffsetCommit(offsets.clone()));
        self.commit_in_flight = Some((request_id, after, offsets));
    }

    fn on_commit_answer(&mut self, ctx: &mut Ctx, request_id: u64, ok: bool) {
        if self
            .commit_in_flight
            .as_ref()
            .is_none_or(|(id, _, _)| *id != request_id)
        {
            return;
        }
        let Some((_, after, offsets)) = self.commit_in_flight.take() else {
            return;
        };
        if ok {
            for (tp, offset) in offsets {
                self.known_committed.insert(tp, offset);
            }
        } else if self.phase == Phase::Stable {
            // CommitFailedException / RebalanceInProgressException: the member must rejoin.
            self.rejoin_needed = true;
        }
        if let Some((next, next_after)) = self.commit_queue.pop_front() {
            self.send_commit(ctx, next, next_after);
        }
        if let Some(after) = after {
            self.continue_after(ctx, after);
        }
    }

    fn continue_after(&mut self, ctx: &mut Ctx, after: After) {
        if !self.running {
            return;
        }
        self.app = App::InPoll;
        match after {
            After::Join => {
                self.send_join_after_prepare(ctx);
                self.poll(ctx);
            }
            After::StartProcessing => self.start_processing(ctx),
            After::Poll => self.poll(ctx),
            After::Close => self.shut_down(ctx, true),
            After::Acknowledge => self.kip848_after_revoke(ctx),
        }
    }

    /// Moves up to `max.poll.records` buffered records into processing; false if none.
    fn take_records(&mut self, ctx: &mut Ctx) -> bool {
        let mut budget = self.config.max_poll_records;
        let factor = match self.slow {
            Some((factor, until_ns)) if ctx.now_ns < until_ns => factor,
            _ => 1.0,
        };
        while budget > 0 {
            let Some(entry) = self.buffered.front_mut() else {
                break;
            };
            let records = entry.batch.data.records;
            let take = (records - entry.next_record).min(budget);
            // Decompression happens in the application thread as records are iterated.
            let share =
                entry.batch.data.uncompressed_bytes * u64::from(take) / u64::from(records.max(1));
            let mut extra_ns = codec::decompress_ns(entry.batch.data.compression, share);
            let value_bytes =
                (entry.batch.data.uncompressed_bytes / u64::from(records.max(1))) as u32;
            for index in entry.next_record..entry.next_record + take {
                let sample = self.processing_rng.sample(&self.processing_ns) * factor;
                self.in_process.push(InProcess {
                    tp: entry.tp,
                    offset: entry.batch.base_offset + u64::from(index),
                    created_ns: entry.batch.data.record_created_ns[index as usize],
                    duration_ns: f64_to_ns(sample) + extra_ns,
                    done_ns: 0,
                    value_bytes,
                });
                extra_ns = 0;
            }
            entry.next_record += take;
            budget -= take;
            let position = entry.batch.base_offset + u64::from(entry.next_record);
            self.consumed.insert(entry.tp, position);
            if entry.next_record == records {
                self.buffered.pop_front();
            }
        }
        !self.in_process.is_empty()
    }

    fn start_processing(&mut self, ctx: &mut Ctx) {
        let mut clock_ns = ctx.now_ns;
        for record in &mut self.in_process {
            clock_ns += record.duration_ns;
            record.done_ns = clock_ns;
        }
        self.app = App::Processing { until_ns: clock_ns };
        ctx.set_consumer_wake(self.id, clock_ns);
        if let Some(link) = self.pipeline {
            // Each record's output is sent (`send()`) as its processing ends; the producer
            // appends it then.
            let output = self
                .in_process
                .iter()
                .map(|record| {
                    (
                        record.tp.partition,
                        record.offset,
                        record.value_bytes,
                        record.done_ns,
                    )
                })
                .collect();
            ctx.to_producer(link.producer, PipelineWork::Output { records: output });
        }
        // Kafka pipelines: partitions drained by this poll are fetched while records are processed.
        self.send_fetches(ctx);
    }

    /// OffsetFetch for owned partitions without a position.
    fn request_positions(&mut self, ctx: &mut Ctx) {
        if !self.coordinator_known {
            self.find_coordinator(ctx);
            return;
        }
        if self.all_positioned {
            return;
        }
        let all_positioned = (self.owned.iter()).all(|tp| self.fetch_positions.contains_key(tp));
        if all_positioned {
            self.all_positioned = true;
            return;
        }
        let missing: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| {
                !self.fetch_positions.contains_key(tp)
                    && !self.awaiting_offsets.contains(tp)
                    && !self.reset_latest.contains(tp)
            })
            .copied()
            .collect();
        if missing.is_empty() {
            return;
        }
        self.awaiting_offsets.extend(missing.iter().copied());
        self.send_group(ctx, GroupRequestBody::OffsetFetch(missing));
    }

    fn on_offsets(&mut self, ctx: &mut Ctx, offsets: Vec<(TopicPartition, Option<u64>)>) {
        let epoch = self.next_request_id;
        for (tp, committed) in offsets {
            if !self.awaiting_offsets.remove(&tp) || !self.owned.contains(&tp) {
                continue;
            }
            self.position_epoch.insert(tp, epoch);
            match (committed, self.config.auto_offset_reset) {
                (Some(offset), _) => {
                    self.set_position(tp, offset);
                    self.known_committed.insert(tp, offset);
                }
                (None, OffsetReset::Latest) => {
                    self.reset_latest.insert(tp);
                }
                // Model limit: `auto.offset.reset=none` (an exception in Kafka) resets to the
                // earliest offset; retention is not modelled, so the earliest offset is 0.
                (None, OffsetReset::Earliest | OffsetReset::None) => self.set_position(tp, 0),
            }
        }
        self.poll(ctx);
    }

    fn set_position(&mut self, tp: TopicPartition, offset: u64) {
        self.fetch_positions.insert(tp, offset);
        self.consumed.insert(tp, offset);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx, from: BrokerId, message: Message) {
        if !self.running {
            return;
        }
        if !self.reconnect_backoff.is_empty() {
            // An answer: the connection works again.
            self.reconnect_backoff.remove(&from);
        }
        match message {
            Message::FetchResponse(response) => self.on_fetch_response(ctx, from, response),
            Message::GroupReply(response) => {
                // Answers on a coordinator connection that was closed since are dropped.
                if response.request_id >= self.first_live_request
                    && response.request_id >= self.stale_group_before
                {
                    self.on_group_reply(ctx, *response);
                }
            }
            Message::MetadataResponse(states) => self.on_metadata_response(ctx, states),
            Message::FindCoordinatorReply {
                request_id,
                coordinator,
            } => self.on_find_coordinator_reply(ctx, request_id, coordinator),
            other => panic!(
                "consumer {} got an unexpected message: {other:?}",
                self.id.0
            ),
        }
    }

    /// The connection to `broker` was reset: its fetch is gone; find the new leaders. If it was
    /// the coordinator, the coordinator is unknown until FindCoordinator answers again.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        if !self.running {
            return;
        }
        if self.coordinator_known && self.coordinator == broker {
            self.coordinator_lost(ctx);
        }
        if self.find_in_flight.is_some_and(|(_, to, _)| to == broker) {
            self.find_failed(ctx);
        }
        self.connection_lost(ctx, broker);
        self.arm_request_timer(ctx);
    }

    /// The fetch connection to `broker` is gone (reset, or closed after a request timeout): its
    /// fetch and metadata requests fail, and metadata is refreshed (`NetworkClient` asks for an
    /// update after a disconnect).
    fn connection_lost(&mut self, ctx: &mut Ctx, broker: BrokerId) {
        self.fetch_in_flight.remove(&broker);
        // Kafka's `NetworkClient` blacks the node out for the reconnect backoff: a dead or
        // restarting leader is not fetched from again at every round trip.
        let (until_ns, failed) = self.reconnect_backoff.entry(broker).or_insert((0, 0));
        *until_ns = ctx.now_ns + reconnect_backoff_ns(*failed);
        *failed += 1;
        if self.metadata_broker == broker {
            self.metadata_in_flight = false;
        }
        self.request_metadata(ctx);
    }

    /// The request timer: a group request past its deadline closes the coordinator connection,
    /// a fetch past its deadline closes that broker's connection (Kafka's
    /// `NetworkClient.handleTimedOutRequests`), and a FindCoordinator backoff may have ended.
    pub fn on_request_timer(&mut self, ctx: &mut Ctx) {
        if !self.running {
            return;
        }
        let now_ns = ctx.now_ns;
        if self
            .group_deadlines
            .values()
            .any(|&(deadline_ns, _)| deadline_ns <= now_ns)
        {
            self.coordinator_lost(ctx);
        }
        if self
            .find_in_flight
            .is_some_and(|(_, _, deadline_ns)| deadline_ns <= now_ns)
        {
            self.find_failed(ctx);
        }
        let timed_out: Vec<BrokerId> = self
            .fetch_in_flight
            .iter()
            .filter(|(_, &(_, deadline_ns))| deadline_ns <= now_ns)
            .map(|(broker, _)| broker)
            .collect();
        for broker in timed_out {
            self.connection_lost(ctx, broker);
        }
        if !self.coordinator_known {
            self.find_coordinator(ctx);
        }
        let backoff_ended =
            (self.reconnect_backoff.values()).any(|&(until_ns, _)| until_ns <= now_ns);
        if backoff_ended && self.app == App::InPoll {
            self.send_fetches(ctx);
        }
        self.arm_request_timer(ctx);
    }

    /// One timer per consumer: the earliest request deadline, or the end of a FindCoordinator
    /// backoff.
    fn arm_request_timer(&mut self, ctx: &mut Ctx) {
        let group = self
            .group_deadlines
            .values()
            .map(|&(deadline_ns, _)| deadline_ns);
        let fetch = self
            .fetch_in_flight
            .values()
            .map(|&(_, deadline_ns)| deadline_ns);
        let find = self.find_in_flight.map(|(_, _, deadline_ns)| deadline_ns);
        let lookup = (!self.coordinator_known && self.find_in_flight.is_none())
            .then_some(self.next_find_ns.max(ctx.now_ns));
        let reconnect = (self.reconnect_backoff.values())
            .map(|&(until_ns, _)| until_ns)
            .filter(|&until_ns| until_ns > ctx.now_ns);
        let at_ns = (group
            .chain(fetch)
            .chain(find)
            .chain(lookup)
            .chain(reconnect))
        .min();
        ctx.set_consumer_request_timer(self.id, at_ns);
    }

    /// Model limit: the consumer asks for metadata at once after an error, from the next broker in
    /// turn, without Kafka's backoff; an answer lost to a fault is retried at the next error.
    fn request_metadata(&mut self, ctx: &mut Ctx) {
        if self.metadata_in_flight {
            return;
        }
        self.metadata_in_flight = true;
        self.next_metadata_ns = ctx.now_ns + self.config.retry_backoff_ns;
        let brokers = self
            .leaders
            .values()
            .map(|broker| broker.0 + 1)
            .max()
            .unwrap_or(1)
            .max(self.broker_count);
        let broker = BrokerId(self.next_metadata_broker % brokers);
        self.next_metadata_broker += 1;
        self.metadata_broker = broker;
        ctx.send(
            self.node(),
            NodeId::Broker(broker),
            Message::MetadataRequest,
        );
    }

    fn on_metadata_response(&mut self, ctx: &mut Ctx, states: Vec<PartitionState>) {
        self.metadata_in_flight = false;
        self.next_metadata_refresh_ns = ctx.now_ns + self.config.metadata_max_age_ns;
        let mut grown = false;
        for (_, id, partitions) in &mut self.topics {
            let seen = states
                .iter()
                .filter(|state| state.tp.topic == *id)
                .map(|state| state.tp.partition + 1)
                .max()
                .unwrap_or(0);
            if seen > *partitions {
                *partitions = seen;
                grown = true;
            }
        }
        if grown && self.kip848.is_none() && self.is_leader && self.phase == Phase::Stable {
            // ConsumerCoordinator: the leader's metadata snapshot no longer matches the one it
            // assigned with, so it rejoins (and its JoinGroup forces a rebalance).
            self.rejoin_needed = true;
        }
        for state in states {
            if self.topics.iter().any(|(_, id, _)| *id == state.tp.topic) {
                if self.leaders.get(&state.tp) != state.leader {
                    self.fetch_plan = None;
                }
                match state.leader {
                    Some(leader) => self.leaders.insert(state.tp, leader),
                    None => self.leaders.remove(&state.tp),
                };
            }
        }
        let leaderless = self.owned.iter().any(|tp| self.leaders.get(tp).is_none());
        if leaderless && self.app == App::InPoll {
            // Look again after the backoff: the election may not have happened yet. The answer
            // may come after the backoff ended (found by `kafkasim check`, two brokers down), then
            // at once.
            ctx.set_consumer_wake(self.id, self.next_metadata_ns.max(ctx.now_ns));
        }
        // Only poll() sends fetches (Kafka's network thread never does): while the application
        // processes, the next fetch waits for its next poll.
        if self.app == App::InPoll {
            self.poll(ctx);
        }
    }

    fn on_fetch_response(&mut self, ctx: &mut Ctx, from: BrokerId, response: FetchResponse) {
        // A response to a fetch that timed out (or of an earlier incarnation) is dropped, as
        // Kafka's client drops what arrives on a connection it closed.
        if self.fetch_in_flight.get(&from).map(|&(id, _)| id) != Some(response.request_id) {
            return;
        }
        self.fetch_in_flight.remove(&from);
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
            let tp = partition.tp;
            // Only owned partitions have a fetch position, so the set is searched only without.
            let position = self.fetch_positions.get(&tp).copied();
            if (position.is_none() && !self.owned.contains(&tp))
                || self
                    .position_epoch
                    .get(&tp)
                    .is_some_and(|&e| response.request_id < e)
            {
                continue;
            }
            debug_assert!(
                self.owned.contains(&tp),
                "{tp:?} has a position but is not owned"
            );
            if self.reset_latest.remove(&tp) {
                self.set_position(tp, partition.high_watermark);
                self.position_epoch.insert(tp, self.next_request_id);
                continue;
            }
            let Some(position) = position else {
                continue;
            };
            let mut next_position = position;
            let stable = partition.last_stable_offset;
            let mut filter = AbortedFilter::new(partition.aborted);
            for batch in partition.batches {
                if batch.next_offset() <= next_position || batch.base_offset > next_position {
                    continue;
                }
                let skip = next_position.saturating_sub(batch.base_offset) as u32;
                let skipped_from = next_position;
                next_position = batch.next_offset();
                // Control batches, and under read_committed aborted transactions, take offsets
                // but are never returned to the application.
                let visible = if self.read_committed {
                    filter.keep(&batch)
                } else {
                    batch.data.control.is_none()
                };
                if !visible {
                    self.consumed_skip(ctx, tp, skipped_from, next_position);
                    continue;
                }
                // Invariant: read_committed never returns a record of an open transaction.
                assert!(
                    !self.read_committed || batch.next_offset() <= stable,
                    "{}: read_committed got {tp:?} offsets up to {} above the LSO {stable}",
                    self.name,
                    batch.next_offset()
                );
                self.buffered.push_back(Buffered {
                    tp,
                    batch,
                    next_record: skip,
                });
            }
            self.fetch_positions.insert(tp, next_position);
            ctx.metrics.record_lag_seen(
                self.group,
                partition.high_watermark.saturating_sub(next_position),
            );
        }
        // The response waits in the buffer for the next poll(), which drains it and then fetches.
        if self.app == App::InPoll {
            self.poll(ctx);
        }
    }

    /// Records skipped by the fetch (control batches, aborted transactions) move the position
    /// once nothing before them waits in the buffer.
    fn consumed_skip(&mut self, ctx: &mut Ctx, tp: TopicPartition, start: u64, end: u64) {
        ctx.metrics
            .offsets_skipped(self.group, tp.topic.0, tp.partition, start, end);
        if !self.buffered.iter().any(|entry| entry.tp == tp) {
            self.consumed.insert(tp, end);
        }
    }

    /// Kafka's `sendFetches`: one request per leader with no fetch in flight, for the owned
    /// partitions with a position and nothing buffered.
    fn send_fetches(&mut self, ctx: &mut Ctx) {
        if self.phase == Phase::Unjoined {
            return;
        }
        // Called on every poll and fetch response: plain vectors, not trees, and only the
        // partitions of leaders with no fetch in flight (usually one leader) are looked at.
        let (mut buffered, mut by_node) = std::mem::take(&mut self.fetch_scratch);
        buffered.clear();
        by_node.clear();
        for entry in &self.buffered {
            if buffered.last() != Some(&entry.tp) && !buffered.contains(&entry.tp) {
                buffered.push(entry.tp);
            }
        }
        let mut leaderless = false;
        let plan = (self.fetch_plan.take()).unwrap_or_else(|| self.build_fetch_plan());
        for (&leader, tps) in plan.leaders.iter().zip(&plan.partitions) {
            if let Some(leader) = &leader {
                if self.fetch_in_flight.contains_key(leader) || self.backing_off(leader, ctx.now_ns)
                {
                    continue;
                }
            }
            for tp in tps {
                let offset = if self.reset_latest.contains(tp) {
                    u64::MAX
                } else if let Some(&offset) = self.fetch_positions.get(tp) {
                    offset
                } else {
                    continue;
                };
                let Some(leader) = leader else {
                    leaderless = true;
                    continue;
                };
                if buffered.contains(tp) {
                    continue;
                }
                let partition = FetchPartition {
                    tp: *tp,
                    fetch_offset: offset,
                    max_bytes: u64::from(self.config.max_partition_fetch_bytes),
                };
                match by_node.last_mut() {
                    Some((node, partitions)) if *node == leader => partitions.push(partition),
                    _ => {
                        // Sized for the leader's partitions: no regrowth as the request fills.
                        let mut partitions = Vec::with_capacity(tps.len());
                        partitions.push(partition);
                        by_node.push((leader, partitions));
                    }
                }
            }
        }
        // `by_node` follows the plan's broker order, so requests go out in broker order.
        self.fetch_plan = Some(plan);
        if leaderless && ctx.now_ns >= self.next_metadata_ns {
            self.request_metadata(ctx);
        }
        let sent = !by_node.is_empty();
        for (node, partitions) in by_node.drain(..) {
            let request_id = self.next_id();
            let request = FetchRequest {
                request_id,
                consumer: self.id,
                group: self.group,
                max_wait_ns: self.config.fetch_max_wait_ns,
                min_bytes: u64::from(self.config.fetch_min_bytes),
                max_bytes: u64::from(self.config.fetch_max_bytes),
                read_committed: self.read_committed,
                partitions,
            };
            let deadline_ns = ctx.now_ns + self.config.request_timeout_ns;
            self.fetch_in_flight.insert(node, (request_id, deadline_ns));
            ctx.send(
                self.node(),
                NodeId::Broker(node),
                Message::FetchRequest(request),
            );
        }
        self.fetch_scratch = (buffered, by_node);
        if sent {
            self.arm_request_timer(ctx);
        }
    }

    /// Whether a new connection to `broker` waits for the reconnect backoff.
    fn backing_off(&self, broker: &BrokerId, now_ns: u64) -> bool {
        !self.reconnect_backoff.is_empty()
            && (self.reconnect_backoff.get(broker)).is_some_and(|&(until_ns, _)| now_ns < until_ns)
    }

    fn build_fetch_plan(&self) -> FetchPlan {
        let mut by_leader: Vec<(Option<BrokerId>, TopicPartition)> = (self.owned.iter())
            .map(|&tp| (self.leaders.get(&tp), tp))
            .collect();
        by_leader.sort_unstable();
        let mut plan = FetchPlan::default();
        for (leader, tp) in by_leader {
            match plan.leaders.last() {
                Some(&last) if last == leader => {
                    plan.partitions.last_mut().expect("one per leader").push(tp)
                }
                _ => {
                    plan.leaders.push(leader);
                    plan.partitions.push(vec![tp]);
                }
            }
        }
        plan
    }

    /// Stops owning partitions: fetch state dropped, ownership span closed.
    fn drop_partitions(&mut self, ctx: &mut Ctx, tps: &BTreeSet<TopicPartition>) {
        for tp in tps {
            if !self.owned.remove(tp) {
                continue;
            }
            self.fetch_plan = None;
            self.all_positioned = false;
            self.fetch_positions.remove(tp);
            self.consumed.remove(tp);
            self.awaiting_offsets.remove(tp);
            self.reset_latest.remove(tp);
            ctx.metrics.ownership_ended(
                self.group,
                &self.name,
                tp.topic.0,
                tp.partition,
                ctx.now_ns,
            );
        }
        self.buffered.retain(|entry| !tps.contains(&entry.tp));
    }

    // Timeline actions.

    /// `consumer-crash`: the process dies; no LeaveGroup, no commit. Records whose processing
    /// ended by now count as processed.
    pub fn crash(&mut self, ctx: &mut Ctx) {
        if !self.running {
            return;
        }
        let records = std::mem::take(&mut self.in_process);
        let done: Vec<InProcess> = records
            .into_iter()
            .filter(|record| record.done_ns != 0 && record.done_ns <= ctx.now_ns)
            .collect();
        self.record_processed(ctx, &done);
        self.shut_down(ctx, false);
    }

    /// `consumer-leave` and `consumer-restart`: a clean `close()` once the current records are
    /// processed; `restart` starts the process again right after.
    pub fn close(&mut self, ctx: &mut Ctx, restart: bool) {
        if !self.running {
            if restart {
                self.start(ctx);
            }
            return;
        }
        self.closing = Some(restart);
        if self.app == App::InPoll {
            self.close_now(ctx);
        }
    }

    /// Kafka's `onLeavePrepare`: commit (auto-commit, or the revocation callback) and revoke.
    fn close_now(&mut self, ctx: &mut Ctx) {
        let offsets = if self.generation >= 0 {
            self.uncommitted(None)
        } else {
            Vec::new()
        };
        let owned = self.owned.clone();
        if self.generation >= 0 && !owned.is_empty() {
            ctx.metrics
                .partitions_revoked_on_close(self.group, owned.len() as u32);
        }
        self.drop_partitions(ctx, &owned);
        self.commit(ctx, offsets, Some(After::Close));
    }

    /// The process stops. Static members never send LeaveGroup (KIP-345).
    fn shut_down(&mut self, ctx: &mut Ctx, clean: bool) {
        if clean && !self.member_id.is_empty() {
            if self.kip848.is_some() {
                // KIP-848 static members leave too, with epoch -2 (their assignment waits).
                self.kip848_leave(ctx);
            } else if self.instance_id.is_none() {
                self.send_group(ctx, GroupRequestBody::Leave);
            }
        }
        let owned = self.owned.clone();
        self.drop_partitions(ctx, &owned);
        let restart = clean && self.closing == Some(true);
        self.running = false;
        self.closing = None;
        self.app = App::Down;
        self.phase = Phase::Unjoined;
        self.rejoin_needed = false;
        self.heartbeat_in_flight = false;
        self.in_process.clear();
        self.buffered.clear();
        self.fetch_in_flight.clear();
        self.group_deadlines.clear();
        self.find_in_flight = None;
        self.redo_join = false;
        self.coordinator_known = false;
        self.metadata_in_flight = false;
        self.commit_in_flight = None;
        self.commit_queue.clear();
        self.known_committed.clear();
        self.position_epoch.clear();
        self.last_assignment.clear();
        self.pending_assignment = None;
        self.paused_until_ns = 0;
        self.slow = None;
        self.cycle_offsets.clear();
        self.txn_commit_in_flight = None;
        self.cycle_aborted = false;
        ctx.cancel_consumer_timers(self.id);
        if let Some(link) = self.pipeline {
            ctx.to_producer(link.producer, PipelineWork::Crash);
        }
        if restart {
            self.start(ctx);
        }
    }

    /// `consumer-pause`: the application thread stalls; the heartbeat thread goes on.
    ///
    /// Model limit: a stall delays the next poll; records already being processed end on time.
    pub fn pause(&mut self, ctx: &mut Ctx, duration_ns: u64) {
        if self.running {
            self.paused_until_ns = self.paused_until_ns.max(ctx.now_ns + duration_ns);
        }
    }

    /// `consumer-slow`: records polled during the window take `factor` times longer.
    pub fn slow_down(&mut self, ctx: &mut Ctx, factor: f64, duration_ns: u64) {
        if self.running {
            self.slow = Some((factor, ctx.now_ns + duration_ns));
        }
    }
}
