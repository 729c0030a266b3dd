//! `kafkasim validate FILE [--set OVERRIDE]... [--variant NAME]`: parse and resolve the scenario,
//! then print the resolved scenario (every default filled, every unit converted) as JSON, or
//! return every problem found (exit 2).

use crate::cli::args::ValidateArgs;
use crate::error::UserError;
use std::process::ExitCode;

pub fn execute(args: &ValidateArgs) -> Result<ExitCode, UserError> {
    let scenario = crate::scenario::load(&args.file, &args.overrides, args.variant.as_deref())?;
    let mut text = serde_json::to_string_pretty(&scenario)
        .map_err(|error| UserError::new(format!("cannot print the resolved scenario: {error}")))?;
    text.push('\n');
    crate::cli::print_stdout(&text);
    Ok(ExitCode::SUCCESS)
}
