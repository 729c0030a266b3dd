//! Goal: replication, elections and idempotence give Kafka's delivery outcomes exactly: acks=all
//! with min.insync.replicas=2 never loses an acknowledged record through a broker crash; acks=1
//! loses exactly the acknowledged records its followers had not fetched; a request that times out
//! while the broker still appends it leaves one duplicate per retry without idempotence and none
//! with it; a stalled in-ISR follower holds acks=all until the ISR shrinks.
//! Method: small scenarios with fixed latencies and costs where the outcome can be derived by
//! hand (derivations in each test), plus a sweep of seeds for the no-loss guarantee.

use super::util::{run_traced, scenario, trace};
use kafkasim::world::World;
use serde_json::{json, Value};

fn run(json: &Value, seed: u64) -> World {
    let scenario = scenario(json);
    let mut world = World::build(&scenario, seed).unwrap_or_else(|error| panic!("{error}"));
    world.run().expect("no limit");
    world
}

fn fixed(ms: f64) -> Value {
    json!({ "dist": "fixed", "value": ms })
}

#[test]
fn acks_all_with_min_insync_two_loses_nothing_across_seeds() {
    let json = json!({
        "name": "no-loss", "duration_ms": 30000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 3, "replication.factor": 3, "config": { "min.insync.replicas": 2 } } ],
        "producers": [ { "name": "p", "instances": 2, "topic": "t", "rate_per_sec": 2000,
                         "keys": { "dist": "uniform", "count": 1000 }, "config": { "acks": "all" } } ],
        "timeline": [ { "at_ms": 5000, "action": "broker-crash", "broker": 0 },
                      { "at_ms": 20000, "action": "broker-restart", "broker": 0 } ]
    });
    for seed in 1..=50 {
        let world = run(&json, seed);
        let figures = world.metrics.ledger.figures();
        assert_eq!(figures.lost_acked, 0, "seed {seed}");
        assert_eq!(
            figures.duplicates_in_log, 0,
            "seed {seed}: idempotence is on by default"
        );
        assert_eq!(figures.reordered, 0, "seed {seed}");
        assert!(
            world.controller.stats.leader_elections >= 1,
            "seed {seed}: the crash moved a leader"
        );
        assert!(world.metrics.producer.records_acked > 50_000, "seed {seed}");
    }
}

#[test]
fn acks_1_loses_exactly_the_records_its_follower_had_not_fetched() {
    // Two brokers, one partition led by broker 0, follower broker 1; records every 1 ms, 1 µs
    // latency and cost, acks=1 (idempotence off). The follower stalls at 1000 ms: the fetch
    // response carrying the record of 1000 ms arrives at 1000.003 ms and waits until the stall
    // ends at 1600 ms; the follower's next fetch then finds the leader gone. The leader keeps
    // acknowledging records 1000..=1499 ms (500), then crashes at 1500 ms (before the record of
    // 1500 ms is sent). The follower, still in the ISR (600 ms of lag is far below
    // replica.lag.time.max.ms), is elected when broker 0's session expires; its log ends with
    // the record of 1000 ms, so exactly the 499 acknowledged records 1001..=1499 ms are gone.
    let json = json!({
        "name": "acks1-loss", "duration_ms": 20000,
        "cluster": { "brokers": 2, "network": { "latency_ms": fixed(0.001), "bandwidth_mbps": 1e9 },
                     "costs": { "request_ms": fixed(0.001), "per_kib_us": 0 } },
        "topics": [ { "name": "t", "partitions": 1, "replication.factor": 2 } ],
        "producers": [ { "name": "p", "topic": "t", "rate_per_sec": 1000, "arrivals": "constant",
                         "config": { "acks": "1", "linger.ms": 0 } } ],
        "timeline": [ { "at_ms": 1000, "action": "broker-stall", "broker": 1, "duration_ms": 600 },
                      { "at_ms": 1500, "action": "broker-crash", "broker": 0 } ]
    });
    let world = run(&json, 1);
    assert_eq!(world.metrics.ledger.figures().lost_acked, 499);
    assert_eq!(world.controller.stats.leader_elections, 1);
}

fn one_slow_record(idempotence: bool) -> Value {
    // One 1 MB record at t = 0; the broker spends 1.5 ms per KiB appended, so each produce
    // request of it takes about 1.46 s while a metadata request takes 1 µs. request.timeout.ms =
    // 1000 and a fixed 200 ms backoff: attempts go at 0, 1.2 s and 2.4 s (see producer_rules),
    // each after a timeout that also makes the client ask for metadata. The broker handles one
    // request per connection at a time and appends every attempt it receives: attempt 1 at
    // 1.46 s, then (after the metadata request of 1.0 s) attempt 2 at 2.93 s, then attempt 3 at
    // 4.39 s. Three copies, two of them duplicates: one per retried request.
    json!({
        "name": "slow-broker", "duration_ms": 5000,
        "cluster": { "brokers": 1, "network": { "latency_ms": fixed(0.001), "bandwidth_mbps": 1e9 },
                     "costs": { "request_ms": fixed(0.001), "per_kib_us": 1500 } },
        "topics": [ { "name": "t", "partitions": 1 } ],
        "producers": [ { "name": "p", "topic": "t", "rate_per_sec": 0.1, "arrivals": "constant",
                         "record_bytes": { "dist": "fixed", "value": 1000000 },
                         "config": { "acks": "all", "linger.ms": 0, "request.timeout.ms": 1000,
                                     "delivery.timeout.ms": 3000, "retry.backoff.ms": 200,
                                     "retry.backoff.max.ms": 200, "enable.idempotence": idempotence } } ]
    })
}

#[test]
fn retried_requests_duplicate_without_idempotence_and_not_with_it() {
    let without = run(&one_slow_record(false), 1);
    assert_eq!(without.metrics.producer.records_retried, 2);
    assert_eq!(
        without.metrics.ledger.figures().duplicates_in_log,
        2,
        "one copy per retried request"
    );
    let with = run(&one_slow_record(true), 1);
    assert_eq!(with.metrics.producer.records_retried, 2);
    assert_eq!(
        with.metrics.ledger.figures().duplicates_in_log,
        0,
        "the broker recognises the sequence"
    );
}

#[test]
fn a_stalled_follower_holds_acks_all_until_the_isr_shrinks() {
    // RF 2, min.insync.replicas 1, acks=all. Broker 1 follows and stalls from 5 s for 60 s
    // (it keeps heartbeating, so the controller does not fence it). The leader's HW waits for
    // it until the isr-expiration task (every replica.lag.time.max.ms / 2 = 15 s) finds it more
    // than 30 s behind: at the check of 45 s. A record sent just after 5 s therefore waits
    // between replica.lag.time.max.ms (30 s) and 1.5 × (45 s).
    let json = json!({
        "name": "stalled-follower", "duration_ms": 60000,
        "cluster": { "brokers": 2 },
        "topics": [ { "name": "t", "partitions": 1, "replication.factor": 2 } ],
        "producers": [ { "name": "p", "topic": "t", "rate_per_sec": 100, "config": { "acks": "all" } } ],
        "timeline": [ { "at_ms": 5000, "action": "broker-stall", "broker": 1, "duration_ms": 60000 } ]
    });
    let world = run(&json, 1);
    let max_ms = world.metrics.producer.latency.max_ns() / 1_000_000;
    assert!(
        (30_000..=45_000).contains(&max_ms),
        "max produce latency {max_ms} ms"
    );
    assert_eq!(world.controller.stats.isr_shrinks, 1);
    assert_eq!(world.metrics.ledger.figures().lost_acked, 0);
}

#[test]
fn replicas_are_placed_as_kafkas_rack_unaware_assignment() {
    // The example in Kafka's `AdminUtils.assignReplicasToBrokers` with start index 0 and first
    // shift 0 (5 brokers, 10 partitions, 3 replicas): p0 → [0, 1, 2], p4 → [4, 0, 1],
    // p5 → [0, 2, 3] (the shift grows once the partitions wrap), p9 → [4, 1, 2].
    let json = json!({
        "name": "placement", "duration_ms": 1, "cluster": { "brokers": 5 },
        "topics": [ { "name": "t", "partitions": 10, "replication.factor": 3 } ]
    });
    let scenario = scenario(&json);
    let world = World::build(&scenario, 1).expect("builds");
    let replicas: Vec<Vec<u32>> = world
        .metadata
        .topic(0)
        .replicas
        .iter()
        .map(|list| list.iter().map(|broker| broker.0).collect())
        .collect();
    assert_eq!(replicas[0], [0, 1, 2]);
    assert_eq!(replicas[4], [4, 0, 1]);
    assert_eq!(replicas[5], [0, 2, 3]);
    assert_eq!(replicas[9], [4, 1, 2]);
}

#[test]
fn contradictory_broker_faults_are_refused() {
    let json = json!({
        "name": "faults", "duration_ms": 10000, "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 1 } ],
        "timeline": [ { "at_ms": 1000, "action": "broker-crash", "broker": 1 },
                      { "at_ms": 2000, "action": "broker-crash", "broker": 1 } ]
    });
    let error = World::build(&scenario(&json), 1).err().expect("refused");
    assert!(
        error.message.contains("timeline[1]") && error.message.contains("already down"),
        "{error}"
    );
    let restart = json!({
        "name": "faults", "duration_ms": 10000, "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 1 } ],
        "timeline": [ { "at_ms": 1000, "action": "broker-restart", "broker": 2 } ]
    });
    let error = World::build(&scenario(&restart), 1).err().expect("refused");
    assert!(error.message.contains("running"), "{error}");
}

#[test]
fn a_power_loss_loses_what_was_never_flushed() {
    // One broker, records every 1 ms acknowledged 2 µs after they are sent (acks=1). It loses
    // power at 5 s with the last second unflushed (lose_unflushed_ms = 1000): the records of
    // 4000..=4999 ms were appended after 4 s and are gone, 1000 acknowledged records. It restarts
    // at 6 s; the controller refuses its registration until the old process's session lapses
    // (last heartbeat at 4 s, broker.session.timeout.ms 9 s: 13 s), so it registers at its
    // next heartbeat (14 s) and leads its partition again. The records held back from 5 s to
    // 14 s then go out: only the few in flight at the end remain unacknowledged.
    let json = json!({
        "name": "power-loss", "duration_ms": 20000,
        "cluster": { "brokers": 1, "network": { "latency_ms": fixed(0.001), "bandwidth_mbps": 1e9 },
                     "costs": { "request_ms": fixed(0.001), "per_kib_us": 0 } },
        "topics": [ { "name": "t", "partitions": 1 } ],
        "producers": [ { "name": "p", "topic": "t", "rate_per_sec": 1000, "arrivals": "constant",
                         "config": { "acks": "1", "linger.ms": 0 } } ],
        "timeline": [ { "at_ms": 5000, "action": "broker-crash", "broker": 0, "lose_unflushed_ms": 1000 },
                      { "at_ms": 6000, "action": "broker-restart", "broker": 0 } ]
    });
    let world = run(&json, 1);
    assert_eq!(world.metrics.ledger.figures().lost_acked, 1000);
    assert!(
        world.metrics.producer.records_acked > 19_900,
        "the producer resumes after the registration: {}",
        world.metrics.producer.records_acked
    );
}

/// Broker 0 leads the one partition of `t` (RF 3, min.insync.replicas 2), written with acks=all
/// at 2,000 records/s; fixed 0.1 ms latency; 20 s.
fn leader_crash_scenario(timeline: Value, consumer_groups: Value) -> Value {
    json!({
        "name": "leader-crash", "duration_ms": 20000,
        "cluster": { "brokers": 3, "network": { "latency_ms": fixed(0.1), "bandwidth_mbps": 10000 } },
        "topics": [ { "name": "t", "partitions": 1, "replication.factor": 3,
                      "config": { "min.insync.replicas": 2 } } ],
        "producers": [ { "name": "p", "topic": "t", "rate_per_sec": 2000, "arrivals": "constant",
                         "config": { "acks": "all", "linger.ms": 0 } } ],
        "consumer_groups": consumer_groups,
        "timeline": timeline
    })
}

/// When the producer retried a batch, from the batch trace.
fn retries_ns(world: &World) -> Vec<u64> {
    (trace(world).iter())
        .filter_map(|entry| match entry {
            kafkasim::metrics::TraceEntry::BatchRetried { at_ns, .. } => Some(*at_ns),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dead_leader_refuses_connections_so_only_the_requests_in_flight_are_retried() {
    // Broker 0 leads the one partition and dies at 5 s; the controller fences it about 9 s
    // later and moves the leadership. The requests on the connection at the crash fail with a
    // network error and are retried (Kafka's NetworkClient sees the disconnect). Every later
    // attempt to reach broker 0 opens a new connection, which a dead broker refuses before any
    // request goes out: the partition's batches wait in the accumulator, uncounted, while the
    // reconnect backoff grows from 50 ms to 1 s. So all retries fall at the crash's reset
    // (within a millisecond), none in the ~9 s before the new leader is known.
    let timeline = json!([ { "at_ms": 5000, "action": "broker-crash", "broker": 0 } ]);
    let world = run_traced(&scenario(&leader_crash_scenario(timeline, json!([]))));
    let retried = retries_ns(&world);
    assert!(
        !retried.is_empty(),
        "the requests in flight at the crash are retried"
    );
    let crash_ns = 5_000_000_000;
    assert!(
        retried
            .iter()
            .all(|&at_ns| (crash_ns..crash_ns + 1_000_000).contains(&at_ns)),
        "retries at {retried:?}"
    );
    let figures = world.metrics.ledger.figures();
    assert_eq!(
        (
            figures.lost_acked,
            figures.duplicates_in_log,
            figures.reordered
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_restarted_broker_refuses_connections_until_registered_and_clients_back_off() {
    // As above, with broker 0 restarted at 7 s and a consumer reading the partition. The old
    // process's session is valid until about 14 s, so the controller refuses the new one's
    // registration until then, and Kafka's broker opens its listeners only once registered and
    // unfenced: to clients and followers the restarted broker is as dead as before. So again
    // the producer retries only at the crash's reset until the fencing (13 s at the earliest:
    // the last heartbeat came at 4 s or later); answers of NOT_LEADER_OR_FOLLOWER from the
    // restarted process would be retried from 7 s. After the fencing the registered process
    // is a follower and may answer a producer with stale metadata so.
    //
    // Every refused attempt costs a connection reset. With the reconnect backoff (50 ms doubling
    // to 1 s: five attempts in the first 1.55 s, then one a second) the producer and the
    // consumer's fetcher each try broker 0 at most about 13 times in the 9 s before the
    // fencing, the two followers once a second (`replica.fetch.backoff.ms`), and the consumer's
    // coordinator lookups every `retry.backoff.ms` (100 ms) if broker 0 coordinates the group:
    // under 200 resets in all, where a client retrying at every round trip (0.2 ms) would
    // reach tens of thousands.
    let timeline = json!([ { "at_ms": 5000, "action": "broker-crash", "broker": 0 },
                           { "at_ms": 7000, "action": "broker-restart", "broker": 0 } ]);
    let groups = json!([ { "group.id": "g", "members": 1, "topics": ["t"] } ]);
    let world = run_traced(&scenario(&leader_crash_scenario(timeline, groups)));
    let retried = retries_ns(&world);
    let crash_ns = 5_000_000_000;
    let earliest_fencing_ns = 13_000_000_000;
    assert!(retried.iter().any(|&at_ns| at_ns < crash_ns + 1_000_000));
    assert!(
        !retried
            .iter()
            .any(|&at_ns| (crash_ns + 1_000_000..earliest_fencing_ns).contains(&at_ns)),
        "retries at {retried:?}"
    );
    let resets = (world.event_counts.by_kind().into_iter())
        .find(|(kind, _)| kind == "ConnectionClosed")
        .map_or(0, |(_, count)| count);
    assert!((1..200).contains(&resets), "{resets} connection resets");
    // The consumer read on after the failover.
    let processed = world.metrics.groups[0].records_processed;
    assert!(processed > 20_000, "{processed} records processed");
}

#[test]
fn follower_fetch_sessions_name_every_partition_once_then_only_changes() {
    // KIP-227. Three brokers, 30 partitions × RF 3: each broker leads 10 and follows the other
    // two brokers' 10 each, so 6 (follower, leader) fetch sessions of 10 partitions. With no
    // producer nothing ever changes: each session's first (full) request names its 10
    // partitions and its answer carries all 10 (the follower was never told their high
    // watermark or log start); every later request is incremental, names nothing, and its
    // answer (after replica.fetch.wait.max.ms) carries nothing. Totals: 6 full requests, 60
    // partitions requested, 60 answered, whatever the number of fetches.
    let json = json!({
        "name": "idle-sessions", "duration_ms": 10000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 30, "replication.factor": 3 } ],
        "producers": []
    });
    let world = run(&json, 1);
    let mut total = kafkasim::broker::FetchSessionStats::default();
    for broker in &world.brokers {
        let stats = broker.fetch_session_stats;
        total.full_requests += stats.full_requests;
        total.incremental_requests += stats.incremental_requests;
        total.partitions_requested += stats.partitions_requested;
        total.partitions_answered += stats.partitions_answered;
    }
    assert_eq!(total.full_requests, 6);
    assert_eq!(total.partitions_requested, 60);
    assert_eq!(total.partitions_answered, 60);
    // About one fetch per 500 ms per session over 10 s.
    assert!(total.incremental_requests >= 6 * 18, "{total:?}");
}

#[test]
fn follower_fetch_sessions_name_only_the_partitions_written() {
    // One keyed producer writing a single key, so a single partition, on the cluster above:
    // after the 6 full requests (60 partitions), an incremental request names at most that one
    // partition (its fetch offset moved), so partitions requested ≤ 60 + incremental requests;
    // an answer carries at most that partition too.
    let json = json!({
        "name": "one-partition-sessions", "duration_ms": 10000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 30, "replication.factor": 3 } ],
        "producers": [ { "name": "p", "instances": 1, "topic": "t", "rate_per_sec": 1000,
                         "keys": { "dist": "uniform", "count": 1 } } ]
    });
    let world = run(&json, 1);
    let mut full = 0;
    let mut incremental = 0;
    let mut requested = 0;
    let mut answered = 0;
    for broker in &world.brokers {
        let stats = broker.fetch_session_stats;
        full += stats.full_requests;
        incremental += stats.incremental_requests;
        requested += stats.partitions_requested;
        answered += stats.partitions_answered;
    }
    assert_eq!(full, 6);
    assert!(
        requested > 60,
        "the written partition's followers report progress"
    );
    assert!(
        requested <= 60 + incremental,
        "{requested} > 60 + {incremental}"
    );
    assert!(
        answered <= 60 + incremental,
        "{answered} > 60 + {incremental}"
    );
    assert_eq!(world.metrics.ledger.figures().lost_acked, 0);
}
