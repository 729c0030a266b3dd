//! Goal: reports people read are correct. Every SVG and index.html is well-formed XML and the
//! page links only files that exist; `compare` and `sweep` give identical files whatever `--jobs`
//! is; shards merge into the full sweep; the Pareto front and the `--objective/--constraint` pick
//! match a brute-force reading of `sweep.csv`; bad arguments exit 2 naming the argument.
//! Method: run the built binary on the shipped tune-producer-batching scenario, shortened with
//! --set, in temporary folders, and parse what it writes.

use super::util::TempDir;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scenarios/tune-producer-batching.json"
);

/// Short runs: half a second of simulated time at a tenth of the rate.
const SHORT: [&str; 4] = [
    "--set",
    "cluster::duration_ms=500",
    "--set",
    "producer:*:rate_per_sec=3000",
];

fn kafkasim(args: &[&str], out: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("binary runs");
    assert!(
        output.status.success(),
        "kafkasim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a file as XML and returns every `href`/`src` it references.
fn check_xml(path: &Path) -> Vec<String> {
    let text = read(path);
    let document = roxmltree::Document::parse_with_options(
        &text,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{} is not well-formed: {e}", path.display()));
    document
        .descendants()
        .flat_map(|node| [node.attribute("href"), node.attribute("src")])
        .flatten()
        .map(str::to_string)
        .collect()
}

/// Every .svg and index.html under `dir` parses; every link from a page points to a file.
fn check_folder(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("report folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            check_folder(&path);
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".svg") || name.ends_with(".html") {
            for link in check_xml(&path) {
                assert!(dir.join(&link).exists(), "{name} links to missing {link}");
            }
        }
    }
}

/// All files under `dir`, by relative path, without metrics.json's wall_ms (wall clock).
fn contents(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text: String = read(&path)
                    .lines()
                    .filter(|line| !line.contains("\"wall_ms\""))
                    .collect::<Vec<_>>()
                    .join("\n");
                let relative = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                files.insert(relative, text);
            }
        }
    }
    files
}

#[test]
fn run_writes_every_chart_as_valid_svg_and_a_page_with_working_links() {
    let dir = TempDir::new("reports-run");
    let out = dir.0.join("run");
    let mut args = vec!["run", SCENARIO];
    args.extend(SHORT);
    kafkasim(&args, &out);
    for chart in [
        "throughput.svg",
        "latency.svg",
        "lag.svg",
        "ownership.svg",
        "latency-cdf.svg",
    ] {
        let svg = read(&out.join(chart));
        assert!(svg.contains("<text"), "{chart} has text labels");
        let page = read(&out.join("index.html"));
        assert!(
            page.contains(&format!("id=\"{chart}\"")),
            "index.html shows {chart}"
        );
    }
    assert!(read(&out.join("index.html")).contains("tune-producer-batching"));
    check_folder(&out);
}

#[test]
fn compare_is_identical_whatever_the_jobs_and_writes_a_report_per_variant() {
    let dir = TempDir::new("reports-compare");
    let runs: Vec<(String, BTreeMap<String, String>)> = ["1", "3"]
        .iter()
        .map(|jobs| {
            let out = dir.0.join(format!("jobs-{jobs}"));
            let mut args = vec!["compare", SCENARIO, "--seeds", "2", "--jobs", jobs];
            args.extend(SHORT);
            let output = kafkasim(&args, &out);
            check_folder(&out);
            let stdout = String::from_utf8_lossy(&output.stdout).to_string();
            let stdout = stdout
                .lines()
                .filter(|l| !l.starts_with("report:"))
                .collect();
            (stdout, contents(&out))
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    let (stdout, files) = &runs[0];
    assert!(stdout.contains("mean ± 95% CI"), "{stdout}");
    assert!(stdout.contains("linger-20-64k-lz4"), "{stdout}");
    for file in [
        "compare.json",
        "index.html",
        "throughput.svg",
        "latency-cdf.svg",
        "kafka-defaults/metrics.json",
        "linger-20-64k-lz4/index.html",
    ] {
        assert!(files.contains_key(file), "{file} in {:?}", files.keys());
    }
    let compare: serde_json::Value = serde_json::from_str(&files["compare.json"]).expect("JSON");
    let p99 = &compare["figures"]["latency_ms.produce.p99"]["linger-20-64k-lz4"];
    assert!(p99["ci95"].as_f64().is_some(), "{p99}");
}

fn sweep_args<'a>(jobs: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sweep",
        SCENARIO,
        "--grid",
        "producer:*:linger.ms=0,5,20",
        "--grid",
        "producer:*:compression.type=none,lz4",
        "--jobs",
        jobs,
    ];
    args.extend(SHORT);
    args.extend(extra);
    args
}

#[test]
fn sweep_is_identical_whatever_the_jobs_and_shards_merge_to_the_whole() {
    let dir = TempDir::new("reports-sweep-jobs");
    let one = dir.0.join("one");
    let four = dir.0.join("four");
    kafkasim(&sweep_args("1", &[]), &one);
    kafkasim(&sweep_args("4", &[]), &four);
    assert_eq!(contents(&one), contents(&four));
    check_folder(&one);
    let shards: Vec<String> = ["1/2", "2/2"]
        .iter()
        .map(|shard| {
            let out = dir.0.join(shard.replace('/', "-of-"));
            kafkasim(&sweep_args("2", &["--shard", shard]), &out);
            out.display().to_string()
        })
        .collect();
    let merged = dir.0.join("merged");
    let args = ["sweep", SCENARIO, "--merge", &shards[0], &shards[1]];
    kafkasim(&args, &merged);
    assert_eq!(
        read(&merged.join("sweep.csv")),
        read(&one.join("sweep.csv"))
    );
    assert_eq!(
        read(&merged.join("sweep.json")),
        read(&one.join("sweep.json"))
    );
}

/// Per point: the mean of each column over its seeds, from sweep.csv.
fn csv_points(csv: &str) -> (Vec<String>, BTreeMap<usize, BTreeMap<String, f64>>) {
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let mut sums: BTreeMap<usize, (BTreeMap<String, f64>, f64)> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let point: usize = fields[0].parse().expect("point");
        let entry = sums.entry(point).or_default();
        entry.1 += 1.0;
        for (name, field) in header.iter().zip(&fields) {
            if let Ok(value) = field.parse::<f64>() {
                *entry.0.entry(name.clone()).or_default() += value;
            }
        }
    }
    let means = sums
        .into_iter()
        .map(|(point, (sums, count))| {
            (
                point,
                sums.into_iter().map(|(k, v)| (k, v / count)).collect(),
            )
        })
        .collect();
    (header, means)
}

#[test]
fn pareto_front_and_best_point_match_a_brute_force_reading_of_the_csv() {
    let dir = TempDir::new("reports-sweep-pareto");
    let out = dir.0.join("sweep");
    let constraint = "latency_ms.produce.p99<=18";
    let extra = [
        "--seeds",
        "2",
        "--objective",
        "max:producer.records-per-request-avg",
        "--constraint",
        constraint,
    ];
    let output = kafkasim(&sweep_args("2", &extra), &out);
    let (_, points) = csv_points(&read(&out.join("sweep.csv")));
    assert_eq!(points.len(), 6);
    let (x, y) = ("producer.record-send-rate", "latency_ms.produce.p99");
    let front: Vec<usize> = points
        .iter()
        .filter(|(_, p)| {
            !points
                .values()
                .any(|q| q[x] >= p[x] && q[y] <= p[y] && (q[x] > p[x] || q[y] < p[y]))
        })
        .map(|(point, _)| *point)
        .collect();
    let best = points
        .iter()
        .filter(|(_, p)| p[y] <= 18.0)
        .max_by(|a, b| {
            let key = "producer.records-per-request-avg";
            a.1[key].total_cmp(&b.1[key]).then(b.0.cmp(a.0))
        })
        .map(|(point, _)| *point);
    let json: serde_json::Value =
        serde_json::from_str(&read(&out.join("sweep.json"))).expect("JSON");
    let mut reported: Vec<usize> = json["pareto_front"]
        .as_array()
        .expect("front")
        .iter()
        .filter_map(|v| v.as_u64().map(|v| v as usize))
        .collect();
    reported.sort();
    assert_eq!(reported, front);
    assert_eq!(json["best_point"].as_u64().map(|v| v as usize), best);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(best) = best {
        assert!(stdout.contains(&format!("best point {best} ")), "{stdout}");
        assert!(stdout.contains("linger.ms="), "{stdout}");
    }
    check_folder(&out);
}

#[test]
fn bad_sweep_arguments_exit_2_naming_the_argument() {
    let dir = TempDir::new("reports-bad-args");
    let cases: [(&[&str], &str); 5] = [
        (&["--grid", "producer:*:linger.ms"], "--grid"),
        (
            &["--grid", "producer:*:linger.ms=1", "--objective", "best"],
            "--objective",
        ),
        (
            &[
                "--grid",
                "producer:*:linger.ms=1",
                "--constraint",
                "p99 about 3",
            ],
            "--constraint",
        ),
        (
            &["--grid", "producer:*:linger.ms=1", "--shard", "3/2"],
            "--shard",
        ),
        (
            &[
                "--grid",
                "producer:*:linger.ms=1",
                "--objective",
                "max:nope",
            ],
            "--objective",
        ),
    ];
    for (extra, named) in cases {
        let out = dir.0.join("out");
        let output = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
            .args(["sweep", SCENARIO])
            .args(SHORT)
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(named), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?} wrote a report");
    }
}
