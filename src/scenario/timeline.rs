//! Timeline entries → `model::TimelineEvent`s: each action's fields, its targets (brokers, groups,
//! members, producers, topics, nodes) resolved to indexes, and the list sorted by time (stable,
//! so ties keep file order). Entries are checked in time order, because a `consumer-join` makes
//! member index `members + joins so far` valid for later entries, and an `add-partitions` raises
//! the count that the next one must exceed.

use super::locate::{child, element};
use super::model::*;
use super::problem::{quoted_list, suggestion, Problem};
use super::raw::RawTimelineEntry;
use super::resolve::Resolver;
use serde_json::Value;

const ACTIONS: [&str; 17] = [
    "consumer-join",
    "consumer-leave",
    "consumer-crash",
    "consumer-restart",
    "consumer-pause",
    "consumer-slow",
    "producer-start",
    "producer-stop",
    "producer-restart",
    "producer-crash",
    "broker-crash",
    "broker-restart",
    "broker-stall",
    "network-partition",
    "network-delay",
    "network-loss",
    "add-partitions",
];

/// The fields each action takes besides `at_ms` and `action` (`instance` is optional).
fn fields_of(action: &str) -> &'static [&'static str] {
    match action {
        "consumer-join" => &["group"],
        "consumer-leave" | "consumer-crash" | "consumer-restart" => &["group", "member"],
        "consumer-pause" => &["group", "member", "duration_ms"],
        "consumer-slow" => &["group", "member", "factor", "duration_ms"],
        "producer-start" | "producer-stop" | "producer-restart" | "producer-crash" => {
            &["producer", "instance"]
        }
        "broker-crash" => &["broker", "lose_unflushed_ms"],
        "broker-restart" => &["broker"],
        "broker-stall" => &["broker", "duration_ms"],
        "network-partition" => &["between", "duration_ms"],
        "network-delay" => &["nodes", "extra_ms", "duration_ms"],
        "network-loss" => &["nodes", "probability", "duration_ms"],
        "add-partitions" => &["topic", "partitions"],
        _ => &[],
    }
}

/// Everything a timeline entry may refer to, plus the counts that change as the timeline runs.
struct World<'a> {
    cluster: &'a Cluster,
    topics: &'a [Topic],
    producers: &'a [ProducerSpec],
    groups: &'a [GroupSpec],
    /// Members per group including `consumer-join`s so far.
    members: Vec<u32>,
    /// Partitions per topic including `add-partitions` so far.
    partitions: Vec<u32>,
}

impl Resolver {
    pub(super) fn timeline(
        &mut self,
        raw: &[RawTimelineEntry],
        duration_ns: u64,
        cluster: &Cluster,
        topics: &[Topic],
        producers: &mut [ProducerSpec],
        groups: &[GroupSpec],
    ) -> Vec<TimelineEvent> {
        let mut timed: Vec<(u64, u64, usize)> = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            let path = element("timeline", index);
            let at_path = child(&path, "at_ms");
            let at_ns = self.time_ms(entry.at_ms, &at_path, None, false);
            let jitter_ns = match entry.jitter_ms {
                Some(_) => self.time_ms(entry.jitter_ms, &child(&path, "jitter_ms"), None, false),
                None => 0,
            };
            // A zero duration_ms has been reported already; do not repeat it for every entry.
            if at_ns > duration_ns && duration_ns > 0 {
                let allowed = format!(
                    "must be within [0, duration_ms = {}]",
                    duration_ns as f64 / 1e6
                );
                self.push(Problem::field(
                    at_path,
                    entry.at_ms.unwrap_or_default(),
                    &allowed,
                ));
            }
            timed.push((at_ns, jitter_ns, index));
        }
        // Stable: equal times keep file order.
        timed.sort_by_key(|(at_ns, _, _)| *at_ns);
        self.check_jitter_windows(raw, &timed, duration_ns);
        let mut world = World {
            cluster,
            topics,
            producers,
            groups,
            members: groups.iter().map(|g| g.members).collect(),
            partitions: topics.iter().map(|t| t.partitions).collect(),
        };
        let mut events = Vec::new();
        for (at_ns, jitter_ns, index) in timed {
            let Some(entry) = raw.get(index) else {
                continue;
            };
            let path = element("timeline", index);
            if let Some(action) = self.action(entry, &path, &mut world) {
                events.push(TimelineEvent {
                    at_ns,
                    jitter_ns,
                    action,
                });
            }
        }
        set_producer_starts(&events, producers);
        events
    }

    /// A jittered entry's window must end before the next entry's `at_ms` (so jitter never
    /// reorders the timeline, whose checks depend on its order) and within the run.
    fn check_jitter_windows(
        &mut self,
        raw: &[RawTimelineEntry],
        timed: &[(u64, u64, usize)],
        duration_ns: u64,
    ) {
        for (position, &(at_ns, jitter_ns, index)) in timed.iter().enumerate() {
            if jitter_ns == 0 {
                continue;
            }
            let end_ns = at_ns.saturating_add(jitter_ns);
            let next = timed.get(position + 1).map(|&(next_ns, _, _)| next_ns);
            let limit = match next {
                Some(next_ns) if end_ns >= next_ns => Some(format!(
                    "at_ms + jitter_ms must stay before the next entry's at_ms ({} ms), so that \
                     jitter never reorders the timeline",
                    next_ns as f64 / 1e6
                )),
                _ if end_ns > duration_ns && duration_ns > 0 => Some(format!(
                    "at_ms + jitter_ms must be within duration_ms = {}",
                    duration_ns as f64 / 1e6
                )),
                _ => None,
            };
            if let Some(allowed) = limit {
                let path = child(&element("timeline", index), "jitter_ms");
                let jitter_ms = raw.get(index).and_then(|e| e.jitter_ms).unwrap_or_default();
                self.push(Problem::field(path, jitter_ms, &allowed));
            }
        }
    }

    fn action(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        world: &mut World,
    ) -> Option<Action> {
        let action_path = child(path, "action");
        let Some(action) = entry.action.as_deref() else {
            self.push(Problem::missing(
                action_path,
                &format!("one of {}", quoted_list(ACTIONS)),
            ));
            return None;
        };
        if !ACTIONS.contains(&action) {
            let hint = suggestion(action, ACTIONS);
            let allowed = format!("must be one of {}{hint}", quoted_list(ACTIONS));
            self.push(Problem::field(action_path, Value::from(action), &allowed));
            return None;
        }
        let before = self.problems.len();
        self.check_fields(entry, path, action);
        let resolved = self.action_fields(entry, path, action, world);
        (self.problems.len() == before)
            .then_some(resolved)
            .flatten()
    }

    /// Fields that belong to other actions are errors, not silently ignored.
    fn check_fields(&mut self, entry: &RawTimelineEntry, path: &str, action: &str) {
        let present = [
            ("group", entry.group.is_some()),
            ("member", entry.member.is_some()),
            ("producer", entry.producer.is_some()),
            ("instance", entry.instance.is_some()),
            ("broker", entry.broker.is_some()),
            ("topic", entry.topic.is_some()),
            ("partitions", entry.partitions.is_some()),
            ("duration_ms", entry.duration_ms.is_some()),
            ("factor", entry.factor.is_some()),
            ("between", entry.between.is_some()),
            ("nodes", entry.nodes.is_some()),
            ("extra_ms", entry.extra_ms.is_some()),
            ("probability", entry.probability.is_some()),
            ("lose_unflushed_ms", entry.lose_unflushed_ms.is_some()),
        ];
        let wanted = fields_of(action);
        for (field, is_present) in present {
            if is_present && !wanted.contains(&field) {
                let text = format!(
                    "does not belong to action \"{action}\", which takes {}",
                    quoted_list(wanted.iter().copied())
                );
                self.push(Problem::new(child(path, field), text));
            }
        }
    }

    fn action_fields(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        action: &str,
        world: &mut World,
    ) -> Option<Action> {
        let duration = |resolver: &mut Resolver| {
            resolver.time_ms(entry.duration_ms, &child(path, "duration_ms"), None, true)
        };
        let resolved = match action {
            "consumer-join" => {
                let group = self.group_ref(entry.group.as_deref(), path, world)?;
                if let Some(members) = world.members.get_mut(group) {
                    *members = members.saturating_add(1);
                }
                Action::ConsumerJoin { group }
            }
            "consumer-leave" | "consumer-crash" | "consumer-restart" | "consumer-pause"
            | "consumer-slow" => self.member_action(entry, path, action, world)?,
            "producer-start" | "producer-stop" | "producer-restart" | "producer-crash" => {
                let (producer, instance) = self.producer_ref(entry, path, world)?;
                match action {
                    "producer-start" => Action::ProducerStart { producer, instance },
                    "producer-stop" => Action::ProducerStop { producer, instance },
                    "producer-crash" => Action::ProducerCrash { producer, instance },
                    _ => Action::ProducerRestart { producer, instance },
                }
            }
            "broker-crash" | "broker-restart" | "broker-stall" => {
                let broker = self.broker_ref(entry.broker, path, world);
                let duration_ns = (action == "broker-stall").then(|| duration(self));
                let lose_path = child(path, "lose_unflushed_ms");
                let lose_unflushed_ns = entry
                    .lose_unflushed_ms
                    .map(|ms| self.time_ms(Some(ms), &lose_path, None, false));
                let broker = broker?;
                match action {
                    "broker-crash" => Action::BrokerCrash {
                        broker,
                        lose_unflushed_ns,
                    },
                    "broker-restart" => Action::BrokerRestart { broker },
                    _ => Action::BrokerStall {
                        broker,
                        duration_ns: duration_ns?,
                    },
                }
            }
            "add-partitions" => self.add_partitions(entry, path, world)?,
            _ => self.network_action(entry, path, action, world)?,
        };
        Some(resolved)
    }

    /// `consumer-leave`, `-crash`, `-restart`, `-pause` and `-slow`: a group and one member.
    fn member_action(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        action: &str,
        world: &World,
    ) -> Option<Action> {
        let group = self.group_ref(entry.group.as_deref(), path, world);
        let member = group.and_then(|group| self.member_ref(entry.member, group, path, world));
        let duration_ns = (action == "consumer-pause" || action == "consumer-slow")
            .then(|| self.time_ms(entry.duration_ms, &child(path, "duration_ms"), None, true));
        let factor = (action == "consumer-slow").then(|| {
            self.number(
                entry.factor,
                &child(path, "factor"),
                None,
                "must be a processing-time multiplier > 0",
                |v| v > 0.0,
            )
        });
        let (group, member) = (group?, member?);
        Some(match action {
            "consumer-leave" => Action::ConsumerLeave { group, member },
            "consumer-crash" => Action::ConsumerCrash { group, member },
            "consumer-restart" => Action::ConsumerRestart { group, member },
            "consumer-pause" => Action::ConsumerPause {
                group,
                member,
                duration_ns: duration_ns?,
            },
            _ => Action::ConsumerSlow {
                group,
                member,
                factor: factor?,
                duration_ns: duration_ns?,
            },
        })
    }

    fn network_action(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        action: &str,
        world: &World,
    ) -> Option<Action> {
        let duration_ns = self.time_ms(entry.duration_ms, &child(path, "duration_ms"), None, true);
        match action {
            "network-partition" => {
                let between_path = child(path, "between");
                let allowed = "must be two non-empty lists of nodes, e.g. [[\"broker-0\"], [\"broker-1\", \"broker-2\"]]";
                let sides = match entry.between.as_deref() {
                    Some([left, right]) if !left.is_empty() && !right.is_empty() => (left, right),
                    Some(other) => {
                        self.push(Problem::field(
                            between_path,
                            serde_json::json!(other),
                            allowed,
                        ));
                        return None;
                    }
                    None => {
                        self.push(Problem::missing(between_path, allowed));
                        return None;
                    }
                };
                let left = self.nodes(sides.0, &element(&between_path, 0), world);
                let right = self.nodes(sides.1, &element(&between_path, 1), world);
                if let Some(node) = left.iter().find(|node| right.contains(node)) {
                    let text = format!("node {node:?} is on both sides of the partition");
                    self.push(Problem::new(between_path, text));
                }
                Some(Action::NetworkPartition {
                    between: [left, right],
                    duration_ns,
                })
            }
            "network-delay" => {
                let nodes = self.node_list(entry.nodes.as_deref(), path, world);
                let extra_ns = self.time_ms(entry.extra_ms, &child(path, "extra_ms"), None, false);
                Some(Action::NetworkDelay {
                    nodes,
                    extra_ns,
                    duration_ns,
                })
            }
            _ => {
                let nodes = self.node_list(entry.nodes.as_deref(), path, world);
                let allowed = "must be a probability in [0, 1]";
                let probability = self.number(
                    entry.probability,
                    &child(path, "probability"),
                    None,
                    allowed,
                    |v| (0.0..=1.0).contains(&v),
                );
                Some(Action::NetworkLoss {
                    nodes,
                    probability,
                    duration_ns,
                })
            }
        }
    }

    fn add_partitions(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        world: &mut World,
    ) -> Option<Action> {
        let topic = self.topic_index(entry.topic.as_deref(), &child(path, "topic"), world.topics);
        let partitions_path = child(path, "partitions");
        let current = world.partitions.get(topic).copied().unwrap_or(0);
        let minimum = current.saturating_add(1);
        let partitions = self.count(entry.partitions, &partitions_path, None, minimum);
        if entry.partitions.is_some_and(|p| p < i64::from(minimum)) {
            // `count` already reported it; say why the minimum is what it is.
            self.push(Problem::new(
                &partitions_path,
                format!(
                    "is the new total partition count, so it must exceed the current {current}"
                ),
            ));
        }
        if let Some(slot) = world.partitions.get_mut(topic) {
            *slot = partitions;
        }
        Some(Action::AddPartitions { topic, partitions })
    }

    fn group_ref(&mut self, name: Option<&str>, path: &str, world: &World) -> Option<usize> {
        let group_path = child(path, "group");
        let ids = world.groups.iter().map(|g| g.group_id.as_str());
        let Some(name) = name else {
            self.push(Problem::missing(
                group_path,
                &format!("one of the groups {}", quoted_list(ids)),
            ));
            return None;
        };
        let found = world.groups.iter().position(|g| g.group_id == name);
        if found.is_none() {
            let hint = suggestion(name, ids.clone());
            let allowed = format!("no such group{hint}; the groups are {}", quoted_list(ids));
            self.push(Problem::field(group_path, Value::from(name), &allowed));
        }
        found
    }

    fn member_ref(
        &mut self,
        member: Option<i64>,
        group: usize,
        path: &str,
        world: &World,
    ) -> Option<u32> {
        let member_path = child(path, "member");
        let count = world.members.get(group).copied().unwrap_or(0);
        let group_id = world
            .groups
            .get(group)
            .map(|g| g.group_id.as_str())
            .unwrap_or_default();
        let allowed = if count == 0 {
            format!("group \"{group_id}\" has no members at this time (members + consumer-joins so far = 0)")
        } else {
            format!("must be a member index of group \"{group_id}\": 0 to {} (members + consumer-joins so far)", count - 1)
        };
        let Some(member) = member else {
            self.push(Problem::missing(member_path, &allowed));
            return None;
        };
        match u32::try_from(member) {
            Ok(index) if index < count => Some(index),
            _ => {
                self.push(Problem::field(member_path, member, &allowed));
                None
            }
        }
    }

    fn producer_ref(
        &mut self,
        entry: &RawTimelineEntry,
        path: &str,
        world: &World,
    ) -> Option<(usize, Option<u32>)> {
        let producer_path = child(path, "producer");
        let names = world.producers.iter().map(|p| p.name.as_str());
        let Some(name) = entry.producer.as_deref() else {
            self.push(Problem::missing(
                producer_path,
                &format!("one of the producers {}", quoted_list(names)),
            ));
            return None;
        };
        let Some(producer) = world.producers.iter().position(|p| p.name == name) else {
            let hint = suggestion(name, names.clone());
            let allowed = format!(
                "no such producer{hint}; the producers are {}",
                quoted_list(names)
            );
            self.push(Problem::field(producer_path, Value::from(name), &allowed));
            return None;
        };
        let instances = world
            .producers
            .get(producer)
            .map(|p| p.instances)
            .unwrap_or(0);
        let Some(instance) = entry.instance else {
            return Some((producer, None));
        };
        match u32::try_from(instance) {
            Ok(index) if index < instances => Some((producer, Some(index))),
            _ => {
                let allowed = format!("must be an instance of producer \"{name}\": 0 to {} (or omit it for all instances)", instances.saturating_sub(1));
                self.push(Problem::field(child(path, "instance"), instance, &allowed));
                None
            }
        }
    }

    fn broker_ref(&mut self, broker: Option<i64>, path: &str, world: &World) -> Option<u32> {
        let brokers = world.cluster.brokers;
        let allowed = format!(
            "must be a broker id from 0 to {} (cluster.brokers = {brokers})",
            brokers.saturating_sub(1)
        );
        let broker_path = child(path, "broker");
        let Some(broker) = broker else {
            self.push(Problem::missing(broker_path, &allowed));
            return None;
        };
        match u32::try_from(broker) {
            Ok(id) if id < brokers => Some(id),
            _ => {
                self.push(Problem::field(broker_path, broker, &allowed));
                None
            }
        }
    }

    fn node_list(&mut self, nodes: Option<&[String]>, path: &str, world: &World) -> Vec<NodeRef> {
        let nodes_path = child(path, "nodes");
        match nodes {
            Some(list) if !list.is_empty() => self.nodes(list, &nodes_path, world),
            _ => {
                self.push(Problem::new(nodes_path, "missing: required, a non-empty list of nodes (\"broker-0\", \"producer:NAME:I\", \"consumer:GROUP:I\", \"controller\")"));
                Vec::new()
            }
        }
    }

    fn nodes(&mut self, names: &[String], path: &str, world: &World) -> Vec<NodeRef> {
        let mut nodes = Vec::new();
        for (index, name) in names.iter().enumerate() {
            match node(name, world) {
                Ok(node) => nodes.push(node),
                Err(allowed) => self.push(Problem::field(
                    element(path, index),
                    Value::from(name.as_str()),
                    &allowed,
                )),
            }
        }
        nodes
    }
}

/// Parses a node name: `broker-0`, `producer:NAME:I`, `consumer:GROUP:I`, `controller`.
fn node(name: &str, world: &World) -> Result<NodeRef, String> {
    let syntax = "must name a node: \"broker-N\", \"producer:NAME:I\", \"consumer:GROUP:I\" or \"controller\"";
    if name == "controller" {
        return Ok(NodeRef::Controller);
    }
    if let Some(id) = name.strip_prefix("broker-") {
        let brokers = world.cluster.brokers;
        return match id.parse::<u32>() {
            Ok(id) if id < brokers => Ok(NodeRef::Broker(id)),
            _ => Err(format!(
                "no such broker: broker ids are 0 to {} (cluster.brokers = {brokers})",
                brokers.saturating_sub(1)
            )),
        };
    }
    let Some((kind, rest)) = name.split_once(':') else {
        return Err(syntax.to_string());
    };
    let Some((entity, index)) = rest.rsplit_once(':') else {
        return Err(syntax.to_string());
    };
    match kind {
        "producer" => {
            let names = world.producers.iter().map(|p| p.name.as_str());
            let Some(producer) = world.producers.iter().position(|p| p.name == entity) else {
                return Err(format!(
                    "no producer \"{entity}\"{}; the producers are {}",
                    suggestion(entity, names.clone()),
                    quoted_list(names)
                ));
            };
            let instances = world
                .producers
                .get(producer)
                .map(|p| p.instances)
                .unwrap_or(0);
            match index.parse::<u32>() {
                Ok(instance) if instance < instances => Ok(NodeRef::Producer(producer, instance)),
                _ => Err(format!(
                    "producer \"{entity}\" has instances 0 to {}",
                    instances.saturating_sub(1)
                )),
            }
        }
        "consumer" => {
            let ids = world.groups.iter().map(|g| g.group_id.as_str());
            let Some(group) = world.groups.iter().position(|g| g.group_id == entity) else {
                return Err(format!(
                    "no group \"{entity}\"{}; the groups are {}",
                    suggestion(entity, ids.clone()),
                    quoted_list(ids)
                ));
            };
            let members = world.members.get(group).copied().unwrap_or(0);
            match index.parse::<u32>() {
                Ok(member) if member < members => Ok(NodeRef::Consumer(group, member)),
                _ => Err(format!("group \"{entity}\" has members 0 to {} at this time (members + consumer-joins so far = {members})", members as i64 - 1)),
            }
        }
        _ => Err(syntax.to_string()),
    }
}

/// A producer whose first timeline event (for all its instances) is `producer-start` starts then;
/// every other producer starts at 0.
fn set_producer_starts(events: &[TimelineEvent], producers: &mut [ProducerSpec]) {
    for (index, producer) in producers.iter_mut().enumerate() {
        let first = events.iter().find(|event| match &event.action {
            Action::ProducerStart { producer, .. }
            | Action::ProducerStop { producer, .. }
            | Action::ProducerRestart { producer, .. }
            | Action::ProducerCrash { producer, .. } => *producer == index,
            _ => false,
        });
        if let Some(TimelineEvent {
            at_ns,
            action: Action::ProducerStart { instance: None, .. },
            ..
        }) = first
        {
            producer.start_ns = *at_ns;
        }
    }
}
