//! The recorder: counters, latency histograms (HDR, 3 significant digits) and per-interval time
//! series, filled during a run. Pure data, no I/O: `report` turns it into files.

pub mod ledger;

use crate::ids::{TopicId, TopicPartition};
use crate::partition_map::PartitionMap;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Latencies above this (one day) are recorded as this.
const LATENCY_MAX_NS: u64 = 86_400 * 1_000_000_000;

/// A latency histogram in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
                .expect("bounds and 3 significant digits are valid"),
        }
    }
}

impl Latency {
    pub fn record(&mut self, value_ns: u64) {
        self.histogram.saturating_record(value_ns);
    }

    pub fn record_n(&mut self, value_ns: u64, count: u64) {
        self.histogram.saturating_record_n(value_ns, count);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The value at quantile `q` (0..=1), in ns; 0 when empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_quantile(q)
        }
    }

    pub fn max_ns(&self) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.max()
        }
    }

    pub fn mean_ns(&self) -> f64 {
        self.histogram.mean()
    }

    pub fn reset(&mut self) {
        self.histogram.reset();
    }

    /// Adds `other`'s values: the same counts as recording each of them here.
    pub fn add(&mut self, other: &Latency) {
        self.histogram
            .add(&other.histogram)
            .expect("every latency histogram has the same bounds");
    }

    /// (value in ns, cumulative fraction) at each recorded value step, for a CDF.
    pub fn cdf(&self) -> Vec<(u64, f64)> {
        let total = self.histogram.len() as f64;
        if total == 0.0 {
            return Vec::new();
        }
        let mut seen = 0u64;
        self.histogram
            .iter_recorded()
            .map(|step| {
                seen += step.count_at_value();
                (
                    self.histogram.highest_equivalent(step.value_iterated_to()),
                    seen as f64 / total,
                )
            })
            .collect()
    }
}

/// Producer figures with Kafka's metric meanings, summed over all producers.
#[derive(Debug, Clone, Default)]
pub struct ProducerMetrics {
    /// Records handed to `send()`.
    pub records_created: u64,
    /// Records in produce requests, retries included (`record-send-total`).
    pub records_sent: u64,
    pub records_retried: u64,
    pub records_failed: u64,
    pub records_acked: u64,
    pub bytes_acked: u64,
    /// Batches put into requests, every attempt counted (Kafka's batch-size and queue-time sensors).
    pub batches_sent: u64,
    pub batch_bytes_total: u64,
    pub queue_time_ns_total: u64,
    pub requests: u64,
    pub request_latency_ns_total: u64,
    pub responses: u64,
    /// Time from `send()` to acknowledgement, per record: complete once the run has finished
    /// (it takes each time bucket's values when the bucket closes).
    pub latency: Latency,
}

impl ProducerMetrics {
    pub fn batch_size_avg(&self) -> f64 {
        ratio(self.batch_bytes_total, self.batches_sent)
    }

    pub fn record_queue_time_avg_ms(&self) -> f64 {
        ratio(self.queue_time_ns_total, self.batches_sent) / 1e6
    }

    pub fn records_per_request_avg(&self) -> f64 {
        ratio(self.records_sent, self.requests)
    }

    pub fn request_latency_avg_ms(&self) -> f64 {
        ratio(self.request_latency_ns_total, self.responses) / 1e6
    }
}

/// Reprocessed ranges kept per group: enough to name examples, bounded in memory.
pub const REPROCESSED_KEPT: usize = 20;

/// Per-group consumer figures.
#[derive(Debug, Clone, Default)]
pub struct GroupMetrics {
    pub records_processed: u64,
    /// Largest lag (high watermark − fetch position) seen in a fetch response (`records-lag-max`).
    pub records_lag_max: u64,
    /// Partitions revoked by members (`onPartitionsRevoked`; lost partitions not counted).
    pub revoked_total: u64,
    /// Distinct processed offsets per partition, as merged ranges (a dense table: every
    /// processed record range looks its partition up).
    pub processed: PartitionMap<RangeSet>,
    /// Offsets fetched but never returned to the application: transaction markers, and under
    /// read_committed aborted transactions' records.
    pub skipped: PartitionMap<RangeSet>,
    /// End-to-end latency of this group's processed records (creation to processed).
    pub end_to_end: Latency,
    /// The first processed ranges (topic, partition, start, end) that overlapped earlier
    /// processing, for the checker to name; at most `REPROCESSED_KEPT`.
    pub reprocessed: Vec<(u32, u32, u64, u64)>,
    /// Start of the rebalance in progress, and what members revoked and got during it.
    open_rebalance: Option<(u64, u32, u32)>,
}

/// A set of u64 offsets as disjoint half-open ranges, start → end.
#[derive(Debug, Clone, Default)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
    len: u64,
}

impl RangeSet {
    /// Adds [start, end); returns how many of those offsets were already present.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        // The usual case, a consumer processing on from where it was: the last range at or below
        // `end` ends at `start` (extend it) or before (a new range), and touches nothing else.
        match self.ranges.range_mut(..=end).next_back() {
            Some((_, last_end)) if *last_end == start => {
                *last_end = end;
                self.len += end - start;
                return 0;
            }
            Some((_, last_end)) if *last_end < start => {
                self.ranges.insert(start, end);
                self.len += end - start;
                return 0;
            }
            None => {
                self.ranges.insert(start, end);
                self.len += end - start;
                return 0;
            }
            Some(_) => {}
        }
        let (mut new_start, mut new_end) = (start, end);
        let mut overlap = 0;
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            overlap += e.min(end).saturating_sub(s.max(start));
            new_start = new_start.min(s);
            new_end = new_end.max(e);
            self.ranges.remove(&s);
            self.len -= e - s;
        }
        self.ranges.insert(new_start, new_end);
        self.len += new_end - new_start;
        overlap
    }

    /// The set's ranges, start → end.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&start, &end)| (start, end))
    }

    /// Offsets in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offsets below `end` that are not in the set, as ranges.
    pub fn gaps_below(&self, end: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut cursor = 0;
        for (&start, &stop) in self.ranges.iter().take_while(|(&start, _)| start < end) {
            if start > cursor {
                gaps.push((cursor, start));
            }
            cursor = stop;
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        gaps
    }

    /// Offsets of the set below `end`.
    pub fn count_below(&self, end: u64) -> u64 {
        self.ranges
            .iter()
            .take_while(|(&s, _)| s < end)
            .map(|(&s, &e)| e.min(end) - s)
            .sum()
    }
}

/// p50 and p99 of a latency per time bucket. Values arrive in (nearly) time order: a bucket is
/// final once a later one starts, and a late value counts in the open bucket. A closed bucket's
/// values are added to the run's whole-run histogram (`total`), so each value is recorded once,
/// not once per histogram (histograms took 4.7% of bench-throughput's instructions).
#[derive(Debug, Clone, Default)]
pub struct BucketQuantiles {
    pub p50_ns: Vec<u64>,
    pub p99_ns: Vec<u64>,
    current_bucket: usize,
    current: Latency,
}

impl BucketQuantiles {
    fn new(buckets: usize) -> Self {
        BucketQuantiles {
            p50_ns: vec![0; buckets],
            p99_ns: vec![0; buckets],
            current_bucket: 0,
            current: Latency::default(),
        }
    }

    fn record(&mut self, bucket: usize, value_ns: u64, total: &mut Latency) {
        if bucket > self.current_bucket {
            self.close(total);
            self.current_bucket = bucket;
        }
        self.current.record(value_ns);
    }

    fn close(&mut self, total: &mut Latency) {
        total.add(&self.current);
        if self.current.count() > 0 {
            if let Some(slot) = self.p50_ns.get_mut(self.current_bucket) {
                *slot = self.current.quantile_ns(0.50);
            }
            if let Some(slot) = self.p99_ns.get_mut(self.current_bucket) {
                *slot = self.current.quantile_ns(0.99);
            }
        }
        self.current.reset();
    }
}

/// Counts per time bucket of `interval_ns`.
#[derive(Debug, Clone, Default)]
pub struct TimeSeries {
    pub interval_ns: u64,
    pub produced: Vec<u64>,
    pub acked: Vec<u64>,
    pub consumed: Vec<u64>,
    /// Produce latency of records acknowledged in each bucket (ns; 0 when none).
    pub produce: BucketQuantiles,
    /// End-to-end latency of records processed in each bucket (ns; 0 when none).
    pub end_to_end: BucketQuantiles,
    /// Total lag of all groups at the end of each bucket.
    pub lag: Vec<u64>,
    /// Summed HW − LSO of every partition at the end of each bucket.
    pub lso_lag: Vec<u64>,
}

impl TimeSeries {
    fn new(interval_ns: u64, buckets: usize) -> Self {
        TimeSeries {
            interval_ns: interval_ns.max(1),
            produced: vec![0; buckets],
            acked: vec![0; buckets],
            consumed: vec![0; buckets],
            produce: BucketQuantiles::new(buckets),
            end_to_end: BucketQuantiles::new(buckets),
            lag: vec![0; buckets],
            lso_lag: vec![0; buckets],
        }
    }

    fn bucket(&self, at_ns: u64) -> usize {
        ((at_ns / self.interval_ns) as usize).min(self.produced.len().saturating_sub(1))
    }

    fn add(counts: &mut [u64], bucket: usize, amount: u64) {
        if let Some(slot) = counts.get_mut(bucket) {
            *slot += amount;
        }
    }
}

/// A time during which one group member owned (was assigned and consuming) one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipSpan {
    pub group: usize,
    /// The member's display name, e.g. `consumer:billing:0`.
    pub member: String,
    pub topic: u32,
    pub partition: u32,
    pub from_ns: u64,
    /// None while still owned at the end of the run.
    pub to_ns: Option<u64>,
}

/// One completed rebalance of a group (classic generation or KIP-848 epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceRecord {
    pub group: usize,
    pub generation: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    pub members: u32,
    pub revoked: u32,
    pub assigned: u32,
}

/// What happened to batches, step by step: kept only when a test asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEntry {
    /// A produce request left a producer: (partition, records) per batch, in drain order.
    RequestSent {
        at_ns: u64,
        producer: u32,
        broker: u32,
        batches: Vec<(u32, u32)>,
    },
    BatchAcked {
        at_ns: u64,
        partition: u32,
        records: u32,
    },
    BatchRetried {
        at_ns: u64,
        partition: u32,
        records: u32,
    },
    BatchFailed {
        at_ns: u64,
        partition: u32,
        records: u32,
    },
    /// A group coordinator accepted a committed offset.
    OffsetCommitted {
        at_ns: u64,
        group: usize,
        partition: u32,
        offset: u64,
    },
    /// A consumer finished processing offsets [start, end) of a partition.
    OffsetsProcessed {
        at_ns: u64,
        consumer: u32,
        partition: u32,
        start: u64,
        end: u64,
    },
}

/// Everything measured in one run.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Step-by-step record of batches, when enabled (tests).
    pub trace: Option<Vec<TraceEntry>>,
    pub producer: ProducerMetrics,
    /// End-to-end latency over all groups: complete once the run has finished, as
    /// `producer.latency`.
    pub end_to_end: Latency,
    pub groups: Vec<GroupMetrics>,
    pub series: TimeSeries,
    /// Partition ownership over time, for the ownership chart.
    pub ownership: Vec<OwnershipSpan>,
    pub rebalances: Vec<RebalanceRecord>,
    pub ledger: ledger::Ledger,
    pub transactions: TransactionMetrics,
}

/// Transaction figures (coordinators and transactional producers).
#[derive(Debug, Clone, Default)]
pub struct TransactionMetrics {
    pub committed: u64,
    pub aborted: u64,
    /// Open transactions aborted because a newer epoch fenced their producer (a new instance's
    /// InitProducerId, or the coordinator's timeout).
    pub fenced: u64,
    pub timed_out: u64,
    /// From `commitTransaction()` to its return.
    pub commit_latency: Latency,
    pub lso_lag_max: u64,
}

impl Recorder {
    pub fn new(groups: usize, interval_ns: u64, duration_ns: u64) -> Self {
        let buckets = duration_ns.div_ceil(interval_ns.max(1)).max(1) as usize;
        Recorder {
            trace: None,
            producer: ProducerMetrics::default(),
            end_to_end: Latency::default(),
            groups: vec![GroupMetrics::default(); groups],
            series: TimeSeries::new(interval_ns, buckets),
            ownership: Vec::new(),
            rebalances: Vec::new(),
            ledger: ledger::Ledger::default(),
            transactions: TransactionMetrics::default(),
        }
    }

    /// Adds a trace entry if tracing is on; `entry` is only built then.
    pub fn trace(&mut self, entry: impl FnOnce() -> TraceEntry) {
        if let Some(trace) = &mut self.trace {
            trace.push(entry());
        }
    }

    pub fn record_created(&mut self, created_ns: u64) {
        self.producer.records_created += 1;
        let bucket = self.series.bucket(created_ns);
        TimeSeries::add(&mut self.series.produced, bucket, 1);
    }

    /// A batch went into a request; `queue_ns` is Kafka's `queueTimeMs` (drain − creation).
    pub fn batch_sent(&mut self, wire_bytes: u64, queue_ns: u64) {
        self.producer.batches_sent += 1;
        self.producer.batch_bytes_total += wire_bytes;
        self.producer.queue_time_ns_total += queue_ns;
    }

    pub fn request_sent(&mut self, records: u64) {
        self.producer.requests += 1;
        self.producer.records_sent += records;
    }

    pub fn request_latency(&mut self, latency_ns: u64) {
        self.producer.responses += 1;
        self.producer.request_latency_ns_total += latency_ns;
    }

    pub fn batch_acked(&mut self, now_ns: u64, record_created_ns: &[u64], wire_bytes: u64) {
        let records = record_created_ns.len() as u64;
        self.producer.records_acked += records;
        self.producer.bytes_acked += wire_bytes;
        let bucket = self.series.bucket(now_ns);
        for &created_ns in record_created_ns {
            let latency_ns = now_ns - created_ns;
            let total = &mut self.producer.latency;
            self.series.produce.record(bucket, latency_ns, total);
        }
        TimeSeries::add(&mut self.series.acked, bucket, records);
    }

    pub fn records_retried(&mut self, records: u32) {
        self.producer.records_retried += u64::from(records);
    }

    pub fn records_failed(&mut self, records: u64) {
        self.producer.records_failed += records;
    }

    /// A record finished processing in a group's member.
    pub fn record_processed(&mut self, group: usize, created_ns: u64, done_ns: u64) {
        self.groups[group].records_processed += 1;
        self.groups[group]
            .end_to_end
            .record(done_ns.saturating_sub(created_ns));
        let bucket = self.series.bucket(done_ns);
        self.series.end_to_end.record(
            bucket,
            done_ns.saturating_sub(created_ns),
            &mut self.end_to_end,
        );
        TimeSeries::add(&mut self.series.consumed, bucket, 1);
    }

    pub fn record_lag_seen(&mut self, group: usize, lag: u64) {
        let metrics = &mut self.groups[group];
        metrics.records_lag_max = metrics.records_lag_max.max(lag);
    }

    /// The world samples total lag at the end of each bucket.
    pub fn sample_lag(&mut self, at_ns: u64, lag: u64) {
        let bucket = self.series.bucket(at_ns.saturating_sub(1));
        if let Some(slot) = self.series.lag.get_mut(bucket) {
            *slot = lag;
        }
    }

    /// A member starts owning a partition.
    pub fn ownership_started(
        &mut self,
        group: usize,
        member: &str,
        topic: u32,
        partition: u32,
        at_ns: u64,
    ) {
        self.ownership.push(OwnershipSpan {
            group,
            member: member.to_string(),
            topic,
            partition,
            from_ns: at_ns,
            to_ns: None,
        });
    }

    /// A member stops owning a partition (revoked, lost, or the member died).
    pub fn ownership_ended(
        &mut self,
        group: usize,
        member: &str,
        topic: u32,
        partition: u32,
        at_ns: u64,
    ) {
        let open = self.ownership.iter_mut().rev().find(|span| {
            span.group == group
                && span.member == member
                && span.topic == topic
                && span.partition == partition
                && span.to_ns.is_none()
        });
        if let Some(span) = open {
            span.to_ns = Some(at_ns);
        }
    }

    /// Records of one partition, offsets [start, end), finished processing in a group member.
    pub fn offsets_processed(
        &mut self,
        group: usize,
        topic: u32,
        partition: u32,
        start: u64,
        end: u64,
    ) {
        if let Some(metrics) = self.groups.get_mut(group) {
            let tp = TopicPartition {
                topic: TopicId(topic),
                partition,
            };
            let overlap = metrics.processed.get_or_default(tp).insert(start, end);
            if overlap > 0 && metrics.reprocessed.len() < REPROCESSED_KEPT {
                metrics.reprocessed.push((topic, partition, start, end));
            }
        }
    }

    /// Offsets [start, end) a member fetched that the application never sees.
    pub fn offsets_skipped(
        &mut self,
        group: usize,
        topic: u32,
        partition: u32,
        start: u64,
        end: u64,
    ) {
        if let Some(metrics) = self.groups.get_mut(group) {
            let tp = TopicPartition {
                topic: TopicId(topic),
                partition,
            };
            metrics.skipped.get_or_default(tp).insert(start, end);
        }
    }

    /// A producer's commitTransaction()/abortTransaction() returned after `latency_ns`.
    pub fn transaction_ended(&mut self, commit: bool, latency_ns: u64) {
        if commit {
            self.transactions.commit_latency.record(latency_ns);
        }
    }

    /// A coordinator wrote every marker of a transaction.
    pub fn transaction_completed(&mut self, commit: bool) {
        if commit {
            self.transactions.committed += 1;
        } else {
            self.transactions.aborted += 1;
        }
    }

    /// A coordinator fenced a producer's open transaction (a new instance's InitProducerId).
    pub fn transaction_fenced(&mut self) {
        self.transactions.fenced += 1;
    }

    /// A coordinator aborted a transaction past `transaction.timeout.ms` (its epoch is bumped).
    pub fn transaction_timed_out(&mut self) {
        self.transactions.fenced += 1;
        self.transactions.timed_out += 1;
    }

    /// The world samples the summed LSO lag (HW − LSO) of every partition at each tick.
    pub fn sample_lso_lag(&mut self, at_ns: u64, lag: u64) {
        let bucket = self.series.bucket(at_ns.saturating_sub(1));
        if let Some(slot) = self.series.lso_lag.get_mut(bucket) {
            *slot = lag;
        }
        self.transactions.lso_lag_max = self.transactions.lso_lag_max.max(lag);
    }

    /// A group's coordinator began a rebalance (the group entered PreparingRebalance).
    pub fn rebalance_started(&mut self, group: usize, at_ns: u64) {
        if let Some(metrics) = self.groups.get_mut(group) {
            metrics.open_rebalance.get_or_insert((at_ns, 0, 0));
        }
    }

    /// The rebalance ended with an empty group: nothing to record.
    pub fn rebalance_abandoned(&mut self, group: usize) {
        if let Some(metrics) = self.groups.get_mut(group) {
            metrics.open_rebalance = None;
        }
    }

    /// The leader's assignment made the group Stable.
    pub fn rebalance_completed(
        &mut self,
        group: usize,
        generation: u32,
        at_ns: u64,
        members: u32,
        assigned: u32,
    ) {
        let Some(metrics) = self.groups.get_mut(group) else {
            return;
        };
        let (start_ns, revoked, _) = metrics.open_rebalance.take().unwrap_or((at_ns, 0, 0));
        self.rebalances.push(RebalanceRecord {
            group,
            generation,
            start_ns,
            end_ns: at_ns,
            members,
            revoked,
            assigned,
        });
    }

    /// A closing member revoked its partitions (`onLeavePrepare`): part of no rebalance.
    pub fn partitions_revoked_on_close(&mut self, group: usize, count: u32) {
        if let Some(metrics) = self.groups.get_mut(group) {
            metrics.revoked_total += u64::from(count);
        }
    }

    /// A member revoked partitions. Cooperative members revoke after the round whose assignment
    /// took them (`generation`); eager members revoke during the rebalance in progress.
    pub fn partitions_revoked(&mut self, group: usize, count: u32, generation: Option<u32>) {
        let Some(metrics) = self.groups.get_mut(group) else {
            return;
        };
        metrics.revoked_total += u64::from(count);
        let record = self
            .rebalances
            .iter_mut()
            .rev()
            .filter(|record| record.group == group)
            .find(|record| generation.is_none_or(|generation| record.generation == generation));
        match (generation, &mut metrics.open_rebalance, record) {
            (None, Some(open), _) => open.1 += count,
            (_, _, Some(record)) => record.revoked += count,
            (_, Some(open), None) => open.1 += count,
            (_, None, None) => {}
        }
    }

    /// Closes the last open latency bucket at the end of the run.
    pub fn finish(&mut self) {
        self.series.produce.close(&mut self.producer.latency);
        self.series.end_to_end.close(&mut self.end_to_end);
    }
}

fn ratio(total: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::{BucketQuantiles, Latency, RangeSet};
    use std::collections::BTreeSet;

    /// The whole-run histogram, filled bucket by bucket as buckets close (the last at `finish`),
    /// holds the same values as one recording every value: counts, quantiles, max, mean, CDF.
    #[test]
    fn totals_added_at_bucket_close_equal_recording_every_value() {
        let mut buckets = BucketQuantiles::new(3);
        let mut total = Latency::default();
        let mut direct = Latency::default();
        let values = [
            (0, 1_500_000),
            (0, 7),
            (1, 2_000_000_000),
            (1, 45_678),
            (2, 3),
            (2, 99),
        ];
        for (bucket, value_ns) in values {
            buckets.record(bucket, value_ns, &mut total);
            direct.record(value_ns);
        }
        // Bucket 2 is still open: its two values are not in the total yet.
        assert_eq!(total.count(), 4);
        buckets.close(&mut total);
        assert_eq!(total.count(), direct.count());
        for q in [0.0, 0.5, 0.99, 0.999, 1.0] {
            assert_eq!(total.quantile_ns(q), direct.quantile_ns(q), "quantile {q}");
        }
        assert_eq!(total.max_ns(), direct.max_ns());
        assert_eq!(total.mean_ns(), direct.mean_ns());
        assert_eq!(total.cdf(), direct.cdf());
        assert_eq!(buckets.p99_ns[1], direct.quantile_ns(1.0));
    }

    /// Inserts in order (the fast path), with gaps, overlaps and out of order all agree with a
    /// plain set of offsets: the same members, and the same count of offsets already present.
    #[test]
    fn range_set_matches_a_set_of_offsets() {
        let mut ranges = RangeSet::default();
        let mut offsets: BTreeSet<u64> = BTreeSet::new();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = 0;
        for step in 0..2_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let (start, end) = match state % 4 {
                // Carry on where the last insert ended, or after a gap.
                0 | 1 => (next, next + 1 + state % 5),
                2 => (next + state % 3, next + state % 3 + 2),
                // Anywhere below: overlaps and fills.
                _ => {
                    let start = (state >> 8) % (next + 1);
                    (start, start + (state >> 16) % 6)
                }
            };
            next = next.max(end);
            let present = (start..end)
                .filter(|offset| offsets.contains(offset))
                .count();
            offsets.extend(start..end);
            assert_eq!(ranges.insert(start, end), present as u64);
            assert_eq!(ranges.len(), offsets.len() as u64);
            if step % 50 != 0 {
                continue;
            }
            let members: BTreeSet<u64> = ranges.ranges().flat_map(|(s, e)| s..e).collect();
            assert_eq!(members, offsets);
            let disjoint = ranges
                .ranges()
                .zip(ranges.ranges().skip(1))
                .all(|(a, b)| a.1 < b.0);
            assert!(
                disjoint,
                "ranges touch: {:?}",
                ranges.ranges().collect::<Vec<_>>()
            );
        }
    }
}
