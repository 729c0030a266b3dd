//! Group figures computed at the end of a run from the recorder: pause time from ownership
//! spans, rebalance records, and processing duplicates and gaps from processed offset ranges.

use crate::ids::TopicPartition;
use crate::metrics::{OwnershipSpan, Recorder};
use crate::sim::time::ns_to_ms_f64;
use crate::world::World;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Sum over a group's partitions of the time no member owned them, from the partition's first
/// ownership, or the end of start-up if later, to the end of the run (the first join is
/// start-up, not a membership change).
pub fn partition_pause_ns(
    spans: &[OwnershipSpan],
    group: usize,
    startup_end_ns: u64,
    end_ns: u64,
) -> u64 {
    let mut by_partition: BTreeMap<(u32, u32), Vec<(u64, u64)>> = BTreeMap::new();
    for span in spans.iter().filter(|span| span.group == group) {
        let to_ns = span.to_ns.unwrap_or(end_ns).min(end_ns);
        by_partition
            .entry((span.topic, span.partition))
            .or_default()
            .push((span.from_ns, to_ns));
    }
    by_partition
        .into_values()
        .map(|mut intervals| {
            intervals.sort_unstable();
            let mut paused = 0;
            let first_ns = intervals.first().map_or(end_ns, |&(from, _)| from);
            let mut covered_to = first_ns.max(startup_end_ns).min(end_ns);
            for (from, to) in intervals {
                paused += from.min(end_ns).saturating_sub(covered_to);
                covered_to = covered_to.max(to);
            }
            paused + end_ns.saturating_sub(covered_to)
        })
        .sum()
}

/// When a group's start-up ends: the end of its first rebalance that counts every initial member.
/// A classic group's first assignment waits for them all (`group.initial.rebalance.delay.ms`);
/// a KIP-848 group has no such delay, so its first members take every partition and hand some
/// over at their next heartbeats, which is start-up too.
pub fn startup_end_ns(world: &World, group: usize) -> u64 {
    let initial = world.scenario.consumer_groups[group].members;
    world
        .metrics
        .rebalances
        .iter()
        .find(|record| record.group == group && record.members >= initial)
        .map_or(0, |record| record.end_ns)
}

/// (duplicates processed, unprocessed records of the final log) of one group.
pub fn delivery_of_group(world: &World, group: usize) -> (u64, u64) {
    let metrics: &Recorder = &world.metrics;
    let Some(figures) = metrics.groups.get(group) else {
        return (0, 0);
    };
    let distinct: u64 = figures.processed.values().map(|set| set.len()).sum();
    let duplicates = figures.records_processed.saturating_sub(distinct);
    let mut unprocessed = 0;
    for &topic in &world.scenario.consumer_groups[group].topics {
        let meta = world.metadata.topic(topic);
        for partition in 0..meta.partitions() {
            let tp = TopicPartition {
                topic: meta.id,
                partition,
            };
            let leader = world.controller.state(tp).and_then(|state| state.leader);
            let Some(replica) =
                leader.and_then(|leader| world.brokers[leader.0 as usize].replica(tp))
            else {
                continue;
            };
            // read_committed members see up to the last stable offset; markers and aborted
            // records are never theirs to process.
            let end = if world.scenario.consumer_groups[group]
                .config
                .isolation_level_read_committed
            {
                replica.last_stable_offset()
            } else {
                replica.log.high_watermark
            };
            let done = figures
                .processed
                .get(&tp)
                .map_or(0, |set| set.count_below(end));
            let skipped = figures
                .skipped
                .get(&tp)
                .map_or(0, |set| set.count_below(end));
            unprocessed += end.saturating_sub(done + skipped);
        }
    }
    (duplicates, unprocessed)
}

/// The `groups` entry of one group in metrics.json.
pub fn group_json(world: &World, group: usize, round3: fn(f64) -> f64) -> Value {
    let metrics = &world.metrics;
    let figures = &metrics.groups[group];
    let rebalances: Vec<Value> = metrics
        .rebalances
        .iter()
        .filter(|record| record.group == group)
        .map(|record| {
            json!({
                "generation": record.generation,
                "start_ms": round3(ns_to_ms_f64(record.start_ns)),
                "end_ms": round3(ns_to_ms_f64(record.end_ns)),
                "members": record.members,
                "revoked": record.revoked,
                "assigned": record.assigned,
            })
        })
        .collect();
    let latency_total_ns: u64 = metrics
        .rebalances
        .iter()
        .filter(|record| record.group == group)
        .map(|record| record.end_ns - record.start_ns)
        .sum();
    let latency_avg_ms = if rebalances.is_empty() {
        0.0
    } else {
        ns_to_ms_f64(latency_total_ns) / rebalances.len() as f64
    };
    let pause_ns = partition_pause_ns(
        &metrics.ownership,
        group,
        startup_end_ns(world, group),
        world.scenario.duration_ns,
    );
    let (duplicates, unprocessed) = delivery_of_group(world, group);
    json!({
        "rebalance-total": rebalances.len(),
        "rebalance-latency-avg": round3(latency_avg_ms),
        "partition_pause_ms": round3(ns_to_ms_f64(pause_ns)),
        "records-lag-max": figures.records_lag_max,
        "records-processed": figures.records_processed,
        "revoked_total": figures.revoked_total,
        "duplicates_processed": duplicates,
        "unprocessed": unprocessed,
        "rebalances": rebalances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(partition: u32, from_ns: u64, to_ns: Option<u64>) -> OwnershipSpan {
        OwnershipSpan {
            group: 0,
            member: "m".to_string(),
            topic: 0,
            partition,
            from_ns,
            to_ns,
        }
    }

    #[test]
    fn pause_counts_gaps_after_first_ownership() {
        // Partition 0: owned 10..20, gap 20..25, owned 25..end(100) → 5.
        // Partition 1: owned 10..40, then never again → 60 to the end.
        let spans = vec![
            span(0, 10, Some(20)),
            span(0, 25, None),
            span(1, 10, Some(40)),
        ];
        assert_eq!(partition_pause_ns(&spans, 0, 0, 100), 65);
        // Start-up ending at 30 hides partition 0's gap (20..25) and 30..40 is owned.
        assert_eq!(partition_pause_ns(&spans, 0, 30, 100), 60);
    }
}
