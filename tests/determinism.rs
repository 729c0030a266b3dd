//! Goal: the same scenario and seed give byte-identical metrics.json (wall time aside), and a
//! different seed gives different figures.
//! Method: run the shipped quickstart scenario (shortened) twice in one process, and once more
//! with another seed, through the library.

use kafkasim::report::metrics_json;
use kafkasim::world::World;
use std::path::Path;

fn metrics_text(seed: u64) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.json");
    let overrides = vec!["cluster::duration_ms=10000".to_string()];
    let scenario = kafkasim::scenario::load(&path, &overrides, None).expect("quickstart resolves");
    let mut world = World::build(&scenario, seed).expect("builds");
    world.run().expect("no limit");
    serde_json::to_string_pretty(&metrics_json(&world, 0)).expect("serializes")
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let first = metrics_text(1);
    let second = metrics_text(1);
    assert_eq!(first, second);
    let other = metrics_text(2);
    assert_ne!(first, other);
}
