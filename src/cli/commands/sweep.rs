//! `kafkasim sweep FILE --grid ...`: the cartesian product of the grid, run in parallel, then
//! `sweep.csv`, `sweep.json`, charts and the best point. `--shard K/N` runs a slice of the points;
//! `--merge` combines the slices' `sweep.json` files.

use crate::cli::args::SweepArgs;
use crate::cli::commands::compare::seed_list;
use crate::cli::commands::parallel::{jobs, run_all, simulate};
use crate::cli::commands::read_input;
use crate::error::UserError;
use crate::report::sweep::{self as output, Sweep, SweepRow};
use crate::scenario::overrides::{parse_grid, Override};
use std::path::PathBuf;
use std::process::ExitCode;

/// One point of the grid: its index and one override per parameter.
struct Point {
    index: usize,
    overrides: Vec<Override>,
}

pub fn execute(args: &SweepArgs) -> Result<ExitCode, UserError> {
    let objective = args
        .objective
        .as_deref()
        .map(output::parse_objective)
        .transpose()?;
    let constraints = args
        .constraints
        .iter()
        .map(|c| output::parse_constraint(c))
        .collect::<Result<Vec<_>, _>>()?;
    let shard = args.shard.as_deref().map(output::parse_shard).transpose()?;
    let text = read_input(&args.file)?;
    let source = args.file.display().to_string();
    let base = crate::scenario::load_str(&text, &source, &args.overrides, None)?;
    // Check the figure names before any run: a world that has not run has every key, as zeros.
    let unrun = crate::world::World::build(&base, base.seed)?;
    let names = crate::report::figures(&crate::report::metrics_json(&unrun, 0));
    output::check_names(&names, objective.as_ref(), &constraints)?;
    let sweep = if args.merge.is_empty() {
        run_sweep(args, &text, &source, shard)?
    } else {
        merge_shards(&args.merge)?
    };
    let result = output::sweep_output(&sweep, objective.as_ref(), &constraints)?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let mut dir = PathBuf::from("reports").join(&base.name).join("sweep");
        if let Some((k, n)) = shard {
            dir.push(format!("shard-{k}-of-{n}"));
        }
        dir
    });
    crate::report::write_files(&out_dir, &result.files)?;
    let mut printed = result.text;
    printed.push_str(&format!("report: {}\n", out_dir.display()));
    crate::cli::print_stdout(&printed);
    Ok(ExitCode::SUCCESS)
}

/// Every `--grid` parsed, with a message that names the argument.
fn parse_parameters(grid: &[String]) -> Result<Vec<(String, Vec<Override>)>, UserError> {
    grid.iter()
        .map(|item| {
            let values = parse_grid(item)
                .map_err(|error| UserError::new(format!("--grid \"{item}\": {error}")))?;
            let target = item.split_once('=').map_or(item.as_str(), |(t, _)| t);
            Ok((target.to_string(), values))
        })
        .collect()
}

/// Most runs one sweep may ask for (style.md habit 10: limits on everything), so a typo in a grid
/// cannot start a run that never ends.
const RUNS_MAX: u64 = 100_000;

fn check_size(parameters: &[(String, Vec<Override>)], seeds: u32) -> Result<(), UserError> {
    let runs = parameters
        .iter()
        .try_fold(u64::from(seeds), |runs, (_, values)| {
            runs.checked_mul(values.len() as u64)
        });
    match runs {
        Some(runs) if runs <= RUNS_MAX => Ok(()),
        _ => Err(UserError::new(format!(
            "--grid: the grid times --seeds asks for more than {RUNS_MAX} runs; use fewer values or seeds"
        ))),
    }
}

/// The cartesian product, the last parameter varying fastest.
fn points(parameters: &[(String, Vec<Override>)]) -> Vec<Point> {
    let mut combos: Vec<Vec<Override>> = vec![Vec::new()];
    for (_, values) in parameters {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |value| {
                    let mut next = combo.clone();
                    next.push(value.clone());
                    next
                })
            })
            .collect();
    }
    combos
        .into_iter()
        .enumerate()
        .map(|(index, overrides)| Point { index, overrides })
        .collect()
}

/// The grid value as written (`5`, `lz4`), for tables and properties.
fn setting(item: &Override) -> String {
    item.text.split_once('=').map_or("", |(_, v)| v).to_string()
}

fn run_sweep(
    args: &SweepArgs,
    text: &str,
    source: &str,
    shard: Option<(usize, usize)>,
) -> Result<Sweep, UserError> {
    let parameters = parse_parameters(&args.grid)?;
    check_size(&parameters, args.seeds)?;
    let all = points(&parameters);
    let chosen: Vec<&Point> = all
        .iter()
        .filter(|p| shard.is_none_or(|s| output::in_shard(p.index, s)))
        .collect();
    let base = crate::scenario::load_str(text, source, &args.overrides, None)?;
    let seeds = seed_list(base.seed, args.seeds)?;
    // Resolve every point first, so a bad value fails before any run starts.
    let mut tasks = Vec::new();
    for point in &chosen {
        let mut list = args.overrides.clone();
        list.extend(point.overrides.iter().map(|o| o.text.clone()));
        let scenario = crate::scenario::load_str(text, source, &list, None)?;
        for &seed in &seeds {
            tasks.push((point, scenario.clone(), seed));
        }
    }
    let outputs = run_all(&tasks, jobs(args.jobs)?, |(_, scenario, seed)| {
        simulate(scenario, *seed)
    })?;
    let rows = tasks
        .iter()
        .zip(outputs)
        .map(|((point, _, seed), run)| SweepRow {
            point: point.index,
            seed: *seed,
            settings: point.overrides.iter().map(setting).collect(),
            figures: crate::report::figures(&run.metrics),
        })
        .collect();
    Ok(Sweep {
        scenario: base.name,
        parameters: parameters.into_iter().map(|(target, _)| target).collect(),
        rows,
    })
}

fn merge_shards(dirs: &[PathBuf]) -> Result<Sweep, UserError> {
    let parts = dirs
        .iter()
        .map(|dir| {
            let path = dir.join("sweep.json");
            let text = read_input(&path)?;
            let source = path.display().to_string();
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| UserError::new(format!("--merge {source}: {error}")))?;
            output::from_json(&value, &source)
        })
        .collect::<Result<Vec<_>, _>>()?;
    output::merge(parts)
}
