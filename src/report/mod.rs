//! Reports: the summary table on stdout and `metrics.json`, from a finished run. The only module
//! that writes files: it writes into a temporary folder and renames it at the end, so a failed
//! run leaves no partial report.

pub mod charts;
pub mod check;
pub mod compare;
pub mod groups;
pub mod html;
pub mod stats;
pub mod sweep;
pub mod transactions;

use crate::error::UserError;
use crate::metrics::{Latency, Recorder};
use crate::sim::time::{ns_to_ms_f64, NS_PER_SEC};
use crate::world::World;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the `metrics.json` layout; bump it when a key changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// What a run produced, ready to be written. Plain data (`Send`), so runs can happen in worker
/// threads and be written by the caller.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub metrics: Value,
    pub table: String,
    pub charts: Vec<(String, String)>,
    /// The resolved scenario, as `index.html` shows it.
    pub scenario: Value,
    /// Produce and end-to-end latency CDFs (ms), kept for the overlaid charts of `compare`.
    pub cdfs: Vec<charts::Series>,
}

impl RunOutput {
    /// Every file of the report: `metrics.json`, the charts and `index.html`.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![("metrics.json".to_string(), json_text(&self.metrics))];
        files.extend(self.charts.iter().cloned());
        files.push(("index.html".to_string(), self.index_html()));
        files
    }

    fn index_html(&self) -> String {
        let title = format!(
            "kafkasim report: {}",
            self.metrics["scenario"].as_str().unwrap_or("")
        );
        let description = self.scenario["description"].as_str().unwrap_or("");
        let scenario =
            serde_json::to_string_pretty(&self.scenario).expect("JSON values always serialize");
        html::page(
            &title,
            &[
                html::Section::Text("Scenario".into(), description.to_string()),
                html::Section::Pre("Summary".into(), self.table.clone()),
                html::Section::Charts(self.charts.clone()),
                html::Section::Pre("Resolved scenario".into(), scenario),
            ],
        )
    }
}

/// Pretty JSON with a final newline.
pub fn json_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    text.push('\n');
    text
}

pub(crate) fn round3(value: f64) -> f64 {
    if value.is_finite() {
        (value * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn latency_json(latency: &Latency) -> Value {
    json!({
        "p50": round3(ns_to_ms_f64(latency.quantile_ns(0.50))),
        "p99": round3(ns_to_ms_f64(latency.quantile_ns(0.99))),
        "p999": round3(ns_to_ms_f64(latency.quantile_ns(0.999))),
        "max": round3(ns_to_ms_f64(latency.max_ns())),
    })
}

fn ms_series(values_ns: &[u64]) -> Vec<Value> {
    values_ns
        .iter()
        .map(|&ns| json!(round3(ns_to_ms_f64(ns))))
        .collect()
}

fn per_sec(counts: &[u64], interval_ns: u64) -> Vec<Value> {
    let scale = NS_PER_SEC as f64 / interval_ns as f64;
    counts
        .iter()
        .map(|&count| json!(round3(count as f64 * scale)))
        .collect()
}

/// Every figure of one run, with the stable keys of interface.md.
pub fn metrics_json(world: &World, wall_ms: u64) -> Value {
    let scenario = &world.scenario;
    let metrics: &Recorder = &world.metrics;
    let producer = &metrics.producer;
    let duration_s = scenario.duration_ns as f64 / NS_PER_SEC as f64;
    let mut groups = Map::new();
    let (mut duplicates_processed, mut unprocessed) = (0, 0);
    for (index, group) in scenario.consumer_groups.iter().enumerate() {
        let (duplicates, gaps) = groups::delivery_of_group(world, index);
        duplicates_processed += duplicates;
        unprocessed += gaps;
        groups.insert(
            group.group_id.clone(),
            groups::group_json(world, index, round3),
        );
    }
    let series = &metrics.series;
    let delivery = metrics.ledger.figures();
    let brokers = &world.controller.stats;
    let mut value = json!({
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario.name,
        "variant": scenario.variant,
        "seed": world.seed,
        "duration_ms": scenario.duration_ns / 1_000_000,
        "events": world.events,
        "wall_ms": wall_ms,
        "producer": {
            "record-send-rate": round3(producer.records_sent as f64 / duration_s),
            "record-send-total": producer.records_sent,
            "record-error-total": producer.records_failed,
            "record-retry-total": producer.records_retried,
            "batch-size-avg": round3(producer.batch_size_avg()),
            "records-per-request-avg": round3(producer.records_per_request_avg()),
            "record-queue-time-avg": round3(producer.record_queue_time_avg_ms()),
            "request-latency-avg": round3(producer.request_latency_avg_ms()),
            "produce-throughput-mb-per-sec": round3(producer.bytes_acked as f64 / duration_s / 1e6),
        },
        "latency_ms": {
            "produce": latency_json(&producer.latency),
            "end_to_end": latency_json(&metrics.end_to_end),
        },
        "delivery": {
            "sent": producer.records_created,
            "acked": producer.records_acked,
            "failed": producer.records_failed,
            "duplicates_processed": duplicates_processed,
            "unprocessed": unprocessed,
            "lost_acked": delivery.lost_acked,
            "duplicates_in_log": delivery.duplicates_in_log,
            "reordered": delivery.reordered,
            "truncated_on_followers": metrics.ledger.truncated_records,
        },
        "brokers": {
            "leader_elections": brokers.leader_elections,
            "unclean_elections": brokers.unclean_elections,
            "isr_shrinks": brokers.isr_shrinks,
            "isr_expands": brokers.isr_expands,
            "under_replicated_partition_ms": round3(ns_to_ms_f64(brokers.under_replicated_ns)),
        },
        "groups": groups,
        "timeseries": {
            "interval_ms": round3(ns_to_ms_f64(series.interval_ns)),
            "produced_per_sec": per_sec(&series.produced, series.interval_ns),
            "acked_per_sec": per_sec(&series.acked, series.interval_ns),
            "consumed_per_sec": per_sec(&series.consumed, series.interval_ns),
            "produce_p50_ms": ms_series(&series.produce.p50_ns),
            "produce_p99_ms": ms_series(&series.produce.p99_ns),
            "end_to_end_p50_ms": ms_series(&series.end_to_end.p50_ns),
            "end_to_end_p99_ms": ms_series(&series.end_to_end.p99_ns),
            "lag": series.lag,
        },
    });
    if transactions::has_transactions(world) {
        value["transactions"] = transactions::transactions_json(world, round3);
        value["timeseries"]["lso_lag"] = json!(series.lso_lag);
    }
    value
}

/// The rows of the summary table: (label, path in `metrics.json`).
pub const SUMMARY_ROWS: [(&str, &[&str]); 17] = [
    ("records sent", &["delivery", "sent"]),
    ("records acked", &["delivery", "acked"]),
    ("records failed", &["delivery", "failed"]),
    ("acked records lost", &["delivery", "lost_acked"]),
    ("duplicates in log", &["delivery", "duplicates_in_log"]),
    ("reordered records", &["delivery", "reordered"]),
    ("leader elections", &["brokers", "leader_elections"]),
    ("record-retry-total", &["producer", "record-retry-total"]),
    ("record-send-rate (/s)", &["producer", "record-send-rate"]),
    ("batch-size-avg (bytes)", &["producer", "batch-size-avg"]),
    (
        "records-per-request-avg",
        &["producer", "records-per-request-avg"],
    ),
    (
        "record-queue-time-avg (ms)",
        &["producer", "record-queue-time-avg"],
    ),
    (
        "request-latency-avg (ms)",
        &["producer", "request-latency-avg"],
    ),
    (
        "produce latency p50 (ms)",
        &["latency_ms", "produce", "p50"],
    ),
    (
        "produce latency p99 (ms)",
        &["latency_ms", "produce", "p99"],
    ),
    (
        "end-to-end latency p50 (ms)",
        &["latency_ms", "end_to_end", "p50"],
    ),
    (
        "end-to-end latency p99 (ms)",
        &["latency_ms", "end_to_end", "p99"],
    ),
];

/// The value at `path` in `metrics.json` (Null when absent).
pub fn lookup<'a>(metrics: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(metrics, |value, key| &value[key])
}

/// The compact summary table printed by `run`.
pub fn summary_table(metrics: &Value) -> String {
    let rows = SUMMARY_ROWS;
    let title = format!(
        "{} (variant {}, seed {})",
        metrics["scenario"].as_str().unwrap_or(""),
        metrics["variant"].as_str().unwrap_or("-"),
        metrics["seed"]
    );
    let mut out = format!("{title}\n");
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, path) in rows {
        let value = lookup(metrics, path);
        out.push_str(&format!("  {label:<width$}  {value}\n"));
    }
    out.push_str(&group_rows(metrics));
    out.push_str(&transaction_rows(metrics));
    out
}

/// Transaction figures, when the run had any.
fn transaction_rows(metrics: &Value) -> String {
    let txns = &metrics["transactions"];
    if txns.is_null() {
        return String::new();
    }
    let mut out = String::from("transactions\n");
    for (label, key) in [
        ("committed", "committed"),
        ("aborted", "aborted"),
        ("fenced", "fenced"),
        ("timed out", "timed_out"),
        ("LSO lag max (records)", "lso_lag_max"),
    ] {
        out.push_str(&format!("  {label:<28}  {}\n", txns[key]));
    }
    out.push_str(&format!(
        "  {:<28}  {}\n",
        "commit latency p99 (ms)", txns["commit_latency_ms"]["p99"]
    ));
    if txns["read_committed_without_transactions"] == Value::Bool(true) {
        out.push_str("  note: isolation.level=read_committed, but no producer is transactional: read_committed reads up to the high watermark like read_uncommitted\n");
    }
    if let Some(outputs) = txns["output"].as_object() {
        for (group, output) in outputs {
            out.push_str(&format!(
                "  output of {group} ({}): visible {}, duplicates {}, lost {}, aborted {}\n",
                if output["exactly_once"] == Value::Bool(true) {
                    "exactly-once"
                } else {
                    "at-least-once"
                },
                output["visible"],
                output["duplicates"],
                output["lost"],
                output["aborted"]
            ));
        }
    }
    out
}

/// The per-group figures of the summary tables (`run` and `compare`).
pub const GROUP_SUMMARY_KEYS: [&str; 7] = [
    "rebalance-total",
    "rebalance-latency-avg",
    "partition_pause_ms",
    "revoked_total",
    "records-lag-max",
    "duplicates_processed",
    "unprocessed",
];

/// One block of rows per consumer group.
fn group_rows(metrics: &Value) -> String {
    const KEYS: [&str; 7] = GROUP_SUMMARY_KEYS;
    let mut out = String::new();
    let Some(groups) = metrics["groups"].as_object() else {
        return out;
    };
    for (group, figures) in groups {
        out.push_str(&format!("  group {group}\n"));
        for key in KEYS {
            out.push_str(&format!("    {key:<23}  {}\n", figures[key]));
        }
    }
    out
}

pub fn run_output(world: &World, wall_ms: u64) -> RunOutput {
    let metrics = metrics_json(world, wall_ms);
    let table = summary_table(&metrics);
    let charts = charts::run_charts(world);
    let scenario = serde_json::to_value(&world.scenario).unwrap_or(Value::Null);
    RunOutput {
        metrics,
        table,
        charts,
        scenario,
        cdfs: charts::run_cdfs(world),
    }
}

/// Writes one run's report folder (see `write_files`).
pub fn write_report(dir: &Path, output: &RunOutput) -> Result<(), UserError> {
    write_files(dir, &output.files())
}

/// Writes a report folder atomically: a temporary sibling, then a rename over `dir`. File names
/// may contain `/` (one level of subfolders, e.g. `<variant>/metrics.json`).
pub fn write_files(dir: &Path, files: &[(String, String)]) -> Result<(), UserError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .ok_or_else(|| UserError::new(format!("--out {}: not a folder name", dir.display())))?;
    let io_error = |what: &str, path: &Path, error: std::io::Error| {
        UserError::new(format!("cannot {what} {}: {error}", path.display()))
    };
    std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
    let temp: PathBuf = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    if temp.exists() {
        std::fs::remove_dir_all(&temp).map_err(|e| io_error("remove", &temp, e))?;
    }
    std::fs::create_dir_all(&temp).map_err(|e| io_error("create", &temp, e))?;
    for (file, contents) in files {
        let path = temp.join(file);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| io_error("create", folder, e))?;
        }
        std::fs::write(&path, contents).map_err(|e| io_error("write", &path, e))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_error("replace", dir, e))?;
    }
    std::fs::rename(&temp, dir).map_err(|e| io_error("create", dir, e))?;
    Ok(())
}

/// Keys of `metrics.json` that describe the run rather than measure it.
const NOT_FIGURES: [&str; 5] = [
    "schema_version",
    "seed",
    "wall_ms",
    "timeseries",
    "duration_ms",
];

/// Every numeric figure of `metrics.json` by dotted path (`latency_ms.produce.p99`), without the
/// time series and the run's identity (seed, wall time).
pub fn figures(metrics: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(object) = metrics.as_object() {
        for (key, value) in object {
            if !NOT_FIGURES.contains(&key.as_str()) {
                flatten(key, value, &mut out);
            }
        }
    }
    out
}

fn flatten(path: &str, value: &Value, out: &mut BTreeMap<String, f64>) {
    match value {
        Value::Number(number) => {
            out.insert(path.to_string(), number.as_f64().unwrap_or(0.0));
        }
        Value::Object(object) => {
            for (key, inner) in object {
                flatten(&format!("{path}.{key}"), inner, out);
            }
        }
        _ => {}
    }
}

/// The summary rows as dotted figure keys, with their labels.
pub fn summary_keys() -> Vec<(&'static str, String)> {
    SUMMARY_ROWS
        .iter()
        .map(|(label, path)| (*label, path.join(".")))
        .collect()
}
