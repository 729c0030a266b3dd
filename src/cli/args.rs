//! Command-line arguments (clap derive). The doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// kafkasim: a deterministic simulator of Kafka producers, brokers and consumer groups.
#[derive(Debug, Parser)]
#[command(name = "kafkasim", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate one variant of a scenario, print a summary and write its report.
    Run(RunArgs),
    /// Run every variant on the same seeds; print one column per variant with the difference to
    /// the first, and write a report per variant plus overlaid charts.
    Compare(CompareArgs),
    /// Run the cartesian product of a grid of overrides in parallel; write sweep.csv, sweep.json,
    /// the Pareto front of throughput against p99 latency, and the best point for an objective.
    Sweep(SweepArgs),
    /// Run the scenario under many seeds, each with a random fault schedule from its `check`
    /// section; verify the delivery guarantees its configs promise and print every violation
    /// with the records involved, the seed and a command that reproduces it. Exit 1 on any.
    Check(CheckArgs),
    /// Parse and resolve a scenario file; print every problem, or the resolved scenario as JSON.
    Validate(ValidateArgs),
    /// Run one assignor on one input (JSON in, JSON out).
    Assign(AssignArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (JSON).
    pub file: PathBuf,
    /// Seed for every random draw (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Report folder (default: reports/<scenario name>/, or reports/<scenario name>/<variant>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a setting: SCOPE:NAME:KEY=VALUE, e.g. producer:*:linger.ms=20. Repeatable.
    #[arg(long = "set", value_name = "OVERRIDE")]
    pub overrides: Vec<String>,
    /// The variant to run (default: the first, or the base scenario if it has none).
    #[arg(long)]
    pub variant: Option<String>,
    /// Print run statistics (events, events per second, simulated seconds per wall second, peak memory).
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The scenario file (JSON).
    pub file: PathBuf,
    /// Override a setting before resolving: SCOPE:NAME:KEY=VALUE. Repeatable.
    #[arg(long = "set", value_name = "OVERRIDE")]
    pub overrides: Vec<String>,
    /// Resolve this variant instead of the base scenario.
    #[arg(long)]
    pub variant: Option<String>,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// The assignment input (JSON): assignor, topics, members.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The scenario file (JSON), with `variants`.
    pub file: PathBuf,
    /// Number of seeds (the scenario's seed and the next N-1); more than one gives means and
    /// 95% confidence intervals.
    #[arg(long, default_value_t = 1)]
    pub seeds: u32,
    /// Report folder (default: reports/<scenario name>/compare/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a setting in every variant: SCOPE:NAME:KEY=VALUE. Repeatable.
    #[arg(long = "set", value_name = "OVERRIDE")]
    pub overrides: Vec<String>,
    /// Parallel runs (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file (JSON).
    pub file: PathBuf,
    /// A swept setting: SCOPE:NAME:KEY=V1,V2,... Repeatable; the sweep is the cartesian product.
    #[arg(long = "grid", value_name = "OVERRIDE_LIST", num_args = 1.., required_unless_present = "merge")]
    pub grid: Vec<String>,
    /// Number of seeds per point (the scenario's seed and the next N-1).
    #[arg(long, default_value_t = 1)]
    pub seeds: u32,
    /// Parallel runs (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output folder (default: reports/<scenario name>/sweep/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a setting at every point: SCOPE:NAME:KEY=VALUE. Repeatable.
    #[arg(long = "set", value_name = "OVERRIDE")]
    pub overrides: Vec<String>,
    /// What to optimise: max:FIGURE or min:FIGURE (a numeric key of metrics.json, dotted).
    #[arg(long)]
    pub objective: Option<String>,
    /// A condition the best point must meet, e.g. 'latency_ms.produce.p99<=20'. Repeatable.
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Run only the K-th of N slices of the points (1-based), e.g. 2/4; combine with --merge.
    #[arg(long)]
    pub shard: Option<String>,
    /// Combine the sweep.json of these shard folders instead of running.
    #[arg(long, num_args = 1..)]
    pub merge: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario file (JSON); its optional `check` section says which faults to draw.
    pub file: PathBuf,
    /// Number of seeds (the scenario's seed and the next N-1), each with its own fault schedule.
    #[arg(long, default_value_t = 20)]
    pub seeds: u32,
    /// Output folder for check.json and the reproducing scenario files (default:
    /// reports/<scenario name>/check/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Parallel runs (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
}
