//! What the application sends: arrival times, value sizes and keys, each from its own random
//! stream, so that a config change elsewhere never changes the workload.

use crate::codec;
use crate::producer::partitioner::key_index_hash;
use crate::scenario::model::{Arrivals, Compression, Keys, ProducerSpec};
use crate::sim::rng::{Purpose, Sampler, SimRng, StreamKind};
use crate::sim::time::{f64_to_ns, NS_PER_SEC};
use std::collections::VecDeque;

/// Zipf tables larger than this many keys are refused at build time (memory).
pub const ZIPF_KEYS_MAX: u64 = 10_000_000;

/// A record the application has handed (or will hand) to `send()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendingRecord {
    /// When the application called `send()`: the start of every latency.
    pub created_ns: u64,
    /// When the append happens: later than `created_ns` while the application thread is busy
    /// compressing earlier records.
    pub append_ns: u64,
    pub value_bytes: u32,
    pub key: Option<u64>,
    /// `toPositive(murmur2(key bytes))` of `key` (0 without a key): its partition is this modulo
    /// the partition count. Hashed once here, not at every look-ahead.
    pub key_hash: u32,
    /// A consume-transform-produce output: the input (partition, offset) it was made from.
    pub origin: Option<(u32, u64)>,
}

enum KeySampler {
    Null,
    Uniform(u64),
    /// Cumulative probabilities of keys 0..count.
    Zipf(Vec<f64>),
}

pub struct Workload {
    arrivals: Arrivals,
    gap_ns: f64,
    next_arrival_ns: f64,
    arrivals_drawn: u64,
    start_ns: u64,
    stop_ns: u64,
    record_bytes: Sampler,
    keys: KeySampler,
    codec: Compression,
    app_free_ns: u64,
    arrival_rng: SimRng,
    size_rng: SimRng,
    key_rng: SimRng,
    /// Bytes of each key (the scenario's `key_bytes`), for its hash.
    key_width: u32,
    /// Drawn but not yet appended, in order.
    pending: VecDeque<PendingRecord>,
}

impl Workload {
    pub fn new(spec: &ProducerSpec, seed: u64, stream_index: u64, stop_ns: u64) -> Self {
        let keys = match spec.keys {
            Keys::Null => KeySampler::Null,
            Keys::Uniform { count } => KeySampler::Uniform(count.max(1)),
            Keys::Zipf { count, exponent } => {
                KeySampler::Zipf(zipf_table(count.clamp(1, ZIPF_KEYS_MAX), exponent))
            }
        };
        Workload {
            arrivals: spec.arrivals,
            gap_ns: NS_PER_SEC as f64 / spec.rate_per_sec,
            next_arrival_ns: spec.start_ns as f64,
            arrivals_drawn: 0,
            start_ns: spec.start_ns,
            stop_ns,
            record_bytes: Sampler::from(&spec.record_bytes),
            keys,
            codec: spec.config.compression_type,
            app_free_ns: 0,
            arrival_rng: SimRng::new(seed, StreamKind::Producer, stream_index, Purpose::Arrivals),
            size_rng: SimRng::new(
                seed,
                StreamKind::Producer,
                stream_index,
                Purpose::RecordSizes,
            ),
            key_rng: SimRng::new(seed, StreamKind::Producer, stream_index, Purpose::Keys),
            key_width: spec.key_bytes,
            pending: VecDeque::new(),
        }
    }

    /// Stops arrivals from `at_ns` on (records already due stay).
    pub fn stop_at(&mut self, at_ns: u64) {
        self.stop_ns = self.stop_ns.min(at_ns);
        while self
            .pending
            .back()
            .is_some_and(|record| record.created_ns >= self.stop_ns)
        {
            self.pending.pop_back();
        }
    }

    fn draw(&mut self) -> Option<PendingRecord> {
        let created_ns = match self.arrivals {
            Arrivals::Constant => {
                f64_to_ns(self.start_ns as f64 + self.arrivals_drawn as f64 * self.gap_ns)
            }
            Arrivals::Poisson => {
                self.next_arrival_ns += self.arrival_rng.exponential(self.gap_ns);
                f64_to_ns(self.next_arrival_ns)
            }
        };
        if created_ns >= self.stop_ns {
            return None;
        }
        self.arrivals_drawn += 1;
        let value_bytes = self
            .size_rng
            .sample(&self.record_bytes)
            .round()
            .min(u32::MAX as f64) as u32;
        let key = match &self.keys {
            KeySampler::Null => None,
            KeySampler::Uniform(count) => Some(self.key_rng.below(*count)),
            KeySampler::Zipf(table) => {
                let draw = self.key_rng.unit();
                Some(
                    table
                        .partition_point(|&cumulative| cumulative <= draw)
                        .min(table.len() - 1) as u64,
                )
            }
        };
        // The application thread compresses as it appends, so it falls behind when the codec is slow.
        let append_ns = created_ns.max(self.app_free_ns);
        self.app_free_ns = append_ns + codec::compress_ns(self.codec, u64::from(value_bytes));
        Some(PendingRecord {
            created_ns,
            append_ns,
            value_bytes,
            key,
            key_hash: key.map_or(0, |index| key_index_hash(index, self.key_width)),
            origin: None,
        })
    }

    /// The i-th record not yet appended, drawing as needed; None once arrivals have stopped.
    pub fn peek(&mut self, index: usize) -> Option<PendingRecord> {
        while self.pending.len() <= index {
            let record = self.draw()?;
            self.pending.push_back(record);
        }
        self.pending.get(index).copied()
    }

    /// Removes the next record if it is due by `now_ns`.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<PendingRecord> {
        let next = self.peek(0)?;
        if next.append_ns <= now_ns {
            self.pending.pop_front()
        } else {
            None
        }
    }

    /// A record the application hands over now (a consume-transform-produce output).
    pub fn push_back(&mut self, record: PendingRecord) {
        self.pending.push_back(record);
    }

    /// Records handed over and not yet appended.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Puts back a record that could not be appended yet (the buffer pool is exhausted).
    pub fn push_front(&mut self, record: PendingRecord) {
        self.pending.push_front(record);
    }
}

fn zipf_table(count: u64, exponent: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=count)
        .map(|rank| (rank as f64).powf(-exponent))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut running = 0.0;
    weights
        .iter()
        .map(|weight| {
            running += weight / total;
            running
        })
        .collect()
}
