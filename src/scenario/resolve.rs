//! Raw scenario → resolved `model::Scenario`: fills Kafka 4.x defaults, converts units once
//! (ms → ns, megabits/s → bytes/s), applies Kafka's cross-field rules, and turns names into
//! indexes. Every problem is collected with its field path, so the user sees them all at once.
//! Timeline entries are checked in `timeline.rs`.

use super::configs::{self, Checked};
use super::locate::{child, element};
use super::model::*;
use super::problem::{quoted_list, suggestion, Problem};
use super::raw::*;
use serde_json::Value;

/// Kafka's limit on an idempotent producer's in-flight requests per connection.
const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: u32 = 5;

/// Collects problems while resolving; every helper returns a usable value even on error, so
/// resolution continues and reports the next problem too.
#[derive(Debug, Default)]
pub struct Resolver {
    pub problems: Vec<Problem>,
}

/// Resolves a parsed scenario. `Err` holds every problem found (at least one).
pub fn resolve(raw: &RawScenario, variant: Option<String>) -> Result<Scenario, Vec<Problem>> {
    let mut resolver = Resolver::default();
    let scenario = resolver.scenario(raw, variant);
    if resolver.problems.is_empty() {
        Ok(scenario)
    } else {
        Err(resolver.problems)
    }
}

/// ms (finite, ≥ 0) → ns, rounded; None if negative, not finite, or beyond u64 ns (584 years).
pub fn ms_to_ns(ms: f64) -> Option<u64> {
    let ns = (ms * 1e6).round();
    (ms.is_finite() && ms >= 0.0 && ns < 1.8e19).then_some(ns as u64)
}

/// Names usable as a folder and in node names: `[A-Za-z0-9._-]+`, not `.` or `..`.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

const SAFE_NAME: &str =
    "a non-empty name of letters, digits, '.', '_' and '-' (not \".\" or \"..\")";

impl Resolver {
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn scenario(&mut self, raw: &RawScenario, variant: Option<String>) -> Scenario {
        let name = self.name(raw.name.as_deref(), "name");
        let duration_ns = self.time_ms(raw.duration_ms, "duration_ms", None, true);
        let metrics_interval_ns = self.time_ms(
            raw.metrics_interval_ms,
            "metrics_interval_ms",
            Some(1000.0),
            true,
        );
        let cluster = self.cluster(raw.cluster.as_ref());
        let topics = self.topics(raw.topics.as_deref(), &cluster);
        let mut producers = self.producers(raw.producers.as_deref(), &topics);
        let consumer_groups = self.groups(raw.consumer_groups.as_deref(), &topics, &cluster.config);
        self.unique_transactional_ids(&producers, &consumer_groups);
        let timeline = self.timeline(
            raw.timeline.as_deref().unwrap_or_default(),
            duration_ns,
            &cluster,
            &topics,
            &mut producers,
            &consumer_groups,
        );
        Scenario {
            name,
            description: raw.description.clone().unwrap_or_default(),
            seed: raw.seed.unwrap_or(1),
            variant,
            duration_ns,
            metrics_interval_ns,
            cluster,
            topics,
            producers,
            consumer_groups,
            timeline,
            limits: self.limits(raw.limits.as_ref()),
        }
    }

    /// Two producers with one `transactional.id` fence each other at every
    /// `initTransactions()` (Kafka's zombie fencing): a scenario mistake, refused.
    fn unique_transactional_ids(&mut self, producers: &[ProducerSpec], groups: &[GroupSpec]) {
        let mut seen: Vec<(String, String)> = Vec::new();
        let producer_ids = producers.iter().enumerate().filter_map(|(index, p)| {
            let id = p.config.transactional_id.clone()?;
            Some((id, format!("producers[{index}].config.transactional.id")))
        });
        let group_ids = groups.iter().enumerate().filter_map(|(index, g)| {
            let id = g.output.as_ref()?.config.transactional_id.clone()?;
            Some((
                id,
                format!("consumer_groups[{index}].output.config.transactional.id"),
            ))
        });
        for (id, path) in producer_ids.chain(group_ids) {
            if let Some((_, first)) = seen.iter().find(|(other, _)| *other == id) {
                let allowed = format!(
                    "transactional ids must be unique: {first} has it too, and producers sharing one fence each other (each initTransactions() bumps the epoch and aborts the other's transaction)"
                );
                self.push(Problem::field(&path, Value::from(id.as_str()), &allowed));
                continue;
            }
            seen.push((id, path));
        }
    }

    fn name(&mut self, name: Option<&str>, path: &str) -> String {
        match name {
            None => self.push(Problem::missing(path, SAFE_NAME)),
            Some(text) if !is_safe_name(text) => {
                self.push(Problem::field(path, Value::from(text), SAFE_NAME))
            }
            Some(_) => {}
        }
        name.unwrap_or_default().to_string()
    }

    /// A time in ms (fractions allowed) as ns. `default` None means required.
    pub fn time_ms(
        &mut self,
        value: Option<f64>,
        path: &str,
        default: Option<f64>,
        positive: bool,
    ) -> u64 {
        let allowed = if positive {
            "must be a number of milliseconds > 0"
        } else {
            "must be a number of milliseconds ≥ 0"
        };
        let Some(ms) = value.or(default) else {
            self.push(Problem::missing(path, allowed));
            return 0;
        };
        match ms_to_ns(ms) {
            Some(ns) if ns > 0 || !positive => ns,
            _ if ms > 1.8e13 => {
                let allowed = format!("{allowed}, at most 1.8e13 (about 570 years)");
                self.push(Problem::field(path, ms, &allowed));
                0
            }
            _ => {
                self.push(Problem::field(path, ms, allowed));
                0
            }
        }
    }

    /// An integer count in `[min, u32::MAX]`. `default` None means required.
    pub fn count(&mut self, value: Option<i64>, path: &str, default: Option<u32>, min: u32) -> u32 {
        let allowed = match value {
            Some(number) if number > i64::from(u32::MAX) => {
                configs::int_range_text(i64::from(min), i64::from(u32::MAX))
            }
            _ => format!("must be an integer ≥ {min}"),
        };
        match (value, default) {
            (None, Some(default)) => default,
            (None, None) => {
                self.push(Problem::missing(path, &allowed));
                min
            }
            (Some(number), _) => match u32::try_from(number) {
                Ok(count) if count >= min => count,
                _ => {
                    self.push(Problem::field(path, number, &allowed));
                    // The default (not the bound) keeps later checks from piling up on this one.
                    default.unwrap_or(min)
                }
            },
        }
    }

    /// A finite number with `check` (described by `allowed`).
    pub fn number(
        &mut self,
        value: Option<f64>,
        path: &str,
        default: Option<f64>,
        allowed: &str,
        check: impl Fn(f64) -> bool,
    ) -> f64 {
        let Some(number) = value.or(default) else {
            self.push(Problem::missing(path, allowed));
            return 0.0;
        };
        if number.is_finite() && check(number) {
            number
        } else {
            self.push(Problem::field(path, number, allowed));
            default.unwrap_or(0.0)
        }
    }

    /// One of `allowed` strings, or `default` when absent.
    fn choice<'a>(
        &mut self,
        value: Option<&str>,
        path: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> &'a str {
        let Some(text) = value else {
            return default;
        };
        match allowed.iter().find(|candidate| **candidate == text) {
            Some(found) => found,
            None => {
                let hint = suggestion(text, allowed.iter().copied());
                let what = format!(
                    "must be one of {}{hint}",
                    quoted_list(allowed.iter().copied())
                );
                self.push(Problem::field(path, Value::from(text), &what));
                default
            }
        }
    }

    /// A distribution; values are multiplied by `unit` (1e6 for ms → ns, 1 for bytes).
    fn dist(&mut self, raw: Option<&RawDist>, path: &str, default: Dist, unit: f64) -> Dist {
        let Some(raw) = raw else {
            return default;
        };
        let kinds = ["fixed", "uniform", "exponential", "lognormal"];
        let kind = self.choice(raw.dist.as_deref(), &child(path, "dist"), &kinds, "");
        if kind.is_empty() {
            if raw.dist.is_none() {
                self.push(Problem::missing(
                    child(path, "dist"),
                    &format!("one of {}", quoted_list(kinds)),
                ));
            }
            return default;
        }
        let fields = [
            ("value", raw.value),
            ("min", raw.min),
            ("max", raw.max),
            ("mean", raw.mean),
            ("p50", raw.p50),
            ("p99", raw.p99),
        ];
        let wanted: &[&str] = match kind {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "exponential" => &["mean"],
            _ => &["p50", "p99"],
        };
        let mut values = Vec::new();
        for (field, value) in fields {
            let field_path = child(path, field);
            let belongs = wanted.contains(&field);
            match value {
                Some(_) if !belongs => self.push(Problem::new(
                    field_path,
                    format!(
                        "does not belong to a \"{kind}\" distribution, which takes {}",
                        quoted_list(wanted.iter().copied())
                    ),
                )),
                _ if belongs => {
                    let number = self.number(
                        value,
                        &field_path,
                        None,
                        "must be a number from 0 to 1e12",
                        |v| (0.0..=1e12).contains(&v),
                    );
                    values.push(number);
                }
                _ => {}
            }
        }
        self.dist_from(kind, &values, path, unit).unwrap_or(default)
    }

    fn dist_from(&mut self, kind: &str, values: &[f64], path: &str, unit: f64) -> Option<Dist> {
        match (kind, values) {
            ("fixed", [value]) => Some(Dist::Fixed {
                value: value * unit,
            }),
            ("uniform", [min, max]) if min > max => {
                let allowed = format!("must be ≥ min ({min})");
                self.push(Problem::field(child(path, "max"), max, &allowed));
                None
            }
            ("uniform", [min, max]) => Some(Dist::Uniform {
                min: min * unit,
                max: max * unit,
            }),
            ("exponential", [mean]) if *mean <= 0.0 => {
                self.push(Problem::field(child(path, "mean"), mean, "must be > 0"));
                None
            }
            ("exponential", [mean]) => Some(Dist::Exponential { mean: mean * unit }),
            ("lognormal", [p50, _]) if *p50 <= 0.0 => {
                self.push(Problem::field(child(path, "p50"), p50, "must be > 0"));
                None
            }
            ("lognormal", [p50, p99]) if p99 < p50 => {
                let allowed = format!("must be ≥ p50 ({p50})");
                self.push(Problem::field(child(path, "p99"), p99, &allowed));
                None
            }
            ("lognormal", [p50, p99]) => Some(Dist::Lognormal {
                p50: p50 * unit,
                p99: p99 * unit,
            }),
            _ => None,
        }
    }

    fn cluster(&mut self, raw: Option<&RawCluster>) -> Cluster {
        let brokers = self.count(raw.and_then(|c| c.brokers), "cluster.brokers", Some(3), 1);
        let network = raw.and_then(|c| c.network.as_ref());
        let latency_default = Dist::Lognormal {
            p50: 0.1e6,
            p99: 0.5e6,
        };
        let latency_ns = self.dist(
            network.and_then(|n| n.latency_ms.as_ref()),
            "cluster.network.latency_ms",
            latency_default,
            1e6,
        );
        let bandwidth_mbps = self.number(
            network.and_then(|n| n.bandwidth_mbps),
            "cluster.network.bandwidth_mbps",
            Some(10000.0),
            "must be megabits per second > 0 (at most 1e9)",
            |v| v > 0.0 && v <= 1e9,
        );
        let costs = raw.and_then(|c| c.costs.as_ref());
        let request_default = Dist::Lognormal {
            p50: 0.05e6,
            p99: 0.5e6,
        };
        let request_ns = self.dist(
            costs.and_then(|c| c.request_ms.as_ref()),
            "cluster.costs.request_ms",
            request_default,
            1e6,
        );
        let per_kib_us = self.number(
            costs.and_then(|c| c.per_kib_us),
            "cluster.costs.per_kib_us",
            Some(1.0),
            "must be microseconds ≥ 0 (at most 1e9)",
            |v| (0.0..=1e9).contains(&v),
        );
        let config = self.broker_config(raw.and_then(|c| c.config.as_ref()));
        Cluster {
            brokers,
            network: Network {
                latency_ns,
                // Megabits per second to bytes per second.
                bandwidth_bytes_per_sec: ((bandwidth_mbps * 125_000.0).round() as u64).max(1),
            },
            costs: BrokerCosts {
                request_ns,
                per_kib_ns: (per_kib_us * 1000.0).round() as u64,
            },
            config,
        }
    }

    fn broker_config(&mut self, raw: Option<&RawConfig>) -> BrokerConfig {
        let checked = configs::check(
            raw,
            configs::BROKER,
            "broker",
            "cluster.config",
            &mut self.problems,
        );
        let config = BrokerConfig {
            num_io_threads: checked.int_u32("num.io.threads", 8),
            message_max_bytes: checked.int_u64("message.max.bytes", 1_048_588),
            replica_lag_time_max_ns: checked.ms_as_ns("replica.lag.time.max.ms", 30_000),
            unclean_leader_election_enable: checked.bool("unclean.leader.election.enable", false),
            min_insync_replicas: checked.int_u32("min.insync.replicas", 1),
            group_initial_rebalance_delay_ns: checked
                .ms_as_ns("group.initial.rebalance.delay.ms", 3000),
            group_min_session_timeout_ns: checked.ms_as_ns("group.min.session.timeout.ms", 6000),
            group_max_session_timeout_ns: checked
                .ms_as_ns("group.max.session.timeout.ms", 1_800_000),
            replica_fetch_wait_max_ns: checked.ms_as_ns("replica.fetch.wait.max.ms", 500),
            replica_fetch_min_bytes: checked.int_u64("replica.fetch.min.bytes", 1),
            replica_fetch_max_bytes: checked.int_u64("replica.fetch.max.bytes", 1_048_576),
            replica_fetch_response_max_bytes: checked
                .int_u64("replica.fetch.response.max.bytes", 10_485_760),
            replica_fetch_backoff_ns: checked.ms_as_ns("replica.fetch.backoff.ms", 1000),
            replica_socket_timeout_ns: checked.ms_as_ns("replica.socket.timeout.ms", 30_000),
            canary_skip_sequence_check: false,
            group_consumer_heartbeat_interval_ns: checked
                .ms_as_ns("group.consumer.heartbeat.interval.ms", 5000),
            group_consumer_session_timeout_ns: checked
                .ms_as_ns("group.consumer.session.timeout.ms", 45_000),
            group_consumer_assignors: self.consumer_assignors(&checked),
        };
        self.consumer_group_bounds(&checked);
        if config.group_min_session_timeout_ns > config.group_max_session_timeout_ns {
            let max_ms = checked.int("group.max.session.timeout.ms", 1_800_000);
            let allowed = format!("must be ≤ group.max.session.timeout.ms ({max_ms})");
            let value = checked.int("group.min.session.timeout.ms", 6000);
            self.push(Problem::field(
                checked.path_of("group.min.session.timeout.ms"),
                value,
                &allowed,
            ));
        }
        config
    }

    fn topics(&mut self, raw: Option<&[RawTopic]>, cluster: &Cluster) -> Vec<Topic> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            self.push(Problem::new(
                "topics",
                "missing: required, a list of at least one topic",
            ));
        }
        let mut topics: Vec<Topic> = Vec::new();
        for (index, topic) in raw.iter().enumerate() {
            let path = element("topics", index);
            let name = self.name(topic.name.as_deref(), &child(&path, "name"));
            if name.len() > 249 {
                let allowed = "Kafka topic names are at most 249 characters";
                self.push(Problem::field(
                    child(&path, "name"),
                    Value::from(name.as_str()),
                    allowed,
                ));
            }
            if topics.iter().any(|t| t.name == name) && !name.is_empty() {
                self.push(Problem::field(
                    child(&path, "name"),
                    Value::from(name.as_str()),
                    "topic names must be unique",
                ));
            }
            let partitions = self.count(topic.partitions, &child(&path, "partitions"), None, 1);
            let factor_path = child(&path, "replication.factor");
            let replication_factor = self.count(topic.replication_factor, &factor_path, Some(1), 1);
            if replication_factor > cluster.brokers {
                let allowed = format!(
                    "must be ≤ the number of brokers (cluster.brokers = {})",
                    cluster.brokers
                );
                self.push(Problem::field(factor_path, replication_factor, &allowed));
            }
            let config_path = child(&path, "config");
            let checked = configs::check(
                topic.config.as_ref(),
                configs::TOPIC,
                "topic",
                &config_path,
                &mut self.problems,
            );
            let broker_default = i64::from(cluster.config.min_insync_replicas);
            let min_insync_replicas = checked.int_u32("min.insync.replicas", broker_default);
            if min_insync_replicas > replication_factor {
                let (isr_path, source) = if checked.is_set("min.insync.replicas") {
                    (checked.path_of("min.insync.replicas"), "")
                } else {
                    (
                        "cluster.config.min.insync.replicas".to_string(),
                        " (the broker default)",
                    )
                };
                let allowed = format!(
                    "must be ≤ {path}.replication.factor ({replication_factor}){source}, or acks=all produce always fails"
                );
                self.push(Problem::field(isr_path, min_insync_replicas, &allowed));
            }
            topics.push(Topic {
                name,
                partitions,
                replication_factor,
                min_insync_replicas,
            });
        }
        topics
    }

    /// The index of a topic named at `path`, or a problem listing the topics.
    pub fn topic_index(&mut self, name: Option<&str>, path: &str, topics: &[Topic]) -> usize {
        let names = topics.iter().map(|t| t.name.as_str());
        let Some(name) = name else {
            self.push(Problem::missing(
                path,
                &format!("one of the topics {}", quoted_list(names)),
            ));
            return 0;
        };
        if let Some(index) = topics.iter().position(|t| t.name == name) {
            return index;
        }
        let hint = suggestion(name, names.clone());
        let allowed = format!("no such topic{hint}; the topics are {}", quoted_list(names));
        self.push(Problem::field(path, Value::from(name), &allowed));
        0
    }

    fn producers(&mut self, raw: Option<&[RawProducer]>, topics: &[Topic]) -> Vec<ProducerSpec> {
        let mut producers: Vec<ProducerSpec> = Vec::new();
        for (index, producer) in raw.unwrap_or_default().iter().enumerate() {
            let path = element("producers", index);
            let name = self.name(producer.name.as_deref(), &child(&path, "name"));
            if producers.iter().any(|p| p.name == name) && !name.is_empty() {
                self.push(Problem::field(
                    child(&path, "name"),
                    Value::from(name.as_str()),
                    "producer names must be unique",
                ));
            }
            let spec = self.producer(producer, &path, name, topics);
            producers.push(spec);
        }
        producers
    }

    fn producer(
        &mut self,
        raw: &RawProducer,
        path: &str,
        name: String,
        topics: &[Topic],
    ) -> ProducerSpec {
        let arrivals = match self.choice(
            raw.arrivals.as_deref(),
            &child(path, "arrivals"),
            &["constant", "poisson"],
            "poisson",
        ) {
            "constant" => Arrivals::Constant,
            _ => Arrivals::Poisson,
        };
        let mut spec = ProducerSpec {
            name,
            instances: self.count(raw.instances, &child(path, "instances"), Some(1), 1),
            topic: self.topic_index(raw.topic.as_deref(), &child(path, "topic"), topics),
            rate_per_sec: self.number(
                raw.rate_per_sec,
                &child(path, "rate_per_sec"),
                None,
                "must be records per second per instance, > 0 and at most 1e9",
                |v| v > 0.0 && v <= 1e9,
            ),
            arrivals,
            record_bytes: self.dist(
                raw.record_bytes.as_ref(),
                &child(path, "record_bytes"),
                Dist::Fixed { value: 1024.0 },
                1.0,
            ),
            key_bytes: self.count(raw.key_bytes, &child(path, "key_bytes"), Some(16), 0),
            keys: self.keys(raw.keys.as_ref(), &child(path, "keys")),
            start_ns: 0,
            compression_ratio: self.compression_ratio(
                raw.compression_ratio.as_ref(),
                &child(path, "compression_ratio"),
            ),
            config: self.producer_config(raw.config.as_ref(), &child(path, "config")),
            transaction: None,
        };
        spec.transaction = self.transaction(raw, path, &spec.config);
        spec
    }

    /// The `transaction` object: only with `transactional.id`; default 100 records per
    /// transaction, no time limit, never aborting.
    fn transaction(
        &mut self,
        raw: &RawProducer,
        path: &str,
        config: &ProducerConfig,
    ) -> Option<TransactionSpec> {
        let tx_path = child(path, "transaction");
        if config.transactional_id.is_none() {
            if raw.transaction.is_some() {
                self.push(Problem::new(
                    &tx_path,
                    "belongs to transactional producers: set config.\"transactional.id\" too",
                ));
            }
            return None;
        }
        let raw = raw.transaction.as_ref();
        let records = match raw.and_then(|t| t.records) {
            None if raw.and_then(|t| t.ms).is_some() => 0,
            None => 100,
            Some(records) if records >= 0 => records as u64,
            Some(records) => {
                self.push(Problem::field(
                    child(&tx_path, "records"),
                    records,
                    "must be records per transaction, ≥ 0 (0: no record limit)",
                ));
                100
            }
        };
        let duration_ms = raw.and_then(|t| t.ms).unwrap_or(0.0);
        if !(0.0..=1e9).contains(&duration_ms) {
            self.push(Problem::field(
                child(&tx_path, "ms"),
                duration_ms,
                "must be milliseconds per transaction, ≥ 0 (0: no time limit)",
            ));
        }
        if records == 0 && duration_ms <= 0.0 {
            self.push(Problem::new(
                &tx_path,
                "needs a limit: records > 0 or ms > 0 (when each transaction commits)",
            ));
        }
        let abort_probability = raw.and_then(|t| t.abort_probability).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&abort_probability) {
            self.push(Problem::field(
                child(&tx_path, "abort_probability"),
                abort_probability,
                "must be a probability in [0, 1]",
            ));
        }
        Some(TransactionSpec {
            records,
            duration_ns: (duration_ms.clamp(0.0, 1e9) * 1e6) as u64,
            abort_probability: abort_probability.clamp(0.0, 1.0),
        })
    }

    fn keys(&mut self, raw: Option<&RawKeys>, path: &str) -> Keys {
        let Some(raw) = raw else {
            return Keys::Null;
        };
        let kinds = ["null", "uniform", "zipf"];
        let kind = self.choice(raw.dist.as_deref(), &child(path, "dist"), &kinds, "null");
        if raw.dist.is_none() {
            self.push(Problem::missing(
                child(path, "dist"),
                "\"uniform\" or \"zipf\" (or omit keys for null keys)",
            ));
        }
        if kind == "null" {
            for (field, present) in [
                ("count", raw.count.is_some()),
                ("exponent", raw.exponent.is_some()),
            ] {
                if present {
                    self.push(Problem::new(
                        child(path, field),
                        "does not belong to null keys",
                    ));
                }
            }
            return Keys::Null;
        }
        let count = u64::from(self.count(raw.count, &child(path, "count"), None, 1));
        if kind == "uniform" {
            if raw.exponent.is_some() {
                self.push(Problem::new(
                    child(path, "exponent"),
                    "does not belong to uniform keys (only zipf takes an exponent)",
                ));
            }
            return Keys::Uniform { count };
        }
        let exponent = self.number(
            raw.exponent,
            &child(path, "exponent"),
            None,
            "must be a number > 0",
            |v| v > 0.0,
        );
        Keys::Zipf { count, exponent }
    }

    fn compression_ratio(
        &mut self,
        raw: Option<&RawCompressionRatio>,
        path: &str,
    ) -> CompressionRatios {
        let allowed = "must be compressed / uncompressed size, in (0, 1]";
        let valid = |v: f64| v > 0.0 && v <= 1.0;
        CompressionRatios {
            gzip: self.number(
                raw.and_then(|r| r.gzip),
                &child(path, "gzip"),
                Some(0.30),
                allowed,
                valid,
            ),
            snappy: self.number(
                raw.and_then(|r| r.snappy),
                &child(path, "snappy"),
                Some(0.50),
                allowed,
                valid,
            ),
            lz4: self.number(
                raw.and_then(|r| r.lz4),
                &child(path, "lz4"),
                Some(0.45),
                allowed,
                valid,
            ),
            zstd: self.number(
                raw.and_then(|r| r.zstd),
                &child(path, "zstd"),
                Some(0.28),
                allowed,
                valid,
            ),
        }
    }

    fn producer_config(&mut self, raw: Option<&RawConfig>, path: &str) -> ProducerConfig {
        let checked = configs::check(raw, configs::PRODUCER, "producer", path, &mut self.problems);
        let acks = self.acks(&checked);
        let mut config = ProducerConfig {
            acks,
            enable_idempotence: checked.bool("enable.idempotence", true),
            retries: checked.int_u32("retries", i64::from(i32::MAX)),
            batch_size_bytes: checked.int_u32("batch.size", 16384),
            linger_ns: checked.ms_as_ns("linger.ms", 5),
            buffer_memory_bytes: checked.int_u64("buffer.memory", 33_554_432),
            max_block_ns: checked.ms_as_ns("max.block.ms", 60_000),
            max_request_size_bytes: checked.int_u32("max.request.size", 1_048_576),
            max_in_flight_requests_per_connection: checked
                .int_u32("max.in.flight.requests.per.connection", 5),
            request_timeout_ns: checked.ms_as_ns("request.timeout.ms", 30_000),
            delivery_timeout_ns: checked.ms_as_ns("delivery.timeout.ms", 120_000),
            retry_backoff_ns: checked.ms_as_ns("retry.backoff.ms", 100),
            retry_backoff_max_ns: checked.ms_as_ns("retry.backoff.max.ms", 1000),
            compression_type: match checked.choice("compression.type", "none") {
                "gzip" => Compression::Gzip,
                "snappy" => Compression::Snappy,
                "lz4" => Compression::Lz4,
                "zstd" => Compression::Zstd,
                _ => Compression::None,
            },
            partitioner: self.partitioner(&checked),
            partitioner_ignore_keys: checked.bool("partitioner.ignore.keys", false),
            partitioner_adaptive_partitioning_enable: checked
                .bool("partitioner.adaptive.partitioning.enable", true),
            partitioner_availability_timeout_ns: checked
                .ms_as_ns("partitioner.availability.timeout.ms", 0),
            metadata_max_age_ns: checked.ms_as_ns("metadata.max.age.ms", 300_000),
            transactional_id: None,
            transaction_timeout_ns: checked.ms_as_ns("transaction.timeout.ms", 60_000),
        };
        self.idempotence(&checked, &mut config);
        self.delivery_timeout(&checked, &mut config);
        self.transactional_id(&checked, &mut config);
        config
    }

    /// `transactional.id`: a non-empty string; Kafka's `ProducerConfig` refuses it once
    /// idempotence is off (set false, or turned off by a conflicting `acks` or `retries`).
    fn transactional_id(&mut self, checked: &Checked, config: &mut ProducerConfig) {
        let Some(value) = checked.json("transactional.id") else {
            return;
        };
        let id = match value {
            Value::Null => return,
            Value::String(text) if !text.trim().is_empty() => text.trim().to_string(),
            _ => {
                self.push(Problem::field(
                    checked.path_of("transactional.id"),
                    value,
                    "must be a non-empty string (or null: not transactional)",
                ));
                return;
            }
        };
        if !config.enable_idempotence {
            let reason = if checked.is_set("enable.idempotence") {
                "enable.idempotence is false"
            } else {
                "idempotence is off because of a conflicting config (acks other than all, retries=0 or max.in.flight.requests.per.connection above 5)"
            };
            let allowed = format!(
                "Kafka: \"Cannot set a transactional.id without also enabling idempotence.\" ({reason}; transactions need enable.idempotence=true, acks=all)"
            );
            self.push(Problem::field(
                checked.path_of("transactional.id"),
                value,
                &allowed,
            ));
            return;
        }
        config.transactional_id = Some(id);
    }

    fn acks(&mut self, checked: &Checked) -> Acks {
        let Some(value) = checked.json("acks") else {
            return Acks::All;
        };
        let text = match value {
            Value::String(text) => text.trim().to_ascii_lowercase(),
            Value::Number(number) => number.to_string(),
            _ => String::new(),
        };
        match text.as_str() {
            "all" | "-1" => Acks::All,
            "1" => Acks::One,
            "0" => Acks::Zero,
            _ => {
                let allowed = "must be \"all\" (same as \"-1\"), \"1\" or \"0\"";
                self.push(Problem::field(checked.path_of("acks"), value, allowed));
                Acks::All
            }
        }
    }

    fn partitioner(&mut self, checked: &Checked) -> Partitioner {
        const ROUND_ROBIN: [&str; 2] = [
            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
            "RoundRobinPartitioner",
        ];
        match checked.json("partitioner.class") {
            None => Partitioner::BuiltIn,
            Some(Value::String(name)) if ROUND_ROBIN.contains(&name.trim()) => {
                Partitioner::RoundRobin
            }
            Some(value) => {
                let allowed = format!(
                    "must be null (the built-in partitioner) or {}",
                    quoted_list(ROUND_ROBIN)
                );
                self.push(Problem::field(
                    checked.path_of("partitioner.class"),
                    value,
                    &allowed,
                ));
                Partitioner::BuiltIn
            }
        }
    }

    /// Kafka's `ProducerConfig.postProcessAndValidateIdempotenceConfigs`: conflicting configs turn
    /// idempotence off silently when the user did not set it, and are errors when they did.
    fn idempotence(&mut self, checked: &Checked, config: &mut ProducerConfig) {
        if !config.enable_idempotence {
            return;
        }
        let mut conflicts = Vec::new();
        if config.retries == 0 {
            conflicts.push("retries is 0 (Kafka: \"Must set retries to non-zero when using the idempotent producer\")".to_string());
        }
        if config.acks != Acks::All {
            let acks = checked
                .json("acks")
                .map(Value::to_string)
                .unwrap_or_default();
            conflicts.push(format!(
                "acks is {acks} (Kafka: \"Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.\")"
            ));
        }
        if config.max_in_flight_requests_per_connection > MAX_IN_FLIGHT_FOR_IDEMPOTENCE {
            conflicts.push(format!(
                "max.in.flight.requests.per.connection is {} (Kafka: \"Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer.\")",
                config.max_in_flight_requests_per_connection
            ));
        }
        if conflicts.is_empty() {
            return;
        }
        if checked.is_set("enable.idempotence") {
            for conflict in conflicts {
                let allowed = format!("enable.idempotence=true conflicts with {conflict}");
                self.push(Problem::field(
                    checked.path_of("enable.idempotence"),
                    true,
                    &allowed,
                ));
            }
        } else {
            config.enable_idempotence = false;
        }
    }

    /// Kafka's `KafkaProducer.configureDeliveryTimeout`: delivery.timeout.ms ≥ linger.ms +
    /// request.timeout.ms; an error if set explicitly, else silently raised.
    fn delivery_timeout(&mut self, checked: &Checked, config: &mut ProducerConfig) {
        let linger_ms = checked.int("linger.ms", 5);
        let request_ms = checked.int("request.timeout.ms", 30_000);
        let minimum_ms = linger_ms
            .saturating_add(request_ms)
            .min(i64::from(i32::MAX));
        let delivery_ms = checked.int("delivery.timeout.ms", 120_000);
        if delivery_ms >= minimum_ms {
            return;
        }
        if checked.is_set("delivery.timeout.ms") {
            let allowed = format!(
                "must be ≥ linger.ms + request.timeout.ms = {linger_ms} + {request_ms} = {minimum_ms} (Kafka: \"delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms\")"
            );
            self.push(Problem::field(
                checked.path_of("delivery.timeout.ms"),
                delivery_ms,
                &allowed,
            ));
        } else {
            config.delivery_timeout_ns = u64::try_from(minimum_ms)
                .unwrap_or(0)
                .saturating_mul(1_000_000);
        }
    }

    fn groups(
        &mut self,
        raw: Option<&[RawGroup]>,
        topics: &[Topic],
        broker: &BrokerConfig,
    ) -> Vec<GroupSpec> {
        let mut groups: Vec<GroupSpec> = Vec::new();
        for (index, group) in raw.unwrap_or_default().iter().enumerate() {
            let path = element("consumer_groups", index);
            let id_path = child(&path, "group.id");
            let group_id = match group.group_id.as_deref() {
                None | Some("") => {
                    let value = group
                        .group_id
                        .as_deref()
                        .map(Value::from)
                        .unwrap_or(Value::Null);
                    self.push(Problem::field(
                        &id_path,
                        value,
                        "required: a non-empty group.id",
                    ));
                    String::new()
                }
                Some(id) => id.to_string(),
            };
            let spec = self.group(group, &path, group_id.clone(), topics, broker);
            let earlier = groups.iter().find(|g| g.group_id == group_id);
            if let Some(earlier) = earlier.filter(|_| !group_id.is_empty()) {
                let allowed = if earlier.config.group_protocol == spec.config.group_protocol {
                    "group ids must be unique"
                } else {
                    "group ids must be unique: members of one group with different group.protocol values would mix classic and consumer-protocol members, which Kafka allows only while a group migrates online from one protocol to the other (group.consumer.migration.policy), and kafkasim does not model that migration; give every member of a group the same group.protocol"
                };
                self.push(Problem::field(
                    id_path,
                    Value::from(group_id.as_str()),
                    allowed,
                ));
            }
            groups.push(spec);
        }
        groups
    }

    fn group(
        &mut self,
        raw: &RawGroup,
        path: &str,
        group_id: String,
        topics: &[Topic],
        broker: &BrokerConfig,
    ) -> GroupSpec {
        let topics_path = child(path, "topics");
        let names = raw.topics.as_deref().unwrap_or_default();
        if names.is_empty() {
            self.push(Problem::new(
                &topics_path,
                "missing: required, a list of at least one topic name",
            ));
        }
        let mut indexes: Vec<usize> = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let topic = self.topic_index(Some(name), &element(&topics_path, index), topics);
            if indexes.contains(&topic) && topics.get(topic).is_some_and(|t| &t.name == name) {
                self.push(Problem::field(
                    element(&topics_path, index),
                    Value::from(name.as_str()),
                    "each topic may be listed once",
                ));
            }
            indexes.push(topic);
        }
        indexes.dedup();
        let commits = [
            "auto",
            "sync-after-poll",
            "async-after-poll",
            "before-processing",
        ];
        let commit = match self.choice(
            raw.commit.as_deref(),
            &child(path, "commit"),
            &commits,
            "auto",
        ) {
            "sync-after-poll" => CommitPolicy::SyncAfterPoll,
            "async-after-poll" => CommitPolicy::AsyncAfterPoll,
            "before-processing" => CommitPolicy::BeforeProcessing,
            _ => CommitPolicy::Auto,
        };
        let mut spec = GroupSpec {
            group_id,
            members: self.count(raw.members, &child(path, "members"), Some(1), 0),
            topics: indexes,
            processing_ns_per_record: self.dist(
                raw.processing_ms_per_record.as_ref(),
                &child(path, "processing_ms_per_record"),
                Dist::Fixed { value: 0.0 },
                1e6,
            ),
            commit,
            config: self.consumer_config(
                raw.config.as_ref(),
                &child(path, "config"),
                commit,
                broker,
            ),
            output: None,
        };
        spec.output = self.output(raw, path, topics, &mut spec);
        spec
    }

    /// A consume-transform-produce group's `output`: the topic and its producers' configs.
    fn output(
        &mut self,
        raw: &RawGroup,
        path: &str,
        topics: &[Topic],
        spec: &mut GroupSpec,
    ) -> Option<OutputSpec> {
        let raw_output = raw.output.as_ref()?;
        let output_path = child(path, "output");
        let topic = self.topic_index(
            raw_output.topic.as_deref(),
            &child(&output_path, "topic"),
            topics,
        );
        let config =
            self.producer_config(raw_output.config.as_ref(), &child(&output_path, "config"));
        if !matches!(
            spec.commit,
            CommitPolicy::Auto | CommitPolicy::SyncAfterPoll
        ) {
            self.push(Problem::field(
                child(path, "commit"),
                Value::from(raw.commit.clone().unwrap_or_default()),
                "a group with an output flushes its output and then commits, every auto.commit.interval.ms (\"auto\") or after every poll (\"sync-after-poll\"); with transactional.id it commits in a transaction after every poll",
            ));
        }
        if spec.topics.len() != 1 {
            self.push(Problem::new(
                child(path, "topics"),
                "a group with an output reads exactly one topic (its output goes to the input record's partition number)",
            ));
        }
        spec.config.enable_auto_commit = false;
        if spec.config.group_protocol == GroupProtocol::Consumer {
            self.push(Problem::field(
                child(&child(path, "config"), "group.protocol"),
                Value::from("consumer"),
                "a group with an output needs group.protocol=classic: kafkasim models TxnOffsetCommit (KIP-447) on the classic coordinator only",
            ));
        }
        if spec.topics.contains(&topic) {
            self.push(Problem::field(
                child(&output_path, "topic"),
                Value::from(raw_output.topic.clone().unwrap_or_default()),
                "must not be a topic the group reads",
            ));
        }
        Some(OutputSpec { topic, config })
    }

    fn consumer_config(
        &mut self,
        raw: Option<&RawConfig>,
        path: &str,
        commit: CommitPolicy,
        broker: &BrokerConfig,
    ) -> ConsumerConfig {
        let checked = configs::check(raw, configs::CONSUMER, "consumer", path, &mut self.problems);
        let group_protocol = match checked.choice("group.protocol", "classic") {
            "consumer" => GroupProtocol::Consumer,
            _ => GroupProtocol::Classic,
        };
        let config = ConsumerConfig {
            group_protocol,
            partition_assignment_strategy: self.assignment_strategy(&checked),
            session_timeout_ns: checked.ms_as_ns("session.timeout.ms", 45_000),
            heartbeat_interval_ns: checked.ms_as_ns("heartbeat.interval.ms", 3000),
            max_poll_interval_ns: checked.ms_as_ns("max.poll.interval.ms", 300_000),
            max_poll_records: checked.int_u32("max.poll.records", 500),
            fetch_min_bytes: checked.int_u32("fetch.min.bytes", 1),
            fetch_max_bytes: checked.int_u32("fetch.max.bytes", 52_428_800),
            fetch_max_wait_ns: checked.ms_as_ns("fetch.max.wait.ms", 500),
            max_partition_fetch_bytes: checked.int_u32("max.partition.fetch.bytes", 1_048_576),
            enable_auto_commit: commit == CommitPolicy::Auto,
            auto_commit_interval_ns: checked.ms_as_ns("auto.commit.interval.ms", 5000),
            auto_offset_reset: match checked.choice("auto.offset.reset", "latest") {
                "earliest" => OffsetReset::Earliest,
                "none" => OffsetReset::None,
                _ => OffsetReset::Latest,
            },
            group_instance_id: self.group_instance_id(&checked),
            request_timeout_ns: checked.ms_as_ns("request.timeout.ms", 30_000),
            retry_backoff_ns: checked.ms_as_ns("retry.backoff.ms", 100),
            group_remote_assignor: checked.is_set("group.remote.assignor").then(|| {
                checked
                    .choice("group.remote.assignor", "uniform")
                    .to_string()
            }),
            metadata_max_age_ns: checked.ms_as_ns("metadata.max.age.ms", 300_000),
            isolation_level_read_committed: checked.choice("isolation.level", "read_uncommitted")
                == "read_committed",
        };
        self.protocol_rules(&checked, &config, broker);
        if checked.is_set("enable.auto.commit") {
            let explicit = checked.bool("enable.auto.commit", true);
            if explicit != config.enable_auto_commit {
                let commit_text = serde_json::to_value(commit)
                    .ok()
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let allowed = format!(
                    "conflicts with commit {commit_text} (commit \"auto\" means enable.auto.commit=true, every other policy means false; omit enable.auto.commit)"
                );
                self.push(Problem::field(
                    checked.path_of("enable.auto.commit"),
                    explicit,
                    &allowed,
                ));
            }
        }
        config
    }

    /// Rules that depend on `group.protocol` (Kafka 4.x `ConsumerConfig` and the coordinator).
    fn protocol_rules(
        &mut self,
        checked: &Checked,
        config: &ConsumerConfig,
        broker: &BrokerConfig,
    ) {
        let (unsupported, protocol): (&[&str], &str) = match config.group_protocol {
            GroupProtocol::Classic => (&["group.remote.assignor"], "classic"),
            GroupProtocol::Consumer => (
                &[
                    "partition.assignment.strategy",
                    "session.timeout.ms",
                    "heartbeat.interval.ms",
                ],
                "consumer",
            ),
        };
        for name in unsupported {
            if let Some(value) = checked.is_set(name).then(|| raw_value(checked, name)) {
                let allowed =
                    format!("cannot be set when group.protocol={protocol} (as in Kafka 4.x)");
                self.push(Problem::field(checked.path_of(name), value, &allowed));
            }
        }
        if config.group_protocol != GroupProtocol::Classic {
            if let Some(name) = &config.group_remote_assignor {
                if !broker.group_consumer_assignors.contains(name) {
                    let allowed = format!(
                        "one of the brokers' group.consumer.assignors ({}) (Kafka answers UNSUPPORTED_ASSIGNOR)",
                        broker.group_consumer_assignors.join(",")
                    );
                    let path = checked.path_of("group.remote.assignor");
                    self.push(Problem::field(path, name.as_str(), &allowed));
                }
            }
            return;
        }
        let session_ms = checked.int("session.timeout.ms", 45_000);
        let heartbeat_ms = checked.int("heartbeat.interval.ms", 3000);
        if heartbeat_ms >= session_ms {
            let allowed = format!("must be lower than session.timeout.ms ({session_ms})");
            self.push(Problem::field(
                checked.path_of("heartbeat.interval.ms"),
                heartbeat_ms,
                &allowed,
            ));
        }
        let session_ns = config.session_timeout_ns;
        if session_ns < broker.group_min_session_timeout_ns
            || session_ns > broker.group_max_session_timeout_ns
        {
            let allowed = format!(
                "must be within the brokers' group.min.session.timeout.ms ({}) and group.max.session.timeout.ms ({}) (Kafka rejects the join with INVALID_SESSION_TIMEOUT)",
                broker.group_min_session_timeout_ns / 1_000_000,
                broker.group_max_session_timeout_ns / 1_000_000
            );
            self.push(Problem::field(
                checked.path_of("session.timeout.ms"),
                session_ms,
                &allowed,
            ));
        }
    }

    /// `group.consumer.assignors`: short names or class names of Kafka's server-side assignors.
    fn consumer_assignors(&mut self, checked: &Checked) -> Vec<String> {
        const NAMES: [(&str, &str); 2] = [
            (
                "uniform",
                "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
            ),
            (
                "range",
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor",
            ),
        ];
        let default = vec!["uniform".to_string(), "range".to_string()];
        let Some(value) = checked.json("group.consumer.assignors") else {
            return default;
        };
        let items = name_list(value);
        let names: Option<Vec<String>> =
            items.filter(|items| !items.is_empty()).and_then(|items| {
                items
                    .iter()
                    .map(|item| {
                        NAMES
                            .iter()
                            .find(|(short, class)| item == short || item == class)
                            .map(|(short, _)| short.to_string())
                    })
                    .collect()
            });
        match names {
            Some(names) => names,
            None => {
                self.push(Problem::field(
                    checked.path_of("group.consumer.assignors"),
                    value,
                    "must be a non-empty list (JSON array or comma-separated string) of \"uniform\", \"range\" or their class names",
                ));
                default
            }
        }
    }

    /// Kafka's `GroupCoordinatorConfig` checks: each KIP-848 timing within its min and max, and
    /// the heartbeat interval below the session timeout.
    fn consumer_group_bounds(&mut self, checked: &Checked) {
        let bounds = [
            ("heartbeat.interval.ms", 5000, 5000, 15_000),
            ("session.timeout.ms", 45_000, 45_000, 60_000),
        ];
        for (name, default, min_default, max_default) in bounds {
            let key = format!("group.consumer.{name}");
            let min_key = format!("group.consumer.min.{name}");
            let max_key = format!("group.consumer.max.{name}");
            let value = checked.int(&key, default);
            let min = checked.int(&min_key, min_default);
            let max = checked.int(&max_key, max_default);
            if value < min || value > max {
                let allowed = format!("must be within {min_key} ({min}) and {max_key} ({max})");
                self.push(Problem::field(checked.path_of(&key), value, &allowed));
            }
        }
        let heartbeat_ms = checked.int("group.consumer.heartbeat.interval.ms", 5000);
        let session_ms = checked.int("group.consumer.session.timeout.ms", 45_000);
        if heartbeat_ms >= session_ms {
            let allowed =
                format!("must be lower than group.consumer.session.timeout.ms ({session_ms})");
            let path = checked.path_of("group.consumer.heartbeat.interval.ms");
            self.push(Problem::field(path, heartbeat_ms, &allowed));
        }
    }

    fn assignment_strategy(&mut self, checked: &Checked) -> Vec<String> {
        const NAMES: [(&str, &str); 4] = [
            ("range", "org.apache.kafka.clients.consumer.RangeAssignor"),
            (
                "roundrobin",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            ),
            ("sticky", "org.apache.kafka.clients.consumer.StickyAssignor"),
            (
                "cooperative-sticky",
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            ),
        ];
        let default = vec!["range".to_string(), "cooperative-sticky".to_string()];
        let Some(value) = checked.json("partition.assignment.strategy") else {
            return default;
        };
        let path = checked.path_of("partition.assignment.strategy");
        let items = name_list(value);
        let allowed_names: Vec<&str> = NAMES.iter().map(|(short, _)| *short).collect();
        let allowed = format!(
            "must be a non-empty list (JSON array or comma-separated string) of {} or their class names",
            quoted_list(allowed_names.iter().copied())
        );
        let Some(items) = items.filter(|items| !items.is_empty()) else {
            self.push(Problem::field(path, value, &allowed));
            return default;
        };
        let mut strategies = Vec::new();
        for item in items {
            let short = NAMES.iter().find(|(short, class)| {
                item == *short || item == *class || class.rsplit('.').next() == Some(item.as_str())
            });
            match short {
                Some((short, _)) => strategies.push(short.to_string()),
                None => {
                    let hint = suggestion(&item, allowed_names.iter().copied());
                    self.push(Problem::field(
                        &path,
                        Value::from(item.as_str()),
                        &format!("{allowed}{hint}"),
                    ));
                }
            }
        }
        if strategies.is_empty() {
            default
        } else {
            strategies
        }
    }

    fn group_instance_id(&mut self, checked: &Checked) -> Option<String> {
        let value = checked.json("group.instance.id")?;
        let allowed = "must be null or a non-empty string of at most 240 letters, digits, '.', '_' and '-' (member i becomes <id>-<i>)";
        match value.as_str() {
            Some(text) if is_safe_name(text) && text.len() <= 240 => Some(text.to_string()),
            _ => {
                self.push(Problem::field(
                    checked.path_of("group.instance.id"),
                    value,
                    allowed,
                ));
                None
            }
        }
    }

    fn limits(&mut self, raw: Option<&RawLimits>) -> Limits {
        let defaults = Limits::default();
        let mut limit = |value: Option<i64>, path: &str, default: u64| match value {
            None => default,
            Some(number) => match u64::try_from(number) {
                Ok(limit) if limit >= 1 => limit,
                _ => {
                    self.push(Problem::field(path, number, "must be an integer ≥ 1"));
                    default
                }
            },
        };
        Limits {
            events_max: limit(
                raw.and_then(|l| l.events_max),
                "limits.events_max",
                defaults.events_max,
            ),
            pending_events_max: limit(
                raw.and_then(|l| l.pending_events_max),
                "limits.pending_events_max",
                defaults.pending_events_max,
            ),
        }
    }
}

fn raw_value(checked: &Checked, name: &str) -> String {
    match checked.json(name) {
        Some(value) => value.to_string(),
        None => match name {
            "session.timeout.ms" => checked.int(name, 45_000).to_string(),
            "heartbeat.interval.ms" => checked.int(name, 3000).to_string(),
            _ => format!("\"{}\"", checked.choice(name, "")),
        },
    }
}

/// A Kafka list config (`"a, b"` or `["a", "b"]`) as trimmed names; None if not a list of strings.
fn name_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(text) => Some(
            text.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(|s| s.trim().to_string()))
            .collect(),
        _ => None,
    }
}
