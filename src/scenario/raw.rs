//! The scenario file as the user wrote it: a plain serde copy of the JSON in interface.md, with
//! Kafka's own names and `deny_unknown_fields`. No defaults, no units, no cross-field rules: those
//! live in `resolve.rs`. Almost every field is optional here so that `resolve` can report every
//! missing or out-of-range field at once, each with its path, instead of stopping at the first.
//! Numbers stay as the user typed them (`f64` or `i64`); `resolve` checks signs and ranges.
//! `config` objects stay JSON maps: `configs.rs` checks them against Kafka's config registry.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A `config` object: Kafka config name to JSON value, checked by `configs.rs`.
pub type RawConfig = BTreeMap<String, Value>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration_ms: Option<f64>,
    pub metrics_interval_ms: Option<f64>,
    pub cluster: Option<RawCluster>,
    pub topics: Option<Vec<RawTopic>>,
    pub producers: Option<Vec<RawProducer>>,
    pub consumer_groups: Option<Vec<RawGroup>>,
    pub timeline: Option<Vec<RawTimelineEntry>>,
    /// Variant name to override strings, in file order (checked by `scenario::mod`).
    pub variants: Option<Map<String, Value>>,
    pub limits: Option<RawLimits>,
    /// The fault schedule `kafkasim check` draws from; read by `check::spec`, ignored by runs.
    pub check: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub brokers: Option<i64>,
    pub network: Option<RawNetwork>,
    pub costs: Option<RawCosts>,
    pub config: Option<RawConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency_ms: Option<RawDist>,
    pub bandwidth_mbps: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCosts {
    pub request_ms: Option<RawDist>,
    pub per_kib_us: Option<f64>,
}

/// `{"dist": "fixed"|"uniform"|"exponential"|"lognormal", ...}`; `resolve` checks which fields
/// belong to which kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDist {
    pub dist: Option<String>,
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: Option<String>,
    pub partitions: Option<i64>,
    #[serde(rename = "replication.factor")]
    pub replication_factor: Option<i64>,
    pub config: Option<RawConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProducer {
    pub name: Option<String>,
    pub instances: Option<i64>,
    pub topic: Option<String>,
    pub rate_per_sec: Option<f64>,
    pub arrivals: Option<String>,
    pub record_bytes: Option<RawDist>,
    pub key_bytes: Option<i64>,
    /// `null` and absent both mean null keys.
    pub keys: Option<RawKeys>,
    pub compression_ratio: Option<RawCompressionRatio>,
    pub config: Option<RawConfig>,
    /// A transactional producer's transactions (with `transactional.id` in `config`).
    pub transaction: Option<RawTransaction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransaction {
    pub records: Option<i64>,
    pub ms: Option<f64>,
    pub abort_probability: Option<f64>,
}

/// A consume-transform-produce group's output: one record per input record, to the input
/// record's partition number, by a producer of each member with these configs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub topic: Option<String>,
    pub config: Option<RawConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    pub dist: Option<String>,
    pub count: Option<i64>,
    pub exponent: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompressionRatio {
    pub gzip: Option<f64>,
    pub snappy: Option<f64>,
    pub lz4: Option<f64>,
    pub zstd: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    #[serde(rename = "group.id")]
    pub group_id: Option<String>,
    pub members: Option<i64>,
    pub topics: Option<Vec<String>>,
    pub processing_ms_per_record: Option<RawDist>,
    pub commit: Option<String>,
    pub config: Option<RawConfig>,
    pub output: Option<RawOutput>,
}

/// One timeline entry. Every action's fields are optional here; `resolve` checks that an action
/// has the fields it needs and no fields that belong to other actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimelineEntry {
    pub at_ms: Option<f64>,
    /// Any action: the run's seed moves it to a time drawn uniformly in [at_ms, at_ms + jitter_ms].
    pub jitter_ms: Option<f64>,
    pub action: Option<String>,
    pub group: Option<String>,
    pub member: Option<i64>,
    pub producer: Option<String>,
    pub instance: Option<i64>,
    pub broker: Option<i64>,
    pub topic: Option<String>,
    pub partitions: Option<i64>,
    pub duration_ms: Option<f64>,
    pub factor: Option<f64>,
    pub between: Option<Vec<Vec<String>>>,
    pub nodes: Option<Vec<String>>,
    pub extra_ms: Option<f64>,
    pub probability: Option<f64>,
    /// `broker-crash` only: a power loss drops what was appended in this many ms before it.
    pub lose_unflushed_ms: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub events_max: Option<i64>,
    pub pending_events_max: Option<i64>,
}

/// The JSON field names of a derived struct, as serde knows them (renames applied). Used to check
/// every object's keys up front, so that all unknown keys are reported with a did-you-mean and a
/// path, not only the first one serde meets.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = FieldProbe { fields: &[] };
    let _ = T::deserialize(&mut probe);
    probe.fields
}

/// A deserializer that only records the field list a derived struct announces.
struct FieldProbe {
    fields: &'static [&'static str],
}

impl<'de> Deserializer<'de> for &mut FieldProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields = fields;
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_serde_renames() {
        let names = field_names::<RawTopic>();
        assert_eq!(
            names,
            &["name", "partitions", "replication.factor", "config"]
        );
        assert!(field_names::<RawGroup>().contains(&"group.id"));
        assert!(field_names::<RawScenario>().contains(&"consumer_groups"));
    }
}
