//! Transaction coordinators (Kafka's `TransactionCoordinator` and `TransactionStateManager`):
//! one per `transactional.id`, on the broker that leads the id's `__transaction_state`
//! partition (`abs(hashCode) % 50`, placed and failed over like the group coordinators).
//!
//! The state machine: Empty → Ongoing (the first AddPartitionsToTxn) → PrepareCommit or
//! PrepareAbort (EndTxn) → CompleteCommit or CompleteAbort once every partition leader (and the
//! group coordinator, for the offsets) has written the transaction marker. InitProducerId bumps
//! the epoch; during an open transaction it fences the older producer first (PrepareEpochFence:
//! the epoch is bumped and the transaction aborted), answering CONCURRENT_TRANSACTIONS until the
//! abort is complete. `transaction.timeout.ms` expiry does the same, found by the coordinator's
//! periodic check (`transaction.abort.timed.out.transaction.cleanup.interval.ms`, 10 s).
//!
//! Model limits: the transaction's state record survives a failover without being modelled as a
//! replicated log (as the group coordinators' records do); EndTxn is answered once the markers
//! are written (Kafka answers once PrepareCommit is logged, and the next transaction's
//! AddPartitionsToTxn then waits with CONCURRENT_TRANSACTIONS until the markers are written:
//! the producer sees the same wait, in its commit instead of in its next transaction).

use crate::ids::{BrokerId, NodeId, TopicPartition};
use crate::msg::{Message, TxnError, TxnMarkers, TxnRequest, TxnRequestBody, TxnResponse};
use crate::sim::time::ms_to_ns;
use crate::world::Ctx;
use std::collections::{BTreeMap, BTreeSet};

/// Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms` default.
pub const TIMEOUT_CHECK_INTERVAL_NS: u64 = ms_to_ns(10_000);
/// How long the coordinator waits before writing markers again to partitions that failed (no
/// leader, a leader change); Kafka's marker channel retries after `retry.backoff.ms`.
const MARKER_RETRY_NS: u64 = ms_to_ns(100);
/// A marker request with no answer by then is sent again (the channel's request timeout).
const MARKER_TIMEOUT_NS: u64 = ms_to_ns(30_000);

/// Timer kinds of a transaction coordinator.
pub const EXPIRY_TIMER: u32 = 0;
pub const MARKER_TIMER: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// InitProducerId or the timeout fenced an open transaction; it becomes PrepareAbort at once.
    PrepareEpochFence,
}

/// Where markers go: a partition's leader, or a group's coordinator (for the offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerTarget {
    Partition(TopicPartition),
    Group(usize),
}

/// What the coordinator settled, for the world's metrics and invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    Committed,
    Aborted,
}

pub struct TxnCoordinator {
    pub index: usize,
    pub transactional_id: String,
    pub broker: BrokerId,
    /// The process incarnation of `broker` the state was loaded into.
    pub incarnation: u32,
    pub loaded: bool,
    /// The id's `__transaction_state` partition has no leader.
    pub offline: bool,
    // The stored transaction state (survives a failover).
    producer_id: u64,
    pub epoch: u16,
    initialized: bool,
    pub state: TxnState,
    timeout_ns: u64,
    partitions: BTreeSet<TopicPartition>,
    group: Option<usize>,
    started_ns: u64,
    /// Whether the transaction being completed commits.
    committing: bool,
    // In memory only.
    pending: BTreeSet<MarkerTarget>,
    /// Marker requests sent and not answered: request id → (broker, targets).
    outstanding: BTreeMap<u64, (BrokerId, Vec<MarkerTarget>)>,
    next_request_id: u64,
    /// The EndTxn to answer once the markers are written: (client, request id).
    end_waiter: Option<(NodeId, u64)>,
    pub failovers: u32,
}

impl TxnCoordinator {
    pub fn new(index: usize, transactional_id: &str, broker: BrokerId) -> Self {
        TxnCoordinator {
            index,
            transactional_id: transactional_id.to_string(),
            broker,
            incarnation: 0,
            loaded: true,
            offline: false,
            producer_id: (1 << 40) + index as u64,
            epoch: 0,
            initialized: false,
            state: TxnState::Empty,
            timeout_ns: ms_to_ns(60_000),
            partitions: BTreeSet::new(),
            group: None,
            started_ns: 0,
            committing: false,
            pending: BTreeSet::new(),
            outstanding: BTreeMap::new(),
            next_request_id: 0,
            end_waiter: None,
            failovers: 0,
        }
    }

    pub fn producer_id(&self) -> u64 {
        self.producer_id
    }

    fn reply(
        &self,
        ctx: &mut Ctx,
        to: NodeId,
        request_id: u64,
        error: Option<TxnError>,
        granted: Option<(u64, u16)>,
    ) {
        let response = TxnResponse {
            request_id,
            error,
            granted,
        };
        ctx.send(NodeId::Broker(self.broker), to, Message::TxnReply(response));
    }

    /// Handles one client request; `route` names where each marker target is now.
    pub fn handle(
        &mut self,
        ctx: &mut Ctx,
        from: NodeId,
        request: TxnRequest,
        route: &dyn Fn(MarkerTarget) -> Option<BrokerId>,
    ) -> Option<TxnOutcome> {
        let id = request.request_id;
        match request.body {
            TxnRequestBody::InitProducerId {
                transaction_timeout_ns,
            } => {
                self.timeout_ns = transaction_timeout_ns;
                match self.state {
                    TxnState::Ongoing => {
                        // A new instance while the old one's transaction is open: fence it.
                        ctx.metrics.transaction_fenced();
                        self.fence_and_abort(ctx, route);
                        self.reply(ctx, from, id, Some(TxnError::ConcurrentTransactions), None);
                    }
                    TxnState::PrepareCommit
                    | TxnState::PrepareAbort
                    | TxnState::PrepareEpochFence => {
                        self.reply(ctx, from, id, Some(TxnError::ConcurrentTransactions), None);
                    }
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                        if self.initialized {
                            self.epoch = self.epoch.wrapping_add(1);
                        }
                        self.initialized = true;
                        self.state = TxnState::Empty;
                        let granted = Some((self.producer_id, self.epoch));
                        self.reply(ctx, from, id, None, granted);
                    }
                }
                None
            }
            _ if request.producer_epoch != self.epoch
                || request.producer_id != self.producer_id =>
            {
                self.reply(ctx, from, id, Some(TxnError::ProducerFenced), None);
                None
            }
            TxnRequestBody::AddPartitions { partitions, group } => {
                match self.state {
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                        self.state = TxnState::Ongoing;
                        self.started_ns = ctx.now_ns;
                        self.partitions.clear();
                        self.group = None;
                        self.arm_expiry(ctx);
                    }
                    TxnState::Ongoing => {}
                    _ => {
                        self.reply(ctx, from, id, Some(TxnError::ConcurrentTransactions), None);
                        return None;
                    }
                }
                self.partitions.extend(partitions);
                if group.is_some() {
                    self.group = group;
                }
                self.reply(ctx, from, id, None, None);
                None
            }
            TxnRequestBody::EndTxn { commit } => match (self.state, commit) {
                (TxnState::Ongoing, _) => {
                    self.prepare(ctx, commit, route);
                    self.end_waiter = Some((from, id));
                    self.try_complete(ctx)
                }
                (TxnState::Empty, false)
                | (TxnState::CompleteCommit, true)
                | (TxnState::CompleteAbort, false) => {
                    self.reply(ctx, from, id, None, None);
                    None
                }
                (TxnState::Empty, true) => {
                    // Nothing was registered: committing nothing succeeds.
                    self.reply(ctx, from, id, None, None);
                    None
                }
                _ => {
                    self.reply(ctx, from, id, Some(TxnError::ConcurrentTransactions), None);
                    None
                }
            },
        }
    }

    /// The next cleanup check at or after the transaction's deadline.
    fn arm_expiry(&self, ctx: &mut Ctx) {
        // Checks run every interval from the start; a transaction loaded past its deadline is
        // found at the next one.
        let deadline_ns = self
            .started_ns
            .saturating_add(self.timeout_ns)
            .max(ctx.now_ns);
        let at_ns = deadline_ns.div_ceil(TIMEOUT_CHECK_INTERVAL_NS) * TIMEOUT_CHECK_INTERVAL_NS;
        ctx.set_txn_timer(self.index, EXPIRY_TIMER, at_ns);
    }

    /// PrepareEpochFence: bump the epoch (the old producer's requests are refused from now on)
    /// and abort its transaction with markers of the new epoch.
    fn fence_and_abort(&mut self, ctx: &mut Ctx, route: &dyn Fn(MarkerTarget) -> Option<BrokerId>) {
        self.state = TxnState::PrepareEpochFence;
        self.epoch = self.epoch.wrapping_add(1);
        self.prepare(ctx, false, route);
    }

    fn prepare(
        &mut self,
        ctx: &mut Ctx,
        commit: bool,
        route: &dyn Fn(MarkerTarget) -> Option<BrokerId>,
    ) {
        ctx.cancel_txn_timer(self.index, EXPIRY_TIMER);
        self.committing = commit;
        self.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        self.pending = self
            .partitions
            .iter()
            .map(|&tp| MarkerTarget::Partition(tp))
            .chain(self.group.map(MarkerTarget::Group))
            .collect();
        self.outstanding.clear();
        self.send_markers(ctx, route);
    }

    /// Sends markers to every pending target not already waiting for an answer.
    fn send_markers(&mut self, ctx: &mut Ctx, route: &dyn Fn(MarkerTarget) -> Option<BrokerId>) {
        let waiting: BTreeSet<MarkerTarget> = self
            .outstanding
            .values()
            .flat_map(|(_, targets)| targets)
            .copied()
            .collect();
        // One request per partition leader; a group's offsets go in a request of their own.
        let mut by_broker: BTreeMap<(BrokerId, Option<usize>), Vec<TopicPartition>> =
            BTreeMap::new();
        let mut unrouted = false;
        for &target in self
            .pending
            .iter()
            .filter(|target| !waiting.contains(target))
        {
            let Some(broker) = route(target) else {
                unrouted = true;
                continue;
            };
            match target {
                MarkerTarget::Partition(tp) => {
                    by_broker.entry((broker, None)).or_default().push(tp)
                }
                MarkerTarget::Group(group) => {
                    by_broker.entry((broker, Some(group))).or_default();
                }
            }
        }
        for ((broker, group), partitions) in by_broker {
            let request_id = self.next_request_id;
            self.next_request_id += 1;
            let targets: Vec<MarkerTarget> = match group {
                Some(group) => vec![MarkerTarget::Group(group)],
                None => partitions
                    .iter()
                    .map(|&tp| MarkerTarget::Partition(tp))
                    .collect(),
            };
            self.outstanding.insert(request_id, (broker, targets));
            let markers = TxnMarkers {
                request_id,
                txn: self.index,
                producer_id: self.producer_id,
                producer_epoch: self.epoch,
                commit: self.committing,
                partitions,
                group,
            };
            ctx.send(
                NodeId::Broker(self.broker),
                NodeId::Broker(broker),
                Message::WriteTxnMarkers(markers),
            );
        }
        let retry_ns = if unrouted {
            MARKER_RETRY_NS
        } else {
            MARKER_TIMEOUT_NS
        };
        if !self.pending.is_empty() {
            ctx.set_txn_timer(self.index, MARKER_TIMER, ctx.now_ns + retry_ns);
        }
    }

    /// A leader (or group coordinator) answered a marker request.
    pub fn on_markers_reply(
        &mut self,
        ctx: &mut Ctx,
        request_id: u64,
        failed: &[TopicPartition],
        group_failed: bool,
    ) -> Option<TxnOutcome> {
        let (_, targets) = self.outstanding.remove(&request_id)?;
        let mut any_failed = false;
        for target in targets {
            let failed_here = match target {
                MarkerTarget::Partition(tp) => failed.contains(&tp),
                MarkerTarget::Group(_) => group_failed,
            };
            if failed_here {
                any_failed = true;
            } else {
                self.pending.remove(&target);
            }
        }
        if any_failed {
            ctx.set_txn_timer(self.index, MARKER_TIMER, ctx.now_ns + MARKER_RETRY_NS);
        }
        self.try_complete(ctx)
    }

    /// Every marker written: the transaction is complete.
    fn try_complete(&mut self, ctx: &mut Ctx) -> Option<TxnOutcome> {
        if !self.pending.is_empty()
            || !matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return None;
        }
        ctx.cancel_txn_timer(self.index, MARKER_TIMER);
        self.outstanding.clear();
        let outcome = if self.committing {
            self.state = TxnState::CompleteCommit;
            TxnOutcome::Committed
        } else {
            self.state = TxnState::CompleteAbort;
            TxnOutcome::Aborted
        };
        ctx.metrics
            .transaction_completed(outcome == TxnOutcome::Committed);
        if let Some((client, request_id)) = self.end_waiter.take() {
            self.reply(ctx, client, request_id, None, None);
        }
        Some(outcome)
    }

    pub fn on_timer(
        &mut self,
        ctx: &mut Ctx,
        kind: u32,
        route: &dyn Fn(MarkerTarget) -> Option<BrokerId>,
    ) -> Option<TxnOutcome> {
        if !self.loaded {
            return None;
        }
        match kind {
            EXPIRY_TIMER => {
                let deadline_ns = self.started_ns.saturating_add(self.timeout_ns);
                if self.state == TxnState::Ongoing && ctx.now_ns >= deadline_ns {
                    ctx.metrics.transaction_timed_out();
                    self.fence_and_abort(ctx, route);
                    return self.try_complete(ctx);
                }
                None
            }
            _ => {
                // Answers still missing are given up on; everything pending goes again.
                self.outstanding.clear();
                self.send_markers(ctx, route);
                self.try_complete(ctx)
            }
        }
    }

    /// The coordinator's connection to `peer` was reset (its process died): the markers sent
    /// there are sent again, to wherever their partitions lead now, after the retry backoff.
    pub fn connection_closed(&mut self, ctx: &mut Ctx, peer: BrokerId) {
        let before = self.outstanding.len();
        self.outstanding.retain(|_, (broker, _)| *broker != peer);
        if self.outstanding.len() != before {
            ctx.set_txn_timer(self.index, MARKER_TIMER, ctx.now_ns + MARKER_RETRY_NS);
        }
    }

    /// The coordinator's broker died or lost the partition: in-memory state is gone.
    pub fn unload(&mut self, ctx: &mut Ctx) {
        self.loaded = false;
        self.outstanding.clear();
        self.end_waiter = None;
        ctx.cancel_txn_timer(self.index, EXPIRY_TIMER);
        ctx.cancel_txn_timer(self.index, MARKER_TIMER);
    }

    /// A broker takes over the `__transaction_state` partition and loads the stored state: a
    /// transaction being completed gets its markers written again, an open one its expiry check.
    pub fn load(
        &mut self,
        ctx: &mut Ctx,
        broker: BrokerId,
        incarnation: u32,
        route: &dyn Fn(MarkerTarget) -> Option<BrokerId>,
    ) -> Option<TxnOutcome> {
        self.unload(ctx);
        self.broker = broker;
        self.incarnation = incarnation;
        self.loaded = true;
        self.offline = false;
        self.failovers += 1;
        match self.state {
            TxnState::Ongoing => self.arm_expiry(ctx),
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                self.pending = self
                    .partitions
                    .iter()
                    .map(|&tp| MarkerTarget::Partition(tp))
                    .chain(self.group.map(MarkerTarget::Group))
                    .collect();
                self.send_markers(ctx, route);
                return self.try_complete(ctx);
            }
            _ => {}
        }
        None
    }
}
