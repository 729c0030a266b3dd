//! The Kafka configs a scenario may set, by entity (producer, consumer, broker, topic): name, type,
//! Kafka 4.x default and allowed range, after `ProducerConfig.java`, `ConsumerConfig.java` and the
//! broker's `KafkaConfig`. `check` turns one `config` object into typed values, reporting unknown
//! names (with a did-you-mean) and wrong types or ranges. Defaults and cross-field rules are
//! applied by `resolve.rs`, which reads the checked values through `Checked`.

use super::locate::child;
use super::problem::{quoted_list, suggestion, Problem};
use super::raw::RawConfig;
use serde_json::Value;
use std::collections::BTreeMap;

const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;

/// The type and allowed values of one config.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Kafka INT or LONG in `[min, max]`. Like Kafka, a string holding an integer is accepted.
    Int { min: i64, max: i64 },
    /// Like Kafka, the strings "true" and "false" are accepted too.
    Bool,
    /// One of these strings (case-insensitive, as Kafka's validators are); stored lowercase.
    Choice(&'static [&'static str]),
    /// Any string; accepted for compatibility with real client configs, no effect on the model.
    Ignored,
    /// A value with its own syntax, read by `resolve.rs` (acks, partitioner.class, …).
    Special,
    /// A real Kafka config the model does not support: setting it is an error with this reason.
    Unsupported(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka 4.x default, as Kafka's docs write it.
    pub default: &'static str,
}

const fn def(name: &'static str, kind: Kind, default: &'static str) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

/// Producer configs (`ProducerConfig.java`, Kafka 4.x).
pub const PRODUCER: &[ConfigDef] = &[
    def("acks", Kind::Special, "all"),
    def("enable.idempotence", Kind::Bool, "true"),
    def("retries", int(0, INT_MAX), "2147483647"),
    def("batch.size", int(0, INT_MAX), "16384"),
    def("linger.ms", int(0, LONG_MAX), "5"),
    def("buffer.memory", int(0, LONG_MAX), "33554432"),
    def("max.block.ms", int(0, LONG_MAX), "60000"),
    def("max.request.size", int(0, INT_MAX), "1048576"),
    def(
        "max.in.flight.requests.per.connection",
        int(1, INT_MAX),
        "5",
    ),
    def("request.timeout.ms", int(0, INT_MAX), "30000"),
    def("delivery.timeout.ms", int(0, INT_MAX), "120000"),
    def("retry.backoff.ms", int(0, LONG_MAX), "100"),
    def("retry.backoff.max.ms", int(0, LONG_MAX), "1000"),
    def(
        "compression.type",
        Kind::Choice(&["none", "gzip", "snappy", "lz4", "zstd"]),
        "none",
    ),
    def("partitioner.class", Kind::Special, "null"),
    def("partitioner.ignore.keys", Kind::Bool, "false"),
    def(
        "partitioner.adaptive.partitioning.enable",
        Kind::Bool,
        "true",
    ),
    def("partitioner.availability.timeout.ms", int(0, LONG_MAX), "0"),
    def("metadata.max.age.ms", int(0, LONG_MAX), "300000"),
    def("client.id", Kind::Ignored, "\"\""),
    def("key.serializer", Kind::Ignored, "null"),
    def("value.serializer", Kind::Ignored, "null"),
    def("transactional.id", Kind::Special, "null"),
    def("transaction.timeout.ms", int(1, INT_MAX), "60000"),
];

/// Consumer configs (`ConsumerConfig.java`, Kafka 4.x).
pub const CONSUMER: &[ConfigDef] = &[
    def(
        "group.protocol",
        Kind::Choice(&["classic", "consumer"]),
        "classic",
    ),
    def(
        "partition.assignment.strategy",
        Kind::Special,
        "range,cooperative-sticky",
    ),
    def("session.timeout.ms", int(1, INT_MAX), "45000"),
    def("heartbeat.interval.ms", int(1, INT_MAX), "3000"),
    def("max.poll.interval.ms", int(1, INT_MAX), "300000"),
    def("max.poll.records", int(1, INT_MAX), "500"),
    def("fetch.min.bytes", int(0, INT_MAX), "1"),
    def("fetch.max.bytes", int(0, INT_MAX), "52428800"),
    def("fetch.max.wait.ms", int(0, INT_MAX), "500"),
    def("max.partition.fetch.bytes", int(0, INT_MAX), "1048576"),
    def("enable.auto.commit", Kind::Bool, "true"),
    def("auto.commit.interval.ms", int(0, INT_MAX), "5000"),
    def(
        "auto.offset.reset",
        Kind::Choice(&["latest", "earliest", "none"]),
        "latest",
    ),
    def("group.instance.id", Kind::Special, "null"),
    def("request.timeout.ms", int(0, INT_MAX), "30000"),
    def("retry.backoff.ms", int(0, LONG_MAX), "100"),
    def("metadata.max.age.ms", int(0, LONG_MAX), "300000"),
    def(
        "group.remote.assignor",
        Kind::Choice(&["uniform", "range"]),
        "null",
    ),
    def(
        "isolation.level",
        Kind::Choice(&["read_uncommitted", "read_committed"]),
        "read_uncommitted",
    ),
    def("client.id", Kind::Ignored, "\"\""),
    def("key.deserializer", Kind::Ignored, "null"),
    def("value.deserializer", Kind::Ignored, "null"),
    def(
        "group.id",
        Kind::Unsupported("set \"group.id\" on the group itself, next to \"members\""),
        "null",
    ),
];

/// Broker configs (`cluster.config`) the model uses.
pub const BROKER: &[ConfigDef] = &[
    def("num.io.threads", int(1, INT_MAX), "8"),
    def("message.max.bytes", int(0, INT_MAX), "1048588"),
    def("replica.lag.time.max.ms", int(0, LONG_MAX), "30000"),
    def("unclean.leader.election.enable", Kind::Bool, "false"),
    def("min.insync.replicas", int(1, INT_MAX), "1"),
    def("group.initial.rebalance.delay.ms", int(0, INT_MAX), "3000"),
    def("group.min.session.timeout.ms", int(0, INT_MAX), "6000"),
    def("group.max.session.timeout.ms", int(0, INT_MAX), "1800000"),
    def(
        "group.consumer.heartbeat.interval.ms",
        int(1, INT_MAX),
        "5000",
    ),
    def(
        "group.consumer.min.heartbeat.interval.ms",
        int(1, INT_MAX),
        "5000",
    ),
    def(
        "group.consumer.max.heartbeat.interval.ms",
        int(1, INT_MAX),
        "15000",
    ),
    def(
        "group.consumer.session.timeout.ms",
        int(1, INT_MAX),
        "45000",
    ),
    def(
        "group.consumer.min.session.timeout.ms",
        int(1, INT_MAX),
        "45000",
    ),
    def(
        "group.consumer.max.session.timeout.ms",
        int(1, INT_MAX),
        "60000",
    ),
    def("group.consumer.assignors", Kind::Special, "uniform,range"),
    def("replica.fetch.wait.max.ms", int(0, INT_MAX), "500"),
    def("replica.fetch.min.bytes", int(1, INT_MAX), "1"),
    def("replica.fetch.max.bytes", int(0, INT_MAX), "1048576"),
    def(
        "replica.fetch.response.max.bytes",
        int(0, INT_MAX),
        "10485760",
    ),
    def("replica.fetch.backoff.ms", int(0, INT_MAX), "1000"),
    def("replica.socket.timeout.ms", int(1, INT_MAX), "30000"),
    // Model limit: one fetcher per (follower, leader) pair; Kafka allows more.
    def("num.replica.fetchers", int(1, 1), "1"),
];

/// Topic configs (`topics[i].config`).
pub const TOPIC: &[ConfigDef] = &[def("min.insync.replicas", int(1, INT_MAX), "1")];

/// A config value after its type check.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Int(i64),
    Bool(bool),
    Str(String),
    /// `Kind::Special`: the JSON value, for `resolve.rs` to read.
    Json(Value),
}

/// The configs a user set explicitly (JSON `null` counts as not set), checked against a registry.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The path of the `config` object, for messages.
    pub path: String,
    values: BTreeMap<String, ConfigValue>,
}

impl Checked {
    /// Whether the user set this config (Kafka's `originals().containsKey`).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn path_of(&self, name: &str) -> String {
        child(&self.path, name)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.values.get(name) {
            Some(ConfigValue::Int(value)) => *value,
            _ => default,
        }
    }

    /// An integer config in ms, as ns (saturating: a huge Kafka timeout means "forever").
    pub fn ms_as_ns(&self, name: &str, default_ms: i64) -> u64 {
        let ms = u64::try_from(self.int(name, default_ms)).unwrap_or(0);
        ms.saturating_mul(1_000_000)
    }

    /// An integer config that Kafka declares as INT (so at most 2^31 - 1) and `check` bounded ≥ 0.
    pub fn int_u32(&self, name: &str, default: i64) -> u32 {
        u32::try_from(self.int(name, default)).unwrap_or(u32::MAX)
    }

    pub fn int_u64(&self, name: &str, default: i64) -> u64 {
        u64::try_from(self.int(name, default)).unwrap_or(0)
    }

    pub fn bool(&self, name: &str, default: bool) -> bool {
        match self.values.get(name) {
            Some(ConfigValue::Bool(value)) => *value,
            _ => default,
        }
    }

    pub fn choice<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.values.get(name) {
            Some(ConfigValue::Str(value)) => value,
            _ => default,
        }
    }

    pub fn json(&self, name: &str) -> Option<&Value> {
        match self.values.get(name) {
            Some(ConfigValue::Json(value)) => Some(value),
            _ => None,
        }
    }
}

/// Checks one `config` object at `path` against `registry` (`entity` names it in messages).
pub fn check(
    config: Option<&RawConfig>,
    registry: &[ConfigDef],
    entity: &str,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Checked {
    let mut checked = Checked {
        path: path.to_string(),
        values: BTreeMap::new(),
    };
    for (name, value) in config.into_iter().flatten() {
        let name_path = child(path, name);
        let Some(definition) = registry.iter().find(|d| d.name == name) else {
            problems.push(unknown(name, &name_path, registry, entity));
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Some(typed) = check_value(definition, value, &name_path, problems) {
            checked.values.insert(name.clone(), typed);
        }
    }
    checked
}

fn unknown(name: &str, name_path: &str, registry: &[ConfigDef], entity: &str) -> Problem {
    let names = registry.iter().map(|d| d.name);
    let hint = suggestion(name, names.clone());
    let text = if hint.is_empty() {
        format!(
            "unknown {entity} config \"{name}\"; known {entity} configs: {}",
            quoted_list(names)
        )
    } else {
        format!("unknown {entity} config \"{name}\"{hint}")
    };
    Problem::new(name_path, text)
}

fn check_value(
    definition: &ConfigDef,
    value: &Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Option<ConfigValue> {
    let result = match definition.kind {
        Kind::Int { min, max } => parse_int(value, min, max).map(ConfigValue::Int),
        Kind::Bool => parse_bool(value).map(ConfigValue::Bool),
        Kind::Choice(allowed) => parse_choice(value, allowed).map(ConfigValue::Str),
        Kind::Ignored => match value {
            Value::String(text) => Ok(ConfigValue::Str(text.clone())),
            _ => Err("must be a string (accepted for compatibility, no effect)".to_string()),
        },
        Kind::Special => Ok(ConfigValue::Json(value.clone())),
        Kind::Unsupported(reason) => Err(reason.to_string()),
    };
    match result {
        Ok(typed) => Some(typed),
        Err(allowed) => {
            problems.push(Problem::field(path, value, &allowed));
            None
        }
    }
}

/// An integer in `[min, max]`: a JSON integer, an integral float, or a string holding one.
pub fn parse_int(value: &Value, min: i64, max: i64) -> Result<i64, String> {
    let allowed = int_range_text(min, max);
    let parsed = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e18)
                .map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    match parsed {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(allowed),
    }
}

pub fn int_range_text(min: i64, max: i64) -> String {
    match (min, max) {
        (min, LONG_MAX) => format!("must be an integer ≥ {min}"),
        (min, max) => format!("must be an integer from {min} to {max}"),
    }
}

fn parse_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err("must be true or false".to_string()),
    }
}

fn parse_choice(value: &Value, allowed: &[&str]) -> Result<String, String> {
    let text = value.as_str().map(|text| text.trim().to_ascii_lowercase());
    match text {
        Some(text) if allowed.contains(&text.as_str()) => Ok(text),
        _ => {
            let hint = value
                .as_str()
                .map(|text| suggestion(text, allowed.iter().copied()))
                .unwrap_or_default();
            Err(format!(
                "must be one of {}{hint}",
                quoted_list(allowed.iter().copied())
            ))
        }
    }
}

/// Whether `name` is a config of this registry (for overrides).
pub fn is_known(registry: &[ConfigDef], name: &str) -> bool {
    registry.iter().any(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(config: Value, registry: &[ConfigDef]) -> (Checked, Vec<Problem>) {
        let map: RawConfig = serde_json::from_value(config).unwrap_or_default();
        let mut problems = Vec::new();
        let checked = check(Some(&map), registry, "producer", "p.config", &mut problems);
        (checked, problems)
    }

    #[test]
    fn types_and_ranges() {
        let (checked, problems) = run(
            json!({"linger.ms": "20", "batch.size": 0, "enable.idempotence": "TRUE", "compression.type": "LZ4"}),
            PRODUCER,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(checked.int("linger.ms", 5), 20);
        assert_eq!(checked.int("batch.size", 16384), 0);
        assert!(checked.bool("enable.idempotence", false));
        assert_eq!(checked.choice("compression.type", "none"), "lz4");
    }

    #[test]
    fn reports_every_bad_entry() {
        let (_, problems) = run(
            json!({"lnger.ms": 5, "linger.ms": -5, "batch.size": "big", "compression.type": "gzp"}),
            PRODUCER,
        );
        let texts: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.text))
            .collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts
            .iter()
            .any(|t| t.contains("p.config.lnger.ms") && t.contains("\"linger.ms\"")));
        assert!(texts
            .iter()
            .any(|t| t.contains("p.config.linger.ms: -5 is not allowed: must be an integer ≥ 0")));
        assert!(texts.iter().any(|t| t.contains("\"big\" is not allowed")));
        assert!(texts.iter().any(|t| t.contains("did you mean \"gzip\"")));
    }

    #[test]
    fn null_means_unset() {
        let (checked, problems) = run(json!({"linger.ms": null}), PRODUCER);
        assert!(problems.is_empty());
        assert!(!checked.is_set("linger.ms"));
    }
}
