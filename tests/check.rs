//! Goal: `kafkasim check` finds what Kafka loses, duplicates and reorders, and nothing that the
//! configs promise: (1) property tests generate whole scenarios (cluster size, topic, producer
//! and consumer configs, fault schedules) and assert that no promised guarantee is violated;
//! (2) the converse: generated acks=1 scenarios with leader failures lose acknowledged records for
//! some case, and generated scenarios without idempotence duplicate records for some case, and
//! shrinking reduces the failing case; (3) a canary plants a broker bug (the duplicate-sequence
//! check skipped) and `check` must find it within a bounded number of seeds; (4) the command's
//! output, exit codes and reproducing files.
//! Method: proptest over JSON scenarios run through `check::Plan` (the command's own code path).
//! Case counts: `KAFKASIM_PROPTEST_CASES` (default small, so `cargo test` stays quick); the long
//! run is `KAFKASIM_PROPTEST_CASES=2000 cargo test --release --test main check::`.

use super::util::TempDir;
use kafkasim::check::{Plan, SeedOutcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{json, Value};
use std::process::Command;

/// Cases per property test: `KAFKASIM_PROPTEST_CASES`, or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("KAFKASIM_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The knobs of one generated scenario (kept as a struct so that shrinking reports it readably).
#[derive(Debug, Clone)]
struct Knobs {
    brokers: u32,
    replication_factor: u32,
    min_insync: u32,
    partitions: u32,
    unclean: bool,
    instances: u32,
    rate_per_sec: u32,
    /// 0, 1 or 2 (all).
    acks: u32,
    /// Only used with acks=all (Kafka refuses it explicitly on with acks≠all).
    idempotence: bool,
    max_in_flight: u32,
    request_timeout_ms: u32,
    /// None: no group; Some((members, commit policy index, earliest)).
    group: Option<(u32, usize, bool)>,
    faults: Vec<&'static str>,
    faults_max: u32,
    fault_ms_max: u32,
    duration_ms: u32,
    /// The network's and clients' randomness.
    seed: u64,
    /// The fault schedule's choices (which fault, when, how long, which broker), consumed in
    /// order by `check`'s own schedule builder; 0 once used up. Proptest shrinks them towards
    /// 0 and drops them, so a failing schedule shrinks to fewer, earlier and shorter faults
    /// while the seed keeps the rest of the run as it was.
    script: Vec<u32>,
}

/// `check::faults::Choices` from a list of numbers.
struct Script(std::vec::IntoIter<u32>);

impl kafkasim::check::faults::Choices for Script {
    /// The choice is the number's place in its range, so a smaller number is a smaller choice.
    fn below(&mut self, bound: u64) -> u64 {
        let fraction = u64::from(self.0.next().unwrap_or(0));
        ((u128::from(fraction) * u128::from(bound)) >> 32) as u64
    }
}

const COMMITS: [&str; 4] = [
    "auto",
    "sync-after-poll",
    "async-after-poll",
    "before-processing",
];
const KINDS: [&str; 7] = [
    "broker-crash",
    "broker-power-loss",
    "broker-stall",
    "network-partition",
    "network-delay",
    "network-loss",
    "consumer-crash",
];

impl Knobs {
    /// A rough size: what shrinking should make smaller.
    fn size(&self) -> u64 {
        u64::from(self.brokers + self.partitions + self.instances + self.faults_max)
            + self.faults.len() as u64
            + u64::from(self.rate_per_sec / 100)
            + u64::from(self.duration_ms / 1000)
            + self.script.iter().filter(|&&choice| choice != 0).count() as u64
    }

    fn json(&self) -> Value {
        let acks = ["0", "1", "all"][self.acks as usize];
        let mut config = json!({
            "acks": acks,
            "max.in.flight.requests.per.connection": self.max_in_flight,
            "request.timeout.ms": self.request_timeout_ms,
            "delivery.timeout.ms": 60000,
            "linger.ms": 5
        });
        if acks == "all" {
            config["enable.idempotence"] = json!(self.idempotence);
        }
        let groups = match self.group {
            None => json!([]),
            Some((members, commit, earliest)) => json!([{
                "group.id": "g", "members": members, "topics": ["t"],
                "commit": COMMITS[commit],
                "config": { "auto.offset.reset": if earliest { "earliest" } else { "latest" } }
            }]),
        };
        let faults: Vec<&str> = self
            .faults
            .iter()
            .copied()
            .filter(|kind| self.group.is_some() || *kind != "consumer-crash")
            .collect();
        json!({
            "name": "generated",
            "seed": self.seed,
            "duration_ms": self.duration_ms,
            "cluster": { "brokers": self.brokers,
                         "config": { "unclean.leader.election.enable": self.unclean } },
            "topics": [ { "name": "t", "partitions": self.partitions,
                          "replication.factor": self.replication_factor,
                          "config": { "min.insync.replicas": self.min_insync } } ],
            "producers": [ { "name": "p", "instances": self.instances, "topic": "t",
                             "rate_per_sec": self.rate_per_sec,
                             "keys": { "dist": "uniform", "count": 1000 }, "config": config } ],
            "consumer_groups": groups,
            "check": {
                "faults": faults,
                "faults_per_run": { "min": 1, "max": self.faults_max },
                "fault_duration_ms": { "min": 500, "max": self.fault_ms_max },
                "start_ms": { "min": self.duration_ms / 10, "max": self.duration_ms / 2 }
            }
        })
    }

    fn check(&self) -> SeedOutcome {
        let text = self.json().to_string();
        let plan = Plan::from_text(&text, "generated").unwrap_or_else(|error| panic!("{error}"));
        plan.run_choices(self.seed, &mut Script(self.script.clone().into_iter()))
            .unwrap_or_else(|error| panic!("{error}"))
    }
}

/// Whole scenarios: any configs, any faults.
fn any_scenario() -> impl Strategy<Value = Knobs> {
    let cluster = (1u32..=4)
        .prop_flat_map(|brokers| (Just(brokers), 1u32..=brokers.min(3)))
        .prop_flat_map(|(brokers, rf)| (Just(brokers), Just(rf), 1u32..=rf));
    let producer = (
        1u32..=2,
        200u32..=3000,
        0u32..=2,
        any::<bool>(),
        prop_oneof![Just(1u32), Just(5u32)],
        prop_oneof![Just(1000u32), Just(30000u32)],
    );
    let group = proptest::option::of((1u32..=3, 0usize..4, any::<bool>()));
    let faults = (
        proptest::sample::subsequence(KINDS.to_vec(), 1..=KINDS.to_vec().len()),
        1u32..=3,
        1000u32..=10000,
    );
    (
        cluster,
        1u32..=4,
        proptest::bool::weighted(0.2),
        producer,
        group,
        faults,
        8000u32..=20000,
        1u64..=100_000,
        proptest::collection::vec(any::<u32>(), 0..=32),
    )
        .prop_map(
            |(
                (brokers, replication_factor, min_insync),
                partitions,
                unclean,
                (instances, rate_per_sec, acks, idempotence, max_in_flight, request_timeout_ms),
                group,
                (faults, faults_max, fault_ms_max),
                duration_ms,
                seed,
                script,
            )| Knobs {
                brokers,
                replication_factor,
                min_insync,
                partitions,
                unclean,
                instances,
                rate_per_sec,
                acks,
                idempotence,
                max_in_flight,
                request_timeout_ms,
                group,
                faults,
                faults_max,
                fault_ms_max,
                duration_ms,
                seed,
                script,
            },
        )
}

/// Anomalies the configs promise against, as text (empty when the run is correct).
fn promised_violations(outcome: &SeedOutcome) -> Vec<String> {
    outcome
        .anomalies
        .iter()
        .filter(|anomaly| anomaly.promise.promised)
        .map(|anomaly| {
            format!(
                "{} {} ×{} ({}) {:?}",
                anomaly.name,
                anomaly.subject,
                anomaly.count,
                anomaly.promise.reason,
                anomaly.records
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: cases(12), ..Config::default() })]

    #[test]
    fn promised_guarantees_hold_under_generated_faults(knobs in any_scenario()) {
        let outcome = knobs.check();
        let violations = promised_violations(&outcome);
        prop_assert!(violations.is_empty(), "seed {}: {violations:?}\nreproducing scenario: {}", knobs.seed, outcome.repro);
    }
}

/// Runs `property` over `strategy` and expects proptest to find a failing case; returns the
/// first failing case found and the case shrinking reduced it to.
fn find_counterexample(
    strategy: impl Strategy<Value = Knobs>,
    cases: u32,
    property: impl Fn(&SeedOutcome) -> bool,
) -> (Knobs, Knobs) {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 64,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let first: std::cell::RefCell<Option<Knobs>> = std::cell::RefCell::new(None);
    let result = runner.run(&strategy, |knobs| {
        if property(&knobs.check()) {
            return Ok(());
        }
        first.borrow_mut().get_or_insert_with(|| knobs.clone());
        Err(TestCaseError::fail("anomaly found"))
    });
    match result {
        Err(TestError::Fail(_, minimal)) => {
            let first = first.into_inner().expect("a failure was seen");
            (first, minimal)
        }
        other => panic!("no generated case showed the anomaly in {cases} cases: {other:?}"),
    }
}

fn has(outcome: &SeedOutcome, name: &str) -> bool {
    outcome.anomalies.iter().any(|anomaly| anomaly.name == name)
}

#[test]
fn acks_1_with_leader_failures_loses_acknowledged_records_for_some_case() {
    // acks=1, replicated topics, crashes (with slow followers), clean elections.
    let strategy = (any_scenario(), 2u32..=3).prop_map(|(mut knobs, brokers)| {
        knobs.brokers = brokers;
        knobs.replication_factor = brokers;
        knobs.min_insync = 1;
        knobs.unclean = false;
        knobs.acks = 1;
        knobs.faults = vec!["broker-crash", "network-delay"];
        knobs.faults_max = knobs.faults_max.max(2);
        knobs.fault_ms_max = knobs.fault_ms_max.max(9000);
        knobs.duration_ms = knobs.duration_ms.max(15000);
        knobs
    });
    let (first, minimal) =
        find_counterexample(strategy, cases(40), |outcome| !has(outcome, "lost-write"));
    assert!(
        has(&minimal.check(), "lost-write"),
        "the shrunk case still loses"
    );
    assert!(
        minimal.size() <= first.size(),
        "shrinking made it no bigger: {minimal:?} vs {first:?}"
    );
    eprintln!("acks=1 loss: first {first:?}\nshrunk to {minimal:?}");
}

#[test]
fn retries_without_idempotence_duplicate_for_some_case() {
    // Lost responses time out after 1 s and the batch is sent again.
    let strategy = any_scenario().prop_map(|mut knobs| {
        knobs.acks = 2;
        knobs.idempotence = false;
        knobs.request_timeout_ms = 1000;
        knobs.faults = vec!["network-loss"];
        knobs
    });
    let (first, minimal) =
        find_counterexample(strategy, cases(40), |outcome| !has(outcome, "duplicate"));
    assert!(
        has(&minimal.check(), "duplicate"),
        "the shrunk case still duplicates"
    );
    assert!(
        minimal.size() <= first.size(),
        "shrinking made it no bigger: {minimal:?} vs {first:?}"
    );
    eprintln!("duplicates: first {first:?}\nshrunk to {minimal:?}");
}

/// An idempotent producer through lossy links: retries happen, the broker must deduplicate.
fn canary_scenario() -> String {
    json!({
        "name": "canary", "seed": 1, "duration_ms": 12000,
        "cluster": { "brokers": 3 },
        "topics": [ { "name": "t", "partitions": 3, "replication.factor": 3, "config": { "min.insync.replicas": 2 } } ],
        "producers": [ { "name": "p", "instances": 1, "topic": "t", "rate_per_sec": 2000,
                         "keys": { "dist": "uniform", "count": 1000 },
                         "config": { "acks": "all", "enable.idempotence": true, "request.timeout.ms": 1000 } } ],
        "check": { "faults": ["network-loss"], "faults_per_run": { "min": 1, "max": 2 },
                   "fault_duration_ms": { "min": 2000, "max": 5000 } }
    })
    .to_string()
}

/// Seeds the canary may take to be found.
const CANARY_SEEDS_MAX: u64 = 10;

#[test]
fn canary_a_broker_that_skips_the_sequence_check_is_found() {
    let mut plan = Plan::from_text(&canary_scenario(), "canary").expect("valid");
    // Control: the correct model promises no duplicates and has none.
    for seed in 1..=3 {
        let outcome = plan.run_seed(seed).expect("runs");
        assert!(
            promised_violations(&outcome).is_empty(),
            "seed {seed}: {:?}",
            outcome.anomalies
        );
    }
    plan.canary_skip_sequence_check = true;
    let found = (1..=CANARY_SEEDS_MAX).find(|&seed| {
        let outcome = plan.run_seed(seed).expect("runs");
        outcome
            .anomalies
            .iter()
            .any(|anomaly| anomaly.name == "duplicate" && anomaly.promise.promised)
    });
    assert!(
        found.is_some(),
        "check missed the planted bug in {CANARY_SEEDS_MAX} seeds"
    );
}

fn kafkasim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
}

#[test]
fn check_reports_a_lost_write_with_a_command_that_reproduces_it() {
    let dir = TempDir::new("check-cli");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/leader-failover-acks1.json"
    );
    let output = kafkasim()
        .args(["check", scenario, "--seeds", "1", "--out"])
        .arg(&dir.0)
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("VIOLATION lost-write (seed 1)"), "{stdout}");
    let command = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("reproduce: kafkasim "))
        .expect("a reproducing command");
    let args: Vec<&str> = command.split(' ').collect();
    let lost: u64 = stdout
        .lines()
        .find_map(|line| line.split("payments-app: ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .expect("a lost count");
    let rerun = kafkasim().args(&args).output().expect("binary runs");
    let table = String::from_utf8_lossy(&rerun.stdout);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let reported = table
        .lines()
        .find_map(|line| line.trim().strip_prefix("acked records lost"))
        .map(|count| count.trim().to_string())
        .expect("a lost line");
    assert_eq!(reported, lost.to_string(), "{table}");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.0.join("check.json")).expect("check.json"),
    )
    .expect("JSON");
    assert_eq!(summary["violated_seeds"], 1);
    assert_eq!(summary["runs"][0]["anomalies"][0]["anomaly"], "lost-write");
}

#[test]
fn check_passes_when_nothing_is_violated_and_refuses_a_bad_section() {
    let dir = TempDir::new("check-pass");
    let file = dir.0.join("ok.json");
    let mut scenario: Value = serde_json::from_str(&canary_scenario()).expect("JSON");
    scenario["duration_ms"] = json!(6000);
    std::fs::write(&file, scenario.to_string()).expect("write");
    let output = kafkasim()
        .args(["check"])
        .arg(&file)
        .args(["--seeds", "2", "--jobs", "1", "--out"])
        .arg(dir.0.join("out"))
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 of 2 seeds violated"), "{stdout}");
    scenario["check"]["faults"] = json!(["broker-crsh"]);
    std::fs::write(&file, scenario.to_string()).expect("write");
    let output = kafkasim()
        .args(["check"])
        .arg(&file)
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("check.faults[0]") && stderr.contains("broker-crash"),
        "{stderr}"
    );
}

/// The long run's survey: `KAFKASIM_CHECK_SURVEY=N` generates N whole scenarios as the property
/// test does, runs them all (not stopping at the first failure), and prints every promised
/// violation and a tally. Without the variable it does nothing.
#[test]
fn survey_generated_scenarios_when_asked() {
    let Some(total) = std::env::var("KAFKASIM_CHECK_SURVEY")
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
    else {
        return;
    };
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = any_scenario();
    let mut tally: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    let mut violating = 0;
    for case in 0..total {
        let knobs = strategy.new_tree(&mut runner).expect("a case").current();
        let outcome = knobs.check();
        let violations = promised_violations(&outcome);
        for anomaly in outcome
            .anomalies
            .iter()
            .filter(|anomaly| anomaly.promise.promised)
        {
            *tally.entry(anomaly.name.to_string()).or_default() += 1;
        }
        if !violations.is_empty() {
            violating += 1;
            eprintln!(
                "case {case}: {violations:?}\n  reproducing scenario: {}",
                outcome.repro
            );
        }
        for anomaly in outcome
            .anomalies
            .iter()
            .filter(|anomaly| !anomaly.promise.promised)
        {
            *tally
                .entry(format!("{} (not promised)", anomaly.name))
                .or_default() += 1;
        }
        if (case + 1) % 100 == 0 {
            eprintln!(
                "survey progress: {} cases, {violating} with a promised violation; {tally:?}",
                case + 1
            );
        }
    }
    eprintln!("survey: {total} generated scenarios, {violating} with a promised violation; cases per anomaly: {tally:?}");
}

/// The long run's first finding was the ledger's, not Kafka's: a follower kept an older epoch's
/// unacknowledged suffix that a short-lived leader never had, became leader, and answered the
/// producer's retries of those batches as duplicates; the ledger, which had dropped the suffix
/// with the short-lived leader, called them lost. The file is `check`'s reproducing scenario.
#[test]
fn a_new_leaders_older_suffix_counts_in_the_log_of_record() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/check-finding-acks-all-seed-170.json"
    ))
    .expect("finding file");
    let scenario = kafkasim::scenario::load_str(&text, "seed-170", &[], None).expect("valid");
    let mut world = kafkasim::world::World::build(&scenario, 170).expect("builds");
    world.run().expect("no limit");
    let figures = world.metrics.ledger.figures();
    assert_eq!(figures.lost_acked, 0);
    assert_eq!(figures.duplicates_in_log, 0);
    assert_eq!(figures.reordered, 0);
}

fn run_finding(file: &str) -> kafkasim::world::World {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("finding file");
    let scenario = kafkasim::scenario::load_str(&text, file, &[], None).expect("valid");
    let mut world = kafkasim::world::World::build(&scenario, scenario.seed).expect("builds");
    world.run().expect("no limit");
    world
}

/// Power losses on brokers 0 (3.123 s) and 2 (3.546 s), replicas of t-2 = [2, 3, 0] with broker
/// 2 leading, min.insync.replicas=3. Broker 0's re-registration (7.398 s) takes it out of the
/// ISR: [2, 3]. The run ends as broker 2 restarts, before the controller hears of it, so the
/// leader of record is a broker that leads nothing and lost its page cache. In every future the
/// controller takes broker 2 out of that ISR and elects broker 3, which holds all 220
/// acknowledged records of t-2: none is lost. (The ledger once judged broker 2's emptied log.)
#[test]
fn records_an_in_sync_follower_holds_are_not_lost_when_the_run_ends_with_the_leader_down() {
    let world = run_finding("check-finding-acks-all-two-power-losses.json");
    let t2 = kafkasim::ids::TopicPartition {
        topic: kafkasim::ids::TopicId(0),
        partition: 2,
    };
    assert_eq!(
        world.metrics.ledger.authority(t2),
        Some(kafkasim::ids::BrokerId(3))
    );
    assert_eq!(world.metrics.ledger.figures().lost_acked, 0);
}

/// Broker 1 (leader of t-1, replicas [1, 2]) stalls from 2.164 s to 4.918 s; its follower,
/// broker 2, loses its page cache at 3.292 s and restarts at 4.589 s with an empty log. When the
/// stall ends broker 1 handles a fetch the old broker-2 process sent before its crash (fetch
/// offset 607, caught up). The answer goes to a connection that died with the old process, and
/// the new process acts on nothing until the controller accepts its registration, which Kafka
/// refuses while the old process's session is valid (DUPLICATE_BROKER_REGISTRATION); the ISR
/// only takes replicas that fetched as their current registration (KIP-903). The model once
/// delivered that answer to the new process, which appended offset 607 to an empty log
/// (invariant: follower log has a gap).
#[test]
fn a_fetch_from_a_restarted_brokers_old_process_neither_rejoins_the_isr_nor_lands() {
    let world = run_finding("check-finding-follower-log-gap.json");
    let t1 = kafkasim::ids::TopicPartition {
        topic: kafkasim::ids::TopicId(0),
        partition: 1,
    };
    let log = |broker: usize| {
        let replica = world.brokers[broker].replica(t1).expect("a replica of t-1");
        (replica.log.log_start_offset, replica.log.log_end_offset)
    };
    // Neither restarted process may register while its old session is valid (last heartbeats
    // at 2 s and 4 s, so the sessions lapse at 11 s and 13 s). At 13 s broker 1, the ISR's
    // last member, is fenced and t-1 has no leader (epoch 1); at its registration (14 s) it
    // leads again (epoch 2) with the log its power loss left it, and broker 2 follows it from
    // offset 0: the two logs are the same, with no gap.
    assert_eq!(log(2).0, 0);
    assert_eq!(log(2), log(1));
    let state = world.controller.state(t1).expect("t-1");
    assert_eq!(state.leader, Some(kafkasim::ids::BrokerId(1)));
    assert_eq!(state.leader_epoch, 2);
}

/// Brokers 0 and 1 lose power together at 1.224 s (the last 1 ms unflushed; broker 0 leads t-0,
/// replicas [0, 1, 2], min.insync.replicas=3) and restart at 1.724 s. Neither may register
/// before its old session lapses, so neither acts on the partition states from before its
/// crash; broker 2, in sync and holding every acknowledged record, takes over. The model once
/// let restarted broker 0 lead t-0 again at epoch 0 with its shortened log, and broker 2
/// truncated to it: 6 acknowledged records lost under a configuration that promises none.
#[test]
fn a_restarted_broker_does_not_lead_on_partition_states_from_before_its_crash() {
    let world = run_finding("check-finding-restarted-leader-stale-epoch.json");
    assert_eq!(world.metrics.ledger.figures().lost_acked, 0);
    let t0 = kafkasim::ids::TopicPartition {
        topic: kafkasim::ids::TopicId(0),
        partition: 0,
    };
    let state = world.controller.state(t0).expect("t-0");
    assert_eq!(state.leader, Some(kafkasim::ids::BrokerId(2)));
}

/// Seed 188 of `check scenarios/leader-failover-acks-all.json`: 30% of broker 0's messages are
/// lost from 11.859 s and broker 0, the group's coordinator, crashes at 20 s. Member 0's
/// auto-commit in flight is dropped with the coordinator, and the next auto-commit (t-1 at
/// 39489) once went out ahead of an older commit still queued (39466): the committed offset went
/// back, which the group asserts never happens (the run panicked). Commits now leave in the
/// order they were made, and the run breaks no promise.
#[test]
fn a_newer_commit_never_overtakes_a_queued_older_one() {
    let world = run_finding("check-finding-commit-overtaken.json");
    let anomalies = kafkasim::check::verify::verify(&world);
    let promised: Vec<_> = anomalies
        .iter()
        .filter(|anomaly| anomaly.promise.promised)
        .collect();
    assert!(promised.is_empty(), "{promised:?}");
}

/// Case 468 of the generated-scenario survey: brokers 1 and 2 crash at 5.421 s and 5.565 s. A
/// consumer owning a partition without a leader got a metadata answer after its retry backoff
/// had ended, and asked to be woken at the end of that backoff, in the past (the event queue
/// asserts time never goes back; the run panicked). It now wakes at once.
#[test]
fn a_metadata_answer_after_the_backoff_wakes_the_consumer_at_once() {
    let world = run_finding("check-finding-metadata-answer-after-backoff.json");
    let anomalies = kafkasim::check::verify::verify(&world);
    assert!(
        anomalies.iter().all(|anomaly| anomaly.name != "invariant"),
        "{anomalies:?}"
    );
}

/// Cases 1140 and 1788 of the 3,000-scenario survey: two replicas of t-2 (acks=all,
/// min.insync.replicas=3) lose their page cache in turn, one of them everything, and both
/// restart before the run ends, neither registered yet. The controller will fence both old
/// sessions and elect the in-sync replica that never went down, which holds every
/// acknowledged record; the ledger once judged t-2 by the restarted broker with the emptied
/// log (676 and 894 records "lost").
#[test]
fn a_restarted_unregistered_replica_is_not_taken_for_the_next_leader() {
    for case in [1140, 1788] {
        let world = run_finding(&format!("check-finding-survey-case-{case}.json"));
        assert_eq!(world.metrics.ledger.figures().lost_acked, 0, "case {case}");
    }
}
