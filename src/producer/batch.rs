//! Producer batches and their size accounting, as Kafka's `MemoryRecordsBuilder` and
//! `ProducerBatch` estimate it: a 61-byte v2 batch header, each record framed with varints, and
//! for compressed batches the uncompressed bytes times the learned ratio times 1.05.

use crate::ids::TopicPartition;
use std::rc::Rc;

/// Size of a v2 record batch header (`DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
pub const BATCH_HEADER_BYTES: u64 = 61;
/// Safety factor Kafka applies to the estimated compressed size (`COMPRESSION_RATE_ESTIMATION_FACTOR`).
const COMPRESSION_ESTIMATION_FACTOR: f64 = 1.05;

/// Bytes of a zigzag varint encoding of `value`.
pub fn varint_bytes(value: i64) -> u64 {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    let mut bytes = 1;
    while zigzag >= 0x80 {
        zigzag >>= 7;
        bytes += 1;
    }
    bytes
}

/// Serialized size of one v2 record (`DefaultRecord.sizeInBytes`) with no headers.
pub fn record_bytes(
    offset_delta: u64,
    timestamp_delta_ms: u64,
    key_bytes: Option<u32>,
    value_bytes: u32,
) -> u64 {
    let key_part = match key_bytes {
        Some(len) => varint_bytes(i64::from(len)) + u64::from(len),
        None => varint_bytes(-1),
    };
    let body = 1 // attributes
        + varint_bytes(timestamp_delta_ms as i64)
        + varint_bytes(offset_delta as i64)
        + key_part
        + varint_bytes(i64::from(value_bytes))
        + u64::from(value_bytes)
        + varint_bytes(0); // header count
    varint_bytes(body as i64) + body
}

/// Kafka's `estimateSizeInBytesUpperBound` for a v2 record alone in a batch: the batch header,
/// the worst-case record framing (`MAX_RECORD_OVERHEAD` = 21: attributes, and the longest varints
/// for size, timestamp delta and offset delta), key, value and the header count.
pub fn batch_size_upper_bound(key_bytes: Option<u32>, value_bytes: u32) -> u64 {
    const MAX_RECORD_OVERHEAD: u64 = 21;
    let field = |len: Option<u32>| match len {
        Some(len) => varint_bytes(i64::from(len)) + u64::from(len),
        None => varint_bytes(-1),
    };
    BATCH_HEADER_BYTES
        + MAX_RECORD_OVERHEAD
        + field(key_bytes)
        + field(Some(value_bytes))
        + varint_bytes(0)
}

/// The size bookkeeping of one open batch. Copyable, so the producer can look ahead on a scratch copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchBuilder {
    pub records: u32,
    pub uncompressed_record_bytes: u64,
    /// Timestamp (ms) of the first record: later records store a delta from it.
    pub base_timestamp_ms: u64,
    /// `max(batch.size, first record's upper bound)`: the buffer the batch was given.
    pub write_limit_bytes: u64,
    /// Compression ratio estimate at creation (1.0 when uncompressed).
    pub estimated_ratio: f64,
    pub compressed: bool,
    /// Closed for appends once a record did not fit.
    pub closed: bool,
}

impl BatchBuilder {
    pub fn new(
        write_limit_bytes: u64,
        estimated_ratio: f64,
        compressed: bool,
        timestamp_ms: u64,
    ) -> Self {
        BatchBuilder {
            records: 0,
            uncompressed_record_bytes: 0,
            base_timestamp_ms: timestamp_ms,
            write_limit_bytes,
            estimated_ratio,
            compressed,
            closed: false,
        }
    }

    /// Kafka's `estimatedBytesWritten`.
    pub fn estimated_bytes(&self) -> u64 {
        if self.compressed {
            let scaled = self.uncompressed_record_bytes as f64
                * self.estimated_ratio
                * COMPRESSION_ESTIMATION_FACTOR;
            BATCH_HEADER_BYTES + scaled as u64
        } else {
            BATCH_HEADER_BYTES + self.uncompressed_record_bytes
        }
    }

    /// The size the next record would add, given its timestamp.
    pub fn next_record_bytes(
        &self,
        timestamp_ms: u64,
        key_bytes: Option<u32>,
        value_bytes: u32,
    ) -> u64 {
        let timestamp_delta_ms = timestamp_ms.saturating_sub(self.base_timestamp_ms);
        record_bytes(
            u64::from(self.records),
            timestamp_delta_ms,
            key_bytes,
            value_bytes,
        )
    }

    /// Kafka's `isFull`: closed, or the estimate has reached the write limit.
    pub fn is_full(&self) -> bool {
        self.closed || (self.records > 0 && self.write_limit_bytes <= self.estimated_bytes())
    }

    /// Kafka's `hasRoomFor`: the first record always fits; later ones if the estimate stays in the limit
    /// (the new record counted uncompressed, conservatively, as Kafka does).
    pub fn has_room_for(&self, record_bytes: u64) -> bool {
        if self.is_full() {
            return false;
        }
        self.records == 0 || self.write_limit_bytes >= self.estimated_bytes() + record_bytes
    }

    pub fn append(&mut self, record_bytes: u64) {
        assert!(!self.closed, "append to a closed batch");
        self.records += 1;
        self.uncompressed_record_bytes += record_bytes;
    }
}

/// Creation times of a batch's records (the `send()` calls), for latency histograms. Held
/// inline for the few records most batches hold: a vector per batch in the producer and a copy
/// per batch sent were two of the three allocations every batch cost.
pub type RecordTimes = smallvec::SmallVec<[u64; 4]>;

/// A batch of records for one partition, from the accumulator to the broker and back.
#[derive(Debug, Clone)]
pub struct ProducerBatch {
    pub tp: TopicPartition,
    pub builder: BatchBuilder,
    pub created_ns: u64,
    /// Creation, or the time of the last retry (Kafka's `lastAttemptMs`).
    pub last_attempt_ns: u64,
    pub attempts: u32,
    /// Backoff before the next attempt, drawn when the batch was re-queued.
    pub backoff_ns: u64,
    pub record_created_ns: RecordTimes,
    /// Id of the first record among this producer's records for this partition; the batch holds
    /// ids `first_record_id..+records`, in send order.
    pub first_record_id: u64,
    /// Per record, its input (partition, offset) for consume-transform-produce outputs (else
    /// empty).
    pub record_origins: Vec<(u32, u64)>,
    /// Idempotence: the base sequence given at the first drain.
    pub base_sequence: Option<i32>,
    /// Bytes taken from `buffer.memory` for this batch.
    pub buffer_bytes: u64,
    /// Size on the wire and on disk, fixed when the batch is closed at its first drain.
    pub wire_bytes: u64,
    pub drained_ns: Option<u64>,
}

impl ProducerBatch {
    pub fn record_count(&self) -> u32 {
        self.builder.records
    }

    /// Kafka's `estimatedSizeInBytes`: the real size once closed, the estimate before.
    pub fn estimated_size_bytes(&self) -> u64 {
        if self.drained_ns.is_some() {
            self.wire_bytes
        } else {
            self.builder.estimated_bytes()
        }
    }

    /// Closes the batch for sending: the compressed size becomes known.
    pub fn close(&mut self, actual_ratio: f64) {
        let records = self.builder.uncompressed_record_bytes as f64;
        let on_wire = if self.builder.compressed {
            (records * actual_ratio).ceil() as u64
        } else {
            self.builder.uncompressed_record_bytes
        };
        self.wire_bytes = BATCH_HEADER_BYTES + on_wire;
        self.builder.closed = true;
    }
}

/// What travels to the broker: the records' identity and size, not their contents.
#[derive(Debug, Clone)]
pub struct BatchData {
    pub tp: TopicPartition,
    /// The producer process (stable across restarts): the ledger's key.
    pub producer: u32,
    /// Idempotence: producer id, epoch and base sequence (None without idempotence).
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub base_sequence: Option<i32>,
    pub first_record_id: u64,
    pub records: u32,
    pub wire_bytes: u64,
    pub uncompressed_bytes: u64,
    /// The codec, which sets the consumer's decompression cost.
    pub compression: crate::scenario::model::Compression,
    pub record_created_ns: RecordTimes,
    /// Written inside a transaction (the batch header's transactional flag).
    pub transactional: bool,
    /// A control batch (a transaction marker, one record): `Some(true)` commits the producer's
    /// open transaction on this partition, `Some(false)` aborts it.
    pub control: Option<bool>,
    /// Per record, the input record it was made from (a consume-transform-produce output):
    /// (input partition, input offset). Lets the report count output duplicates and losses.
    pub origins: Option<Rc<[(u32, u64)]>>,
}

impl BatchData {
    /// A transaction marker as the coordinator's WriteTxnMarkers has a leader append it: one
    /// control record (a 61-byte header plus a 17-byte record holding the marker's key and value).
    pub fn marker(tp: TopicPartition, producer_id: u64, producer_epoch: u16, commit: bool) -> Self {
        BatchData {
            tp,
            producer: u32::MAX,
            producer_id,
            producer_epoch,
            base_sequence: None,
            first_record_id: 0,
            records: 1,
            wire_bytes: BATCH_HEADER_BYTES + 17,
            uncompressed_bytes: 17,
            compression: crate::scenario::model::Compression::None,
            record_created_ns: RecordTimes::new(),
            transactional: true,
            control: Some(commit),
            origins: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_kafkas_zigzag_encoding() {
        assert_eq!(varint_bytes(0), 1);
        assert_eq!(varint_bytes(-1), 1);
        assert_eq!(varint_bytes(63), 1);
        assert_eq!(varint_bytes(64), 2);
        assert_eq!(varint_bytes(1024), 2);
        assert_eq!(varint_bytes(8191), 2);
        assert_eq!(varint_bytes(8192), 3);
    }

    #[test]
    fn a_1kib_null_key_record_takes_1033_bytes_so_15_fit_in_16kib() {
        // body = attributes 1 + timestamp delta 1 + offset delta 1 + null key 1
        //      + value length 2 + value 1024 + header count 1 = 1031; plus its own length varint 2.
        assert_eq!(record_bytes(0, 0, None, 1024), 1033);
        let mut builder = BatchBuilder::new(16384, 1.0, false, 0);
        let mut fitted = 0;
        while builder.has_room_for(builder.next_record_bytes(0, None, 1024)) {
            let size = builder.next_record_bytes(0, None, 1024);
            builder.append(size);
            fitted += 1;
        }
        // 61 + 15 × 1033 = 15556 ≤ 16384 < 61 + 16 × 1033.
        assert_eq!(fitted, 15);
        assert_eq!(builder.estimated_bytes(), 15556);
        assert!(
            !builder.is_full(),
            "full only once a record fails to fit and the batch closes"
        );
    }

    #[test]
    fn compressed_estimate_uses_ratio_and_safety_factor() {
        let mut builder = BatchBuilder::new(16384, 0.5, true, 0);
        builder.append(1000);
        assert_eq!(builder.estimated_bytes(), 61 + 525);
    }
}
