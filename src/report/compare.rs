//! `compare` output: one column per variant with the difference to the first, means and 95%
//! confidence intervals over seeds, `compare.json`, overlaid charts and a side-by-side page.

use super::charts::{self, Series};
use super::stats::{estimate, format_number, Estimate};
use super::{figures, html, json_text, summary_keys, RunOutput};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The runs of one variant, one per seed, in seed order.
pub struct VariantRuns {
    pub name: String,
    pub runs: Vec<RunOutput>,
}

/// What `compare` prints and writes.
pub struct CompareOutput {
    pub table: String,
    pub json: Value,
    pub files: Vec<(String, String)>,
}

/// A variant name made safe as a folder name (it comes from the user's file).
pub fn folder_name(variant: &str) -> String {
    let safe: String = variant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("v{safe}")
    } else {
        safe
    }
}

/// Estimates per figure key, per variant (in variant order).
fn estimates(variants: &[VariantRuns]) -> BTreeMap<String, Vec<Estimate>> {
    let per_run: Vec<Vec<BTreeMap<String, f64>>> = variants
        .iter()
        .map(|v| v.runs.iter().map(|run| figures(&run.metrics)).collect())
        .collect();
    let keys: std::collections::BTreeSet<&String> =
        per_run.iter().flatten().flat_map(|f| f.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let column = per_run.iter().map(|runs| {
                let samples: Vec<f64> = runs
                    .iter()
                    .map(|f| f.get(key).copied().unwrap_or(0.0))
                    .collect();
                estimate(&samples)
            });
            (key.clone(), column.collect())
        })
        .collect()
}

pub fn compare_output(scenario: &str, seeds: &[u64], variants: &[VariantRuns]) -> CompareOutput {
    let estimates = estimates(variants);
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let table = table(scenario, seeds, &names, &estimates);
    let json = compare_json(scenario, seeds, &names, &estimates);
    let mut files = vec![("compare.json".to_string(), json_text(&json))];
    for variant in variants {
        if let Some(first) = variant.runs.first() {
            let folder = folder_name(&variant.name);
            files.extend(
                first
                    .files()
                    .into_iter()
                    .map(|(file, text)| (format!("{folder}/{file}"), text)),
            );
        }
    }
    let overlays = overlaid_charts(variants);
    files.extend(overlays.iter().cloned());
    files.push((
        "index.html".to_string(),
        page(scenario, &table, variants, overlays),
    ));
    CompareOutput { table, json, files }
}

fn cell(estimate: &Estimate, seeds: usize) -> String {
    if seeds > 1 {
        format!(
            "{} ± {}",
            format_number(estimate.mean),
            format_number(estimate.ci95)
        )
    } else {
        format_number(estimate.mean)
    }
}

fn difference(value: f64, base: f64) -> String {
    let delta = value - base;
    let sign = if delta >= 0.0 { "+" } else { "" };
    if base.abs() > 1e-12 {
        format!(
            "{sign}{} ({sign}{:.1}%)",
            format_number(delta),
            delta / base * 100.0
        )
    } else {
        format!("{sign}{}", format_number(delta))
    }
}

/// The rows of the table: for each summary figure, one cell per variant.
fn rows(seeds: usize, estimates: &BTreeMap<String, Vec<Estimate>>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut labelled: Vec<(String, String)> = summary_keys()
        .into_iter()
        .map(|(label, key)| (label.to_string(), key))
        .collect();
    // Then each group's figures, so protocols and assignors compare column by column.
    let groups: std::collections::BTreeSet<&str> = estimates
        .keys()
        .filter_map(|key| key.strip_prefix("groups."))
        .filter_map(|rest| rest.rsplit_once('.').map(|(group, _)| group))
        .collect();
    for group in groups {
        for figure in super::GROUP_SUMMARY_KEYS {
            labelled.push((
                format!("{group} {figure}"),
                format!("groups.{group}.{figure}"),
            ));
        }
    }
    for (label, key) in labelled {
        let Some(column) = estimates.get(&key) else {
            continue;
        };
        let mut row = vec![label];
        for (index, value) in column.iter().enumerate() {
            let mut text = cell(value, seeds);
            if index > 0 {
                text.push_str(&format!(" [{}]", difference(value.mean, column[0].mean)));
            }
            row.push(text);
        }
        rows.push(row);
    }
    rows
}

fn table(
    scenario: &str,
    seeds: &[u64],
    names: &[String],
    estimates: &BTreeMap<String, Vec<Estimate>>,
) -> String {
    let mut header = vec![String::new()];
    header.extend(names.iter().cloned());
    let mut all = vec![header];
    all.extend(rows(seeds.len(), estimates));
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let seeds_text = match seeds {
        [one] => format!("seed {one}"),
        _ => format!("{} seeds, mean ± 95% CI", seeds.len()),
    };
    let mut out = format!("{scenario} ({seeds_text}; [difference to {}])\n", names[0]);
    for row in &all {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
    }
    out
}

fn compare_json(
    scenario: &str,
    seeds: &[u64],
    names: &[String],
    estimates: &BTreeMap<String, Vec<Estimate>>,
) -> Value {
    let mut figures = Map::new();
    for (key, column) in estimates {
        let mut per_variant = Map::new();
        for (name, value) in names.iter().zip(column) {
            let mut entry = json!({ "mean": super::round3(value.mean) });
            if seeds.len() > 1 {
                entry["ci95"] = json!(super::round3(value.ci95));
            }
            entry["difference"] = json!(super::round3(value.mean - column[0].mean));
            per_variant.insert(name.clone(), entry);
        }
        figures.insert(key.clone(), Value::Object(per_variant));
    }
    json!({
        "schema_version": super::SCHEMA_VERSION,
        "scenario": scenario,
        "seeds": seeds,
        "variants": names,
        "figures": figures,
    })
}

/// Each variant's first-seed run overlaid: throughput, latency, lag and the produce CDF.
fn overlaid_charts(variants: &[VariantRuns]) -> Vec<(String, String)> {
    let firsts: Vec<(String, &Value)> = variants
        .iter()
        .filter_map(|v| v.runs.first().map(|run| (v.name.clone(), &run.metrics)))
        .collect();
    let mut charts = charts::timeseries_charts(&firsts);
    let cdfs: Vec<Series> = variants
        .iter()
        .filter_map(|v| {
            let run = v.runs.first()?;
            let produce = run.cdfs.first()?;
            Some(Series::new(
                format!("{} produce", v.name),
                produce.points.clone(),
            ))
        })
        .collect();
    charts.push(("latency-cdf.svg".to_string(), charts::cdf_chart(&cdfs)));
    charts
}

fn page(
    scenario: &str,
    table: &str,
    variants: &[VariantRuns],
    overlays: Vec<(String, String)>,
) -> String {
    let links = variants
        .iter()
        .map(|v| {
            let folder = folder_name(&v.name);
            (
                format!("{} (full report)", v.name),
                format!("{folder}/index.html"),
            )
        })
        .collect();
    let description = variants
        .first()
        .and_then(|v| v.runs.first())
        .and_then(|run| run.scenario["description"].as_str())
        .unwrap_or("")
        .to_string();
    html::page(
        &format!("kafkasim compare: {scenario}"),
        &[
            html::Section::Text("Scenario".into(), description),
            html::Section::Pre("Variants side by side".into(), table.to_string()),
            html::Section::Charts(overlays),
            html::Section::Links("Reports per variant".into(), links),
        ],
    )
}
