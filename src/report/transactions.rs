//! Transaction figures of `metrics.json`: what the coordinators settled, commit latency, the
//! LSO lag, and for each consume-transform-produce group the delivery of its output topic, read
//! as a read_committed consumer would read the final log.

use crate::ids::TopicPartition;
use crate::metrics::RangeSet;
use crate::sim::time::ns_to_ms_f64;
use crate::world::World;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The delivery of one consume-transform-produce group's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputFigures {
    /// Output records a read_committed reader sees (committed transactions, or every record
    /// of an at-least-once output).
    pub visible: u64,
    /// Visible output records beyond the first for one input record.
    pub duplicates: u64,
    /// Input records below the group's final committed offset with no visible output record.
    pub lost: u64,
    /// Output records of aborted transactions (invisible under read_committed).
    pub aborted: u64,
    /// Output records of transactions still open at the end.
    pub open: u64,
    /// (input partition, first offset, last offset) of the first few duplicated or lost
    /// ranges, for the checker to name.
    pub duplicate_examples: Vec<(u32, u64, u64)>,
    pub lost_examples: Vec<(u32, u64, u64)>,
}

/// Walks the output topic's logs of record in offset order, as Kafka's read_committed consumer
/// filters them: a producer's transactional records count once its commit marker comes, never
/// if its abort marker comes; non-transactional records count at once.
pub fn output_figures(world: &World, group: usize) -> Option<OutputFigures> {
    let spec = &world.scenario.consumer_groups[group];
    let output = spec.output.as_ref()?;
    let topic = world.metadata.topic(output.topic);
    let mut figures = OutputFigures::default();
    let mut seen: BTreeMap<u32, RangeSet> = BTreeMap::new();
    let mut count_visible = |origins: &[(u32, u64)], figures: &mut OutputFigures| {
        for &(partition, offset) in origins {
            let overlap = seen
                .entry(partition)
                .or_default()
                .insert(offset, offset + 1);
            figures.visible += 1;
            if overlap > 0 {
                figures.duplicates += 1;
                let examples = &mut figures.duplicate_examples;
                let shown = examples.len();
                match examples.last_mut() {
                    Some(last) if last.0 == partition && last.2 + 1 == offset => last.2 = offset,
                    _ if shown < 5 => examples.push((partition, offset, offset)),
                    _ => {}
                }
            }
        }
    };
    for partition in 0..topic.partitions() {
        let tp = TopicPartition {
            topic: topic.id,
            partition,
        };
        let Some(log) = world.metrics.ledger.txn_batches.get(&tp) else {
            continue;
        };
        let mut open: BTreeMap<u64, Vec<std::rc::Rc<crate::producer::batch::BatchData>>> =
            BTreeMap::new();
        for data in log.values() {
            match data.control {
                Some(commit) => {
                    let batches = open.remove(&data.producer_id).unwrap_or_default();
                    for batch in batches {
                        let origins = batch.origins.as_deref().unwrap_or_default();
                        if commit {
                            count_visible(origins, &mut figures);
                        } else {
                            figures.aborted += origins.len() as u64;
                        }
                    }
                }
                None if data.transactional => {
                    open.entry(data.producer_id).or_default().push(data.clone());
                }
                None => count_visible(data.origins.as_deref().unwrap_or_default(), &mut figures),
            }
        }
        // A transaction its coordinator has decided to commit (PrepareCommit, markers still
        // being written at the end of the run) is committed: its markers will come.
        for (producer_id, batches) in open {
            let deciding = world
                .txns
                .iter()
                .find(|txn| txn.producer_id() == producer_id);
            for batch in batches {
                let origins = batch.origins.as_deref().unwrap_or_default();
                let committing = deciding.is_some_and(|txn| {
                    txn.state == crate::txn::TxnState::PrepareCommit
                        && txn.epoch == batch.producer_epoch
                });
                if committing {
                    count_visible(origins, &mut figures);
                } else {
                    figures.open += origins.len() as u64;
                }
            }
        }
    }
    // Every input record below the committed offset must have its output.
    let committed = world.committed_offsets(group);
    for &input in &spec.topics {
        let meta = world.metadata.topic(input);
        for partition in 0..meta.partitions() {
            let tp = TopicPartition {
                topic: meta.id,
                partition,
            };
            let Some(&end) = committed.get(&tp) else {
                continue;
            };
            let gaps = seen
                .get(&partition)
                .map_or_else(|| vec![(0, end)], |set| set.gaps_below(end));
            for (start, stop) in gaps.into_iter().filter(|(start, stop)| start < stop) {
                figures.lost += stop - start;
                if figures.lost_examples.len() < 5 {
                    figures.lost_examples.push((partition, start, stop - 1));
                }
            }
        }
    }
    Some(figures)
}

/// Whether the scenario has anything transactional (its figures are written only then, so
/// other scenarios' reports keep their shape).
pub fn has_transactions(world: &World) -> bool {
    !world.txns.is_empty()
        || world
            .scenario
            .consumer_groups
            .iter()
            .any(|group| group.output.is_some() || group.config.isolation_level_read_committed)
}

/// The `transactions` object of metrics.json.
pub fn transactions_json(world: &World, round3: fn(f64) -> f64) -> Value {
    let figures = &world.metrics.transactions;
    let latency = &figures.commit_latency;
    let mut outputs = serde_json::Map::new();
    for (index, group) in world.scenario.consumer_groups.iter().enumerate() {
        if let Some(output) = output_figures(world, index) {
            outputs.insert(
                group.group_id.clone(),
                json!({
                    "exactly_once": group.output.as_ref().is_some_and(|o| o.config.transactional_id.is_some()),
                    "visible": output.visible,
                    "duplicates": output.duplicates,
                    "lost": output.lost,
                    "aborted": output.aborted,
                    "open": output.open,
                }),
            );
        }
    }
    let read_committed_without_transactions = world.txns.is_empty()
        && world
            .scenario
            .consumer_groups
            .iter()
            .any(|group| group.config.isolation_level_read_committed);
    // End-to-end latency of read_committed groups: records wait for their transaction's commit.
    let mut end_to_end = serde_json::Map::new();
    for (index, group) in world.scenario.consumer_groups.iter().enumerate() {
        if !group.config.isolation_level_read_committed {
            continue;
        }
        let latency = &world.metrics.groups[index].end_to_end;
        end_to_end.insert(
            group.group_id.clone(),
            json!({
                "p50": round3(ns_to_ms_f64(latency.quantile_ns(0.50))),
                "p99": round3(ns_to_ms_f64(latency.quantile_ns(0.99))),
                "max": round3(ns_to_ms_f64(latency.max_ns())),
            }),
        );
    }
    json!({
        "committed": figures.committed,
        "aborted": figures.aborted,
        "fenced": figures.fenced,
        "timed_out": figures.timed_out,
        "commit_latency_ms": {
            "p50": round3(ns_to_ms_f64(latency.quantile_ns(0.50))),
            "p99": round3(ns_to_ms_f64(latency.quantile_ns(0.99))),
            "max": round3(ns_to_ms_f64(latency.max_ns())),
        },
        "lso_lag_max": figures.lso_lag_max,
        "read_committed_without_transactions": read_committed_without_transactions,
        "read_committed_end_to_end_ms": end_to_end,
        "output": outputs,
    })
}
