//! The KIP-848 consumer group protocol (`group.protocol=consumer`): exact outcomes of a member
//! joining, crashing, leaving, restarting, and of the poll timeout, against the derivations in
//! kafka-semantics §5 (written next to each test). Method: small runs (one broker, fixed 0.5 ms
//! network latency, fixed per-record processing), then the recorder's ownership spans and
//! rebalance records. The coordinator asserts its own invariants during every run (one holder
//! per partition, member epochs ≤ group epoch, a partition given only once released); these
//! tests add the client-side one: no two members own a partition at the same time.

use crate::util::{run_traced, scenario};
use kafkasim::metrics::OwnershipSpan;
use kafkasim::world::World;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;
/// `group.consumer.heartbeat.interval.ms` and `group.consumer.session.timeout.ms` defaults.
const HEARTBEAT_MS: u64 = 5000;
const SESSION_MS: u64 = 45_000;

/// One broker, 12 partitions, 1200 records/s, a consumer-protocol group of `members`.
fn base(members: u32, config: Value, timeline: Value) -> Value {
    let mut config = config;
    config["group.protocol"] = json!("consumer");
    json!({
        "name": "kip848-test",
        "seed": 7,
        "duration_ms": 120000,
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
            "commit": "auto",
            "config": config
        } ],
        "timeline": timeline
    })
}

fn run(json: &Value) -> World {
    let world = run_traced(&scenario(json));
    assert_exclusive_ownership(&world);
    world
}

/// Invariant: no two members own one partition at the same time (ownership spans never overlap).
fn assert_exclusive_ownership(world: &World) {
    let end_ns = world.scenario.duration_ns;
    let mut by_partition: BTreeMap<(u32, u32), Vec<&OwnershipSpan>> = BTreeMap::new();
    for span in &world.metrics.ownership {
        by_partition
            .entry((span.topic, span.partition))
            .or_default()
            .push(span);
    }
    for (partition, mut spans) in by_partition {
        spans.sort_by_key(|span| span.from_ns);
        for pair in spans.windows(2) {
            let first_end = pair[0].to_ns.unwrap_or(end_ns);
            assert!(
                first_end <= pair[1].from_ns,
                "partition {partition:?} owned by {} until {first_end} and by {} from {}",
                pair[0].member,
                pair[1].member,
                pair[1].from_ns
            );
        }
    }
}

fn spans_of<'a>(world: &'a World, member: &str) -> Vec<&'a OwnershipSpan> {
    world
        .metrics
        .ownership
        .iter()
        .filter(|span| span.member == member)
        .collect()
}

/// Spans that started or ended within `[from_ns, to_ns]`.
fn changes_within(world: &World, from_ns: u64, to_ns: u64) -> Vec<&OwnershipSpan> {
    let within = |at_ns: u64| (from_ns..=to_ns).contains(&at_ns);
    world
        .metrics
        .ownership
        .iter()
        .filter(|span| within(span.from_ns) || span.to_ns.is_some_and(within))
        .collect()
}

/// The time from `at_ns` until someone owns `partition` again.
fn gap_after(world: &World, partition: u32, at_ns: u64) -> u64 {
    world
        .metrics
        .ownership
        .iter()
        .filter(|span| span.partition == partition && span.from_ns >= at_ns)
        .map(|span| span.from_ns - at_ns)
        .min()
        .expect("someone takes the partition over")
}

#[test]
fn joining_member_moves_only_the_target_moves_and_pauses_nothing_else() {
    // Uniform, homogeneous: 12 partitions over 3 members is 4 each; over 4 it is 3 each, and
    // each old member keeps 3 of its 4 (sticky), so the target moves exactly 3 partitions, one
    // from each old member, all to the new one. The join bumps the group epoch and the new
    // target is computed at once; the new member gets nothing yet (all 3 still held). Each old
    // member learns at its next heartbeat (≤ 5 s), revokes in poll, commits and acknowledges at
    // once; the new member takes the 3 at its own next heartbeat, 5 s after its join answer.
    let timeline = json!([{ "at_ms": 30000, "action": "consumer-join", "group": "billing" }]);
    let world = run(&base(3, json!({}), timeline));
    let join_ns = 30_000 * MS;
    let changes = changes_within(&world, join_ns, world.scenario.duration_ns);
    let ended: Vec<&&OwnershipSpan> = changes.iter().filter(|s| s.to_ns.is_some()).collect();
    let started: Vec<&&OwnershipSpan> = changes.iter().filter(|s| s.from_ns >= join_ns).collect();
    assert_eq!(ended.len(), 3, "{changes:?}");
    assert_eq!(started.len(), 3, "{changes:?}");
    let mut losers: Vec<&str> = ended.iter().map(|span| span.member.as_str()).collect();
    losers.sort_unstable();
    assert_eq!(
        losers,
        [
            "consumer:billing:0",
            "consumer:billing:1",
            "consumer:billing:2"
        ]
    );
    assert!(started
        .iter()
        .all(|span| span.member == "consumer:billing:3"));
    // All three arrive together: FindCoordinator (≈1 ms), the join heartbeat after the
    // retry.backoff.ms (100 ms) the model waits for it, its answer (≈1 ms), then 5 s and the
    // next heartbeat's round trip.
    let taken_ns = started[0].from_ns;
    assert!(started.iter().all(|span| span.from_ns == taken_ns));
    let after_join_ns = taken_ns - join_ns;
    assert!(
        ((HEARTBEAT_MS + 101) * MS..=(HEARTBEAT_MS + 105) * MS).contains(&after_join_ns),
        "taken {after_join_ns} ns after the join"
    );
    // The 9 partitions that stay never pause: every span of the old members but the 3 ended ones
    // runs from start-up to the end.
    let staying = world
        .metrics
        .ownership
        .iter()
        .filter(|span| span.member != "consumer:billing:3" && span.to_ns.is_none())
        .count();
    assert_eq!(staying, 9);
    // The group's figures: one rebalance after the join, 3 revoked, ending when the coordinator
    // gives the new member its partitions (its answer arrives one latency later).
    let rebalances = &world.metrics.rebalances;
    let join = rebalances.last().expect("the join's rebalance");
    assert_eq!((join.members, join.revoked, join.assigned), (4, 3, 12));
    assert!(join.start_ns >= join_ns, "{join:?}");
    assert!(
        join.end_ns < taken_ns && taken_ns - join.end_ns < 2 * MS,
        "{join:?}"
    );
}

#[test]
fn crashed_member_pauses_its_partitions_for_about_the_session_timeout() {
    // No leave: the coordinator removes the member when its session (45 s from its last
    // heartbeat, which was at most 5 s before the crash) expires, so 40 s to 45 s after the crash;
    // the target is recomputed at the next heartbeat of a survivor, and each survivor takes its
    // share of the freed partitions at its own next heartbeat (≤ 5 s later).
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-crash", "group": "billing", "member": 0 }]);
    let world = run(&base(3, json!({}), timeline));
    let crash_ns = 30_000 * MS;
    let expiry = world
        .metrics
        .rebalances
        .last()
        .expect("the crash's rebalance");
    let expiry_ns = expiry.start_ns - crash_ns;
    assert!(
        ((SESSION_MS - HEARTBEAT_MS) * MS..=SESSION_MS * MS).contains(&expiry_ns),
        "expired {expiry_ns} ns after the crash"
    );
    assert_eq!(
        (expiry.members, expiry.revoked, expiry.assigned),
        (2, 0, 12)
    );
    let lost: Vec<u32> = spans_of(&world, "consumer:billing:0")
        .iter()
        .filter(|span| span.to_ns == Some(crash_ns))
        .map(|span| span.partition)
        .collect();
    assert_eq!(lost.len(), 4);
    for partition in lost {
        let gap_ns = gap_after(&world, partition, crash_ns);
        assert!(
            gap_ns >= expiry_ns && gap_ns <= expiry_ns + (HEARTBEAT_MS + 5) * MS,
            "partition {partition} paused {gap_ns} ns"
        );
    }
}

#[test]
fn clean_leave_frees_partitions_at_the_next_heartbeats() {
    // Epoch -1: removed at once, the group epoch moves; the survivors take the 4 partitions at
    // their next heartbeat, within one heartbeat interval of the leave.
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-leave", "group": "billing", "member": 0 }]);
    let world = run(&base(3, json!({}), timeline));
    let left: Vec<(u32, u64)> = spans_of(&world, "consumer:billing:0")
        .iter()
        .filter_map(|span| Some((span.partition, span.to_ns?)))
        .filter(|&(_, to_ns)| to_ns >= 30_000 * MS)
        .collect();
    assert_eq!(left.len(), 4);
    for (partition, left_ns) in left {
        let gap_ns = gap_after(&world, partition, left_ns);
        assert!(gap_ns <= (HEARTBEAT_MS + 5) * MS, "gap {gap_ns}");
    }
    let leave = world.metrics.rebalances.last().expect("a rebalance");
    assert_eq!((leave.members, leave.revoked), (2, 0));
}

#[test]
fn static_member_restart_keeps_its_partitions_without_a_new_epoch() {
    // KIP-848 static membership: the closing member leaves with epoch -2 and keeps its
    // assignment; the restarted instance joins with the same group.instance.id, takes over the
    // member's epoch and partitions, and the group epoch does not move: no rebalance, and the
    // other members' partitions never move.
    let config = json!({ "group.instance.id": "billing-app" });
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-restart", "group": "billing", "member": 1 }]);
    let world = run(&base(3, config, timeline));
    let after: Vec<&OwnershipSpan> =
        changes_within(&world, 30_000 * MS, world.scenario.duration_ns);
    assert!(
        after.iter().all(|span| span.member == "consumer:billing:1"),
        "{after:?}"
    );
    assert_eq!(
        after.len(),
        8,
        "4 partitions closed and the same 4 taken back: {after:?}"
    );
    let rebalances = world
        .metrics
        .rebalances
        .iter()
        .filter(|record| record.end_ns >= 30_000 * MS)
        .count();
    assert_eq!(rebalances, 0, "{:?}", world.metrics.rebalances);
}

#[test]
fn dynamic_member_restart_moves_partitions_twice() {
    // Without an instance id the restart is a leave (-1) and a new member: the survivors take
    // the 4 partitions, then give some back to the new member.
    let timeline =
        json!([{ "at_ms": 30000, "action": "consumer-restart", "group": "billing", "member": 1 }]);
    let world = run(&base(3, json!({}), timeline));
    let later = world
        .metrics
        .rebalances
        .iter()
        .filter(|record| record.end_ns >= 30_000 * MS)
        .count();
    assert!(later >= 1, "{:?}", world.metrics.rebalances);
    assert!(world.metrics.groups[0].revoked_total >= 4);
}

#[test]
fn poll_timeout_leaves_and_rejoins_at_the_next_poll() {
    // One member becomes 1000× slower: a poll of 200 records takes 40 s > max.poll.interval.ms
    // (30 s here), so its heartbeat thread leaves (partitions lost) and its partitions move to the
    // others; it rejoins when it polls again, once that poll's records are processed.
    let config = json!({ "max.poll.interval.ms": 30000, "max.poll.records": 200 });
    let timeline = json!([{ "at_ms": 20000, "action": "consumer-slow", "group": "billing",
                            "member": 0, "factor": 1000.0, "duration_ms": 60000 }]);
    let world = run(&base(3, config, timeline));
    let spans = spans_of(&world, "consumer:billing:0");
    let lost_ns = spans
        .iter()
        .filter_map(|span| span.to_ns)
        .filter(|&to_ns| to_ns > 20_000 * MS)
        .min()
        .expect("the slow member loses its partitions");
    assert!(lost_ns > 50_000 * MS, "lost at {lost_ns}");
    // The leave bumps the group epoch at once; the rejoin may fall in the same rebalance when
    // it comes before the others' next heartbeat has taken the freed partitions.
    let leave = world
        .metrics
        .rebalances
        .iter()
        .find(|r| r.start_ns >= lost_ns - 5 * MS);
    assert!(
        leave.is_some_and(|r| r.start_ns <= lost_ns + 5 * MS),
        "a rebalance starts at the leave"
    );
    assert!(
        spans.iter().any(|span| span.from_ns > lost_ns),
        "it rejoins"
    );
}

fn load_error(json: &Value) -> String {
    let text = serde_json::to_string(json).expect("test JSON serializes");
    match kafkasim::scenario::load_str(&text, "test", &[], None) {
        Ok(_) => panic!("the scenario should be refused"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn mixing_protocols_in_one_group_is_refused_with_the_reason() {
    // Two group entries with one group.id but different group.protocol would put classic and
    // consumer-protocol members in one group: Kafka allows that only during an online migration.
    let mut json = base(2, json!({}), json!([]));
    let mut classic = json["consumer_groups"][0].clone();
    classic["config"] = json!({ "group.protocol": "classic" });
    json["consumer_groups"]
        .as_array_mut()
        .expect("groups")
        .push(classic);
    let message = load_error(&json);
    assert!(
        message.contains("consumer_groups[1].group.id")
            && message.contains("group.consumer.migration.policy"),
        "{message}"
    );
}

#[test]
fn server_assignor_must_be_one_the_brokers_offer() {
    // group.remote.assignor must name one of group.consumer.assignors (UNSUPPORTED_ASSIGNOR).
    let mut json = base(2, json!({ "group.remote.assignor": "range" }), json!([]));
    json["cluster"]["config"] = json!({ "group.consumer.assignors": "uniform" });
    let message = load_error(&json);
    assert!(
        message.contains("group.remote.assignor") && message.contains("UNSUPPORTED_ASSIGNOR"),
        "{message}"
    );
    // The coordinator's timing bounds (GroupCoordinatorConfig): 45 s ≤ session ≤ 60 s.
    let mut json = base(2, json!({}), json!([]));
    json["cluster"]["config"] = json!({ "group.consumer.session.timeout.ms": 10000 });
    let message = load_error(&json);
    assert!(
        message.contains("group.consumer.session.timeout.ms")
            && message.contains("group.consumer.min.session.timeout.ms (45000)"),
        "{message}"
    );
}

#[test]
fn range_server_assignor_is_used_when_members_ask_for_it() {
    // group.remote.assignor=range: per-topic contiguous ranges in member order (§6.4). After
    // start-up, 12 partitions over 3 members: 4 contiguous partitions each.
    let world = run(&base(
        3,
        json!({ "group.remote.assignor": "range" }),
        json!([]),
    ));
    for member in 0..3 {
        let mut owned: Vec<u32> = spans_of(&world, &format!("consumer:billing:{member}"))
            .iter()
            .filter(|span| span.to_ns.is_none())
            .map(|span| span.partition)
            .collect();
        owned.sort_unstable();
        assert_eq!(owned.len(), 4, "{owned:?}");
        assert_eq!(owned[3] - owned[0], 3, "contiguous: {owned:?}");
    }
}

/// When each of the 4 partitions added at 30 s (12 → 16) was first owned, for a group config.
fn first_owned_new_partitions(config: Value) -> (World, Vec<u64>) {
    let timeline = json!([{ "at_ms": 30000, "action": "add-partitions", "topic": "orders",
                            "partitions": 16 }]);
    let mut json = base(3, config.clone(), timeline);
    json["duration_ms"] = json!(320_000);
    json["consumer_groups"][0]["config"] = config;
    let world = run(&json);
    let firsts = (12..16)
        .map(|partition| {
            world
                .metrics
                .ownership
                .iter()
                .filter(|span| span.partition == partition)
                .map(|span| span.from_ns)
                .min()
                .expect("the new partition is assigned")
        })
        .collect();
    (world, firsts)
}

#[test]
fn partition_increase_reaches_the_new_protocol_within_one_heartbeat_interval() {
    // The coordinator sees the new metadata at once; the next heartbeat of any member bumps the
    // group epoch and recomputes the target (16 over 3: the new partitions are free, nothing is
    // revoked); each member takes its new partitions at its own next heartbeat, so all within
    // one interval (5 s) of the change.
    let (world, firsts) = first_owned_new_partitions(json!({ "group.protocol": "consumer" }));
    for first_ns in firsts {
        let after_ns = first_ns - 30_000 * MS;
        assert!(
            after_ns <= (HEARTBEAT_MS + 2) * MS,
            "taken {after_ns} ns after"
        );
    }
    let revoked_after: u32 = world
        .metrics
        .rebalances
        .iter()
        .filter(|record| record.start_ns >= 30_000 * MS)
        .map(|record| record.revoked)
        .sum();
    assert_eq!(revoked_after, 0);
}

#[test]
fn partition_increase_reaches_a_classic_group_only_at_the_leaders_metadata_refresh() {
    // Classic: only the leader watches metadata, refreshed every metadata.max.age.ms (300 s from
    // its start); the refresh makes it rejoin, which starts a rebalance; the others learn at their
    // next heartbeat (≤ 3 s) and the new partitions are assigned at its end.
    for strategy in ["range", "cooperative-sticky"] {
        let config =
            json!({ "group.protocol": "classic", "partition.assignment.strategy": strategy });
        let (_, firsts) = first_owned_new_partitions(config);
        for first_ns in firsts {
            assert!(
                (300_000 * MS..=304_000 * MS).contains(&first_ns),
                "{strategy}: taken at {first_ns} ns"
            );
        }
    }
}

#[test]
fn coordinator_failover_keeps_the_group_and_restarts_session_deadlines() {
    // Three brokers; `billing` maps to __consumer_offsets partition 9, replicas [0, 2, 1]: broker
    // 0 coordinates. Member 0 crashes at 20 s (no leave), broker 0 at 21 s. Its last broker
    // heartbeat left at 20 s, so the controller fences it at 29.0005 s and broker 2 loads the
    // group: Kafka wrote every member, epoch and assignment to __consumer_offsets, so the group
    // is unchanged, and `onLoaded` gives every member a fresh session deadline. The crashed
    // member therefore expires one session after the load (74.0005 s), not one session after
    // its last heartbeat (≤ 65 s); the survivors keep their partitions throughout (their
    // heartbeats, reset with broker 0's connections, retry after retry.backoff.ms and reach
    // broker 2 right after the fencing).
    let timeline = json!([
        { "at_ms": 20000, "action": "consumer-crash", "group": "billing", "member": 0 },
        { "at_ms": 21000, "action": "broker-crash", "broker": 0 }
    ]);
    let mut json = base(3, json!({}), timeline);
    json["cluster"]["brokers"] = json!(3);
    json["topics"][0]["replication.factor"] = json!(3);
    json["topics"][0]["config"] = json!({ "min.insync.replicas": 2 });
    json["producers"][0]["config"]["acks"] = json!("all");
    json["duration_ms"] = json!(90000);
    let world = run(&json);
    let modern = world.modern_groups[0].as_ref().expect("consumer protocol");
    assert_eq!(modern.broker.0, 2);
    let after_crash: Vec<_> = world
        .metrics
        .rebalances
        .iter()
        .filter(|r| r.start_ns > 20_000 * MS)
        .collect();
    assert_eq!(after_crash.len(), 1, "{after_crash:?}");
    let expiry_ns = after_crash[0].start_ns;
    let loaded_ns = 29_000 * MS + MS / 2;
    assert!(
        (loaded_ns + SESSION_MS * MS..=loaded_ns + SESSION_MS * MS + 10 * MS).contains(&expiry_ns),
        "member 0 expired at {expiry_ns} ns"
    );
    for member in ["consumer:billing:1", "consumer:billing:2"] {
        assert!(
            spans_of(&world, member)
                .iter()
                .all(|span| span.to_ns.is_none_or(|to_ns| to_ns < 20_000 * MS)),
            "{member} lost a partition"
        );
    }
}
