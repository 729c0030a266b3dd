//! Delivery-semantics checking (`kafkasim check`): run a scenario under many seeds, each with a
//! random fault schedule drawn from its `check` section, and verify what its configs promise
//! about loss, duplicates, order and processing (kafka-semantics.md §7) over the delivery ledger
//! and the groups' history.
//!
//! `Plan` holds the scenario file's tree and the resolved `check` section; `Plan::run_seed` draws
//! one seed's faults, appends them to the tree's timeline (so the ordinary scenario layer resolves
//! them, and the tree is the reproducing scenario file as is), runs it, and verifies it.

pub mod faults;
pub mod guarantees;
pub mod spec;
pub mod verify;

use crate::error::UserError;
use crate::scenario::model::Scenario;
use crate::world::World;
use guarantees::Promise;
use serde_json::Value;
use spec::CheckSpec;
use verify::Anomaly;

/// A scenario ready to be checked under any seed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario file's JSON tree, without its `check` section.
    pub tree: Value,
    /// The scenario as resolved without the drawn faults (for names and counts).
    pub base: Scenario,
    pub spec: CheckSpec,
    /// The canary (tests only): plant the broker bug of `BrokerConfig::canary_skip_sequence_check`.
    pub canary_skip_sequence_check: bool,
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct SeedOutcome {
    pub seed: u64,
    /// The drawn fault schedule (timeline entries in the file's form).
    pub faults: Vec<Value>,
    /// The reproducing scenario file: the scenario with this seed, run length and faults.
    pub repro: Value,
    pub anomalies: Vec<Anomaly>,
    /// Simulated events (the run's size).
    pub events: u64,
}

impl SeedOutcome {
    pub fn violated(&self) -> bool {
        !self.anomalies.is_empty()
    }
}

impl Plan {
    /// Parses the scenario text (`source` names it in messages) and its `check` section.
    pub fn from_text(text: &str, source: &str) -> Result<Plan, UserError> {
        let base = crate::scenario::load_str(text, source, &[], None)?;
        let mut tree: Value = serde_json::from_str(text)
            .map_err(|error| UserError::new(format!("{source}: {error}")))?;
        let spec = CheckSpec::of_scenario(&tree, &base, source)?;
        if let Some(map) = tree.as_object_mut() {
            map.shift_remove("check");
        }
        Ok(Plan {
            tree,
            base,
            spec,
            canary_skip_sequence_check: false,
        })
    }

    /// The reproducing scenario tree for `seed` with `faults` appended to its timeline.
    pub fn repro_tree(&self, seed: u64, faults: &[Value]) -> Value {
        let mut tree = self.tree.clone();
        let map = tree.as_object_mut().expect("a scenario is a JSON object");
        let name = format!("{}-check-seed-{seed}", self.base.name);
        let description = format!(
            "{} [kafkasim check: seed {seed}, run length {} ms, {} drawn fault entries appended to the timeline]",
            self.base.description,
            self.spec.duration_ms,
            faults.len()
        );
        map.insert("name".to_string(), Value::from(name));
        map.insert("description".to_string(), Value::from(description));
        map.insert("seed".to_string(), Value::from(seed));
        map.insert(
            "duration_ms".to_string(),
            Value::from(self.spec.duration_ms),
        );
        let timeline = map
            .entry("timeline")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !timeline.is_array() {
            *timeline = Value::Array(Vec::new());
        }
        if let Value::Array(entries) = timeline {
            entries.extend(faults.iter().cloned());
        }
        tree
    }

    /// Draws `seed`'s faults, runs the scenario with them and verifies the run.
    pub fn run_seed(&self, seed: u64) -> Result<SeedOutcome, UserError> {
        self.run_faults(seed, faults::draw(&self.spec, &self.base, seed))
    }

    /// Runs the scenario under `seed` with the fault schedule `choices` make, and verifies it.
    pub fn run_choices(
        &self,
        seed: u64,
        choices: &mut impl faults::Choices,
    ) -> Result<SeedOutcome, UserError> {
        self.run_faults(seed, faults::draw_with(&self.spec, &self.base, choices))
    }

    fn run_faults(&self, seed: u64, faults: Vec<Value>) -> Result<SeedOutcome, UserError> {
        let repro = self.repro_tree(seed, &faults);
        let text = serde_json::to_string_pretty(&repro).expect("a JSON tree prints");
        let source = format!("{} (check seed {seed})", self.base.name);
        let mut scenario = crate::scenario::load_str(&text, &source, &[], None)?;
        scenario.cluster.config.canary_skip_sequence_check = self.canary_skip_sequence_check;
        let mut world = World::build(&scenario, seed)?;
        // A broken model invariant panics (style.md habit 9); here it is one more anomaly,
        // reported with its seed and reproducing file like the others.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let limits = world.run();
            (world, limits)
        }));
        let (anomalies, events) = match run {
            Ok((world, Ok(()))) => (verify::verify(&world), world.events),
            Ok((_, Err(exceeded))) => {
                return Err(UserError::new(format!(
                    "check seed {seed}: the run stopped at the limit {} = {}; raise limits.{} in the scenario",
                    exceeded.limit, exceeded.value, exceeded.limit
                )))
            }
            Err(payload) => (vec![invariant_anomaly(payload.as_ref())], 0),
        };
        Ok(SeedOutcome {
            seed,
            faults,
            repro,
            anomalies,
            events,
        })
    }

    /// The seeds a `--seeds N` check runs: the scenario's seed and the next N-1.
    pub fn seeds(&self, count: u32) -> Vec<u64> {
        (0..u64::from(count))
            .map(|offset| self.base.seed.wrapping_add(offset))
            .collect()
    }
}

fn invariant_anomaly(payload: &(dyn std::any::Any + Send)) -> Anomaly {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_else(|| "a model invariant failed".to_string());
    Anomaly {
        name: "invariant",
        subject: "model".to_string(),
        count: 1,
        records: vec![message],
        promise: Promise {
            promised: true,
            reason: "the model's own invariants always hold (kafka-semantics §7)".to_string(),
        },
    }
}
