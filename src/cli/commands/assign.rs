//! `kafkasim assign FILE`: one assignor on one input, JSON in and JSON out.

use crate::cli::args::AssignArgs;
use crate::error::UserError;
use std::process::ExitCode;

pub fn execute(args: &AssignArgs) -> Result<ExitCode, UserError> {
    let input = super::read_input(&args.file)?;
    let output = crate::assignor::assign_json(&input)?;
    crate::cli::print_stdout(&output);
    Ok(ExitCode::SUCCESS)
}
