//! The scenario layer: the only code that reads user text (design.md). It parses a scenario file,
//! picks a variant, applies the variant's and the command line's overrides to the JSON tree, parses
//! that into `raw` types, and resolves them into a `model::Scenario`. Every problem it finds is
//! reported at once, one per line, each with `file:line:column` (or the override that set the
//! value), the field path, the value and what is allowed.

pub mod configs;
pub mod locate;
pub mod model;
pub mod overrides;
pub mod problem;
pub mod raw;
pub mod resolve;
mod timeline;

use crate::error::UserError;
use locate::{child, element, Positions, Segment};
use problem::{quoted_list, suggestion, Problem};
use raw::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads and resolves a scenario file (see `load_str`).
pub fn load(
    path: &Path,
    overrides: &[String],
    variant: Option<&str>,
) -> Result<model::Scenario, UserError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        UserError::new(format!(
            "cannot read scenario file {}: {error}",
            path.display()
        ))
    })?;
    load_str(&text, &path.display().to_string(), overrides, variant)
}

/// Parses and resolves a scenario. `source` names the text in messages (usually the file path).
/// `variant` None picks the first variant in file order, or the base scenario if there are none.
/// The variant's overrides apply first, then `overrides` (`--set`), in order.
pub fn load_str(
    text: &str,
    source: &str,
    overrides: &[String],
    variant: Option<&str>,
) -> Result<model::Scenario, UserError> {
    let mut tree = parse_json(text, source)?;
    if !tree.is_object() {
        return Err(UserError::new(format!(
            "{source}: the scenario must be a JSON object ({{\"name\": ..., \"duration_ms\": ..., \"topics\": [...]}}), not {}",
            json_kind(&tree)
        )));
    }
    let positions = Positions::scan(text);
    let report = |problems: Vec<Problem>, origins: &BTreeMap<String, String>| {
        render(&problems, source, &positions, origins)
    };
    let mut problems: Vec<Problem> = positions
        .duplicates()
        .into_iter()
        .map(|path| {
            Problem::new(
                path,
                "this key appears more than once in its object; keep one",
            )
        })
        .collect();
    let variants = variants(&tree, &mut problems);
    let chosen = choose_variant(&variants, variant).unwrap_or_else(|problem| {
        problems.push(problem);
        None
    });
    let mut list: Vec<(String, &str)> = Vec::new();
    if let Some((name, items)) = &chosen {
        for (index, item) in items.iter().enumerate() {
            let origin = format!("variants.{name}[{index}] \"{item}\"");
            list.push((origin, item));
        }
    }
    for item in overrides {
        list.push((format!("--set \"{item}\""), item));
    }
    let origins = apply_overrides(&mut tree, &list, &mut problems);
    // After the overrides, so that objects they set are checked too.
    check_keys(&mut tree, &mut problems);
    // Unknown fields were removed from the tree: print it back unless it is exactly the file.
    let edited = !list.is_empty() || !problems.is_empty();
    let mut removed = Vec::new();
    let Some(raw) = typed_parse(text, &mut tree, edited, &mut problems, &mut removed) else {
        return Err(report(problems, &origins));
    };
    match resolve::resolve(&raw, chosen.map(|(name, _)| name)) {
        Ok(scenario) if problems.is_empty() => Ok(scenario),
        Ok(_) => Err(report(problems, &origins)),
        Err(more) => {
            // A field removed for its wrong type is not "missing" as well, and rules that
            // compare it with another field (which saw its default) would only confuse.
            let repeated = |problem: &Problem| {
                removed
                    .iter()
                    .any(|path| within(&problem.path, path) || problem.text.contains(path.as_str()))
            };
            problems.extend(more.into_iter().filter(|problem| !repeated(problem)));
            Err(report(problems, &origins))
        }
    }
}

/// The scenario's variant names, in file order (empty if it has none).
pub fn variant_names(text: &str, source: &str) -> Result<Vec<String>, UserError> {
    let tree = parse_json(text, source)?;
    let mut problems = Vec::new();
    let names = variants(&tree, &mut problems)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(render(
            &problems,
            source,
            &Positions::scan(text),
            &BTreeMap::new(),
        ))
    }
}

fn parse_json(text: &str, source: &str) -> Result<Value, UserError> {
    serde_json::from_str(text).map_err(|error| {
        UserError::new(format!(
            "{source}:{}:{}: malformed JSON: {}",
            error.line(),
            error.column(),
            bare_message(&error)
        ))
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn bare_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

type Variants = Vec<(String, Vec<String>)>;

/// `variants` in file order, each a list of override strings.
fn variants(tree: &Value, problems: &mut Vec<Problem>) -> Variants {
    let mut result = Vec::new();
    let Some(value) = tree.get("variants").filter(|v| !v.is_null()) else {
        return result;
    };
    let Some(map) = value.as_object() else {
        let allowed = "must be an object: variant name → list of override strings";
        problems.push(Problem::field("variants", value, allowed));
        return result;
    };
    for (name, items) in map {
        let path = child("variants", name);
        if !resolve::is_safe_name(name) {
            let allowed =
                "a variant name must be usable as a folder: letters, digits, '.', '_' and '-'";
            problems.push(Problem::new(
                &path,
                format!("\"{name}\" is not allowed: {allowed}"),
            ));
        }
        let strings: Option<Vec<String>> = items.as_array().and_then(|list| {
            list.iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        });
        match strings {
            Some(strings) => result.push((name.clone(), strings)),
            None => problems.push(Problem::field(
                path,
                items,
                "must be a list of override strings (SCOPE:NAME:KEY=VALUE)",
            )),
        }
    }
    result
}

fn choose_variant(
    variants: &Variants,
    wanted: Option<&str>,
) -> Result<Option<(String, Vec<String>)>, Problem> {
    let Some(wanted) = wanted else {
        return Ok(variants.first().cloned());
    };
    if let Some(found) = variants.iter().find(|(name, _)| name == wanted) {
        return Ok(Some(found.clone()));
    }
    let names = variants.iter().map(|(name, _)| name.as_str());
    let text = if variants.is_empty() {
        format!("unknown variant \"{wanted}\": the scenario has no variants")
    } else {
        let hint = suggestion(wanted, names.clone());
        format!(
            "unknown variant \"{wanted}\"{hint}; the variants are {}",
            quoted_list(names)
        )
    };
    Err(Problem::new("", text))
}

/// Applies overrides in order; returns which override set each path (the last one wins).
fn apply_overrides(
    tree: &mut Value,
    list: &[(String, &str)],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let mut origins = BTreeMap::new();
    for (origin, text) in list {
        let applied =
            overrides::parse_override(text).and_then(|item| overrides::apply(tree, &item));
        match applied {
            Ok(paths) => {
                for path in paths {
                    origins.insert(path, origin.clone());
                }
            }
            Err(error) if origin.starts_with("variants.") => {
                let path = origin.split(' ').next().unwrap_or_default();
                problems.push(Problem::new(path, error.message));
            }
            Err(error) => problems.push(Problem::new("", format!("--set: {}", error.message))),
        }
    }
    origins
}

/// serde's typed parse. Parsing text (not the tree) gives a line and column, from which
/// `Positions` recovers the field path. When the tree was edited (overrides, unknown fields
/// removed) it is printed back to text first. After a wrong-typed field, the field is removed and
/// the parse retried, so that every wrong type is reported; `removed` lists those paths, so that
/// `resolve` does not report them again as missing.
fn typed_parse(
    text: &str,
    tree: &mut Value,
    edited: bool,
    problems: &mut Vec<Problem>,
    removed: &mut Vec<String>,
) -> Option<RawScenario> {
    const RETRIES_MAX: usize = 50;
    let mut printed = if edited { None } else { Some(text.to_string()) };
    for _ in 0..RETRIES_MAX {
        let effective = printed
            .take()
            .unwrap_or_else(|| serde_json::to_string_pretty(tree).unwrap_or_default());
        let error = match serde_json::from_str::<RawScenario>(&effective) {
            Ok(raw) => return Some(raw),
            Err(error) => error,
        };
        let positions = Positions::scan(&effective);
        let field = positions.field_before(error.line(), error.column());
        let path = field.map(|(path, _)| path).unwrap_or_default();
        problems.push(Problem::new(path, friendly_serde(&bare_message(&error))));
        // Only object members can be removed without shifting other paths.
        let Some((path, [parents @ .., Segment::Key(key)])) = field else {
            return None;
        };
        let parent = parents
            .iter()
            .try_fold(&mut *tree, |value, segment| match segment {
                Segment::Key(name) => value.get_mut(name.as_str()),
                Segment::Index(index) => value.get_mut(*index),
            });
        parent
            .and_then(Value::as_object_mut)
            .and_then(|map| map.shift_remove(key))?;
        removed.push(path.to_string());
    }
    None
}

/// serde's `invalid type: string "five", expected i64` → `string "five" is not allowed: expected an integer`.
fn friendly_serde(message: &str) -> String {
    // Normally caught earlier by `check_keys`; kept so that serde's own wording still helps.
    if let Some((field, expected)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once("`, expected "))
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = suggestion(field, candidates.iter().copied());
        return format!(
            "unknown field \"{field}\"{hint} (allowed: {})",
            quoted_list(candidates)
        );
    }
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    let Some((found, expected)) = rest.and_then(|rest| rest.rsplit_once(", expected ")) else {
        return message.to_string();
    };
    let expected = match expected {
        "i64" | "i32" => "an integer",
        "u64" | "u32" => "an integer ≥ 0",
        "f64" => "a number",
        "a sequence" => "a list",
        "map" => "an object",
        other if other.starts_with("struct ") => "an object",
        other => other,
    };
    format!("{found} is not allowed: expected {expected}")
}

/// Checks every object's keys against its raw type, so all unknown fields are reported (with a
/// did-you-mean), not only the first one serde meets, then removes them so that resolution can go
/// on and report every other problem too. `config` maps are checked in `resolve`.
fn check_keys(tree: &mut Value, problems: &mut Vec<Problem>) {
    check_object(tree, "", field_names::<RawScenario>(), problems);
    if let Some(cluster) = tree.get_mut("cluster") {
        check_object(cluster, "cluster", field_names::<RawCluster>(), problems);
        if let Some(network) = cluster.get_mut("network") {
            check_object(
                network,
                "cluster.network",
                field_names::<RawNetwork>(),
                problems,
            );
            check_dist(network, "cluster.network", "latency_ms", problems);
        }
        if let Some(costs) = cluster.get_mut("costs") {
            check_object(costs, "cluster.costs", field_names::<RawCosts>(), problems);
            check_dist(costs, "cluster.costs", "request_ms", problems);
        }
    }
    for_each(
        tree,
        "topics",
        field_names::<RawTopic>(),
        problems,
        |_, _, _| {},
    );
    for_each(
        tree,
        "producers",
        field_names::<RawProducer>(),
        problems,
        |item, path, problems| {
            check_dist(item, path, "record_bytes", problems);
            if let Some(keys) = item.get_mut("keys") {
                check_object(
                    keys,
                    &child(path, "keys"),
                    field_names::<RawKeys>(),
                    problems,
                );
            }
            if let Some(ratio) = item.get_mut("compression_ratio") {
                let ratio_path = child(path, "compression_ratio");
                check_object(
                    ratio,
                    &ratio_path,
                    field_names::<RawCompressionRatio>(),
                    problems,
                );
            }
        },
    );
    for_each(
        tree,
        "consumer_groups",
        field_names::<RawGroup>(),
        problems,
        |item, path, problems| {
            check_dist(item, path, "processing_ms_per_record", problems);
        },
    );
    for_each(
        tree,
        "timeline",
        field_names::<RawTimelineEntry>(),
        problems,
        |_, _, _| {},
    );
    if let Some(limits) = tree.get_mut("limits") {
        check_object(limits, "limits", field_names::<RawLimits>(), problems);
    }
}

fn for_each(
    tree: &mut Value,
    list: &str,
    fields: &[&str],
    problems: &mut Vec<Problem>,
    mut inner: impl FnMut(&mut Value, &str, &mut Vec<Problem>),
) {
    let Some(Value::Array(items)) = tree.get_mut(list) else {
        return;
    };
    for (index, item) in items.iter_mut().enumerate() {
        let path = element(list, index);
        check_object(item, &path, fields, problems);
        inner(item, &path, problems);
    }
}

fn check_dist(parent: &mut Value, path: &str, key: &str, problems: &mut Vec<Problem>) {
    if let Some(dist) = parent.get_mut(key) {
        check_object(dist, &child(path, key), field_names::<RawDist>(), problems);
    }
}

fn check_object(value: &mut Value, path: &str, fields: &[&str], problems: &mut Vec<Problem>) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    map.retain(|key, _| {
        let known = fields.contains(&key.as_str());
        if !known {
            let hint = suggestion(key, fields.iter().copied());
            let place = if path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in {path}")
            };
            let text = format!(
                "unknown field \"{key}\"{hint} (allowed {place}: {})",
                quoted_list(fields.iter().copied())
            );
            problems.push(Problem::new(child(path, key), text));
        }
        known
    });
}

/// Whether `path` is `outer` or a field inside it.
fn within(path: &str, outer: &str) -> bool {
    path == outer
        || path
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// One message for all problems: each line `source:line:column: path: text`, or
/// `path: text (set by OVERRIDE)` when an override put the value there.
fn render(
    problems: &[Problem],
    source: &str,
    positions: &Positions,
    origins: &BTreeMap<String, String>,
) -> UserError {
    let mut lines: Vec<String> = Vec::new();
    for problem in problems {
        let path = problem.path.as_str();
        let origin = origins.iter().rev().find(|(set, _)| within(path, set));
        let line = match (origin, positions.line_column(path)) {
            (_, _) if path.is_empty() => format!("{source}: {}", problem.text),
            (Some((_, origin)), _) => format!("{path}: {} (set by {origin})", problem.text),
            (None, Some((line, column))) => {
                format!("{source}:{line}:{column}: {path}: {}", problem.text)
            }
            (None, None) => format!("{source}: {path}: {}", problem.text),
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    match lines.as_slice() {
        [one] => UserError::new(one.clone()),
        _ => UserError::new(format!(
            "{} problems:\n  {}",
            lines.len(),
            lines.join("\n  ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::model::*;
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "name": "unit",
            "duration_ms": 60000,
            "topics": [ { "name": "t", "partitions": 2 } ],
            "producers": [ { "name": "p", "instances": 2, "topic": "t", "rate_per_sec": 10 } ],
            "consumer_groups": [ { "group.id": "g", "members": 1, "topics": ["t"] } ]
        })
    }

    fn load(scenario: &Value) -> Result<Scenario, String> {
        let text = serde_json::to_string_pretty(scenario).unwrap_or_default();
        load_str(&text, "unit.json", &[], None).map_err(|e| e.message)
    }

    fn error(scenario: &Value) -> String {
        load(scenario)
            .err()
            .unwrap_or_else(|| panic!("expected an error"))
    }

    fn ok(scenario: &Value) -> Scenario {
        load(scenario).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn serde_messages_are_rephrased() {
        assert_eq!(
            friendly_serde("invalid type: string \"x\", expected i64"),
            "string \"x\" is not allowed: expected an integer"
        );
        assert_eq!(friendly_serde("something else"), "something else");
        assert_eq!(
            friendly_serde("unknown field `lenght`, expected one of `length`, `width`"),
            "unknown field \"lenght\", did you mean \"length\"? (allowed: \"length\", \"width\")"
        );
    }

    #[test]
    fn timeline_is_sorted_stably_and_sets_producer_start() {
        let mut scenario = base();
        scenario["timeline"] = json!([
            { "at_ms": 500, "action": "broker-crash", "broker": 1 },
            { "at_ms": 200, "action": "producer-start", "producer": "p" },
            { "at_ms": 500, "action": "broker-restart", "broker": 1 },
            { "at_ms": 100, "action": "consumer-join", "group": "g" },
            { "at_ms": 300, "action": "network-partition",
              "between": [["consumer:g:1", "controller"], ["broker-0", "producer:p:1"]], "duration_ms": 50 }
        ]);
        let resolved = ok(&scenario);
        let times: Vec<u64> = resolved
            .timeline
            .iter()
            .map(|e| e.at_ns / 1_000_000)
            .collect();
        assert_eq!(times, [100, 200, 300, 500, 500]);
        assert_eq!(
            resolved.timeline[3].action,
            Action::BrokerCrash {
                broker: 1,
                lose_unflushed_ns: None
            }
        );
        assert_eq!(
            resolved.timeline[4].action,
            Action::BrokerRestart { broker: 1 }
        );
        assert_eq!(resolved.producers[0].start_ns, 200_000_000);
        let expected = Action::NetworkPartition {
            between: [
                vec![NodeRef::Consumer(0, 1), NodeRef::Controller],
                vec![NodeRef::Broker(0), NodeRef::Producer(0, 1)],
            ],
            duration_ns: 50_000_000,
        };
        assert_eq!(resolved.timeline[2].action, expected);
    }

    #[test]
    fn timeline_fields_and_nodes_are_checked() {
        let mut scenario = base();
        scenario["timeline"] = json!([
            { "at_ms": 100, "action": "broker-crash", "broker": 0, "member": 1 },
            { "at_ms": 100, "action": "network-loss", "nodes": ["broker-9", "consumer:g:1"], "probability": 1.5, "duration_ms": 10 },
            { "at_ms": 100, "action": "add-partitions", "topic": "t", "partitions": 2 },
            { "at_ms": 70000, "action": "consumer-slow", "group": "g", "member": 0, "factor": 0, "duration_ms": 1 },
            { "at_ms": 100, "action": "brokr-crash" }
        ]);
        let message = error(&scenario);
        for piece in [
            "timeline[0].member: does not belong to action \"broker-crash\"",
            "timeline[1].nodes[0]: \"broker-9\" is not allowed",
            "timeline[1].nodes[1]: \"consumer:g:1\" is not allowed",
            "timeline[1].probability: 1.5 is not allowed",
            "timeline[2].partitions: 2 is not allowed",
            "timeline[3].at_ms: 70000 is not allowed",
            "timeline[3].factor: 0 is not allowed",
            "did you mean \"broker-crash\"",
        ] {
            assert!(message.contains(piece), "expected {piece:?} in:\n{message}");
        }
    }

    #[test]
    fn consumer_protocol_rejects_classic_only_configs() {
        let mut scenario = base();
        scenario["consumer_groups"][0]["config"] =
            json!({ "group.protocol": "consumer", "session.timeout.ms": 10000 });
        let message = error(&scenario);
        assert!(message.contains("session.timeout.ms: 10000 is not allowed: cannot be set when group.protocol=consumer"), "{message}");
        scenario["consumer_groups"][0]["config"] =
            json!({ "group.protocol": "consumer", "group.remote.assignor": "range" });
        let resolved = ok(&scenario);
        assert_eq!(
            resolved.consumer_groups[0].config.group_protocol,
            GroupProtocol::Consumer
        );
    }

    #[test]
    fn assignment_strategy_accepts_lists_strings_and_class_names() {
        let mut scenario = base();
        scenario["consumer_groups"][0]["config"] = json!({
            "partition.assignment.strategy": "org.apache.kafka.clients.consumer.RoundRobinAssignor, StickyAssignor"
        });
        let resolved = ok(&scenario);
        assert_eq!(
            resolved.consumer_groups[0]
                .config
                .partition_assignment_strategy,
            ["roundrobin", "sticky"]
        );
        scenario["consumer_groups"][0]["config"] =
            json!({ "partition.assignment.strategy": ["range", "cooperativ-sticky"] });
        let message = error(&scenario);
        assert!(
            message.contains("did you mean \"cooperative-sticky\""),
            "{message}"
        );
    }

    #[test]
    fn distributions_keys_and_units() {
        let mut scenario = base();
        scenario["producers"][0]["keys"] = json!({ "dist": "zipf", "count": 100, "exponent": 1.1 });
        scenario["producers"][0]["record_bytes"] =
            json!({ "dist": "uniform", "min": 100, "max": 200 });
        scenario["consumer_groups"][0]["processing_ms_per_record"] =
            json!({ "dist": "exponential", "mean": 0.5 });
        let resolved = ok(&scenario);
        assert_eq!(
            resolved.producers[0].keys,
            Keys::Zipf {
                count: 100,
                exponent: 1.1
            }
        );
        assert_eq!(
            resolved.producers[0].record_bytes,
            Dist::Uniform {
                min: 100.0,
                max: 200.0
            }
        );
        assert_eq!(
            resolved.consumer_groups[0].processing_ns_per_record,
            Dist::Exponential { mean: 500_000.0 }
        );
        scenario["cluster"] = json!({ "network": { "latency_ms": { "dist": "lognormal", "p50": 2, "p99": 1, "value": 3 } } });
        let message = error(&scenario);
        assert!(
            message.contains("cluster.network.latency_ms.p99: 1 is not allowed: must be ≥ p50 (2)"),
            "{message}"
        );
        assert!(
            message.contains("cluster.network.latency_ms.value: does not belong"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_keys_and_bad_names_are_reported() {
        let text = "{\"name\": \"a b\", \"duration_ms\": 1, \"duration_ms\": 2, \"topics\": [{\"name\": \"t\", \"partitions\": 1}]}";
        let message = load_str(text, "dup.json", &[], None)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            message.contains("dup.json:1:17: duration_ms: this key appears more than once"),
            "{message}"
        );
        assert!(
            message.contains("dup.json:1:2: name: \"a b\" is not allowed"),
            "{message}"
        );
    }

    #[test]
    fn missing_required_fields_are_all_named() {
        let message = error(&json!({ "topics": [ {} ], "producers": [ {} ] }));
        for piece in [
            "name: missing",
            "duration_ms: missing",
            "topics[0].partitions: missing",
            "producers[0].topic: missing",
            "producers[0].rate_per_sec: missing",
        ] {
            assert!(message.contains(piece), "expected {piece:?} in:\n{message}");
        }
    }
}
