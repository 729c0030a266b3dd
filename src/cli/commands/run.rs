//! `kafkasim run FILE`: resolve one variant, simulate it, print the summary, write the report.

use crate::cli::args::RunArgs;
use crate::error::UserError;
use crate::report;
use crate::world::World;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn execute(args: &RunArgs) -> Result<ExitCode, UserError> {
    let scenario = crate::scenario::load(&args.file, &args.overrides, args.variant.as_deref())?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let mut dir = PathBuf::from("reports").join(&scenario.name);
        if let Some(variant) = &scenario.variant {
            dir.push(variant);
        }
        dir
    });
    let mut world = World::build(&scenario, seed)?;
    let timer = WallTimer::start();
    world.run().map_err(|exceeded| {
        UserError::new(format!(
            "the run stopped at the limit {} = {} (seed {seed}); raise limits.{} in the scenario if this is intended",
            exceeded.limit, exceeded.value, exceeded.limit
        ))
    })?;
    let wall_ms = timer.elapsed_ms();
    let output = report::run_output(&world, wall_ms);
    report::write_report(&out_dir, &output)?;
    let mut text = output.table;
    text.push_str(&format!("report: {}\n", out_dir.display()));
    if args.stats {
        text.push_str(&run_stats(
            world.events,
            scenario.duration_ns,
            timer.elapsed_secs(),
        ));
        text.push_str(&world.event_counts.summary(EVENT_KINDS_SHOWN));
    }
    crate::cli::print_stdout(&text);
    // The process ends here: freeing the world's millions of small allocations one by one
    // (logs, batches, per-record times) would take up to a tenth of a short run's time, and the
    // operating system reclaims the memory at exit anyway.
    std::mem::forget(world);
    Ok(ExitCode::SUCCESS)
}

/// How many event kinds `--stats` lists one by one (the rest share a line).
const EVENT_KINDS_SHOWN: usize = 10;

/// The one wall-clock reader (style.md habit 5 exception): it times the run for `wall_ms` and
/// `--stats`, and nothing it reads reaches the simulation.
pub(crate) struct WallTimer(std::time::Instant);

impl WallTimer {
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn start() -> Self {
        WallTimer(std::time::Instant::now())
    }

    fn elapsed_secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

fn run_stats(events: u64, duration_ns: u64, wall_secs: f64) -> String {
    let wall = wall_secs.max(1e-9);
    let simulated_secs = duration_ns as f64 / 1e9;
    format!(
        "stats: wall {:.3} s, events {}, events/s {:.0}, simulated s per wall s {:.1}, peak memory {}\n",
        wall,
        events,
        events as f64 / wall,
        simulated_secs / wall,
        peak_memory().unwrap_or_else(|| "unknown".to_string())
    )
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kib as f64 / 1024.0))
}
