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
