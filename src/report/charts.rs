//! SVG charts of one run (plotters, SVG backend, no system fonts needed).

use crate::world::World;

/// (file name, SVG text) for each chart of a run.
pub fn run_charts(_world: &World) -> Vec<(String, String)> {
    Vec::new()
}
