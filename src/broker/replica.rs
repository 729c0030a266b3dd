//! One broker's replica of one partition: its log, leader-epoch cache and idempotent-producer
//! state, and, while it leads, what it knows of its followers (Kafka's `Partition` and
//! `Replica`): follower log ends and catch-up times, the ISR, the high-watermark rule and ISR
//! expansion and shrinking.

use super::log::{LogBatch, PartitionLog};
use super::txn_index::TxnIndex;
use crate::ids::BrokerId;
use crate::msg::{ErrorCode, PartitionState};
use smallvec::SmallVec;
use std::collections::{BTreeMap, VecDeque};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`.
const PRODUCER_BATCHES_RETAINED: usize = 5;

/// What the leader knows of one follower (Kafka's `Replica` state).
#[derive(Debug, Clone, Default)]
pub struct FollowerState {
    /// The broker epoch (process incarnation) of the follower's latest fetch.
    pub broker_epoch: u32,
    /// None until the follower's first fetch to this leader.
    pub log_end_offset: Option<u64>,
    pub last_fetch_ns: u64,
    pub last_fetch_leader_end_offset: u64,
    pub last_caught_up_ns: u64,
    /// Whether the follower is in the committed ISR (kept by `LeaderState::set_isr`), so a
    /// fetch's expansion check need not look at the ISR.
    pub in_isr: bool,
}

#[derive(Debug, Clone)]
pub struct LeaderState {
    pub isr: Vec<BrokerId>,
    /// An AlterPartition in flight: the proposed ISR, and when it was sent.
    pub pending_isr: Option<Vec<BrokerId>>,
    pub pending_since_ns: u64,
    pub partition_epoch: u32,
    pub followers: Followers,
    /// First offset of the current leader epoch.
    pub epoch_start_offset: u64,
}

/// The followers' states in broker order: two or three entries, so a sorted vector (every
/// follower fetch looks its state up, for every partition it fetches).
#[derive(Debug, Clone, Default)]
pub struct Followers(Vec<(BrokerId, FollowerState)>);

impl FromIterator<(BrokerId, FollowerState)> for Followers {
    fn from_iter<I: IntoIterator<Item = (BrokerId, FollowerState)>>(items: I) -> Self {
        let mut followers: Vec<(BrokerId, FollowerState)> = items.into_iter().collect();
        followers.sort_by_key(|&(broker, _)| broker);
        followers.dedup_by_key(|&mut (broker, _)| broker);
        Followers(followers)
    }
}

impl Followers {
    pub fn get(&self, broker: &BrokerId) -> Option<&FollowerState> {
        (self.0.iter())
            .find(|(candidate, _)| candidate == broker)
            .map(|(_, state)| state)
    }

    /// The state of `broker`, added (default) if absent.
    pub fn entry_or_default(&mut self, broker: BrokerId) -> &mut FollowerState {
        let found = (self.0).binary_search_by_key(&broker, |&(candidate, _)| candidate);
        let position = match found {
            Ok(position) => position,
            Err(position) => {
                self.0.insert(position, (broker, FollowerState::default()));
                position
            }
        };
        &mut self.0[position].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&BrokerId, &FollowerState)> {
        self.0.iter().map(|(broker, state)| (broker, state))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut (BrokerId, FollowerState)> {
        self.0.iter_mut()
    }
}

impl LeaderState {
    pub fn set_isr(&mut self, isr: Vec<BrokerId>) {
        for (broker, follower) in self.followers.iter_mut() {
            follower.in_isr = isr.contains(broker);
        }
        self.isr = isr;
    }

    /// Whether `broker` is in the maximal ISR: the committed ISR plus any pending expansion (a
    /// pending shrink still counts the old members).
    pub fn in_maximal_isr(&self, broker: &BrokerId) -> bool {
        self.isr.contains(broker)
            || self
                .pending_isr
                .as_ref()
                .is_some_and(|isr| isr.contains(broker))
    }

    /// The size of the maximal ISR.
    pub fn maximal_isr_len(&self) -> usize {
        let pending_new = (self.pending_isr.iter().flatten())
            .filter(|broker| !self.isr.contains(broker))
            .count();
        self.isr.len() + pending_new
    }
}

#[derive(Debug, Clone)]
pub enum Role {
    Leader(LeaderState),
    Follower { leader: Option<BrokerId> },
}

/// One retained batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProducerBatchMeta {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: u64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: u16,
    batches: VecDeque<ProducerBatchMeta>,
}

/// The outcome of checking an incoming batch against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already in the log: acknowledge with the original base offset, append nothing.
    Duplicate(u64),
    Reject(ErrorCode),
}

#[derive(Debug)]
pub struct Replica {
    pub log: PartitionLog,
    pub leader_epoch: u32,
    /// (epoch, start offset) in increasing order.
    epoch_cache: Vec<(u32, u64)>,
    /// `epoch_cache`'s last entry, kept beside it: every fetch of every partition asks for it.
    last_epoch_entry: Option<(u32, u64)>,
    pub role: Role,
    pub replicas: Vec<BrokerId>,
    producers: BTreeMap<u64, ProducerEntry>,
    /// Open and ended transactions (the last stable offset, the aborted index).
    pub txns: TxnIndex,
    /// Latest offset each group (by index) committed here, as told while leading.
    group_positions: Vec<(usize, u64)>,
    /// The lowest position among the groups reading this topic, once computed (a commit
    /// clears it): trimming asks for it after every follower fetch.
    pub readers_floor: Option<u64>,
    /// The leader's produce purgatory, watched by partition (Kafka's watcher keys): the
    /// delayed produces that waited on this partition when parked, as (id, index of this
    /// partition's result), oldest first. One answered since, or done with this partition, is
    /// dropped when the list is next read.
    pub delayed_produces: Vec<(u64, usize)>,
    /// While leading: this partition's index in the fetch session of the follower at the same
    /// position in `replicas`, as last found (a hint, checked before use).
    pub session_hints: SmallVec<[u32; 4]>,
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl Replica {
    pub fn new(replicas: Vec<BrokerId>) -> Self {
        Replica {
            log: PartitionLog::default(),
            leader_epoch: 0,
            epoch_cache: Vec::new(),
            last_epoch_entry: None,
            role: Role::Follower { leader: None },
            replicas,
            producers: BTreeMap::new(),
            txns: TxnIndex::default(),
            group_positions: Vec::new(),
            readers_floor: None,
            delayed_produces: Vec::new(),
            session_hints: SmallVec::new(),
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn leader_state(&self) -> Option<&LeaderState> {
        match &self.role {
            Role::Leader(state) => Some(state),
            Role::Follower { .. } => None,
        }
    }

    pub fn last_epoch(&self) -> Option<u32> {
        self.last_epoch_entry.map(|(epoch, _)| epoch)
    }

    /// The end offset of `epoch` in this log: the start of the next higher epoch, or the log end
    /// (Kafka's `LeaderEpochFileCache.endOffsetFor`). None if the epoch predates the cache.
    pub fn end_offset_for(&self, epoch: u32) -> Option<(u32, u64)> {
        if let Some((last, _)) = self.last_epoch_entry.filter(|&(last, _)| last <= epoch) {
            return Some((last, self.log.log_end_offset));
        }
        let position = self
            .epoch_cache
            .iter()
            .rposition(|&(cached, _)| cached <= epoch)?;
        let found_epoch = self.epoch_cache[position].0;
        let end = self
            .epoch_cache
            .get(position + 1)
            .map_or(self.log.log_end_offset, |&(_, start)| start);
        Some((found_epoch, end))
    }

    fn note_epoch(&mut self, epoch: u32, start_offset: u64) {
        if self.last_epoch().is_none_or(|last| epoch > last) {
            self.epoch_cache.push((epoch, start_offset));
            self.last_epoch_entry = Some((epoch, start_offset));
        }
    }

    /// Kafka's `analyzeAndValidateProducerState` for a batch the leader is about to append.
    pub fn check_sequence(
        &self,
        producer_id: u64,
        epoch: u16,
        first: i32,
        records: u32,
    ) -> SequenceCheck {
        let Some(entry) = self.producers.get(&producer_id) else {
            return SequenceCheck::Append;
        };
        let last = first.wrapping_add(records as i32 - 1).max(0);
        if epoch == entry.epoch {
            if let Some(meta) = entry
                .batches
                .iter()
                .find(|meta| meta.first_sequence == first && meta.last_sequence == last)
            {
                return SequenceCheck::Duplicate(meta.base_offset);
            }
        }
        if epoch < entry.epoch {
            return SequenceCheck::Reject(ErrorCode::InvalidProducerEpoch);
        }
        let expected = if epoch > entry.epoch {
            0
        } else {
            entry
                .batches
                .back()
                .map_or(first, |meta| next_sequence(meta.last_sequence))
        };
        if first == expected {
            SequenceCheck::Append
        } else {
            SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
        }
    }

    /// Appends a batch (leader or follower) and keeps the producer state in step.
    pub fn append(&mut self, mut batch: LogBatch) -> u64 {
        let base_offset = self.log.log_end_offset;
        batch.base_offset = base_offset;
        self.note_epoch(batch.leader_epoch, base_offset);
        if batch.data.control.is_some() {
            // A transaction marker carries the coordinator's epoch for the producer: a bumped
            // epoch (a fenced or timed-out transaction) fences the older one here too.
            let entry = self.producers.entry(batch.data.producer_id).or_default();
            if batch.data.producer_epoch > entry.epoch {
                entry.epoch = batch.data.producer_epoch;
                entry.batches.clear();
            }
        }
        if let Some(first) = batch.data.base_sequence {
            let records = batch.data.records;
            let entry = self.producers.entry(batch.data.producer_id).or_default();
            if batch.data.producer_epoch != entry.epoch {
                entry.epoch = batch.data.producer_epoch;
                entry.batches.clear();
            }
            let last = first.wrapping_add(records as i32 - 1).max(0);
            assert!(
                !entry
                    .batches
                    .iter()
                    .any(|meta| meta.first_sequence == first),
                "idempotence: (pid {}, epoch {}, seq {first}) appended twice",
                batch.data.producer_id,
                entry.epoch
            );
            entry.batches.push_back(ProducerBatchMeta {
                first_sequence: first,
                last_sequence: last,
                base_offset,
            });
            if entry.batches.len() > PRODUCER_BATCHES_RETAINED {
                entry.batches.pop_front();
            }
        }
        self.txns.appended(&batch);
        self.log.append_batch(batch);
        base_offset
    }

    /// The latest offset `group` committed here (0 if none).
    pub fn group_position(&self, group: usize) -> u64 {
        (self.group_positions.iter())
            .find(|&&(candidate, _)| candidate == group)
            .map_or(0, |&(_, offset)| offset)
    }

    /// A group committed `offset`: positions only move forward.
    pub fn note_group_commit(&mut self, group: usize, offset: u64) {
        self.readers_floor = None;
        match (self.group_positions.iter_mut()).find(|(candidate, _)| *candidate == group) {
            Some((_, position)) => *position = (*position).max(offset),
            None => self.group_positions.push((group, offset)),
        }
    }

    /// The last stable offset (KIP-98): below it no transaction is open.
    pub fn last_stable_offset(&self) -> u64 {
        self.txns.last_stable_offset(self.log.high_watermark)
    }

    /// Removes everything at or above `offset` (follower truncation); returns the removed batches.
    pub fn truncate_to(&mut self, offset: u64) -> Vec<LogBatch> {
        let removed = self.log.truncate_to(offset);
        self.txns.truncated(self.log.log_end_offset);
        self.epoch_cache.retain(|&(_, start)| start < offset);
        self.last_epoch_entry = self.epoch_cache.last().copied();
        // Model limit: producer state is trimmed of removed batches rather than rebuilt from a snapshot.
        for entry in self.producers.values_mut() {
            entry.batches.retain(|meta| meta.base_offset < offset);
        }
        self.producers
            .retain(|_, entry| !entry.batches.is_empty() || entry.epoch > 0);
        removed
    }

    /// Applies a partition state from the controller. Returns true if this replica just became
    /// the leader.
    pub fn apply_state(&mut self, me: BrokerId, state: &PartitionState, now_ns: u64) -> bool {
        self.replicas = state.replicas.clone();
        if state.leader_epoch < self.leader_epoch {
            return false;
        }
        if state.leader == Some(me) {
            if let Role::Leader(leader) = &mut self.role {
                if state.leader_epoch == self.leader_epoch {
                    if state.partition_epoch >= leader.partition_epoch {
                        leader.set_isr(state.isr.clone());
                        leader.partition_epoch = state.partition_epoch;
                        leader.pending_isr = None;
                    }
                    return false;
                }
            }
            self.become_leader(me, state, now_ns);
            return true;
        }
        self.leader_epoch = state.leader_epoch;
        self.role = Role::Follower {
            leader: state.leader,
        };
        false
    }

    fn become_leader(&mut self, me: BrokerId, state: &PartitionState, now_ns: u64) {
        self.leader_epoch = state.leader_epoch;
        let end = self.log.log_end_offset;
        self.note_epoch(state.leader_epoch, end);
        let followers = state
            .replicas
            .iter()
            .filter(|&&broker| broker != me)
            .map(|&broker| {
                let in_isr = state.isr.contains(&broker);
                let follower = FollowerState {
                    broker_epoch: 0,
                    log_end_offset: None,
                    last_fetch_ns: 0,
                    last_fetch_leader_end_offset: 0,
                    last_caught_up_ns: if in_isr { now_ns } else { 0 },
                    in_isr,
                };
                (broker, follower)
            })
            .collect();
        self.role = Role::Leader(LeaderState {
            isr: state.isr.clone(),
            pending_isr: None,
            pending_since_ns: 0,
            partition_epoch: state.partition_epoch,
            followers,
            epoch_start_offset: end,
        });
    }

    /// Kafka's `Replica.updateFetchStateOrThrow` on the leader, for a follower's fetch.
    pub fn update_follower(
        &mut self,
        follower: BrokerId,
        broker_epoch: u32,
        fetch_offset: u64,
        now_ns: u64,
    ) {
        let leader_end = self.log.log_end_offset;
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        if leader.followers.get(&follower).is_none() {
            // A follower not listed among the replicas at election (see `become_leader`).
            let in_isr = leader.isr.contains(&follower);
            leader.followers.entry_or_default(follower).in_isr = in_isr;
        }
        let state = leader.followers.entry_or_default(follower);
        if fetch_offset >= leader_end {
            state.last_caught_up_ns = state.last_caught_up_ns.max(now_ns);
        } else if fetch_offset >= state.last_fetch_leader_end_offset {
            state.last_caught_up_ns = state.last_caught_up_ns.max(state.last_fetch_ns);
        }
        state.broker_epoch = broker_epoch;
        state.last_fetch_leader_end_offset = leader_end;
        state.last_fetch_ns = now_ns;
        state.log_end_offset = Some(fetch_offset.min(leader_end));
    }

    /// A follower's fetch session left this partition unread since it caught up (see
    /// `fetch_session`): its fetches since then, the last at `last_fetch_ns`, each found it at
    /// the log end. Applies them before the partition changes, as Kafka's reads would have.
    pub fn catch_up_lazily(
        &mut self,
        follower: BrokerId,
        broker_epoch: u32,
        fetch_offset: u64,
        last_fetch_ns: u64,
    ) {
        let leader_end = self.log.log_end_offset;
        let Role::Leader(leader) = &self.role else {
            return;
        };
        let behind = leader.followers.get(&follower).is_some_and(|state| {
            state.log_end_offset == Some(leader_end) && state.last_fetch_ns < last_fetch_ns
        });
        if behind && fetch_offset == leader_end {
            self.update_follower(follower, broker_epoch, fetch_offset, last_fetch_ns);
        }
    }

    /// Kafka's `maybeIncrementLeaderHW`: the minimum log end over the maximal ISR and over
    /// caught-up replicas about to join it; only while |ISR| ≥ min.insync.replicas (Kafka 3.7+).
    /// Returns whether the high watermark moved.
    pub fn maybe_advance_high_watermark(
        &mut self,
        now_ns: u64,
        lag_max_ns: u64,
        min_insync: u32,
        fenced: &[BrokerId],
    ) -> bool {
        let leader_end = self.log.log_end_offset;
        let Role::Leader(leader) = &self.role else {
            return false;
        };
        if (leader.isr.len() as u32) < min_insync {
            return false;
        }
        let mut new_hw = leader_end;
        for (broker, follower) in leader.followers.iter() {
            let end = follower.log_end_offset.unwrap_or(0);
            let caught_up = end == leader_end
                || now_ns.saturating_sub(follower.last_caught_up_ns) <= lag_max_ns;
            // Kafka's `isReplicaIsrEligible`: a fenced broker is never about to join the ISR.
            let eligible =
                caught_up && follower.log_end_offset.is_some() && !fenced.contains(broker);
            let counts = eligible || leader.in_maximal_isr(broker);
            if counts && end < new_hw {
                new_hw = end;
            }
        }
        if new_hw > self.log.high_watermark {
            self.log.advance_high_watermark(new_hw);
            true
        } else {
            false
        }
    }

    /// Followers that fell out of sync (Kafka's `getOutOfSyncReplicas`), if no ISR change is
    /// pending: the ISR to propose without them.
    pub fn shrink_proposal(
        &self,
        me: BrokerId,
        now_ns: u64,
        lag_max_ns: u64,
    ) -> Option<Vec<BrokerId>> {
        let leader = self.leader_state()?;
        if leader.pending_isr.is_some() {
            return None;
        }
        let leader_end = self.log.log_end_offset;
        let out: Vec<BrokerId> = leader
            .isr
            .iter()
            .copied()
            .filter(|&broker| broker != me)
            .filter(|broker| {
                let follower = leader.followers.get(broker).cloned().unwrap_or_default();
                follower.log_end_offset != Some(leader_end)
                    && now_ns.saturating_sub(follower.last_caught_up_ns) > lag_max_ns
            })
            .collect();
        if out.is_empty() {
            return None;
        }
        Some(
            leader
                .isr
                .iter()
                .copied()
                .filter(|broker| !out.contains(broker))
                .collect(),
        )
    }

    /// Kafka's `isFollowerInSync` check for expansion: the ISR to propose with `follower` added.
    pub fn expand_proposal(&self, follower: BrokerId) -> Option<Vec<BrokerId>> {
        let leader = self.leader_state()?;
        if leader.pending_isr.is_some() {
            return None;
        }
        let state = leader.followers.get(&follower)?;
        debug_assert_eq!(state.in_isr, leader.isr.contains(&follower));
        if state.in_isr {
            return None;
        }
        let end = state.log_end_offset?;
        if end >= self.log.high_watermark && end >= leader.epoch_start_offset {
            let mut isr = leader.isr.clone();
            isr.push(follower);
            Some(isr)
        } else {
            None
        }
    }

    pub fn set_pending_isr(&mut self, isr: Vec<BrokerId>, now_ns: u64) {
        if let Role::Leader(leader) = &mut self.role {
            leader.pending_isr = Some(isr);
            leader.pending_since_ns = now_ns;
        }
    }

    /// An AlterPartition whose answer never came (lost) stops blocking ISR changes after
    /// `timeout_ns`; returns whether this call dropped it.
    pub fn expire_pending_isr(&mut self, now_ns: u64, timeout_ns: u64) -> bool {
        if let Role::Leader(leader) = &mut self.role {
            if leader.pending_isr.is_some() && now_ns >= leader.pending_since_ns + timeout_ns {
                leader.pending_isr = None;
                return true;
            }
        }
        false
    }

    pub fn clear_pending_isr(&mut self) {
        if let Role::Leader(leader) = &mut self.role {
            leader.pending_isr = None;
        }
    }
}
