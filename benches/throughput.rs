//! The performance benchmark (release mode, `cargo bench`): runs `scenarios/bench-throughput.json`
//! and prints wall time, events, events per second and simulated seconds per wall second.
//! Not a timed test: it measures and reports, and asserts nothing about speed.

fn main() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench-throughput.json");
    let scenario = match kafkasim::scenario::load(&path, &[], None) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::exit(2);
        }
    };
    let mut world = match kafkasim::world::World::build(&scenario, scenario.seed) {
        Ok(world) => world,
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::exit(2);
        }
    };
    #[allow(clippy::disallowed_methods)]
    let start = std::time::Instant::now();
    if let Err(exceeded) = world.run() {
        eprintln!("bench: limit {} exceeded", exceeded.limit);
        std::process::exit(1);
    }
    let wall = start.elapsed().as_secs_f64();
    let simulated = scenario.duration_ns as f64 / 1e9;
    println!(
        "bench-throughput: wall {wall:.3} s, events {}, events/s {:.0}, simulated s per wall s {:.1}",
        world.events,
        world.events as f64 / wall,
        simulated / wall
    );
}
