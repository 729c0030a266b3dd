//! The performance benchmark (release mode: `cargo bench`, or `cargo bench -- NAME...` for the
//! bench scenarios whose names contain NAME). For each `scenarios/bench-*.json`, and each of its
//! variants, it runs the simulation in a child process, so that peak memory is that run's alone,
//! and prints wall time, events, events per second, simulated seconds per wall second and peak
//! resident memory. It then runs a bare loop on the same event queue type (pop one event, push
//! one a random 0–10 ms later, with as many events pending as the simulation had on average) and
//! prints the simulation's events per second as a fraction of the bare loop's. It measures and
//! reports; it asserts nothing about speed.

use kafkasim::ids::ProducerId;
use kafkasim::world::{Event, Queue, World};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const CHILD_FLAG: &str = "--bench-child";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(position) = args.iter().position(|arg| arg == CHILD_FLAG) {
        let Some(path) = args.get(position + 1) else {
            eprintln!("bench: {CHILD_FLAG} needs a scenario path");
            return ExitCode::from(2);
        };
        let variant = args.get(position + 2).filter(|name| !name.is_empty());
        return run_child(Path::new(path), variant.map(String::as_str));
    }
    // `cargo bench` passes `--bench`; other arguments select scenarios by name.
    let wanted: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let files = match bench_files(&wanted) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for file in files {
        let variants = std::fs::read_to_string(&file)
            .map_err(|error| error.to_string())
            .and_then(|text| {
                kafkasim::scenario::variant_names(&text, &file.display().to_string())
                    .map_err(|error| error.to_string())
            });
        let variants = match variants {
            Ok(names) if names.is_empty() => vec![String::new()],
            Ok(names) => names,
            Err(error) => {
                eprintln!("bench: {error}");
                failed = true;
                continue;
            }
        };
        for variant in variants {
            let status = Command::new(&exe)
                .arg(CHILD_FLAG)
                .arg(&file)
                .arg(&variant)
                .status();
            failed |= !status.is_ok_and(|status| status.success());
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `scenarios/bench-*.json`, sorted, keeping those whose name contains one of `wanted` (all if
/// `wanted` is empty).
fn bench_files(wanted: &[&String]) -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let entries = std::fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("");
            name.starts_with("bench-")
                && path.extension().is_some_and(|ext| ext == "json")
                && (wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str())))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn run_child(path: &Path, variant: Option<&str>) -> ExitCode {
    let scenario = match kafkasim::scenario::load(path, &[], variant) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::from(2);
        }
    };
    let label = match variant {
        Some(variant) => format!("{} [{variant}]", scenario.name),
        None => scenario.name.clone(),
    };
    let mut world = match World::build(&scenario, scenario.seed) {
        Ok(world) => world,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::from(2);
        }
    };
    #[allow(clippy::disallowed_methods)]
    let start = std::time::Instant::now();
    if let Err(exceeded) = world.run() {
        eprintln!("bench: {label}: limit {} exceeded", exceeded.limit);
        return ExitCode::FAILURE;
    }
    let wall_s = start.elapsed().as_secs_f64().max(1e-9);
    let simulated_s = scenario.duration_ns as f64 / 1e9;
    let events_per_s = world.events as f64 / wall_s;
    let mean_pending = world.mean_pending_events().round().max(1.0) as usize;
    let bare_per_s = bare_loop_events_per_s(mean_pending, 20_000_000);
    let memory = peak_memory_mib().map_or("unknown".to_string(), |mib| format!("{mib:.1} MiB"));
    println!(
        "{label}: wall {wall_s:.2} s, events {}, events/s {events_per_s:.0}, simulated s per wall s \
         {:.2}, peak memory {memory}; bare queue loop ({mean_pending} pending) {bare_per_s:.0} \
         events/s, ratio {:.3}",
        world.events,
        simulated_s / wall_s,
        events_per_s / bare_per_s
    );
    print!("{}", world.event_counts.summary(10));
    ExitCode::SUCCESS
}

/// Pops and pushes `events` events on the simulation's queue type holding `pending` events, each
/// pushed a pseudo-random 0–10 ms after the one popped. Returns events per wall second.
fn bare_loop_events_per_s(pending: usize, events: u64) -> f64 {
    let mut queue = Queue::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_delay_ns = move || {
        // xorshift64*: cheap and fixed; it only spreads the times.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 10_000_000
    };
    for _ in 0..pending {
        queue.schedule(next_delay_ns(), Event::ProducerWake(ProducerId(0)));
    }
    #[allow(clippy::disallowed_methods)]
    let start = std::time::Instant::now();
    for _ in 0..events {
        let Some((at_ns, event)) = queue.pop() else {
            break;
        };
        queue.schedule(at_ns + next_delay_ns(), event);
    }
    events as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
