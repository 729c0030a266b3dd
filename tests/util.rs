//! Helpers shared by the integration tests.

use kafkasim::metrics::TraceEntry;
use kafkasim::scenario::model::Scenario;
use kafkasim::world::World;
use serde_json::Value;

/// Resolves a scenario given as JSON, panicking with the resolver's message if it is invalid.
pub fn scenario(json: &Value) -> Scenario {
    let text = serde_json::to_string(json).expect("test JSON serializes");
    kafkasim::scenario::load_str(&text, "test", &[], None).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs a scenario with the batch trace on.
pub fn run_traced(scenario: &Scenario) -> World {
    let mut world = World::build(scenario, scenario.seed).unwrap_or_else(|error| panic!("{error}"));
    world.metrics.trace = Some(Vec::new());
    world.run().expect("no limit reached");
    world
}

pub fn trace(world: &World) -> &[TraceEntry] {
    world.metrics.trace.as_deref().unwrap_or(&[])
}

/// The produce requests of a run as (time, [(partition, records)]).
pub fn requests(world: &World) -> Vec<(u64, Vec<(u32, u32)>)> {
    trace(world)
        .iter()
        .filter_map(|entry| match entry {
            TraceEntry::RequestSent { at_ns, batches, .. } => Some((*at_ns, batches.clone())),
            _ => None,
        })
        .collect()
}

/// A temporary folder for one test, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("kafkasim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
