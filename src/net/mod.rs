//! The network: per-message latency drawn from the scenario's distribution, and one NIC per node
//! whose egress link carries one message at a time (a message of B bytes holds it for
//! B / bandwidth), so throughput saturates as a real link does. Delivery between two nodes is
//! FIFO, as on a TCP connection.

use crate::ids::NodeId;
use crate::scenario::model::Network as NetworkSpec;
use crate::sim::rng::{Purpose, Sampler, SimRng, StreamKind};
use crate::sim::time::{f64_to_ns, NS_PER_MS, NS_PER_SEC};

/// Where each kind of node starts in the flat node index.
#[derive(Debug, Clone, Copy)]
pub struct NodeLayout {
    pub brokers: u32,
    pub producers: u32,
    pub consumers: u32,
}

impl NodeLayout {
    pub fn index(&self, node: NodeId) -> usize {
        match node {
            NodeId::Broker(id) => id.0 as usize,
            NodeId::Producer(id) => (self.brokers + id.0) as usize,
            NodeId::Consumer(id) => (self.brokers + self.producers + id.0) as usize,
            NodeId::Controller => (self.brokers + self.producers + self.consumers) as usize,
        }
    }

    /// Every node, the controller included.
    pub fn len(&self) -> usize {
        (self.brokers + self.producers + self.consumers + 1) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Kafka's `reconnect.backoff.ms` default: a closed connection is retried after this long.
pub const RECONNECT_BACKOFF_NS: u64 = 50 * NS_PER_MS;
/// `reconnect.backoff.max.ms` default.
const RECONNECT_BACKOFF_MAX_NS: u64 = 1000 * NS_PER_MS;

/// A client's wait before its next connection attempt to a node, after `failed_in_a_row`
/// earlier attempts failed since the last connection that worked (Kafka's
/// `ClusterConnectionStates`): `reconnect.backoff.ms` doubling per failure up to
/// `reconnect.backoff.max.ms`. Model limit: without Kafka's ±20% jitter.
pub fn reconnect_backoff_ns(failed_in_a_row: u32) -> u64 {
    (RECONNECT_BACKOFF_NS << failed_in_a_row.min(5)).min(RECONNECT_BACKOFF_MAX_NS)
}

/// When a message leaves its sender and when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmission {
    /// The last byte is on the wire: Kafka's "send completed".
    pub sent_ns: u64,
    pub deliver_at_ns: u64,
    /// Lost on the way (a network partition or loss): the sender learns only by timing out.
    pub dropped: bool,
}

/// A timeline fault on links, active until `until_ns`.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkFault {
    /// No message crosses between the two sides, either way.
    Partition {
        sides: [Vec<NodeId>; 2],
        until_ns: u64,
    },
    /// Messages to or from these nodes take this much longer.
    Delay {
        nodes: Vec<NodeId>,
        extra_ns: u64,
        until_ns: u64,
    },
    /// Messages to or from these nodes are lost with this probability.
    Loss {
        nodes: Vec<NodeId>,
        probability: f64,
        until_ns: u64,
    },
}

pub struct Network {
    layout: NodeLayout,
    latency_ns: Sampler,
    bandwidth_bytes_per_sec: u64,
    /// One latency stream per sending node (common random numbers across variants).
    latency_rng: Vec<SimRng>,
    link_free_at_ns: Vec<u64>,
    /// Last delivery time per (from, to) pair: a later message never overtakes an earlier one.
    /// One row per sender, indexed by the receiver and grown on demand (clients only talk to
    /// brokers, which come first in the node index, so their rows stay short); 0 = never.
    last_delivery_ns: Vec<Vec<u64>>,
    faults: Vec<LinkFault>,
    loss_rng: SimRng,
}

impl Network {
    pub fn new(spec: &NetworkSpec, layout: NodeLayout, seed: u64) -> Self {
        let latency_rng = (0..layout.len())
            .map(|index| SimRng::new(seed, StreamKind::Network, index as u64, Purpose::Latency))
            .collect();
        Network {
            layout,
            latency_ns: Sampler::from(&spec.latency_ns),
            bandwidth_bytes_per_sec: spec.bandwidth_bytes_per_sec.max(1),
            latency_rng,
            link_free_at_ns: vec![0; layout.len()],
            last_delivery_ns: vec![Vec::new(); layout.len()],
            faults: Vec::new(),
            loss_rng: SimRng::new(seed, StreamKind::Faults, 0, Purpose::Loss),
        }
    }

    pub fn add_fault(&mut self, fault: LinkFault) {
        self.faults.push(fault);
    }

    /// Extra delay and whether the message is lost, from the faults active at `now_ns`.
    fn fault_effect(&mut self, now_ns: u64, from: NodeId, to: NodeId) -> (u64, bool) {
        self.faults.retain(|fault| match fault {
            LinkFault::Partition { until_ns, .. }
            | LinkFault::Delay { until_ns, .. }
            | LinkFault::Loss { until_ns, .. } => *until_ns > now_ns,
        });
        let mut extra_ns = 0;
        let mut dropped = false;
        for fault in &self.faults {
            match fault {
                LinkFault::Partition { sides, .. } => {
                    let across = (sides[0].contains(&from) && sides[1].contains(&to))
                        || (sides[1].contains(&from) && sides[0].contains(&to));
                    dropped |= across;
                }
                LinkFault::Delay {
                    nodes,
                    extra_ns: extra,
                    ..
                } => {
                    if nodes.contains(&from) || nodes.contains(&to) {
                        extra_ns += extra;
                    }
                }
                LinkFault::Loss {
                    nodes, probability, ..
                } => {
                    if nodes.contains(&from) || nodes.contains(&to) {
                        dropped |= self.loss_rng.unit() < *probability;
                    }
                }
            }
        }
        (extra_ns, dropped)
    }

    pub fn layout(&self) -> NodeLayout {
        self.layout
    }

    /// Transmission time of `bytes` on one link.
    pub fn serialization_ns(&self, bytes: u64) -> u64 {
        let ns =
            u128::from(bytes) * u128::from(NS_PER_SEC) / u128::from(self.bandwidth_bytes_per_sec);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Puts a message of `bytes` on the sender's link at `now_ns`.
    pub fn transmit(&mut self, now_ns: u64, from: NodeId, to: NodeId, bytes: u64) -> Transmission {
        let from_index = self.layout.index(from);
        let to_index = self.layout.index(to);
        let start_ns = now_ns.max(self.link_free_at_ns[from_index]);
        let sent_ns = start_ns + self.serialization_ns(bytes);
        self.link_free_at_ns[from_index] = sent_ns;
        let latency_ns = f64_to_ns(self.latency_rng[from_index].sample(&self.latency_ns));
        let (extra_ns, dropped) = if self.faults.is_empty() {
            (0, false)
        } else {
            self.fault_effect(now_ns, from, to)
        };
        let row = &mut self.last_delivery_ns[from_index];
        if row.len() <= to_index {
            row.resize(to_index + 1, 0);
        }
        let last = &mut row[to_index];
        let deliver_at_ns = (sent_ns + latency_ns + extra_ns).max(*last);
        if !dropped {
            *last = deliver_at_ns;
        }
        Transmission {
            sent_ns,
            deliver_at_ns,
            dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BrokerId, ProducerId};
    use crate::scenario::model::Dist;

    fn network(latency: f64, bandwidth_bytes_per_sec: u64) -> Network {
        let spec = NetworkSpec {
            latency_ns: Dist::Fixed { value: latency },
            bandwidth_bytes_per_sec,
        };
        let layout = NodeLayout {
            brokers: 1,
            producers: 1,
            consumers: 0,
        };
        Network::new(&spec, layout, 1)
    }

    #[test]
    fn messages_queue_on_the_senders_link() {
        // 1000 bytes at 1 MB/s take 1 ms on the link; latency 0.5 ms.
        let mut net = network(500_000.0, 1_000_000);
        let producer = NodeId::Producer(ProducerId(0));
        let broker = NodeId::Broker(BrokerId(0));
        let first = net.transmit(0, producer, broker, 1000);
        let second = net.transmit(0, producer, broker, 1000);
        assert_eq!((first.sent_ns, first.deliver_at_ns), (1_000_000, 1_500_000));
        assert_eq!(
            (second.sent_ns, second.deliver_at_ns),
            (2_000_000, 2_500_000)
        );
        // The broker's own link is free.
        let reply = net.transmit(0, broker, producer, 1000);
        assert_eq!(reply.deliver_at_ns, 1_500_000);
    }
}
