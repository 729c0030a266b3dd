//! `kafkasim check FILE`: run the scenario under N seeds with drawn faults, verify its delivery
//! guarantees, print every violation with a reproducing command, write check.json and the
//! reproducing files. Exit 1 when anything is violated.

use crate::check::Plan;
use crate::cli::args::CheckArgs;
use crate::cli::commands::compare::seed_list;
use crate::cli::commands::parallel::{jobs, run_all};
use crate::cli::commands::read_input;
use crate::error::UserError;
use crate::report::check::check_output;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when a delivery property is violated (interface.md).
const EXIT_VIOLATED: u8 = 1;

pub fn execute(args: &CheckArgs) -> Result<ExitCode, UserError> {
    let text = read_input(&args.file)?;
    let plan = Plan::from_text(&text, &args.file.display().to_string())?;
    let seeds = seed_list(plan.base.seed, args.seeds)?;
    let outcomes = run_all(&seeds, jobs(args.jobs)?, |&seed| plan.run_seed(seed))?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&plan.base.name).join("check"));
    let output = check_output(&plan.base.name, &plan.spec, &outcomes, &out_dir);
    crate::report::write_files(&out_dir, &output.files)?;
    let mut printed = output.text;
    printed.push_str(&format!("report: {}\n", out_dir.display()));
    crate::cli::print_stdout(&printed);
    Ok(if output.violated {
        ExitCode::from(EXIT_VIOLATED)
    } else {
        ExitCode::SUCCESS
    })
}
