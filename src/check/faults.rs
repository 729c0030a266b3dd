//! Draws one seed's fault schedule from the `check` section, as timeline entries in the
//! scenario file's own form, so that the schedule can be appended to the scenario, resolved by
//! the ordinary scenario layer, and written out as a reproducing scenario file unchanged.

use super::spec::{CheckSpec, Span};
use crate::scenario::model::{Action, Scenario};
use crate::sim::rng::{Purpose, SimRng, StreamKind};
use serde_json::{json, Value};

/// Linux writes dirty pages back after about 30 s: a power loss drops at most that much.
const POWER_LOSS_WINDOW_MS_MAX: u64 = 30_000;

/// Where a schedule's choices come from: the seed's random stream, or, in property tests, a
/// generated list of numbers that proptest can shrink (fewer, earlier, shorter faults).
pub trait Choices {
    /// A whole number below `bound` (> 0).
    fn below(&mut self, bound: u64) -> u64;
}

impl Choices for SimRng {
    fn below(&mut self, bound: u64) -> u64 {
        SimRng::below(self, bound)
    }
}

/// The timeline entries of one seed's faults (a crash and its restart are two entries).
pub fn draw(spec: &CheckSpec, scenario: &Scenario, seed: u64) -> Vec<Value> {
    let mut rng = SimRng::new(seed, StreamKind::Faults, 0, Purpose::FaultSchedule);
    draw_with(spec, scenario, &mut rng)
}

/// The timeline entries of a schedule whose choices come from `rng`.
pub fn draw_with(spec: &CheckSpec, scenario: &Scenario, rng: &mut impl Choices) -> Vec<Value> {
    let mut entries = Vec::new();
    if spec.faults.is_empty() {
        return entries;
    }
    let mut busy = broker_busy_ms(scenario, spec.duration_ms);
    let count = uniform(rng, spec.faults_per_run);
    for _ in 0..count {
        let kind = &spec.faults[rng.below(spec.faults.len() as u64) as usize];
        let at_ms = uniform(rng, spec.start_ms);
        let duration_ms = uniform(rng, spec.fault_duration_ms);
        // A restart (or any entry) must fall within the run: a fault reaching past the end
        // lasts until the end.
        let window = (at_ms, (at_ms + duration_ms).min(spec.duration_ms));
        // Crashes and stalls need a running broker that no other crash or stall touches in the
        // meantime (the scenario layer refuses a crash of a crashed broker); network faults
        // may hit any broker.
        let exclusive = matches!(
            kind.as_str(),
            "broker-crash" | "broker-power-loss" | "broker-stall"
        );
        let eligible: Vec<u32> = (0..scenario.cluster.brokers)
            .filter(|&broker| {
                !exclusive
                    || busy[broker as usize]
                        .iter()
                        .all(|&other| disjoint(window, other))
            })
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let broker = eligible[rng.below(eligible.len() as u64) as usize];
        if exclusive {
            busy[broker as usize].push(window);
        }
        entries.extend(fault(rng, kind, broker, window, scenario));
    }
    entries
}

/// Closed intervals that share no instant.
fn disjoint(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 < b.0 || b.1 < a.0
}

/// Per broker, the times the scenario's own timeline has it down or stalled (ms, closed).
fn broker_busy_ms(scenario: &Scenario, end_ms: u64) -> Vec<Vec<(u64, u64)>> {
    let mut busy = vec![Vec::new(); scenario.cluster.brokers as usize];
    let mut down_since: Vec<Option<u64>> = vec![None; busy.len()];
    for event in &scenario.timeline {
        let at_ms = event.at_ns / 1_000_000;
        match event.action {
            Action::BrokerCrash { broker, .. } => down_since[broker as usize] = Some(at_ms),
            Action::BrokerRestart { broker } => {
                if let Some(since) = down_since[broker as usize].take() {
                    busy[broker as usize].push((since, at_ms));
                }
            }
            Action::BrokerStall {
                broker,
                duration_ns,
            } => busy[broker as usize].push((at_ms, at_ms + duration_ns.div_ceil(1_000_000))),
            _ => {}
        }
    }
    for (broker, since) in down_since.into_iter().enumerate() {
        if let Some(since) = since {
            busy[broker].push((since, end_ms.max(since)));
        }
    }
    busy
}

/// Uniform whole number in the inclusive span.
fn uniform(rng: &mut impl Choices, span: Span) -> u64 {
    span.min + rng.below(span.max - span.min + 1)
}

fn fault(
    rng: &mut impl Choices,
    kind: &str,
    broker: u32,
    (at_ms, end_ms): (u64, u64),
    scenario: &Scenario,
) -> Vec<Value> {
    let duration_ms = end_ms - at_ms;
    let broker_node = format!("broker-{broker}");
    match kind {
        "broker-crash" => vec![
            json!({"at_ms": at_ms, "action": "broker-crash", "broker": broker}),
            json!({"at_ms": at_ms + duration_ms, "action": "broker-restart", "broker": broker}),
        ],
        "broker-power-loss" => {
            let lose_ms = 1 + rng.below(POWER_LOSS_WINDOW_MS_MAX);
            vec![
                json!({"at_ms": at_ms, "action": "broker-crash", "broker": broker,
                       "lose_unflushed_ms": lose_ms}),
                json!({"at_ms": at_ms + duration_ms, "action": "broker-restart", "broker": broker}),
            ]
        }
        "broker-stall" => vec![json!({"at_ms": at_ms, "action": "broker-stall",
                                      "broker": broker, "duration_ms": duration_ms})],
        "network-partition" => {
            // Half the time the broker is cut off from the cluster only (its clients still reach
            // it: the split that lets an old leader keep taking acks=1 writes), otherwise from
            // every other node.
            let from_everyone = rng.below(2) == 1;
            let others = other_nodes(scenario, broker, from_everyone);
            vec![json!({"at_ms": at_ms, "action": "network-partition",
                        "between": [[broker_node], others], "duration_ms": duration_ms})]
        }
        "network-delay" => {
            let extra_ms = 5 + rng.below(96);
            vec![
                json!({"at_ms": at_ms, "action": "network-delay", "nodes": [broker_node],
                        "extra_ms": extra_ms, "duration_ms": duration_ms}),
            ]
        }
        "network-loss" => {
            // 1% to 30% of messages, in whole percent so the file reads cleanly.
            let probability = (1 + rng.below(30)) as f64 / 100.0;
            vec![
                json!({"at_ms": at_ms, "action": "network-loss", "nodes": [broker_node],
                        "probability": probability, "duration_ms": duration_ms}),
            ]
        }
        "consumer-crash" => {
            let Some(group) = pick_group(rng, scenario) else {
                return Vec::new();
            };
            let spec = &scenario.consumer_groups[group];
            let member = rng.below(u64::from(spec.members));
            vec![
                json!({"at_ms": at_ms, "action": "consumer-crash", "group": spec.group_id,
                       "member": member}),
                json!({"at_ms": at_ms + duration_ms, "action": "consumer-restart",
                       "group": spec.group_id, "member": member}),
            ]
        }
        other => unreachable!("check.faults was validated, {other} is not a fault kind"),
    }
}

/// A group with at least one initial member, if any.
fn pick_group(rng: &mut impl Choices, scenario: &Scenario) -> Option<usize> {
    let candidates: Vec<usize> = (0..scenario.consumer_groups.len())
        .filter(|&group| scenario.consumer_groups[group].members > 0)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    Some(candidates[rng.below(candidates.len() as u64) as usize])
}

/// Every node but `broker`: the other brokers and the controller, plus the clients if asked.
fn other_nodes(scenario: &Scenario, broker: u32, with_clients: bool) -> Vec<String> {
    let mut nodes: Vec<String> = (0..scenario.cluster.brokers)
        .filter(|&other| other != broker)
        .map(|other| format!("broker-{other}"))
        .collect();
    nodes.push("controller".to_string());
    if with_clients {
        for producer in &scenario.producers {
            for instance in 0..producer.instances {
                nodes.push(format!("producer:{}:{instance}", producer.name));
            }
        }
        for group in &scenario.consumer_groups {
            for member in 0..group.members {
                nodes.push(format!("consumer:{}:{member}", group.group_id));
            }
        }
    }
    nodes
}
