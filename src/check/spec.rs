//! The scenario's `check` section: which faults `kafkasim check` may add to each seed's run, how
//! many, how long and when, and how long each run lasts. Read from the scenario's JSON tree (runs
//! ignore the section); every field is optional and has a default that keeps a run short.

use crate::error::UserError;
use serde_json::Value;

/// Fault kinds the checker can draw, in the order the help text lists them.
pub const FAULT_KINDS: [&str; 7] = [
    "broker-crash",
    "broker-power-loss",
    "broker-stall",
    "network-partition",
    "network-delay",
    "network-loss",
    "consumer-crash",
];

/// Kinds drawn when `check.faults` is absent. A power loss is left out: it loses acknowledged
/// data by design once enough replicas lose their page cache, so it must be asked for.
const DEFAULT_KINDS: [&str; 6] = [
    "broker-crash",
    "broker-stall",
    "network-partition",
    "network-delay",
    "network-loss",
    "consumer-crash",
];

/// An inclusive integer range `{ "min": a, "max": b }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Span {
    pub min: u64,
    pub max: u64,
}

/// The resolved `check` section.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckSpec {
    /// Fault kinds to draw from (each equally likely).
    pub faults: Vec<String>,
    /// Faults added to each seed's run.
    pub faults_per_run: Span,
    /// How long each fault lasts (a crash: until the restart).
    pub fault_duration_ms: Span,
    /// When faults start.
    pub start_ms: Span,
    /// Length of each seed's run.
    pub duration_ms: u64,
}

const FIELDS: [&str; 5] = [
    "faults",
    "faults_per_run",
    "fault_duration_ms",
    "start_ms",
    "duration_ms",
];

impl CheckSpec {
    /// The `check` section of `tree`, the file of `scenario`; `source` names it in messages.
    pub fn of_scenario(
        tree: &Value,
        scenario: &crate::scenario::model::Scenario,
        source: &str,
    ) -> Result<Self, UserError> {
        Self::from_tree(
            tree,
            scenario.duration_ns / 1_000_000,
            !scenario.consumer_groups.is_empty(),
        )
        .map_err(|error| UserError::new(format!("{source}: {error}")))
    }

    /// Reads `check` from the scenario tree; `duration_ms` is the scenario's run length and
    /// `has_groups` whether it has consumer groups (consumer faults need one).
    pub fn from_tree(tree: &Value, duration_ms: u64, has_groups: bool) -> Result<Self, UserError> {
        let section = match tree.get("check") {
            None | Some(Value::Null) => &Value::Null,
            Some(section @ Value::Object(_)) => section,
            Some(other) => {
                return Err(UserError::field(
                    "check",
                    other,
                    "an object such as {\"faults\": [\"broker-crash\"], \"faults_per_run\": {\"min\": 1, \"max\": 3}}",
                ))
            }
        };
        if let Value::Object(map) = section {
            for key in map.keys() {
                if !FIELDS.contains(&key.as_str()) {
                    let hint = crate::error::did_you_mean(key, FIELDS)
                        .map(|near| format!(" (did you mean \"{near}\"?)"))
                        .unwrap_or_default();
                    return Err(UserError::new(format!(
                        "check.{key}: unknown field{hint}; allowed: {}",
                        FIELDS.join(", ")
                    )));
                }
            }
        }
        let duration_ms = match section.get("duration_ms") {
            None => duration_ms,
            Some(value) => positive_integer(value, "check.duration_ms")?,
        };
        let faults = fault_kinds(section.get("faults"), has_groups)?;
        let faults_per_run = span(
            section.get("faults_per_run"),
            "check.faults_per_run",
            Span { min: 1, max: 3 },
            false,
        )?;
        if faults_per_run.max > 20 {
            return Err(UserError::field(
                "check.faults_per_run.max",
                faults_per_run.max,
                "at most 20 faults per run",
            ));
        }
        let fault_duration_ms = span(
            section.get("fault_duration_ms"),
            "check.fault_duration_ms",
            Span {
                min: 1000,
                max: 15_000,
            },
            true,
        )?;
        // By default faults start in the middle of the run: after start-up, and early enough
        // for elections (9 s) and rebalances to finish before the end.
        let default_start = Span {
            min: duration_ms / 10,
            max: (duration_ms * 6 / 10).max(duration_ms / 10),
        };
        let start_ms = span(
            section.get("start_ms"),
            "check.start_ms",
            default_start,
            false,
        )?;
        if start_ms.max >= duration_ms {
            return Err(UserError::field(
                "check.start_ms.max",
                start_ms.max,
                &format!("faults must start before the run ends (duration_ms {duration_ms})"),
            ));
        }
        Ok(CheckSpec {
            faults,
            faults_per_run,
            fault_duration_ms,
            start_ms,
            duration_ms,
        })
    }
}

fn fault_kinds(value: Option<&Value>, has_groups: bool) -> Result<Vec<String>, UserError> {
    let allowed = format!("a list of fault kinds: {}", FAULT_KINDS.join(", "));
    let Some(value) = value else {
        return Ok(DEFAULT_KINDS
            .iter()
            .filter(|kind| has_groups || !kind.starts_with("consumer"))
            .map(|kind| kind.to_string())
            .collect());
    };
    let Some(items) = value.as_array() else {
        return Err(UserError::field("check.faults", value, &allowed));
    };
    let mut kinds = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("check.faults[{index}]");
        match item.as_str() {
            Some(kind) if FAULT_KINDS.contains(&kind) => {
                if kind.starts_with("consumer") && !has_groups {
                    return Err(UserError::field(
                        &path,
                        item,
                        "consumer faults need a consumer group in the scenario",
                    ));
                }
                kinds.push(kind.to_string());
            }
            _ => {
                let hint = item
                    .as_str()
                    .and_then(|kind| crate::error::did_you_mean(kind, FAULT_KINDS))
                    .map(|near| format!(" (did you mean \"{near}\"?)"))
                    .unwrap_or_default();
                return Err(UserError::field(
                    &path,
                    format!("{item}{hint}"),
                    &format!("one of {}", FAULT_KINDS.join(", ")),
                ));
            }
        }
    }
    Ok(kinds)
}

fn positive_integer(value: &Value, path: &str) -> Result<u64, UserError> {
    match value.as_u64() {
        Some(number) if number > 0 => Ok(number),
        _ => Err(UserError::field(path, value, "a whole number above 0")),
    }
}

fn span(
    value: Option<&Value>,
    path: &str,
    default: Span,
    positive: bool,
) -> Result<Span, UserError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let shape = "an object {\"min\": A, \"max\": B} of whole numbers with A ≤ B";
    let Some(map) = value.as_object() else {
        return Err(UserError::field(path, value, shape));
    };
    if let Some(key) = map.keys().find(|key| *key != "min" && *key != "max") {
        return Err(UserError::new(format!(
            "{path}.{key}: unknown field; allowed: min, max"
        )));
    }
    let bound = |key: &str, fallback: u64| -> Result<u64, UserError> {
        match map.get(key) {
            None => Ok(fallback),
            Some(number) => number
                .as_u64()
                .filter(|&n| !positive || n > 0)
                .ok_or_else(|| {
                    let allowed = if positive {
                        "a whole number above 0"
                    } else {
                        "a whole number, 0 or more"
                    };
                    UserError::field(&format!("{path}.{key}"), number, allowed)
                }),
        }
    };
    let min = bound("min", default.min)?;
    let max = bound("max", default.max.max(min))?;
    if min > max {
        return Err(UserError::field(
            &format!("{path}.min"),
            min,
            &format!("must be ≤ {path}.max ({max})"),
        ));
    }
    Ok(Span { min, max })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_keep_faults_in_the_middle_of_the_run() {
        let spec = CheckSpec::from_tree(&json!({}), 60_000, true).expect("defaults");
        assert_eq!(
            spec.start_ms,
            Span {
                min: 6000,
                max: 36_000
            }
        );
        assert_eq!(spec.faults_per_run, Span { min: 1, max: 3 });
        assert_eq!(spec.faults.len(), 6);
        let no_groups = CheckSpec::from_tree(&json!({}), 60_000, false).expect("defaults");
        assert!(!no_groups.faults.iter().any(|kind| kind == "consumer-crash"));
    }

    #[test]
    fn mistakes_name_the_field_and_what_is_allowed() {
        let error =
            CheckSpec::from_tree(&json!({"check": {"faults": ["broker-crsh"]}}), 1000, true)
                .expect_err("typo");
        assert!(error.message.contains("check.faults[0]"), "{error}");
        assert!(
            error.message.contains("did you mean \"broker-crash\""),
            "{error}"
        );
        let error = CheckSpec::from_tree(
            &json!({"check": {"faults_per_run": {"min": 3, "max": 1}}}),
            1000,
            true,
        )
        .expect_err("min > max");
        assert!(
            error.message.contains("check.faults_per_run.min"),
            "{error}"
        );
        let error = CheckSpec::from_tree(&json!({"check": {"fault": []}}), 1000, true)
            .expect_err("unknown field");
        assert!(error.message.contains("did you mean \"faults\""), "{error}");
    }
}
