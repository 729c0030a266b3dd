//! SVG charts (plotters, SVG backend). The crate is built without plotters' font features, so no
//! system fonts are read: plotters only estimates text sizes for layout, and the SVG backend
//! writes every label as an SVG `<text>` element that the browser renders with its own fonts.

use super::stats::format_number;
use crate::metrics::{OwnershipSpan, RebalanceRecord};
use crate::sim::time::ns_to_ms_f64;
use crate::world::World;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;

const SIZE: (u32, u32) = (800, 420);
const FONT: &str = "sans-serif";

/// One named line (or set of points) on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// Titles of one chart: the caption and the two axis descriptions (with units).
pub struct Axes<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    /// Names of x = 0, 1, 2... when the x axis is categorical (empty: numeric).
    pub categories: &'a [String],
}

/// How the series of a chart are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Lines,
    /// Points; the first series is drawn as a line through its points (a front), the rest as dots.
    PointsWithFront,
}

/// (file name, SVG text) for each chart of a run.
pub fn run_charts(world: &World) -> Vec<(String, String)> {
    let metrics = crate::report::metrics_json(world, 0);
    let mut charts = timeseries_charts(&[(String::new(), &metrics)]);
    charts.push(("ownership.svg".to_string(), ownership_chart(world)));
    let cdfs = run_cdfs(world);
    charts.push(("latency-cdf.svg".to_string(), cdf_chart(&cdfs)));
    charts
}

/// The produce and end-to-end latency CDFs of a run, in ms.
pub fn run_cdfs(world: &World) -> Vec<Series> {
    let to_ms = |cdf: Vec<(u64, f64)>| {
        thin(
            cdf.into_iter()
                .map(|(ns, fraction)| (ns_to_ms_f64(ns), fraction))
                .collect(),
        )
    };
    vec![
        Series::new("produce", to_ms(world.metrics.producer.latency.cdf())),
        Series::new("end-to-end", to_ms(world.metrics.end_to_end.cdf())),
    ]
}

/// Keeps a CDF small (HDR histograms have thousands of steps): a point is kept when it moves
/// the latency by 1% or the fraction by 0.002 from the last kept one; the last point is kept.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::new();
    for (index, &(x, y)) in points.iter().enumerate() {
        let last = index + 1 == points.len();
        let far = kept
            .last()
            .is_none_or(|&(kx, ky)| x > kx * 1.01 || y - ky > 0.002);
        if far || last {
            kept.push((x, y));
        }
    }
    kept
}

/// Throughput, latency and lag over time, from `metrics.json` time series. With several runs
/// (compare), each series name is prefixed by the run's label.
pub fn timeseries_charts(runs: &[(String, &Value)]) -> Vec<(String, String)> {
    let label = |run: &str, name: &str| {
        if run.is_empty() {
            name.to_string()
        } else if runs.len() > 1 && name.contains(' ') {
            format!("{run}: {name}")
        } else {
            run.to_string()
        }
    };
    let mut throughput = Vec::new();
    let mut latency = Vec::new();
    let mut lag = Vec::new();
    for (run, metrics) in runs {
        let keys: &[(&str, &str)] = if runs.len() > 1 {
            &[("acked_per_sec", "acknowledged")]
        } else {
            &[
                ("produced_per_sec", "produced"),
                ("acked_per_sec", "acknowledged"),
                ("consumed_per_sec", "consumed"),
            ]
        };
        for (key, name) in keys {
            throughput.push(Series::new(label(run, name), time_points(metrics, key)));
        }
        let latency_keys: &[(&str, &str)] = if runs.len() > 1 {
            &[
                ("produce_p99_ms", "produce p99"),
                ("end_to_end_p99_ms", "end-to-end p99"),
            ]
        } else {
            &[
                ("produce_p50_ms", "produce p50"),
                ("produce_p99_ms", "produce p99"),
                ("end_to_end_p50_ms", "end-to-end p50"),
                ("end_to_end_p99_ms", "end-to-end p99"),
            ]
        };
        for (key, name) in latency_keys {
            latency.push(Series::new(label(run, name), time_points(metrics, key)));
        }
        lag.push(Series::new(
            label(run, "total lag"),
            time_points(metrics, "lag"),
        ));
    }
    let chart = |title, y, series: &[Series]| {
        let axes = Axes {
            title,
            x: "time (s)",
            y,
            categories: &[],
        };
        line_chart(&axes, series, Style::Lines)
    };
    vec![
        (
            "throughput.svg".to_string(),
            chart("Throughput", "records per second", &throughput),
        ),
        (
            "latency.svg".to_string(),
            chart("Latency over time", "latency (ms)", &latency),
        ),
        (
            "lag.svg".to_string(),
            chart("Consumer lag (all groups)", "records", &lag),
        ),
    ]
}

/// (bucket start in s, value) for one `timeseries` array of `metrics.json`.
fn time_points(metrics: &Value, key: &str) -> Vec<(f64, f64)> {
    let series = &metrics["timeseries"];
    let interval_s = series["interval_ms"].as_f64().unwrap_or(1000.0) / 1000.0;
    let values = series[key].as_array().map(Vec::as_slice).unwrap_or(&[]);
    values
        .iter()
        .enumerate()
        .map(|(index, value)| (index as f64 * interval_s, value.as_f64().unwrap_or(0.0)))
        .collect()
}

/// The range that holds every point, widened when empty or flat so plotters gets a real range.
fn bounds(series: &[Series], style: Style) -> ((f64, f64), (f64, f64)) {
    let points = series.iter().flat_map(|s| s.points.iter());
    let finite = points.filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, 0.0f64, f64::MIN);
    for &(x, y) in finite {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if y1 < y0 {
        y1 = y0;
    }
    let widen = |low: f64, high: f64, pad: f64| {
        if high - low < 1e-9 {
            (low, low + 1.0)
        } else {
            (low, high + (high - low) * pad)
        }
    };
    // Headroom above the data keeps the legend (upper right) off the lines; points get a margin
    // on both sides so none sits on an axis.
    let (x0, x1) = widen(x0, x1, 0.0);
    let x_margin = match style {
        Style::Lines => 0.0,
        Style::PointsWithFront => (x1 - x0) * 0.04,
    };
    ((x0 - x_margin, x1 + x_margin), widen(y0, y1, 0.3))
}

/// A line (or point) chart with a legend. Never fails: a drawing error gives an SVG that says so.
pub fn line_chart(axes: &Axes, series: &[Series], style: Style) -> String {
    let mut svg = String::new();
    let result = draw_lines(&mut svg, axes, series, style);
    finish(svg, result)
}

fn finish<E: std::fmt::Debug>(svg: String, result: Result<(), E>) -> String {
    match result {
        Ok(()) => svg,
        Err(error) => error_svg(&format!("{error:?}")),
    }
}

/// A minimal valid SVG carrying a message, for a chart plotters could not draw.
fn error_svg(message: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\"><text x=\"10\" y=\"20\">chart not drawn: {}</text></svg>\n",
        SIZE.0,
        SIZE.1,
        escape(message)
    )
}

/// XML text escaping, for labels and HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_lines(svg: &mut String, axes: &Axes, series: &[Series], style: Style) -> DrawResult {
    let ((x0, x1), (y0, y1)) = bounds(series, style);
    let (x0, x1) = if axes.categories.is_empty() {
        (x0, x1)
    } else {
        (-0.25, axes.categories.len() as f64 - 0.75)
    };
    let categories = axes.categories;
    let x_format = |v: &f64| {
        if categories.is_empty() {
            format_number(*v)
        } else if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
            categories
                .get(v.round() as usize)
                .cloned()
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let x_labels = if categories.is_empty() {
        10
    } else {
        categories.len() * 4 + 1
    };
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(axes.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(axes.x)
        .y_desc(axes.y)
        .x_labels(x_labels)
        .x_label_formatter(&x_format)
        .y_label_formatter(&|v| format_number(*v))
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (index, line) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points = line.points.iter().copied();
        let annotation = if style == Style::PointsWithFront && index > 0 {
            chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?
        } else {
            let width = if style == Style::Lines { 2 } else { 3 };
            chart.draw_series(LineSeries::new(points, color.stroke_width(width)))?
        };
        annotation.label(line.name.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
        });
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Latency CDFs on a logarithmic latency axis (tails span decades).
pub fn cdf_chart(series: &[Series]) -> String {
    let mut svg = String::new();
    let result = draw_cdf(&mut svg, series);
    finish(svg, result)
}

fn draw_cdf(svg: &mut String, series: &[Series]) -> DrawResult {
    let positive: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let low = positive.iter().copied().fold(f64::MAX, f64::min);
    let high = positive.iter().copied().fold(0.0, f64::max);
    let (low, high) = if positive.is_empty() {
        (0.001, 1.0)
    } else {
        (low * 0.9, (high * 1.1).max(low * 2.0))
    };
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency CDF", (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((low..high).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("fraction of records at or below")
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (index, line) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points = line.points.iter().copied().filter(|p| p.0 > 0.0);
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(line.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// One lane per group member, one colour per partition, rebalances shaded.
pub fn ownership_chart(world: &World) -> String {
    let scenario = &world.scenario;
    let topic_name = |topic: u32| {
        scenario
            .topics
            .get(topic as usize)
            .map_or_else(|| format!("topic{topic}"), |t| t.name.clone())
    };
    let group_name = |group: usize| {
        scenario
            .consumer_groups
            .get(group)
            .map_or_else(|| format!("group{group}"), |g| g.group_id.clone())
    };
    let view = OwnershipView {
        spans: &world.metrics.ownership,
        rebalances: &world.metrics.rebalances,
        duration_s: scenario.duration_ns as f64 / 1e9,
        topic_name: &topic_name,
        group_name: &group_name,
    };
    let mut svg = String::new();
    let result = draw_ownership(&mut svg, &view);
    finish(svg, result)
}

struct OwnershipView<'a> {
    spans: &'a [OwnershipSpan],
    rebalances: &'a [RebalanceRecord],
    duration_s: f64,
    topic_name: &'a dyn Fn(u32) -> String,
    group_name: &'a dyn Fn(usize) -> String,
}

/// Lanes in (group, member) order; within a lane, one band per partition the member ever owned.
struct Layout<'a> {
    lanes: Vec<(usize, &'a str)>,
    /// Every partition, in (topic, partition) order: its colour is its position here.
    partitions: Vec<(u32, u32)>,
    /// Per lane, the partitions it ever owned, in order: a span's band is its position here.
    bands: Vec<Vec<(u32, u32)>>,
}

impl<'a> Layout<'a> {
    fn new(spans: &'a [OwnershipSpan]) -> Self {
        let lanes: Vec<(usize, &str)> = spans
            .iter()
            .map(|s| (s.group, s.member.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut bands = vec![BTreeSet::new(); lanes.len()];
        for span in spans {
            if let Ok(lane) = lanes.binary_search(&(span.group, span.member.as_str())) {
                bands[lane].insert((span.topic, span.partition));
            }
        }
        let partitions: BTreeSet<(u32, u32)> =
            spans.iter().map(|s| (s.topic, s.partition)).collect();
        Layout {
            lanes,
            partitions: partitions.into_iter().collect(),
            bands: bands.into_iter().map(|b| b.into_iter().collect()).collect(),
        }
    }

    /// The (low, high) y of a span's band: lanes are one unit tall, bands share 0.8 of it.
    /// Lanes, bands and partitions are sorted: found by binary search, as a wide cluster's
    /// chart has tens of thousands of spans over thousands of partitions.
    fn band(&self, span: &OwnershipSpan) -> (f64, f64) {
        let key = (span.group, span.member.as_str());
        let lane = self.lanes.binary_search(&key).unwrap_or(0);
        let bands = &self.bands[lane];
        let index = bands
            .binary_search(&(span.topic, span.partition))
            .unwrap_or(0);
        let slot = 0.8 / bands.len().max(1) as f64;
        let low = lane as f64 + 0.1 + slot * index as f64;
        (low, low + slot * 0.9)
    }

    fn colour(&self, topic: u32, partition: u32) -> RGBAColor {
        let index = self.partitions.binary_search(&(topic, partition));
        Palette99::pick(index.unwrap_or(0)).to_rgba()
    }
}

const LEGEND_WIDTH: u32 = 130;

fn draw_ownership(svg: &mut String, view: &OwnershipView) -> DrawResult {
    let layout = Layout::new(view.spans);
    let lane_count = layout.lanes.len().max(1) as f64;
    let height = SIZE.1.max(100 + 60 * layout.lanes.len() as u32);
    let root = SVGBackend::with_string(svg, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .caption("Partition ownership per consumer", (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(20)
        .build_cartesian_2d(0.0..view.duration_s.max(1e-3), 0.0..lane_count)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .x_label_formatter(&|v| format_number(*v))
        .y_labels(0)
        .disable_y_mesh()
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let shade = RGBColor(150, 150, 150).mix(0.35);
    chart.draw_series(view.rebalances.iter().map(|r| {
        let start = r.start_ns as f64 / 1e9;
        let end = (r.end_ns as f64 / 1e9).max(start + view.duration_s / 400.0);
        Rectangle::new([(start, 0.0), (end, lane_count)], shade.filled())
    }))?;
    chart.draw_series(view.spans.iter().map(|span| {
        let (low, high) = layout.band(span);
        let from = span.from_ns as f64 / 1e9;
        let to = span.to_ns.map_or(view.duration_s, |ns| ns as f64 / 1e9);
        let colour = layout.colour(span.topic, span.partition);
        Rectangle::new([(from, low), (to, high)], colour.filled())
    }))?;
    chart.draw_series(
        layout
            .lanes
            .iter()
            .enumerate()
            .map(|(index, (group, member))| {
                let text = format!("{} / {member}", (view.group_name)(*group));
                Text::new(
                    text,
                    (view.duration_s * 0.005, index as f64 + 0.98),
                    (FONT, 12),
                )
            }),
    )?;
    if layout.lanes.is_empty() {
        let note = "no partition ownership recorded (no consumer groups)";
        chart.draw_series(std::iter::once(Text::new(
            note,
            (view.duration_s * 0.2, 0.5),
            (FONT, 16),
        )))?;
    }
    draw_ownership_legend(&legend, &layout, view, !view.rebalances.is_empty())?;
    root.present()?;
    Ok(())
}

/// The legend, in its own column right of the plot so it never hides a lane.
fn draw_ownership_legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    layout: &Layout,
    view: &OwnershipView,
    rebalances: bool,
) -> DrawResult {
    let mut entries: Vec<(String, RGBAColor)> = layout
        .partitions
        .iter()
        .map(|&(t, p)| (format!("{}-{p}", (view.topic_name)(t)), layout.colour(t, p)))
        .collect();
    if rebalances {
        entries.insert(
            0,
            ("rebalance".to_string(), RGBColor(150, 150, 150).mix(0.35)),
        );
    }
    let rows = ((area.dim_in_pixel().1 as usize).saturating_sub(60) / 16).max(1);
    for (index, (label, colour)) in entries.iter().take(rows).enumerate() {
        let y = 50 + 16 * index as i32;
        area.draw(&Rectangle::new([(4, y), (20, y + 10)], colour.filled()))?;
        area.draw(&Text::new(label.clone(), (26, y - 1), (FONT, 12)))?;
    }
    if entries.len() > rows {
        let y = 50 + 16 * rows as i32;
        let more = format!("... {} more", entries.len() - rows);
        area.draw(&Text::new(more, (26, y), (FONT, 12)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_with_text_labels() {
        let series = [Series::new("a<b", vec![(0.0, 1.0), (1.0, 2.0)])];
        let axes = Axes {
            title: "T",
            x: "time (s)",
            y: "y (ms)",
            categories: &[],
        };
        let svg = line_chart(&axes, &series, Style::Lines);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("time (s)"));
        assert!(svg.contains("a&lt;b"));
    }

    #[test]
    fn empty_and_flat_series_still_draw() {
        let axes = Axes {
            title: "T",
            x: "x",
            y: "y",
            categories: &[],
        };
        assert!(line_chart(&axes, &[], Style::Lines).contains("</svg>"));
        let flat = [Series::new("f", vec![(0.0, 0.0), (0.0, 0.0)])];
        assert!(!line_chart(&axes, &flat, Style::Lines).contains("not drawn"));
        assert!(!cdf_chart(&[]).contains("not drawn"));
    }

    fn span(member: &str, partition: u32, from_s: u64, to_s: Option<u64>) -> OwnershipSpan {
        OwnershipSpan {
            group: 0,
            member: member.to_string(),
            topic: 0,
            partition,
            from_ns: from_s * 1_000_000_000,
            to_ns: to_s.map(|s| s * 1_000_000_000),
        }
    }

    /// Writes the chart to $KAFKASIM_CHART_OUT when set, to look at it.
    #[test]
    fn ownership_draws_lanes_bands_and_rebalances() {
        let spans = [
            span("c0", 0, 0, Some(30)),
            span("c0", 1, 0, None),
            span("c1", 2, 0, None),
            span("c1", 0, 32, None),
        ];
        let rebalances = [RebalanceRecord {
            group: 0,
            generation: 2,
            start_ns: 30_000_000_000,
            end_ns: 32_000_000_000,
            members: 2,
            revoked: 1,
            assigned: 1,
        }];
        let view = OwnershipView {
            spans: &spans,
            rebalances: &rebalances,
            duration_s: 60.0,
            topic_name: &|t| format!("t{t}"),
            group_name: &|g| format!("g{g}"),
        };
        let mut svg = String::new();
        draw_ownership(&mut svg, &view).expect("draws");
        assert!(svg.contains("g0 / c1") && svg.contains("t0-2") && svg.contains("rebalance"));
        if let Ok(path) = std::env::var("KAFKASIM_CHART_OUT") {
            std::fs::write(path, &svg).expect("write chart");
        }
    }
}
