//! The event queue, ordered by (time, insertion sequence), so ties fire in the order they were
//! scheduled and a run never depends on heap internals. Timers have keys and can be moved or
//! cancelled in O(log n) instead of leaving dead events behind (style.md habit 4): they live in a
//! keyed `priority-queue`. One-off events (messages, processing) are never cancelled, so they need
//! no key and no index: they live in a plain binary heap, which costs far less per push and pop.
//! That heap holds only each event's priority and the index of its payload in a slab: an event is
//! about a hundred bytes, and a heap of events moved a whole one at every level of every sift.
//! Deadlines (a parked request's timeout) are set once, a fixed time ahead, and nearly always
//! cancelled before they fire: they live in lanes, one per distance ahead, each a queue in
//! firing order, where setting is a push at the back and cancelling marks the entry dead.
//! A timer or deadline holds only its key: the event it fires is made from the key when it
//! fires (`E: From<T>`), so moving, cancelling and ordering timers never moves an event.
//! `pop` takes whichever head comes first; all share one sequence counter.

use priority_queue::PriorityQueue;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A small multiplicative hasher: the timer index only needs speed, and a fixed hash keeps every
/// run identical (the default `RandomState` would not change results, but costs time).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }
}

type Priority = Reverse<(u64, u64)>;

/// A one-off event in the heap: ordered by its priority alone; its payload waits in the slab.
struct Plain {
    priority: Priority,
    slot: u32,
}

impl PartialEq for Plain {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Plain {}
impl PartialOrd for Plain {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Plain {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority)
    }
}

/// At most this many lanes: a run sets deadlines only a few distances ahead (the request
/// timeouts and fetch waits of its configs); any others go to the keyed timers.
const MAX_LANES: usize = 8;
/// A lane entry: its key, or None once cancelled.
#[derive(Clone, Copy)]
struct LaneEntry<T> {
    at_ns: u64,
    seq: u64,
    key: Option<T>,
}

/// Deadlines set `after_ns` ahead: the time is now + `after_ns` and now never goes back, so
/// appending keeps the entries in (time, sequence) order. The front entry is never dead.
struct Lane<T> {
    after_ns: u64,
    /// The number of `entries[0]`; entries are numbered from 0 in the order they were set.
    first: u64,
    entries: VecDeque<LaneEntry<T>>,
}

impl<T> Lane<T> {
    fn drop_dead_front(&mut self) {
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.key.is_none())
        {
            self.entries.pop_front();
            self.first += 1;
        }
    }
}

/// How to cancel a deadline: its lane entry, or its key among the timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline<T> {
    Lane { lane: u32, number: u64 },
    Timer(T),
}

/// Where the next event waits.
enum Head {
    Plain,
    Timer,
    Lane(usize),
}

/// Pending events of type `E`, with timers keyed by `T`.
pub struct EventQueue<E, T: Hash + Eq> {
    plain: BinaryHeap<Plain>,
    lanes: Vec<Lane<T>>,
    /// Live (not cancelled) lane entries.
    lane_len: usize,
    /// Payloads of the one-off events, by slot; a popped event's slot is reused (last freed
    /// first, so the next payload lands in memory just touched).
    slots: Vec<Option<E>>,
    free_slots: Vec<u32>,
    timers: PriorityQueue<T, Priority, BuildHasherDefault<FastHasher>>,
    next_seq: u64,
    now_ns: u64,
}

impl<E: From<T>, T: Hash + Eq + Copy + std::fmt::Debug> Default for EventQueue<E, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: From<T>, T: Hash + Eq + Copy + std::fmt::Debug> EventQueue<E, T> {
    pub fn new() -> Self {
        EventQueue {
            plain: BinaryHeap::new(),
            lanes: Vec::new(),
            lane_len: 0,
            slots: Vec::new(),
            free_slots: Vec::new(),
            timers: PriorityQueue::with_default_hasher(),
            next_seq: 0,
            now_ns: 0,
        }
    }

    /// The time of the last event popped.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn len(&self) -> usize {
        self.plain.len() + self.timers.len() + self.lane_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn priority(&mut self, at_ns: u64) -> Priority {
        assert!(
            at_ns >= self.now_ns,
            "event scheduled in the past: at {at_ns} ns, now {} ns",
            self.now_ns
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        Reverse((at_ns, seq))
    }

    /// Schedules a one-off event.
    pub fn schedule(&mut self, at_ns: u64, event: E) {
        let priority = self.priority(at_ns);
        let slot = self.store(event);
        self.plain.push(Plain { priority, slot });
    }

    /// Puts a payload in the slab.
    fn store(&mut self, event: E) -> u32 {
        match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Some(event));
                slot
            }
        }
    }

    /// Takes a payload out of the slab.
    fn take(&mut self, slot: u32) -> Option<E> {
        self.free_slots.push(slot);
        self.slots[slot as usize].take()
    }

    /// Sets deadline `key` at `at_ns`: cheap to set and to cancel, for timeouts that are set
    /// once and rarely fire. Falls back to a timer when the run already has `MAX_LANES`
    /// distances ahead.
    pub fn set_deadline(&mut self, key: T, at_ns: u64) -> Deadline<T> {
        let after_ns = at_ns.saturating_sub(self.now_ns);
        let lane = match self.lanes.iter().position(|lane| lane.after_ns == after_ns) {
            Some(lane) => lane,
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push(Lane {
                    after_ns,
                    first: 0,
                    entries: VecDeque::new(),
                });
                self.lanes.len() - 1
            }
            None => {
                self.set_timer(key, at_ns);
                return Deadline::Timer(key);
            }
        };
        let Reverse((at_ns, seq)) = self.priority(at_ns);
        let lane_entries = &mut self.lanes[lane];
        let number = lane_entries.first + lane_entries.entries.len() as u64;
        lane_entries.entries.push_back(LaneEntry {
            at_ns,
            seq,
            key: Some(key),
        });
        self.lane_len += 1;
        Deadline::Lane {
            lane: lane as u32,
            number,
        }
    }

    /// Cancels a deadline; returns whether it was pending.
    pub fn cancel_deadline(&mut self, deadline: Deadline<T>) -> bool {
        let (lane, number) = match deadline {
            Deadline::Timer(key) => return self.cancel_timer(key),
            Deadline::Lane { lane, number } => (lane as usize, number),
        };
        let Some(lane) = self.lanes.get_mut(lane) else {
            return false;
        };
        let Some(entry) = number
            .checked_sub(lane.first)
            .and_then(|index| lane.entries.get_mut(index as usize))
        else {
            return false;
        };
        if entry.key.take().is_none() {
            return false;
        }
        lane.drop_dead_front();
        self.lane_len -= 1;
        true
    }

    /// Sets timer `key` to fire at `at_ns`, replacing any pending timer of that key.
    pub fn set_timer(&mut self, key: T, at_ns: u64) {
        let priority = self.priority(at_ns);
        // A pending timer is moved in place: cheaper than removing it and pushing it again, and
        // the pop order depends only on the (time, sequence) priorities either way.
        if self.timers.change_priority(&key, priority).is_none() {
            self.timers.push(key, priority);
        }
    }

    /// Cancels timer `key`; returns whether it was pending.
    pub fn cancel_timer(&mut self, key: T) -> bool {
        self.timers.remove(&key).is_some()
    }

    /// When timer `key` fires, if pending.
    pub fn timer_at(&self, key: T) -> Option<u64> {
        self.timers.get_priority(&key).map(|priority| priority.0 .0)
    }

    /// The priority of the next event and where it waits, if any (the larger `Reverse` comes
    /// first).
    fn next(&self) -> Option<(Priority, Head)> {
        let mut next = self.plain.peek().map(|entry| (entry.priority, Head::Plain));
        let mut consider = |priority: Priority, head: Head| {
            if next.as_ref().is_none_or(|(best, _)| priority > *best) {
                next = Some((priority, head));
            }
        };
        if let Some((_, &priority)) = self.timers.peek() {
            consider(priority, Head::Timer);
        }
        for (index, lane) in self.lanes.iter().enumerate() {
            if let Some(entry) = lane.entries.front() {
                consider(Reverse((entry.at_ns, entry.seq)), Head::Lane(index));
            }
        }
        next
    }

    /// Removes and returns the next event; time never goes back.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pop_through(u64::MAX)
    }

    /// Removes and returns the next event if it is due by `end_ns` (one look at the heads
    /// instead of a peek and a pop).
    pub fn pop_through(&mut self, end_ns: u64) -> Option<(u64, E)> {
        let (next, head) = self.next().filter(|(next, _)| next.0 .0 <= end_ns)?;
        let event = match head {
            Head::Plain => {
                let entry = self.plain.pop()?;
                self.take(entry.slot)
            }
            Head::Timer => self.timers.pop().map(|(key, _)| E::from(key)),
            Head::Lane(index) => {
                let lane = &mut self.lanes[index];
                let entry = lane.entries.pop_front()?;
                lane.first += 1;
                lane.drop_dead_front();
                self.lane_len -= 1;
                entry.key.map(E::from)
            }
        }?;
        let at_ns = next.0 .0;
        assert!(
            at_ns >= self.now_ns,
            "time went back: {at_ns} < {}",
            self.now_ns
        );
        self.now_ns = at_ns;
        Some((at_ns, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test event: a one-off event's name, or the key of the timer or deadline that fired.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Ev {
        Plain(&'static str),
        Key(u32),
    }

    impl From<u32> for Ev {
        fn from(key: u32) -> Self {
            Ev::Key(key)
        }
    }

    use Ev::{Key, Plain};

    fn drain(queue: &mut EventQueue<Ev, u32>) -> Vec<Ev> {
        std::iter::from_fn(|| queue.pop().map(|(_, event)| event)).collect()
    }

    #[test]
    fn ties_fire_in_insertion_order() {
        let mut queue: EventQueue<Ev, u32> = EventQueue::new();
        queue.schedule(10, Plain("b"));
        queue.schedule(5, Plain("a"));
        queue.schedule(10, Plain("c"));
        assert_eq!(drain(&mut queue), [Plain("a"), Plain("b"), Plain("c")]);
    }

    #[test]
    fn timers_move_and_cancel() {
        let mut queue: EventQueue<Ev, u32> = EventQueue::new();
        queue.set_timer(1, 100);
        queue.set_timer(2, 50);
        queue.set_timer(1, 20);
        assert_eq!(queue.timer_at(1), Some(20));
        assert!(queue.cancel_timer(2));
        assert!(!queue.cancel_timer(2));
        assert_eq!(queue.pop(), Some((20, Key(1))));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn events_and_timers_at_one_time_fire_in_scheduling_order() {
        let mut queue: EventQueue<Ev, u32> = EventQueue::new();
        queue.schedule(10, Plain("a"));
        queue.set_timer(7, 10);
        queue.schedule(10, Plain("b"));
        queue.set_timer(8, 10);
        // Moving a timer makes it the latest scheduled at its new time.
        queue.set_timer(7, 10);
        queue.schedule(3, Plain("early"));
        assert_eq!(queue.len(), 5);
        // Nothing is due by time 2, and asking leaves the queue as it was.
        assert_eq!(queue.pop_through(2), None);
        assert_eq!(queue.len(), 5);
        let order = drain(&mut queue);
        assert_eq!(
            order,
            [Plain("early"), Plain("a"), Plain("b"), Key(8), Key(7)]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn deadlines_fire_in_order_with_events_and_timers_unless_cancelled() {
        let mut queue: EventQueue<Ev, u32> = EventQueue::new();
        let first = queue.set_deadline(1, 10);
        queue.schedule(10, Plain("a"));
        let second = queue.set_deadline(2, 10);
        let far = queue.set_deadline(3, 30);
        queue.set_timer(9, 10);
        assert_eq!(queue.len(), 5);
        assert!(queue.cancel_deadline(second));
        assert!(!queue.cancel_deadline(second));
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.pop(), Some((10, Key(1))));
        assert!(!queue.cancel_deadline(first), "already fired");
        // Set at time 10, 20 ahead: the lane of deadlines 10 ahead does not take it.
        let later = queue.set_deadline(4, 30);
        assert!(matches!(later, Deadline::Lane { lane: 2, number: 0 }));
        assert_eq!(drain(&mut queue), [Plain("a"), Key(9), Key(3), Key(4)]);
        assert!(!queue.cancel_deadline(far));
        assert!(queue.is_empty());
    }

    #[test]
    fn deadlines_beyond_the_lanes_become_keyed_timers() {
        let mut queue: EventQueue<u64, u64> = EventQueue::new();
        let deadlines: Vec<Deadline<u64>> = (1..=MAX_LANES as u64 + 2)
            .map(|after| queue.set_deadline(after, after))
            .collect();
        assert!(matches!(deadlines[MAX_LANES - 1], Deadline::Lane { .. }));
        assert_eq!(deadlines[MAX_LANES], Deadline::Timer(MAX_LANES as u64 + 1));
        assert!(queue.cancel_deadline(deadlines[MAX_LANES]));
        assert!(queue.cancel_deadline(deadlines[0]));
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        let expected: Vec<u64> = (2..=MAX_LANES as u64)
            .chain([MAX_LANES as u64 + 2])
            .collect();
        assert_eq!(order, expected);
    }

    use proptest::prelude::*;

    /// One step of a run: pop, schedule or set a deadline some way ahead, or cancel the n-th
    /// deadline set so far.
    #[derive(Debug, Clone)]
    enum Op {
        Pop,
        Schedule(u64),
        Deadline(u64),
        Cancel(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Pop),
            (0..20u64).prop_map(Op::Schedule),
            // Eleven distances: more than the lanes, so some deadlines become timers.
            (0..11u64).prop_map(|step| Op::Deadline(step * 7)),
            (0..64usize).prop_map(Op::Cancel),
        ]
    }

    proptest! {
        /// Against a model that keeps every pending event in one list and pops the least
        /// (time, sequence): the same events in the same order, at the same times.
        #[test]
        fn pops_match_a_sorted_list(ops in proptest::collection::vec(op(), 0..300)) {
            let mut queue: EventQueue<u64, u64> = EventQueue::new();
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut deadlines: Vec<(Deadline<u64>, u64)> = Vec::new();
            let mut seq = 0;
            let mut now_ns = 0;
            for op in ops {
                match op {
                    Op::Pop => {
                        let least = (model.iter().enumerate())
                            .min_by_key(|(_, &entry)| entry)
                            .map(|(index, _)| index);
                        let expected = least.map(|index| model.remove(index));
                        let popped = queue.pop();
                        prop_assert_eq!(popped.map(|(_, id)| id), expected.map(|(_, id)| id));
                        if let Some((at_ns, _)) = popped {
                            now_ns = at_ns;
                        }
                        continue;
                    }
                    Op::Schedule(after_ns) => queue.schedule(now_ns + after_ns, seq),
                    Op::Deadline(after_ns) => {
                        let deadline = queue.set_deadline(seq, now_ns + after_ns);
                        deadlines.push((deadline, seq));
                    }
                    Op::Cancel(n) => {
                        if let Some(&(deadline, id)) = deadlines.get(n) {
                            let pending = model.iter().position(|&(_, entry)| entry == id);
                            prop_assert_eq!(queue.cancel_deadline(deadline), pending.is_some());
                            if let Some(index) = pending {
                                model.remove(index);
                            }
                        }
                        continue;
                    }
                }
                let after_ns = match op {
                    Op::Schedule(after_ns) | Op::Deadline(after_ns) => after_ns,
                    _ => unreachable!("handled above"),
                };
                // Model entries are (time << 32 | sequence, id): sequences stay small here.
                model.push(((now_ns + after_ns) << 32 | seq, seq));
                seq += 1;
                prop_assert_eq!(queue.len(), model.len());
            }
        }
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut queue: EventQueue<Ev, u32> = EventQueue::new();
        queue.schedule(10, Plain("a"));
        queue.pop();
        queue.schedule(5, Plain("late"));
    }
}
