//! A replica's transaction state (the transactional part of Kafka's `ProducerStateManager` and
//! its aborted-transaction index): the first offset of each producer's open transaction, and the
//! transactions that ended, with their marker offsets. Leaders and followers keep it in step
//! with their logs as batches are appended or truncated, so a new leader knows its open
//! transactions and its last stable offset at once.

use crate::broker::log::LogBatch;
use std::collections::BTreeMap;

/// A transaction that ended on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedTxn {
    pub producer_id: u64,
    pub first_offset: u64,
    /// Offset of the control marker that ended it.
    pub marker_offset: u64,
    pub aborted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TxnIndex {
    /// Producer id → first offset of its open transaction.
    open: BTreeMap<u64, u64>,
    /// Ended transactions in marker order.
    ended: Vec<EndedTxn>,
    /// Producer id → the highest epoch a marker carried: older epochs are fenced.
    fenced_below: BTreeMap<u64, u16>,
}

impl TxnIndex {
    /// A batch was appended at `batch.base_offset`.
    pub fn appended(&mut self, batch: &LogBatch) {
        let data = &batch.data;
        if !data.transactional {
            return;
        }
        match data.control {
            None => {
                // Invariant: a fenced producer's writes never reach a log (the leader refuses
                // an epoch older than the last marker's, so no follower gets one either).
                let fence = self
                    .fenced_below
                    .get(&data.producer_id)
                    .copied()
                    .unwrap_or(0);
                assert!(
                    data.producer_epoch >= fence,
                    "fenced producer's write appended: producer id {} epoch {} after a marker of epoch {fence} at offset {}",
                    data.producer_id,
                    data.producer_epoch,
                    batch.base_offset
                );
                self.open
                    .entry(data.producer_id)
                    .or_insert(batch.base_offset);
            }
            Some(commit) => {
                let fence = self.fenced_below.entry(data.producer_id).or_insert(0);
                *fence = (*fence).max(data.producer_epoch);
                // A marker for a producer with nothing open here (a retried marker, or a
                // partition the producer registered but never wrote to) ends nothing.
                if let Some(first_offset) = self.open.remove(&data.producer_id) {
                    self.ended.push(EndedTxn {
                        producer_id: data.producer_id,
                        first_offset,
                        marker_offset: batch.base_offset,
                        aborted: !commit,
                    });
                }
            }
        }
    }

    /// The log was truncated to `offset`: transactions whose marker is gone are open again (if
    /// they began below), and transactions that began at or above it are gone.
    pub fn truncated(&mut self, offset: u64) {
        while let Some(last) = self.ended.last().copied() {
            if last.marker_offset < offset {
                break;
            }
            self.ended.pop();
            if last.first_offset < offset {
                self.open.insert(last.producer_id, last.first_offset);
            }
        }
        self.open.retain(|_, first| *first < offset);
    }

    /// Kafka's last stable offset: the first offset of the earliest open transaction, capped by
    /// the high watermark.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        self.open
            .values()
            .copied()
            .min()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// Aborted transactions that overlap `[from, to)`, as (producer id, first offset), in first
    /// offset order (Kafka's `collectAbortedTransactions`).
    pub fn aborted_between(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut aborted: Vec<(u64, u64)> = self
            .ended
            .iter()
            .filter(|txn| txn.aborted && txn.first_offset < to && txn.marker_offset >= from)
            .map(|txn| (txn.producer_id, txn.first_offset))
            .collect();
        aborted.sort_by_key(|&(producer_id, first)| (first, producer_id));
        aborted
    }

    /// Forgets transactions that ended below the log start (nobody can fetch them any more).
    pub fn trim_before(&mut self, log_start_offset: u64) {
        let keep_from = self
            .ended
            .partition_point(|txn| txn.marker_offset < log_start_offset);
        if keep_from > 0 {
            self.ended.drain(..keep_from);
        }
    }

    pub fn open_transactions(&self) -> usize {
        self.open.len()
    }
}

/// A consumer's read_committed filter over fetched batches (Kafka's `CompletedFetch`): a
/// producer's transactional batches are dropped from the first offset of its aborted transaction
/// until its abort marker; control batches are never returned.
#[derive(Debug, Default)]
pub struct AbortedFilter {
    /// Aborted transactions not yet reached, by first offset.
    pending: Vec<(u64, u64)>,
    /// Producers whose aborted transaction is being skipped.
    skipping: Vec<u64>,
}

impl AbortedFilter {
    pub fn new(mut aborted: Vec<(u64, u64)>) -> Self {
        aborted.sort_by_key(|&(producer_id, first)| std::cmp::Reverse((first, producer_id)));
        AbortedFilter {
            pending: aborted,
            skipping: Vec::new(),
        }
    }

    /// Whether the application may see `batch`'s records.
    pub fn keep(&mut self, batch: &LogBatch) -> bool {
        while let Some(&(producer_id, first)) = self.pending.last() {
            if first > batch.next_offset().saturating_sub(1) {
                break;
            }
            self.pending.pop();
            if !self.skipping.contains(&producer_id) {
                self.skipping.push(producer_id);
            }
        }
        let data = &batch.data;
        match data.control {
            Some(commit) => {
                if !commit {
                    self.skipping.retain(|&id| id != data.producer_id);
                }
                false
            }
            None => !(data.transactional && self.skipping.contains(&data.producer_id)),
        }
    }
}
