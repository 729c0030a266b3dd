//! Assignors against Kafka itself, and against the promises they make.
//!
//! Method: `conformance/vectors/<assignor>.jsonl` holds inputs with the assignment Kafka's own Java
//! classes computed (see conformance/README.md), so this needs no Java. Every vector is run
//! through `kafkasim::assignor` and compared; the match rate per assignor is printed. range,
//! roundrobin and server-range must match every vector. The sticky ones and uniform must match
//! at least 99%, and on every vector be at least as balanced as Kafka and keep at least as many
//! owned partitions. Property tests then check the invariants on random groups.

use kafkasim::assignor::{
    assign, parse_input, Assignment, AssignorName, MemberSubscription, RebalanceProtocol,
    TopicPartitions,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn parse_compact(text: &str) -> Vec<u32> {
    let mut partitions = Vec::new();
    for piece in text.split(',').filter(|piece| !piece.is_empty()) {
        match piece.split_once('-') {
            Some((start, end)) => {
                let start: u32 = start.parse().expect("vector range start");
                let end: u32 = end.parse().expect("vector range end");
                partitions.extend(start..=end);
            }
            None => partitions.push(piece.parse().expect("vector partition")),
        }
    }
    partitions
}

fn compact_map(value: &serde_json::Value) -> TopicPartitions {
    let mut partitions = TopicPartitions::new();
    if let Some(object) = value.as_object() {
        for (topic, text) in object {
            let mut list = parse_compact(text.as_str().expect("compact partition list"));
            list.sort_unstable();
            partitions.insert(topic.clone(), list);
        }
    }
    partitions
}

/// `[member_id, group_instance_id, topics, owned, generation, rack]`, trailing ones optional.
fn member_object(tuple: &serde_json::Value) -> serde_json::Value {
    let field = |index: usize| tuple.get(index).cloned().unwrap_or(serde_json::Value::Null);
    let owned = serde_json::to_value(compact_map(&field(3))).expect("owned partitions");
    serde_json::json!({
        "member_id": field(0),
        "group_instance_id": field(1),
        "topics": field(2),
        "owned": owned,
        "generation": field(4),
        "rack": field(5),
    })
}

struct Vector {
    name: String,
    topics: BTreeMap<String, u32>,
    members: Vec<MemberSubscription>,
    expected: Assignment,
}

/// Vectors whose Kafka run threw are skipped: there is no answer to compare with.
fn load_vectors(assignor: AssignorName) -> Vec<Vector> {
    // KAFKASIM_VECTORS points at another harness output, for stress runs with more cases.
    let directory = std::env::var("KAFKASIM_VECTORS")
        .unwrap_or_else(|_| format!("{}/conformance/vectors", env!("CARGO_MANIFEST_DIR")));
    load_vectors_from(&format!("{directory}/{}.jsonl", assignor.name()), assignor)
}

fn load_vectors_from(path: &str, assignor: AssignorName) -> Vec<Vector> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut vectors = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("vector line is JSON");
        if value.get("error").is_some() {
            continue;
        }
        let name = value["name"].as_str().expect("vector name").to_string();
        let expected: Assignment = value["expected"]
            .as_object()
            .expect("expected assignment")
            .iter()
            .map(|(member, topics)| (member.clone(), compact_map(topics)))
            .collect();
        // Members are tuples with compact partition lists in the vectors (to keep them small);
        // rebuild the objects of the `kafkasim assign` format.
        if let Some(members) = value["input"]["members"].as_array_mut() {
            for member in members.iter_mut() {
                *member = member_object(member);
            }
        }
        let input = parse_input(&value["input"].to_string())
            .unwrap_or_else(|error| panic!("vector {name} does not parse: {error}"));
        assert_eq!(
            input.assignor, assignor,
            "vector {name} names another assignor"
        );
        vectors.push(Vector {
            name,
            topics: input.topics,
            members: input.members,
            expected,
        });
    }
    vectors
}

/// Kafka's own balance score (`getBalanceScore`): the sum over member pairs of the size gap.
fn balance_score(assignment: &Assignment) -> u64 {
    let sizes: Vec<i64> = assignment
        .values()
        .map(|topics| topics.values().map(|list| list.len() as i64).sum())
        .collect();
    let mut score = 0u64;
    for (index, a) in sizes.iter().enumerate() {
        for b in &sizes[index + 1..] {
            score += a.abs_diff(*b);
        }
    }
    score
}

/// Owned partitions the member keeps: what stickiness is about.
fn kept(members: &[MemberSubscription], assignment: &Assignment) -> usize {
    let mut count = 0;
    for member in members {
        let Some(given) = assignment.get(&member.member_id) else {
            continue;
        };
        for (topic, partitions) in &member.owned {
            let Some(given_list) = given.get(topic) else {
                continue;
            };
            count += partitions.iter().filter(|p| given_list.contains(p)).count();
        }
    }
    count
}

fn normalized(assignment: &Assignment) -> Assignment {
    assignment
        .iter()
        .map(|(member, topics)| {
            let topics = topics
                .iter()
                .filter(|(_, list)| !list.is_empty())
                .map(|(topic, list)| {
                    let mut list = list.clone();
                    list.sort_unstable();
                    (topic.clone(), list)
                })
                .collect();
            (member.clone(), topics)
        })
        .collect()
}

fn conformance(assignor: AssignorName, exact: bool) {
    conformance_of(assignor, assignor, exact);
}

/// Runs `runner` on the vectors of `vectors_of`; they differ only in the canary below.
fn conformance_of(vectors_of: AssignorName, runner: AssignorName, exact: bool) {
    let assignor = vectors_of;
    let vectors = load_vectors(assignor);
    assert!(
        vectors.len() >= 2000,
        "too few vectors for {assignor}: {}",
        vectors.len()
    );
    let mut matched = 0usize;
    let mut mismatches = Vec::new();
    let mut worse = Vec::new();
    for vector in &vectors {
        let ours = assign(runner, &vector.topics, &vector.members)
            .unwrap_or_else(|error| panic!("{}: {error}", vector.name));
        let ours = normalized(&ours);
        let theirs = normalized(&vector.expected);
        if ours == theirs {
            matched += 1;
            continue;
        }
        mismatches.push(vector.name.clone());
        if balance_score(&ours) > balance_score(&theirs) {
            worse.push(format!("{}: less balanced than Kafka", vector.name));
        }
        if kept(&vector.members, &ours) < kept(&vector.members, &theirs) {
            worse.push(format!(
                "{}: moves more owned partitions than Kafka",
                vector.name
            ));
        }
    }
    let rate = 100.0 * matched as f64 / vectors.len() as f64;
    let label = if runner == assignor {
        assignor.to_string()
    } else {
        format!("{runner} (canary, on {assignor} vectors)")
    };
    println!(
        "conformance {label}: {matched}/{} vectors identical to Kafka ({rate:.2}%)",
        vectors.len()
    );
    let sample: Vec<&String> = mismatches.iter().take(10).collect();
    if exact {
        assert!(
            mismatches.is_empty(),
            "{assignor} differs from Kafka on {sample:?}"
        );
    } else {
        assert!(
            rate >= 99.0,
            "{assignor} matches only {rate:.2}%; first: {sample:?}"
        );
        let sample: Vec<&String> = worse.iter().take(10).collect();
        assert!(
            worse.is_empty(),
            "{assignor} is worse than Kafka: {sample:?}"
        );
    }
}

#[test]
fn range_matches_kafka_exactly() {
    conformance(AssignorName::Range, true);
}

#[test]
fn roundrobin_matches_kafka_exactly() {
    conformance(AssignorName::RoundRobin, true);
}

#[test]
fn server_range_matches_kafka_exactly() {
    conformance(AssignorName::ServerRange, true);
}

#[test]
fn uniform_matches_kafka() {
    conformance(AssignorName::Uniform, false);
}

#[test]
fn sticky_matches_kafka() {
    conformance(AssignorName::Sticky, false);
}

#[test]
fn cooperative_sticky_matches_kafka() {
    conformance(AssignorName::CooperativeSticky, false);
}

/// Canary: the comparison must notice a wrong assignor (roundrobin answering range's vectors).
#[test]
#[should_panic(expected = "differs from Kafka")]
fn conformance_catches_a_wrong_assignor() {
    conformance_of(AssignorName::Range, AssignorName::RoundRobin, true);
}

/// On this input (found by a stress run) Kafka's cooperative-sticky loops forever moving one
/// partition back and forth; ours must stop and still give a valid assignment.
#[test]
fn sticky_stops_where_kafka_livelocks() {
    let path = format!(
        "{}/tests/data/assign/kafka-livelock.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("livelock input");
    let input = parse_input(&text).expect("valid input");
    let group = Group {
        topics: input.topics.clone(),
        members: input.members.clone(),
    };
    for assignor in [AssignorName::Sticky, AssignorName::CooperativeSticky] {
        let result = assign(assignor, &input.topics, &input.members).expect("assignment");
        let given = check_valid(&group, &result);
        if assignor == AssignorName::Sticky {
            assert_eq!(
                given,
                subscribed_partitions(&group),
                "sticky assigns everything"
            );
        }
    }
}

/// Kafka's sticky general path hands a partition back to its previous owner from an older
/// generation even though that member no longer subscribes to the topic (found by a stress
/// run, Kafka 4.1.0's answer recorded); we give the same answer.
#[test]
fn sticky_hands_back_like_kafka_even_when_unsubscribed() {
    let path = format!(
        "{}/tests/data/assign/sticky-handback.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let vectors = load_vectors_from(&path, AssignorName::Sticky);
    assert_eq!(vectors.len(), 1);
    let vector = &vectors[0];
    let ours = assign(AssignorName::Sticky, &vector.topics, &vector.members).expect("valid");
    assert_eq!(normalized(&ours), normalized(&vector.expected));
    let member = vector.members.iter().find(|member| {
        ours[&member.member_id]
            .keys()
            .any(|t| !member.subscribes_to(t))
    });
    assert!(
        member.is_some(),
        "the vector shows the hand-back to an unsubscribed member"
    );
}

/// `kafkasim assign FILE`: JSON out with exit 0, a named field with exit 2.
#[test]
fn assign_command_prints_json_and_exits_2_on_errors() {
    let directory = std::env::temp_dir().join(format!("kafkasim-assign-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let good = directory.join("good.json");
    let input = r#"{"assignor": "cooperative-sticky", "topics": {"t1": 3, "t2": 2},
        "members": [{"member_id": "c1", "topics": ["t1", "t2"], "owned": {"t1": [0]},
                     "generation": 1},
                    {"member_id": "c2", "group_instance_id": null, "topics": ["t1"]},
                    {"member_id": "c3", "topics": []}]}"#;
    std::fs::write(&good, input).expect("write input");
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kafkasim"))
            .arg("assign")
            .arg(path)
            .output()
            .expect("run kafkasim")
    };
    let output = run(&good);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let members = printed["assignment"]
        .as_object()
        .expect("assignment object");
    let ids: Vec<&String> = members.keys().collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    assert_eq!(printed["assignment"]["c3"], serde_json::json!({}));
    let bad = directory.join("bad.json");
    std::fs::write(&bad, r#"{"assignor": "stiky", "topics": {}}"#).expect("write input");
    let output = run(&bad);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean \"sticky\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn assignor_names_parse_with_suggestions() {
    for assignor in AssignorName::ALL {
        assert_eq!(AssignorName::parse(assignor.name()), Ok(assignor));
        assert_eq!(AssignorName::parse(assignor.class_name()), Ok(assignor));
    }
    assert!(AssignorName::CooperativeSticky.supports(RebalanceProtocol::Cooperative));
    assert!(AssignorName::CooperativeSticky.supports(RebalanceProtocol::Eager));
    for eager_only in [
        AssignorName::Range,
        AssignorName::RoundRobin,
        AssignorName::Sticky,
    ] {
        assert!(eager_only.supports(RebalanceProtocol::Eager));
        assert!(!eager_only.supports(RebalanceProtocol::Cooperative));
    }
    assert!(AssignorName::Uniform.is_server_side() && AssignorName::ServerRange.is_server_side());
    let error = AssignorName::parse("rnage").expect_err("typo");
    assert!(
        error.message.contains("did you mean \"range\""),
        "{}",
        error.message
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

#[derive(Debug, Clone)]
struct Group {
    topics: BTreeMap<String, u32>,
    members: Vec<MemberSubscription>,
}

/// Random groups: up to 8 members and 4 topics, equal or unequal subscriptions, some static.
fn group_strategy(equal: bool) -> impl Strategy<Value = Group> {
    let topics = prop::collection::vec(0u32..12, 1..5);
    (topics, 1usize..9).prop_flat_map(move |(counts, member_count)| {
        let topic_count = counts.len();
        let subscriptions = prop::collection::vec(
            (
                prop::collection::vec(any::<bool>(), topic_count),
                any::<bool>(),
            ),
            member_count,
        );
        (Just(counts), subscriptions).prop_map(move |(counts, subscriptions)| {
            let topics: BTreeMap<String, u32> = counts
                .iter()
                .enumerate()
                .map(|(index, &count)| (format!("t{index}"), count))
                .collect();
            let names: Vec<String> = topics.keys().cloned().collect();
            let members = subscriptions
                .iter()
                .enumerate()
                .map(|(index, (chosen, is_static))| {
                    let mut subscribed: Vec<String> = names
                        .iter()
                        .zip(chosen)
                        .filter(|(_, &keep)| equal || keep)
                        .map(|(name, _)| name.clone())
                        .collect();
                    if subscribed.is_empty() {
                        subscribed.push(names[index % names.len()].clone());
                    }
                    MemberSubscription {
                        member_id: format!("m{index}"),
                        group_instance_id: is_static.then(|| format!("i{}", 9 - index)),
                        topics: subscribed,
                        ..MemberSubscription::default()
                    }
                })
                .collect();
            Group { topics, members }
        })
    })
}

fn subscribed_partitions(group: &Group) -> BTreeSet<(String, u32)> {
    let mut all = BTreeSet::new();
    for member in &group.members {
        for topic in &member.topics {
            for partition in 0..group.topics[topic] {
                all.insert((topic.clone(), partition));
            }
        }
    }
    all
}

/// Each partition at most once, only to subscribers; returns the partitions given out.
fn check_valid(group: &Group, assignment: &Assignment) -> BTreeSet<(String, u32)> {
    let mut given = BTreeSet::new();
    for member in &group.members {
        let topics = &assignment[&member.member_id];
        for (topic, partitions) in topics {
            if partitions.is_empty() {
                continue;
            }
            assert!(
                member.subscribes_to(topic),
                "{} got {topic} unsubscribed",
                member.member_id
            );
            for &partition in partitions {
                assert!(
                    given.insert((topic.clone(), partition)),
                    "{topic}-{partition} twice"
                );
            }
        }
    }
    given
}

fn sizes(assignment: &Assignment) -> Vec<usize> {
    assignment
        .values()
        .map(|topics| topics.values().map(Vec::len).sum())
        .collect()
}

/// Feed the assignment back as owned, one generation later.
fn next_round(group: &Group, assignment: &Assignment, generation: i32) -> Group {
    let mut next = group.clone();
    for member in &mut next.members {
        member.owned = assignment[&member.member_id].clone();
        member.generation = Some(generation);
    }
    next
}

fn check_properties(assignor: AssignorName, group: &Group, equal: bool) {
    let first = assign(assignor, &group.topics, &group.members).expect("valid group");
    let given = check_valid(group, &first);
    if assignor != AssignorName::CooperativeSticky {
        assert_eq!(
            given,
            subscribed_partitions(group),
            "every subscribed partition assigned"
        );
    }
    // Range balances per topic only; the others promise counts within one of each other when
    // subscriptions are equal (cooperative-sticky too, since this first round owns nothing).
    let balanced_promised =
        assignor != AssignorName::Range && assignor != AssignorName::ServerRange;
    if equal && balanced_promised {
        let counts = sizes(&first);
        let spread = counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0);
        assert!(spread <= 1, "{assignor} unbalanced: {counts:?}");
    }
    // A round where nothing changed keeps everything: stickiness, and convergence for the
    // cooperative protocol, whose second round hands out what the first left unassigned.
    let second_group = next_round(group, &first, 1);
    let second = assign(assignor, &second_group.topics, &second_group.members).expect("valid");
    check_valid(group, &second);
    if assignor == AssignorName::CooperativeSticky {
        // Anything the first round left out was owned by someone else: the revocation.
        let all = subscribed_partitions(group);
        assert_eq!(
            check_valid(group, &second),
            all,
            "cooperative second round completes"
        );
        let third_group = next_round(group, &second, 2);
        let third = assign(assignor, &third_group.topics, &third_group.members).expect("valid");
        assert_eq!(
            normalized(&third),
            normalized(&second),
            "stable once settled"
        );
    } else {
        assert_eq!(
            normalized(&second),
            normalized(&first),
            "{assignor} not stable"
        );
    }
}

fn check_cooperative_withholding(group: &Group, owned_from: &Assignment) {
    // Members own a shuffled earlier assignment; anything withheld must change owner.
    let prior = next_round(group, owned_from, 3);
    let result = assign(
        AssignorName::CooperativeSticky,
        &prior.topics,
        &prior.members,
    )
    .expect("valid");
    let given = check_valid(group, &result);
    // No partition goes straight from one owner to another within a round.
    for member in &prior.members {
        for (topic, partitions) in &result[&member.member_id] {
            for partition in partitions {
                let owner = prior.members.iter().find(|other| {
                    other
                        .owned
                        .get(topic)
                        .is_some_and(|list| list.contains(partition))
                });
                let owner_id = owner.map(|other| other.member_id.as_str());
                let moved = owner_id.is_some_and(|id| id != member.member_id);
                assert!(
                    !moved,
                    "{topic}-{partition} moved from {owner_id:?} in one round"
                );
            }
        }
    }
    for (topic, partition) in subscribed_partitions(group) {
        if given.contains(&(topic.clone(), partition)) {
            continue;
        }
        let owner = prior.members.iter().find(|member| {
            member
                .owned
                .get(&topic)
                .is_some_and(|list| list.contains(&partition))
        });
        assert!(
            owner.is_some(),
            "{topic}-{partition} unassigned without an owner"
        );
    }
}

/// 48 cases keep the suite fast; `PROPTEST_CASES=5000` searches harder.
fn property_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(property_cases()))]

    #[test]
    fn every_assignor_keeps_its_promises(group in group_strategy(false)) {
        for assignor in AssignorName::ALL {
            check_properties(assignor, &group, false);
        }
    }

    #[test]
    fn equal_subscriptions_are_balanced(group in group_strategy(true)) {
        for assignor in AssignorName::ALL {
            check_properties(assignor, &group, true);
        }
    }

    #[test]
    fn cooperative_withholds_only_moving_partitions(group in group_strategy(false)) {
        // Ownership from roundrobin, then cooperative-sticky must revoke rather than reassign.
        let start = assign(AssignorName::RoundRobin, &group.topics, &group.members).expect("valid");
        check_cooperative_withholding(&group, &start);
    }
}
