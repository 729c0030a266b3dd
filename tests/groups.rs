//! Consumer groups, classic protocol: exact rebalance outcomes of the scenarios the issue names.
//! Method: small runs (one broker, fixed 0.5 ms network latency, fixed per-record processing),
//! then the recorder's rebalance records, ownership spans, the range ledger of processed offsets,
//! and the batch trace (commits and processed ranges) checked against derivations in comments.

use crate::util::{run_traced, scenario, trace};
use kafkasim::metrics::{OwnershipSpan, TraceEntry};
use kafkasim::world::World;
use serde_json::{json, Value};

const MS: u64 = 1_000_000;

/// One broker, 12 partitions, 1200 records/s, a group `billing` of `members` members.
fn base(members: u32, config: Value, commit: &str, timeline: Value) -> Value {
    json!({
        "name": "groups-test",
        "seed": 7,
        "duration_ms": 60000,
        "cluster": {
            "brokers": 1,
            "network": { "latency_ms": { "dist": "fixed", "value": 0.5 }, "bandwidth_mbps": 10000 }
        },
        "topics": [ { "name": "orders", "partitions": 12, "replication.factor": 1 } ],
        "producers": [ {
            "name": "app", "instances": 1, "topic": "orders",
            "rate_per_sec": 1200, "arrivals": "constant",
            "record_bytes": { "dist": "fixed", "value": 200 },
            "keys": { "dist": "uniform", "count": 1000 },
            "config": { "acks": "1", "linger.ms": 5 }
        } ],
        "consumer_groups": [ {
            "group.id": "billing", "members": members, "topics": ["orders"],
            "processing_ms_per_record": { "dist": "fixed", "value": 0.2 },
            "commit": commit,
            "config": config
        } ],
        "timeline": timeline
    })
}

fn run(json: &Value) -> World {
    run_traced(&scenario(json))
}

fn spans_of<'a>(world: &'a World, member: &str) -> Vec<&'a OwnershipSpan> {
    world
        .metrics
        .ownership
        .iter()
        .filter(|span| span.member == member)
        .collect()
}

/// For each partition whose span of `member` ended at `at_ns`: the time until anyone owned it again.
fn gaps_after(world: &World, member: &str, at_ns: u64) -> Vec<u64> {
    spans_of(world, member)
        .iter()
        .filter(|span| span.to_ns == Some(at_ns))
        .map(|ended| {
            world
                .metrics
                .ownership
                .iter()
                .filter(|span| span.partition == ended.partition && span.from_ns >= at_ns)
                .map(|span| span.from_ns - at_ns)
                .min()
                .expect("someone takes the partition over")
        })
        .collect()
}

fn scale_out(strategy: &str) -> World {
    let config = json!({ "partition.assignment.strategy": strategy });
    let timeline = json!([{ "at_ms": 31000, "action": "consumer-join", "group": "billing" }]);
    run(&base(3, config, "auto", timeline))
}

#[test]
fn eager_scale_out_revokes_all_twelve_in_one_rebalance() {
    // Eager (range): on learning of the rebalance each of the three members revokes its four
    // partitions in onJoinPrepare, so the one rebalance after the join counts 3 × 4 = 12, and
    // nothing else is revoked in the run (the initial join revokes nothing).
    let world = scale_out("range");
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 2, "{rebalances:?}");
    assert_eq!(rebalances[1].revoked, 12);
    assert_eq!(rebalances[1].members, 4);
    assert_eq!(world.metrics.groups[0].revoked_total, 12);
}

#[test]
fn cooperative_scale_out_moves_exactly_three_partitions_over_two_rebalances() {
    // Cooperative-sticky: 12 partitions over 4 members is 3 each, so each old member (4 each)
    // gives up exactly one: 3 revocations, all in the first round; the second round gives the
    // three freed partitions to the new member. Two rebalances after the join.
    let world = scale_out("cooperative-sticky");
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 3, "{rebalances:?}");
    assert_eq!(rebalances[1].revoked, 3);
    assert_eq!(rebalances[2].revoked, 0);
    assert_eq!(world.metrics.groups[0].revoked_total, 3);
    let new_member = spans_of(&world, "consumer:billing:3");
    assert_eq!(new_member.len(), 3);
    assert!(new_member.iter().all(|span| span.to_ns.is_none()));
}

#[test]
fn crash_without_leave_pauses_for_the_session_timeout_plus_the_round() {
    // session.timeout.ms 10 s, heartbeat.interval.ms 3 s. The last heartbeat reached the
    // coordinator at most 3 s (+ latency) before the crash at 30 s, so the session expires between
    // 7 s and 10 s after it; then the round (others learn by heartbeat, ≤ 3 s, and join/sync).
    let config = json!({ "session.timeout.ms": 10000, "heartbeat.interval.ms": 3000 });
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-crash", "group": "billing", "member": 0 }]);
    let world = run(&base(3, config, "auto", timeline));
    let crash_ns = 30_000 * MS;
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 2, "{rebalances:?}");
    let expiry_ns = rebalances[1].start_ns - crash_ns;
    assert!(
        (7_000 * MS..=10_000 * MS).contains(&expiry_ns),
        "expired {expiry_ns} ns after"
    );
    let gaps = gaps_after(&world, "consumer:billing:0", crash_ns);
    assert_eq!(gaps.len(), 4);
    let round_end_ns = rebalances[1].end_ns - crash_ns;
    for gap in gaps {
        // From the crash to the new owner's SyncGroup answer: the round's end plus one reply.
        assert!(
            gap >= expiry_ns && gap <= round_end_ns + 5 * MS,
            "gap {gap}"
        );
    }
}

#[test]
fn clean_leave_pauses_only_for_a_rebalance_round() {
    // LeaveGroup starts the rebalance at once; the others learn at their next heartbeat (≤ 3 s)
    // and join; the leaver's partitions wait for that round only, far below the session timeout.
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-leave", "group": "billing", "member": 0 }]);
    let world = run(&base(3, json!({}), "auto", timeline));
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 2, "{rebalances:?}");
    let leave_ns = rebalances[1].start_ns;
    assert!(
        leave_ns - 30_000 * MS < 5 * MS,
        "rebalance starts with the LeaveGroup"
    );
    let ended_ns = spans_of(&world, "consumer:billing:0")
        .iter()
        .filter_map(|span| span.to_ns)
        .max()
        .expect("the leaver's spans end");
    for gap in gaps_after(&world, "consumer:billing:0", ended_ns) {
        assert!(gap <= rebalances[1].end_ns - ended_ns + 5 * MS, "gap {gap}");
        assert!(gap < 3_100 * MS, "gap {gap}");
    }
}

#[test]
fn static_member_restart_within_session_timeout_causes_no_rebalance() {
    // KIP-345: the restarted member rejoins with its group.instance.id while the group is Stable
    // and gets its old assignment back: only the initial rebalance happens.
    let config = json!({ "group.instance.id": "billing-app" });
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-restart", "group": "billing", "member": 1 }]);
    let world = run(&base(3, config, "auto", timeline));
    assert_eq!(
        world.metrics.rebalances.len(),
        1,
        "{:?}",
        world.metrics.rebalances
    );
    let restarted = spans_of(&world, "consumer:billing:1");
    assert_eq!(
        restarted.len(),
        8,
        "4 partitions before the restart, the same 4 after"
    );
}

#[test]
fn dynamic_member_restart_rebalances() {
    // The same restart without group.instance.id: LeaveGroup and a new member id, one rebalance.
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-restart", "group": "billing", "member": 1 }]);
    let world = run(&base(3, json!({}), "auto", timeline));
    assert!(world.metrics.rebalances.len() >= 2);
}

/// Per partition of the crashed consumer (id 0): (last committed offset before the crash, end of
/// its processed offsets), from the trace.
fn at_crash(world: &World, crash_ns: u64) -> Vec<(u64, u64)> {
    let owned: Vec<u32> = spans_of(world, "consumer:billing:0")
        .iter()
        .filter(|span| span.to_ns == Some(crash_ns))
        .map(|span| span.partition)
        .collect();
    owned
        .iter()
        .map(|&partition| {
            let mut committed = 0;
            let mut processed_end = 0;
            for entry in trace(world) {
                match *entry {
                    TraceEntry::OffsetCommitted {
                        at_ns,
                        partition: p,
                        offset,
                        ..
                    } if p == partition && at_ns <= crash_ns => {
                        committed = offset;
                    }
                    TraceEntry::OffsetsProcessed {
                        consumer: 0,
                        partition: p,
                        end,
                        ..
                    } if p == partition => {
                        processed_end = processed_end.max(end);
                    }
                    _ => {}
                }
            }
            (committed, processed_end)
        })
        .collect()
}

fn crash_run(commit: &str) -> (World, Vec<(u64, u64)>) {
    // The producer stops at 40 s, so by 60 s the group has processed everything it ever will.
    let timeline = json!([
        { "at_ms": 30000, "action": "consumer-crash", "group": "billing", "member": 0 },
        { "at_ms": 40000, "action": "producer-stop", "producer": "app" }
    ]);
    let config = json!({ "session.timeout.ms": 10000, "max.poll.records": 100, "auto.offset.reset": "earliest" });
    let mut json = base(3, config, commit, timeline);
    // 2 ms per record: each member (400 records/s) is busy 80% of the time, so the crash falls
    // inside a batch.
    json["consumer_groups"][0]["processing_ms_per_record"]["value"] = json!(2.0);
    let world = run(&json);
    let positions = at_crash(&world, 30_000 * MS);
    (world, positions)
}

fn delivery(world: &World) -> (u64, u64) {
    kafkasim::report::groups::delivery_of_group(world, 0)
}

#[test]
fn at_least_once_crash_reprocesses_exactly_the_records_since_the_last_commit() {
    // Auto-commit: the new owners restart at the last committed offset, so every record the crashed
    // member processed at or after it is processed twice, and nothing else is.
    let (world, positions) = crash_run("auto");
    let expected: u64 = positions
        .iter()
        .map(|&(c, end)| end.saturating_sub(c))
        .sum();
    assert!(expected > 0, "the crash falls between commits");
    assert_eq!(delivery(&world), (expected, 0));
}

#[test]
fn before_processing_loses_exactly_the_records_fetched_but_not_processed() {
    // At-most-once: the offsets after a poll's records are committed before processing, so the
    // records of the batch in progress that were not processed by the crash are never processed.
    let (world, positions) = crash_run("before-processing");
    let expected: u64 = positions
        .iter()
        .map(|&(c, end)| c.saturating_sub(end))
        .sum();
    assert!(expected > 0, "the crash falls inside a batch");
    assert_eq!(delivery(&world), (0, expected));
}
