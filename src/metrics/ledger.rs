//! The delivery ledger: which records each producer had acknowledged, and which are in the
//! partition logs as the current leaders hold them, as ranges of record ids per (producer,
//! partition), never one object per record. From them: records lost after acknowledgement,
//! copies beyond the first in a log, and records that landed before an earlier-sent one.
//!
//! A partition's log of record is its authoritative leader's (highest leader epoch). A new leader
//! whose log ends earlier drops the old leader's suffix from the ledger: those records are gone.

use crate::broker::log::LogBatch;
use crate::ids::{BrokerId, TopicPartition};
use crate::partition_map::PartitionMap;
use crate::producer::batch::BatchData;
use std::collections::BTreeMap;

/// Record ids of one producer in one partition, as ranges in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeList(pub Vec<(u64, u64)>);

impl RangeList {
    /// Adds `[first, first + count)` at the end, merging with a contiguous last range.
    pub fn push(&mut self, first: u64, count: u64) {
        if count == 0 {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.1 == first => last.1 += count,
            _ => self.0.push((first, first + count)),
        }
    }

    /// Removes `count` ids from the end (the suffix a truncation drops).
    pub fn pop_back(&mut self, mut count: u64) {
        while count > 0 {
            let Some(last) = self.0.last_mut() else {
                return;
            };
            let len = last.1 - last.0;
            if len > count {
                last.1 -= count;
                return;
            }
            count -= len;
            self.0.pop();
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(start, end)| end - start).sum()
    }

    /// The ids as a sorted set of disjoint ranges.
    pub fn union(&self) -> Vec<(u64, u64)> {
        let mut ranges = self.0.clone();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

/// Ids in `a` that are not in `b` (both sorted, disjoint).
fn difference_count(a: &[(u64, u64)], b: &[(u64, u64)]) -> u64 {
    let mut missing = 0;
    let mut j = 0;
    for &(start, end) in a {
        let mut cursor = start;
        while j < b.len() && b[j].1 <= cursor {
            j += 1;
        }
        let mut k = j;
        while cursor < end {
            match b.get(k) {
                Some(&(b_start, b_end)) if b_start < end => {
                    if b_start > cursor {
                        missing += b_start - cursor;
                    }
                    cursor = cursor.max(b_end);
                    k += 1;
                }
                _ => {
                    missing += end - cursor;
                    cursor = end;
                }
            }
        }
    }
    missing
}

/// Ids whose first copy landed before the first copy of an id sent earlier (a smaller id).
pub fn reordered_ranges(log: &RangeList) -> Vec<(u64, u64)> {
    // First copies, in log order.
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut firsts: Vec<(u64, u64)> = Vec::new();
    for &(start, end) in &log.0 {
        let mut cursor = start;
        for &(seen_start, seen_end) in &seen {
            if seen_end <= cursor || seen_start >= end {
                continue;
            }
            if seen_start > cursor {
                firsts.push((cursor, seen_start));
            }
            cursor = cursor.max(seen_end);
        }
        if cursor < end {
            firsts.push((cursor, end));
        }
        seen.push((start, end));
        seen = RangeList(seen).union();
    }
    // From the end: ids above the smallest id that lands later were overtaken.
    let mut ranges = Vec::new();
    let mut minimum_after = u64::MAX;
    for &(start, end) in firsts.iter().rev() {
        if minimum_after < end {
            let from = start.max(minimum_after + 1);
            if from < end {
                ranges.push((from, end));
            }
        }
        minimum_after = minimum_after.min(start);
    }
    ranges.reverse();
    ranges
}

/// Records whose first copy lands before the first copy of a record sent earlier.
fn reordered_count(log: &RangeList) -> u64 {
    reordered_ranges(log)
        .iter()
        .map(|(start, end)| end - start)
        .sum()
}

/// Delivery figures of `metrics.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFigures {
    pub lost_acked: u64,
    pub duplicates_in_log: u64,
    pub reordered: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Acknowledged record ids, by producer, then partition. Each acknowledgement and each
    /// leader append looks its partition up: partition maps, not trees.
    acked: Vec<PartitionMap<RangeList>>,
    logs: PartitionMap<BTreeMap<u32, RangeList>>,
    /// The broker and leader epoch whose log is the partition's log of record.
    authority: PartitionMap<(BrokerId, u32)>,
    /// Records removed from followers' logs by truncation (KIP-101), for reports.
    pub truncated_records: u64,
    /// Transactional batches, markers and consume-transform-produce outputs of each
    /// partition's log of record, by offset: what read_committed readers would see.
    pub txn_batches: BTreeMap<TopicPartition, BTreeMap<u64, std::rc::Rc<BatchData>>>,
}

impl Ledger {
    pub fn acked(&mut self, producer: u32, tp: TopicPartition, first: u64, count: u64) {
        let index = producer as usize;
        if index >= self.acked.len() {
            self.acked.resize_with(index + 1, PartitionMap::default);
        }
        self.acked[index].get_or_default(tp).push(first, count);
    }

    /// A leader appended a batch; it counts if that leader is the partition's authority.
    pub fn appended(&mut self, broker: BrokerId, epoch: u32, batch: &LogBatch) {
        let tp = batch.data.tp;
        let authority = match self.authority.get(&tp) {
            Some(&authority) => authority,
            None => {
                self.authority.insert(tp, (broker, epoch));
                (broker, epoch)
            }
        };
        if authority != (broker, epoch) {
            return;
        }
        let data = &batch.data;
        if data.transactional || data.origins.is_some() {
            self.txn_batches
                .entry(tp)
                .or_default()
                .insert(batch.base_offset, batch.data.clone());
        }
        if data.control.is_some() {
            // Transaction markers are not producer records.
            return;
        }
        self.logs
            .get_or_default(tp)
            .entry(data.producer)
            .or_default()
            .push(data.first_record_id, u64::from(data.records));
    }

    /// `broker` became leader of `tp` at `epoch`; `dropped` are the old authority's batches at or
    /// above the new leader's log end, which the new log of record does not have.
    pub fn leader_changed<'a>(
        &mut self,
        tp: TopicPartition,
        broker: BrokerId,
        epoch: u32,
        dropped: impl Iterator<Item = &'a LogBatch>,
    ) {
        if self
            .authority
            .get(&tp)
            .is_some_and(|&(_, current)| current > epoch)
        {
            return;
        }
        self.authority.insert(tp, (broker, epoch));
        self.drop_suffix(tp, dropped);
    }

    /// The log of record lost its last batches (`dropped`, a suffix in offset order).
    pub fn drop_suffix<'a>(
        &mut self,
        tp: TopicPartition,
        dropped: impl Iterator<Item = &'a LogBatch>,
    ) {
        let mut removed: BTreeMap<u32, u64> = BTreeMap::new();
        let mut dropped = dropped.peekable();
        if let (Some(first), Some(txn_log)) = (dropped.peek(), self.txn_batches.get_mut(&tp)) {
            txn_log.split_off(&first.base_offset);
        }
        for batch in dropped.filter(|batch| batch.data.control.is_none()) {
            *removed.entry(batch.data.producer).or_default() += u64::from(batch.data.records);
        }
        let logs = self.logs.get_or_default(tp);
        for (producer, count) in removed {
            if let Some(list) = logs.get_mut(&producer) {
                list.pop_back(count);
            }
        }
    }

    /// Acknowledged record ids per (producer, partition), in that order, for the checker.
    pub fn acked_ranges(&self) -> impl Iterator<Item = ((u32, TopicPartition), &RangeList)> {
        (self.acked.iter().enumerate()).flat_map(|(producer, by_partition)| {
            (by_partition.iter()).map(move |(&tp, acked)| ((producer as u32, tp), acked))
        })
    }

    /// Record ids per producer in each partition's log of record, in log order, for the checker.
    pub fn log_ranges(&self) -> &PartitionMap<BTreeMap<u32, RangeList>> {
        &self.logs
    }

    /// The authority (broker) of a partition's log, if any batch or election has named one.
    pub fn authority(&self, tp: TopicPartition) -> Option<BrokerId> {
        self.authority.get(&tp).map(|&(broker, _)| broker)
    }

    pub fn figures(&self) -> DeliveryFigures {
        let mut figures = DeliveryFigures::default();
        for ((producer, tp), acked) in self.acked_ranges() {
            let present = self
                .logs
                .get(&tp)
                .and_then(|logs| logs.get(&producer))
                .map(RangeList::union)
                .unwrap_or_default();
            figures.lost_acked += difference_count(&acked.union(), &present);
        }
        for logs in self.logs.values() {
            for list in logs.values() {
                let distinct: u64 = list.union().iter().map(|(start, end)| end - start).sum();
                figures.duplicates_in_log += list.total() - distinct;
                figures.reordered += reordered_count(list);
            }
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ranges: &[(u64, u64)]) -> RangeList {
        RangeList(ranges.to_vec())
    }

    #[test]
    fn contiguous_appends_merge() {
        let mut log = RangeList::default();
        log.push(0, 5);
        log.push(5, 3);
        log.push(10, 2);
        assert_eq!(log.0, vec![(0, 8), (10, 12)]);
        log.pop_back(4);
        assert_eq!(log.0, vec![(0, 6)]);
    }

    #[test]
    fn duplicates_and_reorders_are_counted_on_first_copies() {
        // A retried batch 0..5 lands again after 5..10: a duplicate, no reorder.
        let duplicate = list(&[(0, 5), (5, 10), (0, 5)]);
        assert_eq!(
            duplicate.total() - duplicate.union().iter().map(|(s, e)| e - s).sum::<u64>(),
            5
        );
        assert_eq!(reordered_count(&duplicate), 0);
        // Batch 5..10 succeeded before the retried 0..5: the five later-sent records are reordered.
        let reordered = list(&[(5, 10), (0, 5)]);
        assert_eq!(reordered_count(&reordered), 5);
    }

    #[test]
    fn lost_is_acked_minus_present() {
        assert_eq!(difference_count(&[(0, 10)], &[(0, 4), (6, 8)]), 4);
        assert_eq!(difference_count(&[(0, 10)], &[]), 10);
        assert_eq!(difference_count(&[(0, 3), (5, 9)], &[(0, 9)]), 0);
    }
}
