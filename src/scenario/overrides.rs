//! Overrides: `SCOPE:NAME:KEY=VALUE` from `--set`, `--grid` and scenario `variants`
//! (interface.md "Overrides"). They edit the parsed JSON tree before the typed parse, so an
//! overridden value goes through exactly the same checks and messages as one written in the file.
//!
//! SCOPE is `producer`, `group`, `topic`, `broker` or `cluster`. NAME is the producer name, the
//! `group.id`, the topic name, or `*` for all of them; `broker` takes `*` (or nothing) and
//! `cluster` takes nothing (`cluster::brokers=5`). KEY is a scenario field of that entity
//! (`rate_per_sec`, `members`, `partitions`, …) or a Kafka config name, which goes into the
//! entity's `config` object. VALUE is JSON if it parses as JSON, else a string.

use super::configs::{self, ConfigDef};
use super::locate::{child, element};
use super::problem::{quoted_list, suggestion};
use super::raw::{field_names, RawGroup, RawProducer, RawTopic};
use crate::error::UserError;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Producer,
    Group,
    Topic,
    Broker,
    Cluster,
}

const SCOPES: [&str; 5] = ["producer", "group", "topic", "broker", "cluster"];

const SYNTAX: &str = "expected SCOPE:NAME:KEY=VALUE, where SCOPE is producer, group, topic, \
broker or cluster, NAME is a producer name, group.id, topic name or * (cluster takes no NAME), \
e.g. producer:*:linger.ms=20 or cluster::brokers=5";

/// Cluster-scope keys and where they live in the file.
const CLUSTER_KEYS: &[(&str, &[&str])] = &[
    ("brokers", &["cluster"]),
    ("network", &["cluster"]),
    ("costs", &["cluster"]),
    ("latency_ms", &["cluster", "network"]),
    ("bandwidth_mbps", &["cluster", "network"]),
    ("request_ms", &["cluster", "costs"]),
    ("per_kib_us", &["cluster", "costs"]),
    ("duration_ms", &[]),
    ("seed", &[]),
    ("metrics_interval_ms", &[]),
    ("description", &[]),
    ("events_max", &["limits"]),
    ("pending_events_max", &["limits"]),
];

/// One parsed override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The override as the user wrote it, for messages.
    pub text: String,
    pub scope: Scope,
    /// Entity name, `*`, or empty (cluster, broker).
    pub name: String,
    pub key: String,
    pub value: Value,
}

/// Parses `SCOPE:NAME:KEY=VALUE`. The NAME may itself contain `:`; KEY may not.
pub fn parse_override(text: &str) -> Result<Override, UserError> {
    let syntax_error =
        |what: &str| UserError::new(format!("override \"{text}\": {what}; {SYNTAX}"));
    let Some((target, raw_value)) = text.split_once('=') else {
        return Err(syntax_error("no \"=\""));
    };
    let Some((scope_text, rest)) = target.split_once(':') else {
        return Err(syntax_error("no \":\" after the scope"));
    };
    let Some((name, key)) = rest.rsplit_once(':') else {
        return Err(syntax_error("expected three parts before \"=\""));
    };
    let scope = match scope_text {
        "producer" => Scope::Producer,
        "group" => Scope::Group,
        "topic" => Scope::Topic,
        "broker" => Scope::Broker,
        "cluster" => Scope::Cluster,
        other => {
            let hint = suggestion(other, SCOPES);
            return Err(syntax_error(&format!("unknown scope \"{other}\"{hint}")));
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(syntax_error("empty KEY"));
    }
    if name.is_empty() && matches!(scope, Scope::Producer | Scope::Group | Scope::Topic) {
        return Err(syntax_error(&format!("{scope_text} needs a NAME or *")));
    }
    if scope == Scope::Cluster && !name.is_empty() {
        return Err(syntax_error(&format!(
            "cluster takes no NAME (got \"{name}\"): write cluster::{key}=..."
        )));
    }
    if scope == Scope::Broker && !name.is_empty() && name != "*" {
        return Err(syntax_error(&format!(
            "broker configs apply to every broker: write broker:*:{key}=... (got NAME \"{name}\")"
        )));
    }
    Ok(Override {
        text: text.to_string(),
        scope,
        name: name.to_string(),
        key: key.to_string(),
        value: parse_value(raw_value),
    })
}

/// VALUE is JSON if it parses (numbers, true/false, null, arrays, objects), else a plain string.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `--grid` syntax: `SCOPE:NAME:KEY=V1,V2,...`, one override per value. Commas inside JSON
/// arrays, objects or strings do not split.
pub fn parse_grid(text: &str) -> Result<Vec<Override>, UserError> {
    let first = parse_override(text)?;
    let Some((target, values)) = text.split_once('=') else {
        return Err(UserError::new(format!("override \"{text}\": {SYNTAX}")));
    };
    split_top_level(values)
        .into_iter()
        .map(|value| parse_override(&format!("{target}={value}")))
        .collect::<Result<Vec<_>, _>>()
        .map(|list| if list.is_empty() { vec![first] } else { list })
}

fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for character in text.chars() {
        match character {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(character);
    }
    parts.push(current);
    parts
}

/// Applies one override to the scenario's JSON tree. Returns the paths it set (one per matched
/// entity), so messages about those fields can name the override.
pub fn apply(root: &mut Value, item: &Override) -> Result<Vec<String>, UserError> {
    let error = |what: String| UserError::new(format!("override \"{}\": {what}", item.text));
    let Some(root) = root.as_object_mut() else {
        return Err(error("the scenario is not a JSON object".to_string()));
    };
    match item.scope {
        Scope::Producer => apply_entity(root, item, EntityKind::PRODUCER).map_err(error),
        Scope::Group => apply_entity(root, item, EntityKind::GROUP).map_err(error),
        Scope::Topic => apply_entity(root, item, EntityKind::TOPIC).map_err(error),
        Scope::Broker => {
            if !configs::is_known(configs::BROKER, &item.key) {
                return Err(error(unknown_key(
                    &item.key,
                    "broker",
                    &[],
                    configs::BROKER,
                )));
            }
            let config = object_at(root, &["cluster", "config"]).map_err(error)?;
            config.insert(item.key.clone(), item.value.clone());
            Ok(vec![child("cluster.config", &item.key)])
        }
        Scope::Cluster => {
            let Some((_, parents)) = CLUSTER_KEYS.iter().find(|(key, _)| *key == item.key) else {
                let keys: Vec<&str> = CLUSTER_KEYS.iter().map(|(key, _)| *key).collect();
                return Err(error(unknown_key(&item.key, "cluster", &keys, &[])));
            };
            let target = object_at(root, parents).map_err(error)?;
            target.insert(item.key.clone(), item.value.clone());
            Ok(vec![child(&parents.join("."), &item.key)])
        }
    }
}

struct EntityKind {
    /// The array in the file (`producers`).
    list: &'static str,
    /// The field holding the entity's name (`name`, `group.id`).
    name_field: &'static str,
    /// The word used in messages.
    noun: &'static str,
    fields: fn() -> &'static [&'static str],
    registry: &'static [ConfigDef],
}

impl EntityKind {
    const PRODUCER: EntityKind = EntityKind {
        list: "producers",
        name_field: "name",
        noun: "producer",
        fields: field_names::<RawProducer>,
        registry: configs::PRODUCER,
    };
    const GROUP: EntityKind = EntityKind {
        list: "consumer_groups",
        name_field: "group.id",
        noun: "group",
        fields: field_names::<RawGroup>,
        registry: configs::CONSUMER,
    };
    const TOPIC: EntityKind = EntityKind {
        list: "topics",
        name_field: "name",
        noun: "topic",
        fields: field_names::<RawTopic>,
        registry: configs::TOPIC,
    };
}

fn apply_entity(
    root: &mut Map<String, Value>,
    item: &Override,
    kind: EntityKind,
) -> Result<Vec<String>, String> {
    let fields: Vec<&str> = (kind.fields)()
        .iter()
        .copied()
        .filter(|field| *field != kind.name_field && *field != "config")
        .collect();
    let is_field = fields.contains(&item.key.as_str());
    if !is_field && !configs::is_known(kind.registry, &item.key) {
        let what = if item.key == kind.name_field || item.key == "config" {
            format!("\"{}\" cannot be overridden", item.key)
        } else {
            unknown_key(&item.key, kind.noun, &fields, kind.registry)
        };
        return Err(what);
    }
    let Some(Value::Array(entities)) = root.get_mut(kind.list) else {
        return Err(format!("the scenario has no \"{}\" list", kind.list));
    };
    let mut names = Vec::new();
    let mut paths = Vec::new();
    for (index, entity) in entities.iter_mut().enumerate() {
        let Some(entity) = entity.as_object_mut() else {
            continue;
        };
        let name = entity
            .get(kind.name_field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if item.name != "*" && item.name != name {
            names.push(name);
            continue;
        }
        let path = element(kind.list, index);
        if is_field {
            entity.insert(item.key.clone(), item.value.clone());
            paths.push(child(&path, &item.key));
        } else {
            let config = object_at(entity, &["config"])?;
            config.insert(item.key.clone(), item.value.clone());
            paths.push(child(&child(&path, "config"), &item.key));
        }
    }
    if paths.is_empty() {
        let hint = suggestion(&item.name, names.iter().map(String::as_str));
        return Err(if names.is_empty() {
            format!("the scenario has no {}s", kind.noun)
        } else {
            format!(
                "no {} named \"{}\"{hint}; the {}s are {} (or * for all)",
                kind.noun,
                item.name,
                kind.noun,
                quoted_list(names.iter().map(String::as_str))
            )
        });
    }
    Ok(paths)
}

fn unknown_key(key: &str, noun: &str, fields: &[&str], registry: &[ConfigDef]) -> String {
    let configs: Vec<&str> = registry.iter().map(|d| d.name).collect();
    let hint = suggestion(key, fields.iter().chain(configs.iter()).copied());
    if !hint.is_empty() {
        return format!("unknown {noun} key \"{key}\"{hint}");
    }
    let mut text = format!("unknown {noun} key \"{key}\"; allowed:");
    if !fields.is_empty() {
        text.push_str(&format!(
            " scenario fields {}",
            quoted_list(fields.iter().copied())
        ));
    }
    if !configs.is_empty() {
        if !fields.is_empty() {
            text.push_str(" or");
        }
        text.push_str(&format!(
            " {noun} configs {}",
            quoted_list(configs.iter().copied())
        ));
    }
    text
}

/// The object at `keys` below `map`, creating missing (or null) levels.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    keys: &[&str],
) -> Result<&'a mut Map<String, Value>, String> {
    let mut current = map;
    for key in keys {
        let slot = current.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        current = match slot {
            Value::Object(inner) => inner,
            _ => return Err(format!("\"{key}\" in the scenario is not a JSON object")),
        };
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scenario() -> Value {
        json!({
            "name": "s",
            "topics": [{"name": "orders", "partitions": 3}],
            "producers": [{"name": "a", "topic": "orders"}, {"name": "b", "topic": "orders", "config": {"acks": "1"}}],
            "consumer_groups": [{"group.id": "billing", "topics": ["orders"]}]
        })
    }

    #[test]
    fn parses_values_as_json_or_string() {
        let item = parse_override("producer:*:linger.ms=20").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.scope, Scope::Producer);
        assert_eq!(item.name, "*");
        assert_eq!(item.key, "linger.ms");
        assert_eq!(item.value, json!(20));
        let item = parse_override("producer:a:acks=all").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(item.value, json!("all"));
        let item = parse_override("cluster::brokers=5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((item.scope, item.name.as_str()), (Scope::Cluster, ""));
    }

    #[test]
    fn rejects_bad_syntax() {
        for text in [
            "producer:*:linger.ms",
            "linger.ms=5",
            "prodcer:*:linger.ms=5",
            "cluster:x:brokers=5",
            "producer::acks=1",
        ] {
            let error = parse_override(text)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(
                error.contains(text) && error.contains("SCOPE:NAME:KEY=VALUE"),
                "{error}"
            );
        }
        let error = parse_override("prodcer:*:acks=1")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(error.contains("did you mean \"producer\""), "{error}");
    }

    #[test]
    fn applies_to_fields_and_configs() {
        let mut tree = scenario();
        let item = parse_override("producer:*:linger.ms=20").unwrap_or_else(|e| panic!("{e}"));
        let paths = apply(&mut tree, &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            paths,
            [
                "producers[0].config.linger.ms",
                "producers[1].config.linger.ms"
            ]
        );
        assert_eq!(tree["producers"][1]["config"]["acks"], json!("1"));
        let item = parse_override("topic:orders:partitions=12").unwrap_or_else(|e| panic!("{e}"));
        apply(&mut tree, &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tree["topics"][0]["partitions"], json!(12));
        let item = parse_override("cluster::bandwidth_mbps=1000").unwrap_or_else(|e| panic!("{e}"));
        apply(&mut tree, &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tree["cluster"]["network"]["bandwidth_mbps"], json!(1000));
    }

    #[test]
    fn names_missing_entities_and_keys() {
        let mut tree = scenario();
        let item = parse_override("group:biling:members=4").unwrap_or_else(|e| panic!("{e}"));
        let error = apply(&mut tree, &item)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            error.contains("no group named \"biling\", did you mean \"billing\"?"),
            "{error}"
        );
        let item = parse_override("producer:a:rate_per_secs=4").unwrap_or_else(|e| panic!("{e}"));
        let error = apply(&mut tree, &item)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(error.contains("did you mean \"rate_per_sec\""), "{error}");
    }

    #[test]
    fn grid_splits_values() {
        let list = parse_grid("producer:*:linger.ms=0,5,20").unwrap_or_else(|e| panic!("{e}"));
        let values: Vec<Value> = list.into_iter().map(|item| item.value).collect();
        assert_eq!(values, [json!(0), json!(5), json!(20)]);
        let list = parse_grid("group:g:partition.assignment.strategy=[\"range\",\"sticky\"],range")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.len(), 2);
    }
}
