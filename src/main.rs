//! The `kafkasim` binary: parse arguments, call `cli::run`, map the result to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = kafkasim::cli::args::Cli::parse();
    kafkasim::cli::run(args)
}
