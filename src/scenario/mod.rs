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
use locate::{child, element, Positions};
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
    let positions = Positions::scan(text);
    let report = |problems: Vec<Problem>, origins: &BTreeMap<String, String>| {
        render(&problems, source, &positions, origins)
    };
    let mut problems = Vec::new();
    check_keys(&mut tree, &mut problems);
    let variants = variants(&tree, &mut problems);
    let chosen =
        choose_variant(&variants, variant).map_err(|e| report(vec![e], &BTreeMap::new()))?;
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
    // Unknown fields were removed from the tree: print it back unless it is exactly the file.
    let edited = !list.is_empty() || !problems.is_empty();
    let raw = match typed_parse(text, &tree, edited) {
        Ok(raw) => raw,
        Err(problem) => {
            problems.push(problem);
            return Err(report(problems, &origins));
        }
    };
    match resolve::resolve(&raw, chosen.map(|(name, _)| name)) {
        Ok(scenario) if problems.is_empty() => Ok(scenario),
        Ok(_) => Err(report(problems, &origins)),
        Err(more) => {
            problems.extend(more);
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
/// `Positions` recovers the field path. With overrides, the tree is printed back to text first.
fn typed_parse(text: &str, tree: &Value, edited: bool) -> Result<RawScenario, Problem> {
    let printed;
    let effective = if edited {
        printed = serde_json::to_string_pretty(tree).unwrap_or_default();
        printed.as_str()
    } else {
        text
    };
    serde_json::from_str::<RawScenario>(effective).map_err(|error| {
        let positions = Positions::scan(effective);
        let path = positions
            .path_before(error.line(), error.column())
            .unwrap_or_default();
        Problem::new(path, friendly_serde(&bare_message(&error)))
    })
}

/// serde's `invalid type: string "five", expected i64` → `string "five" is not allowed: expected an integer`.
fn friendly_serde(message: &str) -> String {
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
        let origin = origins.iter().rev().find(|(set, _)| {
            path == set.as_str()
                || path
                    .strip_prefix(set.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        });
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
