//! Goal: every mistake a user can make in a scenario file, an override or a variant name is
//! reported with exit code 2 and a message that names the field path, the offending value and
//! what is allowed, before anything runs and without creating a report folder; and a valid file
//! resolves to exactly Kafka 4.x's defaults.
//! Method: each bad input is written to a fresh temp dir and checked through `kafkasim validate`
//! (the binary, run in that dir); the positive cases call `kafkasim::scenario::load_str` directly.

use kafkasim::scenario::model::{Acks, Action, CommitPolicy, Dist, Keys, Partitioner};
use kafkasim::scenario::{load_str, variant_names};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// A small valid scenario that names every kind of entity, so tests can break one field at a time.
fn base() -> Value {
    json!({
        "name": "errors-base",
        "duration_ms": 60000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "orders", "partitions": 6, "replication.factor": 3 } ],
        "producers": [ {
            "name": "orders-app", "instances": 2, "topic": "orders", "rate_per_sec": 1000,
            "config": { "acks": "all" }
        } ],
        "consumer_groups": [ { "group.id": "billing", "members": 2, "topics": ["orders"] } ],
        "timeline": [ { "at_ms": 10000, "action": "consumer-join", "group": "billing" } ]
    })
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `kafkasim validate` on `text` in a fresh temp dir; checks that nothing but the scenario
/// file is left there (no report folder), then removes the dir.
fn validate_text(test: &str, text: &str, extra: &[&str]) -> Outcome {
    let dir = temp_dir(test);
    let file = dir.join("scenario.json");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    let outcome = validate_in(&dir, "scenario.json", extra);
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["scenario.json"], "validate must not create files");
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn validate_in(dir: &PathBuf, file: &str, extra: &[&str]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .current_dir(dir)
        .arg("validate")
        .arg(file)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kafkasim: {e}"));
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafkasim-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Asserts exit 2 and that stderr contains every piece; returns stderr.
fn expect_error(test: &str, scenario: &Value, extra: &[&str], pieces: &[&str]) -> String {
    let text = serde_json::to_string_pretty(scenario).unwrap_or_default();
    let outcome = validate_text(test, &text, extra);
    assert_eq!(
        outcome.code,
        Some(2),
        "{test}: stderr was:\n{}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.is_empty(),
        "{test}: nothing on stdout on error"
    );
    for piece in pieces {
        assert!(
            outcome.stderr.contains(piece),
            "{test}: expected {piece:?} in:\n{}",
            outcome.stderr
        );
    }
    outcome.stderr
}

fn with(mut scenario: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut scenario);
    scenario
}

fn producer_config(scenario: &mut Value) -> &mut Value {
    &mut scenario["producers"][0]["config"]
}

fn group_config(scenario: &mut Value) -> &mut Value {
    let group = &mut scenario["consumer_groups"][0];
    if group.get("config").is_none() {
        group["config"] = json!({});
    }
    &mut group["config"]
}

#[test]
fn malformed_json_names_line_and_column() {
    let text = "{\n  \"name\": \"x\",\n  \"duration_ms\": 5,,\n}\n";
    let outcome = validate_text("malformed_json", text, &[]);
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome.stderr.contains("scenario.json:3:20"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("malformed JSON"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    let scenario = with(base(), |s| s["duraton_ms"] = json!(5));
    expect_error(
        "unknown_top_level_key",
        &scenario,
        &[],
        &[
            "scenario.json:",
            "duraton_ms",
            "did you mean \"duration_ms\"",
        ],
    );
}

#[test]
fn unknown_config_key_suggests_the_right_one() {
    let scenario = with(base(), |s| producer_config(s)["lnger.ms"] = json!(5));
    expect_error(
        "unknown_config_key",
        &scenario,
        &[],
        &["producers[0].config.lnger.ms", "did you mean \"linger.ms\""],
    );
}

#[test]
fn wrong_type_names_path_and_value() {
    let scenario = with(base(), |s| producer_config(s)["linger.ms"] = json!("five"));
    expect_error(
        "wrong_type",
        &scenario,
        &[],
        &["producers[0].config.linger.ms: \"five\" is not allowed: must be an integer ≥ 0"],
    );
}

#[test]
fn wrong_structural_type_names_line_column_and_path() {
    let scenario = with(base(), |s| s["topics"][0]["partitions"] = json!("six"));
    expect_error(
        "wrong_structural_type",
        &scenario,
        &[],
        &[
            "scenario.json:",
            "topics[0].partitions",
            "\"six\"",
            "expected an integer",
        ],
    );
}

#[test]
fn negative_linger_is_rejected() {
    let scenario = with(base(), |s| producer_config(s)["linger.ms"] = json!(-5));
    expect_error(
        "negative_linger",
        &scenario,
        &[],
        &["producers[0].config.linger.ms: -5 is not allowed: must be an integer ≥ 0"],
    );
}

#[test]
fn zero_partitions_is_rejected() {
    let scenario = with(base(), |s| s["topics"][0]["partitions"] = json!(0));
    expect_error(
        "zero_partitions",
        &scenario,
        &[],
        &["topics[0].partitions: 0 is not allowed"],
    );
}

#[test]
fn acks_two_is_rejected() {
    let scenario = with(base(), |s| producer_config(s)["acks"] = json!("2"));
    expect_error(
        "acks_two",
        &scenario,
        &[],
        &[
            "producers[0].config.acks: \"2\" is not allowed",
            "\"all\"",
            "\"1\"",
            "\"0\"",
        ],
    );
}

#[test]
fn replication_factor_above_brokers_is_rejected() {
    let scenario = with(base(), |s| s["topics"][0]["replication.factor"] = json!(4));
    expect_error(
        "replication_factor",
        &scenario,
        &[],
        &[
            "topics[0].replication.factor: 4 is not allowed",
            "cluster.brokers = 3",
        ],
    );
}

#[test]
fn min_insync_above_replication_factor_is_rejected() {
    let scenario = with(base(), |s| {
        s["topics"][0]["replication.factor"] = json!(2);
        s["topics"][0]["config"] = json!({ "min.insync.replicas": 3 });
    });
    expect_error(
        "min_insync",
        &scenario,
        &[],
        &[
            "topics[0].config.min.insync.replicas: 3 is not allowed",
            "replication.factor (2)",
        ],
    );
}

#[test]
fn timeline_missing_broker_is_named() {
    let scenario = with(base(), |s| {
        s["timeline"] = json!([{ "at_ms": 1000, "action": "broker-crash", "broker": 3 }]);
    });
    expect_error(
        "timeline_broker",
        &scenario,
        &[],
        &["timeline[0].broker: 3 is not allowed", "0 to 2"],
    );
}

#[test]
fn timeline_jitter_that_could_reorder_the_timeline_is_refused() {
    // The join is at 10 s: a crash at 8 s may be jittered by less than 2 s, not by 2 s.
    let scenario = with(base(), |s| {
        s["timeline"] = json!([
            { "at_ms": 8000, "jitter_ms": 2000, "action": "consumer-crash", "group": "billing", "member": 0 },
            { "at_ms": 10000, "action": "consumer-join", "group": "billing" },
            { "at_ms": 50000, "jitter_ms": -1, "action": "consumer-join", "group": "billing" }
        ]);
    });
    expect_error(
        "timeline_jitter",
        &scenario,
        &[],
        &[
            "timeline[0].jitter_ms: 2000 is not allowed",
            "must stay before the next entry's at_ms (10000 ms)",
            "timeline[2].jitter_ms: -1 is not allowed",
        ],
    );
}

#[test]
fn timeline_missing_group_is_named() {
    let scenario = with(base(), |s| {
        s["timeline"] =
            json!([{ "at_ms": 1000, "action": "consumer-crash", "group": "biling", "member": 0 }]);
    });
    expect_error(
        "timeline_group",
        &scenario,
        &[],
        &[
            "timeline[0].group: \"biling\" is not allowed",
            "did you mean \"billing\"",
        ],
    );
}

#[test]
fn timeline_missing_member_is_named() {
    // Member 2 exists only after the join at 10 s: at 5 s it does not.
    let scenario = with(base(), |s| {
        s["timeline"] = json!([
            { "at_ms": 20000, "action": "consumer-crash", "group": "billing", "member": 2 },
            { "at_ms": 10000, "action": "consumer-join", "group": "billing" },
            { "at_ms": 5000, "action": "consumer-crash", "group": "billing", "member": 2 }
        ]);
    });
    let stderr = expect_error(
        "timeline_member",
        &scenario,
        &[],
        &["timeline[2].member: 2 is not allowed", "0 to 1"],
    );
    assert!(
        !stderr.contains("timeline[0]"),
        "member 2 exists at 20 s:\n{stderr}"
    );
}

#[test]
fn timeline_missing_producer_is_named() {
    let scenario = with(base(), |s| {
        s["timeline"] =
            json!([{ "at_ms": 1000, "action": "producer-stop", "producer": "orders-ap" }]);
    });
    expect_error(
        "timeline_producer",
        &scenario,
        &[],
        &[
            "timeline[0].producer: \"orders-ap\" is not allowed",
            "did you mean \"orders-app\"",
        ],
    );
}

#[test]
fn missing_file_is_named() {
    let dir = temp_dir("missing_file");
    let outcome = validate_in(&dir, "no-such-scenario.json", &[]);
    let left = std::fs::read_dir(&dir)
        .map(|entries| entries.count())
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(left, 0, "validate must not create files");
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome.stderr.contains("no-such-scenario.json"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unknown_variant_lists_the_known_ones() {
    let scenario = with(base(), |s| {
        s["variants"] = json!({ "eager": ["group:billing:partition.assignment.strategy=range"], "cooperative": [] });
    });
    expect_error(
        "unknown_variant",
        &scenario,
        &["--variant", "eagre"],
        &[
            "unknown variant \"eagre\"",
            "did you mean \"eager\"",
            "\"cooperative\"",
        ],
    );
}

#[test]
fn bad_override_syntax_is_quoted() {
    expect_error(
        "bad_override_syntax",
        &base(),
        &["--set", "producer:linger.ms=5"],
        &["producer:linger.ms=5", "SCOPE:NAME:KEY=VALUE"],
    );
}

#[test]
fn override_naming_a_missing_entity_is_rejected() {
    expect_error(
        "override_missing_entity",
        &base(),
        &["--set", "group:biling:members=4"],
        &[
            "group:biling:members=4",
            "no group named \"biling\"",
            "did you mean \"billing\"",
        ],
    );
}

#[test]
fn override_value_is_checked_like_the_file() {
    expect_error(
        "override_bad_value",
        &base(),
        &["--set", "producer:*:linger.ms=-1"],
        &[
            "producers[0].config.linger.ms: -1 is not allowed",
            "set by --set \"producer:*:linger.ms=-1\"",
        ],
    );
}

#[test]
fn heartbeat_not_below_session_timeout_is_rejected() {
    let scenario = with(base(), |s| {
        *group_config(s) = json!({ "session.timeout.ms": 10000, "heartbeat.interval.ms": 10000 });
    });
    expect_error(
        "heartbeat",
        &scenario,
        &[],
        &[
            "consumer_groups[0].config.heartbeat.interval.ms: 10000 is not allowed",
            "session.timeout.ms (10000)",
        ],
    );
}

#[test]
fn session_timeout_outside_broker_bounds_is_rejected() {
    let scenario = with(base(), |s| {
        *group_config(s) = json!({ "session.timeout.ms": 5000 })
    });
    expect_error(
        "session_bounds",
        &scenario,
        &[],
        &[
            "consumer_groups[0].config.session.timeout.ms: 5000 is not allowed",
            "group.min.session.timeout.ms (6000)",
        ],
    );
}

#[test]
fn explicit_idempotence_with_acks_one_is_rejected() {
    let scenario = with(base(), |s| {
        *producer_config(s) = json!({ "acks": "1", "enable.idempotence": true });
    });
    expect_error(
        "explicit_idempotence",
        &scenario,
        &[],
        &[
            "producers[0].config.enable.idempotence: true is not allowed",
            "acks",
            "idempotent producer",
        ],
    );
}

#[test]
fn explicit_delivery_timeout_below_linger_plus_request_is_rejected() {
    let scenario = with(base(), |s| {
        *producer_config(s) = json!({ "delivery.timeout.ms": 1000, "linger.ms": 5 });
    });
    expect_error(
        "delivery_timeout",
        &scenario,
        &[],
        &[
            "producers[0].config.delivery.timeout.ms: 1000 is not allowed",
            "30005",
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let scenario = with(base(), |s| {
        s["topics"][0]["partitions"] = json!(0);
        s["prodcers"] = json!([]);
        producer_config(s)["linger.ms"] = json!(-5);
        s["timeline"] = json!([{ "at_ms": 1000, "action": "broker-crash", "broker": 9 }]);
    });
    let stderr = expect_error(
        "many_problems",
        &scenario,
        &[],
        &[
            "topics[0].partitions",
            "prodcers",
            "linger.ms",
            "timeline[0].broker",
            "4 problems",
        ],
    );
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
}

#[test]
fn validate_prints_the_resolved_scenario() {
    let text = serde_json::to_string_pretty(&base()).unwrap_or_default();
    let outcome = validate_text("validate_ok", &text, &["--set", "cluster::brokers=5"]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let printed: Value = serde_json::from_str(&outcome.stdout).unwrap_or_default();
    assert_eq!(printed["cluster"]["brokers"], json!(5));
    assert_eq!(
        printed["producers"][0]["config"]["linger_ns"],
        json!(5_000_000)
    );
}

fn load(
    scenario: &Value,
    overrides: &[&str],
    variant: Option<&str>,
) -> kafkasim::scenario::model::Scenario {
    let text = serde_json::to_string_pretty(scenario).unwrap_or_default();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    load_str(&text, "test.json", &overrides, variant).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_are_kafka_4_defaults() {
    let scenario = load(&base(), &[], None);
    assert_eq!(scenario.seed, 1);
    assert_eq!(scenario.variant, None);
    assert_eq!(scenario.duration_ns, 60_000_000_000);
    assert_eq!(scenario.metrics_interval_ns, 1_000_000_000);
    let producer = &scenario.producers[0];
    assert_eq!(producer.record_bytes, Dist::Fixed { value: 1024.0 });
    assert_eq!(producer.keys, Keys::Null);
    assert_eq!(producer.key_bytes, 16);
    let config = &producer.config;
    assert_eq!(config.linger_ns, 5_000_000);
    assert_eq!(config.batch_size_bytes, 16384);
    assert_eq!(config.acks, Acks::All);
    assert!(config.enable_idempotence);
    assert_eq!(config.delivery_timeout_ns, 120_000_000_000);
    assert_eq!(config.request_timeout_ns, 30_000_000_000);
    assert_eq!(config.retries, 2_147_483_647);
    assert_eq!(config.max_in_flight_requests_per_connection, 5);
    assert_eq!(config.partitioner, Partitioner::BuiltIn);
    let group = &scenario.consumer_groups[0];
    assert_eq!(group.commit, CommitPolicy::Auto);
    assert_eq!(
        group.config.partition_assignment_strategy,
        ["range", "cooperative-sticky"]
    );
    assert_eq!(group.config.session_timeout_ns, 45_000_000_000);
    assert_eq!(group.config.heartbeat_interval_ns, 3_000_000_000);
    assert_eq!(group.config.max_poll_records, 500);
    assert!(group.config.enable_auto_commit);
    assert_eq!(scenario.cluster.config.min_insync_replicas, 1);
    assert_eq!(
        scenario.cluster.network.bandwidth_bytes_per_sec,
        1_250_000_000
    );
    assert_eq!(
        scenario.timeline[0].action,
        Action::ConsumerJoin { group: 0 }
    );
}

#[test]
fn an_override_changes_the_right_field() {
    let scenario = load(
        &base(),
        &[
            "producer:orders-app:linger.ms=20",
            "topic:orders:partitions=12",
            "group:*:commit=sync-after-poll",
        ],
        None,
    );
    assert_eq!(scenario.producers[0].config.linger_ns, 20_000_000);
    assert_eq!(scenario.topics[0].partitions, 12);
    assert_eq!(
        scenario.consumer_groups[0].commit,
        CommitPolicy::SyncAfterPoll
    );
    assert!(!scenario.consumer_groups[0].config.enable_auto_commit);
    assert_eq!(scenario.producers[0].config.batch_size_bytes, 16384);
}

#[test]
fn a_variant_applies_and_the_first_is_the_default() {
    let scenario = with(base(), |s| {
        s["variants"] = json!({
            "eager": ["group:billing:partition.assignment.strategy=range"],
            "cooperative": ["group:billing:partition.assignment.strategy=org.apache.kafka.clients.consumer.CooperativeStickyAssignor"]
        });
    });
    let text = serde_json::to_string(&scenario).unwrap_or_default();
    let names = variant_names(&text, "test.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names, ["eager", "cooperative"]);
    let first = load(&scenario, &[], None);
    assert_eq!(first.variant.as_deref(), Some("eager"));
    assert_eq!(
        first.consumer_groups[0]
            .config
            .partition_assignment_strategy,
        ["range"]
    );
    let second = load(&scenario, &[], Some("cooperative"));
    assert_eq!(
        second.consumer_groups[0]
            .config
            .partition_assignment_strategy,
        ["cooperative-sticky"]
    );
    // --set applies after the variant.
    let both = load(
        &scenario,
        &["group:billing:partition.assignment.strategy=sticky,range"],
        Some("eager"),
    );
    assert_eq!(
        both.consumer_groups[0].config.partition_assignment_strategy,
        ["sticky", "range"]
    );
}

#[test]
fn implicit_idempotence_is_turned_off_by_acks_one() {
    let scenario = with(base(), |s| *producer_config(s) = json!({ "acks": "1" }));
    let resolved = load(&scenario, &[], None);
    assert_eq!(resolved.producers[0].config.acks, Acks::One);
    assert!(!resolved.producers[0].config.enable_idempotence);
    let by_in_flight = load(
        &base(),
        &["producer:*:max.in.flight.requests.per.connection=6"],
        None,
    );
    assert!(!by_in_flight.producers[0].config.enable_idempotence);
}

#[test]
fn implicit_delivery_timeout_is_raised() {
    let resolved = load(&base(), &["producer:*:linger.ms=100000"], None);
    assert_eq!(
        resolved.producers[0].config.delivery_timeout_ns,
        130_000_000_000
    );
}

#[test]
fn unknown_field_in_an_override_value_is_named() {
    expect_error(
        "override_unknown_field",
        &base(),
        &[
            "--set",
            "producer:*:record_bytes={\"dist\":\"fixed\",\"vale\":512}",
        ],
        &[
            "producers[0].record_bytes.vale",
            "did you mean \"value\"",
            "set by --set",
        ],
    );
}

#[test]
fn every_wrong_type_is_reported_at_once() {
    let scenario = with(base(), |s| {
        s["topics"][0]["partitions"] = json!("six");
        s["producers"][0]["rate_per_sec"] = json!("fast");
        s["seed"] = json!(-4);
    });
    let stderr = expect_error(
        "many_wrong_types",
        &scenario,
        &[],
        &[
            "topics[0].partitions: string \"six\"",
            "producers[0].rate_per_sec: string \"fast\"",
            "seed: integer `-4`",
            "3 problems",
        ],
    );
    assert!(!stderr.contains("missing"), "{stderr}");
}

#[test]
fn validate_checks_the_check_section_and_prints_it_resolved() {
    let scenario = with(base(), |s| {
        s["check"] = json!({ "faults": ["brokr-crash"] });
    });
    expect_error(
        "bad_check_section",
        &scenario,
        &[],
        &[
            "check.faults[0]",
            "\"brokr-crash\"",
            "did you mean \"broker-crash\"",
            "broker-power-loss",
        ],
    );
    let scenario = with(base(), |s| {
        s["check"] =
            json!({ "faults": ["broker-stall"], "faults_per_run": { "min": 2, "max": 4 } });
    });
    let text = serde_json::to_string_pretty(&scenario).unwrap_or_default();
    let outcome = validate_text("good_check_section", &text, &[]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    let resolved: Value = serde_json::from_str(&outcome.stdout).expect("JSON on stdout");
    assert_eq!(resolved["check"]["faults"], json!(["broker-stall"]));
    assert_eq!(
        resolved["check"]["faults_per_run"],
        json!({ "min": 2, "max": 4 })
    );
}
