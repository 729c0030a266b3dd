//! Events counted by kind, for the run statistics (`--stats`): they show where a scenario's cost
//! goes (in most scenarios, fetch round trips) and so which settings make a sweep cheaper.

use crate::msg::MessageKind;
use crate::world::Event;

/// An event's variant without its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Deliver,
    BrokerProcess,
    ProducerWake,
    ConsumerWake,
    ConsumerHeartbeat,
    ConsumerRequestTimer,
    ConsumerStart,
    GroupTimer,
    BrokerTimer,
    FetcherBackoff,
    BrokerStart,
    BrokerHeartbeat,
    IsrCheck,
    SessionExpired,
    ConnectionClosed,
    MetricsTick,
    Timeline,
    TxnTimer,
    PipelineWork,
    PipelineNote,
}

impl EventKind {
    /// Anchored on the last variant: a new kind goes before `PipelineNote`.
    const COUNT: usize = EventKind::PipelineNote as usize + 1;
}

impl Event {
    /// The event's kind and, for a delivery or a broker's processing, the message's.
    pub fn kind(&self) -> (EventKind, Option<MessageKind>) {
        match self {
            Event::Deliver { message, .. } => (EventKind::Deliver, Some(message.kind())),
            Event::BrokerProcess { message, .. } => {
                (EventKind::BrokerProcess, Some(message.kind()))
            }
            Event::ProducerWake(_) => (EventKind::ProducerWake, None),
            Event::ConsumerWake(_) => (EventKind::ConsumerWake, None),
            Event::ConsumerHeartbeat(_) => (EventKind::ConsumerHeartbeat, None),
            Event::ConsumerRequestTimer(_) => (EventKind::ConsumerRequestTimer, None),
            Event::ConsumerStart(_) => (EventKind::ConsumerStart, None),
            Event::GroupTimer { .. } => (EventKind::GroupTimer, None),
            Event::BrokerTimer { .. } => (EventKind::BrokerTimer, None),
            Event::FetcherBackoff { .. } => (EventKind::FetcherBackoff, None),
            Event::BrokerStart(_) => (EventKind::BrokerStart, None),
            Event::BrokerHeartbeat(_) => (EventKind::BrokerHeartbeat, None),
            Event::IsrCheck(_) => (EventKind::IsrCheck, None),
            Event::SessionExpired(_) => (EventKind::SessionExpired, None),
            Event::ConnectionClosed { .. } => (EventKind::ConnectionClosed, None),
            Event::MetricsTick => (EventKind::MetricsTick, None),
            Event::Timeline(_) => (EventKind::Timeline, None),
            Event::TxnTimer { .. } => (EventKind::TxnTimer, None),
            Event::PipelineWork { .. } => (EventKind::PipelineWork, None),
            Event::PipelineNote { .. } => (EventKind::PipelineNote, None),
        }
    }
}

/// How many events of each kind were dispatched. A flat table indexed by the two kinds, so that
/// counting costs an index, not a search, on every event.
#[derive(Debug, Clone)]
pub struct EventCounts {
    counts: Vec<u64>,
    kinds: Vec<Option<(EventKind, Option<MessageKind>)>>,
}

impl Default for EventCounts {
    fn default() -> Self {
        let slots = EventKind::COUNT * (MessageKind::COUNT + 1);
        EventCounts {
            counts: vec![0; slots],
            kinds: vec![None; slots],
        }
    }
}

impl EventCounts {
    pub fn count(&mut self, event: &Event) {
        let kind = event.kind();
        let (event_kind, message_kind) = kind;
        let slot = event_kind as usize * (MessageKind::COUNT + 1)
            + message_kind.map_or(0, |message| message as usize + 1);
        if self.counts[slot] == 0 {
            self.kinds[slot] = Some(kind);
        }
        self.counts[slot] += 1;
    }

    /// Each kind that happened, most frequent first (ties by name): "Deliver FetchRequest", or
    /// "ProducerWake" for an event without a message.
    pub fn by_kind(&self) -> Vec<(String, u64)> {
        let mut kinds: Vec<(String, u64)> = (self.kinds.iter().zip(&self.counts))
            .filter_map(|(kind, &count)| {
                let (event_kind, message_kind) = (*kind)?;
                let name = match message_kind {
                    Some(message_kind) => format!("{event_kind:?} {message_kind:?}"),
                    None => format!("{event_kind:?}"),
                };
                Some((name, count))
            })
            .collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kinds
    }

    /// The `top` most frequent kinds, one per line with their share of all events, then the
    /// rest as one line.
    pub fn summary(&self, top: usize) -> String {
        let kinds = self.by_kind();
        let total: u64 = kinds.iter().map(|(_, count)| count).sum();
        let share = |count: u64| 100.0 * count as f64 / total.max(1) as f64;
        let mut text = String::from("events by kind:\n");
        for (name, count) in kinds.iter().take(top) {
            text.push_str(&format!("  {:5.1}% {count:>12}  {name}\n", share(*count)));
        }
        let rest: u64 = kinds.iter().skip(top).map(|(_, count)| count).sum();
        if rest > 0 {
            let others = kinds.len() - top;
            text.push_str(&format!(
                "  {:5.1}% {rest:>12}  {others} other kinds\n",
                share(rest)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BrokerId, NodeId, ProducerId};
    use crate::msg::Message;

    #[test]
    fn counts_events_by_their_kind_and_message() {
        let mut counts = EventCounts::default();
        let wake = Event::ProducerWake(ProducerId(0));
        let metadata = Event::Deliver {
            from: NodeId::Producer(ProducerId(0)),
            to: NodeId::Broker(BrokerId(0)),
            message: Message::MetadataRequest,
        };
        let processed = Event::BrokerProcess {
            broker: BrokerId(0),
            from: NodeId::Producer(ProducerId(0)),
            message: Message::MetadataRequest,
        };
        for event in [&wake, &metadata, &wake, &processed, &metadata, &wake] {
            counts.count(event);
        }
        assert_eq!(
            counts.by_kind(),
            vec![
                ("ProducerWake".to_string(), 3),
                ("Deliver MetadataRequest".to_string(), 2),
                ("BrokerProcess MetadataRequest".to_string(), 1),
            ]
        );
        assert_eq!(
            counts.summary(1),
            "events by kind:\n   50.0%            3  ProducerWake\n   50.0%            3  2 other kinds\n"
        );
    }
}
