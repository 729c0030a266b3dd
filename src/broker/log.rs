//! A partition's log as batches with offset ranges, never records. Designed so followers can
//! hold the same structure: append, read from an offset, truncate, trim the start.

use crate::producer::batch::BatchData;
use std::collections::VecDeque;
use std::rc::Rc;

/// One batch as stored: its offsets and the producer's batch data.
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub base_offset: u64,
    pub leader_epoch: u32,
    pub append_ns: u64,
    /// Shared by every replica's copy and every fetch of the batch.
    pub data: Rc<BatchData>,
}

/// The batches one partition of a fetch response carries: usually one, held inline (a vector
/// per partition read was 29% of all allocations in bench-throughput).
pub type LogBatches = smallvec::SmallVec<[LogBatch; 1]>;

impl LogBatch {
    /// The offset after this batch's last record.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.data.records)
    }
}

#[derive(Debug)]
pub struct PartitionLog {
    batches: VecDeque<LogBatch>,
    /// First offset still held (batches below were trimmed once every reader passed them).
    pub log_start_offset: u64,
    /// Log end offset: the offset the next record gets.
    pub log_end_offset: u64,
    pub high_watermark: u64,
    /// The first batch's next offset (u64::MAX when empty): nothing ends at or below a smaller
    /// trim offset.
    front_next_offset: u64,
}

impl Default for PartitionLog {
    fn default() -> Self {
        PartitionLog {
            batches: VecDeque::new(),
            log_start_offset: 0,
            log_end_offset: 0,
            high_watermark: 0,
            front_next_offset: u64::MAX,
        }
    }
}

impl PartitionLog {
    /// Appends a batch whose base offset is the log end.
    pub fn append_batch(&mut self, batch: LogBatch) {
        assert_eq!(
            batch.base_offset, self.log_end_offset,
            "appends go at the log end"
        );
        self.log_end_offset = batch.next_offset();
        self.batches.push_back(batch);
        if self.batches.len() == 1 {
            self.refresh_front();
        }
    }

    /// Removes every batch that ends above `offset`; returns them in offset order.
    pub fn truncate_to(&mut self, offset: u64) -> Vec<LogBatch> {
        let keep = self
            .batches
            .partition_point(|batch| batch.next_offset() <= offset);
        let removed: Vec<LogBatch> = self.batches.drain(keep..).collect();
        self.refresh_front();
        self.log_end_offset = match self.batches.back() {
            Some(last) => last.next_offset(),
            None => offset
                .min(self.log_end_offset)
                .max(self.log_start_offset.min(offset)),
        };
        self.log_start_offset = self.log_start_offset.min(self.log_end_offset);
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
        removed
    }

    /// A follower's high watermark: the leader's, capped by its own log end.
    pub fn set_follower_high_watermark(&mut self, leader_high_watermark: u64) {
        self.high_watermark = leader_high_watermark.min(self.log_end_offset);
    }

    /// Batches at or above `offset`, for the ledger to see what a truncation or election drops.
    pub fn batches_from(&self, offset: u64) -> impl Iterator<Item = &LogBatch> {
        let start = self
            .batches
            .partition_point(|batch| batch.base_offset < offset);
        self.batches.range(start..)
    }

    /// Every batch held, in offset order.
    pub fn batches(&self) -> impl Iterator<Item = &LogBatch> {
        self.batches.iter()
    }

    /// Moves the high watermark forward (never back on a leader).
    pub fn advance_high_watermark(&mut self, offset: u64) {
        assert!(
            offset <= self.log_end_offset,
            "HW {offset} above LEO {}",
            self.log_end_offset
        );
        self.high_watermark = self.high_watermark.max(offset);
    }

    /// Bytes of whole batches from `offset` up to `limit_offset`.
    pub fn available_bytes(&self, offset: u64, limit_offset: u64) -> u64 {
        self.batches
            .iter()
            .skip(self.first_batch_at_or_after(offset))
            .take_while(|batch| batch.next_offset() <= limit_offset)
            .map(|batch| batch.data.wire_bytes)
            .sum()
    }

    /// Like `available_bytes`, but stops once it has counted `cap` bytes.
    pub fn available_bytes_capped(&self, offset: u64, limit_offset: u64, cap: u64) -> u64 {
        if cap <= 1 {
            // The usual `fetch.min.bytes` of 1 only asks whether anything is there. Limits (log
            // end, high watermark) sit on batch boundaries, so anything below the limit means
            // the whole batch holding `offset` is readable: no search needed.
            let bytes = u64::from(offset < limit_offset);
            debug_assert_eq!(
                bytes,
                self.available_bytes(offset, limit_offset).min(1),
                "limit {limit_offset} is not on a batch boundary"
            );
            return bytes;
        }
        if offset >= limit_offset {
            // The batch holding `offset` ends above it, so above the limit too.
            return 0;
        }
        let mut bytes = 0;
        for batch in self.batches.range(self.first_batch_at_or_after(offset)..) {
            if bytes >= cap || batch.next_offset() > limit_offset {
                break;
            }
            bytes += batch.data.wire_bytes;
        }
        bytes
    }

    /// The index of the batch containing `offset`, or of the first after it.
    fn first_batch_at_or_after(&self, offset: u64) -> usize {
        // Readers (followers, consumers keeping up) ask for offsets near the log end, and logs
        // hold thousands of batches: gallop back from the end, then bisect the last step, so the
        // cost grows with the distance from the end and touches few cold batches.
        let ends_at_or_before = |index: usize| self.batches[index].next_offset() <= offset;
        let len = self.batches.len();
        let mut high = len;
        let mut step = 1;
        let mut low = loop {
            if step > high {
                break 0;
            }
            let probe = high - step;
            if ends_at_or_before(probe) {
                break probe + 1;
            }
            high = probe;
            step *= 2;
        };
        while low < high {
            let middle = low + (high - low) / 2;
            if ends_at_or_before(middle) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        debug_assert_eq!(
            low,
            self.batches
                .partition_point(|batch| batch.next_offset() <= offset)
        );
        low
    }

    /// Whole batches from the one containing `offset`, below `limit_offset`, up to `max_bytes`
    /// (the first batch goes even when larger, as KIP-74 has it, if `first_always` is set).
    pub fn read(
        &self,
        offset: u64,
        limit_offset: u64,
        max_bytes: u64,
        first_always: bool,
    ) -> LogBatches {
        if offset >= limit_offset {
            // A caught-up reader (most of a wide fetch): the batch holding `offset` ends above
            // the limit, so nothing is read; answered without touching the (cold) log.
            return LogBatches::new();
        }
        // Find the range first, then copy it: no allocation for one batch, else one.
        let start = self.first_batch_at_or_after(offset);
        let mut end = start;
        let mut bytes = 0;
        for batch in self.batches.range(start..) {
            if batch.next_offset() > limit_offset {
                break;
            }
            let size = batch.data.wire_bytes;
            if bytes + size > max_bytes && !(end == start && first_always) {
                break;
            }
            bytes += size;
            end += 1;
        }
        self.batches.range(start..end).cloned().collect()
    }

    /// Drops batches that end at or below `offset`: no reader will ask for them again.
    /// Drops batches that end at or below `offset` and were appended before `appended_before_ns`
    /// (a batch that a power loss could still take stays until it is flushed).
    pub fn trim_before(&mut self, offset: u64, appended_before_ns: u64) {
        // Called after every fetch: the cached front answers "nothing to trim" without touching
        // the (cold) first batch.
        if offset < self.front_next_offset {
            return;
        }
        while self.batches.front().is_some_and(|batch| {
            batch.next_offset() <= offset && batch.append_ns < appended_before_ns
        }) {
            let batch = self.batches.pop_front().expect("front exists");
            self.log_start_offset = batch.next_offset();
        }
        self.refresh_front();
    }

    /// Whether `trim_before(offset, _)` would find nothing to drop, whatever the time.
    pub fn nothing_to_trim_below(&self, offset: u64) -> bool {
        offset < self.front_next_offset
    }

    fn refresh_front(&mut self) {
        self.front_next_offset = self.batches.front().map_or(u64::MAX, LogBatch::next_offset);
    }

    pub fn batches_held(&self) -> usize {
        self.batches.len()
    }
}
