//! Transactions, read_committed and consume-transform-produce (issue 9).
//!
//! Method: whole runs, checked against what Kafka's exactly-once design promises: a pipeline
//! whose members commit their output and their offsets in one transaction has no output
//! duplicates and no losses whatever crashes (member and broker) happen, over 50 seeds; the
//! same pipeline committing after a flush (at-least-once) duplicates output after a member
//! crash; a new instance's `initTransactions()` fences the old one (epoch bumps: +1 for the
//! fence, +1 for the new instance); aborted records are processed by read_uncommitted groups
//! and never by read_committed ones. Figures come from the ledger's logs of record, read the way
//! Kafka's read_committed consumer filters them (`report::transactions`).

use crate::util;
use kafkasim::ids::{TopicId, TopicPartition};
use kafkasim::report::transactions::output_figures;
use kafkasim::scenario::model::Scenario;
use kafkasim::world::World;
use serde_json::{json, Value};

fn pipeline(output: Value) -> Value {
    json!({
        "name": "eos-pipeline", "seed": 1, "duration_ms": 30000,
        "cluster": { "brokers": 3, "network": { "latency_ms": { "dist": "lognormal", "p50": 0.25, "p99": 1.0 }, "bandwidth_mbps": 10000 } },
        "topics": [
            { "name": "input", "partitions": 6, "replication.factor": 3, "config": { "min.insync.replicas": 2 } },
            { "name": "output", "partitions": 6, "replication.factor": 3, "config": { "min.insync.replicas": 2 } }
        ],
        "producers": [ { "name": "events", "topic": "input", "rate_per_sec": 500,
            "record_bytes": { "dist": "fixed", "value": 256 }, "keys": { "dist": "uniform", "count": 1000 } } ],
        "consumer_groups": [ {
            "group.id": "transform", "members": 3, "topics": ["input"],
            "processing_ms_per_record": { "dist": "fixed", "value": 0.2 },
            "config": { "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                        "heartbeat.interval.ms": 1000, "max.poll.records": 100 },
            "output": output
        } ],
        "timeline": [
            { "at_ms": 8000, "action": "consumer-crash", "group": "transform", "member": 0 },
            { "at_ms": 10000, "action": "consumer-restart", "group": "transform", "member": 0 },
            { "at_ms": 15000, "action": "broker-crash", "broker": 0 },
            { "at_ms": 21000, "action": "broker-restart", "broker": 0 }
        ]
    })
}

fn run(scenario: &Scenario, seed: u64) -> World {
    let mut world = World::build(scenario, seed).unwrap_or_else(|error| panic!("{error}"));
    world.run().expect("no limit reached");
    world
}

#[test]
fn exactly_once_pipeline_has_no_output_duplicates_or_losses_across_50_seeds() {
    let scenario = util::scenario(&pipeline(json!({
        "topic": "output",
        "config": { "transactional.id": "transform", "transaction.timeout.ms": 10000 }
    })));
    // Two threads (the machine's cores); each builds its own worlds.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|half| {
                let scenario = &scenario;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for seed in (1..=50u64).filter(|seed| seed % 2 == half) {
                        let world = run(scenario, seed);
                        let figures = output_figures(&world, 0).expect("the group has an output");
                        // Every input record below the committed offsets is in the output: at
                        // 500 records/s for ~30 s that is well over 10 000 records.
                        if figures.duplicates != 0 || figures.lost != 0 || figures.visible < 10_000
                        {
                            failures.push(format!("seed {seed}: {figures:?}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("no panic"))
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn at_least_once_pipeline_duplicates_output_after_a_member_crash() {
    let scenario = util::scenario(&pipeline(json!({ "topic": "output" })));
    let world = run(&scenario, 1);
    let figures = output_figures(&world, 0).expect("the group has an output");
    let (reprocessed, _) = kafkasim::report::groups::delivery_of_group(&world, 0);
    // The crashed member's records since its last commit (every 5 s, after a flush) are
    // processed again by their new owner, and each sends its output again: at most one output
    // duplicate per reprocessed record (an output still in the accumulator at the crash never
    // left), and nothing lost, since offsets are committed only after the flush.
    assert!(figures.duplicates > 0, "{figures:?}");
    assert!(
        figures.duplicates <= reprocessed,
        "{figures:?} vs {reprocessed}"
    );
    assert_eq!(figures.lost, 0, "{figures:?}");
    assert_eq!(figures.aborted, 0);
    assert_eq!(world.metrics.transactions.committed, 0);
}

/// One transactional producer writing transactions of 100 records, read by a read_committed and
/// a read_uncommitted group.
fn transactional(abort_probability: f64, timeline: Value) -> Value {
    json!({
        "name": "transactional", "seed": 1, "duration_ms": 20000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 3, "replication.factor": 3, "config": { "min.insync.replicas": 2 } } ],
        "producers": [ { "name": "app", "topic": "t", "rate_per_sec": 1000, "arrivals": "constant",
            "record_bytes": { "dist": "fixed", "value": 100 },
            "config": { "transactional.id": "app" },
            "transaction": { "records": 100, "abort_probability": abort_probability } } ],
        "consumer_groups": [
            { "group.id": "committed", "members": 1, "topics": ["t"],
              "config": { "auto.offset.reset": "earliest", "isolation.level": "read_committed" } },
            { "group.id": "uncommitted", "members": 1, "topics": ["t"],
              "config": { "auto.offset.reset": "earliest" } }
        ],
        "timeline": timeline
    })
}

/// Offsets of aborted transactions' records in the log of record, per partition, as Kafka's
/// aborted-transaction index has them (first offset to abort marker).
fn aborted_offsets(world: &World) -> Vec<(u32, u64)> {
    let mut aborted = Vec::new();
    for (tp, log) in &world.metrics.ledger.txn_batches {
        let mut open: std::collections::BTreeMap<u64, Vec<(u64, u32)>> = Default::default();
        for (&offset, data) in log {
            match data.control {
                Some(commit) => {
                    let batches = open.remove(&data.producer_id).unwrap_or_default();
                    if !commit {
                        for (base, records) in batches {
                            aborted.extend(
                                (base..base + u64::from(records)).map(|o| (tp.partition, o)),
                            );
                        }
                    }
                }
                None => open
                    .entry(data.producer_id)
                    .or_default()
                    .push((offset, data.records)),
            }
        }
    }
    aborted
}

fn processed(world: &World, group: usize, (partition, offset): (u32, u64)) -> bool {
    world.metrics.groups[group]
        .processed
        .get(&TopicPartition {
            topic: TopicId(0),
            partition,
        })
        .is_some_and(|set| set.count_below(offset + 1) > set.count_below(offset))
}

#[test]
fn aborted_records_reach_read_uncommitted_but_never_read_committed() {
    let scenario = util::scenario(&transactional(0.5, json!([])));
    let world = run(&scenario, 1);
    let txns = &world.metrics.transactions;
    assert!(
        txns.aborted > 20 && txns.committed > 20,
        "{} committed, {} aborted",
        txns.committed,
        txns.aborted
    );
    let aborted = aborted_offsets(&world);
    // Each aborted transaction holds 100 records.
    assert_eq!(aborted.len() as u64, 100 * txns.aborted);
    assert!(aborted.iter().all(|&at| !processed(&world, 0, at)));
    assert!(aborted.iter().all(|&at| processed(&world, 1, at)));
    // read_committed processes exactly the committed transactions' records that its reads
    // reached (the last stable offset at the end bounds them).
    let committed_records = world.metrics.groups[0].records_processed;
    assert_eq!(committed_records % 100, 0, "whole transactions only");
    assert!(committed_records <= 100 * txns.committed);
    assert!(committed_records + 300 >= 100 * txns.committed);
}

#[test]
fn a_new_instance_fences_the_old_one_and_aborts_its_open_transaction() {
    // Transactions of 100 records at 1000/s take 100 ms: at 5 050 ms the 51st is open.
    let timeline = json!([
        { "at_ms": 5050, "action": "producer-restart", "producer": "app" }
    ]);
    let scenario = util::scenario(&transactional(0.0, timeline));
    let world = run(&scenario, 1);
    let txns = &world.metrics.transactions;
    assert_eq!((txns.fenced, txns.aborted), (1, 1));
    // InitProducerId at start: epoch 0; the new instance's first InitProducerId fences (epoch
    // 1, abort markers of epoch 1), its retry after the abort gets epoch 2.
    assert_eq!(world.txns[0].epoch, 2);
    // The zombie's records are aborted: never seen by read_committed.
    let aborted = aborted_offsets(&world);
    assert!(!aborted.is_empty());
    assert!(aborted.iter().all(|&at| !processed(&world, 0, at)));
}

#[test]
fn a_crash_mid_transaction_is_aborted_by_the_transaction_timeout() {
    let timeline = json!([
        { "at_ms": 5050, "action": "producer-crash", "producer": "app" }
    ]);
    let mut json = transactional(0.0, timeline);
    json["producers"][0]["config"]["transaction.timeout.ms"] = json!(3000);
    let scenario = util::scenario(&json);
    let world = run(&scenario, 1);
    let txns = &world.metrics.transactions;
    // The open transaction expires at the first 10 s cleanup check after 5.0 s + 3 s: the
    // coordinator bumps the epoch and aborts it.
    assert_eq!(txns.timed_out, 1);
    assert_eq!(txns.aborted, 1);
    assert_eq!(world.txns[0].epoch, 1);
    assert!(world.lso_lag() == 0, "nothing stays open");
}

#[test]
fn transactional_id_needs_idempotence() {
    let mut json = transactional(0.0, json!([]));
    json["producers"][0]["config"]["acks"] = json!("1");
    let text = serde_json::to_string(&json).expect("serializes");
    let error = kafkasim::scenario::load_str(&text, "test", &[], None)
        .expect_err("acks=1 with a transactional.id is refused");
    let message = error.to_string();
    assert!(
        message.contains("producers[0].config.transactional.id")
            && message.contains("Cannot set a transactional.id without also enabling idempotence."),
        "{message}"
    );
}

#[test]
fn duplicate_transactional_ids_are_refused() {
    let mut json = transactional(0.0, json!([]));
    let mut second = json["producers"][0].clone();
    second["name"] = json!("app2");
    json["producers"]
        .as_array_mut()
        .expect("array")
        .push(second);
    let text = serde_json::to_string(&json).expect("serializes");
    let error = kafkasim::scenario::load_str(&text, "test", &[], None)
        .expect_err("two producers with one transactional.id are refused");
    let message = error.to_string();
    assert!(
        message.contains("producers[1].config.transactional.id")
            && message.contains("transactional ids must be unique"),
        "{message}"
    );
}

#[test]
fn the_transaction_coordinator_fails_over_with_its_broker() {
    let broker = kafkasim::group::coordinator_broker("app", 3).0;
    let timeline = json!([
        { "at_ms": 5050, "action": "broker-crash", "broker": broker },
        { "at_ms": 15000, "action": "broker-restart", "broker": broker }
    ]);
    let scenario = util::scenario(&transactional(0.0, timeline));
    let world = run(&scenario, 1);
    let txns = &world.metrics.transactions;
    // The coordinator moved to another replica of its __transaction_state partition once the
    // controller fenced the dead broker, and finished the transaction in flight: nothing was
    // fenced or aborted, transactions went on committing, and none is left open.
    assert!(world.txns[0].failovers >= 1);
    assert_ne!(world.txns[0].broker.0, broker);
    assert_eq!((txns.fenced, txns.aborted), (0, 0));
    assert!(txns.committed > 100, "{} committed", txns.committed);
    let aborted = aborted_offsets(&world);
    assert!(aborted.is_empty());
}

#[test]
fn read_committed_without_transactions_is_allowed_and_noted() {
    let mut json = transactional(0.0, json!([]));
    json["producers"][0]["config"] = json!({});
    json["producers"][0]
        .as_object_mut()
        .expect("object")
        .remove("transaction");
    let scenario = util::scenario(&json);
    let world = run(&scenario, 1);
    let metrics = kafkasim::report::metrics_json(&world, 0);
    assert_eq!(
        metrics["transactions"]["read_committed_without_transactions"],
        json!(true)
    );
    assert!(kafkasim::report::summary_table(&metrics).contains("no producer is transactional"));
    // Both groups read everything: with nothing open, the LSO is the HW.
    assert_eq!(
        world.metrics.groups[0].records_processed,
        world.metrics.groups[1].records_processed
    );
}

#[test]
fn check_knows_the_exactly_once_guarantee() {
    use kafkasim::check::Plan;
    // The pipeline without its own faults: `check` draws 1-3 per seed (crashes, stalls,
    // partitions, delays, losses, member crashes).
    let mut exactly_once = pipeline(json!({
        "topic": "output",
        "config": { "transactional.id": "transform", "transaction.timeout.ms": 10000 }
    }));
    exactly_once["timeline"] = json!([]);
    let plan = Plan::from_text(&exactly_once.to_string(), "eos").expect("valid");
    for seed in 1..=6 {
        let outcome = plan.run_seed(seed).expect("runs");
        let output: Vec<_> = outcome
            .anomalies
            .iter()
            .filter(|anomaly| anomaly.name.starts_with("output-"))
            .map(|anomaly| (anomaly.name, anomaly.count, anomaly.records.clone()))
            .collect();
        assert!(
            output.is_empty(),
            "seed {seed}: {output:?} with {:?}",
            outcome.faults
        );
    }
    // At-least-once: duplicates are found and named as not promised.
    let mut at_least_once = pipeline(json!({ "topic": "output" }));
    at_least_once["timeline"] = json!([
        { "at_ms": 8000, "action": "consumer-crash", "group": "transform", "member": 0 },
        { "at_ms": 10000, "action": "consumer-restart", "group": "transform", "member": 0 }
    ]);
    let plan = Plan::from_text(&at_least_once.to_string(), "alos").expect("valid");
    let mut duplicated_seeds = 0;
    for seed in 1..=4 {
        let outcome = plan.run_seed(seed).expect("runs");
        for anomaly in &outcome.anomalies {
            assert_ne!(
                anomaly.name, "output-lost",
                "seed {seed}: {:?}",
                anomaly.records
            );
            if anomaly.name == "output-duplicate" {
                assert!(!anomaly.promise.promised);
                assert!(anomaly.promise.reason.contains("no transactional.id"));
                duplicated_seeds += 1;
            }
        }
    }
    assert!(duplicated_seeds > 0, "the member crash duplicates output");
}

mod generated {
    //! Property: whatever the member crash, broker crash and transaction sizes, exactly-once
    //! output has no duplicates and no losses, and the run's invariants (LSO ≤ HW, read_committed
    //! never sees open or aborted records, fenced writes never appended) hold.
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    fn cases() -> u32 {
        std::env::var("KAFKASIM_PROPTEST_CASES")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(4)
    }

    proptest! {
        #![proptest_config(Config { cases: cases(), ..Config::default() })]

        #[test]
        fn exactly_once_holds_under_generated_crashes(
            member in 0u32..3,
            crash_ms in 3000u64..20000,
            down_ms in 100u64..5000,
            broker in 0u32..3,
            broker_crash_ms in 3000u64..20000,
            poll_records in 10u32..500,
            seed in 1u64..1000,
        ) {
            let mut json = pipeline(json!({
                "topic": "output",
                "config": { "transactional.id": "transform", "transaction.timeout.ms": 10000 }
            }));
            json["consumer_groups"][0]["config"]["max.poll.records"] = json!(poll_records);
            json["consumer_groups"].as_array_mut().expect("array").push(json!({
                "group.id": "sink", "members": 1, "topics": ["output"],
                "config": { "auto.offset.reset": "earliest", "isolation.level": "read_committed" }
            }));
            json["timeline"] = json!([
                { "at_ms": crash_ms, "action": "consumer-crash", "group": "transform", "member": member },
                { "at_ms": crash_ms + down_ms, "action": "consumer-restart", "group": "transform", "member": member },
                { "at_ms": broker_crash_ms, "action": "broker-crash", "broker": broker },
                { "at_ms": broker_crash_ms + 4000, "action": "broker-restart", "broker": broker }
            ]);
            let scenario = util::scenario(&json);
            let world = run(&scenario, seed);
            let figures = output_figures(&world, 0).expect("the group has an output");
            prop_assert_eq!((figures.duplicates, figures.lost), (0, 0), "{:?}", figures);
        }
    }
}
