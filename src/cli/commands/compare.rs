//! `kafkasim compare FILE`: every variant on the same seeds (common random numbers: each
//! component draws from its own seeded stream, so variants see the same arrivals and keys).

use crate::cli::args::CompareArgs;
use crate::cli::commands::parallel::{jobs, run_all, simulate};
use crate::cli::commands::read_input;
use crate::error::UserError;
use crate::report::compare::{compare_output, VariantRuns};
use crate::scenario::model::Scenario;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn execute(args: &CompareArgs) -> Result<ExitCode, UserError> {
    let text = read_input(&args.file)?;
    let source = args.file.display().to_string();
    let mut names: Vec<Option<String>> = crate::scenario::variant_names(&text, &source)?
        .into_iter()
        .map(Some)
        .collect();
    if names.is_empty() {
        // No variants: compare has one column, the base scenario.
        names.push(None);
    }
    let scenarios = names
        .iter()
        .map(|name| crate::scenario::load_str(&text, &source, &args.overrides, name.as_deref()))
        .collect::<Result<Vec<Scenario>, _>>()?;
    let seeds = seed_list(scenarios[0].seed, args.seeds)?;
    let tasks: Vec<(&Scenario, u64)> = scenarios
        .iter()
        .flat_map(|scenario| seeds.iter().map(move |&seed| (scenario, seed)))
        .collect();
    let mut outputs = run_all(&tasks, jobs(args.jobs)?, |(scenario, seed)| {
        simulate(scenario, *seed)
    })?
    .into_iter();
    let variants: Vec<VariantRuns> = names
        .iter()
        .map(|name| VariantRuns {
            name: name.clone().unwrap_or_else(|| "base".to_string()),
            runs: outputs.by_ref().take(seeds.len()).collect(),
        })
        .collect();
    let output = compare_output(&scenarios[0].name, &seeds, &variants);
    let out_dir = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(&scenarios[0].name)
            .join("compare")
    });
    crate::report::write_files(&out_dir, &output.files)?;
    let mut text = output.table;
    text.push_str(&format!("report: {}\n", out_dir.display()));
    crate::cli::print_stdout(&text);
    Ok(ExitCode::SUCCESS)
}

/// `--seeds N`: the scenario's seed and the next N-1.
pub fn seed_list(first: u64, count: u32) -> Result<Vec<u64>, UserError> {
    if count == 0 {
        return Err(UserError::field(
            "--seeds",
            0,
            "a number of seeds, 1 or more",
        ));
    }
    Ok((0..u64::from(count))
        .map(|i| first.wrapping_add(i))
        .collect())
}
