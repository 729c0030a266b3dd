//! The event queue, ordered by (time, insertion sequence), so ties fire in the order they were
//! scheduled and a run never depends on heap internals. Timers have keys and can be moved or
//! cancelled in O(log n) instead of leaving dead events behind (style.md habit 4): they live in a
//! keyed `priority-queue`. One-off events (messages, processing) are never cancelled, so they need
//! no key and no index: they live in a plain binary heap, which costs far less per push and pop.
//! That heap holds only each event's priority and the index of its payload in a slab: an event is
//! about a hundred bytes, and a heap of events moved a whole one at every level of every sift.
//! `pop` takes whichever head comes first; both share one sequence counter.

use priority_queue::PriorityQueue;
use std::borrow::Borrow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
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

/// A timer: identified by its key alone, the payload rides along.
struct Timer<E, T> {
    key: T,
    event: E,
}

impl<E, T: PartialEq> PartialEq for Timer<E, T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E, T: Eq> Eq for Timer<E, T> {}
impl<E, T: Hash> Hash for Timer<E, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}
impl<E, T> Borrow<T> for Timer<E, T> {
    fn borrow(&self) -> &T {
        &self.key
    }
}

/// Pending events of type `E`, with timers keyed by `T`.
pub struct EventQueue<E, T: Hash + Eq> {
    plain: BinaryHeap<Plain>,
    /// Payloads of the one-off events, by slot; a popped event's slot is reused (last freed
    /// first, so the next payload lands in memory just touched).
    slots: Vec<Option<E>>,
    free_slots: Vec<u32>,
    timers: PriorityQueue<Timer<E, T>, Priority, BuildHasherDefault<FastHasher>>,
    next_seq: u64,
    now_ns: u64,
}

impl<E, T: Hash + Eq + Copy + std::fmt::Debug> Default for EventQueue<E, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, T: Hash + Eq + Copy + std::fmt::Debug> EventQueue<E, T> {
    pub fn new() -> Self {
        EventQueue {
            plain: BinaryHeap::new(),
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
        self.plain.len() + self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.timers.is_empty()
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
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Some(event));
                slot
            }
        };
        self.plain.push(Plain { priority, slot });
    }

    /// Sets timer `key` to fire at `at_ns` with `event`, replacing any pending timer of that key.
    pub fn set_timer(&mut self, key: T, at_ns: u64, event: E) {
        let priority = self.priority(at_ns);
        // A pending timer is moved in place: cheaper than removing it and pushing it again, and
        // the pop order depends only on the (time, sequence) priorities either way.
        if let Some((timer, _)) = self.timers.get_mut(&key) {
            timer.event = event;
            self.timers.change_priority(&key, priority);
        } else {
            self.timers.push(Timer { key, event }, priority);
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

    /// The priority of the next event, if any (the larger `Reverse` comes first).
    fn next_priority(&self) -> Option<Priority> {
        let plain = self.plain.peek().map(|entry| entry.priority);
        let timer = self.timers.peek().map(|(_, priority)| *priority);
        plain.max(timer)
    }

    /// The time of the next event, if any.
    pub fn peek_at(&self) -> Option<u64> {
        self.next_priority().map(|priority| priority.0 .0)
    }

    /// Removes and returns the next event; time never goes back.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let next = self.next_priority()?;
        let event = if self
            .plain
            .peek()
            .is_some_and(|entry| entry.priority == next)
        {
            self.plain.pop().and_then(|entry| {
                self.free_slots.push(entry.slot);
                self.slots[entry.slot as usize].take()
            })
        } else {
            self.timers.pop().map(|(timer, _)| timer.event)
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

    #[test]
    fn ties_fire_in_insertion_order() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.schedule(10, "b");
        queue.schedule(5, "a");
        queue.schedule(10, "c");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn timers_move_and_cancel() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.set_timer(1, 100, "t1");
        queue.set_timer(2, 50, "t2");
        queue.set_timer(1, 20, "t1-moved");
        assert_eq!(queue.timer_at(1), Some(20));
        assert!(queue.cancel_timer(2));
        assert!(!queue.cancel_timer(2));
        assert_eq!(queue.pop(), Some((20, "t1-moved")));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn events_and_timers_at_one_time_fire_in_scheduling_order() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.schedule(10, "a");
        queue.set_timer(7, 10, "t7");
        queue.schedule(10, "b");
        queue.set_timer(8, 10, "t8");
        // Moving a timer makes it the latest scheduled at its new time.
        queue.set_timer(7, 10, "t7-again");
        queue.schedule(3, "early");
        assert_eq!(queue.len(), 5);
        assert_eq!(queue.peek_at(), Some(3));
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["early", "a", "b", "t8", "t7-again"]);
        assert!(queue.is_empty());
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.schedule(10, "a");
        queue.pop();
        queue.schedule(5, "late");
    }
}
