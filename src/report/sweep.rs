//! `sweep` output: one row per (point, seed) in `sweep.csv` and `sweep.json`, the Pareto front of
//! throughput against p99 produce latency, a chart per swept parameter, and the best point for an
//! objective under constraints as a Kafka properties block. Rows come in (point, seed) order,
//! never completion order, so the files do not depend on `--jobs` or on sharding.

use super::charts::{self, Axes, Series, Style};
use super::stats::format_number;
use super::{html, json_text};
use crate::error::{did_you_mean, UserError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The x axis of the Pareto chart (higher is better).
pub const THROUGHPUT_KEY: &str = "producer.record-send-rate";
/// The y axis of the Pareto chart (lower is better).
pub const LATENCY_KEY: &str = "latency_ms.produce.p99";

/// One run of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub point: usize,
    pub seed: u64,
    /// One value (as written in the grid) per parameter.
    pub settings: Vec<String>,
    pub figures: BTreeMap<String, f64>,
}

/// A whole sweep (or a shard of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub scenario: String,
    /// Each parameter as `SCOPE:NAME:KEY`.
    pub parameters: Vec<String>,
    pub rows: Vec<SweepRow>,
}

/// A point's figures averaged over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSummary {
    pub point: usize,
    pub settings: Vec<String>,
    pub means: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Max,
    Min,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub direction: Direction,
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub text: String,
    pub key: String,
    pub comparison: Comparison,
    pub bound: f64,
}

/// `max:KEY` or `min:KEY`.
pub fn parse_objective(text: &str) -> Result<Objective, UserError> {
    let error = || {
        UserError::new(format!(
            "--objective \"{text}\": expected max:FIGURE or min:FIGURE, e.g. max:{THROUGHPUT_KEY}"
        ))
    };
    let (direction, key) = text.split_once(':').ok_or_else(error)?;
    let direction = match direction.trim() {
        "max" => Direction::Max,
        "min" => Direction::Min,
        _ => return Err(error()),
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(error());
    }
    Ok(Objective {
        direction,
        key: key.to_string(),
    })
}

/// `KEY<=VALUE` (also `<`, `>=`, `>`, `==`).
pub fn parse_constraint(text: &str) -> Result<Constraint, UserError> {
    let error = |what: &str| {
        UserError::new(format!(
            "--constraint \"{text}\": {what}; expected FIGURE<=NUMBER (or <, >=, >, ==), e.g. {LATENCY_KEY}<=20"
        ))
    };
    let operators = [
        ("<=", Comparison::Le),
        (">=", Comparison::Ge),
        ("==", Comparison::Eq),
        ("<", Comparison::Lt),
        (">", Comparison::Gt),
    ];
    let (key, comparison, bound) = operators
        .iter()
        .find_map(|(symbol, comparison)| {
            text.split_once(symbol)
                .map(|(key, bound)| (key, *comparison, bound))
        })
        .ok_or_else(|| error("no comparison"))?;
    let bound: f64 = bound
        .trim()
        .parse()
        .map_err(|_| error(&format!("\"{}\" is not a number", bound.trim())))?;
    if key.trim().is_empty() || !bound.is_finite() {
        return Err(error("missing FIGURE or bound"));
    }
    Ok(Constraint {
        text: text.to_string(),
        key: key.trim().to_string(),
        comparison,
        bound,
    })
}

impl Constraint {
    pub fn holds(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Le => value <= self.bound,
            Comparison::Lt => value < self.bound,
            Comparison::Ge => value >= self.bound,
            Comparison::Gt => value > self.bound,
            Comparison::Eq => value == self.bound,
        }
    }
}

/// `--shard K/N`: 1-based K of N.
pub fn parse_shard(text: &str) -> Result<(usize, usize), UserError> {
    let error = || {
        UserError::new(format!(
            "--shard \"{text}\": expected K/N with 1 <= K <= N, e.g. 2/4"
        ))
    };
    let (k, n) = text.split_once('/').ok_or_else(error)?;
    let k: usize = k.trim().parse().map_err(|_| error())?;
    let n: usize = n.trim().parse().map_err(|_| error())?;
    if k == 0 || n == 0 || k > n {
        return Err(error());
    }
    Ok((k, n))
}

/// Whether point `index` belongs to shard K of N: points are dealt round-robin, so shards are
/// balanced whatever the grid's order.
pub fn in_shard(index: usize, shard: (usize, usize)) -> bool {
    index % shard.1 == shard.0 - 1
}

/// Means over seeds, one summary per point, in point order.
pub fn point_summaries(sweep: &Sweep) -> Vec<PointSummary> {
    let mut by_point: BTreeMap<usize, Vec<&SweepRow>> = BTreeMap::new();
    for row in &sweep.rows {
        by_point.entry(row.point).or_default().push(row);
    }
    by_point
        .into_iter()
        .map(|(point, rows)| {
            let mut sums: BTreeMap<String, f64> = BTreeMap::new();
            for row in &rows {
                for (key, value) in &row.figures {
                    *sums.entry(key.clone()).or_default() += value;
                }
            }
            let count = rows.len() as f64;
            let means = sums.into_iter().map(|(k, v)| (k, v / count)).collect();
            PointSummary {
                point,
                settings: rows[0].settings.clone(),
                means,
            }
        })
        .collect()
}

fn value(point: &PointSummary, key: &str) -> f64 {
    point.means.get(key).copied().unwrap_or(f64::NAN)
}

/// The points no other point beats on both throughput (higher) and p99 latency (lower), sorted
/// by throughput.
pub fn pareto_front(points: &[PointSummary]) -> Vec<usize> {
    let dominates = |a: &PointSummary, b: &PointSummary| {
        let (ax, ay) = (value(a, THROUGHPUT_KEY), value(a, LATENCY_KEY));
        let (bx, by) = (value(b, THROUGHPUT_KEY), value(b, LATENCY_KEY));
        ax >= bx && ay <= by && (ax > bx || ay < by)
    };
    let mut front: Vec<&PointSummary> = points
        .iter()
        .filter(|p| !points.iter().any(|q| dominates(q, p)))
        .collect();
    front.sort_by(|a, b| {
        value(a, THROUGHPUT_KEY)
            .total_cmp(&value(b, THROUGHPUT_KEY))
            .then(a.point.cmp(&b.point))
    });
    front.iter().map(|p| p.point).collect()
}

/// The point that meets every constraint with the best objective; ties go to the lower point.
pub fn best_point<'a>(
    points: &'a [PointSummary],
    objective: &Objective,
    constraints: &[Constraint],
) -> Option<&'a PointSummary> {
    let meets = |p: &&PointSummary| constraints.iter().all(|c| c.holds(value(p, &c.key)));
    let better = |a: f64, b: f64| match objective.direction {
        Direction::Max => a > b,
        Direction::Min => a < b,
    };
    let mut best: Option<&PointSummary> = None;
    for point in points.iter().filter(meets) {
        let score = value(point, &objective.key);
        if score.is_nan() {
            continue;
        }
        if best.is_none_or(|b| better(score, value(b, &objective.key))) {
            best = Some(point);
        }
    }
    best
}

/// Every figure an objective or constraint may name must exist in the rows.
pub fn check_keys(
    sweep: &Sweep,
    objective: Option<&Objective>,
    constraints: &[Constraint],
) -> Result<(), UserError> {
    match sweep.rows.first() {
        Some(row) => check_names(&row.figures, objective, constraints),
        None => Ok(()),
    }
}

/// Every figure named by `--objective` or `--constraint` is one of `figures`' keys.
pub fn check_names(
    figures: &BTreeMap<String, f64>,
    objective: Option<&Objective>,
    constraints: &[Constraint],
) -> Result<(), UserError> {
    let named = objective
        .map(|o| ("--objective", o.key.as_str()))
        .into_iter()
        .chain(constraints.iter().map(|c| ("--constraint", c.key.as_str())));
    for (argument, key) in named {
        if !figures.contains_key(key) {
            let hint = did_you_mean(key, figures.keys().map(String::as_str))
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            return Err(UserError::new(format!(
                "{argument}: unknown figure \"{key}\"{hint}; figures are the numeric keys of metrics.json, e.g. {THROUGHPUT_KEY}, {LATENCY_KEY}"
            )));
        }
    }
    Ok(())
}

/// The best point's settings as a properties block; scenario fields (no `.` in the key) and
/// non-producer scopes become comments naming the override.
pub fn properties_block(sweep: &Sweep, point: &PointSummary) -> String {
    let mut out = String::new();
    for (parameter, setting) in sweep.parameters.iter().zip(&point.settings) {
        let key = parameter.rsplit(':').next().unwrap_or(parameter);
        let value = setting.trim_matches('"');
        if key.contains('.') {
            out.push_str(&format!("{key}={value}\n"));
        } else {
            out.push_str(&format!("# scenario setting: {parameter}={setting}\n"));
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Figure columns: the union of every row's keys, sorted.
fn figure_keys(sweep: &Sweep) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> =
        sweep.rows.iter().flat_map(|r| r.figures.keys()).collect();
    keys.into_iter().cloned().collect()
}

pub fn sweep_csv(sweep: &Sweep) -> String {
    let keys = figure_keys(sweep);
    let mut header = vec!["point".to_string(), "seed".to_string()];
    header.extend(sweep.parameters.iter().cloned());
    header.extend(keys.iter().cloned());
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in &sweep.rows {
        let mut fields = vec![row.point.to_string(), row.seed.to_string()];
        fields.extend(row.settings.iter().map(|s| csv_field(s)));
        fields.extend(
            keys.iter()
                .map(|k| row.figures.get(k).map_or(String::new(), |v| v.to_string())),
        );
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

pub fn sweep_json(sweep: &Sweep, front: &[usize], best: Option<&PointSummary>) -> Value {
    let rows: Vec<Value> = sweep
        .rows
        .iter()
        .map(|row| {
            let settings: serde_json::Map<String, Value> = sweep
                .parameters
                .iter()
                .zip(&row.settings)
                .map(|(p, s)| (p.clone(), json!(s)))
                .collect();
            json!({ "point": row.point, "seed": row.seed, "settings": settings, "figures": row.figures })
        })
        .collect();
    json!({
        "schema_version": super::SCHEMA_VERSION,
        "scenario": sweep.scenario,
        "parameters": sweep.parameters,
        "pareto_front": front,
        "best_point": best.map(|b| b.point),
        "rows": rows,
    })
}

/// Reads a `sweep.json` back (for `--merge`).
pub fn from_json(value: &Value, source: &str) -> Result<Sweep, UserError> {
    let error = |what: &str| UserError::new(format!("--merge {source}: {what}"));
    let scenario = value["scenario"]
        .as_str()
        .ok_or_else(|| error("no \"scenario\""))?;
    let parameters: Vec<String> = serde_json::from_value(value["parameters"].clone())
        .map_err(|_| error("\"parameters\" is not a list of strings"))?;
    let rows = value["rows"]
        .as_array()
        .ok_or_else(|| error("no \"rows\" list"))?;
    let rows = rows
        .iter()
        .map(|row| row_from_json(row, &parameters).ok_or_else(|| error("a row is malformed")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sweep {
        scenario: scenario.to_string(),
        parameters,
        rows,
    })
}

fn row_from_json(row: &Value, parameters: &[String]) -> Option<SweepRow> {
    let settings = parameters
        .iter()
        .map(|p| row["settings"][p].as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    Some(SweepRow {
        point: usize::try_from(row["point"].as_u64()?).ok()?,
        seed: row["seed"].as_u64()?,
        settings,
        figures: serde_json::from_value(row["figures"].clone()).ok()?,
    })
}

/// Combines shards of one sweep; a (point, seed) present twice must agree.
pub fn merge(parts: Vec<Sweep>) -> Result<Sweep, UserError> {
    let mut parts = parts.into_iter();
    let Some(mut merged) = parts.next() else {
        return Err(UserError::new("--merge: no folders given"));
    };
    for part in parts {
        if part.scenario != merged.scenario || part.parameters != merged.parameters {
            return Err(UserError::new(format!(
                "--merge: the shards come from different sweeps ({} {:?} and {} {:?})",
                merged.scenario, merged.parameters, part.scenario, part.parameters
            )));
        }
        merged.rows.extend(part.rows);
    }
    merged.rows.sort_by_key(|r| (r.point, r.seed));
    merged
        .rows
        .dedup_by(|a, b| a.point == b.point && a.seed == b.seed);
    Ok(merged)
}

/// Everything `sweep` prints and writes.
pub struct SweepOutput {
    pub text: String,
    pub files: Vec<(String, String)>,
}

pub fn sweep_output(
    sweep: &Sweep,
    objective: Option<&Objective>,
    constraints: &[Constraint],
) -> Result<SweepOutput, UserError> {
    check_keys(sweep, objective, constraints)?;
    let points = point_summaries(sweep);
    let front = pareto_front(&points);
    let best = objective.and_then(|o| best_point(&points, o, constraints));
    let text = summary_text(sweep, &points, &front, objective, best);
    let mut charts = vec![("pareto.svg".to_string(), pareto_chart(&points, &front))];
    for index in 0..sweep.parameters.len() {
        let key = objective.map_or(LATENCY_KEY, |o| o.key.as_str());
        charts.push((
            format!("parameter-{}.svg", index + 1),
            parameter_chart(sweep, &points, index, key),
        ));
    }
    let json = sweep_json(sweep, &front, best);
    let page = html::page(
        &format!("kafkasim sweep: {}", sweep.scenario),
        &[
            html::Section::Pre("Result".into(), text.clone()),
            html::Section::Charts(charts.clone()),
            points_table(sweep, &points),
        ],
    );
    let mut files = vec![
        ("sweep.csv".to_string(), sweep_csv(sweep)),
        ("sweep.json".to_string(), json_text(&json)),
    ];
    files.extend(charts);
    files.push(("index.html".to_string(), page));
    Ok(SweepOutput { text, files })
}

fn summary_text(
    sweep: &Sweep,
    points: &[PointSummary],
    front: &[usize],
    objective: Option<&Objective>,
    best: Option<&PointSummary>,
) -> String {
    let mut out = format!(
        "{}: {} points, {} runs; Pareto front ({THROUGHPUT_KEY} vs {LATENCY_KEY}): points {:?}\n",
        sweep.scenario,
        points.len(),
        sweep.rows.len(),
        front
    );
    match (objective, best) {
        (Some(o), Some(b)) => {
            out.push_str(&format!(
                "best point {} ({} = {}):\n",
                b.point,
                o.key,
                format_number(value(b, &o.key))
            ));
            out.push_str(&properties_block(sweep, b));
        }
        (Some(_), None) => out.push_str("no point meets the constraints\n"),
        _ => {}
    }
    out
}

fn points_table(sweep: &Sweep, points: &[PointSummary]) -> html::Section {
    let mut header = vec!["point".to_string()];
    header.extend(sweep.parameters.iter().cloned());
    header.extend([THROUGHPUT_KEY.to_string(), LATENCY_KEY.to_string()]);
    let rows = points
        .iter()
        .map(|p| {
            let mut row = vec![p.point.to_string()];
            row.extend(p.settings.iter().cloned());
            row.push(format_number(value(p, THROUGHPUT_KEY)));
            row.push(format_number(value(p, LATENCY_KEY)));
            row
        })
        .collect();
    html::Section::Table("Points (means over seeds)".into(), header, rows)
}

fn pareto_chart(points: &[PointSummary], front: &[usize]) -> String {
    let xy = |p: &PointSummary| (value(p, THROUGHPUT_KEY), value(p, LATENCY_KEY));
    let front_points = front
        .iter()
        .filter_map(|id| points.iter().find(|p| p.point == *id).map(xy))
        .collect();
    let series = [
        Series::new("Pareto front", front_points),
        Series::new("point", points.iter().map(xy).collect()),
    ];
    let axes = Axes {
        title: "Throughput against p99 produce latency",
        x: "record-send-rate (records/s)",
        y: "produce latency p99 (ms)",
        categories: &[],
    };
    charts::line_chart(&axes, &series, Style::PointsWithFront)
}

/// (x, y) points of one line.
type Points = Vec<(f64, f64)>;

/// `key` against one parameter, one line per combination of the other parameters. Numeric values
/// sit at their value; other values at their position in the grid.
fn parameter_chart(sweep: &Sweep, points: &[PointSummary], index: usize, key: &str) -> String {
    let mut values: Vec<&String> = Vec::new();
    for p in points {
        if !values.contains(&&p.settings[index]) {
            values.push(&p.settings[index]);
        }
    }
    let numeric = values.iter().all(|v| v.parse::<f64>().is_ok());
    let x_of = |setting: &String| match setting.parse::<f64>() {
        Ok(number) if numeric => number,
        _ => values.iter().position(|v| *v == setting).unwrap_or(0) as f64,
    };
    // Lines in grid order (first appearance), not string order.
    let mut lines: Vec<(Vec<String>, Points)> = Vec::new();
    for p in points {
        let mut others = p.settings.clone();
        others.remove(index);
        let xy = (x_of(&p.settings[index]), value(p, key));
        match lines.iter_mut().find(|(o, _)| *o == others) {
            Some((_, line)) => line.push(xy),
            None => lines.push((others, vec![xy])),
        }
    }
    for (_, line) in &mut lines {
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let parameter = &sweep.parameters[index];
    let series: Vec<Series> = lines
        .into_iter()
        .map(|(others, points)| {
            let names = sweep
                .parameters
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index);
            let label: Vec<String> = names
                .zip(&others)
                .map(|((_, p), v)| format!("{}={v}", p.rsplit(':').next().unwrap_or(p)))
                .collect();
            let label = if label.is_empty() {
                key.to_string()
            } else {
                label.join(", ")
            };
            Series::new(label, points)
        })
        .collect();
    let categories: Vec<String> = if numeric {
        Vec::new()
    } else {
        values.iter().map(|v| v.to_string()).collect()
    };
    let title = format!(
        "{key} by {}",
        parameter.rsplit(':').next().unwrap_or(parameter)
    );
    let axes = Axes {
        title: &title,
        x: parameter,
        y: key,
        categories: &categories,
    };
    charts::line_chart(&axes, &series, Style::Lines)
}
