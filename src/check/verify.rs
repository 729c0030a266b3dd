//! The checker: after a run, compares the delivery ledger (what producers had acknowledged and
//! what the partition logs of record hold) and the groups' history (processed offsets, committed
//! offsets) with the properties of `guarantees`, and names every anomaly with the records
//! involved. Model invariants (kafka-semantics §7.1, 7.2, 7.4, 7.6, 7.7) are asserted during the
//! run itself; a run that breaks one is reported by the runner as an `invariant` anomaly.

use super::guarantees::{group_promise, producer_promise, Promise, Property};
use crate::ids::TopicPartition;
use crate::metrics::ledger::{reordered_ranges, RangeList};
use crate::scenario::model::CommitPolicy;
use crate::world::World;
use std::collections::BTreeMap;

/// Examples of records named per anomaly; the count covers all of them.
pub const RECORDS_SHOWN: usize = 5;

/// One kind of anomaly for one producer or group in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Jepsen's name where one matches (`lost-write`, `duplicate`, …), or `invariant`.
    pub name: &'static str,
    /// `producer payments-app`, `group billing`, or `model`.
    pub subject: String,
    /// Records (or offsets) involved.
    pub count: u64,
    /// Up to `RECORDS_SHOWN` of them, as ranges.
    pub records: Vec<String>,
    pub promise: Promise,
}

/// Every anomaly of a finished run, producers first (in spec order), then groups.
pub fn verify(world: &World) -> Vec<Anomaly> {
    let mut anomalies = producer_anomalies(world);
    anomalies.extend(group_anomalies(world));
    anomalies
}

/// Record-id ranges of one property, by producer spec.
type Found = BTreeMap<(usize, Property), (u64, Vec<String>)>;

fn note(
    found: &mut Found,
    key: (usize, Property),
    ranges: &[(u64, u64)],
    describe: impl Fn(u64, u64) -> String,
) {
    if ranges.is_empty() {
        return;
    }
    let entry = found.entry(key).or_default();
    for &(start, end) in ranges {
        entry.0 += end - start;
        if entry.1.len() < RECORDS_SHOWN {
            entry.1.push(describe(start, end));
        }
    }
}

fn producer_anomalies(world: &World) -> Vec<Anomaly> {
    let scenario = &world.scenario;
    let ledger = &world.metrics.ledger;
    let names = producer_names(world);
    let mut found = Found::new();
    let (mut lost_total, mut duplicate_total, mut reordered_total) = (0, 0, 0);
    let empty = RangeList::default();
    for ((producer, tp), acked) in ledger.acked_ranges() {
        let present = ledger
            .log_ranges()
            .get(&tp)
            .and_then(|logs| logs.get(&producer))
            .unwrap_or(&empty)
            .union();
        let lost = difference(&acked.union(), &present);
        lost_total += lost.iter().map(|(start, end)| end - start).sum::<u64>();
        let Some((spec, name)) = &names[producer as usize] else {
            continue;
        };
        note(
            &mut found,
            (*spec, Property::NoLostWrites),
            &lost,
            |start, end| describe(world, name, tp, start, end),
        );
    }
    for (&tp, logs) in ledger.log_ranges().iter() {
        for (&producer, list) in logs {
            duplicate_total += list.total() - list.union().iter().map(|(s, e)| e - s).sum::<u64>();
            let reordered = reordered_ranges(list);
            reordered_total += reordered
                .iter()
                .map(|(start, end)| end - start)
                .sum::<u64>();
            // Pipeline members' producers are checked through their group's output.
            let Some((spec, name)) = &names[producer as usize] else {
                continue;
            };
            let duplicated = duplicate_ranges(list);
            note(
                &mut found,
                (*spec, Property::NoDuplicates),
                &duplicated,
                |start, end| describe(world, name, tp, start, end),
            );
            note(
                &mut found,
                (*spec, Property::NoReordering),
                &reordered,
                |start, end| describe(world, name, tp, start, end),
            );
        }
    }
    // Paired with the ledger's own figures: the checker and metrics.json must agree.
    let figures = ledger.figures();
    assert_eq!(
        lost_total, figures.lost_acked,
        "seed {}: lost records",
        world.seed
    );
    assert_eq!(
        duplicate_total, figures.duplicates_in_log,
        "seed {}: duplicates",
        world.seed
    );
    assert_eq!(
        reordered_total, figures.reordered,
        "seed {}: reordered",
        world.seed
    );
    found
        .into_iter()
        .map(|((spec, property), (count, records))| Anomaly {
            name: property.anomaly(),
            subject: format!("producer {}", scenario.producers[spec].name),
            count,
            records,
            promise: producer_promise(scenario, spec, property),
        })
        .collect()
}

fn group_anomalies(world: &World) -> Vec<Anomaly> {
    let scenario = &world.scenario;
    let mut anomalies = Vec::new();
    for (group, spec) in scenario.consumer_groups.iter().enumerate() {
        let Some(metrics) = world.metrics.groups.get(group) else {
            continue;
        };
        // A group is checked for the semantics its commit policy is about: committing after
        // processing is at-least-once (reprocessing is by design), committing before is
        // at-most-once (skipping is by design).
        let at_most_once = spec.commit == CommitPolicy::BeforeProcessing;
        // poll-skip: the group committed past offsets it never processed.
        let (mut skipped, mut records) = (0, Vec::new());
        if let Some(coordinator) = world.groups.get(group).filter(|_| !at_most_once) {
            for (&tp, &committed) in coordinator.committed() {
                // Offsets the application never sees (transaction markers, aborted records
                // under read_committed) are not skipped records.
                let mut seen = metrics.processed.get(&tp).cloned().unwrap_or_default();
                for (start, end) in metrics
                    .skipped
                    .get(&tp)
                    .into_iter()
                    .flat_map(|s| s.ranges())
                {
                    seen.insert(start, end);
                }
                let gaps = seen.gaps_below(committed);
                for (start, end) in gaps.into_iter().filter(|(start, end)| start < end) {
                    skipped += end - start;
                    if records.len() < RECORDS_SHOWN {
                        records.push(format!(
                            "{} offsets {start}..{end} (committed offset {committed})",
                            partition_name(world, tp)
                        ));
                    }
                }
            }
        }
        if skipped > 0 {
            anomalies.push(Anomaly {
                name: Property::AtLeastOnce.anomaly(),
                subject: format!("group {}", spec.group_id),
                count: skipped,
                records,
                promise: group_promise(scenario, group, Property::AtLeastOnce),
            });
        }
        // nonmonotonic-poll: the group processed a record again.
        let distinct: u64 = metrics.processed.values().map(|set| set.len()).sum();
        let again = metrics.records_processed.saturating_sub(distinct);
        if again > 0 && at_most_once {
            let records = metrics
                .reprocessed
                .iter()
                .take(RECORDS_SHOWN)
                .map(|&(topic, partition, start, end)| {
                    let tp = TopicPartition {
                        topic: crate::ids::TopicId(topic),
                        partition,
                    };
                    format!(
                        "{} offsets {start}..{end} (in part already processed)",
                        partition_name(world, tp)
                    )
                })
                .collect();
            anomalies.push(Anomaly {
                name: Property::AtMostOnce.anomaly(),
                subject: format!("group {}", spec.group_id),
                count: again,
                records,
                promise: group_promise(scenario, group, Property::AtMostOnce),
            });
        }
    }
    anomalies.extend(output_anomalies(world));
    anomalies
}

/// output-duplicate and output-lost: a consume-transform-produce group's output as a
/// read_committed reader sees it, against the input it committed.
fn output_anomalies(world: &World) -> Vec<Anomaly> {
    let scenario = &world.scenario;
    let mut anomalies = Vec::new();
    for (group, spec) in scenario.consumer_groups.iter().enumerate() {
        let Some(figures) = crate::report::transactions::output_figures(world, group) else {
            continue;
        };
        let input = spec
            .topics
            .first()
            .map_or("?", |&topic| scenario.topics[topic].name.as_str());
        let describe = |examples: &[(u32, u64, u64)], what: &str| -> Vec<String> {
            examples
                .iter()
                .take(RECORDS_SHOWN)
                .map(|&(partition, first, last)| {
                    format!("{input}-{partition} offsets {first}..{} {what}", last + 1)
                })
                .collect()
        };
        if figures.duplicates > 0 {
            anomalies.push(Anomaly {
                name: Property::OutputNoDuplicates.anomaly(),
                subject: format!("group {}", spec.group_id),
                count: figures.duplicates,
                records: describe(&figures.duplicate_examples, "have their output twice"),
                promise: group_promise(scenario, group, Property::OutputNoDuplicates),
            });
        }
        if figures.lost > 0 {
            anomalies.push(Anomaly {
                name: Property::OutputNoLoss.anomaly(),
                subject: format!("group {}", spec.group_id),
                count: figures.lost,
                records: describe(&figures.lost_examples, "are committed without output"),
                promise: group_promise(scenario, group, Property::OutputNoLoss),
            });
        }
    }
    anomalies
}

/// (spec index, `producer:NAME:I`) of every producer instance, by producer id (None for the
/// producers of consume-transform-produce members).
fn producer_names(world: &World) -> Vec<Option<(usize, String)>> {
    let mut seen: BTreeMap<usize, u32> = BTreeMap::new();
    world
        .producers
        .iter()
        .map(|producer| {
            producer.pipeline.is_none().then_some(())?;
            let instance = seen.entry(producer.spec_index).or_default();
            let name = format!(
                "producer:{}:{instance}",
                world.scenario.producers[producer.spec_index].name
            );
            *instance += 1;
            Some((producer.spec_index, name))
        })
        .collect()
}

fn partition_name(world: &World, tp: TopicPartition) -> String {
    let topic = world
        .scenario
        .topics
        .get(tp.topic.0 as usize)
        .map_or("?", |topic| topic.name.as_str());
    format!("{topic}-{}", tp.partition)
}

fn describe(world: &World, producer: &str, tp: TopicPartition, start: u64, end: u64) -> String {
    format!(
        "{producer} → {} record ids {start}..{end}",
        partition_name(world, tp)
    )
}

/// Ids in `a` that are not in `b` (both sorted and disjoint), as ranges.
pub fn difference(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut missing = Vec::new();
    for &(start, end) in a {
        let mut cursor = start;
        for &(b_start, b_end) in b.iter().filter(|&&(s, e)| e > start && s < end) {
            if b_start > cursor {
                missing.push((cursor, b_start));
            }
            cursor = cursor.max(b_end);
        }
        if cursor < end {
            missing.push((cursor, end));
        }
    }
    missing
}

/// Ids present more than once in a log, as ranges (a range appears once per extra copy).
pub fn duplicate_ranges(log: &RangeList) -> Vec<(u64, u64)> {
    let mut edges: Vec<(u64, i64)> = Vec::new();
    for &(start, end) in &log.0 {
        edges.push((start, 1));
        edges.push((end, -1));
    }
    edges.sort_unstable();
    let mut ranges = Vec::new();
    let (mut depth, mut at) = (0i64, 0u64);
    for (position, change) in edges {
        if depth >= 2 && position > at {
            for _ in 1..depth {
                ranges.push((at, position));
            }
        }
        depth += change;
        at = position;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_records_the_ledger_counts() {
        assert_eq!(
            difference(&[(0, 10)], &[(0, 4), (6, 8)]),
            vec![(4, 6), (8, 10)]
        );
        let retried = RangeList(vec![(0, 5), (5, 10), (0, 5)]);
        assert_eq!(duplicate_ranges(&retried), vec![(0, 5)]);
        assert_eq!(reordered_ranges(&retried), Vec::<(u64, u64)>::new());
        let overtaken = RangeList(vec![(5, 10), (0, 5)]);
        assert_eq!(reordered_ranges(&overtaken), vec![(5, 10)]);
        let thrice = RangeList(vec![(0, 4), (0, 4), (2, 6)]);
        // Ids 0..2 have one extra copy, 2..4 two, 4..6 none.
        assert_eq!(duplicate_ranges(&thrice), vec![(0, 2), (2, 4), (2, 4)]);
    }
}
