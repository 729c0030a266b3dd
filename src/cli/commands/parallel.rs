//! Runs many simulations on worker threads (`compare`, `sweep`). Each world is built and run
//! entirely inside its thread (a `World` holds `Rc`s), and results are stored by task index, so
//! the output never depends on `--jobs` or on which thread finishes first.

use crate::cli::commands::run::WallTimer;
use crate::error::UserError;
use crate::report::{self, RunOutput};
use crate::scenario::model::Scenario;
use crate::world::World;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Simulates one scenario with one seed and turns it into a report (not yet written).
pub fn simulate(scenario: &Scenario, seed: u64) -> Result<RunOutput, UserError> {
    let mut world = World::build(scenario, seed)?;
    let timer = WallTimer::start();
    world.run().map_err(|exceeded| {
        UserError::new(format!(
            "the run stopped at the limit {} = {} (seed {seed}); raise limits.{} in the scenario if this is intended",
            exceeded.limit, exceeded.value, exceeded.limit
        ))
    })?;
    Ok(report::run_output(&world, timer.elapsed_ms()))
}

/// `--jobs`, defaulting to the number of cores; 0 is a user error.
pub fn jobs(requested: Option<usize>) -> Result<usize, UserError> {
    match requested {
        Some(0) => Err(UserError::field(
            "--jobs",
            0,
            "a number of threads, 1 or more",
        )),
        Some(jobs) => Ok(jobs),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Applies `work` to every task on `jobs` threads; results in task order. The first error (in
/// task order) wins, so error messages are deterministic too.
pub fn run_all<T, R, F>(tasks: &[T], jobs: usize, work: F) -> Result<Vec<R>, UserError>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Result<R, UserError> + Sync,
{
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, UserError>>>> =
        Mutex::new((0..tasks.len()).map(|_| None).collect());
    let progress = std::io::stdout().is_terminal();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, tasks.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(task) = tasks.get(index) else {
                    break;
                };
                let result = work(task);
                results
                    .lock()
                    .expect("no worker panics while holding the lock")[index] = Some(result);
                let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                if progress {
                    draw_progress(finished, tasks.len());
                }
            });
        }
    });
    if progress && !tasks.is_empty() {
        eprintln!();
    }
    let results = results.into_inner().expect("workers are done");
    results
        .into_iter()
        .map(|slot| slot.expect("every task ran"))
        .collect()
}

/// A one-line progress bar on stderr (only when stdout is a terminal, so pipes stay clean).
fn draw_progress(finished: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = finished * WIDTH / total.max(1);
    eprint!(
        "\r[{}{}] {finished}/{total} runs",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
}
