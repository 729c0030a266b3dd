//! The transactional producer's client state (the transactional half of Kafka's
//! `TransactionManager`): finding the transaction coordinator, `initTransactions()`
//! (InitProducerId), registering partitions before their first batch is sent
//! (AddPartitionsToTxn, and AddOffsetsToTxn for a consume-transform-produce group), and ending
//! the transaction (EndTxn) once every batch of it is acknowledged. One coordinator request is
//! in flight at a time, as in Kafka.

use crate::ids::{BrokerId, TopicPartition};
use crate::msg::{TxnError, TxnRequestBody};
use std::collections::BTreeSet;

/// Where the transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for InitProducerId (after the start, a restart or a fence).
    Initializing,
    /// No transaction open: the next record opens one.
    Ready,
    /// A transaction is open since `started_ns`.
    Open { started_ns: u64 },
    /// `commitTransaction()` / `abortTransaction()` since `started_ns`: the application thread
    /// is blocked until every batch is acknowledged and EndTxn answers.
    Ending { commit: bool, started_ns: u64 },
    /// ProducerFencedException: fatal for this producer instance.
    Fenced,
}

/// The request the client sends next, when it may.
#[derive(Debug, Clone)]
pub struct Pending {
    pub request_id: u64,
    pub body: TxnRequestBody,
    pub deadline_ns: u64,
}

#[derive(Debug, Clone)]
pub struct TxnClient {
    /// The transactional id's index in the world.
    pub txn: usize,
    pub transaction_timeout_ns: u64,
    pub phase: Phase,
    pub producer_id: u64,
    pub epoch: u16,
    pub coordinator: Option<BrokerId>,
    /// FindCoordinator in flight: (request id, broker asked, deadline).
    pub find_in_flight: Option<(u64, BrokerId, u64)>,
    pub next_find_broker: u32,
    /// The coordinator request in flight.
    pub in_flight: Option<Pending>,
    /// No coordinator request before this time (`retry.backoff.ms` after CONCURRENT_TRANSACTIONS
    /// or a lost coordinator).
    pub retry_at_ns: u64,
    /// Partitions the coordinator has registered for the open transaction.
    pub added: BTreeSet<u32>,
    /// Partitions with records waiting to be registered.
    pub to_add: BTreeSet<u32>,
    /// The consumer group whose offsets go in the transaction (consume-transform-produce).
    pub group: Option<usize>,
    pub group_added: bool,
    /// A batch of the open transaction failed: it can only be aborted.
    pub must_abort: bool,
    /// Records appended in the open transaction.
    pub records_in_txn: u64,
    /// consume-transform-produce: the consumer must send its TxnOffsetCommit before EndTxn;
    /// `Some(result)` once it has answered.
    pub offsets_outcome: Option<bool>,
    /// Told the consumer the output is flushed (it then sends its offsets).
    pub flushed_told: bool,
}

impl TxnClient {
    pub fn new(txn: usize, transaction_timeout_ns: u64, group: Option<usize>) -> Self {
        TxnClient {
            txn,
            transaction_timeout_ns,
            phase: Phase::Initializing,
            producer_id: 0,
            epoch: 0,
            coordinator: None,
            find_in_flight: None,
            next_find_broker: 0,
            in_flight: None,
            retry_at_ns: 0,
            added: BTreeSet::new(),
            to_add: BTreeSet::new(),
            group,
            group_added: false,
            must_abort: false,
            records_in_txn: 0,
            offsets_outcome: None,
            flushed_told: false,
        }
    }

    /// Whether records may be appended now (a transaction is open or may open).
    pub fn accepts_records(&self) -> bool {
        matches!(self.phase, Phase::Ready | Phase::Open { .. })
    }

    /// A record goes to `partition`: opens the transaction if none is, and registers the
    /// partition if it is new to it.
    pub fn record_appended(&mut self, partition: u32, now_ns: u64) {
        if self.phase == Phase::Ready {
            self.phase = Phase::Open { started_ns: now_ns };
        }
        self.records_in_txn += 1;
        if !self.added.contains(&partition) {
            self.to_add.insert(partition);
        }
    }

    /// Whether a batch for `partition` may be sent (Kafka's `isSendToPartitionAllowed`).
    pub fn may_send(&self, partition: u32) -> bool {
        self.added.contains(&partition)
    }

    /// `commitTransaction()` (or abort) at `now_ns`: starts ending the open transaction (or does
    /// nothing when none is open).
    pub fn begin_end(&mut self, commit: bool, now_ns: u64) {
        if let Phase::Open { .. } = self.phase {
            self.phase = Phase::Ending {
                commit: commit && !self.must_abort,
                started_ns: now_ns,
            };
        }
    }

    /// The next coordinator request to send, given whether every batch is acknowledged.
    pub fn next_request(
        &self,
        flushed: bool,
        topic_partition: impl Fn(u32) -> TopicPartition,
    ) -> Option<TxnRequestBody> {
        match self.phase {
            Phase::Initializing => Some(TxnRequestBody::InitProducerId {
                transaction_timeout_ns: self.transaction_timeout_ns,
            }),
            Phase::Open { .. } | Phase::Ending { .. }
                if !self.to_add.is_empty() || (self.group.is_some() && !self.group_added) =>
            {
                Some(TxnRequestBody::AddPartitions {
                    partitions: self.to_add.iter().map(|&p| topic_partition(p)).collect(),
                    group: self.group.filter(|_| !self.group_added),
                })
            }
            Phase::Ending { commit, .. } if flushed => {
                if self.group.is_some() && commit && self.offsets_outcome.is_none() {
                    // Waiting for the consumer's TxnOffsetCommit.
                    return None;
                }
                let commit = commit && self.offsets_outcome.unwrap_or(true) && !self.must_abort;
                Some(TxnRequestBody::EndTxn { commit })
            }
            _ => None,
        }
    }

    /// The coordinator granted a producer id and epoch.
    pub fn initialized(&mut self, producer_id: u64, epoch: u16) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.phase = Phase::Ready;
        self.reset_transaction();
    }

    /// A transaction ended (or was abandoned): nothing registered any more.
    pub fn reset_transaction(&mut self) {
        self.added.clear();
        self.to_add.clear();
        self.group_added = false;
        self.must_abort = false;
        self.records_in_txn = 0;
        self.offsets_outcome = None;
        self.flushed_told = false;
    }

    /// The errors Kafka's client retries: a moved coordinator is looked up again.
    pub fn retriable(&mut self, error: TxnError, now_ns: u64, backoff_ns: u64) {
        if error == TxnError::NotCoordinator {
            self.coordinator = None;
        }
        self.retry_at_ns = now_ns + backoff_ns;
    }
}
