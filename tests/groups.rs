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
        .map(|&partition| committed_and_processed(world, partition, crash_ns, |c| c == 0))
        .collect()
}

/// For `partition`, from the trace: the last offset committed at or before `committed_by_ns`,
/// and the end of the offsets processed by the consumers `by` accepts.
fn committed_and_processed(
    world: &World,
    partition: u32,
    committed_by_ns: u64,
    by: impl Fn(u32) -> bool,
) -> (u64, u64) {
    let mut committed = 0;
    let mut processed_end = 0;
    for entry in trace(world) {
        match *entry {
            TraceEntry::OffsetCommitted {
                at_ns,
                partition: p,
                offset,
                ..
            } if p == partition && at_ns <= committed_by_ns => {
                committed = offset;
            }
            TraceEntry::OffsetsProcessed {
                consumer,
                partition: p,
                end,
                ..
            } if p == partition && by(consumer) => {
                processed_end = processed_end.max(end);
            }
            _ => {}
        }
    }
    (committed, processed_end)
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

/// Three brokers, `orders` with three replicas: the scenario for coordinator failover.
fn replicated(members: u32, timeline: Value) -> Value {
    let mut json = base(members, json!({}), "auto", timeline);
    json["cluster"]["brokers"] = json!(3);
    json["topics"][0]["replication.factor"] = json!(3);
    json["topics"][0]["config"] = json!({ "min.insync.replicas": 2 });
    json["producers"][0]["config"]["acks"] = json!("all");
    json["duration_ms"] = json!(50000);
    json
}

fn commits_after(world: &World, at_ns: u64) -> Vec<u64> {
    trace(world)
        .iter()
        .filter_map(|entry| match entry {
            TraceEntry::OffsetCommitted { at_ns: t, .. } if *t >= at_ns => Some(*t),
            _ => None,
        })
        .collect()
}

#[test]
fn coordinator_broker_crash_moves_the_group_without_a_rebalance() {
    // `billing` maps to __consumer_offsets partition 9 (abs(hashCode) % 50), whose replicas on 3
    // brokers are [0, 2, 1]: broker 0 coordinates. It crashes at 21 s. Its last broker heartbeat
    // left at 20 s, so the controller fences it at 20 s + 0.5 ms + 9 s and broker 2, the next
    // replica, leads the partition and loads the group from its last record: Stable, generation
    // 1, same members (Kafka 4.x replays the group metadata record). Until then FindCoordinator
    // still names broker 0, whose connections reset; consumers retry every retry.backoff.ms
    // (100 ms) plus two round trips (2 ms). So the first commit after the crash is accepted by
    // broker 2 between the fencing and one retry period after it (+ its I/O and a margin), and
    // nothing is rebalanced, revoked or reprocessed.
    let crash = json!([{ "at_ms": 21000, "action": "broker-crash", "broker": 0 }]);
    let world = run(&replicated(3, crash));
    let fenced_ns = 20_000 * MS + MS / 2 + 9_000 * MS;
    let group = &world.groups[0];
    assert_eq!(group.broker.0, 2);
    assert_eq!(group.failovers, 1);
    assert_eq!(group.generation, 1);
    assert_eq!(group.member_count(), 3);
    assert_eq!(
        world.metrics.rebalances.len(),
        1,
        "{:?}",
        world.metrics.rebalances
    );
    assert_eq!(world.metrics.groups[0].revoked_total, 0);
    assert!(world
        .metrics
        .ownership
        .iter()
        .all(|span| span.to_ns.is_none()));
    let during: Vec<u64> = commits_after(&world, 21_000 * MS)
        .into_iter()
        .filter(|&t| t < fenced_ns)
        .collect();
    assert!(
        during.is_empty(),
        "commits while no coordinator: {during:?}"
    );
    let first_ns = commits_after(&world, fenced_ns)[0];
    assert!(
        first_ns <= fenced_ns + 110 * MS,
        "first commit {} ms after the fencing",
        (first_ns - fenced_ns) / MS
    );
    let (duplicates, _) = kafkasim::report::groups::delivery_of_group(&world, 0);
    assert_eq!(duplicates, 0);
}

#[test]
fn lost_requests_time_out_after_request_timeout_and_are_retried() {
    // Every message to or from member 0 of a one-member group is dropped for 3.5 s from 20 s.
    // The fetch in flight then (or sent during the window) is lost: the consumer gets no data
    // until request.timeout.ms (30 s) after it was sent, when it closes the connection and
    // fetches again. So processing stops for between 30 s - 3.5 s and 30 s + a fetch round
    // trip. Its heartbeats in the window are lost too, but the one at most 3 s after it
    // succeeds (session.timeout.ms 45 s is never reached): no rebalance; the lost heartbeat's
    // timeout closes the coordinator connection and FindCoordinator finds the same broker.
    let loss = json!([{ "at_ms": 20000, "action": "network-loss",
        "nodes": ["consumer:billing:0"], "probability": 1.0, "duration_ms": 3500 }]);
    let mut json = base(1, json!({}), "auto", loss);
    json["duration_ms"] = json!(70000);
    let world = run(&json);
    assert_eq!(
        world.metrics.rebalances.len(),
        1,
        "{:?}",
        world.metrics.rebalances
    );
    let processed: Vec<u64> = trace(&world)
        .iter()
        .filter_map(|entry| match entry {
            TraceEntry::OffsetsProcessed { at_ns, .. } => Some(*at_ns),
            _ => None,
        })
        .collect();
    let gap_ns = processed
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or(0);
    assert!(
        (26_500 * MS..=30_600 * MS).contains(&gap_ns),
        "longest processing gap {} ms",
        gap_ns / MS
    );
    // The group keeps its coordinator: commits resume after the gap, none is refused.
    assert!(!commits_after(&world, 55_000 * MS).is_empty());
    assert_eq!(world.groups[0].failovers, 0);
}

/// A cooperative scale-out whose first round waits 4 s for a paused member: the two others go
/// on processing all four of their partitions meanwhile.
fn slow_cooperative_scale_out(commit: &str) -> World {
    let config = json!({ "partition.assignment.strategy": "cooperative-sticky" });
    let timeline = json!([
        { "at_ms": 30500, "action": "consumer-pause", "group": "billing", "member": 2, "duration_ms": 4000 },
        { "at_ms": 31000, "action": "consumer-join", "group": "billing" }
    ]);
    run(&base(3, config, commit, timeline))
}

/// For each partition the new member (consumer 3) took over: what its old owner processed of it
/// beyond the last offset committed before the new member's first fetch could start.
fn uncommitted_at_handover(world: &World) -> Vec<u64> {
    spans_of(world, "consumer:billing:3")
        .iter()
        .map(|taken| {
            let (committed, processed_end) =
                committed_and_processed(world, taken.partition, taken.from_ns, |c| c != 3);
            processed_end.saturating_sub(committed)
        })
        .collect()
}

#[test]
fn cooperative_auto_commit_gives_partitions_up_without_committing_them() {
    // Kafka's ConsumerCoordinator auto-commits in onJoinPrepare and then, under COOPERATIVE,
    // goes on returning records of every owned partition while the round runs, with interval
    // auto-commits skipped (poll returns before them during a rebalance). onJoinComplete revokes
    // the partitions the assignment takes away without committing (only a user callback could).
    // So the new owner restarts each moved partition at the onJoinPrepare commit, and every
    // record the old owner processed from it after that commit is processed twice: exactly the
    // run's duplicates, and more than none, since the round waits 4 s for the paused member.
    let world = slow_cooperative_scale_out("auto");
    let uncommitted = uncommitted_at_handover(&world);
    assert_eq!(uncommitted.len(), 3, "three partitions move");
    let expected: u64 = uncommitted.iter().sum();
    assert!(expected > 100, "the round ran for seconds: {uncommitted:?}");
    assert_eq!(delivery(&world).0, expected);
}

#[test]
fn cooperative_revocation_callback_commit_leaves_no_duplicates() {
    // The manual commit policies stand for an application that commits in
    // onPartitionsRevoked: the moved partitions are committed up to what was processed.
    let world = slow_cooperative_scale_out("sync-after-poll");
    assert_eq!(uncommitted_at_handover(&world), vec![0, 0, 0]);
    assert_eq!(delivery(&world).0, 0);
}

#[test]
fn shipped_cooperative_scale_out_takes_two_rounds_after_the_join() {
    // The shipped scenario (lognormal latency, 3 brokers) once took three rounds: a member that
    // had to revoke applied its SyncGroup answer at once and rejoined before a slower follower's
    // SyncGroup reached the coordinator, which answered that follower REBALANCE_IN_PROGRESS, so it
    // never revoked and a third round moved its partition. The answer is now applied in the next
    // poll(), after the records in hand are processed, as Kafka's onJoinComplete is: the initial
    // join plus two rounds, all 3 revocations in the first.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/scale-out-eager-vs-cooperative.json");
    let scenario = kafkasim::scenario::load(&path, &[], Some("cooperative-sticky"))
        .unwrap_or_else(|error| panic!("{error}"));
    let world = run_traced(&scenario);
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 3, "{rebalances:?}");
    assert_eq!(rebalances[1].revoked, 3);
    assert_eq!(rebalances[2].revoked, 0);
    assert_eq!(world.metrics.groups[0].revoked_total, 3);
}

#[test]
fn coordinator_crash_during_a_rebalance_redoes_it_on_the_new_coordinator() {
    // A fourth member joins at 20 s and broker 0, the coordinator, crashes at 21 s, while the
    // group waits in PreparingRebalance for the old members (who learn at their next heartbeat).
    // The rebalance in memory is lost; the stored record is generation 1 with 3 members. Broker
    // 2 loads it at the fencing (20 s + 0.5 ms + 9 s: broker 0's last heartbeat left at 20 s)
    // as Stable. The newcomer's JoinGroup carries a member id only broker 0 knew:
    // UNKNOWN_MEMBER_ID, so it joins afresh and starts the rebalance again; the old members
    // redo their lost JoinGroups or learn by heartbeat. So the run has the initial rebalance and
    // one completed after the fencing, generation 2 with 4 members (the abandoned one is not
    // recorded).
    let timeline = json!([
        { "at_ms": 20000, "action": "consumer-join", "group": "billing" },
        { "at_ms": 21000, "action": "broker-crash", "broker": 0 }
    ]);
    let world = run(&replicated(3, timeline));
    let fenced_ns = 20_000 * MS + MS / 2 + 9_000 * MS;
    let rebalances = &world.metrics.rebalances;
    assert_eq!(rebalances.len(), 2, "{rebalances:?}");
    assert!(rebalances[1].start_ns >= fenced_ns, "{rebalances:?}");
    assert_eq!(rebalances[1].members, 4);
    assert_eq!(rebalances[1].generation, 2);
    // Everyone finds broker 2 within one retry period (100 ms + round trips); members that had
    // not rejoined learn at their next heartbeat (3 s), then one join/sync round.
    assert!(
        rebalances[1].end_ns <= fenced_ns + 3_200 * MS,
        "ended {} ms after the fencing",
        (rebalances[1].end_ns - fenced_ns) / MS
    );
    let group = &world.groups[0];
    assert_eq!(
        (group.broker.0, group.generation, group.member_count()),
        (2, 2, 4)
    );
}
