//! What a scenario's configs promise about delivery (kafka-semantics.md §7), derived from the
//! resolved scenario with its fault schedule. Each property the checker looks at is either
//! promised, with the configs that promise it, or not, with the reason Kafka allows the anomaly.
//! The checker reports every anomaly; a promised one is a bug in the model (or in Kafka).

use crate::scenario::model::{Acks, Action, CommitPolicy, OffsetReset, Scenario};
use std::collections::BTreeSet;

/// The delivery properties the checker verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Property {
    /// Every acknowledged record is in the final log (anomaly `lost-write`).
    NoLostWrites,
    /// No record is in a log twice (anomaly `duplicate`).
    NoDuplicates,
    /// A producer's records land in a partition in send order (anomaly `nonmonotonic-send`).
    NoReordering,
    /// Every record below a group's committed offset was processed (anomaly `poll-skip`).
    AtLeastOnce,
    /// No record is processed twice by a group (anomaly `nonmonotonic-poll`).
    AtMostOnce,
    /// A consume-transform-produce group's output holds each input record's output at most
    /// once, as a read_committed reader sees it (anomaly `output-duplicate`).
    OutputNoDuplicates,
    /// Every input record below the group's committed offset has its output (anomaly
    /// `output-lost`).
    OutputNoLoss,
}

impl Property {
    /// The anomaly's name, as Jepsen's Kafka checker names it where one matches.
    pub fn anomaly(self) -> &'static str {
        match self {
            Property::NoLostWrites => "lost-write",
            Property::NoDuplicates => "duplicate",
            Property::NoReordering => "nonmonotonic-send",
            Property::AtLeastOnce => "poll-skip",
            Property::AtMostOnce => "nonmonotonic-poll",
            Property::OutputNoDuplicates => "output-duplicate",
            Property::OutputNoLoss => "output-lost",
        }
    }
}

/// Whether the configs promise a property, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    pub promised: bool,
    pub reason: String,
}

impl Promise {
    fn yes(reason: String) -> Self {
        Promise {
            promised: true,
            reason,
        }
    }

    fn no(reason: String) -> Self {
        Promise {
            promised: false,
            reason,
        }
    }
}

/// Brokers that lose their page cache at some point of the run (power loss): each such broker
/// may lose acknowledged records it held. Counted over the whole run, conservatively.
fn power_lost_brokers(scenario: &Scenario) -> BTreeSet<u32> {
    scenario
        .timeline
        .iter()
        .filter_map(|event| match event.action {
            Action::BrokerCrash {
                broker,
                lose_unflushed_ns: Some(_),
            } => Some(broker),
            _ => None,
        })
        .collect()
}

/// What producer spec `producer` is promised about `property`.
pub fn producer_promise(scenario: &Scenario, producer: usize, property: Property) -> Promise {
    let spec = &scenario.producers[producer];
    let config = &spec.config;
    let topic = &scenario.topics[spec.topic];
    match property {
        Property::NoLostWrites => {
            let unclean = scenario.cluster.config.unclean_leader_election_enable;
            let power_lost = power_lost_brokers(scenario).len() as u32;
            let shape = format!(
                "acks={}, min.insync.replicas={}, replication.factor={}, unclean.leader.election.enable={unclean}",
                acks_name(config.acks),
                topic.min_insync_replicas,
                topic.replication_factor
            );
            if config.acks != Acks::All {
                Promise::no(format!("{shape}: an acknowledged record may be on the leader only (kafka-semantics §2.9)"))
            } else if topic.min_insync_replicas < 2 || topic.replication_factor < 3 {
                Promise::no(format!(
                    "{shape}: one replica may hold an acknowledged record alone"
                ))
            } else if unclean {
                Promise::no(format!(
                    "{shape}: an unclean election may pick a replica without it"
                ))
            } else if power_lost >= topic.min_insync_replicas {
                Promise::no(format!(
                    "{shape}: {power_lost} brokers lose their page cache, as many as min.insync.replicas"
                ))
            } else {
                Promise::yes(format!(
                    "{shape}, {power_lost} brokers losing their page cache (< min.insync.replicas)"
                ))
            }
        }
        Property::NoDuplicates | Property::NoReordering => {
            let shape = format!(
                "acks={}, enable.idempotence={}, retries={}, max.in.flight.requests.per.connection={}",
                acks_name(config.acks),
                config.enable_idempotence,
                config.retries,
                config.max_in_flight_requests_per_connection
            );
            let no_retries = config.acks == Acks::Zero || config.retries == 0;
            let ordered = property == Property::NoReordering
                && config.max_in_flight_requests_per_connection == 1;
            if config.enable_idempotence || no_retries || ordered {
                Promise::yes(shape)
            } else if property == Property::NoDuplicates {
                Promise::no(format!(
                    "{shape}: a retry after a lost response appends a batch again (§1.7)"
                ))
            } else {
                Promise::no(format!(
                    "{shape}: a retried batch may land after a later one (§1.7)"
                ))
            }
        }
        _ => unreachable!("consumer properties belong to groups"),
    }
}

/// What group `group` is promised about `property`.
pub fn group_promise(scenario: &Scenario, group: usize, property: Property) -> Promise {
    let spec = &scenario.consumer_groups[group];
    let commit = commit_name(&spec.commit);
    let reset = match spec.config.auto_offset_reset {
        OffsetReset::Earliest => "earliest",
        OffsetReset::Latest => "latest",
        OffsetReset::None => "none",
    };
    let unclean = scenario.cluster.config.unclean_leader_election_enable;
    let shape = format!(
        "commit={commit}, auto.offset.reset={reset}, unclean.leader.election.enable={unclean}"
    );
    match property {
        Property::AtLeastOnce => {
            if spec.commit == CommitPolicy::BeforeProcessing {
                Promise::no(format!(
                    "{shape}: committing before processing is at-most-once"
                ))
            } else if spec.config.auto_offset_reset == OffsetReset::Latest {
                Promise::no(format!(
                    "{shape}: a member without a committed offset skips what is already in the log"
                ))
            } else if unclean {
                Promise::no(format!(
                    "{shape}: an unclean election may reuse consumed offsets"
                ))
            } else {
                Promise::yes(shape)
            }
        }
        Property::AtMostOnce => {
            if spec.commit == CommitPolicy::BeforeProcessing {
                Promise::yes(shape)
            } else {
                Promise::no(format!(
                    "{shape}: records processed after the last commit are processed again after a crash or rebalance"
                ))
            }
        }
        Property::OutputNoDuplicates | Property::OutputNoLoss => {
            output_promise(scenario, group, property)
        }
        _ => unreachable!("producer properties belong to producers"),
    }
}

/// Exactly-once (KIP-98, KIP-447): output and offsets in one transaction promise neither
/// duplicates nor losses; at-least-once (flush, then commit) promises no losses only.
fn output_promise(scenario: &Scenario, group: usize, property: Property) -> Promise {
    let spec = &scenario.consumer_groups[group];
    let Some(output) = &spec.output else {
        return Promise::no("no output".to_string());
    };
    let topic = &scenario.topics[output.topic];
    let unclean = scenario.cluster.config.unclean_leader_election_enable;
    let power_lost = power_lost_brokers(scenario).len() as u32;
    let exactly_once = output.config.transactional_id.is_some();
    let shape = format!(
        "output to {} with {}, min.insync.replicas={}, replication.factor={}, unclean.leader.election.enable={unclean}",
        topic.name,
        if exactly_once {
            "transactional.id (exactly-once: output and offsets in one transaction)"
        } else {
            "no transactional.id (at-least-once: flush, then commit)"
        },
        topic.min_insync_replicas,
        topic.replication_factor
    );
    let durable = topic.min_insync_replicas >= 2
        && topic.replication_factor >= 3
        && !unclean
        && power_lost < topic.min_insync_replicas;
    if !durable {
        return Promise::no(format!(
            "{shape}: acknowledged output may be lost with its leader (kafka-semantics §2.9)"
        ));
    }
    match property {
        Property::OutputNoDuplicates if !exactly_once => Promise::no(format!(
            "{shape}: records processed again after a crash or rebalance send their output again"
        )),
        _ => Promise::yes(shape),
    }
}

fn acks_name(acks: Acks) -> &'static str {
    match acks {
        Acks::Zero => "0",
        Acks::One => "1",
        Acks::All => "all",
    }
}

fn commit_name(commit: &CommitPolicy) -> &'static str {
    match commit {
        CommitPolicy::Auto => "auto",
        CommitPolicy::SyncAfterPoll => "sync-after-poll",
        CommitPolicy::AsyncAfterPoll => "async-after-poll",
        CommitPolicy::BeforeProcessing => "before-processing",
    }
}
