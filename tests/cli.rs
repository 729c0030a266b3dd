//! Goal: the binary's `run` command works end to end: it prints the summary, writes
//! metrics.json into the report folder, exits 0; and a bad file exits 2 with no report.
//! Method: run the built binary on the shipped quickstart scenario (shortened with --set) in a
//! temporary folder.

use super::util::TempDir;
use std::process::Command;

fn kafkasim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
}

/// `kafkasim run` on the shipped quickstart scenario shortened to 2 s, into `out`.
fn run_short_quickstart(out: &std::path::Path, extra_args: &[&str]) -> std::process::Output {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.json");
    kafkasim()
        .args(["run", scenario, "--set", "cluster::duration_ms=2000"])
        .args(extra_args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("binary runs")
}

#[test]
fn run_writes_a_report_and_prints_a_summary() {
    let dir = TempDir::new("cli-run");
    let out = dir.0.join("report");
    let output = run_short_quickstart(&out, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("records acked"), "{stdout}");
    let text = std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json written");
    let metrics: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(metrics["schema_version"], 1);
    assert_eq!(metrics["scenario"], "quickstart");
    assert!(metrics["delivery"]["acked"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn stats_break_every_event_down_by_kind() {
    let dir = TempDir::new("cli-stats");
    let output = run_short_quickstart(&dir.0.join("report"), &["--stats"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let events: u64 = (stdout.lines())
        .find_map(|line| line.strip_prefix("stats: "))
        .and_then(|stats| {
            stats
                .split(", ")
                .find_map(|part| part.strip_prefix("events "))
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {stdout}"));
    let kinds: Vec<(u64, &str)> = (stdout.lines())
        .skip_while(|line| *line != "events by kind:")
        .skip(1)
        .map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let count = fields.next().and_then(|count| count.parse().ok());
            (count.unwrap_or_else(|| panic!("bad line {line:?}")), line)
        })
        .collect();
    // Every event is counted once, the most frequent kind first (the rest share the last
    // line); fetch round trips lead.
    assert_eq!(kinds.iter().map(|(count, _)| count).sum::<u64>(), events);
    let named = &kinds[..kinds.len() - 1];
    assert!(
        named.windows(2).all(|pair| pair[0].0 >= pair[1].0),
        "{stdout}"
    );
    assert!(
        kinds[kinds.len() - 1].1.ends_with("other kinds"),
        "{stdout}"
    );
    assert!(kinds[0].1.contains("Fetch"), "{stdout}");
}

#[test]
fn a_bad_scenario_exits_2_and_writes_nothing() {
    let dir = TempDir::new("cli-bad");
    let file = dir.0.join("bad.json");
    std::fs::write(&file, "{ \"name\": \"bad\", \"duration_ms\": -1 }").expect("write");
    let out = dir.0.join("report");
    let output = kafkasim()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(!out.exists(), "no partial report");
    assert!(String::from_utf8_lossy(&output.stderr).contains("duration_ms"));
}

#[test]
fn add_partitions_runs() {
    // Once refused as unmodelled; now a partition increase runs like any other action.
    let dir = TempDir::new("cli-add-partitions");
    let file = dir.0.join("grow.json");
    let scenario = serde_json::json!({
        "name": "grow", "duration_ms": 1000,
        "topics": [ { "name": "t", "partitions": 1 } ],
        "timeline": [ { "at_ms": 10, "action": "add-partitions", "topic": "t", "partitions": 2 } ]
    });
    std::fs::write(&file, scenario.to_string()).expect("write");
    let output = kafkasim()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.0.join("r"))
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
