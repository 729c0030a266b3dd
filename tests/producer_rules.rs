//! Goal: each producer rule of Kafka's `RecordAccumulator` and `Sender` fires at exactly the time
//! Kafka's code says: a full batch, linger expiry, the drain of several partitions into one
//! request, the in-flight limit, retries with backoff after a request timeout, and the delivery
//! timeout.
//! Method: one broker, constant arrivals every 1 ms of 1 KiB records, a fixed 1 µs one-way
//! latency, a link too fast to take time, and a fixed broker cost; the batch trace gives exact
//! send, retry and failure times. Derivations are in each test.

use super::util::{requests, run_traced, scenario, trace};
use kafkasim::metrics::TraceEntry;
use serde_json::{json, Value};

const MS: u64 = 1_000_000;
/// One-way latency (1 µs) and broker cost (1 µs) of the base scenario.
const HOP_NS: u64 = 1_000;

fn base(producer_config: Value, broker_cost_ms: f64, partitions: u32) -> Value {
    json!({
        "name": "producer-rules",
        "duration_ms": 100,
        "cluster": {
            "brokers": 1,
            "network": { "latency_ms": { "dist": "fixed", "value": 0.001 }, "bandwidth_mbps": 1e9 },
            "costs": { "request_ms": { "dist": "fixed", "value": broker_cost_ms }, "per_kib_us": 0 }
        },
        "topics": [ { "name": "t", "partitions": partitions } ],
        "producers": [ {
            "name": "p", "topic": "t", "rate_per_sec": 1000, "arrivals": "constant",
            "record_bytes": { "dist": "fixed", "value": 1024 },
            "config": producer_config
        } ]
    })
}

#[test]
fn a_full_batch_is_sent_when_the_next_record_does_not_fit() {
    // batch.size = 61 + 3 × 1033 + 1 holds three 1 KiB null-key records with a byte to spare.
    // The fourth record (t = 3 ms) does not fit: it closes the batch and opens a new one, which
    // makes the first sendable at once, long before linger.ms = 1000 expires.
    let config = json!({ "batch.size": 61 + 3 * 1033 + 1, "linger.ms": 1000 });
    let world = run_traced(&scenario(&base(config, 0.001, 1)));
    let sent = requests(&world);
    assert_eq!(sent[0], (3 * MS, vec![(0, 3)]));
    assert_eq!(sent[1], (6 * MS, vec![(0, 3)]));
}

#[test]
fn a_batch_filled_to_the_byte_is_sent_with_its_last_record() {
    // With batch.size = 61 + 3 × 1033 exactly, the third record brings the estimate to the write
    // limit: Kafka's `MemoryRecordsBuilder.isFull` (limit ≤ estimate) holds, `send()` wakes the
    // sender and the batch goes at 2 ms, without waiting for a record that does not fit.
    let config = json!({ "batch.size": 61 + 3 * 1033, "linger.ms": 1000 });
    let world = run_traced(&scenario(&base(config, 0.001, 1)));
    let sent = requests(&world);
    assert_eq!(sent[0], (2 * MS, vec![(0, 3)]));
    assert_eq!(sent[1], (5 * MS, vec![(0, 3)]));
}

#[test]
fn a_batch_is_sent_when_linger_expires() {
    // linger.ms = 5: the batch created at 0 becomes sendable at 5 ms; the record due at 5 ms is
    // appended first, so it holds records 0..=5. The next batch starts at 6 ms, goes at 11 ms.
    let config = json!({ "linger.ms": 5 });
    let world = run_traced(&scenario(&base(config, 0.001, 1)));
    let sent = requests(&world);
    assert_eq!(sent[0], (5 * MS, vec![(0, 6)]));
    assert_eq!(sent[1], (11 * MS, vec![(0, 6)]));
    // The acknowledgement takes one hop there, the broker's cost, one hop back.
    let first_ack = trace(&world)
        .iter()
        .find_map(|entry| match entry {
            TraceEntry::BatchAcked { at_ns, .. } => Some(*at_ns),
            _ => None,
        })
        .expect("acknowledged");
    assert_eq!(first_ack, 5 * MS + 3 * HOP_NS);
}

#[test]
fn one_request_drains_every_partition_of_the_ready_node() {
    // RoundRobinPartitioner alternates partitions 0, 1, 0, 1 …; both live on broker 0. At 5 ms
    // partition 0's batch (records 0, 2, 4 ms) is past linger; partition 1's (1, 3, 5 ms) is not,
    // but Kafka drains every partition of a ready node, one batch each, into one request.
    let config = json!({ "linger.ms": 5, "partitioner.class": "org.apache.kafka.clients.producer.RoundRobinPartitioner" });
    let world = run_traced(&scenario(&base(config, 0.001, 2)));
    let sent = requests(&world);
    assert_eq!(sent[0], (5 * MS, vec![(0, 3), (1, 3)]));
}

#[test]
fn the_in_flight_limit_holds_batches_until_a_response() {
    // max.in.flight = 2, linger.ms = 0, broker cost 10 ms. Requests go at 0 and 1 ms; from 2 ms
    // the connection is full and records collect in one batch. The broker handles one request
    // per connection at a time (Kafka's socket server mutes the channel until the response is
    // sent): request 1 reaches it at 1 µs and is answered at 10 ms + 1 µs, landing at
    // 10 ms + 2 µs, which frees a slot: records 2..=10 ms (9) go then. Request 2 waited behind
    // request 1, so its answer lands at 20 ms + 2 µs and records 11..=20 ms (10) go then.
    let config = json!({ "linger.ms": 0, "max.in.flight.requests.per.connection": 2 });
    let world = run_traced(&scenario(&base(config, 10.0, 1)));
    let sent = requests(&world);
    assert_eq!(sent[0], (0, vec![(0, 1)]));
    assert_eq!(sent[1], (MS, vec![(0, 1)]));
    assert_eq!(sent[2], (10 * MS + 2 * HOP_NS, vec![(0, 9)]));
    assert_eq!(sent[3], (20 * MS + 2 * HOP_NS, vec![(0, 10)]));
}

fn one_record_scenario(config: Value, duration_ms: u64) -> Value {
    // One record at t = 0 (rate 0.1/s), a broker that takes 1.5 s per request.
    let mut json = base(config, 1500.0, 1);
    json["duration_ms"] = json!(duration_ms);
    json["producers"][0]["rate_per_sec"] = json!(0.1);
    json
}

#[test]
fn request_timeouts_retry_after_backoff_until_the_delivery_timeout() {
    // request.timeout.ms = 1000 < the broker's 1.5 s: the request sent at 0 times out at 1 s,
    // the connection closes and the batch is re-queued with backoff. retry.backoff.max.ms equal
    // to retry.backoff.ms turns off Kafka's exponential growth and jitter: exactly 200 ms, so the
    // retry goes at 1.2 s, times out at 2.2 s, goes again at 2.4 s, and the batch fails when
    // delivery.timeout.ms = 3000 expires at 3 s, while still in flight.
    let config = json!({
        "linger.ms": 0, "request.timeout.ms": 1000, "delivery.timeout.ms": 3000,
        "retry.backoff.ms": 200, "retry.backoff.max.ms": 200
    });
    let world = run_traced(&scenario(&one_record_scenario(config, 5000)));
    let expected = vec![
        TraceEntry::RequestSent {
            at_ns: 0,
            producer: 0,
            broker: 0,
            batches: vec![(0, 1)],
        },
        TraceEntry::BatchRetried {
            at_ns: 1000 * MS,
            partition: 0,
            records: 1,
        },
        TraceEntry::RequestSent {
            at_ns: 1200 * MS,
            producer: 0,
            broker: 0,
            batches: vec![(0, 1)],
        },
        TraceEntry::BatchRetried {
            at_ns: 2200 * MS,
            partition: 0,
            records: 1,
        },
        TraceEntry::RequestSent {
            at_ns: 2400 * MS,
            producer: 0,
            broker: 0,
            batches: vec![(0, 1)],
        },
        TraceEntry::BatchFailed {
            at_ns: 3000 * MS,
            partition: 0,
            records: 1,
        },
    ];
    assert_eq!(trace(&world), expected.as_slice());
    assert_eq!(world.metrics.producer.records_failed, 1);
    assert_eq!(world.metrics.producer.records_retried, 2);
}

#[test]
fn exponential_backoff_draws_within_kafkas_jitter() {
    // Defaults retry.backoff.ms = 100, retry.backoff.max.ms = 1000: the first retry waits
    // 100 ms × U[0.8, 1.2), the second 200 ms × U[0.8, 1.2).
    let config =
        json!({ "linger.ms": 0, "request.timeout.ms": 1000, "delivery.timeout.ms": 10000 });
    let world = run_traced(&scenario(&one_record_scenario(config, 2500)));
    let sent: Vec<u64> = requests(&world).iter().map(|(at_ns, _)| *at_ns).collect();
    let first_wait = sent[1] - 1000 * MS;
    assert!(
        (80 * MS..120 * MS).contains(&first_wait),
        "first backoff {first_wait} ns"
    );
    let second_wait = sent[2] - (sent[1] + 1000 * MS);
    assert!(
        (160 * MS..240 * MS).contains(&second_wait),
        "second backoff {second_wait} ns"
    );
}

#[test]
fn a_partition_increase_reaches_the_producer_at_its_metadata_refresh() {
    // The topic grows from 2 to 4 partitions at 50 ms. Kafka's producer learns of it only from
    // metadata, which it refreshes every metadata.max.age.ms (100 ms here) since the last
    // refresh (none before: at 100 ms). Keyed records map by murmur2 % partitions, so from the
    // refresh on, keys spread over 4 partitions; before it, only over the first 2.
    let mut json = base(
        json!({ "linger.ms": 0, "metadata.max.age.ms": 100 }),
        0.001,
        2,
    );
    json["duration_ms"] = json!(200);
    json["producers"][0]["keys"] = json!({ "dist": "uniform", "count": 1000 });
    json["timeline"] =
        json!([{ "at_ms": 50, "action": "add-partitions", "topic": "t", "partitions": 4 }]);
    let world = run_traced(&scenario(&json));
    let sent = requests(&world);
    let first_new = sent
        .iter()
        .find(|(_, batches)| batches.iter().any(|&(partition, _)| partition >= 2))
        .map(|&(at_ns, _)| at_ns)
        .expect("the new partitions get records");
    // The refresh goes out at 100 ms and its answer is back 2 hops and the broker's cost later.
    assert!(
        first_new >= 100 * MS + 2 * HOP_NS,
        "new partition used at {first_new} ns"
    );
    assert!(
        first_new <= 102 * MS,
        "new partition used only at {first_new} ns"
    );
    let used: std::collections::BTreeSet<u32> = sent
        .iter()
        .flat_map(|(_, batches)| batches.iter().map(|&(partition, _)| partition))
        .collect();
    assert_eq!(used, [0, 1, 2, 3].into_iter().collect());
}
