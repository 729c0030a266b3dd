//! Goal: batching is exact. One producer, one partition, Poisson arrivals at rate λ, fixed 1 KiB
//! null-key records, batch.size 16384, linger.ms L = 5, and a network and broker too fast to
//! matter: the measured records per batch and batch queue time must match the closed forms for
//! batched Poisson arrivals within 2%, over at least 10⁵ batches, at several rates.
//!
//! Derivation. A batch opens with the record that creates it (time 0). A 1 KiB record takes 1033
//! bytes framed (see `producer::batch`), so N = 15 records fit under 16384 (61 + 15 × 1033 =
//! 15556; a 16th would make 16589). The batch is sent at linger expiry L, or earlier when the
//! (N+1)-th record arrives, doesn't fit, and opens the next batch. Arrivals after the first are
//! Poisson, so with K ~ Poisson(λL) arrivals in (0, L]:
//!   records per batch  E[min(1 + K, N)] = Σ_{k=0}^{N-1} P(1 + K > k) = Σ_{k=0}^{N-1} P(K ≥ k),
//!   queue time          E[min(L, S_N)] = ∫_0^L P(S_N > t) dt = (1/λ) Σ_{k=0}^{N-1} P(K ≥ k + 1),
//! where S_N, the time of the N-th arrival after the first, exceeds t exactly when fewer than N
//! arrivals fall in (0, t]. By memorylessness the next batch starts afresh, so batches are
//! independent and the sample means converge to these values.

use super::util::scenario;
use kafkasim::world::World;
use serde_json::json;

const LINGER_S: f64 = 0.005;
const RECORDS_PER_FULL_BATCH: u32 = 15;

/// P(K ≥ k) for K ~ Poisson(mean), for k = 0..=n.
fn poisson_tail(mean: f64, n: u32) -> Vec<f64> {
    let mut pmf = (-mean).exp();
    let mut cdf_below = 0.0;
    let mut tail = Vec::new();
    for k in 0..=n {
        tail.push(1.0 - cdf_below);
        cdf_below += pmf;
        pmf *= mean / f64::from(k + 1);
    }
    tail
}

fn expected(rate: f64) -> (f64, f64) {
    let tail = poisson_tail(rate * LINGER_S, RECORDS_PER_FULL_BATCH);
    let n = RECORDS_PER_FULL_BATCH as usize;
    let records: f64 = tail[..n].iter().sum();
    let queue_s: f64 = tail[1..=n].iter().sum::<f64>() / rate;
    (records, queue_s * 1000.0)
}

fn measure(rate: f64, batches_wanted: f64) -> (f64, f64, u64) {
    let (records_per_batch, _) = expected(rate);
    let duration_ms = (batches_wanted * records_per_batch / rate * 1000.0).ceil() as u64;
    let json = json!({
        "name": "batching",
        "seed": 7,
        "duration_ms": duration_ms,
        "cluster": {
            "brokers": 1,
            "network": { "latency_ms": { "dist": "fixed", "value": 0.001 }, "bandwidth_mbps": 1e9 },
            "costs": { "request_ms": { "dist": "fixed", "value": 0.001 }, "per_kib_us": 0 }
        },
        "topics": [ { "name": "t", "partitions": 1 } ],
        "producers": [ {
            "name": "p", "topic": "t", "rate_per_sec": rate, "arrivals": "poisson",
            "record_bytes": { "dist": "fixed", "value": 1024 },
            "config": { "batch.size": 16384, "linger.ms": 5 }
        } ]
    });
    let scenario = scenario(&json);
    let mut world = World::build(&scenario, scenario.seed).expect("valid scenario");
    world.run().expect("no limit");
    let producer = &world.metrics.producer;
    assert_eq!(producer.records_retried, 0, "nothing should be retried");
    let batches = producer.batches_sent;
    let records_per_batch = producer.records_sent as f64 / batches as f64;
    (
        records_per_batch,
        producer.record_queue_time_avg_ms(),
        batches,
    )
}

#[test]
fn records_per_batch_and_queue_time_match_batched_poisson_arrivals() {
    for rate in [400.0, 1500.0, 4000.0] {
        let (expected_records, expected_queue_ms) = expected(rate);
        let (records, queue_ms, batches) = measure(rate, 100_500.0);
        assert!(batches >= 100_000, "rate {rate}: only {batches} batches");
        let records_error = (records - expected_records).abs() / expected_records;
        let queue_error = (queue_ms - expected_queue_ms).abs() / expected_queue_ms;
        println!(
            "rate {rate}/s: records/batch {records:.4} (closed form {expected_records:.4}, error {:.3}%), \
             queue time {queue_ms:.4} ms (closed form {expected_queue_ms:.4}, error {:.3}%) over {batches} batches",
            records_error * 100.0,
            queue_error * 100.0
        );
        assert!(
            records_error < 0.02,
            "rate {rate}: records per batch {records} vs {expected_records}"
        );
        assert!(
            queue_error < 0.02,
            "rate {rate}: queue time {queue_ms} ms vs {expected_queue_ms} ms"
        );
    }
}

#[test]
fn closed_forms_have_the_right_limits() {
    // Very slow arrivals: one record per batch, waiting the full linger. Very fast: full batches,
    // filled in about N / λ.
    let (records, queue_ms) = expected(0.001);
    assert!((records - 1.0).abs() < 1e-4 && (queue_ms - 5.0).abs() < 1e-3);
    let (records, queue_ms) = expected(1e6);
    assert!((records - 15.0).abs() < 1e-9);
    assert!((queue_ms - 15.0 / 1e6 * 1000.0).abs() < 1e-6);
}
