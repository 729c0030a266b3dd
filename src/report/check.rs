//! The output of `kafkasim check`: the text printed per violation (anomaly, records, seed, fault
//! schedule, reproducing command), `check.json`, and one reproducing scenario file per violating
//! seed.

use crate::check::spec::CheckSpec;
use crate::check::SeedOutcome;
use serde_json::{json, Value};
use std::path::Path;

/// Text and files of a check.
pub struct CheckOutput {
    pub text: String,
    /// (file name, contents) under the output folder.
    pub files: Vec<(String, String)>,
    pub violated: bool,
}

/// The reproducing file of a seed, under the output folder.
pub fn repro_file_name(seed: u64) -> String {
    format!("seed-{seed}.json")
}

pub fn check_output(
    name: &str,
    spec: &CheckSpec,
    outcomes: &[SeedOutcome],
    out_dir: &Path,
) -> CheckOutput {
    let mut text = format!(
        "check {name}: {} seeds, {} ms each, {}-{} faults per run from {} ({}-{} ms long, starting at {}-{} ms)\n",
        outcomes.len(),
        spec.duration_ms,
        spec.faults_per_run.min,
        spec.faults_per_run.max,
        if spec.faults.is_empty() { "none".to_string() } else { spec.faults.join(", ") },
        spec.fault_duration_ms.min,
        spec.fault_duration_ms.max,
        spec.start_ms.min,
        spec.start_ms.max,
    );
    let mut files = Vec::new();
    let mut seeds_json = Vec::new();
    let mut by_anomaly: std::collections::BTreeMap<(&str, String), (u64, bool)> =
        std::collections::BTreeMap::new();
    for outcome in outcomes {
        let repro_path = out_dir.join(repro_file_name(outcome.seed));
        let command = format!(
            "kafkasim run {} --out {}",
            repro_path.display(),
            out_dir.join(format!("seed-{}", outcome.seed)).display()
        );
        for anomaly in &outcome.anomalies {
            let entry = by_anomaly
                .entry((anomaly.name, anomaly.subject.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 |= anomaly.promise.promised;
            text.push_str(&format!(
                "VIOLATION {} (seed {}): {}: {} {}\n",
                anomaly.name,
                outcome.seed,
                anomaly.subject,
                anomaly.count,
                anomaly_what(anomaly.name),
            ));
            let promise = if anomaly.promise.promised {
                "PROMISED by the configs, so a bug"
            } else {
                "not promised by the configs"
            };
            text.push_str(&format!("  {promise}: {}\n", anomaly.promise.reason));
            for record in &anomaly.records {
                text.push_str(&format!("  {record}\n"));
            }
            if anomaly.count > anomaly.records.len() as u64 && anomaly.name != "invariant" {
                text.push_str("  …\n");
            }
        }
        if outcome.violated() {
            text.push_str(&format!("  faults: {}\n", fault_summary(&outcome.faults)));
            text.push_str(&format!("  reproduce: {command}\n"));
            files.push((
                repro_file_name(outcome.seed),
                serde_json::to_string_pretty(&outcome.repro).expect("a JSON tree prints") + "\n",
            ));
        }
        seeds_json.push(json!({
            "seed": outcome.seed,
            "events": outcome.events,
            "faults": outcome.faults,
            "anomalies": outcome.anomalies.iter().map(|anomaly| json!({
                "anomaly": anomaly.name,
                "subject": anomaly.subject,
                "count": anomaly.count,
                "records": anomaly.records,
                "promised": anomaly.promise.promised,
                "reason": anomaly.promise.reason,
            })).collect::<Vec<Value>>(),
            "reproduce": if outcome.violated() { Value::from(command) } else { Value::Null },
        }));
    }
    let violated_seeds = outcomes.iter().filter(|outcome| outcome.violated()).count();
    text.push_str(&format!(
        "{violated_seeds} of {} seeds violated a delivery property\n",
        outcomes.len()
    ));
    for ((anomaly, subject), (seeds, promised)) in &by_anomaly {
        let note = if *promised { " (PROMISED: a bug)" } else { "" };
        text.push_str(&format!("  {anomaly} in {seeds} seeds, {subject}{note}\n"));
    }
    let summary = json!({
        "scenario": name,
        "seeds": outcomes.len(),
        "violated_seeds": violated_seeds,
        "check": {
            "faults": spec.faults,
            "faults_per_run": {"min": spec.faults_per_run.min, "max": spec.faults_per_run.max},
            "fault_duration_ms": {"min": spec.fault_duration_ms.min, "max": spec.fault_duration_ms.max},
            "start_ms": {"min": spec.start_ms.min, "max": spec.start_ms.max},
            "duration_ms": spec.duration_ms,
        },
        "runs": seeds_json,
    });
    files.push((
        "check.json".to_string(),
        serde_json::to_string_pretty(&summary).expect("a JSON tree prints") + "\n",
    ));
    CheckOutput {
        text,
        files,
        violated: violated_seeds > 0,
    }
}

fn anomaly_what(name: &str) -> &'static str {
    match name {
        "lost-write" => "record(s) acknowledged but absent from the final log",
        "duplicate" => "extra copies of records in the log",
        "nonmonotonic-send" => "record(s) landed in the log before a record sent earlier",
        "poll-skip" => "offset(s) committed by the group but never processed",
        "nonmonotonic-poll" => "record(s) processed again by the group",
        "output-duplicate" => "input record(s) with their output twice in the output topic",
        "output-lost" => "input record(s) committed by the group without their output",
        _ => "broken model invariant",
    }
}

/// `at_ms action target` for each drawn fault entry.
fn fault_summary(faults: &[Value]) -> String {
    if faults.is_empty() {
        return "none drawn (the scenario's own timeline)".to_string();
    }
    faults
        .iter()
        .map(|entry| {
            let at_ms = entry.get("at_ms").cloned().unwrap_or(Value::Null);
            let action = entry.get("action").and_then(Value::as_str).unwrap_or("?");
            let target = ["broker", "member", "nodes", "between"]
                .iter()
                .find_map(|key| entry.get(*key).map(|value| format!(" {key} {value}")))
                .unwrap_or_default();
            format!("{at_ms} ms {action}{target}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
